"""The PetShop dataset as incident bundles, for measuring root-cause ranking on real telemetry.

PetShop (M. Hardt, W. Orchard, P. Blöbaum, E. Kirschbaum, S. Kasiviswanathan, "The PetShop
Dataset — Finding Causes of Performance Issues across Microservices", CLeaR 2024,
arXiv 2311.04806; CC-BY-4.0, from ``amazon-science/petshop-root-cause-analysis``) is an AWS
pet-adoption application with 52 injected performance issues (26 in each of two traffic
scenarios) and their true root causes. Anything built on it keeps that credit; ``--out`` writes
it into ``CREDIT.txt`` beside the bundles.

The product knows nothing of datasets: this module turns the CSV files into ordinary bundles
(:mod:`investigators.bundle`) and keeps the truth beside them, never in them.

- **Graph.** ``graph.csv`` is an adjacency matrix: a 1 where the row node calls the column
  node, so the column node goes into the row node's ``depends_on``. Every node of the graph or
  the metrics is a service. Its team is ``team-`` and the node name made into a slug (one team per
  node). Its kind is ``external`` for nodes whose name ends in ``_remote`` (X-Ray's marker for a
  called endpoint outside the application, a structural fact of the data) and ``service`` for
  every other node: no guess from the name that could carry a prior about causes.
- **Series.** One per (node, metric, statistic) column, named ``{metric}.{statistic.lower()}``
  (``latency.average``, ``latency.p99``, ``requests.sum``, ``availability.average``). Latency is
  in seconds (X-Ray response times: PetSite averages about 0.095 s at rest), availability in
  percent, requests a count per 5-minute row. Columns with no value at all are dropped; missing
  values stay as nulls.
- **Incidents.** The issue's own rows (five, five minutes apart) come after the scenario's normal
  data (``noissue``, two days recorded at another time), its timestamps shifted so that its last
  row lies one 5-minute step before the issue's first: a baseline from another regime, as the
  dataset's README describes. ``started_at`` is the target's timestamp (between the issue's second
  and third rows), the alert the target's node and series, the symptom that node; the truth is
  ``root_cause.node``.
- **Quiet windows.** :data:`QUIET_PER_SCENARIO` windows of five rows cut from each scenario's
  normal data, each after at least :data:`QUIET_MIN_HISTORY` rows of it; ``started_at`` lies
  between the window's second and third rows like the issues'; the alert is the series the
  scenario's targets use (on PetSite), alternating between latency and availability. Nothing is
  wrong: the truth is no root cause and no team to tag.

Shapes (:data:`SHAPES`), each measured on every case:

- ``as-is``: as above.
- ``renamed``: every service and team name replaced by an opaque id (``svc-`` and the first hex
  digits of the name's SHA-1), consistently in services, dependencies, metrics, alert, symptoms
  and truth; services listed in the order of their new names.
- ``short``: only points from ten minutes before detection on (``t >= started_at - 600``): with
  5-minute rows that is the window alone, two of its points before ``started_at``.
- ``hour``: only the last hour of the normal data (twelve rows) before the window.

    python bench/petshop.py --out DIR [--petshop DIR] [--shapes as-is,renamed]

writes every case as ``DIR/SHAPE/CASE.bundle.json`` (for ``incident-copilot rca``) and
``DIR/SHAPE/CASE.truth.json`` (``root``, ``team``), with ``DIR/CREDIT.txt``: about 650 MB for
every shape, nearly all of it ``as-is`` and ``renamed`` (two days of rows on some 280 series, 124
cases each).
"""

from __future__ import annotations

import argparse
import csv
import functools
import hashlib
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from investigators.bundle import (
    AlertRef,
    Bundle,
    Incident,
    MetricKind,
    Series,
    Service,
    write_bundle,
)

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "petshop"
SCENARIOS = ("low_traffic", "high_traffic")
SPLITS = ("test", "train")
SHAPES = ("as-is", "renamed", "short", "hour")
SET_NAME = "petshop"

