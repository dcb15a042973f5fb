"""The real Bolt app, end to end: signed events in, the Slack stand-in's record out."""

from __future__ import annotations

import itertools
import json
import time

import pytest
import redis
from conftest import group_id
from pipeline_testkit import Workers
from slack_testkit import (
    SECRET,
    Responses,
    ServedSlack,
    command_answer,
    eventually,
    is_summary,
    rendered,
    replies,
    top_level,
)

from bot.blocks import WRONG_ACTION
from sandbox.scenarios import Scenario
from sandbox.slack_events import (
    EventSender,
    block_action,
    event_callback,
    slash_command,
)

# What a Slack client would render as a mention; none may come from untrusted text.
MENTIONS = ("<!channel>", "<!here>", "<!everyone>", "<@U0EVIL>")


def _created(channel_id: str, name: str) -> dict:  # type: ignore[type-arg]
    return event_callback(
        {
            "type": "channel_created",
            "channel": {"id": channel_id, "name": name, "created": int(time.time())},
        }
    )


def _summary_of(slack: ServedSlack, channel: str) -> dict:  # type: ignore[type-arg]
    ws = slack.workspace
    found = eventually(
        lambda: [m for m in top_level(ws, channel) if is_summary(m)], what="the summary"
    )
    return found[0]


@pytest.mark.slow
def test_incident_channel_gets_one_summary_with_the_owning_team_despite_retries(
    slack: ServedSlack,
    bot_url: str,
    workers: Workers,
    scenario: Scenario,
    redis_client: redis.Redis,
    names: tuple[str, str],
) -> None:
    ws = slack.workspace
    channel = ws.create_channel("inc-2041-gateway-errors", topic="5xx on the edge")
    ws.post_as_user(channel.id, "[Triggered] error rate high on api-gateway", user="U0ALERTS")
    sender = EventSender(bot_url, SECRET)
    envelope = _created(channel.id, channel.name)
    first = sender.event(envelope)
    assert first.status == 200 and first.seconds < 3
    for retry in (1, 2):  # Slack's retries: same event id
        assert sender.event(envelope, retry_num=retry).status == 200
    renamed = event_callback(  # another trigger for the same channel: still one investigation
        {"type": "channel_rename", "channel": {"id": channel.id, "name": channel.name}}
    )
    assert sender.event(renamed).status == 200

    posted = eventually(lambda: top_level(ws, channel.id), timeout=3, what="Investigating")
    assert "Investigating" in posted[0]["text"]
    assert channel.id and ws.bot_user_id in ws.channels[channel.id].members  # joined

    summary = _summary_of(slack, channel.id)
    text = rendered(summary)
    root, team = scenario.truth.root, scenario.truth.team
    assert root in text
    assert f"<!subteam^{group_id(team)}>" in text
    assert text.count("<!subteam^") == 2  # in the blocks and in the fallback, nobody else
    assert not any(m in text for m in MENTIONS)
    assert "&lt;!channel&gt;" in text  # the hostile deploy title, shown but inert
    time.sleep(1.5)  # let late redeliveries and watchers do their worst
    assert len(top_level(ws, channel.id)) == 1
    assert len(ws.calls_of("chat.postMessage")) == 2  # "Investigating", then the thread detail
    details = replies(ws, channel.id, summary["ts"])
    assert len(details) == 1 and "Why" in details[0]["text"]
    updates = [c.at for c in ws.calls_of("chat.update")]
    progress = updates[:-1]  # the last edit is the summary, due as soon as it is made
    assert all(b - a >= 0.9 for a, b in itertools.pairwise(progress))

    # Thread questions, answered from the record without an LLM.
    questions = ("logs api-gateway", "changes", "why not api-gateway?", f"logs {root}")
    for number, question in enumerate(questions):
        sender.event(
            event_callback(
                {
                    "type": "message",
                    "channel": channel.id,
                    "user": "U0HUMAN",
                    "text": question,
                    "ts": ws.post_as_user(channel.id, question, thread_ts=summary["ts"]),
                    "thread_ts": summary["ts"],
                }
            )
        )
        eventually(lambda n=number: len(replies(ws, channel.id, summary["ts"])) >= n + 2)
    logs, changes, why_not, root_logs = (
        r["text"] for r in replies(ws, channel.id, summary["ts"])[1:]
    )
    assert "api-gateway" in logs
    assert root in changes and "&lt;!channel&gt;" in changes
    assert "api-gateway" in why_not and ("symptom" in why_not or "ranked" in why_not)
    assert "payment rejected" in root_logs and "&lt;!channel&gt;" in root_logs  # inert
    assert not any(m in logs + changes + why_not + root_logs for m in MENTIONS)

    # "Wrong root cause" is recorded with the investigation.
    investigation_id = summary["blocks"][-1]["elements"][1]["value"]
    click = block_action(
        WRONG_ACTION, investigation_id, channel_id=channel.id, message_ts=summary["ts"]
    )
    clicked = sender.action(click)
    assert clicked.status == 200
    key = f"{names[0]}:inv:{investigation_id}:feedback"
    recorded = eventually(lambda: redis_client.lrange(key, 0, -1), timeout=5)
    assert json.loads(recorded[0])["kind"] == "wrong_root_cause"
    eventually(lambda: ws.calls_of("chat.postEphemeral"), timeout=5)


