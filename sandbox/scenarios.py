"""Incident scenarios on generated companies: telemetry, changes and the truth to grade against.

A fault is injected at one service and travels to its callers with delay and amplification:
callers with more traffic show larger error counts than the cause, services waiting on a slow
dependency fill their worker pools, retries raise the cause's traffic. Around it, the ordinary
life of an estate: daily seasonality, noise (Poisson for error counts), short spikes, benign level
shifts on unrelated services, missing points and gaps, series at 10 s, 1 min and 5 min, and
deploys everywhere, some of them close to the incident on innocent services. A quiet period has
all of that and no fault.

That is the ``standard`` shape. The other shapes of :mod:`sandbox.shapes` change one habit of it
at a time (history, resolution, coverage, spliced baselines, a fault before the fault, faults seen
only from the callers, silent providers, logs naming dependencies), so that a bench measures the
engine on each. Shape-only randomness comes from a second generator, so that ``partial``,
``spliced`` and ``named-in-logs`` are the standard incident of the same seed, shaped.

Whenever the incident has a symptom service with an errors, latency or availability series,
``incident.alert`` names the one that fired; a quiet period's flappy alert names one too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from investigators.bundle import (
    AlertRef,
    Bundle,
    Change,
    ChangeKind,
    Incident,
    LogSample,
    MetricKind,
    Series,
)
from sandbox.company import Company, generate_company
from sandbox.shapes import (
    SHAPE_FAULTS,
    SHAPES,
    Coverage,
    Grid,
    Shape,
    Splice,
    crop,
    draw_coverage,
    draw_splice,
    grid_for,
    shape_of,
)
from sandbox.telemetry import Collector, Signals, or_zero, ramp

__all__ = [
    "FAULT_TYPES",
    "QUIET",
    "SHAPES",
    "SHAPE_FAULTS",
    "Scenario",
    "Truth",
    "generate_scenario",
]

FAULT_TYPES = (
    "bad-deploy",
    "db-saturation",
    "memory-leak",
    "cpu-hog",
    "external-outage",
    "config-change",
)
QUIET = "quiet"
_EPOCH = 1_795_132_800.0  # 2026-11-20T00:00:00Z


@dataclass(frozen=True, slots=True)
class Truth:
    """What really happened, for grading: the faulty service, its team and what it broke."""

    fault: str  # one of FAULT_TYPES, "quiet", or a shape's own fault (SHAPE_FAULTS)
    root: str | None
    team: str | None
    onset: float | None
    affected: tuple[str, ...] = ()
    change_id: str | None = None


@dataclass(slots=True)
class Scenario:
    """A generated incident (or quiet period): the bundle an engine sees and the truth.

    ``extra`` says how it was shaped: ``shape`` and ``traits`` always; ``mode`` (how a code fault
    or a silent provider failed), ``splice_at`` and ``spliced``, ``earlier`` (the fault before
    the fault: ``fault``, ``root``, ``onset``, ``ended``, ``change_id``), ``silent`` (services
    without series), ``pods`` and ``window`` (the cut of a short history) when they apply.
    """

    seed: int
    company: Company
    bundle: Bundle
    truth: Truth
    extra: dict[str, object] = field(default_factory=dict)


def _shift(x: np.ndarray, seconds: float, step: float) -> np.ndarray:
    k = round(seconds / step)
    if k <= 0:
        return x
    return np.concatenate([np.zeros(k), x[:-k]])


def _pick(rng: np.random.Generator, names: list[str]) -> str:
    return names[int(rng.integers(len(names)))]


def _sha(rng: np.random.Generator) -> str:
    return "".join(rng.choice(list("0123456789abcdef"), size=7))


_AUTHORS = ("octocat", "mona", "hubot", "alice-dev", "bkim", "cnguyen", "dpatel", "elena-r")
_TITLES = (
    "Bump dependencies",
    "Refactor request validation",
    "Add metrics for cache misses",
    "Tune retry budget",
    "Fix typo in error message",
    "Upgrade base image",
    "Feature: saved carts",
    "Remove dead feature flag",
    "Improve logging of slow queries",
)


class _Builder:
    """Builds one scenario; a class only to keep the many shared arrays in one place."""

    def __init__(
        self,
        *,
        seed: int,
        size: int,
        asked: str,
        fault: str,
        grid: Grid,
        shape: Shape,
        xrng: np.random.Generator,
        company: Company | None,
    ) -> None:
        # Each fault type on a seed gets its own company and its own draw of everything else.
        self.rng = np.random.default_rng([seed, (*FAULT_TYPES, QUIET).index(asked)])
        self.xrng = xrng  # what only a shape draws, so the standard draws stay as they were
        self.seed = seed
        self.company = company or generate_company(self.rng, size)
        self.fault = fault
        self.grid = grid
        self.shape = shape
        step = grid.step
        self.step = float(step)
        after = float(self.rng.uniform(*grid.after)) * 60
        n = int(grid.hours * 3600 / step)
        block = int(max(grid.resolutions) // step)
        n -= n % block
        self.end = _EPOCH + 300 * round(float(self.rng.uniform(8, 20)) * 12)
        self.t = self.end - (n - np.arange(n)) * self.step
        self.onset = self.end - after
        self.kinds = {s.name: s.kind for s in self.company.services}
        self.teams = {s.name: s.team for s in self.company.services}
        self.callers = self.company.callers()
        self.changes: list[Change] = []
        self.logs: list[LogSample] = []
        self.extra: dict[str, object] = {"shape": shape.name, "traits": shape.traits()}
        self.coverage: Coverage | None = None
        self.splice: Splice | None = None

    # -- the estate at rest ------------------------------------------------------------------

    def baseline(self) -> dict[str, Signals]:
        rng, t = self.rng, self.t
        day = 2 * np.pi * ((t % 86400) / 86400.0)
        signals: dict[str, Signals] = {}
        for svc in self.company.services:  # callees first
            amp = rng.uniform(0.15, 0.4)
            season = 1 + amp * np.sin(day - 2.0 + rng.normal(0, 0.3))
            own = {
                "database": rng.uniform(1, 8),
                "cache": rng.uniform(0.3, 2),
                "queue": rng.uniform(2, 10),
                "external": rng.uniform(80, 400),
            }.get(svc.kind, rng.uniform(5, 60))
            latency = own + 0.5 * sum(signals[d].latency for d in svc.depends_on)
            zeros = np.zeros_like(t)
            signals[svc.name] = Signals(
                traffic=self.company.traffic[svc.name] * season,
                latency=float(latency),
                err_frac=float(rng.uniform(0.0005, 0.01)),
                d_err=zeros.copy(),
                d_lat=zeros.copy(),
                d_pool=zeros.copy(),
                cpu=zeros.copy(),
            )
        return signals

    # -- the fault ---------------------------------------------------------------------------

    def pick_root(self) -> str:
        if self.fault in SHAPE_FAULTS["caller-only"]:
            # A network fault can be on any node that is called: a host, a database, a cache.
            kinds = ("service", "database", "cache", "queue")
            wanted = kinds[int(self.rng.choice(4, p=[0.6, 0.25, 0.1, 0.05]))]
        else:
            wanted = {
                "db-saturation": "database",
                "external-outage": "external",
                "external-silent": "external",
            }.get(self.fault, "service")
        pool = [s.name for s in self.company.services if s.kind == wanted]
        with_callers = [n for n in pool if self.callers[n]]
        if self.fault in (*SHAPE_FAULTS["caller-only"], "code-fault"):
            # Seen only (or mostly) from the callers: a root nobody calls would show nothing.
            return _pick(self.rng, with_callers or [s.name for s in self.company.services])
        if wanted == "service" and with_callers and self.rng.random() < 0.9:
            pool = with_callers
        return pool[int(self.rng.integers(len(pool)))]

    def inject(
        self,
        root: str,
        sig: dict[str, Signals],
        *,
        fault: str | None = None,
        onset: float | None = None,
    ) -> str | None:
        """Apply the fault to the root; return the id of the change behind it, if any."""
        rng, t, s = self.rng, self.t, sig[root]
        f = fault or self.fault
        onset = self.onset if onset is None else onset
        on = ramp(t, onset, rng.uniform(30, 150))
        change_id: str | None = None
        if f == "bad-deploy":
            s.d_err += rng.uniform(0.03, 0.35) * on
            s.d_lat += s.latency * rng.uniform(0, 0.8) * on
            s.cpu += rng.uniform(0, 10) * on
            change_id = self.change(root, ChangeKind.DEPLOY, onset - rng.uniform(30, 300))
        elif f == "config-change":
            if rng.random() < 0.5:
                s.d_err += rng.uniform(0.03, 0.3) * on
            else:
                s.d_lat += s.latency * rng.uniform(1, 6) * on
                s.d_pool += rng.uniform(10, 40) * on
            kind = ChangeKind.CONFIG if rng.random() < 0.7 else ChangeKind.FEATURE_FLAG
            change_id = self.change(root, kind, onset - rng.uniform(10, 200))
        elif f == "db-saturation":
            base = rng.uniform(20, 60)
            s.conns = base + (rng.uniform(97, 100) - base) * ramp(t, onset, rng.uniform(60, 300))
            s.d_lat += s.latency * rng.uniform(3, 20) * on
            s.d_err += rng.uniform(0.01, 0.2) * on
            s.cpu += rng.uniform(10, 40) * on
        elif f == "memory-leak":
            leak = rng.uniform(30, 120) * 60
            base = rng.uniform(30, 55)
            mem = base + (rng.uniform(92, 99) - base) * ramp(t, onset - leak, leak)
            after = t >= onset
            period = rng.uniform(180, 420)  # OOM kill, restart, leak again, faster under load
            phase = ((t - onset) % period) / period
            mem = np.where(after, base + (95 - base) * phase, mem)
            s.memory = mem
            gc = ramp(t, onset - 300, 300)
            s.d_lat += s.latency * rng.uniform(1.5, 5) * gc
            restarts = after & (phase < 0.15)
            s.d_err += rng.uniform(0.02, 0.1) * on + rng.uniform(0.1, 0.4) * restarts
            if rng.random() < 0.6:
                change_id = self.change(
                    root, ChangeKind.DEPLOY, onset - leak - rng.uniform(0, 1800)
                )
        elif f == "cpu-hog":
            s.cpu += rng.uniform(50, 70) * on
            s.d_lat += s.latency * rng.uniform(1, 6) * on
            s.d_err += rng.uniform(0, 0.03) * on
        elif f in ("external-outage", "external-silent"):
            mode = rng.integers(3)
            if mode != 1:
                s.d_lat += s.latency * rng.uniform(2, 30) * on
            if mode != 0:
                s.d_err += rng.uniform(0.2, 0.9) * on
            if f == "external-silent":
                self.extra["mode"] = ("slow", "failing", "slow and failing")[int(mode)]
        elif f in ("network-delay", "packet-loss"):
            # On the wire: callers wait and retry; the root's own server side barely notices.
            wire = ramp(t, onset, rng.uniform(10, 90))
            if f == "network-delay":
                s.wire_lat = rng.uniform(80, 1500) * wire
                s.wire_err = rng.uniform(0, 0.03) * wire
            else:
                s.wire_err = rng.uniform(0.03, 0.3) * wire
                s.wire_lat = rng.uniform(20, 300) * wire  # retransmits
                s.traffic = s.traffic * (1 - 0.5 * float(s.wire_err.max()) * wire)
            s.d_lat += s.latency * rng.uniform(0, 0.1) * wire
        elif f == "code-fault":
            # An exception fails the root's requests; a wrong return value fails its callers.
            if rng.random() < 0.6:
                self.extra["mode"] = "exception"
                s.d_err += rng.uniform(0.05, 0.6) * on
            else:
                self.extra["mode"] = "wrong-value"
                s.wire_err = rng.uniform(0.05, 0.5) * on
            s.cpu += rng.uniform(0, 2) * on
            if rng.random() < 0.6:  # a release, or a latent bug that some data set off
                change_id = self.change(root, ChangeKind.DEPLOY, onset - rng.uniform(30, 900))
        else:
            known = (*FAULT_TYPES, *(f for fs in SHAPE_FAULTS.values() for f in fs))
            raise ValueError(f"unknown fault type {f!r} (one of {', '.join(known)})")
        return change_id

    def propagate(self, sig: dict[str, Signals]) -> None:
        """Carry every node's trouble to its callers, in topological order (callees first)."""
        rng = self.rng
        for svc in self.company.services:
            s = sig[svc.name]
            wired = s.wire_err is not None or s.wire_lat is not None
            if not (s.d_err.any() or s.d_lat.any() or wired):
                continue
            seen_err, seen_lat = s.d_err, s.d_lat
            if wired:  # what the callers see: the service's own trouble and the wire's
                seen_err = np.minimum(seen_err + or_zero(s.wire_err), 1)
                seen_lat = seen_lat + or_zero(s.wire_lat)
            # Retries from callers land on the service itself.
            s.traffic = s.traffic * (1 + rng.uniform(0.1, 0.6) * np.minimum(seen_err, 1))
            for dep in self.callers[svc.name]:
                c = sig[dep.caller]
                err = _shift(seen_err, dep.delay, self.step)
                lat = _shift(seen_lat, dep.delay, self.step)
                timeout = 20 * c.latency + 200
                c.d_err += dep.criticality * (
                    np.minimum(err * rng.uniform(1, 1.6), 1) + 0.6 * np.clip(lat / timeout, 0, 1)
                )
                c.d_lat += dep.criticality * dep.calls * 0.8 * lat
                c.d_pool += np.clip(40 * lat / (c.latency + lat + 1e-9), 0, 60) * dep.criticality
            # Errors cap at every request failing.
        for s in sig.values():
            np.minimum(s.d_err, 0.98, out=s.d_err)

    # -- everyday noise ----------------------------------------------------------------------

    def background_changes(self, affected: list[str], root: str | None) -> None:
        rng = self.rng
        names = [s.name for s in self.company.services if s.kind == "service"]
        span = self.t[-1] - self.t[0]
        count = rng.poisson(len(names) * span / 3600 * 0.03)
        for _ in range(count):
            name = names[int(rng.integers(len(names)))]
            at = self.t[0] + rng.uniform(0, span)
            kind = rng.choice(
                [ChangeKind.DEPLOY] * 6 + [ChangeKind.CONFIG, ChangeKind.FEATURE_FLAG]
            )
            self.change(name, ChangeKind(kind), at)
        victims = [a for a in affected if a != root and self.kinds[a] == "service"]
        if victims and rng.random() < 0.5:  # a deploy on a symptom just before the onset
            self.change(
                victims[int(rng.integers(len(victims)))],
                ChangeKind.DEPLOY,
                self.onset - rng.uniform(0, 900),
            )
        healthy = [n for n in names if n not in affected]
        if healthy and rng.random() < 0.6:  # and one on an innocent bystander
            self.change(
                healthy[int(rng.integers(len(healthy)))],
                ChangeKind.DEPLOY,
                self.onset + rng.uniform(-600, 300),
            )

    def change(self, service: str, kind: ChangeKind, at: float) -> str:
        sha = _sha(self.rng)
        title = _TITLES[int(self.rng.integers(len(_TITLES)))]
        if kind is ChangeKind.CONFIG:
            title = (
                f"Update {service} config: {self.rng.choice(['pool size', 'timeouts', 'limits'])}"
            )
        elif kind is ChangeKind.FEATURE_FLAG:
            title = f"Enable flag {service}-{self.rng.choice(['new-pricing', 'fast-path', 'v2'])}"
        self.changes.append(
            Change(
                service=service,
                kind=kind,
                at=float(at),
                id=sha,
                title=title,
                author=_AUTHORS[int(self.rng.integers(len(_AUTHORS)))],
                url=f"https://github.com/acme/{service}/commit/{sha}",
            )
        )
        return sha

    # -- logs --------------------------------------------------------------------------------

    def log_samples(self, root: str | None, affected: list[str]) -> None:
        if root is not None:
            at = self.onset + 30
            source = self.fault_log(self.fault, root, at)
            for victim in affected[:3]:
                if victim != root and victim != source:
                    self.logs.append(
                        LogSample(victim, at + 60, "error", "upstream request failed: 503")
                    )

    def fault_log(self, fault: str, root: str, at: float) -> str:
        """The line a fault typically leaves, logged by the root or, when only the callers see
        it, by one of them; returns who logged it."""
        template = _FAULT_LOGS[fault]
        seen_by_callers = fault in SHAPE_FAULTS["caller-only"]
        if fault == "code-fault" and self.extra.get("mode") == "wrong-value":
            template, seen_by_callers = _WRONG_VALUE_LOG, True
        text = template.format(svc=root, sha=_sha(self.rng))
        source = root
        if self.kinds[root] in ("database", "external") or seen_by_callers:
            callers = [d.caller for d in self.callers[root]]
            source = callers[0] if callers else root
            if self.kinds[root] == "database" and "{svc}" not in template:
                text = f"{root}: {text}"
        self.logs.append(LogSample(source, at, "error", text))
        return source

    def dependency_logs(self, root: str | None, affected: list[str]) -> None:
        """Callers naming the dependency they wait on, hop by hop after the onset; and, less
        often, any service blaming a healthy dependency, at any time."""
        rng, t, deps = self.xrng, self.t, self.company.dependencies
        hit = set(affected)
        named_root = False
        for dep in deps:
            if dep.caller not in hit or dep.callee not in hit:
                continue
            if rng.random() < 0.3:  # not every caller logs what it waits on
                continue
            for _ in range(int(rng.integers(1, 4))):
                at = self.onset + dep.delay + rng.uniform(20, 900)
                if at < t[-1]:
                    self.logs.append(_dependency_log(rng, dep.caller, dep.callee, at))
                    named_root |= dep.callee == root
        if root is not None and not named_root and self.callers[root]:
            dep = max(self.callers[root], key=lambda d: d.criticality)
            at = min(self.onset + dep.delay + rng.uniform(20, 300), float(t[-1]))
            self.logs.append(_dependency_log(rng, dep.caller, dep.callee, at))
        healthy = [d for d in deps if d.callee not in hit]
        if root is not None and rng.random() < 0.3:  # the root blames one of its own
            mine = [d for d in healthy if d.caller == root]
            if mine:
                dep = mine[int(rng.integers(len(mine)))]
                at = self.onset + rng.uniform(30, 600)
                self.logs.append(_dependency_log(rng, root, dep.callee, min(at, float(t[-1]))))
        for _ in range(1 + int(rng.poisson(max(1.0, 0.03 * len(self.company.services))))):
            if healthy:
                dep = healthy[int(rng.integers(len(healthy)))]
                at = float(rng.uniform(t[0], t[-1]))
                self.logs.append(_dependency_log(rng, dep.caller, dep.callee, at, level="warn"))

    # -- shapes of the world -----------------------------------------------------------------

    def splice_baseline(self, sig: dict[str, Signals]) -> None:
        """Record the history before a splice point at another time: none of this incident's
        precursors before it, other traffic on most services."""
        rng, t = self.xrng, self.t
        at = float(np.floor((self.onset - rng.uniform(6, 25) * 60) / 300) * 300)
        if at < t[0] + 600:
            return  # too little history to splice
        self.splice = draw_splice(rng, list(sig), at)
        pre = t < at
        for s in sig.values():
            for arr in (s.d_err, s.d_lat, s.d_pool, s.cpu, s.wire_err, s.wire_lat):
                if arr is not None:
                    arr[pre] = 0
            if s.memory is not None:
                s.memory = np.where(pre, s.memory.min(), s.memory)
            if s.conns is not None:
                s.conns = np.where(pre, s.conns.min(), s.conns)
        self.extra["splice_at"] = at
        self.extra["spliced"] = tuple(sorted(self.splice.traffic))

    def earlier_fault(self, sig: dict[str, Signals], root: str | None, affected: list[str]) -> None:
        """An unrelated fault on another service that ended 4 to 20 minutes before the onset,
        with its recovery tail; reverted, when a change caused it."""
        rng, t = self.rng, self.t
        fault = FAULT_TYPES[int(rng.integers(len(FAULT_TYPES)))]
        related = set(affected) | ({root} | self.below(root) if root else set())

        def pool_of(kind: str) -> list[str]:
            return [
                s.name
                for s in self.company.services
                if s.kind == kind and s.name not in related and self.callers[s.name]
            ]

        pool = pool_of(
            {"db-saturation": "database", "external-outage": "external"}.get(fault, "service")
        )
        if not pool:
            fault, pool = "cpu-hog", pool_of("service")
        if not pool:
            return
        culprit = _pick(rng, pool)
        tail = rng.uniform(2, 6) * 60
        ended = self.onset - rng.uniform(4, 20) * 60 - tail
        onset = max(ended - rng.uniform(15, 60) * 60, float(t[0]) + 600)
        if ended - onset < 300:
            return  # no room in this history
        early = {
            n: Signals(
                traffic=s.traffic,
                latency=s.latency,
                err_frac=s.err_frac,
                d_err=np.zeros_like(t),
                d_lat=np.zeros_like(t),
                d_pool=np.zeros_like(t),
                cpu=np.zeros_like(t),
            )
            for n, s in sig.items()
        }
        change_id = self.inject(culprit, early, fault=fault, onset=onset)
        fade = 1 - ramp(t, ended, tail)
        e = early[culprit]
        for arr in (e.d_err, e.d_lat, e.d_pool, e.cpu):
            arr *= fade
        if e.memory is not None:
            e.memory = e.memory * fade + e.memory.min() * (1 - fade)
        if e.conns is not None:
            e.conns = e.conns * fade + e.conns.min() * (1 - fade)
        self.propagate(early)
        for n, s in sig.items():
            x = early[n]
            s.d_err = np.minimum(s.d_err + x.d_err, 0.98)
            s.d_lat = s.d_lat + x.d_lat
            s.d_pool = s.d_pool + x.d_pool
            s.cpu = s.cpu + x.cpu
            s.traffic = x.traffic
            s.memory = x.memory if x.memory is not None else s.memory
            s.conns = x.conns if x.conns is not None else s.conns
        if change_id is not None:
            sha = _sha(rng)
            self.changes.append(
                Change(
                    service=culprit,
                    kind=ChangeKind.DEPLOY,
                    at=float(ended - rng.uniform(0, 120)),
                    id=sha,
                    title=f"Revert {change_id}",
                    author=_AUTHORS[int(rng.integers(len(_AUTHORS)))],
                    url=f"https://github.com/acme/{culprit}/commit/{sha}",
                )
            )
        self.fault_log(fault, culprit, onset + 30)
        self.extra["earlier"] = {
            "fault": fault,
            "root": culprit,
            "onset": onset,
            "ended": ended + tail,
            "change_id": change_id,
        }

    def below(self, name: str) -> set[str]:
        """Everything ``name`` depends on, directly or not."""
        needs = {s.name: s.depends_on for s in self.company.services}
        seen: set[str] = set()
        todo = list(needs[name])
        while todo:
            n = todo.pop()
            if n not in seen:
                seen.add(n)
                todo.extend(needs[n])
        return seen


