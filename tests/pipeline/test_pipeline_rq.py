"""Whole investigations on real RQ workers and real Redis, against the sandbox stand-ins."""

from __future__ import annotations

import os
import signal
import time

from pipeline_testkit import Standins, Workers

from bot.settings import PIPELINE_CONFIG_REF
from investigators.pipeline import Narrative, PipelineConfig, RqExecutor, Summary
from sandbox.scenarios import Scenario

WAIT = 40.0


def _executor(config: PipelineConfig, **changes: object) -> RqExecutor:
    return RqExecutor(config.model_copy(update=changes), config_ref=PIPELINE_CONFIG_REF)


def _wait(executor: RqExecutor, investigation_id: str) -> Summary:
    summary = executor.wait(investigation_id, timeout=WAIT)
    assert summary is not None, executor.progress(investigation_id)
    return summary


def _summaries(executor: RqExecutor, investigation_id: str) -> int:
    time.sleep(1.0)  # let any late finalizer run: it must not post a second summary
    return sum(e.kind == "summary_ready" for e in executor.progress(investigation_id))


def test_whole_investigation_finds_the_deploy(
    workers: Workers, config: PipelineConfig, scenario: Scenario, request_for
) -> None:
    executor = _executor(config)
    handle = executor.start(request_for())
    summary = _wait(executor, handle.investigation_id)

    assert summary.finished_by == "complete"
    assert summary.root_cause is not None
    assert summary.root_cause.service == scenario.truth.root
    assert summary.sources_missing == []
    assert summary.notify is not None and summary.notify.slack_group
    assert summary.evidence_ids and all(f.url for f in summary.evidence)
    assert {f.source for f in summary.evidence} >= {"metrics", "changes"}
    narrative = eventually_narrative(executor, handle.investigation_id)
    assert narrative.status == "unavailable" and "ANTHROPIC_API_KEY" in narrative.reason
    kinds = [e.kind for e in executor.progress(handle.investigation_id)]
    assert kinds[0] == "started" and kinds[-2:] == ["summary_ready", "narrative_ready"]
    assert kinds.count("source_done") == 6 and "ranked" in kinds  # 4 scans + 2 dives
    record = executor.record(handle.investigation_id)
    assert record is not None and record.finished_by == "complete"
    assert all(step.queries for step in record.steps)
    assert set(record.phases) == {"scan", "rank", "dive", "summary"}
    assert _summaries(executor, handle.investigation_id) == 1


def test_second_request_joins_the_running_investigation(
    workers: Workers, config: PipelineConfig, request_for
) -> None:
    executor = _executor(config)
    request = request_for()
    first = executor.start(request)
    second = executor.start(request.model_copy(update={"channel": "C-other"}))
    assert second.joined and not first.joined
    assert second.investigation_id == first.investigation_id
    _wait(executor, first.investigation_id)
    assert _summaries(executor, first.investigation_id) == 1
    assert "joined" in [e.kind for e in executor.progress(first.investigation_id)]


def test_source_returning_500s_is_retried_then_reported_missing(
    workers: Workers, config: PipelineConfig, standins: Standins, request_for
) -> None:
    standins.faults("github").inject("*", status=500)
    executor = _executor(config)
    handle = executor.start(request_for())
    summary = _wait(executor, handle.investigation_id)

    assert summary.root_cause is not None  # metrics and logs still rank
    missing = {(m.phase, m.source) for m in summary.sources_missing}
    assert ("scan", "changes") in missing
    record = executor.record(handle.investigation_id)
    assert record is not None
    changes = next(s for s in record.steps if s.step == "scan:changes")
    assert changes.status == "failed" and changes.attempt == 2  # one retry, with backoff
    assert _summaries(executor, handle.investigation_id) == 1


def test_source_that_times_out_is_left_out_at_the_deadline(
    workers: Workers, config: PipelineConfig, standins: Standins, request_for
) -> None:
    standins.faults("github").inject("*", hang=True)
    executor = _executor(config, deadline=6.0)
    handle = executor.start(request_for())
    summary = _wait(executor, handle.investigation_id)

    assert summary.root_cause is not None
    missing = {m.source: m.reason for m in summary.sources_missing}
    assert "deadline" in missing["changes"]
    assert "logs" in {s.split(":")[1] for s in summary.sources_answered}
    assert _summaries(executor, handle.investigation_id) == 1


def test_deadline_makes_the_summary_from_what_has_arrived(
    workers: Workers, config: PipelineConfig, standins: Standins, request_for
) -> None:
    standins.faults("datadog").latency = 30.0  # far beyond the deadline
    executor = _executor(config, deadline=5.0)
    handle = executor.start(request_for())
    summary = _wait(executor, handle.investigation_id)

    assert summary.finished_by == "deadline"
    assert {m.source for m in summary.sources_missing} >= {"metrics", "monitors"}
    assert any(s == "scan:logs" for s in summary.sources_answered)
    assert _summaries(executor, handle.investigation_id) == 1


def test_worker_killed_mid_job_still_yields_one_summary(
    workers: Workers, config: PipelineConfig, standins: Standins, request_for
) -> None:
    standins.faults("github").latency = 2.0  # keeps the changes scan busy long enough
    executor = _executor(config, deadline=30.0)
    handle = executor.start(request_for())
    pid = None
    until = time.monotonic() + 15
    while pid is None and time.monotonic() < until:
        for e in executor.progress(handle.investigation_id):
            if e.kind == "source_started" and e.source == "scan:changes":
                pid = int(e.detail.split()[-1])
        time.sleep(0.05)
    assert pid is not None
    standins.faults("github").latency = 0.0
    os.kill(pid, signal.SIGKILL)  # the work horse running the job: it dies mid-request

    summary = _wait(executor, handle.investigation_id)
    assert summary.finished_by == "complete"
    assert "scan:changes" in summary.sources_answered  # RQ retried the job
    record = executor.record(handle.investigation_id)
    assert record is not None
    assert next(s for s in record.steps if s.step == "scan:changes").attempt == 2
    assert _summaries(executor, handle.investigation_id) == 1


def eventually_narrative(executor: RqExecutor, investigation_id: str) -> Narrative:
    """The narrative, written by the finalizing worker right after the summary."""
    until = time.monotonic() + 10
    while (found := executor.narrative(investigation_id)) is None:
        assert time.monotonic() < until, "no narrative"
        time.sleep(0.05)
    return found
