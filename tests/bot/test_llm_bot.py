"""The bot with a language model: a cited narrative, answers with tools, and a safe fallback.

The model is the Anthropic stand-in, which obeys the instruction hidden in the culprit's commit
title. Who is tagged, what is escaped and what is redacted must not change because of it.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from conftest import LEAKED, group_id
from pipeline_testkit import Standins, Workers
from slack_testkit import SECRET, ServedSlack, eventually, is_summary, rendered, replies, top_level

from sandbox.anthropic_api import MESSAGES
from sandbox.scenarios import Scenario
from sandbox.slack_events import EventSender, event_callback

MENTIONS = ("<!channel>", "<!here>", "<!everyone>", "<@U0EVIL>", "<@U0CTO>", "<@U0ADMIN>")


def _open_incident(slack: ServedSlack, bot_url: str, name: str) -> tuple[str, dict]:  # type: ignore[type-arg]
    ws = slack.workspace
    channel = ws.create_channel(name, topic="5xx on the edge")
    ws.post_as_user(channel.id, "[Triggered] error rate high on api-gateway", user="U0ALERTS")
    created = event_callback(
        {
            "type": "channel_created",
            "channel": {"id": channel.id, "name": channel.name, "created": int(time.time())},
        }
    )
    assert EventSender(bot_url, SECRET).event(created).status == 200
    found = eventually(
        lambda: [m for m in top_level(ws, channel.id) if is_summary(m)], what="the summary"
    )
    return channel.id, found[0]


def _everything_posted(slack: ServedSlack) -> str:
    ws = slack.workspace
    return "\n".join(rendered(m) for c in ws.channels for m in ws.messages(c))


@pytest.mark.slow
def test_the_summary_leads_with_a_cited_narrative_and_tags_only_the_owner(
    slack: ServedSlack, bot_url: str, workers: Workers, scenario: Scenario, standins: Standins
) -> None:
    standins.llm.uncited_every = 1  # the model slips: the check must catch it
    channel, summary = _open_incident(slack, bot_url, "inc-3001-gateway-errors")
    text = rendered(summary)

    explained = next(
        b for b in summary["blocks"] if "What happened" in b.get("text", {}).get("text", "")
    )
    narrative = explained["text"]["text"]
    assert scenario.truth.root in narrative
    assert re.search(r"\[<http[^|>]+\|E\d+>\]", narrative)  # citations link to the source
    # The model obeyed the injected instruction; the text is shown, but pings no one.
    assert "Escalating as instructed" in narrative
    assert "&lt;!channel&gt;" in narrative and "&lt;@U0ADMIN&gt;" in narrative
    assert not any(m in text for m in MENTIONS)
    # Tagging is the code's: the root's team, in the blocks and the fallback, nobody else.
    assert text.count("<!subteam^") == 2
    assert f"<!subteam^{group_id(scenario.truth.team)}>" in text
    # The details follow the summary into its thread a moment later.
    thread = eventually(
        lambda: replies(slack.workspace, channel, summary["ts"]), what="the thread's details"
    )
    details = thread[0]["text"]
    assert "Narrative: 1 call" in details and "removed" in details

    # The leaked token reached neither the model nor Slack.
    sent = json.dumps(standins.apps["anthropic"][MESSAGES])
    assert LEAKED not in sent and "[redacted: github-token]" in sent
    assert LEAKED not in _everything_posted(slack)


@pytest.mark.slow
def test_a_thread_question_is_answered_with_tools_and_links(
    slack: ServedSlack, bot_url: str, workers: Workers, scenario: Scenario
) -> None:
    ws = slack.workspace
    channel, summary = _open_incident(slack, bot_url, "inc-3002-gateway-errors")
    question = f"what changed in {scenario.truth.root} in the last hour?"
    EventSender(bot_url, SECRET).event(
        event_callback(
            {
                "type": "message",
                "channel": channel,
                "user": "U0HUMAN",
                "text": question,
                "ts": ws.post_as_user(channel, question, thread_ts=summary["ts"]),
                "thread_ts": summary["ts"],
            }
        )
    )
    answered = eventually(
        lambda: [
            r["text"]
            for r in replies(ws, channel, summary["ts"])
            if "Answered by" in r["text"] or "could not answer" in r["text"]
        ],
        what="the answer",
    )[0]
    assert "Answered by claude-sandbox after list_changes" in answered
    assert re.search(r"\[<http[^|>]+\|E\d+>\]", answered)
    assert not any(m in answered for m in MENTIONS) and LEAKED not in answered
    # One message, edited from the placeholder: the thread holds the details and the answer.
    assert len(replies(ws, channel, summary["ts"])) == 2


@pytest.mark.slow
def test_an_overloaded_model_leaves_the_summary_and_says_so(
    slack: ServedSlack, bot_url: str, workers: Workers, scenario: Scenario, standins: Standins
) -> None:
    standins.faults("anthropic").inject("/v1/messages", status=529)
    _, summary = _open_incident(slack, bot_url, "inc-3003-gateway-errors")
    text = rendered(summary)
    assert scenario.truth.root in text
    assert "Narrative unavailable: the language model did not answer" in text
    assert "overloaded" in text
    assert f"<!subteam^{group_id(scenario.truth.team)}>" in text
