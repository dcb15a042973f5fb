"""How the engine says why: the reasons attached to each suspect in the result document.

Pure wording over the engine's typed findings; no scoring happens here. Numbers, units, times
and lists are said through :mod:`investigators.phrasing`: an on-call engineer reads
``p95 latency 226 ms, up from 72 ms (×3.1) since 15:41 UTC``, never a z-score or a raw float.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from investigators.anomaly import WEAK_THRESHOLD, SeriesAnomaly
from investigators.bundle import Change
from investigators.phrasing import (
    bare_title,
    change_word,
    clock,
    listing,
    moved,
    number,
    plural,
    quantity,
    ratio,
    relative,
    short_ref,
    signal,
    span,
)

if TYPE_CHECKING:
    from investigators.evidence import ServiceEvidence
    from investigators.rca import Candidate

#: A ratio this far from 1 is worth saying as a factor (``×3.1``).
_FACTOR = 1.5


@dataclass(frozen=True, slots=True)
class Anchor:
    """A moment other times are said against: ``3 min before {what}``."""

    at: float
    what: str


def _is_percent(a: SeriesAnomaly) -> bool:
    return (a.series.unit or "").lower() in ("percent", "%", "pct", "percentage")


#: A leak's highest point is worth saying when it came this long after its onset (seconds).
LEAK_NEWS_AFTER = 5 * 60.0


def shift(a: SeriesAnomaly, *, anchor: Anchor | None = None, named: bool = True) -> str:
    """One series' change in words: ``p95 latency 226 ms, up from 72 ms (×3.1) since 15:41
    UTC, 2 min before the alert``; ``named=False`` leaves out what it measures."""
    s = a.series
    step = a.resolution
    now, before = quantity(a.current, s.unit, step=step), quantity(a.level, s.unit, step=step)
    up = a.current >= a.level
    if now == before:
        moved_words = f"{now}, {'up' if up else 'down'} slightly"
    elif abs(a.level) < 1e-9:
        moved_words = f"{now}, up from zero" if up else now
    else:
        moved_words = f"{now}, {'up' if up else 'down'} from {before}"
        factor = a.ratio
        if not _is_percent(a) and (factor >= _FACTOR or 0 < factor <= 1 / _FACTOR):
            moved_words += f" ({ratio(factor)})" if up else f" ({number((1 - factor) * 100)}% less)"
    text = f"{signal(s.name, s.kind)} {moved_words}" if named else moved_words
    if a.onset is not None:
        text += f" since {clock(a.onset)}"
        if anchor is not None:
            text += f", {relative(a.onset, anchor.at, anchor.what)}"
    # A leak: how full it got, and when, where that says more than where it began.
    if (
        a.reached is not None
        and a.reached_at is not None
        and a.onset is not None
        and a.reached_at - a.onset >= LEAK_NEWS_AFTER
        and a.reached - a.current >= 0.25 * abs(a.current - a.level)
    ):
        text += f", {quantity(a.reached, s.unit, step=step)} by {clock(a.reached_at)}"
    return text


def describe(a: SeriesAnomaly) -> str:
    """One series' change as the reasons say it, with the metric to look up: ``p95 latency
    226 ms, up from 72 ms (×3.1) since 15:41 UTC (trace.http.request.duration.p95)``. No
    offset from the alert: the engine's candidates do not know when it fired."""
    return f"{shift(a)} ({a.series.name})"


def first_trouble(ev: ServiceEvidence) -> tuple[float, str] | None:
    """When a service's trouble began, as the engine dates it (its first anomalous series),
    and what began then: ``(t, "latency rose")``."""
    started = [a for a in ev.anomalies if a.onset is not None and a.anomalous]
    if not started:
        started = [a for a in ev.anomalies if a.onset is not None and a.score >= WEAK_THRESHOLD]
    if not started:
        return None
    at = ev.onset if ev.onset is not None else min(a.onset or 0.0 for a in started)
    first = min(started, key=lambda a: (abs((a.onset or 0.0) - at), -a.score))
    return at, began(first)


