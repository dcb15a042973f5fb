"""The health sweep in Slack: heads-ups in the ops channel, and incident channels opened from them.

The sweep itself runs on the workers (:mod:`investigators.pipeline.sweep`) and leaves actions on
a list in Redis. :class:`SweepPoster`, a daemon thread of the bot, follows that list: ``open``
posts a heads-up in ``SWEEP_CHANNEL``, ``confirm`` edits it, ``recovered`` edits it once more and
says so in its thread. Every action is claimed once in Redis before it is handled, and the
position reached is kept there, so a restart or a second replica posts nothing twice; a lease
makes one poster at a time do the posting, in order.

:func:`open_incident` is what the heads-up's button does: create ``inc-<date>-<service>``,
invite the owning team's user group, post the sweep's evidence there and start the usual
investigation in it.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from bot.copilot import Copilot
from bot.dedupe import BotState
from bot.escape import LinkPolicy, group_mention
from bot.headsup import (
    Block,
    headsup_blocks,
    headsup_text,
    incident_intro_blocks,
    incident_intro_text,
    recovered_reply,
)
from investigators.catalog import Catalog
from investigators.pipeline.sweep import SweepBook
from investigators.sweep import Action, Degradation

log = logging.getLogger(__name__)

#: Seconds between two looks at the action list.
POLL = 1.0
#: Seconds the poster's lease lasts unless renewed: how long a crashed poster holds things up.
LEASE = 30
#: Tries of one action before it is given up (Slack refused it each time).
ATTEMPTS = 3
#: Polls between two checks that the action list was not reset under the cursor.
RESET_CHECK = 60
#: Slack's channel names: lowercase letters, digits, hyphens and underscores, 80 at most.
MAX_CHANNEL_NAME = 80
_NOT_NAME = re.compile(r"[^a-z0-9_-]+")
#: Names tried before giving up: ``inc-…``, ``inc-…-2`` … ``inc-…-20``.
NAME_TRIES = 20


class SweepPoster:
    """Posts, edits and threads the heads-ups of the sweep's actions in one channel."""

    def __init__(
        self,
        *,
        client: WebClient,
        book: SweepBook,
        state: BotState,
        channel: str,
        catalog: Callable[[], Catalog],
        poll: float = POLL,
        schedule: Callable[[], object] | None = None,
        schedule_every: float = 300.0,
        links: LinkPolicy | None = None,
    ) -> None:
        self.client = client
        self.links = links  # the hosts a heads-up may link to
        self.book = book
        self.state = state
        self.channel = channel
        self.catalog = catalog
        self.poll = poll
        self.owner = uuid.uuid4().hex
        self._failures: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._polls = 0
        self.schedule = schedule  # keeps the sweeps' RQ schedule alive (idempotent)
        self.schedule_every = schedule_every

    def start(self) -> None:
        """Follow the action list on a daemon thread."""
        self._thread = threading.Thread(target=self.run, daemon=True, name="sweep-poster")
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop following and give the lease up."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        try:
            self.state.leave_sweep(self.owner)
        except Exception:
            log.exception("giving up the sweep poster's lease failed")

    def run(self) -> None:
        """Poll until stopped; an error is logged and the next poll tries again."""
        scheduled = 0.0
        while not self._stop.is_set():
            if self.schedule is not None and time.monotonic() >= scheduled:
                try:
                    self.schedule()
                    scheduled = time.monotonic() + self.schedule_every
                except Exception:
                    log.exception("scheduling the next sweep failed")
                    scheduled = time.monotonic() + self.poll * 10
            try:
                self.handle_new()
            except Exception:
                log.exception("the sweep poster's poll failed")
            self._stop.wait(self.poll)

    def handle_new(self) -> int:
        """Handle the actions not handled yet, oldest first; returns how many this call did."""
        if not self.state.lead_sweep(self.owner, seconds=LEASE):
            return 0  # another poster leads
        cursor = self.state.sweep_cursor()
        actions = self.book.actions(cursor)
        self._polls += 1
        if not actions and cursor and self._polls % RESET_CHECK == 0:
            # The list expired and started again: its positions restarted, the claims did not.
            if len(self.book.actions(0)) < cursor:
                self.state.set_sweep_cursor(0)
            return 0
        done = 0
        for position, action in enumerate(actions, start=cursor):
            if self._stop.is_set():
                break
            identity = _identity(action)
            if self.state.claim_sweep_action(identity):
                try:
                    self.handle(action)
                    done += 1
                except Exception:
                    tries = self._failures.get(identity, 0) + 1
                    self._failures[identity] = tries
                    log.exception("sweep action %s failed (try %d)", identity, tries)
                    if tries < ATTEMPTS:
                        self.state.release_sweep_action(identity)
                        return done  # keep the order: try this one again next poll
            self.state.set_sweep_cursor(position + 1)
        return done

    def handle(self, action: Action) -> None:
        """Post, edit or thread one action's heads-up."""
        d = action.degradation
        group = self._group(d)
        posted = self.state.headsup(d.id)
        if posted is None:
            if action.kind == "recovered":
                log.info("%s recovered before its heads-up was posted: nothing to say", d.id)
                return
            # An open, or a confirm whose open never made it: post the heads-up now.
            mention = action.mention
            response = self._post(
                text=headsup_text(d, slack_group=group, mention=mention),
                blocks=headsup_blocks(
                    d, slack_group=group, mention=mention, mutes=action.mutes, links=self.links
                ),
            )
            self.state.remember_headsup(d.id, ts=str(response["ts"]), mention=mention)
            return
        ts, mention = posted
        self.client.chat_update(
            channel=self.channel,
            ts=ts,
            text=headsup_text(d, slack_group=group, mention=mention),
            blocks=headsup_blocks(
                d,
                slack_group=group,
                mention=mention,
                mutes=action.mutes,
                incident_channel=self.state.incident_of(d.id),
                links=self.links,
            ),
        )
        if action.kind == "recovered":
            self.client.chat_postMessage(
                channel=self.channel, thread_ts=ts, text=recovered_reply(d)
            )

    def _post(self, *, text: str, blocks: list[Block]) -> SlackResponse:
        try:
            return self.client.chat_postMessage(channel=self.channel, text=text, blocks=blocks)
        except SlackApiError as exc:
            if exc.response.get("error") != "not_in_channel":
                raise
            self.client.conversations_join(channel=self.channel)  # a public ops channel
            return self.client.chat_postMessage(channel=self.channel, text=text, blocks=blocks)

    def _group(self, d: Degradation) -> str | None:
        return slack_group_of(self.catalog(), d)


