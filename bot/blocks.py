"""Block Kit messages built from a summary (pure: no I/O), within Slack's limits.

Every piece of untrusted text goes through :mod:`bot.escape`; the one mention emitted is the
owning team's user group, and only when the summary's ``notify`` names it. Every link goes through
:func:`bot.escape.link` with the configured :class:`~bot.escape.LinkPolicy` (``links``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.escape import LinkPolicy, code, escape, group_label, group_mention, link
from investigators.citations import Sentence
from investigators.phrasing import plural
from investigators.pipeline import Finding, LlmUsage, Narrative, ProgressEvent, QaAnswer, Summary
from investigators.pipeline.brief import Reference
from investigators.pipeline.narrative import evidence_citations
from investigators.pipeline.summary import Alert, RootCause, Words, alert_words, finding_words

#: Slack's limits: blocks per message, characters per section text and header.
MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_HEADER = 150
MAX_FALLBACK = 3000
#: Evidence lines in the summary itself; the rest go to the thread.
EVIDENCE_MIN, EVIDENCE_MAX = 3, 6

RERUN_ACTION = "rca_rerun"
WRONG_ACTION = "rca_wrong_root_cause"

Block = dict[str, Any]


def section(text: str) -> Block:
    """A mrkdwn section, cut to Slack's limit (untrusted parts escaped by the caller)."""
    if len(text) > MAX_SECTION:
        text = text[: MAX_SECTION - 1] + "…"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": True}}


def context(text: str) -> Block:
    """A context line of mrkdwn, cut to Slack's limit."""
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:MAX_SECTION]}]}


def header(text: str) -> Block:
    """A plain-text header, cut to Slack's limit."""
    plain = text if len(text) <= MAX_HEADER else text[: MAX_HEADER - 1] + "…"
    return {"type": "header", "text": {"type": "plain_text", "text": plain}}


def said(f: Finding, words: Words, *, links: LinkPolicy | None = None, limit: int = 160) -> str:
    """A finding's words as mrkdwn: plain words escaped, its own text linked to the source
    (in bold for a change: ``deploy a1b2c3d *Raise pool size* by octocat, …``)."""
    shown = ""
    if words.title:
        shown = (
            link(f.url, words.title, links=links, limit=limit)
            if f.url
            else escape(words.title, limit=limit)
        )
        if words.change:
            shown = f"*{shown}*"
    parts = [escape(words.lead), shown]
    text = " ".join(p for p in parts if p)
    if words.rest:
        text += ("" if words.rest.startswith((",", ":")) else " ") + escape(words.rest, limit=300)
    return text


def evidence_line(
    f: Finding,
    *,
    links: LinkPolicy | None = None,
    alert: Alert | None = None,
    cite: str | None = None,
) -> str:
    """One evidence line: its citable id, the service, what was seen in words, and a link."""
    tag = f"{escape(cite)} · " if cite else ""
    words = finding_words(f, alert)
    return f"• {tag}*{escape(f.service)}*: {said(f, words, links=links)}"


def evidence_lines(
    summary: Summary, findings: Sequence[Finding], *, links: LinkPolicy | None = None
) -> list[str]:
    """Evidence lines, each with the id the narrative and thread answers cite it by."""
    ids = evidence_citations(summary)
    return [
        evidence_line(f, links=links, alert=summary.alert, cite=ids.get(f.id)) for f in findings
    ]


def _top_evidence(summary: Summary) -> list[Finding]:
    root = summary.root_cause.service if summary.root_cause else None
    ordered = sorted(summary.evidence, key=lambda f: f.service != root)
    return ordered[:EVIDENCE_MAX]


def fallback_text(summary: Summary) -> str:
    """The plain-text version (notifications, screen readers, old clients)."""
    root = summary.root_cause
    if root is None:
        text = "Investigation finished: no root cause found in the scanned telemetry."
    else:
        text = f"{_headline(root)}: {escape(root.service)}"
        if root.change is not None:
            words = finding_words(root.change, summary.alert)
            if not words.after:
                text += f", after {escape(words.lead)} {escape(words.title, limit=120)}".rstrip()
        text += "."
    mention = group_mention(summary.notify.slack_group) if summary.notify else None
    if mention:
        text += f" {mention}"
    return text[:MAX_FALLBACK]


def cited(
    sentence: Sentence, references: Mapping[str, Reference], *, links: LinkPolicy | None = None
) -> str:
    """A model's sentence, escaped, with its citations as links to the evidence's source."""
    marks = []
    for cite in sentence.cites:
        ref = references.get(cite)
        marks.append(
            f"[{link(ref.url, cite, links=links, show_url=False)}]"
            if ref is not None and ref.url
            else f"[{escape(cite)}]"
        )
    return f"{escape(sentence.text, limit=600)} {''.join(marks)}".strip()


