"""What the root-cause engine knows of each service: its anomalies, onsets and changes.

Pure: built from a :class:`~investigators.bundle.Bundle` by :func:`collect_evidence`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from investigators.anomaly import (
    WEAK_THRESHOLD,
    SeriesAnomaly,
    is_intrinsic,
    score_current,
    score_series,
)
from investigators.bundle import Bundle, Change, MetricKind
from investigators.callgraph import CallGraph

#: A resource this full (percent) is exhausted: requests queue, fail or get refused.
EXHAUSTED_PERCENT = 80.0
_PERCENT = {"percent", "%", "pct"}
#: A fault reaches callers through these: slow or failed calls.
INTERFACE = (MetricKind.LATENCY, MetricKind.ERRORS, MetricKind.AVAILABILITY)
#: Failed calls, seen from either side.
FAILING = (MetricKind.ERRORS, MetricKind.AVAILABILITY)
#: What a symptom of each kind can come from: failures from failures or an exhausted resource
#: (connections refused, OOM kills), slowness from slowness or an exhausted resource.
EXPLAINED_BY = {
    MetricKind.ERRORS: (*FAILING, MetricKind.SATURATION),
    MetricKind.AVAILABILITY: (*FAILING, MetricKind.SATURATION),
    MetricKind.LATENCY: (MetricKind.LATENCY, MetricKind.SATURATION),
}

_MS_PER_UNIT = {
    "ms": 1.0,
    "millisecond": 1.0,
    "s": 1000.0,
    "second": 1000.0,
    "us": 0.001,
    "microsecond": 0.001,
    "ns": 1e-6,
    "nanosecond": 1e-6,
}


def kind_weight(a: SeriesAnomaly, lead: Lead | None = None) -> float:
    """How much one series' anomaly counts towards its service's strength.

    Traffic moves for many harmless reasons (a campaign, a batch, retries): it counts half. And
    what the alert shows is what needs explaining: with a leading series, the same metric counts
    fully, its kind's explanations (failures for failures, slowness for slowness) nearly so, and
    anything else less.
    """
    weight = 0.5 if a.series.kind in (MetricKind.TRAFFIC, MetricKind.OTHER) else 1.0
    if lead is None or lead.kind is None or a.series.name == lead.metric:
        return weight
    wanted = EXPLAINED_BY.get(lead.kind)
    return weight * (0.85 if wanted is None or a.series.kind in wanted else 0.6)


def relative_move(a: SeriesAnomaly) -> float:
    """How far a series moved, relatively: the log of its ratio to its level (capped at x100),
    so errors x180 weigh more than errors x2, and a rise by a third hardly at all."""
    ratio = a.ratio
    return math.log1p(min(abs(ratio - 1.0) if math.isfinite(ratio) else 100.0, 100.0))


@dataclass(slots=True)
class ServiceEvidence:
    """What the engine knows of one service."""

    name: str
    team: str
    anomalies: list[SeriesAnomaly] = field(default_factory=list)  # strongest first
    strength: float = 0.0  # best sustained score among its series (traffic counts half)
    intrinsic: float = 0.0  # best score among its own resource signals
    onsets: list[float] = field(default_factory=list)  # of each anomalous series, sorted
    interface_onsets: list[float] = field(default_factory=list)  # latency, errors, availability
    intrinsic_onsets: list[float] = field(default_factory=list)  # cpu, memory, connections
    # Fainter ways trouble shows: interface rises under the bar, pools filling up from waiting.
    faint_onsets: list[float] = field(default_factory=list)
    has_interface: bool = False  # whether it has interface series at all
    slack: float = 0.0  # how far off its onsets may be: the coarsest anomalous series' step
    weak: bool = False  # anomalous only under the lower bar for dependencies
    changes: list[Change] = field(default_factory=list)

    @property
    def onset(self) -> float | None:
        """When its first anomalous series began."""
        return self.onsets[0] if self.onsets else None

    def cause_onsets(self) -> tuple[list[float], float]:
        """When its trouble could have reached callers, and how much that evidence counts.

        Callers feel slow or failed calls; an exhausted resource (connections refused, OOM) is
        felt too, counted a little less; a service with no interface series is taken at its
        word.
        """
        if self.interface_onsets:
            return self.interface_onsets, 1.0
        if self.intrinsic_onsets:
            return self.intrinsic_onsets, 0.7 if self.exhausted() else 0.25
        if self.faint_onsets:
            return self.faint_onsets, 0.6
        return ([], 0.0) if self.has_interface else (self.onsets, 1.0)

    def felt_onsets(self) -> tuple[list[float], float]:
        """When trouble from a dependency showed here, and how clearly."""
        if self.interface_onsets:
            return self.interface_onsets, 1.0
        if self.faint_onsets:
            return self.faint_onsets, 0.6
        return self.onsets, 0.3

    def exhausted(self) -> bool:
        """Whether a resource of its own ran out: a percentage near full (or one of unknown
        scale that rose). Cpu going from 16% to 28% slows nothing down."""
        return any(
            a.anomalous
            and is_intrinsic(a.series.name, a.series.kind)
            and ((a.series.unit or "").lower() not in _PERCENT or a.worst >= EXHAUSTED_PERCENT)
            for a in self.anomalies
        )

    def shows(self, kinds: tuple[MetricKind, ...]) -> bool:
        """Whether one of its anomalous series is of these kinds."""
        return any(a.anomalous and a.series.kind in kinds for a in self.anomalies)

    def severity(self) -> float:
        """How far its interface moved, relatively: errors x180 weighs more than errors x2."""
        moves = [
            relative_move(a) for a in self.anomalies if a.anomalous and a.series.kind in INTERFACE
        ]
        return max([0.1, *moves])

    def errors_added(self) -> tuple[float, str] | None:
        """The largest increase of an anomalous error series, with its unit."""
        added = [
            (a.current - a.level, a.series.unit or "")
            for a in self.anomalies
            if a.series.kind is MetricKind.ERRORS and a.anomalous
        ]
        return max(added) if added else None

    def latency_added_ms(self) -> float | None:
        """The largest latency increase, in milliseconds, among its latency anomalies."""
        added = [
            ms
            for a in self.anomalies
            if a.score >= WEAK_THRESHOLD and (ms := _added_ms(a)) is not None
        ]
        return max(added) if added else None

    def best_score(self, kinds: tuple[MetricKind, ...]) -> float | None:
        """The highest score among its series of these kinds (what callers measured of it
        included); None when it has none."""
        scores = [a.score for a in self.anomalies if a.series.kind in kinds]
        return max(scores) if scores else None

    def seen_slower_from_callers(self) -> bool:
        """Whether its callers' own measurements of their calls to it got slower."""
        return any(
            a.seen_from is not None and a.series.kind is MetricKind.LATENCY and a.anomalous
            for a in self.anomalies
        )

    def latency_added_by_statistic(self) -> dict[str, float]:
        """How much each latency statistic (mean, p50, p99...) of its own rose, in milliseconds:
        every latency series, anomalous or not, so that a statistic that barely moved says so.
        Client-side series (what callers measured) are left out: they time the link too."""
        out: dict[str, float] = {}
        for a in self.anomalies:
            if a.seen_from is not None:
                continue
            ms = _added_ms(a)
            stat = statistic(a.series.name)
            if ms is not None and stat is not None:
                out[stat] = max(out.get(stat, -math.inf), ms)
        return out


