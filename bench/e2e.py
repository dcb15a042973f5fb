"""Benchmark: end to end, from a signed ``channel_created`` to the summary in the channel.

The whole path, process by process: the stand-ins up (Datadog, GitHub, the Elasticsearch proxy in
front of noida-db, Anthropic, Slack), the real Bolt app in HTTP mode, real ``rq worker``
processes on real Redis. Incidents of mixed fault types happen one after another in ONE generated
company; before each, the stand-ins switch to its telemetry and changes in place (same ports,
so the bot and workers stay up and warm) and noida-db's logs index is reloaded. Every vendor API
request gets ``--latency`` seconds, every language-model call ``--llm-latency``.

Each incident opens a fresh channel ``inc-<n>-<fault>`` whose first message is the alert naming
the incident's symptom service (when the scenario has one, as the engine's bundle does), then
the signed event is sent and the Slack workspace is polled every 20 ms. Measured: seconds from
just before the event to the bot's first top-level message, and to the summary (the message
with the re-run buttons); whether the summary's root cause is the truth; which user groups the
bot mentioned (the catalog gives every team a user-group id; a group other than the owning
team's is a wrong tag, none at all is "untagged"). Printed: one line per incident, p50, p95 and
max of both times, top-1 accuracy of the bot and of the engine alone
(``investigators.rca.rank`` on the same bundles), wrong tags, untagged, narratives, and one line
against the targets: first message p95 < 3 s, summary p95 < 30 s, bot accuracy at least the
engine's, zero wrong-team tags.

    .venv/bin/python bench/e2e.py [--incidents 50] [--services 300] [--latency 0.1]
        [--llm-latency 2.0] [--workers 2] [--seed 101] [--deadline 45]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
import yaml  # noqa: E402
from rq import Queue  # noqa: E402
from rq.exceptions import NoSuchJobError  # noqa: E402
from rq.job import Job, JobStatus  # noqa: E402
from rq.registry import StartedJobRegistry  # noqa: E402
from rq.serializers import JSONSerializer  # noqa: E402

from bot.app import create_app  # noqa: E402
from bot.server import EVENTS_PATH, serve_in_thread  # noqa: E402
from bot.settings import PIPELINE_CONFIG_REF, load_settings  # noqa: E402
from investigators.pipeline import RqExecutor  # noqa: E402
from investigators.rca import rank  # noqa: E402
from sandbox.elastic import replace_logs, running_noida  # noqa: E402
from sandbox.logs import synthesize_logs  # noqa: E402
from sandbox.scenarios import FAULT_TYPES, Scenario, generate_scenario  # noqa: E402
from sandbox.slack_api import Workspace  # noqa: E402
from sandbox.slack_events import EventSender, event_callback  # noqa: E402
from sandbox.workers import Workers, cleaned_keys  # noqa: E402
from sandbox.world import (  # noqa: E402
    SIGNING_SECRET,
    ServedSlack,
    Standins,
    llm_env,
    pipeline_env,
    signals_env,
    write_catalog,
)

TARGET_FIRST = 3.0
TARGET_SUMMARY = 30.0
LOGS_INDEX = "logs-sandbox"  # the index load_logs fills
MAX_DOCS = 20_000  # log documents per incident, as sandbox.world.serving loads
POLL = 0.02
MENTION = re.compile(r"<!subteam\^([A-Z0-9]+)(?:\|[^>]*)?>")


def group_id(team: str) -> str:
    """The user-group id the benchmark's catalog gives a team (as tests/bot/conftest.py does)."""
    return "S0" + "".join(c for c in team.upper() if c.isalnum()).ljust(6, "X")


