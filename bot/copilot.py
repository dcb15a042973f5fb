"""What the bot does for a channel: join, start an investigation, hand its message on.

Listeners call :meth:`Copilot.investigate` after they ack. The message ("Investigating…", edited
as sources report, then replaced by the summary with the detail in its thread) is the
:class:`~bot.delivery.Courier`'s: kept in Redis and delivered once, by whichever bot process is
up. Thread answers run on the copilot's own threads, never Bolt's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Protocol

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.answers import answer
from bot.blocks import answer_text
from bot.channels import mentioned_services
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


class Investigations(Protocol):
    """What the bot needs from the pipeline (:class:`~investigators.pipeline.RqExecutor`)."""

    def start(self, request: IncidentRequest) -> Handle: ...

    def progress(self, investigation_id: str, since: int = 0) -> list[ProgressEvent]: ...

    def summary(self, investigation_id: str) -> Summary | None: ...

    def record(self, investigation_id: str) -> Record | None: ...

    def narrative(self, investigation_id: str) -> Narrative | None: ...

    def ask(self, investigation_id: str, question: str) -> QaAnswer | None: ...


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
    ) -> Started | None:
        """Ask for an investigation in a channel; None when one runs there already.

        Only the channel lock and the request are taken here, in Redis; the courier starts the
        investigation and posts its message (bot/delivery.py), so that a bot that dies right
        after a person asked leaves the job to the next one.
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
            self.courier.add(delivery)
        except Exception:
            self.state.unlock_channel(channel)
            raise
        return Started(channel, delivery.incident_id)

    def begin(self, d: Delivery) -> Delivery:
        """Start (or join) the delivery's investigation: join the channel, read it, enqueue."""
        info = self.channel_info(d.channel)
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
