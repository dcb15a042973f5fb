"""What the bot remembers in Redis so that redeliveries and races change nothing.

Event ids already seen (Slack retries and duplicate deliveries), a per-channel lock while an
investigation runs, which channels were investigated automatically, each channel's current
investigation and message, the threads the bot started, and feedback; for the health sweep,
how far the heads-up poster got, each action it claimed, each heads-up's message, and the
incident channel opened from it.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Protocol


class KeyValue(Protocol):
    """The few Redis commands the bot's state uses (``redis.Redis`` has them all)."""

    def set(self, name: str, value: str, /, *, nx: bool = ..., ex: int | None = ...) -> Any: ...

    def get(self, name: str, /) -> Any: ...

    def delete(self, *names: str) -> Any: ...

    def exists(self, *names: str) -> Any: ...

    def incr(self, name: str, /) -> Any: ...

    def expire(self, name: str, time: int, /) -> Any: ...

    def rpush(self, name: str, /, *values: str) -> Any: ...

    def lrange(self, name: str, start: int, end: int, /) -> Any: ...

    def sadd(self, name: str, /, *values: str) -> Any: ...

    def srem(self, name: str, /, *values: str) -> Any: ...

    def smembers(self, name: str, /) -> Any: ...


class MemoryKeys:
    """Those commands in a dict, expiry included: the demo's bot when no Redis is reachable."""

    def __init__(self) -> None:
        self._data: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def _live(self, name: str) -> Any:
        found = self._data.get(name)
        if found is None or found[0] < time.monotonic():
            self._data.pop(name, None)
            return None
        return found[1]

    def set(self, name: str, value: str, *, nx: bool = False, ex: int | None = None) -> bool:
        """SET with NX and EX."""
        with self._lock:
            if nx and self._live(name) is not None:
                return False
            self._data[name] = (time.monotonic() + (ex or 10**9), str(value))
            return True

    def get(self, name: str) -> str | None:
        """GET."""
        with self._lock:
            value = self._live(name)
            return value if isinstance(value, str) else None

    def delete(self, *names: str) -> int:
        """DEL."""
        with self._lock:
            return sum(self._data.pop(n, None) is not None for n in names)

    def exists(self, *names: str) -> int:
        """EXISTS."""
        with self._lock:
            return sum(self._live(n) is not None for n in names)

    def incr(self, name: str) -> int:
        """INCR."""
        with self._lock:
            value = int(self._live(name) or 0) + 1
            expiry = self._data.get(name, (time.monotonic() + 10**9, None))[0]
            self._data[name] = (expiry, str(value))
            return value

    def expire(self, name: str, time_: int) -> bool:
        """EXPIRE."""
        with self._lock:
            value = self._live(name)
            if value is None:
                return False
            self._data[name] = (time.monotonic() + time_, value)
            return True

    def rpush(self, name: str, *values: str) -> int:
        """RPUSH."""
        with self._lock:
            items = self._live(name) or []
            items = [*items, *values]
            expiry = self._data.get(name, (time.monotonic() + 10**9, None))[0]
            self._data[name] = (expiry, items)
            return len(items)

    def lrange(self, name: str, start: int, end: int) -> list[str]:
        """LRANGE (inclusive end, -1 for the last)."""
        with self._lock:
            items = self._live(name) or []
            return list(items[start : None if end == -1 else end + 1])

    def sadd(self, name: str, *values: str) -> int:
        """SADD."""
        with self._lock:
            members = set(self._live(name) or ())
            added = len(set(values) - members)
            expiry = self._data.get(name, (time.monotonic() + 10**9, None))[0]
            self._data[name] = (expiry, members | set(values))
            return added

    def srem(self, name: str, *values: str) -> int:
        """SREM."""
        with self._lock:
            members = set(self._live(name) or ())
            removed = len(members & set(values))
            if name in self._data:
                self._data[name] = (self._data[name][0], members - set(values))
            return removed

    def smembers(self, name: str) -> list[str]:
        """SMEMBERS."""
        with self._lock:
            return sorted(self._live(name) or ())


