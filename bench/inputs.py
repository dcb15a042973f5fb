"""Benchmark: the inputs a user or a stranger hands the bot and the CLI, at their worst.

Three readers of untrusted input, each on inputs built to be as expensive as possible:

* ``bot.channels.mentioned_services`` over a 1,000-service catalog, on 1 MB message texts: every
  word a service, overlapping names chained across the whole text, hyphen and blank storms, one
  endless word, punctuation, and prose that names nothing. Target: the worst under 100 ms.
* ``incident-copilot catalog check`` on a 114 KB services.yaml merging a block of 2,000 unknown
  keys into 2,000 services (four million unknown fields). Target: under 3 s.
* ``incident-copilot rca`` on hostile bundles: numbers beyond a float, timestamps past any
  calendar, repeated timestamps, 100,000-deep nesting. Target: exit 2 with one line naming the
  JSON path (0 for repeated timestamps, which the spec allows), never a traceback.

Prints each measurement (the best of a few calls for the matcher, one run of the real command
line in a process of its own for the others), then one summary line against the targets.

    .venv/bin/python bench/inputs.py [--size 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.channels import mentioned_services  # noqa: E402
from investigators.catalog import Catalog, CatalogService  # noqa: E402

TARGET_MATCHER_MS = 100.0
TARGET_CATALOG_S = 3.0
CLI = [sys.executable, "-m", "bot.cli"]

PARTS = ["checkout", "payments", "cart", "search", "auth", "orders", "api", "db", "cache", "queue"]
PARTS += ["web", "gateway", "ledger", "fraud", "email", "pricing", "stock", "ship", "user", "feed"]


def big_catalog(services: int = 1000) -> Catalog:
    """Names like ``cart-api-12``, each with a spaced alias and a Datadog service of its own."""
    entries = []
    for i in range(services):
        a, b = PARTS[i % len(PARTS)], PARTS[(i // len(PARTS)) % len(PARTS)]
        name = f"{a}-{b}-{i}"
        entries.append(
            CatalogService(
                name=name,
                team=f"team-{i % 40}",
                aliases=(f"{a} {b} {i}", f"{a}{b}{i}"),
                datadog_service=f"{name}-prod",
            )
        )
    # Short names that the long ones contain, so that overlaps must be settled.
    entries += [CatalogService(name=part, team="core") for part in PARTS]
    return Catalog(entries)


def texts(catalog: Catalog, size: int) -> dict[str, str]:
    """1 MB message texts, each built to make a matcher work hard in its own way."""
    names = [s.name for s in catalog.services.values()]
    every = " ".join(names) + " "
    chained = "-".join(PARTS) + "-"
    return {
        "every word a service": (every * (size // len(every) + 1))[:size],
        "names chained by hyphens": (chained * (size // len(chained) + 1))[:size],
        "short names overlapping": ("api-gateway-api-" * (size // 16 + 1))[:size],
        "hyphen storm": ("a-" * (size // 2))[:size],
        "blank and hyphen storm": (" - " * (size // 3))[:size],
        "blank-joined names chained": ("cart api " * (size // 9 + 1))[:size],
        "a new word each time": " ".join(f"cart-api-{i}" for i in range(size // 12))[:size],
        "one endless word": "x" * size,
        "punctuation": ("._#:;,!?()[]{}" * (size // 14 + 1))[:size],
        "prose naming nothing": ("the quick brown fox jumps over a lazy dog " * (size // 42 + 1))[
            :size
        ],
        "unicode": ("çå∂ƒ© ☃ 漢字 " * (size // 12 + 1))[:size],
    }


def best_ms(call: Callable[[], object], repeat: int, *, setup: Callable[[], None]) -> float:
    """The best of ``repeat`` calls, each after ``setup`` and without garbage collection."""
    best = float("inf")
    for _ in range(repeat):
        setup()
        gc.collect()
        gc.disable()
        try:
            started = time.perf_counter()
            call()
            best = min(best, time.perf_counter() - started)
        finally:
            gc.enable()
    return best * 1000


def bench_matcher(size: int, repeat: int) -> float:
    """The worst time of one text, on a catalog read for the first time (nothing cached)."""
    catalogs = [big_catalog()]

    def fresh() -> None:
        catalogs[0] = big_catalog()

    worst = 0.0
    print(f"mentioned_services, {len(catalogs[0].services)} services, {size:,}-character texts:")
    build = best_ms(lambda: mentioned_services(catalogs[0], ["inc-1"]), repeat, setup=fresh)
    print(f"  {'(reading the catalog alone)':<28} {build:8.1f} ms")
    for label, text in texts(catalogs[0], size).items():

        def read(text: str = text) -> list[str]:
            return mentioned_services(catalogs[0], ["inc-1", text])

        ms = best_ms(read, repeat, setup=fresh)
        worst = max(worst, ms)
        print(f"  {label:<28} {ms:8.1f} ms")
    return worst


# ---------------------------------------------------------------------------------------------
# incident-copilot catalog check


def merged_unknown_keys(keys: int = 2000, services: int = 2000) -> str:
    """A services.yaml whose every entry merges one block of ``keys`` unknown keys."""
    lines = ["x-extra: &extra", *(f"  zfield{k:04d}: 1" for k in range(keys)), "services:"]
    lines += [f"  - {{<<: *extra, name: svc{i:04d}, team: core}}" for i in range(services)]
    return "\n".join(lines) + "\n"


HOSTILE_CATALOGS = {
    "a list as a key": "services:\n  - name: a\n    team: b\n    ? [a, b]\n    : 1\n",
    "5,000-deep nesting": "services:\n  - name: a\n    team: b\n    notes: "
    + "[" * 5000
    + "]" * 5000
    + "\n",
}


def run_cli(*argv: str) -> tuple[int, str, float]:
    """Exit status, stderr and seconds of one run of the command line in a process of its own."""
    started = time.perf_counter()
    done = subprocess.run([*CLI, *argv], cwd=ROOT, capture_output=True, text=True, check=False)
    return done.returncode, done.stderr, time.perf_counter() - started


def bench_catalog(folder: Path) -> tuple[float, int, int]:
    """Seconds of the big check, and how many hostile catalogs exit 2 with a bounded report."""
    path = folder / "services.yaml"
    path.write_text(merged_unknown_keys(), encoding="utf-8")
    code, err, big = run_cli("catalog", "check", str(path))
    lines = err.splitlines()
    print(f"catalog check, {path.stat().st_size / 1000:.0f} KB, 2,000 services x 2,000 keys:")
    print(f"  exit {code} in {big:.2f} s, {len(lines)} lines; {lines[-2] if lines else ''}")
    good = int(code == 2 and len(lines) <= 60 and "Traceback" not in err)
    for label, text in HOSTILE_CATALOGS.items():
        hostile = folder / f"{label.replace(' ', '-')}.yaml"
        hostile.write_text(text, encoding="utf-8")
        code, err, seconds = run_cli("catalog", "check", str(hostile))
        ok = code == 2 and "Traceback" not in err and len(err.splitlines()) == 2
        good += ok
        print(f"  {label:<28} exit {code} in {seconds:.2f} s: {err.splitlines()[0][-90:]}")
    return big, good, 1 + len(HOSTILE_CATALOGS)


# ---------------------------------------------------------------------------------------------
# incident-copilot rca


def bundle_text(where: str, raw: str) -> str:
    """A small valid bundle as JSON text with ``raw`` at ``where`` (a dotted path): numbers and
    nesting that Python's json would not write."""
    points = [[1795183500 - 60 * i, 1.0 + (i % 3) * 0.1] for i in range(120, -30, -1)]
    document: dict[str, Any] = {
        "version": 1,
        "incident": {"id": "INC-9", "started_at": "2026-11-20T14:05:00Z"},
        "services": [
            {"name": "web", "team": "storefront", "depends_on": ["api"]},
            {"name": "api", "team": "core"},
        ],
        "metrics": [{"service": "web", "name": "errors", "kind": "errors", "points": points}],
    }
    target: Any = document
    *parents, last = where.split(".")
    for key in parents:
        target = target[int(key)] if key.isdigit() else target[key]
    target[int(last) if last.isdigit() else last] = "@raw@"
    return json.dumps(document).replace('"@raw@"', raw)


