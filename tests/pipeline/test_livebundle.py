"""Connector series cleaned at the boundary: one bad series never stops an investigation."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from investigators.catalog import load_catalog
from investigators.pipeline.investigation import IncidentRequest, Plan, Scope, SourceResult
from investigators.pipeline.livebundle import read_bundle
from investigators.rca import rank

CATALOG = """
teams:
  payments: {}
  web: {}
services:
  - name: checkout
    team: web
    depends_on: [payments-db]
  - name: payments-db
    team: payments
"""
START = 1_795_132_800.0


def _plan() -> Plan:
    request = IncidentRequest(incident_id="inc-1", started_at=START, services=["checkout"])
    scope = Scope(named=["checkout"], unknown=[], neighbourhood=[], scanned=[])
    return Plan(
        investigation_id="i1",
        request=request,
        scope=scope,
        window_start=START - 3600,
        window_end=START + 600,
        sources=["metrics"],
        enqueued_at=START,
        deadline_at=START + 60,
    )


def _series(service: str, name: str, kind: str, times: list[object], values: list[object]) -> dict:  # type: ignore[type-arg]
    return {"service": service, "name": name, "kind": kind, "times": times, "values": values}


def test_repeated_nan_and_garbled_points_are_cleaned_and_an_unreadable_series_is_named(
    tmp_path: Path,
) -> None:
    path = tmp_path / "services.yaml"
    path.write_text(CATALOG, encoding="utf-8")
    catalog = load_catalog(path)
    grid = [START - 1800 + 60 * i for i in range(40)]
    db_errors = [0.2] * 30 + [40.0] * 10
    errors = [0.1] * 30 + [9.0] * 10
    # Datadog rollups at a bucket edge: every point twice, out of order, plus a "NaN" time.
    doubled = [*grid[::-1], *grid, "NaN"]
    series = [
        _series("payments-db", "errors.rate", "errors", doubled, [*db_errors[::-1], *db_errors, 1]),
        _series("checkout", "errors.rate", "errors", [*grid, None, "abc"], [*errors, 1.0, 2.0]),
        _series("checkout", "cpu", "saturation", ["x", "y"], [1.0, 2.0]),  # nothing readable
        _series("checkout", "mem", "saturation", grid[:3], [1.0, 2.0]),  # lengths differ
    ]
    result = SourceResult(
        source="metrics",
        phase="scan",
        status="ok",
        telemetry={"series": series},
        started_at=START,
        ended_at=START + 1,
    )
    read = read_bundle(_plan(), catalog=catalog, results={"metrics": result})

    db = next(m for m in read.bundle.metrics if m.service == "payments-db")
    assert db.times.tolist() == grid  # sorted, one point per time, the NaN time dropped
    assert np.allclose(db.values, db_errors)
    assert len(read.bundle.metrics) == 2
    assert len(read.skipped) == 2
    assert any("cpu" in s and "none of its 2 points" in s for s in read.skipped)
    assert any("mem" in s and "differ in length" in s for s in read.skipped)
    ranking = rank(read.bundle)  # and the engine ranks what is left
    assert ranking.ranking[0].service == "payments-db"
