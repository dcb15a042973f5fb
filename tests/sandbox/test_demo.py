"""``incident-copilot demo`` as a newcomer runs it: a whole incident, from channel to answer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.demo import thread_question

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
    assert result["question"].startswith(f"what changed in {result['root_cause']} ")
    assert "Answered by" in result["answer"]
    # Progress goes to stderr, so that stdout is the JSON alone.
    assert "opened #inc-" in progress and "tagged" in progress


def test_an_unknown_fault_is_refused_with_the_choices() -> None:
    done = subprocess.run(
        [CLI, "demo", "--fault", "meteor"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "bad-deploy" in done.stdout + done.stderr


def _summary(header: str) -> dict:  # type: ignore[type-arg]
    return {
        "ts": "1.000001",
        "text": header,
        "blocks": [{"type": "header", "text": {"type": "plain_text", "text": header}}],
    }


def test_the_scripted_question_asks_about_the_service_the_bot_named() -> None:
    # Whatever the truth was: the person in the thread only knows what the summary says.
    named = _summary("Likely root cause (medium confidence): shipping-db")
    assert thread_question(named, fallback="checkout") == (
        "what changed in shipping-db in the last hour?"
    )
    plain = _summary("Likely root cause: payments-api")
    assert thread_question(plain, fallback="checkout").startswith("what changed in payments-api ")
    nothing = _summary("No root cause found")
    assert thread_question(nothing, fallback="checkout").startswith("what changed in checkout ")