@dataclass(slots=True)
class Outcome:
    """One incident, as the channel and the pipeline saw it."""

    number: int
    fault: str
    truth: str | None
    team: str | None
    engine: str | None
    engine_team: str | None
    ack: int = 0
    first: float = float("inf")
    summary: float = float("inf")
    predicted: str | None = None
    finished_by: str = "-"
    groups: list[str] = field(default_factory=list)
    narrative: str = "-"
    narrative_reason: str = ""
    narrative_seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)
    troubles: list[str] = field(default_factory=list)  # sources that failed or were retried
    setup: float = 0.0

    @property
    def right(self) -> bool:
        return self.truth is not None and self.predicted == self.truth

    @property
    def wrong_groups(self) -> list[str]:
        expected = group_id(self.team) if self.team else None
        return sorted({g for g in self.groups if g != expected})

    @property
    def tag(self) -> str:
        if self.wrong_groups:
            return "wrong"
        return "ok" if self.groups else "none"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _scenarios(count: int, services: int, seed: int) -> list[Scenario]:
    """``count`` incidents, fault types in turn, all in the first one's company."""
    first = generate_scenario(seed=seed, services=services, fault=FAULT_TYPES[0])
    made = [first]
    for i in range(1, count):
        fault = FAULT_TYPES[i % len(FAULT_TYPES)]
        made.append(
            generate_scenario(seed=seed + i, services=services, fault=fault, company=first.company)
        )
    return made


def _engine(scenario: Scenario) -> tuple[str | None, str | None]:
    """The engine's own top suspect for the scenario's bundle, and the team it would tag."""
    result = rank(scenario.bundle)
    top = result.ranking[0].service if result.ranking else None
    return top, result.notify.team if result.notify else None


def _catalog(scenario: Scenario, path: Path) -> Path:
    """The company's services.yaml, every team with a user-group id so that tags are checkable."""
    write_catalog(scenario.bundle, path)
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    ids = {team: group_id(team) for team in document["teams"]}
    assert len(set(ids.values())) == len(ids), "two teams share a user-group id"
    for team, entry in document["teams"].items():
        entry["slack_group"] = ids[team]
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


async def _reload_logs(url: str, scenario: Scenario) -> int:
    """Replace noida-db's logs with the scenario's."""
    documents = synthesize_logs(scenario.bundle, max_docs=MAX_DOCS, seed=scenario.seed)
    return await replace_logs(url, documents, index=LOGS_INDEX)


DONE = {JobStatus.FINISHED, JobStatus.FAILED, JobStatus.CANCELED, JobStatus.STOPPED}


def _settle(client: redis.Redis, queue: str, stale: set[str], *, timeout: float = 30.0) -> str:
    """Wait until no job of the queue waits or runs; what still runs after ``timeout``.

    An entry of RQ's started-job registry whose job has already ended is not waited for; when
    it ended over 2 s ago, the entry is stale and its job id goes in ``stale`` (the workers'
    maintenance expires such entries later, as if their jobs had been abandoned).
    """
    rq_queue = Queue(queue, connection=client, serializer=JSONSerializer)
    started = StartedJobRegistry(queue=rq_queue)
    until = time.monotonic() + timeout
    running: list[str] = []
    while True:
        running = list(rq_queue.job_ids)
        # No registry clean-up from here: that is the workers' maintenance, not the bench's.
        for job_id in started.get_job_ids(cleanup=False):
            try:
                job = Job.fetch(job_id, connection=client, serializer=JSONSerializer)
            except NoSuchJobError:
                continue
            if job.get_status() in DONE:
                if job.ended_at and time.time() - job.ended_at.timestamp() > 2:
                    stale.add(job_id)
            else:
                since = time.time() - job.started_at.timestamp() if job.started_at else 0.0
                running.append(f"{job_id} {job.get_status()} for {since:.0f} s")
        if not running or time.monotonic() >= until:
            return "; ".join(running)
        time.sleep(0.1)


def _top_level(ws: Workspace, channel: str) -> list[dict[str, Any]]:
    return [
        m
        for m in ws.messages(channel)
        if m.get("user") == ws.bot_user_id and m.get("thread_ts", m["ts"]) == m["ts"]
    ]


def _is_summary(message: dict[str, Any]) -> bool:
    return any(b.get("type") == "actions" for b in message.get("blocks") or [])


def _investigation_of(message: dict[str, Any]) -> str | None:
    for block in message.get("blocks") or []:
        if block.get("type") == "actions":
            for element in block.get("elements", []):
                if element.get("value"):
                    return str(element["value"])
    return None


def _texts(message: dict[str, Any]) -> str:
    """Everything a client could render as a mention: the fallback and every block's text."""
    return str(message.get("text", "")) + "\n" + str(message.get("blocks") or "")


