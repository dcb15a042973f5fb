"""A live investigation's bundle against the sandbox: the lines its logs hold and the alert that
fired, ranked as an offline ``rca`` of the sandbox's own bundle of the same incident ranks it."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pipeline_testkit import Standins, pipeline_env, serving, write_catalog

from investigators.bundle import load_bundle, write_bundle
from investigators.pipeline import IncidentRequest, LocalExecutor, PipelineConfig
from investigators.pipeline.executor import LocalOutcome
from investigators.pipeline.investigation import NEIGHBOURHOOD
from investigators.rca import rank
from sandbox.elastic import load_logs
from sandbox.scenarios import Scenario, generate_scenario

# An outage of an external provider whose callers log what they wait on ("timeout calling
# maps-provider after 2076ms"), alerting on one series of api-gateway.
SEED, SHAPE, SERVICES = 6, "named-in-logs", 40
SECRET = "password=Sup3rS3cret!x"


@pytest.fixture(scope="module")
def incident() -> Scenario:
    return generate_scenario(seed=SEED, services=SERVICES, fault="random", shape=SHAPE)


def _bystander(scenario: Scenario) -> str:
    """A service the fault never reached, next to the alerting one (the logs scan covers the
    named services' neighbourhood)."""
    [symptom] = scenario.bundle.incident.symptom_services
    near = {symptom}
    for _ in range(NEIGHBOURHOOD):
        near |= {
            other
            for s in scenario.bundle.services
            for a, b in ((s.name, d) for d in s.depends_on)
            if a in near or b in near
            for other in (a, b)
        }
    return sorted(near - set(scenario.truth.affected))[0]


def _extra_lines(scenario: Scenario) -> list[dict[str, object]]:
    """What real log stores hold too: lines without a readable message, and a secret."""
    late = scenario.bundle.incident.started_at + 880  # among the newest of the window

    def doc(at: float, **fields: object) -> dict[str, object]:
        moment = datetime.fromtimestamp(at, tz=UTC).isoformat().replace("+00:00", "Z")
        return {
            "@timestamp": moment,
            "service": {"name": _bystander(scenario)},
            "log": {"level": "error"},
            **fields,
        }

    return [
        doc(late, message=f"login to the vault failed: {SECRET}"),
        doc(late + 1),  # no message
        doc(late + 2, message=None),
        doc(late + 3, message=404),  # a number, as a shipper may send one
    ]


@pytest.fixture(scope="module")
def served(incident: Scenario) -> Iterator[Standins]:
    with serving(incident.bundle, seed=SEED) as standins:
        asyncio.run(load_logs(standins.urls["elastic"], _extra_lines(incident)))
        yield standins


@pytest.fixture(scope="module")
def live_config(
    served: Standins, incident: Scenario, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PipelineConfig]:
    catalog = write_catalog(incident.bundle, tmp_path_factory.mktemp("named") / "services.yaml")
    tag = f"test-livebundle-{uuid.uuid4().hex[:8]}"
    env = pipeline_env(
        standins=served, bundle=incident.bundle, catalog=catalog, prefix=tag, queue=tag
    )
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        from bot.settings import pipeline_config

        yield pipeline_config().model_copy(update={"deadline": 30.0})


def _request(scenario: Scenario) -> IncidentRequest:
    incident = scenario.bundle.incident
    return IncidentRequest(
        incident_id=f"INC-{uuid.uuid4().hex[:6]}",
        started_at=incident.started_at,
        until=incident.started_at + 900,
        services=list(incident.symptom_services),
        title=incident.title,
    )


@pytest.fixture(scope="module")
def live(live_config: PipelineConfig, incident: Scenario) -> LocalOutcome:
    return asyncio.run(LocalExecutor(live_config).run(_request(incident)))


def _names(message: str, service: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(service)}(?![\w-])", message) is not None


def test_caller_logs_naming_the_dependency_reach_the_ranked_bundle_and_rank_as_offline(
    live: LocalOutcome, incident: Scenario, tmp_path: Path
) -> None:
    root = incident.truth.root
    assert root is not None
    callers = {s.name for s in incident.bundle.services if root in s.depends_on}
    offline_named = {s.service for s in incident.bundle.log_samples if _names(s.message, root)}
    live_named = {s.service for s in live.bundle.log_samples if _names(s.message, root)}
    assert offline_named & callers  # the sandbox's callers do name it...
    assert live_named & callers  # ... and the live bundle carries their lines

    # The ranking the summary stands on read them: the cause is named by its callers' logs.
    ranked = live.record.ranking.ranking
    assert live.summary.root_cause is not None
    assert live.summary.root_cause.service == ranked[0].service == root
    assert any(r.startswith("named in the error logs of") for r in ranked[0].reasons)

    # An offline rca of the sandbox's own bundle of the incident ranks the same first.
    exported = tmp_path / "sandbox.json"
    write_bundle(incident.bundle, exported)
    assert rank(load_bundle(exported)).ranking[0].service == ranked[0].service

    # And the live bundle, exported, replays to the live ranking exactly.
    replay = tmp_path / "live.json"
    write_bundle(live.bundle, replay)
    assert rank(load_bundle(replay)) == live.record.ranking


def test_the_alert_that_fired_leads_the_live_bundle(live: LocalOutcome, incident: Scenario) -> None:
    alert = incident.bundle.incident.alert
    assert alert is not None
    assert live.bundle.incident.alert == alert


def test_no_alert_when_the_alerting_monitor_watches_a_series_the_bundle_lacks(
    live_config: PipelineConfig, incident: Scenario
) -> None:
    alert = incident.bundle.incident.alert
    assert alert is not None and live_config.datadog is not None
    # The monitor watches a metric the copilot is not set up to read.
    signals = {k: s for k, s in live_config.datadog.signals.items() if s.metric != alert.metric}
    datadog = live_config.datadog.model_copy(update={"signals": signals})
    config = live_config.model_copy(update={"datadog": datadog})
    outcome = asyncio.run(LocalExecutor(config).run(_request(incident)))
    assert outcome.summary.finished_by == "complete"
    assert not any(m.name == alert.metric for m in outcome.bundle.metrics)
    assert outcome.bundle.incident.alert is None  # and nothing else guessed in its place


def test_unreadable_lines_are_left_out_and_secrets_never_reach_the_bundle(
    live: LocalOutcome, incident: Scenario, tmp_path: Path
) -> None:
    assert live.summary.finished_by == "complete"
    mine = [s for s in live.bundle.log_samples if s.service == _bystander(incident)]
    assert [s.message for s in mine if "vault" in s.message] == [
        "login to the vault failed: password=[redacted: password]"
    ]
    assert all(s.message.strip() and s.message != "404" for s in live.bundle.log_samples)
    exported = tmp_path / "live.json"
    write_bundle(live.bundle, exported)
    assert "Sup3rS3cret" not in exported.read_text(encoding="utf-8")
