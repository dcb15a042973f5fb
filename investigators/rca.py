"""The root-cause engine: rank the services most likely to have caused an incident.

Pure: a :class:`~investigators.bundle.Bundle` in, an :class:`Analysis` (the result document and
the evidence behind it) out, no I/O. No service name and no prior over names is used: names
only connect the bundle's own parts (a log line or a client-side series naming a dependency).

How it decides, in order:

1. **What people see leads** (:func:`~investigators.evidence.find_lead`). The alerting series
   (``incident.alert``; else the symptom services' worst latency, errors or availability) is
   scored first. Its onset says *when* the incident began; its kind says *what* needs
   explaining. An earlier episode of that series that had ended before the alert fired (back
   to normal for minutes) is not this incident: what followed it leads. A named alert whose
   series shows nothing makes the engine rank without paging; its kind still says what to
   look for, unless another series of the alerting service shows the trouble.
2. **Every series around that onset** (:mod:`investigators.anomaly`): did it change for the
   worse then, against a local baseline and a spread calibrated on its own history? A cause may
   lead the alert by up to 15 minutes (a 5-minute rollup by one point, memory by two hours); a
   shift that was already there before is not this incident's. Client-side series that name a
   dependency count as that dependency's (:func:`~investigators.evidence.seen_from_callers`).
3. **The trail.** A fault travels from a dependency to its callers, so the cause of what the
   alerting service shows is that service or something below it. Services reached from it
   through services in the same kind of trouble (failures explained by failures or an exhausted
   resource, slowness by slowness or an exhausted resource; services that cannot show it do not
   break the trail, and a dependency named in the logs of a service on it is on it) are on the
   trail; other dependencies count less, callers and bystanders least. A caller that saw a
   dependency's calls fail (its client-side series) and has no errors series of its own passes
   those failures on unseen.
4. **Symptoms explained by causes.** An anomalous service is explained by an anomalous
   dependency whose trouble began no later (within the resolution of both) and is large enough
   to account for it (a leak's trouble reaches callers when it runs out, nearing the highest it
   got, not when it began): a caller waits a few calls' worth of a dependency's extra latency, a
   dependency that only got slower does not fail a caller that fails (short of timeouts, or of
   the caller's logs naming it), nor one that fails fast slow a caller down. Sizes are
   compared like with like: means add up along calls and percentiles do not, so a dependency's
   mean is held to its caller's mean (a p99 that rose 70 ms under a mean that rose 2 ms
   explains no caller's 400 ms). Added latency is the same time at the source and at its
   callers, measured against less noise at the source: a dependency whose latency is barely
   over the bar does not explain a caller's far over it. Failures are not held to that (fan-in
   and retries make callers' counts louder, and a wrong answer fails only its callers), so the
   size of a failure never decides alone. A dependency's own deploy or config change shortly
   before its callers began to fail dates its trouble even when its own series show little (a
   wrong answer fails only its callers). Each caller's trouble is shared among the candidates
   that could explain it.
5. **Weighing.** Each candidate: how unexplained it is, what it explains, how strong and how
   timely its own trouble is, whether it sits on the trail, whether its slow or failed calls
   rose and fell with the alert (its series of the alert's kind and statistic first; only a
   series that clearly moved can fail to move with it; an exhausted resource is held to it
   lightly, as memory ramps for hours before calls fail), a deploy, config change or flag
   shortly before its onset, its own resources (cpu, memory, connections), and log lines of its
   callers naming it. A change only weighs on a service in trouble or whose callers are.
6. **The unseen.** A dependency that cannot show trouble itself (no telemetry, or only its cpu
   and memory) takes its callers' place when they fail or slow down on it (clearly: a caller
   admitted under the lower bar is no witness) and either several do so at once, their logs
   name it, or it changed just before. One that measures its own latency or errors and finds
   them normal is not what fails its callers, whatever their logs say (a caller that leaks
   memory times out on everything it calls). A provider with no telemetry at all is otherwise
   listed behind the suspect it may hide.
7. **Confidence and who to tag.** ``high`` needs the alert's series to show the trouble clearly
   (three times the bar), the top suspect to be on its trail and explain what is seen, no
   suspect of another team within half its score, and no dependency of its own that added about
   as much latency as it did at about the same time, or began failing before it did about as
   much (then its failures may be its own or that dependency's passed on, which the data
   cannot tell apart); only then is ``notify`` set. Tagging the wrong team is worse than
   tagging none.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import msgspec

from investigators import wording
from investigators.anomaly import THRESHOLD, WEAK_THRESHOLD, comovement
from investigators.bundle import Bundle, Change, ChangeKind, MetricKind
from investigators.callgraph import CallGraph
from investigators.evidence import (
    EXPLAINED_BY,
    FAILING,
    INTERFACE,
    MENTION_LEAD,
    Lead,
    ServiceEvidence,
    carries,
    collect_evidence,
    find_anomalous,
    find_lead,
    mentions,
    relative_move,
    statistic,
)

#: How much later than its caller's a cause's onset may be measured and still explain it (s).
ONSET_TOLERANCE = 150.0
#: How clearly the leading series must show the trouble before anyone is paged (robust z).
CLEAR_LEAD = 3 * THRESHOLD
#: Without an alert, a suspect must explain this many services in trouble to be paged on.
CASCADE = 1
#: Callers in trouble this close together (s) may share one cause below them.
TOGETHER = 300.0
#: Extra latency from which calls start to time out and fail (ms).
TIMEOUT_MS = 1000.0
#: How much a candidate's not moving with the leading series counts against it: its interface
#: series, and a service showing only its resources (see :func:`_moves_with`).
COMOVE_WEIGHT = 0.7
COMOVE_WEIGHT_RESOURCES = 0.3
#: A cause explains away a caller fully when its own signal of the same kind is at least this
#: share of the caller's (robust z against robust z).
RELATIVE_STRENGTH = 0.5
#: How long before a candidate's onset a change counts as a suspect (seconds).
CHANGE_WINDOW = 60 * 60.0


@dataclass(frozen=True, slots=True)
class NotifyTarget:
    """The one team to tag."""

    team: str
    service: str


@dataclass(frozen=True, slots=True)
class RankedService:
    """One suspect, with why. ``score`` is in [0, 1]."""

    service: str
    score: float
    confidence: str  # high | medium | low
    reasons: list[str]
    explains: list[str]


@dataclass(frozen=True, slots=True)
class RcaResult:
    """The result document of ``incident-copilot rca --json`` (``docs/incident-bundle.md``).

    Plain dataclasses rather than pydantic models: ``rca`` starts in a fresh process per call,
    and building model classes at import cost more than the ranking of a small bundle. Pydantic
    models that hold one (the pipeline's record) validate and dump it as a dataclass.
    """

    incident_id: str
    ranking: list[RankedService]
    symptoms: list[str]
    notify: NotifyTarget | None

    def document(self) -> dict[str, Any]:
        """The result document as plain JSON types."""
        return asdict(self)

    def to_json(self, *, indent: int = 0) -> str:
        """The result document as JSON text, keys in the documented order."""
        encoded = msgspec.json.encode(self)
        return (msgspec.json.format(encoded, indent=indent) if indent else encoded).decode()


@dataclass(slots=True)
class Candidate:
    """A service weighed as a possible root cause."""

    evidence: ServiceEvidence
    onset: float
    explained_by: str | None = None
    explained: float = 0.0
    fits: dict[str, float] = field(default_factory=dict)  # caller -> how well this explains it
    explains: list[str] = field(default_factory=list)
    coverage: float = 0.0
    change: Change | None = None
    change_weight: float = 0.0
    raw: float = 0.0
    score: float = 0.0
    confidence: str = "low"
    named_by: list[str] = field(default_factory=list)  # callers whose log lines name it
    silent: bool = False  # no latency or errors of its own: suspected through its callers
    support: float = 0.0  # for a silent one: the strength of its callers' trouble


def _saturating(x: float, scale: float) -> float:
    return 1.0 - math.exp(-max(x, 0.0) / scale)


def _timing_fit(
    cause_onsets: list[float], effect_onset: float, *, cause_step: float, effect_step: float
) -> float:
    """How well an effect's onset follows the cause's first: within a few minutes is best.

    The first, not the best matching: a dependency that was already failing a quarter of an
    hour before its caller noticed anything did not cause what the caller shows now. A point
    of a coarse series sums up the interval before it, so an onset may be seen up to one step
    late: the cause's step widens how much later than the effect it may appear, the effect's
    step how long after the cause it may appear.
    """
    if not cause_onsets:
        return 0.0
    lag = effect_onset - cause_onsets[0]
    if lag < -ONSET_TOLERANCE - cause_step:
        return 0.0
    return math.exp(-max(0.0, lag - 240.0 - effect_step) / 300.0)


def _latency_added(
    cause: ServiceEvidence, effect: ServiceEvidence
) -> tuple[float | None, float | None]:
    """How much slower the cause and the effect got (ms), statistic against like statistic.

    Means add up along calls, so where both have a mean, means are compared; else the shared
    percentile that fits best; else each one's largest rise (names that give no statistic, or
    a cause its callers saw slow down: the link itself, network included, is what they timed).
    """
    if cause.seen_slower_from_callers():
        return cause.latency_added_ms(), effect.latency_added_ms()
    ours, theirs = cause.latency_added_by_statistic(), effect.latency_added_by_statistic()
    shared = [s for s in theirs if s in ours and theirs[s] > 0]
    if "mean" in shared:
        return ours["mean"], theirs["mean"]
    if shared:
        best = max(shared, key=lambda s: ours[s] / theirs[s])
        return ours[best], theirs[best]
    return cause.latency_added_ms(), effect.latency_added_ms()


def _magnitude_fit(
    cause: ServiceEvidence,
    effect: ServiceEvidence,
    *,
    failures_matter: bool = False,
    said: bool = False,
    changed: bool = False,
) -> float:
    """Can the cause's trouble account for the size of the effect's?

    A caller waits at most a few calls' worth of the dependency's extra latency, and fails at
    most as many requests as the calls that failed on the dependency (times fan-out and
    retries). The bounds are generous (x5, x20): they only rule out a dependency that got a
    little worse under a caller that got much worse. A slow dependency can also make callers
    fail by timing out, so errors are only bounded when the cause is not slower; and a
    dependency that only fails (fast) hardly explains a caller that only got slower, nor one
    that only got slower (short of timeouts, with its resources fine when the caller's trouble
    began) a caller that only fails,
    or whose failures are what the alert shows; unless the caller's own log lines name it
    ("timeout calling segment"): then they say its calls to it are what fails; or it was
    ``changed`` just before (:func:`_changed_under`): a wrong answer fails the caller
    without failing, or much slowing, the service that gives it.
    """
    fit = 1.0
    slower, effect_slower = _latency_added(cause, effect)
    if slower is not None and effect_slower is not None and effect_slower > 0:
        fit = min(fit, 5.0 * max(slower, 0.0) / effect_slower)
    failing, effect_failing = cause.errors_added(), effect.errors_added()
    if (
        (slower is None or slower <= 0)
        and failing is not None
        and effect_failing is not None
        and failing[1] == effect_failing[1]
        and effect_failing[0] > 0
    ):
        fit = min(fit, 20.0 * max(failing[0], 0.0) / effect_failing[0])
    if (
        (slower is None or slower <= 0)
        and failing is not None
        and effect_failing is None
        and effect_slower is not None
        and effect_slower > 0
    ):
        fit = min(fit, 0.1)  # calls that fail fast barely slow a caller that does not fail
    if (
        cause.shows((MetricKind.LATENCY,))
        and not cause.shows(FAILING)
        and not _own_trouble_first(cause, effect)
        and effect.shows(FAILING)
        and (failures_matter or not effect.shows((MetricKind.LATENCY,)))
        and (slower or 0.0) < TIMEOUT_MS
        and not said
        and not changed
    ):
        fit = min(fit, 0.1)  # calls a little slower do not fail a caller that did not slow down
    return fit


def _own_trouble_first(cause: ServiceEvidence, effect: ServiceEvidence) -> bool:
    """Whether the cause's own resources (cpu, memory, connections) were in trouble by the time
    the effect's began: then its slowness may be the least of what its callers met."""
    felt, _ = effect.felt_onsets()
    return bool(
        cause.intrinsic >= THRESHOLD
        and cause.intrinsic_onsets
        and (not felt or cause.intrinsic_onsets[0] <= felt[0] + ONSET_TOLERANCE)
    )


