"""The RQ worker class of the pipeline: ``rq worker -w investigators.pipeline.worker.Worker``.

An RQ worker forks a work horse per job; importing the pipeline here, in the parent, means each
horse starts with numpy, networkx, the connectors and the engine already loaded instead of
spending a second importing them. Abandoned-job checks run every 15 seconds instead of 10 min.

An idle RQ worker blocks on its queues for ``worker_ttl - 15`` seconds (405 by default) and runs
its maintenance only between two waits; so the wait is capped at the maintenance interval too.
Otherwise, when a worker holding the scheduler lock dies, the idle survivors would take the lock
over (and enqueue the deadline jobs it held back) only minutes after the lock expired.

Redis going away for a while is survived, not fatal. RQ's own loop quits on a connection error
anywhere but in the wait for a job: in the heartbeat while a work horse runs, in maintenance, in
the bookkeeping after a job. Here each of those logs, waits for Redis with backoff and carries
on; the scheduler process does the same. A job whose end could not be recorded stays in the
started registry and is retried by the next clean-up, as a job of a dead worker would be.

Before its first job, the worker checks what it cannot work without: Redis answers, the catalog
loads, and at least one data source is configured. When one is missing it exits with status 2
and one line on stderr saying what to set. (Redis unreachable at the very start is reported by
``rq worker`` itself, which asks Redis before it makes the worker.)
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from pydantic import ValidationError
from rq.job import Job
from rq.queue import Queue
from rq.scheduler import RQScheduler
from rq.worker import Worker as _RqWorker

import investigators.pipeline.jobs
import investigators.pipeline.sources
import investigators.rca  # noqa: F401
from investigators.catalog import CatalogError, load_catalog
from investigators.pipeline.config import load_config

#: Seconds between a worker's registry clean-ups (abandoned jobs are retried then).
MAINTENANCE_INTERVAL = 15
#: Longest wait between two checks of whether Redis is back.
MAX_REDIS_WAIT = 5.0

log = logging.getLogger(__name__)
T = TypeVar("T")
#: What "Redis is away" looks like to redis-py: refused, reset, or timed out.
REDIS_AWAY = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
#: The configuration factory the bot names in its jobs (``bot.settings.PIPELINE_CONFIG_REF``);
#: the worker checks what it returns before it takes a job.
CONFIG_REF = "bot.settings:pipeline_config"


def _wait_for_redis(connection: redis.Redis, what: str, exc: Exception) -> None:
    """Block until Redis answers again, backing off from 0.5 s to :data:`MAX_REDIS_WAIT`."""
    log.warning("%s: Redis unavailable (%s); waiting for it", what, exc)
    wait = 0.5
    while True:
        time.sleep(wait)
        try:
            connection.ping()
        except REDIS_AWAY:
            wait = min(wait * 2, MAX_REDIS_WAIT)
            continue
        log.warning("%s: Redis is back", what)
        return


def _tolerant(connection: redis.Redis, what: str, call: Callable[[], T]) -> T | None:
    """``call()``, or None once Redis is back when it failed because Redis was away."""
    try:
        return call()
    except REDIS_AWAY as exc:
        _wait_for_redis(connection, what, exc)
        return None


class Scheduler(RQScheduler):
    """RQ's scheduler, waiting out a Redis outage instead of exiting."""

    def work(self) -> None:
        """The scheduler loop; each round runs again once Redis is back."""
        self._install_signal_handlers()
        _tolerant(self.connection, "scheduler", self.register_birth)
        while not self._stop_requested:
            _tolerant(self.connection, "scheduler", self._round)
            time.sleep(self.interval)
        self.stop()

    def _round(self) -> None:
        if self.should_reacquire_locks:
            self.acquire_locks()
        self.heartbeat()
        self.enqueue_scheduled_jobs()


