"""Wall time of ``incident-copilot rca`` on a 50-service bundle, start-up included.

    python bench/rca_cli.py [--runs 15] [--services 50]

A generated company of 50 services with a bad deploy, as ``incident-copilot scenario`` makes
it (six hours at 10 s, 1 min and 5 min resolutions, about 2.8 MB), is written to
``bench/out/cli-N.json`` once. Then the installed console script runs on it in a fresh process
``--runs`` times, as a user would run it: with Python's bytecode cache written (one warm-up run
first, with ``PYTHONDONTWRITEBYTECODE`` unset for the child). Printed: the median and slowest
wall time of the whole command, and, for where the time goes, the median of a bare interpreter,
of importing the command's modules, and of the rank alone. Target (issue 12): the median under
0.4 s.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "out"
#: ``rca`` on a 50-service bundle, start-up included, under this many seconds (issue 12).
TARGET_SECONDS = 0.4

_RANK_ONLY = """
import sys, time
from investigators.bundle import load_bundle
from investigators.rca import rank
bundle = load_bundle(sys.argv[1])
t = time.perf_counter()
rank(bundle)
print(time.perf_counter() - t)
"""


def ensure_bundle(services: int) -> Path:
    """Write the bundle once, keyed on the generator's source so it is never stale."""
    from investigators.bundle import write_bundle
    from sandbox.scenarios import generate_scenario

    made_by = b"".join((ROOT / "sandbox" / f).read_bytes() for f in ("company.py", "scenarios.py"))
    path = OUT / f"cli-{services}-{hashlib.sha256(made_by).hexdigest()[:10]}.json"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        scenario = generate_scenario(seed=7, services=services, fault="bad-deploy")
        write_bundle(scenario.bundle, path)
    return path


def _wall(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env, cwd=ROOT)
    return time.perf_counter() - started


def main() -> int:
    """Print the timings and one summary line against the target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--services", type=int, default=50)
    args = parser.parse_args()
    path = ensure_bundle(args.services)
    script = Path(sys.executable).with_name("incident-copilot")
    if not script.exists():
        print(f"rca cli: {script} not found; install the project first (see README)")
        return 1
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    command = [str(script), "rca", str(path)]
    _wall(command, env)  # writes the bytecode cache, as the first run after an install does
    whole = [_wall(command, env) for _ in range(args.runs)]
    bare = [_wall([sys.executable, "-c", "pass"], env) for _ in range(args.runs)]
    imports = [_wall([sys.executable, "-c", "import bot.cli"], env) for _ in range(args.runs)]
    ranks = [
        float(
            subprocess.run(
                [sys.executable, "-c", _RANK_ONLY, str(path)],
                check=True,
                capture_output=True,
                text=True,
                env=env,
                cwd=ROOT,
            ).stdout
        )
        for _ in range(5)
    ]
    median = statistics.median(whole)
    print(f"bundle: {path.name}, {path.stat().st_size / 2**20:.1f} MB, {args.services} services")
    print(f"  python alone      median {statistics.median(bare):.3f} s")
    print(f"  import bot.cli    median {statistics.median(imports):.3f} s")
    print(f"  rank() alone      median {statistics.median(ranks):.3f} s")
    print(f"  rca, whole        median {median:.3f} s, slowest {max(whole):.3f} s")
    load = os.getloadavg()[0]
    ok = median < TARGET_SECONDS
    print(
        f"rca cli: {args.services} services in {median:.3f} s median over {args.runs} runs, "
        f"start-up included (target < {TARGET_SECONDS:g} s; load {load:.2f}) -> "
        f"{'PASS' if ok else 'FAIL'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
