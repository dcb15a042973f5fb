"""The bot checks itself before it claims to be up; ``doctor`` says "ready" or what to fix.

Against the Slack stand-in over HTTP, real Redis (and a closed port where none listens), RQ's
own worker registry, catalogs on disk, and a real ``rq worker`` process.
"""

from __future__ import annotations

import io
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from rq import Queue, Worker
from slack_testkit import SECRET, ServedSlack

from bot import preflight
from bot.cli import main
from bot.doctor import run_doctor
from bot.settings import Settings, load_settings
from sandbox.faults import free_port, serving
from sandbox.github_api import github_app
from sandbox.scenarios import Scenario
from sandbox.workers import ROOT, worker_command
from sandbox.world import REDIS_URL

#: Everything these tests set; cleared first so the runner's own environment does not leak in.
_VARIABLES = (
    "SLACK_BOT_TOKEN",
    "SLACK_APP_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_API_URL",
    "ES_URL",
    "DD_API_KEY",
    "DD_APP_KEY",
    "GITHUB_TOKEN",
    "GITHUB_API_URL",
    "ANTHROPIC_API_KEY",
    "INCIDENT_COPILOT_CATALOG",
    "REDIS_URL",
    "RQ_QUEUE",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in _VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env file


@pytest.fixture
def queue() -> Iterator[str]:
    """A queue of this test's own; its RQ keys are removed afterwards."""
    name = f"test-preflight-{uuid.uuid4().hex[:8]}"
    yield name
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(match=f"rq:*{name}*"):
        client.delete(key)
    client.srem("rq:queues", f"rq:queue:{name}")
    client.close()


@pytest.fixture
def live_worker(queue: str) -> Iterator[Worker]:
    """A worker registered on ``queue`` as a running one registers itself (no process)."""
    client = redis.Redis.from_url(REDIS_URL)
    worker = Worker([Queue(queue, connection=client)], connection=client)
    worker.register_birth()
    try:
        yield worker
    finally:
        worker.register_death()
        client.delete(worker.key)
        client.srem("rq:workers", worker.key)
        client.close()


@pytest.fixture
def closed_redis_url() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"


def _handles_only(tmp_path: Path) -> Path:
    """A catalog whose teams are named by handle (``@payments-oncall``): nobody can be paged."""
    path = tmp_path / "services.yaml"
    path.write_text(
        "teams:\n"
        "  payments: {display_name: Payments, slack_group: '@payments-oncall'}\n"
        "services:\n"
        "  - {name: checkout, team: payments}\n"
        "  - {name: ledger, team: payments}\n",
        encoding="utf-8",
    )
    return path


# -- Tokens, from the settings alone ---------------------------------------------------------


def _slack(**tokens: str) -> list[preflight.Check]:
    return preflight.slack_settings(load_settings(**tokens))


def test_well_formed_tokens_pass() -> None:
    assert _slack(slack_bot_token="xoxb-1-2", slack_signing_secret="s") == []
    assert _slack(slack_bot_token="xoxb-1-2", slack_app_token="xapp-1-A-2") == []


def test_an_app_token_as_the_bot_token_is_named_as_such() -> None:
    (check,) = _slack(slack_bot_token="xapp-1-A0-2", slack_signing_secret="s")
    assert check.status == "fail"
    assert "SLACK_BOT_TOKEN holds an app-level token (xapp-...)" in check.summary
    assert "belongs in SLACK_APP_TOKEN" in check.summary


def test_swapped_tokens_are_one_problem() -> None:
    (check,) = _slack(slack_bot_token="xapp-1-A0-2", slack_app_token="xoxb-1-2")
    assert "SLACK_BOT_TOKEN and SLACK_APP_TOKEN are swapped" in check.summary


def test_user_and_unknown_tokens_say_what_they_are() -> None:
    (user,) = _slack(slack_bot_token="xoxp-1-2", slack_signing_secret="s")
    assert "user token (xoxp-...)" in user.summary and "xoxb-" in user.summary
    (other,) = _slack(slack_bot_token="hunter2", slack_signing_secret="s")
    assert "does not start with xoxb-" in other.summary and "hunter2" not in other.summary
    (app,) = _slack(slack_bot_token="xoxb-1-2", slack_app_token="xoxp-9")
    assert "SLACK_APP_TOKEN holds a user token" in app.summary


def test_http_mode_without_a_signing_secret() -> None:
    (check,) = _slack(slack_bot_token="xoxb-1-2")
    assert "SLACK_SIGNING_SECRET" in check.summary


# -- Slack, Redis, workers and the catalog, live ----------------------------------------------


def test_auth_test_against_the_stand_in(slack: ServedSlack) -> None:
    ws = slack.workspace
    good = preflight.slack_auth(load_settings(slack_bot_token=ws.token, slack_api_url=slack.url))
    assert good.status == "ok" and "Sandbox" in good.detail
    wrong = preflight.slack_auth(load_settings(slack_bot_token="xoxb-9-9", slack_api_url=slack.url))
    assert wrong.status == "fail" and "invalid_auth" in wrong.summary
    # A token of the wrong kind that Slack knows: it says so, and so does the check.
    app = preflight.slack_auth(load_settings(slack_bot_token=ws.app_token, slack_api_url=slack.url))
    assert app.status == "fail" and "not a bot token" in app.summary
    assert [c.method for c in ws.calls].count("auth.test") == 3


def test_slack_that_does_not_answer() -> None:
    settings = load_settings(
        slack_bot_token="xoxb-1-2", slack_api_url=f"http://127.0.0.1:{free_port()}/api/"
    )
    check = preflight.slack_auth(settings, timeout=1)
    assert check.status == "fail" and "does not answer" in check.summary


def test_redis_answers_or_is_named(closed_redis_url: str) -> None:
    assert preflight.redis_check(REDIS_URL).status == "ok"
    down = preflight.redis_check(closed_redis_url.replace("//", "//:pa55word@"), timeout=1)
    assert down.status == "fail" and "REDIS_URL" in down.summary
    assert "pa55word" not in down.summary


def test_no_live_worker_warns_at_start_and_fails_the_doctor(queue: str) -> None:
    assert preflight.workers_check(REDIS_URL, queue, essential=False).status == "warn"
    assert preflight.workers_check(REDIS_URL, queue, essential=True).status == "fail"


def test_a_live_worker_is_seen(queue: str, live_worker: Worker) -> None:
    check = preflight.workers_check(REDIS_URL, queue, essential=True)
    assert check.status == "ok" and check.detail.startswith("1 live")


def test_the_catalog_is_counted(catalog_file: Path) -> None:
    check = preflight.catalog_check(str(catalog_file))
    assert check.status == "ok"
    assert "40 services" in check.detail and "with a user group to mention" in check.detail


def test_a_catalog_nobody_can_be_paged_from_warns(tmp_path: Path) -> None:
    check = preflight.catalog_check(str(_handles_only(tmp_path)))
    assert check.status == "warn"
    assert "2 services, 1 teams" in check.detail and "S0123ABCD" in check.fix


def test_a_missing_catalog_fails(tmp_path: Path) -> None:
    check = preflight.catalog_check(str(tmp_path / "nowhere.yaml"))
    assert check.status == "fail" and "INCIDENT_COPILOT_CATALOG" in check.summary


# -- The bot command -----------------------------------------------------------------------------


def _bot_env(
    monkeypatch: pytest.MonkeyPatch, slack: ServedSlack, catalog: Path, redis_url: str
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", slack.workspace.token)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SECRET)
    monkeypatch.setenv("SLACK_API_URL", slack.url)
    monkeypatch.setenv("INCIDENT_COPILOT_CATALOG", str(catalog))
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_not_asked_at_start")
    monkeypatch.setenv("REDIS_URL", redis_url)


def test_the_bot_without_redis_exits_2_with_one_line(
    slack: ServedSlack,
    catalog_file: Path,
    closed_redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _bot_env(monkeypatch, slack, catalog_file, closed_redis_url)
    out = io.StringIO()
    assert main(["bot", "--port", "0"], out=out) == 2
    assert out.getvalue() == ""  # never "HTTP on :3000"
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("incident-copilot bot: redis:") and "REDIS_URL" in err[0]


def test_the_bot_with_a_swapped_token_exits_2_before_asking_anyone(
    slack: ServedSlack,
    catalog_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _bot_env(monkeypatch, slack, catalog_file, REDIS_URL)
    monkeypatch.setenv("SLACK_BOT_TOKEN", slack.workspace.app_token)
    assert main(["bot", "--port", "0"], out=io.StringIO()) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "SLACK_BOT_TOKEN holds an app-level token" in line
    assert slack.workspace.app_token not in line
    assert slack.workspace.calls == []


def test_what_the_bot_checks_when_everything_is_there(
    slack: ServedSlack, catalog_file: Path, queue: str, live_worker: Worker
) -> None:
    settings = load_settings(
        slack_bot_token=slack.workspace.token,
        slack_signing_secret=SECRET,
        slack_api_url=slack.url,
        INCIDENT_COPILOT_CATALOG=str(catalog_file),
        github_token="ghp_not_asked_at_start",
        redis_url=REDIS_URL,
        rq_queue=queue,
    )
    checks = {c.name: c for c in preflight.bot_start(settings)}
    assert {n: c.status for n, c in checks.items()} == {
        "slack": "ok",
        "redis": "ok",
        "workers": "ok",
        "catalog": "ok",
        "sources": "ok",
        "anthropic": "warn",  # an option: the deterministic summary serves without it
    }


# -- doctor --------------------------------------------------------------------------------------


def _doctor_settings(slack: ServedSlack, catalog: Path, queue: str, **more: str) -> Settings:
    return load_settings(
        **{
            "slack_bot_token": slack.workspace.token,
            "slack_signing_secret": SECRET,
            "slack_api_url": slack.url,
            "INCIDENT_COPILOT_CATALOG": str(catalog),
            "redis_url": REDIS_URL,
            "rq_queue": queue,
            **more,
        }
    )


async def test_doctor_says_ready(
    slack: ServedSlack, catalog_file: Path, queue: str, live_worker: Worker, scenario: Scenario
) -> None:
    async with serving(github_app(scenario.bundle)) as github:
        settings = _doctor_settings(
            slack, catalog_file, queue, github_token="sandbox-gh-token", github_api_url=github
        )
        code, report = await run_doctor(settings)
    lines = report.splitlines()
    assert code == 0, report
    assert lines[-1] == "ready"
    assert "slack: ok (the bot is @incident-copilot in Sandbox)" in lines
    assert "workers: ok (1 live on queue" in report and "github: ok" in lines
    assert "catalog: ok (40 services" in report


async def test_doctor_numbers_what_to_fix(
    slack: ServedSlack, tmp_path: Path, queue: str, closed_redis_url: str
) -> None:
    settings = _doctor_settings(
        slack,
        _handles_only(tmp_path),
        queue,
        slack_bot_token="xapp-1-A0-2",
        redis_url=closed_redis_url,
        github_token="ghp_x",
        github_api_url=f"http://127.0.0.1:{free_port()}",
    )
    code, report = await run_doctor(settings)
    assert code == 1
    numbered = report.split("to fix (3):\n")[1].splitlines()
    assert numbered[0].startswith("1. slack: SLACK_BOT_TOKEN holds an app-level token")
    assert numbered[1].startswith("2. redis: Redis at redis://127.0.0.1:")
    assert numbered[2].startswith("3. github: ")
    assert "ready" not in report.splitlines()
    # The catalog's missing mentions are a warning, listed above but not among the fixes.
    assert "catalog: 2 services, 1 teams, and no team has a user-group id" in report
    assert slack.workspace.calls == []  # no request with a token that is not a bot's


# -- The worker ------------------------------------------------------------------------------


def test_a_worker_without_a_source_refuses_to_start(catalog_file: Path, queue: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in _VARIABLES}
    env["INCIDENT_COPILOT_CATALOG"] = str(catalog_file)
    done = subprocess.run(
        worker_command(queue), env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("rq worker: no data source is configured: set ES_URL")
    with redis.Redis.from_url(REDIS_URL) as client:
        assert client.scard(f"rq:workers:{queue}") == 0
