"""The configured connectors by capability: a plain dict, built from configuration objects."""

from __future__ import annotations

from connectors.anthropic import AnthropicModel
from connectors.base import Registry
from connectors.config import AnthropicConfig, DatadogConfig, ElasticsearchConfig, GitHubConfig
from connectors.datadog import DatadogMetrics
from connectors.elastic import ElasticsearchLogs
from connectors.github import GitHubChanges


def build_registry(
    *,
    elasticsearch: ElasticsearchConfig | None = None,
    datadog: DatadogConfig | None = None,
    github: GitHubConfig | None = None,
    anthropic: AnthropicConfig | None = None,
) -> Registry:
    """``{"logs", "metrics", "changes", "llm"}``: the connectors that are configured."""
    registry: Registry = {}
    if elasticsearch is not None:
        registry["logs"] = ElasticsearchLogs(elasticsearch)
    if datadog is not None:
        registry["metrics"] = DatadogMetrics(datadog)
    if github is not None:
        registry["changes"] = GitHubChanges(github)
    if anthropic is not None:
        registry["llm"] = AnthropicModel(anthropic)
    return registry


async def close_registry(registry: Registry) -> None:
    """Close every connector of the registry."""
    for connector in registry.values():
        await connector.aclose()
