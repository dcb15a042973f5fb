"""``/rca`` (pure): its arguments (``help``, nothing to re-run or show, ``SERVICE [WINDOW]``, the
health sweep's ``sweep`` and ``mute SERVICE DURATION``), and who may use it where.

The policy (README, *Who may do what*): ``/rca`` acts only where the bot may post, which is an
incident channel (its name matches ``INCIDENT_CHANNEL_PATTERN``), the ops channel or an alert
channel (``SWEEP_CHANNEL``, ``ALERT_CHANNELS``), or a channel the bot was invited to
(``RCA_IN_INVITED_CHANNELS``). It joins only the first two kinds. Mutes last at most
``SWEEP_MUTE_MAX`` and are announced in the ops channel. Everything else is refused privately,
saying what to do instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.channels import DEFAULT_PATTERN, is_incident_channel
from bot.escape import code, escape
from investigators.catalog import Catalog

HELP = (
    "*/rca*: the incident copilot.\n"
    "• `/rca`: show the investigation running in this channel, or run it again\n"
    "• `/rca SERVICE`: investigate a service (name or alias from the catalog)\n"
    "• `/rca SERVICE WINDOW`: ...over the last WINDOW, like `30m`, `2h` or `90s`\n"
    "• `/rca sweep`: the health sweep's last run, open degradations and mutes\n"
    "• `/rca mute SERVICE DURATION`: no heads-ups for a known issue, like `/rca mute checkout 2h`\n"
    "• `/rca help`: this message\n"
    "In the summary's thread, ask `evidence`, `logs SERVICE`, `changes`, `why not SERVICE?`."
)
_WINDOW = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$", re.IGNORECASE)
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
#: The longest window /rca accepts, in seconds.
MAX_WINDOW = 7 * 86400.0
#: The longest mute, unless SWEEP_MUTE_MAX says otherwise.
MUTE_MAX = 24 * 3600.0
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,}$")


@dataclass(frozen=True, slots=True)
class RcaPolicy:
    """Where ``/rca`` may act and post, and how long a mute may last (``Settings.rca_policy()``)."""

    incident_pattern: str = DEFAULT_PATTERN
    ops_channel: str | None = None
    alert_channels: frozenset[str] = frozenset()
    invited_channels: bool = True  # channels the bot is a member of count too
    mute_max: float = MUTE_MAX


@dataclass(frozen=True, slots=True)
class Place:
    """What the bot can see of the channel a command came from."""

    id: str
    name: str = ""
    visible: bool = True  # False when Slack hides it: a private channel the bot is not in
    private: bool = False
    member: bool = False


def _incident_example(policy: RcaPolicy) -> str:
    if policy.incident_pattern == DEFAULT_PATTERN:
        return "an incident channel (`#inc-…`)"
    return f"an incident channel (a name matching {code(policy.incident_pattern, limit=80)})"


def place_refusal(policy: RcaPolicy, place: Place) -> str | None:
    """None when ``/rca`` may act and post in ``place``; else the refusal, saying what to do."""
    if place.visible and place.member and policy.invited_channels:
        return None
    if place.id == policy.ops_channel or place.id in policy.alert_channels:
        return None if place.visible and (place.member or not place.private) else _invite(policy)
    if place.visible and is_incident_channel(place.name, policy.incident_pattern):
        return None  # a private one the bot can see, it is in
    where = _incident_example(policy)
    if not policy.invited_channels:
        return (
            f"I investigate only in {where} and the alert channels, not here. "
            f"Run `/rca SERVICE` in {where}."
        )
    if not place.visible or place.private:
        return _invite(policy)
    return (
        f"I only post in {where}, the alert channels, and channels I was invited to. "
        f"Invite me here with `/invite @incident-copilot`, or run `/rca SERVICE` in {where}."
    )


def _invite(policy: RcaPolicy) -> str:
    return (
        "I'm not in this private channel: invite me first with `/invite @incident-copilot`, "
        f"or run `/rca SERVICE` in {_incident_example(policy)}."
    )


def duration_text(seconds: float) -> str:
    """``24h``, ``90m``, ``2d``, ``45s``: the largest unit that divides it, for messages."""
    whole = round(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole >= size and whole % size == 0 and (unit != "d" or whole >= 2 * size):
            return f"{whole // size}{unit}"
    return f"{whole}s"


def mute_announcement(
    *, user: str, service: str, seconds: float, until: str, channel: str | None = None
) -> str:
    """The ops channel's line: who muted which service's heads-ups, for how long, from where."""
    who = f"<@{user}>" if _USER_ID.match(user) else escape(user, limit=40)
    text = (
        f":mute: {who} muted the health sweep's heads-ups for {code(service, limit=80)} for "
        f"{duration_text(seconds)} (until {escape(until)})"
    )
    if channel and _CHANNEL_ID.match(channel):
        text += f", from <#{channel}>"
    return text + "."


@dataclass(frozen=True, slots=True)
class RcaCommand:
    """A parsed ``/rca``: help, an error to show, or what to investigate."""

    help: bool = False
    error: str | None = None
    services: list[str] = field(default_factory=list)
    window: float | None = None
    sweep: bool = False
    mute: float | None = None  # seconds to mute ``services[0]``'s heads-ups for


def parse_window(text: str) -> float | None:
    """Seconds of ``30m``, ``2h``, ``90s``, ``1d`` or plain seconds; None when malformed."""
    match = _WINDOW.match(text.strip())
    if match is None:
        return None
    seconds = float(match.group(1)) * _UNITS[match.group(2).lower()]
    return seconds if 0 < seconds <= MAX_WINDOW else None


def parse_rca(text: str, catalog: Catalog, *, mute_max: float = MUTE_MAX) -> RcaCommand:
    """What ``/rca TEXT`` asks for, or an error that says how to fix it."""
    words = text.split()
    if not words:
        return RcaCommand()
    if words[0].lower() in {"help", "-h", "--help", "?"}:
        return RcaCommand(help=True)
    if words[0].lower() == "sweep" and len(words) == 1:
        return RcaCommand(sweep=True)
    if words[0].lower() == "mute":
        return _parse_mute(words[1:], catalog, mute_max=mute_max)
    if len(words) > 2:
        return RcaCommand(
            error=f"Too many arguments ({len(words)}): use `/rca SERVICE [WINDOW]`, "
            "for example `/rca checkout 30m`. `/rca help` explains."
        )
    service = catalog.resolve(words[0])
    if service is None:
        return RcaCommand(error=_unknown_service(words[0], catalog))
    window = None
    if len(words) == 2:
        window = parse_window(words[1])
        if window is None:
            return RcaCommand(
                error=f"{code(words[1], limit=30)} is not a time window: use a number and a "
                "unit (s, m, h or d) up to 7 days, like `30m`, `2h` or `90s`: "
                f"`/rca {service.name} 30m`."
            )
    return RcaCommand(services=[service.name], window=window)


def _unknown_service(word: str, catalog: Catalog) -> str:
    close = catalog.suggest(word)
    hint = f" Did you mean {', '.join(code(c) for c in close)}?" if close else ""
    return (
        f"I don't know a service called {code(word, limit=60)}.{hint} "
        "Services and their aliases come from the service catalog; `/rca help` explains."
    )


def _parse_mute(words: list[str], catalog: Catalog, *, mute_max: float) -> RcaCommand:
    if len(words) != 2:
        return RcaCommand(
            error="Say what to mute and for how long: `/rca mute SERVICE DURATION`, for example "
            "`/rca mute checkout 2h`."
        )
    service = catalog.resolve(words[0])
    if service is None:
        return RcaCommand(error=_unknown_service(words[0], catalog))
    seconds = parse_window(words[1])
    if seconds is None:
        return RcaCommand(
            error=f"{code(words[1], limit=30)} is not a duration: use a number and a unit "
            f"(s, m, h or d) up to {duration_text(mute_max)}: `/rca mute {service.name} 2h`."
        )
    if seconds > mute_max:
        longest = duration_text(mute_max)
        return RcaCommand(
            error=f"A mute lasts at most {longest}, not {duration_text(seconds)}: "
            f"`/rca mute {service.name} {longest}`, and mute again then if it is still needed."
        )
    return RcaCommand(services=[service.name], mute=seconds)
