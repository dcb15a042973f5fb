"""Benchmark: how long the summary's chart takes to render, per fault type.

For each fault type, a sandbox incident is generated, ranked and summarised as the pipeline
does (``analyse`` then ``build_summary``, then the chart's data as ``finalize_step`` keeps it),
and the chart rendered ``--repeat`` times in this process (:func:`bot.chart.render_chart`).
Printed: the import cost of the plotting code (in fresh interpreters: what it adds to a bot
process, and from nothing), then per fault type the median and worst render time, the median
CPU time and the PNG's size, and one summary line against the 300 ms target (the worst median
wall time, with the load: on a busy machine wall time runs well above CPU time). ``--out DIR``
keeps one PNG per fault type.

    .venv/bin/python bench/chart.py [--repeat 7] [--seed 11] [--out /tmp/charts]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.chart import render_chart  # noqa: E402
from investigators.bundle import Bundle  # noqa: E402
from investigators.catalog import load_catalog  # noqa: E402
from investigators.pipeline.chartdata import ChartData, chart_data  # noqa: E402
from investigators.pipeline.investigation import IncidentRequest, make_plan  # noqa: E402
from investigators.pipeline.summary import build_summary  # noqa: E402
from investigators.rca import analyse  # noqa: E402
from sandbox.scenarios import FAULT_TYPES, generate_scenario  # noqa: E402
from sandbox.world import write_catalog  # noqa: E402

TARGET = 0.300


def scenario_chart(bundle: Bundle, workdir: Path) -> ChartData | None:
    """The chart's data of one bundle, made as the pipeline makes it."""
    catalog = load_catalog(write_catalog(bundle, workdir / "services.yaml"))
    request = IncidentRequest(
        incident_id=bundle.incident.id,
        started_at=bundle.incident.started_at,
        until=max(float(m.times[-1]) for m in bundle.metrics if m.times.size),
        services=list(bundle.incident.symptom_services),
        title=bundle.incident.title,
    )
    plan = make_plan(
        request, catalog=catalog, sources=[], deadline=60, baseline=3 * 3600, lookahead=3600
    )
    analysis = analyse(bundle)
    summary = build_summary(
        plan,
        catalog=catalog,
        bundle=bundle,
        analysis=analysis,
        results={},
        finished_by="complete",
    )
    return chart_data(bundle, analysis, summary)


def import_seconds(first: str = "") -> float:
    """Seconds to import the renderer in a fresh interpreter, after importing ``first``."""
    code = (
        f"import time; {first + ';' if first else ''} t = time.perf_counter(); import bot.chart; "
        "print(time.perf_counter() - t)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    return float(done.stdout.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", type=Path, default=None, help="keep one PNG per fault type here")
    args = parser.parse_args()
    # The bot imports the pipeline anyway: what the chart adds to it is matplotlib.
    alone, added = (
        import_seconds(),
        import_seconds("import bot.blocks, bot.dedupe, investigators.pipeline, slack_bolt"),
    )
    print(
        f"import bot.chart: {added * 1000:.0f} ms in a bot process (matplotlib), "
        f"{alone * 1000:.0f} ms in a fresh interpreter (the pipeline package included)"
    )
    medians: dict[str, float] = {}
    cpu_medians: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n, fault in enumerate(FAULT_TYPES):
            scenario = generate_scenario(seed=args.seed + n, fault=fault)
            data = scenario_chart(scenario.bundle, Path(tmp))
            if data is None:
                print(f"{fault:16s} no chart (no root cause found)")
                continue
            render_chart(data)  # the first render loads fonts: not what an incident waits for
            took, cpu = [], []
            for _ in range(args.repeat):
                started, used = time.perf_counter(), time.process_time()
                png = render_chart(data)
                took.append(time.perf_counter() - started)
                cpu.append(time.process_time() - used)
            medians[fault] = statistics.median(took)
            cpu_medians[fault] = statistics.median(cpu)
            points = sum(len(s.times) for s in data.series)
            print(
                f"{fault:16s} median {medians[fault] * 1000:6.1f} ms  worst "
                f"{max(took) * 1000:6.1f} ms  cpu {cpu_medians[fault] * 1000:6.1f} ms  "
                f"{len(png) / 1024:5.1f} KiB  "
                f"{len(data.series)} panels, {points} points, change "
                f"{'yes' if data.change else 'no'}"
            )
            if args.out is not None:
                args.out.mkdir(parents=True, exist_ok=True)
                (args.out / f"{fault}.png").write_bytes(png)
    if not medians:
        print("chart render: no chart made; FAIL")
        return 1
    worst = max(medians, key=lambda k: medians[k])
    verdict = "ok" if medians[worst] < TARGET else "FAIL"
    load = os.getloadavg()[0]
    print(
        f"chart render: worst median {medians[worst] * 1000:.0f} ms wall, "
        f"{cpu_medians[worst] * 1000:.0f} ms cpu ({worst}) over {len(medians)} fault types, "
        f"load {load:.1f} on {os.cpu_count()} cpus, target {TARGET * 1000:.0f} ms: {verdict}"
    )
    return 0 if verdict == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
