"""How numbers, times and names are said to people: plain words, no raw floats, no internal keys.

Pure and small: the engine's reasons (:mod:`investigators.wording`), the summary and the Slack
messages all say a quantity, a time or a list of services through these, so ``226 ms``,
``7.1/s``, ``×3.1``, ``15:41 UTC`` and ``3 min before the alert`` look the same everywhere.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime

from investigators.bundle import ChangeKind, MetricKind

# Units as vendors spell them, grouped by what they measure.
_MS = {"ms", "millisecond", "milliseconds", "msec"}
_SECONDS = {"s", "sec", "second", "seconds"}
_MICROSECONDS = {"us", "µs", "microsecond", "microseconds"}
_NANOSECONDS = {"ns", "nanosecond", "nanoseconds"}
_PERCENT = {"percent", "%", "pct", "percentage"}
_BYTES: dict[str, float] = {"b": 1, "byte": 1, "bytes": 1}
_BYTES.update({"kb": 1e3, "kib": 1024, "kilobyte": 1e3, "kibibyte": 1024})
_BYTES.update({"mb": 1e6, "mib": 1024**2, "megabyte": 1e6, "mebibyte": 1024**2})
_BYTES.update({"gb": 1e9, "gib": 1024**3, "gigabyte": 1e9, "gibibyte": 1024**3})
_PER = {"s": "/s", "sec": "/s", "second": "/s", "min": "/min", "minute": "/min", "h": "/h"}
_PER.update({"hour": "/h"})
_COUNTS = {"count", "counts", "1", ""}
#: Rates of these are said per time alone: ``7.1/s``, not ``7.1 requests/s``.
_EVENTS = ("request", "requests", "req", "hit", "hits", "error", "errors", "event", "events")

_CHANGE_WORDS = {
    ChangeKind.DEPLOY: "deploy",
    ChangeKind.CONFIG: "config change",
    ChangeKind.FEATURE_FLAG: "feature flag change",
    ChangeKind.INFRA: "infra change",
    ChangeKind.OTHER: "change",
}
_FINDING_KINDS = {
    "deploy": "deploy",
    "config": "config change",
    "feature_flag": "feature flag change",
    "infra": "infra change",
    "commit": "commit",
    "pull_request": "PR",
    "release": "release",
    "other": "change",
}


def number(value: float) -> str:
    """A number as people say it: ``1,234``, ``72``, ``7.1``, ``0.25``; never a long float."""
    if not math.isfinite(value):
        return "∞" if value > 0 else "-∞" if value < 0 else "?"
    size = abs(value)
    if size >= 10:
        text = f"{value:,.0f}"
    elif size >= 1:
        text = f"{value:.1f}"
    elif size >= 0.01:
        text = f"{value:.2f}"
    elif size == 0:
        return "0"
    else:
        return "under 0.01" if value > 0 else "just below 0"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _percent(value: float) -> str:
    # Near 100 the decimals are the news: 99.95% is not 100%.
    if 99 <= value < 100:
        text = f"{math.floor(value * 100) / 100:.2f}".rstrip("0").rstrip(".")
        return f"{text}%"
    return f"{number(value)}%"


def _bytes(value: float) -> str:
    for size, name in ((1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "KB")):
        if abs(value) >= size:
            return f"{number(value / size)} {name}"
    return f"{number(value)} B"


def _duration_ms(ms: float) -> str:
    if abs(ms) >= 1000:
        return f"{number(ms / 1000)} s"
    if 0 < abs(ms) < 1:
        return f"{number(ms * 1000)} µs"
    return f"{number(ms)} ms"


def quantity(value: float, unit: str | None, *, step: float = 0.0) -> str:
    """``value`` in ``unit`` as people say it: ``226 ms``, ``1.2 s``, ``85%``, ``7.1/s``,
    ``512 MB``, ``42 per 5 min`` (a count per ``step`` seconds). An unknown unit is kept."""
    raw = (unit or "").strip()
    low = raw.lower()
    if low in _MS:
        return _duration_ms(value)
    if low in _SECONDS:
        return _duration_ms(value * 1000)
    if low in _MICROSECONDS:
        return _duration_ms(value / 1000)
    if low in _NANOSECONDS:
        return _duration_ms(value / 1e6)
    if low in _PERCENT:
        return _percent(value)
    if low in _BYTES:
        return _bytes(value * _BYTES[low])
    if "/" in low:
        head, _, per = low.partition("/")
        per_word = _PER.get(per.strip(), f"/{per.strip()}")
        head = head.strip()
        if head in _BYTES:
            return f"{_bytes(value * _BYTES[head])}{per_word}"
        plain = head in _COUNTS or head.endswith(_EVENTS)
        said = number(value)
        if said == "1" and head.endswith("s"):
            head = head[:-1]  # 1 line/min
        return f"{said}{'' if plain else ' ' + head}{per_word}"
    if low in ("", "1"):
        return number(value)
    if low in _COUNTS:
        return f"{number(value)} per {span(step)}" if step > 0 else number(value)
    return f"{number(value)} {raw}"


def ratio(value: float) -> str:
    """A ratio as a factor: ``×3.1``, ``×14``; empty when it is not a number worth saying."""
    if not math.isfinite(value) or value <= 0:
        return ""
    return f"×{value:.1f}".replace(".0", "") if value < 10 else f"×{value:,.0f}"


def clock(ts: float) -> str:
    """A time of day in UTC: ``15:41 UTC``."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%H:%M UTC")


