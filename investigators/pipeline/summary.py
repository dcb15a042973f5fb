"""The structured summary of an investigation: deterministic, built from what has arrived.

Root cause, confidence, the evidence ids behind it, the symptoms ruled out, next steps, the team
to notify, and which sources did not answer. The narrative and the Slack rendering are made from
this elsewhere; the same inputs always give the same summary.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import NamedTuple

from pydantic import BaseModel, Field

from investigators import wording
from investigators.anomaly import WEAK_THRESHOLD, SeriesAnomaly
from investigators.bundle import Bundle
from investigators.catalog import Catalog
from investigators.evidence import ServiceEvidence
from investigators.phrasing import (
    bare_title,
    change_word,
    clock,
    number,
    plural,
    possessive,
    ratio,
    relative,
    short_ref,
    signal,
)
from investigators.pipeline.investigation import Finding, Plan, SourceResult, finding_id
from investigators.pipeline.livebundle import LOG_ERRORS
from investigators.rca import Analysis, suspect_change
from investigators.wording import Anchor

#: Evidence kept per service, strongest first.
PER_SERVICE = 4


class Alert(BaseModel):
    """What people were alerted on: the leading series and when it turned, in words."""

    service: str
    at: float = Field(description="Unix seconds: when the alerting series turned bad")
    said: str = Field(description="p95 latency 450 ms, up from 120 ms (×3.8) since 15:43 UTC")
    metric: str = ""


class RootCause(BaseModel):
    """The most likely cause."""

    service: str
    team: str
    score: float
    confidence: str
    reasons: list[str]
    change: Finding | None = None
    said: str = Field(default="", description="its leading change in words, against the alert")
    why: list[str] = Field(
        default_factory=list, description="the reasons not already said by ``said`` and the change"
    )


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
    alert: Alert | None = None
    unknown_services: list[str] = Field(default_factory=list)
    series_skipped: list[str] = Field(
        default_factory=list, description="series left out because none of their points read"
    )


def _metric_findings(
    evidence: Mapping[str, ServiceEvidence],
    services: list[str],
    urls: Mapping[tuple[str, str], str],
    anchor: Anchor | None,
) -> list[Finding]:
    found: list[Finding] = []
    for name in services:
        ev = evidence.get(name)
        if ev is None:
            continue
        for a in [a for a in ev.anomalies if a.anomalous][:PER_SERVICE]:
            found.append(_anomaly_finding(a, urls, anchor))
    return found


def _rounded(value: float) -> float:
    """Three significant digits: what the model is shown, so it quotes no long float."""
    return float(f"{value:.3g}") if math.isfinite(value) else value


def _anomaly_finding(
    a: SeriesAnomaly, urls: Mapping[tuple[str, str], str], anchor: Anchor | None
) -> Finding:
    s = a.series
    source = "logs" if s.name == LOG_ERRORS else "metrics"
    factor = a.ratio
    numbers = {
        "score": round(a.score, 1),
        "baseline": _rounded(a.level),
        "current": _rounded(a.current),
    }
    if math.isfinite(factor):
        numbers["ratio"] = round(factor, 1)
    said = wording.shift(a, anchor=_unless_same(anchor, a), named=False)
    what = signal(s.name, s.kind)
    return Finding(
        id=finding_id(source, s.service, s.name),
        source=source,
        kind="anomaly",
        service=s.service,
        title=f"{what} {said}",
        numbers=numbers,
        at=a.onset,
        url=urls.get((s.service, s.name), ""),
        details={
            "metric": s.name,
            "kind": s.kind.value,
            "unit": s.unit,
            "signal": what,
            "said": said,
        },
    )


def _unless_same(anchor: Anchor | None, a: SeriesAnomaly) -> Anchor | None:
    """No offset for the alerting series itself (``0 min before the alert`` says nothing)."""
    if anchor is None or (a.onset is not None and abs(a.onset - anchor.at) < 1):
        return None
    return anchor


def _change_finding(bundle: Bundle, ev: ServiceEvidence, onset: float | None) -> Finding | None:
    # The same change the ranking's reasons name: one rule, in investigators.rca.
    at = onset if onset is not None else bundle.incident.started_at
    c = suspect_change([c for c in bundle.changes if c.service == ev.name], at)
    if c is None:
        return None
    trouble = wording.first_trouble(ev)
    began_at, began = trouble if trouble is not None else (onset, "the trouble began")
    details: dict[str, object] = {"id": c.id, "author": c.author}
    if began_at is not None:
        details |= {"onset": began_at, "began": began}
    return Finding(
        id=finding_id("changes", ev.name, c.kind.value, c.id, int(c.at)),
        source="changes",
        kind=c.kind.value,
        service=ev.name,
        title=c.title or c.id,
        numbers={"minutes_before_onset": round((began_at - c.at) / 60, 1)} if began_at else {},
        at=c.at,
        url=c.url,
        details=details,
    )


def _alert(analysis: Analysis) -> Alert | None:
    """The leading series, when it turned bad: what the incident's times are said against."""
    lead = analysis.lead
    if lead.service is None or lead.onset is None or lead.anomaly is None:
        return None
    return Alert(
        service=lead.service,
        at=lead.onset,
        said=wording.shift(lead.anomaly),
        metric=lead.anomaly.series.name,
    )


