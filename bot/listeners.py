"""Bolt listeners: each acks at once, hands the work to the copilot and returns.

Retried and duplicated events are dropped by event id before any listener runs; the bot's own
messages and edits are never answered. ``/rca`` acts only where :class:`~bot.commands.RcaPolicy`
allows (:func:`~bot.commands.place_refusal`), and mutes are announced in the ops channel. It
asks Slack nothing before its ack: where it may act is decided afterwards, with the channel's
``conversations.info``, and said to the person through the command's ``response_url``.
"""

from __future__ import annotations

import logging
import re
import time
import traceback
from typing import Any

from slack_bolt import Ack, App, BoltResponse
from slack_sdk.errors import SlackApiError

from bot.answers import answer, is_command
from bot.blocks import RERUN_ACTION, WRONG_ACTION
from bot.channels import is_incident_channel
from bot.commands import (
    HELP,
    RcaCommand,
    RcaPolicy,
    mute_announcement,
    parse_rca,
    place_refusal,
)
from bot.copilot import HIDDEN, Asked, Copilot, place_of
from bot.dedupe import BotState
from bot.headsup import OPEN_INCIDENT_ACTION, clock_time, sweep_status_text
from bot.sweeper import open_incident
from investigators.pipeline.sweep import SweepBook
from investigators.redact import redact

log = logging.getLogger(__name__)