class Channel:
    """What the bot has posted in one channel, watched from the benchmark's thread."""

    def __init__(self, ws: Workspace, channel: str) -> None:
        self.ws, self.channel = ws, channel

    def wait(self, until: float, started: float, *, summary: bool) -> tuple[float, Any]:
        while time.perf_counter() < until:
            posted = _top_level(self.ws, self.channel)
            found = [m for m in posted if _is_summary(m)] if summary else posted
            if found:
                return time.perf_counter() - started, found[0]
            time.sleep(POLL)
        return float("inf"), None


def run_incident(
    number: int,
    scenario: Scenario,
    *,
    ws: Workspace,
    sender: EventSender,
    executor: RqExecutor,
    engine: tuple[str | None, str | None],
    set_clock: Any,
    give_up: float,
) -> Outcome:
    """One incident: alert, signed channel_created, the first message and the summary."""
    truth = scenario.truth
    out = Outcome(number, truth.fault, truth.root, truth.team, *engine)
    name = f"inc-{number}-{truth.fault}"
    channel = ws.create_channel(name)
    for service in scenario.bundle.incident.symptom_services:
        ws.post_as_user(channel.id, f"[Triggered] error rate high on {service}", user="U0ALERTS")
    envelope = event_callback(
        {
            "type": "channel_created",
            "channel": {"id": channel.id, "name": name, "created": int(time.time())},
        }
    )
    watch = Channel(ws, channel.id)
    set_clock(scenario.bundle.incident.started_at + 900)
    started = time.perf_counter()
    out.ack = sender.event(envelope).status
    until = started + give_up
    out.first, _ = watch.wait(until, started, summary=False)
    out.summary, message = watch.wait(until, started, summary=True)
    if message is None:
        return out
    investigation_id = _investigation_of(message)
    found = executor.summary(investigation_id) if investigation_id else None
    if found is not None:
        out.finished_by = found.finished_by
        out.predicted = found.root_cause.service if found.root_cause else None
    narrative = executor.narrative(investigation_id) if investigation_id else None
    if narrative is not None:
        out.narrative, out.narrative_reason = narrative.status, narrative.reason
        out.narrative_seconds = narrative.seconds
    record = executor.record(investigation_id) if investigation_id else None
    if record is not None:
        out.phases = dict(record.phases)
        out.troubles = [
            f"{st.step} {st.status} (try {st.attempt}{': ' + st.error if st.error else ''})"
            for st in record.steps
            if st.status != "ok" or st.attempt > 1
        ]
    # The detail goes in the thread right after the summary: wait for it, then read every
    # message of the bot in the channel for user-group mentions.
    deadline = time.perf_counter() + 3
    while time.perf_counter() < deadline:
        if len([m for m in ws.messages(channel.id) if m.get("user") == ws.bot_user_id]) >= 2:
            break
        time.sleep(POLL)
    bot_texts = [_texts(m) for m in ws.messages(channel.id) if m.get("user") == ws.bot_user_id]
    out.groups = sorted({g for text in bot_texts for g in MENTION.findall(text)})
    return out


def _line(o: Outcome) -> str:
    got = o.predicted or "(none)"
    verdict = "right" if o.right else "WRONG"
    engine = "right" if o.engine == o.truth else "wrong"
    engine_tag = {None: "none", o.team: "ok"}.get(o.engine_team, "wrong")
    narrative = (
        o.narrative if o.narrative != "unavailable" else f"unavailable: {o.narrative_reason}"
    )
    tag = o.tag if not o.wrong_groups else f"wrong {','.join(o.wrong_groups)}"
    return (
        f"{o.number:3d} {o.fault:15s} first {o.first:5.2f} s  summary {o.summary:5.2f} s  "
        f"{verdict:5s} {got} (truth {o.truth}; engine {engine}, tag {engine_tag})"
        f"  tag {tag}  {o.finished_by}  narrative {narrative}  setup {o.setup:.1f} s"
        + (f"  sources: {'; '.join(o.troubles)}" if o.troubles else "")
    )


