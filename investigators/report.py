"""A root-cause result as plain text for people at a terminal."""

from __future__ import annotations

from investigators.bundle import Bundle, format_timestamp
from investigators.rca import RcaResult

SHOWN = 10


def format_result(result: RcaResult, bundle: Bundle) -> str:
    """A readable ranking: suspects, why, what they explain, and who would be tagged."""
    inc = bundle.incident
    title = f"  {inc.title}" if inc.title else ""
    lines = [f"{inc.id}{title}  (detected {format_timestamp(inc.started_at)})", ""]
    if not result.ranking:
        lines.append("Nothing anomalous around the incident: no suspect, nobody notified.")
        return "\n".join(lines)
    teams = {s.name: s.team for s in bundle.services}
    width = max(len(r.service) for r in result.ranking[:SHOWN])
    width = max(width, len("service"))
    lines.append(f" #  {'service':<{width}}  score  confidence  team")
    for i, r in enumerate(result.ranking[:SHOWN], start=1):
        lines.append(
            f"{i:>2}  {r.service:<{width}}  {r.score:5.2f}  {r.confidence:<10}  {teams[r.service]}"
        )
        for reason in r.reasons:
            lines.append(f"{'':>4}{'':<{width}}  - {reason}")
    if len(result.ranking) > SHOWN:
        lines.append(f"    ... and {len(result.ranking) - SHOWN} more anomalous services")
    lines.append("")
    if result.symptoms:
        lines.append(
            "Symptoms (downstream effects, ruled out as causes): " + ", ".join(result.symptoms)
        )
    if result.notify is not None:
        lines.append(f"Notify: team {result.notify.team} (owner of {result.notify.service})")
    else:
        lines.append("Notify: nobody (no candidate is confident enough to tag a team)")
    return "\n".join(lines)
