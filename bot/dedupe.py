"""What the bot remembers in Redis so that redeliveries and races change nothing.

Event ids already seen (Slack retries and duplicate deliveries), a per-channel lock while an
investigation runs, which channels were investigated automatically, each channel's current
investigation and message, the threads the bot started, and feedback.
"""

from __future__ import annotations

import json
import time

import redis


class BotState:
    """The bot's keys under ``{prefix}:bot:``; every key expires."""

    def __init__(self, client: redis.Redis, *, prefix: str, ttl: int) -> None:
        self.client = client
        self.prefix = f"{prefix}:bot"
        self.ttl = ttl

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def first_delivery(self, event_id: str, *, ttl: int = 3600) -> bool:
        """True the first time an event id is seen; False for its retries and duplicates."""
        return bool(self.client.set(self._key("event", event_id), "1", nx=True, ex=ttl))

    def claim_auto(self, channel: str) -> bool:
        """True once per channel: only one automatic investigation, whatever triggers it."""
        return bool(self.client.set(self._key("auto", channel), "1", nx=True, ex=self.ttl))

    def lock_channel(self, channel: str, *, seconds: float) -> bool:
        """Take the channel's running lock; False while another investigation runs there."""
        key = self._key("running", channel)
        return bool(self.client.set(key, "1", nx=True, ex=max(1, int(seconds))))

    def unlock_channel(self, channel: str) -> None:
        """Release the channel's running lock."""
        self.client.delete(self._key("running", channel))

    def is_running(self, channel: str) -> bool:
        """Whether an investigation runs in the channel now."""
        return bool(self.client.exists(self._key("running", channel)))

    def next_run(self, channel: str) -> int:
        """The channel's run number, 1 for the first investigation."""
        key = self._key("runs", channel)
        number = int(self.client.incr(key))
        self.client.expire(key, self.ttl)
        return number

    def remember(self, channel: str, *, investigation_id: str, ts: str) -> None:
        """The channel's current investigation and its message (also a thread the bot owns)."""
        value = json.dumps({"investigation_id": investigation_id, "ts": ts})
        self.client.set(self._key("current", channel), value, ex=self.ttl)
        self.client.set(self._key("thread", channel, ts), investigation_id, ex=self.ttl)

    def current(self, channel: str) -> tuple[str, str] | None:
        """The channel's current investigation id and message ts, if any."""
        raw = self.client.get(self._key("current", channel))
        if raw is None:
            return None
        found = json.loads(raw)
        return str(found["investigation_id"]), str(found["ts"])

    def thread_investigation(self, channel: str, thread_ts: str) -> str | None:
        """The investigation whose message started this thread, if the bot started it."""
        raw = self.client.get(self._key("thread", channel, thread_ts))
        return None if raw is None else raw.decode() if isinstance(raw, bytes) else str(raw)

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
