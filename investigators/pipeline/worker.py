"""The RQ worker class of the pipeline: ``rq worker -w investigators.pipeline.worker.Worker``.

An RQ worker forks a work horse per job; importing the pipeline here, in the parent, means each
horse starts with numpy, networkx, the connectors and the engine already loaded instead of
spending a second importing them. Abandoned-job checks run every 15 seconds instead of 10 min.
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
