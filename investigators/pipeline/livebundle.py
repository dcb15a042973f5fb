"""Connector results -> the incident bundle the root-cause engine ranks.

The same :class:`~investigators.bundle.Bundle` as ``incident-copilot rca`` reads from a file, so
that an exported live investigation replays to the same ranking. Everything is sorted, so the
same results always make the same bundle.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from investigators.bundle import Bundle, Change, ChangeKind, Incident, MetricKind, Series
from investigators.catalog import Catalog
from investigators.pipeline.investigation import Plan, SourceResult

#: Two changes of one service and kind this close together are one change seen twice (s).
SAME_CHANGE = 120.0
#: The name of the error-count series made from the logs.
LOG_ERRORS = "logs.errors"


def build_bundle(plan: Plan, *, catalog: Catalog, results: Mapping[str, SourceResult]) -> Bundle:
    """The bundle of what the broad scan brought back (sources that failed add nothing)."""
    known = set(catalog.services)
    metrics: list[Series] = []
    raw_changes: list[dict[str, object]] = []
    for source in sorted(results):
        result = results[source]
        if result.status != "ok":
            continue
        data = result.telemetry
        for s in data.get("series", []):
            if s["service"] not in known:
                continue
            times = np.asarray(s["times"], dtype=np.float64)
            if source == "logs":
                values = np.asarray(s["counts"], dtype=np.float64)
                name, kind, unit = LOG_ERRORS, MetricKind.ERRORS, "lines/min"
            else:
                values = np.array(
                    [np.nan if v is None else v for v in s["values"]], dtype=np.float64
                )
                name, kind, unit = s["name"], MetricKind(s["kind"]), s.get("unit")
            if times.size:
                metrics.append(Series(s["service"], name, kind, times, values, unit))
        raw_changes.extend(c for c in data.get("changes", []) if c["service"] in known)
    metrics.sort(key=lambda m: (m.service, m.name))
    request = plan.request
    named = tuple(plan.scope.named)
    return Bundle(
        incident=Incident(
            id=request.incident_id,
            started_at=float(round(request.started_at)),
            title=request.title,
            symptom_services=named,
        ),
        services=catalog.to_services(),
        metrics=metrics,
        log_samples=[],
        changes=_dedupe(raw_changes),
    )


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
