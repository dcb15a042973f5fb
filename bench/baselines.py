"""Two published root-cause baselines over a bundle, to measure the engine against.

Both are pure functions of an :class:`investigators.bundle.Bundle` and return a
:class:`BaselineAnswer`: suspects best first and the team they would tag, or None.

Where normal ends: every point before ``started_at - 600`` is normal and the rest is the
anomalous window; when no point of the bundle lies before that cut, every point before
``started_at`` is normal instead (:func:`normal_cut`). Both papers are given the split from
outside (BARO from its change-point detector, PetShop's from the dataset's files); a fixed cut
stands in for both.

**BARO's RobustScorer** (L. Pham, H. Ha, H. Zhang, "BARO: Robust Root Cause Analysis for
Microservices via Multivariate Bayesian Online Change Point Detection", FSE 2024): each series is
scaled by the median and interquartile range of its normal points, ``(x - median) / IQR``, and
scored by the largest scaled value in the window. As in the paper, the score is signed: a series
that only falls (availability, traffic) scores low. Services are ranked by their best series.
Where the IQR is zero the paper's scaler divides by 1, which mixes units; here it is floored at
``1e-9 + 1% of |median|``. BARO ranks and does not decide; to compare tagging, it tags the top
service's team when that score is at least :data:`BARO_TAG_SCORE` (3 IQRs).

**Anomaly traversal** (M. Hardt et al., "The PetShop Dataset — Finding Causes of Performance
Issues across Microservices", CLeaR 2024, the dataset paper's traversal baseline):

1. Each series is fitted on its normal points (at least :data:`MIN_NORMAL_POINTS`, else it is not
   scored): median and ``1.4826 * MAD`` (``statsmodels.robust.mad``, as the paper's
   ``MedianDeviationScorer``); a point's score is ``|x - median| / (1.4826 * MAD)``, anomalous
   above :data:`TRAVERSAL_THRESHOLD` (5). A MAD of zero is floored at 1e-9, so that any change
   of a constant series is anomalous, as the paper's infinite score makes it.
2. The reference series is the alert's; without an alert, the symptom service's series with
   the highest score in the window; without a symptom service, the bundle's. Its first anomalous
   point in the window is the anomaly time; none, and the answer is empty.
3. The paper compares one metric and statistic across all nodes (the target's, e.g. average
   latency). So a node's score is its largest score at the anomaly time (each series' first point
   at or after it, within one sampling step) over its series with the reference's name; a node
   without one is compared on its series of the reference's kind, or failing that all of them.
   Nodes scoring above the threshold are anomalous.
4. Roots are anomalous nodes with no anomalous dependency that reach the reference node through
   callers that are all anomalous (a walk from the reference node along ``depends_on`` through
   anomalous nodes). Each root's score is, as in the paper, the largest sum of node scores over
   such paths (the reference node and the root included; should the anomalous services form a
   cycle, the sum along a shortest path). The reference node itself counts as a root when none
   of its dependencies is anomalous (the paper's code cannot return its target).
5. Ranking: roots by that score, then the other anomalous nodes by their own score. The top
   root's team is tagged; no root, no tag.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import networkx as nx
import numpy as np

from investigators.bundle import Bundle, Series

WINDOW_BEFORE_DETECTION = 600.0
BARO_TAG_SCORE = 3.0
IQR_FLOOR = 1e-9
IQR_FLOOR_OF_MEDIAN = 0.01
TRAVERSAL_THRESHOLD = 5.0
MAD_TO_SD = 1.4826
MAD_FLOOR = 1e-9
MIN_NORMAL_POINTS = 10


@dataclass(frozen=True, slots=True)
class BaselineAnswer:
    """A baseline's suspects, best first, and the team it would tag (None: nobody)."""

    ranking: tuple[str, ...]
    team: str | None


EMPTY = BaselineAnswer((), None)


def normal_cut(bundle: Bundle) -> float:
    """Points before this time are normal; the rest is the anomalous window."""
    started = bundle.incident.started_at
    cut = started - WINDOW_BEFORE_DETECTION
    if any(m.times.size and m.times[0] < cut for m in bundle.metrics):
        return cut
    return started


