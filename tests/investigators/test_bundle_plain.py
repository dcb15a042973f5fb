"""The batch reader of plain numeric points against the per-series reader it stands in for.

Most series are read many at a time by :func:`investigators.bundle._plain_series`, straight from
the JSON text with numpy; everything else goes point by point through
:func:`investigators.bundle.parse_points`. The two must never disagree: same floats to the
bit, same NaN, same order, same errors, whatever the spelling of the numbers.

Why the batch reader's shape check is enough (it looks at brackets and commas only): each
``points`` is valid JSON (the outer decode checked it) and holds no string, object or letter
``e``, so its scalars are numbers or null. Say a series has ``2p - 1`` commas, opens with
``[[``, closes with ``]]``, and every second comma (the 2nd, 4th, ...) reads ``],[``. The text
between commas then opens with ``[[`` (the first piece) or ``[`` (after a ``],[``), and ends
with ``]`` (before one) or ``]]`` (the last piece), so the series holds at least ``p + 1`` of
each bracket. If it holds exactly ``p + 1`` (the batch checks the sum over its series, and each
series has at least that many) no other bracket exists, every piece is one scalar, and the
series is ``[[a,b],...,[a,b]]``: ``p`` pairs.
"""

from __future__ import annotations

import json
import math
import random

import msgspec
import numpy as np
import pytest

from investigators.bundle import (
    _BATCH_BYTES,
    BundleError,
    _plain_series,
    parse_bundle,
    parse_points,
)

#: 2026-11-20T14:00:00Z
T0 = 1_795_183_200

#: Values the batch reader reads itself: every length up to 16 characters, points anywhere.
FAST_VALUES = [
    "0", "-0", "0.0", "-0.0", "1", "-1", "7", "10", "0.1", "0.2", "0.3", "-0.5", "1.5",
    "17.447", "0.98", "123456.7", "99999999", "100000000", "-99999999.5", "0.000001",
    "0.0000000000001", "123456789012345", "1234567890123456", "9007199254740992",
    "-900719925474099", "90071992547409.9", "0.9999999999999", "4503599627370497",
    "3.141592653589", "2.71828182845904", "-0.0000000000001", "null",
]  # fmt: skip
#: Values left to the per-series path: exponents, more than 16 characters, 2**53 and over.
SLOW_VALUES = [
    "1e3", "2.5e+06", "-1.2E-7", "0.30000000000000004", "9007199254740993", "12345678901234567",
    "1" + "0" * 30, "123456789.123456789",
]  # fmt: skip
FAST_TIMES = [str(T0), f"{T0}.5", f"{T0}.125", "0", "-0", "7258118400", "1000000000.00001"]


def _points(rng: random.Random, values: list[str], *, pairs: int, grid: bool) -> bytes:
    """One series' ``points`` as compact JSON text, on a one-minute grid or at odd times."""
    if grid:
        times = [str(T0 + 60 * i) for i in range(pairs)]
    else:
        times = [rng.choice([*FAST_TIMES, str(T0 + rng.randrange(0, 10**6))]) for _ in range(pairs)]
    return ("[" + ",".join(f"[{t},{rng.choice(values)}]" for t in times) + "]").encode()


def _same_arrays(got: tuple[np.ndarray, np.ndarray], want: tuple[np.ndarray, np.ndarray]) -> None:
    for a, b in zip(got, want, strict=True):
        assert a.dtype == b.dtype == np.float64
        assert a.shape == b.shape
        assert np.array_equal(a, b, equal_nan=True)
        assert np.array_equal(np.signbit(a), np.signbit(b))  # -0.0 stays -0.0


def _by_python(raw: bytes) -> tuple[np.ndarray, np.ndarray]:
    """The points read by Python's own float(), sorted stably by time: a third opinion."""
    pairs = json.loads(raw)  # -0 is the integer 0, -0.0 the float -0.0
    times = np.array([float(t) for t, _ in pairs])
    values = np.array([math.nan if v is None else float(v) for _, v in pairs])
    order = np.argsort(times, kind="stable")
    return times[order], values[order]


@pytest.mark.parametrize("seed", range(12))
def test_plain_series_read_in_batches_are_the_per_series_reading_to_the_bit(seed: int) -> None:
    rng = random.Random(seed)
    raws = [
        _points(rng, FAST_VALUES, pairs=rng.choice([1, 2, 3, 50, 720]), grid=rng.random() < 0.7)
        for _ in range(rng.randrange(1, 120))
    ]
    got = _plain_series([msgspec.Raw(raw) for raw in raws])
    for i, raw in enumerate(raws):
        read = got[i]
        assert read is not None, f"series {i} left the batch path: {raw[:80]!r}"
        _same_arrays(read, parse_points(raw, f"metrics[{i}].points"))
        _same_arrays(read, _by_python(raw))


def test_many_batches_read_side_by_side_come_back_in_the_order_of_the_series() -> None:
    rng = random.Random(7)
    raws = [_points(rng, FAST_VALUES, pairs=720, grid=rng.random() < 0.5) for _ in range(400)]
    assert sum(map(len, raws)) > 4 * _BATCH_BYTES  # several batches, on threads where cores are
    got = _plain_series([msgspec.Raw(raw) for raw in raws])
    for i, raw in enumerate(raws):
        read = got[i]
        assert read is not None
        _same_arrays(read, _by_python(raw))


