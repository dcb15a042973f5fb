"""The Anthropic stand-in against the official SDK's typed models, over HTTP.

Every answer is validated with the ``anthropic`` package's pydantic models (``Message``,
``MessageTokensCount``, the stream events, ``ErrorResponse``) and, because those models make
every nullable field optional, the raw JSON is also checked for the fields the API always sends
(``container``, ``stop_details``, ``usage.cache_creation``, ``usage.service_tier``,
``usage.server_tool_use``, a text's ``citations``, a tool_use's ``caller``). Streaming is read
with the SDK's own accumulator (``messages.stream`` and ``create(stream=True)``); errors with the
statuses and types of https://docs.anthropic.com/en/api/errors.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anthropic
import pytest
from aiohttp import web
from anthropic.types import Message, MessageTokensCount, RawMessageStreamEvent
from anthropic.types.shared import ErrorResponse
from pydantic import SecretStr, TypeAdapter

from connectors.anthropic import AnthropicModel
from connectors.config import AnthropicConfig
from connectors.errors import BadResponse, ConnectorError, SourceUnavailable
from sandbox.anthropic_api import anthropic_app
from sandbox.faults import FAULTS, serving

KEY = "sandbox-anthropic-key"
MODEL = "claude-sonnet-4-6"
EVIDENCE = [
    {"id": "E1", "kind": "suspect", "rank": 1, "service": "db", "reasons": ["pool exhausted"]},
    {"id": "E2", "source": "changes", "service": "db", "kind": "deploy", "title": "Pool 5"},
]
NARRATIVE = (
    '<incident>{"title": "web errors", "service": "web"}</incident>'
    f"<evidence>{json.dumps(EVIDENCE)}</evidence>"
)
TOOLS = [
    {
        "name": "list_changes",
        "description": "Changes to a service in the last minutes.",
        "input_schema": {
            "type": "object",
            "properties": {"service": {"type": "string"}, "minutes": {"type": "integer"}},
            "required": ["service"],
        },
    }
]
QUESTION = f"<evidence>{json.dumps(EVIDENCE)}</evidence><question>what changed in db?</question>"
# Fields the API always sends, null or not, which the SDK's models would let go missing.
ALWAYS = (
    *("id", "type", "role", "model", "content", "stop_reason", "stop_sequence"),
    *("stop_details", "container", "usage"),
)
USAGE = (
    *("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"),
    *("cache_creation", "service_tier", "server_tool_use"),
)
STREAM_EVENT: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)
App = tuple[web.Application, str]


@pytest.fixture
async def standin() -> AsyncIterator[App]:
    app = anthropic_app()
    async with serving(app) as url:
        yield app, url


@pytest.fixture
async def client(standin: App) -> AsyncIterator[anthropic.AsyncAnthropic]:
    _, url = standin
    made = anthropic.AsyncAnthropic(api_key=KEY, base_url=url, max_retries=0)
    yield made
    await made.close()


def conforming_message(body: dict[str, Any]) -> Message:
    """``body`` validated as a ``Message``, with every field the API always sends present."""
    assert [f for f in ALWAYS if f not in body] == []
    assert [f for f in USAGE if f not in body["usage"]] == []
    assert re.fullmatch(r"msg_[0-9A-Za-z]{24}", body["id"])
    for block in body["content"]:
        if block["type"] == "text":
            assert "citations" in block
        if block["type"] == "tool_use":
            assert block["caller"] == {"type": "direct"}
            assert re.fullmatch(r"toolu_[0-9A-Za-z]{24}", block["id"])
    message = Message.model_validate(body)
    assert message.usage.service_tier == "standard" and message.usage.cache_creation is not None
    return message


async def _raw(client: anthropic.AsyncAnthropic, **request: Any) -> tuple[Message, dict[str, str]]:
    raw = await client.messages.with_raw_response.create(**request)
    body = json.loads(raw.http_response.content)
    assert re.fullmatch(r"req_\w+", raw.http_response.headers["request-id"])
    return conforming_message(body), dict(raw.http_response.headers)


def _ask(content: str, **more: Any) -> dict[str, Any]:
    """A request of one user turn; ``more`` adds or replaces fields."""
    request = {
        "model": MODEL,
        "max_tokens": 400,
        "messages": [{"role": "user", "content": content}],
    }
    return request | more


async def test_a_narrative(client: anthropic.AsyncAnthropic) -> None:
    message, _ = await _raw(client, **_ask(NARRATIVE))
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    [block] = message.content
    assert block.type == "text" and "[E1]" in block.text
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0


async def test_a_tool_use_and_its_result(client: anthropic.AsyncAnthropic) -> None:
    message, _ = await _raw(client, **_ask(QUESTION, tools=TOOLS))
    assert message.stop_reason == "tool_use"
    text, use = message.content
    assert text.type == "text" and use.type == "tool_use"
    assert use.name == "list_changes" and use.input["service"] == "db"
    result = {
        "type": "tool_result",
        "tool_use_id": use.id,
        "content": json.dumps({"evidence": EVIDENCE}),
    }
    follow_up = _ask(QUESTION, tools=TOOLS)
    follow_up["messages"] += [
        {
            "role": "assistant",
            "content": [b.model_dump(exclude_none=True) for b in message.content],
        },
        {"role": "user", "content": [result]},
    ]
    answer, _ = await _raw(client, **follow_up)
    assert answer.stop_reason == "end_turn" and answer.content[0].type == "text"


async def test_max_tokens_cuts_the_answer(client: anthropic.AsyncAnthropic) -> None:
    message, _ = await _raw(client, **_ask(NARRATIVE, max_tokens=5))
    assert message.stop_reason == "max_tokens" and message.usage.output_tokens <= 5


async def test_a_stop_sequence_ends_the_answer_where_it_is_produced(
    client: anthropic.AsyncAnthropic,
) -> None:
    message, _ = await _raw(client, **_ask(NARRATIVE, stop_sequences=["never said", "root cause"]))
    assert message.stop_reason == "stop_sequence" and message.stop_sequence == "root cause"
    [block] = message.content
    assert block.type == "text" and block.text == "db is the most likely "
    # A tool call after the stop sequence is never made.
    message, _ = await _raw(client, **_ask(QUESTION, tools=TOOLS, stop_sequences=["check"]))
    assert message.stop_reason == "stop_sequence" and [b.type for b in message.content] == ["text"]
    # One that is not produced changes nothing.
    message, _ = await _raw(client, **_ask(NARRATIVE, stop_sequences=["zebra"]))
    assert message.stop_reason == "end_turn" and message.stop_sequence is None


async def test_count_tokens(client: anthropic.AsyncAnthropic) -> None:
    raw = await client.messages.with_raw_response.count_tokens(
        model=MODEL, messages=[{"role": "user", "content": NARRATIVE}]
    )
    counted = MessageTokensCount.model_validate(json.loads(raw.http_response.content))
    assert counted.input_tokens > 0


# --- streaming --------------------------------------------------------------------------------


async def _events(url: str, request: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The Server-Sent Events of a streamed request, read off the wire."""
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{url}/v1/messages", json=request | {"stream": True}, headers=headers
        ) as response,
    ):
        assert response.status == 200 and response.content_type == "text/event-stream"
        assert response.headers["request-id"].startswith("req_")
        text = await response.text()
    events = []
    for chunk in text.strip().split("\n\n"):
        name, data = chunk.split("\n")
        assert name.startswith("event: ") and data.startswith("data: ")
        payload = json.loads(data[len("data: ") :])
        assert payload["type"] == name[len("event: ") :]
        if payload["type"] != "ping":  # not among the SDK's stream events; it skips them
            STREAM_EVENT.validate_python(payload)
        events.append((payload["type"], payload))
    return events


