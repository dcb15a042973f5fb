"""The investigation pipeline: scope, broad scan, rank, deep dive, evidence, summary.

Run on RQ workers (:class:`RqExecutor`) or in-process (:class:`LocalExecutor`); both run the
same steps (:mod:`investigators.pipeline.steps`) and give the same :class:`Summary` and
:class:`Record`.
"""

from __future__ import annotations

from investigators.pipeline.config import PipelineConfig
from investigators.pipeline.executor import (
    Handle,
    InProcessExecutor,
    LocalExecutor,
    LocalOutcome,
    RqExecutor,
)
from investigators.pipeline.investigation import Finding, IncidentRequest, ProgressEvent
from investigators.pipeline.narrative import LlmUsage, Narrative
from investigators.pipeline.qa import QaAnswer
from investigators.pipeline.steps import Record
from investigators.pipeline.summary import Summary

__all__ = [
    "Finding",
    "Handle",
    "InProcessExecutor",
    "IncidentRequest",
    "LlmUsage",
    "LocalExecutor",
    "LocalOutcome",
    "Narrative",
    "PipelineConfig",
    "ProgressEvent",
    "QaAnswer",
    "Record",
    "RqExecutor",
    "Summary",
]
