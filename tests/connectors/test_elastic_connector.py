"""The Elasticsearch connector against noida-db, through a recording, fault-injecting proxy."""

from __future__ import annotations

import pytest
from aiohttp import web
from connectors_testkit import END, FAST, INCIDENT, SERVICES, T0, when
from pydantic import SecretStr

from connectors.config import ElasticsearchConfig
from connectors.elastic import ElasticsearchLogs, _field_problems
from connectors.errors import (
    AuthError,
    BadResponse,
    RateLimited,
    ReadOnlyViolation,
    SourceUnavailable,
)
from sandbox.elastic import load_logs
from sandbox.faults import FAULTS, REQUESTS

App = tuple[web.Application, str]
WINDOW = (when(INCIDENT), when(END))
BASELINE = (when(T0), when(INCIDENT))


def config(url: str, **overrides: object) -> ElasticsearchConfig:
    values: dict[str, object] = {"url": url, "resilience": FAST}
    values.update(overrides)
    return ElasticsearchConfig.model_validate(values)


async def test_error_counts_of_every_service_in_one_request(elastic: App) -> None:
    app, url = elastic
    async with ElasticsearchLogs(config(url)) as es:
        counts = await es.error_counts(None, when(T0), when(END), 300)
    assert sorted(counts) == sorted(SERVICES)
    db = counts["db"]
    assert len(db.times) == 36 and db.times[0] == T0
    before = sum(c for t, c in zip(db.times, db.counts, strict=True) if t < INCIDENT)
    during = sum(c for t, c in zip(db.times, db.counts, strict=True) if t >= INCIDENT)
    assert during > 5 * before > 0
    [request] = app[REQUESTS]
    assert request.method == "POST" and request.path == "/logs-*/_search"


async def test_named_services_get_zeros_when_quiet(elastic: App) -> None:
    _, url = elastic
    async with ElasticsearchLogs(config(url)) as es:
        counts = await es.error_counts(["db", "ghost"], when(T0), when(END), 600)
    assert set(counts) == {"db", "ghost"}
    assert counts["ghost"].counts == [0] * 18
    assert "service.name%3A%22ghost%22" in counts["ghost"].url


async def test_too_many_buckets_become_one_msearch(elastic: App) -> None:
    app, url = elastic
    async with ElasticsearchLogs(config(url)) as es:
        # One-second buckets for 10 services pass Elasticsearch's 65,536-bucket limit.
        names = [*SERVICES, *(f"quiet-{i}" for i in range(10 - len(SERVICES)))]
        counts = await es.error_counts(names, when(T0), when(END), 1)
    assert sum(sum(s.counts) for s in counts.values()) > 0
    assert [r.path for r in app[REQUESTS]] == ["/_msearch"]


async def test_patterns_group_varying_lines_and_flag_new_ones(elastic: App) -> None:
    _, url = elastic
    kibana = "https://kibana.acme.example"
    async with ElasticsearchLogs(config(url, kibana_url=kibana)) as es:
        patterns = await es.top_error_patterns("db", WINDOW, BASELINE, limit=5)
    first = patterns[0]
    assert first.is_new and first.count_before == 0 and first.count_during > 0
    assert first.pattern == "could not obtain connection from pool after <num>"
    assert first.samples and all(s.startswith("could not obtain") for s in first.samples)
    assert first.estimated
    assert any(not p.is_new and p.count_before > 0 for p in patterns)
    assert first.url.startswith(f"{kibana}/app/discover#/?_g=(time:(from:'2026-11-20T02:00:00")


async def test_patterns_from_a_keyword_field_agree_with_samples(elastic: App) -> None:
    _, url = elastic
    async with ElasticsearchLogs(config(url, message_keyword_field="message.keyword")) as es:
        exact = await es.top_error_patterns("db", WINDOW, BASELINE)
    async with ElasticsearchLogs(config(url)) as es:
        sampled = await es.top_error_patterns("db", WINDOW, BASELINE)
    assert exact[0].pattern == sampled[0].pattern and exact[0].is_new
    assert 0.5 < exact[0].count_during / sampled[0].count_during < 2.0
    assert len({p.pattern for p in exact}) == len(exact)


async def test_5xx_is_retried(elastic: App) -> None:
    app, url = elastic
    app[FAULTS].inject("/logs-*/_search", status=503, times=2)
    async with ElasticsearchLogs(config(url)) as es:
        counts = await es.error_counts(None, when(T0), when(END), 600)
    assert "db" in counts and len(app[REQUESTS]) == 3


async def test_long_retry_after_fails_fast(elastic: App) -> None:
    app, url = elastic
    app[FAULTS].inject("*", status=429, retry_after=600)
    async with ElasticsearchLogs(config(url)) as es:
        with pytest.raises(RateLimited, match="elasticsearch: rate limited"):
            await es.error_counts(None, when(T0), when(END), 600)
    assert len(app[REQUESTS]) == 1


async def test_timeouts_give_up(elastic: App) -> None:
    app, url = elastic
    app[FAULTS].inject("*", hang=True)
    fast = FAST.model_copy(update={"timeout": 0.2, "attempts": 2})
    async with ElasticsearchLogs(config(url, resilience=fast)) as es:
        with pytest.raises(SourceUnavailable, match="timed out"):
            await es.error_counts(None, when(T0), when(END), 600)


