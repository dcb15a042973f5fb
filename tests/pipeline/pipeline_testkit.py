"""The sandbox company, stand-ins and workers for the tests (:mod:`sandbox.world`), and cleanup."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis

from sandbox.workers import Workers, kill_session, session_pids, worker_command
from sandbox.world import (
    DEFAULT_SIGNALS,
    REDIS_URL,
    Standins,
    llm_env,
    pipeline_env,
    serving,
    signal_env,
    write_catalog,
)

__all__ = [
    "DEFAULT_SIGNALS",
    "REDIS_URL",
    "Standins",
    "Workers",
    "kill_session",
    "llm_env",
    "pipeline_env",
    "redis_keys_cleaned",
    "serving",
    "session_pids",
    "signal_env",
    "worker_command",
    "write_catalog",
]


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