@pytest.mark.parametrize("tools", [False, True])
async def test_the_stream_follows_the_documented_event_order(standin: App, tools: bool) -> None:
    _, url = standin
    request = _ask(QUESTION, tools=TOOLS) if tools else _ask(NARRATIVE)
    events = await _events(url, request)
    names = [name for name, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]
    started = events[0][1]["message"]
    assert started["content"] == [] and started["stop_reason"] is None
    assert [f for f in ALWAYS if f not in started] == []
    blocks = [e["index"] for name, e in events if name == "content_block_start"]
    assert blocks == list(range(2 if tools else 1))
    for index in blocks:  # start, deltas, stop: one block after the other
        mine = [name for name, e in events if e.get("index") == index]
        assert mine[0] == "content_block_start" and mine[-1] == "content_block_stop"
        assert set(mine[1:-1]) == {"content_block_delta"}
    ending = events[-2][1]
    assert ending["delta"]["stop_reason"] == ("tool_use" if tools else "end_turn")
    assert ending["usage"]["output_tokens"] > 1


@pytest.mark.parametrize(
    "request_",
    [
        _ask(NARRATIVE),
        _ask(QUESTION, tools=TOOLS),
        _ask(NARRATIVE, stop_sequences=["root cause"]),
        _ask(NARRATIVE, max_tokens=5),
    ],
    ids=["text", "tool_use", "stop_sequence", "max_tokens"],
)
async def test_the_sdk_accumulates_the_stream_into_the_same_message(
    client: anthropic.AsyncAnthropic, request_: dict[str, Any]
) -> None:
    whole, _ = await _raw(client, **request_)
    async with client.messages.stream(**request_) as stream:
        streamed = await stream.get_final_message()
    chunks = [e.type async for e in await client.messages.create(**request_, stream=True)]
    assert chunks[0] == "message_start" and chunks[-1] == "message_stop"

    def same(m: Message) -> dict[str, Any]:
        """What a call answers, apart from its ids."""
        dumped = m.model_dump(exclude={"id"})
        for block in dumped["content"]:
            block.pop("id", None)
            block.pop("parsed_output", None)
        return dumped

    assert same(streamed) == same(whole)