def _fit(
    cause: Candidate, effect: Candidate, *, failures_matter: bool = False, said: bool = False
) -> float:
    """How well the cause's trouble accounts for the effect's: timing, then size. ``said``:
    the effect's log lines name the cause."""
    onsets, weight = cause.evidence.cause_onsets()
    # Callers feel a fault as slow or failed calls; anything else fits more weakly.
    felt, clarity = effect.evidence.felt_onsets()
    t_effect = felt[0] if felt else effect.onset
    fit = _timing_fit(
        onsets, t_effect, cause_step=cause.evidence.slack, effect_step=effect.evidence.slack
    )
    fit *= weight * clarity
    if (change := _changed_under(cause, effect)) is not None:
        # A wrong answer fails only the callers: a change of its own shortly before they began
        # to fail is when its trouble began, whatever its own series show.
        changed = _timing_fit(
            [change.at], t_effect, cause_step=0.0, effect_step=effect.evidence.slack
        )
        fit = max(fit, 0.7 * changed * clarity * cause.change_weight)
    if not fit:
        return 0.0
    fit *= _relative_strength(cause.evidence, effect.evidence)
    return fit * _magnitude_fit(
        cause.evidence,
        effect.evidence,
        failures_matter=failures_matter,
        said=said,
        changed=change is not None,
    )


