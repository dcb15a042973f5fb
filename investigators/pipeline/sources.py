"""The investigators: one coroutine per source and phase, each returning a SourceResult.

The broad scan asks each source one cheap aggregate question about every service of the
catalog; the deep dive asks detailed questions about the top candidates only. A source that
fails returns its error as a value (``status="failed"``), marked transient when a retry could
help, so that the summary still posts without it.

Besides series and changes, the scan brings what an exported bundle holds of an incident: a few
representative error lines per service (from the log counts' own search, redacted here, before
they are stored or exported) and the alerting monitors with the metric each one watches, from
which the bundle's ``incident.alert`` is told when it can be told for certain.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from connectors.base import Connector, LanguageModel, Registry
from connectors.datadog import DatadogMetrics
from connectors.elastic import ElasticsearchLogs, ErrorLine, ErrorScan
from connectors.errors import ConnectorError, RateLimited, SourceUnavailable
from connectors.github import GitHubChanges
from connectors.patterns import group_lines, mask
from connectors.records import ErrorCountSeries
from connectors.registry import build_registry, close_registry
from investigators.bundle import ChangeKind, MetricKind
from investigators.catalog import Catalog
from investigators.pipeline.config import PipelineConfig
from investigators.pipeline.investigation import (
    CONNECTOR_OF,
    AlertingMonitor,
    Finding,
    LogLine,
    Plan,
    Query,
    SourceResult,
    finding_id,
)
from investigators.rca import CHANGE_WINDOW
from investigators.redact import redact

T = TypeVar("T")
#: How long before the detection time a deploy is still looked at closely (seconds).
CHANGE_LOOKBACK = 60 * 60.0
#: The rca search window opens this long before detection; log patterns compare to before it.
WINDOW_LEAD = 20 * 60.0
_MONITOR_STATES = {"Alert": 2.0, "Warn": 1.0}
#: Distinct error patterns kept per service for the bundle, each as its newest line.
LINES_PER_SERVICE = 5
#: How many times its rate before a pattern's rate must be since the window opened to count.
RISE = 2.0
#: Characters of a kept log line (cut after redacting).
LINE_CHARS = 500
#: A metric in a Datadog monitor query: ``avg:trace.http.request.errors{service:web}`` after the
#: evaluation window's ``avg(last_5m):``, or inside a function such as ``anomalies(...)``.
_QUERY_METRIC = re.compile(
    r"(?:^|[:(,\s])(?:avg|sum|min|max|count|p\d{1,3}(?:\.\d+)?):(?P<metric>[A-Za-z][\w.\-]*)\s*\{"
)


def _when(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def signal_kind(signal_name: str) -> MetricKind:
    """``latency`` or ``latency.db`` -> latency; anything unknown -> other."""
    head = signal_name.split(".", 1)[0]
    try:
        return MetricKind(head)
    except ValueError:
        return MetricKind.OTHER


def _change_kind(tags: list[str], source: str | None) -> ChangeKind:
    for tag in tags:
        if tag.startswith("change_kind:"):
            try:
                return ChangeKind(tag.split(":", 1)[1])
            except ValueError:
                return ChangeKind.OTHER
    return ChangeKind.DEPLOY if source == "deployment" else ChangeKind.OTHER


class _Recorder:
    """Times every query a source makes, for the record."""

    def __init__(self) -> None:
        self.queries: list[Query] = []

    async def __call__(self, what: str, call: Awaitable[T]) -> T:
        started = time.perf_counter()
        try:
            result = await call
        except BaseException as exc:
            self.queries.append(
                Query(what=what, seconds=time.perf_counter() - started, ok=False, error=str(exc))
            )
            raise
        self.queries.append(Query(what=what, seconds=time.perf_counter() - started))
        return result


def _registry_for(source: str, config: PipelineConfig) -> Registry:
    wanted = CONNECTOR_OF[source]
    return build_registry(
        elasticsearch=config.elasticsearch if wanted == "logs" else None,
        datadog=config.datadog if wanted == "metrics" else None,
        github=config.github if wanted == "changes" else None,
    )


def language_model(config: PipelineConfig) -> LanguageModel | None:
    """The configured language model (close it after use), or None without a key."""
    model = build_registry(anthropic=config.llm).get("llm")
    return model if isinstance(model, LanguageModel) else None


def available_sources(config: PipelineConfig, names: tuple[str, ...]) -> list[str]:
    """The sources whose connector is configured."""
    have = {
        "logs": config.elasticsearch is not None,
        "metrics": config.datadog is not None,
        "changes": config.github is not None,
    }
    return [name for name in names if have[CONNECTOR_OF[name]]]


async def run_source(
    source: str,
    *,
    phase: str,
    plan: Plan,
    catalog: Catalog,
    config: PipelineConfig,
    candidates: list[str] | None = None,
    attempt: int = 1,
) -> SourceResult:
    """Run one source of one phase, bounded by the plan's deadline; errors come back as values."""
    started = time.time()
    record = _Recorder()
    registry = _registry_for(source, config)
    connector: Connector = registry[CONNECTOR_OF[source]]
    budget = max(0.5, plan.deadline_at - started)
    found = _Found()
    status: Literal["ok", "failed"] = "ok"
    error: str | None = None
    transient = False
    try:
        work = _PHASES[phase][source]
        found = await asyncio.wait_for(
            work(
                connector, plan=plan, catalog=catalog, candidates=list(candidates or []), q=record
            ),
            timeout=budget,
        )
    except TimeoutError:
        status, transient = "failed", False
        error = f"{source}: no answer before the deadline ({budget:.0f} s)"
    except (SourceUnavailable, RateLimited) as exc:
        status, error, transient = "failed", str(exc), True
    except ConnectorError as exc:
        status, error = "failed", str(exc)
    finally:
        await close_registry(registry)
    return SourceResult(
        source=source,
        phase="scan" if phase == "scan" else "dive",
        status=status,
        error=error,
        transient=transient,
        findings=found.findings,
        queries=record.queries,
        telemetry=found.telemetry,
        log_lines=found.log_lines,
        monitors=found.monitors,
        started_at=started,
        ended_at=time.time(),
        attempt=attempt,
    )


