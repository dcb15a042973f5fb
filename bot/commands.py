"""``/rca`` arguments (pure): ``help``, nothing (re-run or show), ``SERVICE [WINDOW]``, and the
health sweep's ``sweep`` and ``mute SERVICE DURATION``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.escape import code
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


def parse_rca(text: str, catalog: Catalog) -> RcaCommand:
    """What ``/rca TEXT`` asks for, or an error that says how to fix it."""
    words = text.split()
    if not words:
        return RcaCommand()
    if words[0].lower() in {"help", "-h", "--help", "?"}:
        return RcaCommand(help=True)
    if words[0].lower() == "sweep" and len(words) == 1:
        return RcaCommand(sweep=True)
    if words[0].lower() == "mute":
        return _parse_mute(words[1:], catalog)
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


def _parse_mute(words: list[str], catalog: Catalog) -> RcaCommand:
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
            f"(s, m, h or d) up to 7 days: `/rca mute {service.name} 2h`."
        )
    return RcaCommand(services=[service.name], mute=seconds)