STEP = 300.0  # seconds between rows, in every file
WINDOW_ROWS = 5  # rows of an issue, and of a quiet window
QUIET_PER_SCENARIO = 36
QUIET_MIN_HISTORY = 144  # rows (12 hours) of normal data before a quiet window
SHORT_HISTORY = 600.0  # "short": seconds of data kept before started_at
HOUR_HISTORY = 3600.0  # "hour": seconds of normal data kept before the window

CREDIT = """\
These incident bundles are derived from the PetShop dataset, licensed CC-BY-4.0
(https://creativecommons.org/licenses/by/4.0/), from the public repository
amazon-science/petshop-root-cause-analysis (dataset/low_traffic and dataset/high_traffic).

Cite it as: M. Hardt, W. Orchard, P. Blöbaum, E. Kirschbaum, S. Kasiviswanathan,
"The PetShop Dataset — Finding Causes of Performance Issues across Microservices",
CLeaR 2024 (arXiv 2311.04806).

Changes made: the metric tables were converted to incident bundles (version 1); the normal
data was placed, time-shifted, before each issue as its baseline; quiet windows were cut from
the normal data; some copies have their names replaced by opaque ids or their history cut.
"""

_KINDS = {
    "latency": (MetricKind.LATENCY, "s"),
    "availability": (MetricKind.AVAILABILITY, "%"),
    "requests": (MetricKind.TRAFFIC, "requests"),
}


@dataclass(frozen=True, slots=True, eq=False)
class Case:
    """One bundle to rank and its truth: the root service and its team, None when quiet."""

    set_name: str
    case_id: str
    shape: str
    bundle: Bundle
    root: str | None
    team: str | None

    @property
    def quiet(self) -> bool:
        """Whether nothing was wrong (a quiet window): no one should be tagged."""
        return self.root is None


# ---------------------------------------------------------------------------------------------
# Reading the files


@dataclass(frozen=True, slots=True, eq=False)
class _Table:
    """One metrics.csv: row times, (node, metric, statistic) columns, values with NaN gaps."""

    times: np.ndarray
    columns: tuple[tuple[str, str, str], ...]
    values: np.ndarray  # rows x columns


@dataclass(frozen=True, slots=True, eq=False)
class _Issue:
    case_id: str
    table: _Table
    node: str
    series: str
    timestamp: float
    root: str


@dataclass(frozen=True, slots=True, eq=False)
class _Scenario:
    name: str
    graph: dict[str, tuple[str, ...]]
    normal: _Table
    issues: tuple[_Issue, ...]


def _read_table(path: Path) -> _Table:
    """Three header rows (node, metric, statistic), maybe an index-name row, then data rows."""
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    nodes, metrics, stats = rows[0][1:], rows[1][1:], rows[2][1:]
    data = [r for r in rows[3:] if r and _is_number(r[0])]
    columns = tuple(zip(nodes, metrics, stats, strict=True))
    if len(set(columns)) != len(columns):
        raise ValueError(f"{path}: a (node, metric, statistic) column appears twice")
    times = np.array([float(r[0]) for r in data])
    values = np.array(
        [[float(v) if v.strip() else np.nan for v in r[1:]] for r in data], dtype=np.float64
    ).reshape(len(data), len(columns))
    order = np.argsort(times, kind="stable")
    return _Table(times[order], columns, values[order])


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_graph(path: Path) -> dict[str, tuple[str, ...]]:
    """Row node -> the column nodes it calls (a 1 in the matrix)."""
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    callees = rows[0][1:]
    graph: dict[str, tuple[str, ...]] = {}
    for row in rows[1:]:
        graph[row[0]] = tuple(c for c, v in zip(callees, row[1:], strict=True) if float(v or 0))
    for node in callees:
        graph.setdefault(node, ())
    return graph


def _series_name(metric: str, statistic: str) -> str:
    return f"{metric}.{statistic.lower()}"


