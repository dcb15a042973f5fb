"""Connector series cleaned at the boundary: one bad series never stops an investigation."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from investigators.bundle import AlertRef
from investigators.catalog import load_catalog
from investigators.pipeline.investigation import (
    AlertingMonitor,
    IncidentRequest,
    LogLine,
    Plan,
    Scope,
    SourceResult,
)
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


def _catalog(tmp_path: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "services.yaml"
    path.write_text(CATALOG, encoding="utf-8")
    return load_catalog(path)


def _scan(
    *monitors: AlertingMonitor, lines: list[LogLine] | None = None
) -> dict[str, SourceResult]:
    grid = [START - 1800 + 60 * i for i in range(40)]
    metrics = SourceResult(
        source="metrics",
        phase="scan",
        status="ok",
        telemetry={
            "series": [
                _series("checkout", "errors.rate", "errors", grid, [0.1] * 30 + [9.0] * 10),
                _series("checkout", "latency.p95", "latency", grid, [100.0] * 40),
            ]
        },
        started_at=START,
        ended_at=START + 1,
    )
    found = {"metrics": metrics}
    found["monitors"] = SourceResult(
        source="monitors",
        phase="scan",
        status="ok",
        monitors=list(monitors),
        started_at=START,
        ended_at=START + 1,
    )
    if lines is not None:
        found["logs"] = SourceResult(
            source="logs",
            phase="scan",
            status="ok",
            log_lines=lines,
            started_at=START,
            ended_at=START + 1,
        )
    return found


def _monitor(  # type: ignore[no-untyped-def]
    ident: int,
    metric: str | None,
    *,
    state: str = "Alert",
    service: str = "checkout",
    since: float | None = None,
):
    return AlertingMonitor(
        monitor_id=ident, service=service, state=state, metric=metric, since=since
    )


def test_the_one_alert_on_a_named_service_is_the_bundles_alert_when_it_names_a_series(
    tmp_path: Path,
) -> None:
    catalog = _catalog(tmp_path)
    fired = _monitor(1, "errors.rate")
    warn = _monitor(2, "latency.p95", state="Warn")  # a warning pages nobody
    elsewhere = _monitor(3, "errors.rate", service="payments-db")  # not a named service
    bundle = read_bundle(_plan(), catalog=catalog, results=_scan(fired, warn, elsewhere)).bundle
    assert bundle.incident.alert == AlertRef("checkout", "errors.rate")


def test_no_alert_unless_one_monitor_names_one_of_the_bundles_series(tmp_path: Path) -> None:
    catalog = _catalog(tmp_path)

    def alert(*monitors: AlertingMonitor, plan: Plan | None = None) -> AlertRef | None:
        results = _scan(*monitors)
        return read_bundle(plan or _plan(), catalog=catalog, results=results).bundle.incident.alert

    assert alert() is None
    assert alert(_monitor(1, "http.5xx")) is None  # a series the bundle does not hold
    assert alert(_monitor(1, None)) is None  # a log monitor, or a ratio of two metrics
    # Two alerts on the named service: which one people are looking at is not known...
    both = (_monitor(1, "errors.rate"), _monitor(2, "latency.p95"))
    assert alert(*both) is None
    # ... unless the request says which monitor opened the incident.
    plan = _plan()
    plan.request.alert_monitor = 2
    assert alert(*both, plan=plan) == AlertRef("checkout", "latency.p95")
    plan.request.alert_monitor = 9  # no longer alerting: not in the scan
    assert alert(*both, plan=plan) is None


def test_of_two_alerts_on_the_named_service_the_one_that_fired_first_leads(tmp_path: Path) -> None:
    catalog = _catalog(tmp_path)

    def alert(*monitors: AlertingMonitor) -> AlertRef | None:
        return read_bundle(_plan(), catalog=catalog, results=_scan(*monitors)).bundle.incident.alert

    errors_first = (
        _monitor(1, "errors.rate", since=START),
        _monitor(2, "latency.p95", since=START + 240),
    )
    assert alert(*errors_first) == AlertRef("checkout", "errors.rate")
    latency_first = (
        _monitor(1, "errors.rate", since=START + 60),
        _monitor(2, "latency.p95", since=START),
    )
    assert alert(*latency_first) == AlertRef("checkout", "latency.p95")
    # At the same moment, or one of them without a time: not known.
    assert (
        alert(_monitor(1, "errors.rate", since=START), _monitor(2, "latency.p95", since=START))
        is None
    )
    assert alert(_monitor(1, "errors.rate", since=START), _monitor(2, "latency.p95")) is None


def test_log_lines_of_catalog_services_become_the_bundles_samples(tmp_path: Path) -> None:
    catalog = _catalog(tmp_path)
    lines = [
        LogLine(service=s, at=at, level="error", message=m)
        for s, at, m in (
            ("checkout", START + 30.4, "timeout calling payments-db"),
            ("checkout", START - 60, "upstream returned 503"),
            ("ghost", START, "not in the catalog"),
        )
    ]
    bundle = read_bundle(_plan(), catalog=catalog, results=_scan(lines=lines)).bundle
    assert [(s.service, s.timestamp, s.message) for s in bundle.log_samples] == [
        ("checkout", START - 60, "upstream returned 503"),
        ("checkout", START + 30, "timeout calling payments-db"),  # whole seconds, as exported
    ]
