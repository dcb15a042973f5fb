"""The health sweep in Slack, end to end: actions on Redis in, the Slack stand-in's record out.

The sweep job's actions are pushed with :meth:`SweepBook.push`, as the workers would; the bot is
the real Bolt app in HTTP mode with ``SWEEP_CHANNEL`` set, so its heads-up poster runs.
"""

from __future__ import annotations

import calendar
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from conftest import HOSTILE, group_id
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

from bot.app import CopilotApp
from bot.headsup import OPEN_INCIDENT_ACTION
from bot.sweeper import SweepPoster, incident_channel_name
from investigators.catalog import Catalog, load_catalog
from investigators.pipeline.store import RedisStore
from investigators.pipeline.sweep import SweepBook
from investigators.sweep import Action, Degradation, Evidence, Suspect, SweepRecord, SweepState
from sandbox.scenarios import Scenario
from sandbox.slack_events import EventSender, block_action, slash_command

MENTIONS = ("<!channel>", "<!here>", "<!everyone>", "<@U0EVIL>")
MEMBERS = ["U0ALICE", "U0BOB"]


@dataclass
class SweepBot:
    """The bot with its poster, the ops channel, and the sweep's keys it reads."""

    url: str
    app: CopilotApp
    ops: str
    book: SweepBook
    catalog: Catalog


