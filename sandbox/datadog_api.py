"""A stand-in for the Datadog API, serving a bundle's telemetry in the documented shapes.

``GET /api/v1/validate``, ``/api/v1/query`` (``agg:metric{scope} by {tag}`` with rollup),
``/api/v1/monitor`` (one monitor per service for latency and errors, in Alert when the series is
well above its early median at ``now``; the incident's alert, ``incident.alert``, is a monitor on
that very series, in Alert; without one, every monitor of a symptom service is in Alert),
``/api/v1/events`` (the bundle's changes as events) and ``/api/v1/service_dependencies``.
Wrong or missing keys get Datadog's ``403 {"errors": ["Forbidden"]}``; faults come from
:mod:`sandbox.faults`. Answers conform to ``datadog-api-client``'s v1 models, strictly
(``tests/conformance``): a series' ``unit`` is the ``[unit, per_unit]`` pair, and an event without
a host leaves ``host`` out rather than sending the ``null`` the models do not allow.
"""

from __future__ import annotations

import hashlib
import math
import re
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np
from aiohttp import web

from investigators.bundle import Bundle, Change, MetricKind, Series
from sandbox.faults import RecordedRequest, install_faults

# The metric names the connector asks for by default, for bundles that name metrics otherwise.
DEFAULT_METRIC_KINDS: dict[str, MetricKind] = {
    "trace.http.request.duration": MetricKind.LATENCY,
    "trace.http.request.errors": MetricKind.ERRORS,
    "trace.http.request.hits": MetricKind.TRAFFIC,
    "system.cpu.user": MetricKind.SATURATION,
}
MAX_POINTS = 300  # Datadog rolls series up so that a graph gets a few hundred points
_QUERY = re.compile(
    r"^(?P<agg>\w+):(?P<metric>[\w.\-]+)\{(?P<scope>[^}]*)\}"
    r"(?:\s*by\s*\{(?P<by>[^}]*)\})?(?P<fn>\.as_count\(\)|\.as_rate\(\))?$"
)


@dataclass(slots=True)
class DatadogStandinConfig:
    """Keys the stand-in accepts, metric names it knows, and the moment monitors evaluate."""

    api_key: str = "sandbox-dd-api-key"
    app_key: str = "sandbox-dd-app-key"
    metric_kinds: dict[str, MetricKind] = field(default_factory=lambda: dict(DEFAULT_METRIC_KINDS))
    now: float | None = None  # default: 15 minutes after the incident started


def datadog_error(status: int, message: str) -> dict[str, Any]:
    """Datadog's error body; in a 200 the query endpoint says ``status: error`` instead."""
    if status == 200:
        return {"status": "error", "res_type": "time_series", "error": message, "series": []}
    return {"errors": [message]}


def _unit(name: str, *, family: str, plural: str, scale: float, short: str) -> dict[str, Any]:
    return {
        "family": family,
        "name": name,
        "plural": plural,
        "scale_factor": scale,
        "short_name": short,
    }


# Entries of Datadog's unit catalogue, as a query answer describes a series' unit.
_SECOND = _unit("second", family="time", plural="seconds", scale=1.0, short="s")
_MILLISECOND = _unit("millisecond", family="time", plural="milliseconds", scale=0.001, short="ms")
_PERCENT = _unit("percent", family="percentage", plural="percent", scale=1.0, short="%")
_UNITS = {"s": _SECOND, "second": _SECOND, "ms": _MILLISECOND, "millisecond": _MILLISECOND}
_UNITS |= {"percent": _PERCENT, "%": _PERCENT}
_KIND_UNITS = {MetricKind.LATENCY: _SECOND, MetricKind.SATURATION: _PERCENT}


def _unit_pair(series: Series, fn: str | None) -> list[dict[str, Any] | None]:
    """Datadog's ``unit``: the unit and the per-unit (``bytes`` per ``second``), each or null."""
    primary = _UNITS.get(series.unit or "") or _KIND_UNITS.get(series.kind)
    return [primary, _SECOND if fn == ".as_rate()" else None]


