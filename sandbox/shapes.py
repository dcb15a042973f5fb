"""The shapes real telemetry comes in, for generated scenarios to take one at a time or mixed.

An engine tuned on one generator learns that generator's habits: six hours of 10-second data,
every service with latency, errors and traffic, a clean baseline, one fault at a time, each
fault on the root's own series. A *shape* changes one of those habits, so that a bench can
measure the engine on each (``generate_scenario(..., shape=...)``):

- ``standard``: the generator as it always was.
- ``short-history``: 3 to 10 minutes of data before detection, and at least 2 before the onset,
  ending 2 to 10 minutes after it (or after the onset, when that is later): the window a person
  pulls up when paged.
- ``long-history``: 1 to 2 days of history at 1 and 5 minutes, nights included.
- ``fine``: 1-second data (with its noise), 15 to 30 minutes before detection.
- ``rollup-5m``: 5-minute rollups only: latency as the interval's p99, error and request counts
  as sums (unit ``count``), saturation as averages; labelled at the interval's start (Datadog)
  or end (Prometheus), by seed.
- ``partial``: what many estates have: only 10 to 30% of the mid-tier services (and most edge
  services) report latency, errors and traffic; the rest only cpu and memory (databases, cpu and
  connections); half the external providers nothing. Client-side series on instrumented callers
  (``client.<callee>.duration`` and ``.errors``, attributed to the caller); cpu and memory per
  pod for some services (``system.cpu.user{pod:pod-2}``, the service-level series dropped, and a
  fault shows on only some pods); counts next to rates (``...errors.count``); availability.
- ``spliced``: the history before a splice point, 6 to 25 minutes before the onset, was
  recorded at another time or under other traffic: a level and variance shift on most services
  at the splice, nothing of the incident before it.
- ``back-to-back``: an earlier, unrelated fault on another service ended 4 to 20 minutes before
  the onset, its recovery tail in the baseline (with a revert when a change caused it).
- ``caller-only``: network delay or packet loss at the root: its callers' client-side series and
  their own latency and errors show it, the root's own series barely.
- ``code-fault``: an exception (errors on the root and its callers) or a wrong return value
  (errors on the callers only); hardly anything on cpu, memory or latency; a deploy before it
  only sometimes.
- ``silent-external``: external providers have no series of their own; one fails and only its
  callers' client-side series and logs show it. The provider is the root; its team, the team to
  notify, is the team that owns the integration (:func:`sandbox.company.generate_company` gives
  every external provider the team of the first service wired to it).
- ``named-in-logs``: callers log the dependency they wait on ("deadline exceeded waiting for
  invoices"), hop by hop, so the named service is not always the root; now and then a healthy
  service blames a healthy dependency.
- ``mixed``: a random combination of the above, drawn per seed.

``caller-only``, ``code-fault`` and ``silent-external`` bring their own fault: whatever fault
type is asked for, the scenario's fault is theirs (``Truth.fault`` is one of
``SHAPE_FAULTS[shape]``); a quiet period (fault None) stays quiet, with the shape's telemetry.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from investigators.bundle import MetricKind, Series
from sandbox.company import Company

SHAPES: tuple[str, ...] = (
    "standard",
    "short-history",
    "long-history",
    "fine",
    "rollup-5m",
    "partial",
    "spliced",
    "back-to-back",
    "caller-only",
    "code-fault",
    "silent-external",
    "named-in-logs",
    "mixed",
)
#: The faults a shape brings of its own, replacing the fault type asked for.
SHAPE_FAULTS: dict[str, tuple[str, ...]] = {
    "caller-only": ("network-delay", "packet-loss"),
    "code-fault": ("code-fault",),
    "silent-external": ("external-silent",),
}
_TIMINGS = ("standard", "short", "long", "fine", "rollup")


@dataclass(frozen=True, slots=True)
class Shape:
    """The traits of one scenario's shape; a named shape has one, ``mixed`` several."""

    name: str
    timing: str = "standard"  # one of _TIMINGS
    partial: bool = False
    spliced: bool = False
    back_to_back: bool = False
    own_fault: str | None = None  # a key of SHAPE_FAULTS
    named_logs: bool = False

    def traits(self) -> tuple[str, ...]:
        """The names of the shapes combined here (``("standard",)`` for none)."""
        timing = {"short": "short-history", "long": "long-history", "rollup": "rollup-5m"}
        found = [timing.get(self.timing, self.timing)] if self.timing != "standard" else []
        found += [
            name
            for name, on in (
                ("partial", self.partial),
                ("spliced", self.spliced),
                ("back-to-back", self.back_to_back),
                ("named-in-logs", self.named_logs),
            )
            if on
        ]
        if self.own_fault:
            found.append(self.own_fault)
        return tuple(found) or ("standard",)


