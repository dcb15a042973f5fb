"""The bot in Socket Mode, as ``incident-copilot bot`` runs it with SLACK_APP_TOKEN set."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis
from pipeline_testkit import Workers
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_testkit import ServedSlack, eventually, is_summary, top_level

from sandbox.scenarios import Scenario
from sandbox.slack_events import event_callback, slash_command
from sandbox.slack_socket import events_api, slash_commands


@pytest.fixture
def socket_bot(
    slack: ServedSlack,
    env: dict[str, str],
    scenario: Scenario,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[SocketModeHandler]:
    """The bot connected to the Socket Mode stand-in (the client runs on its own threads)."""
    from bot.app import create_app
    from bot.settings import load_settings

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("SLACK_SIGNING_SECRET", raising=False)
    ws = slack.workspace
    settings = load_settings(
        slack_bot_token=ws.token,
        slack_app_token=ws.app_token,
        slack_api_url=slack.url,
        investigation_deadline=20.0,
    )
    assert settings.slack_app_token is not None
    now = scenario.bundle.incident.started_at + 900
    app = create_app(settings, clock=lambda: now)
    handler = SocketModeHandler(app, settings.slack_app_token.get_secret_value())
    handler.connect()
    try:
        assert slack.link.connected(), "the bot never connected"
        yield handler
    finally:
        handler.close()
        app.stop()


@pytest.mark.slow
def test_channel_created_over_socket_mode_is_acked_and_summarised(
    slack: ServedSlack, socket_bot: SocketModeHandler, workers: Workers
) -> None:
    ws = slack.workspace
    assert [c.method for c in ws.calls if c.method == "apps.connections.open"]
    channel = ws.create_channel("inc-3001-checkout", topic="checkout 5xx")
    created = {"type": "channel_created", "channel": {"id": channel.id, "name": channel.name}}
    sent = time.monotonic()
    envelope_id = slack.link.send(events_api(event_callback(created)))
    ack = eventually(lambda: slack.link.ack(envelope_id), timeout=5, what="the ack")
    assert ack == {"envelope_id": envelope_id} and time.monotonic() - sent < 3
    found = eventually(lambda: [m for m in top_level(ws, channel.id) if is_summary(m)])
    assert found and len(top_level(ws, channel.id)) == 1


def test_slash_command_over_socket_mode_answers_in_the_ack(
    slack: ServedSlack, socket_bot: SocketModeHandler
) -> None:
    channel = slack.workspace.create_channel("inc-3002-slow")
    fields = slash_command("help", channel_id=channel.id, channel_name=channel.name)
    envelope_id = slack.link.send(slash_commands(fields))
    ack = eventually(lambda: slack.link.ack(envelope_id), timeout=5, what="the ack")
    assert "/rca SERVICE" in ack["payload"]["text"]
