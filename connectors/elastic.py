"""Elasticsearch as a log source, through the official async client.

Two cheap aggregate queries, never raw logs in bulk:

* :meth:`ElasticsearchLogs.error_counts`: a ``terms`` on the service field with a
  ``date_histogram`` inside, filtered to error levels, so a thousand services cost one search
  (split into one ``_msearch`` when the buckets would exceed Elasticsearch's bucket limit);
  :meth:`ElasticsearchLogs.error_scan` is the same search with, per service, a bounded
  ``top_hits`` of its newest error lines before a moment and from it (what a person would open
  first, and what it looked like before);
* :meth:`ElasticsearchLogs.top_error_patterns`: a ``filters`` aggregation (baseline / incident)
  over one service's error lines, each with a bounded ``top_hits`` sample (estimated counts) and,
  when a keyword copy of the message is configured, a ``terms`` on it (exact counts when the
  lines repeat), then grouped client-side into patterns by :mod:`connectors.patterns`.

The client's own retries are off: :mod:`connectors.resilience` does retries, rate limits, the
concurrency cap and the circuit breaker, like for the other connectors.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote

import elastic_transport
from elasticsearch import (
    ApiError,
    AsyncElasticsearch,
    UnsupportedProductError,
)
from elasticsearch.exceptions import SerializationError
from pydantic import BaseModel, ConfigDict

from connectors.config import ElasticsearchConfig
from connectors.errors import AuthError, BadResponse, ConnectorError, NotFound
from connectors.http import check_read_only, error_text, retry_after_seconds, wire_time
from connectors.patterns import group_lines
from connectors.records import Diagnosis, ErrorCountSeries, LogPattern
from connectors.resilience import Resilience, Retry

T = TypeVar("T")
NAME = "elasticsearch"
AUTH_HINT = "check ES_API_KEY (or ES_USERNAME and ES_PASSWORD)"
# Elasticsearch refuses responses with more than search.max_buckets (65,536 by default); a
# little under it, counting the service buckets as well as their time buckets.
BUCKET_BUDGET = 65_000
SAMPLE_SIZE = 100  # top_hits may not return more than index.max_inner_result_window (100)
DISTINCT_LINES = 200
#: Newest error lines per service the broad scan brings back with its counts (top_hits).
SCAN_LINES = 20
_RISON_SAFE = "():,'!"  # Kibana writes its rison state with these characters unescaped


class ErrorLine(BaseModel):
    """One error log line as stored: the service as the logs name it, when (Unix s), level, text."""

    model_config = ConfigDict(frozen=True)

    service: str
    at: float
    level: str
    message: str


class ErrorScan(BaseModel):
    """What one error-count search brings back: the counts, and each service's newest lines in
    the two windows asked for (before a moment and from it), each window's newest first."""

    model_config = ConfigDict(frozen=True)

    counts: dict[str, ErrorCountSeries]
    lines: dict[str, list[ErrorLine]]


class _ReadOnlyElasticsearch(AsyncElasticsearch):
    """The official client, refusing any request that could write, before it is sent."""

    async def perform_request(self, method: str, path: str, **kwargs: Any) -> Any:
        check_read_only(NAME, method, path, elasticsearch=True)
        return await super().perform_request(method, path, **kwargs)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _rison(value: str) -> str:
    return "'" + value.replace("!", "!!").replace("'", "!'") + "'"


def _dig(body: Any, *keys: str | int, what: str) -> Any:
    """``body[k1][k2]...`` or BadResponse naming what was missing."""
    here = body
    for key in keys:
        try:
            here = here[key]
        except (KeyError, IndexError, TypeError):
            detail = error_text(body) if isinstance(body, dict) else ""
            raise BadResponse(
                NAME,
                f"{what}: the response has no '{'.'.join(map(str, keys))}'"
                + (f" ({detail})" if detail else "")
                + "; is the URL an Elasticsearch search endpoint?",
            ) from None
    return here


