"""Deliver Slack events, slash commands and button clicks as Slack does: signed HTTP requests.

Requests carry ``X-Slack-Request-Timestamp`` and ``X-Slack-Signature`` (``v0=`` HMAC-SHA256 of
``v0:{timestamp}:{body}`` with the signing secret); retries carry ``X-Slack-Retry-Num`` and
``X-Slack-Retry-Reason`` and the same ``event_id``, as the Events API redelivers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Slack's request signature of ``body`` sent at ``timestamp``."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(
    secret: str, body: bytes, *, content_type: str, timestamp: float | None = None
) -> dict[str, str]:
    """The headers of a signed request (a stale ``timestamp`` makes a stale request)."""
    ts = str(int(time.time() if timestamp is None else timestamp))
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature(secret, ts, body),
    }


def event_callback(
    event: dict[str, Any],
    *,
    team_id: str = "T0SANDBOX",
    api_app_id: str = "A0SANDBOX",
    event_id: str | None = None,
) -> dict[str, Any]:
    """An Events API ``event_callback`` envelope around ``event``."""
    return {
        "token": "deprecated-verification-token",
        "team_id": team_id,
        "api_app_id": api_app_id,
        "event": {"event_ts": f"{time.time():.6f}", **event},
        "type": "event_callback",
        "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
        "event_time": int(time.time()),
        "authorizations": [{"team_id": team_id, "user_id": "U0BOT", "is_bot": True}],
    }


def slash_command(
    text: str,
    *,
    channel_id: str,
    channel_name: str,
    user_id: str = "U0HUMAN",
    team_id: str = "T0SANDBOX",
    command: str = "/rca",
) -> dict[str, str]:
    """The form fields of a slash command invocation."""
    return {
        "token": "deprecated-verification-token",
        "team_id": team_id,
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": "human",
        "command": command,
        "text": text,
        "api_app_id": "A0SANDBOX",
        "response_url": "https://hooks.slack.invalid/commands/T0SANDBOX/1/x",
        "trigger_id": f"{uuid.uuid4().int % 10**12}.1.x",
    }


def block_action(
    action_id: str,
    value: str,
    *,
    channel_id: str,
    message_ts: str | None = None,
    user_id: str = "U0HUMAN",
    user_name: str = "human",
    team_id: str = "T0SANDBOX",
    channel_name: str = "channel",
    message: dict[str, Any] | None = None,
    block_id: str = "rca_actions",
    text: str = "",
) -> dict[str, Any]:
    """A ``block_actions`` payload: someone clicked a button of a message (the whole message
    when given, as Slack sends it; else a message of that ts)."""
    shown = dict(message) if message is not None else {"type": "message", "user": "U0BOT"}
    ts = str(message_ts or shown.get("ts", ""))
    shown["ts"] = ts
    shown.pop("metadata", None)  # Slack leaves message metadata out of interaction payloads
    action: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "block_id": block_id,
        "value": value,
        "action_ts": f"{time.time():.6f}",
    }
    if text:
        action["text"] = {"type": "plain_text", "text": text, "emoji": True}
    return {
        "type": "block_actions",
        "team": {"id": team_id, "domain": "sandbox"},
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id},
        "api_app_id": "A0SANDBOX",
        "token": "deprecated-verification-token",
        "container": {
            "type": "message",
            "message_ts": ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        },
        "trigger_id": f"{uuid.uuid4().int % 10**12}.1.x",
        "channel": {"id": channel_id, "name": channel_name},
        "message": shown,
        "state": {"values": {}},
        "response_url": f"https://hooks.slack.invalid/actions/{team_id}/1/x",
        "actions": [action],
    }


@dataclass(slots=True)
class Delivery:
    """What the app answered."""

    status: int
    body: str
    seconds: float

    def json(self) -> Any:
        """The answer's JSON body."""
        return json.loads(self.body) if self.body else None


class EventSender:
    """Sends signed requests to an app's ``/slack/events`` URL, the way Slack does."""

    def __init__(self, url: str, secret: str) -> None:
        self.url = url
        self.secret = secret

    def post(
        self,
        body: bytes,
        *,
        content_type: str,
        timestamp: float | None = None,
        retry_num: int | None = None,
        secret: str | None = None,
    ) -> Delivery:
        """POST a signed body; returns the status, the body and how long the answer took."""
        headers = signed_headers(
            secret or self.secret, body, content_type=content_type, timestamp=timestamp
        )
        if retry_num:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                text = response.read().decode()
                status = response.status
        except urllib.error.HTTPError as exc:
            text, status = exc.read().decode(), exc.code
        return Delivery(status, text, time.perf_counter() - started)

    def event(self, envelope: dict[str, Any], **options: Any) -> Delivery:
        """Deliver an Events API envelope (JSON)."""
        return self.post(json.dumps(envelope).encode(), content_type="application/json", **options)

    def command(self, fields: dict[str, str], **options: Any) -> Delivery:
        """Deliver a slash command (form-encoded)."""
        body = urlencode(fields).encode()
        return self.post(body, content_type="application/x-www-form-urlencoded", **options)

    def action(self, payload: dict[str, Any], **options: Any) -> Delivery:
        """Deliver an interactivity payload (form-encoded ``payload=``)."""
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self.post(body, content_type="application/x-www-form-urlencoded", **options)
