"""Root-cause accuracy on generated incidents, side by side with two published-style baselines.

    python bench/rca_accuracy.py [--seeds 40] [--workers 2]

Two seed sets: a development set (the one the engine was looked at against) and a held-out set
never used while building it. Each seed gives one incident of every fault type plus one quiet
period, on companies of 30 to 300 services. Printed per fault type: top-1, top-3, how often a
team was tagged, notify precision (the tagged team is the true owner), and false tags on quiet
periods, for:

- engine:    investigators.rca.rank
- robust-z:  graph-free ranking by the largest robust z of any series (the BARO / N-Sigma family:
             median and IQR of the normal period, max deviation after it), tagging the top
             service's team whenever anything is anomalous;
- traversal: anomalous services (same robust z, >= 3 IQR) with no anomalous dependency, ranked
             by that z, then the rest; tags the top one's team.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from investigators.bundle import Bundle
from investigators.rca import rank
from sandbox.scenarios import FAULT_TYPES, QUIET, generate_scenario

DEV_SEEDS = 1000
HOLDOUT_SEEDS = 5000
SIZES = (30, 60, 120, 300)
METHODS = ("engine", "robust-z", "traversal")
TARGETS = {"top1": 0.90, "top3": 0.98, "precision": 0.97}


def baro_scores(bundle: Bundle) -> dict[str, float]:
    """Per service, the largest (max - median) / IQR of any series after the normal period."""
    cut = bundle.incident.started_at - 20 * 60
    out: dict[str, float] = defaultdict(float)
    for m in bundle.metrics:
        before = m.values[(m.times < cut) & ~np.isnan(m.values)]
        after = m.values[(m.times >= cut) & ~np.isnan(m.values)]
        if before.size < 3 or after.size == 0:
            continue
        q1, med, q3 = np.percentile(before, [25, 50, 75])
        iqr = max(q3 - q1, 1e-9 + 0.01 * abs(med))
        score = float(np.max(np.abs(after - med)) / iqr)
        out[m.service] = max(out[m.service], score)
    return dict(out)


def baseline_rankings(bundle: Bundle) -> dict[str, tuple[list[str], str | None]]:
    """Rankings and tagged team of the two baselines."""
    scores = baro_scores(bundle)
    teams = {s.name: s.team for s in bundle.services}
    deps = {s.name: s.depends_on for s in bundle.services}
    by_z = sorted(scores, key=lambda n: -scores[n])
    anomalous = {n for n, z in scores.items() if z >= 3.0}
    roots = [n for n in by_z if n in anomalous and not any(d in anomalous for d in deps[n])]
    traversal = roots + [n for n in by_z if n not in roots]
    z_team = teams[by_z[0]] if by_z and scores[by_z[0]] >= 3.0 else None
    t_team = teams[traversal[0]] if roots else None
    return {"robust-z": (by_z, z_team), "traversal": (traversal, t_team)}


@dataclass
class Tally:
    """Counts for one method and one fault type."""

    n: int = 0
    top1: int = 0
    top3: int = 0
    tagged: int = 0
    right_tags: int = 0
    ranks: list[float] = field(default_factory=list)


def run_one(job: tuple[int, str]) -> tuple[str, dict[str, tuple[int, int, bool, bool]]]:
    """One scenario: for each method, (top1, top3, tagged, tagged the right team)."""
    seed, fault = job
    size = SIZES[seed % len(SIZES)]
    scenario = generate_scenario(seed=seed, services=size, fault=None if fault == QUIET else fault)
    truth = scenario.truth
    result = rank(scenario.bundle)
    rankings = {
        "engine": (
            [r.service for r in result.ranking],
            result.notify.team if result.notify else None,
        ),
        **baseline_rankings(scenario.bundle),
    }
    out = {}
    for method, (names, team) in rankings.items():
        out[method] = (
            int(truth.root is not None and names[:1] == [truth.root]),
            int(truth.root is not None and truth.root in names[:3]),
            team is not None,
            team is not None and team == truth.team,
        )
    return fault, out


def evaluate(first_seed: int, count: int, workers: int) -> dict[str, dict[str, Tally]]:
    """Tallies per method and fault type for one seed set."""
    jobs = [(s, f) for s in range(first_seed, first_seed + count) for f in (*FAULT_TYPES, QUIET)]
    tallies: dict[str, dict[str, Tally]] = {m: defaultdict(Tally) for m in METHODS}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for fault, per_method in pool.map(run_one, jobs, chunksize=4):
            for method, (top1, top3, tagged, right) in per_method.items():
                t = tallies[method][fault]
                t.n += 1
                t.top1 += top1
                t.top3 += top3
                t.tagged += tagged
                t.right_tags += right
    return tallies


def _pct(a: int, b: int) -> str:
    return f"{a / b:.2f}" if b else "  - "


def report(name: str, tallies: dict[str, dict[str, Tally]]) -> dict[str, float]:
    """Print one table; return the engine's overall figures."""
    print(f"\n== {name} ==")
    print(
        f"{'fault':<16} {'method':<10} {'n':>4} {'top1':>5} {'top3':>5} {'tagged':>6} "
        f"{'precision':>9} {'quiet tags':>10}"
    )
    overall: dict[str, dict[str, int]] = {m: defaultdict(int) for m in METHODS}
    for fault in (*FAULT_TYPES, QUIET):
        for method in METHODS:
            t = tallies[method][fault]
            o = overall[method]
            if fault == QUIET:
                print(
                    f"{fault:<16} {method:<10} {t.n:>4} {'':>5} {'':>5} {_pct(t.tagged, t.n):>6} "
                    f"{'':>9} {t.tagged:>10}"
                )
                o["quiet_tags"] += t.tagged
                continue
            print(
                f"{fault:<16} {method:<10} {t.n:>4} {_pct(t.top1, t.n):>5} "
                f"{_pct(t.top3, t.n):>5} {_pct(t.tagged, t.n):>6} "
                f"{_pct(t.right_tags, t.tagged):>9} {'':>10}"
            )
            for key, value in (
                ("n", t.n),
                ("top1", t.top1),
                ("top3", t.top3),
                ("tagged", t.tagged),
                ("right", t.right_tags),
            ):
                o[key] += value
    for method in METHODS:
        o = overall[method]
        print(
            f"{'all faults':<16} {method:<10} {o['n']:>4} {_pct(o['top1'], o['n']):>5} "
            f"{_pct(o['top3'], o['n']):>5} {_pct(o['tagged'], o['n']):>6} "
            f"{_pct(o['right'], o['tagged']):>9} {o['quiet_tags']:>10}"
        )
    e = overall["engine"]
    figures = {
        "top1": e["top1"] / e["n"],
        "top3": e["top3"] / e["n"],
        "precision": e["right"] / e["tagged"] if e["tagged"] else 1.0,
        "tagged": e["tagged"] / e["n"],
        "quiet_tags": float(e["quiet_tags"]),
    }
    ahead = all(
        tallies["engine"][f].top1 > max(tallies[b][f].top1 for b in METHODS[1:])
        for f in FAULT_TYPES
    )
    figures["ahead"] = float(ahead)
    return figures


