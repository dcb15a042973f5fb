"""The shapes real telemetry comes in, one class at a time: the engine must rank the true cause
first on each, and page nobody when it cannot tell."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
from synth import DETECTED, IncidentBuilder, noisy_series

from investigators.bundle import Bundle, ChangeKind, MetricKind, Series
from investigators.rca import RcaResult, analyse, rank

ERRORS, LATENCY = MetricKind.ERRORS, MetricKind.LATENCY
SATURATION, AVAILABILITY = MetricKind.SATURATION, MetricKind.AVAILABILITY

#: The fault begins two minutes before the alert fired.
ONSET = DETECTED - 120


def names(result: RcaResult) -> list[str]:
    return [r.service for r in result.ranking]


def chain(b: IncidentBuilder) -> None:
    """web -> api -> db, and a bystander ``jobs`` of another team."""
    b.service("web", "storefront", ("api",))
    b.service("api", "core", ("db",))
    b.service("db", "dba", (), "database")
    b.service("jobs", "batch", ())


def errors(b: IncidentBuilder, service: str, *, step_at: float | None, **shape: object) -> None:
    b.metric(
        service,
        "trace.http.request.errors",
        ERRORS,
        level=2.0,
        counts=True,
        step_at=step_at,
        jump=40.0,
        unit="1/s",
        **shape,
    )


def test_a_history_of_a_few_minutes_is_enough_for_a_baseline() -> None:
    # Ten minutes of 10 s data before detection: the fault two minutes in (class 1).
    b = IncidentBuilder()
    chain(b)
    short = {"resolution": 10.0, "hours": 0.25, "end": DETECTED + 300}
    errors(b, "db", step_at=ONSET, **short)
    errors(b, "api", step_at=ONSET + 20, **short)
    errors(b, "web", step_at=ONSET + 40, **short)
    errors(b, "jobs", step_at=None, **short)
    bundle = b.build(symptom_services=("web",), alert=("web", "trace.http.request.errors"))
    assert min(float(m.times[0]) for m in bundle.metrics) > DETECTED - 12 * 60
    result = rank(bundle)
    assert names(result)[0] == "db"
    assert result.notify is not None and result.notify.team == "dba"


def test_a_history_recorded_at_another_time_is_no_evidence() -> None:
    # The history before the window comes from other traffic: every service's level differs
    # from the first point of the window on; the fault comes later, on db (class 2).
    b = IncidentBuilder()
    chain(b)
    splice = ONSET - 15 * 60
    for service in ("web", "api", "db", "jobs"):
        lat = noisy_series(
            service=service,
            name="trace.http.request.duration.p95",
            kind=LATENCY,
            level=50.0,
            noise=2.0,
            unit="ms",
            seed=hash(service) % 1000,
        )
        shifted = np.where(lat.times >= splice, lat.values * 1.6, lat.values)
        b.metrics.append(Series(service, lat.name, LATENCY, lat.times, shifted, unit="ms"))
    errors(b, "db", step_at=ONSET)
    errors(b, "api", step_at=ONSET + 30)
    errors(b, "web", step_at=ONSET + 60)
    result = rank(b.build(symptom_services=("web",), alert=("web", "trace.http.request.errors")))
    assert names(result)[0] == "db"
    assert "jobs" not in names(result)


def test_five_minute_rollups_with_two_points_after_the_onset_are_enough() -> None:
    # Class 3: 5-minute rollups, the data ending ten minutes after the fault.
    b = IncidentBuilder()
    chain(b)
    coarse = {"resolution": 300.0, "hours": 6.0, "end": ONSET + 600}
    errors(b, "db", step_at=ONSET, **coarse)
    errors(b, "api", step_at=ONSET, **coarse)
    errors(b, "web", step_at=ONSET, **coarse)
    result = rank(b.build(symptom_services=("web",), alert=("web", "trace.http.request.errors")))
    assert names(result)[0] == "db"


def caller_only(*, with_logs: bool) -> Bundle:
    """A network fault on ``api``: its own series flat, its two callers' client-side series of
    it and their own errors jump (class 5)."""
    b = IncidentBuilder()
    b.service("web", "storefront", ("api",))
    b.service("admin", "backoffice", ("api",))
    b.service("api", "core", ())
    errors(b, "api", step_at=None)
    for caller in ("web", "admin"):
        errors(b, caller, step_at=ONSET + 20)
        b.metric(
            caller,
            "client.api.errors",
            ERRORS,
            level=1.0,
            counts=True,
            step_at=ONSET,
            jump=30.0,
            unit="1/s",
        )
        if with_logs:
            b.log(caller, "deadline exceeded waiting for api", at=ONSET + 30)
    return b.build(symptom_services=("web",), alert=("web", "trace.http.request.errors"))


def test_a_fault_seen_only_by_the_callers_is_put_on_the_dependency_they_watch() -> None:
    result = rank(caller_only(with_logs=False))
    assert names(result)[0] == "api"
    assert {"web", "admin"} <= set(result.symptoms)


def test_a_silent_external_provider_named_by_its_callers_is_ranked_first_and_its_team_paged() -> (
    None
):
    # Class 6: the provider has no series at all; its callers fail and their logs name it.
    b = IncidentBuilder()
    b.service("web", "storefront", ("checkout",))
    b.service("checkout", "payments", ("stripe",))
    b.service("stripe", "payments-integrations", (), "external")
    errors(b, "checkout", step_at=ONSET)
    b.metric("checkout", "system.cpu.user", SATURATION, level=30, noise=2, unit="percent")
    errors(b, "web", step_at=ONSET + 30)
    b.log("checkout", "timeout calling stripe after 3000ms", at=ONSET + 40)
    analysis = analyse(
        b.build(symptom_services=("web",), alert=("web", "trace.http.request.errors"))
    )
    result = analysis.result
    assert names(result)[0] == "stripe"
    top = result.ranking[0]
    assert "checkout" in top.explains
    assert any("named in the error logs of checkout" in r for r in top.reasons)
    assert result.notify is not None and result.notify.team == "payments-integrations"


def test_without_a_name_in_the_logs_a_silent_provider_behind_one_caller_is_not_paged() -> None:
    b = IncidentBuilder()
    b.service("web", "storefront", ("checkout",))
    b.service("checkout", "payments", ("stripe",))
    b.service("stripe", "payments-integrations", (), "external")
    errors(b, "checkout", step_at=ONSET)
    errors(b, "web", step_at=ONSET + 30)
    result = rank(b.build(symptom_services=("web",), alert=("web", "trace.http.request.errors")))
    assert result.notify is None
    assert "stripe" in names(result)[:2]


def test_logs_naming_a_dependency_tip_the_ranking_towards_it() -> None:
    # Class 8: two dependencies of api both show errors at once; the logs name one of them.
    b = IncidentBuilder()
    b.service("web", "storefront", ("api",))
    b.service("api", "core", ("invoices", "search"))
    b.service("invoices", "billing", ())
    b.service("search", "discovery", ())
    errors(b, "invoices", step_at=ONSET)
    errors(b, "search", step_at=ONSET)
    errors(b, "api", step_at=ONSET + 20)
    errors(b, "web", step_at=ONSET + 40)
    # The one named sorts last, so that no tie-break by name can pass this test.
    b.log("api", "deadline exceeded waiting for search", at=ONSET + 30)
    result = rank(b.build(symptom_services=("web",), alert=("web", "trace.http.request.errors")))
    assert names(result)[0] == "search"


def test_the_tail_of_an_earlier_fault_in_the_baseline_does_not_hide_the_new_one() -> None:
    # Class 7: jobs failed an hour ago and recovered; now db fails.
    b = IncidentBuilder()
    chain(b)
    errors(b, "db", step_at=ONSET)
    errors(b, "api", step_at=ONSET + 30)
    errors(b, "web", step_at=ONSET + 60)
    earlier = noisy_series(
        service="jobs",
        name="trace.http.request.errors",
        kind=ERRORS,
        level=2.0,
        counts=True,
        step_at=ONSET - 3600,
        jump=40.0,
        unit="1/s",
        seed=99,
    )
    recovered = np.where(earlier.times >= ONSET - 1800, earlier.values - 40.0, earlier.values)
    b.metrics.append(Series("jobs", earlier.name, ERRORS, earlier.times, recovered, unit="1/s"))
    result = rank(b.build(symptom_services=("web",), alert=("web", "trace.http.request.errors")))
    assert names(result)[0] == "db"
    assert "jobs" not in names(result)


def test_an_alert_that_barely_moves_ranks_but_pages_nobody() -> None:
    b = IncidentBuilder()
    chain(b)
    errors(b, "db", step_at=ONSET)
    errors(b, "api", step_at=ONSET + 30)
    b.metric("web", "trace.http.request.errors", ERRORS, level=2.0, counts=True, unit="1/s")
    result = rank(b.build(symptom_services=("web",), alert=("web", "trace.http.request.errors")))
    assert names(result)[0] == "db"
    assert result.notify is None


def test_the_analysis_keeps_the_evidence_the_ranking_rests_on() -> None:
    analysis = analyse(caller_only(with_logs=True))
    assert analysis.lead.service == "web"
    assert analysis.lead.onset is not None
    api = analysis.evidence["api"]
    assert any(a.anomalous and a.series.name == "client.api.errors" for a in api.anomalies)


def shared_dependency(*, db_shows_itself: bool, second_caller_jump: float) -> Bundle:
    """``orders`` fails; ``billing`` moves a little or a lot; both call ``db``, whose own
    errors are either measured (and flat) or not measured at all (only its cpu)."""
    b = IncidentBuilder()
    b.service("web", "storefront", ("orders", "billing"))
    b.service("orders", "commerce", ("db",))
    b.service("billing", "finance", ("db",))
    b.service("db", "dba", (), "database")
    if db_shows_itself:
        b.metric("db", "trace.http.request.errors", ERRORS, level=5.0, noise=0.2, unit="1/s")
    b.metric("db", "postgresql.cpu", SATURATION, level=30, noise=2, unit="percent")
    errors(b, "orders", step_at=ONSET)
    b.metric(
        "billing",
        "trace.http.request.errors",
        ERRORS,
        level=20.0,
        noise=1.0,
        step_at=ONSET + 30,
        jump=second_caller_jump,
        unit="1/s",
    )
    errors(b, "web", step_at=ONSET + 60)
    return b.build(symptom_services=("web",), alert=("web", "trace.http.request.errors"))


def test_callers_failing_together_do_not_blame_a_dependency_whose_own_errors_look_normal() -> None:
    # db measures its own errors and they are flat: whatever fails orders and billing, it is
    # not db failing them (class 5 stays for dependencies that cannot show it themselves).
    result = rank(shared_dependency(db_shows_itself=True, second_caller_jump=40.0))
    assert names(result)[0] in ("orders", "billing")
    assert result.notify is None or result.notify.service != "db"


def test_a_dependency_that_cannot_show_errors_is_suspected_when_its_callers_fail_together() -> None:
    result = rank(shared_dependency(db_shows_itself=False, second_caller_jump=40.0))
    assert names(result)[0] == "db"
    assert {"orders", "billing"} <= set(result.ranking[0].explains)


def test_a_caller_that_barely_moved_is_no_second_witness_against_its_dependency() -> None:
    # billing's errors rise only under the anomaly bar (admitted as a faint dependency of web):
    # one caller in trouble does not put the blame below it.
    analysis = analyse(shared_dependency(db_shows_itself=False, second_caller_jump=2.0))
    assert analysis.evidence["billing"].weak
    assert names(analysis.result)[0] == "orders"


def test_a_dependency_named_in_the_logs_of_a_failing_caller_but_measured_normal_is_not_blamed() -> (
    None
):
    # api runs out of memory and times out on everything, its logs naming cache; cache measures
    # its own errors and they are flat: api is the cause, cache a name in its logs.
    b = IncidentBuilder()
    b.service("web", "storefront", ("api",))
    b.service("api", "core", ("cache",))
    b.service("cache", "platform", ())
    b.metric("cache", "trace.http.request.errors", ERRORS, level=5.0, noise=0.2, unit="1/s")
    b.metric("api", "container.memory.usage_pct", SATURATION, level=40, noise=1, unit="percent")
    errors(b, "api", step_at=ONSET)
    errors(b, "web", step_at=ONSET + 30)
    b.log("api", "timeout calling cache after 2000ms", at=ONSET + 20)
    result = rank(b.build(symptom_services=("web",), alert=("web", "trace.http.request.errors")))
    assert names(result)[0] == "api"
    assert result.notify is None or result.notify.service == "api"


def test_a_slower_dependency_named_in_a_failing_callers_logs_explains_its_failures() -> None:
    # segment (external) got four times slower; maps fails and its logs say calls to segment
    # time out: slower calls do fail maps here, so segment is the cause (classes 6 and 8).
    b = IncidentBuilder()
    b.service("app", "mobile", ("maps",))
    b.service("maps", "geo", ("segment",))
    b.service("segment", "analytics-integrations", (), "external")
    b.metric(
        "segment",
        "trace.http.client.duration.p95",
        LATENCY,
        level=120.0,
        noise=5.0,
        step_at=ONSET - 60,
        jump=380.0,
        unit="ms",
    )
    errors(b, "maps", step_at=ONSET)
    errors(b, "app", step_at=ONSET + 30)
    b.log("maps", "timeout calling segment after 500ms", at=ONSET + 20)
    result = rank(b.build(symptom_services=("app",), alert=("app", "trace.http.request.errors")))
    assert names(result)[0] == "segment"


def test_a_caller_whose_slowness_its_dependency_accounts_for_is_not_paged_for() -> None:
    # store got 280 ms slower; api, which calls it, got 300 ms slower and fails, and deployed
    # twelve minutes before. Whether api fails of its own or times out on store, the data cannot
    # say: whoever is ranked first, nobody is paged.
    b = IncidentBuilder()
    b.service("web", "storefront", ("api",))
    b.service("api", "platform", ("store",))
    b.service("store", "identity", ())
    for service, level, jump in (("store", 70.0, 280.0), ("api", 100.0, 300.0)):
        b.metric(
            service,
            "trace.http.request.duration.p95",
            LATENCY,
            level=level,
            noise=3.0,
            step_at=ONSET,
            jump=jump,
            unit="ms",
        )
    errors(b, "api", step_at=ONSET + 10)
    errors(b, "web", step_at=ONSET + 40)
    b.change("api", at=ONSET - 12 * 60, change_id="9160d33", title="Refactor request validation")
    result = rank(b.build(symptom_services=("web",), alert=("web", "trace.http.request.errors")))
    assert names(result)[:2] in (["api", "store"], ["store", "api"])
    assert result.ranking[0].confidence != "high"
    assert result.notify is None


def test_a_change_that_fails_only_its_callers_is_ranked_first() -> None:
    # pricing was deployed and now returns wrong answers: its own errors stay flat and its cpu
    # barely moves; api, which calls it, fails two minutes later (class 5, a code fault).
    b = IncidentBuilder()
    b.service("web", "storefront", ("api",))
    b.service("api", "core", ("pricing",))
    b.service("pricing", "revenue", ())
    b.metric("pricing", "trace.http.request.errors", ERRORS, level=5.0, noise=0.2, unit="1/s")
    b.metric(  # cpu a touch higher: nothing exhausted, nothing a caller would feel
        "pricing",
        "system.cpu.user",
        SATURATION,
        level=30,
        noise=0.3,
        step_at=ONSET,
        jump=1.5,
        unit="percent",
    )
    errors(b, "api", step_at=ONSET)
    errors(b, "web", step_at=ONSET + 30)
    b.change("pricing", at=ONSET - 120, change_id="f41d298", title="Bump dependencies")
    result = rank(b.build(symptom_services=("web",), alert=("web", "trace.http.request.errors")))
    assert names(result)[0] == "pricing"
    assert "api" in result.ranking[0].explains


def test_a_change_that_slows_a_service_a_little_and_fails_its_caller_is_ranked_first() -> None:
    # thumbs was reconfigured (an upstream timeout of 0 ms) and answers a little slower, never
    # failing; feed, which calls it, fails five times as often from a minute later and the
    # alert is on failures. A little slowness would not fail a caller, but a change just before
    # does: thumbs first (class 5).
    b = IncidentBuilder()
    b.service("web", "storefront", ("feed",))
    b.service("feed", "growth", ("thumbs",))
    b.service("thumbs", "media", ())
    b.metric("thumbs", "trace.http.request.errors", ERRORS, level=2.0, noise=0.3, unit="1/s")
    b.metric(
        "thumbs",
        "trace.http.request.duration.p95",
        LATENCY,
        level=60,
        noise=3,
        step_at=ONSET,
        jump=60,
        unit="ms",
    )
    errors(b, "feed", step_at=ONSET + 30)
    errors(b, "web", step_at=ONSET + 60)
    b.change("thumbs", at=ONSET - 120, kind=ChangeKind.CONFIG, change_id="6988ee9", title="timeout")
    result = rank(b.build(symptom_services=("web",), alert=("web", "trace.http.request.errors")))
    assert names(result)[0] == "thumbs"
    assert "feed" in result.ranking[0].explains


def test_an_older_deploy_of_one_caller_does_not_hide_the_silent_provider_behind_them() -> None:
    # stripe (no telemetry) fails; its three callers fail at once; one of them deployed 50
    # minutes earlier, which is no better an explanation than the provider (class 6).
    b = IncidentBuilder()
    b.service("gateway", "edge", ("vendors", "plans", "consent"))
    for caller in ("vendors", "plans", "consent"):
        b.service(caller, f"team-{caller}", ("stripe",))
        errors(b, caller, step_at=ONSET)
    b.service("stripe", "payments-integrations", (), "external")
    errors(b, "gateway", step_at=ONSET + 30)
    b.change("vendors", at=ONSET - 50 * 60, change_id="a1b2c3d", title="Tidy handlers")
    result = rank(
        b.build(symptom_services=("gateway",), alert=("gateway", "trace.http.request.errors"))
    )
    assert names(result)[0] == "stripe"
    assert {"vendors", "plans", "consent"} <= set(result.ranking[0].explains)


def test_a_callers_own_deploy_does_not_hide_a_later_change_of_the_dependency_it_calls() -> None:
    # flags (only cpu and memory measured) had a flag flipped 3 minutes before its two callers
    # began to fail together; one of them was deployed 16 minutes before that. The flag is the
    # nearer change, so the caller's deploy does not keep it from witnessing (class 6).
    b = IncidentBuilder()
    b.service("edge", "web", ("bff", "app"))
    b.service("bff", "mobile", ("flags",))
    b.service("app", "storefront", ("flags",))
    b.service("flags", "catalog", ())
    for name in ("system.cpu.user", "container.memory.usage_pct"):
        b.metric("flags", name, SATURATION, level=40, noise=0.5, unit="percent")
    errors(b, "bff", step_at=ONSET)
    errors(b, "app", step_at=ONSET)
    errors(b, "edge", step_at=ONSET + 30)
    b.change("bff", at=ONSET - 16 * 60, change_id="1566188", title="Tune retry budget")
    b.change("flags", at=ONSET - 180, change_id="7e3ac38", title="Enable flag fast-path")
    bundle = b.build(symptom_services=("bff",), alert=("bff", "trace.http.request.errors"))
    result = rank(bundle)
    assert names(result)[0] == "flags"
    assert {"bff", "app"} <= set(result.ranking[0].explains)
    # The flag flipped before the deploy: the deploy is the nearer change, and bff its own
    # suspect again (flags keeps app, its one clean witness, and its change).
    b.changes[-1] = dataclasses.replace(b.changes[-1], at=ONSET - 20 * 60)
    result = rank(b.build(symptom_services=("bff",), alert=("bff", "trace.http.request.errors")))
    assert "bff" not in next(r.explains for r in result.ranking if r.service == "flags")


def test_a_silent_dependencys_change_is_timed_against_when_its_caller_began_to_fail() -> None:
    # thumbs (only cpu and memory measured) got a config change 2 minutes before its one caller
    # began to fail; that caller's memory had crept up half an hour earlier, which is not when
    # its calls failed (class 6: the change is what fails the caller).
    b = IncidentBuilder()
    b.service("web", "storefront", ("feed",))
    b.service("feed", "growth", ("thumbs",))
    b.service("thumbs", "media", ())
    for name in ("system.cpu.user", "container.memory.usage_pct"):
        b.metric("thumbs", name, SATURATION, level=40, noise=0.5, unit="percent")
    b.metric(
        "feed",
        "container.memory.usage_pct",
        SATURATION,
        level=40,
        noise=0.3,
        step_at=ONSET - 30 * 60,
        jump=4.0,
        unit="percent",
    )
    errors(b, "feed", step_at=ONSET)
    errors(b, "web", step_at=ONSET + 30)
    b.change("thumbs", at=ONSET - 120, kind=ChangeKind.CONFIG, change_id="6988ee9", title="limits")
    result = rank(b.build(symptom_services=("web",), alert=("web", "trace.http.request.errors")))
    assert names(result)[0] == "thumbs"
    assert result.ranking[0].explains == ["feed"]


def _leak(service: str, *, began: float, crashed: float, seed: int) -> Series:
    """Memory that leaks from ``began`` until it nears full at ``crashed``, then restarts and
    fills up again every few minutes (a pod killed for using too much memory)."""
    base = noisy_series(
        service=service,
        name="container.memory.usage_pct",
        kind=SATURATION,
        level=45.0,
        noise=0.3,
        unit="percent",
        seed=seed,
    )
    t = base.times
    ramp = np.clip((t - began) / (crashed - began), 0.0, 1.0) * 47.0
    cycle = ((t - crashed) % 240.0) / 240.0 * 30.0 + 60.0  # 60% after a restart, up to 90%
    values = np.where(t < crashed, base.values + ramp, cycle)
    return Series(service, base.name, SATURATION, t, values, unit="percent")


def test_a_leak_is_dated_from_when_it_ran_out_not_when_it_began() -> None:
    # cache-svc measures only its cpu and memory: a leak from 95 min before the alert fills
    # its memory until the pod is killed, 3 minutes before the alert, and restarts again and
    # again. Its caller api begins to fail then. The leak's beginning, an hour and a half before
    # anything else, is not when its callers felt it; running out is.
    b = IncidentBuilder()
    b.service("web", "storefront", ("api",))
    b.service("api", "core", ("cache-svc", "db"))
    b.service("cache-svc", "caching", ())
    b.service("db", "dba", (), "database")
    b.metrics.append(_leak("cache-svc", began=DETECTED - 95 * 60, crashed=ONSET - 60, seed=5))
    b.metric("cache-svc", "system.cpu.user", SATURATION, level=30.0, noise=1.0, unit="percent")
    errors(b, "api", step_at=ONSET)
    errors(b, "web", step_at=ONSET + 30)
    errors(b, "db", step_at=None)
    bundle = b.build(symptom_services=("web",), alert=("web", "trace.http.request.errors"))
    result = rank(bundle)
    assert names(result)[0] == "cache-svc"
    # The reasons say how full it got and when, not only where it began.
    said = "; ".join(result.ranking[0].reasons)
    assert re.search(r"memory \d+%, up from \d+% since [\d:]+ UTC, (8\d|9\d)% by [\d:]+ UTC", said)


def test_a_cache_a_little_slower_with_memory_to_spare_does_not_fail_its_caller() -> None:
    # api fails on its own (a code fault). Four minutes earlier its cache got 1.3 ms slower,
    # and four minutes after api the cache's memory rose from 38% to 51%: far from full. Calls a
    # little slower fail nobody, and a resource with room left exhausts nothing (class 5).
    b = IncidentBuilder()
    b.service("web", "storefront", ("api",))
    b.service("api", "core", ("cache",))
    b.service("cache", "platform", (), "cache")
    b.metric(
        "cache", "cache.latency.p95", LATENCY, level=1.9, noise=0.05, unit="ms",
        step_at=ONSET - 240, jump=1.3,
    )  # fmt: skip
    b.metric(
        "cache", "cache.memory", SATURATION, level=38.0, noise=0.3, unit="percent",
        step_at=ONSET + 240, jump=13.0,
    )  # fmt: skip
    errors(b, "api", step_at=ONSET)
    errors(b, "web", step_at=ONSET + 30)
    bundle = b.build(symptom_services=("web",), alert=("web", "trace.http.request.errors"))
    result = rank(bundle)
    assert names(result)[0] == "api"
    assert result.notify is None or result.notify.team == "core"


def two_watched_dependencies(*, apart: float, search_jump: float = 30.0) -> Bundle:
    """``web`` watches its calls to ``api`` and ``search`` (client-side errors, from 1/s up by
    30/s and by ``search_jump``); the one to ``search`` turned bad ``apart`` seconds before the
    one to ``api``, just before web failed."""
    b = IncidentBuilder()
    b.service("web", "storefront", ("api", "search"))
    b.service("api", "core", ())
    b.service("search", "discovery", ())
    errors(b, "web", step_at=ONSET + 20)
    for dep, at, jump in (
        ("api", ONSET - 60, 30.0),
        ("search", ONSET - 60 - apart, search_jump),
    ):
        b.metric(
            "web", f"client.{dep}.errors", ERRORS, level=1.0, counts=True, step_at=at, jump=jump
        )
    return b.build(symptom_services=("web",), alert=("web", "trace.http.request.errors"))


def watched_from(bundle: Bundle, dep: str) -> list[str]:
    """The callers whose anomalous client-side series count as ``dep``'s."""
    return [
        a.seen_from or ""
        for a in analyse(bundle).evidence[dep].anomalies
        if a.seen_from and a.anomalous
    ]


