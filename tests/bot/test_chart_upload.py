"""The summary's chart in its thread (issue 15): Slack's external upload flow, and its failures.

The real Bolt app in HTTP mode, real RQ workers and Redis, the Slack stand-in over HTTP. The
chart is uploaded after the detail; a failed upload is retried without sharing the file twice,
and one that keeps failing is given up with one log line while the summary stands.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from pipeline_testkit import Workers
from slack_testkit import SECRET, ServedSlack, eventually, is_summary, replies, shared, top_level

from sandbox.slack_events import EventSender, event_callback

pytestmark = pytest.mark.slow

PNG = b"\x89PNG\r\n\x1a\n"


def _open(slack: ServedSlack, bot_url: str, name: str) -> str:
    ws = slack.workspace
    channel = ws.create_channel(name, topic="5xx on the edge")
    ws.post_as_user(channel.id, "[Triggered] error rate high on api-gateway", user="U0ALERTS")
    created = {"id": channel.id, "name": channel.name, "created": int(time.time())}
    sent = EventSender(bot_url, SECRET).event(
        event_callback({"type": "channel_created", "channel": created})
    )
    assert sent.status == 200
    return channel.id


def _summary(slack: ServedSlack, channel: str) -> dict[str, Any]:
    ws = slack.workspace
    found = eventually(
        lambda: [m for m in top_level(ws, channel) if is_summary(m)], what="the summary"
    )
    return found[0]


def test_the_chart_is_uploaded_to_the_summarys_thread_after_the_detail(
    slack: ServedSlack, bot_url: str, workers: Workers
) -> None:
    ws = slack.workspace
    channel = _open(slack, bot_url, "inc-3101-chart")
    summary = _summary(slack, channel)
    files = eventually(lambda: shared(ws, channel, summary["ts"]), timeout=30, what="the chart")
    time.sleep(1.0)  # a second share would show by now
    assert len(shared(ws, channel, summary["ts"])) == 1
    message = files[0]
    detail = replies(ws, channel, summary["ts"])[0]
    assert float(message["ts"]) > float(detail["ts"])  # the summary and detail come first
    (info,) = message["files"]
    assert info["name"].startswith("incident-copilot-") and info["name"].endswith(".png")
    assert info["mimetype"] == "image/png" and info["original_w"] >= 800
    assert "what changed around" in info["title"]
    stored = ws.files[info["id"]]
    assert stored.content is not None and stored.content.startswith(PNG)
    assert stored.alt_txt.startswith("Chart.")
    assert channel in stored.shared
    # The flow as Slack documents it: a URL for the declared length, the bytes, completion.
    asked = ws.calls_of("files.getUploadURLExternal")[-1].args
    assert int(asked["length"]) == len(stored.content)
    done = ws.calls_of("files.completeUploadExternal")[-1].args
    assert done["channel_id"] == channel and done["thread_ts"] == summary["ts"]
    # Its private URL serves the bytes to the bot token, and to nobody else.
    from urllib.request import Request, urlopen

    request = Request(info["url_private"], headers={"Authorization": f"Bearer {ws.token}"})
    with urlopen(request, timeout=5) as answer:
        assert answer.read() == stored.content


def test_a_failing_upload_is_retried_and_the_chart_is_shared_once(
    slack: ServedSlack, bot_url: str, workers: Workers
) -> None:
    ws = slack.workspace
    ws.fail("files.getUploadURLExternal")  # 500 before anything
    ws.fail("upload")  # the bytes refused once
    ws.fail("files.completeUploadExternal", after=True)  # shared, but the answer is lost
    channel = _open(slack, bot_url, "inc-3102-chart-retries")
    summary = _summary(slack, channel)
    eventually(lambda: shared(ws, channel, summary["ts"]), timeout=30, what="the chart")
    assert replies(ws, channel, summary["ts"])  # the detail, before the chart's first try
    completed = [c for c in ws.calls if c.method == "files.completeUploadExternal"]

    def looked_again() -> bool:  # after the lost answer, the thread is read before a retry
        return any(
            c.method == "conversations.replies" and c.at > completed[-1].at for c in ws.calls
        )

    eventually(looked_again, timeout=20, what="the thread searched for the file")
    time.sleep(1.0)
    assert len(shared(ws, channel, summary["ts"])) == 1
    statuses = [(c.method, c.status) for c in ws.calls if c.method.startswith(("files.", "up"))]
    assert statuses == [
        ("files.getUploadURLExternal", 500),
        ("files.getUploadURLExternal", 200),
        ("upload", 500),
        ("files.getUploadURLExternal", 200),
        ("upload", 200),
        ("files.completeUploadExternal", 500),
    ]


def test_an_upload_that_keeps_failing_is_given_up_with_one_log_line(
    slack: ServedSlack, bot_url: str, workers: Workers, caplog: pytest.LogCaptureFixture
) -> None:
    ws = slack.workspace
    ws.fail("upload", times=10)
    caplog.set_level(logging.WARNING, logger="bot.delivery")
    channel = _open(slack, bot_url, "inc-3103-chart-gives-up")
    summary = _summary(slack, channel)
    eventually(lambda: replies(ws, channel, summary["ts"]), timeout=10, what="the detail")
    given_up = eventually(
        lambda: [
            r
            for r in caplog.records
            if "no chart in the thread" in r.getMessage() and channel in r.getMessage()
        ],
        timeout=40,
        what="the chart given up",
    )
    assert len(given_up) == 1 and "3 tries" in given_up[0].getMessage()
    assert [c.status for c in ws.calls if c.method == "upload"] == [500, 500, 500]
    assert not shared(ws, channel, summary["ts"])
    assert len(top_level(ws, channel)) == 1  # the summary stands, alone


def test_an_app_without_files_write_gives_the_chart_up_at_once(
    slack: ServedSlack, bot_url: str, workers: Workers, caplog: pytest.LogCaptureFixture
) -> None:
    ws = slack.workspace
    ws.scopes.discard("files:write")  # installed before the manifest asked for it
    caplog.set_level(logging.WARNING, logger="bot.delivery")
    channel = _open(slack, bot_url, "inc-3104-chart-no-scope")
    summary = _summary(slack, channel)
    eventually(lambda: replies(ws, channel, summary["ts"]), timeout=10, what="the detail")
    given_up = eventually(
        lambda: [
            r
            for r in caplog.records
            if "no chart in the thread" in r.getMessage() and channel in r.getMessage()
        ],
        timeout=20,
        what="the chart given up",
    )
    time.sleep(3.0)  # a retry would come by now
    assert len(given_up) == 1 and "missing_scope" in given_up[0].getMessage()
    assert len([c for c in ws.calls if c.method == "files.getUploadURLExternal"]) == 1
    assert not shared(ws, channel, summary["ts"])
