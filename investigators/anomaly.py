"""Per-series anomaly scores around an incident, with numpy and no I/O.

The question asked of every series is: *did it change, for the worse, when the incident began?*
The method, step by step:

1. **Clean.** Points are sorted, repeated timestamps merged (their mean), non-finite times and
   values dropped or kept as gaps (:func:`clean`). One bad series never stops the others.
2. **A local before-and-after statistic.** At a candidate split point ``j`` of a series with
   step ``s``: ``D(j) = median(x[j : j+H]) - median(x[j-L : j])``, the typical value over the
   next ``H`` points (about five minutes) minus the typical value over the ``L`` points before
   (about ten minutes). Both windows are in time, converted to points per resolution, with at
   least one point after and two before, so the same code serves a 1 s export and 5-minute
   rollups. The reference level is *local*: a history recorded at another time or under other
   traffic (a shift present from the first point of the window) is not compared against, and
   the tail of an earlier incident ends up behind the split rather than in it.
3. **A spread calibrated on the series' own history.** The same statistic ``D`` is taken at
   every position of the history before the candidates; its robust spread (1.4826 x MAD) says
   how much ``D`` moves when nothing is wrong, seasons, autocorrelation and rollups included.
   When the history is too short for that (minutes, or a few points), the spread comes from
   point-to-point differences (of the whole series when it began reporting only at the first
   split), and at worst from a floor relative to the level; counts have at
   least their Poisson noise. A spread never goes below a small share of the level, so very
   smooth series do not explode.
4. **The score** is ``z(j) = direction x D(j) / spread``, in the bad direction of the metric
   kind (latency, errors, saturation up; availability down; traffic and other either way),
   capped at :data:`Z_CAP`. A change must also matter in size (5% of the level, 0.2% for
   availability) to pass the bar.
5. **The onset** is found from the data, not assumed: among the candidate splits, the one with
   the highest ``z``; then walked back to the first point that already shows at least half of
   that shift, so a ramp is dated from its start. Candidates lie in a window the caller gives:
   around the alerting series' own onset when there is one (``around``), else around the
   detection time. The baseline is whatever history exists before the split, even two points.
   A shift as large just before the window is older than this incident, with one exception
   for coarse rollups: a point stamped with its bucket's start (Datadog, CloudWatch) that
   holds the first minutes of a change shown in full at the window's first point is that
   change's beginning, so start- and end-stamped rollups of the same data date it alike.
   Memory-like series also say how high they got (held three points, so a spike does not
   count) and when they neared it: a leak hurts when it runs out, not when it begins.

Series sharing one time grid (most do) are scored as one matrix, and only the positions needed
(the candidates, and a sample of at most :data:`HISTORY_POSITIONS` history positions for the
spread) are computed, so thousands of services cost a few vectorised passes. The matrix goes
through in slices of :data:`ROWS_AT_ONCE` rows, side by side on threads
(:mod:`investigators.parallel`): each row is scored on its own, so slicing changes no score.
"""

from __future__ import annotations

import math
import re
import warnings
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np

from investigators.bundle import MetricKind, Series
from investigators.parallel import map_in_order

