"""Stand-ins over real HTTP, noida-db for Elasticsearch, and a small incident to serve."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from aiohttp import web
from connectors_testkit import make_bundle

from investigators.bundle import Bundle
from sandbox.datadog_api import datadog_app
from sandbox.elastic import elastic_proxy_app, load_logs, running_noida
from sandbox.faults import RecordedRequest, run_standin
from sandbox.github_api import github_app
from sandbox.logs import synthesize_logs

_WIRE: list[RecordedRequest] = []
_ES_READS = ("_search", "_msearch", "_count", "_field_caps")


@pytest.fixture(scope="session")
def bundle() -> Bundle:
    return make_bundle()


@pytest.fixture(scope="session", autouse=True)
def wire_is_read_only() -> Iterator[list[RecordedRequest]]:
    """Every request any stand-in received during the session must have been a read."""
    yield _WIRE
    writes = [
        r
        for r in _WIRE
        if r.method != "GET"
        and not (r.method == "POST" and r.path.rstrip("/").rsplit("/", 1)[-1] in _ES_READS)
    ]
    assert not writes, f"connectors wrote: {writes[:5]}"


async def _serve(app: web.Application) -> AsyncIterator[tuple[web.Application, str]]:
    base_url, cleanup = await run_standin(app)
    try:
        yield app, base_url
    finally:
        await cleanup()


@pytest.fixture
async def datadog(bundle: Bundle) -> AsyncIterator[tuple[web.Application, str]]:
    async for served in _serve(datadog_app(bundle, sinks=[_WIRE])):
        yield served


@pytest.fixture
async def github(bundle: Bundle) -> AsyncIterator[tuple[web.Application, str]]:
    async for served in _serve(github_app(bundle, sinks=[_WIRE])):
        yield served


@pytest.fixture(scope="session")
def noida(bundle: Bundle) -> Iterator[str]:
    """noida-db on a free port with the bundle's logs in ``logs-sandbox``."""
    with running_noida() as url:
        asyncio.run(load_logs(url, synthesize_logs(bundle, scale=0.5, seed=1)))
        yield url


@pytest.fixture
async def elastic(noida: str) -> AsyncIterator[tuple[web.Application, str]]:
    """A recording, fault-injecting proxy in front of noida-db."""
    async for served in _serve(elastic_proxy_app(noida, sinks=[_WIRE])):
        yield served
