"""Incident channels: which names count, and which catalog services a channel talks about."""

from __future__ import annotations

import itertools
import re
import weakref
from collections.abc import Iterable, Sequence
from itertools import compress, count, repeat
from operator import itemgetter
from typing import Any

import numpy as np

from investigators.catalog import Catalog

#: Names starting ``inc-``, ``inc_``, ``incident-`` or ``incident_``.
DEFAULT_PATTERN = r"^(inc|incident)[-_]"


def is_incident_channel(name: str, pattern: str = DEFAULT_PATTERN) -> bool:
    """Whether a channel name matches the incident pattern (case-insensitive)."""
    return re.search(pattern, name or "", re.IGNORECASE) is not None


def mentioned_services(catalog: Catalog, texts: Iterable[str]) -> list[str]:
    """Catalog services named (by name, alias or Datadog service) in ``texts``, first seen first.

    Longer names win, so ``api-gateway`` is not also read as ``gateway``; an empty list means
    the whole graph. Each text is read once, whatever the size of the catalog.
    """
    matcher = _matcher(catalog)
    seen: dict[str, tuple[int, int, int]] = {}
    for index, text in enumerate(texts):
        for service, (unit, part) in matcher.first_seen(text or "").items():
            seen.setdefault(service, (index, unit, part))
    return sorted(seen, key=seen.__getitem__)


# How a text is read. Lowercased, it keeps letters, digits and hyphens, and any other run of
# characters (underscores, dots and hashes separate words in channel names and alerts alike) is
# one blank; a name counts where it stands whole, with a blank or a hyphen on each side.
#
# Text and names are cut at hyphens into parts, a blank being a part of its own, so that a name
# is found exactly where its parts follow one another: the text is read once, part by part, in a
# trie of the catalog's names. Where several finds overlap, they are settled as when each name
# was searched for in turn, longest first. Parts that no name has are all one to the trie, and
# words that no name joins across a blank are read apart, each distinct one once (and kept for
# the next text): a text that repeats words costs what its distinct words do.
_KEEP = bytes(c if chr(c) in "abcdefghijklmnopqrstuvwxyz0123456789-" else 32 for c in range(256))
_BLANK = b"- -"  # a blank between two words, as parts: the blank is the part b" "
_OTHER = b"\x01"  # any part that no name has
_END = None  # the trie key under which a name ends: parts are bytes
_WORD_EDGE = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_CACHED_UNITS = 100_000  # units remembered from text to text, at most
_CACHED_UNIT_BYTES = 256  # and each of at most this size
#: Units of more parts than this are read with numpy (_LongReader).
_LONG = 2048

_Find = tuple[int, int, tuple[tuple[int, int], str]]  # start, end (part indices), term