class BotState:
    """The bot's keys under ``{prefix}:bot:``; every key expires."""

    def __init__(self, client: KeyValue, *, prefix: str, ttl: int) -> None:
        self.client = client
        self.prefix = f"{prefix}:bot"
        self.ttl = ttl

    def key(self, *parts: str) -> str:
        """A key of the bot's, under its prefix."""
        return ":".join((self.prefix, *parts))

    def first_delivery(self, event_id: str, *, ttl: int = 3600) -> bool:
        """True the first time an event id is seen; False for its retries and duplicates."""
        return bool(self.client.set(self.key("event", event_id), "1", nx=True, ex=ttl))

    def claim_auto(self, channel: str) -> bool:
        """True once per channel: only one automatic investigation, whatever triggers it."""
        return bool(self.client.set(self.key("auto", channel), "1", nx=True, ex=self.ttl))

    def lock_channel(self, channel: str, *, seconds: float) -> bool:
        """Take the channel's running lock; False while another investigation runs there."""
        key = self.key("running", channel)
        return bool(self.client.set(key, "1", nx=True, ex=max(1, int(seconds))))

    def unlock_channel(self, channel: str) -> None:
        """Release the channel's running lock."""
        self.client.delete(self.key("running", channel))

    def hold_channel(self, channel: str, *, seconds: float) -> None:
        """Keep the running lock while the channel's investigation is still being delivered."""
        self.client.set(self.key("running", channel), "1", ex=max(1, int(seconds)))

    def is_running(self, channel: str) -> bool:
        """Whether an investigation runs in the channel now."""
        return bool(self.client.exists(self.key("running", channel)))

    def next_run(self, channel: str) -> int:
        """The channel's run number, 1 for the first investigation."""
        key = self.key("runs", channel)
        number = int(self.client.incr(key))
        self.client.expire(key, self.ttl)
        return number

    def remember(self, channel: str, *, investigation_id: str, ts: str) -> None:
        """The channel's current investigation and its message (also a thread the bot owns)."""
        value = json.dumps({"investigation_id": investigation_id, "ts": ts})
        self.client.set(self.key("current", channel), value, ex=self.ttl)
        self.client.set(self.key("thread", channel, ts), investigation_id, ex=self.ttl)

    def current(self, channel: str) -> tuple[str, str] | None:
        """The channel's current investigation id and message ts, if any."""
        raw = self.client.get(self.key("current", channel))
        if raw is None:
            return None
        found = json.loads(raw)
        return str(found["investigation_id"]), str(found["ts"])

    def thread_investigation(self, channel: str, thread_ts: str) -> str | None:
        """The investigation whose message started this thread, if the bot started it."""
        raw = self.client.get(self.key("thread", channel, thread_ts))
        return None if raw is None else raw.decode() if isinstance(raw, bytes) else str(raw)

    def sweep_cursor(self) -> int:
        """How many of the sweep's actions the heads-up poster has gone past."""
        raw = self.client.get(self.key("sweep", "cursor"))
        return int(raw) if raw is not None else 0

    def set_sweep_cursor(self, position: int) -> None:
        """Remember how far the poster got."""
        self.client.set(self.key("sweep", "cursor"), str(position), ex=self.ttl)

    def claim_sweep_action(self, identity: str) -> bool:
        """True once per action: a restart or a second replica never handles it again."""
        key = self.key("sweep", "action", identity)
        return bool(self.client.set(key, "1", nx=True, ex=self.ttl))

    def release_sweep_action(self, identity: str) -> None:
        """Give a claimed action back (it failed before anything was posted), to retry."""
        self.client.delete(self.key("sweep", "action", identity))

    def lease(self, key: str, owner: str, *, seconds: int) -> bool:
        """Take or keep a lease (``SET NX EX``, renewed by its owner): one holder at a time."""
        if self.client.set(key, owner, nx=True, ex=seconds):
            return True
        if _text(self.client.get(key)) != owner:
            return False
        self.client.expire(key, seconds)
        return True

    def release(self, key: str, owner: str) -> None:
        """Give a lease up, if this owner holds it, so that another takes over at once."""
        if _text(self.client.get(key)) == owner:
            self.client.delete(key)

    def lead_sweep(self, owner: str, *, seconds: int) -> bool:
        """Take or keep the poster's lease: one poster at a time posts, in order."""
        return self.lease(self.key("sweep", "poster"), owner, seconds=seconds)

    def leave_sweep(self, owner: str) -> None:
        """Give the lease up, so that another poster takes over at once."""
        self.release(self.key("sweep", "poster"), owner)

    def remember_headsup(self, degradation_id: str, *, ts: str, mention: bool) -> None:
        """The heads-up message of a degradation, and whether it mentioned the team."""
        value = json.dumps({"ts": ts, "mention": mention})
        self.client.set(self.key("sweep", "headsup", degradation_id), value, ex=self.ttl)

    def headsup(self, degradation_id: str) -> tuple[str, bool] | None:
        """That message's ts and whether it mentioned the team, if it was posted."""
        raw = self.client.get(self.key("sweep", "headsup", degradation_id))
        if raw is None:
            return None
        found = json.loads(raw)
        return str(found["ts"]), bool(found["mention"])

    def claim_incident(self, degradation_id: str) -> bool:
        """True for the first click of a heads-up's "Open incident channel"."""
        key = self.key("sweep", "incident", degradation_id)
        return bool(self.client.set(key, "", nx=True, ex=self.ttl))

    def remember_incident(self, degradation_id: str, channel: str) -> None:
        """The incident channel opened from a heads-up."""
        self.client.set(self.key("sweep", "incident", degradation_id), channel, ex=self.ttl)

    def release_incident(self, degradation_id: str) -> None:
        """Opening the channel failed: let the next click try again."""
        self.client.delete(self.key("sweep", "incident", degradation_id))

    def incident_of(self, degradation_id: str) -> str | None:
        """The incident channel opened from a heads-up; None while none is (or while opening)."""
        return _text(self.client.get(self.key("sweep", "incident", degradation_id))) or None

    def record_feedback(
        self, investigation_id: str, *, key_prefix: str, user: str, kind: str, channel: str
    ) -> int:
        """Store feedback with the investigation (next to its record); returns how many."""
        key = f"{key_prefix}:inv:{investigation_id}:feedback"
        entry = {"kind": kind, "user": user, "channel": channel, "at": time.time()}
        count = int(self.client.rpush(key, json.dumps(entry)))
        self.client.expire(key, self.ttl)
        return count

    def feedback(self, investigation_id: str, *, key_prefix: str) -> list[dict[str, object]]:
        """The feedback recorded for an investigation."""
        key = f"{key_prefix}:inv:{investigation_id}:feedback"
        raw = self.client.lrange(key, 0, -1)
        return [json.loads(r) for r in raw]


def _text(raw: object) -> str | None:
    """A Redis value as text (clients with and without ``decode_responses``)."""
    if raw is None:
        return None
    return raw.decode() if isinstance(raw, bytes) else str(raw)
