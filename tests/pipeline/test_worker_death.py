"""A whole RQ worker (main process, scheduler and work horse) SIGKILLed mid-investigation.

The worker killed is the one running a scan job *and* holding the queue's scheduler lock, the
hardest case: nothing on it can react, its job stays in the StartedJobRegistry until its heartbeat
expires, and the deadline job it was to schedule has no scheduler until the surviving worker takes
the lock over (the lock expires 61 s after the last heartbeat). The investigation must still end
with exactly one summary, and RQ's abandoned-job handling must not make a second one.

The test runs its own two workers on a queue and key prefix of its own, so that the session's
workers neither take its jobs nor lose a worker.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
import redis
from pipeline_testkit import Standins, Workers, kill_session, redis_keys_cleaned
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer

from bot.settings import PIPELINE_CONFIG_REF
from investigators.pipeline import PipelineConfig, RqExecutor
from investigators.pipeline.jobs import job_id
from investigators.pipeline.store import Keys

#: Seconds from enqueue to the deadline summary (short: the deadline path is what must work).
DEADLINE = 8.0
#: Seconds a job may run; it bounds how long RQ waits before declaring a dead job abandoned.
JOB_TIMEOUT = 15
#: Lock expiry (61 s) + a surviving worker's maintenance tick (15 s) + the finalize job, padded.
SUMMARY_WAIT = 110.0
#: Until the killed job has been declared abandoned, retried and every later job has run.
SETTLE_WAIT = 60.0
SOURCES = ("elastic", "datadog", "github")


@pytest.fixture
def pool_names(names: tuple[str, str]) -> Iterator[tuple[str, str]]:
    """A key prefix and queue of this test's own, cleaned afterwards."""
    prefix, queue = (f"{n}-wd" for n in names)
    with redis_keys_cleaned(prefix, queue):
        yield prefix, queue


@pytest.fixture
def pool(env: dict[str, str], pool_names: tuple[str, str]) -> Iterator[Workers]:
    prefix, queue = pool_names
    own = {
        **env,
        "RQ_QUEUE": queue,
        "PIPELINE_KEY_PREFIX": prefix,
        "PIPELINE_JOB_TIMEOUT": str(JOB_TIMEOUT),
    }
    workers = Workers(own, queue)
    client = redis.Redis.from_url(own["REDIS_URL"], decode_responses=True)
    names: set[str] = set()
    try:
        workers.start(2)
        names = {str(n) for n in client.smembers(f"rq:workers:{queue}")}
        yield workers
    finally:
        workers.stop()
        if names:  # the killed worker never registered its death
            client.delete(*names)
            client.srem("rq:workers", *names)
        for key in client.scan_iter(match="rq:scheduler:*"):
            if client.hget(key, "queues") == queue:
                client.delete(key)
        client.close()


def _scheduler_worker(client: redis.Redis, queue: str) -> int:
    """The pid of the worker whose scheduler holds the queue's scheduler lock."""
    until = time.monotonic() + 10
    while True:
        name = client.get(f"rq:scheduler-lock:{queue}")
        pid = name and client.hget(f"rq:scheduler:{name!s}", "pid")
        if pid:
            return os.getsid(int(pid))  # the scheduler is forked by its worker, a session leader
        assert time.monotonic() < until, "no scheduler took the queue's lock"
        time.sleep(0.1)


def _job_started_on(
    executor: RqExecutor, investigation_id: str, worker_pid: int
) -> tuple[str, int]:
    """The scan ``phase:source`` and horse pid of the first job the given worker started."""
    until = time.monotonic() + 15
    while time.monotonic() < until:
        for event in executor.progress(investigation_id):
            if event.kind == "source_started" and event.source:
                horse = int(event.detail.split()[-1])
                try:
                    if os.getsid(horse) == worker_pid:
                        return event.source, horse
                except ProcessLookupError:
                    continue
        time.sleep(0.05)
    events = executor.progress(investigation_id)
    raise AssertionError(f"worker {worker_pid} started no job: {events}")


def _status(config: PipelineConfig, inv_id: str, step: str) -> str | None:
    """The RQ status of one of the investigation's jobs (None once gone)."""
    with redis.Redis.from_url(config.redis_url) as raw:  # no decode_responses: jobs are zlib'd
        found = Job.fetch_many(
            [job_id(config, inv_id, step)], connection=raw, serializer=JSONSerializer
        )[0]
    return None if found is None else found.get_status(refresh=False)


@pytest.mark.slow
def test_whole_worker_killed_mid_job_still_yields_one_summary(
    pool: Workers,
    pool_names: tuple[str, str],
    config: PipelineConfig,
    standins: Standins,
    request_for,
    request: pytest.FixtureRequest,
) -> None:
    prefix, queue = pool_names
    config = config.model_copy(
        update={
            "queue": queue,
            "key_prefix": prefix,
            "deadline": DEADLINE,
            "job_timeout": JOB_TIMEOUT,
        }
    )
    executor = RqExecutor(config, config_ref=PIPELINE_CONFIG_REF)
    client = redis.Redis.from_url(config.redis_url, decode_responses=True)
    request.addfinalizer(client.close)
    victim = _scheduler_worker(client, queue)
    assert victim in {p.pid for p in pool.procs}
    for name in SOURCES:  # every source slow: both workers are mid-request when one dies
        standins.faults(name).latency = 2.0

    incident = request_for()
    started = time.monotonic()
    handle = executor.start(incident)
    inv_id = handle.investigation_id
    step, horse = _job_started_on(executor, inv_id, victim)
    killed = kill_session(victim)
    assert victim in killed and horse in killed
    for name in SOURCES:
        standins.faults(name).latency = 0.0
    killed_at = time.monotonic()
    phase, source = step.split(":")
    stuck = job_id(config, inv_id, f"{phase}-{source}")
    assert stuck in StartedJobRegistry(queue, connection=client).get_job_ids()

    summary = executor.wait(inv_id, timeout=SUMMARY_WAIT)
    assert summary is not None, executor.progress(inv_id)
    summary_after = time.monotonic() - killed_at
    assert summary.finished_by == "deadline"  # the rank job waits on the dead scan
    missing = {f"{m.phase}:{m.source}": m.reason for m in summary.sources_missing}
    # The killed scan never answered before the deadline: it is named as missing.
    assert step in missing, (missing, summary)
    assert summary.root_cause is not None  # the other sources still rank

    # RQ notices the dead job once its heartbeat expires, retries it, and then the rank job runs:
    # both find the summary made and stop there.
    until = time.monotonic() + SETTLE_WAIT
    done = {JobStatus.FINISHED, JobStatus.FAILED}
    while not (
        _status(config, inv_id, f"{phase}-{source}") in done
        and _status(config, inv_id, "rank") in done
    ):
        assert time.monotonic() < until, (
            _status(config, inv_id, f"{phase}-{source}"),
            _status(config, inv_id, "rank"),
        )
        time.sleep(0.5)
    assert stuck not in StartedJobRegistry(queue, connection=client).get_job_ids()
    time.sleep(1.0)  # a late finalizer would post now

    events = executor.progress(inv_id)
    assert sum(e.kind == "summary_ready" for e in events) == 1
    assert executor.summary(inv_id) == summary
    assert client.get(Keys(prefix).lease(incident.incident_id)) == inv_id
    print(
        f"killed {step} on worker {victim} after {killed_at - started:.1f} s; "
        f"summary {summary_after:.1f} s later; settled after {time.monotonic() - started:.1f} s"
    )
