"""``incident-copilot doctor``: check Slack, Redis, the workers, the catalog and every source.

It ends with ``ready`` or a numbered list of what to fix. Exit status: 0 when ready, 1 when
something needs fixing, 2 when no data source is configured at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bot import preflight
from bot.preflight import Check
from bot.settings import Settings
from connectors.anthropic import AnthropicModel
from connectors.base import Connector
from connectors.datadog import DatadogMetrics
from connectors.elastic import ElasticsearchLogs
from connectors.errors import ConnectorError
from connectors.github import GitHubChanges
from connectors.records import Diagnosis

_NOT_CONFIGURED = {
    "elasticsearch": "set ES_URL and ES_API_KEY (or ES_USERNAME/ES_PASSWORD)",
    "datadog": "set DD_API_KEY and DD_APP_KEY (and DD_SITE outside US1)",
    "github": "set GITHUB_TOKEN (and GITHUB_API_URL for GitHub Enterprise)",
    "anthropic": "set ANTHROPIC_API_KEY for the narrative and thread Q&A "
    "(optional: the deterministic summary serves without it)",
}


async def _diagnose(make: Callable[[], Connector]) -> Diagnosis:
    connector = make()
    try:
        return await connector.diagnose()
    except ConnectorError as exc:
        return Diagnosis(connector=connector.name, ok=False, lines=[exc.message])
    finally:
        await connector.aclose()


async def _connectors(settings: Settings) -> list[Check]:
    """Each connector: not configured (a warning), or what its own diagnosis found."""
    es, dd, gh, llm = (
        settings.elasticsearch(),
        settings.datadog(),
        settings.github(),
        settings.anthropic(),
    )
    makers: list[tuple[str, Callable[[], Connector] | None]] = [
        ("elasticsearch", (lambda: ElasticsearchLogs(es)) if es else None),
        ("datadog", (lambda: DatadogMetrics(dd)) if dd else None),
        ("github", (lambda: GitHubChanges(gh)) if gh else None),
        ("anthropic", (lambda: AnthropicModel(llm)) if llm else None),
    ]
    checks: list[Check] = []
    for name, make in makers:
        if make is None:
            checks.append(Check(name, "warn", "not configured", _NOT_CONFIGURED[name]))
            continue
        diagnosis = await _diagnose(make)
        checks.append(Check(name, "ok" if diagnosis.ok else "fail", notes=tuple(diagnosis.lines)))
    return checks


async def _slack(settings: Settings) -> list[Check]:
    refused = preflight.slack_settings(settings)
    if any(c.detail.startswith("SLACK_BOT_TOKEN") for c in refused):
        return refused  # no request with a token that is missing or not a bot's
    return [*refused, await asyncio.to_thread(preflight.slack_auth, settings)]


async def _redis_and_workers(settings: Settings) -> list[Check]:
    config = settings.pipeline()
    checks = [await asyncio.to_thread(preflight.redis_check, config.redis_url)]
    if checks[0].status == "ok":
        checks.append(
            await asyncio.to_thread(
                preflight.workers_check, config.redis_url, config.queue, essential=True
            )
        )
    return checks


def _line(check: Check) -> list[str]:
    if check.status == "ok":
        head = f"{check.name}: ok" + (f" ({check.detail})" if check.detail else "")
    elif check.status == "warn":
        head = f"{check.name}: " + ": ".join(p for p in (check.detail, check.fix) if p)
    else:
        head = f"{check.name}: PROBLEM" + (f": {check.detail}" if check.detail else "")
    return [head, *(f"  - {note}" for note in check.notes)]


async def run_doctor(settings: Settings) -> tuple[int, str]:
    """Check everything the bot and workers need; the report and the exit status."""
    catalog = await asyncio.to_thread(preflight.catalog_check, settings.catalog_path)
    checks = [
        *await _slack(settings),
        *await _redis_and_workers(settings),
        catalog,
        *await _connectors(settings),
        preflight.sources_check(settings, essential=True),
    ]
    lines = [line for check in checks for line in _line(check)]
    to_fix = preflight.failures(checks)
    if not to_fix:
        lines.append("ready")
        return 0, "\n".join(lines)
    lines.append(f"to fix ({len(to_fix)}):")
    lines += [f"{n}. {check.name}: {check.summary}" for n, check in enumerate(to_fix, 1)]
    return (2 if not preflight.configured_sources(settings) else 1), "\n".join(lines)
