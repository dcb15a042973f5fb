"""Durable, idempotent posting: every investigation's message, kept in Redis until delivered.

A person asks (``/rca``, a new incident channel); the request is stored in Redis at once. The
courier then starts the investigation (a second start joins the first), and its Slack message
goes through three parts: the progress message ("Investigating…", edited as sources report),
the summary that replaces it, and the detail posted in its thread. What has been posted and
what is due lives in Redis (:class:`Deliveries`), never only in a bot process's memory, so that:

1. **Any bot process resumes.** A :class:`Courier` thread runs in every bot process. It looks at
   the due deliveries at start, then every ``poll`` seconds, and steps each one it can lease. A
   lease (``SET NX EX``) means one process steps a delivery at a time; it expires when that
   process dies, so a restarted or another process takes over.
2. **Every step is safe to repeat.** Each post carries Slack message metadata naming the
   investigation and the part. Before posting a part again after a failed or unknown attempt
   (a 500, a timeout, a crash between Slack's answer and Redis), the courier looks for that
   metadata in the channel or thread and adopts the message it finds instead of posting twice.
   ``chat.update`` of the same message with the same content is harmless by nature. A file
   carries no metadata: the chart's file name names the investigation, and a retried upload
   first looks for that name among the thread's files.
3. **Failures wait and retry.** A Slack 5xx, a timeout or a Redis error leaves the delivery due;
   it is tried again after a backoff (1 s doubling to 30 s). Errors Slack says will not go away
   (``channel_not_found``, ``is_archived``…) end the delivery with a log line.
4. **Redis going away stops nothing for good.** The courier's loop catches connection errors,
   backs off and carries on; the channel lock is released once the delivery ends, and is kept
   alive while it runs.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal, Protocol, runtime_checkable

import redis
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.blocks import details_text, fallback_text, progress_blocks, progress_text, summary_blocks
from bot.chart import alt_text, render_chart, title_of
from bot.dedupe import BotState, KeyValue
from bot.escape import LinkPolicy
from investigators.pipeline import Narrative, ProgressEvent, Summary
from investigators.pipeline.chartdata import ChartData

log = logging.getLogger(__name__)

#: Seconds between two edits of the progress message (Slack allows about one a second).
EDIT_INTERVAL = 1.0
#: The Slack message metadata type marking the bot's own messages.
EVENT_TYPE = "incident_copilot_message"
#: Slack errors that a retry will not fix: the delivery ends (logged).
PERMANENT = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "cant_update_message",
        "invalid_auth",
        "account_inactive",
        "token_revoked",
        "not_authed",
        "missing_scope",
        "restricted_action",
    }
)
#: Longest wait between two tries of one delivery.
MAX_BACKOFF = 30.0
#: Pages of history (or of a thread) read to find a post whose answer was lost.
FIND_PAGES = 5
#: How long one process may step a delivery before another may take it over.
LEASE_SECONDS = 15
#: Tries of the chart's upload before it is given up (the summary is long posted by then).
CHART_TRIES = 3

Stage = Literal["progress", "summary", "details", "chart", "done"]
Part = Literal["progress", "details"]


@dataclass(frozen=True, slots=True)
class Delivery:
    """What is known about one investigation's Slack message, as kept in Redis.

    It is stored the moment a person asks, before anything else happens: the investigation is
    started from it (starting twice joins the first), so that a bot killed at any point leaves
    enough behind for the next one to finish the job.
    """

    incident_id: str  # the key: one per channel and run
    channel: str
    requested_at: float  # the incident clock when asked: the window ends here
    deadline: float  # epoch: the narrative is not waited for past it
    give_up: float  # epoch: with no summary by then, say the investigation did not finish
    services: list[str] | None = None  # as named in /rca; None: read the channel for them
    window: float | None = None  # seconds before requested_at, as given in /rca
    questions: bool = False  # whether the thread detail invites questions (a model is set)
    investigation_id: str = ""  # once started
    name: str = ""  # the channel's name, for the progress text
    ts: str | None = None  # the progress (then summary) message, once posted
    stage: Stage = "progress"
    shown: int = 0  # progress events shown in the message
    last_edit: float = 0.0  # epoch of the last progress edit
    told_narrative: bool = False  # the message already says the narrative is being written
    attempts: int = 0  # failed tries in a row
    next_at: float = 0.0  # epoch: not stepped before
    posting: bool = False  # a post of the current part was sent, its outcome unknown
    chart_tries: int = 0  # uploads of the chart begun (the thread is searched before another)

    def to_json(self) -> str:
        """The stored form."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Delivery:
        """From the stored form."""
        return cls(**json.loads(raw))