def register(
    app: App,
    copilot: Copilot,
    *,
    pattern: str,
    key_prefix: str,
    sweep_book: SweepBook,
    policy: RcaPolicy | None = None,
) -> None:
    """Attach the middleware and every listener to ``app``; ``policy`` (``Settings.rca_policy()``)
    says where ``/rca`` may act, defaulting to incident and invited channels, 24 h mutes."""
    state = copilot.state
    policy = policy or RcaPolicy(incident_pattern=pattern)

    @app.error
    def on_error(error: Exception, body: dict[str, Any]) -> None:
        log_listener_error(error, body, state)

    @app.middleware
    def drop_redeliveries(body: dict[str, Any], next: Any) -> BoltResponse | None:
        event_id = body.get("event_id")
        if event_id and not state.first_delivery(str(event_id)):
            return BoltResponse(status=200, body="")
        next()
        return None

    @app.event("channel_created")
    def channel_created(event: dict[str, Any]) -> None:
        channel = event.get("channel") or {}
        if is_incident_channel(str(channel.get("name", "")), pattern):
            copilot.investigate(str(channel["id"]), automatic=True)

    @app.event("channel_rename")
    def channel_rename(event: dict[str, Any]) -> None:
        channel = event.get("channel") or {}
        if is_incident_channel(str(channel.get("name", "")), pattern):
            copilot.investigate(str(channel["id"]), automatic=True)

    @app.event("member_joined_channel")
    def member_joined(event: dict[str, Any], context: dict[str, Any]) -> None:
        if event.get("user") != context.get("bot_user_id"):
            return
        channel = str(event["channel"])
        private = event.get("channel_type") == "G"
        if private or is_incident_channel(str(copilot.channel_info(channel).get("name")), pattern):
            copilot.investigate(channel, automatic=True)

    @app.event("app_mention")
    def app_mention(event: dict[str, Any]) -> None:
        _reply(copilot, state, event, thread_only=False)

    @app.event("message")
    def message(event: dict[str, Any], context: dict[str, Any]) -> None:
        if event.get("subtype") or event.get("bot_id"):
            return  # edits, joins, bots (ourselves included)
        thread_ts = event.get("thread_ts")
        bot = context.get("bot_user_id")
        if not thread_ts or thread_ts == event.get("ts") or event.get("user") == bot:
            return
        if bot and f"<@{bot}>" in str(event.get("text", "")):
            return  # app_mention answers it
        _reply(copilot, state, event, thread_only=True)

    @app.command("/rca")
    def rca(ack: Ack, command: dict[str, Any]) -> None:
        # Nothing here asks Slack before the ack: Slack gives it 3 s. What depends on the
        # channel (may the bot act there?) is decided after it, and said privately.
        channel = str(command["channel_id"])
        parsed = parse_rca(
            str(command.get("text", "")), copilot.catalog(), mute_max=policy.mute_max
        )
        if parsed.help:
            ack(text=HELP, response_type="ephemeral")
            return
        if parsed.error:
            ack(text=parsed.error, response_type="ephemeral")
            return
        asked = Asked(
            user=str(command.get("user_id", "")),
            response_url=str(command.get("response_url") or ""),
            scope=", ".join(parsed.services) or "the incident",
        )
        if parsed.sweep or parsed.mute is not None:
            ack()
            copilot.pool.submit(
                _sweep_command, copilot, sweep_book, policy, parsed, channel=channel, asked=asked
            )
            return
        # Stored before the ack (a few Redis writes): a bot that dies after acking has
        # already left the request for the next one to check, start and deliver.
        started = copilot.investigate(
            channel, services=parsed.services or None, window=parsed.window, asked=asked
        )
        if started is None:
            current = state.current(channel)
            where = f" (message {current[1]})" if current else ""
            ack(
                text=f"An investigation is already running here{where}; its summary will "
                "replace the progress message.",
                response_type="ephemeral",
            )
            return
        ack()  # the courier says "Investigating…", or why not here (Copilot.begin)

    @app.action(RERUN_ACTION)
    def rerun(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        channel = str(body["channel"]["id"])
        if copilot.investigate(channel) is None:
            copilot.client.chat_postEphemeral(
                channel=channel,
                user=str(body["user"]["id"]),
                text="An investigation is already running here.",
            )

    @app.action(WRONG_ACTION)
    def wrong_root_cause(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        channel = str(body["channel"]["id"])
        user = str(body["user"]["id"])
        investigation_id = str(body["actions"][0].get("value", ""))
        state.record_feedback(
            investigation_id,
            key_prefix=key_prefix,
            user=user,
            kind="wrong_root_cause",
            channel=channel,
        )
        copilot.client.chat_postEphemeral(
            channel=channel,
            user=user,
            text="Thanks: recorded as a wrong root cause with this investigation. "
            "Tell the thread what it was, it helps the next person.",
        )

    @app.action(OPEN_INCIDENT_ACTION)
    def open_incident_channel(ack: Ack, body: dict[str, Any], context: dict[str, Any]) -> None:
        ack()
        copilot.pool.submit(
            _open_incident_safely,
            copilot,
            sweep_book,
            degradation_id=str(body["actions"][0].get("value", "")),
            ops_channel=str(body["channel"]["id"]),
            ops_ts=str((body.get("message") or {}).get("ts", "")),
            user=str(body["user"]["id"]),
            bot_user=context.get("bot_user_id"),
        )


_UNREACHABLE = "The health sweep's state is unreachable right now (Redis); try again shortly."


def _refusal(copilot: Copilot, policy: RcaPolicy, channel: str) -> str | None:
    """Why ``/rca`` may not act in ``channel`` as the bot sees it, or None when it may."""
    try:
        info = copilot.channel_info(channel)
    except SlackApiError as exc:
        error = exc.response.get("error")
        if error not in HIDDEN:
            log.warning("conversations.info %s: %s", channel, error)
            return f"I could not look this channel up ({error}); try again shortly."
        return place_refusal(policy, place_of(channel))  # hidden: private, the bot not in it
    return place_refusal(policy, place_of(channel, info))


def _sweep_command(
    copilot: Copilot,
    book: SweepBook,
    policy: RcaPolicy,
    parsed: RcaCommand,
    *,
    channel: str,
    asked: Asked,
) -> None:
    """``/rca sweep`` and ``/rca mute``, after the ack: where, then what; said privately."""
    try:
        text = _refusal(copilot, policy, channel)
        if text is None and parsed.sweep:
            text = _sweep_status(book)
        elif text is None and parsed.mute is not None:
            text = _mute(
                copilot,
                book,
                ops_channel=policy.ops_channel,
                service=parsed.services[0],
                seconds=parsed.mute,
                user=asked.user,
                channel=channel,
            )
    except Exception:
        log.exception("/rca in %s failed", channel)
        text = "Something went wrong (see the bot's log); try again shortly."
    copilot.respond(channel, asked, text or "")


def _sweep_status(book: SweepBook) -> str:
    """``/rca sweep``: answered from the sweep's keys (real time, not a clock)."""
    now = time.time()
    try:
        return sweep_status_text(book.state(), book.mutes(now), now=now)
    except Exception:
        log.exception("the sweep's state could not be read")
        return _UNREACHABLE


def _mute(
    copilot: Copilot,
    book: SweepBook,
    *,
    ops_channel: str | None,
    service: str,
    seconds: float,
    user: str,
    channel: str,
) -> str:
    """``/rca mute``: announced in the ops channel first, so that no mute goes unseen there."""
    now = time.time()
    if ops_channel is None:  # no heads-ups are posted anywhere: nobody to tell
        try:
            until = book.mute(service, seconds, now=now)
        except Exception:
            log.exception("the sweep's mutes could not be written")
            return _UNREACHABLE
        return (
            f"Muted {service} until {clock_time(until, now=now)}; the next heads-up shows it. "
            "Not announced: no ops channel is configured (SWEEP_CHANNEL)."
        )
    text = mute_announcement(
        user=user,
        service=service,
        seconds=seconds,
        until=clock_time(now + seconds, now=now),
        channel=None if channel == ops_channel else channel,
    )
    try:
        posted = copilot.client.chat_postMessage(channel=ops_channel, text=text)
    except SlackApiError as exc:
        log.warning("announcing a mute in %s: %s", ops_channel, exc.response.get("error"))
        return (
            f"Not muted: I could not announce it in <#{ops_channel}> "
            f"({exc.response.get('error')}). Invite me there with `/invite @incident-copilot`."
        )
    try:
        until = book.mute(service, seconds, now=now)
    except Exception:
        log.exception("the sweep's mutes could not be written")
        try:
            copilot.client.chat_update(
                channel=ops_channel, ts=str(posted["ts"]), text=f"~{text}~ (not muted: Redis)"
            )
        except SlackApiError:
            log.exception("taking back the mute's announcement failed")
        return _UNREACHABLE
    return (
        f"Muted {service} until {clock_time(until, now=now)}, announced in <#{ops_channel}>; "
        "the next heads-up shows it."
    )


def _open_incident_safely(copilot: Copilot, book: SweepBook, **where: Any) -> None:
    try:
        open_incident(copilot, book, **where)
    except Exception:
        log.exception("opening an incident channel for %s failed", where.get("degradation_id"))
        copilot.client.chat_postEphemeral(
            channel=where["ops_channel"],
            user=where["user"],
            text="I could not open the incident channel (see the bot's log); create it by hand "
            "and I will investigate there, or click again.",
        )


_MENTION = re.compile(r"<@[A-Z0-9]+>")


def _reply(copilot: Copilot, state: BotState, event: dict[str, Any], *, thread_only: bool) -> None:
    channel = str(event["channel"])
    thread_ts = event.get("thread_ts")
    investigation_id = state.thread_investigation(channel, str(thread_ts)) if thread_ts else None
    if investigation_id is None and not thread_only:
        current = state.current(channel)
        investigation_id = current[0] if current else None
    if investigation_id is None:
        if thread_only:
            return
        text = "No investigation in this channel yet: `/rca` starts one, `/rca help` explains."
    else:
        summary = copilot.executor.summary(investigation_id)
        question = _MENTION.sub(" ", str(event.get("text", ""))).strip()
        if summary is None:
            text = "Still investigating; ask again once the summary is posted."
        elif copilot.model is not None and question and not is_command(question):
            copilot.answer_in_thread(
                channel=channel,
                thread_ts=str(thread_ts or event["ts"]),
                investigation_id=investigation_id,
                question=question,
            )
            return
        else:
            text = answer(
                _MENTION.sub(" ", str(event.get("text", ""))),
                summary=summary,
                record=copilot.executor.record(investigation_id),
                catalog=copilot.catalog(),
                links=copilot.links,
            )
    copilot.client.chat_postMessage(
        channel=channel, thread_ts=str(thread_ts or event["ts"]), text=text
    )


def log_listener_error(error: Exception, body: dict[str, Any], state: BotState) -> None:
    """One log line for a listener that failed: what it was handling, the investigation it
    belongs to when one can be told, and the traceback with every secret redacted."""
    kind = str(body.get("command") or (body.get("event") or {}).get("type") or body.get("type"))
    try:
        investigation = _investigation_of(body, state)
    except Exception:  # Redis away, a body of another shape: the error is what matters here
        investigation = None
    trace = redact("".join(traceback.format_exception(error)), limit=4000)
    log.error(
        "listener for %s failed (investigation %s): %s",
        redact(kind, limit=80),
        investigation or "unknown",
        trace.rstrip(),
    )


def _investigation_of(body: dict[str, Any], state: BotState) -> str | None:
    """The investigation a request is about: a button's value, a thread's, or the channel's."""
    for action in body.get("actions") or []:
        if action.get("action_id") in (RERUN_ACTION, WRONG_ACTION) and action.get("value"):
            return str(action["value"])
    event = body.get("event") or {}
    channel = event.get("channel") or body.get("channel_id") or (body.get("channel") or {})
    channel = channel.get("id") if isinstance(channel, dict) else channel
    if not channel:
        return None
    thread = event.get("thread_ts")
    if thread:
        found = state.thread_investigation(str(channel), str(thread))
        if found:
            return found
    current = state.current(str(channel))
    return current[0] if current else None
