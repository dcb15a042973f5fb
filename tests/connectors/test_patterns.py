"""Log lines grouped into patterns: variable parts masked, hostile lines read in bounded time."""

from __future__ import annotations

import time

import pytest

from connectors.patterns import MAX_LINE, group_lines, mask


@pytest.mark.parametrize(
    ("line", "pattern"),
    [
        ("login failed for bob.smith+ops@mail.example.com", "login failed for <email>"),
        ("cart-5d4f6b7c8-xyz12 restarted", "<pod> restarted"),
        ("payments-api-7d9f8b6c5-x2k4p OOMKilled", "<pod> OOMKilled"),
        ("retry 3 of 5 on node a1b2c3d4", "retry <num> of <num> on node <hex>"),
        ("mail .bob@x.com bounced", "mail .<email> bounced"),
    ],
)
def test_variable_parts_are_masked(line: str, pattern: str) -> None:
    assert mask(line) == pattern


def test_lines_that_differ_only_past_the_bound_are_one_pattern() -> None:
    head = "upstream payload rejected: " + "field " * (MAX_LINE // 6)
    grouped = group_lines([], [(head + " tail one", 1.0), (head + " another tail", 1.0)])
    assert len(grouped) == 1 and grouped[0].during == 2.0


#: Inputs that make a backtracking pattern retry at every position (see bench/hostile.py).
HOSTILE = [
    "a." * 500_000,
    "a-" * 500_000,
    "a1-" * 340_000,
    "1-" * 500_000,
    "eyJaaaaa.eyJ" * 85_000,
    "ab-" * 340_000,
    '"' + "a" * 1_000_000,
]


@pytest.mark.parametrize("line", HOSTILE, ids=lambda t: repr(t[:12]))
def test_a_hostile_line_does_not_freeze_the_bot(line: str) -> None:
    # A guard against quadratic patterns only: bench/hostile.py measures a few milliseconds on a
    # slow machine; before the fix one 40,000-character line took ten seconds.
    started = time.process_time()
    mask(line)
    assert time.process_time() - started < 2.0
