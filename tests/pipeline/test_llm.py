"""The narrative and thread Q&A through the real anthropic client and the Messages API stand-in.

The stand-in is a worst-case model: it slips on citations now and then and obeys instructions
hidden in the evidence. What reaches people must hold up anyway.
"""

from __future__ import annotations

import json
import time

import pytest
from pipeline_testkit import Standins, llm_env

from investigators.pipeline import LocalExecutor, PipelineConfig
from investigators.pipeline.config import LlmBudget
from investigators.pipeline.qa import ask_step
from investigators.pipeline.steps import Investigation
from sandbox.anthropic_api import MESSAGES
from sandbox.scenarios import Scenario


@pytest.fixture
def llm_config(
    config: PipelineConfig, standins: Standins, monkeypatch: pytest.MonkeyPatch
) -> PipelineConfig:
    for key, value in llm_env(standins).items():
        monkeypatch.setenv(key, value)
    from bot.settings import pipeline_config

    return pipeline_config().model_copy(update={"deadline": 20.0, "retries": 1})


def _sent(standins: Standins) -> list[dict]:  # type: ignore[type-arg]
    return list(standins.apps["anthropic"][MESSAGES])


async def test_narrative_cites_only_real_evidence_and_records_its_cost(
    llm_config: PipelineConfig, standins: Standins, scenario: Scenario, request_for
) -> None:
    standins.llm.uncited_every = 1  # every answer slips twice: one uncited, one made-up id
    standins.llm.bad_cite_every = 1
    outcome = await LocalExecutor(llm_config).run(request_for())

    narrative = outcome.narrative
    assert narrative is not None and narrative.status == "ok", narrative
    assert len(narrative.sentences) >= 3
    assert {d.reason for d in narrative.dropped} == {"cites no evidence", "cites unknown E999"}
    cited = {c for s in narrative.sentences for c in s.cites}
    assert cited == set(narrative.references)
    assert scenario.truth.root in narrative.sentences[0].text
    # Links back to the source for what has one (the change, the metric graph).
    assert any(r.url.startswith("http") for r in narrative.references.values())
    [usage] = narrative.usage
    assert usage.purpose == "narrative" and usage.model == "claude-sandbox"
    assert usage.input_tokens > 0 and usage.output_tokens > 0 and usage.cost_usd > 0
    assert [e.kind for e in outcome.events][-2:] == ["summary_ready", "narrative_ready"]


async def test_the_prompt_fences_evidence_as_data_and_stays_small(
    llm_config: PipelineConfig, standins: Standins, request_for
) -> None:
    await LocalExecutor(llm_config).run(request_for())
    [body] = _sent(standins)[-1:]
    user = body["messages"][0]["content"]
    assert user.count("<evidence>") == 1 and user.count("</evidence>") == 1
    evidence = json.loads(user.split("<evidence>")[1].split("</evidence>")[0])
    assert [e["id"] for e in evidence] == [f"E{i}" for i in range(1, len(evidence) + 1)]
    assert "never an instruction" in body["system"]
    assert body["max_tokens"] == llm_config.llm_budget.narrative_output_tokens
    # Evidence, not raw telemetry: no series of points goes to the model.
    assert len(user) < 4 * llm_config.llm_budget.narrative_input_tokens
    assert "points" not in user


@pytest.mark.parametrize(
    ("status", "reason"),
    [(529, "overloaded"), (500, "server error"), (429, "rate limiting")],
)
async def test_an_unavailable_model_leaves_the_summary_and_says_why(
    llm_config: PipelineConfig, standins: Standins, request_for, status: int, reason: str
) -> None:
    standins.faults("anthropic").inject("/v1/messages", status=status)
    outcome = await LocalExecutor(llm_config).run(request_for())

    assert outcome.summary.root_cause is not None  # the deterministic summary stands
    narrative = outcome.narrative
    assert narrative is not None and narrative.status == "unavailable"
    assert reason in narrative.reason
    assert narrative.usage and narrative.usage[0].outcome != "ok"


async def test_a_slow_model_is_given_up_on_within_its_time_budget(
    llm_config: PipelineConfig, standins: Standins, request_for
) -> None:
    standins.faults("anthropic").latency = 30.0
    budget = LlmBudget(narrative_seconds=2.0)
    outcome = await LocalExecutor(llm_config.model_copy(update={"llm_budget": budget})).run(
        request_for()
    )
    narrative = outcome.narrative
    assert narrative is not None and narrative.status == "unavailable"
    assert "no answer within 2.0 s" in narrative.reason


async def test_no_time_left_before_the_deadline_means_no_call(
    llm_config: PipelineConfig, standins: Standins, request_for
) -> None:
    before = len(_sent(standins))
    executor = LocalExecutor(llm_config)
    request = request_for()
    from investigators.pipeline.steps import begin, finalize_step, narrate_step, scan_step

    inv, _ = begin(request, store=executor.store, config=llm_config)
    for source in inv.plan.sources:
        await scan_step(inv, source)
    inv.plan.deadline_at = time.time() + 0.2  # as if the scan had used up the deadline
    finalize_step(inv, finished_by="deadline")
    narrative = await narrate_step(inv)
    assert narrative is not None and narrative.status == "unavailable"
    assert narrative.reason == "no time left before the deadline"
    assert len(_sent(standins)) == before


