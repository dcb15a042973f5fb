"""How the engine says why: the reasons attached to each suspect in the result document.

Pure wording over the engine's typed findings; no scoring happens here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from investigators.anomaly import WEAK_THRESHOLD, SeriesAnomaly
from investigators.bundle import ChangeKind, MetricKind

if TYPE_CHECKING:
    from investigators.rca import Candidate


def clock(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%H:%M")


def blind(blind: list[tuple[str, str]]) -> list[str]:
    if not blind:
        return []
    shown = ", ".join(f"{dep} (no {kind} data)" for dep, kind in blind[:3])
    return [f"not confident enough to tag: a dependency it calls could hide the cause: {shown}"]


def describe(a: SeriesAnomaly) -> str:
    name = a.series.name
    since = f" since {clock(a.onset)}" if a.onset is not None else ""
    kind = a.series.kind
    sign = "-" if a.current < a.level else "+"
    size = f"({sign}{a.score:.0f} robust-sd)"
    if kind in (MetricKind.ERRORS, MetricKind.LATENCY, MetricKind.TRAFFIC) and a.level > 0:
        ratio = a.ratio
        if ratio >= 1.5 or ratio <= 0.67:
            shown = f"x{ratio:.1f}" if ratio < 10 else f"x{ratio:.0f}"
            return f"{kind.value} {name} {shown}{since} {size}"
    if (a.series.unit or "") in ("percent", "%"):
        return f"{kind.value} {name} {a.current:.0f}% vs {a.level:.0f}% baseline{since} {size}"
    return f"{kind.value} {name} {sign}{a.score:.0f} robust-sd{since}"


_CHANGE_WORDS = {
    ChangeKind.DEPLOY: "deploy",
    ChangeKind.CONFIG: "config change",
    ChangeKind.FEATURE_FLAG: "feature flag",
    ChangeKind.INFRA: "infra change",
}


def reasons(cand: Candidate, candidates: dict[str, Candidate]) -> list[str]:
    ev = cand.evidence
    out = [describe(a) for a in ev.anomalies[:3] if a.score >= WEAK_THRESHOLD]
    if cand.silent:
        own = "its own series look normal" if ev.anomalies else "no telemetry of its own"
        out.append(
            f"{own}: seen through its callers ({', '.join(cand.explains[:5])}), whose calls "
            "to it fail or slow down at about the same time"
        )
    if cand.named_by:
        out.append(f"named in the error logs of {', '.join(cand.named_by[:5])}")
    if ev.weak:
        out.append("weak anomaly, counted because an anomalous caller depends on it")
    if cand.change is not None:
        c = cand.change
        label = f" {c.id}" if c.id else ""
        title = f" ({c.title})" if c.title else ""
        out.append(f"{_CHANGE_WORDS.get(c.kind, 'change')}{label} at {clock(c.at)}{title}")
    if cand.explains:
        shown = ", ".join(cand.explains[:5])
        more = f" and {len(cand.explains) - 5} more" if len(cand.explains) > 5 else ""
        out.append(f"explains {shown}{more}")
    if cand.explained_by is not None and cand.explained >= 0.3:
        dep = candidates.get(cand.explained_by)
        since = f" (onset {clock(dep.onset)})" if dep is not None else ""
        out.append(f"likely a symptom of {cand.explained_by}{since}")
    return out