def span(seconds: float) -> str:
    """A duration: ``40 s``, ``3 min``, ``1 h 20 min``, ``2 days``."""
    seconds = abs(seconds)
    if seconds < 59.5:
        return f"{max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{round(hours / 24)} days"


def relative(at: float, anchor: float, what: str) -> str:
    """When ``at`` was with respect to ``anchor`` (described by ``what``):
    ``3 min before the alert``, ``2 min after latency rose``, ``as the alert began``."""
    lead = anchor - at
    if abs(lead) < 30:
        return f"at about the same time as {what}"
    return f"{span(lead)} {'before' if lead > 0 else 'after'} {what}"


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 sentence``, ``2 sentences``; ``many`` for irregular plurals."""
    return f"{count:,} {word if count == 1 else many or word + 's'}"


def possessive(name: str) -> str:
    """``frontend's``, ``invoices'``."""
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def listing(names: Sequence[str], *, limit: int = 5) -> str:
    """``a``, ``a and b``, ``a, b and c``, ``a, b, c, d, e and 4 more``."""
    shown = list(names[:limit])
    more = len(names) - len(shown)
    if more > 0:
        return f"{', '.join(shown)} and {more} more"
    if len(shown) <= 1:
        return "".join(shown)
    return f"{', '.join(shown[:-1])} and {shown[-1]}"


def change_word(kind: ChangeKind | str) -> str:
    """``deploy``, ``config change``, ``PR``, ``commit``..."""
    if isinstance(kind, ChangeKind):
        return _CHANGE_WORDS[kind]
    return _FINDING_KINDS.get(kind, str(kind).replace("_", " "))


def bare_title(title: str, kind: ChangeKind | str, service: str = "") -> str:
    """A change's title without what the sentence already says: ``deploy of pricing: Bump
    deps`` after ``deploy a1b2c3d`` is ``Bump deps``, so nothing reads ``deploy deploy of``."""
    full = change_word(kind)
    first = re.escape(full.split()[0])
    said = rf"(?:{re.escape(full)}|{first}(?:s|ed|ment)?|deploy(?:ed|ment)?)"
    # Only a prefix that is plainly a label: the word with the service, or with a colon.
    named = rf"\s+(?:(?:of|to|on)\s+)?{re.escape(service)}\s*[:–—-]?" if service else "(?!)"
    pattern = rf"^\s*{said}(?:{named}|\s*[:–—-])\s+"
    bare = re.sub(pattern, "", title, count=1, flags=re.IGNORECASE)
    return bare if bare.strip() else title


def short_ref(ref: str) -> str:
    """A commit sha as people quote it (seven characters); other refs as they are."""
    return ref[:7] if re.fullmatch(r"[0-9a-f]{12,40}", ref) else ref


_PERCENTILE = re.compile(r"(?:^|[._])(p\d{2,3}|max|median|avg|mean)(?:$|[._])")
_PREFIXES = re.compile(r"^(?:trace|system|runtime|container|aws|gcp|azure|kubernetes|k8s)\.")


def signal(name: str, kind: MetricKind) -> str:
    """What a series measures, in words: ``p95 latency``, ``errors``, ``CPU``, ``memory``..."""
    low = name.lower()
    if low in ("logs.errors", "log.errors"):
        return "error logs"
    if kind is MetricKind.LATENCY:
        found = _PERCENTILE.search(low)
        which = f"{found.group(1)} " if found else ""
        what = "query latency" if "quer" in low else "latency"
        return f"{which}{what}"
    if kind is MetricKind.ERRORS:
        return "client errors" if ".client." in low else "errors"
    if kind is MetricKind.AVAILABILITY:
        return "availability"
    if kind is MetricKind.TRAFFIC:
        return "queries" if "quer" in low else "traffic"
    if kind is MetricKind.SATURATION:
        if re.search(r"cpu", low):
            return "CPU"
        if re.search(r"mem|heap", low):
            return "memory"
        if re.search(r"conn", low):
            return "connections in use"
        if re.search(r"pool|worker|thread", low):
            return "worker pool use"
        if re.search(r"disk|iops", low):
            return "disk use"
    words = _PREFIXES.sub("", low).replace("_", " ").replace(".", " ")
    return " ".join(words.split()) or name


def moved(kind: MetricKind, *, up: bool) -> str:
    """The verb for a signal turning bad: ``rose``, ``dropped``, ``began``."""
    if kind is MetricKind.ERRORS:
        return "began" if up else "dropped"
    return "rose" if up else "dropped"
