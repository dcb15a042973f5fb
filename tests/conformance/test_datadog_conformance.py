"""The Datadog stand-in against ``datadog-api-client``'s models, the connector against examples.

Every endpoint the stand-in serves is fetched over HTTP and read with the client's own models
(v1 ``MetricsQueryResponse``, ``Monitor``, ``EventListResponse``, ``APIErrorResponse``...).
The client itself is lenient: a value of the wrong type only marks the model ``_unparsed`` and
``null`` passes anywhere. So the check here is strict: nothing unparsed, ``null`` only where
the model types it nullable, required fields present, enums within their allowed values.

The connector then reads the vendor's own examples, served over HTTP (``examples/datadog``):

- ``query_timeseries_points.json``: the response recorded from ``api.datadoghq.com`` in
  DataDog/datadog-api-client-python,
  ``tests/v1/cassettes/test_scenarios/test_query_timeseries_points_returns_ok_response.yaml``
  (``GET /api/v1/query?query=system.cpu.idle{*}``), its pointlist cut to three points.
- ``list_events.json``: the ``ListEvents`` example of the API reference
  (https://docs.datadoghq.com/api/latest/events/#get-a-list-of-events), with the spec's
  property examples (``"Oh boy!"``, ``environment:test``) and a service tag; ``host`` and
  ``device_name`` null, as events without a host come back.
- ``list_monitors.json``: the ``ListMonitors`` example of the API reference
  (https://docs.datadoghq.com/api/latest/monitors/#get-all-monitor-details), trimmed, with
  service tags.

The service dependencies endpoint is not in the OpenAPI description (nor the client); its
documented shape (https://docs.datadoghq.com/api/latest/service-dependencies/) is checked by
hand.
"""

from __future__ import annotations

import copy
import inspect
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
from aiohttp import web
from datadog_api_client import ApiClient, Configuration
from datadog_api_client.model_utils import (
    ModelComposed,
    ModelNormal,
    ModelSimple,
    OpenApiModel,
    none_type,
)
from datadog_api_client.v1.model.api_error_response import APIErrorResponse
from datadog_api_client.v1.model.authentication_validation_response import (
    AuthenticationValidationResponse,
)
from datadog_api_client.v1.model.event_list_response import EventListResponse
from datadog_api_client.v1.model.metrics_query_response import MetricsQueryResponse
from datadog_api_client.v1.model.monitor import Monitor as DatadogMonitor
from pydantic import SecretStr

from connectors.config import DatadogConfig, ResilienceConfig, SignalQuery, default_signals
from connectors.datadog import DatadogMetrics
from connectors.errors import BadResponse
from investigators.bundle import (
    Bundle,
    Change,
    ChangeKind,
    Incident,
    MetricKind,
    Series,
    Service,
)
from sandbox.datadog_api import datadog_app
from sandbox.faults import FAULTS, serving

EXAMPLES = Path(__file__).parent / "examples" / "datadog"
T0 = 1_795_132_800.0  # 2026-11-20T00:00:00Z
INCIDENT = T0 + 3600
END = T0 + 2 * 3600
KEYS = {"DD-API-KEY": "sandbox-dd-api-key", "DD-APPLICATION-KEY": "sandbox-dd-app-key"}
FAST = ResilienceConfig(timeout=2.0, attempts=1, backoff_base=0.01, backoff_max=0.05)
METRICS = (
    ("trace.http.request.duration", MetricKind.LATENCY, "avg", ""),
    ("trace.http.request.errors", MetricKind.ERRORS, "sum", ".as_count()"),
    ("trace.http.request.hits", MetricKind.TRAFFIC, "sum", ".as_rate()"),
    ("system.cpu.user", MetricKind.SATURATION, "avg", ""),
)
App = tuple[web.Application, str]


# --- a strict reading with the client's models -------------------------------------------------


def _required(model: type[OpenApiModel]) -> list[str]:
    """The keyword arguments a model cannot be built without: the spec's required fields."""
    return [
        name
        for name, p in inspect.signature(model.__init__).parameters.items()
        if name != "self_" and p.kind is p.POSITIONAL_OR_KEYWORD and p.default is p.empty
    ]