def _changed_under(cause: Candidate, effect: Candidate) -> Change | None:
    """The cause's change, when it may have failed the effect by a wrong answer: it changed
    shortly before, and the effect fails where the cause does not."""
    if (
        cause.change is not None
        and cause.change_weight > 0
        and effect.evidence.shows(FAILING)
        and not cause.evidence.shows(FAILING)
    ):
        return cause.change
    return None


def _carries_latency(dep: Candidate, caller: Candidate) -> bool:
    """Whether the dependency added at least half the caller's extra latency, starting at about
    the same time (like statistic against like)."""
    slower, caller_slower = _latency_added(dep.evidence, caller.evidence)
    together = abs(dep.onset - caller.onset) <= TOGETHER + max(
        dep.evidence.slack, caller.evidence.slack
    )
    return bool(together and slower and caller_slower and slower >= 0.5 * caller_slower)


def _failing_since(ev: ServiceEvidence) -> float | None:
    """When its calls began to fail (its first anomalous errors or availability series)."""
    onsets = [
        a.onset
        for a in ev.anomalies
        if a.anomalous and a.series.kind in FAILING and a.onset is not None
    ]
    return min(onsets) if onsets else None


def _failing_rise(ev: ServiceEvidence) -> float:
    """How far its failures rose, relatively (:func:`~investigators.evidence.relative_move`)."""
    return max(
        [0.0, *(relative_move(a) for a in ev.anomalies if a.anomalous and a.series.kind in FAILING)]
    )


