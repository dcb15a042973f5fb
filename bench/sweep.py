"""Benchmark: the proactive health sweep on the sandbox: time to a heads-up, false ones, cost.

One noida-db and one set of stand-ins (Datadog, GitHub, the Elasticsearch proxy) serve the
scenarios in turn: before each, the stand-ins switch to its telemetry and changes in place and
noida-db's logs index is reloaded (up to ``--max-docs`` documents). Sweeps run in this process
(:func:`investigators.pipeline.sweep.sweep_once` on a :class:`MemoryStore`) at chosen moments of
the scenario's timeline, on window boundaries ``--interval`` seconds apart, as RQ's scheduler
would run them. The engine's full ranking of every sweep is kept too (``analyse`` is wrapped, its
result untouched), to show where the true root stood when no heads-up came. Three measurements:

1. Onset to heads-up, per fault type: ``--seeds`` scenarios of each type on ``--services``
   services (8 hours of data; the onset is 30 to 45 minutes before the data ends). Sweeps run
   from ``--lead`` minutes before the onset until a heads-up (an ``open`` action) names the true
   root or the data ends. The delay is the time of the sweep that emitted the first heads-up
   minus the onset; a heads-up needs ``SUSTAINED`` (2) sweeps in a row with high confidence
   in one of them, or one more without, so its floor lies between one and two intervals. Also
   whether that heads-up named the true root and its team, and, when none did, the root's
   place, score and confidence in each sweep after the onset. "missed": no heads-up at all.
2. False heads-ups on quiet estates: ``--quiet-days`` scenarios without a fault, each swept every
   interval over its last 24 hours (144 sweeps at 600 s); every ``open`` is a false heads-up
   (target 0). Also the highest score the ranking reached, and how many tops the suspect gate
   would follow (the top at medium confidence or better and ``investigators.sweep.MIN_SCORE``).
   A 300-service sweep takes 2 to 3 s alone, so a day is about 6 minutes of sweeping: the quiet
   days run in ``--jobs`` processes of their own (each with its own noida-db and stand-ins)
   alongside part 1, which makes the sweeps of both parts slower (about 4.5 s) but the whole
   run shorter.
3. The cost of one sweep of ``--big`` services (a bad deploy in a 4-hour scenario), measured
   alone after parts 1 and 2, in a quiet window before the onset and during the fault: requests
   per stand-in and seconds, without latency and with ``--latency`` seconds added to every
   vendor request. The stand-ins answer from this process, so its seconds include serving.

Then one line against the targets: PASS when the quiet days brought no heads-up and no fault type
was missed entirely. The defaults (2 seeds per fault type, 2 quiet days in 2 processes) take
about 12 minutes on two cores; ``--jobs 0`` sweeps the quiet days in turn (some 19 minutes,
estimated).

    .venv/bin/python bench/sweep.py [--services 300] [--seeds 2] [--quiet-days 2] [--jobs 2]
        [--big 1000] [--latency 0.1] [--lead 60] [--interval 600] [--faults bad-deploy,cpu-hog]
        [--max-docs 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import investigators.pipeline.sweep as pipeline_sweep  # noqa: E402
from bot.settings import pipeline_config  # noqa: E402
from investigators.pipeline import PipelineConfig  # noqa: E402
from investigators.pipeline.store import MemoryStore  # noqa: E402
from investigators.pipeline.sweep import sweep_once  # noqa: E402
from investigators.rca import Analysis, RcaResult, analyse  # noqa: E402
from investigators.sweep import MIN_SCORE, SUSTAINED, Action, SweepRecord  # noqa: E402
from sandbox.children import die_with_parent  # noqa: E402
from sandbox.elastic import replace_logs, running_noida  # noqa: E402
from sandbox.faults import REQUESTS  # noqa: E402
from sandbox.logs import synthesize_logs  # noqa: E402
from sandbox.scenarios import FAULT_TYPES, Scenario, generate_scenario  # noqa: E402
from sandbox.world import Standins, pipeline_env, write_catalog  # noqa: E402

VENDORS = ("datadog", "github", "elastic")
LOGS_INDEX = "logs-sandbox"  # the index load_logs fills
FAULT_HOURS = 8.0
QUIET_HOURS = 26.5  # 24 hours of sweeps, each with its 20-minute window and 2-hour baseline
QUIET_SWEPT = 24 * 3600.0
BIG_HOURS = 4.0  # the 2-hour baseline, the swept windows and the fault fit
FIRST_SEED = 1
QUIET_SEED = 501
BIG_SEED = 901


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _data_end(scenario: Scenario) -> float:
    return max(float(m.times[-1]) for m in scenario.bundle.metrics if m.times.size)


Ranked = tuple[str, float, str]  # service, score, confidence
_LAST_RANKING: list[RcaResult] = []


def _watched_analyse(bundle: object) -> Analysis:
    """The engine's analysis, unchanged, its ranking kept for the benchmark to read after the
    sweep."""
    analysis = analyse(bundle)  # type: ignore[arg-type]
    _LAST_RANKING[:] = [analysis.result]
    return analysis


def watch_rankings() -> None:
    """Let the benchmark see each sweep's full ranking, not only its confident suspects."""
    pipeline_sweep.analyse = _watched_analyse  # type: ignore[attr-defined]


