"""The proactive health sweep's decisions: when a degradation deserves a heads-up (pure).

Each sweep ranks the whole estate (:func:`investigators.rca.rank`) over a rolling window and
hands its confident suspects to :func:`advance`, which keeps one :class:`Degradation` per
service and says what to do as :class:`Action` values:

- a suspect is the top of a sweep's ranking at medium confidence or better; seen in one sweep it
  is ``pending``; seen again in the very next sweep, with high confidence in one of them, or in
  three sweeps in a row, it is sustained and gets one heads-up (``open``), unless an open
  incident channel already covers it or it is muted (then it is ``suppressed``, and reported if
  that stops while it lasts);
- later sweeps that still see it ``confirm`` it (the heads-up is edited, never re-posted);
- the first sweep that no longer sees a reported degradation says it ``recovered``.

Symptoms never become degradations: the ranking folds them into their cause. A skipped sweep
breaks a streak, so after a scheduler outage nothing piles up: the next sweep starts afresh.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, Field

from investigators.rca import RcaResult

#: Ranking scores below this are never suspects.
MIN_SCORE = 0.25
#: Sweeps in a row that make a degradation sustained when one was of high confidence; one more
#: when none was (confidence flips between high and medium from sweep to sweep, and quiet
#: estates rank nothing at high confidence: bench/sweep.py).
SUSTAINED = 2
#: Closed degradations kept in the state, newest last.
KEEP_CLOSED = 50
SEVERITIES = ("medium", "high")


class Evidence(BaseModel):
    """One line of evidence, with its link."""

    source: str
    title: str
    url: str = ""


class Suspect(BaseModel):
    """A confident root-cause suspect of one sweep."""

    service: str
    team: str
    score: float
    confidence: str
    reasons: list[str] = Field(default_factory=list)
    explains: list[str] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list)
    change: Evidence | None = None


class Degradation(BaseModel):
    """One service's degradation, from the sweep that first saw it to its recovery."""

    id: str
    service: str
    team: str
    first_window: int
    last_window: int
    sweeps: int = 1
    high_sweeps: int = 0
    status: Literal["pending", "reported", "suppressed", "recovered"] = "pending"
    severity: str = "medium"
    suppressed_by: str | None = None
    first_seen: float
    reported_at: float | None = None
    recovered_at: float | None = None
    last: Suspect


class SweepRecord(BaseModel):
    """What one sweep did, for ``/rca sweep``."""

    window: int
    at: float
    services: int
    anomalous: int
    suspects: list[str]
    seconds: float
    sources_missing: list[str] = Field(default_factory=list)


class SweepState(BaseModel):
    """Open degradations by service, the recently closed ones, and the last sweep."""

    open: dict[str, Degradation] = Field(default_factory=dict)
    closed: list[Degradation] = Field(default_factory=list)
    last: SweepRecord | None = None


class Action(BaseModel):
    """What the bot should do in the ops channel."""

    kind: Literal["open", "confirm", "recovered"]
    degradation: Degradation
    mention: bool = False
    mutes: dict[str, float] = Field(default_factory=dict)
    at: float


def suspects_of(result: RcaResult, teams: Mapping[str, str]) -> list[str]:
    """The service worth following in a ranking: its top, at medium confidence or better."""
    if not result.ranking:
        return []
    top = result.ranking[0]
    followed = (
        top.confidence in ("high", "medium")
        and top.score >= MIN_SCORE
        and top.service not in set(result.symptoms)
        and top.service in teams
    )
    return [top.service] if followed else []


def sustained(degradation: Degradation) -> bool:
    """Seen long enough, and sure enough, for a heads-up."""
    if degradation.high_sweeps:
        return degradation.sweeps >= SUSTAINED
    return degradation.sweeps >= SUSTAINED + 1


def severity_of(suspect: Suspect) -> str:
    """``high`` when it is strong or already hurts its callers, else ``medium``."""
    return "high" if suspect.score >= 0.8 or suspect.explains else "medium"


def _blocked(
    service: str, at: float, covered: Mapping[str, str], mutes: Mapping[str, float]
) -> str | None:
    if service in covered:
        return f"covered by #{covered[service]}"
    until = mutes.get(service)
    if until is not None and until > at:
        return f"muted until {until:.0f}"
    return None


def advance(
    state: SweepState,
    *,
    window: int,
    at: float,
    suspects: list[Suspect],
    covered: Mapping[str, str],
    mutes: Mapping[str, float],
    mention_severity: str = "high",
) -> tuple[SweepState, list[Action]]:
    """The state after one sweep of ``window``, and the actions it calls for."""
    live_mutes = {s: u for s, u in mutes.items() if u > at}
    opened = dict(state.open)
    closed = list(state.closed)
    actions: list[Action] = []
    seen = {s.service for s in suspects}
    for suspect in suspects:
        found = opened.get(suspect.service)
        if found is not None and found.last_window == window:
            continue  # this window was swept already
        if found is None or found.last_window != window - 1:
            if found is not None:  # a streak broken by a missed sweep: start afresh
                closed.append(found.model_copy(update={"status": "recovered"}))
            found = Degradation(
                id=f"{suspect.service}-{window}",
                service=suspect.service,
                team=suspect.team,
                first_window=window,
                last_window=window,
                first_seen=at,
                last=suspect,
            )
        else:
            found = found.model_copy(
                update={"last_window": window, "sweeps": found.sweeps + 1, "last": suspect}
            )
        found.severity = max(found.severity, severity_of(suspect), key=SEVERITIES.index)
        found.high_sweeps += suspect.confidence == "high"
        if sustained(found) and found.status in ("pending", "suppressed"):
            blocked = _blocked(suspect.service, at, covered, live_mutes)
            if blocked is not None:
                found.status, found.suppressed_by = "suppressed", blocked
            else:
                found.status, found.suppressed_by, found.reported_at = "reported", None, at
                actions.append(_action("open", found, at, live_mutes, mention_severity))
        elif found.status == "reported":
            actions.append(_action("confirm", found, at, live_mutes, mention_severity))
        opened[suspect.service] = found
    for service in [s for s, d in opened.items() if s not in seen and d.last_window != window]:
        gone = opened.pop(service)
        if gone.status == "reported":
            gone = gone.model_copy(update={"status": "recovered", "recovered_at": at})
            actions.append(_action("recovered", gone, at, live_mutes, mention_severity))
        closed.append(gone)
    return (
        SweepState(open=opened, closed=closed[-KEEP_CLOSED:], last=state.last),
        actions,
    )


def _action(
    kind: Literal["open", "confirm", "recovered"],
    degradation: Degradation,
    at: float,
    mutes: dict[str, float],
    mention_severity: str,
) -> Action:
    # "none" (or anything unknown) never mentions the team.
    floor = SEVERITIES.index(mention_severity) if mention_severity in SEVERITIES else 99
    mention = kind == "open" and SEVERITIES.index(degradation.severity) >= floor
    return Action(kind=kind, degradation=degradation, mention=mention, mutes=mutes, at=at)