def _fails_with(dep: Candidate, caller: Candidate) -> bool:
    """Whether the dependency began to fail no later than its caller did (within the quarter
    of an hour a cause may lead), its failures rising about as far (half the log-ratio or
    more): a caller's failures may then be its dependency's passed on. A dependency whose
    errors rose by a third under a caller's eightfold is no such doubt."""
    ours, theirs = _failing_since(dep.evidence), _failing_since(caller.evidence)
    return (
        ours is not None
        and theirs is not None
        and theirs - 15 * 60 <= ours <= theirs
        and _failing_rise(dep.evidence) >= 0.5 * _failing_rise(caller.evidence)
    )


def _pushed_by_caller(
    top: Candidate, candidates: dict[str, Candidate], graph: CallGraph
) -> list[str]:
    """The callers of the suspect, in trouble too, changed in the 20 minutes before its traffic
    rose (or as it began); none when its traffic did not rise, or when it changed itself (its
    own change explains its load)."""
    if top.change is not None:
        return []
    rises = [
        a.onset
        for a in top.evidence.anomalies
        if a.anomalous
        and a.series.kind is MetricKind.TRAFFIC
        and a.current > a.level
        and a.onset is not None
    ]
    if not rises:
        return []
    began = min(rises)
    return sorted(
        caller
        for caller in graph.callers.get(top.evidence.name, ())
        if caller in candidates
        and any(_change_weight(ch, began) >= 1.0 for ch in candidates[caller].evidence.changes)
    )


def _change_weight(change: Change, onset: float) -> float:
    lead = onset - change.at
    if lead < -180 or lead > CHANGE_WINDOW:
        return 0.0
    weight = 1.0 if lead <= 20 * 60 else 1.0 - 0.6 * (lead - 20 * 60) / (CHANGE_WINDOW - 20 * 60)
    return weight * (1.0 if change.kind is not ChangeKind.OTHER else 0.6)


def suspect_change(changes: list[Change], onset: float) -> Change | None:
    """The change most suspect for trouble that began at ``onset``, if any is close enough."""
    best, weight = None, 0.0
    for change in changes:
        w = _change_weight(change, onset)
        if w > weight:
            best, weight = change, w
    return best


def _relative_strength(cause: ServiceEvidence, effect: ServiceEvidence) -> float:
    """How far the cause's trouble can explain away the effect's by clarity alone (0..1).

    Latency passed on to callers is the same added time, measured at its source against less
    noise than at the callers (theirs adds everything else they do), so a cause whose latency
    is barely over the bar does not explain a caller's far over it (what callers measured of
    the cause counts as the cause's). Failures are not held to this: fan-in and retries make
    callers' error counts louder than the source's, and a wrong answer fails only its callers.
    A cause with no latency series (only cpu and memory) is not judged by this either.
    """
    theirs = effect.best_score((MetricKind.LATENCY,))
    ours = cause.best_score((MetricKind.LATENCY,))
    if theirs is None or theirs < THRESHOLD or ours is None:
        return 1.0
    return max(0.0, min(1.0, ours / (RELATIVE_STRENGTH * theirs)))


