"""The health sweep against the sandbox: the stand-ins serve a company whose fault starts mid-run.

Sweeps run at chosen moments of the scenario's timeline (``at``), ten minutes apart, as RQ's cron
scheduler would run them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pipeline_testkit import Standins, pipeline_env, serving, write_catalog

from investigators.pipeline import IncidentRequest, PipelineConfig
from investigators.pipeline.steps import begin
from investigators.pipeline.store import MemoryStore
from investigators.pipeline.sweep import SweepBook, sweep_once
from sandbox.scenarios import Scenario, generate_scenario

INTERVAL = 600.0


@pytest.fixture
def sweep_config(config: PipelineConfig) -> PipelineConfig:
    return config.model_copy(update={"sweep_interval": INTERVAL, "deadline": 30.0})


def _times(scenario: Scenario, *offsets: float) -> list[float]:
    onset = scenario.truth.onset or scenario.bundle.incident.started_at
    # Sweeps land on window boundaries, as the cron scheduler's would.
    first = (onset // INTERVAL) * INTERVAL
    return [first + o * INTERVAL for o in offsets]


async def _sweeps(config: PipelineConfig, store: MemoryStore, times: list[float]) -> list[list]:  # type: ignore[type-arg]
    log = []
    for at in times:
        done = await sweep_once(config, store, at=at)
        assert done is not None
        log.append([(a.kind, a.degradation.service, a.degradation.team) for a in done[1]])
    return log


async def test_a_fault_is_reported_after_two_sweeps_with_its_owner_and_no_symptom(
    sweep_config: PipelineConfig, scenario: Scenario
) -> None:
    store = MemoryStore()
    log = await _sweeps(sweep_config, store, _times(scenario, -3, -2, -1, 1, 2, 3))
    root, team = scenario.truth.root, scenario.truth.team

    assert log[:4] == [[], [], [], []]  # quiet before the fault; one sweep is not enough
    assert log[4] == [("open", root, team)]
    assert log[5] == [("confirm", root, team)]
    state = SweepBook(store, sweep_config).state()
    assert list(state.open) == [root]  # the symptoms were folded into their cause
    heads_up = state.open[root].last
    assert heads_up.evidence and all(e.url.startswith("http") for e in heads_up.evidence)
    assert heads_up.change is not None and heads_up.change.url  # the deploy behind it
    assert state.last is not None and state.last.services == len(scenario.bundle.services)


async def test_a_window_is_swept_once_however_often_it_is_asked(
    sweep_config: PipelineConfig, scenario: Scenario
) -> None:
    store = MemoryStore()
    at = _times(scenario, 1)[0]
    both = await asyncio.gather(
        sweep_once(sweep_config, store, at=at), sweep_once(sweep_config, store, at=at + 30)
    )
    assert sum(done is not None for done in both) == 1  # two workers at once
    assert await sweep_once(sweep_config, store, at=at + 60) is None  # late, same window


async def test_an_open_incident_channel_suppresses_the_heads_up(
    sweep_config: PipelineConfig, scenario: Scenario
) -> None:
    store = MemoryStore()
    root = scenario.truth.root
    request = IncidentRequest(
        incident_id="slack-C1-1",
        started_at=scenario.bundle.incident.started_at,
        services=[root or ""],
        title="inc-2041-payments",
        channel="C1",
    )
    begin(request, store=store, config=sweep_config)
    log = await _sweeps(sweep_config, store, _times(scenario, 1, 2, 3))
    assert log == [[], [], []]
    state = SweepBook(store, sweep_config).state()
    assert state.open[root].suppressed_by == "covered by #inc-2041-payments"


async def test_a_mute_is_honoured_and_its_end_brings_the_heads_up(
    sweep_config: PipelineConfig, scenario: Scenario
) -> None:
    store = MemoryStore()
    root = scenario.truth.root
    times = _times(scenario, 1, 2, 3)
    book = SweepBook(store, sweep_config)
    book.mute(root, 1.5 * INTERVAL, now=times[0])  # ends between the 2nd and 3rd sweep
    log = await _sweeps(sweep_config, store, times)
    assert log[:2] == [[], []]
    assert log[2] == [("open", root, scenario.truth.team)]
    assert book.mutes(times[2]) == {}


# --- a quiet day ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def quiet() -> Scenario:
    return generate_scenario(seed=21, services=40, fault=None, hours=26, step=60)


@pytest.fixture(scope="module")
def quiet_served(quiet: Scenario) -> Iterator[Standins]:
    with serving(quiet.bundle, seed=21, max_docs=20_000) as served:
        yield served


async def test_a_quiet_day_brings_no_heads_up(
    quiet: Scenario,
    quiet_served: Standins,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    catalog = write_catalog(quiet.bundle, tmp_path / "services.yaml")
    tag = uuid.uuid4().hex[:6]
    env = pipeline_env(
        standins=quiet_served, bundle=quiet.bundle, catalog=catalog, prefix=tag, queue=tag
    )
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    from bot.settings import pipeline_config

    hourly = pipeline_config().model_copy(update={"sweep_interval": 3600.0})
    end = max(float(m.times[-1]) for m in quiet.bundle.metrics)
    store = MemoryStore()
    first = (end // 3600) * 3600 - 23 * 3600
    kinds = []
    for n in range(24):  # a day of consecutive hourly sweeps
        done = await sweep_once(hourly, store, at=first + n * 3600)
        assert done is not None
        kinds += [a.kind for a in done[1]]
    assert kinds == []
    assert SweepBook(store, hourly).state().last is not None