def _added_ms(a: SeriesAnomaly) -> float | None:
    unit = (a.series.unit or "").lower()
    if a.series.kind is not MetricKind.LATENCY or unit not in _MS_PER_UNIT:
        return None
    return (a.current - a.level) * _MS_PER_UNIT[unit]


_STATISTIC = re.compile(
    r"(?:^|[._:\-])(avg|average|mean|median|max|p\d{2,3}(?:\.\d+)?|q\d{2,3}|quantile_?0?\.\d+)$",
    re.IGNORECASE,
)


def statistic(series_name: str) -> str | None:
    """The statistic a series' name ends in, normalised: ``mean`` for avg/average/mean,
    ``p50`` for median, ``p99`` for p99/q99/quantile 0.99, ``max``; None when it names none.

    Means add up along a call chain (a caller's mean latency is its own plus its calls'
    means); percentiles do not, so sizes are compared statistic by statistic.
    """
    m = _STATISTIC.search(series_name.strip())
    if m is None:
        return None
    token = m.group(1).lower()
    if token in ("avg", "average", "mean"):
        return "mean"
    if token == "median":
        return "p50"
    if token == "max":
        return "max"
    digits = re.sub(r"[^0-9.]", "", token.replace("quantile", ""))
    if token.startswith("quantile"):
        value = float(digits) * 100 if digits else 0.0
    else:
        value = float(digits) if digits else 0.0
    return f"p{value:g}"


