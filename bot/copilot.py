"""What the bot does for a channel: join, start an investigation, hand its message on.

Listeners call :meth:`Copilot.investigate`, which only writes to Redis, so ``/rca`` calls it
before its ack. The message ("Investigating…", edited as sources report, then replaced by the
summary with the detail in its thread) is the :class:`~bot.delivery.Courier`'s: kept in Redis and
delivered once, by whichever bot process is up. Everything that asks Slack happens there, after
the ack: :meth:`Copilot.begin` reads the channel, and for ``/rca`` decides with what it read
whether the bot may act there (:func:`~bot.commands.place_refusal`), answering the person who
asked through the command's ``response_url``. Thread answers run on the copilot's own threads,
never Bolt's.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from bot.answers import answer
from bot.blocks import answer_text
from bot.channels import mentioned_services
from bot.commands import Place, RcaPolicy, place_refusal
from bot.dedupe import BotState
from bot.delivery import Courier, Delivery
from bot.escape import LinkPolicy, escape
from investigators.catalog import Catalog
from investigators.pipeline import (
    Handle,
    IncidentRequest,
    Narrative,
    ProgressEvent,
    QaAnswer,
    Record,
    Summary,
)

log = logging.getLogger(__name__)

#: How many of a channel's first messages are read for service names (alert bots post first).
FIRST_MESSAGES = 10
#: Without a window, how long before now the incident is taken to have started: channels
#: open after an alert fires, which is after the trouble began.
LOOKBACK = 15 * 60.0
#: Seconds an answer to a command's ``response_url`` may take.
RESPOND_TIMEOUT = 5
#: What ``conversations.info`` answers for a private channel the bot is not in.
HIDDEN = frozenset({"channel_not_found", "not_in_channel"})


class Investigations(Protocol):
    """What the bot needs from the pipeline (:class:`~investigators.pipeline.RqExecutor`)."""

    def start(self, request: IncidentRequest) -> Handle: ...

    def progress(self, investigation_id: str, since: int = 0) -> list[ProgressEvent]: ...

    def summary(self, investigation_id: str) -> Summary | None: ...

    def record(self, investigation_id: str) -> Record | None: ...

    def narrative(self, investigation_id: str) -> Narrative | None: ...

    def ask(self, investigation_id: str, question: str) -> QaAnswer | None: ...


def place_of(channel: str, info: dict[str, Any] | None = None) -> Place:
    """What the bot sees of a channel, from ``conversations.info``'s object; ``info`` is None
    when Slack hides the channel (a private one the bot is not in: ``channel_not_found``)."""
    if info is None:
        return Place(channel, visible=False, private=True)
    return Place(
        channel,
        name=str(info.get("name") or ""),
        private=bool(info.get("is_private")),
        member=bool(info.get("is_member")),
    )


@dataclass(frozen=True, slots=True)
class Asked:
    """Who asked for an investigation with ``/rca``, and where to answer them privately.

    Kept in Redis beside the delivery until :meth:`Copilot.begin` has checked that the bot may
    act in the channel: a delivery without one was started by the bot itself (a new incident
    channel) and needs no such check.
    """

    user: str
    response_url: str = ""
    scope: str = "the incident"  # what "Investigating …" names

    def to_json(self) -> str:
        """The stored form."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Asked:
        """From the stored form."""
        found = json.loads(raw)
        return cls(str(found["user"]), str(found["response_url"]), str(found["scope"]))


@dataclass(frozen=True, slots=True)
class Started:
    """An investigation asked for in a channel (the courier starts it and posts its message)."""

    channel: str
    incident_id: str


