"""The Slack stand-in served from a thread, and helpers to read what the bot did there."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

from sandbox.slack_api import Workspace
from sandbox.slack_events import EventSender
from sandbox.world import SIGNING_SECRET, ServedSlack

__all__ = ["SECRET", "ServedSlack"]

T = TypeVar("T")
SECRET = SIGNING_SECRET


def eventually(check: Callable[[], T | None], *, timeout: float = 60.0, what: str = "") -> T:
    """Poll ``check`` until it returns something truthy."""
    until = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < until, f"timed out waiting for {what or check}"
        time.sleep(0.1)


def top_level(ws: Workspace, channel: str) -> list[dict[str, Any]]:
    """The bot's messages in the channel itself (not in threads)."""
    return [
        m
        for m in ws.messages(channel)
        if m.get("user") == ws.bot_user_id and m.get("thread_ts", m["ts"]) == m["ts"]
    ]


def replies(ws: Workspace, channel: str, thread_ts: str) -> list[dict[str, Any]]:
    """The bot's replies in a thread (its messages; the files it shares: :func:`shared`)."""
    return [
        m
        for m in ws.messages(channel)
        if m.get("thread_ts") == thread_ts
        and m["ts"] != thread_ts
        and m.get("user") == ws.bot_user_id
        and not m.get("files")
    ]


def shared(ws: Workspace, channel: str, thread_ts: str) -> list[dict[str, Any]]:
    """The files the bot shared in a thread (one ``file_share`` message each)."""
    return [
        m
        for m in ws.messages(channel)
        if m.get("thread_ts") == thread_ts and m.get("user") == ws.bot_user_id and m.get("files")
    ]


def is_summary(message: dict[str, Any]) -> bool:
    """Whether a message shows a finished summary (it has the re-run buttons)."""
    return any(b.get("type") == "actions" for b in message.get("blocks") or [])


def rendered(message: dict[str, Any]) -> str:
    """Every text of a message: its fallback and its blocks."""
    texts = [str(message.get("text", ""))]
    for block in message.get("blocks") or []:
        if "text" in block:
            texts.append(str(block["text"].get("text", "")))
        for element in block.get("elements", []):
            if isinstance(element.get("text"), str):
                texts.append(element["text"])
    return "\n".join(texts)


class Responses:
    """A stand-in for the ``response_url`` of Slack's slash commands: what the bot said there.

    Slack gives every command a URL that answers the person who ran it, wherever that was;
    the bot answers there whatever it decides after the ack. Each command gets a URL of its
    own (``/commands/KEY``), and :meth:`to` reads the JSON bodies posted to it, oldest first.
    """

    def __init__(self) -> None:
        self.posted: dict[str, list[dict[str, Any]]] = {}
        lock = threading.Lock()
        posted = self.posted

        class Hook(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    posted.setdefault(self.path.rsplit("/", 1)[-1], []).append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)

    def __enter__(self) -> Responses:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def url(self, key: str) -> str:
        """The response URL of one command."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/commands/{key}"

    def to(self, key: str) -> list[dict[str, Any]]:
        """What was posted to one command's URL."""
        return list(self.posted.get(key, []))


def command_answer(
    sender: EventSender, responses: Responses, fields: dict[str, str], *, timeout: float = 30.0
) -> dict[str, Any]:
    """What a slash command answered the person privately: in its ack, or else at its
    ``response_url`` afterwards (the first answer there)."""
    key = uuid.uuid4().hex
    answered = sender.command({**fields, "response_url": responses.url(key)})
    assert answered.status == 200, answered.body
    found: dict[str, Any] | None = answered.json()
    if found:
        return found
    return eventually(lambda: (responses.to(key) or [None])[0], timeout=timeout, what=key)