#: Without an alert to lead, onsets are searched this far before and after detection (s).
LOOKBACK = 30 * 60.0
LOOKAHEAD = 30 * 60.0
#: Around a leading onset: how much earlier a cause may begin, and how much later an effect.
LEAD = 15 * 60.0
LAG = 5 * 60.0
#: At most this many split points are tried on memory series, over their long window.
GROWING_CANDIDATES = 40
#: How long before a leading onset memory may have begun to leak (seconds).
LEAK_LEAD = 2 * 3600.0
#: Resolution from which a series counts as a coarse rollup (seconds).
COARSE = 240.0
#: The windows of the before-and-after statistic (seconds).
BEFORE_WINDOW = 10 * 60.0
AFTER_WINDOW = 5 * 60.0
#: With too little history to calibrate, the spread is at least this share of the level.
SHORT_HISTORY_SHARE = 0.05
#: How many history positions calibrate the spread at most (evenly sampled).
HISTORY_POSITIONS = 64
#: Series of one grid scored together at most: measured on 20,000 series of 720 points, 256
#: to 512 rows a slice ran about twice as fast as all at once, 4,096 hardly faster.
ROWS_AT_ONCE = 256
#: Back to its level this long (seconds) before detection, an episode of the alert's series
#: had ended: what followed is another one (see :func:`score_current`).
RECOVERED = 3 * 60.0
#: How far before and after the leading onset two series are compared for moving together (s).
COMOVE_BEFORE = 10 * 60.0
COMOVE_AFTER = 30 * 60.0
#: Series finer than this are bucketed to it before scoring (seconds).
FINEST_STEP = 10.0
#: A series is anomalous when its score reaches this.
THRESHOLD = 4.0
#: The lower bar for a dependency of an anomalous service (see :mod:`investigators.rca`).
WEAK_THRESHOLD = 2.5
#: z-scores are capped here: beyond it a number says nothing more.
Z_CAP = 60.0

_UP = {MetricKind.LATENCY, MetricKind.ERRORS, MetricKind.SATURATION}
_MIN_EFFECT = {MetricKind.ERRORS: 0.0, MetricKind.AVAILABILITY: 0.002}
_RELATIVE_FLOOR = {MetricKind.LATENCY, MetricKind.TRAFFIC, MetricKind.OTHER, MetricKind.ERRORS}
# Thread and worker pools are left out on purpose: they fill up from waiting on slow calls.
_INTRINSIC = re.compile(r"cpu|mem|heap|gc|conn|disk|fd|oom|swap|iops|throttl", re.I)
_LEAKY = re.compile(r"mem|heap", re.I)


def is_leaky(series_name: str, kind: MetricKind) -> bool:
    """Memory-like signals, which leak slowly rather than follow the load."""
    return kind is MetricKind.SATURATION and bool(_LEAKY.search(series_name))


def is_intrinsic(series_name: str, kind: MetricKind) -> bool:
    """Resource signals a service shows by itself (cpu, memory, connections), not by waiting."""
    return kind is MetricKind.SATURATION and bool(_INTRINSIC.search(series_name))


@dataclass(frozen=True, slots=True)
class SeriesAnomaly:
    """How unusual one series is around the incident."""

    series: Series
    score: float  # robust z of the shift in the bad direction (0 when normal)
    peak: float  # highest z among the candidate splits
    onset: float | None  # when the shift began (Unix seconds)
    level: float  # typical value before the onset
    current: float  # typical value after the onset
    direction: int  # +1 worse when up, -1 worse when down
    #: A client-side series counted as the dependency it watches: the caller that measured it.
    seen_from: str | None = None
    #: Memory-like series: the highest value reached from the onset to the window's end, and
    #: when it first came near it. A leak hurts when it runs out, not when it begins.
    reached: float | None = None
    reached_at: float | None = None

    @property
    def resolution(self) -> float:
        """Seconds between points: how precisely the onset can be placed."""
        times = self.series.times
        return float(_median(np.diff(times))) if times.size > 1 else 0.0

    @property
    def anomalous(self) -> bool:
        """Whether the score reaches the threshold."""
        return self.score >= THRESHOLD

    @property
    def ratio(self) -> float:
        """Current over baseline level, for reasons such as ``errors x14``."""
        if abs(self.level) < 1e-9:
            return float("inf") if abs(self.current) > 1e-9 else 1.0
        return self.current / self.level

    @property
    def worst(self) -> float:
        """How bad it got: the value after the onset, or for a leak the highest it reached."""
        return max(self.current, self.reached) if self.reached is not None else self.current

    @property
    def hurt_at(self) -> float | None:
        """When its trouble could reach callers: the onset, or for a leak when it ran out."""
        return self.reached_at if self.reached_at is not None else self.onset


class Unscorable(ValueError):
    """A series that cannot be scored even after cleaning; the others go on."""


