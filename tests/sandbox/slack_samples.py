"""A summary for the sandbox's Slack views: payments-db after a deploy, with hostile text."""

from __future__ import annotations

from investigators.pipeline.investigation import Finding
from investigators.pipeline.summary import Notify, RootCause, Summary

GROUPS = {"S0PAYMENTS": "payments"}
PR = "https://github.com/acme/payments-db/pull/42?tab=files&view=split"


def payments_summary() -> Summary:
    """payments-db saturated after a deploy; hostile text in the deploy title and a log line."""
    deploy = Finding(
        id="github-payments-db-1",
        source="github",
        kind="deploy",
        service="payments-db",
        title="Raise connection pool <!channel>",
        url=PR,
        numbers={"minutes_before": 3},
    )
    logs = Finding(
        id="logs-checkout-1",
        source="logs",
        kind="log",
        service="checkout",
        title="timeout calling payments-db <script>alert(1)</script>",
        numbers={"count": 120},
    )
    return Summary(
        incident_id="INC-2041",
        investigation_id="inv-2041",
        finished_by="complete",
        root_cause=RootCause(
            service="payments-db",
            team="payments",
            score=0.92,
            confidence="high",
            reasons=["connections saturated 4 minutes before its callers' errors"],
            change=deploy,
        ),
        evidence_ids=[deploy.id, logs.id],
        evidence=[deploy, logs],
        symptoms_ruled_out=["checkout", "api-gateway"],
        next_steps=["Roll back payments-db PR #42"],
        notify=Notify(team="payments", service="payments-db", slack_group="S0PAYMENTS"),
        ranking=[],
        sources_answered=["github", "logs"],
        sources_missing=[],
    )