def _explain(
    candidates: dict[str, Candidate],
    graph: CallGraph,
    named: dict[str, set[str]],
    evidence: dict[str, ServiceEvidence],
    *,
    failures_matter: bool = False,
) -> None:
    """Who explains whom: each candidate's callers it accounts for, and its best explainer.
    ``named``: for each dependency, the services whose log lines name it. A caller that saw a
    dependency's calls fail (its client-side series) passes that on to its own callers even
    when it has no errors series to show it (:func:`_witnesses`)."""
    carriers = {n for n, c in candidates.items() if carries(c.evidence) or c.change is not None}
    cycles = graph.cycles(carriers)
    witnesses = _witnesses(candidates, evidence)

    def before(a: Candidate, b: Candidate) -> bool:
        # Inside a dependency cycle either could be the cause: the earlier (then stronger) wins.
        ka = (a.onset, -a.evidence.strength, a.evidence.name)
        return ka < (b.onset, -b.evidence.strength, b.evidence.name)

    def fits(cause: Candidate, effect: Candidate) -> float:
        same_cycle = cycles.get(effect.evidence.name, -1) == cycles[cause.evidence.name]
        if same_cycle and not before(cause, effect):
            return 0.0
        said = effect.evidence.name in named.get(cause.evidence.name, ())
        return _fit(cause, effect, failures_matter=failures_matter, said=said)

    for name in sorted(carriers):
        cause = candidates[name]
        # What it explains: callers, transitively through services that pass trouble on.
        passing = carriers | witnesses.get(name, set())
        for caller in graph.above(name, within=passing) & carriers:
            fit = fits(cause, candidates[caller])
            if fit > 0.0:
                cause.fits[caller] = fit
        # Whom it explains away: its direct callers, whatever their own signals (through a
        # witness, the witness's callers).
        through = {u for w in witnesses.get(name, ()) for u in graph.callers[w]}
        for caller in sorted(set(graph.callers[name]) | through):
            effect = candidates.get(caller)
            if effect is None:
                continue
            fit = cause.fits[caller] if caller in cause.fits else fits(cause, effect)
            clear = _saturating(cause.evidence.strength, 6.0)
            if _changed_under(cause, effect) is not None:
                # A wrong answer hardly shows on the service itself: its change is the evidence.
                clear = max(clear, cause.change_weight)
            plausible = fit * clear
            # A propagated fault is measured at its source against less noise than at its
            # callers: a cause barely over the bar does not explain away a caller far over it.
            plausible *= 0.8 if cause.evidence.weak else 1.0
            if plausible > effect.explained:
                effect.explained, effect.explained_by = plausible, name
    for c in candidates.values():
        # Own resource trouble cannot be explained by a slow dependency.
        c.explained *= 1.0 - 0.5 * _saturating(c.evidence.intrinsic - THRESHOLD, 6.0)
        c.explains = sorted(
            (u for u, fit in c.fits.items() if fit >= 0.5),
            key=lambda n: (-candidates[n].evidence.strength, n),
        )


def _witnesses(
    candidates: dict[str, Candidate], evidence: dict[str, ServiceEvidence]
) -> dict[str, set[str]]:
    """For each candidate, the callers that measured its calls failing (client-side series) and
    have no errors series of their own: the failures went through them unseen."""
    out: dict[str, set[str]] = {}
    for name, c in candidates.items():
        for a in c.evidence.anomalies:
            caller = a.seen_from
            if (
                caller
                and a.anomalous
                and a.series.kind in FAILING
                and caller in evidence
                and not any(b.series.kind in FAILING for b in evidence[caller].anomalies)
            ):
                out.setdefault(name, set()).add(caller)
    return out


def _share_blame(candidates: dict[str, Candidate]) -> None:
    """Coverage: each anomalous caller's trouble is shared among the candidates that could
    explain it, by how well each fits, how unexplained each is itself, and how far its
    interface moved. Two suspects below the same callers do not both get full credit."""
    mass = {n: math.log1p(c.evidence.strength) for n, c in candidates.items()}
    total = sum(mass.values()) or 1.0
    weight = {n: (1.0 - c.explained) * c.evidence.severity() for n, c in candidates.items()}
    claims: dict[str, float] = {}
    for name, c in candidates.items():
        for caller, fit in c.fits.items():
            claims[caller] = claims.get(caller, 0.0) + fit * weight[name]
    for name, c in candidates.items():
        shared = sum(
            mass[caller] * fit * (fit * weight[name] / claims[caller])
            for caller, fit in c.fits.items()
            if claims[caller] > 0
        )
        c.coverage = (mass[name] + shared) / total


def _reach(graph: CallGraph, sources: list[str], trail: set[str]) -> dict[str, float]:
    """How directly each service sits below where people see the trouble.

    A fault travels from a dependency to its callers, so the cause of what the alerting service
    shows is that service or one of its dependencies. Best (1.0): reached from it along a path of
    services on the trouble's trail (anomalous in the way the alert is); next (0.6): a dependency
    by some other path; last (0.25): anything else (a caller, a bystander), which the graph says
    cannot have caused it, unless the graph is wrong. Without a source every service is 1.0.
    """
    starts = [s for s in sources if s in graph]
    if not starts:
        return dict.fromkeys(graph, 1.0)
    below = set(starts).union(*(graph.below(s) for s in starts))
    reached = set(starts)
    stack = list(starts)
    while stack:  # the alerting service need not be on the trail itself to lead
        for dep in graph.calls[stack.pop()]:
            if dep in trail and dep not in reached:
                reached.add(dep)
                stack.append(dep)
    return {n: 1.0 if n in reached else 0.6 if n in below else 0.25 for n in graph}


def _moves_with(ev: ServiceEvidence, lead: Lead) -> float:
    """How much moving with the leading series counts for this candidate (a factor, 0.3..1).

    A cause's slow or failed calls rise and fall with what people see: its interface series
    are held to the leading one, like against like where it has the same kind and statistic
    (mean latency against mean latency; percentiles and means move differently). An exhausted
    resource does not move like the alert (memory ramps for hours, then calls fail), so a
    service showing only its resources is held to it lightly.
    """
    if lead.anomaly is None or lead.onset is None:
        return 1.0
    stat = statistic(lead.anomaly.series.name)
    alike = [
        a
        for a in ev.anomalies
        if stat is not None
        and a.seen_from is None
        and a.series.kind is lead.anomaly.series.kind
        and statistic(a.series.name) == stat
    ]
    moved = [a for a in ev.anomalies if a.score >= WEAK_THRESHOLD][:4]
    interface = [a for a in moved if a.series.kind in INTERFACE]
    held = alike or interface
    weight = COMOVE_WEIGHT if held else COMOVE_WEIGHT_RESOURCES
    pool = held or moved
    if not pool:
        return 1.0
    # Not moving together says something only of a series that clearly moved: noise under
    # a faint one hides any likeness.
    return max(
        1.0
        - weight
        * (1.0 - max(comovement(lead.anomaly, a, around=lead.onset), 0.0))
        * min(1.0, a.score / (2 * THRESHOLD))
        for a in pool
    )


