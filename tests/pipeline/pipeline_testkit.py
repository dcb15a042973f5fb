"""A sandbox company served by the stand-ins, its catalog, and real RQ workers against it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import redis
import yaml
from aiohttp import web

from investigators.bundle import Bundle
from sandbox.anthropic_api import AnthropicStandinConfig, anthropic_app
from sandbox.datadog_api import datadog_app
from sandbox.elastic import elastic_proxy_app
from sandbox.faults import FAULTS, FaultPlan, run_standin
from sandbox.github_api import github_app

REDIS_URL = "redis://127.0.0.1:6379/0"
ROOT = Path(__file__).resolve().parents[2]
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
    """DD_METRIC_* and DD_EXTRA_SIGNALS covering every metric the scenario has."""
    env = {f"DD_METRIC_{k.upper()}": f"avg:{m}" for k, m in DEFAULT_SIGNALS.items()}
    extra = sorted(
        {(m.kind.value, m.name) for m in bundle.metrics} - set(DEFAULT_SIGNALS.items()),
    )
    extra = [(k, n) for k, n in extra if n not in DEFAULT_SIGNALS.values()]
    env["DD_EXTRA_SIGNALS"] = ",".join(f"{k}.{n}=avg:{n}" for k, n in extra)
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


def worker_command(queue: str) -> list[str]:
    """The Procfile's worker line, for one queue."""
    return [
        str(Path(sys.executable).with_name("rq")),
        "worker",
        "--worker-class",
        "investigators.pipeline.worker.Worker",
        "--with-scheduler",
        "--serializer",
        "rq.serializers.JSONSerializer",
        "--url",
        REDIS_URL,
        "--logging_level",
        "WARNING",
        queue,
    ]


class Workers:
    """Real ``rq worker`` processes, each in a session of its own so it can be killed whole."""

    def __init__(self, env: dict[str, str], queue: str) -> None:
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.queue = queue
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, count: int = 1) -> None:
        """Start ``count`` more workers and wait until each has registered."""
        client = redis.Redis.from_url(REDIS_URL)
        before = client.scard(f"rq:workers:{self.queue}")
        for _ in range(count):
            self.procs.append(
                subprocess.Popen(
                    worker_command(self.queue),
                    env=self.env,
                    cwd=ROOT,
                    start_new_session=True,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        until = time.monotonic() + 20
        while client.scard(f"rq:workers:{self.queue}") < before + count:
            assert time.monotonic() < until, "rq workers did not start"
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop every worker this started (SIGTERM, then SIGKILL to its whole session)."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                kill_session(proc.pid)
                proc.wait(timeout=5)
        self.procs.clear()


def session_pids(sid: int) -> list[int]:
    """The live processes of a session: a worker, its scheduler and its work horse.

    A worker's work horse calls ``setpgrp``, so killing the worker's process group misses it;
    it stays in the worker's session, which each worker here leads.
    """
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if fields[0] != "Z" and int(fields[3]) == sid:  # state, ppid, pgrp, session
            found.append(int(stat.parent.name))
    return found


def kill_session(sid: int) -> list[int]:
    """SIGKILL a whole worker at once, its main process first (so that it cannot react)."""
    pids = sorted(session_pids(sid), key=lambda pid: pid != sid)
    for pid in pids:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return pids


@contextmanager
def redis_keys_cleaned(prefix: str, queue: str) -> Iterator[redis.Redis]:
    """Delete the pipeline's keys and the RQ keys of this queue and its jobs afterwards."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        yield client
    finally:
        job_prefix = "".join(c if c.isalnum() else "_" for c in prefix)
        patterns = [f"{prefix}:*", f"rq:*{job_prefix}-*", f"rq:*:{queue}", f"rq:*:{queue}:*"]
        for pattern in patterns:
            keys = list(client.scan_iter(match=pattern, count=1000))
            if keys:
                client.delete(*keys)
        client.srem("rq:queues", f"rq:queue:{queue}")
        client.close()
