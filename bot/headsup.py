"""The health sweep's messages in Block Kit (pure: no I/O), within Slack's limits.

One heads-up per degradation, posted when a sweep first reports it and edited as later sweeps
confirm or clear it; the text of ``/rca sweep``; and the first message of an incident channel
opened from a heads-up. Untrusted text (evidence titles, reasons, channel names) goes through
:mod:`bot.escape`; the one mention is the owning team's user group, and only when asked for.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from bot.blocks import MAX_BLOCKS, MAX_FALLBACK, MAX_SECTION, Block, context, header, section
from bot.escape import LinkPolicy, code, escape, group_mention, link
from investigators.phrasing import bare_title, change_word
from investigators.sweep import SUSTAINED, Degradation, Evidence, SweepState

OPEN_INCIDENT_ACTION = "sweep_open_incident"
#: Evidence lines and reasons shown in a heads-up.
EVIDENCE_LINES, REASONS = 5, 3
#: Callers listed by name; the rest are counted.
CALLERS = 10
#: Degradations listed by ``/rca sweep``.
STATUS_LINES = 15


def clock_time(epoch: float, *, now: float | None = None) -> str:
    """``14:40 UTC``; with the date too when it is not within the day of ``now``."""
    now = time.time() if now is None else now
    shape = "%H:%M UTC" if abs(now - epoch) < 20 * 3600 else "%b %d %H:%M UTC"
    return time.strftime(shape, time.gmtime(epoch))


def owner_label(team: str, slack_group: str | None, *, mention: bool) -> str:
    """The owning team: its ``<!subteam^ID>`` when mentioning, else its name as inert text."""
    found = group_mention(slack_group) if mention else None
    return found or escape(team, limit=80)


def mutes_text(mutes: Mapping[str, float], *, now: float | None = None) -> str:
    """``Muted: checkout until 16:40 UTC, search until 15:00 UTC``, or nothing."""
    shown = [
        f"{escape(service, limit=80)} until {clock_time(until, now=now)}"
        for service, until in sorted(mutes.items(), key=lambda m: m[1])
    ]
    return f"Muted: {', '.join(shown)}" if shown else ""


def _evidence_line(e: Evidence, links: LinkPolicy | None) -> str:
    title = link(e.url, e.title, links=links, limit=160) if e.url else escape(e.title, limit=160)
    return f"• [{escape(e.source, limit=30)}] {title}"


def _change_text(change: Evidence, service: str, links: LinkPolicy | None) -> str:
    """``*Change:* deploy *Raise pool size*`` (``source`` holds the change's kind)."""
    bare = bare_title(change.title, change.source, service)
    title = link(change.url, bare, links=links, limit=160) if change.url else escape(bare)
    return f"*Change:* {escape(change_word(change.source), limit=30)} *{title}*"


def _callers(explains: list[str]) -> str:
    names = ", ".join(escape(s, limit=80) for s in explains[:CALLERS])
    more = len(explains) - CALLERS
    return names + (f" and {more} more" if more > 0 else "")


def _body(d: Degradation, *, owner: str, links: LinkPolicy | None) -> list[Block]:
    s = d.last
    what = (
        f"*Suspect:* {code(d.service, limit=80)} · severity *{escape(d.severity)}* · "
        f"{escape(s.confidence, limit=20)} confidence"
    )
    if s.reasons:
        what += "\n*Why:* " + "; ".join(escape(r, limit=300) for r in s.reasons[:REASONS])
    if s.explains:
        what += f"\n*Affects its callers:* {_callers(s.explains)}"
    if s.change is not None:
        what += "\n" + _change_text(s.change, d.service, links)
    what += f"\n*Owning team:* {owner}"
    blocks = [section(what)]
    if s.evidence:
        lines = "\n".join(_evidence_line(e, links) for e in s.evidence[:EVIDENCE_LINES])
        blocks.append(section("*Evidence*\n" + lines))
    return blocks


def headsup_blocks(
    d: Degradation,
    *,
    slack_group: str | None,
    mention: bool,
    mutes: Mapping[str, float],
    incident_channel: str | None = None,
    now: float | None = None,
    links: LinkPolicy | None = None,
) -> list[Block]:
    """The heads-up: degrading (with the button) or recovered (without), as it stands now."""
    recovered = d.status == "recovered"
    title = f"Recovered: {d.service}" if recovered else f"Heads-up: {d.service} is degrading"
    owner = owner_label(d.team, slack_group, mention=mention)
    blocks = [header(title), *_body(d, owner=owner, links=links)]
    seen = f"Seen in {d.sweeps} sweeps since {clock_time(d.first_seen, now=now)}"
    if recovered and d.recovered_at is not None:
        seen += f" · recovered at {clock_time(d.recovered_at, now=now)}"
    footer = [seen]
    if incident_channel is not None:
        footer.append(f"Incident channel: <#{incident_channel}>")
    muted = mutes_text(mutes, now=now)
    if muted:
        footer.append(muted)
    footer.append("`/rca mute SERVICE 2h` silences a known issue")
    blocks.append(context(" · ".join(footer)))
    if not recovered and incident_channel is None:
        blocks.append(
            {
                "type": "actions",
                "block_id": "sweep_actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": OPEN_INCIDENT_ACTION,
                        "text": {"type": "plain_text", "text": "Open incident channel"},
                        "style": "primary",
                        "value": d.id[:2000],
                    }
                ],
            }
        )
    return blocks[:MAX_BLOCKS]


