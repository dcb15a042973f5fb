"""Per-series anomaly scores around an incident, with numpy and no I/O.

For each series: a robust baseline from before the incident (median level plus a robust trend,
spread from the median absolute deviation, floored so that constant and sparse count series do
not explode), a direction by metric kind, and a *sustained* score: the typical robust z after the
series' own onset, which the code finds itself, because the incident's start time is only a
detection time and can be minutes off either way. Short spikes do not count; gaps do not break
anything; series of different resolutions are scored on their own grids.

Series that share one time grid (most do) are scored together as one matrix, so thousands of
services cost a few vectorised passes rather than thousands of Python loops.
"""

from __future__ import annotations

import re
import warnings
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from investigators.bundle import MetricKind, Series

#: How far before the detection time the search for an onset starts, and how far after it ends.
LOOKBACK = 20 * 60.0
LOOKAHEAD = 30 * 60.0
#: How much history, before the search window, the baseline uses.
BASELINE = 90 * 60.0
#: A series is anomalous when its sustained robust z reaches this.
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
    score: float  # sustained robust z in the bad direction (0 when normal)
    peak: float  # highest sustained z
    onset: float | None  # when the sustained anomaly began (Unix seconds)
    level: float  # baseline level
    current: float  # typical value since the onset (or in the window)
    direction: int  # +1 worse when up, -1 worse when down

    @property
    def resolution(self) -> float:
        """Seconds between points: how precisely the onset can be placed."""
        times = self.series.times
        return float(np.median(np.diff(times))) if times.size > 1 else 0.0

    @property
    def anomalous(self) -> bool:
        """Whether the sustained score reaches the threshold."""
        return self.score >= THRESHOLD

    @property
    def ratio(self) -> float:
        """Current over baseline level, for reasons such as ``errors x14``."""
        if abs(self.level) < 1e-9:
            return float("inf") if abs(self.current) > 1e-9 else 1.0
        return self.current / self.level


def _direction(kind: MetricKind) -> int:
    if kind in _UP:
        return 1
    if kind is MetricKind.AVAILABILITY:
        return -1
    return 0  # either way


def _quantile(a: np.ndarray, q: float) -> np.ndarray:
    """NaN-ignoring quantile along the last axis, vectorised (numpy's own loops per row)."""
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


