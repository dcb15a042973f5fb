"""Incident channels: which names count, and which catalog services a channel talks about."""

from __future__ import annotations

import re
from collections.abc import Iterable

from investigators.catalog import Catalog

#: Names starting ``inc-``, ``inc_``, ``incident-`` or ``incident_``.
DEFAULT_PATTERN = r"^(inc|incident)[-_]"


def is_incident_channel(name: str, pattern: str = DEFAULT_PATTERN) -> bool:
    """Whether a channel name matches the incident pattern (case-insensitive)."""
    return re.search(pattern, name or "", re.IGNORECASE) is not None


def _words(text: str) -> str:
    # Underscores, dots and hashes separate words in channel names and alerts alike.
    return " " + re.sub(r"[^a-z0-9-]+", " ", text.lower()) + " "


def mentioned_services(catalog: Catalog, texts: Iterable[str]) -> list[str]:
    """Catalog services named (by name, alias or Datadog service) in ``texts``, first seen first.

    Longer names win, so ``api-gateway`` is not also read as ``gateway``; an empty list means
    the whole graph.
    """
    terms: dict[str, str] = {}
    for s in catalog.services.values():
        for term in (s.datadog_service, *s.aliases, s.name):
            if term:
                terms[term.lower()] = s.name
    found: list[tuple[int, int, str]] = []
    for index, text in enumerate(texts):
        words = _words(text or "")
        taken = [False] * len(words)
        for term in sorted(terms, key=len, reverse=True):
            pattern = re.compile(rf"(?<=[ -]){re.escape(term)}(?=[ -])")
            for match in pattern.finditer(words):
                if any(taken[match.start() : match.end()]):
                    continue
                taken[match.start() : match.end()] = [True] * (match.end() - match.start())
                found.append((index, match.start(), terms[term]))
    ordered: list[str] = []
    for *_, name in sorted(found):
        if name not in ordered:
            ordered.append(name)
    return ordered
