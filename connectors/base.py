"""What investigators ask for: a log source, a metric source, a change source, a language model.

Each is a small protocol; Elasticsearch is one log source, Datadog one metric source, GitHub one
change source. Connectors are async context managers: ``async with`` closes their sessions.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from connectors.records import (
    ChangeSet,
    Diagnosis,
    ErrorCountSeries,
    Event,
    LogPattern,
    MetricSeriesRecord,
    ModelReply,
    Monitor,
)

Window = tuple[datetime, datetime]


@runtime_checkable
class Connector(Protocol):
    """Anything that talks to a source: it has a name, can check itself, and closes."""

    name: str

    async def diagnose(self) -> Diagnosis:
        """Reachability, auth and configuration, in plain words."""
        ...

    async def aclose(self) -> None:
        """Release sessions and connections."""
        ...


@runtime_checkable
class LogSource(Connector, Protocol):
    """Aggregates over error logs; never raw logs in bulk."""

    async def error_counts(
        self,
        services: Sequence[str] | None,
        start: datetime,
        end: datetime,
        interval: float,
    ) -> dict[str, ErrorCountSeries]:
        """Error lines per service per ``interval`` seconds, for all services in one request."""
        ...

    async def top_error_patterns(
        self,
        service: str,
        window: Window,
        baseline: Window,
        *,
        limit: int = 10,
    ) -> list[LogPattern]:
        """The most frequent error patterns of one service, new ones first."""
        ...


@runtime_checkable
class MetricSource(Connector, Protocol):
    """Per-service metric series, monitors and events."""

    async def signal(
        self, signal_name: str, start: datetime, end: datetime
    ) -> dict[str, MetricSeriesRecord]:
        """One signal (latency, errors, traffic, saturation) for every service, one request."""
        ...

    async def alerting_monitors(self) -> list[Monitor]:
        """Monitors in Alert or Warn now."""
        ...

    async def events(self, start: datetime, end: datetime) -> list[Event]:
        """Deploys, config changes and other events in a window."""
        ...


@runtime_checkable
class ChangeSource(Connector, Protocol):
    """Commits, merged pull requests, deployments and releases."""

    async def changes(
        self, repos: Sequence[str], since: datetime, *, with_files: bool = False
    ) -> ChangeSet:
        """Everything that changed on ``repos`` (``owner/name``) since a time."""
        ...


@runtime_checkable
class LanguageModel(Connector, Protocol):
    """A model that answers messages, and may ask for tools (the Messages API's shapes)."""

    model: str

    async def create(
        self,
        *,
        system: str,
        messages: Sequence[dict[str, Any]],
        max_tokens: int,
        timeout: float,
        tools: Sequence[dict[str, Any]] = (),
        tool_choice: str = "auto",
    ) -> ModelReply:
        """One turn: the reply to ``messages``, within ``timeout`` seconds, retries included.

        ``tool_choice`` is ``auto`` (the model may call ``tools``) or ``none`` (it must answer).
        """
        ...

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """US dollars for that many tokens."""
        ...


Registry = dict[str, Connector]
"""Configured connectors by capability name ("logs", "metrics", "changes"): a plain dict."""
