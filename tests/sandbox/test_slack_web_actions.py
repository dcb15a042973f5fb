"""The sandbox page works like Slack (issue 15): buttons, ephemeral answers, names and files.

Over HTTP throughout: the page's app, the Slack Web API stand-in (``slack_sdk`` calls it as it
calls Slack, the external upload flow included) and a recording stand-in for the bot's
``/slack/events``.
"""

from __future__ import annotations

import json
import struct
import urllib.request
import zlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiohttp import web
from multidict import CIMultiDict
from slack_samples import GROUPS, payments_summary
from slack_sdk import WebClient

from bot.blocks import RERUN_ACTION, WRONG_ACTION, fallback_text, summary_blocks
from sandbox.slack_events import signature
from sandbox.slack_web import DEMO_USER, ServedSlackWeb, slack_web_app
from sandbox.world import ServedSlack

SECRET = "page-actions-secret"


def tiny_png(width: int = 4, height: int = 3) -> bytes:
    """A valid PNG of one grey colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def bot_events() -> Iterator[tuple[str, list[tuple[CIMultiDict[str], bytes]]]]:
    """A stand-in for the bot's ``/slack/events``: records every request; its URL."""
    received: list[tuple[CIMultiDict[str], bytes]] = []

    async def events(request: web.Request) -> web.Response:
        received.append((request.headers.copy(), await request.read()))
        return web.Response(text="")

    app = web.Application()
    app.router.add_post("/slack/events", events)
    with ServedSlackWeb(app) as served:
        yield f"{served.url}/slack/events", received


def _post(url: str, body: Any, *, content_type: str = "application/json") -> tuple[int, Any]:
    data = json.dumps(body).encode() if content_type == "application/json" else body
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": content_type}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _get(url: str) -> tuple[int, bytes, dict[str, str]]:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.status, answer.read(), dict(answer.headers)


def test_a_button_click_reaches_the_bot_signed_as_slack_sends_it(
    bot_events: tuple[str, list[tuple[CIMultiDict[str], bytes]]],
) -> None:
    events_url, received = bot_events
    with ServedSlack() as slack:
        ws = slack.workspace
        channel = ws.create_channel("inc-2041-checkout-errors")
        client = WebClient(token=ws.token, base_url=slack.url)
        made = payments_summary()
        posted = client.chat_postMessage(
            channel=channel.id, text=fallback_text(made), blocks=summary_blocks(made)
        )
        ts = str(posted["ts"])
        app = slack_web_app(ws, bot_events_url=events_url, signing_secret=SECRET, groups=GROUPS)
        with ServedSlackWeb(app) as page:
            act = f"{page.url}/api/channels/{channel.id}/act"
            click = {"action_id": WRONG_ACTION, "value": made.investigation_id, "message_ts": ts}
            assert _post(act, click) == (200, {"ok": True, "delivered": True})
            # Only the message's own buttons, only as JSON, only for a message there.
            forged = {**click, "value": "inv-someone-else"}
            assert _post(act, forged)[0] == 404
            assert _post(act, {**click, "message_ts": "1.000001"})[0] == 404
            assert _post(act, b"action_id=x", content_type="application/x-www-form-urlencoded")[
                0
            ] == (415)
            rerun = {"action_id": RERUN_ACTION, "value": made.investigation_id, "message_ts": ts}
            assert _post(act, rerun)[0] == 200
    assert len(received) == 2
    headers, body = received[0]
    stamp = headers["X-Slack-Request-Timestamp"]
    assert headers["X-Slack-Signature"] == signature(SECRET, stamp, body)
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    payload = json.loads(parse_qs(body.decode())["payload"][0])
    assert payload["type"] == "block_actions"
    assert payload["user"]["id"] == DEMO_USER and payload["team"]["id"] == ws.team_id
    assert payload["channel"] == {"id": channel.id, "name": channel.name}
    assert payload["container"]["message_ts"] == ts
    assert payload["message"]["ts"] == ts and payload["message"]["blocks"]
    (action,) = payload["actions"]
    assert (action["action_id"], action["value"]) == (WRONG_ACTION, made.investigation_id)
    assert action["block_id"] == "rca_actions" and action["text"]["text"] == "Wrong root cause"
    second = json.loads(parse_qs(received[1][1].decode())["payload"][0])
    assert second["actions"][0]["action_id"] == RERUN_ACTION


def test_the_page_shows_names_ephemeral_answers_and_shared_images() -> None:
    with ServedSlack() as slack:
        ws = slack.workspace
        channel = ws.create_channel("inc-2042-payments")
        ws.post_as_user(channel.id, "[Triggered] payments errors <@U0ONCALL>", user="U0ALERTS")
        client = WebClient(token=ws.token, base_url=slack.url)
        parent = str(client.chat_postMessage(channel=channel.id, text="Investigating…")["ts"])
        client.chat_postEphemeral(channel=channel.id, user=DEMO_USER, text="Only for you")
        client.chat_postEphemeral(channel=channel.id, user="U0HUMAN", text="Not for the page")
        png = tiny_png()
        # slack_sdk's own external upload flow against the stand-in.
        uploaded = client.files_upload_v2(
            channel=channel.id, thread_ts=parent, content=png, filename="chart.png", title="Chart"
        )
        file_id = uploaded["file"]["id"]
        app = slack_web_app(ws, bot_events_url=None, signing_secret=SECRET)
        with ServedSlackWeb(app) as page:
            status, raw, _ = _get(f"{page.url}/api/channels/{channel.id}/html")
            shown = raw.decode()
            status_file, served, headers = _get(f"{page.url}/files/{file_id}")
            _, _, page_headers = _get(f"{page.url}/")
    assert status == 200
    assert '<span class="author">Datadog</span>' in shown  # U0ALERTS, by name
    assert '<span class="author">incident-copilot</span>' in shown
    assert '<span class="mention">@sam.oncall</span>' in shown
    assert ">U0ALERTS<" not in shown
    assert "Only for you" in shown and "Only visible to you" in shown
    assert "Not for the page" not in shown
    assert f'<img src="/files/{file_id}" alt="Chart"' in shown
    assert (status_file, served, headers["Content-Type"]) == (200, png, "image/png")
    assert "img-src 'self' data:" in page_headers["Content-Security-Policy"]