# --- errors -----------------------------------------------------------------------------------

DOCUMENTED = [  # status, error type, the SDK's exception
    (400, "invalid_request_error", anthropic.BadRequestError),
    (401, "authentication_error", anthropic.AuthenticationError),
    (402, "billing_error", anthropic.PaymentRequiredError),
    (403, "permission_error", anthropic.PermissionDeniedError),
    (404, "not_found_error", anthropic.NotFoundError),
    (413, "request_too_large", anthropic.ContentTooLargeError),
    (429, "rate_limit_error", anthropic.RateLimitError),
    (500, "api_error", anthropic.InternalServerError),
    (504, "timeout_error", anthropic.GatewayTimeoutError),
    (529, "overloaded_error", anthropic.OverloadedError),
]


def conforming_error(body: Any, kind: str) -> None:
    """An error body in Anthropic's envelope, validated with the SDK's ``ErrorResponse``."""
    assert set(body) == {"type", "error", "request_id"} and body["type"] == "error"
    assert body["error"]["type"] == kind and body["error"]["message"]
    assert re.fullmatch(r"req_\w+", body["request_id"])
    if kind != "request_too_large":  # documented, but not among the SDK's error objects
        assert ErrorResponse.model_validate(body).error.type == kind


@pytest.mark.parametrize(("status", "kind", "raised"), DOCUMENTED)
async def test_injected_errors_carry_the_documented_type(
    standin: App, client: anthropic.AsyncAnthropic, status: int, kind: str, raised: type[Exception]
) -> None:
    app, _ = standin
    app[FAULTS].inject("/v1/messages", status=status, retry_after=2 if status == 429 else None)
    with pytest.raises(raised) as caught:
        await client.messages.create(**_ask(NARRATIVE))
    assert isinstance(caught.value, anthropic.APIStatusError)
    assert caught.value.status_code == status
    conforming_error(caught.value.body, kind)
    assert caught.value.request_id == caught.value.body["request_id"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("request_", "key", "status", "kind"),
    [
        (_ask(NARRATIVE), "wrong-key", 401, "authentication_error"),
        (
            {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
            KEY,
            400,
            "invalid_request_error",
        ),
        (_ask(NARRATIVE, stop_sequences=[""]), KEY, 400, "invalid_request_error"),
        (_ask(NARRATIVE, stream="yes"), KEY, 400, "invalid_request_error"),
    ],
    ids=["key", "max_tokens", "stop_sequences", "stream"],
)
async def test_refused_requests(
    standin: App, request_: dict[str, Any], key: str, status: int, kind: str
) -> None:
    _, url = standin
    headers = {"x-api-key": key, "anthropic-version": "2023-06-01"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{url}/v1/messages", json=request_, headers=headers) as response,
    ):
        assert response.status == status
        conforming_error(await response.json(), kind)


# --- the connector on what the stand-in now says ----------------------------------------------


def _model(url: str) -> AnthropicModel:
    return AnthropicModel(AnthropicConfig(api_key=SecretStr(KEY), base_url=url, max_retries=0))


@pytest.mark.parametrize(
    ("status", "raised", "says"),
    [
        (402, ConnectorError, "billing problem (402)"),
        (504, SourceUnavailable, "timed out on the request (504)"),
    ],
)
async def test_the_connector_names_billing_and_timeout_errors(
    standin: App, status: int, raised: type[ConnectorError], says: str
) -> None:
    app, url = standin
    app[FAULTS].inject("/v1/messages", status=status)
    model = _model(url)
    try:
        with pytest.raises(raised, match=re.escape(says)):
            await model.create(
                system="s", messages=[{"role": "user", "content": "hi"}], max_tokens=10, timeout=5.0
            )
    finally:
        await model.aclose()


async def test_the_connector_reads_an_error_in_a_200_as_a_bad_response(standin: App) -> None:
    app, url = standin
    app[FAULTS].inject("/v1/messages", error_body=True)
    model = _model(url)
    try:
        with pytest.raises(BadResponse, match="injected error in a 200 response"):
            await model.create(
                system="s", messages=[{"role": "user", "content": "hi"}], max_tokens=10, timeout=5.0
            )
    finally:
        await model.aclose()


async def test_the_connector_reads_the_complete_shapes(standin: App) -> None:
    _, url = standin
    model = _model(url)
    try:
        reply = await model.create(
            system="s",
            messages=[{"role": "user", "content": QUESTION}],
            max_tokens=400,
            timeout=5.0,
            tools=TOOLS,
        )
    finally:
        await model.aclose()
    assert reply.stop_reason == "tool_use" and reply.tool_calls[0].name == "list_changes"
    # What goes back in the next turn is what the API accepts as input: no caller, no citations.
    assert [set(b) for b in reply.content] == [{"type", "text"}, {"type", "id", "name", "input"}]