@dataclass(frozen=True, slots=True)
class Lead:
    """What leads the search: the series people are looking at, and when it changed."""

    service: str | None  # the alerting (or symptom) service whose series leads
    onset: float | None  # when that series changed for the worse; None when it did not
    score: float  # how clearly it changed
    anomaly: SeriesAnomaly | None = None  # the leading series as scored

    @property
    def metric(self) -> str | None:
        """The leading series' name."""
        return self.anomaly.series.name if self.anomaly is not None else None

    @property
    def kind(self) -> MetricKind | None:
        """What the leading series measures."""
        return self.anomaly.series.kind if self.anomaly is not None else None

    @property
    def quiet(self) -> bool:
        """A named alert whose series shows nothing: what people see is not in the data."""
        return self.service is not None and self.onset is None


def find_lead(bundle: Bundle) -> Lead:
    """The alerting series and its onset; failing that the symptom services' worst interface
    series; failing that nothing (the search then centres on the detection time)."""
    detected = bundle.incident.started_at
    alert = bundle.incident.alert
    if alert is not None:
        named = [m for m in bundle.metrics if m.service == alert.service and m.name == alert.metric]
        scored = score_current(named, detected_at=detected)
        if not any(a.anomalous for a in scored):
            # The named series shows nothing: what else the alerting service shows, if anything.
            # Failing that, the alert's own series still says what kind of trouble to look for.
            own = [m for m in bundle.metrics if m.service == alert.service]
            others = score_current([m for m in own if m.kind in INTERFACE], detected_at=detected)
            if any(a.anomalous for a in others) or not scored:
                scored = others
    else:
        wanted = set(bundle.incident.symptom_services)
        pool = [m for m in bundle.metrics if m.service in wanted and m.kind in INTERFACE]
        scored = score_current(pool, detected_at=detected)
    if not scored:
        return Lead(None, None, 0.0)
    best = min(scored, key=lambda a: (-a.score, a.series.name))
    onset = best.onset if best.anomalous else None
    if onset is None and alert is None:
        return Lead(None, None, 0.0)
    return Lead(best.series.service, onset, best.score, best)


#: A resource percentage must move this many points to count as a service's own trouble.
RESOURCE_POINTS = 10.0


def _own_resource(a: SeriesAnomaly) -> bool:
    """A resource signal of the service's own (cpu, memory, connections) that moved enough to
    matter: memory from 50% to 54% is news to a z-score, not to the service."""
    if not is_intrinsic(a.series.name, a.series.kind):
        return False
    if (a.series.unit or "").lower() in _PERCENT:
        return abs(a.worst - a.level) >= RESOURCE_POINTS
    return True


