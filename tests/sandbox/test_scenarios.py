"""Generated incidents: reproducible, truthful about their root, readable as bundles, and ones
the engine gets right."""

from __future__ import annotations

import functools
import re

import numpy as np
import pytest

from investigators.bundle import MetricKind, Series, dump_bundle, parse_bundle
from investigators.rca import RcaResult, rank
from sandbox.scenarios import (
    FAULT_TYPES,
    QUIET,
    SHAPE_FAULTS,
    SHAPES,
    Scenario,
    generate_scenario,
)
from sandbox.shapes import split_pods

SERVICES = 40
SEEDS = (1, 2, 3)
ROOT_KIND = {"db-saturation": "database", "external-outage": "external"}


@functools.cache
def scenario(fault: str | None, seed: int) -> Scenario:
    """One generated incident (cached: the tests only read it)."""
    return generate_scenario(seed=seed, services=SERVICES, fault=fault)


@functools.cache
def ranked(fault: str | None, seed: int) -> RcaResult:
    return rank(scenario(fault, seed).bundle)


def test_the_same_seed_gives_the_same_bundle() -> None:
    one = generate_scenario(seed=5, services=30, fault="db-saturation", hours=2)
    two = generate_scenario(seed=5, services=30, fault="db-saturation", hours=2)
    assert dump_bundle(one.bundle) == dump_bundle(two.bundle)
    assert one.truth == two.truth


def test_another_seed_gives_another_bundle() -> None:
    one = generate_scenario(seed=5, services=30, fault="db-saturation", hours=2)
    two = generate_scenario(seed=6, services=30, fault="db-saturation", hours=2)
    assert dump_bundle(one.bundle) != dump_bundle(two.bundle)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("fault", FAULT_TYPES)
def test_the_truth_names_a_root_of_the_right_kind_among_the_affected(fault: str, seed: int) -> None:
    sc = scenario(fault, seed)
    truth, bundle = sc.truth, sc.bundle
    services = {s.name: s for s in bundle.services}

    assert truth.fault == fault
    assert truth.root in services
    assert services[truth.root].kind == ROOT_KIND.get(fault, "service")
    assert truth.team == services[truth.root].team
    assert truth.root in truth.affected
    assert set(truth.affected) <= set(services)
    assert truth.onset is not None
    first = min(float(m.times[0]) for m in bundle.metrics)
    last = max(float(m.times[-1]) for m in bundle.metrics)
    assert first < truth.onset < last
    # The alert fires within minutes of the real onset, never exactly on it.
    assert abs(bundle.incident.started_at - truth.onset) <= 11 * 60
    if truth.change_id is not None:
        change = next(c for c in bundle.changes if c.id == truth.change_id)
        assert change.service == truth.root
        assert change.at < truth.onset


@pytest.mark.parametrize("fault", ["bad-deploy", "config-change"])
def test_faults_that_come_from_a_change_record_it(fault: str) -> None:
    assert all(scenario(fault, seed).truth.change_id for seed in SEEDS)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_quiet_period_has_no_root(seed: int) -> None:
    truth = generate_scenario(seed=seed, services=SERVICES, fault=None, hours=2).truth
    assert truth.fault == QUIET
    assert truth.root is None
    assert truth.team is None
    assert truth.onset is None
    assert truth.affected == ()


def test_random_picks_one_of_the_fault_types() -> None:
    faults = {generate_scenario(seed=s, services=20, hours=1).truth.fault for s in range(1, 6)}
    assert faults <= set(FAULT_TYPES)


def test_an_unknown_fault_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        generate_scenario(seed=1, services=20, fault="meteor-strike")


