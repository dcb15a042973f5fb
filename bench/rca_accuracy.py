"""Root-cause accuracy on PetShop and on generated incidents, next to two published baselines.

    .venv/bin/python bench/rca_accuracy.py [--sets petshop,generated] [--shapes as-is,renamed]
        [--seeds 6] [--workers 2] [--quick] [--petshop DIR] [--holdout-from 5000]

Methods: ``engine`` (:func:`investigators.rca.rank`, the only call into the engine), ``baro``
(BARO's RobustScorer) and ``traversal`` (PetShop's anomaly traversal), both from
``bench/baselines.py``.

Sets, one row per (set, shape):

- ``petshop``: the public PetShop dataset (real AWS telemetry, 52 injected issues with their
  root causes, and quiet windows cut from its normal data; ``bench/petshop.py``) in each of its
  shapes (``as-is``, ``renamed``, ``short``, ``hour``). Without the dataset (``--petshop DIR``,
  by default ``shared/datasets/petshop`` beside the clone) these rows are skipped.
- ``generated-dev`` and ``generated-held-out``: ``sandbox.scenarios`` companies of 30 to 300
  services; per seed one incident of every fault type and one quiet period; the development seeds
  (from 1000, the ones the engine was looked at against) and held-out seeds (from 5000, never
  used while building it), in each of the generator's shapes (``scenarios.SHAPES`` when it has
  them, else the one standard shape).

Per row and method: incidents, top-1 and top-3 (the true root first, or among the first three),
tag rate (incidents where a team was tagged), notify precision (the tagged team owns the root,
over tagged incidents), quiet cases and quiet tags (quiet cases where a team was tagged). An
engine call that raises counts as an empty answer and is reported. Then the engine's
calibration (of its top-1 answers at each confidence, how many were right, per set), the wall
time of ``rank()`` per set, the targets, and one summary line with PASS or FAIL (exit 1).

Targets: on every row the engine's top-1 and top-3 at least the better baseline's; PetShop
as-is top-1 >= 0.85, top-3 >= 0.97 and no tag on at least 50 quiet windows; every generated row
top-1 >= 0.90, top-3 >= 0.98, notify precision >= 0.97 and no quiet tag; per set, the engine's
high-confidence answers right >= 95% of the time, its medium ones >= 75%.

Seeds: 78 per seed set, shared out among the generator's shapes (6 each with its 13 shapes;
78 with one). The defaults then run 1,588 cases (496 PetShop, 1,092 generated) in about 5.5
minutes on two cores (7.5 minutes of CPU); ``--quick`` (2 seeds, 860 cases) in about 2.5.
"""

from __future__ import annotations

import argparse
import inspect
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import baselines  # noqa: E402  (beside this file)
import petshop  # noqa: E402  (beside this file)

import sandbox.scenarios as scenarios  # noqa: E402
from investigators.bundle import Bundle  # noqa: E402
from investigators.rca import rank  # noqa: E402

DEV_SEEDS = 1000
HOLDOUT_SEEDS = 5000
SIZES = (30, 60, 120, 300)
METHODS = ("engine", "baro", "traversal")
CONFIDENCES = ("high", "medium", "low")
SEEDS_ACROSS_SHAPES = 78  # default seeds per seed set, shared out among the generator's shapes
QUICK_SEEDS = 2

PETSHOP_TOP1 = 0.85
PETSHOP_TOP3 = 0.97
PETSHOP_QUIET_UNTAGGED = 50
GENERATED_TOP1 = 0.90
GENERATED_TOP3 = 0.98
GENERATED_PRECISION = 0.97
CALIBRATION = {"high": 0.95, "medium": 0.75}


def _generator_takes_shape() -> bool:
    return hasattr(scenarios, "SHAPES") and (
        "shape" in inspect.signature(scenarios.generate_scenario).parameters
    )


def generator_shapes() -> tuple[str, ...]:
    """The generator's shapes; one, "standard", before it had any."""
    return tuple(scenarios.SHAPES) if _generator_takes_shape() else ("standard",)


