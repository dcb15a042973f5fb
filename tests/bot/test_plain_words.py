"""What an on-call engineer reads at 3 a.m.: plain numbers, UTC times, one-sentence changes.

The summary of every fault type the sandbox makes is rendered the way Slack shows it (the
message, its thread detail, the deterministic answers), and no internal key, z-score or raw
float may reach the text. Then the wording's rules one by one: units, ratios, times against the
alert, a change after the onset, plurals and possessives.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.answers import answer
from bot.blocks import details_text, dropped_line, fallback_text, root_text, summary_blocks
from investigators.bundle import Change, ChangeKind
from investigators.catalog import load_catalog
from investigators.phrasing import bare_title, listing, possessive, quantity, ratio, relative
from investigators.pipeline import Finding, Summary
from investigators.pipeline.investigation import (
    IncidentRequest,
    SourceResult,
    finding_id,
    make_plan,
)
from investigators.pipeline.summary import Alert, RootCause, build_summary, finding_words
from investigators.rca import analyse
from investigators.wording import change_sentence
from sandbox.scenarios import FAULT_TYPES, Scenario, generate_scenario
from sandbox.world import write_catalog

#: What must never reach people: raw floats, z-scores, internal keys, doubled words.
FORBIDDEN = {
    "a float with more than two decimals": re.compile(r"(?<![\w.])\d+\.\d{3,}"),
    "a z-score": re.compile(r"robust|\bsd\b|z-score", re.IGNORECASE),
    "an internal key": re.compile(
        r"minutes_before_onset|count_before|count_during|\bscore\b|\bbaseline \d|\bcurrent \d"
        r"|\bratio \d|\bbefore \d|\bduring \d|\bseverity \d|\bnumber \d|\bfiles \d"
    ),
    "a snake_case key": re.compile(r"(?<![\w./=%-])[a-z]+_[a-z_]+(?![\w./])"),
    "a doubled word": re.compile(r"\b(\w{2,})\s+\1\b", re.IGNORECASE),
    "a possessive after s": re.compile(r"s's\b"),
    "a plural hedge": re.compile(r"\w\(s\)"),
    "a singular count with a plural noun": re.compile(
        r"(?<![\d.,])1 (?:lines|sentences|services|files|items|minutes|changes|findings)\b"
    ),
    "an x for times": re.compile(r"(?<![\w])x\d"),
}
#: Links and code spans hold metric names, queries and URLs: not words people read as prose.
_NOT_PROSE = re.compile(r"<[^>|]*\|([^>]*)>|<[^>]*>|`[^`]*`|https?://\S+|hxxps?://\S+")


def prose(text: str) -> str:
    """The words of a mrkdwn text, links reduced to their labels, code and URLs left out."""
    return _NOT_PROSE.sub(lambda m: m.group(1) or " ", text)


def problems(text: str) -> list[str]:
    """What in ``text`` people should not have to read, named."""
    words = prose(text)
    return [f"{what}: {m.group(0)!r}" for what, p in FORBIDDEN.items() if (m := p.search(words))]


def _block_texts(blocks: list[dict]) -> str:  # type: ignore[type-arg]
    out = []
    for b in blocks:
        if "text" in b:
            out.append(b["text"]["text"])
        out += [e.get("text", "") for e in b.get("elements", []) if isinstance(e.get("text"), str)]
    return "\n".join(out)


def _source_results(scenario: Scenario, root: str, at: float) -> dict[str, SourceResult]:
    """What the monitors, log and change sources would have brought back, as they shape it."""
    service = root
    monitor = Finding(
        id=finding_id("monitors", service, 7),
        source="monitors",
        kind="monitor",
        service=service,
        title=f"Alert: Errors are high on {service}",
        numbers={"severity": 2.0},
        url="https://app.datadoghq.com/monitors/7",
        details={"query": "avg(last_5m):sum:errors{*} > 5", "state": "Alert", "monitor_id": 7},
    )
    logs = [
        Finding(
            id=finding_id("logs", service, pattern),
            source="logs",
            kind=kind,
            service=service,
            title=pattern,
            numbers={"before": before, "during": during},
            at=at,
            url="https://kibana.example/app/discover",
            details={"samples": [f"{pattern} (sample)"], "estimated": False},
        )
        for pattern, kind, before, during in (
            ("Timeout after <num> calling <host>", "new_log_pattern", 0.0, 1.0),
            ("upstream request failed: <num>", "log_pattern", 3.0, 71.0),
        )
    ]
    changes = [
        Finding(
            id=finding_id("changes", service, "0123456789abcdef0123"),
            source="changes",
            kind="commit",
            service=service,
            title="Raise pool size",
            numbers={"files": 1.0},
            at=at - 300.0,
            url="https://github.com/acme/x/commit/0123456789abcdef0123",
            details={"sha": "0123456789abcdef0123", "author": "octocat", "files": ["a.py"]},
        ),
        Finding(
            id=finding_id("changes", service, "pr", 42),
            source="changes",
            kind="pull_request",
            service=service,
            title="Raise pool size",
            numbers={"number": 42.0},
            at=at - 600.0,
            url="https://github.com/acme/x/pull/42",
            details={"author": "octocat", "files": ["a.py"], "merge_commit_sha": "abc"},
        ),
    ]

    def ok(source: str, phase: str, findings: list[Finding]) -> SourceResult:
        return SourceResult(
            source=source,
            phase=phase,  # type: ignore[arg-type]
            status="ok",
            findings=findings,
            started_at=at,
            ended_at=at + 1,
        )

    return {
        "scan:monitors": ok("monitors", "scan", [monitor]),
        "dive:logs": ok("logs", "dive", logs),
        "dive:changes": ok("changes", "dive", changes),
    }


def _summary_of(fault: str, seed: int, tmp_path: Path) -> Summary:
    scenario = generate_scenario(seed=seed, fault=fault)
    bundle = scenario.bundle
    catalog = load_catalog(write_catalog(bundle, tmp_path / f"{fault}-{seed}.yaml"))
    request = IncidentRequest(
        incident_id=bundle.incident.id,
        started_at=bundle.incident.started_at,
        services=list(bundle.incident.symptom_services),
        title=bundle.incident.title,
    )
    plan = make_plan(
        request,
        catalog=catalog,
        sources=["logs", "metrics", "changes", "monitors"],
        deadline=60.0,
        baseline=6 * 3600.0,
        lookahead=3600.0,
    )
    analysis = analyse(bundle)
    root = analysis.result.ranking[0].service if analysis.result.ranking else scenario.truth.root
    return build_summary(
        plan,
        catalog=catalog,
        bundle=bundle,
        analysis=analysis,
        results=_source_results(scenario, root or "", bundle.incident.started_at),
        finished_by="complete",
    )


@pytest.mark.parametrize("seed", [0, 2, 7])
@pytest.mark.parametrize("fault", FAULT_TYPES)
def test_every_fault_reads_as_plain_words(fault: str, seed: int, tmp_path: Path) -> None:
    summary = _summary_of(fault, seed, tmp_path)
    message = _block_texts(summary_blocks(summary, title="inc"))
    thread = details_text(summary, open_questions=True)
    answers = [
        answer(q, summary=summary, record=None)
        for q in ("evidence", "changes", "why not frontend", "evidence 2")
    ]
    for what, text in [
        ("message", message),
        ("fallback", fallback_text(summary)),
        ("thread", thread),
        *(("answer", a) for a in answers),
        *(("next step", s) for s in summary.next_steps),
        *(("reason", r) for item in summary.ranking for r in item["reasons"]),  # type: ignore[attr-defined]
    ]:
        assert not problems(text), f"{fault} seed {seed}, {what}: {problems(text)}\n{text}"
    root = summary.root_cause
    assert root is not None
    header = summary_blocks(summary)[0]["text"]["text"]
    assert re.fullmatch(r"Likely root cause \((high|medium|low) confidence\): \S+", header)
    assert "UTC" in message
    if root.change is not None:  # rolled back when it came before the trouble, never after
        after = finding_words(root.change, summary.alert).after
        assert any("rolling it back" in step for step in summary.next_steps) is not after
    if summary.alert is not None and summary.alert.service != root.service:
        assert "*Alert:*" in message
        assert re.search(r"\d+ (s|min|h) (before|after) the alert", message), message


def test_numbers_are_said_in_their_unit_and_rounded() -> None:
    assert quantity(225.689, "ms") == "226 ms"
    assert quantity(1234.5, "ms") == "1.2 s"
    assert quantity(0.2257, "s") == "226 ms"
    assert quantity(7.123, "1/s") == "7.1/s"
    assert quantity(99.951, "percent") == "99.95%"
    assert quantity(94.3, "%") == "94%"
    assert quantity(42, "count", step=300) == "42 per 5 min"
    assert quantity(1, "lines/min") == "1 line/min"
    assert quantity(5.3e8, "B") == "530 MB"
    assert quantity(3.14159, None) == "3.1"
    assert (ratio(3.14), ratio(14.2), ratio(float("inf"))) == ("×3.1", "×14", "")


def test_times_are_said_against_the_alert() -> None:
    assert relative(100.0, 340.0, "the alert") == "4 min before the alert"
    assert relative(400.0, 340.0, "the alert") == "1 min after the alert"
    assert relative(335.0, 340.0, "the alert") == "at about the same time as the alert"


def test_grammar_of_lists_and_possessives() -> None:
    assert possessive("invoices") == "invoices'" and possessive("frontend") == "frontend's"
    assert listing(["a"]) == "a" and listing(["a", "b", "c"]) == "a, b and c"
    assert listing([str(i) for i in range(8)]) == "0, 1, 2, 3, 4 and 3 more"
    assert dropped_line(4, 1) == (
        "1 of the model's 5 sentences was removed: it cited no evidence that supports it."
    )
    assert dropped_line(1, 2).startswith("2 of the model's 3 sentences were removed: they")


def test_a_change_is_one_sentence_without_saying_deploy_twice() -> None:
    deploy = Change(
        service="pricing",
        kind=ChangeKind.DEPLOY,
        at=1_000.0,
        id="a1b2c3d4e5f60718293a",
        title="deploy of pricing: Raise pool size",
        author="octocat",
    )
    assert change_sentence(deploy, 1_180.0, "errors began") == (
        'deploy a1b2c3d "Raise pool size" by octocat, 3 min before errors began'
    )
    assert change_sentence(deploy, 880.0, "errors began").endswith(", 2 min after errors began")
    assert bare_title("Deployment pipeline fix", "deploy", "pricing") == "Deployment pipeline fix"


def _late_change_summary() -> Summary:
    onset = 1_795_190_000.0
    change = Finding(
        id="changes-pricing-1",
        source="changes",
        kind="deploy",
        service="pricing",
        title="Raise pool size",
        numbers={"minutes_before_onset": -2.0},
        at=onset + 120.0,
        url="https://github.com/acme/pricing/pull/7",
        details={
            "id": "a1b2c3d4e5f6",
            "author": "octocat",
            "onset": onset,
            "began": "errors began",
        },
    )
    return Summary(
        incident_id="INC-1",
        investigation_id="inv-1",
        finished_by="complete",
        root_cause=RootCause(
            service="pricing",
            team="growth",
            score=0.8,
            confidence="medium",
            reasons=["errors 7.1/s, up from 1.2/s (×5.8) since 09:31 UTC"],
            change=change,
            said="errors 7.1/s, up from 1.2/s (×5.8) since 09:31 UTC, 4 min before the alert",
        ),
        evidence_ids=[change.id],
        evidence=[change],
        symptoms_ruled_out=[],
        next_steps=[],
        notify=None,
        ranking=[],
        sources_answered=[],
        sources_missing=[],
        alert=Alert(service="checkout", at=onset + 240.0, said="errors 20/s, up from 1/s"),
    )


def test_a_change_after_the_onset_is_never_called_its_cause() -> None:
    summary = _late_change_summary()
    assert summary.root_cause is not None
    text = root_text(summary, summary.root_cause)
    pr = "<https://github.com/acme/pricing/pull/7|Raise pool size>"
    assert f"*Change:* deploy a1b2c3d *{pr}*" in text
    assert "by octocat, 2 min after errors began, so not its cause" in text
    assert "*Alert:* checkout's errors 20/s" in text
    assert "after deploy" not in fallback_text(summary)


def test_a_change_before_the_onset_leads_the_next_steps() -> None:
    summary = _late_change_summary()
    assert summary.root_cause is not None and summary.root_cause.change is not None
    summary.root_cause.change.at = summary.root_cause.change.details["onset"] - 180.0
    text = root_text(summary, summary.root_cause)
    assert "by octocat, 3 min before errors began" in text and "not its cause" not in text
    assert fallback_text(summary).startswith(
        "Likely root cause (medium confidence): pricing, after deploy a1b2c3d Raise pool size."
    )
