"""What a language model is shown: the evidence as numbered items, fenced as data, redacted.

Each item gets a short citable id (``E1``, ``E2``...) mapped back to the finding and its link,
so a sentence that cites ``[E3]`` can be checked and rendered with the link to the source. Items
are the ranked suspects, the symptoms ruled out, the summary's findings and the sources that did
not answer; tool results in the thread add more as they arrive.

Everything untrusted (log lines, commit messages, PR titles, reasons naming them) is redacted
(:mod:`investigators.redact`) and sent as JSON inside ``<evidence>``, ``<incident>`` or
``<question>`` fences, with every ``<`` written as ``\\u003c`` so no text can close a fence or
open one. The prompt's instructions live in files beside this module (``prompts/``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from investigators.pipeline.investigation import Finding
from investigators.pipeline.summary import Summary
from investigators.redact import redact

PROMPTS = Path(__file__).with_name("prompts")
#: Characters per token assumed when budgeting; real tokenizers give 3.5 to 4 on this text,
#: so the estimate errs high and the budget holds.
CHARS_PER_TOKEN = 3.0
#: Characters of one log sample shown, and of a reference's label; both cut after redacting.
SAMPLE_CHARS = 300
LABEL_CHARS = 200


def prompt(name: str) -> str:
    """A prompt file's text (``prompts/NAME.md``)."""
    return (PROMPTS / f"{name}.md").read_text(encoding="utf-8").strip()


def estimate_tokens(text: str) -> int:
    """A deliberately high estimate of the tokens ``text`` costs."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def clean(value: Any) -> Any:
    """``value`` with every string in it redacted (dicts, lists and scalars alike)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


def fence(tag: str, value: Any) -> str:
    """``<tag>JSON</tag>``, redacted, with no ``<`` inside that could end the fence."""
    text = json.dumps(clean(value), ensure_ascii=False, separators=(",", ":"))
    return f"<{tag}>" + text.replace("<", "\\u003c") + f"</{tag}>"


def _iso(at: float | None) -> str | None:
    if at is None or not math.isfinite(at):
        return None
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Reference(BaseModel):
    """Where a citable id points: the finding, its link, and a short label."""

    id: str
    label: str
    url: str = ""
    finding_id: str | None = None
    services: list[str] = Field(default_factory=list)


class Brief:
    """Citable evidence items in order, each with its reference."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.references: dict[str, Reference] = {}
        self._by_finding: dict[str, str] = {}

    def add(
        self,
        *,
        source: str,
        kind: str,
        service: str,
        title: str,
        url: str = "",
        finding_id: str | None = None,
        about: list[str] | None = None,
        samples: Iterable[object] = (),
        **extra: Any,
    ) -> str:
        """Add an item and return its id; ``about`` lists the services it speaks for.

        ``samples`` (log lines) are redacted, then cut to :data:`SAMPLE_CHARS`: cut first, a
        secret across the cut would reach the model with its head no longer recognisable.
        """
        if finding_id is not None and finding_id in self._by_finding:
            return self._by_finding[finding_id]
        item_id = f"E{len(self.items) + 1}"
        item = {"id": item_id, "source": source, "kind": kind, "service": service, "title": title}
        extra["samples"] = [redact(str(s), limit=SAMPLE_CHARS) for s in samples]
        item.update({k: v for k, v in extra.items() if v not in (None, [], {}, "")})
        self.items.append(item)
        if finding_id is not None:
            self._by_finding[finding_id] = item_id
        services = list(dict.fromkeys([service, *(about or [])]))
        self.references[item_id] = Reference(
            id=item_id,
            label=redact(f"{source}: {service}: {title}", limit=LABEL_CHARS),
            url=url,
            finding_id=finding_id,
            services=[s for s in services if s],
        )
        return item_id

    def add_finding(self, f: Finding) -> str:
        """A finding as an item (numbers, time, log samples, change author)."""
        samples = f.details.get("samples") if isinstance(f.details.get("samples"), list) else None
        author = f.details.get("author")
        return self.add(
            source=f.source,
            kind=f.kind,
            service=f.service,
            title=f.title,
            url=f.url,
            finding_id=f.id,
            numbers=dict(f.numbers),
            at=_iso(f.at),
            samples=(samples or [])[:3],
            author=str(author) if author else None,
        )

    def about(self) -> dict[str, list[str]]:
        """Each id's services, for the citation check."""
        return {k: r.services for k, r in self.references.items()}

    def evidence(self, ids: list[str] | None = None) -> str:
        """The items (all, or those ids) fenced as ``<evidence>``."""
        chosen = self.items if ids is None else [i for i in self.items if i["id"] in ids]
        return fence("evidence", chosen)


def _strings(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def summary_brief(summary: Summary) -> Brief:
    """The summary as citable items, most important first (the order trimming keeps)."""
    brief = Brief()
    root = summary.root_cause
    for rank, item in enumerate(summary.ranking, start=1):
        service = str(item.get("service", ""))
        explains = _strings(item.get("explains"))
        brief.add(
            source="ranking",
            kind="suspect",
            service=service,
            title=f"suspect #{rank}, score {float(str(item.get('score', 0))):.2f}",
            about=explains,
            rank=rank,
            confidence=str(item.get("confidence", "")),
            team=root.team if root is not None and root.service == service else None,
            reasons=_strings(item.get("reasons")),
            explains=explains[:20],
        )
    if summary.symptoms_ruled_out and root is not None:
        brief.add(
            source="symptoms",
            kind="ruled_out",
            service=root.service,
            title=f"ruled out as symptoms of {root.service}",
            about=summary.symptoms_ruled_out,
            services=summary.symptoms_ruled_out[:30],
        )
    for finding in summary.evidence:
        brief.add_finding(finding)
    for missing in summary.sources_missing:
        brief.add(
            source="coverage",
            kind="missing",
            service="",
            title=f"{missing.source} did not answer ({missing.phase}): {missing.reason}",
        )
    return brief


def incident_facts(summary: Summary, title: str) -> dict[str, Any]:
    """The ``<incident>`` object: what the investigation concluded, in a few fields."""
    root = summary.root_cause
    return {
        "title": title,
        "root_cause": root.service if root else None,
        "confidence": root.confidence if root else None,
        "finished_by": summary.finished_by,
        "sources_answered": summary.sources_answered,
    }


def trimmed(brief: Brief, *, budget: int, fixed: str) -> list[str]:
    """The ids of the leading items that fit in ``budget`` tokens beside ``fixed`` text."""
    left = budget - estimate_tokens(fixed) - 10
    ids: list[str] = []
    for item in brief.items:
        cost = estimate_tokens(fence("x", item)) + 1
        if cost > left:
            break
        ids.append(str(item["id"]))
        left -= cost
    return ids