def run(
    *,
    incidents: int,
    services: int,
    latency: float,
    llm_latency: float,
    workers: int,
    seed: int,
    deadline: float,
) -> bool:
    """Run the incidents one after another; True when every target holds."""
    began = time.perf_counter()
    print(f"generating {incidents} incidents in one {services}-service company...", flush=True)
    scenarios = _scenarios(incidents, services, seed)
    engine = [_engine(s) for s in scenarios]
    teams = len({s.team for s in scenarios[0].bundle.services})
    print(
        f"  {len(scenarios[0].bundle.services)} services, {teams} teams; faults "
        + ", ".join(f"{k} {v}" for k, v in Counter(s.truth.fault for s in scenarios).items())
        + f"; {time.perf_counter() - began:.0f} s",
        flush=True,
    )
    tag = uuid.uuid4().hex[:8]
    prefix = queue = f"bench-e2e-{tag}"
    outcomes: list[Outcome] = []
    stale: set[str] = set()
    clock_state = {"base": 0.0, "opened": time.time()}

    def clock() -> float:
        return clock_state["base"] + (time.time() - clock_state["opened"])

    def set_clock(base: float) -> None:
        clock_state["base"], clock_state["opened"] = base, time.time()

    with (
        tempfile.TemporaryDirectory() as tmp,
        running_noida() as noida,
        ServedSlack() as slack,
    ):
        catalog = _catalog(scenarios[0], Path(tmp) / "services.yaml")
        loaded = asyncio.run(_reload_logs(noida, scenarios[0]))
        with Standins(scenarios[0].bundle, noida) as standins, cleaned_keys(prefix, queue) as rc:
            for name in ("datadog", "github", "elastic"):
                standins.faults(name).latency = latency
            standins.faults("anthropic").latency = llm_latency
            env = {
                **pipeline_env(
                    standins=standins,
                    bundle=scenarios[0].bundle,
                    catalog=catalog,
                    prefix=prefix,
                    queue=queue,
                ),
                **signals_env([s.bundle for s in scenarios]),
                **llm_env(standins),
                "INVESTIGATION_DEADLINE": str(deadline),
            }
            os.environ.update(env)
            pool = Workers(env, queue)
            pool.start(workers)
            server = None
            try:
                settings = load_settings(
                    slack_bot_token=slack.workspace.token,
                    slack_signing_secret=SIGNING_SECRET,
                    slack_api_url=slack.url,
                    investigation_deadline=deadline,
                )
                executor = RqExecutor(settings.pipeline(), config_ref=PIPELINE_CONFIG_REF)
                server = serve_in_thread(create_app(settings, clock=clock))
                sender = EventSender(
                    f"http://127.0.0.1:{server.server_address[1]}{EVENTS_PATH}", SIGNING_SECRET
                )
                print(
                    f"bot in HTTP mode, {workers} rq workers, {latency * 1000:.0f} ms per vendor "
                    f"request, {llm_latency:g} s per LLM call, deadline {deadline:g} s; "
                    f"{loaded} log documents for the first incident",
                    flush=True,
                )
                for i, scenario in enumerate(scenarios):
                    setup = time.perf_counter()
                    if i:
                        lingering = _settle(rc, queue, stale)
                        if lingering:
                            print(f"    jobs still running after 30 s: {lingering}")
                        standins.switch(scenario.bundle)
                        asyncio.run(_reload_logs(noida, scenario))
                    setup = time.perf_counter() - setup
                    outcome = run_incident(
                        i + 1,
                        scenario,
                        ws=slack.workspace,
                        sender=sender,
                        executor=executor,
                        engine=engine[i],
                        set_clock=set_clock,
                        give_up=deadline + 75,
                    )
                    outcome.setup = setup
                    outcomes.append(outcome)
                    print(_line(outcome), flush=True)
            finally:
                if server is not None:
                    server.shutdown()
                    server.server_close()
                pool.stop()
    if stale:
        shown = ", ".join(sorted(stale)[:3]) + (" ..." if len(stale) > 3 else "")
        print(
            f"{len(stale)} jobs ended over 2 s before were still listed as started by RQ between "
            f"incidents (not waited for): {shown}"
        )
    return report(outcomes, time.perf_counter() - began)


