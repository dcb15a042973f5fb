"""The summary's chart as a PNG: the root cause's leading series and the alerting series.

One panel per series, sharing a UTC time axis: the points, the usual range before the onset as
a band, the onset marked, and the suspect change as a vertical line through every panel. Drawn
with matplotlib's object API on the Agg canvas (no pyplot: no global state, safe on the
courier's threads). The figure is a light card with strong colours and a dark frame: it reads
the same on Slack's light and dark themes, where a transparent image would lose its text.
"""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from investigators.pipeline.chartdata import ChartData, ChartSeries

#: Pixels wide; Slack shows images up to about this wide in a thread.
WIDTH = 960
#: Colours: strong on the light card, and told apart without colour (line styles differ too).
CARD = "#f4f5f7"
FRAME = "#1d1c1d"
INK = "#1d1c1d"
MUTED = "#5e6066"
LINES = {"cause": "#c0223b", "alert": "#1260b8"}
BAND = "#8c9099"
ONSET = "#e07b00"
CHANGE = "#6a2c91"
DPI = 100
DAY = 86400.0
GRID = "#d9dbe0"
_LABEL_BOX = {
    "boxstyle": "square,pad=0.15",
    "facecolor": "white",
    "edgecolor": "none",
    "alpha": 0.85,
}


def utc(at: float) -> str:
    """``HH:MM UTC`` of a Unix time."""
    return datetime.fromtimestamp(at, UTC).strftime("%H:%M UTC")


def title_of(data: ChartData) -> str:
    """The file's title in Slack."""
    return f"{data.root_cause}: what changed around {utc(_first_onset(data))}"


def alt_text(data: ChartData) -> str:
    """What a screen reader says of the chart (Slack's ``alt_txt``, at most 1000 characters)."""
    parts = []
    for s in data.series:
        what = "root cause" if s.role == "cause" else "alerting series"
        onset = f", changed at {utc(s.onset)}" if s.onset is not None else ""
        parts.append(
            f"{what} {s.service} {s.name}: {_number(s.level)} before, "
            f"{_number(s.current)} after{onset}"
        )
    if data.change is not None:
        parts.append(f"{data.change.kind} {data.change.id} at {utc(data.change.at)}".strip())
    return ("Chart. " + "; ".join(parts) + ".")[:1000]


def render_chart(data: ChartData) -> bytes:
    """The chart as PNG bytes."""
    rows = len(data.series)
    height = 120 + 210 * rows
    fig = Figure(figsize=(WIDTH / DPI, height / DPI), dpi=DPI, facecolor=CARD)
    FigureCanvasAgg(fig)
    fig.patch.set_edgecolor(FRAME)
    fig.patch.set_linewidth(3)
    # Not sharex: shared axes share their ticks too, and only the lowest panel has any.
    axes = fig.subplots(rows, 1, squeeze=False)[:, 0]
    fig.subplots_adjust(
        left=0.085, right=0.975, top=1 - 88 / height, bottom=58 / height, hspace=0.32
    )
    fig.text(
        0.085,
        1 - 30 / height,
        f"Likely root cause: {data.root_cause} ({data.confidence} confidence)",
        fontsize=14,
        fontweight="bold",
        color=INK,
    )
    fig.text(
        0.085,
        1 - 52 / height,
        _subtitle(data),
        fontsize=10,
        color=MUTED,
    )
    for ax, series in zip(axes, data.series, strict=True):
        _panel(ax, series, data)
    # Tick places and labels worked out here: matplotlib's date locators cost more than the
    # rest of the figure together.
    lo, hi = _span(data)
    ticks = _ticks(lo, hi)
    for ax in axes:
        ax.set_xlim(lo, hi)
    axes[-1].set_xticks(ticks, labels=[_hhmm(t) for t in ticks])
    for ax in axes[:-1]:
        # Ticks are the costliest objects of a figure: the panels above get their grid lines
        # as one collection instead, and no ticks of their own.
        ax.set_xticks([])
        ax.vlines(ticks, 0, 1, transform=ax.get_xaxis_transform(), color=GRID, linewidth=0.6)
    axes[-1].set_xlabel("time (UTC)", color=MUTED, fontsize=10)
    out = io.BytesIO()
    # A little less compression: a few KiB more, tens of milliseconds less.
    fig.savefig(
        out, format="png", facecolor=CARD, edgecolor=FRAME, pil_kwargs={"compress_level": 3}
    )
    return out.getvalue()