def _weigh(c: Candidate, *, lead_at: float, detected: float, reach: float) -> float:
    """The candidate's raw score from its evidence."""
    ev = c.evidence
    rootness = 1.0 - c.explained
    # Near the leading onset: a cause begins with or shortly before what people see.
    earliness = math.exp(-max(0.0, c.onset - lead_at - 60.0 - ev.slack) / 300.0)
    # Trouble that began long after someone noticed is not what they noticed.
    timely = math.exp(-max(0.0, c.onset - detected - 600.0) / 600.0)
    strength = _saturating(ev.strength, 8.0) * (0.7 if ev.weak else 1.0)
    breadth = _saturating(len(c.explains), 2.0)
    # Its callers' log lines name it ("timeout calling maps-provider").
    named = 0.4 * _saturating(len(c.named_by), 1.5)
    return (
        (1.0 + named)
        * rootness**1.5
        * (0.3 + 0.7 * c.coverage)
        * (0.55 + 0.45 * strength)
        * (0.75 + 0.25 * earliness)
        * (1.0 + 0.5 * c.change_weight + 0.35 * _saturating(ev.intrinsic, 8.0))
        * (0.6 + 0.4 * breadth)
        * reach
        * timely
    )


@dataclass(frozen=True, slots=True)
class Analysis:
    """The ranking with what it rests on, so that the summary and the sweep score nothing twice."""

    result: RcaResult
    lead: Lead
    evidence: dict[str, ServiceEvidence]


def rank(bundle: Bundle) -> RcaResult:
    """Rank the root-cause candidates of one incident."""
    return analyse(bundle).result


