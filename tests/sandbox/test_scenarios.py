"""Generated incidents: reproducible, truthful about their root, readable as bundles, and ones
the engine gets right."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from investigators.bundle import dump_bundle, parse_bundle
from investigators.rca import RcaResult, rank
from sandbox.scenarios import FAULT_TYPES, QUIET, Scenario, generate_scenario

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
