"""Benchmark: the language model's part against the stand-in, a 300-service company.

For each fault type and seed, serves a generated scenario through the stand-ins (noida-db behind
the Elasticsearch proxy, Datadog, GitHub and the Anthropic Messages API stand-in, with latency
added to every model call), runs the investigation in this process (:class:`LocalExecutor`, no
Redis) and then asks three thread questions. The stand-in is the worst-case model of the tests:
with its default settings it slips on citations now and then (an uncited sentence, a made-up
id), so the survival share shows what the citation check removes, not a real model's quality.
Prints per incident the narrative's status, the sentences that survived the citation check, the
input tokens of the prompt (the stand-in's count, chars / 4, and our conservative estimate,
chars / 3) and the narrative's seconds; then the survival share, input tokens per summary, the
time the narrative adds to the summary and what the thread questions cost; then one summary line
against the targets (under 20,000 input tokens per summary by both counts, and a narrative shown
for every incident while the model is up).

Each scenario gets a noida-db of its own loaded with up to ``--max-docs`` log documents (about
8 s per incident to synthesize and index; the three questions take about 12 s more at 2 s per
model call). The defaults take about five and a half minutes on two cores; ``--max-docs 10000``
saves about a minute at the price of slightly smaller prompts (fewer log samples).

    .venv/bin/python bench/llm.py [--services 300] [--seeds 2] [--latency 2.0] [--max-docs 20000]
                                  [--no-questions]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "pipeline"))  # the sandbox harness the tests use

from pipeline_testkit import Standins, llm_env, pipeline_env, write_catalog  # noqa: E402

from bot.settings import pipeline_config  # noqa: E402
from investigators.pipeline import IncidentRequest, LocalExecutor, Narrative, Summary  # noqa: E402
from investigators.pipeline.brief import estimate_tokens  # noqa: E402
from investigators.pipeline.qa import QaAnswer, ask_step  # noqa: E402
from investigators.pipeline.steps import Investigation  # noqa: E402
from sandbox.anthropic_api import MESSAGES  # noqa: E402
from sandbox.elastic import load_logs, running_noida  # noqa: E402
from sandbox.logs import synthesize_logs  # noqa: E402
from sandbox.scenarios import FAULT_TYPES, generate_scenario  # noqa: E402

TARGET_TOKENS = 20_000
DEADLINE = 60.0  # seconds: long enough that the deadline never cuts the narrative short
FIRST_SEED = 1


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _text(content: Any) -> str:
    """The characters of a message's content, as the stand-in counts them."""
    if isinstance(content, str):
        return content
    return "".join(
        b["text"] if isinstance(b.get("text"), str) else json.dumps(b) for b in content or []
    )


def _estimate(body: dict[str, Any]) -> int:
    """Our conservative estimate (chars / 3) of the tokens of one request body."""
    text = _text(body.get("system") or "") + "".join(_text(m["content"]) for m in body["messages"])
    text += json.dumps(body["tools"]) if body.get("tools") else ""
    return estimate_tokens(text)


@dataclass(slots=True)
class Question:
    """One thread question and how the model answered it."""

    text: str
    status: str
    reason: str
    tools: list[tuple[str, bool]]
    steps: int
    input_tokens: int
    seconds: float
    cost_usd: float


@dataclass(slots=True)
class Incident:
    """What one incident's narrative cost and gave, and its questions."""

    fault: str
    seed: int
    right: bool
    status: str
    reason: str
    kept: int
    dropped: int
    input_tokens: int
    estimate: int
    output_tokens: int
    seconds: float
    overhead: float
    cost_usd: float
    drop_reasons: list[str] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)


def _questions(summary: Summary, root: str | None) -> list[str]:
    named = summary.root_cause.service if summary.root_cause else root
    asked = [f"what changed in {named} in the last hour?"] if named else []
    if summary.symptoms_ruled_out:
        asked.append(f"why not {summary.symptoms_ruled_out[0]}?")
    asked += [f"show me the error logs of {named}"] if named else []
    return asked


def _question(text: str, answer: QaAnswer | None) -> Question:
    if answer is None:
        return Question(text, "none", "no summary", [], 0, 0, 0.0, 0.0)
    return Question(
        text=text,
        status=answer.status,
        reason=answer.reason,
        tools=[(t.name, t.ok) for t in answer.tools],
        steps=len(answer.usage),
        input_tokens=sum(u.input_tokens for u in answer.usage),
        seconds=answer.seconds,
        cost_usd=sum(u.cost_usd for u in answer.usage),
    )


