"""Real ``rq worker`` processes, as the Procfile starts them, and how to kill one outright."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import redis

from sandbox.world import REDIS_URL

ROOT = Path(__file__).resolve().parents[1]


def worker_command(queue: str, *, redis_url: str = REDIS_URL) -> list[str]:
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
        redis_url,
        "--logging_level",
        "WARNING",
        queue,
    ]


class Workers:
    """Real ``rq worker`` processes, each in a session of its own so it can be killed whole."""

    def __init__(self, env: dict[str, str], queue: str, *, redis_url: str = REDIS_URL) -> None:
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.queue = queue
        self.redis_url = redis_url
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, count: int = 1) -> None:
        """Start ``count`` more workers and wait until each has registered."""
        client = redis.Redis.from_url(self.redis_url)
        before = client.scard(f"rq:workers:{self.queue}")
        for _ in range(count):
            self.procs.append(
                subprocess.Popen(
                    worker_command(self.queue, redis_url=self.redis_url),
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

    def alive(self) -> int:
        """How many of the workers this started are still running."""
        return sum(proc.poll() is None for proc in self.procs)

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
def cleaned_keys(prefix: str, queue: str) -> Iterator[redis.Redis]:
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
