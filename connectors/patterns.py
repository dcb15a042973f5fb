"""Group log lines into patterns: lines that differ only in ids, numbers or hosts are one.

Pure functions, no I/O. ``mask`` replaces the variable parts of a line with placeholders; the
order of the rules matters (a UUID is also hex and numbers, an IP also numbers).

Log lines are untrusted and can be long, and a regex that backtracks holds the GIL: so ``mask``
reads only the first :data:`MAX_LINE` characters, and no rule may retry from every position of a
run it has already read (each starts where its run starts, or repeats a bounded number of times).
``bench/hostile.py`` times it on inputs built to break that.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

#: Characters of a line that decide its pattern; a longer line is one pattern by its head.
MAX_LINE = 4_096

_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\"[^\"]*+\"|'[^']*+'"), "<str>"),
    # Read from where the run starts (a word boundary inside "a.b.c" would retry it), leading
    # dots and dashes kept out of the address as before.
    (
        re.compile(r"(?<![\w.+-])(?P<pre>[.+-]*+)\b[\w.+-]++@[\w-]+(\.[\w-]+)+\b"),
        r"\g<pre><email>",
    ),
    (
        re.compile(
            r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
        ),
        "<uuid>",
    ),
    (
        re.compile(r"\b(?:[a-z][a-z0-9]*-)?\d{1,3}(?:[.-]\d{1,3}){3}(?:\.[a-z0-9.-]+)?\b", re.I),
        "<host>",
    ),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b"), "<ip>"),
    # Kubernetes names: segments of at most 63, a bounded number of them, so a start inside a
    # long dashed run reads a bounded stretch of it.
    (
        re.compile(r"\b(?:[a-z][a-z0-9]{0,62}-){1,16}[a-z0-9]{5,63}-[a-z0-9]{5}\b", re.I),
        "<pod>",
    ),
    (re.compile(r"\b0x[0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{8,}\b"), "<hex>"),
    (re.compile(r"\b[A-Za-z]++[-_]?\d[\w-]*\b"), "<id>"),
    (re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:ms|s|m|h|kb|mb|gb|%)?\b", re.I), "<num>"),
]
_SPACES = re.compile(r"\s+")


def mask(line: str) -> str:
    """The pattern of a log line: variable parts replaced with placeholders like ``<num>``."""
    text = line[:MAX_LINE].strip()
    for rule, placeholder in _RULES:
        text = rule.sub(placeholder, text)
    return _SPACES.sub(" ", text)[:500]


@dataclass(slots=True)
class PatternCount:
    """Running counts of one pattern in the baseline and the incident window."""

    pattern: str
    before: float = 0.0
    during: float = 0.0
    samples: list[str] = field(default_factory=list)


def group_lines(
    before: Iterable[tuple[str, float]],
    during: Iterable[tuple[str, float]],
    *,
    samples: int = 3,
) -> list[PatternCount]:
    """Merge (line, weight) pairs by pattern; new patterns first, then by count during."""
    found: dict[str, PatternCount] = {}
    for lines, during_window in ((before, False), (during, True)):
        for line, weight in lines:
            key = mask(line)
            entry = found.get(key)
            if entry is None:
                entry = found[key] = PatternCount(key)
            if during_window:
                if entry.during == 0:
                    entry.samples.clear()  # lines from the incident make the better examples
                entry.during += weight
            else:
                entry.before += weight
            if len(entry.samples) < samples and line not in entry.samples:
                entry.samples.append(line)
    ranked = sorted(
        found.values(),
        key=lambda e: (e.during > 0 and e.before == 0, e.during - e.before, e.during),
        reverse=True,
    )
    return ranked