def _problems(value: Any, allowed: tuple[Any, ...], path: str) -> list[str]:
    """What in ``value`` the types ``allowed`` (as in a model's ``openapi_types``) do not admit."""
    if value is None:
        return [] if none_type in allowed else [f"{path}: null, typed non-nullable"]
    found: list[str] = []
    for kind in allowed:
        if isinstance(kind, list):
            if isinstance(value, list):
                return [
                    p
                    for i, v in enumerate(value)
                    for p in _problems(v, tuple(kind), f"{path}[{i}]")
                ]
            continue
        if isinstance(kind, dict):
            if isinstance(value, dict):
                [inner] = kind.values()
                return [p for k, v in value.items() for p in _problems(v, inner, f"{path}.{k}")]
            continue
        if kind is none_type:
            continue
        if isinstance(kind, type) and issubclass(kind, ModelComposed):
            options = kind._composed_schemas["oneOf"]
            if any(not _problems(value, (o,), path) for o in options):
                return []
            found.append(f"{path}: matches none of {[getattr(o, '__name__', o) for o in options]}")
            continue
        if isinstance(kind, type) and issubclass(kind, ModelSimple):
            if kind.allowed_values:
                if value in kind.allowed_values:
                    return []
                found.append(f"{path}: {value!r} is not one of {sorted(kind.allowed_values)}")
                continue
            inner_problems = _problems(value, kind.openapi_types["value"], path)
            bounds = kind.validations.get("value", {})
            size = len(value) if isinstance(value, list) else None
            if size is not None and not bounds.get("min_items", 0) <= size <= bounds.get(
                "max_items", size
            ):
                inner_problems.append(f"{path}: {size} items, outside {bounds}")
            if not inner_problems:
                return []
            found += inner_problems
            continue
        if isinstance(kind, type) and issubclass(kind, ModelNormal):
            if not isinstance(value, dict):
                found.append(f"{path}: {type(value).__name__}, not an object {kind.__name__}")
                continue
            types = kind.openapi_types
            mine = [f"{path}.{r}: required, missing" for r in _required(kind) if r not in value]
            for key, item in value.items():
                if key in types:
                    mine += _problems(item, types[key], f"{path}.{key}")
            if not mine:
                return []
            found += mine
            continue
        if kind is datetime:
            if isinstance(value, str):
                try:
                    datetime.fromisoformat(value.replace("Z", "+00:00"))
                    return []
                except ValueError:
                    pass
            found.append(f"{path}: {value!r} is not a date-time")
            continue
        if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
            return []
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            return []
        if kind in (str, bool) and type(value) is kind:
            return []
        found.append(f"{path}: {value!r} is not {getattr(kind, '__name__', kind)}")
    return found or [f"{path}: {value!r} not admitted by {allowed}"]


def _unparsed(model: Any) -> bool:
    if isinstance(model, list):
        return any(_unparsed(m) for m in model)
    return bool(getattr(model, "_unparsed", False))


def conforming(body: Any, response_type: tuple[Any, ...]) -> Any:
    """``body`` read with the client's models; fails the test on anything they do not admit."""
    problems = _problems(body, response_type, "body")
    assert not problems, "\n".join(problems[:20])
    model = ApiClient(Configuration()).deserialize(json.dumps(body), response_type, True)
    assert not _unparsed(model), f"the client could not parse {model}"
    return model


def test_the_strict_reading_refuses_what_the_client_lets_pass() -> None:
    """The checker itself: null in non-nullable fields, a bad enum, a missing required field."""
    bad_series = {"status": "ok", "series": [{"unit": None, "pointlist": [[1.0, None, 3.0]]}]}
    problems = _problems(bad_series, (MetricsQueryResponse,), "body")
    assert "body.series[0].unit: null, typed non-nullable" in problems
    assert any("pointlist[0]: 3 items" in p for p in problems)
    event = {"events": [{"id": 1, "host": None, "alert_type": "bogus"}]}
    problems = _problems(event, (EventListResponse,), "body")
    assert any("host: null" in p for p in problems) and any("bogus" in p for p in problems)
    assert _problems({}, (APIErrorResponse,), "body") == ["body.errors: required, missing"]


# --- the stand-in, served ---------------------------------------------------------------------


