"""A stand-in for Slack's Socket Mode: a WebSocket that says hello, delivers envelopes, takes acks.

:func:`socket_app` is the Web API stand-in of :mod:`sandbox.slack_api` plus ``/link/``, the
WebSocket ``apps.connections.open`` points to (``ws://HOST:PORT/link/?ticket=...``). A client
that connects with a ticket gets ``{"type": "hello", ...}``; :meth:`SocketLink.send` then
delivers an envelope to it (from any thread but the server's), and every ack the client sends
back (``{"envelope_id": ..., "payload": ...}``) is kept in :attr:`SocketLink.acks`.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from typing import Any

from aiohttp import WSMsgType, web

from sandbox.slack_api import Workspace, slack_app


def events_api(body: dict[str, Any], *, retry_attempt: int = 0) -> dict[str, Any]:
    """An ``events_api`` envelope around an Events API ``event_callback`` body."""
    return {
        "envelope_id": str(uuid.uuid4()),
        "type": "events_api",
        "accepts_response_payload": False,
        "retry_attempt": retry_attempt,
        "retry_reason": "timeout" if retry_attempt else "",
        "payload": body,
    }


def slash_commands(fields: dict[str, str]) -> dict[str, Any]:
    """A ``slash_commands`` envelope: the command's form fields as the payload."""
    return {
        "envelope_id": str(uuid.uuid4()),
        "type": "slash_commands",
        "accepts_response_payload": True,
        "payload": dict(fields),
    }


class SocketLink:
    """The Socket Mode side of a workspace: connected clients, envelopes sent, acks received."""

    def __init__(self, workspace: Workspace, *, app_id: str = "A0SANDBOX") -> None:
        self.workspace = workspace
        self.app_id = app_id
        self.sent: list[dict[str, Any]] = []
        self.acks: dict[str, dict[str, Any]] = {}
        self._sockets: list[web.WebSocketResponse] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected = threading.Event()

    def connected(self, timeout: float = 10.0) -> bool:
        """Wait until a client has connected (and been greeted)."""
        return self._connected.wait(timeout)

    def send(self, envelope: dict[str, Any], *, timeout: float = 10.0) -> str:
        """Deliver an envelope to the newest client; returns its ``envelope_id``."""
        assert self._loop is not None and self.connected(timeout), "no Socket Mode client"
        asyncio.run_coroutine_threadsafe(self._send(envelope), self._loop).result(timeout)
        return str(envelope["envelope_id"])

    def ack(self, envelope_id: str) -> dict[str, Any] | None:
        """The ack the client sent for an envelope, if it did."""
        return self.acks.get(envelope_id)

    async def _send(self, envelope: dict[str, Any]) -> None:
        self.sent.append(envelope)
        await self._sockets[-1].send_str(json.dumps(envelope))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """``GET /link/?ticket=...``: the WebSocket of one Socket Mode connection."""
        if request.query.get("ticket") not in self.workspace.tickets:
            return web.json_response({"ok": False, "error": "invalid_ticket"}, status=401)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._loop = asyncio.get_running_loop()
        self._sockets.append(ws)
        hello = {
            "type": "hello",
            "num_connections": len(self._sockets),
            "debug_info": {"host": "applink-sandbox", "approximate_connection_time": 18060},
            "connection_info": {"app_id": self.app_id},
        }
        await ws.send_str(json.dumps(hello))
        self._connected.set()
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    ack = json.loads(message.data)
                    if isinstance(ack, dict) and "envelope_id" in ack:
                        self.acks[str(ack["envelope_id"])] = ack
        finally:
            self._sockets.remove(ws)
            if not self._sockets:
                self._connected.clear()
        return ws

    async def close(self) -> None:
        """Close every connection, as Slack does when it drops one."""
        for ws in list(self._sockets):
            await ws.close()


LINK = web.AppKey("slack_socket_link", SocketLink)


def socket_app(workspace: Workspace, link: SocketLink | None = None) -> web.Application:
    """The Web API stand-in with the Socket Mode WebSocket at ``/link/``."""
    app = slack_app(workspace)
    app[LINK] = link or SocketLink(workspace)
    app.router.add_get("/link/", app[LINK].handle)

    async def close_links(app: web.Application) -> None:
        await app[LINK].close()

    app.on_shutdown.append(close_links)
    return app
