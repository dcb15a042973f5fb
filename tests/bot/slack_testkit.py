"""The Slack stand-in served from a thread, and helpers to read what the bot did there."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from sandbox.slack_api import Workspace
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
    """The bot's replies in a thread."""
    return [
        m
        for m in ws.messages(channel)
        if m.get("thread_ts") == thread_ts
        and m["ts"] != thread_ts
        and m.get("user") == ws.bot_user_id
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
