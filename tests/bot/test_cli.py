"""The ``incident-copilot`` command line: rca, scenario and catalog check, as a user runs them."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from investigators.bundle import load_bundle, write_bundle
from investigators.rca import rank
from sandbox.scenarios import generate_scenario

REPO = Path(__file__).resolve().parents[2]
SERVICES_YAML = REPO / "manifests" / "services.yaml"


def run(*argv: str) -> tuple[int, str]:
    """Run the command line in-process; its exit status and what it printed on ``out``."""
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


@pytest.fixture(scope="module")
def incident(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated database saturation, written as a bundle file."""
    path = tmp_path_factory.mktemp("bundles") / "db-saturation.json"
    scenario = generate_scenario(seed=3, services=30, fault="db-saturation", hours=2)
    write_bundle(scenario.bundle, path)
    return path


def small_bundle(**changes: object) -> dict[str, object]:
    """A valid two-service bundle with nothing anomalous in it."""
    points = [[1795183500 - 60 * i, 1.0 + (i % 3) * 0.1] for i in range(120, -30, -1)]
    document: dict[str, object] = {
        "version": 1,
        "incident": {"id": "INC-9", "title": "web errors", "started_at": "2026-11-20T14:05:00Z"},
        "services": [
            {"name": "web", "team": "storefront", "depends_on": ["api"]},
            {"name": "api", "team": "core", "depends_on": []},
        ],
        "metrics": [{"service": "api", "name": "errors", "kind": "errors", "points": points}],
    }
    document.update(changes)
    return document


def write_json(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------
# rca


def test_rca_prints_a_readable_ranking_with_the_team_to_notify(incident: Path) -> None:
    expected = rank(load_bundle(incident))
    assert expected.notify is not None  # the premise: a confident answer

    code, text = run("rca", str(incident))

    assert code == 0
    lines = text.splitlines()
    assert lines[0].startswith("INC-3")
    header = next(line for line in lines if "service" in line and "score" in line)
    assert "confidence" in header
    assert "team" in header
    top = expected.ranking[0]
    first_row = next(line for line in lines if line.lstrip().startswith("1 "))
    assert top.service in first_row
    assert f"{top.score:.2f}" in first_row
    assert top.confidence in first_row
    assert top.reasons[0] in text
    assert f"Notify: team {expected.notify.team} (owner of {expected.notify.service})" in lines


def test_rca_of_a_quiet_bundle_says_nobody_is_notified(tmp_path: Path) -> None:
    path = write_json(tmp_path / "quiet.json", small_bundle())
    code, text = run("rca", str(path))
    assert code == 0
    assert "INC-9" in text
    assert "nobody notified" in text


def test_rca_json_prints_the_result_document(incident: Path) -> None:
    code, text = run("rca", str(incident), "--json")

    assert code == 0
    document = json.loads(text)
    assert set(document) == {"incident_id", "ranking", "symptoms", "notify"}
    assert document["incident_id"] == "INC-3"
    assert document["ranking"]
    for entry in document["ranking"]:
        assert set(entry) == {"service", "score", "confidence", "reasons", "explains"}
        assert 0 <= entry["score"] <= 1
    assert set(document["notify"]) == {"team", "service"}
    assert document == rank(load_bundle(incident)).document()


def test_rca_json_of_a_quiet_bundle(tmp_path: Path) -> None:
    path = write_json(tmp_path / "quiet.json", small_bundle())
    code, text = run("rca", str(path), "--json")
    assert code == 0
    assert json.loads(text) == {
        "incident_id": "INC-9",
        "ranking": [],
        "symptoms": [],
        "notify": None,
    }


def test_rca_of_an_invalid_bundle_exits_2_naming_the_json_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = small_bundle()
    document["metrics"][0]["points"][1][0] = "the day before yesterday"  # type: ignore[index]
    path = write_json(tmp_path / "bad.json", document)

    code, text = run("rca", str(path))

    assert code == 2
    assert text == ""
    err = capsys.readouterr().err
    assert "metrics[0].points[1]: timestamp is not RFC 3339 or a number" in err
    assert str(path) in err


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"version": 3}, "version"),
        (
            {"services": [{"name": "web", "team": "storefront", "depends_on": ["nope"]}]},
            "services[0].depends_on[0]",
        ),
        ({"incident": {"id": "INC-9"}}, "incident"),
    ],
)
def test_rca_names_the_path_of_other_problems_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], changes: dict[str, object], path: str
) -> None:
    bundle = write_json(tmp_path / "bad.json", small_bundle(**changes))
    code, _ = run("rca", str(bundle), "--json")
    assert code == 2
    assert f": {path}: " in capsys.readouterr().err


