"""``incident-copilot demo`` as a newcomer runs it: a whole incident, from channel to answer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("incident-copilot"))


def _demo(*args: str) -> tuple[dict, str]:  # type: ignore[type-arg]
    done = subprocess.run(
        [CLI, "demo", "--json", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout), done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["rq", "in-process"])
def test_the_demo_posts_a_right_summary_tags_the_owner_and_answers(executor: str) -> None:
    extra = ["--in-process"] if executor == "in-process" else []
    result, progress = _demo("--fault", "bad-deploy", "--seed", "3", *extra)

    assert result["executor"] == executor
    assert result["channel"].startswith("#inc-")
    truth = result["truth"]
    assert result["root_cause"] == truth["root"] and result["root_cause_right"]
    assert result["tagged"] == [f"{truth['team']}-oncall"] and result["tag_right"]
    assert 0 < result["first_message_seconds"] < result["summary_seconds"]
    assert "Investigating" in result["updates"][0]["text"]
    assert result["narrative"] == "shown"
    assert "What happened" in result["summary_text"] and "http" in result["summary_text"]
    assert result["question"].startswith(f"what changed in {truth['root']}")
    assert "Answered by" in result["answer"]
    # Progress goes to stderr, so that stdout is the JSON alone.
    assert "opened #inc-" in progress and "tagged" in progress


def test_an_unknown_fault_is_refused_with_the_choices() -> None:
    done = subprocess.run(
        [CLI, "demo", "--fault", "meteor"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "bad-deploy" in done.stdout + done.stderr
