"""Retries, rate-limit waits, a concurrency cap and a circuit breaker, shared by all connectors.

A call is a function that makes one attempt. It returns a value, raises :class:`Retry` for an
outcome worth another try (connection refused, timeout, 5xx, 429), or raises a
:class:`~connectors.errors.ConnectorError` that no retry would fix (401, garbled body...).
:meth:`Resilience.call` runs attempts with exponential backoff and full jitter, bounded both in
number and in total time, so that a sick source cannot eat an incident's deadline.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Literal, TypeVar

from connectors.config import ResilienceConfig
from connectors.errors import CircuitOpen, ConnectorError, RateLimited, SourceUnavailable

T = TypeVar("T")


class Retry(Exception):
    """One attempt failed in a way another attempt may fix; ``wait`` is what the source asked."""

    def __init__(self, reason: str, *, wait: float | None = None, rate_limited: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.wait = wait
        self.rate_limited = rate_limited


BreakerState = Literal["closed", "open", "half-open"]


class CircuitBreaker:
    """Closed until ``threshold`` failures in a row; open for ``cooldown``; then one probe."""

    def __init__(
        self, *, threshold: int, cooldown: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> BreakerState:
        """closed, open, or half-open (cool-down over, a probe may go through)."""
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.cooldown:
            return "half-open"
        return "open"

    def before_attempt(self, connector: str) -> None:
        """Let the attempt through, or raise :class:`CircuitOpen`."""
        state = self.state
        if state == "closed":
            return
        if state == "half-open" and not self._probing:
            self._probing = True  # exactly one probe; the rest keep failing fast
            return
        assert self._opened_at is not None
        retry_in = max(0.0, self.cooldown - (self._clock() - self._opened_at))
        raise CircuitOpen(
            connector,
            f"{self._failures} requests in a row failed, so calls fail fast for "
            f"{retry_in:.0f}s more; check that the source is up",
            retry_in=retry_in,
        )

    def record_success(self) -> None:
        """The source answered: close the circuit."""
        self._failures = 0
        self._opened_at = None
        self._probing = False

    def record_failure(self) -> None:
        """The source failed once more; open the circuit at the threshold or on a failed probe."""
        self._failures += 1
        if self._probing or self._failures >= self.threshold:
            self._opened_at = self._clock()
        self._probing = False


class Resilience:
    """Everything that keeps one connector's calls bounded: one per connector instance."""

    def __init__(
        self,
        connector: str,
        config: ResilienceConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.connector = connector
        self.config = config
        self.breaker = CircuitBreaker(
            threshold=config.breaker_threshold, cooldown=config.breaker_cooldown, clock=clock
        )
        self._clock = clock
        self._semaphore: asyncio.Semaphore | None = None

    @property
    def semaphore(self) -> asyncio.Semaphore:
        """The concurrency cap, made on first use so it binds to the running loop."""
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.config.concurrency)
        return self._semaphore

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max, base * 2**attempt)]."""
        ceiling = min(self.config.backoff_max, self.config.backoff_base * 2**attempt)
        return random.uniform(0, ceiling)

    async def call(self, attempt: Callable[[], Awaitable[T]], *, what: str) -> T:
        """Run ``attempt`` until it succeeds, a final error, or the attempts or budget run out."""
        cfg = self.config
        started = self._clock()
        deadline = started + cfg.total_budget
        last = "no attempt made"
        for n in range(cfg.attempts):
            self.breaker.before_attempt(self.connector)
            remaining = deadline - self._clock()
            try:
                async with self.semaphore:
                    async with asyncio.timeout(min(cfg.timeout, max(remaining, 0.001))):
                        result = await attempt()
            except Retry as retry:
                last = retry.reason
                if retry.rate_limited:
                    self.breaker.record_success()  # it answered: rate limits are not outages
                    wait = self._rate_limit_wait(retry, deadline=deadline, what=what)
                else:
                    self.breaker.record_failure()
                    wait = self.backoff(n)
            except TimeoutError:
                self.breaker.record_failure()
                last = f"{what} timed out after {min(cfg.timeout, remaining):.1f}s"
                wait = self.backoff(n)
            except ConnectorError:
                self.breaker.record_success()
                raise
            else:
                self.breaker.record_success()
                return result
            if n + 1 >= cfg.attempts or self._clock() + wait >= deadline:
                break
            await asyncio.sleep(wait)
        elapsed = self._clock() - started
        raise SourceUnavailable(
            self.connector,
            f"{last} (gave up after {n + 1} attempt{'s' if n else ''} in {elapsed:.1f}s); "
            "check that the source is up and reachable from here",
        )

    def _rate_limit_wait(self, retry: Retry, *, deadline: float, what: str) -> float:
        wait = retry.wait if retry.wait is not None else self.config.backoff_base
        allowed = min(self.config.max_rate_limit_wait, deadline - self._clock())
        if wait > allowed:
            at = datetime.fromtimestamp(time.time() + wait, tz=UTC).strftime("%H:%M:%S UTC")
            raise RateLimited(
                self.connector,
                f"rate limited on {what}: asked to wait {wait:.0f}s (until {at}), longer than "
                f"the {allowed:.0f}s we may spend; try again after {at} or raise the quota",
                retry_after=wait,
            )
        return wait + random.uniform(0, min(1.0, wait * 0.1))
