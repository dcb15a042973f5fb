"""HTTP mode: Bolt behind aiohttp, serving ``POST /slack/events``, ``/healthz`` and ``/readyz``.

Each request to ``/slack/events`` passes four gates, cheapest first, and costs nothing until it is
through the first two::

    Content-Length over the cap ─────────────────────────── 413
    no signature, or a timestamp over 5 minutes old ─────── 401
    body read, stopping at the cap (chunked bodies) ─────── 413
    HMAC of the body does not match ─────────────────────── 401
    body not a Slack request Bolt and the listeners read ── 400 (one log line)
    App.dispatch in a bounded thread pool ───────────────── Bolt's answer

Bolt checks the signature again; that costs one HMAC. ``/healthz`` answers 200 while the process
serves (liveness); ``/readyz`` answers 200 when the readiness check finds nothing missing (Redis and
the RQ workers, :func:`redis_and_workers`), else 503 naming what is missing.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor

import redis
from aiohttp import web
from aiohttp.streams import StreamReader
from pydantic import BaseModel, Field, ValidationError
from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.request.internals import parse_body

from bot.preflight import live_workers

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"

#: Slack's requests are a few kilobytes; a megabyte leaves room for the largest message event.
MAX_BODY = 1024 * 1024
#: Slack's replay window for a request's timestamp, in seconds.
MAX_AGE = 5 * 60
#: A body still arriving after this long is dropped (a slow sender holds no thread, but a socket).
BODY_TIMEOUT = 10.0
#: Threads running ``App.dispatch``; each returns once its listener acked (3 s at most).
DISPATCH_THREADS = 32
#: How long ``/readyz`` waits for its check before answering 503.
READY_TIMEOUT = 2.0
#: Unsigned and oversized requests are logged at most once in this many seconds, with a count.
REJECTION_LOG_EVERY = 60.0

#: What is missing for the bot to serve (empty when it is ready).
Readiness = Callable[[], list[str]]


# -- What a signed request must carry for Bolt and the listeners to read it -------------------


class _Id(BaseModel):
    id: str = Field(min_length=1)


class _SlashCommand(BaseModel):
    command: str = Field(min_length=1)
    channel_id: str = Field(min_length=1)
    user_id: str = Field(min_length=1)


class _UrlVerification(BaseModel):
    challenge: str


class _Event(BaseModel):
    type: str = Field(min_length=1)


class _EventCallback(BaseModel):
    event: _Event


class _ChannelEvent(_Event):
    channel: _Id


class _InChannel(_Event):
    channel: str = Field(min_length=1)


class _Mention(_InChannel):
    ts: str = Field(min_length=1)


class _Action(BaseModel):
    action_id: str = Field(min_length=1)


class _BlockActions(BaseModel):
    """The bot's buttons live only on channel messages, so a click always names its channel."""

    actions: list[_Action] = Field(min_length=1)
    user: _Id
    channel: _Id


#: The events the app subscribes to (manifests/slack-app.yaml), and the fields their listeners read.
_EVENTS: dict[str, type[_Event]] = {
    "channel_created": _ChannelEvent,
    "channel_rename": _ChannelEvent,
    "member_joined_channel": _InChannel,
    "message": _InChannel,
    "app_mention": _Mention,
}


def malformed(body: object) -> str | None:
    """Why a parsed request body is not a Slack request the bot can read, or None when it is."""
    if not isinstance(body, dict):
        return "the body is not a JSON object or a form"
    kind = body.get("type")
    try:
        if body.get("ssl_check") == "1":
            return None
        if "command" in body:
            _SlashCommand.model_validate(body)
        elif kind == "url_verification":
            _UrlVerification.model_validate(body)
        elif kind == "event_callback" or "event" in body:  # Bolt takes any "event" for one
            event = _EventCallback.model_validate(body).event
            shape = _EVENTS.get(event.type)
            if shape is not None:
                try:
                    shape.model_validate(body["event"])
                except ValidationError as exc:
                    return f"{event.type} event: {_first_problem(exc, 'event')}"
        elif kind == "block_actions":
            _BlockActions.model_validate(body)
        elif not isinstance(kind, str) or not kind:
            return "neither a slash command, an event nor an interaction"
    except ValidationError as exc:
        what = "slash command" if "command" in body else str(kind)
        return f"{what}: {_first_problem(exc)}"
    return None


def _first_problem(exc: ValidationError, *prefix: str) -> str:
    error = exc.errors()[0]
    where = ".".join([*prefix, *(str(part) for part in error["loc"])])
    return f"{where}: {error['msg']}" if where else str(error["msg"])


