"""Benchmark: the broad scan of 1,000 services through the connectors, 100 ms per request.

Starts noida-db (logs of a generated scenario), the Datadog and GitHub stand-ins and a proxy in
front of noida-db, adds the latency to every request, then times the broad scan an investigation
starts with: error counts of every service from the logs (one request), the four signals from
Datadog (one request each, ``by {service}``) and the changes of the last two hours from GitHub
(commits and merged pull requests through the search API, deployments and releases repo by repo
under a concurrency cap). Prints the wall time and the requests per source, then one summary line.

    .venv/bin/python bench/connectors.py [--services 1000] [--latency 0.1] [--log-docs 40000]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import time
from collections.abc import Awaitable
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import SecretStr

from connectors.config import (
    DatadogConfig,
    ElasticsearchConfig,
    GitHubConfig,
    ResilienceConfig,
    SignalQuery,
)
from connectors.datadog import DatadogMetrics
from connectors.elastic import ElasticsearchLogs
from connectors.github import GitHubChanges
from sandbox.datadog_api import DatadogStandinConfig, datadog_app
from sandbox.elastic import async_running_noida, elastic_proxy_app, load_logs
from sandbox.faults import FAULTS, REQUESTS, serving
from sandbox.github_api import github_app
from sandbox.logs import synthesize_logs
from sandbox.scenarios import generate_scenario

TARGET = 3.0
# Releases are listed repo by repo (no search covers them), doubling the requests; the broad
# scan leaves them to the focused look at suspect repositories (deployments say the same).
BROAD_KINDS = frozenset({"commits", "pull_requests", "deployments"})
SEED = 11
T = TypeVar("T")
# The metric names the scenario generator uses.
SIGNALS = {
    "latency": SignalQuery(metric="trace.http.request.duration.p95", aggregation="avg"),
    "errors": SignalQuery(metric="trace.http.request.errors", aggregation="sum", as_count=True),
    "traffic": SignalQuery(metric="trace.http.request.hits", aggregation="sum", as_count=True),
    "saturation": SignalQuery(metric="system.cpu.user", aggregation="avg"),
}


async def timed(call: Awaitable[T]) -> tuple[T, float]:
    """The result of ``call`` and the seconds it took."""
    started = time.perf_counter()
    result = await call
    return result, time.perf_counter() - started


def _standins(services: int, latency: float, noida: str, end_s: float, conn: Connection) -> None:
    """Child process: serve the three stand-ins until the parent asks for the request counts."""

    async def serve() -> None:
        bundle = generate_scenario(seed=SEED, services=services, fault="bad-deploy").bundle
        apps = {
            "elasticsearch": elastic_proxy_app(noida),
            "datadog": datadog_app(bundle, config=DatadogStandinConfig(now=end_s)),
            "github": github_app(bundle),
        }
        for app in apps.values():
            app[FAULTS].latency = latency
        async with (
            serving(apps["elasticsearch"]) as es_url,
            serving(apps["datadog"]) as dd_url,
            serving(apps["github"]) as gh_url,
        ):
            conn.send((es_url, dd_url, gh_url))
            await asyncio.get_running_loop().run_in_executor(None, conn.recv)
            conn.send({name: len(app[REQUESTS]) for name, app in apps.items()})

    asyncio.run(serve())


async def run(services: int, latency: float, log_docs: int) -> bool:
    """Set everything up, run the scan once, print; True when under the target."""
    print(f"generating a {services}-service scenario...", flush=True)
    bundle = generate_scenario(seed=SEED, services=services, fault="bad-deploy").bundle
    end_s = bundle.incident.started_at + 900
    start, end = (datetime.fromtimestamp(s, tz=UTC) for s in (end_s - 7200, end_s))
    async with async_running_noida() as noida:
        loaded = await load_logs(noida, synthesize_logs(bundle, max_docs=log_docs, seed=SEED))
        print(f"indexed {loaded} log documents into noida-db", flush=True)
        # The stand-ins run in their own process, as the real services would: serving 2,000
        # requests costs CPU that is theirs, not the connectors'.
        ours, theirs = multiprocessing.Pipe()
        child = multiprocessing.get_context("spawn").Process(
            target=_standins, args=(services, latency, noida, end_s, theirs), daemon=True
        )
        child.start()
        es_url, dd_url, gh_url = await asyncio.to_thread(ours.recv)
        try:
            es = ElasticsearchLogs(ElasticsearchConfig(url=es_url, index="logs-*"))
            dd = DatadogMetrics(
                DatadogConfig(
                    api_key=SecretStr("sandbox-dd-api-key"),
                    app_key=SecretStr("sandbox-dd-app-key"),
                    base_url=dd_url,
                    signals=SIGNALS,
                )
            )
            gh = GitHubChanges(
                GitHubConfig(
                    token=SecretStr("sandbox-gh-token"),
                    base_url=gh_url,
                    resilience=ResilienceConfig(concurrency=100),
                )
            )
            repos = [f"acme/{s.name}" for s in bundle.services]
            async with es, dd, gh:
                started = time.perf_counter()
                results: list[Any] = await asyncio.gather(
                    timed(es.error_counts([s.name for s in bundle.services], start, end, 60)),
                    *(timed(dd.signal(name, start, end)) for name in SIGNALS),
                    timed(gh.changes(repos, start, kinds=BROAD_KINDS)),
                )
                wall = time.perf_counter() - started
            ours.send("report")
            sent: dict[str, int] = await asyncio.to_thread(ours.recv)
        finally:
            child.join(timeout=10)
            if child.is_alive():
                child.terminate()
    (counts, es_s), *signals, (changes, gh_s) = results
    dd_s = max(s for _, s in signals)
    print(
        f"elasticsearch: {es_s:5.2f} s, {sent['elasticsearch']:4d} requests, "
        f"error counts for {len(counts)} services with errors ({loaded} docs scanned by noida-db)"
    )
    print(
        f"datadog:       {dd_s:5.2f} s, {sent['datadog']:4d} requests, "
        + ", ".join(f"{name} {len(r)}" for name, (r, _) in zip(SIGNALS, signals, strict=True))
        + " services"
    )
    print(
        f"github:        {gh_s:5.2f} s, {sent['github']:4d} requests, "
        f"{len(changes.commits)} commits, {len(changes.pull_requests)} merged PRs, "
        f"{len(changes.deployments)} deployments, {len(changes.releases)} releases "
        f"in {len(repos)} repositories"
    )
    total = sum(sent.values())
    verdict = "PASS" if wall < TARGET else "FAIL"
    print(
        f"broad scan of {services} services: {wall:.2f} s (target < {TARGET:.0f} s) "
        f"{verdict}, {total} requests"
    )
    return wall < TARGET


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds added per request")
    parser.add_argument("--log-docs", type=int, default=40_000, help="log documents to index")
    args = parser.parse_args()
    ok = asyncio.run(run(args.services, args.latency, args.log_docs))
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
