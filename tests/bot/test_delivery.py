"""Every summary is delivered exactly once, whatever fails on the way (issue 13, item 3).

Real processes throughout: ``incident-copilot bot`` in HTTP mode, two ``rq worker``s, and a
``redis-server`` of this module's own (so that it can be stopped without touching the Redis
every other test uses). Slack is the Web API stand-in, which can answer 500 or lose an answer
after the call took effect.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from slack_testkit import SECRET, ServedSlack, eventually, is_summary, replies, top_level

from sandbox.faults import FAULTS
from sandbox.processes import BotProcess, RedisServer
from sandbox.slack_api import Workspace
from sandbox.slack_events import EventSender, slash_command
from sandbox.workers import Workers
from sandbox.world import Standins

pytestmark = pytest.mark.slow

DEADLINE = 30.0


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def drill_env(env: dict[str, str], own_redis: RedisServer) -> dict[str, str]:
    return {
        **env,
        "REDIS_URL": own_redis.url,
        "INVESTIGATION_DEADLINE": str(DEADLINE),
        "SLACK_SIGNING_SECRET": SECRET,
    }


@pytest.fixture(scope="module")
def drill_workers(
    drill_env: dict[str, str], names: tuple[str, str], own_redis: RedisServer
) -> Iterator[Workers]:
    pool = Workers(drill_env, names[1], redis_url=own_redis.url)
    pool.start(2)
    try:
        yield pool
    finally:
        pool.stop()


@pytest.fixture
def slow_sources(standins: Standins) -> Iterator[None]:
    """Every Datadog request takes a second, so that an investigation runs for a while."""
    plan = standins.apps["datadog"][FAULTS]
    plan.latency = 1.0
    try:
        yield
    finally:
        plan.latency = 0.0


@pytest.fixture
def bot(
    slack: ServedSlack,
    drill_env: dict[str, str],
    drill_workers: Workers,
    slow_sources: None,
    tmp_path: Path,
) -> Iterator[BotProcess]:
    env = {
        **drill_env,
        "SLACK_BOT_TOKEN": slack.workspace.token,
        "SLACK_API_URL": slack.url,
    }
    process = BotProcess(env, log=tmp_path / "bot.log").start()
    try:
        yield process
    finally:
        process.stop()
        print((tmp_path / "bot.log").read_text(errors="replace")[-3000:])


def _start(bot: BotProcess, ws: Workspace, name: str) -> str:
    channel = ws.create_channel(name, topic="checkout errors")
    sent = EventSender(bot.events_url, SECRET).command(
        slash_command("", channel_id=channel.id, channel_name=name)
    )
    assert sent.status == 200, sent.body
    return channel.id


def _delivered_once(ws: Workspace, channel: str) -> dict[str, Any]:
    """Wait for the summary and its detail, then check nothing else was posted."""
    summary = eventually(
        lambda: next((m for m in top_level(ws, channel) if is_summary(m)), None),
        timeout=DEADLINE + 90,
        what="the summary",
    )
    eventually(lambda: replies(ws, channel, summary["ts"]), timeout=30, what="the detail")
    time.sleep(3)  # anything posted twice would show by now
    assert len(top_level(ws, channel)) == 1, top_level(ws, channel)
    assert len(replies(ws, channel, summary["ts"])) == 1
    return summary


def _nothing_due(url: str) -> bool:
    client = redis.Redis.from_url(url)
    due = [k for k in client.scan_iter("*:bot:deliveries:due") if client.scard(k)]
    return not due


def test_a_bot_killed_mid_investigation_delivers_the_summary_once_after_restart(
    slack: ServedSlack, bot: BotProcess, own_redis: RedisServer
) -> None:
    ws = slack.workspace
    channel = _start(bot, ws, "inc-4101-bot-killed")
    progress = eventually(lambda: top_level(ws, channel), what="the progress message")[0]
    assert not is_summary(progress)
    bot.kill()
    bot.start()
    summary = _delivered_once(ws, channel)
    assert summary["ts"] == progress["ts"]  # the same message, replaced
    assert eventually(lambda: _nothing_due(own_redis.url), what="nothing left due")


def test_redis_down_for_15_seconds_loses_nothing_and_no_worker_exits(
    slack: ServedSlack, bot: BotProcess, own_redis: RedisServer, drill_workers: Workers
) -> None:
    ws = slack.workspace
    channel = _start(bot, ws, "inc-4102-redis-down")
    eventually(lambda: top_level(ws, channel), what="the progress message")
    own_redis.stop()
    time.sleep(15)
    own_redis.start()
    _delivered_once(ws, channel)
    assert drill_workers.alive() == 2
    assert eventually(lambda: _nothing_due(own_redis.url), what="nothing left due")


def test_slack_500s_on_the_first_post_and_the_summary_update_post_nothing_twice(
    slack: ServedSlack, bot: BotProcess, own_redis: RedisServer
) -> None:
    ws = slack.workspace
    ws.fail("chat.postMessage", after=True)  # the progress message lands, its answer is lost
    ws.fail("chat.update", times=3)  # and the edits fail, the summary's among them
    channel = _start(bot, ws, "inc-4103-slack-500")
    _delivered_once(ws, channel)
    failed = [c for c in ws.calls if c.status == 500]
    assert [c.method for c in failed] == ["chat.postMessage", *["chat.update"] * 3]
    assert eventually(lambda: _nothing_due(own_redis.url), what="nothing left due")


def test_a_bot_killed_right_after_the_ack_still_delivers_once(
    slack: ServedSlack, bot: BotProcess, own_redis: RedisServer
) -> None:
    ws = slack.workspace
    _start(bot, ws, "inc-4104-killed-after-ack")
    time.sleep(0.05)
    bot.kill()
    bot.start()
    channel = ws.channel_named("inc-4104-killed-after-ack")
    assert channel is not None
    try:
        _delivered_once(ws, channel.id)
    except AssertionError:
        for c in ws.calls:
            print("CALL", c.method, c.status, str(c.args)[:150])
        for m in ws.messages(channel.id):
            print("MSG", str(m)[:300])
        for k in redis.Redis.from_url(own_redis.url).scan_iter("*:bot:*"):
            print("KEY", k, redis.Redis.from_url(own_redis.url).type(k))
        raise
    assert eventually(lambda: _nothing_due(own_redis.url), what="nothing left due")


def test_slack_503s_on_reads_are_retried(
    slack: ServedSlack, bot: BotProcess, own_redis: RedisServer
) -> None:
    ws = slack.workspace
    ws.fail("conversations.info", status=503, times=2)
    ws.fail("conversations.history", status=502, times=1)
    channel = _start(bot, ws, "inc-4105-slack-reads")
    _delivered_once(ws, channel)
    assert [c.status for c in ws.calls if c.method == "conversations.info"][:3] == [503, 503, 200]