@pytest.mark.parametrize(
    ("fault", "seed"), [("db-saturation", 1), ("external-outage", 2), (None, 3)]
)
def test_a_generated_bundle_survives_the_json_round_trip(fault: str | None, seed: int) -> None:
    original = scenario(fault, seed).bundle
    again = parse_bundle(dump_bundle(original))

    assert again.incident == original.incident
    assert again.services == original.services
    assert [(c.service, c.kind, c.id, c.title) for c in again.changes] == [
        (c.service, c.kind, c.id, c.title) for c in original.changes
    ]
    # Change and log times are written to the second.
    assert np.allclose([c.at for c in again.changes], [c.at for c in original.changes], atol=0.5)
    assert len(again.log_samples) == len(original.log_samples)
    assert len(again.metrics) == len(original.metrics)
    for a, b in zip(original.metrics, again.metrics, strict=True):
        assert (a.service, a.name, a.kind, a.unit) == (b.service, b.name, b.kind, b.unit)
        np.testing.assert_allclose(b.times, a.times, rtol=0, atol=0.0005)
        np.testing.assert_array_equal(np.isnan(b.values), np.isnan(a.values))
        np.testing.assert_allclose(b.values, a.values, rtol=1e-5, equal_nan=True)
    # A replayed export ranks the same suspects in the same order and tags the same team.
    before, after = ranked(fault, seed), rank(again)
    assert [r.service for r in after.ranking] == [r.service for r in before.ranking]
    assert after.notify == before.notify


def test_the_engine_finds_the_root_of_most_generated_incidents() -> None:
    cases = [(fault, seed) for fault in FAULT_TYPES for seed in SEEDS]
    top1 = top3 = right_team = wrong_team = 0
    for fault, seed in cases:
        truth, result = scenario(fault, seed).truth, ranked(fault, seed)
        suspects = [r.service for r in result.ranking]
        top1 += suspects[:1] == [truth.root]
        top3 += truth.root in suspects[:3]
        if result.notify is not None:
            right_team += result.notify.team == truth.team
            wrong_team += result.notify.team != truth.team
    # Observed on these 18: 16 top-1, 17 top-3, 14 right teams tagged, one wrong (a memory
    # leak whose dependency shifted for an unrelated reason in the same minute; the bench
    # measures precision over hundreds). A ranking that ignored the evidence would put the
    # root in the top 3 of 5 to 25 suspects rarely.
    assert top3 >= 15, f"root in the top 3 for only {top3} of {len(cases)}"
    assert top1 >= 13, f"root first for only {top1} of {len(cases)}"
    assert wrong_team <= 1, f"{wrong_team} incidents tagged a team that does not own the root"
    assert right_team >= 12, f"the owning team was tagged in only {right_team} of {len(cases)}"


@pytest.mark.parametrize("fault", FAULT_TYPES)
def test_every_fault_type_is_found_at_least_once(fault: str) -> None:
    found = [scenario(fault, seed).truth.root in _top3(fault, seed) for seed in SEEDS]
    assert any(found)


def _top3(fault: str, seed: int) -> list[str]:
    return [r.service for r in ranked(fault, seed).ranking[:3]]


def test_quiet_periods_seldom_tag_anyone() -> None:
    tagged = [seed for seed in range(1, 7) if ranked(None, seed).notify is not None]
    assert len(tagged) <= 1, f"quiet periods of seeds {tagged} tagged a team"


# -- shapes -------------------------------------------------------------------------------------

SHAPE_SERVICES = 30
INTERFACE = (MetricKind.ERRORS, MetricKind.LATENCY, MetricKind.AVAILABILITY)


@functools.cache
def shaped(shape: str, fault: str | None, seed: int = 2) -> Scenario:
    """One generated incident of a shape (cached: the tests only read it)."""
    return generate_scenario(seed=seed, services=SHAPE_SERVICES, fault=fault, hours=3, shape=shape)


def _level(m: Series, start: float, stop: float) -> float:
    inside = m.values[(m.times >= start) & (m.times < stop) & ~np.isnan(m.values)]
    return float(np.median(inside)) if inside.size else float("nan")


def _jump(m: Series, at: float, *, before: float = 1800, after: float = 1800) -> float:
    """How far a series moved at ``at``: the median after against the median and spread before."""
    pre = m.values[(m.times < at) & (m.times >= at - before) & ~np.isnan(m.values)]
    post = m.values[(m.times >= at) & (m.times < at + after) & ~np.isnan(m.values)]
    if pre.size < 3 or post.size == 0:
        return 0.0
    q1, med, q3 = np.percentile(pre, [25, 50, 75])
    return float(abs(np.median(post) - med) / max(q3 - q1, 1e-9 + 0.01 * abs(med)))