def collect_evidence(bundle: Bundle, lead: Lead | None = None) -> dict[str, ServiceEvidence]:
    """Score every series, led by the alert's onset when there is one, and gather per service."""
    lead = lead or find_lead(bundle)
    evidence = {s.name: ServiceEvidence(s.name, s.team) for s in bundle.services}
    scored = score_series(bundle.metrics, detected_at=bundle.incident.started_at, around=lead.onset)
    for a in seen_from_callers(scored, bundle):
        ev = evidence[a.series.service]
        ev.anomalies.append(a)
        ev.strength = max(ev.strength, a.score * kind_weight(a, lead))
        ev.has_interface = ev.has_interface or a.series.kind in INTERFACE
        if a.anomalous and _own_resource(a):
            ev.intrinsic = max(ev.intrinsic, a.score)
    for ev in evidence.values():
        ev.anomalies.sort(key=lambda a: (-a.score * kind_weight(a, lead), a.series.name))
        started = [a for a in ev.anomalies if a.anomalous and a.onset is not None]
        ev.slack = max((a.resolution for a in started), default=0.0)
        ev.onsets = sorted(a.onset for a in started if a.onset is not None)
        ev.interface_onsets = sorted(
            a.onset for a in started if a.onset is not None and a.series.kind in INTERFACE
        )
        ev.intrinsic_onsets = sorted(
            t for a in started if _own_resource(a) and (t := a.hurt_at) is not None
        )
        ev.faint_onsets = sorted(
            a.onset
            for a in ev.anomalies
            if a.onset is not None
            and a.score >= WEAK_THRESHOLD
            and (
                a.series.kind in INTERFACE
                or (
                    a.series.kind is MetricKind.SATURATION
                    and a.anomalous
                    and not is_intrinsic(a.series.name, a.series.kind)
                )
            )
        )
    for change in bundle.changes:
        evidence[change.service].changes.append(change)
    return evidence


def find_anomalous(evidence: dict[str, ServiceEvidence], graph: CallGraph) -> set[str]:
    """Services with an anomalous series, plus weakly anomalous dependencies of those.

    A dependency of an anomalous service is held to a lower bar: a weak signal where the graph
    says to look is still evidence (an external provider seen only from its callers' clients).
    """
    strong = {n for n, ev in evidence.items() if any(a.anomalous for a in ev.anomalies)}
    weak: set[str] = set()
    for name in strong:
        for dep in graph.calls[name]:
            ev = evidence[dep]
            if dep in strong or dep in weak or ev.strength < WEAK_THRESHOLD:
                continue
            weak.add(dep)
            ev.weak = True
            rising = [
                a
                for a in ev.anomalies
                if a.onset is not None and a.score * kind_weight(a) >= WEAK_THRESHOLD
            ]
            ev.onsets = sorted(a.onset for a in rising if a.onset is not None)
            ev.interface_onsets = sorted(
                a.onset for a in rising if a.onset is not None and a.series.kind in INTERFACE
            )
    return strong | weak


def carries(ev: ServiceEvidence) -> bool:
    """Whether trouble can travel through this service to its callers."""
    return bool(
        ev.interface_onsets or ev.intrinsic_onsets or ev.faint_onsets or not ev.has_interface
    )


def _names(text: str, candidates: Iterable[str]) -> list[str]:
    """The candidates that ``text`` names as whole words (``invoices`` not in ``invoices-db``)."""
    found = []
    for name in candidates:
        at = text.find(name)
        while at >= 0:
            end = at + len(name)
            before = text[at - 1] if at > 0 else " "
            after = text[end] if end < len(text) else " "
            if not (_WORD.match(before) or _WORD.match(after)):
                found.append(name)
                break
            at = text.find(name, at + 1)
    return found


#: A caller's dependencies that turned bad within this many seconds of each other did so at
#: once: the caller's own trouble, not theirs (see :func:`seen_from_callers`).
AT_ONCE = 300.0


