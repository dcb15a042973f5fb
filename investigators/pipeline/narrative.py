"""The narrative: a language model explains the summary in a few cited sentences, or says why not.

The model sees the summary as numbered evidence (:mod:`investigators.pipeline.brief`), never raw
telemetry, within a token budget. Its sentences go through the citation check
(:mod:`investigators.citations`); when too few survive, or the model has no key, cannot be
reached, is overloaded, or would take past the incident's deadline, the narrative is
``unavailable`` with the reason, and the deterministic summary stands alone. The model never
decides who is tagged: that is in the summary already.
"""

from __future__ import annotations

import time
from typing import Literal

from pydantic import BaseModel, Field

from connectors.base import LanguageModel
from connectors.errors import AuthError, ConnectorError, RateLimited
from connectors.records import ModelReply
from investigators.citations import Dropped, Sentence, check
from investigators.phrasing import plural
from investigators.pipeline.brief import (
    Reference,
    fence,
    incident_facts,
    prompt,
    summary_brief,
    trimmed,
)
from investigators.pipeline.config import LlmBudget
from investigators.pipeline.summary import Summary

#: Fewer seconds than this left before the deadline, and the model is not asked at all.
MIN_SECONDS = 1.0


class LlmUsage(BaseModel):
    """One call to the model: what for, how many tokens, how long, what it cost."""

    purpose: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    seconds: float = 0.0
    cost_usd: float = 0.0
    at: float = Field(default_factory=time.time)
    outcome: str = "ok"


def usage_of(purpose: str, model: LanguageModel, reply: ModelReply) -> LlmUsage:
    """The usage of a reply, priced."""
    return LlmUsage(
        purpose=purpose,
        model=reply.model or model.model,
        input_tokens=reply.input_tokens,
        output_tokens=reply.output_tokens,
        seconds=reply.seconds,
        cost_usd=round(model.cost(reply.input_tokens, reply.output_tokens), 6),
    )


def failed_usage(
    purpose: str, model: LanguageModel, error: ConnectorError, seconds: float
) -> LlmUsage:
    """A call that failed: no tokens, the time it took, and why."""
    return LlmUsage(purpose=purpose, model=model.model, seconds=seconds, outcome=error.message)


def unavailable_reason(error: ConnectorError) -> str:
    """The reason a person reads for a model that did not answer."""
    if isinstance(error, AuthError):
        return "the language model refused our key (check ANTHROPIC_API_KEY)"
    if isinstance(error, RateLimited):
        return "the language model is rate limiting us"
    return f"the language model did not answer ({error.message})"


class Narrative(BaseModel):
    """The checked sentences with what they cite, or why there are none."""

    status: Literal["ok", "unavailable", "skipped"]
    reason: str = ""
    sentences: list[Sentence] = Field(default_factory=list)
    references: dict[str, Reference] = Field(default_factory=dict)
    dropped: list[Dropped] = Field(default_factory=list)
    usage: list[LlmUsage] = Field(default_factory=list)
    seconds: float = 0.0

    @property
    def survival(self) -> float:
        """The share of the model's sentences that passed the check."""
        total = len(self.sentences) + len(self.dropped)
        return len(self.sentences) / total if total else 0.0


def evidence_citations(summary: Summary) -> dict[str, str]:
    """Each finding's citable id (``E7``): the id the narrative cites it by, which thread
    answers reuse (:mod:`investigators.pipeline.qa`), so an id means one item in an incident."""
    brief = summary_brief(summary)
    return {r.finding_id: r.id for r in brief.references.values() if r.finding_id}


def _complete_sentences(reply: ModelReply) -> str:
    """The text, without a last sentence the token limit cut in half."""
    text = reply.text.rstrip()
    if reply.stop_reason != "max_tokens":
        return text
    cut = max(text.rfind(". "), text.rfind("]."), text.rfind("\n"))
    return text[: cut + 2] if cut >= 0 else ""


async def write_narrative(
    summary: Summary,
    *,
    model: LanguageModel | None,
    budget: LlmBudget,
    deadline_at: float,
    title: str = "",
) -> Narrative:
    """Ask the model for the narrative and check it; any failure gives the reason instead."""
    started = time.monotonic()
    if summary.root_cause is None:
        return Narrative(status="skipped", reason="no suspect to explain")
    if model is None:
        return Narrative(status="unavailable", reason="no ANTHROPIC_API_KEY is set")
    seconds = min(budget.narrative_seconds, deadline_at - time.time())
    if seconds < MIN_SECONDS:
        return Narrative(status="unavailable", reason="no time left before the deadline")
    brief = summary_brief(summary)
    system = prompt("narrative")
    incident = fence("incident", incident_facts(summary, title))
    ids = trimmed(brief, budget=budget.narrative_input_tokens, fixed=system + incident)
    if not ids:
        return Narrative(status="unavailable", reason="the evidence does not fit the token budget")
    user = f"{incident}\n{brief.evidence(ids)}\nExplain this incident now, citing the evidence."
    try:
        reply = await model.create(
            system=system,
            messages=[{"role": "user", "content": user}],
            max_tokens=budget.narrative_output_tokens,
            timeout=seconds,
        )
    except ConnectorError as exc:
        spent = time.monotonic() - started
        return Narrative(
            status="unavailable",
            reason=unavailable_reason(exc),
            usage=[failed_usage("narrative", model, exc, spent)],
            seconds=spent,
        )
    usage = [usage_of("narrative", model, reply)]
    about = {k: v for k, v in brief.about().items() if k in ids}
    checked = check(_complete_sentences(reply), about)
    spent = time.monotonic() - started
    if not checked.enough(min_sentences=budget.min_sentences, min_share=budget.min_share):
        return Narrative(
            status="unavailable",
            reason=f"the model's text did not hold up against the evidence "
            f"(only {len(checked.kept)} of its {plural(checked.total, 'sentence')} cited it)",
            dropped=checked.dropped,
            usage=usage,
            seconds=spent,
        )
    cited = {c for s in checked.kept for c in s.cites}
    return Narrative(
        status="ok",
        sentences=checked.kept,
        references={k: r for k, r in brief.references.items() if k in cited},
        dropped=checked.dropped,
        usage=usage,
        seconds=spent,
    )