def test_the_first_shape_is_the_standard_one_and_the_default() -> None:
    assert SHAPES[0] == "standard"
    one = generate_scenario(seed=5, services=30, fault="cpu-hog", hours=2)
    two = generate_scenario(seed=5, services=30, fault="cpu-hog", hours=2, shape="standard")
    assert dump_bundle(one.bundle) == dump_bundle(two.bundle)


def test_an_unknown_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown shape"):
        generate_scenario(seed=1, services=20, shape="wobbly")


@pytest.mark.parametrize("shape", SHAPES)
def test_a_shaped_scenario_is_reproducible_and_survives_the_json_round_trip(shape: str) -> None:
    one = shaped(shape, "bad-deploy")
    two = generate_scenario(
        seed=2, services=SHAPE_SERVICES, fault="bad-deploy", hours=3, shape=shape
    )
    assert one.truth == two.truth
    assert (one.bundle.incident, one.bundle.log_samples, one.bundle.changes) == (
        two.bundle.incident,
        two.bundle.log_samples,
        two.bundle.changes,
    )
    again = parse_bundle(dump_bundle(one.bundle))
    assert again.incident == one.bundle.incident
    assert len(again.log_samples) == len(one.bundle.log_samples)
    for a, b, c in zip(one.bundle.metrics, two.bundle.metrics, again.metrics, strict=True):
        assert (a.service, a.name, a.kind, a.unit) == (b.service, b.name, b.kind, b.unit)
        assert (a.service, a.name, a.kind, a.unit) == (c.service, c.name, c.kind, c.unit)
        assert np.array_equal(a.times, b.times)
        assert np.array_equal(a.values, b.values, equal_nan=True)
        assert np.allclose(c.times, a.times, rtol=0, atol=0.0005)
        assert np.allclose(c.values, a.values, rtol=1e-5, equal_nan=True)


@pytest.mark.parametrize("fault", [*FAULT_TYPES, None])
@pytest.mark.parametrize("shape", SHAPES)
def test_every_shape_takes_every_fault_and_quiet_periods(shape: str, fault: str | None) -> None:
    sc = shaped(shape, fault)
    truth, bundle = sc.truth, sc.bundle
    services = {s.name: s for s in bundle.services}
    series = {(m.service, m.name) for m in bundle.metrics}

    assert bundle.metrics
    assert all(m.service in services for m in bundle.metrics)
    assert all(np.all(np.diff(m.times) > 0) for m in bundle.metrics)
    assert len(series) == len(bundle.metrics), "a service has two series of one name"
    if fault is None:
        assert (truth.fault, truth.root, truth.team, truth.onset) == (QUIET, None, None, None)
    else:
        own = SHAPE_FAULTS.get(shape, ())
        if shape == "mixed":
            own = (fault, *(f for faults in SHAPE_FAULTS.values() for f in faults))
        assert truth.fault in (own or (fault,))
        assert truth.root in services
        assert truth.team == services[truth.root].team
        assert truth.root in truth.affected
        assert truth.onset is not None
        if truth.change_id is not None:
            change = next(c for c in bundle.changes if c.id == truth.change_id)
            assert change.service == truth.root
            assert change.at < truth.onset
    alert = bundle.incident.alert
    if alert is not None:
        assert alert.service in bundle.incident.symptom_services
        assert (alert.service, alert.metric) in series
        fired = next(
            m for m in bundle.metrics if (m.service, m.name) == (alert.service, alert.metric)
        )
        assert fired.kind in INTERFACE


def test_the_alert_names_the_symptoms_series_when_it_has_one_and_is_absent_otherwise() -> None:
    cases = [shaped(shape, fault) for shape in SHAPES for fault in (*FAULT_TYPES, None)]
    with_alert = without_alert = 0
    for sc in cases:
        inc = sc.bundle.incident
        has_interface = any(
            m.service in inc.symptom_services[:1] and m.kind in INTERFACE for m in sc.bundle.metrics
        )
        assert (inc.alert is not None) == has_interface
        with_alert += inc.alert is not None
        without_alert += inc.alert is None
    assert with_alert and without_alert


