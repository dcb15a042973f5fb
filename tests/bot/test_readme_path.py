"""A new user's path from the README to a ready bot, against the stand-ins (issue 15).

The commands are read from the README's *Before you connect Slack* section, so that this test
breaks when the README drifts: they run as written, with the environment a user would export
pointing at the sandbox's stand-ins (Slack, Elasticsearch, Datadog, GitHub, the language model),
the test's own catalog and the test's Redis, and ``doctor`` must end with ``ready``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from pipeline_testkit import llm_env, pipeline_env, serving
from slack_testkit import SECRET, ServedSlack

from bot.settings import Settings
from investigators.bundle import Bundle
from sandbox.scenarios import Scenario
from sandbox.workers import cleaned_keys, kill_session
from sandbox.world import REDIS_URL, Standins

ROOT = Path(__file__).resolve().parents[2]
SECTION = "## Before you connect Slack"
BIN = Path(sys.executable).parent


def readme_commands() -> list[str]:
    """The section's shell lines, continuations joined, comments and blanks left out."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert SECTION in text, f"the README has no {SECTION!r} section"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert blocks, f"no sh block in {SECTION!r}"
    lines = "\n".join(blocks).replace("\\\n", " ").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def _argv(line: str, env: dict[str, str]) -> list[str]:
    """A README line as a process's arguments: ``$NAME`` from ``env``, ``.venv/bin/`` this
    virtualenv's."""
    expanded = re.sub(r"\$\{?([A-Z_][A-Z0-9_]*)\}?", lambda m: env[m.group(1)], line)
    argv = shlex.split(expanded.removesuffix("&"))
    assert argv[0].startswith(".venv/bin/"), f"not a command of the project's venv: {line}"
    return [str(BIN / argv[0].removeprefix(".venv/bin/")), *argv[1:]]


def moved_to_now(bundle: Bundle) -> Bundle:
    """The same incident, its telemetry ending a minute ago: ``doctor`` asks Datadog for the
    last hour, where a user's Datadog has data."""
    delta = time.time() - 60 - max(float(s.times[-1]) for s in bundle.metrics if len(s.times))
    return dataclasses.replace(
        bundle,
        incident=dataclasses.replace(
            bundle.incident, started_at=bundle.incident.started_at + delta
        ),
        metrics=[dataclasses.replace(s, times=s.times + delta) for s in bundle.metrics],
        log_samples=[
            dataclasses.replace(x, timestamp=x.timestamp + delta) for x in bundle.log_samples
        ],
        changes=[dataclasses.replace(c, at=c.at + delta) for c in bundle.changes],
    )


@pytest.fixture
def standins_now(scenario: Scenario) -> Iterator[tuple[Bundle, Standins]]:
    """The stand-ins serving the scenario's incident as if it were happening now."""
    bundle = moved_to_now(scenario.bundle)
    with serving(bundle, seed=1) as served:
        yield bundle, served


@pytest.fixture
def own_names() -> Iterator[tuple[str, str]]:
    """A key prefix and a queue of this test's own (so that no other test's worker can make
    ``doctor`` happy), and their keys removed afterwards."""
    prefix = queue = f"test-readme-{uuid.uuid4().hex[:8]}"
    with cleaned_keys(prefix, queue):
        yield prefix, queue


@pytest.mark.slow
def test_the_readme_commands_end_with_doctor_saying_ready(
    slack: ServedSlack,
    standins_now: tuple[Bundle, Standins],
    catalog_file: Path,
    own_names: tuple[str, str],
    tmp_path: Path,
) -> None:
    commands = readme_commands()
    assert [c.split()[0] for c in commands] == [
        ".venv/bin/incident-copilot",
        ".venv/bin/rq",
        ".venv/bin/incident-copilot",
    ]
    assert commands[1].endswith("&") and commands[-1].endswith(" doctor")
    # What a user exports: the stand-ins, the test's catalog (their own, not the example), HTTP
    # mode's Slack settings. Nothing of the runner's own Slack or sources leaks in.
    settings = {
        alias if isinstance(alias := f.validation_alias, str) else name.upper()
        for name, f in Settings.model_fields.items()
    }
    user_env = {k: v for k, v in os.environ.items() if k not in settings}
    bundle, standins = standins_now
    prefix, queue = own_names
    user_env.update(
        pipeline_env(
            standins=standins, bundle=bundle, catalog=catalog_file, prefix=prefix, queue=queue
        )
    )
    user_env.update(llm_env(standins))
    user_env.update(
        {
            "SLACK_BOT_TOKEN": slack.workspace.token,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": slack.url,
            "RQ_QUEUE": queue,
        }
    )
    assert "manifests/services.yaml" not in user_env["INCIDENT_COPILOT_CATALOG"]

    checked = subprocess.run(
        _argv(commands[0], user_env),
        env=user_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr

    worker = _argv(commands[1], user_env)
    assert worker[-1] == Settings.model_fields["rq_queue"].default  # the README's queue
    worker[-1] = queue  # this test's own, named by RQ_QUEUE as the README's is by default
    log = tmp_path / "worker.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            worker, env=user_env, cwd=tmp_path, start_new_session=True, stdout=sink, stderr=sink
        )
    try:
        _registered(queue, proc, log)
        doctor = subprocess.run(
            _argv(commands[2], user_env),
            env=user_env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=180,
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            kill_session(proc.pid)
            proc.wait(timeout=10)
    report = doctor.stdout.strip().splitlines()
    assert doctor.returncode == 0 and report[-1] == "ready", doctor.stdout + doctor.stderr
    for source in ("slack", "redis", "workers", "catalog", "elasticsearch", "datadog", "github"):
        assert any(line.startswith(f"{source}: ok") for line in report), (source, report)


def _registered(queue: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Wait for the worker to register on its queue, as RQ workers do when they are up."""
    until = time.monotonic() + 60
    with redis.Redis.from_url(REDIS_URL) as client:
        while not client.scard(f"rq:workers:{queue}"):
            assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < until, "the README's worker did not register"
            time.sleep(0.1)
