"""The same pipeline in-process, without Redis: summary, and a bundle that replays exactly."""

from __future__ import annotations

from pathlib import Path

from investigators.bundle import load_bundle, write_bundle
from investigators.pipeline import LocalExecutor, PipelineConfig
from investigators.rca import rank
from sandbox.scenarios import Scenario


async def test_local_investigation_exports_a_bundle_that_replays_to_the_same_ranking(
    config: PipelineConfig, scenario: Scenario, request_for, tmp_path: Path
) -> None:
    outcome = await LocalExecutor(config).run(request_for())

    assert outcome.summary.finished_by == "complete"
    assert outcome.summary.root_cause is not None
    assert outcome.summary.root_cause.service == scenario.truth.root
    assert [e.kind for e in outcome.events][-2:] == ["summary_ready", "narrative_ready"]
    path = tmp_path / "exported.json"
    write_bundle(outcome.bundle, path)
    replayed = rank(load_bundle(path))
    assert replayed == outcome.record.ranking


async def test_local_investigation_joins_a_repeated_request(
    config: PipelineConfig, request_for
) -> None:
    executor = LocalExecutor(config)
    request = request_for(services=["no-such-service"])
    first = await executor.run(request)
    again = await executor.run(request)
    assert again.summary == first.summary
    assert first.summary.unknown_services == ["no-such-service"]