class Deliveries:
    """The deliveries under ``{prefix}:bot:delivery:``, and the set of those still due."""

    def __init__(self, state: BotState) -> None:
        self.state = state
        self.client: KeyValue = state.client

    def _key(self, incident_id: str) -> str:
        return self.state.key("delivery", incident_id)

    @property
    def _due(self) -> str:
        return self.state.key("deliveries", "due")

    @property
    def _fresh(self) -> str:
        return self.state.key("deliveries", "fresh")

    def save(self, delivery: Delivery) -> None:
        """Store a delivery; a delivery not done stays due."""
        self.client.set(self._key(delivery.incident_id), delivery.to_json(), ex=self.state.ttl)
        if delivery.stage == "done":
            self.client.srem(self._due, delivery.incident_id)
        else:
            self.client.sadd(self._due, delivery.incident_id)
        if delivery.ts is None and delivery.stage != "done":
            self.client.sadd(self._fresh, delivery.incident_id)
        else:
            self.client.srem(self._fresh, delivery.incident_id)

    def load(self, incident_id: str) -> Delivery | None:
        """A delivery, if it is kept."""
        raw = self.client.get(self._key(incident_id))
        return None if raw is None else Delivery.from_json(raw)

    def due(self) -> list[str]:
        """Ids of the deliveries not done."""
        return sorted(_ids(self.client.smembers(self._due)))

    def fresh(self) -> set[str]:
        """Ids of the deliveries whose first message is not posted yet."""
        return _ids(self.client.smembers(self._fresh))

    def forget(self, incident_id: str) -> None:
        """No longer due (its record expired)."""
        self.client.srem(self._due, incident_id)
        self.client.srem(self._fresh, incident_id)

    def lease(self, incident_id: str, owner: str) -> bool:
        """Take or keep the right to step one delivery for :data:`LEASE_SECONDS`."""
        key = self.state.key("delivery-lease", incident_id)
        return self.state.lease(key, owner, seconds=LEASE_SECONDS)

    def release(self, incident_id: str, owner: str) -> None:
        """Give the lease back once a step is over."""
        self.state.release(self.state.key("delivery-lease", incident_id), owner)


def _ids(members: Iterable[object]) -> set[str]:
    """Set members as text (clients with and without ``decode_responses``)."""
    return {m.decode() if isinstance(m, bytes) else str(m) for m in members}


class Reads(Protocol):
    """What the courier reads of an investigation (the pipeline's executors have it)."""

    def progress(self, investigation_id: str, since: int = 0) -> list[ProgressEvent]: ...

    def summary(self, investigation_id: str) -> Summary | None: ...

    def narrative(self, investigation_id: str) -> Narrative | None: ...


@runtime_checkable
class Charts(Protocol):
    """What the courier reads to upload a chart (executors that keep one have it)."""

    def chart(self, investigation_id: str) -> ChartData | None: ...