def narrative_block(
    narrative: Narrative | None, *, links: LinkPolicy | None = None
) -> Block | None:
    """The model's explanation, or a line saying why there is none (nothing when skipped)."""
    if narrative is None or narrative.status == "skipped":
        return None
    if narrative.status == "ok":
        text = " ".join(cited(s, narrative.references, links=links) for s in narrative.sentences)
        return section(f"*What happened*\n{text}")
    return context(
        f":information_source: Narrative unavailable: {escape(narrative.reason, limit=300)}. "
        "The summary below is computed from the evidence."
    )


def usage_line(usage: Sequence[LlmUsage]) -> str | None:
    """Calls, tokens, seconds and cost of the language model, or None when it was not called."""
    if not usage:
        return None
    tokens_in = sum(u.input_tokens for u in usage)
    tokens_out = sum(u.output_tokens for u in usage)
    seconds = sum(u.seconds for u in usage)
    cost = sum(u.cost_usd for u in usage)
    failed = sum(u.outcome != "ok" for u in usage)
    calls = f"{len(usage)} call{'s' if len(usage) != 1 else ''}"
    line = f"{calls}, {tokens_in:,} tokens in, {tokens_out:,} out, {seconds:.1f}s, ${cost:.4f}"
    return line + (f", {failed} failed" if failed else "")


def answer_text(answer: QaAnswer, *, model: str = "", links: LinkPolicy | None = None) -> str:
    """A checked model answer for the thread: cited sentences and how they were found."""
    lines = [" ".join(cited(s, answer.references, links=links) for s in answer.sentences)]
    tools = ", ".join(dict.fromkeys(escape(t.name) for t in answer.tools))
    how = f"_Answered by {escape(model or 'the language model')}"
    how += f" after {tools}" if tools else " from the investigation's evidence"
    if answer.dropped:
        how += f"; {plural(len(answer.dropped), 'uncited sentence')} removed"
    lines.append(how + "._")
    return "\n".join(lines)[:MAX_SECTION]


def summary_blocks(
    summary: Summary,
    *,
    title: str = "",
    narrative: Narrative | None = None,
    links: LinkPolicy | None = None,
) -> list[Block]:
    """The summary message: root cause, narrative, confidence, evidence, next steps, buttons."""
    root = summary.root_cause
    blocks: list[Block] = []
    explained = narrative_block(narrative, links=links)
    if root is None:
        blocks.append(header("No root cause found"))
        blocks.append(section("Nothing anomalous in the scanned telemetry."))
    else:
        blocks.append(header(f"{_headline(root)}: {root.service}"))
        if explained is not None:
            blocks.append(explained)
        blocks.append(section(root_text(summary, root, links=links)))
    evidence = _top_evidence(summary)
    if evidence:
        lines = evidence_lines(summary, evidence, links=links)
        blocks.append(section("*Evidence*\n" + "\n".join(lines)))
    if summary.symptoms_ruled_out:
        names = ", ".join(escape(s) for s in summary.symptoms_ruled_out[:15])
        more = len(summary.symptoms_ruled_out) - 15
        blocks.append(
            section(f"*Ruled out (symptoms):* {names}" + (f" and {more} more" if more > 0 else ""))
        )
    if summary.next_steps:
        steps = "\n".join(f"• {escape(s, limit=300)}" for s in summary.next_steps[:6])
        blocks.append(section("*Next steps*\n" + steps))
    footer = []
    if summary.notify is not None:
        owner = group_label(summary.notify.slack_group, summary.notify.team)
        footer.append(f"Owning team: {owner}")
    else:
        footer.append("No team tagged: not confident enough.")
    if summary.sources_missing:
        footer.append("Missing: " + ", ".join(escape(m.source) for m in summary.sources_missing))
    footer.append(f"Investigation {escape(summary.investigation_id)} · details in the thread")
    blocks.append(context(" · ".join(footer)))
    blocks.append(actions_block(summary.investigation_id))
    return blocks[:MAX_BLOCKS]


def _headline(root: RootCause) -> str:
    """``Likely root cause (high confidence)``."""
    return f"Likely root cause ({root.confidence} confidence)"


def root_text(summary: Summary, root: RootCause, *, links: LinkPolicy | None = None) -> str:
    """The alert, the root cause and what it showed, the change, and why, a line each."""
    lines = []
    alert = summary.alert
    alerting = alert is not None and alert.service == root.service and root.said == alert.said
    if alert is not None and not alerting:
        lines.append(f"*Alert:* {escape(alert_words(alert), limit=300)}")
    what = f": {escape(root.said, limit=300)}" if root.said else ""
    what += " (the alert)" if alerting else ""
    lines.append(f"*Root cause:* {code(root.service, limit=80)} (team {escape(root.team)}){what}")
    if root.change is not None:
        words = finding_words(root.change, alert)
        verdict = ", so not its cause" if words.after else ""
        lines.append(f"*Change:* {said(root.change, words, links=links)}{verdict}")
    why = root.why if root.said or root.why else root.reasons
    if why:
        lines.append(f"*Why:* {'; '.join(escape(w, limit=300) for w in why[:3])}")
    elif not root.said:
        lines.append("*Why:* no reason recorded")
    return "\n".join(lines)


