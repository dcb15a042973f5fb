"""Benchmark: the text scrubbers on hostile inputs, to catch regexes that backtrack.

A regex that backtracks takes time quadratic in its input and holds the GIL meanwhile, so one
long thread reply can freeze the whole bot. Each public function that runs regexes over
untrusted text is timed on inputs built to make a careless pattern retry at every position:
runs of one separator, repeated prefixes of secret formats, unclosed quotes, long digit runs.
Prints the time of each function on each input (the best of a few calls), the worst per function,
then one summary line against the target.

    .venv/bin/python bench/hostile.py [--size 1000000] [--repeat 3] [--target-ms 100]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.patterns import mask
from investigators.redact import redact

#: Each input as a unit repeated to the size asked for, after an optional prefix.
SHAPES: dict[str, tuple[str, str]] = {
    "a.": ("", "a."),
    "a@": ("", "a@"),
    "a-": ("", "a-"),
    "a1-": ("", "a1-"),
    "a_": ("", "a_"),
    "a+": ("", "a+"),
    "1.": ("", "1."),
    "1-": ("", "1-"),
    "1 ": ("", "1 "),
    "digits": ("", "1"),
    "card groups": ("", "4111 "),
    "letters": ("", "a"),
    "base62": ("", "aB3dE5fG7hJ9kL2m"),
    "base64 lines": ("", "aB3dE5fG7hJ9kL2m" * 4 + "\n"),
    "scheme a:": ("://", "a:"),
    "scheme heads": ("", "a://a:"),
    "url no @": ("postgres://u:", "p/"),
    "url many @": ("postgres://u:", "p@"),
    "jwt dots": ("eyJ", "a."),
    "jwt heads": ("", "eyJaaaaa.eyJ"),
    "password=": ("", "password="),
    "password: ": ("", "password: "),
    "key=value": ("", "a_key=b "),
    "key=high entropy": ("", "k=aB3dE5fG7hJ9kL2mN4pQ6 "),
    "quoted key": ("", '"api_key": "'),
    "escaped quotes": ('"password": "', '\\"'),
    "cookie": ("Cookie: ", "a=b; "),
    "authorization": ("", "authorization: "),
    "bearer": ("", "bearer "),
    "pem begin": ("", "-----BEGIN PRIVATE KEY-----"),
    "pem end": ("-----BEGIN PRIVATE KEY-----", "-----END "),
    "putty": ("", "PuTTY-User-Key-File-3: "),
    "emails": ("", "a.a@b."),
    "quotes": ("", "\"a'"),
    "open quote": ('"', "a"),
    "pods": ("", "ab-"),
    "hex": ("", "0123456789abcdef"),
    "tokens": ("", "ghp_sk-xoxb-AKIA"),
    "spaces": ("", " "),
}


def build(shape: str, size: int) -> str:
    """The input named ``shape``, ``size`` characters long."""
    prefix, unit = SHAPES[shape]
    return (prefix + unit * (size // len(unit) + 1))[:size]


FUNCTIONS: dict[str, Callable[[str], object]] = {
    "redact": redact,
    "redact(limit=300)": lambda text: redact(text, limit=300),
    "mask": mask,
}


def timed(fn: Callable[[str], object], text: str, repeat: int) -> float:
    """The fewest seconds one call took: the others were slowed by whatever else ran."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn(text)
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="characters per input")
    parser.add_argument("--repeat", type=int, default=3, help="calls per input (fastest counts)")
    parser.add_argument("--target-ms", type=float, default=100.0, help="the worst allowed")
    args = parser.parse_args()

    worst: dict[str, tuple[float, str]] = {name: (0.0, "") for name in FUNCTIONS}
    print(f"{'input':<18s}" + "".join(f"{name:>20s}" for name in FUNCTIONS))
    for shape in SHAPES:
        text = build(shape, args.size)
        row = f"{shape:<18s}"
        for name, fn in FUNCTIONS.items():
            ms = timed(fn, text, args.repeat) * 1000
            row += f"{ms:>17.1f} ms"
            if ms > worst[name][0]:
                worst[name] = (ms, shape)
        print(row, flush=True)
    print()
    for name, (ms, shape) in worst.items():
        print(f"worst {name:<18s} {ms:8.1f} ms on {shape!r}")
    verdict = "PASS" if all(ms < args.target_ms for ms, _ in worst.values()) else "FAIL"
    print(
        f"hostile inputs of {args.size:,} characters: "
        + ", ".join(f"{name} worst {ms:.0f} ms" for name, (ms, _) in worst.items())
        + f" (target < {args.target_ms:.0f} ms): {verdict}"
    )


if __name__ == "__main__":
    main()