def _as_written(values: list[float | None]) -> list[float | None]:
    """Values as a bundle file holds them (6 significant digits), so an export replays exactly."""
    return [
        None if v is None or v != v else v if abs(v) < 1e15 and v == int(v) else float(f"{v:.6g}")
        for v in values
    ]


# --- broad scan ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Found:
    """What one source's work brought back, before it becomes a :class:`SourceResult`."""

    findings: list[Finding] = field(default_factory=list)
    telemetry: dict[str, Any] = field(default_factory=dict)
    log_lines: list[LogLine] = field(default_factory=list)
    monitors: list[AlertingMonitor] = field(default_factory=list)


Out = _Found
#: Bucket of the log error counts, seconds: the resolution most metric series have too.
LOG_INTERVAL = 60.0


async def _scan_logs(
    logs: Any, *, plan: Plan, catalog: Catalog, candidates: list[str], q: _Recorder
) -> Out:
    assert isinstance(logs, ElasticsearchLogs)
    start, end = _when(plan.window_start), _when(plan.window_end)
    # Name every service in scope (by name and by its tag), so that the connector splits the
    # buckets over several searches instead of keeping only the noisiest few hundred.
    names = sorted(
        {n for s in plan.scope.neighbourhood for n in (s, catalog.services[s].datadog_service)}
    )
    # Lines from where the engine's search opens (what was logged as the incident began), and
    # from before it, to tell what is new.
    opened = plan.request.started_at - WINDOW_LEAD
    scan = await q(
        f"elasticsearch error counts and lines, {len(plan.scope.neighbourhood)} services",
        logs.error_scan(names, start, end, LOG_INTERVAL, lines_since=_when(opened)),
    )
    series = []
    for name, found in sorted(scan.counts.items()):
        service = catalog.resolve(name)
        if service is not None:
            series.append(
                {
                    "service": service.name,
                    "times": found.times,
                    "counts": found.counts,
                    "url": found.url,
                }
            )
    window = (plan.window_start, opened, plan.window_end)
    return _Found(
        telemetry={"series": series}, log_lines=representative_lines(scan, catalog, window=window)
    )


def representative_lines(
    scan: ErrorScan, catalog: Catalog, *, window: tuple[float, float, float]
) -> list[LogLine]:
    """A few lines per catalog service: the patterns new or risen since the incident window
    opened, each as its newest line, redacted. ``window`` is (scan start, opened, end).

    Patterns rather than the newest lines alone, so that one chatty message does not hide the
    line that names the dependency a caller waits on; new or risen ones only, so that the
    everyday "timeout calling X" of a healthy service is not read as this incident's. Redacted
    here, before the lines are stored or go into a bundle that may be exported and shared: the
    redaction before the model and Slack does not cover a bundle file.
    """
    counts: dict[str, list[ErrorCountSeries]] = {}
    lines: dict[str, list[ErrorLine]] = {}
    for tag, found in scan.lines.items():
        service = catalog.resolve(tag)
        if service is not None:
            lines.setdefault(service.name, []).extend(found)
            if tag in scan.counts:
                counts.setdefault(service.name, []).append(scan.counts[tag])
    kept: list[LogLine] = []
    for name, found in sorted(lines.items()):
        for line in _risen(found, counts.get(name, []), window=window)[:LINES_PER_SERVICE]:
            kept.append(
                LogLine(
                    service=name,
                    at=line.at,
                    level=line.level,
                    message=redact(line.message, limit=LINE_CHARS),
                )
            )
    return kept


