"""Connector results -> the incident bundle the root-cause engine ranks.

The same :class:`~investigators.bundle.Bundle` as ``incident-copilot rca`` reads from a file, so
that an exported live investigation replays to the same ranking. Everything is sorted, so the
same results always make the same bundle.

Series are cleaned here, at the boundary: what a vendor returned (points out of order, a
timestamp twice, a ``"NaN"`` or garbled time, values that are not numbers) becomes a sorted
series with one point per time, or, when nothing of it can be read, is left out and named in
:attr:`LiveBundle.skipped` so that the summary says so. One bad series never stops the rest.

The bundle also carries what an exported one does, so that a live investigation and an offline
``rca`` of the same incident rank alike: the logs' representative error lines
(``log_samples``, already redacted by the scan) and, when it can be told for certain, the series
whose alert fired (``incident.alert``). Certain means one monitor: the one the request names
(``IncidentRequest.alert_monitor``), else the only series alerting on the services people named;
and its query names one metric that the bundle holds for that service. Anything less leaves the
alert out: the engine works without it, and a wrong one would lead its search astray.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from investigators.anomaly import Unscorable, clean
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
from investigators.catalog import Catalog
from investigators.pipeline.investigation import AlertingMonitor, LogLine, Plan, SourceResult

#: Two changes of one service and kind this close together are one change seen twice (s).
SAME_CHANGE = 120.0
#: The name of the error-count series made from the logs.
LOG_ERRORS = "logs.errors"


@dataclass(frozen=True, slots=True)
class LiveBundle:
    """The bundle, and the series left out of it with why."""

    bundle: Bundle
    skipped: list[str] = field(default_factory=list)


def build_bundle(plan: Plan, *, catalog: Catalog, results: Mapping[str, SourceResult]) -> Bundle:
    """The bundle of what the broad scan brought back (sources that failed add nothing)."""
    return read_bundle(plan, catalog=catalog, results=results).bundle


def read_bundle(plan: Plan, *, catalog: Catalog, results: Mapping[str, SourceResult]) -> LiveBundle:
    """The bundle, and the series that could not be read (each named with its reason)."""
    known = set(catalog.services)
    metrics: list[Series] = []
    skipped: list[str] = []
    raw_changes: list[dict[str, object]] = []
    lines: list[LogLine] = []
    monitors: list[AlertingMonitor] = []
    for source in sorted(results):
        result = results[source]
        if result.status != "ok":
            continue
        lines.extend(line for line in result.log_lines if line.service in known)
        monitors.extend(result.monitors)
        data = result.telemetry
        for s in data.get("series", []):
            if s.get("service") not in known:
                continue
            try:
                made = _series(s, logs=source == "logs")
            except Unscorable as exc:
                skipped.append(f"{source}: {exc}")
                continue
            if made is not None:
                metrics.append(made)
        raw_changes.extend(c for c in data.get("changes", []) if c.get("service") in known)
    metrics.sort(key=lambda m: (m.service, m.name))
    request = plan.request
    named = tuple(plan.scope.named)
    bundle = Bundle(
        incident=Incident(
            id=request.incident_id,
            started_at=float(round(request.started_at)),
            title=request.title,
            symptom_services=named,
            alert=alert_of(plan, monitors, metrics),
        ),
        services=catalog.to_services(),
        metrics=metrics,
        log_samples=_samples(lines),
        changes=_dedupe(raw_changes),
    )
    return LiveBundle(bundle, skipped)


def alert_of(
    plan: Plan, monitors: Sequence[AlertingMonitor], metrics: Sequence[Series]
) -> AlertRef | None:
    """The series whose alert fired, when one monitor says so for certain; else None.

    The monitor is the one the request names, else every monitor in Alert on the named
    services, which must then all watch the same series, or one of them must have fired first
    (by when each entered Alert; two alerts on one service at the same moment, or without a
    time: which one people are looking at is not known). The series must be one of the
    bundle's.
    """
    wanted = plan.request.alert_monitor
    if wanted is not None:
        fired = [m for m in monitors if m.monitor_id == wanted]
    else:
        named = set(plan.scope.named)
        fired = [m for m in monitors if m.state == "Alert" and m.service in named]
    watched = {(m.service, m.metric) for m in fired}
    if len(watched) > 1 and all(m.since is not None for m in fired):
        first = min(m.since for m in fired if m.since is not None)
        watched = {(m.service, m.metric) for m in fired if m.since == first}
    if len(watched) != 1:
        return None
    service, metric = watched.pop()
    if metric is None or not any(s.service == service and s.name == metric for s in metrics):
        return None
    return AlertRef(service, metric)


def _samples(lines: Sequence[LogLine]) -> list[LogSample]:
    """The bundle's log samples, in one order whatever order the sources answered in, at whole
    seconds as a bundle file holds them (so that an export replays to the same ranking)."""
    samples = {
        (line.service, float(round(line.at)), line.message): LogSample(
            service=line.service,
            timestamp=float(round(line.at)),
            level=line.level,
            message=line.message,
        )
        for line in lines
    }
    return [samples[key] for key in sorted(samples)]


def _numbers(raw: object) -> np.ndarray:
    """Numbers as float64, anything that is not one (None, "NaN", "abc", a list) as NaN."""
    items = raw if isinstance(raw, Sequence) and not isinstance(raw, str | bytes) else []
    try:
        return np.asarray([np.nan if v is None else v for v in items], dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return np.array([_number(v) for v in items], dtype=np.float64)


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return float("nan")
    try:
        return float(value)
    except (ValueError, OverflowError):
        return float("nan")


def _series(s: Mapping[str, object], *, logs: bool) -> Series | None:
    """One connector series as a clean bundle series; None when it has no points at all."""
    service, label = str(s["service"]), str(s.get("name", LOG_ERRORS))
    times = _numbers(s.get("times"))
    unit: str | None
    if logs:
        values = _numbers(s.get("counts"))
        name, kind, unit = LOG_ERRORS, MetricKind.ERRORS, "lines/min"
    else:
        values = _numbers(s.get("values"))
        try:
            kind = MetricKind(str(s.get("kind")))
        except ValueError:
            raise Unscorable(f"{service} {label}: unknown kind {s.get('kind')!r}") from None
        raw_unit = s.get("unit")
        name, unit = label, str(raw_unit) if raw_unit is not None else None
    if not times.size:
        return None
    made = clean(Series(service, name, kind, times, values, unit))
    if not made.times.size or bool(np.isnan(made.values).all()):
        raise Unscorable(f"{service} {name}: none of its {times.size} points could be read")
    return made


def _dedupe(raw: list[dict[str, object]]) -> list[Change]:
    """One change per service, kind and moment (Datadog events and GitHub both see deploys)."""
    changes = sorted(
        (
            Change(
                service=str(c["service"]),
                kind=ChangeKind(str(c["kind"])),
                at=float(round(float(c["at"]))),  # type: ignore[arg-type]
                id=str(c.get("id") or ""),
                title=str(c.get("title") or ""),
                author=str(c.get("author") or ""),
                url=str(c.get("url") or ""),
            )
            for c in raw
        ),
        key=lambda c: (c.service, c.kind.value, c.at, c.id),
    )
    kept: list[Change] = []
    for c in changes:
        last = kept[-1] if kept else None
        if (
            last is not None
            and last.service == c.service
            and last.kind is c.kind
            and abs(c.at - last.at) <= SAME_CHANGE
        ):
            if not last.author and c.author:  # GitHub knows who; keep the richer one
                kept[-1] = Change(
                    last.service, last.kind, last.at, last.id, last.title, c.author, last.url
                )
            continue
        kept.append(c)
    kept.sort(key=lambda c: (c.at, c.service, c.id))
    return kept
