"""The summary message, thread answers and /rca arguments, on plain data (no I/O)."""

from __future__ import annotations

import re
from pathlib import Path

from bot.answers import HELP, MAX_ANSWER, answer, is_command
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
from investigators.pipeline import Finding, Record, Summary
from investigators.pipeline.steps import SourceRecord
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
    assert "×16" in evidence["text"]["text"] and "<https://kibana.test/d?a=1&amp;b=2|" in text
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
    assert "error" in logs and "×16" in logs and "timeout talking to payments-db" in logs
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


def _flood(evidence: int = 100) -> Summary:
    """A summary whose every list and text is far longer than Slack would show."""
    s = _summary(evidence=0)
    s.evidence = [
        Finding(
            id=f"logs-svc-{i}",
            source="logs",
            kind="anomaly",
            service="payments",
            title=f"finding-{i:03d} " + "R&D <b> " * 1_000,
            numbers={"ratio": float(i)},
            url="https://kibana.test/d?q=" + "x" * 20_000,
            details={"samples": ["timeout " * 2_000] * 5},
        )
        for i in range(evidence)
    ]
    s.evidence += [
        Finding(
            id=f"changes-{i}", source="changes", kind="deploy", service="payments", title=f"c{i}"
        )
        for i in range(40)
    ]
    assert s.root_cause is not None
    s.root_cause.reasons = ["errors & timeouts <x> " * 2_000 for _ in range(1_000)]
    s.ranking[1]["reasons"] = ["late onset & more " * 3_000 for _ in range(500)]
    return s


def _record(steps: int) -> Record:
    step = SourceRecord(
        step="scan:logs " * 100,
        status="ok",
        error=None,
        attempt=1,
        seconds=0.5,
        started_at=0.0,
        findings=1,
        queries=[{"what": "q " * 1_000, "seconds": 0.1, "ok": False, "error": "e" * 5_000}] * 9,
    )
    return Record.model_construct(steps=[step] * steps, phases={"scan": 1.0}, finished_by="done")


def test_no_thread_answer_outgrows_a_slack_message() -> None:
    # Answers go out as a message's text (Slack cuts it at 40,000 characters), with room left
    # for the line the copilot adds when the language model could not answer.
    assert MAX_ANSWER + 1_200 <= 40_000
    s, record = _flood(), _record(10_000)
    for question in [
        "evidence",
        "evidence 3",
        "why not payments",
        "why not orders",
        "logs payments",
        "changes",
        "timings",
        "queries",
    ]:
        text = answer(question, summary=s, record=record, catalog=None)
        assert len(text) <= MAX_ANSWER, question
        assert "<b>" not in text and "<x>" not in text


def test_evidence_comes_a_page_at_a_time_and_every_finding_is_on_one() -> None:
    s = _flood(evidence=100)
    total = len(s.evidence)
    pages = -(-total // 15)

    first = answer("evidence", summary=s, record=None)
    assert f"… and {total - 15} more findings: `evidence 2` shows the next" in first
    assert "… and 988 more reasons, not shown" in first
    seen = []
    for page in range(1, pages + 1):
        text = answer(f"<@U0BOT> evidence {page}", summary=s, record=None)
        assert is_command(f"<@U0BOT> evidence {page}")
        if page > 1:
            assert text.startswith(f"*Evidence, page {page} of {pages}*")
        seen += re.findall(r"finding-\d{3}|\bc\d+\b", text)
        assert ("`evidence " + str(page + 1) + "` shows the next" in text) == (page < pages)
    assert seen == [f"finding-{i:03d}" for i in range(100)] + [f"c{i}" for i in range(40)]
    assert answer("evidence page 2", summary=s, record=None) == answer(
        "evidence 2", summary=s, record=None
    )
    beyond = answer(f"evidence {pages + 1}", summary=s, record=None)
    assert f"{pages} pages of evidence ({total} findings)" in beyond
    one = answer("evidence 2", summary=_summary(), record=None)
    assert one == "There is one page of evidence (9 findings): `evidence` shows it."


def test_a_link_too_long_for_a_line_is_left_out_and_the_finding_kept() -> None:
    text = answer("evidence", summary=_flood(evidence=3), record=None)
    assert "finding-000" in text and "finding-002" in text
    assert "kibana.test" not in text


def test_why_not_lists_a_dozen_reasons_and_counts_the_rest() -> None:
    s = _flood()
    root = answer("why not payments", summary=s, record=None)
    assert root.startswith("`payments` *is* the likely root cause: errors &amp; timeouts")
    assert root.endswith("; … and 988 more reasons, not shown")
    ranked = answer("why not orders", summary=s, record=None)
    assert ranked.startswith("`orders` ranked #2 (low confidence) (the root cause is")
    assert ranked.endswith("; … and 488 more reasons, not shown")


def test_logs_and_changes_say_how_many_more_and_where_they_are() -> None:
    s = _flood()
    logs = answer("logs payments", summary=s, record=None)
    assert "… and 85 more log findings: `evidence` lists every finding" in logs
    changes = answer("changes", summary=s, record=None)
    assert changes.endswith(
        "… and 30 more changes: `evidence` lists every finding, a page at a time"
    )


def test_timings_and_queries_of_a_huge_record_count_what_they_leave_out() -> None:
    record = _record(10_000)
    timings = answer("timings", summary=_summary(), record=record)
    assert re.search(r"… and [\d,]+ more steps, not shown: too long for Slack$", timings)
    queries = answer("queries", summary=_summary(), record=record)
    assert re.search(r"… and [\d,]+ more queries, not shown: too long for Slack$", queries)


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
