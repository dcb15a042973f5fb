"""Deterministic answers to thread questions, from an investigation's summary and record.

Each answer is posted as a message's text, which Slack cuts at 40,000 characters, so each is
built to fit :data:`MAX_ANSWER`: one long title or reason is cut to :data:`MAX_LINE`, and a list
too long to show ends with how many were left out and where to see them. ``evidence`` is paged,
:data:`EVIDENCE_PAGE` findings a page (``evidence 2``, ``evidence 3``...), so every finding can
be read in the thread however many there are.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence

from bot.blocks import evidence_line, said
from bot.escape import LinkPolicy, code, escape
from investigators.catalog import Catalog
from investigators.pipeline import Finding, Record, Summary
from investigators.pipeline.narrative import evidence_citations
from investigators.pipeline.summary import finding_words

#: Slack cuts a message's text at 40,000 characters; the copilot may add a line (at most about
#: 1,100 characters) saying the language model could not answer.
MAX_ANSWER = 38_000
#: One reason, evidence line or step at most, so that one long title cannot crowd out the rest.
MAX_LINE = 600
#: Findings on one page of ``evidence``.
EVIDENCE_PAGE = 15
#: Reasons shown for one service, at most: the engine gives a handful.
MAX_REASONS = 12

HELP = (
    "I can answer from this investigation's record:\n"
    "• `evidence`: what the conclusion rests on (`evidence 2`: the next page)\n"
    "• `logs SERVICE`: log findings and queries for a service\n"
    "• `changes`: deploys, commits and pull requests found\n"
    "• `why not SERVICE?`: why a service was not picked\n"
    "• `timings` and `queries`: what ran and how long it took"
)
_MENTION = re.compile(r"<@[A-Z0-9]+>")
_CHANGES = re.compile(r"^(?:changes?|deploys?|commits?|prs?)(?:\s+(?:for|of|to))?\s*(.*)$")


def _service(text: str, catalog: Catalog | None, summary: Summary) -> str | None:
    word = text.strip(" ?!.,`'\"").lower()
    if not word:
        return None
    if catalog is not None:
        found = catalog.resolve(word)
        if found is not None:
            return found.name
    known = {f.service for f in summary.evidence} | set(summary.symptoms_ruled_out)
    known |= {str(r.get("service")) for r in summary.ranking}
    return word if word in known else None


def _unknown(word: str, catalog: Catalog | None) -> str:
    hint = ""
    if catalog is not None:
        close = catalog.suggest(word)
        if close:
            hint = f" Did you mean {', '.join(code(c) for c in close)}?"
    return f"I don't know a service called {code(word, limit=60)}.{hint}"


_COMMANDS = (
    r"^why not\s+.+$",
    r"^(?:show\s+)?logs?(?:\s+(?:for|of))?\s+.+$",
    _CHANGES.pattern,
    # Only the bare words: "why did checkout fail?" is a question for the model when there is one.
    r"^(evidence|why|how sure|confidence|timings?|how long|quer(y|ies)|help)\W*$",
    r"^evidence\s+(?:page\s+)?\d+\W*$",
)


def is_command(question: str) -> bool:
    """Whether the question is one of the fixed commands, answered without the model."""
    text = _MENTION.sub(" ", question).strip().lower()
    return any(re.match(p, text) for p in _COMMANDS)


def answer(
    question: str,
    *,
    summary: Summary,
    record: Record | None,
    catalog: Catalog | None = None,
    links: LinkPolicy | None = None,
) -> str:
    """A useful answer to a question about the investigation, or the help text."""
    text = _MENTION.sub(" ", question).strip().lower()
    if match := re.match(r"^why not\s+(.+)$", text):
        return _why_not(match.group(1), summary=summary, catalog=catalog)
    if match := re.match(r"^(?:show\s+)?logs?(?:\s+(?:for|of))?\s+(.+)$", text):
        return _logs(match.group(1), summary=summary, record=record, catalog=catalog, links=links)
    if match := _CHANGES.match(text):
        return _changes(match.group(1), summary=summary, catalog=catalog, links=links)
    if match := re.match(r"^evidence\s+(?:page\s+)?(\d+)\W*$", text):
        return _evidence(summary, page=int(match.group(1)), links=links)
    if re.match(r"^(evidence|why|how sure|confidence)\b", text):
        return _evidence(summary, links=links)
    if re.match(r"^(timings?|how long|time)\b", text):
        return _timings(record)
    if re.match(r"^quer(y|ies)\b", text):
        return _queries(record)
    return HELP


def _why_not(word: str, *, summary: Summary, catalog: Catalog | None) -> str:
    name = _service(word, catalog, summary)
    if name is None:
        return _unknown(word.strip(" ?"), catalog)
    root = summary.root_cause
    if root is not None and name == root.service:
        return f"{code(name)} *is* the likely root cause: {_reasons(root.reasons)}"
    lead = f" (the root cause is {code(root.service)})" if root else ""
    if name in summary.symptoms_ruled_out:
        reason = f"{code(name)} was anomalous but ruled out as a symptom{lead}: its trouble "
        reason += "started no earlier than its dependency's, which is big enough to account for it."
        return reason
    for position, item in enumerate(summary.ranking, start=1):
        if item.get("service") == name:
            reasons = item.get("reasons") or []
            listed = _reasons(reasons) if isinstance(reasons, list) else ""
            return (
                f"{code(name)} ranked #{position} "
                f"({escape(item.get('confidence', ''), limit=40)} confidence){lead}. {listed}"
            ).strip()
    return f"{code(name)} showed no anomaly in the scanned telemetry{lead}: not a suspect."


def _logs(
    word: str,
    *,
    summary: Summary,
    record: Record | None,
    catalog: Catalog | None,
    links: LinkPolicy | None,
) -> str:
    name = _service(word, catalog, summary)
    if name is None:
        return _unknown(word, catalog)
    found = [f for f in summary.evidence if f.source == "logs" and f.service == name]
    lines = _lines(found[:EVIDENCE_PAGE], summary, links)
    for f in found[:EVIDENCE_PAGE]:
        samples = f.details.get("samples")
        for sample in samples[:3] if isinstance(samples, list) else []:
            lines.append(f"    {code(sample)}")
    if len(found) > EVIDENCE_PAGE:
        lines.append(f"… and {len(found) - EVIDENCE_PAGE} more log findings: {_EVERY_FINDING}")
    if not found:
        lines.append("No log finding for it: its error counts stayed near their baseline.")
    if record is not None:
        queries = [
            q
            for s in record.steps
            if "logs" in s.step
            for q in s.queries
            if name in str(q.get("what", "")) or len(s.queries) <= 3
        ]
        for q in queries[:5]:
            seconds = float(str(q.get("seconds", 0)))
            lines.append(f"query: {code(q.get('what', ''))} ({seconds:.2f}s)")
    return _fit([f"*Logs of {code(name)}*"], lines, count=len(lines))


def _changes(
    word: str, *, summary: Summary, catalog: Catalog | None, links: LinkPolicy | None
) -> str:
    name = _service(word, catalog, summary) if word.strip() else None
    if word.strip() and name is None:
        return _unknown(word, catalog)
    found = [f for f in summary.evidence if f.source == "changes" and name in (None, f.service)]
    if not found:
        where = f" to {code(name)}" if name else ""
        return f"No change{where} found shortly before the onset."
    more = f"… and {len(found) - 10} more changes: {_EVERY_FINDING}" if len(found) > 10 else ""
    shown = _lines(found[:10], summary, links)
    return _fit(["*Changes*"], shown, count=len(shown), end=more, what="changes")


_EVERY_FINDING = "`evidence` lists every finding, a page at a time"


def _evidence(summary: Summary, *, page: int = 1, links: LinkPolicy | None = None) -> str:
    """One page of the evidence: the root cause's reasons first, then the findings."""
    findings = summary.evidence
    pages = max(1, -(-len(findings) // EVIDENCE_PAGE))
    if page < 1 or page > pages:
        if pages == 1:
            return f"There is one page of evidence ({len(findings)} findings): `evidence` shows it."
        return (
            f"There are {pages} pages of evidence ({len(findings)} findings): `evidence` to "
            f"`evidence {pages}`."
        )
    head = []
    root = summary.root_cause
    if page == 1 and root is not None:
        head.append(f"*{code(root.service)}, {escape(root.confidence, limit=40)} confidence*")
        head += [f"• {_escaped(r)}" for r in root.reasons[:MAX_REASONS]]
        if len(root.reasons) > MAX_REASONS:
            head.append(f"… and {len(root.reasons) - MAX_REASONS} more reasons, not shown")
    elif page > 1:
        head.append(f"*Evidence, page {page} of {pages}*")
    shown = findings[(page - 1) * EVIDENCE_PAGE : page * EVIDENCE_PAGE]
    left = len(findings) - (page - 1) * EVIDENCE_PAGE - len(shown)
    following = f"… and {left} more findings: `evidence {page + 1}` shows the next" if left else ""
    lines = _lines(shown, summary, links)
    text = _fit(head, lines, count=len(lines), end=following, what="findings")
    return text or "No evidence was collected."


def _timings(record: Record | None) -> str:
    if record is None:
        return "The investigation is still running; timings come with the summary."
    head = [f"*Timings* (finished by {escape(record.finished_by, limit=40)})"]
    phases = (f"• {escape(p, limit=80)}: {seconds:.2f}s" for p, seconds in record.phases.items())
    steps = (
        f"• {escape(s.step, limit=200)}: {s.seconds:.2f}s, {escape(s.status, limit=40)}, "
        f"attempt {s.attempt}"
        for s in record.steps
    )
    count = len(record.phases) + len(record.steps)
    return _fit(head, itertools.chain(phases, steps), count=count, what="steps")


def _queries(record: Record | None) -> str:
    if record is None:
        return "The investigation is still running; queries come with the summary."
    lines = (
        f"• {escape(s.step, limit=120)}: {code(q.get('what', ''), limit=200)} "
        f"{float(str(q.get('seconds', 0))):.2f}s"
        + ("" if q.get("ok", True) else f", failed: {escape(q.get('error'), limit=120)}")
        for s in record.steps
        for q in s.queries[:5]
    )
    count = sum(min(len(s.queries), 5) for s in record.steps)
    return _fit(["*Queries*"], lines, count=count, what="queries")


def _lines(findings: Iterable[Finding], summary: Summary, links: LinkPolicy | None) -> list[str]:
    """Evidence lines, each with the id the narrative and the model's answers cite it by."""
    ids = evidence_citations(summary)
    return [_line(f, summary, links, cite=ids.get(f.id)) for f in findings]


def _line(f: Finding, summary: Summary, links: LinkPolicy | None, *, cite: str | None) -> str:
    """A finding's evidence line; without its link when the link alone would be too long."""
    line = evidence_line(f, links=links, alert=summary.alert, cite=cite)
    if len(line) <= MAX_LINE:
        return line
    tag = f"{escape(cite)} · " if cite else ""
    words = finding_words(f, summary.alert)
    plain = said(f.model_copy(update={"url": ""}), words, limit=160)
    return f"• {tag}*{escape(f.service, limit=80)}*: {plain}"


def _reasons(reasons: Sequence[object]) -> str:
    """Reasons joined on one line, each cut to :data:`MAX_LINE`, at most :data:`MAX_REASONS`."""
    text = "; ".join(_escaped(r) for r in reasons[:MAX_REASONS])
    if len(reasons) > MAX_REASONS:
        text += f"; … and {len(reasons) - MAX_REASONS} more reasons, not shown"
    return text


def _escaped(value: object, limit: int = MAX_LINE) -> str:
    """Escaped and at most ``limit`` long once escaped (``&`` grows to ``&amp;``)."""
    text = escape(value, limit=limit)
    cut = limit
    while len(text) > limit and cut > 1:
        cut = max(1, cut - (len(text) - limit))
        text = escape(value, limit=cut)
    return text


def _fit(
    head: list[str], lines: Iterable[str], *, count: int, end: str = "", what: str = "lines"
) -> str:
    """The head and as many whole lines as fit :data:`MAX_ANSWER`, then ``end``.

    ``lines`` (``count`` of them) are read only as far as they fit, and cut to
    :data:`MAX_LINE`. Those that do not fit are counted in a last line instead of ``end``
    (``… and 3 more steps, not shown``); the answers' lines are short enough that this is a
    guard, not the rule.
    """
    kept = list(head)
    size = sum(len(line) + 1 for line in kept) + MAX_LINE  # room for the last line
    for n, line in enumerate(lines):
        size += min(len(line), MAX_LINE) + 1
        if size > MAX_ANSWER:
            kept.append(f"… and {count - n:,} more {what}, not shown: too long for Slack")
            return "\n".join(kept)
        kept.append(line if len(line) <= MAX_LINE else line[: MAX_LINE - 1] + "…")
    return "\n".join([*kept, end] if end else kept)
