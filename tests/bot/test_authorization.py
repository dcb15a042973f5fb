"""Who may do what: /rca acts only where the bot may post; mutes are bounded and announced.

Through the real Bolt app in HTTP mode and the Slack stand-in, except the policy's own rules,
which are plain data (``bot.commands.place_refusal``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from pipeline_testkit import Workers
from slack_testkit import (
    SECRET,
    Responses,
    ServedSlack,
    command_answer,
    eventually,
    is_summary,
    top_level,
)

from bot.commands import Place, mute_announcement, place_refusal
from bot.settings import load_settings
from investigators.pipeline.store import RedisStore
from investigators.pipeline.sweep import SweepBook
from sandbox.scenarios import Scenario
from sandbox.slack_events import EventSender, slash_command

Rca = Callable[..., dict[str, Any]]


@pytest.fixture
def make_bot(
    slack: ServedSlack,
    env: dict[str, str],
    scenario: Scenario,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[..., str]]:
    """Start the bot in HTTP mode with extra settings; its URL."""
    from bot.app import create_app
    from bot.server import EVENTS_PATH, serve_in_thread

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    stops: list[Callable[[], None]] = []

    def make(**settings: Any) -> str:
        made = load_settings(
            slack_bot_token=slack.workspace.token,
            slack_signing_secret=SECRET,
            slack_api_url=slack.url,
            investigation_deadline=20.0,
            **settings,
        )
        now = scenario.bundle.incident.started_at + 900
        app = create_app(made, clock=lambda: now)
        server = serve_in_thread(app)
        stops.extend([app.stop, server.server_close, server.shutdown])
        return f"http://127.0.0.1:{server.server_address[1]}{EVENTS_PATH}"

    yield make
    for stop in reversed(stops):
        stop()


def _rca(url: str, responses: Responses) -> Rca:
    sender = EventSender(url, SECRET)

    def rca(text: str, *, channel: str, user: str = "U0HUMAN") -> dict[str, Any]:
        fields = slash_command(text, channel_id=channel, channel_name="x", user_id=user)
        found = command_answer(sender, responses, fields)
        assert found.get("response_type") == "ephemeral"
        return found

    return rca


@pytest.fixture
def no_mutes(redis_client: redis.Redis, names: tuple[str, str]) -> Iterator[None]:
    """No sweep keys before the test, and none left after it."""

    def clear() -> None:
        keys = list(redis_client.scan_iter(match=f"{names[0]}:sweep:*", count=1000))
        if keys:
            redis_client.delete(*keys)

    clear()
    yield
    clear()


def _mutes() -> dict[str, float]:
    settings = load_settings()  # the environment the bot read
    return SweepBook(RedisStore.from_url(settings.redis_url), settings.pipeline()).mutes()


def test_rca_for_a_service_in_a_channel_the_bot_is_not_in_is_refused(
    slack: ServedSlack, bot_url: str, responses: Responses
) -> None:
    ws = slack.workspace
    general = ws.create_channel("general")
    refused = _rca(bot_url, responses)("api-gateway", channel=general.id)["text"]
    assert "/invite @incident-copilot" in refused and "#inc-" in refused
    assert not ws.calls_of("conversations.join") and not ws.calls_of("chat.postMessage")
    assert ws.bot_user_id not in general.members


def test_mutes_are_refused_where_the_bot_is_not_and_beyond_the_maximum(
    slack: ServedSlack, bot_url: str, responses: Responses, no_mutes: None
) -> None:
    ws = slack.workspace
    rca = _rca(bot_url, responses)
    hidden = ws.create_channel("quiet-please", private=True)
    refused = rca("mute api-gateway 2h", channel=hidden.id)["text"]
    assert "/invite @incident-copilot" in refused
    incident = ws.create_channel("inc-88-gateway")
    too_long = rca("mute api-gateway 7d", channel=incident.id)["text"]
    assert "at most 24h" in too_long and "/rca mute api-gateway 24h" in too_long
    assert "api-gateway" not in _mutes()
    # Without an ops channel there is nowhere to announce it, and the reply says so.
    unseen = rca("mute api-gateway 2h", channel=incident.id)["text"]
    assert unseen.startswith("Muted api-gateway until ") and "Not announced" in unseen
    assert "SWEEP_CHANNEL" in unseen and "api-gateway" in _mutes()
    assert not ws.calls_of("chat.postMessage")


def test_the_policy_follows_the_settings() -> None:
    settings = load_settings(
        sweep_channel="C0OPS0001",
        alert_channels="C0ALERT01, C0ALERT02",
        rca_in_invited_channels=False,
        sweep_mute_max=3600,
    )
    policy = settings.rca_policy()
    assert policy.mute_max == 3600
    allowed = (
        Place("C0ALERT02", name="alerts-payments"),  # an alert channel: the bot may join it
        Place("C0OPS0001", name="ops", member=True),
        Place("C0INC0001", name="inc-12-checkout"),
        Place("G0INC0001", name="incident_7", private=True, member=True),
    )
    assert [place_refusal(policy, p) for p in allowed] == [None] * len(allowed)
    invited = Place("C0RANDOM1", name="random", member=True)
    assert "not here" in (place_refusal(policy, invited) or "")
    assert place_refusal(load_settings().rca_policy(), invited) is None
    hidden = Place("G0SECRET1", visible=False, private=True)
    assert "not here" in (place_refusal(policy, hidden) or "")  # inviting would not help
    assert "/invite" in (place_refusal(load_settings().rca_policy(), hidden) or "")
    custom = load_settings(incident_channel_pattern="^sev[0-9]-").rca_policy()
    assert place_refusal(custom, Place("C0SEV0001", name="sev1-db")) is None
    assert "^sev[0-9]-" in (place_refusal(custom, Place("C0INC0002", name="inc-1")) or "")


def test_a_mute_announcement_names_who_what_for_how_long_and_where() -> None:
    text = mute_announcement(
        user="U0ALICE", service="checkout", seconds=7200, until="16:40 UTC", channel="C0INC0001"
    )
    assert text == (
        ":mute: <@U0ALICE> muted the health sweep's heads-ups for `checkout` for 2h "
        "(until 16:40 UTC), from <#C0INC0001>."
    )
    forged = mute_announcement(user="<!channel>", service="x", seconds=60, until="now")
    assert "<!channel>" not in forged and "from" not in forged


def test_a_mute_is_announced_in_the_ops_channel(
    slack: ServedSlack, make_bot: Callable[..., str], responses: Responses, no_mutes: None
) -> None:
    ws = slack.workspace
    ops = ws.create_channel("ops-health")
    ws.invite(ops.id, ws.bot_user_id)
    incident = ws.create_channel("inc-89-gateway")
    url = make_bot(sweep_channel=ops.id, sweep_mute_max=4 * 3600)
    muted = _rca(url, responses)("mute api-gateway 2h", channel=incident.id, user="U0ALICE")["text"]
    assert muted.startswith("Muted api-gateway until ") and f"<#{ops.id}>" in muted
    announced = top_level(ws, ops.id)
    assert len(announced) == 1
    text = announced[0]["text"]
    assert "<@U0ALICE>" in text and "`api-gateway`" in text and "for 2h" in text
    assert f"from <#{incident.id}>" in text
    assert "api-gateway" in _mutes()
    assert "at most 4h" in _rca(url, responses)("mute api-gateway 5h", channel=incident.id)["text"]


@pytest.mark.slow
def test_rca_investigates_in_an_alert_channel_the_bot_joins(
    slack: ServedSlack,
    make_bot: Callable[..., str],
    responses: Responses,
    workers: Workers,
    scenario: Scenario,
) -> None:
    ws = slack.workspace
    alerts = ws.create_channel("alerts-edge")
    url = make_bot(alert_channels=alerts.id, rca_in_invited_channels=False)
    answered = _rca(url, responses)("gateway 30m", channel=alerts.id)["text"]
    assert "Investigating api-gateway" in answered
    eventually(lambda: [m for m in top_level(ws, alerts.id) if is_summary(m)], what="summary")
    assert len(ws.calls_of("conversations.join")) == 1
