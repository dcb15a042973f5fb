"""Two ways to run an investigation: on RQ workers, or in this process.

:class:`RqExecutor` is what the bot uses: ``start`` plans (or joins) and enqueues, then returns;
``progress``, ``summary`` and ``record`` read what the workers wrote. :class:`LocalExecutor` runs
the same steps with asyncio and an in-memory store, for the CLI: no Redis needed.
:class:`InProcessExecutor` offers the bot's interface over the same, for the demo without Redis.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import redis

from investigators.bundle import Bundle
from investigators.pipeline.chartdata import ChartData
from investigators.pipeline.config import PipelineConfig
from investigators.pipeline.investigation import DIVE_SOURCES, IncidentRequest, ProgressEvent
from investigators.pipeline.jobs import enqueue_investigation, queue_of
from investigators.pipeline.narrative import LlmUsage, Narrative
from investigators.pipeline.qa import QaAnswer, ask_step
from investigators.pipeline.sources import available_sources
from investigators.pipeline.steps import (
    Investigation,
    Record,
    begin,
    candidates_of,
    dive_step,
    finalize_step,
    narrate_step,
    rank_step,
    scan_bundle,
    scan_step,
)
from investigators.pipeline.store import MemoryStore, RedisStore, Store
from investigators.pipeline.summary import Summary

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Handle:
    """An investigation started or joined."""

    investigation_id: str
    incident_id: str
    joined: bool


class _Reads:
    """What the bot reads of an investigation, from a store (shared by both executors)."""

    config: PipelineConfig
    store: Store

    def _inv(self, investigation_id: str) -> Investigation:
        return Investigation.load(self.store, self.config, investigation_id)

    def progress(self, investigation_id: str, since: int = 0) -> list[ProgressEvent]:
        """Progress events from position ``since`` on (pass the count already seen)."""
        return self._inv(investigation_id).events(since)

    def summary(self, investigation_id: str) -> Summary | None:
        """The summary, once made."""
        return self._inv(investigation_id).summary()

    def chart(self, investigation_id: str) -> ChartData | None:
        """What the summary's chart shows, once the summary is made (None: no chart)."""
        return self._inv(investigation_id).chart()

    def record(self, investigation_id: str) -> Record | None:
        """What the investigation did, once its summary is made."""
        return self._inv(investigation_id).record()

    def narrative(self, investigation_id: str) -> Narrative | None:
        """The narrative, once the model answered or gave up."""
        return self._inv(investigation_id).narrative()

    def usage(self, investigation_id: str) -> list[LlmUsage]:
        """Every language-model call made for the investigation."""
        return self._inv(investigation_id).usage()


class RqExecutor(_Reads):
    """Investigations on RQ workers; state in Redis under the configured key prefix."""

    def __init__(
        self, config: PipelineConfig, *, config_ref: str, client: redis.Redis | None = None
    ) -> None:
        self.config = config
        self.config_ref = config_ref
        self.client = client or redis.Redis.from_url(config.redis_url)
        self.store: Store = RedisStore.from_url(config.redis_url)

    def start(self, request: IncidentRequest) -> Handle:
        """Plan and enqueue, or join the investigation already serving this incident."""
        inv, joined = begin(
            request, store=self.store, config=self.config, config_ref=self.config_ref
        )
        # Planning and enqueueing are two steps: a bot that died between them left a plan with
        # no jobs behind, and whoever joins it enqueues them (their ids are fixed, so a rare
        # second enqueue runs a scan twice and changes nothing).
        if not joined or (not self.store.get(inv.key("enqueued")) and inv.summary() is None):
            enqueue_investigation(
                queue_of(self.config, self.client), self.config, inv.plan, self.config_ref
            )
            self.store.set(inv.key("enqueued"), "1", ttl=inv.ttl)
        return Handle(inv.id, request.incident_id, joined)

    def ask(self, investigation_id: str, question: str) -> QaAnswer | None:
        """The model's answer to a thread question (None before the summary); call off-loop."""
        return asyncio.run(ask_step(self._inv(investigation_id), question))

    def wait(self, investigation_id: str, *, timeout: float, poll: float = 0.2) -> Summary | None:
        """The summary, waiting up to ``timeout`` seconds (for callers, never for workers)."""
        until = time.monotonic() + timeout
        while True:
            found = self.summary(investigation_id)
            if found is not None or time.monotonic() >= until:
                return found
            time.sleep(poll)


