"""Datadog as a metric source: timeseries ``by {service}``, alerting monitors, events.

One ``GET /api/v1/query`` per signal returns that signal for every service (the query groups by
the service tag), so four signals for a thousand services cost four requests. Monitors come from
``GET /api/v1/monitor`` (paged), events from ``GET /api/v1/events``, and the optional APM service
map from ``GET /api/v1/service_dependencies``. Any Datadog site works; ``base_url`` points the
connector at a stand-in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import aiohttp

from connectors.config import DatadogConfig, SignalQuery
from connectors.errors import BadResponse, ConnectorError
from connectors.http import HttpSource, retry_after_seconds, wire_time
from connectors.records import Diagnosis, Event, MetricSeriesRecord, Monitor

NAME = "datadog"
ALERTING_STATES = frozenset({"Alert", "Warn"})
MONITOR_PAGE = 1000
EVENTS_PAGE = 1000  # the v1 events endpoint returns at most 1000 events per page
MAX_PAGES = 20


def _rate_limit(status: int, headers: Mapping[str, str]) -> float | bool | None:
    """429; Datadog's X-RateLimit-Reset is the seconds left in the window (not an epoch)."""
    if status != 429:
        return False
    wait = retry_after_seconds(headers)
    if wait is None and headers.get("X-RateLimit-Reset", "").isdigit():
        wait = float(headers["X-RateLimit-Reset"])
    return wait


def _tags_of(tags: Sequence[str], key: str) -> list[str]:
    prefix = f"{key}:"
    return [t[len(prefix) :] for t in tags if isinstance(t, str) and t.startswith(prefix)]


def _unit_of(item: Mapping[str, Any]) -> str | None:
    """A series' unit from Datadog's ``[unit, per_unit]`` pair, e.g. ``%`` or ``B/s``.

    Either entry may be null, and the API also answers ``"unit": null`` for a metric without
    unit metadata (the OpenAPI description does not say so): both mean no unit.
    """
    pair = item.get("unit")
    if not isinstance(pair, list):
        return None
    names: list[str | None] = []
    for entry in pair[:2]:
        name = (entry.get("short_name") or entry.get("name")) if isinstance(entry, dict) else None
        names.append(str(name) if name else None)
    unit, per = [*names, None, None][:2]
    if per is not None:
        return f"{unit or 1}/{per}"
    return unit


