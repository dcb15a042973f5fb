"""The summary's chart: its data from the engine's analysis, and the PNG drawn from it (issue 15).

Every fault type of the sandbox is ranked and summarised as the pipeline does, and the chart's
data is read the way ``finalize_step`` keeps it: plain asserts on plain data, then the picture.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
import yaml

from bot.chart import alt_text, render_chart, title_of
from investigators.bundle import Bundle
from investigators.catalog import load_catalog
from investigators.pipeline.chartdata import ChartData, chart_data
from investigators.pipeline.investigation import IncidentRequest, make_plan
from investigators.pipeline.summary import build_summary
from investigators.rca import analyse
from sandbox.scenarios import FAULT_TYPES, generate_scenario
from sandbox.world import write_catalog

MANIFEST = Path(__file__).resolve().parents[2] / "manifests" / "slack-app.yaml"


def _chart(bundle: Bundle, tmp: Path, *, no_root: bool = False) -> ChartData | None:
    catalog = load_catalog(write_catalog(bundle, tmp / "services.yaml"))
    request = IncidentRequest(
        incident_id=bundle.incident.id,
        started_at=bundle.incident.started_at,
        until=max(float(m.times[-1]) for m in bundle.metrics if m.times.size),
        services=list(bundle.incident.symptom_services),
    )
    plan = make_plan(
        request, catalog=catalog, sources=[], deadline=60, baseline=3 * 3600, lookahead=3600
    )
    analysis = analyse(bundle)
    summary = build_summary(
        plan, catalog=catalog, bundle=bundle, analysis=analysis, results={}, finished_by="complete"
    )
    if no_root:
        summary = summary.model_copy(update={"root_cause": None})
    return chart_data(bundle, analysis, summary)


def _png_size(png: bytes) -> tuple[int, int]:
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


@pytest.mark.parametrize("fault", FAULT_TYPES)
def test_every_fault_type_gets_a_chart_of_its_root_cause_around_the_onset(
    fault: str, tmp_path: Path
) -> None:
    scenario = generate_scenario(seed=11 + FAULT_TYPES.index(fault), fault=fault)
    data = _chart(scenario.bundle, tmp_path)
    assert data is not None
    cause = data.series[0]
    assert cause.role == "cause" and cause.service == data.root_cause
    assert all(s.role == "alert" for s in data.series[1:]) and len(data.series) <= 2
    for s in data.series:
        assert s.onset is not None and s.times[0] < s.onset < s.times[-1]
        assert s.times == sorted(s.times) and len(s.times) == len(s.values) <= 480
        low, high = s.band
        assert low <= s.level <= high and s.spread >= 0
    if data.change is not None:  # the summary's own suspect change, before the cause's onset
        assert data.change.service == data.root_cause
        assert cause.onset is not None and data.change.at <= cause.onset
    assert ChartData.model_validate_json(data.model_dump_json()) == data  # as kept in Redis
    png = render_chart(data)
    width, height = _png_size(png)
    assert width == 960 and 300 <= height <= 700
    assert data.root_cause in title_of(data) and data.root_cause in alt_text(data)
    assert len(alt_text(data)) <= 1000


def test_a_deploy_shows_as_the_suspect_change(tmp_path: Path) -> None:
    scenario = generate_scenario(seed=11, fault="bad-deploy")
    data = _chart(scenario.bundle, tmp_path)
    assert data is not None and data.change is not None
    assert data.change.kind == "deploy" and data.change.id == scenario.truth.change_id
    assert data.change.id in alt_text(data)
    assert data.filename == f"incident-copilot-{data.investigation_id}.png"


def test_no_root_cause_no_chart(tmp_path: Path) -> None:
    scenario = generate_scenario(seed=12, fault="db-saturation")
    assert _chart(scenario.bundle, tmp_path, no_root=True) is None


def test_the_manifest_asks_to_upload_files() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert "files:write" in manifest["oauth_config"]["scopes"]["bot"]