def _identity(action: Action) -> str:
    """What makes an action unique: its degradation, its kind and the sweep's window."""
    d = action.degradation
    return f"{d.id}:{action.kind}:{d.last_window}"


def slack_group_of(catalog: Catalog, d: Degradation) -> str | None:
    """The user group of the degraded service's owners (the service's, else its team's)."""
    service = catalog.services.get(d.service)
    if service is not None and service.slack_group:
        return service.slack_group
    team = catalog.teams.get(d.team)
    return team.slack_group if team is not None else None


def incident_channel_name(service: str, at: float, attempt: int = 1) -> str:
    """``inc-<YYYYMMDD>-<service>`` in Slack's channel-name rules, ``-N`` from the second try."""
    suffix = f"-{attempt}" if attempt > 1 else ""
    date = time.strftime("%Y%m%d", time.gmtime(at))
    slug = _NOT_NAME.sub("-", service.lower()).strip("-_") or "service"
    base = f"inc-{date}-{slug}"[: MAX_CHANNEL_NAME - len(suffix)].rstrip("-_")
    return base + suffix


def find_degradation(book: SweepBook, degradation_id: str) -> Degradation | None:
    """A degradation the sweep still tracks (open, or recently closed), by id."""
    state = book.state()
    found = next((d for d in state.open.values() if d.id == degradation_id), None)
    return found or next((d for d in reversed(state.closed) if d.id == degradation_id), None)