@pytest.mark.parametrize("seed", range(6))
def test_a_number_past_the_batch_path_sends_its_batch_to_the_per_series_reader(seed: int) -> None:
    rng = random.Random(100 + seed)
    raws = [_points(rng, FAST_VALUES, pairs=30, grid=True) for _ in range(20)]
    slow = rng.randrange(len(raws))
    raws[slow] = _points(rng, FAST_VALUES + [rng.choice(SLOW_VALUES)] * 200, pairs=30, grid=False)
    got = _plain_series([msgspec.Raw(raw) for raw in raws])
    for i, raw in enumerate(raws):
        want = parse_points(raw, "p")
        if got[i] is not None:
            _same_arrays(got[i], want)  # type: ignore[arg-type]
    document = _document(raws)
    for series, raw in zip(parse_bundle(document).metrics, raws, strict=True):
        _same_arrays((series.times, series.values), parse_points(raw, "p"))


def _document(raws: list[bytes], *, kinds: dict[int, str] | None = None) -> bytes:
    """A bundle of one service whose series have these ``points`` texts."""
    metrics = b",".join(
        b'{"service":"api","name":"m%d","kind":"%s","points":%s}'
        % (i, (kinds or {}).get(i, "latency").encode(), raw)
        for i, raw in enumerate(raws)
    )
    return (
        b'{"version":1,"incident":{"id":"INC-1","started_at":"2026-11-20T14:05:00Z"},'
        b'"services":[{"name":"api","team":"core"}],"metrics":[' + metrics + b"]}"
    )


def test_blanks_anywhere_between_the_numbers_read_the_same() -> None:
    rng = random.Random(7)
    raws = [_points(rng, FAST_VALUES, pairs=40, grid=True) for _ in range(30)]
    compact = parse_bundle(_document(raws))
    pretty = json.dumps(json.loads(_document(raws)), indent=2)
    spaced = _document([raw.replace(b",", b" ,\n\t").replace(b"[", b"[ \r\n") for raw in raws])
    for document in (pretty, spaced):
        for a, b in zip(parse_bundle(document).metrics, compact.metrics, strict=True):
            _same_arrays((a.times, a.values), (b.times, b.values))
    assert all(_plain_series([msgspec.Raw(raw.replace(b",", b" , ")) for raw in raws]))


def test_series_on_one_grid_share_one_times_array_and_unsorted_ones_are_sorted() -> None:
    grid = b"[" + b",".join(b"[%d,%d.5]" % (T0 + 60 * i, i) for i in range(5)) + b"]"
    backwards = b"[" + b",".join(b"[%d,%d]" % (T0 + 60 * i, i) for i in reversed(range(5))) + b"]"
    earlier = b"[" + b",".join(b"[%d,1]" % (T0 - 600 + 60 * i) for i in range(5)) + b"]"
    metrics = parse_bundle(_document([grid, grid, backwards, earlier, grid])).metrics
    assert metrics[0].times is metrics[1].times is metrics[2].times is metrics[4].times
    assert metrics[2].values.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert metrics[3].times.tolist() == [T0 - 600 + 60 * i for i in range(5)]  # not resorted
    assert not metrics[0].times.flags.writeable


def _error(document: bytes) -> str:
    with pytest.raises(BundleError) as caught:
        parse_bundle(document)
    return str(caught.value)


def _per_series_error(raw: bytes, path: str) -> str:
    with pytest.raises(BundleError) as caught:
        parse_points(raw, path)
    return str(caught.value)


@pytest.mark.parametrize(
    "bad",
    [
        b"[[1795183200,1,2],[1795183260]]",  # right number of commas, wrong pairs
        b"[[1795183200],[1795183260,1,2]]",
        b"[[1795183200,1],[[1795183260],2]]",
        b"[[1795183200,1],[1795183260,[2]]]",
        b"[[1795183200,1],1795183260,2]",
        b"[[1795183200,1],[1795183260,2],[]]",
        b"[[1795183200,1],[null,2]]",
        b"[[1795183200,1],[-60,2]]",
        b"[[1795183200,1],[1795183260000,2]]",
        b"[[1795183200,1],[true,2]]",
        b"[[1795183200,1],[1795183260,false]]",
        b"[[1795183200,1],[1795183260,{}]]",
        b'[[1795183200,1],[1795183260,"2"]]',
        b"[[1795183200,1],[1e400,2]]",
        b"[[1795183200,1],[1795183260,-1" + b"0" * 400 + b"]]",
        b"[[1795183200,1],[1795183260,2]," + b"[" * 200 + b"]" * 200 + b"]",
    ],
)
def test_a_bad_series_among_good_ones_is_named_as_the_per_series_reader_names_it(
    bad: bytes,
) -> None:
    rng = random.Random(3)
    raws = [_points(rng, FAST_VALUES, pairs=20, grid=True) for _ in range(25)]
    raws[17] = bad
    assert _plain_series([msgspec.Raw(raw) for raw in raws])[17] is None
    assert _error(_document(raws)) == _per_series_error(bad, "metrics[17].points")


def test_errors_come_in_the_order_of_the_series() -> None:
    rng = random.Random(5)
    raws = [_points(rng, FAST_VALUES, pairs=20, grid=True) for _ in range(25)]
    raws[20] = b"[[1795183200,1],[1795183260,true]]"
    assert _error(_document(raws, kinds={9: "nonsense"})).startswith("metrics[9].kind: ")
    assert _error(_document(raws)).startswith("metrics[20].points[1]: ")


def test_series_sharing_one_unsorted_grid_are_each_sorted_like_the_per_series_reader() -> None:
    rng = random.Random(11)
    times = [T0 + 60 * i for i in rng.sample(range(300), 300)] + [T0, T0]  # repeats kept
    raws = [
        ("[" + ",".join(f"[{t},{rng.choice(FAST_VALUES)}]" for t in times) + "]").encode()
        for _ in range(40)
    ]
    metrics = parse_bundle(_document(raws)).metrics
    assert all(series.times is metrics[0].times for series in metrics)
    for series, raw in zip(metrics, raws, strict=True):
        _same_arrays((series.times, series.values), parse_points(raw, "p"))
