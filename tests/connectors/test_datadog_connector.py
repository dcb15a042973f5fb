"""The Datadog connector against its stand-in, over real HTTP."""

from __future__ import annotations

import pytest
from aiohttp import web
from connectors_testkit import END, FAST, INCIDENT, SERVICES, T0, when
from pydantic import SecretStr

from connectors.config import DatadogConfig, ResilienceConfig
from connectors.datadog import DatadogMetrics
from connectors.errors import (
    AuthError,
    BadResponse,
    CircuitOpen,
    RateLimited,
    ReadOnlyViolation,
    SourceUnavailable,
)
from sandbox.faults import FAULTS, REQUESTS

App = tuple[web.Application, str]


def config(base_url: str, **overrides: object) -> DatadogConfig:
    values: dict[str, object] = {
        "api_key": SecretStr("sandbox-dd-api-key"),
        "app_key": SecretStr("sandbox-dd-app-key"),
        "base_url": base_url,
        "resilience": FAST,
        "env": "prod",
    }
    values.update(overrides)
    return DatadogConfig.model_validate(values)


async def test_one_request_returns_a_signal_for_every_service(datadog: App) -> None:
    app, url = datadog
    async with DatadogMetrics(config(url)) as dd:
        series = await dd.signal("latency", when(T0), when(END))
    assert sorted(series) == sorted(SERVICES)
    db = series["db"]
    times, values = db.as_arrays()
    assert times.size > 10 and times[0] >= T0 and values[times >= INCIDENT].mean() > 1.0
    assert db.url.startswith("https://app.datadoghq.com/metric/explorer?")
    assert "exp_scope=service%3Adb" in db.url
    [request] = app[REQUESTS]
    assert request.path == "/api/v1/query"
    assert request.query["query"] == "avg:trace.http.request.duration{*} by {service}"


async def test_count_signals_use_as_count(datadog: App) -> None:
    app, url = datadog
    async with DatadogMetrics(config(url)) as dd:
        series = await dd.signal("errors", when(INCIDENT), when(END))
    assert series["db"].values[0] is not None and series["db"].values[0] > 30
    assert app[REQUESTS][0].query["query"].endswith("by {service}.as_count()")


async def test_alerting_monitors_and_events(datadog: App) -> None:
    _, url = datadog
    async with DatadogMetrics(config(url)) as dd:
        monitors = await dd.alerting_monitors()
        events = await dd.events(when(T0), when(END))
        deps = await dd.service_dependencies()
    alerting = {s for m in monitors for s in m.services}
    assert {"web", "db", "api"} <= alerting and "cache" not in alerting
    assert all(m.state in ("Alert", "Warn") for m in monitors)
    assert monitors[0].url == f"https://app.datadoghq.com/monitors/{monitors[0].id}"
    # When each entered its state, as an aware time no later than the evaluation.
    assert all(m.state_since is not None and m.state_since.tzinfo is not None for m in monitors)
    deploy = next(e for e in events if "db" in e.services)
    assert deploy.source == "deployment" and "change_kind:deploy" in deploy.tags
    assert deploy.url.startswith("https://app.datadoghq.com/event/event?id=")
    assert deps["api"] == ["db", "cache"]


@pytest.mark.parametrize(
    ("site", "api", "app"),
    [
        ("datadoghq.com", "https://api.datadoghq.com", "https://app.datadoghq.com"),
        ("us3.datadoghq.com", "https://api.us3.datadoghq.com", "https://us3.datadoghq.com"),
        ("us5.datadoghq.com", "https://api.us5.datadoghq.com", "https://us5.datadoghq.com"),
        ("datadoghq.eu", "https://api.datadoghq.eu", "https://app.datadoghq.eu"),
        ("ap1.datadoghq.com", "https://api.ap1.datadoghq.com", "https://ap1.datadoghq.com"),
        ("ddog-gov.com", "https://api.ddog-gov.com", "https://app.ddog-gov.com"),
    ],
)
def test_each_site_maps_to_its_api_and_app(site: str, api: str, app: str) -> None:
    cfg = DatadogConfig(api_key=SecretStr("a"), app_key=SecretStr("b"), site=site)  # type: ignore[arg-type]
    assert (cfg.api_base, cfg.app_base) == (api, app)
    assert DatadogMetrics(cfg).monitor_url(7) == f"{app}/monitors/7"