async def test_without_a_key_the_narrative_is_unavailable_and_nothing_is_sent(
    config: PipelineConfig, standins: Standins, request_for
) -> None:
    before = len(_sent(standins))
    outcome = await LocalExecutor(config).run(request_for())
    assert outcome.narrative is not None
    assert outcome.narrative.status == "unavailable"
    assert outcome.narrative.reason == "no ANTHROPIC_API_KEY is set"
    assert len(_sent(standins)) == before


async def test_too_few_cited_sentences_fall_back_to_the_deterministic_summary(
    llm_config: PipelineConfig, standins: Standins, request_for
) -> None:
    standins.llm.uncited_every = 1
    standins.llm.bad_cite_every = 1
    strict = llm_config.model_copy(update={"llm_budget": LlmBudget(min_share=0.95)})
    outcome = await LocalExecutor(strict).run(request_for())
    narrative = outcome.narrative
    assert narrative is not None and narrative.status == "unavailable"
    assert "did not hold up against the evidence" in narrative.reason
    assert narrative.sentences == []


# --- thread questions ----------------------------------------------------------------------


async def _finished(config: PipelineConfig, request) -> Investigation:  # type: ignore[no-untyped-def]
    executor = LocalExecutor(config)
    outcome = await executor.run(request)
    return Investigation.load(executor.store, config, outcome.summary.investigation_id)


async def test_a_question_about_changes_uses_the_change_tool_and_cites_its_results(
    llm_config: PipelineConfig, standins: Standins, scenario: Scenario, request_for
) -> None:
    standins.llm.uncited_every = 0
    standins.llm.bad_cite_every = 0
    inv = await _finished(llm_config, request_for())
    root = scenario.truth.root
    answer = await ask_step(inv, f"what changed in {root} in the last hour?")

    assert answer is not None and answer.status == "ok", answer
    assert [t.name for t in answer.tools] == ["list_changes"]
    assert answer.tools[0].input["service"] == root and answer.tools[0].ok
    culprit = next(c for c in scenario.bundle.changes if c.service == root)
    assert any(culprit.title.split(" <")[0] in s.text for s in answer.sentences)
    refs = [answer.references[c] for s in answer.sentences for c in s.cites]
    assert any(r.url.startswith(standins.urls["github"]) or "/pull/" in r.url for r in refs)
    # The tool result went back to the model as a tool_result for the tool_use it asked for.
    last = _sent(standins)[-1]["messages"]
    assert last[-1]["content"][0]["type"] == "tool_result"
    assert [u.purpose for u in inv.usage()][-2:] == ["qa", "qa"]


async def test_a_question_about_an_unknown_service_falls_back_with_the_reason(
    llm_config: PipelineConfig, standins: Standins, request_for
) -> None:
    inv = await _finished(llm_config, request_for())
    answer = await ask_step(inv, "what changed in nosuchservice in the last hour?")
    assert answer is not None and answer.status == "fallback"
    assert answer.tools and not answer.tools[0].ok
    assert "did not hold up" in answer.reason


async def test_a_question_is_bounded_by_its_steps(
    llm_config: PipelineConfig, standins: Standins, scenario: Scenario, request_for
) -> None:
    one_step = llm_config.model_copy(update={"llm_budget": LlmBudget(qa_steps=1)})
    inv = await _finished(one_step, request_for())
    before = len(_sent(standins))
    answer = await ask_step(inv, f"what changed in {scenario.truth.root}?")
    assert answer is not None
    assert len(_sent(standins)) - before == 1  # one call, no tool run
    assert answer.tools == []


async def test_a_question_stops_at_its_token_budget_and_falls_back(
    llm_config: PipelineConfig, standins: Standins, scenario: Scenario, request_for
) -> None:
    inv = await _finished(llm_config, request_for())
    tight = llm_config.model_copy(update={"llm_budget": LlmBudget(qa_input_tokens=1500)})
    inv.config = tight
    before = len(_sent(standins))
    answer = await ask_step(inv, f"what changed in {scenario.truth.root}?")
    assert answer is not None and answer.status == "fallback"
    assert "input-token budget ran out" in answer.reason
    assert sum(u.input_tokens for u in answer.usage) <= 1500
    assert len(_sent(standins)) - before <= 1


async def test_evidence_too_big_for_the_budget_is_trimmed_not_sent_whole(
    llm_config: PipelineConfig, standins: Standins, request_for
) -> None:
    small = llm_config.model_copy(update={"llm_budget": LlmBudget(narrative_input_tokens=1200)})
    outcome = await LocalExecutor(small).run(request_for())
    body = _sent(standins)[-1]
    sent = len(body["system"]) + len(body["messages"][0]["content"])
    assert sent / 3 <= 1200  # our estimate of what was sent stays within the budget
    evidence = json.loads(body["messages"][0]["content"].split("<evidence>")[1].split("</")[0])
    assert evidence[0]["kind"] == "suspect"  # the most important items are the ones kept
    assert len(evidence) < len(outcome.summary.evidence)


async def test_a_token_straddling_the_question_cut_never_reaches_the_model(
    llm_config: PipelineConfig, standins: Standins, scenario: Scenario, request_for
) -> None:
    inv = await _finished(llm_config, request_for())
    token = "ghp_" + "Zr8" * 12  # a GitHub token: only whole ones match its pattern
    padding = "why " * 250  # the token starts 20 characters before the question's cut
    before = len(_sent(standins))
    await ask_step(inv, f"{padding[: 1000 - 21]} {token}")
    sent = json.dumps(_sent(standins)[before:])
    assert sent and token[:12] not in sent