class ElasticsearchLogs:
    """A :class:`~connectors.base.LogSource` over Elasticsearch (or anything speaking its API)."""

    name = NAME

    def __init__(
        self, config: ElasticsearchConfig, *, client: AsyncElasticsearch | None = None
    ) -> None:
        self.config = config
        self.resilience = Resilience(NAME, config.resilience)
        self._client = client
        self._owns_client = client is None
        self._secrets = [
            s.get_secret_value() for s in (config.api_key, config.password) if s is not None
        ]

    @property
    def client(self) -> AsyncElasticsearch:
        """The client, made on first use (it needs a running loop)."""
        if self._client is None:
            cfg = self.config
            auth: dict[str, Any] = {}
            if cfg.api_key is not None:
                auth["api_key"] = cfg.api_key.get_secret_value()
            elif cfg.username is not None and cfg.password is not None:
                auth["basic_auth"] = (cfg.username, cfg.password.get_secret_value())
            self._client = _ReadOnlyElasticsearch(
                cfg.url,
                request_timeout=cfg.resilience.timeout,
                max_retries=0,
                retry_on_timeout=False,
                retry_on_status=(),
                connections_per_node=cfg.resilience.concurrency,
                verify_certs=cfg.verify_certs,
                **auth,
            )
        return self._client

    async def __aenter__(self) -> ElasticsearchLogs:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client if this connector made it."""
        if self._client is not None and self._owns_client:
            await self._client.close()
        self._client = None

    # --- queries ------------------------------------------------------------------------------

    def _error_filter(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        cfg = self.config
        return [
            {"terms": {cfg.level_field: list(cfg.error_levels)}},
            {
                "range": {
                    cfg.timestamp_field: {
                        "gte": _ms(start),
                        "lt": _ms(end),
                        "format": "epoch_millis",
                    }
                }
            },
        ]

    async def error_counts(
        self,
        services: Sequence[str] | None,
        start: datetime,
        end: datetime,
        interval: float,
    ) -> dict[str, ErrorCountSeries]:
        """Error lines per service per ``interval`` seconds, all services in one request."""
        return (await self._error_search(services, start, end, interval, lines=None)).counts

    async def error_scan(
        self,
        services: Sequence[str] | None,
        start: datetime,
        end: datetime,
        interval: float,
        *,
        lines_since: datetime,
        lines: int = SCAN_LINES,
    ) -> ErrorScan:
        """:meth:`error_counts`, and each service's ``lines`` newest error lines from
        ``lines_since`` on and as many before it, from the same search (two ``top_hits`` in
        each service bucket): what is new is told by comparing the two."""
        return await self._error_search(
            services, start, end, interval, lines=(lines_since, max(0, min(lines, SAMPLE_SIZE)))
        )

    async def _error_search(
        self,
        services: Sequence[str] | None,
        start: datetime,
        end: datetime,
        interval: float,
        *,
        lines: tuple[datetime, int] | None,
    ) -> ErrorScan:
        cfg = self.config
        step = max(1, round(interval))
        first = math.floor(start.timestamp() / step) * step
        grid = list(range(first, math.ceil(end.timestamp()), step))
        # The lines' two window buckets count against the limit too.
        per_search = max(1, BUCKET_BUDGET // (len(grid) + 1 + 2 * (lines is not None)))
        groups: list[list[str] | None]
        if services is None:
            groups = [None]
        else:
            names = list(dict.fromkeys(services))
            groups = [names[i : i + per_search] for i in range(0, len(names), per_search)] or [[]]

        def body(group: list[str] | None) -> dict[str, Any]:
            filters = self._error_filter(start, end)
            if group is not None:
                filters.append({"terms": {cfg.service_field: group}})
            size = len(group) if group is not None else per_search
            inner: dict[str, Any] = {
                "errors": {
                    "date_histogram": {
                        "field": cfg.timestamp_field,
                        "fixed_interval": f"{step}s",
                        "min_doc_count": 1,  # sparse: zeros are filled in below
                    }
                }
            }
            if lines is not None:
                inner["recent"] = self._newest_lines(
                    start=start, since=lines[0], end=end, size=lines[1]
                )
            return {
                "size": 0,
                "track_total_hits": False,
                "query": {"bool": {"filter": filters}},
                "aggs": {
                    "services": {
                        "terms": {"field": cfg.service_field, "size": max(size, 1)},
                        "aggs": inner,
                    }
                },
            }

        if len(groups) == 1:
            responses = [await self._call("error counts", lambda: self._search(body(groups[0])))]
        else:
            searches: list[dict[str, Any]] = []
            for group in groups:
                searches += [{"index": cfg.index}, body(group)]
            multi = await self._call("error counts", lambda: self._msearch(searches))
            responses = _dig(multi, "responses", what="error counts")
        index_of = {t: i for i, t in enumerate(grid)}
        found: dict[str, list[int]] = {name: [0] * len(grid) for name in services or ()}
        newest: dict[str, list[ErrorLine]] = {}
        for response in responses:
            if isinstance(response, dict) and "error" in response:
                raise BadResponse(NAME, f"error counts failed: {error_text(response)}")
            buckets = _dig(response, "aggregations", "services", "buckets", what="error counts")
            for bucket in buckets:
                counts = found.setdefault(str(bucket["key"]), [0] * len(grid))
                for point in _dig(bucket, "errors", "buckets", what="error counts"):
                    slot = index_of.get(int(point["key"]) // 1000)
                    if slot is not None:
                        counts[slot] += int(point["doc_count"])
                if lines is not None:
                    # The lines are extra: a server that leaves them out still gave the counts.
                    for window in ("before", "during"):
                        hits = _get(bucket, "recent", "buckets", window, "lines", "hits", "hits")
                        newest.setdefault(str(bucket["key"]), []).extend(
                            _lines(str(bucket["key"]), hits, cfg)
                        )
        times = [float(t) for t in grid]
        counted = {
            name: ErrorCountSeries(
                service=name,
                times=times,
                counts=counts,
                url=self.discover_url(service=name, start=start, end=end),
            )
            for name, counts in found.items()
        }
        return ErrorScan(counts=counted, lines=newest)

    def _newest_lines(
        self, *, start: datetime, since: datetime, end: datetime, size: int
    ) -> dict[str, Any]:
        """A service bucket's newest error lines before ``since`` and from it, each window its
        own ``top_hits``: only the fields a line needs."""
        cfg = self.config
        windows = {
            name: {
                "range": {
                    cfg.timestamp_field: {"gte": _ms(a), "lt": _ms(b), "format": "epoch_millis"}
                }
            }
            for name, (a, b) in (("before", (start, since)), ("during", (since, end)))
        }
        return {
            "filters": {"filters": windows},
            "aggs": {
                "lines": {
                    "top_hits": {
                        "size": size,
                        "sort": [{cfg.timestamp_field: {"order": "desc"}}],
                        "_source": {
                            "includes": [cfg.message_field, cfg.timestamp_field, cfg.level_field]
                        },
                    }
                }
            },
        }

    async def top_error_patterns(
        self,
        service: str,
        window: tuple[datetime, datetime],
        baseline: tuple[datetime, datetime],
        *,
        limit: int = 10,
    ) -> list[LogPattern]:
        """The error patterns of one service, new ones first, with counts before and during."""
        cfg = self.config
        start = min(window[0], baseline[0])
        end = max(window[1], baseline[1])
        filters = [*self._error_filter(start, end), {"term": {cfg.service_field: service}}]
        # A bounded sample of lines, newest first; with a keyword copy of the message, also
        # exact counts of distinct lines, used when they cover the whole window (repeated
        # lines) -- the terms order is not a random sample, so it is no estimate otherwise.
        inner: dict[str, Any] = {
            "sample": {
                "top_hits": {
                    "size": SAMPLE_SIZE,
                    "sort": [{cfg.timestamp_field: {"order": "desc"}}],
                    "_source": {"includes": [cfg.message_field]},
                }
            }
        }
        if cfg.message_keyword_field:
            inner["lines"] = {"terms": {"field": cfg.message_keyword_field, "size": DISTINCT_LINES}}
        ranges = {
            name: {
                "range": {
                    cfg.timestamp_field: {"gte": _ms(a), "lt": _ms(b), "format": "epoch_millis"}
                }
            }
            for name, (a, b) in (("before", baseline), ("during", window))
        }
        request = {
            "size": 0,
            "track_total_hits": False,
            "query": {"bool": {"filter": filters}},
            "aggs": {"windows": {"filters": {"filters": ranges}, "aggs": inner}},
        }
        response = await self._call("error patterns", lambda: self._search(request))
        windows = _dig(response, "aggregations", "windows", "buckets", what="error patterns")
        weighted: dict[str, list[tuple[str, float]]] = {}
        estimated = False
        for name in ("before", "during"):
            bucket = _dig(windows, name, what="error patterns")
            total = int(bucket.get("doc_count", 0))
            lines = bucket.get("lines") if cfg.message_keyword_field else None
            if isinstance(lines, dict) and not lines.get("sum_other_doc_count"):
                buckets = _dig(lines, "buckets", what="error patterns")
                weighted[name] = [(str(b["key"]), float(b["doc_count"])) for b in buckets]
                continue
            hits = _dig(bucket, "sample", "hits", "hits", what="error patterns")
            messages = [_message(hit, cfg.message_field) for hit in hits]
            weight = total / len(messages) if messages else 0.0
            weighted[name] = [(m, weight) for m in messages]
            estimated |= total > len(messages)
        grouped = group_lines(weighted["before"], weighted["during"])
        url = self.discover_url(service=service, start=window[0], end=window[1])
        return [
            LogPattern(
                service=service,
                pattern=g.pattern,
                count_before=round(g.before),
                count_during=round(g.during),
                is_new=g.during > 0 and g.before == 0,
                estimated=estimated,
                samples=g.samples,
                url=url,
            )
            for g in grouped[:limit]
        ]

    async def diagnose(self) -> Diagnosis:
        """Reachable, credentials accepted, index pattern matched, fields present."""
        cfg = self.config
        lines: list[str] = []
        try:
            info = await self._call("cluster info", lambda: self._body(self.client.info()))
            version = _dig(info, "version", "number", what="cluster info")
            lines.append(f"reachable at {cfg.url} (Elasticsearch API {version}), credentials ok")
            fields = [cfg.timestamp_field, cfg.service_field, cfg.level_field, cfg.message_field]
            if cfg.message_keyword_field:
                fields.append(cfg.message_keyword_field)
            caps = await self._call(
                "field caps",
                lambda: self._body(
                    self.client.field_caps(index=cfg.index, fields=fields, allow_no_indices=True)
                ),
            )
        except ConnectorError as exc:
            return Diagnosis(connector=NAME, ok=False, lines=[*lines, exc.message])
        problems = _field_problems(cfg, caps)
        if problems:
            return Diagnosis(connector=NAME, ok=False, lines=lines + problems)
        count = len(caps.get("indices") or [])
        lines.append(f"index pattern {cfg.index} matches {count} index(es) with every field")
        return Diagnosis(connector=NAME, ok=True, lines=lines)

    def discover_url(self, *, service: str, start: datetime, end: datetime) -> str:
        """Kibana Discover on this service's error lines in the window (ES search without one)."""
        cfg = self.config
        levels = " or ".join(f'"{level}"' for level in cfg.error_levels)
        kql = f'{cfg.service_field}:"{service}" and {cfg.level_field}:({levels})'
        iso = [m.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z") for m in (start, end)]
        if cfg.kibana_url:
            g = f"(time:(from:{_rison(iso[0])},to:{_rison(iso[1])}))"
            a = f"(query:(language:kuery,query:{_rison(kql)}))"
            return (
                f"{cfg.kibana_url.rstrip('/')}/app/discover#/"
                f"?_g={quote(g, safe=_RISON_SAFE)}&_a={quote(a, safe=_RISON_SAFE)}"
            )
        q = f'{cfg.service_field}:"{service}" AND {cfg.timestamp_field}:[{iso[0]} TO {iso[1]}]'
        return f"{cfg.url.rstrip('/')}/{cfg.index}/_search?q={quote(q)}"

    # --- plumbing -------------------------------------------------------------------------------

    async def _search(self, body: Mapping[str, Any]) -> Any:
        return await self._body(self.client.search(index=self.config.index, **body))

    async def _msearch(self, searches: list[dict[str, Any]]) -> Any:
        return await self._body(self.client.msearch(searches=searches))

    @staticmethod
    async def _body(call: Awaitable[Any]) -> Any:
        response = await call
        return getattr(response, "body", response)

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    async def _call(self, what: str, make: Callable[[], Awaitable[T]]) -> T:
        """One read, with retries; the client's exceptions become :mod:`connectors.errors`."""

        async def attempt() -> T:
            try:
                return await make()
            except ApiError as exc:
                raise self._api_error(exc, what) from None
            except UnsupportedProductError:
                raise BadResponse(
                    NAME,
                    f"{what}: the server at {self.config.url} does not say it is Elasticsearch "
                    "(no X-Elastic-Product header); a proxy or login page may be answering",
                ) from None
            except SerializationError as exc:
                raise BadResponse(
                    NAME, f"{what}: the response is not valid JSON ({self._scrub(str(exc))[:80]})"
                ) from None
            except (elastic_transport.ConnectionTimeout, elastic_transport.ConnectionError) as exc:
                kind = (
                    "timed out"
                    if isinstance(exc, elastic_transport.ConnectionTimeout)
                    else ("could not connect")
                )
                raise Retry(f"{what} {kind} ({self.config.url})") from None
            except elastic_transport.TransportError as exc:
                raise Retry(f"{what} failed: {self._scrub(type(exc).__name__)}") from None

        return await self.resilience.call(attempt, what=what)

    def _api_error(self, exc: ApiError, what: str) -> Exception:
        status = exc.meta.status
        detail = self._scrub(error_text(exc.body) or str(exc.message))
        if 200 <= status < 300:
            return BadResponse(
                NAME, f"{what}: a {status} response that carries an error ({detail})"
            )
        if status == 429:
            wait = retry_after_seconds(exc.meta.headers)
            return Retry(f"{what} was rate limited (429)", wait=wait, rate_limited=True)
        if status >= 500:
            return Retry(f"{what} returned {status} {detail}")
        if status == 401:
            return AuthError(NAME, f"credentials refused (401); {AUTH_HINT}")
        if status == 403:
            return AuthError(
                NAME,
                f"forbidden (403: {detail}); the user or API key needs the read and "
                f"view_index_metadata privileges on {self.config.index}",
            )
        if status == 404:
            return NotFound(
                NAME, f"{what}: no index matches {self.config.index} ({detail}); set ES_INDEX"
            )
        return BadResponse(NAME, f"{what} was refused ({status}: {detail})")


def _get(body: Any, *keys: str) -> Any:
    """``body[k1][k2]...``, or None where a part is missing."""
    for key in keys:
        body = body.get(key) if isinstance(body, dict) else None
    return body


def _field(hit: Any, field: str) -> Any:
    """A field of a hit's ``_source``, nested (``log.level``) or flat (``"log.level"``); or None."""
    source = hit.get("_source", {}) if isinstance(hit, dict) else {}
    value: Any = source
    for part in field.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        value = source.get(field) if isinstance(source, dict) else None
    return value


def _message(hit: Any, field: str) -> str:
    return str(_field(hit, field) or "")


def _lines(service: str, hits: Any, cfg: ElasticsearchConfig) -> list[ErrorLine]:
    """The readable lines of a ``top_hits`` answer, newest first.

    A log store holds whatever was shipped to it: a hit without a message, with a number or an
    object for one, or without a time it can be placed at says nothing a person could read, so
    it is left out rather than shown as ``None`` or failing the whole scan.
    """
    found: list[ErrorLine] = []
    for hit in hits if isinstance(hits, list) else []:
        message = _field(hit, cfg.message_field)
        at = _hit_time(hit, cfg.timestamp_field)
        if not isinstance(message, str) or not message.strip() or at is None:
            continue
        level = _field(hit, cfg.level_field)
        found.append(
            ErrorLine(
                service=service,
                at=at,
                level=level if isinstance(level, str) and level else "error",
                message=message,
            )
        )
    return found


def _hit_time(hit: Any, field: str) -> float | None:
    """When a hit was logged, Unix seconds: its sort value (epoch ms), else its ``_source``
    time (RFC 3339, or epoch ms as Elasticsearch's default date format reads a number)."""
    sort = hit.get("sort") if isinstance(hit, dict) else None
    if isinstance(sort, list) and sort and _epoch_ms(sort[0]) is not None:
        return _epoch_ms(sort[0])
    value = _field(hit, field)
    if isinstance(value, str):
        moment = wire_time(value)
        return moment.timestamp() if moment is not None else None
    return _epoch_ms(value)


def _epoch_ms(value: Any) -> float | None:
    """Epoch milliseconds as Unix seconds; None for anything that is not a finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value) / 1000.0


def _field_problems(cfg: ElasticsearchConfig, caps: Any) -> list[str]:
    if not isinstance(caps, dict) or "fields" not in caps:
        return ["field caps response was unreadable; is ES_URL an Elasticsearch endpoint?"]
    if not caps.get("indices"):
        return [f"no index matches ES_INDEX={cfg.index}: set it to your log index pattern"]
    problems = []
    fields: dict[str, dict[str, Any]] = caps["fields"]
    wanted = {
        cfg.timestamp_field: ("ES_TIMESTAMP_FIELD", True),
        cfg.service_field: ("ES_SERVICE_FIELD", True),
        cfg.level_field: ("ES_LEVEL_FIELD", True),
        cfg.message_field: ("ES_MESSAGE_FIELD", False),
    }
    if cfg.message_keyword_field:
        wanted[cfg.message_keyword_field] = ("ES_MESSAGE_KEYWORD_FIELD", True)
    for field, (env, aggregatable) in wanted.items():
        types = fields.get(field)
        if not types:
            problems.append(f"field {field} is not in {cfg.index}: set {env} to the right field")
        elif aggregatable and not any(t.get("aggregatable") for t in types.values()):
            problems.append(
                f"field {field} cannot be aggregated (it is {', '.join(types)}); "
                f"set {env} to a keyword field, e.g. {field}.keyword"
            )
    return problems