def _bundle() -> Bundle:
    """Three services over two hours; ``db`` breaks at the incident."""
    rng = np.random.default_rng(7)
    times = np.arange(T0, END, 60.0)
    after = times >= INCIDENT
    metrics = []
    for name in ("web", "api", "db"):
        hurt = name == "db"
        for metric, kind, _, _ in METRICS:
            base = {MetricKind.LATENCY: 0.2, MetricKind.SATURATION: 30.0}.get(kind, 50.0)
            values = base + rng.normal(0, base / 20, times.size)
            values = values + np.where(after & hurt, base * 5, 0.0)
            values[5] = np.nan  # a gap: a null in the pointlist
            metrics.append(Series(name, metric, kind, times, values))
    services = [Service("web", "frontend", ("api",)), Service("api", "core", ("db",))]
    services.append(Service("db", "data"))
    changes = [Change("db", ChangeKind.DEPLOY, INCIDENT - 600, "d0c0ffe", "Pool timeout", "ana")]
    changes.append(Change("api", ChangeKind.CONFIG, T0 + 600, "cafe123", "Tune TTL", ""))
    incident = Incident("INC-9", INCIDENT, "web errors", ("web",))
    return Bundle(incident, services, metrics, [], changes)


@pytest.fixture
async def datadog() -> AsyncIterator[App]:
    app = datadog_app(_bundle())
    async with serving(app) as url:
        yield app, url