def test_a_dependency_that_went_bad_minutes_apart_from_the_callers_others_is_its_own() -> None:
    # Client-side errors of search rose 8 minutes before those of api: not one caller's
    # trouble with all its calls at once, but two dependencies of its own, each seen by it.
    bundle = two_watched_dependencies(apart=480)
    assert watched_from(bundle, "api") == ["web"]
    assert watched_from(bundle, "search") == ["web"]
    assert names(rank(bundle))[0] == "api"


def test_dependencies_that_went_bad_together_stay_the_callers_own_trouble() -> None:
    bundle = two_watched_dependencies(apart=60)
    assert watched_from(bundle, "api") == []
    assert watched_from(bundle, "search") == []


def test_a_dependency_failing_many_times_over_beside_one_barely_worse_is_its_own() -> None:
    # Within a minute of each other, web's calls to api fail 31 times as often, its calls to
    # search twice as often: a caller in trouble makes all its calls go bad alike, so this is
    # api's trouble, seen by web. search's faint rise beside it stays web's.
    bundle = two_watched_dependencies(apart=60, search_jump=1.0)
    assert watched_from(bundle, "api") == ["web"]
    assert watched_from(bundle, "search") == []
    assert names(rank(bundle))[0] == "api"


def test_failures_a_caller_saw_pass_through_it_when_it_has_no_errors_series_of_its_own() -> None:
    # Class 6: ``sms`` (no telemetry) fails; ``notify`` watches its calls to it (client-side
    # errors) but exports only latency and cpu of its own; ``api`` above it fails a minute
    # later. The failures went through notify unseen: sms explains api's.
    b = IncidentBuilder()
    b.service("web", "storefront", ("api",))
    b.service("api", "core", ("notify",))
    b.service("notify", "messaging", ("sms",))
    b.service("sms", "messaging", (), "external")
    b.metric(
        "notify", "client.sms.errors", ERRORS, level=1.0, counts=True, step_at=ONSET, jump=30.0
    )
    b.metric("notify", "trace.http.request.duration.p95", LATENCY, level=120.0, unit="ms")
    b.metric("notify", "system.cpu.user", SATURATION, level=30, noise=2, unit="percent")
    errors(b, "api", step_at=ONSET + 60)
    errors(b, "web", step_at=ONSET + 90)
    result = rank(b.build(symptom_services=("web",), alert=("web", "trace.http.request.errors")))
    assert names(result)[0] == "sms"
    assert "api" in result.ranking[0].explains
    assert "api" in result.symptoms


