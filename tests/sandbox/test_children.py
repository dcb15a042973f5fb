"""A benchmark or test killed without clean-up leaves no noida-db behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STARTS_NOIDA = """
import time
from sandbox.elastic import NoidaServer
server = NoidaServer()
server.start()
print(server._proc.pid, flush=True)
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone too: it waits only for its (dead) parent's reaping.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ", 1)[1][0] != "Z"


def test_noida_db_ends_with_a_parent_killed_by_sigkill() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", STARTS_NOIDA], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        noida = int(parent.stdout.readline())
        assert _alive(noida)
        parent.send_signal(signal.SIGKILL)  # no finally, no atexit: as `kill -9` of a bench
        parent.wait(timeout=10)
        until = time.monotonic() + 10
        while _alive(noida) and time.monotonic() < until:
            time.sleep(0.05)
        assert not _alive(noida), "noida-db outlived the process that started it"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
