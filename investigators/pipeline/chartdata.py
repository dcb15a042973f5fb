"""What the summary's chart shows, as plain typed data (pure: no I/O, no plotting).

The chart puts two series side by side around the onset: the root cause's leading series (its
strongest anomalous one) and the alerting series (what people were looking at when the
incident opened), each with its usual range before the onset, the onset itself, and the
suspect change as a moment on the shared time axis. :func:`chart_data` takes them from the
analysis the summary was made from (nothing is scored again) and the bundle's points; the bot
renders it (:mod:`bot.chart`), knowing nothing of the engine.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from pydantic import BaseModel, Field

from investigators.anomaly import SeriesAnomaly
from investigators.bundle import Bundle
from investigators.pipeline.summary import Summary
from investigators.rca import Analysis

#: How much of the time before the earliest onset is shown, and after the latest (seconds).
BEFORE = 45 * 60.0
AFTER = 30 * 60.0
#: The usual range is read from this much time before a series' onset (seconds).
BASELINE = 30 * 60.0
#: At most this many points per series: more are averaged into buckets (a chart is ~900 px).
MAX_POINTS = 480


class ChartSeries(BaseModel):
    """One series around the onset: its points, its usual range before, and when it changed."""

    role: str = Field(description="cause (the root cause's leading series) or alert")
    service: str
    name: str
    kind: str
    unit: str | None = None
    times: list[float] = Field(description="Unix seconds, ascending")
    values: list[float | None] = Field(description="None where the series has a gap")
    level: float = Field(description="its typical value before the onset (the engine's)")
    spread: float = Field(description="robust standard deviation of its points before the onset")
    onset: float | None = None
    current: float = Field(description="its typical value after the onset (the engine's)")

    @property
    def band(self) -> tuple[float, float]:
        """The usual range before the onset: level ± 2 spreads."""
        return self.level - 2 * self.spread, self.level + 2 * self.spread


class ChartChange(BaseModel):
    """The suspect change, as a moment on the time axis."""

    service: str
    kind: str
    at: float
    id: str = ""
    title: str = ""


class ChartData(BaseModel):
    """Everything the chart shows for one investigation."""

    incident_id: str
    investigation_id: str
    root_cause: str
    confidence: str
    detected_at: float
    series: list[ChartSeries] = Field(description="the cause's series first, then the alert's")
    change: ChartChange | None = None

    @property
    def filename(self) -> str:
        """The file's name in Slack: one per investigation, so a retry can find it."""
        safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in self.investigation_id)
        return f"incident-copilot-{safe}.png"


def chart_data(bundle: Bundle, analysis: Analysis, summary: Summary) -> ChartData | None:
    """The chart of an investigation, or None when there is nothing to draw: no root cause, or
    neither it nor the alert has a series that changed."""
    root = summary.root_cause
    if root is None:
        return None
    picked: list[tuple[str, SeriesAnomaly]] = []
    evidence = analysis.evidence.get(root.service)
    leading = next((a for a in evidence.anomalies if a.anomalous), None) if evidence else None
    if leading is not None:
        picked.append(("cause", leading))
    alert = analysis.lead.anomaly
    if alert is not None and (leading is None or _key(alert) != _key(leading)):
        picked.append(("alert", alert))
    onsets = [a.onset for _, a in picked if a.onset is not None]
    if not picked or not onsets:
        return None
    start, end = min(onsets) - BEFORE, max(onsets) + AFTER
    change = None
    found = root.change
    if found is not None and found.at is not None and math.isfinite(found.at):
        change = ChartChange(
            service=found.service,
            kind=found.kind,
            at=found.at,
            id=str(found.details.get("id") or ""),
            title=found.title,
        )
        start = min(start, found.at - 5 * 60.0)
    return ChartData(
        incident_id=summary.incident_id,
        investigation_id=summary.investigation_id,
        root_cause=root.service,
        confidence=root.confidence,
        detected_at=bundle.incident.started_at,
        series=[_series(role, a, start, end) for role, a in picked],
        change=change,
    )


def _series(role: str, a: SeriesAnomaly, start: float, end: float) -> ChartSeries:
    s = a.series
    times = np.asarray(s.times, dtype=np.float64)
    values = np.asarray(s.values, dtype=np.float64)
    inside = (times >= start) & (times <= end)
    t, v = _thinned(times[inside], values[inside])
    onset = a.onset if a.onset is not None and math.isfinite(a.onset) else None
    return ChartSeries(
        role=role,
        service=s.service,
        name=s.name,
        kind=s.kind.value,
        unit=s.unit,
        times=[float(x) for x in t],
        values=[float(x) if math.isfinite(x) else None for x in v],
        level=_finite(a.level),
        spread=_spread(times, values, onset, a.level),
        onset=onset,
        current=_finite(a.current),
    )


def _key(a: SeriesAnomaly) -> tuple[str, str]:
    return a.series.service, a.series.name


def _thinned(times: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """At most :data:`MAX_POINTS` points: consecutive points averaged when there are more."""
    if times.size <= MAX_POINTS:
        return times, values
    edges = np.linspace(0, times.size, MAX_POINTS + 1).astype(np.intp)
    t = np.array([times[a:b].mean() for a, b in itertools.pairwise(edges)])
    with np.errstate(all="ignore"):
        v = np.array(
            [
                np.nanmean(values[a:b]) if np.any(~np.isnan(values[a:b])) else np.nan
                for a, b in itertools.pairwise(edges)
            ]
        )
    return t, v


def _spread(times: np.ndarray, values: np.ndarray, onset: float | None, level: float) -> float:
    """Robust standard deviation (1.4826 x MAD) of the points in :data:`BASELINE` before the
    onset; a small share of the level when they do not vary or are too few."""
    floor = 0.01 * abs(_finite(level))
    if onset is None:
        return floor
    before = values[(times >= onset - BASELINE) & (times < onset)]
    before = before[np.isfinite(before)]
    if before.size < 3:
        return floor
    mad = float(np.median(np.abs(before - np.median(before))))
    return max(1.4826 * mad, floor)


def _finite(x: float) -> float:
    return float(x) if math.isfinite(x) else 0.0
