"""The incident bundle (version 1): the one structure the root-cause engine ranks.

A bundle is read from JSON (``docs/incident-bundle.md``) or built by the live pipeline
from the connectors; both paths end in the same in-memory :class:`Bundle`. Metric points are held
as numpy arrays, never as Python objects, so that thousands of services x tens of series x
thousands of points fit in memory: the JSON document is decoded with msgspec, each series'
``points`` kept as raw bytes and turned straight into two float64 arrays (plain numeric series
many at a time, with numpy, batches side by side on threads; anything unusual one by one).

Every problem found in a document raises :class:`BundleError` naming the JSON path, for example
``metrics[12].points[3]: timestamp is not RFC 3339 or a number``. Hostile documents are problems
like any other: a timestamp outside :data:`EARLIEST`..:data:`LATEST` (1970 to 2200, which also
catches milliseconds given for seconds), a number beyond a 64-bit float, or arrays and objects
nested deeper than the decoders can follow (:data:`MAX_DEPTH` is named in the message).
Repeated timestamps in a series are kept as given; scoring merges them
(:func:`investigators.anomaly.clean`), as it does for live telemetry.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from investigators.parallel import map_in_order

BUNDLE_VERSION = 1
#: The range of timestamps a bundle may hold: 1970-01-01 to 2200-01-01 (UTC), in Unix seconds.
EARLIEST, LATEST = 0.0, 7_258_118_400.0
#: Nesting named when a document is too deep to decode; a bundle itself needs five levels.
MAX_DEPTH = 100


class MetricKind(StrEnum):
    """Which way a metric goes when things are bad."""

    LATENCY = "latency"
    ERRORS = "errors"
    TRAFFIC = "traffic"
    SATURATION = "saturation"
    AVAILABILITY = "availability"
    OTHER = "other"


class ChangeKind(StrEnum):
    """What sort of change was made to a service."""

    DEPLOY = "deploy"
    CONFIG = "config"
    FEATURE_FLAG = "feature_flag"
    INFRA = "infra"
    OTHER = "other"


class BundleError(ValueError):
    """A bundle that cannot be used, with the JSON path of the offending value."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


# ---------------------------------------------------------------------------------------------
# In-memory model


@dataclass(frozen=True, slots=True)
class Service:
    """A node of the service graph: ``depends_on`` lists the services this one calls or needs."""

    name: str
    team: str
    depends_on: tuple[str, ...] = ()
    kind: str = "service"


@dataclass(frozen=True, slots=True)
class AlertRef:
    """The series whose alert fired: a service and a metric name of ``Bundle.metrics``."""

    service: str
    metric: str


@dataclass(frozen=True, slots=True)
class Incident:
    """What was detected, when, and where people see it."""

    id: str
    started_at: float
    title: str = ""
    symptom_services: tuple[str, ...] = ()
    alert: AlertRef | None = None


@dataclass(frozen=True, slots=True, eq=False)
class Series:
    """One metric time series: ``times`` in Unix seconds (sorted), ``values`` with NaN for gaps."""

    service: str
    name: str
    kind: MetricKind
    times: np.ndarray
    values: np.ndarray
    unit: str | None = None


@dataclass(frozen=True, slots=True)
class LogSample:
    """A representative log line."""

    service: str
    timestamp: float
    level: str
    message: str


@dataclass(frozen=True, slots=True)
class Change:
    """A deploy, config change, feature flag or infrastructure change on a service."""

    service: str
    kind: ChangeKind
    at: float
    id: str = ""
    title: str = ""
    author: str = ""
    url: str = ""


@dataclass(slots=True)
class Bundle:
    """Everything the root-cause engine needs for one incident."""

    incident: Incident
    services: list[Service]
    metrics: list[Series] = field(default_factory=list)
    log_samples: list[LogSample] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)

    def service_names(self) -> set[str]:
        """The names of every service of the graph."""
        return {s.name for s in self.services}


# ---------------------------------------------------------------------------------------------
# Timestamps

_TOO_BIG = "number beyond the range of a 64-bit float (about 1.8e308); fix what wrote it"
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$",
)


def _out_of_range(seconds: float, *, number: bool) -> str:
    """Why a timestamp outside the bundle's range is refused, and what to give instead."""
    where = "before 1970-01-01" if seconds < EARLIEST else "after 2200-01-01"
    hint = " (milliseconds? bundles count seconds)" if number and seconds > 1e11 else ""
    return (
        f"timestamp {seconds:.6g} is {where}{hint}: give Unix seconds "
        f"({EARLIEST:.0f} to {LATEST:.0f}) or an RFC 3339 time"
    )