def hostile_bundle(where: str, raw: str) -> str:
    """The small bundle as JSON text with ``raw`` at ``where``: text Python cannot dump."""
    target: Any = small_bundle()
    document = target
    *parents, last = where.split(".")
    for key in parents:
        target = target[int(key)] if key.isdigit() else target[key]
    target[int(last) if last.isdigit() else last] = "@raw@"
    return json.dumps(document).replace('"@raw@"', raw)


HOSTILE_BUNDLES = [
    pytest.param("incident.started_at", "1e400", "incident.started_at", id="started-1e400"),
    pytest.param("incident.started_at", "9" * 400, "incident.started_at", id="started-10**400"),
    pytest.param("metrics.0.points.3.1", "9" * 400, "metrics[0].points[3]", id="value-10**400"),
    pytest.param("metrics.0.points.3.0", "1e400", "metrics[0].points[3]", id="time-1e400"),
    pytest.param("incident.started_at", '"9999-12-31T23:59:59Z"', "incident.started_at",
                 id="started-year-9999"),
    pytest.param("incident.started_at", "253402300800", "incident.started_at",
                 id="started-year-10000"),
    pytest.param("incident.started_at", "1e12", "incident.started_at", id="started-1e12"),
    pytest.param("incident.started_at", "-1e12", "incident.started_at", id="started--1e12"),
    pytest.param("metrics.0.points", "[" * 100_000 + "]" * 100_000, "metrics[0].points[0][0]",
                 id="points-100000-deep"),
    pytest.param("incident.notes", "[" * 100_000 + "]" * 100_000, "incident.notes[0][0]",
                 id="extra-field-100000-deep"),
]  # fmt: skip


@pytest.mark.parametrize("mode", [[], ["--json"]], ids=["text", "json"])
@pytest.mark.parametrize(("where", "raw", "path"), HOSTILE_BUNDLES)
def test_rca_of_a_hostile_bundle_exits_2_with_one_line_naming_the_path(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    where: str,
    raw: str,
    path: str,
    mode: list[str],
) -> None:
    bundle = tmp_path / "hostile.json"
    bundle.write_text(hostile_bundle(where, raw), encoding="utf-8")

    code, text = run("rca", str(bundle), *mode)

    assert code == 2
    assert text == ""
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"incident-copilot rca: invalid bundle {bundle}: {path}")


def test_rca_reads_repeated_timestamps_as_one_point_each(incident: Path, tmp_path: Path) -> None:
    document = json.loads(incident.read_text(encoding="utf-8"))
    for series in document["metrics"]:
        series["points"] = [point for point in series["points"] for _ in range(3)]
    repeated = write_json(tmp_path / "repeated.json", document)

    code, text = run("rca", str(repeated), "--json")

    assert code == 0
    assert json.loads(text) == rank(load_bundle(incident)).document()


def test_rca_of_something_that_is_not_json_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("checkout is down again\n", encoding="utf-8")
    code, text = run("rca", str(path))
    assert code == 2
    assert text == ""
    assert "not a JSON document" in capsys.readouterr().err


def test_rca_of_a_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "gone.json"
    code, text = run("rca", str(missing))
    assert code == 2
    assert text == ""
    assert str(missing) in capsys.readouterr().err


def test_a_command_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main([], out=io.StringIO())
    assert caught.value.code == 2
    assert "usage" in capsys.readouterr().err


def test_rca_json_is_the_same_from_one_run_to_the_next(incident: Path) -> None:
    outputs = set()
    for hash_seed in ("0", "1", "2"):
        done = subprocess.run(
            [sys.executable, "-m", "bot.cli", "rca", str(incident), "--json"],
            cwd=REPO,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            capture_output=True,
            text=True,
            check=True,
        )
        outputs.add(done.stdout)
    assert len(outputs) == 1


# ---------------------------------------------------------------------------------------------
# scenario


def test_scenario_writes_a_bundle_and_its_truth_that_rca_reads(tmp_path: Path) -> None:
    path = tmp_path / "x.json"

    code, text = run(
        "scenario",
        "--fault",
        "db-saturation",
        "--seed",
        "3",
        "--services",
        "30",
        "--hours",
        "2",
        "-o",
        str(path),
    )

    assert code == 0
    truth_path = tmp_path / "x.truth.json"
    assert str(path) in text
    assert str(truth_path) in text
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    assert truth["fault"] == "db-saturation"
    bundle = load_bundle(path)
    assert len(bundle.services) >= 30
    kinds = {s.name: s.kind for s in bundle.services}
    assert kinds[truth["root"]] == "database"
    assert truth["root"] in truth["affected"]

    code, text = run("rca", str(path), "--json")
    assert code == 0
    suspects = [entry["service"] for entry in json.loads(text)["ranking"]]
    assert truth["root"] in suspects[:3]