def _split(series: Series, cut: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normal values, window values and window times, NaNs dropped."""
    at = int(np.searchsorted(series.times, cut, side="left"))
    normal = series.values[:at]
    window = series.values[at:]
    ok = ~np.isnan(window)
    return normal[~np.isnan(normal)], window[ok], series.times[at:][ok]


def _teams(bundle: Bundle) -> dict[str, str]:
    return {s.name: s.team for s in bundle.services}


def _order(scores: dict[str, float], bundle: Bundle) -> list[str]:
    """Highest score first; ties in the bundle's service order."""
    position = {s.name: i for i, s in enumerate(bundle.services)}
    return sorted(scores, key=lambda n: (-scores[n], position.get(n, len(position))))


# ---------------------------------------------------------------------------------------------
# BARO: RobustScorer


def baro_scores(bundle: Bundle) -> dict[str, float]:
    """Per service, the largest ``(x - median) / IQR`` of any of its series in the window."""
    cut = normal_cut(bundle)
    best: dict[str, float] = {}
    for m in bundle.metrics:
        normal, window, _ = _split(m, cut)
        if normal.size == 0 or window.size == 0:
            continue
        q1, median, q3 = np.percentile(normal, [25.0, 50.0, 75.0])
        iqr = max(float(q3 - q1), IQR_FLOOR + IQR_FLOOR_OF_MEDIAN * abs(float(median)))
        score = float(np.max(window - median)) / iqr
        if m.service not in best or score > best[m.service]:
            best[m.service] = score
    return best


def baro(bundle: Bundle) -> BaselineAnswer:
    """BARO's RobustScorer: services by their most deviant series; tag the top one's team."""
    scores = baro_scores(bundle)
    ranking = _order(scores, bundle)
    if not ranking or scores[ranking[0]] < BARO_TAG_SCORE:
        return BaselineAnswer(tuple(ranking), None)
    return BaselineAnswer(tuple(ranking), _teams(bundle).get(ranking[0]))


# ---------------------------------------------------------------------------------------------
# PetShop's anomaly traversal


@dataclass(frozen=True, slots=True, eq=False)
class _Fitted:
    series: Series
    median: float
    scale: float
    step: float
    window: np.ndarray  # values at/after the cut, NaN dropped
    window_times: np.ndarray

    def scores(self, values: np.ndarray) -> np.ndarray:
        return np.abs(values - self.median) / self.scale


def _fit(series: Series, cut: float) -> _Fitted | None:
    normal, window, window_times = _split(series, cut)
    if normal.size < MIN_NORMAL_POINTS or window.size == 0:
        return None
    median = float(np.median(normal))
    mad = float(np.median(np.abs(normal - median)))
    steps = np.diff(series.times)
    return _Fitted(
        series=series,
        median=median,
        scale=max(MAD_TO_SD * mad, MAD_FLOOR),
        step=float(np.median(steps)) if steps.size else 0.0,
        window=window,
        window_times=window_times,
    )


def _reference(bundle: Bundle, fitted: list[_Fitted]) -> _Fitted | None:
    """The alert's series; else the symptom service's (or bundle's) series that deviates most."""
    alert = bundle.incident.alert
    if alert is not None:
        for f in fitted:
            if f.series.service == alert.service and f.series.name == alert.metric:
                return f
    symptoms = set(bundle.incident.symptom_services)
    pool = [f for f in fitted if f.series.service in symptoms] or fitted
    if not pool:
        return None
    return max(pool, key=lambda f: float(np.max(f.scores(f.window))))


def _score_at(f: _Fitted, when: float) -> float:
    """The score of the series' first point at or after ``when``, within one step; else 0."""
    i = int(np.searchsorted(f.window_times, when, side="left"))
    if i == f.window_times.size or f.window_times[i] - when > f.step:
        return 0.0
    return float(f.scores(f.window[i : i + 1])[0])


def _node_scores(fitted: list[_Fitted], ref: _Fitted, when: float) -> dict[str, float]:
    by_service: dict[str, list[_Fitted]] = {}
    for f in fitted:
        by_service.setdefault(f.series.service, []).append(f)
    scores: dict[str, float] = {}
    for service, series in by_service.items():
        comparable = (
            [f for f in series if f.series.name == ref.series.name]
            or [f for f in series if f.series.kind == ref.series.kind]
            or series
        )
        scores[service] = max(_score_at(f, when) for f in comparable)
    return scores


def _path_scores(bundle: Bundle, start: str, anomalous: dict[str, float]) -> dict[str, float]:
    """For each anomalous node reachable from ``start`` along ``depends_on`` through anomalous
    nodes: the largest sum of node scores over such paths (``start`` and the node included)."""
    graph = nx.DiGraph()
    graph.add_nodes_from(anomalous)
    graph.add_edges_from(
        (s.name, d)
        for s in bundle.services
        if s.name in anomalous
        for d in s.depends_on
        if d in anomalous
    )
    reachable = nx.descendants(graph, start) | {start}
    sub = graph.subgraph(reachable)
    best = {start: anomalous[start]}
    if nx.is_directed_acyclic_graph(sub):
        for node in nx.topological_sort(sub):
            if node not in best:
                continue
            for dep in sub.successors(node):
                best[dep] = max(best.get(dep, -np.inf), best[node] + anomalous[dep])
        return best
    # A cycle among anomalous services: the sum along a shortest path instead.
    paths = nx.single_source_shortest_path(sub, start)
    return {node: sum(anomalous[n] for n in path) for node, path in paths.items()}


def traversal_scores(bundle: Bundle) -> tuple[list[str], dict[str, float]]:
    """The roots, best first, and every anomalous service's score at the anomaly time."""
    cut = normal_cut(bundle)
    fitted = [f for m in bundle.metrics if (f := _fit(m, cut)) is not None]
    ref = _reference(bundle, fitted)
    if ref is None:
        return [], {}
    hits = np.flatnonzero(ref.scores(ref.window) > TRAVERSAL_THRESHOLD)
    if hits.size == 0:
        return [], {}
    when = float(ref.window_times[hits[0]])
    scores = _node_scores(fitted, ref, when)
    anomalous = {n: z for n, z in scores.items() if z > TRAVERSAL_THRESHOLD}
    start = ref.series.service
    if start not in anomalous:  # cannot happen: the reference is anomalous at its own time
        return [], anomalous
    reach = _path_scores(bundle, start, anomalous)
    depends = {s.name: s.depends_on for s in bundle.services}
    roots = {n: reach[n] for n in reach if not any(d in anomalous for d in depends.get(n, ()))}
    return _order(roots, bundle), anomalous


def traversal(bundle: Bundle) -> BaselineAnswer:
    """PetShop's anomaly traversal: anomalous services with no anomalous dependency, reached
    from the alert through anomalous callers; then the other anomalous services."""
    roots, anomalous = traversal_scores(bundle)
    rest = [n for n in _order(anomalous, bundle) if n not in roots]
    team = _teams(bundle).get(roots[0]) if roots else None
    return BaselineAnswer((*roots, *rest), team)


BASELINES: dict[str, Callable[[Bundle], BaselineAnswer]] = {"baro": baro, "traversal": traversal}