def _subtitle(data: ChartData) -> str:
    parts = [f"onset {utc(_first_onset(data))}", f"alert {utc(data.detected_at)}"]
    if data.change is not None:
        change = " ".join(p for p in (data.change.kind, data.change.id) if p)
        parts.append(f"{change} at {utc(data.change.at)}")
    parts.append("grey: the usual range before the onset")
    return " · ".join(parts)


#: Tick steps in minutes, the first that gives at most 8 ticks is used.
_STEPS = (1, 2, 5, 10, 15, 20, 30, 60, 120, 180, 360, 720, 1440)


def _ticks(lo: float, hi: float) -> list[float]:
    """Round UTC times between two date numbers, at most 8 of them."""
    span = (hi - lo) * DAY / 60
    step = next((m for m in _STEPS if span / m <= 8), _STEPS[-1]) * 60 / DAY
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 1)]


def _hhmm(number: float) -> str:
    return datetime.fromtimestamp(round(number * DAY), UTC).strftime("%H:%M")


def _span(data: ChartData) -> tuple[float, float]:
    """The time axis' ends (date numbers): every point and the change, and a little margin."""
    times = [t for s in data.series for t in s.times[:1] + s.times[-1:]]
    if data.change is not None:
        times.append(data.change.at)
    lo, hi = (min(times), max(times)) if times else (data.detected_at - 3600, data.detected_at)
    margin = max((hi - lo) * 0.02, 60.0)
    return _date(lo - margin), _date(hi + margin)


def _first_onset(data: ChartData) -> float:
    onsets = [s.onset for s in data.series if s.onset is not None]
    return min(onsets) if onsets else data.detected_at


def _panel(ax: Axes, s: ChartSeries, data: ChartData) -> None:
    ax.set_facecolor("#ffffff")
    for side in ax.spines.values():
        side.set_color(MUTED)
    ax.tick_params(colors=INK, labelsize=9)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=4))
    ax.grid(True, color=GRID, linewidth=0.6)
    times = np.asarray(s.times, dtype=np.float64) / DAY
    values = np.array([np.nan if v is None else v for v in s.values], dtype=np.float64)
    low, high = s.band
    start = s.onset if s.onset is not None else (s.times[0] if s.times else data.detected_at)
    if s.times:
        before = times[0], _date(start)
        ax.fill_between(before, low, high, color=BAND, alpha=0.35, linewidth=0)
        ax.plot(before, (s.level, s.level), color=BAND, linewidth=1.2, linestyle="--")
    line_style = "-" if s.role == "cause" else (0, (6, 1.5))
    ax.plot(
        times,
        values,
        color=LINES.get(s.role, INK),
        linewidth=2.0,
        linestyle=line_style,
    )
    if s.onset is not None:
        ax.axvline(_date(s.onset), color=ONSET, linewidth=2.0, linestyle=":")
        ax.annotate(
            f"onset {utc(s.onset)[:5]}",
            xy=(_date(s.onset), 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(5, -14),
            textcoords="offset points",
            color=ONSET,
            fontsize=9,
            fontweight="bold",
            bbox=_LABEL_BOX,
        )
    if data.change is not None:
        label = " ".join(p for p in (data.change.kind, data.change.id) if p)
        ax.axvline(_date(data.change.at), color=CHANGE, linewidth=2.2)
        if s is data.series[0]:
            ax.annotate(
                label,
                xy=(_date(data.change.at), 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(-5, -14),
                textcoords="offset points",
                ha="right",
                color=CHANGE,
                fontsize=9,
                fontweight="bold",
                bbox=_LABEL_BOX,
            )
    unit = f" ({s.unit})" if s.unit else ""
    # Placed by hand: a title that places itself measures every tick label first (~40 ms).
    role = "root cause" if s.role == "cause" else "alerting"
    ax.text(
        0.0,
        1.03,
        f"{role}: {s.service} · {s.name}{unit}",
        transform=ax.transAxes,
        fontsize=11,
        fontweight="bold",
        color=INK,
    )
    finite = values[np.isfinite(values)]
    if finite.size:
        lo = min(float(finite.min()), low)
        hi = max(float(finite.max()), high)
        pad = (hi - lo) * 0.08 or abs(hi) * 0.1 or 1.0
        ax.set_ylim(lo - pad, hi + pad)


def _date(at: float) -> float:
    """Matplotlib's date number (days since its epoch, 1970-01-01 UTC) of a Unix time."""
    return at / DAY


def _number(x: float) -> str:
    if not math.isfinite(x):
        return "n/a"
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:,.0f}"
