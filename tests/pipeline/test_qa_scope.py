"""Thread Q&A tools reach only the incident: its services and neighbours, its window and margin.

A service the person names in the question is reachable too; nothing else is, whatever the model
asks for. The tools run against the sandbox's stand-ins, on a finished investigation.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from connectors.records import ToolCall
from connectors.registry import build_registry, close_registry
from investigators.catalog import Catalog, CatalogService
from investigators.pipeline import LocalExecutor, PipelineConfig
from investigators.pipeline.brief import summary_brief
from investigators.pipeline.qa import SCOPE_MARGIN, named_in, neighbours, tool_scope
from investigators.pipeline.steps import Investigation, catalog_of
from investigators.pipeline.toolbox import Toolbox


def _catalog() -> Catalog:
    # edge -> checkout -> payments -> payments-db; search stands apart.
    return Catalog(
        [
            CatalogService("edge", "web", depends_on=("checkout",)),
            CatalogService("checkout", "shop", depends_on=("payments",), aliases=("cart",)),
            CatalogService("payments", "pay", depends_on=("payments-db",)),
            CatalogService("payments-db", "pay", kind="database"),
            CatalogService("search", "find"),
        ]
    )


def test_neighbours_are_callers_and_callees_within_the_hops() -> None:
    catalog = _catalog()
    assert neighbours(catalog, ["payments"], 0) == {"payments"}
    assert neighbours(catalog, ["payments"], 1) == {"checkout", "payments", "payments-db"}
    assert neighbours(catalog, ["payments"], 2) == {"edge", "checkout", "payments", "payments-db"}
    assert neighbours(catalog, ["nosuch"], 2) == set()


def test_services_named_in_a_question_by_name_or_alias() -> None:
    catalog = _catalog()
    assert named_in("what changed in search, and in the cart?", catalog) == {"search", "checkout"}
    assert named_in("why not payments-db.", catalog) == {"payments-db"}
    assert named_in("what changed in the last hour?", catalog) == set()


async def _finished(config: PipelineConfig, request) -> Investigation:  # type: ignore[no-untyped-def]
    executor = LocalExecutor(config)
    outcome = await executor.run(request)
    return Investigation.load(executor.store, config, outcome.summary.investigation_id)


def _call(name: str, **arguments: object) -> ToolCall:
    return ToolCall(id=f"toolu_{name}", name=name, input=dict(arguments))


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_tools_refuse_services_outside_the_incident_unless_the_question_names_them(
    config: PipelineConfig, request_for
) -> None:
    inv = await _finished(config, request_for())
    summary = inv.summary()
    assert summary is not None and summary.root_cause is not None
    catalog = catalog_of(config)
    scope = tool_scope("what changed?", summary=summary, plan=inv.plan, catalog=catalog)
    root = summary.root_cause.service
    assert root in scope.services and set(inv.plan.scope.named) <= scope.services
    far = [s for s in catalog.services if s not in scope.services]
    assert far, "the scope covers the whole company"
    registry = build_registry(
        elasticsearch=config.elasticsearch, datadog=config.datadog, github=config.github
    )
    try:

        def toolbox(question: str) -> Toolbox:
            return Toolbox(
                summary=summary,
                plan=inv.plan,
                catalog=catalog,
                registry=registry,
                brief=summary_brief(summary),
                scope=tool_scope(question, summary=summary, plan=inv.plan, catalog=catalog),
            )

        unasked = toolbox("what changed in the last day?")
        for call in (
            _call("search_logs", service=far[0]),
            _call("query_metric", service=far[0], signal="errors"),
            _call("list_changes", service=far[0], minutes=1440),
        ):
            content, is_error = await unasked.run(call)
            assert is_error and "outside this incident" in json.loads(content)["error"]
        content, is_error = await unasked.run(_call("search_logs", service=root))
        assert not is_error, content

        asked = toolbox(f"is {far[0]} in trouble too?")
        content, is_error = await asked.run(_call("query_metric", service=far[0], signal="errors"))
        assert not is_error, content
    finally:
        await close_registry(registry)


async def test_tools_look_only_at_the_incident_window_and_its_margin(
    config: PipelineConfig, request_for
) -> None:
    inv = await _finished(config, request_for())
    summary = inv.summary()
    assert summary is not None and summary.root_cause is not None
    catalog = catalog_of(config)
    registry = build_registry(
        elasticsearch=config.elasticsearch, datadog=config.datadog, github=config.github
    )
    try:
        toolbox = Toolbox(
            summary=summary,
            plan=inv.plan,
            catalog=catalog,
            registry=registry,
            brief=summary_brief(summary),
            # Asked a week after the incident: without a scope, "the last day" is that week's.
            now=inv.plan.window_end + 7 * 86400,
            scope=tool_scope("", summary=summary, plan=inv.plan, catalog=catalog),
        )
        service = summary.root_cause.service
        content, is_error = await toolbox.run(
            _call("query_metric", service=service, signal="errors", minutes=1440)
        )
        assert not is_error, content
        window = json.loads(content)["evidence"][0]["window"]
        assert window[0] >= _iso(inv.plan.window_start - SCOPE_MARGIN)
        assert window[1] <= _iso(inv.plan.window_end + SCOPE_MARGIN)
    finally:
        await close_registry(registry)
