"""The health sweep on the pipeline: scan every service, rank, decide, queue what to post.

RQ's own scheduler runs the sweeps: :func:`schedule_sweeps` puts the next one on the queue for the
start of the next window with ``enqueue_at`` (job id ``...-sweep-{window}``, so scheduling twice
schedules once), and each :func:`sweep` schedules its successor before it works, so the chain
survives a sweep that fails. The workers' ``--with-scheduler`` moves it to the queue on time.
(``rq cron`` would be the other RQ way, but in rq 2.12 it enqueues with the pickle serializer,
which the pipeline's JSON workers refuse.) A sweep covers the window ``floor(now / interval)``:
it claims that window once (set-if-absent), so a sweep that runs twice, late, or on two workers
at once does the work once; after an outage of the scheduler, the one late sweep schedules the
next window from now, so missed sweeps do not pile up. The bot calls :func:`schedule_sweeps`
when it starts and then once an interval, in case the chain was lost (Redis flushed, say).

It runs the broad scan of an investigation over the last two
intervals against a baseline before them, ranks with the engine, and advances the sweep's state
(:mod:`investigators.sweep`); the resulting actions go on a list the bot posts from. Keys::

    {prefix}:sweep:state          open and recently closed degradations, the last sweep
    {prefix}:sweep:window:{n}     claimed by the sweep of window n
    {prefix}:sweep:lock           held while a sweep reads and writes the state
    {prefix}:sweep:actions        what to post, edit or thread, oldest first
    {prefix}:sweep:mutes          services muted with /rca mute, and until when
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime

import redis
from rq.job import Job

from investigators.catalog import Catalog
from investigators.pipeline.config import PipelineConfig, load_config
from investigators.pipeline.investigation import SCAN_SOURCES, IncidentRequest, Plan, make_plan
from investigators.pipeline.jobs import queue_of
from investigators.pipeline.livebundle import build_bundle
from investigators.pipeline.sources import available_sources, run_source
from investigators.pipeline.steps import catalog_of
from investigators.pipeline.store import Keys, RedisStore, Store
from investigators.pipeline.summary import Summary, build_summary
from investigators.rca import analyse
from investigators.sweep import (
    SUSTAINED,
    Action,
    Evidence,
    Suspect,
    SweepRecord,
    SweepState,
    advance,
    suspects_of,
)

#: Evidence lines kept per suspect.
EVIDENCE = 4


class SweepBook:
    """The sweep's keys in a store: state, claimed windows, actions, mutes."""

    def __init__(self, store: Store, config: PipelineConfig) -> None:
        self.store = store
        self.keys = Keys(config.key_prefix)
        self.ttl = float(config.result_ttl)
        self.interval = config.sweep_interval

    def state(self) -> SweepState:
        """The state as the last sweep left it."""
        raw = self.store.get(self.keys.sweep("state"))
        return SweepState() if raw is None else SweepState.model_validate_json(raw)

    def save(self, state: SweepState) -> None:
        """Keep the state."""
        self.store.set(self.keys.sweep("state"), state.model_dump_json(), ttl=self.ttl)

    def claim(self, window: int) -> bool:
        """True for the first sweep of a window only."""
        key = self.keys.sweep(f"window:{window}")
        return self.store.set(key, "1", ttl=self.interval * 4, only_new=True)

    def lock(self, seconds: float) -> bool:
        """Take the state's lock for up to ``seconds``."""
        return self.store.set(self.keys.sweep("lock"), "1", ttl=seconds, only_new=True)

    def unlock(self) -> None:
        """Release it (it expires anyway)."""
        self.store.set(self.keys.sweep("lock"), "0", ttl=0.001)

    def push(self, actions: list[Action]) -> None:
        """Queue actions for the bot."""
        for action in actions:
            self.store.append(self.keys.sweep("actions"), action.model_dump_json(), ttl=self.ttl)

    def actions(self, since: int = 0) -> list[Action]:
        """The actions from position ``since`` on (pass how many were handled)."""
        raw = self.store.items(self.keys.sweep("actions"), since)
        return [Action.model_validate_json(a) for a in raw]

    def mutes(self, now: float | None = None) -> dict[str, float]:
        """Muted services and until when (expired mutes dropped)."""
        raw = self.store.get(self.keys.sweep("mutes"))
        found: dict[str, float] = json.loads(raw) if raw else {}
        at = time.time() if now is None else now
        return {s: float(u) for s, u in found.items() if float(u) > at}

    def mute(self, service: str, seconds: float, *, now: float | None = None) -> float:
        """Mute a service's heads-ups for ``seconds``; returns until when."""
        at = time.time() if now is None else now
        muted = self.mutes(at)
        muted[service] = at + seconds
        self.store.set(self.keys.sweep("mutes"), json.dumps(muted), ttl=max(self.ttl, seconds))
        return muted[service]


def covered_services(store: Store, config: PipelineConfig, *, now: float) -> dict[str, str]:
    """Services an incident channel investigated lately already covers: name -> channel."""
    keys = Keys(config.key_prefix)
    since = now - config.sweep_cover_hours * 3600
    covered: dict[str, str] = {}
    for investigation_id in store.items(keys.recent_channels()):
        raw = store.get(keys.inv(investigation_id, "plan"))
        if raw is None:
            continue
        plan = Plan.model_validate_json(raw)
        if plan.enqueued_at < since:
            continue
        where = plan.request.title or plan.request.channel or investigation_id
        services = list(plan.scope.named)
        summary_raw = store.get(keys.inv(investigation_id, "summary"))
        if summary_raw is not None:
            root = Summary.model_validate_json(summary_raw).root_cause
            if root is not None:
                services.append(root.service)
        for service in services:
            covered[service] = where
    return covered


