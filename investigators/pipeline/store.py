"""Where an investigation's state lives: Redis for workers, memory for the local executor.

One small interface, :class:`Store`, and one key layout under a prefix, every key expiring::

    {prefix}:incident:{incident_id}        the lease: which investigation serves this incident
    {prefix}:inv:{id}:plan                 the plan (scope, window, sources, deadline)
    {prefix}:inv:{id}:result:{step}        one source's findings and telemetry (scan or dive)
    {prefix}:inv:{id}:ranking              the ranking after the broad scan
    {prefix}:inv:{id}:once:{what}          guards: a step that must happen once (SET NX)
    {prefix}:inv:{id}:chart                what the summary's chart shows, written once (SET NX)
    {prefix}:inv:{id}:summary              the summary, written once (SET NX)
    {prefix}:inv:{id}:record               what the investigation did, for audit and follow-ups
    {prefix}:inv:{id}:narrative            the model's checked narrative, or why there is none
    {prefix}:inv:{id}:usage                language-model calls: tokens, seconds, cost
    {prefix}:inv:{id}:events               progress events, oldest first
    {prefix}:inv:{id}:citations            items thread answers cited, numbered after the summary's
    {prefix}:channels                      investigations started from incident channels
    {prefix}:sweep:...                     the health sweep (investigators.pipeline.sweep)
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

import redis


class Store(Protocol):
    """Strings by key with expiry, set-if-absent, and an append-only list per key."""

    def get(self, key: str) -> str | None:
        """The value, or None."""
        ...

    def set(self, key: str, value: str, *, ttl: float, only_new: bool = False) -> bool:
        """Store ``value`` for ``ttl`` seconds; with ``only_new``, only if absent (True if set)."""
        ...

    def append(self, key: str, value: str, *, ttl: float) -> None:
        """Append to a list kept for ``ttl`` seconds."""
        ...

    def items(self, key: str, start: int = 0) -> list[str]:
        """The list from position ``start`` on."""
        ...


class Keys:
    """The key layout of one prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def lease(self, incident_id: str) -> str:
        """Which investigation serves an incident."""
        return f"{self.prefix}:incident:{incident_id}"

    def recent_channels(self) -> str:
        """Investigations started from incident channels, oldest first."""
        return f"{self.prefix}:channels"

    def sweep(self, part: str) -> str:
        """One part of the health sweep's state (``state``, ``actions``, ``mutes``...)."""
        return f"{self.prefix}:sweep:{part}"

    def inv(self, investigation_id: str, part: str) -> str:
        """One part of an investigation (``plan``, ``summary``, ``result:logs``...)."""
        return f"{self.prefix}:inv:{investigation_id}:{part}"


class RedisStore:
    """The store on Redis."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    @classmethod
    def from_url(cls, url: str) -> RedisStore:
        """A store on a fresh client for ``url``."""
        return cls(redis.Redis.from_url(url, decode_responses=True))

    def get(self, key: str) -> str | None:
        """The value, or None."""
        value = self.client.get(key)
        return None if value is None else str(value)

    def set(self, key: str, value: str, *, ttl: float, only_new: bool = False) -> bool:
        """SET with PX, and NX when ``only_new``."""
        return bool(self.client.set(key, value, px=max(1, int(ttl * 1000)), nx=only_new))

    def append(self, key: str, value: str, *, ttl: float) -> None:
        """RPUSH and refresh the expiry, atomically."""
        with self.client.pipeline() as pipe:
            pipe.rpush(key, value)
            pipe.pexpire(key, max(1, int(ttl * 1000)))
            pipe.execute()

    def items(self, key: str, start: int = 0) -> list[str]:
        """LRANGE from ``start``."""
        return [str(v) for v in self.client.lrange(key, start, -1)]


class MemoryStore:
    """The store in a dict, for the local executor (thread-safe, expiry honoured)."""

    def __init__(self) -> None:
        self._values: dict[str, tuple[float, str]] = {}
        self._lists: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        """The value, or None once expired."""
        with self._lock:
            found = self._values.get(key)
            if found is None or found[0] < time.monotonic():
                return None
            return found[1]

    def set(self, key: str, value: str, *, ttl: float, only_new: bool = False) -> bool:
        """Store, or refuse when ``only_new`` and a live value exists."""
        with self._lock:
            found = self._values.get(key)
            if only_new and found is not None and found[0] >= time.monotonic():
                return False
            self._values[key] = (time.monotonic() + ttl, value)
            return True

    def append(self, key: str, value: str, *, ttl: float) -> None:
        """Append (lists live as long as the executor here)."""
        with self._lock:
            self._lists.setdefault(key, []).append(value)

    def items(self, key: str, start: int = 0) -> list[str]:
        """The list from ``start``."""
        with self._lock:
            return list(self._lists.get(key, [])[start:])
