"""Real processes for fault drills: a Redis server of its own, and ``incident-copilot bot``.

Both are what production runs (Debian's ``redis-server``; the project's console script in HTTP
mode), started as child processes so that a test or a benchmark can stop Redis for a while, or
SIGKILL the bot mid-investigation and start it again, and watch what reaches Slack.

The Redis server keeps an append-only file synced on every write: stopping and starting it
loses nothing, as with a production Redis that restarts.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis

from sandbox.faults import free_port
from sandbox.workers import ROOT, kill_session


def _wait_for_port(port: int, *, timeout: float, proc: subprocess.Popen[bytes], what: str) -> None:
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening")
        with socket.socket() as probe:
            probe.settimeout(0.2)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on :{port} within {timeout:g} s")


class RedisServer:
    """``redis-server`` on a port of its own, with its data in ``directory``."""

    def __init__(self, directory: Path, *, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(
                "redis-server is not installed (Debian: apt-get install redis-server)"
            )
        self.binary = binary
        self.directory = directory
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's URL, database 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start (or start again) and wait until it answers PING."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", str(self.directory),
                "--save", "",
                "--appendonly", "yes",
                "--appendfsync", "always",
                "--logfile", str(self.directory / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_for_port(self.port, timeout=20, proc=self.proc, what="redis-server")
        client = redis.Redis.from_url(self.url)
        until = time.monotonic() + 20
        while True:
            try:
                client.ping()
                return self
            except redis.exceptions.BusyLoadingError:
                if time.monotonic() > until:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        """Shut down as on SIGTERM (the append-only file is complete); clients are refused."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
        self.proc = None


class BotProcess:
    """``incident-copilot bot`` in HTTP mode, in a session of its own so it can be killed whole."""

    def __init__(self, env: dict[str, str], *, log: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.env = {**os.environ, **env, "PORT": str(self.port), "PYTHONUNBUFFERED": "1"}
        self.env.pop("SLACK_APP_TOKEN", None)  # HTTP mode
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def events_url(self) -> str:
        """Where Slack sends events and commands."""
        return f"http://127.0.0.1:{self.port}/slack/events"

    def start(self) -> BotProcess:
        """Start and wait until it listens."""
        command = [str(Path(sys.executable).with_name("incident-copilot")), "bot"]
        with self.log.open("ab") as sink:
            self.proc = subprocess.Popen(
                command, env=self.env, cwd=ROOT, start_new_session=True, stdout=sink, stderr=sink
            )
        _wait_for_port(self.port, timeout=60, proc=self.proc, what="incident-copilot bot")
        return self

    def kill(self) -> None:
        """SIGKILL the bot and everything it started, at once: it cannot react."""
        if self.proc is not None and self.proc.poll() is None:
            kill_session(self.proc.pid)
            self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None