@dataclass(slots=True)
class LocalOutcome:
    """What a local investigation produced."""

    summary: Summary
    record: Record
    bundle: Bundle
    events: list[ProgressEvent]
    narrative: Narrative | None = None


class LocalExecutor:
    """The same steps in this process: asyncio for the fan-out, a dict for the store."""

    def __init__(self, config: PipelineConfig, *, store: Store | None = None) -> None:
        self.config = config
        self.store = store or MemoryStore()

    async def run(self, request: IncidentRequest) -> LocalOutcome:
        """Investigate and return the summary, the record and the bundle ranked."""
        inv, joined = begin(request, store=self.store, config=self.config)
        if not joined:
            await drive(inv)
        summary = finalize_step(inv, finished_by="deadline")  # no-op when already made
        narrative = await narrate_step(inv) or inv.narrative()
        record = inv.record()
        assert record is not None  # written with the summary
        return LocalOutcome(summary, record, scan_bundle(inv), inv.events(), narrative)


async def drive(inv: Investigation) -> None:
    """Every step of one investigation, in this process, bounded by its deadline."""
    finished_by = "complete"
    scans = [asyncio.ensure_future(scan_step(inv, s)) for s in inv.plan.sources]
    if scans and not await _within(scans, inv):
        finished_by = "deadline"
    ranked = rank_step(inv)
    candidates = candidates_of(inv, ranked)
    sources = available_sources(inv.config, DIVE_SOURCES)
    if finished_by == "complete" and candidates and sources:
        dives = [asyncio.ensure_future(dive_step(inv, s, candidates)) for s in sources]
        if not await _within(dives, inv):
            finished_by = "deadline"
    finalize_step(inv, finished_by=finished_by)
    await narrate_step(inv)


class InProcessExecutor(_Reads):
    """What the bot needs of the pipeline, in this process: for the demo when Redis is absent.

    Investigations run on an event loop of its own thread; state lives in a dict.
    """

    def __init__(self, config: PipelineConfig) -> None:
        self.config = config
        self.store: Store = MemoryStore()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, daemon=True, name="investigations"
        )
        self._thread.start()

    def start(self, request: IncidentRequest) -> Handle:
        """Plan (or join) and start the investigation; returns at once."""
        inv, joined = begin(request, store=self.store, config=self.config)
        if not joined:
            running = asyncio.run_coroutine_threadsafe(drive(inv), self._loop)
            running.add_done_callback(_log_failure)
        return Handle(inv.id, request.incident_id, joined)

    def ask(self, investigation_id: str, question: str) -> QaAnswer | None:
        """The model's answer to a thread question, run on the investigations' loop."""
        work = ask_step(self._inv(investigation_id), question)
        budget = self.config.llm_budget.qa_seconds + 30
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(budget)

    def close(self) -> None:
        """Stop the loop (running investigations are abandoned)."""
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


def _log_failure(done: Future[None]) -> None:
    if not done.cancelled() and done.exception() is not None:
        log.error("investigation failed", exc_info=done.exception())


async def _within(tasks: Sequence[asyncio.Future[Any]], inv: Investigation) -> bool:
    """Wait for the tasks until the deadline; cancel the rest. True when all finished."""
    remaining = max(0.0, inv.plan.deadline_at - time.time())
    _, pending = await asyncio.wait(tasks, timeout=remaining)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
    return not pending