def clean(series: Series) -> Series:
    """Sorted times, repeated timestamps merged (mean), non-finite times dropped.

    Connectors and bundles hand over what vendors return: points out of order, a timestamp twice
    (Datadog rollups at a bucket edge), a ``NaN`` time. Values that are not finite become gaps.
    """
    times = np.asarray(series.times, dtype=np.float64)
    values = np.asarray(series.values, dtype=np.float64)
    if times.shape != values.shape:
        raise Unscorable(f"{series.service} {series.name}: times and values differ in length")
    keep = np.isfinite(times)
    ordered = bool(keep.all()) and (times.size < 2 or bool(np.all(np.diff(times) > 0)))
    finite_values = bool(np.all(np.isfinite(values) | np.isnan(values)))
    if ordered and finite_values:
        return series
    times, values = times[keep], values[keep]
    values = np.where(np.isfinite(values), values, np.nan)
    order = np.argsort(times, kind="stable")
    times, values = times[order], values[order]
    unique = np.unique(times)
    if unique.size != times.size:
        groups = np.searchsorted(unique, times)
        valid = ~np.isnan(values)
        sums = np.bincount(groups, weights=np.where(valid, values, 0.0), minlength=unique.size)
        counts = np.bincount(groups, weights=valid.astype(float), minlength=unique.size)
        with np.errstate(invalid="ignore", divide="ignore"):
            values = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        times = unique
    return replace(series, times=times, values=values)