def _read_scenario(root: Path, name: str) -> _Scenario:
    folder = root / name
    issues = []
    for split in SPLITS:
        found = sorted(
            (folder / split).glob("issue_*"), key=lambda p: int(p.name.rsplit("_", 1)[1])
        )
        for issue_dir in found:
            target = json.loads((issue_dir / "target.json").read_text())
            issues.append(
                _Issue(
                    case_id=f"{name}/{split}/{issue_dir.name}",
                    table=_read_table(issue_dir / "metrics.csv"),
                    node=target["target"]["node"],
                    series=_series_name(target["target"]["metric"], target["target"]["agg"]),
                    timestamp=float(target["target"]["timestamp"]),
                    root=target["root_cause"]["node"],
                )
            )
    return _Scenario(
        name=name,
        graph=_read_graph(folder / "graph.csv"),
        normal=_read_table(folder / "noissue" / "metrics.csv"),
        issues=tuple(issues),
    )


@functools.lru_cache(maxsize=2)
def _load(root: str) -> tuple[_Scenario, ...]:
    return tuple(_read_scenario(Path(root), name) for name in SCENARIOS)


def available(root: Path = DEFAULT_ROOT) -> bool:
    """Whether the dataset is where ``root`` says (both scenarios' graphs at least)."""
    return all((root / name / "graph.csv").is_file() for name in SCENARIOS)


# ---------------------------------------------------------------------------------------------
# Names


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-") or "node"