def actions_block(investigation_id: str) -> Block:
    """Re-run and wrong-root-cause buttons."""
    return {
        "type": "actions",
        "block_id": "rca_actions",
        "elements": [
            {
                "type": "button",
                "action_id": RERUN_ACTION,
                "text": {"type": "plain_text", "text": "Re-run"},
                "value": investigation_id,
            },
            {
                "type": "button",
                "action_id": WRONG_ACTION,
                "style": "danger",
                "text": {"type": "plain_text", "text": "Wrong root cause"},
                "value": investigation_id,
            },
        ],
    }


def progress_blocks(channel_name: str, events: Sequence[ProgressEvent]) -> list[Block]:
    """The "Investigating ..." message, updated as sources report."""
    done = [e.source for e in events if e.kind == "source_done" and e.source]
    failed = [e.source for e in events if e.kind == "source_failed" and e.source]
    started = next((e.detail for e in events if e.kind == "started"), "")
    lines = [f":mag: Investigating #{escape(channel_name, limit=80)}…"]
    if started:
        lines.append(escape(started, limit=300))
    if done:
        lines.append("Answered: " + ", ".join(escape(s) for s in dict.fromkeys(done)))
    if failed:
        lines.append("Failed: " + ", ".join(escape(s) for s in dict.fromkeys(failed)))
    if any(e.kind == "summary_ready" for e in events):
        lines.append("Concluded; writing the explanation…")
    elif any(e.kind == "ranked" for e in events):
        lines.append("Ranked the suspects; looking closer at the top ones.")
    return [section("\n".join(lines))]


def progress_text(channel_name: str) -> str:
    """Fallback text of the progress message."""
    return f"Investigating #{escape(channel_name, limit=80)}…"


def dropped_line(kept: int, dropped: int) -> str:
    """``1 of the model's 5 sentences was removed: it cited no evidence that supports it.``"""
    total = kept + dropped
    verb, it = ("was", "it") if dropped == 1 else ("were", "they")
    return (
        f"{dropped:,} of the model's {plural(total, 'sentence')} {verb} removed: "
        f"{it} cited no evidence that supports {'it' if dropped == 1 else 'them'}."
    )


def details_text(
    summary: Summary,
    *,
    narrative: Narrative | None = None,
    open_questions: bool = False,
    links: LinkPolicy | None = None,
) -> str:
    """The longer detail for the thread: every reason, all evidence, the ranking, what's missing."""
    lines: list[str] = []
    if narrative is not None and narrative.usage:
        lines.append(f"_Narrative: {usage_line(narrative.usage)}_")
        if narrative.dropped:
            lines.append(f"_{dropped_line(len(narrative.sentences), len(narrative.dropped))}_")
    root = summary.root_cause
    if root is not None:
        lines.append(f"*Why {escape(root.service)}* ({escape(root.confidence)} confidence)")
        lines += [f"• {escape(r, limit=400)}" for r in root.reasons]
    if summary.evidence:
        lines.append(f"*All evidence* ({plural(len(summary.evidence), 'item')})")
        lines += evidence_lines(summary, summary.evidence[:25], links=links)
    if summary.ranking:
        lines.append("*Ranking*")
        for rank, item in enumerate(summary.ranking, start=1):
            lines.append(
                f"• #{rank} {escape(item.get('service', '?'))}: "
                f"{escape(item.get('confidence', ''))} confidence"
            )
    for m in summary.sources_missing:
        phase = "broad scan" if m.phase == "scan" else "deep dive"
        lines.append(f"• {escape(m.source)} did not answer in the {phase}: {escape(m.reason)}")
    if summary.unknown_services:
        unknown = ", ".join(escape(s) for s in summary.unknown_services)
        lines.append(f"Unknown services named: {unknown}")
    if summary.series_skipped:
        shown = "; ".join(escape(s, limit=120) for s in summary.series_skipped[:5])
        more = len(summary.series_skipped) - 5
        lines.append(
            f"Series left out, unreadable: {shown}" + (f" and {more} more" if more > 0 else "")
        )
    lines.append(
        "_Ask me here: `evidence`, `logs SERVICE`, `changes`, `why not SERVICE?`, "
        "`timings`, `queries`"
        + (", or any question in your own words._" if open_questions else "._")
    )
    return "\n".join(lines)[: MAX_SECTION * 3]