def _risen(
    lines: list[ErrorLine],
    counts: list[ErrorCountSeries],
    *,
    window: tuple[float, float, float],
) -> list[ErrorLine]:
    """The newest line of each pattern whose rate since ``opened`` is new or at least
    :data:`RISE` times its rate before, new ones first, then by how much they rose.

    Each sampled line stands for its window's error lines in proportion (the counts say how
    many there were), per second of the window, as the windows differ in length.
    """
    start, opened, end = window
    total = {"before": 0, "during": 0}
    for series in counts:
        for t, c in zip(series.times, series.counts, strict=True):
            total["during" if t >= opened else "before"] += c
    before = [line for line in lines if line.at < opened]
    during = sorted((line for line in lines if line.at >= opened), key=lambda line: -line.at)
    seconds = {"before": max(opened - start, 1.0), "during": max(end - opened, 1.0)}
    weight = {
        name: total[name] / max(len(sample), 1) / seconds[name]
        for name, sample in (("before", before), ("during", during))
    }
    grouped = group_lines(
        [(line.message, weight["before"]) for line in before],
        [(line.message, weight["during"]) for line in during],
        samples=1,
    )
    newest: dict[str, ErrorLine] = {}
    for line in during:
        newest.setdefault(mask(line.message), line)
    return [
        newest[g.pattern] for g in grouped if g.during > RISE * g.before and g.pattern in newest
    ]


async def _scan_metrics(
    metrics: Any, *, plan: Plan, catalog: Catalog, candidates: list[str], q: _Recorder
) -> Out:
    assert isinstance(metrics, DatadogMetrics)
    start, end = _when(plan.window_start), _when(plan.window_end)
    names = sorted(metrics.config.signals)
    answers, events = await asyncio.gather(
        asyncio.gather(
            *(q(f"datadog {metrics.query_for(n)}", metrics.signal(n, start, end)) for n in names)
        ),
        q("datadog events", metrics.events(start, end)),
    )
    series = []
    for name, found in zip(names, answers, strict=True):
        for tag, record in sorted(found.items()):
            service = catalog.resolve(tag)
            if service is None:
                continue
            series.append(
                {
                    "service": service.name,
                    "name": record.metric,
                    "kind": signal_kind(name).value,
                    "unit": record.unit,
                    "times": record.times,
                    "values": _as_written(record.values),
                    "url": record.url,
                }
            )
    changes = []
    for event in events:
        kind = _change_kind(event.tags, event.source)
        version = next((t.split(":", 1)[1] for t in event.tags if t.startswith("version:")), "")
        for tag in event.services:
            service = catalog.resolve(tag)
            if service is not None and event.alert_type in (None, "info", "success"):
                changes.append(
                    {
                        "service": service.name,
                        "kind": kind.value,
                        "at": event.at.timestamp(),
                        "id": version or event.id,
                        "title": event.title,
                        "author": "",
                        "url": event.url,
                    }
                )
    return _Found(telemetry={"series": series, "changes": changes})


async def _scan_changes(
    github: Any, *, plan: Plan, catalog: Catalog, candidates: list[str], q: _Recorder
) -> Out:
    assert isinstance(github, GitHubChanges)
    repos = {s.github_repo: s.name for s in catalog.services.values() if s.github_repo}
    # A deploy counts against trouble that began up to CHANGE_WINDOW after it, and trouble may
    # begin as early as the history does.
    since = _when(plan.window_start - CHANGE_WINDOW)
    found = await q(
        f"github deployments of {len(repos)} repositories",
        github.changes(sorted(repos), since, kinds={"deployments"}),
    )
    changes = [
        {
            "service": repos[d.repo],
            "kind": ChangeKind.DEPLOY.value,
            "at": d.created_at.timestamp(),
            "id": d.sha[:12],
            "title": d.description or d.ref,
            "author": d.creator,
            "url": d.url,
        }
        for d in found.deployments
        if d.repo in repos and d.created_at.timestamp() <= plan.window_end
    ]
    return _Found(telemetry={"changes": changes})