def seen_from_callers(scored: list[SeriesAnomaly], bundle: Bundle) -> list[SeriesAnomaly]:
    """Client-side series moved to the dependency they watch.

    A caller's series that names one of its dependencies (``client.maps-provider.duration``,
    ``http_client_errors{peer="invoices"}``) measures that dependency from outside: a network
    fault, or a provider with no telemetry of its own, shows there first. Such series count as
    the dependency's. Except when several of one caller's dependencies turn bad at once (within
    :data:`AT_ONCE` of each other, and not merely one through another) and alike (each moved at
    least half as far, on a log scale, as the other): one caller in trouble (starved of cpu,
    out of threads) sees all its calls slow down, so those stay its own. One that went bad
    minutes before the rest is its dependency's; what followed may be the caller running out of
    threads while it waited. So is one failing many times over beside one barely worse.
    """
    graph = CallGraph.of(bundle.services)
    deps = graph.calls
    peer: dict[int, str] = {}
    for i, a in enumerate(scored):
        named = _names(a.series.name, deps.get(a.series.service, ()))
        if len(named) == 1 and named[0] != a.series.service:
            peer[i] = named[0]
    if not peer:
        return scored
    # Per caller, when each watched dependency first turned bad (and how coarsely measured),
    # and how far its calls' worst series moved.
    began: dict[str, dict[str, tuple[float, float]]] = {}
    moved: dict[tuple[str, str], float] = {}
    for i, dep in peer.items():
        a = scored[i]
        if a.anomalous and a.onset is not None:
            seen = began.setdefault(a.series.service, {})
            first, step = seen.get(dep, (math.inf, 0.0))
            seen[dep] = (min(first, a.onset), max(step, a.resolution))
            key = (a.series.service, dep)
            moved[key] = max(moved.get(key, 0.0), relative_move(a))
    # Dependencies in trouble because one of them calls another are one trouble, not several.
    for caller, deps_seen in began.items():
        named_here = set(deps_seen)
        began[caller] = {d: t for d, t in deps_seen.items() if not (graph.below(d) & named_here)}

    def at_once(caller: str, dep: str) -> bool:
        # Another of the caller's dependencies turned bad at about the same time as this one.
        seen = began.get(caller, {})
        if dep not in seen:
            return len(seen) > 1
        at, step = seen[dep]
        # Calls a caller in trouble makes all go bad alike: one that barely moved beside one
        # failing many times over is not the same trouble.
        alike = 0.5 * moved[(caller, dep)]
        return any(
            abs(t - at) <= AT_ONCE + max(step, s) and moved[(caller, d)] >= alike
            for d, (t, s) in seen.items()
            if d != dep
        )

    out = []
    for i, a in enumerate(scored):
        watched = peer.get(i)
        if watched is None or at_once(a.series.service, watched):
            out.append(a)
        else:
            out.append(
                replace(a, series=replace(a.series, service=watched), seen_from=a.series.service)
            )
    return out


#: Log lines this long before the leading onset still speak of this incident (seconds).
MENTION_LEAD = 30 * 60.0


def mentions(bundle: Bundle, graph: CallGraph, *, since: float) -> dict[str, set[str]]:
    """Dependencies named in their callers' log lines: for each, the services that named it.

    "deadline exceeded waiting for invoices" from ``checkout`` is evidence about ``invoices``
    when ``checkout`` depends on it (directly or further down). Names count as whole words
    (``invoices`` does not match ``invoices-db``), and only lines from ``since`` on.
    """
    named: dict[str, set[str]] = {}
    below: dict[str, set[str]] = {}
    for line in bundle.log_samples:
        if line.timestamp < since or line.service not in graph:
            continue
        deps = below.get(line.service)
        if deps is None:
            deps = below[line.service] = graph.below(line.service)
        for dep in _names(line.message, deps):
            named.setdefault(dep, set()).add(line.service)
    return named


_WORD = re.compile(r"[\w-]")