@dataclass(slots=True)
class Sweep:
    """One sweep as the benchmark saw it."""

    at: float
    record: SweepRecord
    actions: list[Action]
    requests: dict[str, int]
    seconds: float
    ranking: list[Ranked] = field(default_factory=list)  # the engine's, best first

    @property
    def opened(self) -> list[Action]:
        return [a for a in self.actions if a.kind == "open"]

    def place(self, service: str) -> tuple[int, Ranked] | None:
        """Where ``service`` stands in the ranking (1 = top), if it is there."""
        for i, entry in enumerate(self.ranking):
            if entry[0] == service:
                return i + 1, entry
        return None


@dataclass(slots=True)
class Detection:
    """One fault scenario: when and whom the heads-ups named."""

    fault: str
    seed: int
    root: str
    team: str
    onset: float
    sweeps: list[Sweep] = field(default_factory=list)

    @property
    def opens(self) -> list[tuple[float, Action]]:
        return [(s.at, a) for s in self.sweeps for a in s.opened]

    @property
    def first(self) -> tuple[float, Action] | None:
        return self.opens[0] if self.opens else None

    @property
    def delay(self) -> float | None:
        """Minutes from the onset to the first heads-up (negative: before the onset)."""
        return None if self.first is None else (self.first[0] - self.onset) / 60

    @property
    def root_named(self) -> float | None:
        """Minutes from the onset to the heads-up naming the root, if one did."""
        found = [at for at, a in self.opens if a.degradation.service == self.root]
        return (found[0] - self.onset) / 60 if found else None

    @property
    def first_suspected(self) -> float | None:
        """Minutes from the onset to the first sweep that had the root among its suspects."""
        found = [s.at for s in self.sweeps if self.root in s.record.suspects]
        return (found[0] - self.onset) / 60 if found else None


class World:
    """One noida-db and one set of stand-ins, switched from scenario to scenario."""

    def __init__(self, noida: str, standins: Standins, tmp: Path, *, max_docs: int) -> None:
        self.noida, self.standins, self.tmp, self.max_docs = noida, standins, tmp, max_docs
        self.loaded = 0
        self.setup_seconds = 0.0
        watch_rankings()

    def serve(self, scenario: Scenario, interval: float) -> PipelineConfig:
        """Serve ``scenario`` and return the sweep's configuration pointing at it."""
        began = time.perf_counter()
        self.loaded += 1
        # A catalog file per scenario: the pipeline caches catalogs by path and mtime.
        catalog = write_catalog(scenario.bundle, self.tmp / f"services-{self.loaded}.yaml")
        self.standins.switch(scenario.bundle)
        documents = synthesize_logs(scenario.bundle, max_docs=self.max_docs, seed=scenario.seed)
        asyncio.run(replace_logs(self.noida, documents, index=LOGS_INDEX))
        tag = f"bench-sweep-{uuid.uuid4().hex[:8]}"
        env = pipeline_env(
            standins=self.standins, bundle=scenario.bundle, catalog=catalog, prefix=tag, queue=tag
        )
        os.environ.update(env)
        self.setup_seconds += time.perf_counter() - began
        return pipeline_config().model_copy(update={"sweep_interval": interval, "deadline": 60.0})

    def latency(self, seconds: float) -> None:
        """Add ``seconds`` to every vendor request."""
        for name in VENDORS:
            self.standins.faults(name).latency = seconds

    def sweep(self, config: PipelineConfig, store: MemoryStore, at: float) -> Sweep:
        """One sweep of the window of ``at``, with the requests each stand-in received."""
        logs = {name: self.standins.apps[name][REQUESTS] for name in VENDORS}
        before = {name: len(log) for name, log in logs.items()}
        _LAST_RANKING.clear()
        began = time.perf_counter()
        done = asyncio.run(sweep_once(config, store, at=at))
        seconds = time.perf_counter() - began
        if done is None:
            raise RuntimeError(f"the window of {at:.0f} was already swept")
        record, actions = done
        requests = {name: len(log) - before[name] for name, log in logs.items()}
        ranked = _LAST_RANKING[0].ranking if _LAST_RANKING else []
        ranking = [(r.service, r.score, r.confidence) for r in ranked]
        return Sweep(at, record, actions, requests, seconds, ranking)


