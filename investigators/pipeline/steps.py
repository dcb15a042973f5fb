"""The steps of an investigation, on a :class:`~investigators.pipeline.store.Store`.

Shared by the RQ jobs and the local executor: begin (join or plan), scan one source, rank,
dive into one source, finalize, narrate. Every step is safe to run twice: results overwrite
themselves, and the things that must happen once (the deep dive's fan-out, the summary and its
narrative) are guarded by set-if-absent keys.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field

from investigators.bundle import Bundle
from investigators.catalog import Catalog, load_catalog
from investigators.pipeline.chartdata import ChartData, chart_data
from investigators.pipeline.config import PipelineConfig
from investigators.pipeline.investigation import (
    DIVE_SOURCES,
    SCAN_SOURCES,
    IncidentRequest,
    Plan,
    ProgressEvent,
    SourceResult,
    make_plan,
    new_investigation_id,
)
from investigators.pipeline.livebundle import build_bundle, read_bundle
from investigators.pipeline.narrative import LlmUsage, Narrative, write_narrative
from investigators.pipeline.sources import available_sources, language_model, run_source
from investigators.pipeline.store import Keys, Store
from investigators.pipeline.summary import Summary, build_summary
from investigators.rca import Analysis, RcaResult, analyse, rank

log = logging.getLogger(__name__)

#: How long after the deadline a request for the same incident still joins (seconds).
LEASE_MARGIN = 120.0
#: How long a joiner waits for the plan of an investigation whose lease it found (seconds).
PLAN_WAIT = 5.0


class Ranked(BaseModel):
    """The ranking and which scan results it was made from."""

    ranking: RcaResult
    basis: list[str]
    at: float


class SourceRecord(BaseModel):
    """One step's result, without its telemetry, for the record."""

    step: str
    status: str
    error: str | None
    attempt: int
    seconds: float
    started_at: float
    findings: int
    queries: list[dict[str, object]]


class Record(BaseModel):
    """Everything an investigation did: plan, queries, findings, timing, errors, outcome."""

    plan: Plan
    steps: list[SourceRecord]
    phases: dict[str, float] = Field(description="seconds spent per phase")
    finished_by: str
    summary_at: float
    ranking: RcaResult


@lru_cache(maxsize=8)
def _catalog_at(path: str, mtime: float) -> Catalog:
    return load_catalog(path)


def catalog_of(config: PipelineConfig) -> Catalog:
    """The configured catalog, loaded once per process while the file is unchanged."""
    path = Path(config.catalog_path)
    return _catalog_at(str(path), path.stat().st_mtime if path.is_file() else 0.0)


class Investigation:
    """One investigation's state in a store."""

    def __init__(self, store: Store, config: PipelineConfig, plan: Plan) -> None:
        self.store = store
        self.config = config
        self.plan = plan
        self.keys = Keys(config.key_prefix)
        self.ttl = float(config.result_ttl)

    @property
    def id(self) -> str:
        """The investigation id."""
        return self.plan.investigation_id

    def key(self, part: str) -> str:
        """A key of this investigation."""
        return self.keys.inv(self.id, part)

    @classmethod
    def load(cls, store: Store, config: PipelineConfig, investigation_id: str) -> Investigation:
        """The investigation of that id; KeyError when its plan is gone."""
        raw = store.get(Keys(config.key_prefix).inv(investigation_id, "plan"))
        if raw is None:
            raise KeyError(f"no investigation {investigation_id!r} (expired or never planned)")
        return cls(store, config, Plan.model_validate_json(raw))

    def event(self, kind: str, *, source: str | None = None, detail: str = "") -> None:
        """Record a progress event."""
        made = ProgressEvent(kind=kind, at=time.time(), source=source, detail=detail)  # type: ignore[arg-type]
        self.store.append(self.key("events"), made.model_dump_json(), ttl=self.ttl)

    def events(self, since: int = 0) -> list[ProgressEvent]:
        """Progress events from position ``since`` on."""
        return [
            ProgressEvent.model_validate_json(e)
            for e in self.store.items(self.key("events"), since)
        ]

    def once(self, what: str) -> bool:
        """True the first time only."""
        return self.store.set(self.key(f"once:{what}"), "1", ttl=self.ttl, only_new=True)

    def save(self, result: SourceResult) -> None:
        """Keep one step's result (a retry's result replaces the failed attempt's)."""
        key = f"result:{result.phase}:{result.source}"
        self.store.set(self.key(key), result.model_dump_json(), ttl=self.ttl)

    def results(self, phase: str) -> dict[str, SourceResult]:
        """The results that have arrived for a phase, by ``phase:source``."""
        names = self.plan.sources if phase == "scan" else list(DIVE_SOURCES)
        found: dict[str, SourceResult] = {}
        for source in names:
            raw = self.store.get(self.key(f"result:{phase}:{source}"))
            if raw is not None:
                found[f"{phase}:{source}"] = SourceResult.model_validate_json(raw)
        return found

    def summary(self) -> Summary | None:
        """The summary, once written."""
        raw = self.store.get(self.key("summary"))
        return None if raw is None else Summary.model_validate_json(raw)

    def chart(self) -> ChartData | None:
        """What the summary's chart shows, once the summary is written (None: no chart)."""
        raw = self.store.get(self.key("chart"))
        return None if raw is None else ChartData.model_validate_json(raw)

    def record(self) -> Record | None:
        """The record, once the summary is written."""
        raw = self.store.get(self.key("record"))
        return None if raw is None else Record.model_validate_json(raw)

    def narrative(self) -> Narrative | None:
        """The narrative (or why there is none), once the model answered or gave up."""
        raw = self.store.get(self.key("narrative"))
        return None if raw is None else Narrative.model_validate_json(raw)

    def add_usage(self, usage: list[LlmUsage]) -> None:
        """Record language-model calls made for this investigation."""
        for item in usage:
            self.store.append(self.key("usage"), item.model_dump_json(), ttl=self.ttl)

    def usage(self) -> list[LlmUsage]:
        """Every language-model call made for this investigation, oldest first."""
        return [LlmUsage.model_validate_json(u) for u in self.store.items(self.key("usage"))]

    def ranked(self) -> Ranked | None:
        """The ranking after the broad scan, if made."""
        raw = self.store.get(self.key("ranking"))
        return None if raw is None else Ranked.model_validate_json(raw)

    def past_deadline(self) -> bool:
        """Whether the deadline has passed."""
        return time.time() >= self.plan.deadline_at


