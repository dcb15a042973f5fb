"""Child processes that end with their parent: no server outlives the run that started it."""

from __future__ import annotations

import signal
import sys


def die_with_parent() -> None:
    """Ask Linux to SIGTERM this process when the one that started it dies, however it dies.

    For servers and worker processes a test or a benchmark starts: a benchmark killed with
    SIGTERM or SIGKILL runs no clean-up, and its children would keep running (noida-db at half
    a core and gigabytes each). Called in the child (``preexec_fn``, a pool's ``initializer``);
    elsewhere than Linux it does nothing. Linux means the *thread* that started the child: start
    long-lived servers from a thread that lives as long as they should.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
