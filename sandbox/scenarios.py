"""Incident scenarios on generated companies: telemetry, changes and the truth to grade against.

A fault is injected at one service and travels to its callers with delay and amplification:
callers with more traffic show larger error counts than the cause, services waiting on a slow
dependency fill their worker pools, retries raise the cause's traffic. Around it, the ordinary
life of an estate: daily seasonality, noise (Poisson for error counts), short spikes, benign level
shifts on unrelated services, missing points and gaps, series at 10 s, 1 min and 5 min, and
deploys everywhere, some of them close to the incident on innocent services. A quiet period has
all of that and no fault.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from investigators.bundle import (
    Bundle,
    Change,
    ChangeKind,
    Incident,
    LogSample,
    MetricKind,
    Series,
)
from sandbox.company import Company, generate_company

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

    fault: str  # one of FAULT_TYPES, or "quiet"
    root: str | None
    team: str | None
    onset: float | None
    affected: tuple[str, ...] = ()
    change_id: str | None = None


@dataclass(slots=True)
class Scenario:
    """A generated incident (or quiet period): the bundle an engine sees and the truth."""

    seed: int
    company: Company
    bundle: Bundle
    truth: Truth
    extra: dict[str, object] = field(default_factory=dict)


@dataclass(slots=True)
class _Signals:
    """One node's latent state on the base grid."""

    traffic: np.ndarray
    latency: float  # baseline, ms
    err_frac: float  # baseline error fraction
    d_err: np.ndarray  # added error fraction
    d_lat: np.ndarray  # added latency, ms
    d_pool: np.ndarray  # added pool utilisation, percent points
    cpu: np.ndarray  # added cpu, percent points
    memory: np.ndarray | None = None  # absolute memory percent when a fault drives it
    conns: np.ndarray | None = None  # absolute connection use percent when a fault drives it


def _ramp(t: np.ndarray, start: float, length: float) -> np.ndarray:
    return np.clip((t - start) / max(length, 1.0), 0.0, 1.0)