def _root_words(
    ev: ServiceEvidence, reasons: list[str], change: Finding | None, anchor: Anchor | None
) -> tuple[str, list[str]]:
    """The root cause's leading change in words, and the reasons left to say beside it."""
    moved = [a for a in ev.anomalies if a.score >= WEAK_THRESHOLD]
    said = wording.shift(moved[0], anchor=_unless_same(anchor, moved[0])) if moved else ""
    # Its other series are in the evidence lines: the why is what the series cannot say.
    shown = {wording.describe(a) for a in ev.anomalies}
    if change is not None:
        kind, title = change_word(change.kind), bare_title(change.title, change.kind, ev.name)
        shown |= {r for r in reasons if r.startswith(kind) and title in r}
    return said, [r for r in reasons if r not in shown]


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
    alert = _alert(analysis)
    anchor = Anchor(alert.at, "the alert") if alert is not None else None
    evidence: list[Finding] = _metric_findings(by_service, focus, urls, anchor)
    root: RootCause | None = None
    if top is not None:
        ev = by_service[top.service]
        change = _change_finding(bundle, ev, ev.onset)
        if change is not None:
            evidence.append(change)
        said, why = _root_words(ev, top.reasons, change, anchor)
        root = RootCause(
            service=top.service,
            team=catalog.services[top.service].team,
            score=top.score,
            confidence=top.confidence,
            reasons=top.reasons,
            change=change,
            said=said,
            why=why,
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
        next_steps=_next_steps(root, missing, notify, by_service),
        notify=notify,
        ranking=[asdict(r) for r in ranking.ranking[:5]],
        sources_answered=answered,
        sources_missing=missing,
        unknown_services=plan.scope.unknown,
        series_skipped=list(skipped),
        alert=alert,
    )


def _next_steps(
    root: RootCause | None,
    missing: list[MissingSource],
    notify: Notify | None,
    evidence: Mapping[str, ServiceEvidence],
) -> list[str]:
    steps: list[str] = []
    if root is None:
        steps.append(
            "No anomaly found in the scanned telemetry: check the alert itself and "
            "widen the time window."
        )
    else:
        if root.change is not None:
            words = change_words(root.change)
            what = f"{words.lead} on {root.service}"
            if words.after:
                steps.append(
                    f"{what[:1].upper()}{what[1:]} came {words.timing}, so it is not the cause; "
                    "check that it did not make things worse."
                )
            else:
                steps.append(f"Review {what} ({words.timing}) and consider rolling it back.")
        ev = evidence.get(root.service)
        since = f" from {clock(ev.onset)} on" if ev is not None and ev.onset is not None else ""
        steps.append(f"Check the dashboards and logs of {root.service}{since}.")
        if notify is None:
            steps.append(
                "Confidence is not high enough to page a team: confirm the suspect before tagging."
            )
        else:
            steps.append(f"Ask {notify.team}, the owning team, to look at {notify.service}.")
    for m in missing:
        phase = "broad scan" if m.phase == "scan" else "deep dive"
        steps.append(f"{m.source} did not answer in the {phase}: the conclusion lacks it.")
    return steps


