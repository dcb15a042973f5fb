"""The RQ worker class of the pipeline: ``rq worker -w investigators.pipeline.worker.Worker``.

An RQ worker forks a work horse per job; importing the pipeline here, in the parent, means each
horse starts with numpy, networkx, the connectors and the engine already loaded instead of
spending a second importing them. Abandoned-job checks run every 15 seconds instead of 10 min.

An idle RQ worker blocks on its queues for ``worker_ttl - 15`` seconds (405 by default) and runs
its maintenance only between two waits; so the wait is capped at the maintenance interval too.
Otherwise, when a worker holding the scheduler lock dies, the idle survivors would take the lock
over (and enqueue the deadline jobs it held back) only minutes after the lock expired.
"""

from __future__ import annotations

from typing import Any

from rq.worker import Worker as _RqWorker

import investigators.pipeline.jobs
import investigators.pipeline.sources
import investigators.rca  # noqa: F401

#: Seconds between a worker's registry clean-ups (abandoned jobs are retried then).
MAINTENANCE_INTERVAL = 15


class Worker(_RqWorker):
    """An RQ worker with the pipeline preloaded and frequent maintenance."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["maintenance_interval"] = min(
            int(kwargs.get("maintenance_interval") or MAINTENANCE_INTERVAL), MAINTENANCE_INTERVAL
        )
        super().__init__(*args, **kwargs)

    @property
    def dequeue_timeout(self) -> int:
        """Wake up at least once per maintenance interval, even with nothing to do."""
        return max(1, min(super().dequeue_timeout, self.maintenance_interval))