_NAMED = {
    "standard": Shape("standard"),
    "short-history": Shape("short-history", timing="short"),
    "long-history": Shape("long-history", timing="long"),
    "fine": Shape("fine", timing="fine"),
    "rollup-5m": Shape("rollup-5m", timing="rollup"),
    "partial": Shape("partial", partial=True),
    "spliced": Shape("spliced", spliced=True),
    "back-to-back": Shape("back-to-back", back_to_back=True),
    "caller-only": Shape("caller-only", own_fault="caller-only"),
    "code-fault": Shape("code-fault", own_fault="code-fault"),
    "silent-external": Shape("silent-external", own_fault="silent-external"),
    "named-in-logs": Shape("named-in-logs", named_logs=True),
}


def shape_of(name: str, rng: np.random.Generator) -> Shape:
    """The traits of shape ``name``; ``mixed`` draws a combination from ``rng``."""
    if name in _NAMED:
        return _NAMED[name]
    if name != "mixed":
        raise ValueError(f"unknown shape {name!r}: use one of {', '.join(SHAPES)}")
    while True:
        timing = str(rng.choice(_TIMINGS, p=[0.3, 0.15, 0.15, 0.15, 0.25]))
        long_enough = timing in ("standard", "long", "rollup")
        spliced = long_enough and rng.random() < 0.3
        shape = Shape(
            "mixed",
            timing=timing,
            partial=bool(rng.random() < 0.4),
            spliced=bool(spliced),
            back_to_back=bool(long_enough and not spliced and rng.random() < 0.3),
            own_fault=[None, None, None, "caller-only", "code-fault", "silent-external"][
                int(rng.integers(6))
            ],
            named_logs=bool(rng.random() < 0.4),
        )
        if shape.traits() != ("standard",):
            return shape


# -- time: how long, how fine, how aggregated ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Grid:
    """The time grid of a scenario and the window its series are cut to."""

    hours: float
    step: int  # the base grid, seconds
    resolutions: tuple[int, ...]
    weights: tuple[float, ...] | None = None  # None: the standard weights
    after: tuple[float, float] = (30.0, 45.0)  # minutes of data after the onset
    history: tuple[float, float] | None = None  # minutes kept before detection (None: all)
    tail: tuple[float, float] | None = None  # minutes kept after detection or onset
    noise: float = 1.0  # scale of per-point noise
    rollup: bool = False  # 5-minute p99 / sum / avg instead of averages
    label_start: bool = False  # rollups labelled at the interval's start


def grid_for(
    timing: str,
    rng: np.random.Generator,
    *,
    hours: float,
    step: int,
    resolutions: tuple[int, ...],
) -> Grid:
    """The grid of one timing; ``standard`` and ``rollup`` keep the caller's length of history."""
    if timing == "short":
        return Grid(1.0, 10, (10, 60), (1.0, 1.0), history=(3.0, 10.0), tail=(2.0, 10.0))
    if timing == "long":
        return Grid(float(rng.uniform(24, 48)), 60, (60, 300), (3.0, 1.0))
    if timing == "fine":
        # Finer points are noisier: a p95 over one second holds few requests.
        return Grid(1.0, 1, (1, 10), (4.0, 1.0), after=(12.0, 20.0), history=(15.0, 30.0), noise=2)
    if timing == "rollup":
        base = step if 300 % step == 0 else 10
        return Grid(hours, base, (300,), rollup=True, label_start=bool(rng.random() < 0.5))
    return Grid(hours, step, resolutions)


