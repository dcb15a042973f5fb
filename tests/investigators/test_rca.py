"""The root-cause engine on small hand-built incidents: who ranks first, who is tagged, and why."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

import pytest
from synth import DETECTED, IncidentBuilder

from investigators.anomaly import Z_CAP, score_series
from investigators.bundle import Bundle, ChangeKind, MetricKind
from investigators.rca import RcaResult, rank

ERRORS, LATENCY = MetricKind.ERRORS, MetricKind.LATENCY
SATURATION, TRAFFIC = MetricKind.SATURATION, MetricKind.TRAFFIC

#: When the synthetic faults begin: four minutes before the alert fired.
ONSET = DETECTED - 240


def caller_errors(b: IncidentBuilder, service: str, *, delay: float, jump: float = 300.0) -> None:
    """A caller whose error count jumps ``delay`` seconds after the fault, latency unmoved."""
    b.metric(
        service,
        "trace.http.request.errors",
        ERRORS,
        level=2.0,
        counts=True,
        step_at=ONSET + delay,
        jump=jump,
        unit="1/s",
    )
    b.metric(service, "trace.http.request.duration.p95", LATENCY, level=50, noise=3, unit="ms")


def error_counts(
    b: IncidentBuilder, service: str, *, level: float, at: float | None = None, jump: float = 0.0
) -> None:
    """An error count around ``level``, up by ``jump`` from ``at``."""
    b.metric(
        service,
        "trace.http.request.errors",
        ERRORS,
        level=level,
        counts=True,
        step_at=at,
        jump=jump,
    )


def shop(b: IncidentBuilder) -> None:
    """frontend -> checkout, orders-api -> orders-db; four teams."""
    b.service("frontend", "web", ("checkout", "orders-api"))
    b.service("checkout", "payments", ("orders-db",))
    b.service("orders-api", "commerce", ("orders-db",))
    b.service("orders-db", "dba", (), "database")


def db_saturation(*, symptoms: tuple[str, ...] = ("frontend",)) -> Bundle:
    """The database's connections and query latency rise by about 10 robust-sd; its callers'
    error counts jump a hundredfold a minute or two later."""
    b = IncidentBuilder()
    shop(b)
    b.metric(
        "orders-db",
        "postgresql.percent_usage_connections",
        SATURATION,
        level=50,
        noise=3,
        step_at=ONSET,
        jump=19,
        unit="percent",
    )
    b.metric(
        "orders-db",
        "postgresql.queries.duration.p95",
        LATENCY,
        level=5,
        noise=0.5,
        step_at=ONSET,
        jump=3.2,
        unit="ms",
    )
    caller_errors(b, "checkout", delay=60)
    caller_errors(b, "orders-api", delay=90)
    caller_errors(b, "frontend", delay=120)
    return b.build(incident_id="INC-DB", symptom_services=symptoms)


def bad_deploy(seed: int = 0) -> Bundle:
    """A deploy breaks the leaf ``pricing``; its caller ``checkout`` had a deploy too, earlier,
    and is anomalous (a red herring); ``catalog`` had a deploy and is healthy."""
    b = IncidentBuilder(seed=seed)
    b.service("web", "web", ("checkout",))
    b.service("checkout", "payments", ("pricing", "catalog"))
    b.service("pricing", "growth", ())
    b.service("catalog", "search", ())
    b.metric(
        "pricing", "trace.http.request.errors", ERRORS, level=1, counts=True, step_at=ONSET, jump=20
    )
    b.metric("pricing", "trace.http.request.duration.p95", LATENCY, level=20, noise=1, unit="ms")
    b.metric(
        "checkout",
        "trace.http.request.errors",
        ERRORS,
        level=3,
        counts=True,
        step_at=ONSET + 60,
        jump=60,
    )
    b.metric("checkout", "trace.http.request.duration.p95", LATENCY, level=80, noise=4, unit="ms")
    b.metric(
        "web",
        "trace.http.request.errors",
        ERRORS,
        level=5,
        counts=True,
        step_at=ONSET + 90,
        jump=60,
    )
    b.metric("catalog", "trace.http.request.errors", ERRORS, level=1, counts=True)
    b.metric("catalog", "trace.http.request.duration.p95", LATENCY, level=20, noise=1, unit="ms")
    b.change("pricing", at=ONSET - 120, change_id="a1b2c3d", title="New discount rules")
    b.change("checkout", at=ONSET - 300, change_id="feedbee", title="Bump dependencies")
    b.change("catalog", at=ONSET - 60, change_id="cafe123", title="Tidy templates")
    return b.build(incident_id="INC-DEPLOY", symptom_services=("web",))


def all_quiet() -> Bundle:
    """Noise everywhere, a deploy right at detection, and nothing wrong."""
    b = IncidentBuilder()
    shop(b)
    for service in ("frontend", "checkout", "orders-api"):
        b.metric(service, "trace.http.request.errors", ERRORS, level=2, counts=True)
        b.metric(service, "trace.http.request.duration.p95", LATENCY, level=50, noise=3)
        b.metric(service, "trace.http.request.hits", TRAFFIC, level=200, noise=8)
    b.metric("orders-db", "postgresql.percent_usage_connections", SATURATION, level=50, noise=3)
    b.change("checkout", at=DETECTED - 60, change_id="0ddba11")
    return b.build(incident_id="INC-QUIET", symptom_services=("frontend",))


def two_unrelated(*, symptoms: tuple[str, ...] = ()) -> Bundle:
    """Two services of two teams, no edge between them, the same fault at about the same time."""
    b = IncidentBuilder()
    b.service("search", "discovery", ())
    b.service("billing", "finance", ())
    b.metric(
        "search", "trace.http.request.errors", ERRORS, level=2, counts=True, step_at=ONSET, jump=40
    )
    b.metric(
        "billing",
        "trace.http.request.errors",
        ERRORS,
        level=2,
        counts=True,
        step_at=ONSET + 30,
        jump=40,
    )
    return b.build(incident_id="INC-TWO", symptom_services=symptoms)


def cycle(gap: float = 300.0) -> Bundle:
    """a -> b -> c -> a, plus d that calls itself and a; trouble starts at c, reaches b ``gap``
    seconds later, then a and d."""
    b = IncidentBuilder()
    b.service("a", "team-a", ("b",))
    b.service("b", "team-b", ("c",))
    b.service("c", "team-c", ("a",))
    b.service("d", "team-d", ("d", "a"))
    b.metric(
        "c", "trace.http.request.errors", ERRORS, level=2, counts=True, step_at=ONSET - gap, jump=40
    )
    b.metric("b", "trace.http.request.errors", ERRORS, level=2, counts=True, step_at=ONSET, jump=40)
    for service in ("a", "d"):
        b.metric(
            service,
            "trace.http.request.errors",
            ERRORS,
            level=2,
            counts=True,
            step_at=ONSET + gap,
            jump=40,
        )
    return b.build(incident_id="INC-CYCLE", symptom_services=("a",))


def with_silent_services() -> Bundle:
    """``ghost`` has no metrics at all, yet is a dependency and a declared symptom."""
    b = IncidentBuilder()
    b.service("web", "web", ("api", "ghost"))
    b.service("api", "core", ("ghost",))
    b.service("ghost", "core", ())
    b.service("island", "ops", ())
    b.metric(
        "api", "trace.http.request.errors", ERRORS, level=2, counts=True, step_at=ONSET, jump=40
    )
    b.metric(
        "web",
        "trace.http.request.errors",
        ERRORS,
        level=2,
        counts=True,
        step_at=ONSET + 60,
        jump=40,
    )
    return b.build(incident_id="INC-SILENT", symptom_services=("web", "ghost"))


def no_metrics_at_all() -> Bundle:
    b = IncidentBuilder()
    shop(b)
    b.change("checkout", at=DETECTED - 60, change_id="abc1234")
    return b.build(incident_id="INC-EMPTY", symptom_services=("frontend",))


ALL_INCIDENTS: list[Callable[[], Bundle]] = [
    db_saturation,
    bad_deploy,
    all_quiet,
    two_unrelated,
    cycle,
    with_silent_services,
    no_metrics_at_all,
]


def names(result: RcaResult) -> list[str]:
    return [r.service for r in result.ranking]


def reasons_of(result: RcaResult, service: str) -> str:
    return " | ".join(next(r for r in result.ranking if r.service == service).reasons)


# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("symptoms", [("frontend",), ()], ids=["alert-on-frontend", "no-alert"])
def test_a_saturated_database_ranks_first_though_its_callers_look_far_worse(
    symptoms: tuple[str, ...],
) -> None:
    bundle = db_saturation(symptoms=symptoms)
    scores = score_series(bundle.metrics, detected_at=DETECTED)
    db_z = max(a.score for a in scores if a.series.service == "orders-db")
    caller_z = [a.score for a in scores if a.series.name == "trace.http.request.errors"]
    assert all(z == Z_CAP for z in caller_z)  # capped; uncapped they are in the hundreds
    assert min(caller_z) >= 5 * db_z  # the premise: callers look several times worse

    result = rank(bundle)

    assert names(result)[0] == "orders-db"
    top = result.ranking[0]
    assert {"checkout", "orders-api", "frontend"} <= set(top.explains)
    assert {"checkout", "orders-api", "frontend"} <= set(result.symptoms)
    assert "orders-db" not in result.symptoms
    assert "percent_usage_connections" in reasons_of(result, "orders-db")
    # Without an alert, the cascade it explains stands in for one.
    assert result.notify is not None
    assert (result.notify.team, result.notify.service) == ("dba", "orders-db")
    assert top.confidence == "high"


def connections_run_out(b: IncidentBuilder, *, jump: float) -> None:
    """The shop, with orders-db's connections in use rising by ``jump`` points at the onset and
    its callers failing a minute or two later."""
    shop(b)
    b.metric(
        "orders-db",
        "postgresql.percent_usage_connections",
        SATURATION,
        level=50,
        noise=3,
        step_at=ONSET,
        jump=jump,
        unit="percent",
    )
    caller_errors(b, "checkout", delay=60)
    caller_errors(b, "orders-api", delay=90)
    caller_errors(b, "frontend", delay=120)


def test_a_database_out_of_connections_ranks_first_though_its_query_latency_is_flat() -> None:
    b = IncidentBuilder()
    connections_run_out(b, jump=48)
    # Queries that do get a connection run as fast as ever.
    b.metric("orders-db", "postgresql.queries.duration.p95", LATENCY, level=5, noise=0.5, unit="ms")
    result = rank(b.build(symptom_services=("frontend",)))
    assert names(result)[0] == "orders-db"


@pytest.mark.parametrize("seed", [0, 10, 20])
def test_a_bad_deploy_on_a_leaf_beats_a_red_herring_deploy_on_its_caller(seed: int) -> None:
    result = rank(bad_deploy(seed))

    assert names(result)[0] == "pricing"
    top = reasons_of(result, "pricing")
    assert "a1b2c3d" in top
    assert "feedbee" not in top
    assert {"checkout", "web"} <= set(result.ranking[0].explains)
    assert "checkout" in result.symptoms
    assert result.notify is not None
    assert (result.notify.team, result.notify.service) == ("growth", "pricing")


def test_a_deploy_on_a_healthy_service_never_puts_it_in_the_ranking() -> None:
    result = rank(bad_deploy())
    assert "catalog" not in names(result)
    assert "cafe123" not in json.dumps(result.document())


def test_nothing_anomalous_means_no_suspect_and_nobody_tagged() -> None:
    result = rank(all_quiet())
    assert result.ranking == []
    assert result.symptoms == []
    assert result.notify is None
    assert result.incident_id == "INC-QUIET"


@pytest.mark.parametrize("symptoms", [(), ("search", "billing")], ids=["no-alert", "both-alerting"])
def test_two_unrelated_suspects_of_different_teams_tag_nobody(symptoms: tuple[str, ...]) -> None:
    result = rank(two_unrelated(symptoms=symptoms))
    assert set(names(result)) == {"search", "billing"}
    assert result.notify is None
    assert result.ranking[0].confidence != "high"


@pytest.mark.parametrize("make", ALL_INCIDENTS, ids=lambda f: f.__name__)
def test_scores_are_in_0_1_and_the_ranking_is_best_first(make: Callable[[], Bundle]) -> None:
    ranking = rank(make()).ranking
    scores = [r.score for r in ranking]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores == sorted(scores, reverse=True)
    suspects = [r.service for r in ranking]
    assert len(set(suspects)) == len(suspects)  # each service once


@pytest.mark.parametrize("make", ALL_INCIDENTS, ids=lambda f: f.__name__)
def test_the_json_result_has_the_shape_the_spec_gives(make: Callable[[], Bundle]) -> None:
    bundle = make()
    document = json.loads(rank(bundle).to_json())

    assert set(document) == {"incident_id", "ranking", "symptoms", "notify"}
    assert document["incident_id"] == bundle.incident.id
    known = bundle.service_names()
    for entry in document["ranking"]:
        assert set(entry) == {"service", "score", "confidence", "reasons", "explains"}
        assert entry["service"] in known
        assert isinstance(entry["score"], int | float)
        assert 0 <= entry["score"] <= 1
        assert entry["confidence"] in {"high", "medium", "low"}
        assert all(isinstance(r, str) and r for r in entry["reasons"])
        assert all(isinstance(s, str) and s in known for s in entry["explains"])
        assert entry["service"] not in entry["explains"]
    ranked = {entry["service"] for entry in document["ranking"]}
    assert all(isinstance(s, str) and s in ranked for s in document["symptoms"])
    notify = document["notify"]
    if notify is not None:
        assert set(notify) == {"team", "service"}
        owner = next(s.team for s in bundle.services if s.name == notify["service"])
        assert notify["team"] == owner
        assert notify["service"] == document["ranking"][0]["service"]


@pytest.mark.parametrize("make", ALL_INCIDENTS, ids=lambda f: f.__name__)
def test_every_clearly_anomalous_service_is_ranked(make: Callable[[], Bundle]) -> None:
    bundle = make()
    clearly = {
        a.series.service
        for a in score_series(bundle.metrics, detected_at=DETECTED)
        if a.anomalous and a.series.kind is not TRAFFIC
    }
    assert clearly <= set(names(rank(bundle)))


def test_a_dependency_cycle_does_not_stop_the_engine() -> None:
    result = rank(cycle(gap=300))
    assert set(names(result)) == {"a", "b", "c", "d"}
    assert names(result)[0] == "c"  # where the trouble began
    assert "c" not in result.symptoms


def test_a_tight_dependency_cycle_still_gives_a_result() -> None:
    result = rank(cycle(gap=60))
    assert set(names(result)) == {"a", "b", "c", "d"}
    assert all(0.0 <= r.score <= 1.0 for r in result.ranking)


def test_services_without_metrics_neither_crash_nor_rank() -> None:
    result = rank(with_silent_services())
    assert names(result)[0] == "api"
    assert "island" not in names(result)


def test_a_dependency_without_data_is_ranked_as_a_hidden_suspect() -> None:
    # ``ghost`` shows no anomaly because it has no metrics; it is listed behind ``api``, which
    # it could be hiding behind, with low confidence and the reason.
    result = rank(with_silent_services())
    ghost = next(r for r in result.ranking if r.service == "ghost")
    assert names(result).index("ghost") > 0
    assert ghost.confidence == "low"
    assert ghost.explains == ["api"]
    assert any("no latency or errors data" in r for r in ghost.reasons)


def test_a_dependency_nobody_can_see_keeps_the_suspect_from_being_tagged() -> None:
    # ``api`` fails, but it calls ``ghost``, which has no metrics at all: ghost could be the
    # cause, so no team is tagged and the reasons say why.
    result = rank(with_silent_services())
    assert result.notify is None
    assert any("ghost (no latency or errors data)" in r for r in result.ranking[0].reasons)


def test_a_bundle_without_any_metric_ranks_nobody() -> None:
    result = rank(no_metrics_at_all())
    assert result.ranking == []
    assert result.notify is None


def test_a_config_change_counts_like_a_deploy() -> None:
    b = IncidentBuilder()
    b.service("web", "web", ("api",))
    b.service("api", "core", ())
    b.metric(
        "api", "trace.http.request.errors", ERRORS, level=1, counts=True, step_at=ONSET, jump=20
    )
    b.metric(
        "web",
        "trace.http.request.errors",
        ERRORS,
        level=2,
        counts=True,
        step_at=ONSET + 60,
        jump=30,
    )
    b.change("api", at=ONSET - 90, change_id="cfg-77", kind=ChangeKind.CONFIG, title="timeout 0ms")
    result = rank(b.build(symptom_services=("web",)))
    assert names(result)[0] == "api"
    assert "config change cfg-77" in reasons_of(result, "api")


def test_the_same_bundle_ranks_the_same_every_time() -> None:
    first, second = rank(db_saturation()), rank(db_saturation())
    assert first.document() == second.document()


def test_a_blind_dependency_suspected_lower_down_still_keeps_the_suspect_from_being_tagged() -> (
    None
):
    # ``api`` fails and was deployed 10 minutes before; ``worker`` below it shows only cpu and
    # memory, was reconfigured 14 minutes before, and its other caller ``batch`` fails too.
    # ``worker`` is suspected through ``batch`` (ranked where that puts it), but it can still
    # hide what ``api`` shows: nobody is tagged, and the reason says why.
    b = IncidentBuilder()
    b.service("web", "web", ("api",))
    b.service("api", "core", ("worker",))
    b.service("batch", "data", ("worker",))
    b.service("worker", "jobs", ())
    error_counts(b, "api", level=2, at=ONSET, jump=40)
    error_counts(b, "web", level=2, at=ONSET + 60, jump=40)
    error_counts(b, "batch", level=1, at=ONSET, jump=6)
    b.metric("worker", "system.cpu.user", SATURATION, level=30)
    b.metric("worker", "container.memory.usage_pct", SATURATION, level=40)
    b.change("api", at=ONSET - 600, change_id="api-deploy")
    b.change("worker", at=ONSET - 840, change_id="w-flag", kind=ChangeKind.CONFIG)
    result = rank(b.build(symptom_services=("web",)))
    assert names(result)[0] == "api"
    assert "worker" in names(result)
    assert names(result).count("worker") == 1
    assert result.notify is None
    assert "worker (no latency or errors data)" in reasons_of(result, "api")
    # Reconfigured 4 minutes before instead, after api's deploy: the nearer change, so api
    # witnesses too and worker, explaining both callers, comes first; still nobody is tagged.
    b.changes[-1] = dataclasses.replace(b.changes[-1], at=ONSET - 240)
    result = rank(b.build(symptom_services=("web",)))
    assert names(result)[:2] == ["worker", "api"]
    assert set(result.ranking[0].explains) == {"api", "batch"}
    assert result.notify is None


def test_of_the_blind_dependencies_listed_the_one_changed_just_before_comes_first() -> None:
    # ``api`` fails, deployed 10 minutes before; it calls ``alpha`` and ``omega``, which show
    # only cpu and memory. ``omega`` was reconfigured 14 minutes before (before the deploy, so
    # api stays the suspect): it is listed first of the two, with its change.
    b = IncidentBuilder()
    b.service("web", "web", ("api",))
    b.service("api", "core", ("alpha", "omega"))
    for dep in ("alpha", "omega"):
        b.service(dep, f"team-{dep}", ())
        b.metric(dep, "system.cpu.user", SATURATION, level=30)
        b.metric(dep, "container.memory.usage_pct", SATURATION, level=40)
    error_counts(b, "api", level=2, at=ONSET, jump=40)
    error_counts(b, "web", level=2, at=ONSET + 60, jump=40)
    b.change("api", at=ONSET - 600, change_id="api-deploy")
    b.change("omega", at=ONSET - 840, change_id="cfg-9", kind=ChangeKind.CONFIG, title="pool 0")
    result = rank(b.build(symptom_services=("web",)))
    assert names(result)[:3] == ["api", "omega", "alpha"]
    assert result.ranking[1].score > result.ranking[2].score
    assert "config change cfg-9" in reasons_of(result, "omega")
    assert result.notify is None


def test_a_load_that_rose_after_a_callers_deploy_is_ranked_but_nobody_is_tagged() -> None:
    # orders-db's traffic nearly doubles and its connections fill up; its callers fail after.
    # Alone, that is orders-db's and dba is tagged. When checkout, which calls it and fails
    # too, was deployed 5 minutes before, the load may be checkout's doing (a query per item,
    # a retry loop): orders-db still ranks first, but nobody is tagged on a guess.
    b = IncidentBuilder()
    connections_run_out(b, jump=40)
    b.metric(
        "orders-db", "postgresql.queries", TRAFFIC, level=500, noise=10, step_at=ONSET, jump=400
    )
    result = rank(b.build(symptom_services=("frontend",)))
    assert names(result)[0] == "orders-db"
    assert result.notify is not None and result.notify.team == "dba"
    b.change("checkout", at=ONSET - 300, change_id="c0ffee1", title="Load items one by one")
    result = rank(b.build(symptom_services=("frontend",)))
    assert names(result)[0] == "orders-db"
    assert result.notify is None
    assert "traffic rose after a change of checkout" in reasons_of(result, "orders-db")
    # A deploy of its own explains its load: then its team is tagged.
    b.change("orders-db", at=ONSET - 120, change_id="m1grate", kind=ChangeKind.INFRA)
    result = rank(b.build(symptom_services=("frontend",)))
    assert result.notify is not None and result.notify.team == "dba"


def test_failures_that_began_below_the_suspect_first_leave_nobody_tagged() -> None:
    # checkout was deployed 9 minutes before its p95 crept up, then fails 8 times as often;
    # pricing, which it calls, began failing 40 s before checkout did, three times as often.
    # checkout still ranks first (its trouble began first), but whether its failures are its
    # own or pricing's passed on, the data cannot say: nobody is tagged, and it says why.
    def incident(pricing_jump: float) -> Bundle:
        b = IncidentBuilder()
        b.service("web", "web", ("checkout",))
        b.service("checkout", "payments", ("pricing",))
        b.service("pricing", "catalog", ())
        b.metric(
            "checkout",
            "trace.http.request.duration.p95",
            LATENCY,
            level=160,
            noise=8,
            step_at=ONSET - 240,
            jump=60,
            unit="ms",
        )
        error_counts(b, "checkout", level=1, at=ONSET + 40, jump=7)
        error_counts(b, "web", level=2, at=ONSET + 100, jump=8)
        error_counts(b, "pricing", level=0.5, at=ONSET, jump=pricing_jump)
        b.change("checkout", at=ONSET - 540, change_id="c0ffee1", title="Improve logging")
        return b.build(symptom_services=("web",))

    result = rank(incident(1.0))
    assert names(result)[0] == "checkout"
    assert result.notify is None
    assert "pricing, which it calls, began failing before it did" in reasons_of(result, "checkout")
    # A dependency whose failures rose by far less is no such doubt: checkout's team is tagged.
    result = rank(incident(0.2))
    assert names(result)[0] == "checkout"
    assert result.notify is not None and result.notify.team == "payments"
    assert "began failing before it did" not in reasons_of(result, "checkout")


def test_a_wrong_answer_after_a_deploy_is_blamed_on_the_deployed_dependency() -> None:
    # ``pricing`` was deployed 6 minutes before ``checkout`` began failing 30 times as often;
    # ``pricing`` itself shows only a faint cpu rise and no errors of its own (it answers,
    # wrongly). Its deploy dates its trouble and explains its caller's failures away.
    b = IncidentBuilder()
    b.service("web", "web", ("checkout",))
    b.service("checkout", "payments", ("pricing",))
    b.service("pricing", "catalog", ())
    error_counts(b, "checkout", level=1, at=ONSET, jump=30)
    error_counts(b, "web", level=2, at=ONSET + 60, jump=25)
    error_counts(b, "pricing", level=3)
    b.metric("pricing", "system.cpu.user", SATURATION, level=30, noise=1.0, step_at=ONSET, jump=2.5)
    b.change("pricing", at=ONSET - 360, change_id="pr-991", title="Round prices per locale")
    result = rank(b.build(symptom_services=("web",)))
    assert names(result)[0] == "pricing"
    assert "deploy pr-991" in reasons_of(result, "pricing")
    assert "pricing" in reasons_of(result, "checkout")  # a symptom of it