def analyse(bundle: Bundle) -> Analysis:
    """Rank the root-cause candidates of one incident, keeping the evidence behind the ranking."""
    graph = CallGraph.of(bundle.services)
    lead = find_lead(bundle)
    evidence = collect_evidence(bundle, lead)
    anomalous = find_anomalous(evidence, graph)
    if not anomalous:
        empty = RcaResult(incident_id=bundle.incident.id, ranking=[], symptoms=[], notify=None)
        return Analysis(empty, lead, evidence)

    detected = bundle.incident.started_at
    # A service whose onset could not be placed is taken to start at detection.
    candidates = {
        n: Candidate(evidence[n], onset=evidence[n].onset or detected) for n in sorted(anomalous)
    }
    for c in candidates.values():
        c.change = suspect_change(c.evidence.changes, c.onset)
        c.change_weight = _change_weight(c.change, c.onset) if c.change else 0.0
    lead_at = lead.onset if lead.onset is not None else min(c.onset for c in candidates.values())
    named = mentions(bundle, graph, since=lead_at - MENTION_LEAD)
    _explain(candidates, graph, named, evidence, failures_matter=lead.kind in FAILING)
    _share_blame(candidates)
    declared = [s for s in bundle.incident.symptom_services if s in anomalous]
    # Where people see the trouble: the leading series' service and every declared symptom.
    sources = list(dict.fromkeys([*([lead.service] if lead.service else []), *declared]))
    # What the alert shows is what needs explaining: failures by failures, slowness by slowness
    # (or exhausted resources). The trail follows services that show it.
    wanted = EXPLAINED_BY.get(lead.kind) if lead.kind is not None else None
    matching = {
        n
        for n, c in candidates.items()
        if wanted is None or c.evidence.shows(wanted) or c.evidence.weak
    }
    # A dependency named in the logs of a service on the trail is on it too, whatever it shows
    # ("timeout calling maps-provider" says the failures go through it).
    matching |= {n for n in candidates if named.get(n, set()) & matching}
    # Services that cannot show it (no latency or errors series) do not break the trail either.
    unseen = {n for n, ev in evidence.items() if not ev.has_interface}
    reach = _reach(graph, sources, matching | unseen)
    for name, c in candidates.items():
        c.named_by = sorted(named.get(name, ()))
        fit = reach[name] * (1.0 if name in matching else 0.5)
        # A cause moves with what people see: its series and the alert's rise and fall together.
        fit *= _moves_with(c.evidence, lead)
        c.raw = _weigh(c, lead_at=lead_at, detected=detected, reach=fit)
    silent = _silent_suspects(candidates, graph, evidence, named)

    order = sorted([*candidates.values(), *silent], key=lambda c: (-c.raw, c.evidence.name))
    top = order[0]
    rival = next((c for c in order[1:] if c.evidence.team != top.evidence.team), None)
    margin = 1.0 - (rival.raw / top.raw if rival is not None and top.raw > 0 else 0.0)
    for c in order:
        c.score = round(min(1.0, c.raw / 1.2), 3)
    blind = [] if top in silent else _blind_spots(top, evidence, graph, anomalous)
    top.confidence = _confidence(
        top, margin=margin, declared=declared, late=top.onset - detected > 15 * 60
    )
    # Where the alert fired must show the trouble, and be this service or depend on it;
    # otherwise what we see is not what people saw, and a tag would be a guess.
    alerted = [
        s for s in bundle.incident.symptom_services if s in anomalous and not evidence[s].weak
    ]
    callers = graph.above(top.evidence.name) | {top.evidence.name}
    unrelated = bool(bundle.incident.symptom_services) and not any(s in callers for s in alerted)
    # The alert's own series shows nothing, or the suspect is not below it: a tag would be a
    # guess about something other than what people are looking at.
    astray = lead.quiet or reach.get(top.evidence.name, 0.0) < 1.0
    # What leads shows the trouble only faintly, or nothing leads (no alert, no symptom: a
    # health sweep) and no cascade stands in for it (the suspect explaining several services in
    # trouble): the ranking stands, but paging a team on it would be a guess.
    if lead.service is None:
        faint = len(top.explains) < CASCADE
    else:
        faint = lead.onset is None or lead.score < CLEAR_LEAD
    # Its slowness is about what a dependency added at about the same time: whether its
    # failures are its own or waits on that dependency running out, the data cannot say.
    shadowed = any(
        _carries_latency(candidates[d], top)
        for d in graph.calls.get(top.evidence.name, ())
        if d in candidates
    )
    # A dependency began to fail before it did, about as much: whether its failures are its
    # own or that dependency's passed on, the data cannot say.
    failing_under = sorted(
        d
        for d in graph.calls.get(top.evidence.name, ())
        if d in candidates and _fails_with(candidates[d], top)
    )
    # Unchanged itself, its traffic rose, and a service that calls it was changed shortly
    # before: the load may be that caller's doing (a retry loop, a query per item).
    pushed = _pushed_by_caller(top, candidates, graph)
    withheld = blind or failing_under or pushed
    if (withheld or unrelated or astray or faint or shadowed) and top.confidence == "high":
        top.confidence = "medium"
    for c in order[1:]:
        c.confidence = "medium" if c.raw >= 0.6 * top.raw and top.raw > 0.3 else "low"

    why_untagged = (
        wording.blind(blind) + wording.failing_under(failing_under) + wording.pushed(pushed)
    )
    notify = None
    if top.confidence == "high":
        notify = NotifyTarget(team=top.evidence.team, service=top.evidence.name)
    ranking = [
        RankedService(
            service=c.evidence.name,
            score=c.score,
            confidence=c.confidence,
            reasons=wording.reasons(c, candidates) + (why_untagged if c is top else []),
            explains=c.explains,
        )
        for c in order
    ]
    # A dependency we cannot see into is a suspect of its own, a little behind the one it may
    # hide (and ranked by that score like any other), one changed shortly before the trouble
    # began first among them; one already suspected through its callers is listed once, where
    # that put it.
    listed = {c.evidence.name for c in silent}
    for dep in sorted({dep for dep, _ in blind} - listed):
        kinds = ", ".join(kind for d, kind in blind if d == dep)
        reasons = [
            f"no {kinds} data: {top.evidence.name} calls it and could be failing "
            f"because of it; check it at the source"
        ]
        weight = 0.0
        if (change := suspect_change(evidence[dep].changes, top.onset)) is not None:
            weight = _change_weight(change, top.onset)
            reasons.append(wording.change_sentence(change, top.onset, f"{top.evidence.name} began"))
        ranking.append(
            RankedService(
                service=dep,
                score=round(top.score * (0.8 + 0.1 * weight), 3),
                confidence="low",
                reasons=reasons,
                explains=[top.evidence.name],
            )
        )
    ranking.sort(key=lambda r: -r.score)  # stable: ties keep the engine's order
    result = RcaResult(
        incident_id=bundle.incident.id,
        ranking=ranking,
        symptoms=[
            c.evidence.name
            for c in sorted(order, key=lambda c: (-c.evidence.strength, c.evidence.name))
            if c.explained >= 0.5
        ],
        notify=notify,
    )
    return Analysis(result, lead, evidence)