def rollup(values: np.ndarray, k: int, kind: MetricKind, step: float) -> np.ndarray:
    """Blocks of ``k`` base points as one rollup: p99 of latency, sum of rates, mean otherwise."""
    blocks = values.reshape(-1, k)
    if kind is MetricKind.LATENCY:
        return np.percentile(blocks, 99, axis=1)
    if kind in (MetricKind.ERRORS, MetricKind.TRAFFIC):
        return blocks.sum(axis=1) * step
    return blocks.mean(axis=1)


def crop(series: list[Series], start: float, stop: float) -> list[Series]:
    """Every series cut to ``[start, stop]``; series left without a point are dropped."""
    out = []
    for s in series:
        keep = (s.times >= start) & (s.times <= stop)
        if keep.any():
            out.append(
                Series(s.service, s.name, s.kind, s.times[keep], s.values[keep], unit=s.unit)
            )
    return out


# -- spliced baselines ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Splice:
    """A baseline recorded at another time: per service, how it differs before ``at``."""

    at: float
    traffic: dict[str, float]  # request volume factor
    latency: dict[str, float]
    spread: dict[str, float]  # variance factor
    memory: dict[str, float]  # memory offset, percent points

    def apply(
        self, service: str, name: str, kind: MetricKind, t: np.ndarray, values: np.ndarray
    ) -> np.ndarray:
        """``values`` of one series with the other recording before the splice."""
        if service not in self.traffic:
            return values
        pre = t < self.at
        if not pre.any():
            return values
        out = values.copy()
        part = out[pre]
        volume = self.traffic[service]
        if kind is MetricKind.LATENCY:
            part = part * self.latency[service]
        elif kind in (MetricKind.ERRORS, MetricKind.TRAFFIC):
            part = part * volume
        elif kind is MetricKind.SATURATION and "memory" in name:
            part = part + self.memory[service]
        elif kind is MetricKind.SATURATION:
            part = part * volume**0.7
        level = np.nanmedian(part) if np.isfinite(part).any() else 0.0
        part = level + (part - level) * self.spread[service]
        if kind is MetricKind.SATURATION:
            part = np.clip(part, 0, 100)
        out[pre] = np.maximum(part, 0)
        return out


def draw_splice(rng: np.random.Generator, names: list[str], at: float) -> Splice:
    """Most services (50 to 95%) recorded under other traffic, one estate-wide factor and each
    its own."""
    share = rng.uniform(0.5, 0.95)
    chosen = [n for n in names if rng.random() < share] or names[:1]
    overall = float(np.exp(rng.choice([-1, 1]) * rng.uniform(0.15, 0.5)))
    traffic = {n: overall * float(rng.lognormal(0, 0.1)) for n in chosen}
    return Splice(
        at=at,
        traffic=traffic,
        latency={
            n: traffic[n] ** rng.uniform(0.1, 0.4) * float(rng.lognormal(0, 0.08)) for n in chosen
        },
        spread={n: float(rng.uniform(0.5, 2.0)) for n in chosen},
        memory={n: float(rng.uniform(-12, 12)) for n in chosen},
    )


# -- coverage: who reports what ---------------------------------------------------------------


@dataclass(slots=True)
class Coverage:
    """Which series exist: interface series, client-side edges, pods, counts, silent services."""

    apm: set[str] | None = None  # services with latency/errors/traffic (None: every one)
    clients: set[tuple[str, str]] = field(default_factory=set)  # (caller, callee)
    pods: dict[str, int] = field(default_factory=dict)  # service -> pods of its cpu/memory
    counts: set[str] = field(default_factory=set)  # counts next to rates
    availability: set[str] = field(default_factory=set)
    silent: set[str] = field(default_factory=set)  # no series of their own at all

    def reports(self, service: str, name: str, kind: MetricKind) -> bool:
        """Whether ``service`` has its own series ``name`` (before any split into pods)."""
        if service in self.silent:
            return False
        if self.apm is None or service in self.apm:
            return True
        return kind is MetricKind.SATURATION and any(
            word in name for word in ("cpu", "memory", "connections")
        )