def bolt_request(body: bytes, headers: dict[str, list[str]], query: str) -> BoltRequest | str:
    """The signed body as a Bolt request, or why it cannot be one (bad JSON, missing fields)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "the body is not UTF-8"
    content_type = (headers.get("content-type") or [""])[0].split(";")[0].strip().lower()
    try:
        problem = malformed(parse_body(text, content_type or None))
    except ValueError as exc:  # json.JSONDecodeError
        return f"the body is not JSON: {exc}"
    if problem is not None:
        return problem
    try:
        return BoltRequest(body=text, query=query, headers=dict(headers))
    except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
        # Bolt reads the team, enterprise and user ids while building the request.
        return f"Bolt could not read the body: {type(exc).__name__}: {exc}"


def _dispatch(
    app: App, body: bytes, headers: dict[str, list[str]], query: str
) -> BoltResponse | str:
    request = bolt_request(body, headers, query)
    return request if isinstance(request, str) else app.dispatch(request)


# -- Readiness ---------------------------------------------------------------------------------


def redis_and_workers(redis_url: str, queue: str) -> Readiness:
    """A readiness check: Redis answers, and at least one live RQ worker serves ``queue``."""

    def missing() -> list[str]:
        # A connection per probe (one every few seconds): nothing held open between them.
        with redis.Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=1) as client:
            try:
                client.ping()
                alive = live_workers(client, queue)
            except redis.RedisError as exc:
                return [f"redis at {redis_url}: {exc}"]
        return [] if alive else [f"rq workers on queue {queue!r}: none registered"]

    return missing


def _always_ready() -> list[str]:
    return []


# -- The server ----------------------------------------------------------------------------------


class _Rejections:
    """Refused requests, logged once a period at most: a flood of them must not flood the log."""

    def __init__(self, every: float = REJECTION_LOG_EVERY) -> None:
        self.every = every
        self.counts: Counter[int] = Counter()
        self.next_line = 0.0

    def note(self, request: web.Request, status: int, why: str) -> None:
        self.counts[status] += 1
        now = time.monotonic()
        if now < self.next_line:
            return
        tally = ", ".join(f"{n} x {s}" for s, n in sorted(self.counts.items()))
        log.warning(
            "rejected %s %s from %s with %d: %s (%s since the last such line)",
            request.method,
            request.path,
            request.remote,
            status,
            why,
            tally,
        )
        self.counts.clear()
        self.next_line = now + self.every


class _Handlers:
    """The aiohttp handlers: the Slack gates, then Bolt; health and readiness."""

    def __init__(
        self,
        app: App,
        *,
        signing_secret: str,
        ready: Readiness,
        max_body: int,
        threads: int,
    ) -> None:
        self.app = app
        self.secret = signing_secret.encode()
        self.ready = ready
        self.max_body = max_body
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="slack-http")
        self.ready_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="slack-ready")
        self.rejections = _Rejections()

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.ready_pool.shutdown(wait=False, cancel_futures=True)

    def _reject(self, request: web.Request, status: int, why: str) -> web.Response:
        self.rejections.note(request, status, why)
        response = web.Response(status=status, text=why + "\n")
        response.force_close()  # do not read on to the next request after an unread body
        return response

    def _before_body(self, request: web.Request) -> web.Response | None:
        """413 or 401 from the headers alone."""
        length = request.content_length
        if length is not None and length > self.max_body:
            return self._reject(request, 413, f"body of {length} bytes, over {self.max_body}")
        stamp = request.headers.get("X-Slack-Request-Timestamp", "")
        if not request.headers.get("X-Slack-Signature", "").startswith("v0="):
            return self._reject(request, 401, "no Slack signature")
        try:
            age = abs(time.time() - int(stamp))
        except ValueError:
            return self._reject(request, 401, "no Slack request timestamp")
        if age > MAX_AGE:
            return self._reject(request, 401, f"request timestamp {age:.0f} s away from now")
        return None

    def _signed(self, body: bytes, headers: Mapping[str, str]) -> bool:
        """Slack's signature: ``v0=`` and the HMAC-SHA256 of ``v0:{timestamp}:{raw body}``."""
        stamp = headers["X-Slack-Request-Timestamp"].encode(errors="replace")
        digest = hmac.new(self.secret, b"v0:" + stamp + b":" + body, hashlib.sha256).hexdigest()
        given = headers["X-Slack-Signature"].encode(errors="replace")
        return hmac.compare_digest(b"v0=" + digest.encode(), given)

    async def expect(self, request: web.Request) -> web.StreamResponse | None:
        """``Expect: 100-continue``: refuse before the client sends the body, when we can."""
        refused = self._before_body(request)
        if refused is not None:
            return refused
        if request.headers.get("Expect", "").lower() == "100-continue":
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return None

    async def events(self, request: web.Request) -> web.StreamResponse:
        """``POST /slack/events``: the gates, then Bolt in the thread pool."""
        refused = self._before_body(request)
        if refused is not None:
            return refused
        try:
            async with asyncio.timeout(BODY_TIMEOUT):
                body = await _read_capped(request.content, self.max_body)
        except TimeoutError:
            return self._reject(request, 408, f"body not received within {BODY_TIMEOUT:g} s")
        if body is None:
            return self._reject(request, 413, f"body over {self.max_body} bytes")
        if not self._signed(body, request.headers):
            return self._reject(request, 401, "Slack signature does not match")
        headers = {name.lower(): request.headers.getall(name) for name in request.headers}
        answer = await asyncio.get_running_loop().run_in_executor(
            self.pool, _dispatch, self.app, body, headers, request.query_string
        )
        if isinstance(answer, str):
            log.warning("answered 400 to a signed request from %s: %s", request.remote, answer)
            return web.Response(status=400, text=answer + "\n")
        return await to_aiohttp_response(answer)

    async def health(self, request: web.Request) -> web.StreamResponse:
        """Liveness: the process serves."""
        return web.json_response({"ok": True})

    async def readiness(self, request: web.Request) -> web.StreamResponse:
        """Readiness: 200 when nothing is missing, else 503 naming what is."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                missing = await loop.run_in_executor(self.ready_pool, self.ready)
        except TimeoutError:
            missing = [f"the readiness check did not answer within {READY_TIMEOUT:g} s"]
        except Exception as exc:  # a readiness probe answers; the reason goes in its body
            missing = [f"the readiness check failed: {type(exc).__name__}: {exc}"]
        return web.json_response(
            {"ready": not missing, "missing": missing}, status=503 if missing else 200
        )


async def _read_capped(stream: StreamReader, cap: int) -> bytes | None:
    """The whole body, or None as soon as it passes ``cap`` bytes (the rest is never read)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream.iter_any():
        size += len(chunk)
        if size > cap:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


