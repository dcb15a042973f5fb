"""A local Elasticsearch for the sandbox: noida-db on a free port, a fault proxy, a log loader.

``noida-db`` (a single binary that speaks the Elasticsearch REST API) is started in its own
temporary data directory, so several can run at once and nothing is left behind::

    with running_noida() as url: ...           # sync, e.g. a session fixture
    async with async_running_noida() as url: ...

:func:`elastic_proxy_app` puts an aiohttp stand-in in front of it that records every request
and injects faults, like the Datadog and GitHub stand-ins; :func:`load_logs` indexes the log
documents :mod:`sandbox.logs` synthesizes from a bundle.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from elasticsearch import AsyncElasticsearch, helpers

from sandbox.children import die_with_parent
from sandbox.faults import RecordedRequest, free_port, install_faults

ECS_MAPPINGS: dict[str, Any] = {
    "properties": {
        "@timestamp": {"type": "date"},
        "service": {"properties": {"name": {"type": "keyword"}}},
        "log": {"properties": {"level": {"type": "keyword"}}},
        "host": {"properties": {"name": {"type": "keyword"}}},
        "trace": {"properties": {"id": {"type": "keyword"}}},
        "message": {
            "type": "text",
            "fields": {"keyword": {"type": "keyword", "ignore_above": 1024}},
        },
    }
}


def noida_binary() -> str:
    """The noida-db executable: the binary inside the wheel, else the one on PATH."""
    try:
        inside = files("noida_db").joinpath("noida-db")
        if inside.is_file():
            return str(inside)
    except ModuleNotFoundError:
        pass
    found = shutil.which("noida-db")
    if found is None:
        raise RuntimeError("noida-db is not installed: pip install 'noida-db==0.2.3'")
    return found


class NoidaServer:
    """One noida-db process serving only Elasticsearch, in a throwaway data directory."""

    def __init__(self, *, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, *, wait: float = 20.0) -> str:
        """Start the process and return its URL once it answers."""
        self._dir = tempfile.TemporaryDirectory(prefix="noida-")
        log = Path(self._dir.name) / "noida.log"
        with log.open("wb") as out:
            self._proc = subprocess.Popen(
                [
                    noida_binary(),
                    "start",
                    "--data-dir",
                    str(Path(self._dir.name) / "data"),
                    "--only",
                    "elasticsearch",
                    "--host",
                    "127.0.0.1",
                    "--elasticsearch-port",
                    str(self.port),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                # Gone with whatever started it, even a benchmark killed without clean-up.
                preexec_fn=die_with_parent,
            )
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(self.url, timeout=1) as resp:
                    if resp.status == 200:
                        return self.url
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)
        tail = log.read_text(errors="replace")[-800:]
        self.stop()
        raise RuntimeError(f"noida-db did not start on {self.url}: {tail}")

    def stop(self) -> None:
        """Stop the process and delete its data."""
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None


@contextmanager
def running_noida() -> Iterator[str]:
    """``with running_noida() as url``: an empty Elasticsearch for the block."""
    server = NoidaServer()
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@asynccontextmanager
async def async_running_noida() -> AsyncIterator[str]:
    """The async form of :func:`running_noida`."""
    server = NoidaServer()
    await asyncio.to_thread(server.start)
    try:
        yield server.url
    finally:
        await asyncio.to_thread(server.stop)


# --- a recording, fault-injecting proxy --------------------------------------------------------

_UPSTREAM = web.AppKey("upstream", str)
_SESSION = web.AppKey("session", aiohttp.ClientSession)
_HOP_HEADERS = {"content-length", "transfer-encoding", "connection", "content-encoding"}


def _es_error(status: int, message: str) -> dict[str, Any]:
    kind = "es_rejected_execution_exception" if status == 429 else "exception"
    cause = {"type": kind, "reason": message}
    return {"error": {"root_cause": [cause], **cause}, "status": status}


async def _forward(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    headers = {k: v for k, v in request.headers.items() if k.lower() not in {"host", *_HOP_HEADERS}}
    async with request.app[_SESSION].request(
        request.method,
        request.app[_UPSTREAM] + request.rel_url.raw_path_qs,
        data=body or None,
        headers=headers,
    ) as upstream:
        payload = await upstream.read()
        out = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_HEADERS}
        return web.Response(body=payload, status=upstream.status, headers=out)


def elastic_proxy_app(
    upstream: str, *, sinks: list[list[RecordedRequest]] | None = None
) -> web.Application:
    """A stand-in that forwards to ``upstream`` (noida-db), recording and injecting faults."""
    app = web.Application()
    install_faults(app, error_shape=_es_error, sinks=sinks)
    app[_UPSTREAM] = upstream.rstrip("/")

    async def session_ctx(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as session:
            app[_SESSION] = session
            yield

    app.cleanup_ctx.append(session_ctx)
    app.router.add_route("*", "/{tail:.*}", _forward)
    return app


# --- loading logs --------------------------------------------------------------------------------


async def load_logs(
    url: str,
    documents: Iterable[dict[str, Any]],
    *,
    index: str = "logs-sandbox",
    chunk_size: int = 5000,
) -> int:
    """Create ``index`` with ECS mappings and bulk-index ``documents``; returns how many."""
    async with AsyncElasticsearch(url, request_timeout=120) as client:
        if not await client.indices.exists(index=index):
            await client.indices.create(index=index, mappings=ECS_MAPPINGS)
        actions = ({"_index": index, "_source": doc} for doc in documents)
        # aiohttp warns about (and under -W error, fails on) request bodies over 1 MiB.
        count, errors = await helpers.async_bulk(
            client,
            actions,
            chunk_size=chunk_size,
            max_chunk_bytes=1_000_000,
            raise_on_error=True,
            stats_only=True,
        )
        await client.indices.refresh(index=index)
    if errors:
        raise RuntimeError(f"{errors} log documents failed to index into {index}")
    return count


async def replace_logs(
    url: str, documents: Iterable[dict[str, Any]], *, index: str = "logs-sandbox"
) -> int:
    """Drop ``index`` and load ``documents`` into it afresh (the next incident's logs)."""
    async with AsyncElasticsearch(url, request_timeout=120) as client:
        await client.indices.delete(index=index, ignore_unavailable=True)
    return await load_logs(url, documents, index=index)
