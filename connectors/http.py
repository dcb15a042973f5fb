"""The one way Datadog and GitHub connectors talk HTTP: read-only, JSON, resilient, scrubbed.

:class:`HttpSource` owns (or borrows) an aiohttp session, refuses anything but GET before it is
sent, turns statuses into retries or typed errors, and follows ``Link: rel="next"`` pagination
only within the configured origin, so a token is never sent anywhere else.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import msgspec
from multidict import CIMultiDictProxy
from yarl import URL

from connectors.config import ResilienceConfig
from connectors.errors import AuthError, BadResponse, NotFound, ReadOnlyViolation
from connectors.resilience import Resilience, Retry

READ_METHODS = frozenset({"GET"})
# Elasticsearch reads with POST too: a search body does not fit a query string.
_ES_READ_ENDPOINTS = frozenset({"_search", "_count", "_msearch", "_field_caps"})


def check_read_only(connector: str, method: str, path: str, *, elasticsearch: bool = False) -> None:
    """Raise :class:`ReadOnlyViolation` for any request that could change the source."""
    method = method.upper()
    if method in READ_METHODS or (elasticsearch and method == "HEAD"):
        return
    if elasticsearch and method == "POST":
        last = path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        if last in _ES_READ_ENDPOINTS:
            return
    raise ReadOnlyViolation(
        connector, f"refused {method} {path.split('?', 1)[0]}: connectors only read"
    )


def retry_after_seconds(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """The wait a ``Retry-After`` header asks for, in seconds (delta or HTTP date)."""
    value = headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def wire_time(value: Any) -> datetime | None:
    """An RFC 3339 / ISO 8601 time as vendors write it (``...Z`` or ``...+00:00``; without a
    zone, UTC) as an aware datetime; None when absent or unreadable, for fields that are hints
    rather than something to fail a request over."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def error_text(body: Any) -> str:
    """The error message vendors put in their JSON bodies, or ''."""
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            return "; ".join(str(e) for e in errors[:3])
        for key in ("message", "error"):
            if isinstance(body.get(key), str):
                return str(body[key])
            if isinstance(body.get(key), dict):
                return str(body[key].get("reason") or body[key].get("type") or "")
    return ""


@dataclass(frozen=True, slots=True)
class JsonResponse:
    """A decoded 2xx response: status, headers, JSON body, and the next page if any."""

    status: int
    headers: CIMultiDictProxy[str]
    data: Any
    next_url: str | None


RateLimitRule = Callable[[int, Mapping[str, str]], float | bool | None]
"""Given a non-2xx status and headers: False if not a rate limit, else the seconds to wait."""


def default_rate_limit(status: int, headers: Mapping[str, str]) -> float | bool | None:
    """429 is a rate limit; wait what Retry-After says."""
    if status != 429:
        return False
    return retry_after_seconds(headers)


class HttpSource:
    """A read-only JSON API behind resilience: one per connector."""

    def __init__(
        self,
        *,
        connector: str,
        base_url: str,
        headers: Mapping[str, str],
        secrets: Iterable[str],
        resilience: ResilienceConfig,
        auth_hint: str,
        session: aiohttp.ClientSession | None = None,
        rate_limit: RateLimitRule = default_rate_limit,
    ) -> None:
        self.connector = connector
        self.base = URL(base_url.rstrip("/"))
        self._headers = dict(headers)
        self._secrets = [s for s in secrets if s]
        self.resilience = Resilience(connector, resilience)
        self._auth_hint = auth_hint
        self._session = session
        self._owns_session = session is None
        self._rate_limit = rate_limit
        self.requests_sent = 0

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            cfg = self.resilience.config
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=cfg.timeout),
                connector=aiohttp.TCPConnector(limit=cfg.concurrency),
            )
        return self._session

    async def aclose(self) -> None:
        """Close the session if this source made it."""
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    def scrub(self, text: str) -> str:
        """``text`` with every secret replaced, for messages that quote a response."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def url(self, path: str) -> URL:
        """An absolute URL under the base; absolute URLs must stay on the same origin."""
        if path.startswith(("http://", "https://")):
            url = URL(path)
            if url.origin() != self.base.origin():
                raise BadResponse(
                    self.connector, f"refused to follow a link to another host ({url.host})"
                )
            return url
        return URL(str(self.base) + "/" + path.lstrip("/"))

    async def get_json(self, path: str, *, params: Mapping[str, Any] | None = None) -> JsonResponse:
        """GET a JSON document, with retries, rate-limit waits and typed errors."""
        return await self.request("GET", path, params=params)

    async def request(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None
    ) -> JsonResponse:
        """Send one read request (anything but GET raises ReadOnlyViolation before sending)."""
        check_read_only(self.connector, method, path)
        url = self.url(path)
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}
        what = f"{method} {url.path}"

        async def attempt() -> JsonResponse:
            self.requests_sent += 1
            try:
                async with self._get_session().request(
                    method, url, params=query or None, headers=self._headers
                ) as resp:
                    raw = await resp.read()
                    return self._interpret(resp, raw, what=what)
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
                raise Retry(f"{what} failed: {self.scrub(type(exc).__name__)}") from None

        return await self.resilience.call(attempt, what=what)

    def _interpret(self, resp: aiohttp.ClientResponse, raw: bytes, *, what: str) -> JsonResponse:
        status = resp.status
        body: Any = None
        decoded = True
        try:
            body = msgspec.json.decode(raw) if raw else None
        except msgspec.DecodeError:
            decoded = False
        if 200 <= status < 300:
            if not decoded or "json" not in resp.content_type:
                raise BadResponse(
                    self.connector,
                    f"{what} returned {resp.content_type or 'no content type'} instead of JSON "
                    f"({self._snippet(raw)}); a proxy or login page may be in the way",
                )
            link = resp.links.get("next")
            next_url = str(link["url"]) if link and "url" in link else None
            return JsonResponse(status, resp.headers, body, next_url)
        message = self.scrub(error_text(body)) if decoded else self._snippet(raw)
        wait = self._rate_limit(status, resp.headers)
        if wait is not False:
            raise Retry(
                f"{what} was rate limited ({status})",
                wait=None if wait is True else wait,
                rate_limited=True,
            )
        if status == 401:
            raise AuthError(self.connector, f"credentials refused (401); {self._auth_hint}")
        if status == 403:
            raise AuthError(
                self.connector,
                f"forbidden (403: {message or 'no detail'}); {self._auth_hint}",
            )
        if status == 404:
            raise NotFound(self.connector, f"{what} not found (404: {message or 'no detail'})")
        if status >= 500 or status == 408:
            raise Retry(f"{what} returned {status} {message}".rstrip())
        raise BadResponse(self.connector, f"{what} returned {status}: {message or 'no detail'}")

    def _snippet(self, raw: bytes) -> str:
        # Scrub before cutting: a credential straddling the cut would keep its head otherwise.
        longest = max((len(secret) for secret in self._secrets), default=0)
        text = self.scrub(raw[: 200 + 4 * longest].decode("utf-8", "replace"))
        return re.sub(r"\s+", " ", text).strip()[:80] or "empty body"