def open_incident(
    copilot: Copilot,
    book: SweepBook,
    *,
    degradation_id: str,
    ops_channel: str,
    ops_ts: str,
    user: str,
    bot_user: str | None = None,
    now: float | None = None,
) -> str | None:
    """The heads-up's button: open the incident channel and investigate there; its id."""
    client, state = copilot.client, copilot.state
    existing = state.incident_of(degradation_id)
    if existing is not None or not state.claim_incident(degradation_id):
        where = f"<#{existing}>" if existing else "being opened right now"
        client.chat_postEphemeral(
            channel=ops_channel, user=user, text=f"The incident channel is {where}."
        )
        return existing
    try:
        d = find_degradation(book, degradation_id)
        if d is None:
            client.chat_postEphemeral(
                channel=ops_channel,
                user=user,
                text="The sweep no longer tracks this degradation: `/rca SERVICE` in a channel "
                "investigates it there.",
            )
            state.release_incident(degradation_id)
            return None
        channel = _create_channel(client, d.service, time.time() if now is None else now)
    except Exception:
        state.release_incident(degradation_id)
        raise
    state.claim_auto(channel)  # its channel_created event must not start a second one
    state.remember_incident(degradation_id, channel)
    catalog = copilot.catalog()
    group = slack_group_of(catalog, d)
    invited = _invite_group(client, channel, group, bot_user=bot_user)
    client.chat_postMessage(
        channel=channel,
        text=incident_intro_text(d),
        blocks=incident_intro_blocks(
            d, slack_group=group, ops_channel=ops_channel, links=copilot.links
        ),
    )
    copilot.investigate(channel, services=[d.service])
    note = f"Incident channel opened: <#{channel}>; the investigation runs there."
    if not invited:
        note += " I could not invite the owning team's group: add them by hand."
    client.chat_postMessage(channel=ops_channel, thread_ts=ops_ts, text=note)
    posted = state.headsup(d.id)
    if posted is not None:  # the heads-up links the channel instead of offering to open one
        ts, mention = posted
        client.chat_update(
            channel=ops_channel,
            ts=ts,
            text=headsup_text(d, slack_group=group, mention=mention),
            blocks=headsup_blocks(
                d,
                slack_group=group,
                mention=mention,
                mutes=book.mutes(),
                incident_channel=channel,
                links=copilot.links,
            ),
        )
    return channel


def _create_channel(client: WebClient, service: str, at: float) -> str:
    for attempt in range(1, NAME_TRIES + 1):
        name = incident_channel_name(service, at, attempt)
        try:
            created = client.conversations_create(name=name, is_private=False)
        except SlackApiError as exc:
            if exc.response.get("error") == "name_taken":
                continue
            raise
        return str(created["channel"]["id"])
    raise RuntimeError(f"every name from {incident_channel_name(service, at)} on is taken")


def _invite_group(
    client: WebClient, channel: str, slack_group: str | None, *, bot_user: str | None
) -> bool:
    """Invite the user group's members; False when there is no group or Slack refused."""
    if slack_group is None or group_mention(slack_group) is None:
        return False
    try:
        members = client.usergroups_users_list(usergroup=slack_group.strip())
        found: list[object] = members.get("users") or []
        users = [str(u) for u in found if u != bot_user]
        if users:  # up to 1000 a call; force skips the ones that cannot be invited
            client.conversations_invite(channel=channel, users=",".join(users[:1000]), force=True)
    except SlackApiError as exc:
        log.warning("inviting %s to %s failed: %s", slack_group, channel, exc.response.get("error"))
        return False
    return True
