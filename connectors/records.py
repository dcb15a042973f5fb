"""What connectors return: typed records, each with a ``url`` to see the same at the source."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True)


# --- logs ----------------------------------------------------------------------------------------


class ErrorCountSeries(_Record):
    """Error log lines of one service per interval; ``times`` are bucket starts, Unix seconds."""

    service: str
    times: list[float]
    counts: list[int]
    url: str

    def as_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Times and counts as float arrays, the shape the bundle holds."""
        return np.asarray(self.times, dtype=float), np.asarray(self.counts, dtype=float)


class LogPattern(_Record):
    """Error lines that differ only in ids, numbers or hosts, counted before and during."""

    service: str
    pattern: str
    count_before: int
    count_during: int
    is_new: bool = Field(description="seen during the incident but not in the baseline")
    estimated: bool = Field(description="counts scaled up from a sample rather than exact")
    samples: list[str]
    url: str


# --- metrics -------------------------------------------------------------------------------------


class MetricSeriesRecord(_Record):
    """One signal of one service: ``times`` in Unix seconds, ``values`` None where missing."""

    service: str
    signal: str
    metric: str
    query: str
    times: list[float]
    values: list[float | None]
    unit: str | None = None
    url: str

    def as_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Times and values as float arrays, NaN for gaps."""
        values = np.array([np.nan if v is None else v for v in self.values], dtype=float)
        return np.asarray(self.times, dtype=float), values


class Monitor(_Record):
    """A monitor and its overall state (Alert, Warn, No Data, OK...)."""

    id: int
    name: str
    state: str
    query: str
    services: list[str]
    tags: list[str]
    url: str
    #: When it entered its current state (``overall_state_modified``): for two monitors in
    #: Alert, which fired first. None when the API does not say.
    state_since: datetime | None = None


class Event(_Record):
    """Something that happened: a deploy, a config change, an alert."""

    id: str
    at: datetime
    title: str
    text: str
    services: list[str]
    tags: list[str]
    source: str | None
    alert_type: str | None
    url: str


# --- changes -------------------------------------------------------------------------------------


class Commit(_Record):
    """A commit on a repository; ``files`` filled only when asked for."""

    repo: str
    sha: str
    at: datetime
    author: str
    message: str
    files: list[str] | None = None
    url: str

    @property
    def title(self) -> str:
        """The first line of the message."""
        return self.message.split("\n", 1)[0]


class PullRequest(_Record):
    """A merged pull request."""

    repo: str
    number: int
    title: str
    author: str
    merged_at: datetime
    merge_commit_sha: str | None
    files: list[str] | None = None
    url: str


class Deployment(_Record):
    """A deployment and its latest status (success, failure, in_progress...)."""

    repo: str
    id: int
    sha: str
    ref: str
    environment: str
    created_at: datetime
    creator: str
    state: str | None
    description: str | None
    url: str


class Release(_Record):
    """A published release."""

    repo: str
    tag: str
    name: str
    author: str
    published_at: datetime
    url: str


class ChangeSet(_Record):
    """Every change found on some repositories since a time."""

    commits: list[Commit] = []
    pull_requests: list[PullRequest] = []
    deployments: list[Deployment] = []
    releases: list[Release] = []

    def __len__(self) -> int:
        return (
            len(self.commits) + len(self.pull_requests) + len(self.deployments) + len(self.releases)
        )


class Diagnosis(_Record):
    """What ``doctor`` found about one connector, in plain words."""

    connector: str
    ok: bool
    lines: list[str]


# --- language model ------------------------------------------------------------------------------


class ToolCall(_Record):
    """The model asks for a tool to be run with this input."""

    id: str
    name: str
    input: dict[str, Any]


class ModelReply(_Record):
    """One answer of a language model: its text, the tools it asked for, and what it cost."""

    model: str
    text: str
    tool_calls: list[ToolCall]
    stop_reason: str
    input_tokens: int
    output_tokens: int
    seconds: float
    content: list[dict[str, Any]] = Field(description="the content blocks, to send back as-is")
