"""The stand-ins speak the vendors' shapes, check credentials, and synthesize bounded logs."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import aiohttp
import numpy as np

from investigators.bundle import Bundle, Change, ChangeKind, Incident, MetricKind, Series, Service
from sandbox.datadog_api import datadog_app
from sandbox.faults import FAULTS, REQUESTS, serving
from sandbox.github_api import GitHubStandinConfig, github_app
from sandbox.logs import faulty_services, synthesize_logs
from sandbox.scenarios import generate_scenario

T0 = 1_795_132_800.0


def tiny_bundle() -> Bundle:
    times = np.arange(T0, T0 + 7200, 60.0)
    errors = np.where(times >= T0 + 3600, 50.0, 1.0)
    metrics = [
        Series(name, "trace.http.request.errors", MetricKind.ERRORS, times, errors * (name == "a"))
        for name in ("a", "b")
    ]
    return Bundle(
        Incident("I", T0 + 3600, "a errors", ("a",)),
        [Service("a", "t", ("b",)), Service("b", "t")],
        metrics,
        [],
        [Change("a", ChangeKind.DEPLOY, T0 + 3500, "abc1234", "Ship it", "dev")],
    )


async def test_datadog_standin_shapes_and_auth() -> None:
    app = datadog_app(tiny_bundle())
    headers = {"DD-API-KEY": "sandbox-dd-api-key", "DD-APPLICATION-KEY": "sandbox-dd-app-key"}
    async with serving(app) as url, aiohttp.ClientSession() as http:
        params = {"from": int(T0), "to": int(T0 + 7200), "query": "sum:x{*} by {service}"}
        async with http.get(f"{url}/api/v1/query", params=params) as resp:
            assert resp.status == 403 and await resp.json() == {"errors": ["Forbidden"]}
        params["query"] = "sum:trace.http.request.errors{*} by {service}.as_count()"
        async with http.get(f"{url}/api/v1/query", params=params, headers=headers) as resp:
            body = await resp.json()
        assert body["status"] == "ok" and body["group_by"] == ["service"]
        series = {s["tag_set"][0]: s for s in body["series"]}
        assert set(series) == {"service:a", "service:b"}
        assert series["service:a"]["pointlist"][0] == [T0 * 1000, 1.0]
        app[FAULTS].inject("/api/v1/monitor", status=429, retry_after=3, times=1)
        async with http.get(f"{url}/api/v1/monitor", headers=headers) as resp:
            assert resp.status == 429 and resp.headers["Retry-After"] == "3"
        async with http.get(f"{url}/api/v1/monitor", headers=headers) as resp:
            states = {m["name"]: m["overall_state"] for m in await resp.json()}
        assert states["Errors are high on a"] == "Alert" and states["Errors are high on b"] == "OK"
    assert [r.method for r in app[REQUESTS]] == ["GET"] * 4


async def test_github_standin_paginates_and_checks_the_token() -> None:
    app = github_app(tiny_bundle(), config=GitHubStandinConfig(background_commits_per_day=100))
    auth = {"Authorization": "Bearer sandbox-gh-token"}
    async with serving(app) as url, aiohttp.ClientSession() as http:
        async with http.get(f"{url}/repos/acme/a/deployments") as resp:
            assert resp.status == 401 and (await resp.json())["message"] == "Bad credentials"
        async with http.get(f"{url}/repos/acme/a/commits?per_page=1", headers=auth) as resp:
            assert 'rel="next"' in resp.headers["Link"]
            [commit] = await resp.json()
        assert commit["commit"]["message"] and commit["sha"]
        async with http.get(f"{url}/repos/acme/a/deployments", headers=auth) as resp:
            [deployment] = await resp.json()
        assert deployment["sha"].startswith("abc1234") and deployment["environment"] == "production"


def test_logs_follow_the_errors_metric_and_stay_bounded() -> None:
    bundle = tiny_bundle()
    assert faulty_services(bundle) == {"a"}
    docs = list(synthesize_logs(bundle, scale=1.0, max_docs=2000, info_per_hour=2))
    errors = [d for d in docs if d["log"]["level"] != "info"]
    assert 1500 < len(errors) < 2500
    assert all(d["service"]["name"] == "a" for d in errors)
    late = [d for d in errors if d["@timestamp"] >= "2026-11-20T01:00"]
    assert len(late) > 0.9 * len(errors)
    assert {"@timestamp", "service", "log", "message"} <= set(docs[0])


def test_a_provider_outside_logs_nothing_its_callers_log_its_failures_naming_it() -> None:
    # Our log store holds our services' lines: an external provider's outage is what its
    # caller logs ("Circuit breaker OPEN for b after 12 consecutive failures"), never lines
    # under the provider's own name.
    times = np.arange(T0, T0 + 7200, 60.0)
    failing = np.where(times >= T0 + 3600, 50.0, 1.0)
    bundle = Bundle(
        Incident("I", T0 + 3600, "a errors", ("a",)),
        [Service("a", "t", ("b",)), Service("b", "t", (), "external")],
        [Series("b", "trace.http.client.errors", MetricKind.ERRORS, times, failing)],
    )
    docs = list(synthesize_logs(bundle, scale=1.0, max_docs=2000, info_per_hour=2))
    assert 1500 < len(docs) < 2500
    assert {d["service"]["name"] for d in docs} == {"a"}
    late = [d for d in docs if d["@timestamp"] >= "2026-11-20T01:00"]
    assert len(late) > 0.9 * len(docs)
    assert all(re.search(r"(?<![\w-])b(?![\w-])", d["message"]) for d in docs)


async def test_datadog_standin_dates_each_alert_from_when_it_fired() -> None:
    # The incident's alert opened it at detection; another monitor in Alert fired when its
    # series last went over its threshold, and after the incident's own.
    scenario = generate_scenario(seed=147, services=120, fault="external-outage")
    bundle = scenario.bundle
    alert = bundle.incident.alert
    assert alert is not None
    app = datadog_app(bundle)
    headers = {"DD-API-KEY": "sandbox-dd-api-key", "DD-APPLICATION-KEY": "sandbox-dd-app-key"}
    async with (
        serving(app) as url,
        aiohttp.ClientSession() as http,
        http.get(f"{url}/api/v1/monitor", headers=headers) as resp,
    ):
        monitors = await resp.json()
    since = {
        m["query"]: datetime.fromisoformat(m["overall_state_modified"].replace("Z", "+00:00"))
        for m in monitors
        if m["overall_state"] == "Alert"
    }
    opened = datetime.fromtimestamp(bundle.incident.started_at, UTC)
    own = [q for q in since if f"{alert.metric}{{service:{alert.service}}}" in q]
    assert len(own) == 1 and abs((since[own[0]] - opened).total_seconds()) < 1
    assert len(since) > 1 and all(t > opened for q, t in since.items() if q != own[0])
