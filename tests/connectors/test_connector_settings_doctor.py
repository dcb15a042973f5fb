"""Settings from the environment, and the doctor's report."""

from __future__ import annotations

import pytest
from aiohttp import web

from bot.doctor import run_doctor
from bot.settings import load_settings

App = tuple[web.Application, str]
_ALL = (
    "ES_URL",
    "ES_API_KEY",
    "ES_INDEX",
    "DD_API_KEY",
    "DD_APP_KEY",
    "DD_SITE",
    "DD_BASE_URL",
    "DD_METRIC_LATENCY",
    "GITHUB_TOKEN",
    "GITHUB_API_URL",
    "INCIDENT_COPILOT_CATALOG",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for name in _ALL:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env file


def test_nothing_is_configured_by_default() -> None:
    settings = load_settings()
    assert (settings.elasticsearch(), settings.datadog(), settings.github()) == (None, None, None)
    assert settings.catalog_path == "manifests/services.yaml"


def test_connectors_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ES_URL", "https://es.acme.example:9200")
    monkeypatch.setenv("ES_API_KEY", "k")
    monkeypatch.setenv("DD_API_KEY", "a")
    monkeypatch.setenv("DD_APP_KEY", "b")
    monkeypatch.setenv("DD_SITE", "datadoghq.eu")
    monkeypatch.setenv("DD_METRIC_LATENCY", "p95:trace.http.request")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_0123")
    monkeypatch.setenv("GITHUB_API_URL", "https://ghe.acme.example/api/v3")
    monkeypatch.setenv("INCIDENT_COPILOT_CATALOG", "/etc/catalog.yaml")
    settings = load_settings()
    es, dd, gh = settings.elasticsearch(), settings.datadog(), settings.github()
    assert es is not None and es.index == "logs-*" and es.service_field == "service.name"
    assert dd is not None and dd.app_base == "https://app.datadoghq.eu"
    assert (dd.signals["latency"].aggregation, dd.signals["latency"].metric) == (
        "p95",
        "trace.http.request",
    )
    assert gh is not None and gh.web_base == "https://ghe.acme.example"
    assert settings.catalog_path == "/etc/catalog.yaml"
    assert "ghp_0123" not in repr(settings) + repr(settings.github_token)


def test_one_datadog_key_is_not_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DD_API_KEY", "a")
    assert load_settings().datadog() is None


async def test_doctor_with_nothing_configured() -> None:
    code, report = await run_doctor(load_settings())
    assert code == 2
    assert "elasticsearch: not configured: set ES_URL" in report
    assert "GITHUB_TOKEN" in report


async def test_doctor_with_every_connector_working(datadog: App, github: App, elastic: App) -> None:
    settings = load_settings(
        es_url=elastic[1],
        dd_api_key="sandbox-dd-api-key",
        dd_app_key="sandbox-dd-app-key",
        dd_base_url=datadog[1],
        github_token="sandbox-gh-token",
        github_api_url=github[1],
    )
    code, report = await run_doctor(settings)
    assert code == 1  # the stand-in has no data for "now", which the doctor checks
    assert "elasticsearch: ok" in report and "github: ok" in report
    assert "no data for trace.http.request.duration in the last hour" in report


async def test_doctor_says_what_is_broken(datadog: App, github: App) -> None:
    settings = load_settings(
        dd_api_key="dd-secret-wrong",
        dd_app_key="sandbox-dd-app-key",
        dd_base_url=datadog[1],
        github_token="gh-secret-wrong",
        github_api_url=github[1],
    )
    code, report = await run_doctor(settings)
    assert code == 1
    assert "datadog: PROBLEM" in report and "DD_API_KEY" in report
    assert "github: PROBLEM" in report and "GITHUB_TOKEN" in report
    assert "elasticsearch: not configured" in report
    assert "secret" not in report