class Copilot:
    """The bot's work, shared by every listener."""

    def __init__(
        self,
        *,
        client: WebClient,
        executor: Investigations,
        state: BotState,
        catalog: Callable[[], Catalog],
        deadline: float,
        clock: Callable[[], float] = time.time,
        poll: float = 0.25,
        model: str | None = None,
        links: LinkPolicy | None = None,
        courier: Courier | None = None,
        policy: RcaPolicy | None = None,
    ) -> None:
        self.client = client
        self.executor = executor
        self.state = state
        self.catalog = catalog
        self.deadline = deadline
        self.clock = clock
        self.poll = poll
        self.model = model  # the language model's id, None when none is configured
        self.pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="copilot-answer")
        self.links = links  # the hosts a message may link to (bot.escape.LinkPolicy)
        self.policy = policy or RcaPolicy()  # where /rca may act (Settings.rca_policy())
        self.courier = courier or Courier(
            client=client, executor=executor, state=state, begin=self.begin, links=links, poll=poll
        )

    def channel_info(self, channel: str) -> dict[str, Any]:
        """``conversations.info``'s channel object."""
        return dict(self.client.conversations_info(channel=channel)["channel"])

    def investigate(
        self,
        channel: str,
        *,
        services: list[str] | None = None,
        window: float | None = None,
        automatic: bool = False,
        asked: Asked | None = None,
    ) -> Started | None:
        """Ask for an investigation in a channel; None when one runs there already.

        Only the channel lock and the request are taken here, in Redis; the courier starts the
        investigation and posts its message (bot/delivery.py), so that a bot that dies right
        after a person asked leaves the job to the next one. ``asked``: who asked with ``/rca``;
        the courier first checks that the bot may act in the channel, and tells them.
        """
        if automatic and not self.state.claim_auto(channel):
            return None
        if not self.state.lock_channel(channel, seconds=self.deadline + 120):
            return None
        try:
            run = self.state.next_run(channel)
            wall = time.time()
            delivery = Delivery(
                incident_id=f"slack-{channel}-{run}",
                channel=channel,
                requested_at=self.clock(),
                deadline=wall + self.deadline,
                give_up=wall + self.deadline + 60,
                services=services,
                window=window,
                questions=self.model is not None,
            )
            if asked is not None:  # before the delivery: no courier begins it unchecked
                self.state.client.set(
                    self._asked_key(delivery.incident_id), asked.to_json(), ex=self.state.ttl
                )
            self.courier.add(delivery)
        except Exception:
            self.state.unlock_channel(channel)
            raise
        return Started(channel, delivery.incident_id)

    def _asked_key(self, incident_id: str) -> str:
        return self.state.key("asked", incident_id)

    def begin(self, d: Delivery) -> Delivery:
        """Start (or join) the delivery's investigation: join the channel, read it, enqueue.

        For ``/rca``, first whether the bot may act in the channel, as it reads the channel: if
        not, the person who asked is told why and the delivery ends without a message.
        """
        raw = self.state.client.get(self._asked_key(d.incident_id))
        asked = Asked.from_json(raw) if raw is not None else None
        try:
            info = self.channel_info(d.channel)
        except SlackApiError as exc:
            if asked is None or exc.response.get("error") not in HIDDEN:
                raise
            return self._refuse(d, asked, place_refusal(self.policy, place_of(d.channel)) or "")
        if asked is not None:
            refusal = place_refusal(self.policy, place_of(d.channel, info))
            if refusal is not None:
                return self._refuse(d, asked, refusal)
            self.pool.submit(self.respond, d.channel, asked, f"Investigating {asked.scope}…")
            self.state.client.delete(self._asked_key(d.incident_id))
        name = str(info.get("name", d.channel))
        if not info.get("is_private") and not info.get("is_member"):
            self.client.conversations_join(channel=d.channel)
        services = d.services
        if services is None:
            texts = [
                name,
                str((info.get("topic") or {}).get("value", "")),
                str((info.get("purpose") or {}).get("value", "")),
                *self._first_messages(d.channel),
            ]
            services = mentioned_services(self.catalog(), texts)
        request = IncidentRequest(
            incident_id=d.incident_id,
            started_at=d.requested_at - (d.window or LOOKBACK),
            until=d.requested_at if d.window else None,
            services=services,
            title=name,
            channel=d.channel,
        )
        handle = self.executor.start(request)  # a second start joins the first
        return replace(d, investigation_id=handle.investigation_id, name=name, services=services)

    def _refuse(self, d: Delivery, asked: Asked, refusal: str) -> Delivery:
        """Tell the person why not, and end the delivery with nothing posted in the channel.

        A delivery that is done and has a ``ts`` is left alone by the courier (it posts the
        progress message only while ``ts`` is None); ``""`` stands for "no message".
        """
        self.respond(d.channel, asked, refusal)
        self.state.client.delete(self._asked_key(d.incident_id))
        return replace(d, stage="done", ts="")

    def respond(self, channel: str, asked: Asked, text: str) -> None:
        """Answer the person who ran a command, visible only to them.

        Through the command's ``response_url``, which works in any channel, the bot's or not;
        ``chat.postEphemeral`` when there is none or it fails (that needs the bot in the
        channel). Never raises: a lost private answer must not hold anything up.
        """
        if asked.response_url:
            try:
                webhook = WebhookClient(asked.response_url, timeout=RESPOND_TIMEOUT)
                sent = webhook.send(text=text, response_type="ephemeral")
                if sent.status_code < 300:
                    return
                log.warning("response_url answered %s; trying chat.postEphemeral", sent.status_code)
            except Exception as exc:  # urllib's errors: the URL is Slack's, the network ours
                log.warning("response_url failed (%s); trying chat.postEphemeral", exc)
        try:
            self.client.chat_postEphemeral(channel=channel, user=asked.user, text=text)
        except Exception as exc:
            log.warning("could not answer %s in %s: %s", asked.user, channel, exc)

    def _first_messages(self, channel: str) -> list[str]:
        try:
            history = self.client.conversations_history(channel=channel, limit=FIRST_MESSAGES)
        except SlackApiError as exc:
            log.info("no history of %s: %s", channel, exc.response.get("error"))
            return []
        messages: list[dict[str, Any]] = history.get("messages", [])
        return [str(m.get("text", "")) for m in reversed(messages)]

    def answer_in_thread(
        self, *, channel: str, thread_ts: str, investigation_id: str, question: str
    ) -> None:
        """Answer with the model on the copilot's threads: a placeholder, then the answer."""
        placeholder = self.client.chat_postMessage(
            channel=channel, thread_ts=thread_ts, text=":mag: Looking into it…"
        )
        self.pool.submit(
            self._answer_safely, channel, str(placeholder["ts"]), investigation_id, question
        )

    def _answer_safely(self, channel: str, ts: str, investigation_id: str, question: str) -> None:
        try:
            text = self._model_answer(investigation_id, question)
        except Exception:
            log.exception("answering in %s failed", investigation_id)
            text = "Something went wrong answering that; the summary and `evidence` still stand."
        self.client.chat_update(channel=channel, ts=ts, text=text)

    def _model_answer(self, investigation_id: str, question: str) -> str:
        found = self.executor.ask(investigation_id, question)
        if found is not None and found.status == "ok":
            return answer_text(found, model=self.model or "", links=self.links)
        summary = self.executor.summary(investigation_id)
        if summary is None:
            return "Still investigating; ask again once the summary is posted."
        fixed = answer(
            question,
            summary=summary,
            record=self.executor.record(investigation_id),
            catalog=self.catalog(),
            links=self.links,
        )
        why = found.reason if found is not None else "no answer"
        return f"{fixed}\n_The language model could not answer ({escape(why, limit=200)})._"
