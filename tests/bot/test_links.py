"""Links point only at the web roots the configuration names; other URLs show as inert text."""

from __future__ import annotations

from bot.answers import answer
from bot.blocks import answer_text, details_text, evidence_line, summary_blocks
from bot.escape import LinkPolicy, defang, link
from bot.headsup import headsup_blocks, incident_intro_blocks
from bot.settings import load_settings
from investigators.citations import Sentence
from investigators.pipeline import Finding, Narrative, QaAnswer, Summary
from investigators.pipeline.brief import Reference
from investigators.pipeline.summary import RootCause
from investigators.sweep import Degradation, Evidence, Suspect

POLICY = LinkPolicy.of(
    ["https://github.com", "https://app.datadoghq.com/", "https://kibana.acme.test/logs", None]
)
# What a GitHub deployment status may carry as its log_url: anything at all.
LOG_URL = "https://ci.evil.test/deploys/42?next=https://github.com"


def _text(blocks: list[dict]) -> str:  # type: ignore[type-arg]
    return "\n".join(str(b.get("text", {}).get("text", "")) for b in blocks)


def test_only_urls_under_a_configured_root_are_allowed() -> None:
    allowed = (
        "https://github.com/acme/payments/pull/7",
        "https://GitHub.com:443/acme",
        "https://app.datadoghq.com/metric/explorer?q=a",
        "https://kibana.acme.test/logs/app/discover#/?q=1",
        "https://kibana.acme.test/logs",
    )
    refused = (
        LOG_URL,
        "https://github.com.evil.test/acme",
        "https://github.com@evil.test/acme",
        "https://evil.test%5C@github.com/acme",
        "http://github.com/acme",  # another scheme
        "https://github.com:8443/acme",  # another port
        "https://kibana.acme.test/logsx/app",  # beside the path, not under it
        "https://kibana.acme.test/",
        "javascript:alert(1)",
    )
    assert all(POLICY.allows(u) for u in allowed)
    assert not any(POLICY.allows(u) for u in refused)
    assert not LinkPolicy().allows("https://github.com/acme")  # nothing configured: no links


def test_a_url_from_elsewhere_is_shown_as_defanged_text_not_a_link() -> None:
    shown = link(LOG_URL, "deploy log <!channel>", links=POLICY)
    assert "<https" not in shown and "|" not in shown
    assert shown.startswith("deploy log &lt;!channel&gt; (`hxxps://ci[.]evil[.]test/deploys/42")
    assert defang("https://a.b.test/x.y") == "hxxps://a[.]b[.]test/x.y"
    assert link(LOG_URL, "E3", links=POLICY, show_url=False) == "E3"
    pr = "https://github.com/acme/payments/pull/7"
    assert link(pr, "PR 7", links=POLICY) == f"<{pr}|PR 7>"


def _summary() -> Summary:
    deploy = Finding(
        id="changes-payments-1",
        source="changes",
        kind="deploy",
        service="payments",
        title="deploy v2.4.1 to production",
        url=LOG_URL,
    )
    commit = Finding(
        id="changes-payments-2",
        source="changes",
        kind="commit",
        service="payments",
        title="retry budget",
        url="https://github.com/acme/payments/commit/abc",
    )
    return Summary(
        incident_id="INC-1",
        investigation_id="abc123def",
        finished_by="complete",
        root_cause=RootCause(
            service="payments",
            team="payments",
            score=0.9,
            confidence="high",
            reasons=["errors 16x"],
            change=deploy,
        ),
        evidence_ids=[deploy.id, commit.id],
        evidence=[deploy, commit],
        symptoms_ruled_out=[],
        next_steps=[],
        notify=None,
        ranking=[],
        sources_answered=["changes"],
        sources_missing=[],
    )


def test_the_summary_links_github_but_not_a_deployment_log_url() -> None:
    summary = _summary()
    narrative = Narrative(
        status="ok",
        sentences=[Sentence(text="The deploy broke payments.", cites=["E1", "E2"])],
        references={
            "E1": Reference(id="E1", label="deploy", url=LOG_URL),
            "E2": Reference(
                id="E2", label="commit", url="https://github.com/acme/payments/commit/abc"
            ),
        },
    )
    rendered = _text(summary_blocks(summary, narrative=narrative, links=POLICY))
    rendered += details_text(summary, narrative=narrative, links=POLICY)
    assert "<https://ci.evil.test" not in rendered and "ci.evil.test" not in rendered
    assert "hxxps://ci[.]evil[.]test/deploys/42" in rendered
    assert "[E1]" in rendered  # the citation stays, unlinked
    assert "[<https://github.com/acme/payments/commit/abc|E2>]" in rendered
    assert "<https://github.com/acme/payments/commit/abc|retry budget>" in rendered
    answer = QaAnswer(status="ok", sentences=narrative.sentences, references=narrative.references)
    assert "<https://ci.evil.test" not in answer_text(answer, links=POLICY)
    assert "<https://ci.evil.test" not in evidence_line(summary.evidence[0], links=POLICY)


def test_the_policy_comes_from_the_connectors_settings() -> None:
    settings = load_settings(
        github_token="t",
        github_api_url="https://ghe.acme.test/api/v3",
        dd_api_key="a",
        dd_app_key="b",
        dd_site="datadoghq.eu",
        kibana_url="https://kibana.acme.test/logs/",
        link_allowed_urls="https://ci.acme.test",
    )
    policy = settings.link_policy()
    assert policy.allows("https://ghe.acme.test/acme/payments/pull/7")
    assert policy.allows("https://app.datadoghq.eu/metric/explorer")
    assert policy.allows("https://kibana.acme.test/logs/app/discover")
    assert policy.allows("https://ci.acme.test/deploys/1")
    assert not policy.allows("https://github.com/acme/payments/pull/7")
    assert not policy.allows(LOG_URL)
    # Nothing configured, nothing linked.
    assert load_settings(_env_file=None).link_policy().bases == ()


def test_a_heads_up_links_only_to_configured_hosts() -> None:
    suspect = Suspect(
        service="payments",
        team="payments",
        score=0.9,
        confidence="high",
        reasons=["errors up"],
        explains=[],
        evidence=[Evidence(source="logs", title="pool exhausted", url=LOG_URL)],
        change=Evidence(
            source="deploy", title="Deploy v2", url="https://github.com/acme/payments/pull/7"
        ),
    )
    d = Degradation(
        id="payments-1",
        service="payments",
        team="payments",
        first_window=1,
        last_window=2,
        sweeps=2,
        status="reported",
        severity="high",
        first_seen=1_795_132_800.0,
        reported_at=1_795_133_400.0,
        recovered_at=None,
        last=suspect,
    )
    for blocks in (
        headsup_blocks(d, slack_group=None, mention=False, mutes={}, links=POLICY),
        incident_intro_blocks(d, slack_group=None, ops_channel="C0OPS", links=POLICY),
    ):
        text = _text(blocks)
        assert "<https://github.com/acme/payments/pull/7|Deploy v2>" in text
        assert "<https://ci.evil.test" not in text and defang(LOG_URL)[:20] in text


def test_thread_commands_link_only_to_configured_hosts() -> None:
    summary = _summary()
    for question in ("evidence", "changes payments", "evidence 1"):
        text = answer(question, summary=summary, record=None, links=POLICY)
        assert "<https://ci.evil.test" not in text, question
    assert "<https://github.com/acme/payments/commit/abc|" in answer(
        "evidence", summary=summary, record=None, links=POLICY
    )