async def _investigate(
    standins: Standins, request: IncidentRequest, root: str | None, questions: bool
) -> tuple[Summary, Narrative | None, list[dict[str, Any]], list[Question]]:
    """Run the investigation, then the questions; the narrative's request bodies."""
    config = pipeline_config().model_copy(update={"deadline": DEADLINE})
    executor = LocalExecutor(config)
    sent = standins.apps["anthropic"][MESSAGES]
    before = len(sent)
    outcome = await executor.run(request)
    bodies = list(sent[before:])
    asked: list[Question] = []
    if questions:
        inv = Investigation.load(executor.store, config, outcome.summary.investigation_id)
        for text in _questions(outcome.summary, root):
            asked.append(_question(text, await ask_step(inv, text)))
    return outcome.summary, outcome.narrative, bodies, asked


def one_incident(
    services: int, fault: str, seed: int, latency: float, max_docs: int, questions: bool
) -> Incident:
    """Serve one scenario, investigate it and ask about it."""
    scenario = generate_scenario(seed=seed, services=services, fault=fault)
    bundle = scenario.bundle
    tag = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory() as tmp, running_noida() as noida:
        catalog = write_catalog(bundle, Path(tmp) / "services.yaml")
        asyncio.run(load_logs(noida, synthesize_logs(bundle, max_docs=max_docs, seed=seed)))
        with Standins(bundle, noida) as standins:
            standins.faults("anthropic").latency = latency
            prefix = queue = f"bench-llm-{tag}"
            env = pipeline_env(
                standins=standins, bundle=bundle, catalog=catalog, prefix=prefix, queue=queue
            )
            os.environ.update({**env, **llm_env(standins)})
            request = IncidentRequest(
                incident_id=f"BENCH-LLM-{fault}-{seed}-{tag}",
                started_at=bundle.incident.started_at,
                until=bundle.incident.started_at + 900,
                services=list(bundle.incident.symptom_services),
                title=bundle.incident.title,
            )
            summary, narrative, bodies, asked = asyncio.run(
                _investigate(standins, request, scenario.truth.root, questions)
            )
    narrative = narrative or Narrative(status="skipped", reason="no narrative was written")
    model_seconds = sum(u.seconds for u in narrative.usage)
    return Incident(
        fault=fault,
        seed=seed,
        right=bool(summary.root_cause and summary.root_cause.service == scenario.truth.root),
        status=narrative.status,
        reason=narrative.reason,
        kept=len(narrative.sentences),
        dropped=len(narrative.dropped),
        input_tokens=sum(u.input_tokens for u in narrative.usage),
        estimate=sum(_estimate(b) for b in bodies),
        output_tokens=sum(u.output_tokens for u in narrative.usage),
        seconds=narrative.seconds,
        overhead=max(0.0, narrative.seconds - model_seconds),
        cost_usd=sum(u.cost_usd for u in narrative.usage),
        drop_reasons=[d.reason for d in narrative.dropped],
        questions=asked,
    )


def _line(inc: Incident) -> str:
    total = inc.kept + inc.dropped
    line = (
        f"{inc.fault:15s} seed {inc.seed}: narrative {inc.status:11s} {inc.kept}/{total} kept, "
        f"input {inc.input_tokens:6,} tokens (estimate {inc.estimate:6,}), "
        f"{inc.seconds:5.2f} s, root {'right' if inc.right else 'WRONG'}"
    )
    if inc.status != "ok":
        line += f" ({inc.reason})"
    if inc.questions:
        marks = " ".join(
            f"{q.status}[{','.join(n + ('' if ok else '!') for n, ok in q.tools) or '-'}]"
            for q in inc.questions
        )
        line += f"; Q&A {marks}"
    return line