DEEP = "[" * 100_000 + "]" * 100_000
HOSTILE_BUNDLES = {
    # label: (where, raw JSON, the path the message must name; "" for a bundle that must rank)
    "started_at 1e400": ("incident.started_at", "1e400", "incident.started_at"),
    "started_at 10**400": ("incident.started_at", "1" + "0" * 400, "incident.started_at"),
    "value 10**400": ("metrics.0.points.3.1", "9" * 400, "metrics[0].points[3]"),
    "timestamp 1e400": ("metrics.0.points.3.0", "1e400", "metrics[0].points[3]"),
    "started_at year 10000": ("incident.started_at", "253402300800", "incident.started_at"),
    "started_at +1e12 s": ("incident.started_at", "1e12", "incident.started_at"),
    "started_at -1e12 s": ("incident.started_at", "-1e12", "incident.started_at"),
    "points 100,000 deep": ("metrics.0.points", DEEP, "metrics[0].points[0]"),
    "extra field 100,000 deep": ("incident.notes", DEEP, "incident.notes[0]"),
}


def repeated_timestamps() -> str:
    """The small bundle with every point given three times: valid (the spec asks for order)."""
    text = bundle_text("incident.title", '"repeated"')
    document = json.loads(text)
    series = document["metrics"][0]
    series["points"] = [point for point in series["points"] for _ in range(3)]
    return json.dumps(document)


