"""The Slack app manifest asks for what the bot listens to, and ``bot`` says what is missing."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml

from bot.cli import main

MANIFEST = Path(__file__).resolve().parents[2] / "manifests" / "slack-app.yaml"


def test_manifest_subscribes_to_every_event_and_the_command() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert {"channel_created", "channel_rename", "member_joined_channel", "app_mention"} <= events
    assert {"message.channels", "message.groups"} <= events
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == ["/rca"]
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"chat:write", "channels:join", "commands", "groups:history"} <= scopes
    # The health sweep's button: conversations.create and .invite, usergroups.users.list.
    assert {"channels:manage", "usergroups:read"} <= scopes
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert manifest["settings"]["interactivity"]["is_enabled"] is True


def test_bot_without_a_token_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
        monkeypatch.delenv(name, raising=False)
    assert main(["bot"], out=io.StringIO()) == 2
    assert "SLACK_BOT_TOKEN" in capsys.readouterr().err
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    assert main(["bot"], out=io.StringIO()) == 2
    assert "SLACK_SIGNING_SECRET" in capsys.readouterr().err
