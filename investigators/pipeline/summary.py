"""The structured summary of an investigation: deterministic, built from what has arrived.

Root cause, confidence, the evidence ids behind it, the symptoms ruled out, next steps, the team
to notify, and which sources did not answer. The narrative and the Slack rendering are made from
this elsewhere; the same inputs always give the same summary.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from pydantic import BaseModel, Field

from investigators.anomaly import SeriesAnomaly
from investigators.bundle import Bundle
from investigators.catalog import Catalog
from investigators.evidence import ServiceEvidence
from investigators.pipeline.investigation import Finding, Plan, SourceResult, finding_id
from investigators.pipeline.livebundle import LOG_ERRORS
from investigators.rca import Analysis, suspect_change

#: Evidence kept per service, strongest first.
PER_SERVICE = 4


class RootCause(BaseModel):
    """The most likely cause."""

    service: str
    team: str
    score: float
    confidence: str
    reasons: list[str]
    change: Finding | None = None


class Notify(BaseModel):
    """The one team to tag, with its Slack group when the catalog knows it."""

    team: str
    service: str
    slack_group: str | None = None


class MissingSource(BaseModel):
    """A source that did not answer, and why."""

    source: str
    phase: str
    reason: str


class Summary(BaseModel):
    """What the investigation concluded, for the narrative and the Slack message."""

    incident_id: str
    investigation_id: str
    finished_by: str = Field(description="complete, or deadline when it gave up waiting")
    root_cause: RootCause | None
    evidence_ids: list[str]
    evidence: list[Finding]
    symptoms_ruled_out: list[str]
    next_steps: list[str]
    notify: Notify | None
    ranking: list[dict[str, object]]
    sources_answered: list[str]
    sources_missing: list[MissingSource]
    unknown_services: list[str] = Field(default_factory=list)
    series_skipped: list[str] = Field(
        default_factory=list, description="series left out because none of their points read"
    )


def _metric_findings(
    evidence: Mapping[str, ServiceEvidence],
    services: list[str],
    urls: Mapping[tuple[str, str], str],
) -> list[Finding]:
    found: list[Finding] = []
    for name in services:
        ev = evidence.get(name)
        if ev is None:
            continue
        for a in [a for a in ev.anomalies if a.anomalous][:PER_SERVICE]:
            found.append(_anomaly_finding(a, urls))
    return found


def _anomaly_finding(a: SeriesAnomaly, urls: Mapping[tuple[str, str], str]) -> Finding:
    s = a.series
    source = "logs" if s.name == LOG_ERRORS else "metrics"
    ratio = a.ratio
    numbers = {
        "score": round(a.score, 2),
        "baseline": round(a.level, 4),
        "current": round(a.current, 4),
    }
    if math.isfinite(ratio):
        numbers["ratio"] = round(ratio, 2)
    return Finding(
        id=finding_id(source, s.service, s.name),
        source=source,
        kind="anomaly",
        service=s.service,
        title=f"{s.name} ({s.kind.value}) {a.current:.4g} vs baseline {a.level:.4g}",
        numbers=numbers,
        at=a.onset,
        url=urls.get((s.service, s.name), ""),
        details={"metric": s.name, "kind": s.kind.value, "unit": s.unit},
    )


def _change_finding(bundle: Bundle, service: str, onset: float | None) -> Finding | None:
    # The same change the ranking's reasons name: one rule, in investigators.rca.
    at = onset if onset is not None else bundle.incident.started_at
    c = suspect_change([c for c in bundle.changes if c.service == service], at)
    if c is None:
        return None
    return Finding(
        id=finding_id("changes", service, c.kind.value, c.id, int(c.at)),
        source="changes",
        kind=c.kind.value,
        service=service,
        title=c.title or c.id,
        numbers={"minutes_before_onset": round((onset - c.at) / 60, 1)} if onset else {},
        at=c.at,
        url=c.url,
        details={"id": c.id, "author": c.author},
    )


def build_summary(
    plan: Plan,
    *,
    catalog: Catalog,
    bundle: Bundle,
    analysis: Analysis,
    results: Mapping[str, SourceResult],
    finished_by: str,
    skipped: Sequence[str] = (),
) -> Summary:
    """The summary of what has arrived; ``results`` by step (``scan:logs``, ``dive:changes``).

    The evidence comes from the ranking's own analysis: nothing is scored twice.
    """
    ranking = analysis.result
    urls = {
        (s["service"], "logs.errors" if key == "scan:logs" else s["name"]): s["url"]
        for key, r in results.items()
        if r.status == "ok"
        for s in r.telemetry.get("series", [])
    }
    top = ranking.ranking[0] if ranking.ranking else None
    focus = [r.service for r in ranking.ranking[:3]]
    by_service = analysis.evidence
    evidence: list[Finding] = _metric_findings(by_service, focus, urls)
    root: RootCause | None = None
    if top is not None:
        ev = by_service[top.service]
        change = _change_finding(bundle, top.service, ev.onset)
        if change is not None:
            evidence.append(change)
        root = RootCause(
            service=top.service,
            team=catalog.services[top.service].team,
            score=top.score,
            confidence=top.confidence,
            reasons=top.reasons,
            change=change,
        )
    wanted = set(focus) | set(plan.scope.named)
    for key in sorted(results):
        r = results[key]
        if r.status == "ok":
            evidence.extend(f for f in r.findings if f.service in wanted)
    unique = {f.id: f for f in evidence}
    ordered = sorted(
        unique.values(),
        key=lambda f: (focus.index(f.service) if f.service in focus else 99, f.source, f.id),
    )
    notify = None
    if ranking.notify is not None:
        service = catalog.services[ranking.notify.service]
        team = catalog.teams.get(ranking.notify.team)
        notify = Notify(
            team=ranking.notify.team,
            service=service.name,
            slack_group=service.slack_group or (team.slack_group if team else None),
        )
    answered = sorted(k for k, r in results.items() if r.status == "ok")
    missing = [
        MissingSource(
            source=k.split(":", 1)[1], phase=k.split(":", 1)[0], reason=results[k].error or "failed"
        )
        for k in sorted(results)
        if results[k].status != "ok"
    ]
    for source in plan.sources:
        if f"scan:{source}" not in results:
            missing.append(
                MissingSource(source=source, phase="scan", reason="no answer before the deadline")
            )
    return Summary(
        incident_id=plan.request.incident_id,
        investigation_id=plan.investigation_id,
        finished_by=finished_by,
        root_cause=root,
        evidence_ids=[f.id for f in ordered],
        evidence=ordered,
        symptoms_ruled_out=ranking.symptoms,
        next_steps=_next_steps(root, missing, notify),
        notify=notify,
        ranking=[r.model_dump() for r in ranking.ranking[:5]],
        sources_answered=answered,
        sources_missing=missing,
        unknown_services=plan.scope.unknown,
        series_skipped=list(skipped),
    )


def _next_steps(
    root: RootCause | None, missing: list[MissingSource], notify: Notify | None
) -> list[str]:
    steps: list[str] = []
    if root is None:
        steps.append(
            "No anomaly found in the scanned telemetry: check the alert itself and "
            "widen the time window."
        )
    else:
        if root.change is not None:
            steps.append(
                f"Review {root.change.kind} {root.change.details.get('id') or ''} on "
                f"{root.service} ({root.change.title}); consider rolling it back."
            )
        steps.append(f"Check {root.service}'s dashboards and logs from the onset on.")
        if notify is None:
            steps.append(
                "Confidence is not high enough to page a team: confirm the suspect before tagging."
            )
        else:
            steps.append(f"Ask {notify.team}, the owning team, to look at {notify.service}.")
    for m in missing:
        steps.append(f"{m.source} did not answer ({m.phase}): the conclusion lacks it.")
    return steps