class _Matcher:
    """Every name, alias and Datadog service of a catalog, in a trie of their parts."""

    def __init__(self, catalog: Catalog) -> None:
        terms: dict[str, str] = {}
        for s in catalog.services.values():
            for term in (s.datadog_service, *s.aliases, s.name):
                if term:
                    terms[term.lower()] = s.name
        #: part -> the same again; _END -> (priority, service), priority: longer, then listed
        self.root: dict[Any, Any] = {}
        #: The parts names have, each standing for itself; any other is _OTHER.
        self.known: dict[bytes, bytes] = {b" ": b" "}
        #: Last and first parts that a name joins across a blank ("payments api").
        self.bridges: set[tuple[bytes, bytes]] = set()
        #: Whether every name starts and ends with a letter or digit, so that words can be read
        #: apart: a name like "-x" or "x " would need the characters around a word.
        self.by_words = True
        self.cache: dict[bytes, tuple[tuple[str, int], ...]] = {}
        self.terms: list[tuple[list[bytes], tuple[tuple[int, int], str]]] = []
        self._long: _LongReader | None = None
        for rank, (term, service) in enumerate(terms.items()):
            if term.strip("abcdefghijklmnopqrstuvwxyz0123456789- "):
                continue  # holds a character a text never keeps: never found
            parts = term.replace(" ", "- -").encode().split(b"-")
            node = self.root
            for part in parts:
                node = node.setdefault(part, {})
                self.known[part] = part
            node[_END] = ((-len(term), rank), service)
            self.terms.append((parts, node[_END]))
            self.bridges |= {(parts[i - 1], parts[i + 1]) for i, p in enumerate(parts) if p == b" "}
            self.by_words &= term[0] in _WORD_EDGE and term[-1] in _WORD_EDGE

    def first_seen(self, text: str) -> dict[str, tuple[int, int]]:
        """Each service named in the text, with where it is first found (in text order)."""
        kept = text.lower().encode("ascii", "replace").translate(_KEEP)
        if not self.by_words:
            return {s: (0, at) for s, at in self.first_in(_parts(kept)).items()}
        words = kept.split()
        distinct = dict.fromkeys(words)
        if len(distinct) * 4 <= len(words):  # a text repeating itself: each word made over once
            made_over = {word: self._made_over(word) for word in distinct}
            words = list(map(made_over.__getitem__, words))
            units = self._units(words, set(made_over.values()))
        else:
            parts = b" ".join(words).replace(b" ", _BLANK).split(b"-")
            words = b"-".join(map(self.known.get, parts, repeat(_OTHER))).split(_BLANK)
            units = self._units(words)
        first_at = dict(zip(reversed(units), range(len(units) - 1, -1, -1), strict=True))
        seen: dict[str, tuple[int, int]] = {}
        for unit, at in first_at.items():
            for service, part in self._unit(unit):
                if seen.get(service, (at + 1, 0)) > (at, part):
                    seen[service] = (at, part)
        return seen

    def _made_over(self, word: bytes) -> bytes:
        """The word with each part that no name has made _OTHER."""
        return b"-".join(map(self.known.get, word.split(b"-"), repeat(_OTHER)))

    def _units(self, words: list[bytes], distinct: set[bytes] | None = None) -> list[bytes]:
        """The words, those that a name joins across a blank joined into one unit.

        ``distinct``: the words' distinct values, when they are few.
        """
        if not self.bridges or len(words) < 2:
            return words
        if distinct is not None:  # few words, many times: each pair of them looked at once
            index = {word: i for i, word in enumerate(distinct)}
            ids = np.fromiter(map(index.__getitem__, words), dtype=np.int64, count=len(words))
            pairs = ids[:-1] * len(index) + ids[1:]
            words_of = list(index)
            bridged = [
                code
                for code in np.unique(pairs).tolist()
                if (
                    words_of[code // len(index)].rpartition(b"-")[2],
                    words_of[code % len(index)].partition(b"-")[0],
                )
                in self.bridges
            ]
            joined = np.isin(pairs, bridged)
        else:
            lasts = map(itemgetter(2), map(bytes.rpartition, words, repeat(b"-")))
            firsts = map(itemgetter(0), map(bytes.partition, words[1:], repeat(b"-")))
            pairs_joined = map(self.bridges.__contains__, zip(lasts, firsts, strict=False))
            joined = np.fromiter(pairs_joined, dtype=bool, count=len(words) - 1)
        if not joined.any():
            return words
        if joined.all():
            return [b" ".join(words)]
        cuts = [0, *(np.flatnonzero(~joined) + 1).tolist(), len(words)]
        return [b" ".join(words[a:b]) for a, b in itertools.pairwise(cuts)]

    def _unit(self, unit: bytes) -> tuple[tuple[str, int], ...]:
        """The services a unit names, with the part index of each first find (cached)."""
        known = self.cache.get(unit)
        if known is None:
            parts = (_BLANK + unit.replace(b" ", _BLANK) + _BLANK).split(b"-")
            known = tuple(self.first_in(parts).items())
            if len(unit) <= _CACHED_UNIT_BYTES:
                if len(self.cache) >= _CACHED_UNITS:
                    self.cache.clear()
                self.cache[unit] = known
        return known

    def first_in(self, parts: Sequence[bytes]) -> dict[str, int]:
        """Each service named in the parts, with the part index of its first kept find."""
        if len(parts) > _LONG:
            if self.root.keys().isdisjoint(parts):
                return {}
            if self._long is None:
                self._long = _LongReader(self.terms)
            return self._long.first_in(parts)
        root, last = self.root, len(parts) - 1
        first: dict[str, int] = {}
        cluster: list[_Find] = []  # finds overlapping one another, to settle
        reach = 0  # where the cluster ends
        for start in compress(count(), map(root.__contains__, parts)):
            if not start:
                continue  # nothing before it, so not a whole word
            node: Any = root
            end = start
            while end < last:
                node = node.get(parts[end])
                if node is None:
                    break
                end += 1
                term = node.get(_END)
                if term is None:
                    continue
                if start < reach:
                    cluster.append((start, end, term))
                    reach = max(reach, end)
                    continue
                if len(cluster) == 1:  # most finds overlap no other
                    first.setdefault(cluster[0][2][1], cluster[0][0])
                else:
                    _settle(cluster, parts, first)
                cluster = [(start, end, term)]
                reach = end
        _settle(cluster, parts, first)
        return first


class _LongReader:
    """The trie's finds over a long run of parts, found with numpy a term length at a time.

    A unit of hundreds of thousands of parts (names chained without a break the catalog would
    allow, to make a reader work) is read in arrays: each window of parts is hashed, windows
    whose hash is a term's are checked part by part, and only finds that overlap others are
    settled one by one.
    """

    _BASE = np.uint64(0x9E3779B97F4A7C15)

    def __init__(self, terms: Sequence[tuple[list[bytes], tuple[tuple[int, int], str]]]) -> None:
        self.ids: dict[bytes, int] = {}
        self.info = [info for _, info in terms]
        services = {service: i for i, service in enumerate(dict.fromkeys(s for _, s in self.info))}
        self.service_names = list(services)
        self.service_of = np.array([services[s] for _, s in self.info], dtype=np.int64)
        by_length: dict[int, list[int]] = {}
        rows: list[list[int]] = []
        for index, (parts, _) in enumerate(terms):
            rows.append([self.ids.setdefault(p, len(self.ids) + 1) for p in parts])
            by_length.setdefault(len(parts), []).append(index)
        self.by_length: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for length, indices in by_length.items():
            ids = np.array([rows[i] for i in indices], dtype=np.uint64)
            hashes = self._hash(ids, length)
            order = np.argsort(hashes, kind="stable")
            self.by_length[length] = (hashes[order], np.array(indices)[order], ids[order])

    @classmethod
    def _hash(cls, ids: np.ndarray, length: int) -> np.ndarray:
        """Each row's (or window's) polynomial hash, wrapping at 2**64."""
        hashes = np.zeros(ids.shape[0], dtype=np.uint64)
        with np.errstate(over="ignore"):
            for k in range(length):
                hashes = hashes * cls._BASE + ids[:, k]
        return hashes

    def first_in(self, parts: Sequence[bytes]) -> dict[str, int]:
        """As :meth:`_Matcher.first_in`: the same finds, settled the same way."""
        size = len(parts)
        text = np.fromiter(map(self.ids.get, parts, repeat(0)), dtype=np.uint64, count=size)
        starts: list[np.ndarray] = []
        ends: list[np.ndarray] = []
        terms: list[np.ndarray] = []
        for length, (hashes, indices, ids) in self.by_length.items():
            last_start = size - 1 - length  # a part before it and one after it
            if last_start < 1:
                continue
            windows = np.lib.stride_tricks.sliding_window_view(text, length)[1 : last_start + 1]
            hashed = self._hash(windows, length)
            rows = np.searchsorted(hashes, hashed)
            rows[rows == hashes.size] = 0
            candidates = np.flatnonzero(hashes[rows] == hashed)
            rows = rows[candidates]
            same = np.all(ids[rows] == windows[candidates], axis=1)
            starts.append(candidates[same] + 1)
            terms.append(indices[rows[same]])
            for start, row in zip(candidates[~same].tolist(), rows[~same].tolist(), strict=True):
                # Two of the catalog's terms, or a term and this window, share a hash.
                while row < hashes.size and hashes[row] == hashed[start]:
                    if np.array_equal(ids[row], windows[start]):
                        starts.append(np.array([start + 1]))
                        terms.append(indices[row : row + 1])
                        break
                    row += 1
            ends.extend(found + length for found in starts[len(ends) :])
        if not starts:
            return {}
        return self._settle(parts, *(np.concatenate(a) for a in (starts, ends, terms)))

    def _settle(
        self, parts: Sequence[bytes], starts: np.ndarray, ends: np.ndarray, terms: np.ndarray
    ) -> dict[str, int]:
        first: dict[str, int] = {}
        if starts.size == 0:
            return first
        order = np.lexsort((ends, starts))
        starts, ends, terms = starts[order], ends[order], terms[order]
        reach = np.maximum.accumulate(ends)
        opens = np.ones(starts.size, dtype=bool)
        opens[1:] = starts[1:] >= reach[:-1]
        cluster = np.cumsum(opens) - 1
        alone = np.bincount(cluster)[cluster] == 1
        services = self.service_of[terms[alone]]
        found, at = np.unique(services, return_index=True)
        for service, start in zip(found.tolist(), starts[alone][at].tolist(), strict=True):
            first[self.service_names[service]] = start
        together = np.flatnonzero(~alone)
        bounds = np.flatnonzero(np.diff(cluster[together])) + 1
        for group in np.split(together, bounds) if together.size else []:
            finds = [
                (int(starts[i]), int(ends[i]), self.info[int(terms[i])]) for i in group.tolist()
            ]
            _settle(finds, parts, first)
        return first


def _parts(kept: bytes) -> list[bytes]:
    """The parts of a whole text, padded with a blank on each side (two after punctuation)."""
    words = kept.split()
    if not words:
        return (_BLANK * (3 if kept else 2)).split(b"-")
    lead = _BLANK * (2 if kept[:1] == b" " else 1)
    trail = _BLANK * (2 if kept[-1:] == b" " else 1)
    return (lead + _BLANK.join(words) + trail).split(b"-")


def _settle(cluster: list[_Find], parts: Sequence[bytes], first: dict[str, int]) -> None:
    """Keep the finds of a cluster that longer names leave, as when names were tried one by one.

    Each term takes its finds from left to right, skipping one that overlaps its own previous
    find or any find a longer (or earlier listed) term already took. Overlap is of characters:
    an empty part (between two hyphens) and the hyphens around a blank take no room.
    """
    if len(cluster) < 2:
        for start, _, (_, service) in cluster:
            first.setdefault(service, start)
        return
    base = cluster[0][0]
    starts, ends = [], []  # of each part, in characters from the first
    at = 0
    for i in range(base, max(end for _, end, _ in cluster)):
        if i > base and parts[i] != b" " and parts[i - 1] != b" ":
            at += 1  # a hyphen of the text before this part
        starts.append(at)
        at += len(parts[i])
        ends.append(at)
    taken = bytearray(at + 1)
    own_end: dict[tuple[int, int], int] = {}
    for start, end, (priority, service) in sorted(cluster, key=lambda f: (f[2][0], f[0])):
        chars = starts[start - base], ends[end - 1 - base]
        if chars[0] < own_end.get(priority, 0):
            continue
        own_end[priority] = chars[1]
        if taken.find(1, *chars) >= 0:
            continue
        taken[chars[0] : chars[1]] = b"\x01" * (chars[1] - chars[0])
        if first.get(service, start + 1) > start:
            first[service] = start


_MATCHERS: weakref.WeakKeyDictionary[Catalog, _Matcher] = weakref.WeakKeyDictionary()


def _matcher(catalog: Catalog) -> _Matcher:
    matcher = _MATCHERS.get(catalog)
    if matcher is None:
        matcher = _MATCHERS[catalog] = _Matcher(catalog)
    return matcher