class Worker(_RqWorker):
    """An RQ worker with the pipeline preloaded and frequent maintenance."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["maintenance_interval"] = min(
            int(kwargs.get("maintenance_interval") or MAINTENANCE_INTERVAL), MAINTENANCE_INTERVAL
        )
        super().__init__(*args, **kwargs)

    def work(self, *args: Any, **kwargs: Any) -> bool:
        """RQ's loop, once the start-up check finds nothing missing (else exit with status 2)."""
        problem = self.missing_essential()
        if problem is not None:
            print(f"rq worker: {problem}", file=sys.stderr, flush=True)
            raise SystemExit(2)
        return bool(super().work(*args, **kwargs))

    def missing_essential(self) -> str | None:
        """What the worker cannot work without, in one line saying what to set; None if nothing."""
        try:
            self.connection.ping()
        except redis.exceptions.RedisError as exc:
            return f"Redis does not answer ({type(exc).__name__}): start it, or fix --url/REDIS_URL"
        try:
            config = load_config(CONFIG_REF)
        except ValidationError as exc:  # which setting and why, never its value
            error = exc.errors(include_input=False, include_url=False)[0]
            where = ".".join(str(part) for part in error["loc"]).upper()
            return f"{where} is not usable: {error['msg']} (check with incident-copilot doctor)"
        if not (config.elasticsearch or config.datadog or config.github):
            return (
                "no data source is configured: set ES_URL, DD_API_KEY and DD_APP_KEY, or "
                "GITHUB_TOKEN (check with incident-copilot doctor)"
            )
        try:
            catalog = load_catalog(config.catalog_path)
        except (CatalogError, OSError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return (
                f"the catalog does not load: {first}; fix it (incident-copilot catalog check) "
                "or set INCIDENT_COPILOT_CATALOG"
            )
        self.log.info(
            "checked: Redis answers, catalog of %d services, sources: %s",
            len(catalog.services),
            ", ".join(
                n for n in ("elasticsearch", "datadog", "github") if getattr(config, n) is not None
            ),
        )
        return None

    def _start_scheduler(
        self,
        burst: bool = False,
        logging_level: str | None = "INFO",
        date_format: str = "%H:%M:%S",
        log_format: str = "%(asctime)s %(message)s",
    ) -> None:
        """RQ's, with the scheduler class that waits out Redis outages (forked from here)."""
        self.scheduler = Scheduler(
            self.queues,
            connection=self.connection,
            logging_level=logging_level if logging_level is not None else self.log.level,
            date_format=date_format,
            log_format=log_format,
            serializer=self.serializer,
        )
        self.scheduler.acquire_locks()
        if not self.scheduler.acquired_locks:
            return
        if burst:
            try:
                self.scheduler.register_birth()
                self.scheduler.enqueue_scheduled_jobs()
            finally:
                self.scheduler.release_locks()
                self.scheduler.register_death()
        else:
            self.scheduler.start()

    def heartbeat(self, *args: Any, **kwargs: Any) -> None:
        """RQ's heartbeat; a missed one while Redis is away is skipped, not fatal."""
        try:
            super().heartbeat(*args, **kwargs)
        except REDIS_AWAY as exc:
            log.warning("worker %s: heartbeat missed (%s)", self.name, exc)

    def maintain_heartbeats(self, job: Job) -> None:
        """Keep the running job's heartbeats; skipped while Redis is away (the horse goes on)."""
        try:
            super().maintain_heartbeats(job)
        except REDIS_AWAY as exc:
            log.warning("worker %s: job %s heartbeat missed (%s)", self.name, job.id, exc)

    def run_maintenance_tasks(self) -> None:
        """RQ's registry clean-ups, once Redis is back if it is away."""
        _tolerant(self.connection, f"worker {self.name}", super().run_maintenance_tasks)

    def check_for_suspension(self, burst: bool) -> None:
        """RQ's suspension check, once Redis is back if it is away."""
        _tolerant(
            self.connection,
            f"worker {self.name}",
            lambda: super(Worker, self).check_for_suspension(burst),
        )

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> tuple[Job, Queue] | None:
        """RQ's wait for a job; a Redis outage outside RQ's own retry is waited out too."""
        while True:
            try:
                return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
            except REDIS_AWAY as exc:
                _wait_for_redis(self.connection, f"worker {self.name}", exc)

    def execute_job(self, job: Job, queue: Queue) -> None:
        """Run the job in a work horse; if its end cannot be recorded, the clean-up retries it."""
        try:
            super().execute_job(job, queue)
        except REDIS_AWAY as exc:
            _wait_for_redis(self.connection, f"worker {self.name} (job {job.id})", exc)

    @property
    def dequeue_timeout(self) -> int:
        """Wake up at least once per maintenance interval, even with nothing to do."""
        return max(1, min(super().dequeue_timeout, self.maintenance_interval))
