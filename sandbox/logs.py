"""Log documents (Elastic Common Schema) synthesized from a bundle.

Each service logs error and warning lines in proportion to its ``errors`` metric, scaled down so
that a 1,000-service, 12-hour scenario stays at a few hundred thousand documents, plus a few
info lines. Messages come from templates whose ids, numbers and hosts vary, so that grouping
into patterns has work to do. After the incident starts, the services whose errors rose emit
new messages, taken from the bundle's log samples for that service when there are any; and every
log sample of the bundle is logged as it is, at its own time, so that what an offline ``rca``
reads in ``log_samples`` is in the logs a live investigation searches. A provider outside the
company (kind ``external``) logs nothing here: the lines its errors series stands for are its
callers', and they name it ("Circuit breaker OPEN for segment after 12 consecutive failures").
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import numpy as np

from investigators.bundle import Bundle, MetricKind, Series

BACKGROUND_TEMPLATES = (
    "Timeout after {ms}ms calling {dep} at {ip}:{port}",
    "Request {uuid} failed: upstream {dep} returned {code}",
    "Retrying job {n} on {host} (attempt {k} of 5)",
    "Slow query took {ms}ms on shard {k} for tenant {n}",
    "Connection reset by peer host={host}",
    "Cache lookup failed for key user:{n} on {ip}",
    "Invalid token for session {hex}: signature mismatch",
)
INCIDENT_TEMPLATES = (
    "Connection pool exhausted: {n} waiting, max {k}",
    "Circuit breaker OPEN for {dep} after {k} consecutive failures",
    "OutOfMemoryError: Java heap space in worker {host}",
    "Deadline exceeded after {ms}ms waiting for {dep} (request {uuid})",
)
#: The service kind of a provider outside the company (``docs/incident-bundle.md``).
EXTERNAL = "external"
INFO_TEMPLATE = "GET /api/items/{n} 200 in {ms}ms"
#: A number standing alone ("after 2076ms", "attempt 3"), not part of a name ("inventory-2").
_DIGITS = re.compile(r"(?<![\w.-])\d+")


def _seed(*parts: object) -> int:
    return zlib.crc32("|".join(map(str, parts)).encode())


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def _fill(template: str, rng: np.random.Generator, dep: str) -> str:
    octets = rng.integers(0, 255, size=4)
    values = {
        "ms": int(rng.integers(100, 30000)),
        "dep": dep,
        "ip": f"10.{octets[0]}.{octets[1]}.{octets[2]}",
        "port": int(rng.choice([443, 5432, 6379, 8080, 8443])),
        "uuid": "-".join(f"{int(rng.integers(0, 16**w)):0{w}x}" for w in (8, 4, 4, 4, 12)),
        "code": int(rng.choice([500, 502, 503, 504])),
        "n": int(rng.integers(1, 10**6)),
        "k": int(rng.integers(1, 64)),
        "host": f"ip-10-{octets[1]}-{octets[2]}-{octets[3]}.ec2.internal",
        "hex": f"{int(rng.integers(0, 2**62)):016x}",
    }
    return template.format(**values)


def _vary(message: str, rng: np.random.Generator) -> str:
    """A log sample with its numbers redrawn: the same pattern, different lines; the digits of a
    service's name stay, or a line would blame a service that does not exist."""
    return _DIGITS.sub(lambda m: str(int(rng.integers(0, 10 ** len(m.group()) or 10))), message)


def _errors_series(bundle: Bundle) -> dict[str, Series]:
    found: dict[str, Series] = {}
    for series in bundle.metrics:
        if series.kind is MetricKind.ERRORS and series.service not in found:
            found[series.service] = series
    return found


def faulty_services(bundle: Bundle, *, factor: float = 3.0) -> set[str]:
    """Services with log samples, or whose errors during the incident exceed the baseline."""
    start = bundle.incident.started_at
    faulty = {s.service for s in bundle.log_samples}
    for service, series in _errors_series(bundle).items():
        before = series.values[series.times < start]
        during = series.values[series.times >= start]
        if before.size and during.size:
            base = float(np.nanmedian(before)) if np.isfinite(before).any() else 0.0
            peak = float(np.nanmax(during)) if np.isfinite(during).any() else 0.0
            if peak > factor * max(base, 0.5):
                faulty.add(service)
    return faulty