def begin(
    request: IncidentRequest,
    *,
    store: Store,
    config: PipelineConfig,
    config_ref: str | None = None,
) -> tuple[Investigation, bool]:
    """Plan a new investigation of the incident, or join the one already serving it."""
    keys = Keys(config.key_prefix)
    candidate = new_investigation_id()
    lease = keys.lease(request.incident_id)
    # The lease lasts as long as an investigation can run (plus a margin for a dead worker's
    # job to be noticed): requests meanwhile join it; a later one starts afresh (a re-run).
    if not store.set(lease, candidate, ttl=config.deadline + LEASE_MARGIN, only_new=True):
        existing = store.get(lease) or candidate
        waited = time.monotonic() + PLAN_WAIT
        while True:  # the winner writes its plan right after taking the lease
            try:
                joined = Investigation.load(store, config, existing)
            except KeyError:
                if time.monotonic() > waited:
                    raise
                time.sleep(0.05)
                continue
            joined.event("joined", detail=request.channel or "")
            return joined, True
    catalog = catalog_of(config)
    plan = make_plan(
        request,
        catalog=catalog,
        sources=available_sources(config, SCAN_SOURCES),
        deadline=config.deadline,
        baseline=config.baseline,
        lookahead=config.lookahead,
        config_ref=config_ref,
        investigation_id=candidate,
    )
    inv = Investigation(store, config, plan)
    store.set(inv.key("plan"), plan.model_dump_json(), ttl=inv.ttl)
    if request.channel:  # the sweep's view of open incident channels
        store.append(keys.recent_channels(), inv.id, ttl=inv.ttl)
    scope = plan.scope
    inv.event(
        "started",
        detail=f"{len(scope.scanned)} services, sources {', '.join(plan.sources) or 'none'}"
        + (f", named {', '.join(scope.named)}" if scope.named else ""),
    )
    return inv, False


async def scan_step(inv: Investigation, source: str, *, attempt: int = 1) -> SourceResult:
    """Run one broad-scan source and keep what it found."""
    return await _source_step(inv, source, phase="scan", candidates=[], attempt=attempt)


async def dive_step(
    inv: Investigation, source: str, candidates: list[str], *, attempt: int = 1
) -> SourceResult:
    """Run one deep-dive source on the candidates and keep what it found."""
    return await _source_step(inv, source, phase="dive", candidates=candidates, attempt=attempt)


async def _source_step(
    inv: Investigation, source: str, *, phase: str, candidates: list[str], attempt: int
) -> SourceResult:
    inv.event("source_started", source=f"{phase}:{source}", detail=f"pid {os.getpid()}")
    result = await run_source(
        source,
        phase=phase,
        plan=inv.plan,
        catalog=catalog_of(inv.config),
        config=inv.config,
        candidates=candidates,
        attempt=attempt,
    )
    inv.save(result)
    took = result.ended_at - result.started_at
    if result.status == "ok":
        inv.event(
            "source_done",
            source=f"{phase}:{source}",
            detail=f"{len(result.findings)} findings in {took:.1f} s",
        )
    else:
        inv.event("source_failed", source=f"{phase}:{source}", detail=result.error or "")
    return result


def scan_bundle(inv: Investigation, results: Mapping[str, SourceResult] | None = None) -> Bundle:
    """The incident bundle of the broad-scan results that have arrived."""
    found = inv.results("scan") if results is None else results
    by_source = {k.split(":", 1)[1]: r for k, r in found.items()}
    return build_bundle(inv.plan, catalog=catalog_of(inv.config), results=by_source)