def bench_rca(folder: Path) -> tuple[int, int, bool]:
    """Hostile bundles refused as they must be (exit 2, one line naming the path, no
    traceback), how many there are, and whether repeated timestamps ranked (exit 0)."""
    good, repeated = 0, False
    print("rca on hostile bundles (text mode, then --json):")
    cases = {
        label: (bundle_text(w, raw), path) for label, (w, raw, path) in HOSTILE_BUNDLES.items()
    }
    cases["repeated timestamps"] = (repeated_timestamps(), "")
    for label, (text, path) in cases.items():
        bundle = folder / "bundle.json"
        bundle.write_text(text, encoding="utf-8")
        results = [run_cli("rca", str(bundle), *mode) for mode in ([], ["--json"])]
        want = 2 if path else 0
        ok = all(
            code == want
            and "Traceback" not in err
            and (not path or (err.count("\n") == 1 and f"{bundle}: {path}" in err))
            for code, err, _ in results
        )
        if path:
            good += ok
        else:
            repeated = ok
        code, err, seconds = results[0]
        said = err.strip().split(f"{bundle}: ", 1)[-1][:90] if err else "ranked"
        print(f"  {label:<28} exit {code} in {seconds:.2f} s  {'ok ' if ok else 'BAD'} {said}")
    return good, len(HOSTILE_BUNDLES), repeated


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="characters of each text")
    parser.add_argument("--repeat", type=int, default=3, help="calls per text, best kept")
    args = parser.parse_args()

    worst_ms = bench_matcher(args.size, args.repeat)
    with tempfile.TemporaryDirectory() as folder:
        catalog_s, catalog_ok, catalog_cases = bench_catalog(Path(folder))
        rca_ok, rca_cases, repeated = bench_rca(Path(folder))
    passed = (
        worst_ms < TARGET_MATCHER_MS
        and catalog_s < TARGET_CATALOG_S
        and catalog_ok == catalog_cases
        and rca_ok == rca_cases
        and repeated
    )
    print(
        f"bad inputs: matcher worst {worst_ms:.0f} ms (< {TARGET_MATCHER_MS:.0f} ms), "
        f"catalog check {catalog_s:.1f} s (< {TARGET_CATALOG_S:.0f} s) and exit 2 on "
        f"{catalog_ok}/{catalog_cases}, rca exit 2 on {rca_ok}/{rca_cases} and "
        f"{0 if repeated else 'not 0'} on repeated timestamps: " + ("PASS" if passed else "FAIL")
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
