"""The summary message, thread answers and /rca arguments, on plain data (no I/O)."""

from __future__ import annotations

from pathlib import Path

from bot.answers import HELP, answer
from bot.blocks import (
    MAX_BLOCKS,
    MAX_SECTION,
    RERUN_ACTION,
    WRONG_ACTION,
    fallback_text,
    summary_blocks,
)
from bot.commands import parse_rca, parse_window
from investigators.catalog import load_catalog
from investigators.pipeline import Finding, Summary
from investigators.pipeline.summary import Notify, RootCause

CATALOG = Path(__file__).resolve().parents[2] / "manifests" / "services.yaml"


def _summary(*, group: str | None = "S0614PAY7", evidence: int = 8) -> Summary:
    change = Finding(
        id="changes-payments-1",
        source="changes",
        kind="deploy",
        service="payments",
        title="Retry budget <!channel> @here",
        numbers={"minutes_before_onset": 4.0},
        url="https://github.test/acme/payments/pull/7",
        details={"id": "abc123"},
    )
    findings = [
        Finding(
            id=f"logs-payments-{i}",
            source="logs",
            kind="anomaly",
            service="payments",
            title=f"error <@U0EVIL> line {i}",
            numbers={"ratio": 16.0 + i},
            url="https://kibana.test/d?a=1&b=2",
            details={"samples": ["timeout talking to payments-db <!here>"]},
        )
        for i in range(evidence)
    ]
    return Summary(
        incident_id="INC-1",
        investigation_id="abc123def",
        finished_by="complete",
        root_cause=RootCause(
            service="payments",
            team="payments",
            score=0.91,
            confidence="high",
            reasons=["errors 16x baseline from 10:02, before its callers"],
            change=change,
        ),
        evidence_ids=[f.id for f in [*findings, change]],
        evidence=[*findings, change],
        symptoms_ruled_out=["checkout", "api-gateway"],
        next_steps=["Review deploy abc123 on payments; consider rolling it back."],
        notify=Notify(team="payments", service="payments", slack_group=group) if group else None,
        ranking=[
            {"service": "payments", "score": 0.91, "confidence": "high", "reasons": ["x"]},
            {"service": "orders", "score": 0.2, "confidence": "low", "reasons": ["late onset"]},
        ],
        sources_answered=["scan:logs"],
        sources_missing=[],
    )


def _texts(blocks: list[dict]) -> str:  # type: ignore[type-arg]
    out = []
    for b in blocks:
        if "text" in b:
            out.append(b["text"]["text"])
        out += [e.get("text", "") for e in b.get("elements", []) if isinstance(e.get("text"), str)]
    return "\n".join(out)


def test_summary_names_the_cause_the_change_and_tags_only_the_owning_group() -> None:
    blocks = summary_blocks(_summary())
    text = _texts(blocks)
    assert "payments" in text and "Retry budget" in text and "high" in text
    assert "<!subteam^S0614PAY7>" in text
    assert text.count("<!") == 1 and "<@" not in text and "@here" not in text
    assert "&lt;!channel&gt;" in text
    evidence = next(b for b in blocks if "*Evidence*" in b.get("text", {}).get("text", ""))
    lines = [line for line in evidence["text"]["text"].splitlines() if line.startswith("•")]
    assert 3 <= len(lines) <= 6
    assert "ratio" in evidence["text"]["text"] and "<https://kibana.test/d?a=1&amp;b=2|" in text
    assert "Ruled out" in text and "checkout" in text
    actions = blocks[-1]["elements"]
    assert [a["action_id"] for a in actions] == [RERUN_ACTION, WRONG_ACTION]
    assert "<!subteam^S0614PAY7>" in fallback_text(_summary())


def test_a_handle_or_no_notify_mentions_nobody() -> None:
    assert "<!" not in _texts(summary_blocks(_summary(group="@payments-oncall")))
    quiet = _texts(summary_blocks(_summary(group=None)))
    assert "<!" not in quiet and "No team tagged" in quiet


def test_blocks_stay_within_slack_limits() -> None:
    big = _summary(evidence=400)
    big.symptoms_ruled_out = [f"svc-{i}" * 20 for i in range(500)]
    blocks = summary_blocks(big)
    assert len(blocks) <= MAX_BLOCKS
    for b in blocks:
        if b["type"] == "section":
            assert len(b["text"]["text"]) <= MAX_SECTION
        if b["type"] == "header":
            assert len(b["text"]["text"]) <= 150


def test_thread_answers_come_from_the_record() -> None:
    catalog = load_catalog(CATALOG)
    s = _summary()
    logs = answer("<@U0BOT> logs payments", summary=s, record=None, catalog=catalog)
    assert "error" in logs and "ratio" in logs and "timeout talking to payments-db" in logs
    assert "<@U0EVIL>" not in logs and "<!here>" not in logs
    assert "Retry budget" in answer("changes", summary=s, record=None, catalog=catalog)
    why = answer("why not checkout?", summary=s, record=None, catalog=catalog)
    assert "symptom" in why and "payments" in why
    assert "#2" in answer("why not orders", summary=s, record=None, catalog=catalog)
    assert "no anomaly" in answer("why not search?", summary=s, record=None, catalog=catalog)
    assert "Did you mean" in answer("why not paymnts?", summary=s, record=None, catalog=catalog)
    assert "16x" in answer("evidence", summary=s, record=None, catalog=catalog)
    assert answer("what is love", summary=s, record=None, catalog=catalog) == HELP
    assert "still running" in answer("timings", summary=s, record=None, catalog=catalog)


def test_rca_arguments() -> None:
    catalog = load_catalog(CATALOG)
    assert parse_rca("", catalog).services == []
    assert parse_rca("help", catalog).help
    assert parse_rca("pay 2h", catalog).services == ["payments"]
    assert parse_rca("pay 2h", catalog).window == 7200
    unknown = parse_rca("paymnts", catalog).error or ""
    assert "Did you mean" in unknown and "payments" in unknown
    malformed = parse_rca("payments 2x", catalog).error or ""
    assert "not a time window" in malformed and "30m" in malformed
    assert parse_rca("a b c", catalog).error
    assert parse_window("90s") == 90 and parse_window("30") == 30
    assert parse_window("0m") is None and parse_window("30 m") is None