def _silent_suspects(
    candidates: dict[str, Candidate],
    graph: CallGraph,
    evidence: dict[str, ServiceEvidence],
    named: dict[str, set[str]],
) -> list[Candidate]:
    """Dependencies that cannot show trouble themselves, that the evidence points at.

    A provider with no series (an external API, a managed service nobody exports), or one with
    only its resources (cpu, memory) measured, shows only through its callers. Such a dependency
    takes its callers' place as the suspect when what they show is calls failing or slowing
    (clearly, not their own resources, not a change of their own in the 20 minutes before: an
    older deploy is no better an explanation than the provider; unless the dependency itself was
    changed after that, the nearer change of the two), and either their log lines
    name it, or more than one of its callers is in trouble at about the same time (one fault
    below them explains them all), or it was changed shortly before they began to fail. For
    all of these a caller is timed by when its calls began to fail or slow, not by when its
    cpu or memory first moved.

    A dependency whose own latency or errors are measured is never suspected this way: when
    they look normal, it is not what fails its callers (they fail of their own: a leaking
    caller's logs name what it calls; or through something else). A fault on the way to it
    (network delay, packet loss) shows in its callers' client-side series of it, which count as
    its own (:func:`~investigators.evidence.seen_from_callers`).
    """
    found: list[Candidate] = []
    for dep in sorted(graph):
        ev = evidence[dep]
        if dep in candidates or ev.has_interface:
            continue
        callers = [
            candidates[c]
            for c in graph.callers[dep]
            if c in candidates and candidates[c].explained < 0.5
        ]
        # Callers clearly in trouble: one admitted only under the lower bar for dependencies
        # (a faint rise) is no second witness.
        clean = [
            c
            for c in callers
            if c.evidence.interface_onsets
            and not c.evidence.weak
            and c.evidence.intrinsic < THRESHOLD
            and (c.change_weight < 1.0 or _changed_since(ev, c))
        ]
        # When each began to fail or slow (its calls), not when its cpu or memory first moved.
        failing = {c.evidence.name: c.evidence.interface_onsets[0] for c in clean}
        if clean:  # at about the same time: within a few minutes of the middle one
            middle = sorted(failing.values())[len(clean) // 2]
            clean = [
                c
                for c in clean
                if abs(failing[c.evidence.name] - middle) <= TOGETHER + c.evidence.slack
            ]
        voices = named.get(dep, set())
        # Or a change of its own shortly before they began failing (a wrong return value fails
        # the callers and hardly shows on the service itself).
        onset = min((failing[c.evidence.name] for c in clean), default=0.0)
        change = suspect_change(ev.changes, onset) if clean else None
        said = bool(voices & {c.evidence.name for c in clean})
        if not clean or not (said or len(clean) >= 2 or change is not None):
            continue
        best = max(clean, key=lambda c: c.raw)
        silent = Candidate(ev, onset=onset, change=change)
        silent.change_weight = _change_weight(change, onset) if change is not None else 0.0
        silent.explains = sorted(c.evidence.name for c in clean)
        silent.named_by = sorted(voices)
        silent.raw = best.raw * (1.05 + 0.1 * min(len(clean) - 1, 2))
        silent.silent = True
        silent.support = max(c.evidence.strength for c in clean)
        for c in clean:
            c.explained, c.explained_by = max(c.explained, 0.6), dep
            c.raw *= 0.5
        found.append(silent)
    return found


def _changed_since(dependency: ServiceEvidence, caller: Candidate) -> bool:
    """Whether the dependency was changed after the caller's own change, and shortly before
    the caller began to fail: the nearer change is the better explanation of the two."""
    if caller.change is None:
        return True
    change = suspect_change(dependency.changes, caller.onset)
    return change is not None and change.at > caller.change.at


def _blind_spots(
    top: Candidate, evidence: dict[str, ServiceEvidence], graph: CallGraph, anomalous: set[str]
) -> list[tuple[str, str]]:
    """Dependencies that could be the real cause but cannot be seen: a healthy-looking
    dependency with no interface series at all, or an external provider with no series of the
    kind the suspect is failing in (no errors data when the suspect's errors rose)."""
    failing = {
        a.series.kind
        for a in top.evidence.anomalies
        if a.anomalous and a.series.kind in (MetricKind.ERRORS, MetricKind.LATENCY)
    }
    out = []
    for dep in sorted(graph.calls[top.evidence.name]):
        if dep in anomalous:
            continue
        seen = {a.series.kind for a in evidence[dep].anomalies}
        if not evidence[dep].has_interface:
            out.append((dep, "latency or errors"))
        elif graph.kinds[dep] == "external":
            out.extend((dep, kind.value) for kind in sorted(failing - seen))
    return out


def _confidence(top: Candidate, *, margin: float, declared: list[str], late: bool) -> str:
    """High only when the top suspect explains what is seen and nobody else comes close."""
    ev = top.evidence
    # Linked to what people see: it explains anomalous callers, or the alert fired on it and
    # its own interface (latency, errors) shows the trouble.
    linked = bool(top.explains) or (ev.name in declared and bool(ev.interface_onsets))
    # A silent provider is only as strong as its callers' trouble, and needs them to name it.
    strength = top.support if top.silent else ev.strength
    strong = strength >= 6 and top.raw >= 0.25 and not late
    if top.silent and not top.named_by:
        strong = False
    if top.explained < 0.3 and linked and margin >= 0.5 and strong:
        return "high"
    if top.explained < 0.5 and (linked or top.change_weight > 0) and margin >= 0.2:
        return "medium"
    return "low"
