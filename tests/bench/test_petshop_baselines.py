"""The benchmark's two published baselines and its PetShop conversion, on tiny hand-made data."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from investigators.bundle import (
    AlertRef,
    Bundle,
    Incident,
    MetricKind,
    Series,
    Service,
    dump_bundle,
    parse_bundle,
)

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _bench_module(name: str) -> ModuleType:
    """A module of bench/ (scripts beside each other, not a package), loaded from its file."""
    qualified = f"bench_{name}"
    if qualified in sys.modules:
        return sys.modules[qualified]
    spec = importlib.util.spec_from_file_location(qualified, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[qualified] = module
    spec.loader.exec_module(module)
    return module


baselines = _bench_module("baselines")
petshop = _bench_module("petshop")

STEP = 60.0
NORMAL = 120
WINDOW = 15
T0 = 1_800_000_000.0
ONSET = T0 + NORMAL * STEP


def _bundle(
    depends: dict[str, tuple[str, ...]], jumps: dict[str, float], *, alert: str = "web"
) -> Bundle:
    """Latency of every service, one minute apart: two hours of noise, then a quarter hour in
    which each service of ``jumps`` is that much higher. Detected two minutes after the onset."""
    rng = np.random.default_rng(7)
    times = T0 + STEP * np.arange(NORMAL + WINDOW)
    metrics = []
    for name in depends:
        values = 100.0 + rng.normal(0.0, 2.0, times.size)
        values[NORMAL:] += jumps.get(name, 0.0)
        metrics.append(Series(name, "latency", MetricKind.LATENCY, times, values, "ms"))
    return Bundle(
        incident=Incident(
            id="INC-1",
            started_at=ONSET + 120,
            symptom_services=(alert,),
            alert=AlertRef(alert, "latency"),
        ),
        services=[Service(n, f"team-{n}", deps) for n, deps in depends.items()],
        metrics=metrics,
    )


# web -> api -> db, api -> cache; mail stands apart.
GRAPH = {
    "web": ("api",),
    "api": ("db", "cache"),
    "db": (),
    "cache": (),
    "mail": (),
}


def test_both_baselines_rank_the_planted_root_first_and_tag_its_team() -> None:
    bundle = _bundle(GRAPH, {"db": 80.0, "api": 40.0, "web": 30.0})

    for method in (baselines.baro, baselines.traversal):
        answer = method(bundle)
        assert answer.ranking[0] == "db", method.__name__
        assert answer.team == "team-db", method.__name__
    # The traversal lists the other anomalous services after the root, never the quiet ones.
    assert set(baselines.traversal(bundle).ranking) == {"db", "api", "web"}


def test_traversal_stops_at_a_service_that_is_not_anomalous() -> None:
    # db is far off, but api between it and the alert is fine: db cannot explain web.
    bundle = _bundle(GRAPH, {"db": 80.0, "web": 30.0})

    roots, anomalous = baselines.traversal_scores(bundle)
    answer = baselines.traversal(bundle)

    assert set(anomalous) == {"db", "web"}
    assert roots == ["web"]
    assert answer.ranking == ("web", "db")
    assert answer.team == "team-web"


def test_quiet_data_tags_nobody() -> None:
    bundle = _bundle(GRAPH, {})

    assert baselines.baro(bundle).team is None
    assert baselines.traversal(bundle) == baselines.BaselineAnswer((), None)


def test_without_an_alert_the_traversal_starts_from_the_symptom_service() -> None:
    bundle = _bundle(GRAPH, {"db": 80.0, "api": 40.0, "web": 30.0})
    bundle.incident = Incident(id="INC-1", started_at=ONSET + 120, symptom_services=("web",))

    assert baselines.traversal(bundle).ranking[0] == "db"


# ---------------------------------------------------------------------------------------------
# PetShop conversion, on a two-scenario imitation of the dataset's files

NODES = ("PetSite", "svc_AWS::ECS::Fargate", "table_AWS::DynamoDB::Table", "api.example_remote")
CALLS = {("PetSite", "svc_AWS::ECS::Fargate"), ("svc_AWS::ECS::Fargate", "api.example_remote")}
CALLS |= {("svc_AWS::ECS::Fargate", "table_AWS::DynamoDB::Table")}
COLUMNS = [(n, "latency", s) for n in NODES for s in ("Average", "p99")]
COLUMNS += [(n, "availability", "Average") for n in NODES] + [("PetSite", "requests", "Sum")]
NORMAL_ROWS = 200


def _write_metrics(path: Path, times: np.ndarray, rng: np.random.Generator) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(["microservice", *(c[i] for c in COLUMNS)]) for i in range(3)]
    lines[1] = "metric" + lines[1][len("microservice") :]
    lines[2] = "statistic" + lines[2][len("microservice") :]
    lines.append("unix_timestamp" + "," * len(COLUMNS))
    for t in times:
        row = [f"{t:.1f}"]
        for node, metric, _ in COLUMNS:
            if node == "api.example_remote" and metric == "availability":
                row.append("")  # a column with no value at all
            else:
                row.append(f"{100.0 if metric == 'availability' else rng.uniform(0.05, 0.1):.4f}")
        lines.append(",".join(row))
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("petshop")
    rng = np.random.default_rng(3)
    for scenario in petshop.SCENARIOS:
        folder = root / scenario
        folder.mkdir()
        header = ",".join(["", *NODES])
        rows = [",".join([a, *("1.0" if (a, b) in CALLS else "0.0" for b in NODES)]) for a in NODES]
        (folder / "graph.csv").write_text("\n".join([header, *rows]) + "\n")
        _write_metrics(folder / "noissue" / "metrics.csv", 1.6e9 + 300.0 * np.arange(200), rng)
        issue_times = 1.5e9 + 120 + 300.0 * np.arange(5)
        _write_metrics(folder / "test" / "issue_0" / "metrics.csv", issue_times, rng)
        target = {
            "target": {
                "node": "PetSite",
                "metric": "latency",
                "agg": "Average",
                "timestamp": int(issue_times[1] + 200),
            },
            "root_cause": {"node": "table_AWS::DynamoDB::Table", "metric": None},
        }
        (folder / "test" / "issue_0" / "target.json").write_text(json.dumps(target))
        (folder / "train").mkdir()
    return root


def test_petshop_issue_becomes_a_bundle_after_the_shifted_normal_data(dataset: Path) -> None:
    ids = petshop.petshop_case_ids(dataset)
    case = petshop.petshop_case(dataset, "as-is", ids[0])
    bundle = parse_bundle(dump_bundle(case.bundle))  # a valid document, and back
    services = {s.name: s for s in bundle.services}
    alert = next(m for m in bundle.metrics if (m.service, m.name) == ("PetSite", "latency.average"))

    assert len(ids) == 2 * (1 + petshop.QUIET_PER_SCENARIO)
    assert case.root == "table_AWS::DynamoDB::Table"
    assert case.team == services[case.root].team
    assert services["svc_AWS::ECS::Fargate"].depends_on == (
        "table_AWS::DynamoDB::Table",
        "api.example_remote",
    )
    assert services["api.example_remote"].kind == "external"
    assert services["PetSite"].kind == "service"
    assert bundle.incident.alert == AlertRef("PetSite", "latency.average")
    assert bundle.incident.symptom_services == ("PetSite",)
    assert bundle.incident.started_at == 1.5e9 + 120 + 300 + 200
    # The normal data first, its last row one step before the issue's first.
    assert alert.times.size == NORMAL_ROWS + 5
    assert alert.times[NORMAL_ROWS] - alert.times[NORMAL_ROWS - 1] == 300.0
    assert alert.times[NORMAL_ROWS] == 1.5e9 + 120
    assert alert.unit == "s"
    names = {(m.service, m.name) for m in bundle.metrics}
    assert ("PetSite", "requests.sum") in names
    assert ("api.example_remote", "availability.average") not in names  # all missing: dropped


def test_petshop_quiet_windows_have_no_truth_and_an_entry_alert(dataset: Path) -> None:
    quiet = [c for c in petshop.petshop_cases(dataset, "as-is") if c.quiet]

    assert len(quiet) == 2 * petshop.QUIET_PER_SCENARIO
    for case in quiet:
        inc = case.bundle.incident
        assert case.team is None
        assert inc.alert == AlertRef("PetSite", "latency.average")
        window_start = case.bundle.metrics[0].times[-5]  # the window is the last five rows
        assert 300 <= inc.started_at - window_start < 600  # like an issue's target


def test_petshop_renamed_copy_carries_no_name_of_the_data(dataset: Path) -> None:
    case_id = petshop.petshop_case_ids(dataset)[0]
    plain = petshop.petshop_case(dataset, "as-is", case_id)
    renamed = petshop.petshop_case(dataset, "renamed", case_id)
    document = dump_bundle(renamed.bundle)
    services = {s.name: s for s in renamed.bundle.services}

    for word in ("PetSite", "svc_", "table", "remote", "DynamoDB", "example"):
        assert word not in document
    assert renamed.root in services
    assert renamed.team == services[renamed.root].team
    assert renamed.bundle.incident.alert is not None
    assert renamed.bundle.incident.alert.service in services
    assert len(renamed.bundle.metrics) == len(plain.bundle.metrics)
    ids = petshop.opaque_names(list(NODES))
    assert services[ids["svc_AWS::ECS::Fargate"]].depends_on == (
        ids["table_AWS::DynamoDB::Table"],
        ids["api.example_remote"],
    )


def test_petshop_short_and_hour_cut_the_history(dataset: Path) -> None:
    case_id = petshop.petshop_case_ids(dataset)[0]
    short = petshop.petshop_case(dataset, "short", case_id).bundle
    hour = petshop.petshop_case(dataset, "hour", case_id).bundle

    started = short.incident.started_at
    assert all(m.times.min() >= started - 600 for m in short.metrics)
    assert all(m.times.size == 5 for m in short.metrics)
    assert all(m.times.size == 12 + 5 for m in hour.metrics)