@pytest.mark.parametrize("shape", ["partial", "spliced", "named-in-logs"])
def test_some_shapes_shape_the_standard_incident_of_the_same_seed(shape: str) -> None:
    for fault in ("memory-leak", "external-outage"):
        assert shaped(shape, fault).truth == shaped("standard", fault).truth


@pytest.mark.parametrize("fault", [*FAULT_TYPES, None])
def test_a_short_history_starts_3_to_10_minutes_before_detection(fault: str | None) -> None:
    sc = shaped("short-history", fault)
    detected = sc.bundle.incident.started_at
    first = min(float(m.times[0]) for m in sc.bundle.metrics)
    last = max(float(m.times[-1]) for m in sc.bundle.metrics)
    assert detected - 10 * 60 - 1 <= first <= detected - 3 * 60 + 60
    assert detected < last <= max(detected, sc.truth.onset or detected) + 10 * 60 + 1


def test_a_long_history_reaches_one_to_two_days_back() -> None:
    for fault in ("db-saturation", None):
        sc = shaped("long-history", fault)
        first = min(float(m.times[0]) for m in sc.bundle.metrics)
        assert 24 * 3600 <= sc.bundle.incident.started_at - first <= 48 * 3600
        assert {int(np.median(np.diff(m.times))) for m in sc.bundle.metrics} <= {60, 300}


def test_fine_data_is_mostly_1_second_over_15_to_30_minutes_of_history() -> None:
    sc = shaped("fine", "cpu-hog")
    steps = [float(np.median(np.diff(m.times))) for m in sc.bundle.metrics]
    assert sum(s == 1 for s in steps) > 0.6 * len(steps)
    first = min(float(m.times[0]) for m in sc.bundle.metrics)
    assert 15 * 60 - 1 <= sc.bundle.incident.started_at - first <= 30 * 60 + 1


def test_rollups_are_5_minute_p99s_of_latency_sums_of_counts_and_averages() -> None:
    sc = shaped("rollup-5m", "bad-deploy")
    for m in sc.bundle.metrics:
        assert np.all(np.diff(m.times) == 300)
        if m.kind is MetricKind.LATENCY:
            assert m.name.endswith(".p99")
        if m.kind in (MetricKind.ERRORS, MetricKind.TRAFFIC):
            assert m.unit == "count"
    errors = [m for m in sc.bundle.metrics if m.name == "trace.http.request.errors"]
    counts = np.concatenate([m.values[~np.isnan(m.values)] for m in errors])
    whole = np.isclose(counts, np.round(counts), atol=0.01)
    assert whole.mean() > 0.9  # the rest: short spikes


def test_partial_coverage_most_services_only_cpu_and_memory() -> None:
    for fault in ("bad-deploy", None):
        sc = shaped("partial", fault)
        names: dict[str, set[str]] = {}
        for m in sc.bundle.metrics:
            names.setdefault(m.service, set()).add(m.name)
        plain = [s.name for s in sc.bundle.services if s.kind == "service"]
        bare = [n for n in plain if all(("cpu" in x or "memory" in x) for x in names.get(n, set()))]
        assert len(bare) > 0.6 * len(plain)
        deps = {s.name: s.depends_on for s in sc.bundle.services}
        clients = [
            (m.service, m.name.split(".")[1])
            for m in sc.bundle.metrics
            if m.name.startswith("client.")
        ]
        assert clients and all(callee in deps[caller] for caller, callee in clients)
        pods = [m for m in sc.bundle.metrics if "{pod:pod-" in m.name]
        assert len({m.service for m in pods}) >= 2
        assert any(f"{x}.count" in mine for mine in names.values() for x in mine), (
            "no counts next to rates"
        )