_FAULT_LOGS = {
    "bad-deploy": "NullPointerException in {svc}.RequestHandler.apply (build {sha})",
    "config-change": "invalid configuration value for upstream timeout: 0ms",
    "db-saturation": "pq: sorry, too many clients already",
    "memory-leak": "container {svc} OOMKilled: memory limit 2Gi exceeded, restarting",
    "cpu-hog": "request deadline exceeded after 2000ms (cpu throttled)",
    "external-outage": "{svc}: 503 Service Unavailable from upstream provider",
    "external-silent": "{svc}: 503 Service Unavailable from upstream provider",
    "network-delay": "context deadline exceeded after 2000ms calling {svc}",
    "packet-loss": "read tcp: connection reset by peer (calling {svc})",
    "code-fault": "TypeError: 'NoneType' object is not subscriptable in {svc}.handlers.quote",
}
_WRONG_VALUE_LOG = "invalid response from {svc}: missing required field 'total'"
_WAITING_LOGS = (
    "deadline exceeded waiting for {dep}",
    "timeout calling {dep} after {ms}ms",
    "upstream {dep} returned 503 Service Unavailable",
    "circuit breaker open for {dep} after {k} consecutive failures",
    "failed to call {dep}: context deadline exceeded",
    "connection reset by peer while reading from {dep}",
    "retrying request to {dep} (attempt {k} of 3)",
)


