"""Small hand-built incident bundles: a few services, series of numpy noise with steps."""

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
    Service,
)

#: 2026-11-20T14:05:00Z, the detection time of every synthetic incident unless told otherwise.
DETECTED = 1_795_183_500.0


def noisy_series(
    *,
    service: str = "svc",
    name: str = "m",
    kind: MetricKind = MetricKind.OTHER,
    level: float = 10.0,
    noise: float | None = None,
    step_at: float | None = None,
    jump: float = 0.0,
    resolution: float = 60.0,
    hours: float = 3.0,
    end: float | None = None,
    counts: bool = False,
    unit: str | None = None,
    seed: int = 0,
) -> Series:
    """A series of gaussian noise (or Poisson counts) around ``level``, plus ``jump`` from
    ``step_at`` on; it ends 30 minutes after detection unless ``end`` says otherwise."""
    rng = np.random.default_rng(seed)
    end = DETECTED + 1800.0 + resolution if end is None else end
    n = int(hours * 3600 / resolution)
    times = end - (n - np.arange(n)) * resolution
    rate = np.full(n, float(level))
    if step_at is not None:
        rate = rate + jump * (times >= step_at)
    if counts:
        values = rng.poisson(np.clip(rate, 0, None) * resolution) / resolution
    else:
        spread = 0.05 * abs(level) if noise is None else noise
        values = rate + rng.normal(0.0, spread, n)
    return Series(service=service, name=name, kind=kind, times=times, values=values, unit=unit)


@dataclass(slots=True)
class IncidentBuilder:
    """Collects services, series and changes, then makes one :class:`Bundle`."""

    detected_at: float = DETECTED
    seed: int = 0
    services: list[Service] = field(default_factory=list)
    metrics: list[Series] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    logs: list[LogSample] = field(default_factory=list)

    def service(
        self, name: str, team: str, depends_on: tuple[str, ...] = (), kind: str = "service"
    ) -> IncidentBuilder:
        """Add a node of the graph."""
        self.services.append(Service(name, team, tuple(depends_on), kind))
        return self

    def metric(self, service: str, name: str, kind: MetricKind, **shape: object) -> IncidentBuilder:
        """Add a series (see :func:`noisy_series` for the shape); each gets its own noise."""
        self.seed += 1
        shape.setdefault("seed", self.seed)
        self.metrics.append(noisy_series(service=service, name=name, kind=kind, **shape))  # type: ignore[arg-type]
        return self

    def change(
        self,
        service: str,
        *,
        at: float,
        change_id: str,
        kind: ChangeKind = ChangeKind.DEPLOY,
        title: str = "",
    ) -> IncidentBuilder:
        """Add a deploy (or another kind of change)."""
        self.changes.append(Change(service=service, kind=kind, at=at, id=change_id, title=title))
        return self

    def log(self, service: str, message: str, *, at: float) -> IncidentBuilder:
        """Add an error log line."""
        self.logs.append(LogSample(service=service, timestamp=at, level="error", message=message))
        return self

    def build(
        self,
        *,
        incident_id: str = "INC-1",
        symptom_services: tuple[str, ...] = (),
        alert: tuple[str, str] | None = None,
    ) -> Bundle:
        """The bundle the engine would read; ``alert`` is (service, series name)."""
        return Bundle(
            incident=Incident(
                id=incident_id,
                started_at=self.detected_at,
                title="synthetic incident",
                symptom_services=tuple(symptom_services),
                alert=AlertRef(*alert) if alert is not None else None,
            ),
            services=list(self.services),
            metrics=list(self.metrics),
            log_samples=list(self.logs),
            changes=list(self.changes),
        )