@pytest.mark.slow
def test_invited_to_a_private_channel_and_rate_limited(
    slack: ServedSlack, bot_url: str, workers: Workers, scenario: Scenario
) -> None:
    ws = slack.workspace
    channel = ws.create_channel("war-room", private=True, purpose="payments broken")
    ws.invite(channel.id, ws.bot_user_id)
    ws.rate_limit("chat.postMessage", times=1, retry_after=1)
    event = event_callback(
        {
            "type": "member_joined_channel",
            "user": ws.bot_user_id,
            "channel": channel.id,
            "channel_type": "G",
            "team": ws.team_id,
            "inviter": "U0HUMAN",
        }
    )
    assert EventSender(bot_url, SECRET).event(event).status == 200
    summary = _summary_of(slack, channel.id)
    assert scenario.truth.root in rendered(summary)
    assert not ws.calls_of("conversations.join")  # private: invited, not joined
    limited = [c for c in ws.calls if c.method == "chat.postMessage" and c.status == 429]
    assert len(limited) == 1 and len(top_level(ws, channel.id)) == 1


def test_rca_help_and_bad_arguments_answer_privately(slack: ServedSlack, bot_url: str) -> None:
    ws = slack.workspace
    channel = ws.create_channel("inc-77-slow")
    sender = EventSender(bot_url, SECRET)

    def rca(text: str) -> dict:  # type: ignore[type-arg]
        answered = sender.command(slash_command(text, channel_id=channel.id, channel_name="x"))
        assert answered.status == 200
        return answered.json()

    assert "/rca SERVICE" in rca("help")["text"]
    unknown = rca("api-gatewy")["text"]
    assert "Did you mean" in unknown and "api-gateway" in unknown
    malformed = rca("api-gateway 2x")["text"]
    assert "not a time window" in malformed and "30m" in malformed
    assert all(r.get("response_type", "ephemeral") == "ephemeral" for r in [rca("help")])
    assert not ws.calls_of("chat.postMessage")


@pytest.mark.slow
def test_rca_with_a_service_and_window_investigates(
    slack: ServedSlack, bot_url: str, responses: Responses, workers: Workers, scenario: Scenario
) -> None:
    ws = slack.workspace
    channel = ws.create_channel("ops-chat")
    ws.channels[channel.id].members.add(ws.bot_user_id)
    sender = EventSender(bot_url, SECRET)
    fields = slash_command("gateway 30m", channel_id=channel.id, channel_name=channel.name)
    answered = command_answer(sender, responses, fields)
    assert answered["text"] == "Investigating api-gateway…"
    again = sender.command(slash_command("", channel_id=channel.id, channel_name=channel.name))
    assert "already running" in again.json()["text"]  # /rca shows the current one
    summary = _summary_of(slack, channel.id)
    assert scenario.truth.root in rendered(summary)
    assert len(top_level(ws, channel.id)) == 1


def test_bad_and_stale_signatures_are_rejected(slack: ServedSlack, bot_url: str) -> None:
    ws = slack.workspace
    channel = ws.create_channel("inc-1-checkout")
    sender = EventSender(bot_url, SECRET)
    assert sender.event(_created(channel.id, channel.name), secret="wrong").status == 401
    stale = sender.event(_created(channel.id, channel.name), timestamp=time.time() - 600)
    assert stale.status == 401
    assert not ws.calls


@pytest.mark.slow
def test_a_channel_renamed_into_the_pattern_starts_one_investigation(
    slack: ServedSlack, bot_url: str, workers: Workers
) -> None:
    ws = slack.workspace
    channel = ws.create_channel("general-2")
    sender = EventSender(bot_url, SECRET)

    def rename(name: str) -> None:
        ws.channels[channel.id].name = name
        event = {"type": "channel_rename", "channel": {"id": channel.id, "name": name}}
        assert sender.event(event_callback(event)).status == 200

    rename("general-3")  # still not an incident channel
    time.sleep(0.5)
    assert not ws.calls_of("conversations.info")
    rename("inc-123-checkout")
    rename("inc-123-checkout-eu")  # renamed again: the same incident
    _summary_of(slack, channel.id)
    time.sleep(1)
    assert len(top_level(ws, channel.id)) == 1
    assert len(ws.calls_of("conversations.join")) == 1


def test_rca_in_a_private_channel_without_the_bot_asks_for_an_invite(
    slack: ServedSlack, bot_url: str, responses: Responses
) -> None:
    # The stand-in answers conversations.info with channel_not_found, as Slack does for a
    # private channel the bot is not in.
    ws = slack.workspace
    channel = ws.create_channel("secret-incident", private=True)
    fields = slash_command("", channel_id=channel.id, channel_name=channel.name)
    answered = command_answer(EventSender(bot_url, SECRET), responses, fields)
    assert "/invite @incident-copilot" in answered["text"]
    assert answered.get("response_type") == "ephemeral"
    assert not ws.calls_of("chat.postMessage") and not ws.calls_of("conversations.join")
