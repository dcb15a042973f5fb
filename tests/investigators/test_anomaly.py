"""Per-series anomaly scores: sustained steps count, spikes and seasons do not."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from synth import DETECTED, noisy_series

from investigators.anomaly import (
    ROWS_AT_ONCE,
    THRESHOLD,
    Z_CAP,
    SeriesAnomaly,
    is_intrinsic,
    is_leaky,
    score_series,
)
from investigators.bundle import MetricKind, Series
from investigators.rca import rank
from sandbox.scenarios import generate_scenario

#: When the synthetic faults begin: two minutes before the alert fired.
STEP_AT = DETECTED - 120


def score(series: Series, *, detected_at: float = DETECTED) -> SeriesAnomaly:
    (result,) = score_series([series], detected_at=detected_at)
    return result


def error_step(**shape: object) -> Series:
    """Errors around 5/s that jump to 15/s at STEP_AT (noise sd 1)."""
    defaults: dict[str, object] = {
        "kind": MetricKind.ERRORS,
        "level": 5.0,
        "noise": 1.0,
        "step_at": STEP_AT,
        "jump": 10.0,
    }
    return noisy_series(**(defaults | shape))  # type: ignore[arg-type]


@pytest.mark.parametrize("detection_error", [-480, -240, 0, 240, 480])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_step_is_found_near_its_true_time_even_when_detection_is_minutes_off(
    detection_error: float, seed: int
) -> None:
    result = score(error_step(seed=seed), detected_at=STEP_AT + 120 + detection_error)
    assert result.anomalous
    assert result.onset is not None
    assert abs(result.onset - STEP_AT) <= 180
    assert result.current == pytest.approx(15.0, abs=1.5)
    assert result.level == pytest.approx(5.0, abs=1.0)
    assert result.direction == 1


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_same_series_without_the_step_is_not_anomalous(seed: int) -> None:
    result = score(error_step(seed=seed, jump=0.0))
    assert not result.anomalous
    assert result.score < THRESHOLD


@pytest.mark.parametrize("offset", [-1200, -600, 0, 300, 900, 1500])
def test_a_single_point_spike_is_not_anomalous(offset: float) -> None:
    series = error_step(jump=0.0, seed=4)
    i = int(np.searchsorted(series.times, DETECTED + offset))
    series.values[i] += 50.0
    assert not score(series).anomalous


@pytest.mark.parametrize("from_end", [1, 2])
def test_a_spike_at_the_newest_point_is_not_anomalous(from_end: int) -> None:
    series = error_step(jump=0.0, seed=4, end=DETECTED + 300)  # data ends 5 minutes in
    series.values[-from_end] += 50.0
    assert not score(series).anomalous


def test_a_constant_series_with_a_step_has_a_finite_capped_score() -> None:
    flat = noisy_series(kind=MetricKind.LATENCY, level=5.0, noise=0.0, step_at=STEP_AT, jump=1e6)
    result = score(flat)
    assert result.anomalous
    assert math.isfinite(result.score)
    assert result.score <= Z_CAP
    assert result.onset is not None
    assert abs(result.onset - STEP_AT) <= 180


@pytest.mark.parametrize("kind", [MetricKind.SATURATION, MetricKind.ERRORS, MetricKind.OTHER])
def test_a_series_of_zeros_that_steps_up_has_a_finite_capped_score(kind: MetricKind) -> None:
    zeros = noisy_series(kind=kind, level=0.0, noise=0.0, step_at=STEP_AT, jump=3.0)
    result = score(zeros)
    assert result.anomalous
    assert 0 < result.score <= Z_CAP
    assert math.isfinite(result.peak)


@pytest.mark.parametrize("level", [0.0, 5.0, 1234.5])
@pytest.mark.parametrize("kind", list(MetricKind))
def test_a_constant_series_is_not_anomalous(level: float, kind: MetricKind) -> None:
    result = score(noisy_series(kind=kind, level=level, noise=0.0))
    assert not result.anomalous
    assert result.score == 0.0
    assert result.onset is None


def test_missing_points_and_a_gap_do_not_stop_scoring() -> None:
    series = error_step(seed=5)
    rng = np.random.default_rng(11)
    series.values[rng.random(series.values.size) < 0.1] = np.nan
    gap = (series.times > DETECTED - 2400) & (series.times < DETECTED - 1500)
    series.values[gap] = np.nan
    result = score(series)
    assert result.anomalous
    assert result.onset is not None
    assert abs(result.onset - STEP_AT) <= 180
    assert math.isfinite(result.score)


def test_a_series_with_nothing_before_the_incident_is_not_scored() -> None:
    late = noisy_series(kind=MetricKind.ERRORS, level=5.0, hours=0.4)  # starts 6 minutes in
    result = score(late)
    assert not result.anomalous
    assert result.onset is None


@pytest.mark.parametrize("jump", [0.0, 500.0], ids=["steady", "step"])
def test_a_series_whose_first_points_are_gaps_is_held_to_its_own_noise(jump: float) -> None:
    # 20 minutes of a noisy p95 at 10 s, its first 2 minutes missing (it began reporting after
    # the others): with nothing before the first split to read its noise from, the noise of
    # all of it counts, not none at all (which made any wobble score the cap).
    series = noisy_series(
        kind=MetricKind.LATENCY,
        level=480.0,
        noise=60.0,
        resolution=10.0,
        hours=20 / 60,
        end=DETECTED + 300.0,
        step_at=STEP_AT,
        jump=jump,
        seed=3,
    )
    series.values[:12] = np.nan
    result = score(series)
    if jump:
        assert result.anomalous
        assert result.onset is not None and abs(result.onset - STEP_AT) <= 60
    else:
        assert not result.anomalous
        assert result.score < THRESHOLD


@pytest.mark.parametrize("values", [[], [np.nan] * 180, [1.0, 2.0]], ids=["empty", "nan", "two"])
def test_degenerate_series_do_not_crash(values: list[float]) -> None:
    times = DETECTED - 60.0 * np.arange(len(values))[::-1]
    series = Series("svc", "m", MetricKind.ERRORS, times, np.array(values, dtype=float))
    results = score_series([series], detected_at=DETECTED)
    assert all(not r.anomalous for r in results)


def test_availability_going_down_is_anomalous() -> None:
    down = noisy_series(
        kind=MetricKind.AVAILABILITY, level=99.9, noise=0.05, step_at=STEP_AT, jump=-40.0
    )
    result = score(down)
    assert result.anomalous
    assert result.direction == -1
    assert result.current < result.level


def test_availability_going_up_is_not_anomalous() -> None:
    up = noisy_series(
        kind=MetricKind.AVAILABILITY, level=60.0, noise=0.5, step_at=STEP_AT, jump=39.0
    )
    assert not score(up).anomalous


def test_availability_falling_from_three_nines_to_95_percent_is_anomalous() -> None:
    down = noisy_series(
        kind=MetricKind.AVAILABILITY, level=99.9, noise=0.02, step_at=STEP_AT, jump=-4.9
    )
    assert score(down).anomalous


def test_latency_going_down_is_not_anomalous_but_going_up_is() -> None:
    faster = noisy_series(kind=MetricKind.LATENCY, level=100, noise=5, step_at=STEP_AT, jump=-60)
    slower = noisy_series(kind=MetricKind.LATENCY, level=100, noise=5, step_at=STEP_AT, jump=60)
    assert not score(faster).anomalous
    assert score(slower).anomalous


@pytest.mark.parametrize("kind", [MetricKind.ERRORS, MetricKind.SATURATION])
def test_errors_and_saturation_going_down_are_not_anomalous(kind: MetricKind) -> None:
    down = noisy_series(kind=kind, level=50, noise=2, step_at=STEP_AT, jump=-40)
    assert not score(down).anomalous


@pytest.mark.parametrize("kind", [MetricKind.TRAFFIC, MetricKind.OTHER])
@pytest.mark.parametrize("jump", [-60.0, 60.0])
def test_traffic_and_other_are_anomalous_either_way(kind: MetricKind, jump: float) -> None:
    result = score(noisy_series(kind=kind, level=100, noise=5, step_at=STEP_AT, jump=jump))
    assert result.anomalous
    assert result.direction == (1 if jump > 0 else -1)


@pytest.mark.parametrize("resolution", [10.0, 60.0, 300.0])
def test_the_same_step_is_found_at_10s_1min_and_5min_resolution(resolution: float) -> None:
    with_step = score(error_step(resolution=resolution, seed=6))
    without = score(error_step(resolution=resolution, seed=6, jump=0.0))
    assert with_step.anomalous
    assert not without.anomalous
    assert with_step.onset is not None
    assert abs(with_step.onset - STEP_AT) <= max(180.0, resolution)


def test_series_of_different_resolutions_are_scored_together() -> None:
    mixed = [
        error_step(resolution=10.0, seed=7, service="a"),
        error_step(resolution=60.0, seed=8, service="b"),
        error_step(resolution=300.0, seed=9, service="c", jump=0.0),
        error_step(resolution=60.0, seed=10, service="d", jump=0.0),
    ]
    results = {r.series.service: r for r in score_series(mixed, detected_at=DETECTED)}
    assert {name for name, r in results.items() if r.anomalous} == {"a", "b"}


def test_series_sharing_one_time_grid_score_as_they_would_alone() -> None:
    step = error_step(seed=12)
    quiet = error_step(seed=13, jump=0.0)
    shared = Series(quiet.service, quiet.name, quiet.kind, step.times, quiet.values)
    together = score_series([step, shared], detected_at=DETECTED)
    assert [r.score for r in together] == pytest.approx([score(step).score, score(shared).score])
    assert [r.anomalous for r in together] == [True, False]


def daily(*, amplitude: float, noise: float, phase: float, seed: int) -> Series:
    """Six hours of a 24-hour cycle with multiplicative noise, and no fault."""
    rng = np.random.default_rng(seed)
    times = DETECTED + 1800 - 60.0 * np.arange(360)[::-1]
    cycle = 1 + amplitude * np.sin(2 * np.pi * times / 86400 + phase)
    values = 100 * cycle * rng.lognormal(0, noise, times.size)
    return Series("svc", "trace.http.request.hits", MetricKind.TRAFFIC, times, values)


@pytest.mark.parametrize("phase", np.linspace(0, 2 * np.pi, 12, endpoint=False).round(2).tolist())
def test_a_slow_daily_season_without_a_fault_is_not_anomalous(phase: float) -> None:
    # Peak to trough 1.67x, at every hour of the day.
    for seed in range(3):
        assert not score(daily(amplitude=0.25, noise=0.03, phase=phase, seed=seed)).anomalous


@pytest.mark.parametrize(
    ("name", "kind", "intrinsic"),
    [
        ("system.cpu.user", MetricKind.SATURATION, True),
        ("container.memory.usage_pct", MetricKind.SATURATION, True),
        ("jvm.heap.used", MetricKind.SATURATION, True),
        ("postgresql.percent_usage_connections", MetricKind.SATURATION, True),
        ("disk.used_pct", MetricKind.SATURATION, True),
        ("runtime.worker_pool.utilization", MetricKind.SATURATION, False),
        ("queue.depth", MetricKind.SATURATION, False),
        ("system.cpu.user", MetricKind.LATENCY, False),
        ("trace.http.request.duration.p95", MetricKind.LATENCY, False),
        ("postgresql.connections.errors", MetricKind.ERRORS, False),
        ("container.memory.usage_pct", MetricKind.OTHER, False),
    ],
)
def test_is_intrinsic_names_own_resource_signals_only(
    name: str, kind: MetricKind, intrinsic: bool
) -> None:
    assert is_intrinsic(name, kind) is intrinsic


def test_a_tiny_smooth_memory_rise_is_not_anomalous() -> None:
    # +1% on a very smooth memory series stands out in robust-sd but does not matter; memory
    # is judged against the older half of its baseline, and must pass the same size check.
    rng = np.random.default_rng(3)
    times = DETECTED - 6 * 3600 + 60.0 * np.arange(6 * 60 + 30)
    values = 1000 + rng.normal(0, 0.5, times.size)
    values[times >= DETECTED] += 10
    for name in ("system.mem.used", "system.disk.used"):
        series = Series(
            service="svc", name=name, kind=MetricKind.SATURATION, times=times, values=values
        )
        (a,) = score_series([series], detected_at=DETECTED)
        assert not a.anomalous, name


@pytest.mark.parametrize("scale", [1e300, 1e-300, 1e38])
def test_values_near_the_ends_of_the_float_range_rank_without_overflow(scale: float) -> None:
    bundle = generate_scenario(seed=1, services=20, fault="bad-deploy").bundle
    bundle.metrics = [
        dataclasses.replace(m, values=m.values * scale) if i % 2 == 0 else m
        for i, m in enumerate(bundle.metrics)
    ]
    ranking = rank(bundle)  # warnings are errors here: an overflow would fail it
    assert all(np.isfinite(r.score) for r in ranking.ranking)


@pytest.mark.parametrize("stamp", ["start", "end"])
def test_a_5_minute_rollup_is_dated_alike_whichever_end_of_its_bucket_it_is_stamped_with(
    stamp: str,
) -> None:
    # Errors of a dependency rise from 20/s to 230/s a minute before its bucket ends; the alert
    # (a fine series of a caller) begins four minutes later. Datadog and CloudWatch stamp a
    # bucket with its start, so the bucket holding the first minute of the rise sits just
    # before the window a cause may lead the alert by; many exporters stamp its end.
    rng = np.random.default_rng(3)
    edges = DETECTED - 3 * 3600 + 300.0 * np.arange(3 * 12 + 8)
    began = DETECTED - 660.0
    busy = np.clip((edges + 300.0 - began) / 300.0, 0.0, 1.0)  # share of each bucket in trouble
    values = 20.0 + 210.0 * busy + rng.normal(0.0, 0.5, edges.size)
    times = edges if stamp == "start" else edges + 300.0
    series = Series("bids", "errors", MetricKind.ERRORS, times, values)
    alert_onset = began + 240.0
    (result,) = score_series([series], detected_at=DETECTED, around=alert_onset)
    assert result.anomalous
    assert result.onset is not None and abs(result.onset - began) <= 300.0


def test_a_spike_just_before_the_window_still_marks_a_5_minute_rollup_as_older() -> None:
    # The same series, but the point just before the window is a spike that falls back at once
    # and the shift inside the window comes later: not a bucket holding a change's first
    # minutes, so the earlier rule (a shift as large before the window is older) holds.
    rng = np.random.default_rng(4)
    times = DETECTED - 3 * 3600 + 300.0 * np.arange(3 * 12 + 8)
    alert_onset = DETECTED - 300.0
    values = 20.0 + rng.normal(0.0, 0.5, times.size)
    values[np.searchsorted(times, alert_onset - 300.0) - 1] = 200.0  # the spike
    values[times >= alert_onset + 600.0] += 30.0  # a later, smaller shift
    (result,) = score_series(
        [Series("bids", "errors", MetricKind.ERRORS, times, values)],
        detected_at=DETECTED,
        around=alert_onset,
    )
    assert not result.anomalous


def test_many_series_scored_together_score_as_each_does_alone() -> None:
    # More series of one grid than one slice holds, leaky ones among them: slices (on threads
    # where there are cores) must come back whole, in order, each row its own.
    series = [
        noisy_series(
            service=f"svc-{i}",
            name="memory" if i % 7 == 0 else "latency",
            kind=MetricKind.SATURATION if i % 7 == 0 else MetricKind.LATENCY,
            level=10.0 + i % 13,
            noise=1.0,
            step_at=STEP_AT if i % 5 == 0 else None,
            jump=8.0,
            seed=i,
        )
        for i in range(2 * ROWS_AT_ONCE + 37)
    ]
    together = score_series(series, detected_at=DETECTED)
    assert [a.series for a in together] == [
        s for leaky in (False, True) for s in series if is_leaky(s.name, s.kind) == leaky
    ]
    alone = {id(s): score(s) for s in series}
    for got in together:
        want = alone[id(got.series)]
        assert (got.score, got.onset, got.level, got.current, got.reached) == pytest.approx(
            (want.score, want.onset, want.level, want.current, want.reached), nan_ok=True
        )
    assert sum(a.score >= THRESHOLD for a in together) >= len(series) // 5 - 2