@pytest.fixture
def sweep_bot(
    slack: ServedSlack,
    env: dict[str, str],
    scenario: Scenario,
    catalog_file: Path,
    redis_client: redis.Redis,
    names: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[SweepBot]:
    from bot.app import create_app
    from bot.server import EVENTS_PATH, serve_in_thread
    from bot.settings import load_settings

    prefix = names[0]
    for pattern in (f"{prefix}:sweep:*", f"{prefix}:bot:sweep:*"):  # a fresh sweep per test
        keys = list(redis_client.scan_iter(match=pattern, count=1000))
        if keys:
            redis_client.delete(*keys)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    ws = slack.workspace
    ops = ws.create_channel("ops-health")
    ws.invite(ops.id, ws.bot_user_id)
    catalog = load_catalog(catalog_file)
    for team in catalog.teams:
        ws.add_usergroup(group_id(team), [*MEMBERS, ws.bot_user_id])
    settings = load_settings(
        slack_bot_token=ws.token,
        slack_signing_secret=SECRET,
        slack_api_url=slack.url,
        investigation_deadline=20.0,
        sweep_channel=ops.id,
    )
    now = scenario.bundle.incident.started_at + 900
    app = create_app(settings, clock=lambda: now)
    assert app.sweep_poster is not None
    server = serve_in_thread(app)
    book = SweepBook(RedisStore.from_url(settings.redis_url), settings.pipeline())
    try:
        yield SweepBot(
            url=f"http://127.0.0.1:{server.server_address[1]}{EVENTS_PATH}",
            app=app,
            ops=ops.id,
            book=book,
            catalog=catalog,
        )
    finally:
        app.stop()
        server.shutdown()
        server.server_close()


def _degradation(
    catalog: Catalog, service: str, *, sweeps: int, status: str = "reported", title: str = ""
) -> Degradation:
    team = catalog.services[service].team
    window = 1_000_000 + sweeps
    first_seen = time.time() - 600 * sweeps
    suspect = Suspect(
        service=service,
        team=team,
        score=0.93,
        confidence="high",
        reasons=["error rate 12x its baseline", "p95 latency 8x"],
        explains=["checkout-api", "api-gateway"],
        evidence=[
            Evidence(
                source="logs",
                title=title or "connection pool exhausted",
                url="https://kibana.example/app/discover#/?q=pool",
            ),
            Evidence(source="metrics", title="p95 latency 2.1 s", url=""),
        ],
        change=Evidence(
            source="deploy", title="Deploy v2.4.1", url="https://github.com/org/r/pull/7"
        ),
    )
    return Degradation(
        id=f"{service}-{1_000_001}",
        service=service,
        team=team,
        first_window=1_000_001,
        last_window=window,
        sweeps=sweeps,
        status=status,  # type: ignore[arg-type]
        severity="high",
        first_seen=first_seen,
        reported_at=first_seen + 600,
        recovered_at=time.time() if status == "recovered" else None,
        last=suspect,
    )


def _action(kind: str, d: Degradation, **extra: object) -> Action:
    return Action(kind=kind, degradation=d, at=time.time(), **extra)  # type: ignore[arg-type]


def _other_service(catalog: Catalog, root: str) -> str:
    return next(s for s, c in catalog.services.items() if c.team != catalog.services[root].team)


def test_one_heads_up_edited_as_sweeps_confirm_then_recovered_in_its_thread(
    slack: ServedSlack, sweep_bot: SweepBot, scenario: Scenario
) -> None:
    ws, book, ops = slack.workspace, sweep_bot.book, sweep_bot.ops
    root = scenario.truth.root or ""
    team = sweep_bot.catalog.services[root].team
    muted = _other_service(sweep_bot.catalog, root)
    mutes = {muted: time.time() + 7200}
    book.push(
        [
            _action(
                "open",
                _degradation(sweep_bot.catalog, root, sweeps=2, title="pool gone" + HOSTILE),
                mention=True,
                mutes=mutes,
            )
        ]
    )
    posted = eventually(lambda: top_level(ws, ops), timeout=10, what="the heads-up")
    text = rendered(posted[0])
    assert f"Heads-up: {root} is degrading" in text
    assert f"<!subteam^{group_id(team)}>" in text
    assert text.count("<!subteam^") == 2  # in the blocks and the fallback, nobody else
    assert not any(m in text for m in MENTIONS)
    assert "&lt;!channel&gt;" in text  # the hostile evidence title, shown but inert
    assert "<https://github.com/org/r/pull/7|Deploy v2.4.1>" in text  # the change, linked
    assert "checkout-api" in text and "Seen in 2 sweeps" in text
    assert f"Muted: {muted} until" in text
    assert any(b["type"] == "actions" for b in posted[0]["blocks"])

    for sweeps in (3, 4):
        book.push([_action("confirm", _degradation(sweep_bot.catalog, root, sweeps=sweeps))])
    eventually(
        lambda: "Seen in 4 sweeps" in rendered(top_level(ws, ops)[0]), timeout=10, what="edits"
    )
    assert len(top_level(ws, ops)) == 1  # edited, never re-posted
    assert len(ws.calls_of("chat.postMessage")) == 1
    assert len(ws.calls_of("chat.update")) == 2
    edited = rendered(top_level(ws, ops)[0])
    assert edited.count(f"<!subteam^{group_id(team)}>") == 2  # the mention stays as it was

    # A second poster (another replica) does nothing while the first leads; after a restart
    # (the first one gone) it handles only what is new, and nothing claimed already.
    poster = sweep_bot.app.sweep_poster
    assert poster is not None
    second = SweepPoster(
        client=poster.client,
        book=book,
        state=poster.state,
        channel=ops,
        catalog=poster.catalog,
    )
    assert second.handle_new() == 0
    poster.stop()
    assert second.handle_new() == 0
    poster.state.set_sweep_cursor(0)  # even a lost position re-posts nothing
    assert second.handle_new() == 0
    assert poster.state.sweep_cursor() == 3

    recovered = _degradation(sweep_bot.catalog, root, sweeps=4, status="recovered")
    book.push([_action("recovered", recovered)])
    assert second.handle_new() == 1
    message = top_level(ws, ops)[0]
    assert len(top_level(ws, ops)) == 1
    assert f"Recovered: {root}" in rendered(message)
    assert not any(b["type"] == "actions" for b in message["blocks"])
    thread = replies(ws, ops, message["ts"])
    assert len(thread) == 1 and thread[0]["text"].startswith("Recovered at ")
    assert thread[0]["text"].endswith(" UTC.")
    assert second.handle_new() == 0
    second.stop()


def test_below_the_mention_severity_the_team_is_named_not_mentioned(
    slack: ServedSlack, sweep_bot: SweepBot, scenario: Scenario
) -> None:
    ws = slack.workspace
    service = _other_service(sweep_bot.catalog, scenario.truth.root or "")
    team = sweep_bot.catalog.services[service].team
    d = _degradation(sweep_bot.catalog, service, sweeps=2)
    sweep_bot.book.push([_action("open", d, mention=False)])
    posted = eventually(lambda: top_level(ws, sweep_bot.ops), timeout=10, what="the heads-up")
    text = rendered(posted[0])
    assert "<!subteam^" not in text and f"*Owning team:* {team}" in text
    assert not any(m in text for m in MENTIONS)


@pytest.mark.slow
def test_the_button_opens_an_incident_channel_with_the_team_and_investigates(
    slack: ServedSlack, sweep_bot: SweepBot, scenario: Scenario, workers: Workers
) -> None:
    ws, ops = slack.workspace, sweep_bot.ops
    root = scenario.truth.root or ""
    d = _degradation(sweep_bot.catalog, root, sweeps=2)
    sweep_bot.book.save(SweepState(open={root: d}))
    sweep_bot.book.push([_action("open", d, mention=False)])
    headsup = eventually(lambda: top_level(ws, ops), timeout=10, what="the heads-up")[0]
    taken = ws.create_channel(incident_channel_name(root, time.time()))  # name_taken: -2

    sender = EventSender(sweep_bot.url, SECRET)
    click = block_action(OPEN_INCIDENT_ACTION, d.id, channel_id=ops, message_ts=headsup["ts"])
    assert sender.action(click).status == 200
    name = f"{taken.name}-2"
    channel = eventually(lambda: ws.channel_named(name), timeout=10, what=name)
    assert channel.name.startswith(f"inc-{time.strftime('%Y%m%d', time.gmtime())}-")
    assert set(MEMBERS) | {ws.bot_user_id} <= channel.members
    invites = ws.calls_of("conversations.invite")
    assert len(invites) == 1 and ws.bot_user_id not in invites[0].args["users"]

    first = eventually(lambda: top_level(ws, channel.id), timeout=10, what="the evidence")[0]
    assert "From the health sweep" in rendered(first) and "connection pool" in rendered(first)
    assert "<!subteam^" not in rendered(first)
    summary = eventually(
        lambda: [m for m in top_level(ws, channel.id) if is_summary(m)], what="the summary"
    )[0]
    assert root in rendered(summary)
    note = replies(ws, ops, headsup["ts"])
    assert len(note) == 1 and f"<#{channel.id}>" in note[0]["text"]
    edited = top_level(ws, ops)[0]
    assert f"Incident channel: <#{channel.id}>" in rendered(edited)
    assert not any(b["type"] == "actions" for b in edited["blocks"])

    # A second click opens nothing more; it says where the channel is.
    again = block_action(OPEN_INCIDENT_ACTION, d.id, channel_id=ops, message_ts=headsup["ts"])
    assert sender.action(again).status == 200
    eventually(lambda: ws.calls_of("chat.postEphemeral"), timeout=5, what="the ephemeral")
    assert f"<#{channel.id}>" in ws.calls_of("chat.postEphemeral")[-1].args["text"]
    assert len(ws.calls_of("conversations.create")) == 2  # name_taken, then -2
    assert len(top_level(ws, channel.id)) == 2  # the evidence and the one summary


def test_rca_sweep_and_mute_answer_privately(
    slack: ServedSlack, sweep_bot: SweepBot, responses: Responses, scenario: Scenario
) -> None:
    ws, book, ops = slack.workspace, sweep_bot.book, sweep_bot.ops
    sender = EventSender(sweep_bot.url, SECRET)

    def rca(text: str) -> dict[str, Any]:
        fields = slash_command(text, channel_id=ops, channel_name="ops")
        found = command_answer(sender, responses, fields)
        assert found.get("response_type") == "ephemeral"
        return found

    assert "No sweep has run yet" in rca("sweep")["text"]

    root = scenario.truth.root or ""
    other = _other_service(sweep_bot.catalog, root)
    pending = _degradation(sweep_bot.catalog, other, sweeps=1, status="pending")
    covered = _degradation(sweep_bot.catalog, root, sweeps=2, status="suppressed")
    covered.suppressed_by = "covered by #inc-9" + HOSTILE
    book.save(
        SweepState(
            open={other: pending, root: covered},
            last=SweepRecord(
                window=1_000_002,
                at=time.time(),
                services=40,
                anomalous=6,
                suspects=[root, other],
                seconds=3.4,
                sources_missing=["github"],
            ),
        )
    )
    status = rca("sweep")["text"]
    assert "Last sweep" in status and "40 services" in status and "6 anomalous" in status
    assert "github" in status and "3.4 s" in status
    assert "pending" in status and "suppressed (covered by #inc-9" in status
    assert not any(m in status for m in MENTIONS) and "&lt;!channel&gt;" in status

    muted = rca(f"mute {other} 2h")["text"]
    assert muted.startswith(f"Muted {other} until ") and "next heads-up" in muted
    until = book.mutes()[other]
    assert 7190 < until - time.time() <= 7200
    assert f"Muted: {other} until" in rca("sweep")["text"]

    unknown = rca("mute api-gatewy 2h")["text"]
    assert "Did you mean" in unknown and "api-gateway" in unknown
    assert "not a duration" in rca("mute api-gateway forever")["text"]
    assert "for how long" in rca("mute api-gateway")["text"]
    assert "api-gateway" not in book.mutes()
    assert "/rca sweep" in rca("help")["text"]
    announced = [c.args for c in ws.calls_of("chat.postMessage")]
    assert len(announced) == 1 and announced[0]["channel"] == ops  # the one mute, announced
    assert f"heads-ups for `{other}` for 2h" in announced[0]["text"]


def test_incident_channel_names_follow_slack_rules() -> None:
    at = calendar.timegm((2025, 3, 9, 12, 0, 0, 0, 0, 0))
    assert incident_channel_name("payments-db", at) == "inc-20250309-payments-db"
    assert incident_channel_name("Payments DB", at, 3) == "inc-20250309-payments-db-3"
    long = incident_channel_name("x" * 200 + uuid.uuid4().hex, at, 12)
    assert len(long) == 80 and long.endswith("-12")