async def test_a_5xx_is_retried(datadog: App) -> None:
    app, url = datadog
    app[FAULTS].inject("/api/v1/query", status=503, times=1)
    async with DatadogMetrics(config(url)) as dd:
        series = await dd.signal("traffic", when(T0), when(END))
    assert len(series) == len(SERVICES)
    assert len(app[REQUESTS]) == 2


async def test_retry_after_is_honoured(datadog: App) -> None:
    app, url = datadog
    app[FAULTS].inject("/api/v1/query", status=429, retry_after=1, times=1)
    async with DatadogMetrics(config(url)) as dd:
        series = await dd.signal("traffic", when(T0), when(END))
    assert len(series) == len(SERVICES) and len(app[REQUESTS]) == 2


async def test_a_long_retry_after_fails_fast(datadog: App) -> None:
    app, url = datadog
    app[FAULTS].inject("/api/v1/query", status=429, retry_after=3600)
    async with DatadogMetrics(config(url)) as dd:
        with pytest.raises(RateLimited) as caught:
            await dd.signal("traffic", when(T0), when(END))
    assert caught.value.connector == "datadog" and caught.value.retry_after == 3600
    assert "3600s" in str(caught.value)
    assert len(app[REQUESTS]) == 1


async def test_a_hung_request_times_out(datadog: App) -> None:
    app, url = datadog
    app[FAULTS].inject("/api/v1/query", hang=True)
    fast = FAST.model_copy(update={"timeout": 0.2, "attempts": 2})
    async with DatadogMetrics(config(url, resilience=fast)) as dd:
        with pytest.raises(SourceUnavailable, match="timed out"):
            await dd.signal("traffic", when(T0), when(END))
    assert len(app[REQUESTS]) == 2


async def test_the_circuit_opens_and_then_fails_fast(datadog: App) -> None:
    app, url = datadog
    app[FAULTS].inject("*", status=500)
    async with DatadogMetrics(config(url)) as dd:
        with pytest.raises(SourceUnavailable) as first:
            await dd.signal("traffic", when(T0), when(END))
        assert not isinstance(first.value, CircuitOpen)
        sent = len(app[REQUESTS])
        assert sent == FAST.attempts
        with pytest.raises(CircuitOpen, match="fail fast"):
            await dd.alerting_monitors()
    assert len(app[REQUESTS]) == sent  # nothing more reached the dead source


async def test_garbled_html_is_a_bad_response(datadog: App) -> None:
    app, url = datadog
    app[FAULTS].inject("/api/v1/query", garbled=True)
    async with DatadogMetrics(config(url)) as dd:
        with pytest.raises(BadResponse) as caught:
            await dd.signal("traffic", when(T0), when(END))
    assert caught.value.connector == "datadog"
    assert "text/html" in str(caught.value) and "proxy" in str(caught.value)


async def test_an_error_in_a_200_is_a_bad_response(datadog: App) -> None:
    app, url = datadog
    app[FAULTS].inject("/api/v1/query", error_body=True)
    async with DatadogMetrics(config(url)) as dd:
        with pytest.raises(BadResponse, match="injected error"):
            await dd.signal("traffic", when(T0), when(END))


async def test_a_wrong_key_says_what_to_check_without_echoing_it(datadog: App) -> None:
    _, url = datadog
    secret = "dd-wrong-key-0123456789"
    async with DatadogMetrics(config(url, api_key=SecretStr(secret))) as dd:
        with pytest.raises(AuthError) as caught:
            await dd.signal("traffic", when(T0), when(END))
    assert "DD_API_KEY" in str(caught.value) and secret not in str(caught.value)
    assert secret not in repr(caught.value)


async def test_writes_are_refused_before_sending(datadog: App) -> None:
    app, url = datadog
    async with DatadogMetrics(config(url)) as dd:
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            with pytest.raises(ReadOnlyViolation):
                await dd.http.request(method, "/api/v1/monitor")
    assert app[REQUESTS] == []


def test_unknown_signals_are_named() -> None:
    dd = DatadogMetrics(config("http://127.0.0.1:1", resilience=ResilienceConfig()))
    with pytest.raises(Exception, match="known: errors, latency, saturation, traffic"):
        dd.query_for("happiness")