def report(outcomes: list[Outcome], wall: float) -> bool:
    """Print the figures and the line against the targets; True when every target holds."""
    n = len(outcomes)
    firsts = [o.first for o in outcomes]
    summaries = [o.summary for o in outcomes]
    for label, values in (("first message", firsts), ("final summary", summaries)):
        print(
            f"{label}: p50 {_percentile(values, 0.5):5.2f} s, p95 {_percentile(values, 0.95):5.2f}"
            f" s, max {max(values):5.2f} s"
        )
    bot_right = sum(o.right for o in outcomes)
    engine_right = sum(o.engine == o.truth for o in outcomes)
    print(
        f"top-1 accuracy: bot {bot_right}/{n} ({bot_right / n:.0%}), engine alone "
        f"{engine_right}/{n} ({engine_right / n:.0%})"
    )
    by_fault: dict[str, list[Outcome]] = {}
    for o in outcomes:
        by_fault.setdefault(o.fault, []).append(o)
    print(
        "  by fault: "
        + ", ".join(
            f"{fault} {sum(o.right for o in group)}/{len(group)} (engine "
            f"{sum(o.engine == o.truth for o in group)})"
            for fault, group in by_fault.items()
        )
    )
    wrong = [o for o in outcomes if o.wrong_groups]
    untagged = [o for o in outcomes if o.truth is not None and not o.groups]
    engine_wrong = sum(o.engine_team not in (None, o.team) for o in outcomes)
    engine_none = sum(o.engine_team is None for o in outcomes)
    print(
        f"tags: {n - len(wrong) - len(untagged)} owning team only, {len(wrong)} wrong, "
        f"{len(untagged)} untagged (engine alone: {n - engine_wrong - engine_none} right, "
        f"{engine_wrong} wrong, {engine_none} none)"
    )
    narratives = Counter(o.narrative for o in outcomes)
    reasons = Counter(o.narrative_reason for o in outcomes if o.narrative != "ok")
    seconds = [o.narrative_seconds for o in outcomes if o.narrative_seconds]
    print(
        "narratives: "
        + ", ".join(f"{k} {v}" for k, v in narratives.items())
        + (f"; model seconds p50 {_percentile(seconds, 0.5):.1f}" if seconds else "")
        + ("; why not: " + "; ".join(f"{r} ({c})" for r, c in reasons.items()) if reasons else "")
    )
    finished = Counter(o.finished_by for o in outcomes)
    phases: Counter[str] = Counter()
    for o in outcomes:
        phases.update(o.phases)
    spent = sum(phases.values()) or 1.0
    print(
        "finished by: "
        + ", ".join(f"{k} {v}" for k, v in finished.items())
        + "; pipeline phases: "
        + ", ".join(f"{p} {s / spent:.0%}" for p, s in phases.items())
        + f"; non-200 acks: {sum(o.ack != 200 for o in outcomes)}"
    )
    setups = sum(o.setup for o in outcomes)
    print(f"wall time {wall / 60:.1f} min ({setups / 60:.1f} min switching incidents)")
    p95_first, p95_summary = _percentile(firsts, 0.95), _percentile(summaries, 0.95)
    ok = (
        p95_first < TARGET_FIRST
        and p95_summary < TARGET_SUMMARY
        and bot_right >= engine_right
        and not wrong
    )
    print(
        f"e2e {n} incidents: first message p95 {p95_first:.2f} s (target < {TARGET_FIRST:.0f} s), "
        f"summary p95 {p95_summary:.1f} s (target < {TARGET_SUMMARY:.0f} s), top-1 "
        f"{bot_right / n:.0%} (engine {engine_right / n:.0%}), wrong-team tags {len(wrong)} "
        f"(target 0) {'PASS' if ok else 'FAIL'}"
    )
    return ok


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--incidents", type=int, default=50)
    parser.add_argument("--services", type=int, default=300)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per vendor request")
    parser.add_argument("--llm-latency", type=float, default=2.0, help="seconds per LLM call")
    parser.add_argument("--workers", type=int, default=2, help="rq worker processes")
    parser.add_argument("--seed", type=int, default=101)
    parser.add_argument("--deadline", type=float, default=45.0, help="investigation deadline, s")
    args = parser.parse_args()
    ok = run(
        incidents=args.incidents,
        services=args.services,
        latency=args.latency,
        llm_latency=args.llm_latency,
        workers=args.workers,
        seed=args.seed,
        deadline=args.deadline,
    )
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