def main() -> int:
    """Run both seed sets and print the tables and one summary line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=40, help="seeds per set (x7 scenarios)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--holdout-from", type=int, default=HOLDOUT_SEEDS, help="first seed of the held-out set"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    results = {}
    for name, first in (("development seeds", DEV_SEEDS), ("held-out seeds", args.holdout_from)):
        results[name] = report(
            f"{name} {first}..{first + args.seeds - 1}", evaluate(first, args.seeds, args.workers)
        )
    elapsed = time.perf_counter() - started
    ok = all(
        f["top1"] >= TARGETS["top1"]
        and f["top3"] >= TARGETS["top3"]
        and f["precision"] >= TARGETS["precision"]
        and f["quiet_tags"] == 0
        and f["ahead"]
        for f in results.values()
    )
    dev, held = results["development seeds"], results["held-out seeds"]
    print(
        f"\nrca accuracy dev/held-out ({args.seeds * len(FAULT_TYPES)} incidents + {args.seeds} "
        f"quiet each, {elapsed:.0f}s): top-1 {dev['top1']:.3f}/{held['top1']:.3f} "
        "(target >= 0.90), "
        f"top-3 {dev['top3']:.3f}/{held['top3']:.3f} (>= 0.98), notify precision "
        f"{dev['precision']:.3f}/{held['precision']:.3f} (>= 0.97) tagging "
        f"{dev['tagged']:.0%}/{held['tagged']:.0%}, quiet false tags "
        f"{dev['quiet_tags']:.0f}/{held['quiet_tags']:.0f} (0), ahead of both baselines on every "
        f"fault type: {'yes' if dev['ahead'] and held['ahead'] else 'no'} -> "
        f"{'PASS' if ok else 'FAIL'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
