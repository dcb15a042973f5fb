"""Deterministic answers to thread questions, from an investigation's summary and record."""

from __future__ import annotations

import re

from bot.blocks import evidence_line
from bot.escape import code, escape
from investigators.catalog import Catalog
from investigators.pipeline import Record, Summary

HELP = (
    "I can answer from this investigation's record:\n"
    "• `evidence`: what the conclusion rests on\n"
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
)


def is_command(question: str) -> bool:
    """Whether the question is one of the fixed commands, answered without the model."""
    text = _MENTION.sub(" ", question).strip().lower()
    return any(re.match(p, text) for p in _COMMANDS)


def answer(
    question: str, *, summary: Summary, record: Record | None, catalog: Catalog | None = None
) -> str:
    """A useful answer to a question about the investigation, or the help text."""
    text = _MENTION.sub(" ", question).strip().lower()
    if match := re.match(r"^why not\s+(.+)$", text):
        return _why_not(match.group(1), summary=summary, catalog=catalog)
    if match := re.match(r"^(?:show\s+)?logs?(?:\s+(?:for|of))?\s+(.+)$", text):
        return _logs(match.group(1), summary=summary, record=record, catalog=catalog)
    if match := _CHANGES.match(text):
        return _changes(match.group(1), summary=summary, catalog=catalog)
    if re.match(r"^(evidence|why|how sure|confidence)\b", text):
        return _evidence(summary)
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
        return f"{code(name)} *is* the likely root cause: " + "; ".join(
            escape(r) for r in root.reasons
        )
    lead = f" (the root cause is {code(root.service)})" if root else ""
    if name in summary.symptoms_ruled_out:
        reason = f"{code(name)} was anomalous but ruled out as a symptom{lead}: its trouble "
        reason += "started no earlier than its dependency's, which is big enough to account for it."
        return reason
    for position, item in enumerate(summary.ranking, start=1):
        if item.get("service") == name:
            reasons = item.get("reasons") or []
            listed = "; ".join(escape(r) for r in reasons) if isinstance(reasons, list) else ""
            return (
                f"{code(name)} ranked #{position} with score "
                f"{float(str(item.get('score', 0))):.2f} ({escape(item.get('confidence', ''))})"
                f"{lead}. {listed}"
            ).strip()
    return f"{code(name)} showed no anomaly in the scanned telemetry{lead}: not a suspect."


def _logs(word: str, *, summary: Summary, record: Record | None, catalog: Catalog | None) -> str:
    name = _service(word, catalog, summary)
    if name is None:
        return _unknown(word, catalog)
    found = [f for f in summary.evidence if f.source == "logs" and f.service == name]
    lines = [f"*Logs of {code(name)}*"]
    lines += [evidence_line(f) for f in found]
    for f in found:
        for sample in (f.details.get("samples") or [])[:3]:
            lines.append(f"    {code(sample)}")
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
    return "\n".join(lines)


def _changes(word: str, *, summary: Summary, catalog: Catalog | None) -> str:
    name = _service(word, catalog, summary) if word.strip() else None
    if word.strip() and name is None:
        return _unknown(word, catalog)
    found = [f for f in summary.evidence if f.source == "changes" and name in (None, f.service)]
    if not found:
        where = f" to {code(name)}" if name else ""
        return f"No change{where} found shortly before the onset."
    return "*Changes*\n" + "\n".join(evidence_line(f) for f in found[:10])


def _evidence(summary: Summary) -> str:
    root = summary.root_cause
    lines = []
    if root is not None:
        lines.append(f"*{code(root.service)}, confidence {escape(root.confidence)}*")
        lines += [f"• {escape(r)}" for r in root.reasons]
    lines += [evidence_line(f) for f in summary.evidence[:15]]
    return "\n".join(lines) or "No evidence was collected."


def _timings(record: Record | None) -> str:
    if record is None:
        return "The investigation is still running; timings come with the summary."
    lines = [f"*Timings* (finished by {escape(record.finished_by)})"]
    lines += [f"• {escape(phase)}: {seconds:.2f}s" for phase, seconds in record.phases.items()]
    lines += [
        f"• {escape(s.step)}: {s.seconds:.2f}s, {escape(s.status)}, attempt {s.attempt}"
        for s in record.steps
    ]
    return "\n".join(lines)


def _queries(record: Record | None) -> str:
    if record is None:
        return "The investigation is still running; queries come with the summary."
    lines = ["*Queries*"]
    for s in record.steps:
        for q in s.queries[:5]:
            ok = "" if q.get("ok", True) else f", failed: {escape(q.get('error'))}"
            lines.append(
                f"• {escape(s.step)}: {code(q.get('what', ''), limit=200)} "
                f"{float(str(q.get('seconds', 0))):.2f}s{ok}"
            )
    return "\n".join(lines)