def headsup_text(d: Degradation, *, slack_group: str | None, mention: bool) -> str:
    """The heads-up's plain text (notifications, screen readers); it carries the mention."""
    if d.status == "recovered":
        text = f"Recovered: {escape(d.service)} is healthy again."
    else:
        text = f"Heads-up: {escape(d.service)} is degrading (severity {escape(d.severity)})."
    found = group_mention(slack_group) if mention else None
    if found:
        text += f" {found}"
    return text[:MAX_FALLBACK]


def recovered_reply(d: Degradation, *, now: float | None = None) -> str:
    """The thread reply when a reported degradation clears."""
    at = d.recovered_at if d.recovered_at is not None else time.time()
    return f"Recovered at {clock_time(at, now=now)}."


def incident_intro_blocks(
    d: Degradation,
    *,
    slack_group: str | None,
    ops_channel: str,
    now: float | None = None,
    links: LinkPolicy | None = None,
) -> list[Block]:
    """The first message of an incident channel opened from a heads-up: the sweep's evidence."""
    title = header(f"From the health sweep: {d.service} is degrading")
    footer = (
        f"Seen in {d.sweeps} sweeps since {clock_time(d.first_seen, now=now)} · "
        f"heads-up in <#{ops_channel}> · an investigation starts below"
    )
    owner = owner_label(d.team, slack_group, mention=False)
    return [title, *_body(d, owner=owner, links=links), context(footer)]


def incident_intro_text(d: Degradation) -> str:
    """That message's plain text."""
    return f"From the health sweep: {escape(d.service)} is degrading (severity {d.severity})."


def _status_line(d: Degradation, *, now: float) -> str:
    name = code(d.service, limit=80)
    plural = "s" if d.sweeps != 1 else ""
    sweeps = f"{d.sweeps} sweep{plural} since {clock_time(d.first_seen, now=now)}"
    if d.status == "reported":
        at = f" at {clock_time(d.reported_at, now=now)}" if d.reported_at else ""
        return f"• {name}: reported{at}, {sweeps}, severity {escape(d.severity)}"
    if d.status == "suppressed":
        return f"• {name}: suppressed ({_suppressed_by(d.suppressed_by, now=now)}), {sweeps}"
    return f"• {name}: pending ({sweeps}; a heads-up needs {SUSTAINED} in a row)"


def _suppressed_by(reason: str | None, *, now: float) -> str:
    if not reason:
        return "no reason recorded"
    head, _, value = reason.rpartition(" ")
    if head == "muted until":  # the sweep records the epoch; show it as a time
        try:
            return f"muted until {clock_time(float(value), now=now)}"
        except ValueError:
            pass
    return escape(reason, limit=200)


def sweep_status_text(state: SweepState, mutes: Mapping[str, float], *, now: float) -> str:
    """``/rca sweep``: the last sweep, the open degradations and why, the active mutes."""
    last = state.last
    if last is None:
        lines = ["No sweep has run yet: the sweep process runs one every few minutes."]
    else:
        suspects = ", ".join(escape(s, limit=80) for s in last.suspects) or "none"
        lines = [
            f"*Last sweep:* {clock_time(last.at, now=now)}: {last.services} services, "
            f"{last.anomalous} anomalous, suspects {suspects}, took {last.seconds:.1f} s."
        ]
        if last.sources_missing:
            missing = ", ".join(escape(m, limit=40) for m in last.sources_missing)
            lines.append(f"Missing sources: {missing}.")
    open_ = sorted(state.open.values(), key=lambda d: d.first_seen)
    if open_:
        lines.append("*Open degradations:*")
        lines += [_status_line(d, now=now) for d in open_[:STATUS_LINES]]
        if len(open_) > STATUS_LINES:
            lines.append(f"…and {len(open_) - STATUS_LINES} more.")
    elif last is not None:
        lines.append("No open degradations.")
    muted = mutes_text(mutes, now=now)
    if muted:
        lines.append(muted + ".")
    return "\n".join(lines)[:MAX_SECTION]