def default_seeds() -> int:
    """Seeds per seed set and shape: a fixed total shared out, so the run stays near 10 min."""
    return max(QUICK_SEEDS, SEEDS_ACROSS_SHAPES // len(generator_shapes()))


# ---------------------------------------------------------------------------------------------
# One case


@dataclass(frozen=True, slots=True)
class Answer:
    """How one method did on one case."""

    top1: bool
    top3: bool
    tagged: bool
    right: bool  # tagged the true root's team


@dataclass(frozen=True, slots=True)
class Outcome:
    """Every method's answer on one case, with the engine's confidence, time and error."""

    set_name: str
    shape: str
    case: str
    quiet: bool
    answers: dict[str, Answer]
    confidence: str | None  # of the engine's top-1
    rank_seconds: float
    error: str | None  # the engine's exception, if it raised


def _grade(names: list[str], team: str | None, root: str | None, truth_team: str | None) -> Answer:
    return Answer(
        top1=root is not None and names[:1] == [root],
        top3=root is not None and root in names[:3],
        tagged=team is not None,
        right=team is not None and team == truth_team,
    )


def evaluate(
    bundle: Bundle, *, set_name: str, shape: str, case: str, root: str | None, team: str | None
) -> Outcome:
    """Run the engine and both baselines on one bundle and grade them against the truth."""
    answers: dict[str, Answer] = {}
    confidence = error = None
    started = time.perf_counter()
    try:
        result = rank(bundle)
    except Exception as exc:  # a crash is an empty answer, reported, not the end of the run
        seconds = time.perf_counter() - started
        error = f"{type(exc).__name__}: {exc}"
        answers["engine"] = _grade([], None, root, team)
    else:
        seconds = time.perf_counter() - started
        names = [r.service for r in result.ranking]
        confidence = result.ranking[0].confidence if result.ranking else None
        tagged = result.notify.team if result.notify else None
        answers["engine"] = _grade(names, tagged, root, team)
    for method, baseline in baselines.BASELINES.items():
        answer = baseline(bundle)
        answers[method] = _grade(list(answer.ranking), answer.team, root, team)
    return Outcome(
        set_name=set_name,
        shape=shape,
        case=case,
        quiet=root is None,
        answers=answers,
        confidence=confidence,
        rank_seconds=seconds,
        error=error,
    )


@dataclass(frozen=True, slots=True)
class PetshopJob:
    """A PetShop case, by id: each worker reads the dataset once and builds its cases."""

    root: str
    shape: str
    case_id: str


@dataclass(frozen=True, slots=True)
class GeneratedJob:
    """A generated scenario: seed set, seed, fault type (or quiet) and generator shape."""

    set_name: str
    shape: str
    seed: int
    fault: str


def run_job(job: PetshopJob | GeneratedJob) -> Outcome:
    """Build one case and evaluate it (in a worker process)."""
    if isinstance(job, PetshopJob):
        case = petshop.petshop_case(Path(job.root), job.shape, job.case_id)
        return evaluate(
            case.bundle,
            set_name=case.set_name,
            shape=job.shape,
            case=job.case_id,
            root=case.root,
            team=case.team,
        )
    size = SIZES[job.seed % len(SIZES)]
    fault = None if job.fault == scenarios.QUIET else job.fault
    if _generator_takes_shape():
        scenario = scenarios.generate_scenario(
            seed=job.seed, services=size, fault=fault, shape=job.shape
        )
    else:  # the generator before it had shapes
        scenario = scenarios.generate_scenario(seed=job.seed, services=size, fault=fault)
    return evaluate(
        scenario.bundle,
        set_name=job.set_name,
        shape=job.shape,
        case=f"seed {job.seed} {job.fault}",
        root=scenario.truth.root,
        team=scenario.truth.team,
    )


def run_all(jobs: list[PetshopJob | GeneratedJob], workers: int) -> Iterator[Outcome]:
    """Outcomes as they finish, with a bounded number of jobs in flight."""
    pending: set[Future[Outcome]] = set()
    queue = iter(jobs)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        while True:
            for job in queue:
                pending.add(pool.submit(run_job, job))
                if len(pending) >= 4 * workers:
                    break
            if not pending:
                return
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()


# ---------------------------------------------------------------------------------------------
# Tallies


@dataclass
class Tally:
    """Counts for one method on one row."""

    n: int = 0
    top1: int = 0
    top3: int = 0
    tagged: int = 0
    right: int = 0
    quiet: int = 0
    quiet_tags: int = 0

    def add(self, answer: Answer, *, quiet: bool) -> None:
        """Count one case."""
        if quiet:
            self.quiet += 1
            self.quiet_tags += answer.tagged
            return
        self.n += 1
        self.top1 += answer.top1
        self.top3 += answer.top3
        self.tagged += answer.tagged
        self.right += answer.right

    def rate(self, what: str) -> float | None:
        """top1, top3, tagged (of incidents) or precision (of tagged); None without a base."""
        if what == "precision":
            return self.right / self.tagged if self.tagged else None
        return getattr(self, what) / self.n if self.n else None


@dataclass
class Results:
    """Everything counted: per row and method, calibration and timings per set, errors."""

    rows: dict[tuple[str, str], dict[str, Tally]] = field(default_factory=dict)
    calibration: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    seconds: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[tuple[str, str], list[str]] = field(default_factory=lambda: defaultdict(list))

    def add(self, o: Outcome) -> None:
        """Count one outcome."""
        row = self.rows.setdefault((o.set_name, o.shape), {m: Tally() for m in METHODS})
        for method, answer in o.answers.items():
            row[method].add(answer, quiet=o.quiet)
        self.seconds[o.set_name].append(o.rank_seconds)
        if o.error is not None:
            self.errors[(o.set_name, o.shape)].append(f"{o.case}: {o.error}")
        if not o.quiet and o.confidence is not None:
            levels = self.calibration.setdefault(o.set_name, {c: [0, 0] for c in CONFIDENCES})
            level = levels.setdefault(o.confidence, [0, 0])
            level[0] += 1
            level[1] += o.answers["engine"].top1


def _f(value: float | None, digits: int = 2) -> str:
    return "   -" if value is None else f"{value:.{digits}f}"


def print_table(results: Results, order: list[tuple[str, str]]) -> None:
    """One line per row and method."""
    print(
        f"\n{'set':<19} {'shape':<15} {'method':<9} {'n':>4} {'top1':>5} {'top3':>5} "
        f"{'tagged':>6} {'precision':>9} {'quiet':>5} {'quiet tags':>10} {'errors':>6}"
    )
    for key in order:
        row = results.rows.get(key)
        if row is None:
            continue
        for method in METHODS:
            t = row[method]
            errors = len(results.errors.get(key, [])) if method == "engine" else 0
            print(
                f"{key[0]:<19} {key[1]:<15} {method:<9} {t.n:>4} {_f(t.rate('top1')):>5} "
                f"{_f(t.rate('top3')):>5} {_f(t.rate('tagged')):>6} "
                f"{_f(t.rate('precision')):>9} {t.quiet:>5} {t.quiet_tags:>10} "
                f"{errors if method == 'engine' else '':>6}"
            )
    for key, messages in results.errors.items():
        print(f"  engine raised on {len(messages)} {key[0]} {key[1]} cases, first: {messages[0]}")


def print_calibration(results: Results, order: list[tuple[str, str]]) -> None:
    """Of the engine's top-1 answers at each confidence, how many named the true root."""
    print("\nengine calibration (top-1 right / answers, incidents only):")
    for set_name in dict.fromkeys(k[0] for k in order):
        levels = results.calibration.get(set_name, {})
        parts = [
            f"{level} {right}/{n}" + (f" = {right / n:.2f}" if n else "")
            for level, (n, right) in levels.items()
        ]
        print(f"  {set_name:<19} " + ", ".join(parts))


def print_timing(results: Results, order: list[tuple[str, str]]) -> None:
    """Wall time of rank() per set."""
    parts = []
    for s in dict.fromkeys(k[0] for k in order):
        if v := results.seconds.get(s):
            parts.append(
                f"{s} p50 {statistics.median(v) * 1000:.0f} ms max {max(v) * 1000:.0f} ms "
                f"(n={len(v)})"
            )
    print("\nrank() wall time: " + "; ".join(parts))


# ---------------------------------------------------------------------------------------------
# Targets


@dataclass(frozen=True, slots=True)
class Check:
    """One target and whether it was met."""

    what: str
    met: bool


def _at_least(value: float | None, target: float) -> bool:
    return value is not None and value >= target - 1e-12


def checks(results: Results, order: list[tuple[str, str]]) -> list[Check]:
    """Every target that applies to the rows that ran."""
    out: list[Check] = []
    for set_name, shape in order:
        row = results.rows.get((set_name, shape))
        if row is None:
            continue
        where = f"{set_name} {shape}"
        engine = row["engine"]
        for what in ("top1", "top3"):
            best = max((row[b].rate(what) or 0.0) for b in METHODS[1:])
            mine = engine.rate(what) or 0.0
            out.append(
                Check(
                    f"{where}: engine {what} {mine:.3f} >= best baseline {best:.3f}", mine >= best
                )
            )
        if set_name == petshop.SET_NAME and shape == "as-is":
            untagged = engine.quiet - engine.quiet_tags
            out += [
                Check(
                    f"{where}: top1 {_f(engine.rate('top1'), 3)} >= {PETSHOP_TOP1}",
                    _at_least(engine.rate("top1"), PETSHOP_TOP1),
                ),
                Check(
                    f"{where}: top3 {_f(engine.rate('top3'), 3)} >= {PETSHOP_TOP3}",
                    _at_least(engine.rate("top3"), PETSHOP_TOP3),
                ),
                Check(
                    f"{where}: no tag on {untagged} of {engine.quiet} quiet windows "
                    f"(>= {PETSHOP_QUIET_UNTAGGED})",
                    untagged >= PETSHOP_QUIET_UNTAGGED,
                ),
            ]
        if set_name.startswith("generated"):
            precision = engine.rate("precision")
            out += [
                Check(
                    f"{where}: top1 {_f(engine.rate('top1'), 3)} >= {GENERATED_TOP1}",
                    _at_least(engine.rate("top1"), GENERATED_TOP1),
                ),
                Check(
                    f"{where}: top3 {_f(engine.rate('top3'), 3)} >= {GENERATED_TOP3}",
                    _at_least(engine.rate("top3"), GENERATED_TOP3),
                ),
                Check(
                    f"{where}: notify precision {_f(precision, 3)} >= {GENERATED_PRECISION}",
                    precision is None or _at_least(precision, GENERATED_PRECISION),
                ),
                Check(f"{where}: {engine.quiet_tags} quiet tags (0)", engine.quiet_tags == 0),
            ]
    for set_name in dict.fromkeys(k[0] for k in order):
        levels = results.calibration.get(set_name, {})
        for level, target in CALIBRATION.items():
            n, right = levels.get(level, [0, 0])
            value = right / n if n else None
            out.append(
                Check(
                    f"{set_name}: engine {level}-confidence top-1 precision {_f(value, 3)} "
                    f"({right}/{n}) >= {target}",
                    value is None or value >= target,
                )
            )
    return out


# ---------------------------------------------------------------------------------------------
# Command line


def _jobs(
    args: argparse.Namespace, sets: list[str], shapes: list[str] | None, seeds: int
) -> tuple[list[PetshopJob | GeneratedJob], list[tuple[str, str]]]:
    jobs: list[PetshopJob | GeneratedJob] = []
    order: list[tuple[str, str]] = []
    if "petshop" in sets:
        if petshop.available(args.petshop):
            root = str(args.petshop.resolve())
            ids = petshop.petshop_case_ids(args.petshop)
            for shape in petshop.SHAPES:
                if shapes is None or shape in shapes:
                    order.append((petshop.SET_NAME, shape))
                    jobs += [PetshopJob(root, shape, case_id) for case_id in ids]
        else:
            print(
                f"petshop: no dataset at {args.petshop} (give --petshop DIR); "
                "skipping the petshop rows"
            )
    if "generated" in sets:
        kinds = (*scenarios.FAULT_TYPES, scenarios.QUIET)
        for set_name, first in (
            ("generated-dev", DEV_SEEDS),
            ("generated-held-out", args.holdout_from),
        ):
            for shape in generator_shapes():
                if shapes is None or shape in shapes:
                    order.append((set_name, shape))
                    jobs += [
                        GeneratedJob(set_name, shape, seed, fault)
                        for seed in range(first, first + seeds)
                        for fault in kinds
                    ]
    return jobs, order


def main(argv: list[str] | None = None) -> int:
    """Run the sets, print the tables, the targets and one summary line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="petshop,generated", help="petshop, generated or both")
    parser.add_argument("--shapes", default=None, help="only these shapes (comma-separated)")
    parser.add_argument(
        "--seeds",
        type=int,
        default=None,
        help=f"seeds per generated seed set and shape, x7 scenarios (default {default_seeds()})",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SEEDS} seeds per set")
    parser.add_argument("--petshop", type=Path, default=petshop.DEFAULT_ROOT)
    parser.add_argument("--holdout-from", type=int, default=HOLDOUT_SEEDS)
    args = parser.parse_args(argv)

    sets = [s for s in args.sets.split(",") if s]
    if unknown := [s for s in sets if s not in ("petshop", "generated")]:
        parser.error(f"unknown set {unknown[0]!r}: use petshop, generated")
    shapes = [s for s in args.shapes.split(",") if s] if args.shapes else None
    known = set(petshop.SHAPES) | set(generator_shapes())
    if shapes and (unknown := [s for s in shapes if s not in known]):
        parser.error(f"unknown shape {unknown[0]!r}: use some of {', '.join(sorted(known))}")

    started = time.perf_counter()
    seeds = args.seeds or (QUICK_SEEDS if args.quick else default_seeds())
    jobs, order = _jobs(args, sets, shapes, seeds)
    if not jobs:
        print("rca accuracy: nothing to run -> FAIL")
        return 1
    print(
        f"{len(jobs)} cases ({seeds} seeds per generated seed set and shape), "
        f"{args.workers} workers"
    )
    results = Results()
    for outcome in run_all(jobs, args.workers):
        results.add(outcome)
    elapsed = time.perf_counter() - started

    print_table(results, order)
    print_calibration(results, order)
    print_timing(results, order)
    found = checks(results, order)
    print("\ntargets:")
    for c in found:
        print(f"  [{'met' if c.met else 'missed'}] {c.what}")
    missed = [c for c in found if not c.met]
    skipped = "petshop" in sets and not any(k[0] == petshop.SET_NAME for k in order)
    print(
        f"\nrca accuracy: {len(found) - len(missed)}/{len(found)} targets met over "
        f"{len(jobs)} cases in {elapsed:.0f}s{', petshop skipped' if skipped else ''} -> "
        f"{'FAIL' if missed else 'PASS'}"
    )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
