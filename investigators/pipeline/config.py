"""What the investigation pipeline needs to know: sources, catalog, Redis, deadlines.

Plain pydantic models, filled in by ``bot.settings`` (the one place the environment is read).
RQ workers rebuild the configuration from a factory named by a dotted path (``module:function``,
for example ``bot.settings:pipeline_config``), so that no secret ever travels through Redis.
"""

from __future__ import annotations

import importlib
from functools import cache

from pydantic import BaseModel, ConfigDict, Field

from connectors.config import AnthropicConfig, DatadogConfig, ElasticsearchConfig, GitHubConfig


class LlmBudget(BaseModel):
    """What the language model may spend: per narrative, and per question in a thread."""

    model_config = ConfigDict(frozen=True)

    narrative_input_tokens: int = Field(default=20_000, gt=0, description="evidence sent")
    narrative_output_tokens: int = Field(default=600, gt=0)
    narrative_seconds: float = Field(default=20.0, gt=0, description="never past the deadline")
    qa_steps: int = Field(default=4, ge=1, description="model calls per question, tools between")
    qa_input_tokens: int = Field(default=40_000, gt=0, description="summed over the steps")
    qa_output_tokens: int = Field(default=600, gt=0)
    qa_seconds: float = Field(default=25.0, gt=0)
    min_sentences: int = Field(default=2, ge=1, description="a narrative shorter falls back")
    min_share: float = Field(default=0.5, ge=0, le=1, description="of sentences that must cite")


class PipelineConfig(BaseModel):
    """Connector configurations, the catalog, and the pipeline's limits."""

    model_config = ConfigDict(frozen=True)

    catalog_path: str = "manifests/services.yaml"
    elasticsearch: ElasticsearchConfig | None = None
    datadog: DatadogConfig | None = None
    github: GitHubConfig | None = None
    llm: AnthropicConfig | None = None
    llm_budget: LlmBudget = LlmBudget()
    redis_url: str = "redis://127.0.0.1:6379/0"
    queue: str = "incident-copilot"
    key_prefix: str = "incident-copilot"
    deadline: float = Field(default=45.0, gt=0, description="seconds from enqueue to summary")
    result_ttl: int = Field(default=7 * 86400, gt=0, description="seconds results are kept")
    job_timeout: int = Field(default=30, gt=0, description="seconds one job may run")
    retries: int = Field(default=2, ge=0, description="extra tries of a transiently failing job")
    retry_backoff: tuple[int, ...] = (1, 3)
    deep_dive_top: int = Field(default=3, ge=0, description="candidates looked at closely")
    # The engine dates a memory leak up to two hours before the alert and wants history
    # before that to compare with.
    baseline: float = Field(default=3 * 3600.0, gt=0, description="history fetched, seconds")
    lookahead: float = Field(default=30 * 60.0, gt=0, description="seconds after the start")
    sweep_interval: float = Field(default=600.0, ge=60, description="seconds between sweeps")
    sweep_mention: str = Field(
        default="high", description="lowest heads-up severity that mentions the team (or none)"
    )
    sweep_cover_hours: float = Field(
        default=12.0, ge=0, description="an incident channel this recent covers its services"
    )


@cache
def load_config(ref: str) -> PipelineConfig:
    """Call the factory named by ``module:function`` once per process and keep its result."""
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise ValueError(f"config factory {ref!r} should look like 'package.module:function'")
    factory = getattr(importlib.import_module(module_name), attr)
    config = factory()
    if not isinstance(config, PipelineConfig):
        raise TypeError(f"{ref} returned {type(config).__name__}, not a PipelineConfig")
    return config
