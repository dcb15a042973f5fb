"""Faults to inject into the stand-ins, and a record of every request they received.

Every stand-in (Datadog, GitHub, the Elasticsearch proxy) installs :func:`install_faults`, so a
test can say ``plan.inject("/api/v1/query", status=503, times=1)`` and later assert on
``app[REQUESTS]``. Faults are matched by path prefix (``"*"`` matches all) and may be limited to
the next ``times`` matching requests.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

ErrorShape = Callable[[int, str], Any]
"""Builds the vendor's JSON error body for a status and a message."""


@dataclass(slots=True)
class Fault:
    """What to do to matching requests: delay, fail, throttle, hang or garble."""

    latency: float = 0.0
    status: int | None = None
    retry_after: float | None = None
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False
    garbled: bool = False
    error_body: bool = False
    mangled: bool = False  # a 200 whose point lists are reversed, doubled and hold a NaN time
    times: int | None = None


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request a stand-in received."""

    method: str
    path: str
    query: dict[str, str]


class FaultPlan:
    """The faults currently injected into one stand-in, changeable at runtime."""

    def __init__(self) -> None:
        self.latency = 0.0  # added to every request, e.g. 0.1 for the benchmark
        self._faults: list[tuple[str, Fault]] = []

    def inject(self, endpoint: str = "*", **fault: Any) -> Fault:
        """Add a fault for paths starting with ``endpoint`` (``"*"``: every path)."""
        made = Fault(**fault)
        self._faults.append((endpoint, made))
        return made

    def clear(self) -> None:
        """Remove every fault and the added latency."""
        self._faults.clear()
        self.latency = 0.0

    def take(self, path: str) -> Fault | None:
        """The first active fault matching ``path``, counting one use of it."""
        for endpoint, fault in self._faults:
            if endpoint != "*" and not path.startswith(endpoint):
                continue
            if fault.times is not None:
                if fault.times <= 0:
                    continue
                fault.times -= 1
            return fault
        return None


FAULTS = web.AppKey("faults", FaultPlan)
REQUESTS = web.AppKey("requests", list[RecordedRequest])
_SINKS = web.AppKey("request_sinks", list[list[RecordedRequest]])
_SHAPE: web.AppKey[ErrorShape] = web.AppKey("error_shape")

_GARBLED = (
    "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway"
    "</h1></center><hr><center>nginx</center></body></html>"
)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _fault_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    app = request.app
    seen = RecordedRequest(request.method, request.path, dict(request.query))
    app[REQUESTS].append(seen)
    for sink in app[_SINKS]:
        sink.append(seen)
    plan = app[FAULTS]
    if plan.latency:
        await asyncio.sleep(plan.latency)
    fault = plan.take(request.path)
    if fault is None:
        return await handler(request)
    if fault.latency:
        await asyncio.sleep(fault.latency)
    if fault.hang:
        await asyncio.sleep(60)  # longer than any client timeout; cancelled on disconnect
    shape = app[_SHAPE]
    if fault.status is not None:
        headers = dict(fault.headers)
        if fault.retry_after is not None:
            headers["Retry-After"] = str(int(fault.retry_after))
        return web.json_response(
            shape(fault.status, _REASONS.get(fault.status, "injected failure")),
            status=fault.status,
            headers=headers,
        )
    if fault.garbled:
        return web.Response(text=_GARBLED, content_type="text/html")
    if fault.error_body:
        return web.json_response(shape(200, "injected error in a 200 response"))
    if fault.mangled:
        return _mangle(await handler(request))
    return await handler(request)


def _mangle(response: web.StreamResponse) -> web.StreamResponse:
    """The same answer with every ``pointlist`` out of order, each point twice, a NaN time."""
    if not isinstance(response, web.Response) or response.body is None:
        return response
    try:
        document = json.loads(bytes(response.body))  # type: ignore[arg-type]
    except ValueError:
        return response

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: [*v[::-1], *v, [float("nan"), 1.0]]
                if k == "pointlist" and isinstance(v, list)
                else walk(v)
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return web.Response(
        text=json.dumps(walk(document)), status=response.status, content_type="application/json"
    )


_REASONS = {
    429: "Too many requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def install_faults(
    app: web.Application,
    *,
    error_shape: ErrorShape,
    sinks: list[list[RecordedRequest]] | None = None,
) -> None:
    """Give ``app`` a fault plan and a request log; ``sinks`` also receive every request."""
    app[FAULTS] = FaultPlan()
    app[REQUESTS] = []
    app[_SINKS] = list(sinks or [])
    app[_SHAPE] = error_shape
    app.middlewares.insert(0, _fault_middleware)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def run_standin(app: web.Application) -> tuple[str, Callable[[], Awaitable[None]]]:
    """Serve ``app`` on 127.0.0.1 on a free port; returns its base URL and a cleanup."""
    # handler_cancellation: a hung handler stops when the client gives up, not at shutdown.
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    port = runner.addresses[0][1]
    return f"http://127.0.0.1:{port}", runner.cleanup


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """``async with serving(app) as base_url``: the stand-in runs inside the block."""
    base_url, cleanup = await run_standin(app)
    try:
        yield base_url
    finally:
        await cleanup()