def rank_step(inv: Investigation) -> Ranked:
    """Rank the candidates from the broad scan and keep the ranking."""
    results = inv.results("scan")
    ranked = Ranked(
        ranking=rank(scan_bundle(inv, results)),
        basis=sorted(k for k, r in results.items() if r.status == "ok"),
        at=time.time(),
    )
    inv.store.set(inv.key("ranking"), ranked.model_dump_json(), ttl=inv.ttl)
    top = ", ".join(r.service for r in ranked.ranking.ranking[:3]) or "nothing anomalous"
    inv.event("ranked", detail=top)
    return ranked


def candidates_of(inv: Investigation, ranked: Ranked) -> list[str]:
    """The services the deep dive looks at."""
    return [r.service for r in ranked.ranking.ranking[: inv.config.deep_dive_top]]


def finalize_step(inv: Investigation, *, finished_by: str) -> Summary:
    """Make the summary from what has arrived; only the first call's summary is kept."""
    existing = inv.summary()
    if existing is not None:
        return existing
    scans = inv.results("scan")
    ranked = inv.ranked()
    basis = sorted(k for k, r in scans.items() if r.status == "ok")
    by_source = {k.split(":", 1)[1]: r for k, r in scans.items()}
    read = read_bundle(inv.plan, catalog=catalog_of(inv.config), results=by_source)
    bundle = read.bundle
    # One analysis gives the ranking and the evidence behind it (the same ranking as the rank
    # step's when the scans are the same: the engine is deterministic).
    analysis = analyse(bundle)
    if ranked is None or ranked.basis != basis:
        ranked = Ranked(ranking=analysis.result, basis=basis, at=time.time())
    dives = inv.results("dive")
    results = {**scans, **dives}
    summary = build_summary(
        inv.plan,
        catalog=catalog_of(inv.config),
        bundle=bundle,
        analysis=analysis,
        results=results,
        finished_by=finished_by,
        skipped=read.skipped,
    )
    _keep_chart(inv, bundle, analysis, summary)
    if not inv.store.set(inv.key("summary"), summary.model_dump_json(), ttl=inv.ttl, only_new=True):
        return inv.summary() or summary
    now = time.time()
    inv.store.set(
        inv.key("record"),
        _record(inv, results, ranked, finished_by, now).model_dump_json(),
        ttl=inv.ttl,
    )
    top = summary.root_cause.service if summary.root_cause else "no root cause"
    inv.event("summary_ready", detail=f"{top} ({finished_by})")
    return summary


def _keep_chart(inv: Investigation, bundle: Bundle, analysis: Analysis, summary: Summary) -> None:
    """Keep the chart's data before the summary, so that whoever reads the summary finds it.

    A chart is a picture of the summary, never a condition of it: an error here is logged.
    """
    try:
        chart = chart_data(bundle, analysis, summary)
    except Exception:
        log.exception("investigation %s: no chart (its data could not be made)", inv.id)
        return
    if chart is not None:
        inv.store.set(inv.key("chart"), chart.model_dump_json(), ttl=inv.ttl, only_new=True)


def _record(
    inv: Investigation,
    results: Mapping[str, SourceResult],
    ranked: Ranked,
    finished_by: str,
    now: float,
) -> Record:
    plan = inv.plan
    scans = [r for k, r in results.items() if k.startswith("scan:")]
    dives = [r for k, r in results.items() if k.startswith("dive:")]
    scan_done = max((r.ended_at for r in scans), default=plan.enqueued_at)
    ranked_at = max(ranked.at, scan_done)
    dive_done = max((r.ended_at for r in dives), default=ranked_at)
    phases = {
        "scan": scan_done - plan.enqueued_at,
        "rank": ranked_at - scan_done,
        "dive": max(0.0, dive_done - ranked_at),
        "summary": max(0.0, now - max(dive_done, ranked_at)),
    }
    return Record(
        plan=plan,
        steps=[
            SourceRecord(
                step=k,
                status=r.status,
                error=r.error,
                attempt=r.attempt,
                seconds=r.ended_at - r.started_at,
                started_at=r.started_at,
                findings=len(r.findings),
                queries=[q.model_dump() for q in r.queries],
            )
            for k, r in sorted(results.items())
        ],
        phases=phases,
        finished_by=finished_by,
        summary_at=now,
        ranking=ranked.ranking,
    )


async def narrate_step(inv: Investigation) -> Narrative | None:
    """Write the summary's narrative once, within the deadline; None if another worker does."""
    existing = inv.narrative()
    summary = inv.summary()
    if existing is not None or summary is None or not inv.once("narrative"):
        return existing
    model = language_model(inv.config)
    try:
        narrative = await write_narrative(
            summary,
            model=model,
            budget=inv.config.llm_budget,
            deadline_at=inv.plan.deadline_at,
            title=inv.plan.request.title,
        )
    finally:
        if model is not None:
            await model.aclose()
    inv.store.set(inv.key("narrative"), narrative.model_dump_json(), ttl=inv.ttl)
    inv.add_usage(narrative.usage)
    inv.event("narrative_ready", detail=narrative.status)
    return narrative
