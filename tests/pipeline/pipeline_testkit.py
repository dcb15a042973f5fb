"""The sandbox company, stand-ins and workers for the tests (:mod:`sandbox.world`), and cleanup."""

from __future__ import annotations

from sandbox.workers import (
    Workers,
    kill_session,
    session_pids,
    worker_command,
)
from sandbox.workers import cleaned_keys as redis_keys_cleaned
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
