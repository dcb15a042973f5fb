"""``/rca`` acknowledges before it asks Slack anything: Slack wants the ack within 3 s (issue 15).

Through the real Bolt app in HTTP mode, against the Slack stand-in with ``conversations.info``
hanging: the ack comes back while that call is still unanswered, and what depends on the channel
(whether the bot may act there) reaches the person afterwards, at the command's ``response_url``.
"""

from __future__ import annotations

import pytest
from pipeline_testkit import Workers
from slack_testkit import (
    SECRET,
    Responses,
    ServedSlack,
    eventually,
    is_summary,
    replies,
    top_level,
)

from sandbox.slack_events import EventSender, slash_command

#: Longer than Slack waits for an ack (3 s) and than the test's sender waits (10 s).
HANG = 12.0


def _answered(sender: EventSender, responses: Responses, text: str, channel: str) -> str:
    """Send ``/rca TEXT``; the key of its response URL, once the ack came back empty."""
    key = f"{channel}-{text.replace(' ', '-') or 'rca'}"
    fields = slash_command(text, channel_id=channel, channel_name="x")
    acked = sender.command({**fields, "response_url": responses.url(key)})
    assert acked.status == 200 and acked.body == ""  # nothing to say before the channel is read
    return key


@pytest.mark.slow
def test_rca_acks_while_conversations_info_hangs_and_still_delivers(
    slack: ServedSlack, bot_url: str, responses: Responses, workers: Workers
) -> None:
    ws = slack.workspace
    channel = ws.create_channel("inc-4201-slow-slack", topic="api-gateway errors")
    ws.fail("conversations.info", times=2, status=503, hang=HANG)
    sender = EventSender(bot_url, SECRET)

    investigate = _answered(sender, responses, "", channel.id)
    sweep = _answered(sender, responses, "sweep", channel.id)
    # Both acks are back, and Slack has not answered a single conversations.info yet.
    assert not [c for c in ws.calls if c.method == "conversations.info"]

    said = eventually(lambda: responses.to(investigate), timeout=HANG + 30, what="the answer")
    assert [r["text"] for r in said] == ["Investigating the incident…"]
    assert all(r["response_type"] == "ephemeral" for r in said)
    status = eventually(lambda: responses.to(sweep), timeout=HANG + 30, what="the sweep status")
    assert "sweep" in status[0]["text"].lower() and status[0]["response_type"] == "ephemeral"

    summary = eventually(
        lambda: next((m for m in top_level(ws, channel.id) if is_summary(m)), None),
        timeout=90,
        what="the summary",
    )
    eventually(lambda: replies(ws, channel.id, summary["ts"]), timeout=30, what="the detail")
    assert len(top_level(ws, channel.id)) == 1
    hung = [c.status for c in ws.calls if c.method == "conversations.info"]
    assert hung[:2] == [503, 503] and 200 in hung  # read again once Slack answered