def _sha(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()


def _teams(nodes: list[str]) -> dict[str, str]:
    """One team per node: ``team-`` and the node's slug, made unique with a hash if need be."""
    slugs = {n: _slug(n) for n in nodes}
    shared = Counter(slugs.values())
    return {
        n: f"team-{s}" if shared[s] == 1 else f"team-{s}-{_sha(n)[:6]}" for n, s in slugs.items()
    }


def opaque_names(nodes: list[str]) -> dict[str, str]:
    """Node -> ``svc-`` and hex digits of its SHA-1: deterministic, name-free, unique."""
    for digits in (6, 8, 12, 40):
        ids = {n: f"svc-{_sha(n)[:digits]}" for n in nodes}
        if len(set(ids.values())) == len(ids):
            return ids
    raise AssertionError("SHA-1 prefixes of 40 digits collide")  # pragma: no cover


def _kind(node: str) -> str:
    return "external" if node.endswith("_remote") else "service"


# ---------------------------------------------------------------------------------------------
# Bundles


def _services(scenario: _Scenario) -> tuple[list[Service], dict[str, str]]:
    nodes = list(scenario.graph)
    extra = [c[0] for c in scenario.normal.columns if c[0] not in scenario.graph]
    for issue in scenario.issues:
        extra += [c[0] for c in issue.table.columns if c[0] not in scenario.graph]
    nodes += list(dict.fromkeys(extra))
    teams = _teams(nodes)
    services = [
        Service(name=n, team=teams[n], depends_on=scenario.graph.get(n, ()), kind=_kind(n))
        for n in nodes
    ]
    return services, teams


def _series(
    baseline: _Table, shift: float, window: _Table, *, history_from: float | None
) -> list[Series]:
    """The baseline's rows (times shifted) then the window's, one series per column."""
    columns = list(baseline.columns) + [c for c in window.columns if c not in baseline.columns]
    index = {c: i for i, c in enumerate(columns)}
    times = np.concatenate([baseline.times + shift, window.times])
    values = np.full((times.size, len(columns)), np.nan)
    values[: baseline.times.size, : len(baseline.columns)] = baseline.values
    values[baseline.times.size :, [index[c] for c in window.columns]] = window.values
    if history_from is not None:
        keep = times >= history_from
        times, values = times[keep], values[keep]
    times = np.ascontiguousarray(times)
    times.flags.writeable = False
    out = []
    for i, (node, metric, statistic) in enumerate(columns):
        column = values[:, i]
        if np.isnan(column).all():
            continue
        kind, unit = _KINDS.get(metric, (MetricKind.OTHER, None))
        out.append(
            Series(
                service=node,
                name=_series_name(metric, statistic),
                kind=kind,
                times=times,
                values=column.copy(),
                unit=unit,
            )
        )
    return out


def _history_from(shape: str, *, started_at: float, window_start: float) -> float | None:
    if shape == "short":
        return started_at - SHORT_HISTORY
    if shape == "hour":
        return window_start - HOUR_HISTORY
    return None


def _incident_bundle(
    scenario: _Scenario,
    *,
    case_id: str,
    shape: str,
    baseline: _Table,
    shift: float,
    window: _Table,
    started_at: float,
    alert: AlertRef,
    root: str | None,
) -> Case:
    services, teams = _services(scenario)
    history_from = _history_from(shape, started_at=started_at, window_start=window.times[0])
    metrics = _series(baseline, shift, window, history_from=history_from)
    incident = Incident(
        id=f"PS-{_sha(case_id)[:10]}",
        started_at=float(round(started_at)),
        title=f"{alert.service} {alert.metric}",
        symptom_services=(alert.service,),
        alert=alert
        if any(m.service == alert.service and m.name == alert.metric for m in metrics)
        else None,
    )
    case = Case(
        set_name=SET_NAME,
        case_id=case_id,
        shape=shape,
        bundle=Bundle(incident=incident, services=services, metrics=metrics),
        root=root,
        team=teams[root] if root is not None else None,
    )
    return _renamed(case) if shape == "renamed" else case


def _renamed(case: Case) -> Case:
    """The same case with every service and team name replaced by an opaque id."""
    b = case.bundle
    ids = opaque_names([s.name for s in b.services])
    team_ids = {s.team: f"team-{ids[s.name][4:]}" for s in b.services}
    services = sorted(
        (
            Service(
                name=ids[s.name],
                team=team_ids[s.team],
                depends_on=tuple(ids[d] for d in s.depends_on),
                kind=s.kind,
            )
            for s in b.services
        ),
        key=lambda s: s.name,
    )
    metrics = sorted(
        (replace(m, service=ids[m.service]) for m in b.metrics), key=lambda m: (m.service, m.name)
    )
    inc = b.incident
    incident = replace(
        inc,
        title=functools.reduce(
            lambda text, name: text.replace(name, ids[name]), inc.symptom_services, inc.title
        ),
        symptom_services=tuple(ids[s] for s in inc.symptom_services),
        alert=AlertRef(ids[inc.alert.service], inc.alert.metric) if inc.alert else None,
    )
    return replace(
        case,
        bundle=Bundle(incident=incident, services=services, metrics=metrics),
        root=ids[case.root] if case.root is not None else None,
        team=team_ids[case.team] if case.team is not None else None,
    )


def _issue_case(scenario: _Scenario, issue: _Issue, shape: str) -> Case:
    shift = (issue.table.times[0] - STEP) - scenario.normal.times[-1]
    return _incident_bundle(
        scenario,
        case_id=issue.case_id,
        shape=shape,
        baseline=scenario.normal,
        shift=shift,
        window=issue.table,
        started_at=issue.timestamp,
        alert=AlertRef(issue.node, issue.series),
        root=issue.root,
    )


def _quiet_alerts(scenario: _Scenario) -> list[AlertRef]:
    """The series the scenario's targets use, on the node they use most (PetSite)."""
    node = Counter(i.node for i in scenario.issues).most_common(1)[0][0]
    return [AlertRef(node, s) for s in sorted({i.series for i in scenario.issues})]


def _quiet_starts(rows: int) -> list[int]:
    last = rows - WINDOW_ROWS
    span = last - QUIET_MIN_HISTORY
    return [
        QUIET_MIN_HISTORY + round(i * span / (QUIET_PER_SCENARIO - 1))
        for i in range(QUIET_PER_SCENARIO)
    ]


def _quiet_case(scenario: _Scenario, i: int, shape: str) -> Case:
    normal = scenario.normal
    start = _quiet_starts(normal.times.size)[i]
    baseline = _Table(normal.times[:start], normal.columns, normal.values[:start])
    end = start + WINDOW_ROWS
    window = _Table(normal.times[start:end], normal.columns, normal.values[start:end])
    # Between the second and third rows, as the issues' targets are; spread by the golden ratio.
    offset = STEP * (1.0 + (i * 0.6180339887) % 1.0)
    alerts = _quiet_alerts(scenario)
    return _incident_bundle(
        scenario,
        case_id=f"{scenario.name}/quiet/window_{i}",
        shape=shape,
        baseline=baseline,
        shift=0.0,
        window=window,
        started_at=float(window.times[0] + offset),
        alert=alerts[i % len(alerts)],
        root=None,
    )


# ---------------------------------------------------------------------------------------------
# The cases


def petshop_case_ids(root: Path = DEFAULT_ROOT) -> list[str]:
    """Every case of the dataset: the 52 issues, then the quiet windows."""
    scenarios = _load(str(root.resolve()))
    issues = [i.case_id for s in scenarios for i in s.issues]
    quiet = [f"{s.name}/quiet/window_{i}" for s in scenarios for i in range(QUIET_PER_SCENARIO)]
    return issues + quiet


def petshop_case(root: Path, shape: str, case_id: str) -> Case:
    """One case (an id of :func:`petshop_case_ids`) in one shape of :data:`SHAPES`."""
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}: use one of {', '.join(SHAPES)}")
    scenario_name, kind, item = case_id.split("/")
    scenario = next(s for s in _load(str(root.resolve())) if s.name == scenario_name)
    if kind == "quiet":
        return _quiet_case(scenario, int(item.rsplit("_", 1)[1]), shape)
    issue = next(i for i in scenario.issues if i.case_id == case_id)
    return _issue_case(scenario, issue, shape)


