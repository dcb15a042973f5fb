"""Thread questions answered by the model with tools, bounded in steps, tokens and time.

The model gets the investigation's evidence and the question, may call the tools of
:mod:`investigators.pipeline.toolbox` (each result adds citable items), and answers in sentences
that must cite those items: the same citation check as the narrative. When the check leaves
nothing, or the model cannot be asked, the answer is a ``fallback`` with the reason, and the bot
answers deterministically instead.

The tools are scoped (:func:`tool_scope`): to the incident's services (named, ranked, the root
cause, the symptoms ruled out, the evidence's) and their neighbours in the service graph, plus
any service the person names in the question; and to the incident's window with a margin.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

from connectors.base import LanguageModel
from connectors.errors import ConnectorError
from connectors.registry import build_registry, close_registry
from investigators.catalog import Catalog
from investigators.citations import Dropped, Sentence, check
from investigators.phrasing import plural
from investigators.pipeline.brief import (
    Brief,
    Reference,
    estimate_tokens,
    fence,
    incident_facts,
    prompt,
    summary_brief,
    trimmed,
)
from investigators.pipeline.config import LlmBudget, PipelineConfig
from investigators.pipeline.investigation import Plan
from investigators.pipeline.narrative import (
    MIN_SECONDS,
    LlmUsage,
    failed_usage,
    unavailable_reason,
    usage_of,
)
from investigators.pipeline.steps import Investigation, catalog_of
from investigators.pipeline.store import Store
from investigators.pipeline.summary import Summary
from investigators.pipeline.toolbox import TOOLS, Toolbox, ToolScope
from investigators.redact import redact

#: Longest question passed on to the model (characters).
MAX_QUESTION = 1000
#: Service-graph hops (callers and callees) around the incident's services the tools may reach.
SCOPE_HOPS = 1
#: Seconds before the incident's window and after it that the tools may still look at.
SCOPE_MARGIN = 2 * 3600.0
_WORD = re.compile(r"[A-Za-z0-9][\w.-]*")

log = logging.getLogger(__name__)


class ToolUse(BaseModel):
    """One tool the model ran, for the record."""

    name: str
    input: dict[str, Any]
    ok: bool
    seconds: float


class QaAnswer(BaseModel):
    """A checked answer, or why the bot should answer without the model."""

    status: Literal["ok", "fallback"]
    reason: str = ""
    sentences: list[Sentence] = Field(default_factory=list)
    references: dict[str, Reference] = Field(default_factory=dict)
    dropped: list[Dropped] = Field(default_factory=list)
    tools: list[ToolUse] = Field(default_factory=list)
    usage: list[LlmUsage] = Field(default_factory=list)
    seconds: float = 0.0


class CitationLedger:
    """The citable items thread answers added to an investigation, kept in the store in the
    order their ids were given.

    The summary's items are ``E1`` to ``En`` (:func:`~investigators.pipeline.brief.summary_brief`,
    the ids the narrative and the summary's evidence lines show); the first item a thread answer
    cites beyond them becomes ``En+1``, the next ``En+2``, across every answer in the thread.
    A later answer replays the ledger first (:meth:`replay`), so ``[E17]`` always means the same
    item in an incident, and an item found again (same content) keeps its id. Ids are given by
    the position of an append in the store's list, so two answers written at once never share
    one.
    """

    def __init__(self, store: Store, key: str, *, ttl: float) -> None:
        self.store = store
        self.key = key
        self.ttl = ttl
        #: How many items the summary has: the ledger's ids follow them.
        self.base = 0

    def replay(self, brief: Brief) -> None:
        """Add the items earlier answers cited to ``brief`` (the summary's, as yet), each under
        the id it was given."""
        self.base = base = len(brief.items)
        for position, raw in enumerate(self.store.items(self.key)):
            item = dict(json.loads(raw)["item"])
            known = {r.finding_id for r in brief.references.values()}
            if item.get("finding_id") in known:
                # Claimed twice at once: the second id stands for the same item.
                item["finding_id"] = f"{item['finding_id']}#{position}"
            made = brief.add(**item)
            if made != f"E{base + position + 1}":  # the summary changed: it is written once
                log.warning("citation ledger %s out of step at %s", self.key, made)
                return

    def claim(self, item: Mapping[str, Any]) -> str:
        """Record an item an answer cites; the id it has from now on."""
        token = uuid.uuid4().hex
        self.store.append(self.key, json.dumps({"token": token, "item": item}), ttl=self.ttl)
        entries = self.store.items(self.key)
        position = next(i for i, raw in enumerate(entries) if json.loads(raw)["token"] == token)
        return f"E{self.base + position + 1}"


def settle(
    answer: QaAnswer, ledger: CitationLedger, added: Mapping[str, Mapping[str, Any]]
) -> None:
    """Give the items the answer cites that its tools found their lasting ids, in place."""
    cited = [c for s in answer.sentences for c in s.cites]
    renamed = {old: ledger.claim(added[old]) for old in dict.fromkeys(cited) if old in added}
    if not renamed:
        return
    for sentence in answer.sentences:
        sentence.cites = [renamed.get(c, c) for c in sentence.cites]
    answer.references = {
        renamed.get(k, k): r.model_copy(update={"id": renamed.get(k, k)})
        for k, r in answer.references.items()
    }


def ledger_of(inv: Investigation) -> CitationLedger:
    """The citation ledger of an investigation."""
    return CitationLedger(inv.store, inv.key("citations"), ttl=inv.ttl)


async def ask_step(inv: Investigation, question: str) -> QaAnswer | None:
    """Answer a question about a finished investigation, recording the model's usage."""
    summary = inv.summary()
    if summary is None:
        return None
    answer = await answer_question(
        question,
        summary=summary,
        plan=inv.plan,
        catalog=catalog_of(inv.config),
        config=inv.config,
        ledger=ledger_of(inv),
    )
    inv.add_usage(answer.usage)
    return answer


async def answer_question(
    question: str,
    *,
    summary: Summary,
    plan: Plan,
    catalog: Catalog,
    config: PipelineConfig,
    model: LanguageModel | None = None,
    hops: int = SCOPE_HOPS,
    margin: float = SCOPE_MARGIN,
    ledger: CitationLedger | None = None,
) -> QaAnswer:
    """The model's checked answer to ``question``, with the configured connectors as tools
    scoped to the incident (:func:`tool_scope`); with a ``ledger``, citation ids continue
    those of earlier answers in the incident (:class:`CitationLedger`)."""
    own = model is None
    model = model or _model(config)
    if model is None:
        return QaAnswer(status="fallback", reason="no ANTHROPIC_API_KEY is set")
    registry = build_registry(
        elasticsearch=config.elasticsearch, datadog=config.datadog, github=config.github
    )
    try:
        brief = summary_brief(summary)
        if ledger is not None:
            ledger.replay(brief)
        toolbox = Toolbox(
            summary=summary,
            plan=plan,
            catalog=catalog,
            registry=registry,
            brief=brief,
            scope=tool_scope(
                question, summary=summary, plan=plan, catalog=catalog, hops=hops, margin=margin
            ),
        )
        answer = await _converse(
            question,
            toolbox=toolbox,
            model=model,
            budget=config.llm_budget,
            title=plan.request.title,
        )
        if ledger is not None and answer.status == "ok":
            settle(answer, ledger, toolbox.added)
        return answer
    finally:
        await close_registry(registry)
        if own:
            await model.aclose()


def tool_scope(
    question: str,
    *,
    summary: Summary,
    plan: Plan,
    catalog: Catalog,
    hops: int = SCOPE_HOPS,
    margin: float = SCOPE_MARGIN,
) -> ToolScope:
    """What a thread question's tools may look at: the incident's services and their neighbours
    within ``hops``, the services ``question`` names, the window widened by ``margin``."""
    root = [summary.root_cause.service] if summary.root_cause else []
    core = [
        *plan.scope.named,
        *root,
        *(str(r.get("service")) for r in summary.ranking),
        *summary.symptoms_ruled_out,
        *(f.service for f in summary.evidence),
    ]
    return ToolScope(
        services=frozenset(neighbours(catalog, core, hops) | named_in(question, catalog)),
        start=plan.window_start - margin,
        end=plan.window_end + margin,
    )


def neighbours(catalog: Catalog, services: Iterable[str], hops: int) -> set[str]:
    """``services`` (those in the catalog) and every caller or callee within ``hops`` of one."""
    around: dict[str, set[str]] = {name: set() for name in catalog.services}
    for s in catalog.services.values():
        for callee in s.depends_on:
            if callee in around:
                around[s.name].add(callee)
                around[callee].add(s.name)
    found = {name for name in services if name in around}
    frontier = set(found)
    for _ in range(max(0, hops)):
        frontier = {n for name in frontier for n in around[name]} - found
        found |= frontier
    return found


def named_in(question: str, catalog: Catalog) -> set[str]:
    """Services the question names, by name, alias or Datadog service."""
    found = set()
    for word in _WORD.findall(question[:MAX_QUESTION]):
        service = catalog.resolve(word.rstrip("._-"))
        if service is not None:
            found.add(service.name)
    return found


def _model(config: PipelineConfig) -> LanguageModel | None:
    found = build_registry(anthropic=config.llm).get("llm")
    return found if isinstance(found, LanguageModel) else None


async def _converse(
    question: str, *, toolbox: Toolbox, model: LanguageModel, budget: LlmBudget, title: str
) -> QaAnswer:
    started = time.monotonic()
    brief = toolbox.brief
    system = prompt("qa")
    incident = fence("incident", incident_facts(toolbox.summary, title))
    asked = fence("question", redact(question, limit=MAX_QUESTION))  # redacted, then cut
    tools_json = json.dumps(TOOLS)
    ids = trimmed(brief, budget=budget.qa_input_tokens // 2, fixed=system + incident + tools_json)
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": f"{incident}\n{brief.evidence(ids)}\n{asked}"}
    ]
    usage: list[LlmUsage] = []
    used: list[ToolUse] = []
    spent_tokens = 0
    text = ""
    reason = ""
    for step in range(budget.qa_steps):
        left = budget.qa_seconds - (time.monotonic() - started)
        if left < MIN_SECONDS:
            reason = f"the {budget.qa_seconds:.0f} s budget ran out"
            break
        estimate = estimate_tokens(system + tools_json + json.dumps(messages))
        if spent_tokens + estimate > budget.qa_input_tokens:
            reason = f"the {budget.qa_input_tokens} input-token budget ran out"
            break
        last = step == budget.qa_steps - 1
        call_started = time.monotonic()
        try:
            reply = await model.create(
                system=system,
                messages=messages,
                max_tokens=budget.qa_output_tokens,
                timeout=left,
                tools=TOOLS,
                tool_choice="none" if last else "auto",
            )
        except ConnectorError as exc:
            usage.append(failed_usage("qa", model, exc, time.monotonic() - call_started))
            reason = unavailable_reason(exc)
            break
        usage.append(usage_of("qa", model, reply))
        spent_tokens += reply.input_tokens
        if not reply.tool_calls or last:
            text = reply.text
            break
        messages.append({"role": "assistant", "content": reply.content})
        messages.append({"role": "user", "content": await _run_tools(toolbox, reply, used)})
    checked = check(text, brief.about()) if text else None
    spent = time.monotonic() - started
    if checked is None or not checked.enough(min_sentences=1, min_share=budget.min_share):
        if checked is not None:
            reason = (
                f"the model's answer did not hold up against the evidence "
                f"(only {len(checked.kept)} of its {plural(checked.total, 'sentence')} cited it)"
            )
        return QaAnswer(
            status="fallback",
            reason=reason or "the model gave no answer within its steps",
            dropped=checked.dropped if checked else [],
            tools=used,
            usage=usage,
            seconds=spent,
        )
    cited = {c for s in checked.kept for c in s.cites}
    return QaAnswer(
        status="ok",
        sentences=checked.kept,
        references={k: r for k, r in brief.references.items() if k in cited},
        dropped=checked.dropped,
        tools=used,
        usage=usage,
        seconds=spent,
    )


async def _run_tools(toolbox: Toolbox, reply: Any, used: list[ToolUse]) -> list[dict[str, Any]]:
    """Run every tool the reply asked for, concurrently; their results as content blocks."""

    async def one(call: Any) -> dict[str, Any]:
        started = time.monotonic()
        content, is_error = await toolbox.run(call)
        used.append(
            ToolUse(
                name=call.name,
                input=dict(call.input),
                ok=not is_error,
                seconds=time.monotonic() - started,
            )
        )
        block: dict[str, Any] = {"type": "tool_result", "tool_use_id": call.id, "content": content}
        if is_error:
            block["is_error"] = True
        return block

    return list(await asyncio.gather(*(one(c) for c in reply.tool_calls)))
