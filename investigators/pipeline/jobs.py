"""The RQ jobs: small module-level functions taking ids and plain values.

Each job rebuilds the configuration from the factory named by ``config_ref`` (no secret goes
through Redis), loads the plan, and runs one step. A source that failed transiently raises after
keeping its failure, so RQ's ``Retry`` tries again with backoff; after the last try the failure
stays on record and the dependents run anyway (``allow_failure``).
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from datetime import timedelta

import redis
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Dependency, Job
from rq.serializers import JSONSerializer

from investigators.pipeline.config import PipelineConfig, load_config
from investigators.pipeline.investigation import DIVE_SOURCES, Plan
from investigators.pipeline.steps import (
    Investigation,
    candidates_of,
    dive_step,
    finalize_step,
    narrate_step,
    rank_step,
    scan_step,
)
from investigators.pipeline.store import RedisStore


class TransientSourceError(RuntimeError):
    """A source failed in a way a retry may fix; raised so that RQ retries the job."""


def _open(investigation_id: str, config_ref: str) -> Investigation:
    config = load_config(config_ref)
    return Investigation.load(RedisStore.from_url(config.redis_url), config, investigation_id)


def _attempt() -> int:
    from rq import get_current_job

    job = get_current_job()
    if job is None:
        return 1
    return int(job.meta.get("max_retries", 0)) - int(job.retries_left or 0) + 1


def job_id(config: PipelineConfig, investigation_id: str, step: str) -> str:
    """A deterministic RQ job id (letters, digits, dashes, underscores)."""
    prefix = "".join(c if c.isalnum() else "_" for c in config.key_prefix)
    return f"{prefix}-{investigation_id}-{step}"


def queue_of(config: PipelineConfig, connection: redis.Redis) -> Queue:
    """The pipeline's queue with the JSON serializer."""
    return Queue(config.queue, connection=connection, serializer=JSONSerializer)


def _enqueue_source(
    queue: Queue,
    config: PipelineConfig,
    plan: Plan,
    *,
    phase: str,
    source: str,
    config_ref: str,
    candidates: list[str] | None = None,
) -> Job:
    args: list[object] = [plan.investigation_id, source, config_ref]
    if phase == "dive":
        args.append(candidates or [])
    return queue.enqueue(
        scan_source if phase == "scan" else dive_source,
        args=args,
        job_id=job_id(config, plan.investigation_id, f"{phase}-{source}"),
        job_timeout=config.job_timeout,
        retry=Retry(max=config.retries, interval=list(config.retry_backoff))
        if config.retries
        else None,
        result_ttl=config.result_ttl,
        failure_ttl=config.result_ttl,
        meta={"max_retries": config.retries},
    )


def enqueue_investigation(
    queue: Queue, config: PipelineConfig, plan: Plan, config_ref: str
) -> None:
    """Fan out the broad scan, chain the ranking after it, and schedule the deadline."""
    scans = [
        _enqueue_source(queue, config, plan, phase="scan", source=s, config_ref=config_ref)
        for s in plan.sources
    ]
    common = {
        "result_ttl": config.result_ttl,
        "failure_ttl": config.result_ttl,
        "job_timeout": config.job_timeout,
    }
    queue.enqueue(
        rank_and_dive,
        args=[plan.investigation_id, config_ref],
        job_id=job_id(config, plan.investigation_id, "rank"),
        depends_on=Dependency(jobs=scans, allow_failure=True) if scans else None,
        retry=Retry(max=1),
        **common,
    )
    queue.enqueue_in(
        timedelta(seconds=max(0.0, plan.deadline_at - plan.enqueued_at)),
        finalize,
        args=[plan.investigation_id, config_ref, "deadline"],
        job_id=job_id(config, plan.investigation_id, "deadline"),
        retry=Retry(max=2),
        **common,
    )


def scan_source(investigation_id: str, source: str, config_ref: str) -> str:
    """Broad scan of one source."""
    inv = _open(investigation_id, config_ref)
    if inv.summary() is not None:
        return "skipped: summary already made"
    result = asyncio.run(scan_step(inv, source, attempt=_attempt()))
    if result.status != "ok" and result.transient:
        raise TransientSourceError(result.error or source)
    return result.status


def dive_source(investigation_id: str, source: str, config_ref: str, candidates: list[str]) -> str:
    """Deep dive of one source into the candidates."""
    inv = _open(investigation_id, config_ref)
    if inv.summary() is not None:
        return "skipped: summary already made"
    result = asyncio.run(dive_step(inv, source, candidates, attempt=_attempt()))
    if result.status != "ok" and result.transient and not inv.past_deadline():
        raise TransientSourceError(result.error or source)
    return result.status


def rank_and_dive(investigation_id: str, config_ref: str) -> str:
    """Rank after the broad scan, then fan out the deep dive and chain the final summary."""
    inv = _open(investigation_id, config_ref)
    if inv.summary() is not None:
        return "skipped: summary already made"
    ranked = rank_step(inv)
    candidates = candidates_of(inv, ranked)
    from investigators.pipeline.sources import available_sources

    sources = available_sources(inv.config, DIVE_SOURCES)
    if not candidates or not sources or inv.past_deadline():
        # Nothing to dive into: finish now, narrative included, rather than leave the
        # narrative (and so the bot's message) to the deadline job.
        return finalize(
            investigation_id, config_ref, "deadline" if inv.past_deadline() else "complete"
        )
    if not inv.once("dive"):
        return "deep dive already under way"
    client = redis.Redis.from_url(inv.config.redis_url)
    queue = queue_of(inv.config, client)
    dives = [
        _enqueue_source(
            queue,
            inv.config,
            inv.plan,
            phase="dive",
            source=s,
            config_ref=config_ref,
            candidates=candidates,
        )
        for s in sources
    ]
    queue.enqueue(
        finalize,
        args=[investigation_id, config_ref, "complete"],
        job_id=job_id(inv.config, investigation_id, "finalize"),
        depends_on=Dependency(jobs=dives, allow_failure=True),
        retry=Retry(max=2),
        result_ttl=inv.config.result_ttl,
        failure_ttl=inv.config.result_ttl,
        job_timeout=inv.config.job_timeout,
    )
    return f"deep dive on {', '.join(candidates)}"


def finalize(investigation_id: str, config_ref: str, finished_by: str) -> str:
    """Make the summary from what has arrived, then its narrative; the first finalizer wins."""
    inv = _open(investigation_id, config_ref)
    summary = finalize_step(inv, finished_by=finished_by)
    if finished_by != "deadline":
        _drop_deadline_job(inv)
    narrative = asyncio.run(narrate_step(inv))
    return f"{summary.finished_by}, narrative {narrative.status if narrative else 'elsewhere'}"


def _drop_deadline_job(inv: Investigation) -> None:
    """The deadline job has nothing left to do once the summary is made."""
    client = redis.Redis.from_url(inv.config.redis_url)
    with suppress(NoSuchJobError):  # gone already, or never scheduled: either is fine
        Job.fetch(
            job_id(inv.config, inv.id, "deadline"), connection=client, serializer=JSONSerializer
        ).delete()