class HttpServer:
    """The bot's HTTP server: bound when made, serving in ``serve_forever`` until ``shutdown``.

    It keeps the surface of :mod:`socketserver` servers (``server_address``, ``serve_forever``,
    ``shutdown``, ``server_close``). Run from the main thread, SIGTERM and SIGINT stop it
    gracefully: no new connections, requests in flight answered.
    """

    def __init__(
        self,
        app: App,
        *,
        host: str,
        port: int,
        ready: Readiness | None = None,
        max_body: int = MAX_BODY,
        threads: int = DISPATCH_THREADS,
    ) -> None:
        # Bolt keeps its signing secret private; HTTP mode cannot run without one.
        secret = str(getattr(app, "_signing_secret", "") or "")
        if not secret:
            raise ValueError("HTTP mode needs the app's signing secret (SLACK_SIGNING_SECRET)")
        self.handlers = _Handlers(
            app,
            signing_secret=secret,
            ready=ready or _always_ready,
            max_body=max_body,
            threads=threads,
        )
        web_app = web.Application(client_max_size=max_body)
        web_app.router.add_post(
            EVENTS_PATH, self.handlers.events, expect_handler=self.handlers.expect
        )
        web_app.router.add_get(HEALTH_PATH, self.handlers.health)
        web_app.router.add_get(READY_PATH, self.handlers.readiness)
        self.web_app = web_app
        self.socket = socket.create_server((host, port), backlog=256)
        self.server_address: tuple[str, int] = self.socket.getsockname()[:2]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._closing = threading.Event()
        self._serving = threading.Event()
        self._done = threading.Event()

    @property
    def url(self) -> str:
        """The server's base URL (no path)."""
        host, port = self.server_address
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"

    def serve_forever(self) -> None:
        """Serve until ``shutdown`` (or SIGTERM/SIGINT in the main thread)."""
        self._serving.set()
        try:
            asyncio.run(self._serve())
        finally:
            self._done.set()

    async def _serve(self) -> None:
        runner = web.AppRunner(
            self.web_app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=10.0,
            # After a refused body, read and drop the rest for a short while so the client sees
            # the answer instead of a reset; never longer.
            lingering_time=2.0,
        )
        await runner.setup()
        self._stop = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                self._loop.add_signal_handler(signum, self._stop.set)
        try:
            if self._closing.is_set():
                return
            await web.SockSite(runner, self.socket).start()
            await self._stop.wait()
        finally:
            await runner.cleanup()
            self.handlers.close()

    def shutdown(self) -> None:
        """Stop serving and wait until ``serve_forever`` has returned."""
        self._closing.set()
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        if self._serving.is_set():
            self._done.wait()

    def server_close(self) -> None:
        """Close the listening socket (and the thread pools, if it never served)."""
        self.socket.close()
        self.handlers.close()


def http_server(
    app: App,
    *,
    host: str = "0.0.0.0",
    port: int = 3000,
    ready: Readiness | None = None,
    max_body: int = MAX_BODY,
    threads: int = DISPATCH_THREADS,
) -> HttpServer:
    """A server for ``app`` (port 0 picks a free one); call ``serve_forever`` to run it."""
    return HttpServer(app, host=host, port=port, ready=ready, max_body=max_body, threads=threads)


def serve_in_thread(
    app: App,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ready: Readiness | None = None,
    max_body: int = MAX_BODY,
) -> HttpServer:
    """Start serving ``app`` in a daemon thread; ``shutdown()`` and ``server_close()`` stop it."""
    server = http_server(app, host=host, port=port, ready=ready, max_body=max_body)
    threading.Thread(target=server.serve_forever, daemon=True, name="slack-http").start()
    return server