def parse_timestamp(value: object, path: str) -> float:
    """An RFC 3339 string or Unix seconds as float seconds; :class:`BundleError` otherwise."""
    if isinstance(value, bool):
        raise BundleError(path, "timestamp is not RFC 3339 or a number")
    seconds: float | None = None
    if isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:  # an integer literal of hundreds of digits
            raise BundleError(path, _TOO_BIG) from None
        if not math.isfinite(seconds):
            raise BundleError(path, "timestamp is not a finite number")
    elif isinstance(value, str) and _RFC3339.match(value):
        text = value.replace("z", "Z").replace("t", "T")
        with contextlib.suppress(ValueError, OverflowError):  # no such day; year 1 at +01:00
            seconds = datetime.fromisoformat(text).timestamp()
    if seconds is None:
        raise BundleError(path, "timestamp is not RFC 3339 or a number")
    if not EARLIEST <= seconds <= LATEST:
        raise BundleError(path, _out_of_range(seconds, number=not isinstance(value, str)))
    return seconds


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def format_timestamp(seconds: float) -> str:
    """Unix seconds as an RFC 3339 UTC string (whole seconds); plain seconds beyond the calendar.

    Never raises: a time no calendar can print (year 10000, infinity) is shown as a number.
    """
    try:
        return (_EPOCH + timedelta(seconds=round(seconds))).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, ValueError):
        return f"{seconds:.6g} (Unix seconds)"


# ---------------------------------------------------------------------------------------------
# Wire model: what the JSON document holds, decoded by msgspec (fast, and errors carry paths)

_Timestamp = str | float | int


class _WireAlert(msgspec.Struct):
    service: str
    metric: str


class _WireIncident(msgspec.Struct):
    id: str
    started_at: _Timestamp
    title: str = ""
    symptom_services: list[str] | None = None
    alert: _WireAlert | None = None


class _WireService(msgspec.Struct):
    name: str
    team: str
    depends_on: list[str] = msgspec.field(default_factory=list)
    kind: str = "service"


class _WireMetric(msgspec.Struct):
    service: str
    name: str
    points: msgspec.Raw
    kind: str = "other"
    unit: str | None = None


class _WireLog(msgspec.Struct):
    service: str
    timestamp: _Timestamp
    message: str
    level: str = "error"


class _WireChange(msgspec.Struct):
    service: str
    kind: str
    at: _Timestamp
    id: str = ""
    title: str = ""
    author: str = ""
    url: str = ""


class _WireBundle(msgspec.Struct):
    version: int
    incident: _WireIncident
    services: list[_WireService]
    metrics: list[_WireMetric]
    log_samples: list[_WireLog] | None = None
    changes: list[_WireChange] | None = None


_MSGSPEC_AT = re.compile(r"^(?P<what>.*?)(?: - at `\$\.?(?P<path>[^`]*)`)?$", re.S)


def _from_msgspec(error: msgspec.MsgspecError) -> BundleError:
    match = _MSGSPEC_AT.match(str(error))
    assert match is not None  # the pattern matches any text
    what = match.group("what").strip()
    what = what[:1].lower() + what[1:]
    if what in ("number out of range", "integer value out of range"):
        what = _TOO_BIG
    return BundleError(match.group("path") or "", what.replace("`", "'"))


_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},:]')


def _too_deep(document: bytes | str, *, path: str = "") -> BundleError:
    """The error for a document nested past what can be decoded, naming where it happens.

    Only called once a decoder gave up (RecursionError), so a slow scan is affordable: it walks
    the brackets, keys and commas to the first value nested :data:`MAX_DEPTH` deep.
    """
    data = document.encode() if isinstance(document, str) else document
    stack: list[tuple[bool, list[Any]]] = []  # (is an array, [index or key])
    last_string = b'""'
    for token in _TOKENS.finditer(data):
        text = token.group()
        if text[:1] == b'"':
            last_string = text
        elif text in (b"[", b"{"):
            if len(stack) >= MAX_DEPTH:
                parts = [f"[{at[0]}]" if array else f".{at[0]}" for array, at in stack[:8]]
                where = (path + "".join(parts)).lstrip(".") + ("..." if len(stack) > 8 else "")
                return BundleError(
                    where,
                    f"arrays or objects nested more than {MAX_DEPTH} deep (a bundle needs 5); "
                    "flatten or remove this value",
                )
            stack.append((text == b"[", [0 if text == b"[" else "?"]))
        elif text in (b"]", b"}"):
            if stack:
                stack.pop()
        elif text == b"," and stack and stack[-1][0]:
            stack[-1][1][0] += 1
        elif text == b":" and stack and not stack[-1][0]:
            stack[-1][1][0] = last_string[1:-1].decode("utf-8", "replace")
    return BundleError(path, "nested too deeply to decode; flatten its arrays and objects")