def test_scenario_quiet_writes_a_truth_without_root(tmp_path: Path) -> None:
    path = tmp_path / "quiet.json"
    code, _ = run(
        "scenario", "--fault", "quiet", "--services", "20", "--hours", "1", "-o", str(path)
    )
    assert code == 0
    truth = json.loads((tmp_path / "quiet.truth.json").read_text(encoding="utf-8"))
    assert truth["fault"] == "quiet"
    assert truth["root"] is None


def test_scenario_of_an_unknown_fault_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "x.json"
    code, _ = run("scenario", "--fault", "meteor-strike", "-o", str(path))
    assert code == 2
    err = capsys.readouterr().err
    assert "meteor-strike" in err
    assert "db-saturation" in err  # says what would do
    assert not path.exists()


def test_scenario_into_a_missing_folder_does_not_crash(tmp_path: Path) -> None:
    path = tmp_path / "not-yet" / "x.json"
    code, _ = run("scenario", "--services", "20", "--hours", "1", "-o", str(path))
    assert code == 0
    assert path.exists() and path.with_suffix(".truth.json").exists()


# ---------------------------------------------------------------------------------------------
# catalog check


def test_catalog_check_of_the_shipped_catalog_exits_0() -> None:
    code, text = run("catalog", "check", str(SERVICES_YAML))
    assert code == 0
    assert "services" in text
    assert "teams" in text


def test_catalog_check_of_a_broken_catalog_exits_2_naming_the_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "services.yaml"
    broken.write_text(
        textwrap.dedent(
            """\
            teams:
              web:
                display_name: Web
            services:
              - name: web
                team: nobody
                depends_on: [ghost]
            """
        ),
        encoding="utf-8",
    )

    code, text = run("catalog", "check", str(broken))

    assert code == 2
    assert text == ""
    err = capsys.readouterr().err
    assert "nobody" in err
    assert "ghost" in err


def test_catalog_check_of_a_missing_catalog_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = run("catalog", "check", str(tmp_path / "nothing-here.yaml"))
    assert code == 2
    assert "nothing-here.yaml" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("? [a, b]\n    : 1", "line 4, column 7: invalid YAML: a key must be a word"),
        ("notes: " + "[" * 5_000 + "]" * 5_000, "line 4, column 59: lists or mappings nested"),
    ],
    ids=["list-as-key", "5000-deep"],
)
def test_catalog_check_of_a_hostile_catalog_exits_2_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], entry: str, problem: str
) -> None:
    path = tmp_path / "services.yaml"
    path.write_text(f"services:\n  - name: web\n    team: web\n    {entry}\n", encoding="utf-8")

    code, text = run("catalog", "check", str(path))

    assert code == 2
    assert text == ""
    first, last = capsys.readouterr().err.splitlines()
    assert first.startswith(f"{path}: {problem}")
    assert last.startswith(f"1 problem in {path}: ")


REPO = Path(__file__).resolve().parents[2]
SOURCE_VARS = ("ES_URL", "DD_API_KEY", "DD_APP_KEY", "GITHUB_TOKEN")


def test_investigate_without_any_source_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in SOURCE_VARS:
        monkeypatch.delenv(name, raising=False)
    code, _ = run("investigate", "--service", "checkout")
    assert code == 2
    err = capsys.readouterr().err
    assert "no data source is configured" in err
    assert "GITHUB_TOKEN" in err and "incident-copilot doctor" in err


def test_investigate_with_an_unknown_service_suggests_the_closest_names(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in SOURCE_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_not_used_because_nothing_is_asked")
    monkeypatch.setenv("GITHUB_API_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("INCIDENT_COPILOT_CATALOG", str(REPO / "manifests" / "services.yaml"))
    code, _ = run("investigate", "--service", "paymnets")
    assert code == 2
    err = capsys.readouterr().err
    assert "unknown service 'paymnets'" in err
    assert "did you mean payments" in err
    assert "ghp_" not in err


def test_unusable_settings_name_the_variable_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DD_API_KEY", "dd-secret-value")
    monkeypatch.setenv("DD_APP_KEY", "dd-app-secret")
    monkeypatch.setenv("DD_SITE", "datadoghq.co")
    code, _ = run("doctor")
    assert code == 2
    err = capsys.readouterr().err
    assert "DD_SITE" in err and "datadoghq.eu" in err
    assert "secret" not in err
