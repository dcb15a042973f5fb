"""Independent pieces of numpy work side by side, on threads.

numpy lets go of the interpreter while it sorts, gathers and reduces large arrays, so slices of
one job (batches of series to parse, slices of rows to score) run in parallel on threads without
a process's start-up or copying. Results come back in the order of the pieces, so the outcome
is the same as one after the other; with one piece or one core, nothing is started.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TypeVar

#: Threads at most: the cores this process may use, up to four (beyond, the interpreter's
#: share of the work, which does not run in parallel, dominates).
THREADS = min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1, 4)

T = TypeVar("T")
R = TypeVar("R")


def map_in_order(work: Callable[[T], R], pieces: Sequence[T]) -> list[R]:
    """``[work(p) for p in pieces]``, pieces on up to :data:`THREADS` threads at once."""
    if len(pieces) < 2 or THREADS < 2:
        return [work(p) for p in pieces]
    from concurrent.futures import ThreadPoolExecutor  # only here: its import takes 7 ms

    with ThreadPoolExecutor(max_workers=min(THREADS, len(pieces))) as pool:
        return list(pool.map(work, pieces))