# ---------------------------------------------------------------------------------------------
# Points: raw JSON bytes -> (times, values)

_WHITESPACE = b" \t\r\n"
_WHITESPACE_AND_BRACKETS = b" \t\r\n[]"
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b"[],")


def _pairs_shape(raw: bytes, items: int) -> bool:
    """Whether the brackets and commas are exactly ``[[a,b],[a,b],...]`` for ``items`` values.

    Checked on the structural characters only; a string holding a bracket or a comma fails
    here and goes to the slow path, which names the problem.
    """
    if items % 2 or items == 0:
        return False
    pairs = items // 2
    return raw.translate(None, _NOT_STRUCTURE) == b"[" + b"[,]," * (pairs - 1) + b"[,]]"


_TIME_INTERN: dict[tuple[int, float, float, bytes], np.ndarray] = {}
_FLAT_NUMBERS = msgspec.json.Decoder(list[float | None])
_STRING_PAIRS = msgspec.json.Decoder(list[tuple[str, float | None]])
_DECODE_ERRORS = (
    msgspec.DecodeError, msgspec.ValidationError, ValueError, TypeError, RecursionError,
)  # fmt: skip


def _points_fast(raw: bytes) -> tuple[np.ndarray, np.ndarray] | None:
    """The common shapes at C speed: numbers or ``...Z`` strings for time, numbers or null.

    Numeric pairs are flattened into one list (brackets and blanks dropped, after checking
    that they do form pairs) that msgspec decodes in one call; string timestamps are decoded as
    pairs. Anything unusual returns None and the slow path says exactly what is wrong.
    """
    if b'"' in raw:
        try:
            pairs = _STRING_PAIRS.decode(raw)
        except _DECODE_ERRORS:
            return None
        if not all(t[-1:] in ("Z", "z") and _RFC3339.match(t) for t, _ in pairs):
            return None
        try:
            iso = np.array([t[:-1] for t, _ in pairs], dtype="datetime64[ms]")
        except ValueError:
            return None
        values = np.array([v for _, v in pairs], dtype=np.float64)
        return iso.astype(np.int64) / 1000.0, values
    flat = raw.translate(None, _WHITESPACE_AND_BRACKETS)
    if not flat:
        return (np.empty(0), np.empty(0)) if raw.translate(None, _WHITESPACE) == b"[]" else None
    if not _pairs_shape(raw, flat.count(b",") + 1):
        return None
    try:
        numbers = np.array(_FLAT_NUMBERS.decode(b"[" + flat + b"]"), dtype=np.float64)
    except _DECODE_ERRORS:
        return None
    return numbers[0::2].copy(), numbers[1::2].copy()


def _points_slow(raw: bytes, path: str) -> tuple[np.ndarray, np.ndarray]:
    """Point by point, to name exactly which point is wrong."""
    try:
        points = json.loads(raw, parse_float=_json_float, parse_int=_json_int)
    except RecursionError:
        raise _too_deep(raw, path=path) from None
    except ValueError as exc:
        raise BundleError(path, f"points are not valid JSON ({exc})") from None
    if not isinstance(points, list):
        raise BundleError(path, "points must be a list of [timestamp, value] pairs")
    times = np.empty(len(points))
    values = np.empty(len(points))
    for i, point in enumerate(points):
        here = f"{path}[{i}]"
        if not isinstance(point, list) or len(point) != 2:
            raise BundleError(here, "a point must be a [timestamp, value] pair")
        if isinstance(point[0], _Overflow):
            raise BundleError(here, f"timestamp {point[0]}: {_TOO_BIG}")
        times[i] = parse_timestamp(point[0], here)
        value = point[1]
        if value is None:
            values[i] = np.nan
        elif isinstance(value, _Overflow):
            raise BundleError(here, f"value {value}: {_TOO_BIG}; null marks a missing value")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            values[i] = float(value)
        else:
            raise BundleError(here, "value must be a number or null")
    return times, values