def episode(service: str, *, start: float, end: float, then: float | None, seed: int) -> Series:
    """Errors of ``service``: up by 100/s from ``start`` to ``end``, back, and up by 100/s
    again from ``then`` (when given)."""
    base = noisy_series(
        service=service,
        name="trace.http.request.errors",
        kind=ERRORS,
        level=2.0,
        counts=True,
        unit="1/s",
        seed=seed,
    )
    t = base.times
    up = ((t >= start) & (t < end)) | ((t >= then) if then is not None else False)
    return Series(service, base.name, ERRORS, t, base.values + 100.0 * up, unit="1/s")


def test_an_alert_series_back_to_normal_before_this_episode_is_led_by_this_one() -> None:
    # Class 7, on the alerting series itself: web failed from 33 to 18 minutes before
    # detection (old failed under it), was back to normal for 15 minutes, and failed again
    # from two minutes before detection (db fails now). The larger, earlier episode had ended:
    # this one leads.
    b = IncidentBuilder()
    b.service("web", "storefront", ("old", "db"))
    b.service("old", "legacy", ())
    b.service("db", "dba", (), "database")
    earlier = (DETECTED - 2000, DETECTED - 1100)
    b.metrics.append(episode("web", start=earlier[0] + 60, end=earlier[1], then=ONSET + 30, seed=1))
    b.metrics.append(episode("old", start=earlier[0], end=earlier[1], then=None, seed=2))
    b.metrics.append(episode("db", start=ONSET, end=ONSET, then=ONSET, seed=3))
    analysis = analyse(
        b.build(symptom_services=("web",), alert=("web", "trace.http.request.errors"))
    )
    assert analysis.lead.onset is not None and abs(analysis.lead.onset - (ONSET + 30)) <= 120
    assert names(analysis.result)[0] == "db"