def began(a: SeriesAnomaly) -> str:
    """What a series did when it turned: ``latency rose``, ``errors began``, ``CPU rose``."""
    up = a.current >= a.level
    return f"{signal(a.series.name, a.series.kind)} {moved(a.series.kind, up=up)}"


def change_timing(at: float, onset: float | None, what: str = "the trouble began") -> str:
    """When a change came with respect to the trouble: ``3 min before latency rose``, or
    ``2 min after errors began`` (a change after the onset is never said to be its cause)."""
    if onset is None:
        return f"at {clock(at)}"
    return relative(at, onset, what)


def change_sentence(change: Change, onset: float | None, what: str = "the trouble began") -> str:
    """A change in one sentence: ``deploy a1b2c3d "Raise pool size" by octocat, 3 min before
    errors began``."""
    words = change_word(change.kind)
    ref = f" {short_ref(change.id)}" if change.id else ""
    bare = bare_title(change.title, change.kind, change.service)
    title = f' "{bare}"' if change.title and change.title != change.id else ""
    by = f" by {change.author}" if change.author else ""
    return f"{words}{ref}{title}{by}, {change_timing(change.at, onset, what)}"


def blind(blind: list[tuple[str, str]]) -> list[str]:
    """Why nobody is tagged when a dependency we cannot see into could hide the cause."""
    if not blind:
        return []
    shown = listing([f"{dep} (no {kind} data)" for dep, kind in blind], limit=3)
    return [f"not confident enough to tag anyone: it calls {shown}, which could hide the cause"]


def failing_under(dependencies: list[str]) -> list[str]:
    """Why nobody is tagged when a dependency began failing before the suspect, about as much."""
    if not dependencies:
        return []
    shown = listing(dependencies, limit=3)
    return [
        f"not confident enough to tag anyone: {shown}, which it calls, began failing before "
        "it did, about as much; its failures may be passed on from there"
    ]


def pushed(callers: list[str]) -> list[str]:
    """Why nobody is tagged when a caller changed just before the suspect's traffic rose."""
    if not callers:
        return []
    shown = listing(callers, limit=3)
    return [
        f"not confident enough to tag anyone: its traffic rose after a change of {shown}, "
        "which calls it; the load may be that change's doing"
    ]


def _lag_words(cand: Candidate, candidates: dict[str, Candidate]) -> str:
    """``, which began 1 to 3 min after it``: when what a candidate explains began."""
    lags = sorted(
        candidates[n].onset - cand.onset
        for n in cand.explains
        if n in candidates and candidates[n].onset >= cand.onset + 30
    )
    if not lags:
        return ""
    low, high = span(lags[0]), span(lags[-1])
    amount, unit = low.split(" ", 1)
    when = low if low == high else f"{amount if high.endswith(' ' + unit) else low} to {high}"
    return f", which began {when} after it"


def reasons(cand: Candidate, candidates: dict[str, Candidate]) -> list[str]:
    """The reasons of one suspect, most telling first, in plain words."""
    ev = cand.evidence
    out = [describe(a) for a in ev.anomalies[:3] if a.score >= WEAK_THRESHOLD]
    if cand.silent:
        own = (
            "it reports no latency or errors of its own"
            if ev.anomalies
            else "it has no telemetry of its own"
        )
        callers = listing(cand.explains)
        out.append(
            f"{own}; it shows through its callers: calls from {callers} to it fail or slow down "
            "at about the same time"
        )
    if cand.named_by:
        out.append(f"named in the error logs of {listing(cand.named_by)}")
    if ev.weak:
        out.append("only a faint change, counted because a caller in trouble depends on it")
    if cand.change is not None:
        trouble = first_trouble(ev)
        onset, what = trouble if trouble is not None else (cand.onset, "the trouble began")
        out.append(change_sentence(cand.change, onset, what))
    if cand.explains:
        count = plural(len(cand.explains), "service")
        shown = listing(cand.explains)
        out.append(f"explains the trouble of {count}: {shown}{_lag_words(cand, candidates)}")
    if cand.explained_by is not None and cand.explained >= 0.3:
        dep = candidates.get(cand.explained_by)
        since = f", whose trouble began at {clock(dep.onset)}" if dep is not None else ""
        out.append(f"likely a symptom of {cand.explained_by}{since}")
    return out
