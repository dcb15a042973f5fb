"""Citation ids mean one item in an incident: the summary's ``[E7]`` and every thread answer's.

The narrative cites the summary's items ``E1``..``En``; thread answers cite those by the same
ids and number what their tools find after them, across answers, through the investigation's
citation ledger. The same item found again keeps its id.
"""

from __future__ import annotations

import pytest
from pipeline_testkit import Standins, llm_env

from investigators.citations import Sentence
from investigators.pipeline import LocalExecutor, PipelineConfig, QaAnswer
from investigators.pipeline.brief import Brief, Reference, summary_brief
from investigators.pipeline.narrative import evidence_citations
from investigators.pipeline.qa import CitationLedger, ask_step, settle
from investigators.pipeline.steps import Investigation
from investigators.pipeline.store import MemoryStore
from sandbox.scenarios import Scenario


@pytest.fixture
def llm_config(
    config: PipelineConfig, standins: Standins, monkeypatch: pytest.MonkeyPatch
) -> PipelineConfig:
    for key, value in llm_env(standins).items():
        monkeypatch.setenv(key, value)
    from bot.settings import pipeline_config

    return pipeline_config().model_copy(update={"deadline": 20.0, "retries": 1})


def _number(item_id: str) -> int:
    return int(item_id.removeprefix("E"))


def _what(ref: Reference) -> str:
    return ref.finding_id or ref.label


async def test_thread_answers_number_after_the_summary_and_never_reuse_an_id(
    llm_config: PipelineConfig, standins: Standins, scenario: Scenario, request_for
) -> None:
    standins.llm.uncited_every = 0
    standins.llm.bad_cite_every = 0
    executor = LocalExecutor(llm_config)
    outcome = await executor.run(request_for())
    inv = Investigation.load(executor.store, llm_config, outcome.summary.investigation_id)
    summary = inv.summary()
    assert summary is not None and outcome.narrative is not None
    base = len(summary_brief(summary).items)
    root = scenario.truth.root

    first = await ask_step(inv, f"what changed in {root} in the last hour?")
    again = await ask_step(inv, f"what changed in {root} in the last hour?")
    later = await ask_step(inv, f"is the latency of {root} still high?")
    answers = [a for a in (first, again, later) if a is not None and a.status == "ok"]
    assert len(answers) == 3, [first, again, later]

    # One id, one item: across the narrative and every answer.
    meaning: dict[str, str] = {}
    for refs in [outcome.narrative.references, *(a.references for a in answers)]:
        for item_id, ref in refs.items():
            assert ref.id == item_id
            assert meaning.setdefault(item_id, _what(ref)) == _what(ref), item_id
    # The summary's evidence lines show the ids the narrative cites.
    shown = evidence_citations(summary)
    for item_id, ref in outcome.narrative.references.items():
        if ref.finding_id in shown:
            assert shown[ref.finding_id] == item_id
    # What the tools found is numbered after the summary's items, in order, across answers.
    found = [sorted(k for k in a.references if _number(k) > base) for a in answers]
    assert found[0] and found[2]
    assert found[1] == found[0]  # the same changes, found again, keep their ids
    assert min(map(_number, found[2])) > max(map(_number, found[0]))
    cited = {c for a in answers for s in a.sentences for c in s.cites}
    assert cited == {k for a in answers for k in a.references}


def _answer(item_id: str, label: str) -> QaAnswer:
    return QaAnswer(
        status="ok",
        sentences=[Sentence(text=f"{label} happened.", cites=[item_id])],
        references={item_id: Reference(id=item_id, label=label, finding_id=label)},
    )


def test_two_answers_written_at_once_get_different_ids() -> None:
    store = MemoryStore()
    a, b = (CitationLedger(store, "inv:citations", ttl=60.0) for _ in range(2))
    for ledger in (a, b):  # both read the ledger before either claims
        ledger.base = 10
    one, other = _answer("E11", "tool-a"), _answer("E11", "tool-b")
    settle(one, a, {"E11": _item("tool-a")})
    settle(other, b, {"E11": _item("tool-b")})
    assert one.sentences[0].cites == ["E11"] and list(one.references) == ["E11"]
    assert other.sentences[0].cites == ["E12"] and other.references["E12"].id == "E12"
    # A later answer sees both under those ids, and finds the same item under the same id.
    brief = Brief()
    for n in range(10):
        brief.add(source="ranking", kind="suspect", service=f"s{n}", title=f"suspect {n}")
    CitationLedger(store, "inv:citations", ttl=60.0).replay(brief)
    assert brief.references["E11"].finding_id == "tool-a"
    assert brief.references["E12"].finding_id == "tool-b"
    assert brief.add(**_item("tool-b")) == "E12"


def _item(finding_id: str) -> dict[str, str]:
    return {
        "source": "logs",
        "kind": "log_pattern",
        "service": "api",
        "title": finding_id,
        "finding_id": finding_id,
    }
