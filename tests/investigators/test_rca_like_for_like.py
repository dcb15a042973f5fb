"""What real telemetry taught the engine (PetShop's AWS traces among others): compare like
with like, and let the alert say what kind of trouble to look for."""

from __future__ import annotations

import numpy as np
from synth import DETECTED, IncidentBuilder

from investigators.bundle import MetricKind, Series
from investigators.rca import rank

LATENCY, AVAILABILITY = MetricKind.LATENCY, MetricKind.AVAILABILITY
ONSET = DETECTED - 120


def names(bundle_result: object) -> list[str]:
    return [r.service for r in bundle_result.ranking]  # type: ignore[attr-defined]


def latency(b: IncidentBuilder, service: str, stat: str, **shape: object) -> None:
    b.metric(service, f"latency.{stat}", LATENCY, unit="ms", **shape)


def test_a_dependency_whose_tail_rose_does_not_explain_a_caller_whose_mean_rose_far_more() -> None:
    # db's p99 rose by 70 ms but its mean by 2 ms; api's mean rose by 400 ms. Means add up
    # along calls, percentiles do not: db cannot account for api.
    b = IncidentBuilder()
    b.service("web", "storefront", ("api",))
    b.service("api", "payments", ("db",))
    b.service("db", "dba", (), "database")
    latency(b, "web", "average", level=100.0, noise=2.0, step_at=ONSET, jump=300.0)
    latency(b, "api", "average", level=200.0, noise=4.0, step_at=ONSET, jump=400.0)
    latency(b, "api", "p99", level=500.0, noise=10.0, step_at=ONSET, jump=350.0)
    latency(b, "db", "average", level=7.0, noise=0.1, step_at=ONSET, jump=2.0)
    latency(b, "db", "p99", level=22.0, noise=1.0, step_at=ONSET, jump=70.0)
    result = rank(b.build(symptom_services=("web",), alert=("web", "latency.average")))
    assert names(result)[0] == "api"


def _series(service: str, name: str, kind: MetricKind, values: np.ndarray, unit: str) -> Series:
    times = DETECTED + 1860.0 - (values.size - np.arange(values.size)) * 60.0
    return Series(service=service, name=name, kind=kind, times=times, values=values, unit=unit)


def test_a_faint_alert_still_says_what_kind_of_trouble_to_look_for() -> None:
    # The alert fired on web's availability, which hardly moved against its history; web's
    # latency wobbles more, yet nothing is slow below it that matters as much as api, whose
    # calls fail. What needs explaining is failures.
    b = IncidentBuilder()
    b.service("web", "storefront", ("api", "search"))
    b.service("api", "adoptions", ())
    b.service("search", "search", ())
    rng = np.random.default_rng(7)
    n = 180
    t = DETECTED + 1860.0 - (n - np.arange(n)) * 60.0
    avail = 100.0 - np.abs(rng.normal(0, 0.15, n)) - 0.1 * (t >= ONSET)
    b.metrics.append(_series("web", "availability.average", AVAILABILITY, avail, "%"))
    lat = 100.0 + rng.normal(0, 3.0, n) + 7.0 * (t >= ONSET)
    b.metrics.append(_series("web", "latency.average", LATENCY, lat, "ms"))
    b.metric(
        "api",
        "availability.average",
        AVAILABILITY,
        level=100.0,
        noise=0.0,
        step_at=ONSET,
        jump=-2.5,
        unit="%",
    )
    latency(b, "api", "average", level=20.0, noise=0.5)
    latency(b, "search", "average", level=30.0, noise=0.5, step_at=ONSET, jump=6.0)
    b.metric("search", "availability.average", AVAILABILITY, level=100.0, noise=0.0, unit="%")
    result = rank(b.build(symptom_services=("web",), alert=("web", "availability.average")))
    assert names(result)[0] == "api"
    assert result.notify is None  # the alert's own series shows too little to page on


def test_a_dependency_barely_over_the_bar_does_not_explain_away_a_caller_far_over_it() -> None:
    # db's latency rose by 150 ms against a noise of 30 ms; api's by 300 ms against 2 ms. A
    # fault passed up from db would show at least as clearly on db as on api.
    b = IncidentBuilder()
    b.service("web", "storefront", ("api",))
    b.service("api", "payments", ("db",))
    b.service("db", "dba", (), "database")
    latency(b, "web", "average", level=100.0, noise=2.0, step_at=ONSET, jump=300.0)
    latency(b, "api", "average", level=100.0, noise=2.0, step_at=ONSET, jump=300.0)
    latency(b, "db", "average", level=100.0, noise=30.0, step_at=ONSET, jump=150.0)
    result = rank(b.build(symptom_services=("web",), alert=("web", "latency.average")))
    assert names(result)[0] == "api"