def _score_block(
    times: np.ndarray,
    values: np.ndarray,
    kinds: list[MetricKind],
    detected_at: float,
    leaky: np.ndarray,
) -> list[tuple[float, float, float | None, float, float]]:
    """Score rows of ``values`` (one series each) sampled at ``times``."""
    rows = values.shape[0]
    empty: list[tuple[float, float, float | None, float, float]] = [
        (0.0, 0.0, None, float("nan"), float("nan"))
    ] * rows
    if times.size < 4:
        return empty
    step = float(np.median(np.diff(times)))
    w0, w1 = detected_at - LOOKBACK, detected_at + LOOKAHEAD
    base_mask = (times < w0) & (times >= w0 - BASELINE)
    if np.count_nonzero(base_mask) < 6:
        base_mask = times < w0
    win_mask = (times >= w0) & (times <= w1)
    if np.count_nonzero(base_mask) < 3 or np.count_nonzero(win_mask) < 1:
        return empty
    base, bt = values[:, base_mask], times[base_mask]
    win, wt = values[:, win_mask], times[win_mask]

    # Level and a robust trend: medians of the two halves of the baseline.
    half = bt.size // 2
    older, second = _median(base[:, :half]), _median(base[:, half:])
    gap = max(float(np.median(bt[half:]) - np.median(bt[:half])), step)
    slope = np.nan_to_num((second - older) / gap)
    ref = float(np.median(bt[half:]))
    level_at_ref = second
    resid = base - (level_at_ref[:, None] + slope[:, None] * (bt - ref))
    mad = 1.4826 * _median(np.abs(resid - _median(resid)[:, None]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean_ad = np.nanmean(np.abs(resid), axis=1)
    diff_sd = 1.4826 * _median(np.abs(np.diff(base, axis=1))) / np.sqrt(2)
    level = np.nan_to_num(level_at_ref)
    spread = np.fmax(np.fmax(mad, 0.8 * mean_ad), diff_sd)
    # A floor relative to the level, for series too smooth to have a spread of their own; not
    # for bounded ratios (availability, saturation), where a few points near the bound matter.
    relative = np.array([k in _RELATIVE_FLOOR for k in kinds])
    spread = np.fmax(np.nan_to_num(spread), np.where(relative, 0.02, 0.002) * np.abs(level))
    is_err = np.array([k is MetricKind.ERRORS for k in kinds])
    if is_err.any():  # counts: at least the Poisson noise of the baseline rate
        poisson = np.sqrt(np.fmax(level, 1.0 / step) / step)
        spread = np.where(is_err, np.fmax(spread, poisson), spread)
    spread = np.fmax(spread, 1e-9)

    # Expected value in the window: the trend, damped so it cannot run away over 50 minutes.
    horizon = np.clip(wt - ref, 0, 30 * 60)
    expected = level[:, None] + 0.5 * slope[:, None] * horizon
    # Memory should stay flat: growth through the baseline is a leak, not a trend to follow,
    # so those series are judged against the older half of their baseline.
    expected = np.where(leaky[:, None], np.nan_to_num(older)[:, None], expected)
    z = (win - expected) / spread[:, None]
    dirs = np.array([_direction(k) for k in kinds], dtype=float)
    z = np.where(dirs[:, None] == 0, np.abs(z), z * np.where(dirs == 0, 1, dirs)[:, None])
    z = np.clip(z, -Z_CAP, Z_CAP)

    # Sustained: the median of each point and the few after it (about four minutes).
    width = int(np.clip(round(240 / step), 2, 24))
    width = min(width, z.shape[1])
    if z.shape[1] >= width:
        pad = np.concatenate([z, np.full((rows, width - 1), np.nan)], axis=1)
        windows = np.lib.stride_tricks.sliding_window_view(pad, width, axis=1)
        sustained = _median(windows)
        # Near the end of the data a window holds fewer points: too few to call it sustained.
        enough = np.count_nonzero(~np.isnan(windows), axis=2) >= min(3, width)
        sustained = np.where(enough, sustained, np.nan)
    else:
        sustained = z
    # Onset: the first point whose following few minutes hold above the bar; below it, the
    # first weak rise is kept for dependencies (see investigators.rca).
    filled = np.nan_to_num(sustained, nan=-np.inf)
    peak = np.maximum(filled.max(axis=1), 0.0)
    strong, weak = filled >= THRESHOLD, filled >= WEAK_THRESHOLD
    has_strong, has_weak = strong.any(axis=1), weak.any(axis=1)
    first = np.where(has_strong, strong.argmax(axis=1), weak.argmax(axis=1))
    # The sustained window looks ahead, so its first hit can precede the change by half a
    # window; the onset is the first point in that window that is itself over the bar.
    bar = np.where(has_strong, THRESHOLD, WEAK_THRESHOLD)[:, None]
    cols = np.arange(z.shape[1])[None, :]
    inside = (cols >= first[:, None]) & (cols < first[:, None] + width)
    over = inside & (np.nan_to_num(z, nan=-np.inf) >= bar)
    first = np.where(over.any(axis=1), over.argmax(axis=1), first)
    since = np.arange(z.shape[1])[None, :] >= np.where(has_strong, first, 0)[:, None]
    after = np.where(since, z, np.nan)
    # The score is what most of the time since the onset looks like (a low quantile), so a
    # burst of a few points, even one at the very end of the data, does not pass for a fault.
    typical = np.nan_to_num(_quantile(after, 0.4))
    current = _median(np.where(since, win, np.nan))
    score = np.where(has_strong, np.maximum(typical, 0.0), peak)
    # A change must also matter in size, not only stand out from a very smooth series: 5% of
    # the level (0.2% for availability, where 99.9% -> 99.7% is news). Counts are exempt:
    # their Poisson floor already sets the bar.
    effect = np.abs(np.nan_to_num(current) - np.where(leaky, np.nan_to_num(older), level))
    minimum = np.array([_MIN_EFFECT.get(k, 0.05) for k in kinds]) * np.abs(level)
    score = np.where(effect >= minimum, score, np.minimum(score, WEAK_THRESHOLD - 0.01))
    out: list[tuple[float, float, float | None, float, float]] = []
    for i in range(rows):
        onset = float(wt[first[i]]) if has_strong[i] or has_weak[i] else None
        out.append((float(score[i]), float(peak[i]), onset, float(level[i]), float(current[i])))
    return out


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


def score_series(series: Iterable[Series], *, detected_at: float) -> list[SeriesAnomaly]:
    """Score every series; those sharing a time grid are scored together."""
    results: list[SeriesAnomaly] = []
    for members in _by_grid(series):
        times = members[0].times
        matrix = (
            np.vstack([m.values for m in members])
            if len(members) > 1
            else members[0].values[None, :]
        )
        leaky = np.array([is_leaky(m.name, m.kind) for m in members])
        scored = _score_block(times, matrix, [m.kind for m in members], detected_at, leaky)
        for m, (score, peak, onset, level, current) in zip(members, scored, strict=True):
            results.append(
                SeriesAnomaly(
                    series=m,
                    score=score,
                    peak=peak,
                    onset=onset,
                    level=level,
                    current=current,
                    direction=_direction(m.kind) or (1 if current >= level else -1),
                )
            )
    return results
