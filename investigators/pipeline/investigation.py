"""An investigation's vocabulary: the request, its scope and plan, findings, results, events.

Everything here is a pydantic model, because all of it goes through Redis as JSON and back.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any, Literal

import networkx as nx
from pydantic import BaseModel, Field

from investigators.catalog import Catalog

#: The broad-scan sources, one job each, and the deep-dive ones.
SCAN_SOURCES = ("logs", "metrics", "changes", "monitors")
DIVE_SOURCES = ("logs", "changes")
#: Which connector each source needs.
CONNECTOR_OF = {"logs": "logs", "metrics": "metrics", "changes": "changes", "monitors": "metrics"}
#: Graph hops around a named service that count as its neighbourhood.
NEIGHBOURHOOD = 2


class IncidentRequest(BaseModel):
    """What starts an investigation: an incident, maybe named services, and when it began."""

    incident_id: str
    started_at: float = Field(description="Unix seconds: when the incident was detected")
    until: float | None = Field(default=None, description="end of the window; default: now")
    services: list[str] = Field(default_factory=list, description="names or aliases mentioned")
    title: str = ""
    channel: str | None = None
    alert_monitor: int | None = Field(
        default=None,
        description="the monitor whose alert opened the incident, when its caller knows it "
        "(a monitor's webhook); without it, the one monitor alerting on the named services",
    )


class Scope(BaseModel):
    """Which services the investigation covers and which were named."""

    named: list[str]
    unknown: list[str]
    neighbourhood: list[str]
    scanned: list[str]


class Plan(BaseModel):
    """What one investigation will do; stored first, read by every job."""

    investigation_id: str
    request: IncidentRequest
    scope: Scope
    window_start: float
    window_end: float
    sources: list[str]
    enqueued_at: float
    deadline_at: float
    config_ref: str | None = None


class Finding(BaseModel):
    """One piece of evidence: a stable id, the numbers, the time, and a link to the source."""

    id: str
    source: str
    kind: str
    service: str
    title: str
    numbers: dict[str, float] = Field(default_factory=dict)
    at: float | None = None
    url: str = ""
    details: dict[str, Any] = Field(default_factory=dict)


def finding_id(source: str, service: str, *key: object) -> str:
    """A stable id: the same evidence found again gets the same id."""
    digest = hashlib.sha1("|".join(map(str, (source, service, *key))).encode()).hexdigest()
    return f"{source}-{service}-{digest[:8]}"


class Query(BaseModel):
    """One request a source made, for the record."""

    what: str
    seconds: float
    ok: bool = True
    error: str | None = None


class LogLine(BaseModel):
    """A representative error log line of a catalog service, redacted, for the bundle."""

    service: str
    at: float = Field(description="Unix seconds")
    level: str
    message: str


class AlertingMonitor(BaseModel):
    """A monitor in Alert or Warn on one catalog service, and the one metric its query names."""

    monitor_id: int
    service: str
    state: str
    metric: str | None = Field(description="None when its query names no metric, or several")
    since: float | None = Field(
        default=None, description="When it entered its state (Unix seconds), if known"
    )


class SourceResult(BaseModel):
    """What one source job brought back (or why it did not)."""

    source: str
    phase: Literal["scan", "dive"]
    status: Literal["ok", "failed"]
    error: str | None = None
    transient: bool = False
    findings: list[Finding] = Field(default_factory=list)
    queries: list[Query] = Field(default_factory=list)
    telemetry: dict[str, Any] = Field(default_factory=dict)
    log_lines: list[LogLine] = Field(default_factory=list)
    monitors: list[AlertingMonitor] = Field(default_factory=list)
    started_at: float
    ended_at: float
    attempt: int = 1


class ProgressEvent(BaseModel):
    """Something the bot can show as it happens."""

    kind: Literal[
        "started",
        "joined",
        "source_started",
        "source_done",
        "source_failed",
        "ranked",
        "summary_ready",
        "narrative_ready",
    ]
    at: float
    source: str | None = None
    detail: str = ""


def new_investigation_id() -> str:
    """A fresh, unguessable investigation id."""
    return uuid.uuid4().hex[:16]


def make_scope(catalog: Catalog, named: list[str]) -> Scope:
    """Named services (by name or alias) and their neighbourhood; the scan covers everything."""
    resolved: list[str] = []
    unknown: list[str] = []
    for text in named:
        found = catalog.resolve(text)
        if found is None:
            unknown.append(text)
        elif found.name not in resolved:
            resolved.append(found.name)
    graph = catalog.graph()
    around: set[str] = set(resolved)
    undirected = graph.to_undirected(as_view=True)
    for name in resolved:
        around |= set(nx.single_source_shortest_path_length(undirected, name, NEIGHBOURHOOD))
        # And everything it depends on, however deep: the cause of what a named service shows
        # is it or something below it, and the logs on the way down name that something
        # ("timeout calling maps-provider").
        around |= nx.descendants(graph, name)
    everything = list(catalog.services)
    return Scope(
        named=resolved,
        unknown=unknown,
        neighbourhood=sorted(around) if resolved else everything,
        # Exhaustive beats clever: the broad scan is a handful of aggregate queries.
        scanned=everything,
    )


def make_plan(
    request: IncidentRequest,
    *,
    catalog: Catalog,
    sources: list[str],
    deadline: float,
    baseline: float,
    lookahead: float,
    config_ref: str | None = None,
    investigation_id: str | None = None,
) -> Plan:
    """The plan of an investigation that starts now."""
    now = time.time()
    end = request.until if request.until is not None else min(now, request.started_at + lookahead)
    return Plan(
        investigation_id=investigation_id or new_investigation_id(),
        request=request,
        scope=make_scope(catalog, request.services),
        window_start=request.started_at - baseline,
        window_end=max(end, request.started_at + 60),
        sources=sources,
        enqueued_at=now,
        deadline_at=now + deadline,
        config_ref=config_ref,
    )