class DatadogMetrics:
    """A :class:`~connectors.base.MetricSource` over the Datadog API."""

    name = NAME

    def __init__(self, config: DatadogConfig, *, session: aiohttp.ClientSession | None = None):
        self.config = config
        api_key = config.api_key.get_secret_value()
        app_key = config.app_key.get_secret_value()
        self.http = HttpSource(
            connector=NAME,
            base_url=config.api_base,
            headers={
                "DD-API-KEY": api_key,
                "DD-APPLICATION-KEY": app_key,
                "Accept": "application/json",
            },
            secrets=[api_key, app_key],
            resilience=config.resilience,
            auth_hint=(
                f"check DD_API_KEY and DD_APP_KEY (the application key needs read scopes), "
                f"and that DD_SITE={config.site} is the site your organisation is on"
            ),
            session=session,
            rate_limit=_rate_limit,
        )

    async def __aenter__(self) -> DatadogMetrics:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP session if this connector made it."""
        await self.http.aclose()

    # --- metrics -------------------------------------------------------------------------------

    def query_for(self, signal_name: str, *, scope: str | None = None) -> str:
        """The Datadog query of a signal, grouped by service, e.g. ``avg:m{*} by {service}``."""
        try:
            signal = self.config.signals[signal_name]
        except KeyError:
            known = ", ".join(sorted(self.config.signals))
            raise ConnectorError(NAME, f"unknown signal {signal_name!r} (known: {known})") from None
        return self._query(signal, scope=scope or self.config.scope, by=True)

    def _query(self, signal: SignalQuery, *, scope: str, by: bool) -> str:
        text = f"{signal.aggregation}:{signal.metric}{{{scope}}}"
        if by:
            text += f" by {{{self.config.service_tag}}}"
        return text + (".as_count()" if signal.as_count else "")

    async def signal(
        self, signal_name: str, start: datetime, end: datetime
    ) -> dict[str, MetricSeriesRecord]:
        """One signal for every service, in one request."""
        query = self.query_for(signal_name)
        signal = self.config.signals[signal_name]
        response = await self.http.get_json(
            "/api/v1/query",
            params={"from": int(start.timestamp()), "to": int(end.timestamp()), "query": query},
        )
        body = response.data
        if not isinstance(body, dict) or body.get("status") == "error" or body.get("error"):
            detail = body.get("error") if isinstance(body, dict) else None
            raise BadResponse(NAME, f"query {query!r} failed: {detail or 'unreadable response'}")
        series = body.get("series")
        if not isinstance(series, list):
            raise BadResponse(NAME, f"query {query!r}: the response has no 'series' list")
        found: dict[str, MetricSeriesRecord] = {}
        tag = self.config.service_tag
        for item in series:
            services = _tags_of(item.get("tag_set") or [], tag) or _tags_of(
                str(item.get("scope", "")).split(","), tag
            )
            points = item.get("pointlist")
            if not services or not isinstance(points, list):
                raise BadResponse(
                    NAME, f"query {query!r}: a series lacks its {tag} tag or its pointlist"
                )
            try:
                times = [float(p[0]) / 1000.0 for p in points]
                values = [None if p[1] is None else float(p[1]) for p in points]
            except (TypeError, ValueError, IndexError):
                raise BadResponse(NAME, f"query {query!r}: a point is not [ms, value]") from None
            service = services[0]
            found[service] = MetricSeriesRecord(
                service=service,
                signal=signal_name,
                metric=signal.metric,
                query=query,
                times=times,
                values=values,
                # What the API says a series is in wins; the configured unit is for metrics
                # without unit metadata.
                unit=_unit_of(item) or signal.unit,
                url=self.metric_url(signal_name, service=service, start=start, end=end),
            )
        return found

    # --- monitors and events -------------------------------------------------------------

    async def alerting_monitors(self) -> list[Monitor]:
        """Monitors whose overall state is Alert or Warn."""
        found: list[Monitor] = []
        for page in range(MAX_PAGES):
            response = await self.http.get_json(
                "/api/v1/monitor", params={"page": page, "page_size": MONITOR_PAGE}
            )
            items = response.data
            if not isinstance(items, list):
                raise BadResponse(NAME, "GET /api/v1/monitor did not return a list of monitors")
            for item in items:
                try:
                    state = str(item["overall_state"])
                    if state not in ALERTING_STATES:
                        continue
                    tags = [str(t) for t in item.get("tags") or []]
                    found.append(
                        Monitor(
                            id=int(item["id"]),
                            name=str(item["name"]),
                            state=state,
                            query=str(item.get("query", "")),
                            services=_tags_of(tags, self.config.service_tag),
                            tags=tags,
                            url=self.monitor_url(int(item["id"])),
                            state_since=wire_time(item.get("overall_state_modified")),
                        )
                    )
                except (KeyError, TypeError, ValueError) as exc:
                    raise BadResponse(NAME, f"a monitor lacks a field ({exc})") from None
            if len(items) < MONITOR_PAGE:
                break
        return found

    async def events(
        self, start: datetime, end: datetime, *, tags: Sequence[str] = ()
    ) -> list[Event]:
        """Events (deploys, config changes...) between ``start`` and ``end``."""
        found: list[Event] = []
        for page in range(MAX_PAGES):
            params: dict[str, Any] = {
                "start": int(start.timestamp()),
                "end": int(end.timestamp()),
                "unaggregated": "true",
                "page": page,
            }
            if tags:
                params["tags"] = ",".join(tags)
            response = await self.http.get_json("/api/v1/events", params=params)
            items = response.data.get("events") if isinstance(response.data, dict) else None
            if not isinstance(items, list):
                raise BadResponse(NAME, "GET /api/v1/events: the response has no 'events' list")
            for item in items:
                found.append(self._event(item))
            if len(items) < EVENTS_PAGE:
                break
        return found

    def _event(self, item: Any) -> Event:
        try:
            tags = [str(t) for t in item.get("tags") or []]
            ident = str(item.get("id_str") or item["id"])
            url = str(item.get("url") or f"/event/event?id={ident}")
            return Event(
                id=ident,
                at=datetime.fromtimestamp(float(item["date_happened"]), tz=UTC),
                title=str(item.get("title") or ""),
                text=str(item.get("text") or ""),
                services=_tags_of(tags, self.config.service_tag),
                tags=tags,
                source=item.get("source_type_name"),
                alert_type=item.get("alert_type"),
                url=url if url.startswith("http") else self.config.app_base + url,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BadResponse(NAME, f"an event lacks a field ({exc})") from None

    async def service_dependencies(
        self, *, start: datetime | None = None, end: datetime | None = None
    ) -> dict[str, list[str]]:
        """The APM service map: for each service, the services it calls (needs DD_ENV)."""
        if not self.config.env:
            raise ConnectorError(NAME, "the service map needs an APM environment: set DD_ENV")
        params: dict[str, Any] = {"env": self.config.env}
        if start is not None:
            params["start"] = int(start.timestamp())
        if end is not None:
            params["end"] = int(end.timestamp())
        response = await self.http.get_json("/api/v1/service_dependencies", params=params)
        if not isinstance(response.data, dict):
            raise BadResponse(NAME, "service dependencies: expected an object of services")
        try:
            return {
                str(name): [str(c) for c in entry["calls"]] for name, entry in response.data.items()
            }
        except (KeyError, TypeError):
            raise BadResponse(NAME, "service dependencies: a service lacks 'calls'") from None

    # --- links and checks ---------------------------------------------------------------------

    def metric_url(self, signal_name: str, *, service: str, start: datetime, end: datetime) -> str:
        """The metric explorer on one service's signal over the window."""
        signal = self.config.signals[signal_name]
        scope = f"{self.config.service_tag}:{service}"
        params = {
            "exp_metric": signal.metric,
            "exp_scope": scope,
            "exp_agg": signal.aggregation,
            "exp_row_type": "metric",
            "from_ts": int(start.timestamp() * 1000),
            "to_ts": int(end.timestamp() * 1000),
            "live": "false",
        }
        return f"{self.config.app_base}/metric/explorer?{urlencode(params)}"

    def monitor_url(self, monitor_id: int) -> str:
        """The monitor's status page."""
        return f"{self.config.app_base}/monitors/{monitor_id}"

    async def diagnose(self) -> Diagnosis:
        """Keys valid, site right, and each signal's metric has data in the last hour."""
        lines: list[str] = []
        try:
            valid = await self.http.get_json("/api/v1/validate")
            if not (isinstance(valid.data, dict) and valid.data.get("valid") is True):
                raise BadResponse(NAME, "GET /api/v1/validate did not confirm the API key")
            await self.http.get_json("/api/v1/monitor", params={"page": 0, "page_size": 1})
            lines.append(f"reachable at {self.config.api_base}, API and application keys ok")
        except ConnectorError as exc:
            return Diagnosis(connector=NAME, ok=False, lines=[*lines, exc.message])
        end = datetime.now(tz=UTC)
        start = datetime.fromtimestamp(end.timestamp() - 3600, tz=UTC)
        ok = True
        for name, signal in self.config.signals.items():
            query = self._query(signal, scope=self.config.scope, by=False)
            try:
                response = await self.http.get_json(
                    "/api/v1/query",
                    params={
                        "from": int(start.timestamp()),
                        "to": int(end.timestamp()),
                        "query": query,
                    },
                )
            except ConnectorError as exc:
                ok = False
                lines.append(f"{name}: {exc.message}")
                continue
            series = response.data.get("series") if isinstance(response.data, dict) else None
            if series:
                lines.append(f"{name}: {signal.metric} has data")
            else:
                ok = False
                lines.append(
                    f"{name}: no data for {signal.metric} in the last hour "
                    f"(scope {self.config.scope}); set DD_METRIC_{name.upper()} or DD_SCOPE"
                )
        return Diagnosis(connector=NAME, ok=ok, lines=lines)