def _minutes(value: float | None) -> str:
    return "-" if value is None else f"{value:+.0f}"


def _entry(entry: Ranked) -> str:
    return f"{entry[1]:.2f} {entry[2]}"


def detect(world: World, scenario: Scenario, *, interval: float, lead: float) -> Detection:
    """Sweep a fault scenario from ``lead`` seconds before its onset until the root is named."""
    truth = scenario.truth
    assert truth.root is not None and truth.team is not None and truth.onset is not None
    config = world.serve(scenario, interval)
    found = Detection(truth.fault, scenario.seed, truth.root, truth.team, truth.onset)
    store = MemoryStore()
    at = (truth.onset // interval) * interval - round(lead / interval) * interval
    end = _data_end(scenario)
    while at <= end:
        found.sweeps.append(world.sweep(config, store, at))
        if found.root_named is not None:
            break
        at += interval
    return found


def _detection_line(d: Detection) -> str:
    first = d.first
    if first is None:
        verdict = "MISSED"
    else:
        named = first[1].degradation
        verdict = (
            f"{'root' if named.service == d.root else 'OTHER ' + named.service}, "
            f"team {'ok' if named.team == d.team else 'WRONG ' + named.team}"
        )
    extra = ""
    others = [a.degradation.service for _, a in d.opens if a.degradation.service != d.root]
    if others:
        extra = f"; other heads-ups: {', '.join(others)}"
    if d.root_named is not None and first is not None and first[1].degradation.service != d.root:
        extra += f"; root named at {_minutes(d.root_named)} min"
    return (
        f"  {d.fault:16s} {d.seed:4d}  {d.root:22s} {d.team:12s} "
        f"{_minutes(d.first_suspected):>9s} {_minutes(d.delay):>8s}  {len(d.sweeps):6d}  "
        f"{verdict}{extra}"
    )


def _trail(d: Detection) -> str:
    """Each sweep from the onset on: where the root stood, for a scenario that went wrong."""
    parts = []
    for s in d.sweeps:
        if s.at < d.onset:
            continue
        found = s.place(d.root)
        where = "root unranked" if found is None else f"root #{found[0]} {_entry(found[1])}"
        if found is None or found[0] != 1:
            top = s.ranking[0] if s.ranking else None
            where += f", top {top[0]} {_entry(top)}" if top else ", nothing ranked"
        acts = ",".join(f"{a.kind}:{a.degradation.service}" for a in s.actions)
        parts.append(f"{(s.at - d.onset) / 60:+.0f}m {where}" + (f" ({acts})" if acts else ""))
    return "      " + "; ".join(parts) if parts else ""


def quiet_day(world: World, scenario: Scenario, *, interval: float) -> list[Sweep]:
    """Sweep a quiet scenario every interval over its last 24 hours."""
    config = world.serve(scenario, interval)
    store = MemoryStore()
    last = (_data_end(scenario) // interval) * interval
    count = round(QUIET_SWEPT / interval)
    return [world.sweep(config, store, last - (count - 1 - n) * interval) for n in range(count)]


def cost(
    world: World, scenario: Scenario, *, interval: float, latency: float
) -> list[tuple[str, float, Sweep]]:
    """One sweep of a big estate, quiet and during a fault, without and with latency."""
    truth = scenario.truth
    assert truth.onset is not None
    config = world.serve(scenario, interval)
    before = (truth.onset // interval) * interval - interval  # a window ending before the onset
    during = (truth.onset // interval + 2) * interval  # its second window after the onset
    world.sweep(config, MemoryStore(), before - 6 * interval)  # warm up: imports, catalog
    found = []
    for label, at in (("quiet window", before), ("during a fault", during)):
        for added in (0.0, latency):
            world.latency(added)
            try:
                found.append((label, added, world.sweep(config, MemoryStore(), at)))
            finally:
                world.latency(0.0)
    return found


def _cost_row(label: str, added: float, done: Sweep) -> str:
    record = done.record
    return (
        f"  {label:15s} {added * 1000:5.0f} ms  "
        + "  ".join(f"{done.requests[n]:5d}" for n in VENDORS)
        + f"  {sum(done.requests.values()):6d}  {done.seconds:6.2f} s  "
        f"{len(done.ranking):4d} ranked, suspects {', '.join(record.suspects) or 'none'}"
        + (f"; missing {', '.join(record.sources_missing)}" if record.sources_missing else "")
    )


def detections(
    world: World, *, services: int, seeds: int, faults: list[str], interval: float, lead: float
) -> list[Detection]:
    """Measurement 1: every fault type on every seed, one line each."""
    print(
        f"\n1. onset to heads-up: {len(faults)} fault types x {seeds} seeds, sweeps from "
        f"{lead / 60:.0f} min before the onset (minutes from the onset)",
        flush=True,
    )
    print(
        f"  {'fault':16s} {'seed':>4s}  {'root':22s} {'team':12s} {'suspected':>9s} "
        f"{'heads-up':>8s}  {'sweeps':>6s}  named"
    )
    found = []
    for fault in faults:
        for seed in range(FIRST_SEED, FIRST_SEED + seeds):
            scenario = generate_scenario(
                seed=seed, services=services, fault=fault, hours=FAULT_HOURS
            )
            d = detect(world, scenario, interval=interval, lead=lead)
            found.append(d)
            print(_detection_line(d), flush=True)
            if (d.first is None or d.first[1].degradation.service != d.root) and _trail(d):
                print(_trail(d), flush=True)
    return found


@dataclass(slots=True)
class QuietDay:
    """A quiet estate's 24 hours of sweeps."""

    seed: int
    end: float  # where its data ends
    sweeps: list[Sweep]
    setup: float = 0.0

    @property
    def opens(self) -> list[tuple[float, Action]]:
        return [(s.at, a) for s in self.sweeps for a in s.opened]


def quiet_job(seed: int, services: int, interval: float, max_docs: int) -> QuietDay:
    """A quiet day in a process of its own: its own noida-db and stand-ins."""
    scenario = generate_scenario(seed=seed, services=services, fault=None, hours=QUIET_HOURS)
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_noida() as noida,
        Standins(scenario.bundle, noida) as standins,
    ):
        world = World(noida, standins, Path(tmp), max_docs=max_docs)
        sweeps = quiet_day(world, scenario, interval=interval)
        return QuietDay(seed, _data_end(scenario), sweeps, world.setup_seconds)


def _quiet_lines(day: QuietDay) -> list[str]:
    pending = sum(bool(s.record.suspects) for s in day.sweeps)
    seconds = [s.seconds for s in day.sweeps]
    lines = [
        f"  seed {day.seed}: {len(day.opens)} heads-ups, {pending} of {len(day.sweeps)} sweeps "
        f"with a suspect; sweep p50 {statistics.median(seconds):.2f} s, max {max(seconds):.2f} s"
    ]
    for at, a in day.opens:
        last = a.degradation.last
        lines.append(
            f"    false heads-up at {(at - day.end) / 3600:+.1f} h: {a.degradation.service} "
            f"({a.degradation.team}), score {last.score:.2f}: {'; '.join(last.reasons[:3])}"
        )
    if pending:
        named = Counter(n for s in day.sweeps for n in s.record.suspects)
        lines.append("    suspects: " + ", ".join(f"{n} x{c}" for n, c in named.most_common(8)))
    tops = [(s.ranking[0], s.at) for s in day.sweeps if s.ranking]
    if tops:
        best, at = max(tops, key=lambda t: t[0][1])
        high = [t for t, _ in tops if t[2] == "high"]
        lines.append(
            f"    top of the ranking: {len(tops)} sweeps ranked something; highest {best[0]} "
            f"{_entry(best)} at {(at - day.end) / 3600:+.1f} h; {len(high)} tops of high "
            f"confidence" + (f", highest {max(t[1] for t in high):.2f}" if high else "")
        )
    return lines


def big_sweep(
    world: World, *, services: int, interval: float, latency: float
) -> list[tuple[str, float, Sweep]]:
    """Measurement 3: the cost table of one sweep of a big estate."""
    print(f"\n3. one sweep of {services:,} services: requests per stand-in and seconds", flush=True)
    scenario = generate_scenario(
        seed=BIG_SEED, services=services, fault="bad-deploy", hours=BIG_HOURS
    )
    rows = cost(world, scenario, interval=interval, latency=latency)
    print(
        f"  {'window':15s} {'added':>8s}  "
        + "  ".join(f"{n[:5]:>5s}" for n in VENDORS)
        + f"  {'total':>6s}  {'time':>8s}  ranking"
    )
    for row in rows:
        print(_cost_row(*row))
    return rows


def run(
    *,
    services: int,
    seeds: int,
    faults: list[str],
    days: int,
    jobs: int,
    big: int,
    latency: float,
    lead: float,
    interval: float,
    max_docs: int,
) -> bool:
    """Run the three measurements; True when the targets hold."""
    began = time.perf_counter()
    print(
        f"sweeps every {interval:.0f} s of scenario time; {services} services; heads-up after "
        f"{SUSTAINED} sweeps in a row; {max_docs} log documents at most per scenario",
        flush=True,
    )
    # The stand-ins start on any bundle: every scenario switches them to its own.
    start = generate_scenario(seed=FIRST_SEED, services=40, fault=faults[0], hours=3)
    seeds_quiet = list(range(QUIET_SEED, QUIET_SEED + days))
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_noida() as noida,
        Standins(start.bundle, noida) as standins,
    ):
        world = World(noida, standins, Path(tmp), max_docs=max_docs)
        with ProcessPoolExecutor(
            max(jobs, 1), mp_context=get_context("spawn"), initializer=die_with_parent
        ) as pool:
            # The quiet days run alongside the fault scenarios, each in a process of its own.
            pending = [
                pool.submit(quiet_job, seed, services, interval, max_docs)
                for seed in (seeds_quiet if jobs else [])
            ]
            found = detections(
                world, services=services, seeds=seeds, faults=faults, interval=interval, lead=lead
            )
            print(
                f"\n2. quiet estates: {days} x 24 h of {services} services, "
                f"{round(QUIET_SWEPT / interval)} sweeps each"
                + (f" ({jobs} processes, alongside part 1)" if jobs else ""),
                flush=True,
            )
            quiet = []
            for seed, job in zip(seeds_quiet, pending or [None] * days, strict=True):
                if job is not None:
                    day = job.result()
                else:
                    scenario = generate_scenario(
                        seed=seed, services=services, fault=None, hours=QUIET_HOURS
                    )
                    sweeps = quiet_day(world, scenario, interval=interval)
                    day = QuietDay(seed, _data_end(scenario), sweeps)
                quiet.append(day)
                print("\n".join(_quiet_lines(day)), flush=True)
        # Alone on the machine again: the cost is measured without the other processes.
        costed = big_sweep(world, services=big, interval=interval, latency=latency)
        setups = world.setup_seconds + sum(d.setup for d in quiet)
    return report(
        found,
        quiet,
        costed,
        faults=faults,
        services=services,
        big=big,
        latency=latency,
        wall=time.perf_counter() - began,
        setups=setups,
    )


def report(
    found: list[Detection],
    quiet: list[QuietDay],
    costed: list[tuple[str, float, Sweep]],
    *,
    faults: list[str],
    services: int,
    big: int,
    latency: float,
    wall: float,
    setups: float,
) -> bool:
    """Print the figures and the line against the targets; True when they hold."""
    swept = [s for d in found for s in d.sweeps] + [s for d in quiet for s in d.sweeps]
    if swept:
        seconds = [s.seconds for s in swept]
        print(
            f"\n{services}-service sweeps without latency ({len(swept)}): p50 "
            f"{statistics.median(seconds):.2f} s, p95 {_percentile(seconds, 0.95):.2f} s; "
            "requests per sweep: "
            + ", ".join(f"{n} {statistics.mean(s.requests[n] for s in swept):.0f}" for n in VENDORS)
        )
    print("\nby fault type (minutes from the onset to the first heads-up):")
    missed = []
    for fault in faults:
        group = [d for d in found if d.fault == fault]
        delays = [d.delay for d in group if d.delay is not None]
        right = sum(d.first is not None and d.first[1].degradation.service == d.root for d in group)
        team = sum(d.first is not None and d.first[1].degradation.team == d.team for d in group)
        if not delays:
            missed.append(fault)
        shown = ", ".join(f"{v:+.0f}" for v in delays) or "-"
        after = [s.place(d.root) for d in group for s in d.sweeps if s.at >= d.onset]
        top = [p[1] for p in after if p is not None and p[0] == 1]
        print(
            f"  {fault:16s} heads-ups {len(delays)}/{len(group)} [{shown}], "
            f"root named {right}/{len(group)}, team right {team}/{len(group)}; after the onset "
            f"the root topped {len(top)}/{len(after)} rankings"
            + (
                f" (score {min(e[1] for e in top):.2f}-{max(e[1] for e in top):.2f}, "
                f"{sum(e[2] == 'high' for e in top)} high confidence)"
                if top
                else ""
            )
        )
    roots = [
        p[1]
        for d in found
        for s in d.sweeps
        if s.at >= d.onset and (p := s.place(d.root)) is not None and p[0] == 1
    ]
    quiet_tops = [s.ranking[0] for d in quiet for s in d.sweeps if s.ranking]
    if roots and quiet_tops:
        print(
            f"suspect gate: the top at medium+ confidence and score >= {MIN_SCORE}; roots on top "
            f"after the "
            f"onset scored p50 {statistics.median(e[1] for e in roots):.2f}, "
            f"{sum(e[1] >= MIN_SCORE for e in roots)}/{len(roots)} at or over {MIN_SCORE}, "
            f"{sum(e[2] == 'high' for e in roots)}/{len(roots)} high confidence; quiet tops: "
            f"{sum(e[2] != 'low' and e[1] >= MIN_SCORE for e in quiet_tops)}/{len(quiet_tops)} "
            f"would be followed, max {max(e[1] for e in quiet_tops):.2f}, high-confidence max "
            + (
                f"{max(e[1] for e in quiet_tops if e[2] == 'high'):.2f}"
                if any(e[2] == "high" for e in quiet_tops)
                else "-"
            )
        )
    delays = [d.delay for d in found if d.delay is not None]
    others = sum(1 for d in found for _, a in d.opens if a.degradation.service != d.root)
    print(
        f"heads-ups naming another service in the fault scenarios: {others} "
        "(not counted as false heads-ups: those estates were not quiet)"
    )
    print(f"wall time {wall / 60:.1f} min ({setups / 60:.1f} min loading scenarios)")
    false_quiet = sum(len(d.opens) for d in quiet)
    ok = false_quiet == 0 and not missed
    delay_text = (
        f"onset→heads-up p50 {statistics.median(delays):.0f} min, max {max(delays):.0f} min"
        if delays
        else "no heads-up"
    )
    if missed:
        delay_text += f" (missed entirely: {', '.join(missed)})"
    # The headline cost: a quiet window, the usual case, with latency on every request.
    headline = [d for label, added, d in costed if label == "quiet window" and added == latency]
    cost_text = (
        f"{sum(headline[0].requests.values()):,} requests, {headline[0].seconds:.1f} s"
        if headline
        else "not measured"
    )
    print(
        f"sweep: {delay_text}; {false_quiet} false heads-ups in {len(quiet)} quiet "
        f"day{'s' if len(quiet) != 1 else ''} of {services} services (target 0); one sweep of "
        f"{big:,} services: {cost_text} ({latency * 1000:.0f} ms per request): "
        f"{'PASS' if ok else 'FAIL'}"
    )
    return ok


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--services", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=2, help="scenarios per fault type")
    parser.add_argument("--faults", default=",".join(FAULT_TYPES), help="comma-separated")
    parser.add_argument("--quiet-days", type=int, default=2, help="quiet 24-hour estates")
    parser.add_argument(
        "--jobs",
        type=int,
        default=2,
        help="processes sweeping the quiet days alongside part 1 (0: in turn, in this process)",
    )
    parser.add_argument("--big", type=int, default=1000, help="services of the costed sweep")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per vendor request")
    parser.add_argument("--lead", type=float, default=60.0, help="minutes swept before onsets")
    parser.add_argument("--interval", type=float, default=600.0, help="seconds between sweeps")
    parser.add_argument("--max-docs", type=int, default=20_000, help="log documents per scenario")
    args = parser.parse_args()
    faults = [f for f in args.faults.split(",") if f]
    unknown = [f for f in faults if f not in FAULT_TYPES]
    if unknown or not faults:
        parser.error(f"unknown fault types {unknown}: use {', '.join(FAULT_TYPES)}")
    ok = run(
        services=args.services,
        seeds=args.seeds,
        faults=faults,
        days=args.quiet_days,
        jobs=args.jobs,
        big=args.big,
        latency=args.latency,
        lead=args.lead * 60,
        interval=args.interval,
        max_docs=args.max_docs,
    )
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