def _dependency_log(
    rng: np.random.Generator, caller: str, callee: str, at: float, *, level: str = "error"
) -> LogSample:
    template = _WAITING_LOGS[int(rng.integers(len(_WAITING_LOGS)))]
    text = template.format(dep=callee, ms=int(rng.integers(500, 30000)), k=int(rng.integers(2, 9)))
    return LogSample(caller, float(at), level, text)


def generate_scenario(
    *,
    seed: int,
    services: int = 60,
    fault: str | None = "random",
    hours: float = 6.0,
    step: int = 10,
    resolutions: tuple[int, ...] = (10, 60, 300),
    company: Company | None = None,
    shape: str = "standard",
) -> Scenario:
    """One incident of ``fault`` ("random", a type of FAULT_TYPES, or None for a quiet period),
    its telemetry shaped as ``shape`` (one of SHAPES, see :mod:`sandbox.shapes`).

    ``short-history``, ``long-history`` and ``fine`` set their own history, step and
    resolutions, ``rollup-5m`` its step and resolution; the other shapes use the arguments.
    ``caller-only``, ``code-fault`` and ``silent-external`` replace the fault type asked for by
    their own (``Truth.fault``), and keep a quiet period quiet.
    """
    rng = np.random.default_rng([seed, 7])
    kind = fault or QUIET
    if kind == "random":
        kind = FAULT_TYPES[int(rng.integers(len(FAULT_TYPES)))]
    if kind not in (*FAULT_TYPES, QUIET):
        raise ValueError(f"unknown fault type {fault!r}: use one of {', '.join(FAULT_TYPES)}")
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}: use one of {', '.join(SHAPES)}")
    xrng = np.random.default_rng([seed, 11, (*FAULT_TYPES, QUIET).index(kind), SHAPES.index(shape)])
    traits = shape_of(shape, xrng)
    grid = grid_for(traits.timing, xrng, hours=hours, step=step, resolutions=resolutions)
    actual = kind
    if traits.own_fault is not None and kind != QUIET:
        own = SHAPE_FAULTS[traits.own_fault]
        actual = own[int(xrng.integers(len(own)))]
    b = _Builder(
        seed=seed,
        size=services,
        asked=kind,
        fault=actual,
        grid=grid,
        shape=traits,
        xrng=xrng,
        company=company,
    )
    sig = b.baseline()
    root: str | None = None
    change_id: str | None = None
    if kind != QUIET:
        root = b.pick_root()
        change_id = b.inject(root, sig)
        b.propagate(sig)
    if traits.spliced:
        b.splice_baseline(sig)
    affected = sorted(
        (
            n
            for n, s in sig.items()
            if s.d_err.max() > 0.01 or s.d_lat.max() > 0.3 * s.latency or n == root
        ),
        key=lambda n: -float(sig[n].d_err.max()),
    )
    if traits.back_to_back:
        b.earlier_fault(sig, root, affected)
    b.coverage = draw_coverage(xrng, b.company, traits, root)
    b.background_changes(affected, root)
    metrics = Collector(
        company=b.company,
        t=b.t,
        onset=b.onset,
        grid=grid,
        rng=b.rng,
        xrng=xrng,
        splice=b.splice,
        coverage=b.coverage,
    ).observe(sig)
    b.log_samples(root, affected)
    detected = b.onset + float(b.rng.uniform(-4, 10)) * 60
    symptoms: tuple[str, ...] = ()
    if root is not None and b.rng.random() > 0.15:
        edges = [n for n in affected if not b.callers[n]]
        pick = root if b.rng.random() < 0.1 else (edges[0] if edges else affected[0])
        symptoms = (pick,)
    elif root is None and b.rng.random() < 0.5:  # a flappy alert on a healthy service
        names = [s.name for s in b.company.services]
        symptoms = (names[int(b.rng.integers(len(names)))],)
    if traits.named_logs:
        b.dependency_logs(root, affected)
        b.logs.sort(key=lambda entry: entry.timestamp)
    if grid.history is not None:
        # At least two minutes before the onset: a fault already under way when the data begins
        # is one no engine could date, and its incident would measure nothing.
        start = min(detected - xrng.uniform(*grid.history) * 60, b.onset - 120)
        stop = float(b.t[-1])
        if grid.tail is not None:
            stop = min(stop, max(detected, b.onset) + xrng.uniform(*grid.tail) * 60)
        metrics = crop(metrics, start, stop)
        b.extra["window"] = (start, stop)
    if b.coverage is not None:
        b.extra["silent"] = tuple(sorted(b.coverage.silent))
        b.extra["pods"] = dict(b.coverage.pods)
    incident = Incident(
        id=f"INC-{seed}",
        title=f"{symptoms[0] if symptoms else 'service'} errors" if root else "flappy alert",
        started_at=float(round(detected)),
        symptom_services=symptoms,
        alert=_alert(xrng, sig, metrics, symptoms, since=b.t >= b.onset - 300, faulty=bool(root)),
    )
    bundle = Bundle(
        incident=incident,
        services=list(b.company.services),
        metrics=metrics,
        log_samples=b.logs,
        changes=sorted(b.changes, key=lambda c: c.at),
    )
    truth = Truth(
        fault=actual,
        root=root,
        team=b.teams[root] if root else None,
        onset=b.onset if root else None,
        affected=tuple(affected),
        change_id=change_id,
    )
    return Scenario(seed=seed, company=b.company, bundle=bundle, truth=truth, extra=b.extra)


_INTERFACE = (MetricKind.ERRORS, MetricKind.LATENCY, MetricKind.AVAILABILITY)


def _alert(
    rng: np.random.Generator,
    sig: dict[str, Signals],
    metrics: list[Series],
    symptoms: tuple[str, ...],
    *,
    since: np.ndarray,
    faulty: bool,
) -> AlertRef | None:
    """The series whose alert fired: on the symptom service, an errors, latency or
    availability series, of the kind that went wrong there (``since`` the onset, not in an
    earlier fault); None when it has none."""
    if not symptoms:
        return None
    where = symptoms[0]
    own = [m for m in metrics if m.service == where and m.kind in _INTERFACE]
    pool = [m for m in own if not m.name.startswith("client.")] or own
    if not pool:
        return None
    s = sig[where]
    wanted: list[MetricKind] = []
    if faulty and s.d_err[since].max() >= 0.02:
        wanted += [MetricKind.ERRORS, MetricKind.AVAILABILITY]
    if faulty and s.d_lat[since].max() >= 0.5 * s.latency:
        wanted.append(MetricKind.LATENCY)
    pool = [m for m in pool if m.kind in wanted] or pool
    fired = pool[int(rng.integers(len(pool)))]
    return AlertRef(where, fired.name)
