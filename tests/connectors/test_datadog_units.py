"""A series' unit: what Datadog says it is wins over what the configuration assumed."""

from __future__ import annotations

from dataclasses import replace

from connectors_testkit import END, FAST, T0, make_bundle, when
from pydantic import SecretStr

from bot.settings import Settings
from connectors.config import DatadogConfig, SignalQuery
from connectors.datadog import DatadogMetrics
from investigators.bundle import Bundle, MetricKind
from sandbox.datadog_api import datadog_app
from sandbox.faults import run_standin


def _ms_bundle() -> Bundle:
    """The test company with its latency reported as a p95 in milliseconds."""
    b = make_bundle()
    metrics = [
        replace(m, name="latency.p95", values=m.values * 1000.0, unit="ms")
        if m.kind is MetricKind.LATENCY
        else m
        for m in b.metrics
    ]
    return replace(b, metrics=metrics)


async def test_the_unit_datadog_reports_wins_over_the_configured_one() -> None:
    base_url, cleanup = await run_standin(datadog_app(_ms_bundle()))
    try:
        signals = {"latency": SignalQuery(metric="latency.p95", aggregation="avg", unit="s")}
        config = DatadogConfig.model_validate(
            {
                "api_key": SecretStr("sandbox-dd-api-key"),
                "app_key": SecretStr("sandbox-dd-app-key"),
                "base_url": base_url,
                "resilience": FAST,
                "signals": signals,
            }
        )
        async with DatadogMetrics(config) as dd:
            series = await dd.signal("latency", when(T0), when(END))
    finally:
        await cleanup()
    assert {s.unit for s in series.values()} == {"ms"}


def test_a_metric_of_ones_own_does_not_inherit_the_default_metrics_unit() -> None:
    own = Settings.model_validate(
        {
            "DD_API_KEY": "k",
            "DD_APP_KEY": "a",
            "DD_METRIC_LATENCY": "avg:trace.http.request.duration.p95",
        }
    ).datadog()
    assert own is not None and own.signals["latency"].unit is None
    default = Settings.model_validate({"DD_API_KEY": "k", "DD_APP_KEY": "a"}).datadog()
    assert default is not None and default.signals["latency"].unit == "s"
