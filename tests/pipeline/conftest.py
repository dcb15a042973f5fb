"""A 40-service sandbox company behind the stand-ins, its catalog, and two real RQ workers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from pipeline_testkit import (
    Standins,
    Workers,
    pipeline_env,
    redis_keys_cleaned,
    serving,
    write_catalog,
)

from investigators.pipeline import IncidentRequest, PipelineConfig
from sandbox.scenarios import Scenario, generate_scenario

SEED, SERVICES, FAULT = 1, 40, "bad-deploy"


@pytest.fixture(scope="session")
def scenario() -> Scenario:
    return generate_scenario(seed=SEED, services=SERVICES, fault=FAULT)


@pytest.fixture(scope="session")
def catalog_file(scenario: Scenario, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_catalog(scenario.bundle, tmp_path_factory.mktemp("catalog") / "services.yaml")


@pytest.fixture(scope="session")
def standins(scenario: Scenario) -> Iterator[Standins]:
    with serving(scenario.bundle, seed=SEED) as served:
        yield served


@pytest.fixture(scope="session")
def names() -> tuple[str, str]:
    """This session's key prefix and queue, so that nothing clashes with other runs."""
    tag = uuid.uuid4().hex[:8]
    return f"test-pipeline-{tag}", f"test-pipeline-{tag}"


@pytest.fixture(scope="session")
def env(
    standins: Standins, scenario: Scenario, catalog_file: Path, names: tuple[str, str]
) -> dict[str, str]:
    prefix, queue = names
    return pipeline_env(
        standins=standins,
        bundle=scenario.bundle,
        catalog=catalog_file,
        prefix=prefix,
        queue=queue,
    )


@pytest.fixture(scope="session")
def redis_client(names: tuple[str, str]) -> Iterator[redis.Redis]:
    with redis_keys_cleaned(*names) as client:
        yield client


@pytest.fixture(scope="session")
def workers(
    env: dict[str, str], names: tuple[str, str], redis_client: redis.Redis
) -> Iterator[Workers]:
    pool = Workers(env, names[1])
    pool.start(2)
    try:
        yield pool
    finally:
        pool.stop()


@pytest.fixture
def config(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> PipelineConfig:
    """What the workers read from the same environment, rebuilt here."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    from bot.settings import pipeline_config

    return pipeline_config().model_copy(
        update={"deadline": 20.0, "retries": 1, "retry_backoff": (1,)}
    )


@pytest.fixture(autouse=True)
def no_faults(standins: Standins) -> Iterator[None]:
    standins.clear()
    yield
    standins.clear()


@pytest.fixture
def request_for(scenario: Scenario):  # type: ignore[no-untyped-def]
    """A fresh incident request about the scenario's incident."""

    def make(*, services: list[str] | None = None) -> IncidentRequest:
        incident = scenario.bundle.incident
        return IncidentRequest(
            incident_id=f"INC-{uuid.uuid4().hex[:6]}",
            started_at=incident.started_at,
            until=incident.started_at + 900,
            services=list(incident.symptom_services) if services is None else services,
            title=incident.title,
        )

    return make