class Courier:
    """Delivers what is due, from any bot process; see the module's docstring."""

    def __init__(
        self,
        *,
        client: WebClient,
        executor: Reads,
        state: BotState,
        begin: Callable[[Delivery], Delivery],
        links: LinkPolicy | None = None,
        poll: float = 0.25,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.executor = executor
        self.state = state
        self.begin = begin  # starts (or joins) the investigation; fills its id and the name
        self.links = links  # the hosts a message may link to
        self.deliveries = Deliveries(state)
        self.poll = poll
        self.clock = clock  # wall time for deadlines, kept apart from the incident's clock
        self.owner = uuid.uuid4().hex
        self.pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="courier")
        # First messages have threads of their own: a burst of new incidents is not queued
        # behind the edits and summaries of the ones already running.
        self.first = ThreadPoolExecutor(max_workers=8, thread_name_prefix="courier-first")
        self._busy: set[str] = set()
        self._busy_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the loop ---------------------------------------------------------------------------

    def start(self) -> Courier:
        """Run the loop on a daemon thread (resuming whatever is due now)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True, name="courier")
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the loop; deliveries in flight finish their current step."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.first.shutdown(wait=True, cancel_futures=True)

    def add(self, delivery: Delivery) -> None:
        """A new delivery: stored first (so that it survives this process), then stepped."""
        self.deliveries.save(delivery)
        self._wake.set()

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                self.tick()
                backoff = 0.5
                self._wake.wait(self.poll)
            except redis.RedisError as exc:
                log.warning("courier: Redis unavailable (%s); retrying in %.0f s", exc, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            except Exception:
                log.exception("courier: unexpected error; carrying on")
                self._stop.wait(1.0)
            self._wake.clear()

    def tick(self) -> None:
        """Hand every due delivery that is not being stepped here to a pool, new ones first."""
        fresh = self.deliveries.fresh()
        due = self.deliveries.due()
        for incident_id in [*sorted(fresh), *(i for i in due if i not in fresh)]:
            with self._busy_lock:
                if incident_id in self._busy:
                    continue
                self._busy.add(incident_id)
            try:
                pool = self.first if incident_id in fresh else self.pool
                pool.submit(self._step_safely, incident_id)
            except RuntimeError:  # shutting down
                with self._busy_lock:
                    self._busy.discard(incident_id)

    def _step_safely(self, incident_id: str) -> None:
        try:
            if self.deliveries.lease(incident_id, self.owner):
                try:
                    self.step(incident_id)
                finally:
                    self.deliveries.release(incident_id, self.owner)
        except redis.RedisError as exc:
            log.warning("delivery %s waits for Redis: %s", incident_id, exc)
        except Exception:
            log.exception("delivery %s: unexpected error; it stays due", incident_id)
        finally:
            with self._busy_lock:
                self._busy.discard(incident_id)

    # -- one delivery -------------------------------------------------------------------------

    def step(self, incident_id: str) -> Delivery | None:
        """Move one delivery on as far as it can go now; what is stored afterwards."""
        d = self.deliveries.load(incident_id)
        if d is None:
            self.deliveries.forget(incident_id)
            return None
        if d.stage == "done":
            self.deliveries.forget(incident_id)
            return d
        if self.clock() < d.next_at:
            return d
        try:
            d = self._advance(d)
        except SlackApiError as exc:
            error = str(exc.response.get("error", "")) if exc.response is not None else ""
            status = exc.response.status_code if exc.response is not None else 0
            if error in PERMANENT:
                log.error("delivery %s ends: Slack says %s", incident_id, error)
                d = replace(d, stage="done")
            else:
                d = self._later(d, f"Slack {status} {error}".strip())
        except (OSError, TimeoutError) as exc:  # urllib's timeouts and refused connections
            d = self._later(d, f"{type(exc).__name__}: {exc}")
        except redis.RedisError:
            raise  # nothing can be saved now; the delivery stays as stored
        except Exception as exc:  # a bug or a pipeline error: retried with backoff, never lost
            log.exception("delivery %s: %s", incident_id, type(exc).__name__)
            d = self._later(d, f"{type(exc).__name__}: {exc}")
        self.deliveries.save(d)
        if d.stage == "done":
            self.state.unlock_channel(d.channel)
        else:
            self.state.hold_channel(d.channel, seconds=max(60.0, d.give_up - self.clock() + 120))
        return d

    def _later(self, d: Delivery, why: str) -> Delivery:
        wait = min(MAX_BACKOFF, 2.0**d.attempts)
        log.warning("delivery %s: %s; trying again in %.0f s", d.incident_id, why, wait)
        return replace(d, attempts=d.attempts + 1, next_at=self.clock() + wait)

    def _advance(self, d: Delivery) -> Delivery:
        if not d.investigation_id:
            d = self.begin(d)
            self.deliveries.save(d)
        if d.ts is None:
            # Every new incident's first message before anyone's later steps: a burst of
            # channels all see "Investigating…" first, then the rest follows on the next tick.
            self._wake.set()
            return self._post_progress(d)
        if d.stage == "progress":
            d = self._progress(d)
        if d.stage == "summary":
            d = self._summary(d)
        if d.stage == "details":
            d = self._details(d)
        if d.stage == "chart":
            d = self._chart(d)
        return replace(d, attempts=0) if d.stage == "done" else d

    def _post_progress(self, d: Delivery) -> Delivery:
        # A post sent before whose answer never came (a 5xx, a timeout, a crash) may be there.
        found = self._find(d, "progress") if d.posting or d.attempts else None
        if found is None:
            self.deliveries.save(replace(d, posting=True))
            posted = self.client.chat_postMessage(
                channel=d.channel,
                text=progress_text(d.name),
                blocks=progress_blocks(d.name, []),
                metadata=_metadata(d, "progress"),
            )
            found = str(posted["ts"])
        d = replace(d, ts=found, posting=False, last_edit=self.clock())
        self.deliveries.save(d)
        self.state.remember(d.channel, investigation_id=d.investigation_id, ts=found)
        return d

    def _progress(self, d: Delivery) -> Delivery:
        assert d.ts is not None
        summary = self.executor.summary(d.investigation_id)
        now = self.clock()
        if summary is not None:
            if self.executor.narrative(d.investigation_id) is not None or now >= d.deadline:
                return replace(d, stage="summary")
            if d.told_narrative or now - d.last_edit < EDIT_INTERVAL:
                return d
            events = self.executor.progress(d.investigation_id)
            self._edit_progress(d, events)
            return replace(d, told_narrative=True, last_edit=now, shown=len(events))
        if now >= d.give_up:
            self.client.chat_update(
                channel=d.channel,
                ts=d.ts,
                text="The investigation did not finish in time; try `/rca` to run it again.",
                blocks=[],
            )
            return replace(d, stage="done")
        events = self.executor.progress(d.investigation_id)
        if len(events) > d.shown and now - d.last_edit >= EDIT_INTERVAL:
            self._edit_progress(d, events)
            return replace(d, shown=len(events), last_edit=now)
        return d

    def _edit_progress(self, d: Delivery, events: list[ProgressEvent]) -> None:
        assert d.ts is not None
        self.client.chat_update(
            channel=d.channel,
            ts=d.ts,
            text=progress_text(d.name),
            blocks=progress_blocks(d.name, events),
        )

    def _narrative(self, d: Delivery) -> Narrative:
        found = self.executor.narrative(d.investigation_id)
        if found is not None:
            return found
        return Narrative(status="unavailable", reason="it was not ready by the deadline")

    def _summary(self, d: Delivery) -> Delivery:
        assert d.ts is not None
        summary = self.executor.summary(d.investigation_id)
        if summary is None:  # its record expired meanwhile
            return replace(d, stage="done")
        self.client.chat_update(
            channel=d.channel,
            ts=d.ts,
            text=fallback_text(summary),
            blocks=summary_blocks(summary, narrative=self._narrative(d), links=self.links),
        )
        d = replace(d, stage="details")
        self.deliveries.save(d)
        return d

    def _details(self, d: Delivery) -> Delivery:
        assert d.ts is not None
        summary = self.executor.summary(d.investigation_id)
        if summary is None:
            return replace(d, stage="done")
        if (d.posting or d.attempts) and self._find(d, "details") is not None:
            return self._saved(replace(d, stage="chart", posting=False))
        self.deliveries.save(replace(d, posting=True))
        self.client.chat_postMessage(
            channel=d.channel,
            thread_ts=d.ts,
            text=details_text(
                summary,
                narrative=self._narrative(d),
                open_questions=d.questions,
                links=self.links,
            ),
            metadata=_metadata(d, "details"),
        )
        return self._saved(replace(d, stage="chart", posting=False))

    def _saved(self, d: Delivery) -> Delivery:
        self.deliveries.save(d)
        return d

    def _chart(self, d: Delivery) -> Delivery:
        """Upload the chart to the thread: get an upload URL, POST the PNG, complete the upload.

        Any failure is retried after a backoff, up to :data:`CHART_TRIES` uploads begun; then
        (or at once for an error Slack says will not go away) it is given up with one log line.
        Before another try (and before giving up), the thread is searched for the file: an
        upload completed whose answer was lost is not made twice.
        """
        assert d.ts is not None
        data = (
            self.executor.chart(d.investigation_id) if isinstance(self.executor, Charts) else None
        )
        if data is None:
            return replace(d, stage="done")
        if d.chart_tries:
            try:
                if self._find_file(d, data.filename):
                    return replace(d, stage="done")
            except (SlackApiError, OSError, TimeoutError):
                if d.chart_tries < CHART_TRIES:
                    raise  # the delivery's own backoff, then this step again
        if d.chart_tries >= CHART_TRIES:
            log.warning(
                "delivery %s: no chart in the thread after %d tries; the summary stands",
                d.incident_id,
                d.chart_tries,
            )
            return replace(d, stage="done")
        d = self._saved(replace(d, chart_tries=d.chart_tries + 1))
        try:
            self._upload(d, data)
        except redis.RedisError:
            raise
        except Exception as exc:
            error = _slack_error(exc)
            if error in PERMANENT:
                log.warning(
                    "delivery %s: no chart in the thread: Slack says %s; the summary stands",
                    d.incident_id,
                    error,
                )
                return replace(d, stage="done")
            # Even after the last try: the next step looks for the file before giving up.
            return replace(d, next_at=self.clock() + min(MAX_BACKOFF, 2.0**d.chart_tries))
        return replace(d, stage="done")

    def _upload(self, d: Delivery, data: ChartData) -> None:
        """Slack's external upload flow, one file shared in the summary's thread."""
        png = render_chart(data)
        asked = self.client.files_getUploadURLExternal(
            filename=data.filename, length=len(png), alt_txt=alt_text(data)
        )
        request = urllib.request.Request(
            str(asked["upload_url"]),
            data=png,
            headers={"Content-Type": "application/octet-stream"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=self.client.timeout) as answer:
            if answer.status != 200:
                raise OSError(f"the upload URL answered HTTP {answer.status}")
        self.client.files_completeUploadExternal(
            files=[{"id": str(asked["file_id"]), "title": title_of(data)}],
            channel_id=d.channel,
            thread_ts=d.ts,
        )

    def _find_file(self, d: Delivery, filename: str) -> bool:
        """Whether a file of that name is shared in the summary's thread already."""
        return (
            self._search(
                d,
                "details",
                lambda m: any(
                    f.get("name") == filename for f in m.get("files") or [] if isinstance(f, dict)
                ),
            )
            is not None
        )

    def _find(self, d: Delivery, part: Part) -> str | None:
        """The ts of this delivery's part if Slack has it already (a post whose answer was lost).

        The progress message is among the channel's newest messages, the detail among the
        thread's replies; up to :data:`FIND_PAGES` pages of each are read, following cursors.
        """

        def mine(message: dict[str, Any]) -> bool:
            payload = (message.get("metadata") or {}).get("event_payload") or {}
            return payload.get("incident_id") == d.incident_id and payload.get("part") == part

        return self._search(d, part, mine)

    def _search(
        self, d: Delivery, part: Part, wanted: Callable[[dict[str, Any]], bool]
    ) -> str | None:
        """The ts of the first message ``wanted`` among the channel's newest messages
        (``progress``) or the thread's replies (``details``)."""
        cursor: str | None = None
        for _ in range(FIND_PAGES):
            if part == "progress":
                page = self.client.conversations_history(
                    channel=d.channel, limit=200, include_all_metadata=True, cursor=cursor
                )
            else:
                page = self.client.conversations_replies(
                    channel=d.channel,
                    ts=str(d.ts),
                    limit=200,
                    include_all_metadata=True,
                    cursor=cursor,
                )
            messages: list[dict[str, Any]] = page.get("messages", []) or []
            for message in messages:
                if wanted(message):
                    return str(message["ts"])
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not page.get("has_more") or not cursor:
                return None
        return None


def _slack_error(exc: Exception) -> str:
    """Slack's error code of a failed call, or '' (a timeout, an HTTP error page)."""
    if isinstance(exc, SlackApiError) and exc.response is not None:
        return str(exc.response.get("error", ""))
    return ""


def _metadata(d: Delivery, part: Part) -> dict[str, Any]:
    return {
        "event_type": EVENT_TYPE,
        "event_payload": {"incident_id": d.incident_id, "part": part},
    }
