"""The Signing Secret is asked for only in HTTP mode; Socket Mode needs SLACK_APP_TOKEN instead.

From the settings the environment gives (``SLACK_APP_TOKEN=`` as ``.env.example`` has it is no
token at all), through the start-up checks, ``doctor`` and the ``bot`` command, to the README.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from slack_testkit import ServedSlack

from bot import preflight
from bot.cli import main
from bot.doctor import run_doctor
from bot.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
_SLACK = ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_API_URL")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in _SLACK:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env file


async def test_socket_mode_is_ready_without_a_signing_secret(slack: ServedSlack) -> None:
    ws = slack.workspace
    settings = load_settings(
        slack_bot_token=ws.token, slack_app_token=ws.app_token, slack_api_url=slack.url
    )
    assert preflight.slack_settings(settings) == []
    _, report = await run_doctor(settings)
    assert "slack: ok" in report.splitlines()[0]
    assert "SIGNING" not in report.upper()


async def test_http_mode_asks_for_the_signing_secret(slack: ServedSlack) -> None:
    settings = load_settings(slack_bot_token=slack.workspace.token, slack_api_url=slack.url)
    code, report = await run_doctor(settings)
    assert code != 0
    fixes = report.split("to fix", 1)[1]
    assert "1. slack: HTTP mode needs SLACK_SIGNING_SECRET" in fixes
    assert "SLACK_APP_TOKEN for Socket Mode" in fixes  # the other way out, named


def test_an_empty_app_token_is_http_mode_not_socket_mode_with_no_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1-2")
    monkeypatch.setenv("SLACK_APP_TOKEN", "")
    assert load_settings().slack_app_token is None
    (check,) = preflight.slack_settings(load_settings())
    assert check.detail == "HTTP mode needs SLACK_SIGNING_SECRET"
    out = io.StringIO()
    assert main(["bot", "--port", "0"], out=out) == 2
    assert out.getvalue() == ""  # neither "Socket Mode" nor "HTTP on"
    (line,) = capsys.readouterr().err.splitlines()
    assert "SLACK_SIGNING_SECRET" in line


def test_the_readme_asks_for_the_signing_secret_only_for_http_mode() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    connecting = text.split("## Connecting a Slack workspace", 1)[1].split("\n## ", 1)[0]
    steps, http = connecting.split("Without `SLACK_APP_TOKEN`", 1)
    assert "SLACK_SIGNING_SECRET" not in steps and "Socket Mode needs no signing secret" in steps
    assert "SLACK_SIGNING_SECRET" in http and "only HTTP mode asks for" in http


def test_a_blank_secret_or_app_token_counts_as_none() -> None:
    blank_secret = load_settings(slack_bot_token="xoxb-1-2", slack_signing_secret="  ")
    assert [c.detail for c in preflight.slack_settings(blank_secret)] == [
        "HTTP mode needs SLACK_SIGNING_SECRET"
    ]
    blank_app = load_settings(slack_bot_token="xoxb-1-2", slack_app_token=" ")
    assert not blank_app.socket_mode()
    assert [c.detail for c in preflight.slack_settings(blank_app)] == [
        "HTTP mode needs SLACK_SIGNING_SECRET"
    ]
    assert load_settings(slack_bot_token="xoxb-1-2", slack_app_token="xapp-1-A-2").socket_mode()