def _suspect(summary: Summary, catalog: Catalog, service: str, score: float) -> Suspect:
    item = next((r for r in summary.ranking if r.get("service") == service), {})
    evidence = [
        Evidence(source=f.source, title=f.title, url=f.url)
        for f in summary.evidence
        if f.service == service and f.source != "changes"
    ][:EVIDENCE]
    root = summary.root_cause
    change = None
    if root is not None and root.service == service and root.change is not None:
        change = Evidence(source=root.change.kind, title=root.change.title, url=root.change.url)
    reasons = item.get("reasons")
    explains = item.get("explains")
    return Suspect(
        service=service,
        team=catalog.services[service].team,
        score=score,
        confidence=str(item.get("confidence", "high")),
        reasons=[str(r) for r in reasons] if isinstance(reasons, list) else [],
        explains=[str(e) for e in explains] if isinstance(explains, list) else [],
        evidence=evidence,
        change=change,
    )


async def sweep_once(
    config: PipelineConfig, store: Store, *, at: float | None = None
) -> tuple[SweepRecord, list[Action]] | None:
    """Sweep the window of ``at`` (default now); None when that window was swept already."""
    started = time.monotonic()
    at = time.time() if at is None else at
    window = int(at // config.sweep_interval)
    book = SweepBook(store, config)
    if not book.claim(window):
        return None
    catalog = catalog_of(config)
    # Onsets are looked for over the last two intervals, against the baseline before them.
    request = IncidentRequest(
        incident_id=f"sweep-{window}",
        started_at=at - SUSTAINED * config.sweep_interval,
        until=at,
        title="health sweep",
    )
    plan = make_plan(
        request,
        catalog=catalog,
        # Changes come from the metric source's events (one request); GitHub's per-repository
        # listings would cost a request per service every sweep, past its hourly quota.
        sources=[s for s in available_sources(config, SCAN_SOURCES) if s != "changes"],
        deadline=config.deadline,
        baseline=config.baseline,
        lookahead=config.lookahead,
    )
    results = await asyncio.gather(
        *(
            run_source(s, phase="scan", plan=plan, catalog=catalog, config=config)
            for s in plan.sources
        )
    )
    bundle = build_bundle(plan, catalog=catalog, results={r.source: r for r in results})
    analysis = analyse(bundle)
    ranking = analysis.result
    summary = build_summary(
        plan,
        catalog=catalog,
        bundle=bundle,
        analysis=analysis,
        results={f"scan:{r.source}": r for r in results},
        finished_by="complete",
    )
    teams = {name: s.team for name, s in catalog.services.items()}
    scores = {r.service: r.score for r in ranking.ranking}
    suspects = [_suspect(summary, catalog, s, scores[s]) for s in suspects_of(ranking, teams)]
    record = SweepRecord(
        window=window,
        at=at,
        services=len(catalog.services),
        anomalous=len(ranking.ranking),  # symptoms are ranked too
        suspects=[s.service for s in suspects],
        seconds=time.monotonic() - started,
        sources_missing=[r.source for r in results if r.status != "ok"],
    )
    until = time.monotonic() + 30
    while not book.lock(60):
        if time.monotonic() > until:
            raise TimeoutError("the sweep's state stayed locked for 30 s")
        await asyncio.sleep(0.1)
    try:
        state, actions = advance(
            book.state(),
            window=window,
            at=at,
            suspects=suspects,
            covered=covered_services(store, config, now=time.time()),
            mutes=book.mutes(at),
            mention_severity=config.sweep_mention,
        )
        state.last = record
        book.save(state)
        book.push(actions)
    finally:
        book.unlock()
    return record, actions


def schedule_sweeps(config: PipelineConfig, config_ref: str, *, now: float | None = None) -> str:
    """Schedule the sweep of the next window unless it is already; returns its job id."""
    at = time.time() if now is None else now
    window = int(at // config.sweep_interval) + 1
    client = redis.Redis.from_url(config.redis_url)
    try:
        prefix = "".join(c if c.isalnum() else "_" for c in config.key_prefix)
        job_id = f"{prefix}-sweep-{window}"
        if not Job.exists(job_id, connection=client):
            queue_of(config, client).enqueue_at(
                datetime.fromtimestamp(window * config.sweep_interval, UTC),
                sweep,
                args=[config_ref],
                job_id=job_id,
                job_timeout=max(config.job_timeout, 120),
                result_ttl=int(config.sweep_interval * 6),
                failure_ttl=config.result_ttl,
            )
        return job_id
    finally:
        client.close()


def sweep(config_ref: str) -> str:
    """The scheduled job: schedule the next sweep, then sweep the current window."""
    config = load_config(config_ref)
    schedule_sweeps(config, config_ref)
    done = asyncio.run(sweep_once(config, RedisStore.from_url(config.redis_url)))
    if done is None:
        return "window already swept"
    record, actions = done
    return (
        f"window {record.window}: {record.services} services, {record.anomalous} anomalous, "
        f"suspects {', '.join(record.suspects) or 'none'}, {len(actions)} actions"
    )