async def test_html_from_a_proxy_is_a_bad_response(elastic: App) -> None:
    app, url = elastic
    app[FAULTS].inject("*", garbled=True)
    async with ElasticsearchLogs(config(url)) as es:
        with pytest.raises(BadResponse) as caught:
            await es.error_counts(None, when(T0), when(END), 600)
    assert caught.value.connector == "elasticsearch"


async def test_an_error_in_a_200_is_a_bad_response(elastic: App) -> None:
    app, url = elastic
    app[FAULTS].inject("*", error_body=True)
    async with ElasticsearchLogs(config(url)) as es:
        with pytest.raises(BadResponse, match="200 response that carries an error"):
            await es.top_error_patterns("db", WINDOW, BASELINE)


async def test_refused_credentials_are_not_echoed(elastic: App) -> None:
    app, url = elastic
    app[FAULTS].inject("*", status=401)
    secret = "es-api-key-very-secret-42"
    async with ElasticsearchLogs(config(url, api_key=SecretStr(secret))) as es:
        with pytest.raises(AuthError) as caught:
            await es.error_counts(None, when(T0), when(END), 600)
    assert "ES_API_KEY" in str(caught.value) and secret not in str(caught.value)


async def test_writes_are_refused_before_sending(elastic: App) -> None:
    app, url = elastic
    async with ElasticsearchLogs(config(url)) as es:
        with pytest.raises(ReadOnlyViolation):
            await es.client.index(index="logs-sandbox", document={"message": "hi"})
        with pytest.raises(ReadOnlyViolation):
            await es.client.delete_by_query(index="logs-*", query={"match_all": {}})
        with pytest.raises(ReadOnlyViolation):
            await es.client.indices.delete(index="logs-sandbox")
    assert app[REQUESTS] == []


async def test_diagnose_names_what_to_fix(elastic: App) -> None:
    _, url = elastic
    async with ElasticsearchLogs(config(url)) as es:
        good = await es.diagnose()
    async with ElasticsearchLogs(config(url, index="nothing-*")) as es:
        no_index = await es.diagnose()
    async with ElasticsearchLogs(config(url, service_field="svc")) as es:
        no_field = await es.diagnose()
    assert good.ok, good.lines
    assert not no_index.ok and "ES_INDEX" in no_index.lines[-1]
    assert not no_field.ok and "ES_SERVICE_FIELD" in no_field.lines[-1]


def test_a_text_service_field_is_reported() -> None:
    # noida-db calls text fields aggregatable; this is what Elasticsearch itself answers.
    caps = {
        "indices": ["logs-app"],
        "fields": {
            "@timestamp": {"date": {"type": "date", "aggregatable": True}},
            "service.name": {"text": {"type": "text", "aggregatable": False}},
            "log.level": {"keyword": {"type": "keyword", "aggregatable": True}},
            "message": {"text": {"type": "text", "aggregatable": False}},
        },
    }
    [problem] = _field_problems(config("http://es:9200"), caps)
    assert "ES_SERVICE_FIELD" in problem and "service.name.keyword" in problem


async def test_the_scan_brings_each_services_newest_lines_from_the_same_search(
    elastic: App,
) -> None:
    app, url = elastic
    async with ElasticsearchLogs(config(url)) as es:
        scan = await es.error_scan(None, when(T0), when(END), 300, lines_since=when(INCIDENT))
        counts = await es.error_counts(None, when(T0), when(END), 300)
    assert scan.counts == counts
    db = scan.lines["db"]
    assert all(line.service == "db" for line in db)
    before = [line.at for line in db if line.at < INCIDENT]
    during = [line.at for line in db if line.at >= INCIDENT]
    assert 0 < len(before) <= 20 and 0 < len(during) <= 20  # the newest of each window
    assert before == sorted(before, reverse=True) and during == sorted(during, reverse=True)
    assert all(T0 <= at < END for at in before + during)
    new = "could not obtain connection"
    assert any(line.message.startswith(new) for line in db if line.at >= INCIDENT)
    assert not any(line.message.startswith(new) for line in db if line.at < INCIDENT)
    assert {r.path for r in app[REQUESTS]} == {"/logs-*/_search"} and len(app[REQUESTS]) == 2


GARBLED_INDEX = "garbled-logs"  # outside logs-*, so that the other tests never count it


async def test_lines_without_a_readable_message_are_left_out(noida: str, elastic: App) -> None:
    _, url = elastic

    def doc(at: float, **fields: object) -> dict[str, object]:
        return {
            "@timestamp": when(at).isoformat().replace("+00:00", "Z"),
            "service": {"name": "pay"},
            "log": {"level": "error"},
            **fields,
        }

    await load_logs(
        noida,
        [
            doc(INCIDENT + 60, message="timeout calling ledger after 3000ms"),
            doc(INCIDENT + 120),  # no message at all
            doc(INCIDENT + 180, message=None),
            doc(INCIDENT + 240, message=12345),  # a number, as a shipper may send one
            doc(INCIDENT + 300, message="   "),
        ],
        index=GARBLED_INDEX,
    )
    async with ElasticsearchLogs(config(url, index=GARBLED_INDEX)) as es:
        scan = await es.error_scan(["pay"], when(T0), when(END), 300, lines_since=when(INCIDENT))
    assert sum(scan.counts["pay"].counts) == 5  # every line counts
    [line] = scan.lines["pay"]  # but only one can be read
    assert line.message == "timeout calling ledger after 3000ms" and line.at == INCIDENT + 60
    assert line.level == "error"