def petshop_cases(root: Path = DEFAULT_ROOT, shape: str = "as-is") -> list[Case]:
    """Every case in one shape: 52 incidents and the quiet windows of both scenarios."""
    return [petshop_case(root, shape, case_id) for case_id in petshop_case_ids(root)]


# ---------------------------------------------------------------------------------------------
# Command line


def write_cases(root: Path, out: Path, shapes: tuple[str, ...]) -> int:
    """Write every case of ``shapes`` under ``out``; return how many."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "CREDIT.txt").write_text(CREDIT)
    count = 0
    for shape in shapes:
        folder = out / shape
        folder.mkdir(exist_ok=True)
        for case_id in petshop_case_ids(root):
            case = petshop_case(root, shape, case_id)
            stem = case_id.replace("/", "-")
            write_bundle(case.bundle, folder / f"{stem}.bundle.json")
            truth = {
                "case": case_id,
                "shape": shape,
                "incident_id": case.bundle.incident.id,
                "root": case.root,
                "team": case.team,
            }
            (folder / f"{stem}.truth.json").write_text(json.dumps(truth, indent=1) + "\n")
            count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    """Write the PetShop cases as bundles and truth files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to write into")
    parser.add_argument("--petshop", type=Path, default=DEFAULT_ROOT, help="the dataset's folder")
    parser.add_argument("--shapes", default=",".join(SHAPES), help="comma-separated shapes")
    args = parser.parse_args(argv)
    shapes = tuple(s for s in args.shapes.split(",") if s)
    unknown = [s for s in shapes if s not in SHAPES]
    if unknown:
        parser.error(f"unknown shape {unknown[0]!r}: use some of {', '.join(SHAPES)}")
    if not available(args.petshop):
        print(f"petshop: no dataset at {args.petshop} (give --petshop DIR)", file=sys.stderr)
        return 2
    count = write_cases(args.petshop, args.out, shapes)
    print(f"wrote {count} cases ({', '.join(shapes)}) and CREDIT.txt under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
