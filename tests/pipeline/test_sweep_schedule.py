"""Sweeps on RQ's own scheduler: enqueue_at the next window, and each sweep schedules the next."""

from __future__ import annotations

import time

import pytest
import redis
from pipeline_testkit import REDIS_URL, Workers
from rq import Queue
from rq.serializers import JSONSerializer

from bot.settings import PIPELINE_CONFIG_REF
from investigators.pipeline import PipelineConfig
from investigators.pipeline.store import RedisStore
from investigators.pipeline.sweep import SweepBook, schedule_sweeps


@pytest.mark.slow
def test_a_scheduled_sweep_runs_on_a_worker_and_schedules_the_next_once(
    workers: Workers, config: PipelineConfig, redis_client: redis.Redis
) -> None:
    interval = config.sweep_interval
    # As if scheduled an interval ago: due now, so the workers' scheduler moves it at once.
    due = schedule_sweeps(config, PIPELINE_CONFIG_REF, now=time.time() - interval)
    book = SweepBook(RedisStore.from_url(REDIS_URL), config)
    until = time.monotonic() + 60
    while book.state().last is None:
        assert time.monotonic() < until, "the scheduled sweep did not run"
        time.sleep(0.2)
    last = book.state().last
    assert last is not None and last.window == int(last.at // interval)

    queue = Queue(config.queue, connection=redis_client, serializer=JSONSerializer)
    upcoming = [j for j in queue.scheduled_job_registry.get_job_ids() if "-sweep-" in j]
    window = int(time.time() // interval) + 1
    assert upcoming == [due.rsplit("-", 1)[0] + f"-{window}"]  # the sweep scheduled its successor
    # Scheduling again (the bot does, once an interval) schedules nothing more.
    assert schedule_sweeps(config, PIPELINE_CONFIG_REF) == upcoming[0]
    again = [j for j in queue.scheduled_job_registry.get_job_ids() if "-sweep-" in j]
    assert again == upcoming