class _Overflow(str):
    """A JSON number too large for a float, kept as its (shortened) text to name it."""


def _json_float(text: str) -> float | _Overflow:
    number = float(text)
    return _Overflow(text[:20]) if math.isinf(number) else number


def _json_int(text: str) -> int | _Overflow:
    # No float holds 400 digits, and Python refuses to read an int of more than 4300.
    if len(text) <= 400:
        number = int(text)
        try:
            float(number)
            return number
        except OverflowError:
            pass
    return _Overflow(text[:20] + "...")


def _intern_times(times: np.ndarray) -> np.ndarray:
    """Share one array between series sampled on the same grid (most of them, in practice)."""
    if times.size == 0:
        return times
    key = (times.size, float(times[0]), float(times[-1]), times[:8].tobytes())
    known = _TIME_INTERN.get(key)
    if known is not None and np.array_equal(known, times):
        return known
    times.flags.writeable = False
    if len(_TIME_INTERN) > 4096:
        _TIME_INTERN.clear()
    _TIME_INTERN[key] = times
    return times


def parse_points(raw: bytes, path: str) -> tuple[np.ndarray, np.ndarray]:
    """Decode one ``points`` array into sorted times and values (NaN where missing)."""
    parsed = _points_fast(raw)
    times, values = parsed if parsed is not None else _points_slow(raw, path)
    if times.size and not np.all(np.isfinite(times)):
        bad = int(np.flatnonzero(~np.isfinite(times))[0])
        raise BundleError(f"{path}[{bad}]", "timestamp is not RFC 3339 or a number")
    if times.size and not (times.min() >= EARLIEST and times.max() <= LATEST):
        bad = int(np.flatnonzero((times < EARLIEST) | (times > LATEST))[0])
        number = b'"' not in raw  # no RFC 3339 string among them: perhaps milliseconds
        raise BundleError(f"{path}[{bad}]", _out_of_range(float(times[bad]), number=number))
    if times.size > 1 and np.any(np.diff(times) < 0):
        order = np.argsort(times, kind="stable")
        times, values = times[order], values[order]
    values[~np.isfinite(values)] = np.nan
    return _intern_times(times), values


# ---------------------------------------------------------------------------------------------
# Plain numeric series, many at a time: bytes -> float64 without a Python float per number
#
# Most series are ``[[1795141200,17.447],[1795141260,null],...]``: integer times, short decimal
# values, nulls. For those, a batch of series is joined and parsed with numpy, a few dozen array
# operations per batch instead of a Python object per number. The outer decode already checked
# that each ``points`` is valid JSON, so once strings, objects, exponents (and with them true and
# false) are ruled out, every scalar is ``null`` or ``-?digits(.digits)?``. Each number is read
# from the 16 bytes that end it (two unaligned 64-bit words): digits are combined eight at a
# time (SWAR), the decimal point is found in the same words, and the value is the exact integer
# of its digits divided by an exact power of ten, which IEEE division rounds correctly: the same
# float any correct decimal parser gives. Numbers of more than 16 characters or 2**53 and over
# go to the per-series path, like anything else unusual; so does every series of a batch with a
# problem (a bad shape, a timestamp out of range), and that path names it.

_BATCH_BYTES = 1 << 20  # measured: 256 KB to 2 MB within 10%, 1 MB a little ahead
_NOT_PLAIN = (b'"', b"{", b"e", b"E")
_BLANKS = (b" ", b"\t", b"\r", b"\n")
_ONES = np.uint64(0x0101_0101_0101_0101)
_HIGH = np.uint64(0x8080_8080_8080_8080)
_LOW7 = np.uint64(0x7F7F_7F7F_7F7F_7F7F)
_DOTS = np.uint64(0x2E2E_2E2E_2E2E_2E2E)
#: Multipliers that turn the one marked byte of a word into (chars after the point) + 1,
#: for the first and the second word of a 16-byte window.
_AFTER = np.array([0x100F_0E0D_0C0B_0A09, 0x0807_0605_0403_0201], dtype=np.uint64)
#: By (chars after the point) + 1, 0 for no point: what the fraction is the remainder of (with no
#: point, of nothing smaller than the number) and what the number is divided by.
_FRACTION_MODULUS = np.array([2**64 - 1] + [10**i for i in range(16)], dtype=np.uint64)
_PLACES = np.concatenate(([1.0], 10.0 ** np.arange(16)))
#: By length, the bytes of a 16-byte window (two words) that hold the number.
_KEEP = np.array(
    [[2**64 - (1 << 8 * min(16 - n, 8)), 2**64 - (1 << 8 * max(8 - n, 0))] for n in range(17)],
    dtype=np.uint64,
)
_BETWEEN_PAIRS = int.from_bytes(b"],[", "little")
_KEEP_SHORT = _KEEP[:, 1].copy()  # for numbers of 8 bytes or fewer
_EXACT = np.uint64(2**53)
_NULL = np.uint64(int.from_bytes(b"\0\0\0\0null", "little"))
_U = np.uint64