async def _get(
    url: str,
    path: str,
    params: dict[str, Any] | None = None,
    *,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """A GET with the stand-in's keys (or ``headers``): the status and the JSON body."""
    params = params or {}
    async with (
        aiohttp.ClientSession(headers=KEYS if headers is None else headers) as session,
        session.get(url + path, params={k: str(v) for k, v in params.items()}) as response,
    ):
        assert response.content_type == "application/json"
        return response.status, await response.json()


async def test_validate(datadog: App) -> None:
    _, url = datadog
    status, body = await _get(url, "/api/v1/validate")
    assert status == 200 and conforming(body, (AuthenticationValidationResponse,)).valid is True


@pytest.mark.parametrize(("metric", "kind", "agg", "fn"), METRICS)
@pytest.mark.parametrize("grouped", [True, False])
async def test_query(
    datadog: App, metric: str, kind: MetricKind, agg: str, fn: str, grouped: bool
) -> None:
    _, url = datadog
    query = f"{agg}:{metric}{{*}}" + (" by {service}" if grouped else "") + fn
    params = {"query": query, "from": int(T0), "to": int(END)}
    status, body = await _get(url, "/api/v1/query", params)
    assert status == 200
    answer = conforming(body, (MetricsQueryResponse,))
    assert answer.status == "ok" and answer.query == query and len(answer.series) == 3
    for series in answer.series:
        assert series.length == len(series.pointlist) and series.start <= series.end
        assert series.pointlist[0].value[0] >= T0 * 1000  # milliseconds
        assert any(p.value[1] is None for p in series.pointlist)  # the gap, as null
        assert series.expression.endswith(fn) and series.metric == metric
        if grouped:
            assert series.tag_set == [series.scope] and series.scope.startswith("service:")
    unit = body["series"][0]["unit"]
    assert len(unit) == 2  # [unit, per unit]
    expected = {MetricKind.LATENCY: "second", MetricKind.SATURATION: "percent"}.get(kind)
    assert (unit[0] or {}).get("name") == expected
    assert (unit[1] or {}).get("name") == ("second" if fn == ".as_rate()" else None)


async def test_monitors(datadog: App) -> None:
    _, url = datadog
    status, body = await _get(url, "/api/v1/monitor", {"page": 0, "page_size": 1000})
    assert status == 200
    monitors = conforming(body, ([DatadogMonitor],))
    assert len(monitors) == 6 and {str(m.overall_state) for m in monitors} >= {"Alert"}
    status, tagged = await _get(url, "/api/v1/monitor", {"monitor_tags": "service:db"})
    assert status == 200 and len(conforming(tagged, ([DatadogMonitor],))) == 2


async def test_events(datadog: App) -> None:
    _, url = datadog
    params = {"start": int(T0), "end": int(END), "unaggregated": "true"}
    status, body = await _get(url, "/api/v1/events", params)
    assert status == 200
    events = conforming(body, (EventListResponse,)).events
    assert len(events) == 2 and events[0].date_happened >= events[1].date_happened
    assert all(e.id_str == str(e.id) and e.id > 2**53 for e in events)  # 64-bit, as Datadog's


async def test_service_dependencies_in_the_documented_shape(datadog: App) -> None:
    """Not in the OpenAPI description: ``{service: {"calls": [service, ...]}}`` per the docs."""
    _, url = datadog
    status, body = await _get(url, "/api/v1/service_dependencies", {"env": "prod"})
    assert status == 200 and body["api"] == {"calls": ["db"]} and body["db"] == {"calls": []}
    assert all(
        set(v) == {"calls"} and all(isinstance(c, str) for c in v["calls"]) for v in body.values()
    )
    status, body = await _get(url, "/api/v1/service_dependencies")
    assert status == 400 and conforming(body, (APIErrorResponse,)).errors


@pytest.mark.parametrize(
    ("path", "params", "headers", "status"),
    [
        ("/api/v1/validate", {}, {}, 403),
        ("/api/v1/monitor", {}, {"DD-API-KEY": "sandbox-dd-api-key"}, 403),
        ("/api/v1/query", {"from": 0, "to": 1, "query": "no metric here"}, None, 400),
        ("/api/v1/query", {"query": "avg:m{*}"}, None, 400),
        ("/api/v1/events", {"start": "soon", "end": 1}, None, 400),
    ],
)
async def test_error_bodies(
    datadog: App, path: str, params: dict[str, Any], headers: dict[str, str] | None, status: int
) -> None:
    _, url = datadog
    got, body = await _get(url, path, params, headers=headers)
    assert got == status and conforming(body, (APIErrorResponse,)).errors


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
async def test_injected_failures(datadog: App, status: int) -> None:
    app, url = datadog
    app[FAULTS].inject("*", status=status, retry_after=1 if status == 429 else None)
    got, body = await _get(url, "/api/v1/monitor")
    assert got == status and conforming(body, (APIErrorResponse,)).errors


async def test_an_injected_error_in_a_200(datadog: App) -> None:
    app, url = datadog
    app[FAULTS].inject("/api/v1/query", error_body=True)
    status, body = await _get(url, "/api/v1/query", {"query": "avg:m{*}", "from": 0, "to": 1})
    answer = conforming(body, (MetricsQueryResponse,))
    assert status == 200 and answer.status == "error" and "injected" in answer.error


# --- the connector on the vendor's examples ---------------------------------------------------


def example(name: str) -> Any:
    """A vendored example response (sources in the module docstring)."""
    return json.loads((EXAMPLES / name).read_text())


def test_the_examples_conform_too() -> None:
    """Apart from the nulls the API is known to send where the models say it never does."""
    conforming(example("query_timeseries_points.json"), (MetricsQueryResponse,))
    conforming(example("list_monitors.json"), ([DatadogMonitor],))
    events = example("list_events.json")
    assert _problems(events, (EventListResponse,), "body") == [
        "body.events[0].device_name: null, typed non-nullable",
        "body.events[0].host: null, typed non-nullable",
    ]


@pytest.fixture
async def replaying() -> AsyncIterator[tuple[dict[str, Any], str]]:
    """A server answering every GET with ``answers[path]``, to put examples on the wire."""
    answers: dict[str, Any] = {}

    async def answer(request: web.Request) -> web.Response:
        return web.json_response(answers[request.path])

    app = web.Application()
    app.router.add_get("/{tail:.*}", answer)
    async with serving(app) as url:
        yield answers, url


def config(base_url: str, **overrides: Any) -> DatadogConfig:
    values: dict[str, Any] = {
        "api_key": SecretStr("k"),
        "app_key": SecretStr("a"),
        "base_url": base_url,
        "resilience": FAST,
    }
    return DatadogConfig.model_validate(values | overrides)


def when(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


async def test_the_connector_reads_the_recorded_query(
    replaying: tuple[dict[str, Any], str],
) -> None:
    answers, url = replaying
    recorded = example("query_timeseries_points.json")
    # The recording is ungrouped; a "by {service}" answer names the group in scope and tag_set.
    grouped = copy.deepcopy(recorded)
    grouped["series"][0] |= {"scope": "service:checkout", "tag_set": ["service:checkout"]}
    answers["/api/v1/query"] = grouped
    signals = default_signals() | {"idle": SignalQuery(metric="system.cpu.idle")}
    async with DatadogMetrics(config(url, signals=signals)) as dd:
        found = await dd.signal("idle", when(1623846101), when(1623932501))
        assert list(found) == ["checkout"]
        series = found["checkout"]
        assert series.times == [1623846300.0, 1623846600.0, 1623846900.0]
        assert series.values == [94.31900300343831, 94.1221435991923, 94.4046950785319]
        assert series.unit == "%"  # read from the answer: the signal names none
        assert series.metric == "system.cpu.idle"
        # The API also answers "unit": null, where the models do not allow it.
        grouped["series"][0]["unit"] = None
        assert (await dd.signal("idle", when(0), when(1)))["checkout"].unit is None
        grouped["series"][0]["unit"] = [
            {"name": "byte", "short_name": "B"},
            {"name": "second", "short_name": "s"},
        ]
        assert (await dd.signal("idle", when(0), when(1)))["checkout"].unit == "B/s"
        # Ungrouped, as recorded: no service to file the series under, and the connector says so.
        answers["/api/v1/query"] = recorded
        with pytest.raises(BadResponse, match="lacks its service tag"):
            await dd.signal("idle", when(0), when(1))


async def test_the_connector_checks_its_signals_on_the_recorded_query(
    replaying: tuple[dict[str, Any], str],
) -> None:
    answers, url = replaying
    answers["/api/v1/validate"] = {"valid": True}
    answers["/api/v1/monitor"] = example("list_monitors.json")
    answers["/api/v1/query"] = example("query_timeseries_points.json")
    async with DatadogMetrics(config(url)) as dd:
        diagnosis = await dd.diagnose()
    assert diagnosis.ok and "saturation: system.cpu.user has data" in diagnosis.lines


async def test_the_connector_reads_the_events_example(
    replaying: tuple[dict[str, Any], str],
) -> None:
    answers, url = replaying
    answers["/api/v1/events"] = example("list_events.json")  # host and device_name null
    async with DatadogMetrics(config(url)) as dd:
        [event] = await dd.events(when(1699990000), when(1700010000))
    assert event.title == "Did you hear the news today?" and event.text == "Oh boy!"
    assert event.at == when(1700000000) and event.id == "7584423930413846124"
    assert event.tags == ["environment:test", "service:checkout"]
    assert event.services == ["checkout"]
    assert event.source == "my apps" and event.alert_type == "info"
    assert event.url == "https://app.datadoghq.com/event/event?id=7584423930413846124"


async def test_the_connector_reads_the_monitors_example(
    replaying: tuple[dict[str, Any], str],
) -> None:
    answers, url = replaying
    answers["/api/v1/monitor"] = example("list_monitors.json")
    async with DatadogMetrics(config(url)) as dd:
        [monitor] = await dd.alerting_monitors()
    assert (monitor.id, monitor.name, monitor.state) == (12345, "Bytes received on host0", "Alert")
    assert monitor.services == ["checkout"]
    assert monitor.query == "avg(last_5m):sum:system.net.bytes_rcvd{host:host0} > 100"


@pytest.mark.parametrize(
    ("written", "read"),
    [
        (None, None),  # the reference's example leaves it out
        ("2019-09-19T10:00:00.000000+00:00", datetime(2019, 9, 19, 10, tzinfo=UTC)),
        ("2019-09-19T10:00:00Z", datetime(2019, 9, 19, 10, tzinfo=UTC)),
        ("yesterday", None),  # unreadable: a hint lost, not a failed scan
    ],
)
async def test_when_a_monitor_entered_its_state_is_read_when_given(
    replaying: tuple[dict[str, Any], str], written: str | None, read: datetime | None
) -> None:
    answers, url = replaying
    monitors = example("list_monitors.json")
    if written is not None:
        monitors[0]["overall_state_modified"] = written
    answers["/api/v1/monitor"] = monitors
    async with DatadogMetrics(config(url)) as dd:
        [monitor] = await dd.alerting_monitors()
    assert monitor.state_since == read