class Words(NamedTuple):
    """A finding in words: what it is, the untrusted text to show (and link), the rest.

    ``lead`` and ``rest`` are plain words (they may still hold an author's name: escape them);
    ``title`` is the finding's own text (a log pattern, a commit title, a monitor's name).
    """

    lead: str
    title: str
    rest: str
    after: bool = False  # a change that came after the trouble began: never called its cause
    timing: str = ""
    change: bool = False


_MONITOR_STATES = {"alert": "alerting", "warn": "warning", "no data": "no data", "ok": "OK"}
_CHANGES = ("deploy", "config", "feature_flag", "infra", "other", "commit", "pull_request")


def change_words(f: Finding, alert: Alert | None = None) -> Words:
    """A change in words: ``deploy a1b2c3d``, its title, ``by octocat, 3 min before errors
    began``. Said against its service's onset when the summary knows it, else the alert's."""
    ref = str(f.details.get("id") or f.details.get("sha") or "")
    if f.kind == "pull_request" and "number" in f.numbers:
        ref = f"#{int(f.numbers['number'])}"
    lead = change_word(f.kind) + (f" {short_ref(ref)}" if ref else "")
    author = str(f.details.get("author") or "")
    onset, began = f.details.get("onset"), f.details.get("began")
    timing, after = "", False
    if f.at is not None and isinstance(onset, int | float):
        timing = relative(f.at, float(onset), str(began or "the trouble began"))
        after = f.at > float(onset) + 30
    elif f.at is not None:
        verb = "merged" if f.kind == "pull_request" else "at"
        timing = f"{verb} {clock(f.at)}"
        if alert is not None:
            timing += f", {relative(f.at, alert.at, 'the alert')}"
    rest = ", ".join(p for p in (f"by {author}" if author else "", timing) if p)
    files = f.details.get("files")
    if f.kind == "commit" and isinstance(files, list) and files:
        rest += f" ({plural(len(files), 'file')})"
    title = bare_title(f.title, f.kind, f.service) if f.title != ref else ""
    return Words(lead, title, rest, after=after, timing=timing, change=True)


def finding_words(f: Finding, alert: Alert | None = None) -> Words:
    """Any finding in words, by kind; numbers said plainly, internal keys never shown."""
    if f.kind == "anomaly" and isinstance(f.details.get("said"), str):
        return Words("", str(f.details.get("signal") or f.title), str(f.details["said"]))
    if f.kind == "anomaly":
        return Words("", f.title, _anomaly_numbers(f.numbers))
    if f.kind in _CHANGES or f.source == "changes":
        return change_words(f, alert)
    if f.kind == "monitor":
        state = str(f.details.get("state") or "")
        name = f.title.removeprefix(f"{state}: ") if state else f.title
        said = _MONITOR_STATES.get(state.lower(), state.lower())
        return Words("monitor", name, f": {said}" if said else "")
    if f.kind in ("log_pattern", "new_log_pattern"):
        during, before = f.numbers.get("during"), f.numbers.get("before")
        about = "about " if f.details.get("estimated") else ""
        rest = ""
        if during is not None:
            rest = f": {about}{plural(int(during), 'line')} during the incident"
            if before is not None:
                rest += ", none before" if before == 0 else f", {about}{int(before):,} before"
        lead = "new log pattern" if f.kind == "new_log_pattern" else "log pattern"
        return Words(lead, f.title, rest)
    return Words("", f.title, "")


def _anomaly_numbers(numbers: Mapping[str, float]) -> str:
    """``now 12, up from 3 (×4)``: an anomaly's numbers when its words were not kept."""
    now, before, factor = numbers.get("current"), numbers.get("baseline"), numbers.get("ratio")
    parts = []
    if now is not None and before is not None:
        parts.append(
            f"now {number(now)}, {'up' if now >= before else 'down'} from {number(before)}"
        )
    if factor is not None and ratio(factor):
        parts.append(f"({ratio(factor)})")
    return " ".join(parts)


def alert_words(alert: Alert) -> str:
    """``frontend's p95 latency 450 ms, up from 120 ms (×3.8) since 15:43 UTC``."""
    return f"{possessive(alert.service)} {alert.said}"