def _shift(x: np.ndarray, seconds: float, step: float) -> np.ndarray:
    k = round(seconds / step)
    if k <= 0:
        return x
    return np.concatenate([np.zeros(k), x[:-k]])


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
        fault: str,
        hours: float,
        step: int,
        resolutions: tuple[int, ...],
        company: Company | None,
    ) -> None:
        # Each fault type on a seed gets its own company and its own draw of everything else.
        self.rng = np.random.default_rng([seed, (*FAULT_TYPES, QUIET).index(fault)])
        self.seed = seed
        self.company = company or generate_company(self.rng, size)
        self.fault = fault
        self.step = float(step)
        self.resolutions = resolutions
        after = float(self.rng.uniform(30, 45)) * 60
        n = int(hours * 3600 / step)
        block = int(max(resolutions) // step)
        n -= n % block
        self.end = _EPOCH + 300 * round(float(self.rng.uniform(8, 20)) * 12)
        self.t = self.end - (n - np.arange(n)) * self.step
        self.onset = self.end - after
        self.kinds = {s.name: s.kind for s in self.company.services}
        self.teams = {s.name: s.team for s in self.company.services}
        self.callers = self.company.callers()
        self.changes: list[Change] = []
        self.logs: list[LogSample] = []

    # -- the estate at rest ------------------------------------------------------------------

    def baseline(self) -> dict[str, _Signals]:
        rng, t = self.rng, self.t
        day = 2 * np.pi * ((t % 86400) / 86400.0)
        signals: dict[str, _Signals] = {}
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
            signals[svc.name] = _Signals(
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
        wanted = {"db-saturation": "database", "external-outage": "external"}.get(
            self.fault, "service"
        )
        pool = [s.name for s in self.company.services if s.kind == wanted]
        with_callers = [n for n in pool if self.callers[n]]
        if wanted == "service" and with_callers and self.rng.random() < 0.9:
            pool = with_callers
        return pool[int(self.rng.integers(len(pool)))]

    def inject(self, root: str, sig: dict[str, _Signals]) -> str | None:
        """Apply the fault to the root; return the id of the change behind it, if any."""
        rng, t, s = self.rng, self.t, sig[root]
        onset, f = self.onset, self.fault
        on = _ramp(t, onset, rng.uniform(30, 150))
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
            s.conns = base + (rng.uniform(97, 100) - base) * _ramp(t, onset, rng.uniform(60, 300))
            s.d_lat += s.latency * rng.uniform(3, 20) * on
            s.d_err += rng.uniform(0.01, 0.2) * on
            s.cpu += rng.uniform(10, 40) * on
        elif f == "memory-leak":
            leak = rng.uniform(30, 120) * 60
            base = rng.uniform(30, 55)
            mem = base + (rng.uniform(92, 99) - base) * _ramp(t, onset - leak, leak)
            after = t >= onset
            period = rng.uniform(180, 420)  # OOM kill, restart, leak again, faster under load
            phase = ((t - onset) % period) / period
            mem = np.where(after, base + (95 - base) * phase, mem)
            s.memory = mem
            gc = _ramp(t, onset - 300, 300)
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
        elif f == "external-outage":
            mode = rng.integers(3)
            if mode != 1:
                s.d_lat += s.latency * rng.uniform(2, 30) * on
            if mode != 0:
                s.d_err += rng.uniform(0.2, 0.9) * on
        else:
            raise ValueError(f"unknown fault type {f!r} (one of {', '.join(FAULT_TYPES)})")
        return change_id

    def propagate(self, sig: dict[str, _Signals]) -> None:
        """Carry every node's trouble to its callers, in topological order (callees first)."""
        rng = self.rng
        for svc in self.company.services:
            s = sig[svc.name]
            if not (s.d_err.any() or s.d_lat.any()):
                continue
            # Retries from callers land on the service itself.
            s.traffic = s.traffic * (1 + rng.uniform(0.1, 0.6) * np.minimum(s.d_err, 1))
            for dep in self.callers[svc.name]:
                c = sig[dep.caller]
                err = _shift(s.d_err, dep.delay, self.step)
                lat = _shift(s.d_lat, dep.delay, self.step)
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

    # -- observation -------------------------------------------------------------------------

    def observe(self, sig: dict[str, _Signals]) -> list[Series]:
        rng, t = self.rng, self.t
        out: list[Series] = []
        shifted = set()
        quiet_names = [n for n in sig if not sig[n].d_err.any() and not sig[n].d_lat.any()]
        if quiet_names and rng.random() < 0.45:
            count = int(rng.integers(1, 4))
            shifted = set(rng.choice(quiet_names, size=min(count, len(quiet_names)), replace=False))
        for svc in self.company.services:
            s = sig[svc.name]
            noise = rng.uniform(0.03, 0.12)
            traffic = s.traffic * rng.lognormal(0, noise, t.size)
            lat = (s.latency + s.d_lat) * rng.lognormal(0, noise * 1.5, t.size)
            lat *= 1 + 0.15 * (s.traffic / s.traffic.mean() - 1)
            err_rate = traffic * np.clip(s.err_frac + s.d_err, 0, 1)
            errors = rng.poisson(err_rate * self.step) / self.step
            load = s.traffic / s.traffic.mean()
            cpu = np.clip(rng.uniform(10, 45) * load + s.cpu + rng.normal(0, 2, t.size), 0, 100)
            mem_base = rng.uniform(30, 60) + np.cumsum(rng.normal(0, 0.02, t.size))
            memory = s.memory if s.memory is not None else mem_base
            memory = np.clip(memory + rng.normal(0, 0.7, t.size), 0, 100)
            raw: list[tuple[str, MetricKind, str, np.ndarray]]
            if svc.kind == "database":
                conns = s.conns if s.conns is not None else rng.uniform(20, 60) * load**0.5
                raw = [
                    ("postgresql.queries.duration.p95", MetricKind.LATENCY, "ms", lat),
                    (
                        "postgresql.percent_usage_connections",
                        MetricKind.SATURATION,
                        "percent",
                        np.clip(conns + rng.normal(0, 1.5, t.size), 0, 100),
                    ),
                    ("postgresql.cpu", MetricKind.SATURATION, "percent", cpu),
                    ("postgresql.errors", MetricKind.ERRORS, "1/s", errors),
                    ("postgresql.queries", MetricKind.TRAFFIC, "1/s", traffic),
                ]
            elif svc.kind == "external":
                raw = [
                    ("trace.http.client.duration.p95", MetricKind.LATENCY, "ms", lat),
                    ("trace.http.client.errors", MetricKind.ERRORS, "1/s", errors),
                ]
            elif svc.kind in ("cache", "queue"):
                raw = [
                    (f"{svc.kind}.latency.p95", MetricKind.LATENCY, "ms", lat),
                    (f"{svc.kind}.ops", MetricKind.TRAFFIC, "1/s", traffic),
                    (f"{svc.kind}.cpu", MetricKind.SATURATION, "percent", cpu),
                    (f"{svc.kind}.memory", MetricKind.SATURATION, "percent", memory),
                ]
            else:
                pool = np.clip(
                    rng.uniform(10, 40) * load + s.d_pool + rng.normal(0, 2, t.size), 0, 100
                )
                raw = [
                    ("trace.http.request.duration.p95", MetricKind.LATENCY, "ms", lat),
                    ("trace.http.request.errors", MetricKind.ERRORS, "1/s", errors),
                    ("trace.http.request.hits", MetricKind.TRAFFIC, "1/s", traffic),
                    ("system.cpu.user", MetricKind.SATURATION, "percent", cpu),
                    ("container.memory.usage_pct", MetricKind.SATURATION, "percent", memory),
                    ("runtime.worker_pool.utilization", MetricKind.SATURATION, "percent", pool),
                ]
            for name, kind, unit, values in raw:
                values = np.asarray(values, dtype=np.float64)
                if svc.name in shifted and rng.random() < 0.5:
                    values = self.benign_shift(values, kind)
                series = self.sample(svc.name, name, kind, unit, values)
                if series is not None:
                    out.append(series)
        return out

    def benign_shift(self, values: np.ndarray, kind: MetricKind) -> np.ndarray:
        """A real but harmless change: a batch job, a marketing push, a cache warm-up."""
        start = self.onset + self.rng.uniform(-1800, 600)
        on = _ramp(self.t, start, self.rng.uniform(30, 300))
        factor = self.rng.uniform(1.3, 2.0)
        if kind is MetricKind.SATURATION:
            return np.clip(values + on * self.rng.uniform(10, 30), 0, 100)
        return values * (1 + (factor - 1) * on)

    def sample(
        self, service: str, name: str, kind: MetricKind, unit: str, values: np.ndarray
    ) -> Series | None:
        rng = self.rng
        if rng.random() < 0.03:
            return None  # this series is simply not collected
        values = values.copy()
        if rng.random() < 0.25:  # short spikes, from nothing in particular
            for _ in range(int(rng.integers(1, 4))):
                i = int(rng.integers(values.size))
                values[i : i + int(rng.integers(1, 4))] *= rng.uniform(2, 6)
        res = float(rng.choice(self.resolutions, p=_weights(self.resolutions)))
        k = int(res // self.step)
        times = self.t[k - 1 :: k] if k > 1 else self.t
        if k > 1:
            values = values.reshape(-1, k).mean(axis=1)
        values = np.round(values, 3) if kind is not MetricKind.LATENCY else np.round(values, 2)
        missing = rng.random(values.size) < rng.uniform(0, 0.03)
        values[missing] = np.nan
        if rng.random() < 0.08:  # a collection gap of 5 to 20 minutes
            width = int(rng.uniform(300, 1200) / res) + 1
            centre = self.onset if rng.random() < 0.3 else rng.uniform(times[0], times[-1])
            i = int(np.searchsorted(times, centre - width * res / 2))
            values[i : i + width] = np.nan
        return Series(service=service, name=name, kind=kind, unit=unit, times=times, values=values)

    # -- logs --------------------------------------------------------------------------------

    def log_samples(self, root: str | None, affected: list[str]) -> None:
        messages = {
            "bad-deploy": "NullPointerException in {svc}.RequestHandler.apply (build {sha})",
            "config-change": "invalid configuration value for upstream timeout: 0ms",
            "db-saturation": "pq: sorry, too many clients already",
            "memory-leak": "container {svc} OOMKilled: memory limit 2Gi exceeded, restarting",
            "cpu-hog": "request deadline exceeded after 2000ms (cpu throttled)",
            "external-outage": "{svc}: 503 Service Unavailable from upstream provider",
        }
        if root is not None:
            text = messages[self.fault].format(svc=root, sha=_sha(self.rng))
            at = self.onset + 30
            source = root
            if self.kinds[root] in ("database", "external"):
                callers = [d.caller for d in self.callers[root]]
                source = callers[0] if callers else root
                if self.kinds[root] == "database":
                    text = f"{root}: {text}"
            self.logs.append(LogSample(source, at, "error", text))
            for victim in affected[:3]:
                if victim != root and victim != source:
                    self.logs.append(
                        LogSample(victim, at + 60, "error", "upstream request failed: 503")
                    )


def _weights(resolutions: tuple[int, ...]) -> list[float]:
    w = np.array([{10: 1.0, 15: 0.5, 60: 6.0, 300: 1.5}.get(r, 1.0) for r in resolutions])
    return list(w / w.sum())


def generate_scenario(
    *,
    seed: int,
    services: int = 60,
    fault: str | None = "random",
    hours: float = 6.0,
    step: int = 10,
    resolutions: tuple[int, ...] = (10, 60, 300),
    company: Company | None = None,
) -> Scenario:
    """One incident of ``fault`` ("random", a type of FAULT_TYPES, or None for a quiet period)."""
    rng = np.random.default_rng([seed, 7])
    kind = fault or QUIET
    if kind == "random":
        kind = FAULT_TYPES[int(rng.integers(len(FAULT_TYPES)))]
    if kind not in (*FAULT_TYPES, QUIET):
        raise ValueError(f"unknown fault type {fault!r}: use one of {', '.join(FAULT_TYPES)}")
    b = _Builder(
        seed=seed,
        size=services,
        fault=kind,
        hours=hours,
        step=step,
        resolutions=resolutions,
        company=company,
    )
    sig = b.baseline()
    root: str | None = None
    change_id: str | None = None
    if kind != QUIET:
        root = b.pick_root()
        change_id = b.inject(root, sig)
        b.propagate(sig)
    affected = sorted(
        (
            n
            for n, s in sig.items()
            if s.d_err.max() > 0.01 or s.d_lat.max() > 0.3 * s.latency or n == root
        ),
        key=lambda n: -float(sig[n].d_err.max()),
    )
    b.background_changes(affected, root)
    metrics = b.observe(sig)
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
    incident = Incident(
        id=f"INC-{seed}",
        title=f"{symptoms[0] if symptoms else 'service'} errors" if root else "flappy alert",
        started_at=float(round(detected)),
        symptom_services=symptoms,
    )
    bundle = Bundle(
        incident=incident,
        services=list(b.company.services),
        metrics=metrics,
        log_samples=b.logs,
        changes=sorted(b.changes, key=lambda c: c.at),
    )
    truth = Truth(
        fault=kind,
        root=root,
        team=b.teams[root] if root else None,
        onset=b.onset if root else None,
        affected=tuple(affected),
        change_id=change_id,
    )
    return Scenario(seed=seed, company=b.company, bundle=bundle, truth=truth)