def coarsen(group: list[Series], step: float = FINEST_STEP) -> list[Series]:
    """Series of one grid finer than ``step`` as the means of ``step``-long buckets.

    A 1 s export has sixty times the points of a 1-minute series and no more to say about when
    things changed; bucketing keeps the cost of scoring it in line, and the buckets' means
    behave like any other rollup. The members keep sharing one grid.
    """
    times = group[0].times
    if times.size < 2 or float(_median(np.diff(times))) >= step:
        return group
    bucket = np.floor(times / step)
    starts = np.concatenate([[0], np.flatnonzero(np.diff(bucket)) + 1])
    grid = (bucket[starts] + 1) * step
    values = np.vstack([s.values for s in group])
    valid = ~np.isnan(values)
    sums = np.add.reduceat(np.where(valid, values, 0.0), starts, axis=1)
    counts = np.add.reduceat(valid.astype(float), starts, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return [replace(s, times=grid, values=means[i]) for i, s in enumerate(group)]


def _prepared(series: Iterable[Series]) -> list[list[Series]]:
    """Series cleaned, coarsened and grouped by time grid; the checks run once per grid."""
    out: list[list[Series]] = []
    for group in _by_grid(series):
        times = group[0].times
        tidy = bool(np.all(np.isfinite(times))) and (
            times.size < 2 or bool(np.all(np.diff(times) > 0))
        )
        if not tidy:
            fixed = []
            for s in group:
                try:
                    fixed.append(clean(s))
                except Unscorable:
                    continue
            out.extend(coarsen(g) for g in _by_grid(fixed))
            continue
        group = [
            s
            if not np.isinf(s.values).any()
            else replace(s, values=np.where(np.isinf(s.values), np.nan, s.values))
            for s in group
        ]
        out.append(coarsen(group))
    return out


def _direction(kind: MetricKind) -> int:
    if kind in _UP:
        return 1
    if kind is MetricKind.AVAILABILITY:
        return -1
    return 0  # either way


def _quantile(a: np.ndarray, q: float) -> np.ndarray:
    """NaN-ignoring quantile along the last axis, vectorised (numpy's own loops per row)."""
    if a.shape[-1] == 0:
        return np.full(a.shape[:-1], np.nan)
    ordered = np.sort(a, axis=-1)  # NaN sorts last
    valid = np.count_nonzero(~np.isnan(a), axis=-1)
    pos = q * np.maximum(valid - 1, 0)
    lo = np.floor(pos).astype(np.intp)[..., None]
    hi = np.ceil(pos).astype(np.intp)[..., None]
    low = np.take_along_axis(ordered, lo, axis=-1)[..., 0]
    high = np.take_along_axis(ordered, hi, axis=-1)[..., 0]
    out = low + (high - low) * (pos - lo[..., 0])
    return np.where(valid > 0, out, np.nan)


def _median(a: np.ndarray) -> np.ndarray:
    return _quantile(a, 0.5)


def _windows(
    padded: np.ndarray, pad: int, positions: np.ndarray, offsets: np.ndarray
) -> np.ndarray:
    """``values[:, p + o]`` for every position and offset, from ``values`` padded with ``pad``
    NaN columns on each side (so a window reaching past either end reads gaps)."""
    return padded[:, positions[:, None] + offsets[None, :] + pad]


def _carry_forward(values: np.ndarray) -> np.ndarray:
    """Each gap filled with the last value before it (leading gaps stay gaps), row by row."""
    cols = np.arange(values.shape[1])
    last = np.maximum.accumulate(np.where(np.isnan(values), 0, cols[None, :]), axis=1)
    return np.take_along_axis(values, last, axis=1)


@dataclass(frozen=True, slots=True)
class _Block:
    """The scores of the rows of one grid."""

    score: np.ndarray
    peak: np.ndarray
    onset: np.ndarray  # NaN when none
    level: np.ndarray
    current: np.ndarray


def _score_block(
    times: np.ndarray,
    values: np.ndarray,
    kinds: list[MetricKind],
    window: tuple[float, float],
    *,
    growing: bool = False,
) -> _Block:
    """Score rows of ``values`` (one series each) sampled at ``times``; splits within ``window``.

    ``growing`` rows (memory) may have begun before the window: a leak grows for an hour
    before it hurts, so an older change there is not set aside.
    """
    rows, n = values.shape
    nan = np.full(rows, np.nan)
    zero = np.zeros(rows)
    if n < 3:
        return _Block(zero, zero, nan, nan, nan)
    step = float(_median(np.diff(times)))
    before = int(np.clip(round(BEFORE_WINDOW / step), 2, 60))
    after = int(np.clip(round(AFTER_WINDOW / step), 1, 60))
    # A split needs two points before it, and three after it (a burst at the newest points is
    # not yet a fault); a point alone after it only for coarse rollups, where one point already
    # sums up minutes.
    lo = max(int(np.searchsorted(times, window[0])), 2)
    last = n - 1 if step >= COARSE else n - min(3, max(after, 2))
    hi = min(int(np.searchsorted(times, window[1], side="right")) - 1, last)
    if hi < lo:
        return _Block(zero, zero, nan, nan, nan)
    candidates = np.arange(lo, hi + 1)
    if growing and candidates.size > GROWING_CANDIDATES:
        # A leak grows for an hour: every few points is close enough to date it.
        stride = -(-candidates.size // GROWING_CANDIDATES)
        candidates = candidates[::-1][::stride][::-1]
    # History positions whose after-window ends before the first candidate.
    history = np.arange(before, max(lo - after + 1, before))
    if history.size > HISTORY_POSITIONS:
        history = history[np.linspace(0, history.size - 1, HISTORY_POSITIONS).astype(np.intp)]
    # Just before the candidates: a change already under way there is older than this incident.
    pre = np.arange(max(lo - before, 2), lo)
    history = history[history < pre[0]] if pre.size else history
    positions = np.concatenate([history, pre, candidates])
    back = np.arange(-before, 0)
    ahead = np.arange(0, after)
    pad = max(before, after)
    # Medians of windows in single precision: half the memory traffic, and 7 significant
    # digits are plenty to say how far a series moved. Values beyond its range keep double.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows
        largest = float(np.nanmax(np.abs(values))) if values.size else 0.0
    single = not np.isfinite(largest) or largest < 1e37
    dtype = np.float32 if single else np.float64
    filler = np.full((rows, pad), np.nan, dtype=dtype)
    padded = np.concatenate([filler, values.astype(dtype), filler], axis=1)
    level_at = _median(_windows(padded, pad, positions, back)).astype(np.float64)
    after_at = _median(_windows(padded, pad, positions, ahead)).astype(np.float64)
    # Where a whole before-window is a gap (a collector that fell over when the trouble began),
    # the level is that of the last points collected before it.
    unknown = np.isnan(level_at)
    gappy = np.flatnonzero(unknown.any(axis=1) & ~np.isnan(values).all(axis=1))
    if gappy.size:
        filled = _carry_forward(padded[gappy])
        known = _median(_windows(filled, pad, positions, back)).astype(np.float64)
        level_at[gappy] = np.where(unknown[gappy], known, level_at[gappy])
    shift = after_at - level_at

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        hist_shift = shift[:, : history.size]
        enough = np.count_nonzero(~np.isnan(hist_shift), axis=1) >= 8
        centre = _median(hist_shift)
        deviation = np.abs(hist_shift - centre[:, None])
        # The MAD, or the 90th percentile for heavy tails: a shift as large as one seen at one
        # normal position in ten is no news, however still the series is the rest of the time.
        calibrated = np.fmax(1.4826 * _median(deviation), _quantile(deviation, 0.9) / 1.645)
        # Too little history: the noise of single points, scaled to a difference of medians.
        diffs = np.abs(np.diff(values[:, :lo], axis=1))
        point_sd = 1.4826 * _median(diffs) / np.sqrt(2)
        # A series that began after the others (its first points are gaps) has nothing before
        # the candidates: its noise is read from all of it (a median of differences hardly
        # sees a step), and so is its level.
        late = np.isnan(point_sd)
        if late.any():
            all_diffs = np.abs(np.diff(values[late], axis=1))
            point_sd[late] = 1.4826 * _median(all_diffs) / np.sqrt(2)
        from_points = point_sd * 1.25 * np.sqrt(1.0 / before + 1.0 / after)
    spread = np.where(enough, calibrated, from_points)
    skip = history.size + pre.size
    level = level_at[:, skip:]
    ref_level = _median(values[:, max(lo - before, 0) : lo])
    ref_level = np.nan_to_num(np.where(np.isnan(ref_level), _median(values), ref_level))
    relative = np.array([k in _RELATIVE_FLOOR for k in kinds])
    # Relative floors: a few percent of the level, more when the history is too short to say
    # how much the series moves (a handful of points say little about their own noise).
    bounded = np.array([k is MetricKind.AVAILABILITY for k in kinds])
    share = np.where(
        enough,
        np.where(relative, 0.02, 0.002),
        np.where(bounded, 0.005, SHORT_HISTORY_SHARE),
    )
    floor = share * np.abs(ref_level)
    spread = np.fmax(np.nan_to_num(spread), floor)
    is_err = np.array([k is MetricKind.ERRORS for k in kinds])
    if is_err.any():  # error rates: at least the Poisson noise of the level, over the window
        poisson = np.sqrt(np.fmax(np.abs(ref_level), 1.0 / step) / (step * after))
        spread = np.where(is_err, np.fmax(spread, poisson), spread)
    # Whole numbers before the candidates are counts per interval: at least their Poisson noise,
    # so a count going from 0 to 1 is not news.
    prior = values[:, :lo]
    counted = np.all(np.isnan(prior) | (prior == np.round(prior)), axis=1) & (
        np.count_nonzero(~np.isnan(prior), axis=1) >= 2
    )
    counts = counted & np.array([k is not MetricKind.AVAILABILITY for k in kinds])
    spread = np.where(
        counts, np.fmax(spread, np.sqrt(np.fmax(np.abs(ref_level), 1.0) / after)), spread
    )
    spread = np.fmax(spread, 1e-9)

    dirs = np.array([_direction(k) for k in kinds], dtype=float)
    moved = shift[:, skip:]

    def oriented(d: np.ndarray) -> np.ndarray:
        z = d / spread[:, None]
        return np.where(dirs[:, None] == 0, np.abs(z), z * dirs[:, None])

    z = oriented(moved)
    earlier = np.nan_to_num(oriented(shift[:, history.size : skip]), nan=-np.inf)
    partial = np.full(rows, -np.inf)
    if step >= COARSE and pre.size:
        # A coarse point stamped with its bucket's start holds the first minutes of a change
        # that shows in full one point later: when the change shows in full at the window's
        # first point, the point just before it is the change's own beginning unless it
        # already shows half of it (as the onset is dated).
        partial, earlier = earlier[:, -1], earlier[:, :-1]
    earlier_best = earlier.max(axis=1) if earlier.shape[1] else np.full(rows, -np.inf)
    # A change must also matter in size, not only stand out from a very smooth series.
    minimum = np.array([_MIN_EFFECT.get(k, 0.05) for k in kinds])[:, None] * np.abs(level)
    z = np.where(np.abs(moved) >= minimum, z, np.minimum(z, WEAK_THRESHOLD - 0.01))
    z = np.nan_to_num(z, nan=-np.inf)
    full = z.max(axis=1)
    z = np.clip(z, -Z_CAP, Z_CAP)
    best = z.argmax(axis=1)
    score = np.maximum(z[np.arange(rows), best], 0.0)
    # A shift as large just before the window began earlier: not this incident's change.
    if not growing:
        started = (best == 0) & (partial < 0.5 * full)  # the full change at the next point
        older = (earlier_best >= 0.8 * score) | ((partial >= 0.8 * score) & ~started)
        score = np.where(older, np.minimum(score, WEAK_THRESHOLD - 0.01), score)
    # The onset. The largest shift is reached late by a growing fault, and a split shortly before
    # a step already sees it in its after-window. So: the first split over the bar, back to the
    # start of its run over the lower bar, then on to the first point that itself shows at
    # least half of the shift.
    r = np.arange(rows)
    cols = np.arange(candidates.size)[None, :]
    upto = cols <= best[:, None]
    crossing = (z >= np.minimum(THRESHOLD, score)[:, None]) & upto
    first = np.where(crossing.any(axis=1), crossing.argmax(axis=1), best)
    calm = np.maximum.accumulate(np.where(z >= WEAK_THRESHOLD, -1, cols), axis=1)
    run = np.where(first > 0, np.minimum(calm[r, np.maximum(first - 1, 0)] + 1, first), first)
    target, base = moved[r, best], level[r, best]
    seg = values[:, candidates] - base[:, None]
    showing = (np.abs(seg) >= 0.5 * np.abs(target)[:, None]) & (
        np.sign(seg) == np.sign(target)[:, None]
    )
    # The best split may precede a step by half an after-window (its after-median already
    # sees the step), so the first showing point is sought up to an after-window beyond it.
    showing &= (cols >= run[:, None]) & (cols < (best + after)[:, None])
    start = np.where(showing.any(axis=1), showing.argmax(axis=1), best)
    onset = np.where(score >= WEAK_THRESHOLD, times[candidates][start], np.nan)
    current = after_at[:, skip:][np.arange(rows), best]
    return _Block(score, score, onset, base, current)


def score_current(series: Iterable[Series], *, detected_at: float) -> list[SeriesAnomaly]:
    """Score series for what is wrong at detection (the alert's, the symptoms').

    Like :func:`score_series`, with one more question: had the shift found ended before the
    alert fired? Back to back, the largest shift in the window can be an earlier episode, the
    series back within half of it for :data:`RECOVERED` or more before detection. The points
    up to that episode's end are then another regime: the series is scored again on what
    follows, and a later shift over the bar is the one taken. Without one, the first answer
    stands.
    """
    out = []
    for a in score_series(series, detected_at=detected_at):
        end = _episode_end(a, detected_at)
        if end is not None:
            keep = a.series.times > end
            later = replace(a.series, times=a.series.times[keep], values=a.series.values[keep])
            again = score_series([later], detected_at=detected_at)
            if again and again[0].anomalous:
                a = replace(again[0], series=a.series)
        out.append(a)
    return out


def _episode_end(a: SeriesAnomaly, detected_at: float) -> float | None:
    """When the shift ``a`` found had ended before ``detected_at``, if it had: the last point
    still showing half of it before the series stayed back for :data:`RECOVERED` (and at least
    two points). None when it lasted (or cannot be told)."""
    # Faint or set aside as older than the window (scored just under the lower bar) count too:
    # an episode that began before the window and ended before detection is one of those.
    if a.score < WEAK_THRESHOLD - 0.01 or is_leaky(a.series.name, a.series.kind):
        return None
    began = a.onset if a.onset is not None else detected_at - LOOKBACK
    worse = a.direction
    shift = (a.current - a.level) * worse
    times, values = a.series.times, a.series.values
    inside = (times >= began) & (times < detected_at) & np.isfinite(values)
    if shift <= 0 or began >= detected_at or np.count_nonzero(inside) < 3:
        return None
    t, bad = times[inside], (values[inside] - a.level) * worse >= 0.5 * shift
    for i in np.flatnonzero(bad[:-1] & ~bad[1:]):  # each point after which it came back
        back = np.flatnonzero(bad[i + 1 :])
        stop = i + 1 + int(back[0]) if back.size else t.size
        if stop - (i + 1) >= 2 and t[stop - 1] - t[i + 1] >= RECOVERED - 1e-9:
            return float(t[i])
    return None


def comovement(lead: SeriesAnomaly, other: SeriesAnomaly, *, around: float) -> float:
    """How closely ``other`` moved with the leading series around its onset: the correlation of
    the two, each turned so that worse is up, from :data:`COMOVE_BEFORE` before ``around`` to
    :data:`COMOVE_AFTER` after it (``other`` read at the leading series' times). 0 when there
    is too little to say. The span before is shorter: an earlier episode there (the tail of
    another incident, a regime recorded elsewhere) is not this one.
    """
    times = lead.series.times
    inside = (times >= around - COMOVE_BEFORE) & (times <= around + COMOVE_AFTER)
    if np.count_nonzero(inside) < 4 or other.series.times.size < 2:
        return 0.0
    t = times[inside]
    a = lead.series.values[inside] * lead.direction
    mine = ~np.isnan(other.series.values)
    if np.count_nonzero(mine) < 2:
        return 0.0
    b = np.interp(t, other.series.times[mine], other.series.values[mine]) * other.direction
    ok = ~np.isnan(a)
    if np.count_nonzero(ok) < 4:
        return 0.0
    a, b = a[ok], b[ok]
    # Correlation does not care about scale: bring both to at most 1 first, so that values
    # near the float range cannot overflow on the way.
    a = a / max(float(np.max(np.abs(a))), np.finfo(np.float64).tiny)
    b = b / max(float(np.max(np.abs(b))), np.finfo(np.float64).tiny)
    sa, sb = float(np.std(a)), float(np.std(b))
    if sa == 0.0 or sb == 0.0:
        return 0.0
    return float(np.mean((a - a.mean()) * (b - b.mean())) / (sa * sb))


def _by_grid(series: Iterable[Series]) -> list[list[Series]]:
    """Series grouped by identical time grids (same array, or equal content)."""
    groups: dict[tuple[int, float, float], list[list[Series]]] = defaultdict(list)
    for s in series:
        if not s.times.size:
            continue
        candidates = groups[(s.times.size, float(s.times[0]), float(s.times[-1]))]
        for group in candidates:
            grid = group[0].times
            if grid is s.times or np.array_equal(grid, s.times):
                group.append(s)
                break
        else:
            candidates.append([s])
    return [group for same_ends in groups.values() for group in same_ends]


def score_series(
    series: Iterable[Series], *, detected_at: float, around: float | None = None
) -> list[SeriesAnomaly]:
    """Score every series; those sharing a time grid are scored together.

    ``around`` is the onset of the series that leads the search (the alert's): splits are then
    sought from :data:`LEAD` before it to :data:`LAG` after it. Without it, from
    :data:`LOOKBACK` before detection to :data:`LOOKAHEAD` after.
    """
    if around is None:
        window = (detected_at - LOOKBACK, detected_at + LOOKAHEAD)
    else:
        window = (around - LEAD, around + LAG)
    groups = [
        (group, growing)
        for members in _prepared(series)
        for growing in (False, True)
        if (group := [m for m in members if is_leaky(m.name, m.kind) == growing])
    ]
    # Rows are scored independently, so a grid's rows go through in slices of ROWS_AT_ONCE:
    # the windows gathered for their medians then stay in cache and fresh memory is not faulted
    # in for each one (twice as fast on thousands of services, and less peak memory), and the
    # slices run side by side.
    slices = [
        (group[i : i + ROWS_AT_ONCE], growing)
        for group, growing in groups
        for i in range(0, len(group), ROWS_AT_ONCE)
    ]
    scored = map_in_order(lambda piece: _score_slice(*piece, window, around), slices)
    return [a for part in scored for a in part]


def _score_slice(
    members: list[Series],
    growing: bool,
    window: tuple[float, float],
    around: float | None,
) -> list[SeriesAnomaly]:
    """Score a slice of series on one grid (see :func:`score_series`)."""
    results: list[SeriesAnomaly] = []
    times = members[0].times
    matrix = (
        np.vstack([m.values for m in members]) if len(members) > 1 else members[0].values[None, :]
    )
    kinds = [m.kind for m in members]
    # Around a leading onset, each series may lag it by up to one of its own steps more.
    step = float(_median(np.diff(times))) if times.size > 1 else 0.0
    own = window
    if around is not None:
        # A coarse point already spans the trouble's travel and the alert's own delay: from
        # a rollup of COARSE or more, a cause may lead by one point, no more. Memory may
        # have been leaking for long before.
        lead = LEAK_LEAD if growing else LEAD if step < COARSE else step
        own = (around - lead, window[1] + step)
    block = _score_block(times, matrix, kinds, own, growing=growing)
    reached, reached_at = (
        _reached(times, matrix, block.onset, block.level, own[1]) if growing else (None, None)
    )
    for i, m in enumerate(members):
        onset = float(block.onset[i])
        level, current = float(block.level[i]), float(block.current[i])
        top = float(reached[i]) if reached is not None else math.nan
        top_at = float(reached_at[i]) if reached_at is not None else math.nan
        results.append(
            SeriesAnomaly(
                series=m,
                score=float(block.score[i]),
                peak=float(block.peak[i]),
                onset=onset if np.isfinite(onset) else None,
                level=level,
                current=current,
                direction=_direction(m.kind) or (1 if current >= level else -1),
                reached=top if math.isfinite(top) else None,
                reached_at=top_at if math.isfinite(top_at) else None,
            )
        )
    return results


#: A leak has run out once it comes this close to the highest value it reached (share of rise).
NEAR_TOP = 0.9


def _reached(
    times: np.ndarray, values: np.ndarray, onset: np.ndarray, level: np.ndarray, end: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the highest value from its onset to ``end`` held for three points in a row (a
    spike does not count), and when it first came within :data:`NEAR_TOP` of that rise (NaN
    without an onset)."""
    with np.errstate(invalid="ignore"):
        inside = (times[None, :] >= onset[:, None]) & (times[None, :] <= end)
    held = np.where(inside, values, -np.inf)
    held = np.nan_to_num(held, nan=-np.inf)
    if held.shape[1] >= 3:
        held = np.minimum(np.minimum(held[:, :-2], held[:, 1:-1]), held[:, 2:])
    top = held.max(axis=1) if held.shape[1] else np.full(values.shape[0], -np.inf)
    with np.errstate(invalid="ignore", over="ignore"):  # values near the float range's ends
        bar = (1.0 - NEAR_TOP) * level + NEAR_TOP * top
        near = inside & (values >= bar[:, None])
    found = near.any(axis=1) & np.isfinite(top)
    at = np.where(found, times[near.argmax(axis=1)] if times.size else np.nan, np.nan)
    return np.where(found, top, np.nan), at
