"""The small incident the connector tests serve, and fast resilience limits."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from connectors.config import ResilienceConfig
from investigators.bundle import (
    Bundle,
    Change,
    ChangeKind,
    Incident,
    LogSample,
    MetricKind,
    Series,
    Service,
)

T0 = 1_795_132_800.0  # 2026-11-20T00:00:00Z
INCIDENT = T0 + 2 * 3600
END = T0 + 3 * 3600
SERVICES = ("web", "api", "db", "cache", "worker")
FAULTY = ("db", "api", "web")

# Fast, small limits so failure tests take milliseconds, not seconds.
FAST = ResilienceConfig(
    timeout=0.5,
    attempts=3,
    backoff_base=0.01,
    backoff_max=0.05,
    total_budget=5.0,
    max_rate_limit_wait=2.0,
    concurrency=10,
    breaker_threshold=3,
    breaker_cooldown=60.0,
)


def when(seconds: float) -> datetime:
    """Unix seconds as an aware datetime."""
    return datetime.fromtimestamp(seconds, tz=UTC)


def make_bundle() -> Bundle:
    """Five services over three hours; ``db`` breaks at the incident and drags api and web."""
    rng = np.random.default_rng(3)
    times = np.arange(T0, END, 60.0)
    after = times >= INCIDENT
    metrics = []
    for name in SERVICES:
        hurt = name in FAULTY
        errors = rng.poisson(2.0, times.size).astype(float) + np.where(after & hurt, 40.0, 0.0)
        latency = 0.2 + rng.normal(0, 0.01, times.size) + np.where(after & hurt, 1.5, 0.0)
        traffic = 100 + rng.normal(0, 5, times.size)
        cpu = 30 + rng.normal(0, 2, times.size)
        for metric, kind, values in (
            ("trace.http.request.errors", MetricKind.ERRORS, errors),
            ("trace.http.request.duration", MetricKind.LATENCY, latency),
            ("trace.http.request.hits", MetricKind.TRAFFIC, traffic),
            ("system.cpu.user", MetricKind.SATURATION, cpu),
        ):
            metrics.append(Series(name, metric, kind, times, values))
    services = [
        Service("web", "frontend", ("api",)),
        Service("api", "core", ("db", "cache")),
        Service("db", "data"),
        Service("cache", "data"),
        Service("worker", "core", ("db",)),
    ]
    changes = [
        Change("db", ChangeKind.DEPLOY, INCIDENT - 600, "d0c0ffe", "Raise pool timeout", "ana"),
        Change("cache", ChangeKind.CONFIG, T0 + 1800, "cafe123", "Tune TTL", "bo"),
        Change("worker", ChangeKind.DEPLOY, T0 + 900, "beef456", "Batch size 50", "cy"),
    ]
    samples = [
        LogSample(
            "db", INCIDENT + 60, "error", "could not obtain connection from pool after 30000ms"
        ),
    ]
    incident = Incident("INC-1", INCIDENT, "web errors", ("web",))
    return Bundle(incident, services, metrics, samples, changes)