def _eight_digits(word: np.ndarray) -> np.ndarray:
    """The number written by the 8 bytes of each word (non-digits count as 0)."""
    digits = word >> _U(4)
    digits &= _ONES
    digits *= _U(15)
    digits &= word  # '0'..'9' -> 0..9; '-', '.' and bytes masked off -> 0
    for width, keep in ((8, 0x00FF_00FF_00FF_00FF), (16, 0x0000_FFFF_0000_FFFF), (32, 0xFFFF_FFFF)):
        lower = digits >> _U(width)
        digits *= _U(10 ** (width // 8))
        digits += lower
        digits &= _U(keep)
    return digits


def _after_point(word: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Chars after the decimal point + 1 where a word holds the point, else 0."""
    x = word ^ _DOTS  # a zero byte where '.'; bytes masked off become '.' ^ 0, never zero
    zero = x & _LOW7
    zero += _LOW7
    zero |= x
    zero = ~zero
    zero &= _HIGH
    zero >>= _U(7)
    zero *= after
    zero >>= _U(56)
    return zero


def _parse_numbers(
    windows: tuple[np.ndarray, np.ndarray],
    ends: np.ndarray,
    lengths: np.ndarray,
    *,
    negative: np.ndarray | None = None,
    rows: int = 1,
) -> np.ndarray | None:
    """The JSON numbers (NaN for null) ending at ``ends``; None past the fast path.

    ``windows`` views the text as 8-byte and 16-byte items starting at every byte (gathering
    those is much faster than gathering unaligned 64-bit words). ``negative`` marks the numbers
    that start with '-'. With ``rows`` (series of one length) all spelled exactly like the
    first, only the first row is read and returned: the numbers of every row.
    """
    longest = int(lengths.max())
    if longest > 16:
        return None
    # Keep only the number's own bytes of each window: by length, a mask for each word.
    by_length: Any = lengths[0] if int(lengths.min()) == longest else lengths
    if longest > 8:
        words = windows[1][ends - 16].view("<u8").reshape(-1, 2)
        words &= _KEEP[by_length]
        if rows > 1:
            grid = words.reshape(rows, -1)
            if bool((grid == grid[0]).all()):  # the same text: the same numbers
                row = slice(0, len(ends) // rows)
                return _parse_numbers(
                    windows,
                    ends[row],
                    lengths[row],
                    negative=None if negative is None else negative[row],
                )
        digits = _eight_digits(words)
        number = digits[:, 0] * _U(100_000_000)
        number += digits[:, 1]
        after = _after_point(words, _AFTER)
        after = after[:, 0] + after[:, 1]
        hi = words[:, 1]
    else:
        hi = windows[0][ends - 8].view("<u8")
        hi &= _KEEP_SHORT[by_length]
        number = _eight_digits(hi)
        after = _after_point(hi, _AFTER[1])
    pointed = bool(after.any())
    if pointed:
        # The point was read as a 0 digit: take it out from between the whole and the fraction
        # (with no point, the remainder is the whole number and nothing changes).
        after = after.astype(np.intp)
        whole = number - number % _FRACTION_MODULUS[after]  # with the point's 0 digit
        whole //= _U(10)
        whole *= _U(9)
        number -= whole  # whole // 10 + fraction
    if longest == 16 and bool((number > _EXACT).any()):  # 15 digits never get there
        return None
    values = number.astype(np.float64)
    if pointed:
        values /= _PLACES[after]
    if negative is not None:
        # Like msgspec (and JSON's integers): -0 is 0, but -0.0 is -0.0.
        np.negative(values, out=values, where=negative & ((number > 0) | (after > 0)))
    values[hi == _NULL] = np.nan  # only a null leaves exactly these four bytes in the window
    return values


def _plain_batch(joined: bytes, sizes_of: list[int]) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """Series of compact, plain ``[[t,v],...]`` points joined by commas, parsed; None if any
    is not so, holds a number past the fast path, or a timestamp out of range."""
    buf = b" " * 16 + joined  # room before the first number's 16-byte window
    u = np.frombuffer(buf, np.uint8)
    series = len(sizes_of)
    sizes = np.array(sizes_of, dtype=np.intp)
    starts = 16 + np.concatenate(([0], np.cumsum(sizes[:-1] + 1)))
    ends = starts + sizes
    commas = np.flatnonzero(u == ord(","))
    # Commas per series, between the commas that join them: an odd number, 2 per pair - 1.
    joins = np.searchsorted(commas, ends[:-1])
    inner = np.diff(np.concatenate(([-1], joins, [commas.size]))) - 1
    if not bool((inner % 2 == 1).all()):
        return None
    pairs = (inner + 1) // 2
    total = int(pairs.sum())
    # The shape from brackets and commas alone (the reasoning is in the loader's tests): each
    # series opens with '[[' and closes with ']]', every other comma is ']' ',' '[' (between
    # pairs or series), and there are no other brackets. Each is valid JSON, so what is left
    # between the brackets and commas is one scalar each.
    within, between = commas[0::2], commas[1::2]
    threes = np.ndarray((len(buf) - 3,), dtype="V4", buffer=buf, strides=(1,))
    if not (
        bool((u[starts] == ord("[")).all())
        and bool((u[starts + 1] == ord("[")).all())
        and bool((u[ends - 1] == ord("]")).all())
        and bool((u[ends - 2] == ord("]")).all())
        and bool(((threes[between - 1].view("<u4") & 0xFF_FFFF) == _BETWEEN_PAIRS).all())
        # Both brackets at once (x | 6 is 0x5F for '[', ']', 'Y' and '_' only, and no JSON
        # outside a string holds 'Y' or '_'); each count is at least its share, so the sum
        # being right makes both right.
        and np.count_nonzero((u | 6) == 0x5F) == 2 * (total + series)
    ):
        return None
    # Between pairs, one bracket either side of the comma; between series, two.
    apart = np.ones(between.size, dtype=np.intp)
    apart[(joins - 1) // 2] = 2
    time_starts = np.concatenate(([starts[0] + 2], between + 1 + apart))
    value_ends = np.concatenate((between - apart, [ends[-1] - 2]))
    windows = (
        np.ndarray((len(buf) - 7,), dtype="V8", buffer=buf, strides=(1,)),
        np.ndarray((len(buf) - 15,), dtype="V16", buffer=buf, strides=(1,)),
    )
    # Series are most often sampled on one grid: read its times once.
    same_length = bool((pairs == pairs[0]).all())
    signed = b"-" in joined
    times = _parse_numbers(
        windows,
        within,
        within - time_starts,
        negative=u[time_starts] == ord("-") if signed else None,
        rows=series if same_length else 1,
    )
    values = _parse_numbers(
        windows,
        value_ends,
        value_ends - within - 1,
        negative=u[within + 1] == ord("-") if signed else None,
    )
    if times is None or values is None:
        return None
    if not (bool(np.isfinite(times).all()) and times.min() >= EARLIEST and times.max() <= LATEST):
        return None
    if times.size < total:  # every series on one grid, read once
        return _split_on_one_grid(times, values.reshape(series, -1))
    return _split_series(times, values, pairs)


def _split_on_one_grid(
    times: np.ndarray, values: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Series that share ``times``, their values a row each: sorted once, interned once."""
    if times.size > 1 and bool((np.diff(times) < 0).any()):
        order = np.argsort(times, kind="stable")
        times, values = times[order], values[:, order]
    shared = _intern_times(times)
    return [(shared, row) for row in values]


def _split_series(
    times: np.ndarray, values: np.ndarray, pairs: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray]]:
    """A batch's times and values cut into its series, each sorted and its times interned."""
    bounds = np.concatenate(([0], np.cumsum(pairs)))
    backwards = np.diff(times) < 0
    backwards[bounds[1:-1] - 1] = False  # a series may start before the last one ends
    drops = np.flatnonzero(backwards) + 1
    unsorted = set((np.searchsorted(bounds, drops, side="right") - 1).tolist())
    # Series of one length are most often on one grid: compare them all to the first at once.
    same = [False] * pairs.size
    if bool((pairs == pairs[0]).all()):
        grid = times.reshape(pairs.size, int(pairs[0]))
        same = (grid == grid[0]).all(axis=1).tolist()
    shared = None
    out = []
    for i, (start, stop) in enumerate(itertools.pairwise(bounds.tolist())):
        t, v = times[start:stop], values[start:stop]
        if i in unsorted:
            order = np.argsort(t, kind="stable")
            t, v = _intern_times(t[order]), v[order]
        elif same[i]:
            shared = _intern_times(t) if shared is None else shared
            t = shared
        else:
            t = _intern_times(t)
        out.append((t, v))
    return out


def _plain_series(raws: list[msgspec.Raw]) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """The points of every series the batch path reads, None for the rest; never raises."""
    out: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(raws)
    batches: list[list[int]] = []
    batch: list[int] = []
    size = 0
    for i, raw in enumerate(raws):
        if len(raw) >= len(b"[[0,0]]"):
            batch.append(i)
            size += len(raw)
        if batch and (size >= _BATCH_BYTES or i == len(raws) - 1):
            batches.append(batch)
            batch, size = [], 0
    map_in_order(lambda batch: _plain_fill(raws, batch, out), batches)  # side by side
    return out


def _plain_fill(
    raws: list[msgspec.Raw], batch: list[int], out: list[tuple[np.ndarray, np.ndarray] | None]
) -> None:
    parts: list[bytes | msgspec.Raw] = [raws[i] for i in batch]
    joined = b",".join(parts)
    if any(c in joined for c in _NOT_PLAIN + _BLANKS):  # sort the plain ones out, one by one
        kept = []
        for i in batch:
            raw = bytes(raws[i])
            if any(c in raw for c in _BLANKS):
                raw = raw.translate(None, _WHITESPACE)  # JSON numbers hold no blanks
            if len(raw) >= len(b"[[0,0]]") and not any(c in raw for c in _NOT_PLAIN):
                kept.append((i, raw))
        batch, parts = [i for i, _ in kept], [raw for _, raw in kept]
        if not batch:
            return
        joined = b",".join(parts)
    parsed = _plain_batch(joined, [len(part) for part in parts])
    if parsed is not None:
        for i, points in zip(batch, parsed, strict=True):
            out[i] = points


# ---------------------------------------------------------------------------------------------
# Loading and validating


def _enum(kind_type: type[MetricKind] | type[ChangeKind], value: str, path: str) -> Any:
    try:
        return kind_type(value)
    except ValueError:
        allowed = ", ".join(k.value for k in kind_type)
        raise BundleError(path, f"unknown kind '{value}' (one of {allowed})") from None


def parse_bundle(document: bytes | str) -> Bundle:
    """Decode and validate one bundle document; :class:`BundleError` names what is wrong."""
    try:
        wire = msgspec.json.decode(document, type=_WireBundle)
    except msgspec.ValidationError as exc:
        raise _from_msgspec(exc) from None
    except msgspec.DecodeError as exc:
        raise BundleError("", f"not a JSON document: {exc}") from None
    except RecursionError:
        raise _too_deep(document) from None
    if wire.version != BUNDLE_VERSION:
        raise BundleError("version", f"unsupported version {wire.version} (this reads version 1)")

    services: list[Service] = []
    names: dict[str, int] = {}
    for i, s in enumerate(wire.services):
        if not s.name:
            raise BundleError(f"services[{i}].name", "a service needs a name")
        if s.name in names:
            raise BundleError(
                f"services[{i}].name",
                f"duplicate service '{s.name}' (also services[{names[s.name]}])",
            )
        names[s.name] = i
    for i, s in enumerate(wire.services):
        for j, dep in enumerate(s.depends_on):
            if dep not in names:
                raise BundleError(f"services[{i}].depends_on[{j}]", f"unknown service '{dep}'")
        services.append(Service(s.name, s.team, tuple(dict.fromkeys(s.depends_on)), s.kind))

    def known(service: str, path: str) -> str:
        if service not in names:
            raise BundleError(path, f"unknown service '{service}' (not listed in services)")
        return service

    inc = wire.incident
    symptoms = tuple(
        known(name, f"incident.symptom_services[{i}]")
        for i, name in enumerate(inc.symptom_services or [])
    )
    alert = None
    if inc.alert is not None:
        alert = AlertRef(known(inc.alert.service, "incident.alert.service"), inc.alert.metric)
    incident = Incident(
        id=inc.id,
        title=inc.title,
        started_at=parse_timestamp(inc.started_at, "incident.started_at"),
        symptom_services=symptoms,
        alert=alert,
    )

    metrics: list[Series] = []
    plain = _plain_series([m.points for m in wire.metrics])
    metric_kinds = {kind.value: kind for kind in MetricKind}
    for i, m in enumerate(wire.metrics):
        parsed, plain[i] = plain[i], None
        if parsed is None:
            parsed = parse_points(bytes(m.points), f"metrics[{i}].points")
        times, values = parsed
        # Paths are spelled out only for an error: tens of thousands of series pass.
        if m.service not in names:
            known(m.service, f"metrics[{i}].service")
        kind = metric_kinds.get(m.kind) or _enum(MetricKind, m.kind, f"metrics[{i}].kind")
        metrics.append(Series(m.service, m.name, kind, times, values, m.unit))
    # The raw documents can be large: drop them as soon as the arrays exist.
    del wire.metrics[:]
    if alert is not None and not any(
        m.service == alert.service and m.name == alert.metric for m in metrics
    ):
        raise BundleError(
            "incident.alert.metric",
            f"no series '{alert.metric}' of service '{alert.service}' in metrics: name one of "
            "the bundle's series, or leave the alert out",
        )

    logs = [
        LogSample(
            service=known(entry.service, f"log_samples[{i}].service"),
            timestamp=parse_timestamp(entry.timestamp, f"log_samples[{i}].timestamp"),
            level=entry.level,
            message=entry.message,
        )
        for i, entry in enumerate(wire.log_samples or [])
    ]
    changes = [
        Change(
            service=known(c.service, f"changes[{i}].service"),
            kind=_enum(ChangeKind, c.kind, f"changes[{i}].kind"),
            at=parse_timestamp(c.at, f"changes[{i}].at"),
            id=c.id,
            title=c.title,
            author=c.author,
            url=c.url,
        )
        for i, c in enumerate(wire.changes or [])
    ]
    return Bundle(incident, services, metrics, logs, changes)


def load_bundle(path: str | Path) -> Bundle:
    """Read and validate a bundle file."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise BundleError("", f"cannot read {path}: {exc.strerror or exc}") from None
    return parse_bundle(data)


# ---------------------------------------------------------------------------------------------
# Writing


def _number(value: float) -> str:
    if not math.isfinite(value):
        return "null"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def _time(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text or "0"


def _points_json(times: np.ndarray, values: np.ndarray) -> str:
    ts = [_time(t) for t in times.tolist()]
    vs = ["null" if v != v else _number(v) for v in values.tolist()]
    return "[" + ",".join(f"[{t},{v}]" for t, v in zip(ts, vs, strict=True)) + "]"


def _iter_bundle_json(bundle: Bundle) -> Iterator[str]:
    inc = bundle.incident
    head = {
        "version": BUNDLE_VERSION,
        "incident": {
            "id": inc.id,
            "title": inc.title,
            "started_at": format_timestamp(inc.started_at),
            "symptom_services": list(inc.symptom_services),
            **(
                {"alert": {"service": inc.alert.service, "metric": inc.alert.metric}}
                if inc.alert is not None
                else {}
            ),
        },
        "services": [
            {"name": s.name, "team": s.team, "depends_on": list(s.depends_on), "kind": s.kind}
            for s in bundle.services
        ],
        "log_samples": [
            {
                "service": entry.service,
                "timestamp": format_timestamp(entry.timestamp),
                "level": entry.level,
                "message": entry.message,
            }
            for entry in bundle.log_samples
        ],
        "changes": [
            {
                "service": c.service,
                "kind": c.kind.value,
                "at": format_timestamp(c.at),
                "id": c.id,
                "title": c.title,
                "author": c.author,
                "url": c.url,
            }
            for c in bundle.changes
        ],
    }
    text = json.dumps(head, separators=(",", ":"))
    yield text[:-1] + ',"metrics":['
    for i, m in enumerate(bundle.metrics):
        meta = json.dumps(
            {"service": m.service, "name": m.name, "kind": m.kind.value, "unit": m.unit},
            separators=(",", ":"),
        )
        yield ("," if i else "") + meta[:-1] + ',"points":' + _points_json(m.times, m.values) + "}"
    yield "]}"


def dump_bundle(bundle: Bundle) -> str:
    """The bundle as a compact JSON document (points as Unix seconds)."""
    return "".join(_iter_bundle_json(bundle))


def write_bundle(bundle: Bundle, path: str | Path) -> None:
    """Write the bundle as JSON, streaming so that large bundles need no second copy in memory."""
    with Path(path).open("w", encoding="utf-8") as out:
        for chunk in _iter_bundle_json(bundle):
            out.write(chunk)