def _series_index(
    bundle: Bundle,
) -> tuple[dict[str, dict[str, Series]], dict[str, dict[str, Series]]]:
    by_name: dict[str, dict[str, Series]] = {}
    by_kind: dict[str, dict[str, Series]] = {}
    for s in bundle.metrics:
        by_name.setdefault(s.name, {}).setdefault(s.service, s)
        by_kind.setdefault(s.kind.value, {}).setdefault(s.service, s)
    return by_name, by_kind


def _rollup(
    series: Series, start: float, end: float, *, count: bool
) -> tuple[float, list[list[Any]]]:
    mask = (series.times >= start) & (series.times <= end)
    times, values = series.times[mask], series.values[mask]
    native = float(np.median(np.diff(series.times))) if series.times.size > 1 else 60.0
    interval = max(native, math.ceil((end - start) / MAX_POINTS / 10) * 10)
    if times.size == 0:
        return interval, []
    slots = np.floor(times / interval).astype(np.int64)
    first = int(slots[0])
    slots -= first
    finite = np.isfinite(values)
    sums = np.bincount(slots[finite], weights=values[finite], minlength=int(slots[-1]) + 1)
    counts = np.bincount(slots[finite], minlength=int(slots[-1]) + 1)
    present = np.bincount(slots, minlength=int(slots[-1]) + 1) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        rolled = sums if count else sums / counts
    points = []
    for i in np.flatnonzero(present).tolist():
        value = float(rolled[i]) if counts[i] else None
        points.append([(first + i) * interval * 1000.0, value])
    return interval, points