def draw_coverage(
    rng: np.random.Generator, company: Company, shape: Shape, root: str | None
) -> Coverage | None:
    """The coverage of a shape, or None when every series of the standard generator exists.

    Nothing here depends on which service is the root, except that a fault seen only from the
    callers' side keeps at least one caller that watches it.
    """
    own = shape.own_fault
    if not (shape.partial or own in ("caller-only", "silent-external")):
        return None
    kinds = {s.name: s.kind for s in company.services}
    cover = Coverage()
    edge_p: dict[str, float] = {}  # callee kind -> probability of a client-side series
    if shape.partial:
        # Latency and errors from tracing on 10 to 30% of the mid-tier; the edges mostly have
        # them (a load balancer's, at least); half the databases, a third of caches and queues.
        called = {d.callee for d in company.dependencies}
        mid = [n for n, k in kinds.items() if k == "service" and n in called]
        traced = rng.choice(len(mid), size=round(rng.uniform(0.1, 0.3) * len(mid)), replace=False)
        odds = {"database": 0.5, "cache": 0.3, "queue": 0.3, "external": 1.0, "service": 0.7}
        cover.apm = {mid[int(i)] for i in traced} | {
            n for n, k in kinds.items() if n not in mid and rng.random() < odds.get(k, 0.0)
        }
        cover.silent = {n for n, k in kinds.items() if k == "external" and rng.random() < 0.5}
        cover.pods = {
            n: int(rng.integers(2, 5))
            for n, k in kinds.items()
            if k != "external" and rng.random() < 0.3
        }
        # In name order: a set's own order changes with each process's string hashing.
        traced_names = sorted(cover.apm)
        cover.counts = {n for n in traced_names if kinds[n] == "service" and rng.random() < 0.5}
        cover.availability = {
            n for n in traced_names if kinds[n] == "service" and rng.random() < 0.3
        }
        edge_p = dict.fromkeys(("service", "database", "cache", "queue", "external"), 0.7)
    if own == "caller-only":
        p = rng.uniform(0.3, 0.8)
        edge_p = {k: max(edge_p.get(k, 0.0), p) for k in ("service", "database", "cache", "queue")}
        edge_p["external"] = max(edge_p.get("external", 0.0), p)
    if own == "silent-external":
        cover.silent |= {n for n, k in kinds.items() if k == "external"}
        p = rng.uniform(0.0, 0.5)
        edge_p = {k: max(v, p) for k, v in edge_p.items()} or dict.fromkeys(
            ("service", "database", "cache", "queue"), p
        )
        edge_p["external"] = 0.85
    for dep in company.dependencies:
        watched = cover.apm is None or dep.caller in cover.apm
        if watched and rng.random() < edge_p.get(kinds[dep.callee], 0.0):
            cover.clients.add((dep.caller, dep.callee))
    if root is not None and own in ("caller-only", "silent-external"):
        callers = [d.caller for d in company.dependencies if d.callee == root]
        if callers and not any((c, root) in cover.clients for c in callers):
            caller = callers[int(rng.integers(len(callers)))]
            cover.clients.add((caller, root))
            if cover.apm is not None:
                cover.apm.add(caller)
    return cover


def split_pods(
    rng: np.random.Generator, values: np.ndarray, fault: np.ndarray, pods: int
) -> list[np.ndarray]:
    """One series per pod: each its own level and noise, ``fault`` (the part a fault added to
    the service's series) on one or some pods only."""
    hit = np.zeros(pods, dtype=bool)
    count = 1 if rng.random() < 0.5 else int(rng.integers(1, pods + 1))
    hit[rng.choice(pods, size=count, replace=False)] = True
    clean = values - fault
    out = []
    for j in range(pods):
        mine = clean + rng.uniform(-6, 6) + rng.normal(0, 1.5, values.size)
        if hit[j]:
            mine = mine + fault
        out.append(np.clip(mine, 0, 100))
    return out