def test_availability_stays_between_0_and_100_percent_spikes_included() -> None:
    # Random spikes multiply a series; on availability a spike is a burst of failures, never
    # more than 100% served.
    seen = 0
    for seed in range(1000, 1012):
        sc = generate_scenario(seed=seed, services=60, fault="bad-deploy", shape="partial")
        for m in sc.bundle.metrics:
            if m.kind is MetricKind.AVAILABILITY:
                seen += 1
                values = m.values[np.isfinite(m.values)]
                assert values.size and values.min() >= 0 and values.max() <= 100, m.name
    assert seen


def test_a_fault_on_pods_shows_on_only_some_of_them() -> None:
    rng = np.random.default_rng(1)
    fault = np.where(np.arange(200) >= 100, 50.0, 0.0)
    counts = []
    for _ in range(30):
        pods = split_pods(rng, 30.0 + fault, fault, 3)
        assert all(abs(float(np.median(p[:100])) - 30) < 8 for p in pods)
        counts.append(sum(float(np.median(p[100:]) - np.median(p[:100])) > 25 for p in pods))
    assert min(counts) >= 1
    assert counts.count(1) > len(counts) / 3


@pytest.mark.parametrize("fault", ["cpu-hog", "external-outage", None])
def test_a_spliced_baseline_shifts_many_services_at_the_splice_before_the_onset(
    fault: str | None,
) -> None:
    sc = shaped("spliced", fault)
    at = sc.extra["splice_at"]
    assert isinstance(at, float)
    assert at < sc.bundle.incident.started_at
    if sc.truth.onset is not None:
        assert at < sc.truth.onset - 5 * 60
    traffic = [
        m
        for m in sc.bundle.metrics
        if m.kind is MetricKind.TRAFFIC and float(np.median(np.diff(m.times))) <= 60
    ]
    shifted = {
        m.service
        for m in traffic
        if abs(_level(m, at, at + 300) / _level(m, at - 1200, at) - 1) > 0.1
    }
    assert len(shifted) > 0.4 * len({m.service for m in traffic})


@pytest.mark.parametrize("fault", [*FAULT_TYPES, None])
def test_back_to_back_an_earlier_fault_ended_shortly_before_the_onset(fault: str | None) -> None:
    sc = shaped("back-to-back", fault)
    earlier = sc.extra["earlier"]
    assert isinstance(earlier, dict)
    onset = sc.truth.onset or sc.bundle.incident.started_at
    assert earlier["root"] != sc.truth.root
    assert earlier["onset"] < earlier["ended"] < onset
    assert onset - earlier["ended"] < 30 * 60
    # Its tail is in the baseline: the earlier root or a caller moved while it lasted.
    callers = {d.caller for d in sc.company.dependencies if d.callee == earlier["root"]}
    moved = [
        _jump(m, earlier["onset"], after=earlier["ended"] - earlier["onset"])
        for m in sc.bundle.metrics
        if m.service in callers | {earlier["root"]}
    ]
    assert max(moved) > 8


@pytest.mark.parametrize("fault", FAULT_TYPES)
def test_caller_only_faults_show_on_the_callers_clients_not_on_the_root(fault: str) -> None:
    sc = shaped("caller-only", fault)
    root, onset = sc.truth.root, sc.truth.onset
    assert sc.truth.fault in ("network-delay", "packet-loss")
    assert root is not None and onset is not None
    clients = [m for m in sc.bundle.metrics if m.name.startswith(f"client.{root}.")]
    assert max(_jump(m, onset + 120) for m in clients) > 10
    own = [m for m in sc.bundle.metrics if m.service == root and m.kind is MetricKind.LATENCY]
    assert all(
        _level(m, onset + 300, onset + 1800) < 1.3 * _level(m, onset - 3600, onset) for m in own
    )


