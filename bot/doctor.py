"""``incident-copilot doctor``: check every connector and say in plain words what to fix."""

from __future__ import annotations

from collections.abc import Callable

from bot.settings import Settings
from connectors.anthropic import AnthropicModel
from connectors.base import Connector
from connectors.datadog import DatadogMetrics
from connectors.elastic import ElasticsearchLogs
from connectors.errors import ConnectorError
from connectors.github import GitHubChanges
from connectors.records import Diagnosis

_NOT_CONFIGURED = {
    "elasticsearch": "not configured: set ES_URL and ES_API_KEY (or ES_USERNAME/ES_PASSWORD)",
    "datadog": "not configured: set DD_API_KEY and DD_APP_KEY (and DD_SITE outside US1)",
    "github": "not configured: set GITHUB_TOKEN (and GITHUB_API_URL for GitHub Enterprise)",
    "anthropic": "not configured: set ANTHROPIC_API_KEY for the narrative and thread Q&A "
    "(optional: the deterministic summary serves without it)",
}


async def _check(make: Callable[[], Connector]) -> Diagnosis:
    connector = make()
    try:
        return await connector.diagnose()
    except ConnectorError as exc:
        return Diagnosis(connector=connector.name, ok=False, lines=[exc.message])
    finally:
        await connector.aclose()


async def run_doctor(settings: Settings) -> tuple[int, str]:
    """Check each configured connector; exit code 0 when every configured one works."""
    lines: list[str] = []
    failed = 0
    configured = 0
    checks: list[tuple[str, Callable[[], Connector] | None]] = []
    es, dd, gh, llm = (
        settings.elasticsearch(),
        settings.datadog(),
        settings.github(),
        settings.anthropic(),
    )
    checks.append(("elasticsearch", (lambda: ElasticsearchLogs(es)) if es else None))
    checks.append(("datadog", (lambda: DatadogMetrics(dd)) if dd else None))
    checks.append(("github", (lambda: GitHubChanges(gh)) if gh else None))
    checks.append(("anthropic", (lambda: AnthropicModel(llm)) if llm else None))
    for name, make in checks:
        if make is None:
            lines.append(f"{name}: {_NOT_CONFIGURED[name]}")
            continue
        configured += name != "anthropic"  # a model alone has nothing to investigate with
        diagnosis = await _check(make)
        failed += not diagnosis.ok
        lines.append(f"{name}: {'ok' if diagnosis.ok else 'PROBLEM'}")
        lines.extend(f"  - {line}" for line in diagnosis.lines)
    if configured == 0:
        lines.append("no connector is configured: the copilot has nothing to investigate with")
        return 2, "\n".join(lines)
    lines.append(
        "all configured connectors work"
        if not failed
        else (
            f"{failed} connectors need attention" if failed > 1 else "1 connector needs attention"
        )
    )
    return (1 if failed else 0), "\n".join(lines)
