"""The sandbox company served for real: its stand-ins on local ports, its catalog, its settings.

:class:`Standins` serves a scenario's telemetry and changes (Datadog, GitHub, the Elasticsearch
proxy in front of noida-db) and the Anthropic stand-in from a thread of their own;
:func:`serving` starts noida-db with the scenario's logs as well. :class:`ServedSlack` serves
the Slack Web API and Socket Mode stand-ins. :func:`pipeline_env` and :func:`llm_env` give the
environment that points ``bot.settings`` at them. The demo, the tests and the benchmarks share
all of it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from investigators.bundle import Bundle
from sandbox import datadog_api, github_api
from sandbox.anthropic_api import AnthropicStandinConfig, anthropic_app
from sandbox.datadog_api import datadog_app
from sandbox.elastic import elastic_proxy_app
from sandbox.faults import FAULTS, FaultPlan, run_standin
from sandbox.github_api import github_app
from sandbox.slack_api import Workspace
from sandbox.slack_socket import SocketLink, socket_app

REDIS_URL = "redis://127.0.0.1:6379/0"
#: The signing secret the sandbox's Slack signs events with.
SIGNING_SECRET = "sandbox-signing-secret"
DEFAULT_SIGNALS = {
    "latency": "trace.http.request.duration.p95",
    "errors": "trace.http.request.errors",
    "traffic": "trace.http.request.hits",
    "saturation": "system.cpu.user",
}


def write_catalog(bundle: Bundle, path: Path) -> Path:
    """The scenario's services as a services.yaml, each with its GitHub repository."""
    teams = sorted({s.team for s in bundle.services})
    document = {
        "teams": {t: {"slack_group": f"@{t}-oncall"} for t in teams},
        "services": [
            {
                "name": s.name,
                "team": s.team,
                "kind": s.kind if s.kind != "service" else "service",
                "github_repo": f"acme/{s.name}",
                "depends_on": list(s.depends_on),
            }
            for s in bundle.services
        ],
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def signal_env(bundle: Bundle) -> dict[str, str]:
    """DD_METRIC_* and DD_EXTRA_SIGNALS covering every metric the scenario has.

    Not the per-pod series (``system.cpu.user{pod:pod-2}``): their names carry a tag, which no
    Datadog query names as a metric, and one such signal would fail the whole metrics scan.
    """
    env = {f"DD_METRIC_{k.upper()}": f"avg:{m}" for k, m in DEFAULT_SIGNALS.items()}
    extra = sorted(
        {(m.kind.value, m.name) for m in bundle.metrics if "{" not in m.name}
        - set(DEFAULT_SIGNALS.items()),
    )
    extra = [(k, n) for k, n in extra if n not in DEFAULT_SIGNALS.values()]
    env["DD_EXTRA_SIGNALS"] = ",".join(f"{k}.{n}=avg:{n}" for k, n in extra)
    return env


def signals_env(bundles: list[Bundle]) -> dict[str, str]:
    """:func:`signal_env` covering every metric of several bundles (workers read it once)."""
    env = signal_env(bundles[0])
    extra: list[str] = []
    for bundle in bundles:
        for item in signal_env(bundle)["DD_EXTRA_SIGNALS"].split(","):
            if item and item not in extra:
                extra.append(item)
    env["DD_EXTRA_SIGNALS"] = ",".join(extra)
    return env


class Standins:
    """Datadog, GitHub, an Elasticsearch proxy and Anthropic, served from a thread of their own."""

    def __init__(self, bundle: Bundle, noida_url: str) -> None:
        self.llm = AnthropicStandinConfig()
        self.apps: dict[str, web.Application] = {
            "datadog": datadog_app(bundle),
            "github": github_app(bundle),
            "elastic": elastic_proxy_app(noida_url),
            "anthropic": anthropic_app(self.llm),
        }
        self.urls: dict[str, str] = {}
        self._loop = asyncio.new_event_loop()
        self._cleanups: list[Any] = []
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> Standins:
        self._thread.start()
        for name, app in self.apps.items():
            url, cleanup = asyncio.run_coroutine_threadsafe(run_standin(app), self._loop).result(10)
            self.urls[name] = url
            self._cleanups.append(cleanup)
        return self

    def __exit__(self, *exc: object) -> None:
        for cleanup in self._cleanups:
            asyncio.run_coroutine_threadsafe(cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def switch(self, bundle: Bundle) -> None:
        """Serve another bundle's telemetry and changes from now on, on the same ports.

        The logs stay as loaded in noida-db: reload them there. The bundle is swapped on the
        stand-ins' own loop, so no request sees half of one bundle and half of the other.
        """

        async def load() -> None:
            datadog_api.load_bundle(self.apps["datadog"], bundle)
            github_api.load_bundle(self.apps["github"], bundle)

        asyncio.run_coroutine_threadsafe(load(), self._loop).result(60)

    def faults(self, name: str) -> FaultPlan:
        """The fault plan of one stand-in."""
        return self.apps[name][FAULTS]

    def clear(self) -> None:
        """No faults, no latency, the model's default slips."""
        for app in self.apps.values():
            app[FAULTS].clear()
            app[FAULTS].latency = 0.0
        defaults = AnthropicStandinConfig()
        for name in ("uncited_every", "bad_cite_every", "obey_injections", "max_tool_rounds"):
            setattr(self.llm, name, getattr(defaults, name))


@contextmanager
def serving(bundle: Bundle, *, seed: int, max_docs: int = 20_000) -> Iterator[Standins]:
    """noida-db loaded with the bundle's logs, and the Datadog and GitHub stand-ins, running."""
    from sandbox.elastic import load_logs, running_noida
    from sandbox.logs import synthesize_logs

    with running_noida() as noida:
        asyncio.run(load_logs(noida, synthesize_logs(bundle, max_docs=max_docs, seed=seed)))
        with Standins(bundle, noida) as served:
            yield served


def pipeline_env(
    *, standins: Standins, bundle: Bundle, catalog: Path, prefix: str, queue: str
) -> dict[str, str]:
    """The environment bot.settings reads, pointing at the stand-ins."""
    return {
        "ES_URL": standins.urls["elastic"],
        "ES_INDEX": "logs-*",
        "DD_API_KEY": "sandbox-dd-api-key",
        "DD_APP_KEY": "sandbox-dd-app-key",
        "DD_BASE_URL": standins.urls["datadog"],
        "GITHUB_TOKEN": "sandbox-gh-token",
        "GITHUB_API_URL": standins.urls["github"],
        "GITHUB_HTML_URL": "https://github.com",  # the stand-in's html_url links
        "INCIDENT_COPILOT_CATALOG": str(catalog),
        "REDIS_URL": REDIS_URL,
        "RQ_QUEUE": queue,
        "PIPELINE_KEY_PREFIX": prefix,
        "PIPELINE_RESULT_TTL": "600",
        **signal_env(bundle),
    }


def llm_env(standins: Standins) -> dict[str, str]:
    """The environment that points the language model at the Anthropic stand-in."""
    return {
        "ANTHROPIC_API_KEY": standins.llm.api_key,
        "ANTHROPIC_BASE_URL": standins.urls["anthropic"],
        "LLM_MODEL": "claude-sandbox",
    }


class ServedSlack:
    """A :class:`Workspace` behind the Web API and Socket Mode stand-ins, on a loop of its own."""

    def __init__(self, workspace: Workspace | None = None) -> None:
        self.workspace = workspace or Workspace()
        self.link = SocketLink(self.workspace)
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._cleanup: Any = None

    def __enter__(self) -> ServedSlack:
        self._thread.start()
        base, self._cleanup = asyncio.run_coroutine_threadsafe(
            run_standin(socket_app(self.workspace, self.link)), self._loop
        ).result(10)
        self.url = f"{base}/api/"
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