@pytest.mark.parametrize("fault", FAULT_TYPES)
def test_code_faults_raise_errors_and_hardly_anything_else(fault: str) -> None:
    sc = shaped("code-fault", fault)
    root, onset = sc.truth.root, sc.truth.onset
    assert sc.truth.fault == "code-fault"
    assert root is not None and onset is not None
    callers = {d.caller for d in sc.company.dependencies if d.callee == root}
    errors = [
        m
        for m in sc.bundle.metrics
        if m.service in callers | {root} and m.kind is MetricKind.ERRORS
    ]
    assert max(_jump(m, onset + 120) for m in errors) > 10
    quiet = [
        m
        for m in sc.bundle.metrics
        if m.service == root and m.kind in (MetricKind.SATURATION, MetricKind.LATENCY)
    ]
    assert all(
        _level(m, onset + 300, onset + 1800) < 1.25 * _level(m, onset - 3600, onset) for m in quiet
    )


@pytest.mark.parametrize("fault", [*FAULT_TYPES, None])
def test_a_silent_external_has_no_series_and_its_integrating_team(fault: str | None) -> None:
    sc = shaped("silent-external", fault)
    kinds = {s.name: s.kind for s in sc.bundle.services}
    assert not any(kinds[m.service] == "external" for m in sc.bundle.metrics)
    root = sc.truth.root
    if root is None:
        return
    assert sc.truth.fault == "external-silent"
    assert kinds[root] == "external"
    callers = [s for s in sc.bundle.services if root in s.depends_on]
    integrator = next(d.caller for d in sc.company.dependencies if d.callee == root)
    assert sc.truth.team == next(s.team for s in callers if s.name == integrator)
    watched = [m for m in sc.bundle.metrics if m.name.startswith(f"client.{root}.")]
    assert {m.service for m in watched} <= {s.name for s in callers}
    assert watched or any(root in entry.message for entry in sc.bundle.log_samples)


@pytest.mark.parametrize("fault", [*FAULT_TYPES, None])
def test_named_in_logs_callers_name_the_root_and_healthy_dependencies_less_often(
    fault: str | None,
) -> None:
    sc = shaped("named-in-logs", fault)
    deps = {s.name: s.depends_on for s in sc.bundle.services}
    naming = [
        (entry.service, dep)
        for entry in sc.bundle.log_samples
        for dep in deps[entry.service]
        if re.search(rf"(?<![\w-]){re.escape(dep)}(?![\w-])", entry.message)
    ]
    assert naming
    root = sc.truth.root
    if root is not None and any(root in d for d in deps.values()):
        assert any(dep == root for _, dep in naming)
    healthy = [(caller, dep) for caller, dep in naming if dep not in sc.truth.affected]
    assert healthy
    if root is not None:
        assert len(healthy) < len(naming) - len(healthy) + 3


def test_mixed_draws_a_different_combination_per_seed() -> None:
    combos = {shaped("mixed", "bad-deploy", seed).extra["traits"] for seed in range(1, 7)}
    assert len(combos) >= 4
    assert ("standard",) not in combos


def test_every_shape_is_the_same_in_another_process() -> None:
    # Sets iterate in an order that changes with each process's string hashing: a draw made in
    # that order gives another bundle per run, and the bench another score.
    import hashlib
    import os
    import subprocess
    import sys

    script = (
        "import hashlib\n"
        "from investigators.bundle import dump_bundle\n"
        "from sandbox.scenarios import generate_scenario\n"
        "from sandbox.shapes import SHAPES\n"
        "text = ''.join(dump_bundle(generate_scenario(seed=7, services=30, "
        "fault='db-saturation', shape=s).bundle) for s in SHAPES)\n"
        "print(hashlib.sha1(text.encode()).hexdigest())\n"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert len(digests) == 1
    assert len(next(iter(digests))) == len(hashlib.sha1().hexdigest())


@pytest.mark.parametrize("fault", ["cpu-hog", "external-outage"])
def test_the_demo_incidents_issue_12_named_page_no_wrong_team(fault: str) -> None:
    # `demo --fault cpu-hog --seed 2` tagged the wrong team at high confidence, and
    # `--fault external-outage --seed 2` named a bystander: the demo's own company (60 services).
    made = generate_scenario(seed=2, services=60, fault=fault)
    result = rank(made.bundle)
    assert result.notify is None or result.notify.team == made.truth.team
    callers = {s.name for s in made.bundle.services if made.truth.root in s.depends_on}
    assert result.ranking[0].service in {made.truth.root} | callers