async def _scan_monitors(
    metrics: Any, *, plan: Plan, catalog: Catalog, candidates: list[str], q: _Recorder
) -> Out:
    assert isinstance(metrics, DatadogMetrics)
    monitors = await q("datadog monitors in Alert or Warn", metrics.alerting_monitors())
    findings = []
    alerting = []
    for m in monitors:
        for tag in m.services:
            service = catalog.resolve(tag)
            if service is None:
                continue
            findings.append(
                Finding(
                    id=finding_id("monitors", service.name, m.id),
                    source="monitors",
                    kind="monitor",
                    service=service.name,
                    title=f"{m.state}: {m.name}",
                    numbers={"severity": _MONITOR_STATES.get(m.state, 0.0)},
                    url=m.url,
                    details={"query": m.query, "state": m.state, "monitor_id": m.id},
                )
            )
            alerting.append(
                AlertingMonitor(
                    monitor_id=m.id,
                    service=service.name,
                    state=m.state,
                    metric=query_metric(m.query),
                    since=m.state_since.timestamp() if m.state_since is not None else None,
                )
            )
    findings.sort(key=lambda f: (f.service, f.id))
    alerting.sort(key=lambda a: (a.service, a.monitor_id))
    return _Found(findings=findings, monitors=alerting)


def query_metric(query: str) -> str | None:
    """The one metric a Datadog monitor query watches; None when it names none (a log, APM or
    composite monitor) or several (a ratio of two metrics): which series fired is then not
    known."""
    found = {m["metric"] for m in _QUERY_METRIC.finditer(query)}
    return found.pop() if len(found) == 1 else None


# --- deep dive -----------------------------------------------------------------------------------


async def _dive_logs(
    logs: Any, *, plan: Plan, catalog: Catalog, candidates: list[str], q: _Recorder
) -> Out:
    assert isinstance(logs, ElasticsearchLogs)
    opened = plan.request.started_at - WINDOW_LEAD
    window = (_when(opened), _when(plan.window_end))
    baseline = (_when(plan.window_start), _when(opened))
    patterns = await asyncio.gather(
        *(
            q(
                f"elasticsearch error patterns of {name}",
                logs.top_error_patterns(
                    catalog.services[name].datadog_service, window, baseline, limit=5
                ),
            )
            for name in candidates
        )
    )
    findings = []
    for name, found in zip(candidates, patterns, strict=True):
        for p in found:
            if p.count_during <= p.count_before:
                continue
            findings.append(
                Finding(
                    id=finding_id("logs", name, p.pattern),
                    source="logs",
                    kind="new_log_pattern" if p.is_new else "log_pattern",
                    service=name,
                    title=p.pattern,
                    numbers={"before": p.count_before, "during": p.count_during},
                    at=plan.request.started_at,
                    url=p.url,
                    details={"samples": p.samples[:3], "estimated": p.estimated},
                )
            )
    return _Found(findings=findings)


async def _dive_changes(
    github: Any, *, plan: Plan, catalog: Catalog, candidates: list[str], q: _Recorder
) -> Out:
    assert isinstance(github, GitHubChanges)
    repos: dict[str, str] = {}
    for name in candidates:
        repo = catalog.services[name].github_repo
        if repo:
            repos[repo] = name
    if not repos:
        return _Found()
    since = _when(plan.request.started_at - CHANGE_LOOKBACK)
    found = await q(
        f"github commits and pull requests of {', '.join(sorted(repos))}",
        github.changes(
            sorted(repos),
            since,
            with_files=True,
            kinds={"commits", "pull_requests"},
        ),
    )
    findings = []
    for c in found.commits:
        if c.repo in repos and c.at.timestamp() <= plan.window_end:
            findings.append(
                Finding(
                    id=finding_id("changes", repos[c.repo], c.sha),
                    source="changes",
                    kind="commit",
                    service=repos[c.repo],
                    title=c.title,
                    numbers={"files": float(len(c.files or []))},
                    at=c.at.timestamp(),
                    url=c.url,
                    details={"sha": c.sha, "author": c.author, "files": c.files or []},
                )
            )
    for p in found.pull_requests:
        if p.repo in repos and p.merged_at.timestamp() <= plan.window_end:
            findings.append(
                Finding(
                    id=finding_id("changes", repos[p.repo], "pr", p.number),
                    source="changes",
                    kind="pull_request",
                    service=repos[p.repo],
                    title=p.title,
                    numbers={"number": float(p.number)},
                    at=p.merged_at.timestamp(),
                    url=p.url,
                    details={
                        "author": p.author,
                        "files": p.files or [],
                        "merge_commit_sha": p.merge_commit_sha,
                    },
                )
            )
    findings.sort(key=lambda f: (f.service, -(f.at or 0.0), f.id))
    return _Found(findings=findings)


_PHASES: dict[str, dict[str, Any]] = {
    "scan": {
        "logs": _scan_logs,
        "metrics": _scan_metrics,
        "changes": _scan_changes,
        "monitors": _scan_monitors,
    },
    "dive": {"logs": _dive_logs, "changes": _dive_changes},
}