def run(services: int, seeds: int, latency: float, max_docs: int, questions: bool) -> bool:
    """Run every incident and print the figures; True when the targets hold."""
    print(
        f"{len(FAULT_TYPES)} fault types x {seeds} seeds, {services} services, "
        f"{latency:.1f} s added per model call, up to {max_docs} log documents each",
        flush=True,
    )
    started = time.perf_counter()
    incidents: list[Incident] = []
    for fault in FAULT_TYPES:
        for seed in range(FIRST_SEED, FIRST_SEED + seeds):
            inc = one_incident(services, fault, seed, latency, max_docs, questions)
            incidents.append(inc)
            print(_line(inc), flush=True)

    n = len(incidents)
    kept = sum(i.kept for i in incidents)
    written = kept + sum(i.dropped for i in incidents)
    survival = kept / written if written else 0.0
    shown = sum(i.status == "ok" for i in incidents)
    tokens = [float(i.input_tokens) for i in incidents]
    estimates = [float(i.estimate) for i in incidents]
    seconds = [i.seconds for i in incidents]
    overheads = [i.overhead for i in incidents]
    drops: dict[str, int] = {}
    for reason in (r for i in incidents for r in i.drop_reasons):
        drops[reason] = drops.get(reason, 0) + 1
    narrative_cost = sum(i.cost_usd for i in incidents) / n
    qa_cost = sum(q.cost_usd for i in incidents for q in i.questions) / n
    print(f"\n{n} incidents in {time.perf_counter() - started:.0f} s")
    dropped = ", ".join(f"{r} x{c}" for r, c in sorted(drops.items())) or "none"
    print(f"survival: {kept}/{written} sentences kept ({survival:.2f}); dropped: {dropped}")
    print(f"narratives shown: {shown}/{n}; root cause right {sum(i.right for i in incidents)}/{n}")
    for name, values in (("stand-in count", tokens), ("our estimate", estimates)):
        print(
            f"input tokens per summary ({name}): p50 {_percentile(values, 0.5):,.0f}, "
            f"p95 {_percentile(values, 0.95):,.0f}, max {max(values):,.0f}"
        )
    print(f"output tokens per summary: mean {sum(i.output_tokens for i in incidents) / n:,.0f}")
    print(
        f"narrative seconds: p50 {_percentile(seconds, 0.5):.2f}, "
        f"p95 {_percentile(seconds, 0.95):.2f}; beyond the model's own time: "
        f"p95 {_percentile(overheads, 0.95) * 1000:.0f} ms"
    )
    print(
        f"cost per incident: mean ${narrative_cost + qa_cost:.4f} "
        f"(narrative ${narrative_cost:.4f}, questions ${qa_cost:.4f})"
    )
    asked = [q for i in incidents for q in i.questions]
    if asked:
        answered = sum(q.status == "ok" for q in asked)
        errored = sum(not ok for q in asked for _, ok in q.tools)
        print(
            f"Q&A: {answered}/{len(asked)} answered by the model "
            f"({answered / len(asked):.2f}), mean steps "
            f"{sum(q.steps for q in asked) / len(asked):.1f}, p95 "
            f"{_percentile([q.seconds for q in asked], 0.95):.2f} s, input tokens p95 "
            f"{_percentile([float(q.input_tokens) for q in asked], 0.95):,.0f}; "
            f"{errored} tool calls failed"
        )
        for inc in incidents:
            for q in inc.questions:
                if q.status != "ok" or any(not ok for _, ok in q.tools):
                    print(f"  {inc.fault} seed {inc.seed}: {q.text!r}: {q.status} ({q.reason})")

    worst = max(max(tokens), max(estimates))
    ok = worst < TARGET_TOKENS and shown == n
    print(
        f"llm {services} services, {n} incidents: input tokens p95 "
        f"{_percentile(tokens, 0.95):,.0f}, max {worst:,.0f} by either count "
        f"(target < {TARGET_TOKENS:,}), "
        f"survival {survival:.2f}, narratives shown {shown}/{n}, "
        f"time added p95 {_percentile(seconds, 0.95):.1f} s: {'PASS' if ok else 'FAIL'}"
    )
    return ok


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--services", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=2, help="per fault type")
    parser.add_argument("--latency", type=float, default=2.0, help="seconds added per model call")
    parser.add_argument("--max-docs", type=int, default=20_000, help="log documents per scenario")
    parser.add_argument(
        "--questions",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="ask three thread questions per incident",
    )
    args = parser.parse_args()
    ok = run(args.services, args.seeds, args.latency, args.max_docs, args.questions)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