def expected_volume(bundle: Bundle, *, scale: float) -> float:
    """About how many error and warning documents :func:`synthesize_logs` will make."""
    return sum(float(np.nansum(s.values)) for s in _errors_series(bundle).values()) * scale


def synthesize_logs(
    bundle: Bundle,
    *,
    scale: float = 0.1,
    max_docs: int = 300_000,
    info_per_hour: int = 4,
    seed: int = 0,
) -> Iterator[dict[str, Any]]:
    """ECS documents: ``scale`` lines per unit of the errors metric, ``max_docs`` or so at most."""
    volume = expected_volume(bundle, scale=scale)
    if volume > max_docs:
        scale *= max_docs / volume
    start = bundle.incident.started_at
    faulty = faulty_services(bundle)
    samples: dict[str, list[str]] = {}
    for sample in bundle.log_samples:
        samples.setdefault(sample.service, []).append(sample.message)
    deps = {s.name: (s.depends_on or (s.name,)) for s in bundle.services}
    # A provider outside (kind external) writes nothing to our log store: what its errors series
    # counts is what its callers saw, and they log it, naming it.
    outside = {s.name for s in bundle.services if s.kind == EXTERNAL}
    callers = {
        name: tuple(s.name for s in bundle.services if name in s.depends_on) or (name,)
        for name in outside
    }
    for index, sample in enumerate(bundle.log_samples):
        rng = np.random.default_rng(_seed(seed, "sample", index))
        yield _document(sample.service, sample.timestamp, sample.level, sample.message, rng)
    for service, series in sorted(_errors_series(bundle).items()):
        rng = np.random.default_rng(_seed(seed, service))
        usual = [BACKGROUND_TEMPLATES[i] for i in rng.permutation(len(BACKGROUND_TEMPLATES))[:2]]
        new = samples.get(service) or [INCIDENT_TEMPLATES[_seed(service) % len(INCIDENT_TEMPLATES)]]
        sampled = service in samples
        if service in outside:  # its callers' words, naming it, never lines of its own
            usual = [t for t in BACKGROUND_TEMPLATES if "{dep}" in t][:2]
            new, sampled = [t for t in INCIDENT_TEMPLATES if "{dep}" in t], False
        step = float(np.median(np.diff(series.times))) if series.times.size > 1 else 60.0
        lam = np.nan_to_num(series.values, nan=0.0).clip(min=0) * scale
        counts = rng.poisson(lam)
        for t, count in zip(series.times.tolist(), counts.tolist(), strict=True):
            for _ in range(count):
                at = t + float(rng.uniform(0, step))
                if service in outside:
                    writer, dep = str(rng.choice(callers[service])), service
                else:
                    writer, dep = service, str(rng.choice(deps.get(service, (service,))))
                if service in faulty and at >= start and rng.random() < 0.7:
                    template = new[int(rng.integers(len(new)))]
                    message = _vary(template, rng) if sampled else _fill(template, rng, dep)
                    level = "error"
                else:
                    message = _fill(usual[int(rng.integers(len(usual)))], rng, dep)
                    level = "error" if rng.random() < 0.8 else "warn"
                yield _document(writer, at, level, message, rng)
        if info_per_hour and series.times.size and service not in outside:
            first, last = float(series.times[0]), float(series.times[-1]) + step
            hours = max(1, round((last - first) / 3600))
            for at in rng.uniform(first, last, size=hours * info_per_hour).tolist():
                yield _document(service, at, "info", _fill(INFO_TEMPLATE, rng, service), rng)


def _document(
    service: str, at: float, level: str, message: str, rng: np.random.Generator
) -> dict[str, Any]:
    return {
        "@timestamp": _iso(at),
        "service": {"name": service},
        "log": {"level": level},
        "message": message,
        "host": {"name": f"{service}-{int(rng.integers(0, 4))}"},
        "trace": {"id": f"{int(rng.integers(0, 2**62)):032x}"},
    }