class _Telemetry:
    """The bundle, indexed for the handlers."""

    def __init__(self, bundle: Bundle, config: DatadogStandinConfig) -> None:
        self.config = config
        self.load(bundle)

    def load(self, bundle: Bundle) -> None:
        """Index ``bundle``, in place of the one served so far."""
        self.bundle = bundle
        self.by_name, self.by_kind = _series_index(bundle)
        cfg = self.config
        self.now = cfg.now if cfg.now is not None else bundle.incident.started_at + 900
        self.monitors = self._monitors()
        self.events = [self._event(c) for c in bundle.changes]

    def series_for(self, metric: str) -> dict[str, Series]:
        if metric in self.by_name:
            return self.by_name[metric]
        kind = self.config.metric_kinds.get(metric)
        return self.by_kind.get(kind.value, {}) if kind is not None else {}

    def _watched(self) -> list[tuple[MetricKind, Series]]:
        """The series monitors watch: each service's errors and latency, and the alert's own
        series in place of its service's series of that kind."""
        alert = self.bundle.incident.alert
        fired = self.by_name.get(alert.metric, {}).get(alert.service) if alert else None
        watched = []
        for kind in (MetricKind.ERRORS, MetricKind.LATENCY):
            for service, series in sorted(self.by_kind.get(kind.value, {}).items()):
                if fired is None or (service, kind) != (fired.service, fired.kind):
                    watched.append((kind, series))
        if fired is not None:
            watched.append((fired.kind, fired))
        return watched

    def _monitors(self) -> list[dict[str, Any]]:
        teams = {s.name: s.team for s in self.bundle.services}
        alert = self.bundle.incident.alert
        # Without a named alert, every monitor of a symptom service is taken to have fired.
        symptoms = set(self.bundle.incident.symptom_services) if alert is None else set()
        found = []
        for kind, series in self._watched():
            service = series.service
            early = series.values[: max(1, series.values.size // 3)]
            base = float(np.nanmedian(early)) if np.isfinite(early).any() else 0.0
            recent = series.values[(series.times > self.now - 300) & (series.times <= self.now)]
            current = float(np.nanmean(recent)) if np.isfinite(recent).any() else math.nan
            threshold = round(max(base * 3.0, base + 1.0), 3)
            fired = alert is not None and (alert.service, alert.metric) == (service, series.name)
            since = self.now
            if fired or service in symptoms or current > threshold:
                state = "Alert"
                # The incident's own alert opened it at detection; any other in Alert fired
                # when its series last went over the threshold, and after the incident's.
                opened = self.bundle.incident.started_at
                since = (
                    opened if fired else max(_over_since(series, threshold, self.now), opened + 60)
                )
            elif current > max(base * 1.5, base + 0.5):
                state = "Warn"
            elif math.isnan(current):
                state = "No Data"
            else:
                state = "OK"
            team = teams.get(service, "unknown")
            label = kind.value.capitalize()
            if kind is MetricKind.AVAILABILITY:  # down is bad: only ever the alert's own
                threshold = round(base * 0.9, 3)
                name, above = f"{label} is low on {service}", "<"
            else:
                name, above = f"{label} are high on {service}", ">"
            query = f"avg(last_5m):avg:{series.name}{{service:{service}}} {above} {threshold}"
            ident = zlib.crc32(f"{service}/{kind.value}".encode()) % 10**8
            found.append(
                {
                    "id": ident,
                    "name": name,
                    "type": "query alert",
                    "query": query,
                    "message": f"{label} on {service} crossed {threshold}. @slack-{team}",
                    "tags": [f"service:{service}", f"team:{team}"],
                    "options": {"thresholds": {"critical": threshold}, "notify_no_data": False},
                    "overall_state": state,
                    "overall_state_modified": _iso(since),
                    "created": _iso(float(series.times[0])),
                    "modified": _iso(float(series.times[0])),
                    "multi": False,
                    "priority": None,
                    "restricted_roles": None,
                    "creator": {"email": "sre@acme.example", "handle": "sre@acme.example"},
                }
            )
        return found

    @staticmethod
    def _event(change: Change) -> dict[str, Any]:
        # Event ids are 64-bit (JavaScript loses their last digits, hence id_str too).
        digest = hashlib.sha256(f"{change.service}/{change.id}/{change.at}".encode()).digest()
        ident = int.from_bytes(digest[:8], "big") >> 1
        kind = change.kind.value
        return {
            "id": ident,
            "id_str": str(ident),
            "date_happened": int(change.at),
            "title": f"{kind} of {change.service}: {change.title or change.id}",
            "text": f"%%% \n{change.author or 'someone'} made a {kind} change {change.id} \n %%%",
            "tags": [f"service:{change.service}", f"change_kind:{kind}", f"version:{change.id}"],
            "alert_type": "info",
            "priority": "normal",
            "source_type_name": "deployment" if kind == "deploy" else "change",
            "url": f"/event/event?id={ident}",
            "is_aggregate": False,
            "payload": "{}",
        }


def _json(body: Any) -> web.Response:
    """A JSON response encoded with msgspec: big query answers cost the stand-in less CPU."""
    return web.Response(body=msgspec.json.encode(body), content_type="application/json")


def _iso(seconds: float) -> str:
    return np.datetime_as_string(np.datetime64(int(seconds), "s"), unit="s") + "Z"


_DATA = web.AppKey("telemetry", _Telemetry)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    cfg = request.app[_DATA].config
    if request.headers.get("DD-API-KEY") != cfg.api_key:
        return web.json_response(datadog_error(403, "Forbidden"), status=403)
    if (
        request.path != "/api/v1/validate"
        and request.headers.get("DD-APPLICATION-KEY") != cfg.app_key
    ):
        return web.json_response(datadog_error(403, "Forbidden"), status=403)
    return await handler(request)


def _int_param(request: web.Request, name: str, default: int | None = None) -> int:
    raw = request.query.get(name)
    if raw is None:
        if default is None:
            raise web.HTTPBadRequest(
                text=f'{{"errors": ["Missing required parameter: {name}"]}}',
                content_type="application/json",
            )
        return default
    try:
        return int(float(raw))
    except ValueError:
        raise web.HTTPBadRequest(
            text=f'{{"errors": ["Invalid value for {name}"]}}', content_type="application/json"
        ) from None


async def _validate(request: web.Request) -> web.Response:
    return web.json_response({"valid": True})


async def _query(request: web.Request) -> web.Response:
    data = request.app[_DATA]
    start, end = _int_param(request, "from"), _int_param(request, "to")
    text = request.query.get("query", "")
    match = _QUERY.match(text.strip())
    if match is None:
        return web.json_response(datadog_error(400, f"Error parsing query: {text}"), status=400)
    agg, metric, by = match["agg"], match["metric"], (match["by"] or "").strip()
    scope_tags = [t.strip() for t in match["scope"].split(",") if t.strip() not in ("", "*")]
    wanted = {t.split(":", 1)[1] for t in scope_tags if t.startswith("service:")}
    count = match["fn"] == ".as_count()"
    series_out: list[dict[str, Any]] = []
    for service, series in sorted(data.series_for(metric).items()):
        if wanted and service not in wanted:
            continue
        interval, points = _rollup(series, start, end, count=count)
        if not points:
            continue
        tag_set = [f"{by}:{service}"] if by else []
        scope = ",".join(tag_set or scope_tags or ["*"])
        series_out.append(
            {
                "metric": metric,
                "display_name": metric,
                "unit": _unit_pair(series, match["fn"]),
                "pointlist": points,
                "start": int(points[0][0]),
                "end": int(points[-1][0] + interval * 1000 - 1),
                "interval": int(interval),
                "length": len(points),
                "aggr": agg,
                "scope": scope,
                "expression": f"{agg}:{metric}{{{scope}}}" + (match["fn"] or ""),
                "tag_set": tag_set,
                "query_index": 0,
                "attributes": {},
            }
        )
    return _json(
        {
            "status": "ok",
            "res_type": "time_series",
            "resp_version": 1,
            "query": text,
            "message": "",
            "from_date": start * 1000,
            "to_date": end * 1000,
            "group_by": [by] if by else [],
            "series": series_out,
            "values": [],
            "times": [],
        }
    )


async def _monitors(request: web.Request) -> web.Response:
    monitors = request.app[_DATA].monitors
    tags = [t for t in request.query.get("monitor_tags", "").split(",") if t]
    if tags:
        monitors = [m for m in monitors if all(t in m["tags"] for t in tags)]
    if "page" in request.query:
        size = min(_int_param(request, "page_size", 100), 1000)
        page = _int_param(request, "page")
        monitors = monitors[page * size : (page + 1) * size]
    return web.json_response(monitors)


async def _events(request: web.Request) -> web.Response:
    start, end = _int_param(request, "start"), _int_param(request, "end")
    tags = [t for t in request.query.get("tags", "").split(",") if t]
    page = _int_param(request, "page", 0)
    events = [
        e
        for e in request.app[_DATA].events
        if start <= e["date_happened"] <= end and all(t in e["tags"] for t in tags)
    ]
    events.sort(key=lambda e: -e["date_happened"])
    return web.json_response({"events": events[page * 1000 : (page + 1) * 1000], "status": "ok"})


async def _dependencies(request: web.Request) -> web.Response:
    if not request.query.get("env"):
        return web.json_response(datadog_error(400, "env is required"), status=400)
    services = request.app[_DATA].bundle.services
    return web.json_response({s.name: {"calls": list(s.depends_on)} for s in services})


def datadog_app(
    bundle: Bundle,
    *,
    config: DatadogStandinConfig | None = None,
    sinks: list[list[RecordedRequest]] | None = None,
) -> web.Application:
    """The stand-in as an aiohttp application; serve it with :func:`sandbox.faults.serving`."""
    app = web.Application(middlewares=[_auth])
    install_faults(app, error_shape=datadog_error, sinks=sinks)
    app[_DATA] = _Telemetry(bundle, config or DatadogStandinConfig())
    app.router.add_get("/api/v1/validate", _validate)
    app.router.add_get("/api/v1/query", _query)
    app.router.add_get("/api/v1/monitor", _monitors)
    app.router.add_get("/api/v1/events", _events)
    app.router.add_get("/api/v1/service_dependencies", _dependencies)
    return app


def load_bundle(app: web.Application, bundle: Bundle) -> None:
    """Serve ``bundle`` from now on, on the same port: call it on the stand-in's event loop."""
    app[_DATA].load(bundle)


def _over_since(series: Series, threshold: float, now: float) -> float:
    """Since when ``series`` has stayed over ``threshold`` up to ``now`` (``now`` if it is not
    over it then): when its monitor would have gone into Alert."""
    upto = series.times <= now
    times, values = series.times[upto], series.values[upto]
    below = np.flatnonzero(~(values > threshold))
    if not times.size or (below.size and below[-1] == times.size - 1):
        return now
    return float(times[below[-1] + 1]) if below.size else float(times[0])
