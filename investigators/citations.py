"""The citation check: every sentence a model writes must cite evidence that exists (pure).

A model's text is cut into sentences; each must end with (or contain) citations like ``[E3]`` or
``[E2][E5]``. A sentence is dropped when it cites nothing, cites an id that was never given, or
names a known service that none of its cited evidence is about (a claim about ``checkout`` cannot
rest on evidence about ``payments-db`` alone). What survives is returned as plain sentences with
their citations apart, so the caller decides how to render them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from pydantic import BaseModel, Field

#: ``[E3]``, ``[E3, E5]`` and ``[E3; E5]``.
CITATION = re.compile(r"\[\s*(E\d+(?:\s*[,;]\s*E\d+)*)\s*\]")
_ID = re.compile(r"E\d+")
# Citations after the full stop (``... rolled back. [E4]``) move before it; then a sentence
# ends at . ! or ? followed by space, or at a line break.
_TRAILING = re.compile(r"([.!?])((?:\s*\[\s*E\d+(?:\s*[,;]\s*E\d+)*\s*\])+)")
_BOUNDARY = re.compile(r"(?<=[.!?])\s+|\n+")
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")


class Sentence(BaseModel):
    """One sentence without its citations, and the evidence ids it cites."""

    text: str
    cites: list[str] = Field(default_factory=list)


class Dropped(BaseModel):
    """A sentence the check refused, and why."""

    text: str
    reason: str


class Checked(BaseModel):
    """What survived the check and what did not."""

    kept: list[Sentence]
    dropped: list[Dropped]

    @property
    def total(self) -> int:
        """Sentences the model wrote."""
        return len(self.kept) + len(self.dropped)

    @property
    def survival(self) -> float:
        """The share of sentences kept (1.0 for an empty text)."""
        return len(self.kept) / self.total if self.total else 1.0

    def enough(self, *, min_sentences: int, min_share: float) -> bool:
        """Whether enough survived to show instead of the deterministic text."""
        return len(self.kept) >= min_sentences and self.survival >= min_share


def split_sentences(text: str) -> list[str]:
    """Sentences and list items, trimmed, bullets removed, empty ones skipped."""
    parts = (_BULLET.sub("", p).strip() for p in _BOUNDARY.split(_TRAILING.sub(r"\2\1", text)))
    return [p for p in parts if p and not set(p) <= set("-*•#_ ")]


def _service_pattern(services: Iterable[str]) -> re.Pattern[str] | None:
    names = sorted({s for s in services if s}, key=len, reverse=True)
    if not names:
        return None
    alternatives = "|".join(re.escape(n) for n in names)
    return re.compile(rf"(?<![\w-])({alternatives})(?![\w-])", re.IGNORECASE)


def check(text: str, evidence: Mapping[str, Iterable[str]]) -> Checked:
    """Keep the sentences whose citations all exist and cover the services they name.

    ``evidence`` maps each citable id to the services that item is about.
    """
    about = {k: {s.lower() for s in v} for k, v in evidence.items()}
    pattern = _service_pattern(s for v in about.values() for s in v)
    kept: list[Sentence] = []
    dropped: list[Dropped] = []
    for raw in split_sentences(text):
        cites = list(dict.fromkeys(_ID.findall(" ".join(CITATION.findall(raw)))))
        plain = " ".join(CITATION.sub(" ", raw).split())
        plain = re.sub(r"\s+([.,;:!?])", r"\1", plain)
        if not cites:
            dropped.append(Dropped(text=plain, reason="cites no evidence"))
            continue
        unknown = [c for c in cites if c not in about]
        if unknown:
            dropped.append(Dropped(text=plain, reason=f"cites unknown {', '.join(unknown)}"))
            continue
        covered = set().union(*(about[c] for c in cites))
        named = {m.lower() for m in pattern.findall(plain)} if pattern else set()
        if named - covered:
            missing = ", ".join(sorted(named - covered))
            dropped.append(Dropped(text=plain, reason=f"names {missing} without evidence on it"))
            continue
        if plain:
            kept.append(Sentence(text=plain, cites=cites))
    return Checked(kept=kept, dropped=dropped)
