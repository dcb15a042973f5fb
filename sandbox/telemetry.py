"""How an estate's state is collected as metric series.

Per kind of node, the series a monitoring system would hold (latency, errors, traffic, cpu,
memory, pools, connections), with noise, short spikes, a resolution per series (averages, or
5-minute p99 / sum / average rollups), missing points, collection gaps and harmless level shifts;
and, for the shapes that ask for them (:mod:`sandbox.shapes`), spliced baselines, partial
coverage, per-pod series, counts next to rates, availability and client-side series on callers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from investigators.bundle import MetricKind, Series
from sandbox.company import Company
from sandbox.shapes import Coverage, Grid, Splice, rollup, split_pods


@dataclass(slots=True)
class Signals:
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
    wire_lat: np.ndarray | None = None  # added latency seen only by callers (network), ms
    wire_err: np.ndarray | None = None  # added error fraction seen only by callers


def ramp(t: np.ndarray, start: float, length: float) -> np.ndarray:
    """0 before ``start``, rising linearly to 1 over ``length`` seconds."""
    return np.clip((t - start) / max(length, 1.0), 0.0, 1.0)


def or_zero(x: np.ndarray | None) -> np.ndarray | float:
    """An optional array, or 0 where there is none."""
    return 0.0 if x is None else x


class Collector:
    """Collects every node's series from its latent state on the base grid ``t``.

    ``rng`` draws what the standard collection draws, in its order; ``xrng`` what only the
    shapes add, so that a shape leaves the standard draws as they were.
    """

    def __init__(
        self,
        *,
        company: Company,
        t: np.ndarray,
        onset: float,
        grid: Grid,
        rng: np.random.Generator,
        xrng: np.random.Generator,
        splice: Splice | None = None,
        coverage: Coverage | None = None,
    ) -> None:
        self.company = company
        self.t = t
        self.step = float(grid.step)
        self.resolutions = grid.resolutions
        self.onset = onset
        self.grid = grid
        self.rng = rng
        self.xrng = xrng
        self.splice = splice
        self.coverage = coverage

    def observe(self, sig: dict[str, Signals]) -> list[Series]:
        """Every series of every node (and of the calls between them, when watched)."""
        rng, t = self.rng, self.t
        out: list[Series] = []
        shifted = set()
        quiet_names = [n for n in sig if not sig[n].d_err.any() and not sig[n].d_lat.any()]
        if quiet_names and rng.random() < 0.45:
            count = int(rng.integers(1, 4))
            shifted = set(rng.choice(quiet_names, size=min(count, len(quiet_names)), replace=False))
        for svc in self.company.services:
            s = sig[svc.name]
            noise = rng.uniform(0.03, 0.12) * self.grid.noise
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
            batch: list[_Raw] = []
            for name, kind, unit, values in raw:
                values = np.asarray(values, dtype=np.float64)
                if svc.name in shifted and rng.random() < 0.5:
                    values = self.benign_shift(values, kind)
                if self.splice is not None:
                    values = self.splice.apply(svc.name, name, kind, t, values)
                series = self.sample(svc.name, name, kind, unit, values)
                batch.append(_Raw(name, kind, unit, values, series))
            if self.coverage is None:
                out.extend(r.series for r in batch if r.series is not None)
            else:
                mem_fault = 0.0 if s.memory is None else s.memory - mem_base
                faulty: dict[str, np.ndarray | float] = {"cpu": s.cpu, "memory": mem_fault}
                out.extend(self.covered(svc.name, batch, faulty, self.coverage))
        if self.coverage is not None:
            out.extend(self.client_side(sig, self.coverage))
        return out

    def covered(
        self,
        service: str,
        batch: list[_Raw],
        faulty: dict[str, np.ndarray | float],
        cover: Coverage,
    ) -> list[Series]:
        """The series of one service that its coverage reports, pods and counts included."""
        rng, out = self.xrng, []
        for r in batch:
            if not cover.reports(service, r.name, r.kind):
                continue
            part = next((faulty[w] for w in ("cpu", "memory") if w in r.name), None)
            if service in cover.pods and part is not None:
                fault = np.broadcast_to(np.asarray(part, dtype=np.float64), r.values.shape)
                for j, values in enumerate(
                    split_pods(rng, r.values, fault, cover.pods[service]), start=1
                ):
                    name = f"{r.name}{{pod:pod-{j}}}"
                    out.extend(_some(self.sample(service, name, r.kind, r.unit, values, rng=rng)))
                continue
            out.extend(_some(r.series))
            if service in cover.counts and r.kind in (MetricKind.ERRORS, MetricKind.TRAFFIC):
                count = self.sample(
                    service, f"{r.name}.count", r.kind, "count", r.values, rng=rng, summed=True
                )
                out.extend(_some(count))
        if service in cover.availability and service not in cover.silent:
            errors = next((r.values for r in batch if r.kind is MetricKind.ERRORS), None)
            hits = next((r.values for r in batch if r.kind is MetricKind.TRAFFIC), None)
            if errors is not None and hits is not None:
                ok = 100 * (1 - np.clip(errors / np.maximum(hits, 1e-9), 0, 1))
                avail = self.sample(
                    service, "http.availability", MetricKind.AVAILABILITY, "percent", ok, rng=rng
                )
                out.extend(_some(avail))
        return out

    def client_side(self, sig: dict[str, Signals], cover: Coverage) -> list[Series]:
        """Each watched call as its caller's client sees it: the callee's latency and errors
        with what the wire adds, at once (no propagation delay), counted from the caller's
        traffic."""
        rng, t, out = self.xrng, self.t, []
        for dep in self.company.dependencies:
            if (dep.caller, dep.callee) not in cover.clients:
                continue
            c, x = sig[dep.caller], sig[dep.callee]
            noise = rng.uniform(0.05, 0.15) * self.grid.noise
            base = x.latency + rng.uniform(0.3, 5)  # plus the network's own round trip
            lat = (base + x.d_lat + or_zero(x.wire_lat)) * rng.lognormal(0, noise, t.size)
            timeout = 20 * c.latency + 200
            frac = x.err_frac + x.d_err + or_zero(x.wire_err)
            frac = np.clip(frac + 0.6 * np.clip((lat - base) / timeout, 0, 1), 0, 1)
            calls = c.traffic * dep.calls * rng.lognormal(0, noise, t.size)
            errors = rng.poisson(calls * frac * self.step) / self.step
            prefix = f"client.{dep.callee}"
            for name, kind, unit, values in (
                (f"{prefix}.duration", MetricKind.LATENCY, "ms", lat),
                (f"{prefix}.errors", MetricKind.ERRORS, "1/s", errors),
            ):
                if self.splice is not None:
                    values = self.splice.apply(dep.caller, name, kind, t, values)
                out.extend(_some(self.sample(dep.caller, name, kind, unit, values, rng=rng)))
        return out

    def benign_shift(self, values: np.ndarray, kind: MetricKind) -> np.ndarray:
        """A real but harmless change: a batch job, a marketing push, a cache warm-up."""
        start = self.onset + self.rng.uniform(-1800, 600)
        on = ramp(self.t, start, self.rng.uniform(30, 300))
        factor = self.rng.uniform(1.3, 2.0)
        if kind is MetricKind.SATURATION:
            return np.clip(values + on * self.rng.uniform(10, 30), 0, 100)
        return values * (1 + (factor - 1) * on)

    def sample(
        self,
        service: str,
        name: str,
        kind: MetricKind,
        unit: str,
        values: np.ndarray,
        *,
        rng: np.random.Generator | None = None,
        summed: bool = False,
    ) -> Series | None:
        """One collected series: spikes, a resolution, rollups, missing points and gaps.

        ``summed`` reports counts per interval instead of a rate."""
        rng = rng or self.rng
        if rng.random() < 0.03:
            return None  # this series is simply not collected
        values = values.copy()
        if rng.random() < 0.25:  # short spikes, from nothing in particular
            for _ in range(int(rng.integers(1, 4))):
                i = int(rng.integers(values.size))
                at = slice(i, i + int(rng.integers(1, 4)))
                if kind is MetricKind.AVAILABILITY:  # a spike of failures: never above 100%
                    values[at] = 100 - (100 - values[at]) * rng.uniform(2, 6)
                else:
                    values[at] *= rng.uniform(2, 6)
        weights = self.grid.weights
        res = float(
            rng.choice(
                self.resolutions,
                p=_weights(self.resolutions) if weights is None else _normed(weights),
            )
        )
        k = int(res // self.step)
        times = self.t[k - 1 :: k] if k > 1 else self.t
        if self.grid.rollup:
            values = rollup(values, k, kind, self.step)
            if kind in (MetricKind.ERRORS, MetricKind.TRAFFIC) and unit == "1/s":
                unit = "count"
            name = name.replace(".p95", ".p99")
            if self.grid.label_start:
                times = self.t[::k]
        elif summed:
            values = values.reshape(-1, k).sum(axis=1) * self.step
        elif k > 1:
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


@dataclass(frozen=True, slots=True)
class _Raw:
    """One series of a service before collection, and as the standard collection kept it."""

    name: str
    kind: MetricKind
    unit: str
    values: np.ndarray
    series: Series | None


def _some(series: Series | None) -> list[Series]:
    return [] if series is None else [series]


def _normed(weights: tuple[float, ...]) -> list[float]:
    return [w / sum(weights) for w in weights]


def _weights(resolutions: tuple[int, ...]) -> list[float]:
    w = np.array([{10: 1.0, 15: 0.5, 60: 6.0, 300: 1.5}.get(r, 1.0) for r in resolutions])
    return list(w / w.sum())
