"""The Slack Web API stand-in checked against Slack's published Web API description (issue 14).

Every method :mod:`sandbox.slack_api` serves is called over HTTP as ``slack_sdk`` calls it (a
form POST with a bearer token), and every answer -- success, error, rate limit -- is validated
with that method's response schema from Slack's OpenAPI 2.0 description, the subset vendored in
``slack/slack_web_openapi_v2_subset.json`` (from ``web-api/slack_web_openapi_v2.json`` in
slackapi/slack-api-specs), with draft-04 JSON Schema as OpenAPI 2 uses it.

Two things to know when reading a failure:

* The description writes "one of these" as ``items: [a, b]`` on a value that is not an array;
  its CHANGELOG (July 2019) says so: "expressing the ``oneOf`` instruction is difficult and we
  replace this nuance with the generic ``items``". Read literally, draft-04 ignores ``items`` on
  a non-array, and a conversation object or a message's ``bot_id`` would pass whatever it held;
  :func:`described` reads such ``items`` as the ``anyOf`` they mean.
* The description dates from April 2020. Where Slack has changed since, :data:`OUTDATED` writes
  the exception down with Slack's current page for the method, and
  :func:`test_every_exception_is_still_needed` fails once an exception no longer changes the
  verdict on some answer (so the list cannot quietly grow stale).

Formats (``"format": "uri"``) are not checked: draft-04 leaves them optional.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from jsonschema import Draft4Validator
from slack_sdk import WebClient

from sandbox.faults import serving
from sandbox.slack_api import Workspace, slack_app

SUBSET = Path(__file__).with_name("slack") / "slack_web_openapi_v2_subset.json"
DOCS = "https://api.slack.com/methods/"
Doc = dict[str, Any]

#: Every method the stand-in serves.
SERVED = (
    "auth.test",
    "apps.connections.open",
    "conversations.create",
    "conversations.info",
    "conversations.join",
    "conversations.invite",
    "conversations.history",
    "conversations.replies",
    "chat.postMessage",
    "chat.update",
    "chat.postEphemeral",
    "usergroups.users.list",
    "files.getUploadURLExternal",
    "files.completeUploadExternal",
)


def _operation(doc: Doc, method: str) -> Doc:
    return dict(next(iter(doc["paths"][f"/{method}"].values())))


def _success(doc: Doc, method: str) -> Doc:
    return dict(_operation(doc, method)["responses"]["200"]["schema"])


def _failure(doc: Doc, method: str) -> Doc:
    return dict(_operation(doc, method)["responses"]["default"]["schema"])


def _add_errors(doc: Doc, method: str, *codes: str) -> None:
    _failure(doc, method)["properties"]["error"]["enum"].extend(codes)


def _add_property(schema: Doc, name: str, value: Doc) -> None:
    schema["properties"][name] = value


#: The description's own ``objs_response_metadata`` ("new paging style"), not referenced by the
#: history and replies schemas it belongs in.
NEXT_CURSOR: Doc = {
    "additionalProperties": False,
    "properties": {"next_cursor": {"type": "string"}},
    "required": ["next_cursor"],
    "type": "object",
}

#: Socket Mode's method, as its page describes it today (it came after the 2020 description).
CONNECTIONS_OPEN: Doc = {
    "post": {
        "externalDocs": {"url": DOCS + "apps.connections.open"},
        "responses": {
            "200": {
                "schema": {
                    "additionalProperties": False,
                    "properties": {
                        "ok": {"$ref": "#/definitions/defs_ok_true"},
                        "url": {"pattern": "^wss?://", "type": "string"},
                    },
                    "required": ["ok", "url"],
                    "type": "object",
                }
            },
            "default": {
                "schema": {
                    "additionalProperties": False,
                    "properties": {
                        "error": {
                            "enum": [
                                "not_authed",
                                "invalid_auth",
                                "not_allowed_token_type",
                                "account_inactive",
                                "token_revoked",
                                "missing_scope",
                                "ratelimited",
                                "fatal_error",
                            ],
                            "type": "string",
                        },
                        "ok": {"$ref": "#/definitions/defs_ok_false"},
                    },
                    "required": ["ok", "error"],
                    "type": "object",
                }
            },
        },
    }
}


#: Errors every method may answer, as Slack's pages list them.
COMMON_ERRORS = [
    "not_authed",
    "invalid_auth",
    "access_denied",
    "account_inactive",
    "token_revoked",
    "no_permission",
    "missing_scope",
    "invalid_arguments",
    "invalid_arg_name",
    "invalid_charset",
    "invalid_form_data",
    "invalid_post_type",
    "missing_post_type",
    "request_timeout",
    "ratelimited",
    "fatal_error",
    "internal_error",
]


def _method(name: str, success: Doc, errors: list[str]) -> Doc:
    """A method's 200 and default schemas, as its page describes them today."""
    return {
        "post": {
            "externalDocs": {"url": DOCS + name},
            "responses": {
                "200": {
                    "schema": {
                        "additionalProperties": False,
                        "properties": {"ok": {"$ref": "#/definitions/defs_ok_true"}, **success},
                        "required": ["ok", *success],
                        "type": "object",
                    }
                },
                "default": {
                    "schema": {
                        "additionalProperties": False,
                        "properties": {
                            "error": {"enum": [*errors, *COMMON_ERRORS], "type": "string"},
                            "ok": {"$ref": "#/definitions/defs_ok_false"},
                            # With missing_scope: the scope needed, the scopes the token has.
                            "needed": {"type": "string"},
                            "provided": {"type": "string"},
                        },
                        "required": ["ok", "error"],
                        "type": "object",
                    }
                },
            },
        }
    }


#: The external upload flow (2023, after the description): files.getUploadURLExternal answers
#: where to POST the bytes and the file's id; files.completeUploadExternal the files shared.
GET_UPLOAD_URL_EXTERNAL = _method(
    "files.getUploadURLExternal",
    {
        "upload_url": {"pattern": "^https?://", "type": "string"},
        "file_id": {"$ref": "#/definitions/defs_file_id"},
    },
    [
        "alt_txt_too_large",
        "file_type_not_allowed",
        "file_upload_size_restricted",
        "file_uploads_disabled",
        "file_uploads_except_images_disabled",
        "missing_argument",
        "snippet_too_large",
    ],
)
COMPLETE_UPLOAD_EXTERNAL = _method(
    "files.completeUploadExternal",
    {
        "files": {
            "items": {
                "additionalProperties": False,
                "properties": {
                    "id": {"$ref": "#/definitions/defs_file_id"},
                    "title": {"type": "string"},
                },
                "required": ["id", "title"],
                "type": "object",
            },
            "minItems": 1,
            "type": "array",
        }
    },
    [
        "channel_not_found",
        "file_not_found",
        "file_update_failed",
        "invalid_channel",
        "not_in_channel",
        "posting_to_channel_denied",
        "restricted_action",
    ],
)


@dataclass(frozen=True, slots=True)
class Outdated:
    """A place where the 2020 description no longer says what Slack answers, and the fix."""

    method: str
    what: str
    docs: str
    change: Callable[[Doc], None]


def _every_method(change: Callable[[Doc, str], None]) -> Callable[[Doc], None]:
    def apply(doc: Doc) -> None:
        for method in SERVED:
            if f"/{method}" in doc["paths"]:
                change(doc, method)

    return apply


#: The exceptions to the published description, each with Slack's current page for the method.
OUTDATED: tuple[Outdated, ...] = (
    Outdated(
        "auth.test",
        "answers bot_id (the bot's B… id) when called with a bot token",
        DOCS + "auth.test",
        lambda d: _add_property(
            _success(d, "auth.test"), "bot_id", {"$ref": "#/definitions/defs_bot_id"}
        ),
    ),
    Outdated(
        "chat.postMessage",
        "messages carry metadata {event_type, event_payload} (message metadata, 2022); history "
        "and replies return it with include_all_metadata=true",
        DOCS + "chat.postMessage",
        lambda d: _add_property(
            d["definitions"]["objs_message"],
            "metadata",
            {
                "properties": {
                    "event_payload": {"type": "object"},
                    "event_type": {"type": "string"},
                },
                "required": ["event_type", "event_payload"],
                "type": "object",
            },
        ),
    ),
    Outdated(
        "chat.postMessage",
        "a message an app posts carries the app's app_id",
        DOCS + "chat.postMessage",
        lambda d: _add_property(
            d["definitions"]["objs_message"], "app_id", {"$ref": "#/definitions/defs_app_id"}
        ),
    ),
    Outdated(
        "chat.update",
        "an edited message carries edited: {user, ts}",
        DOCS + "chat.update",
        lambda d: _add_property(
            d["definitions"]["objs_message"],
            "edited",
            {
                "properties": {
                    "ts": {"$ref": "#/definitions/defs_ts"},
                    "user": {"$ref": "#/definitions/defs_user_id"},
                },
                "required": ["user", "ts"],
                "type": "object",
            },
        ),
    ),
    Outdated(
        "conversations.history",
        "pages with response_metadata.next_cursor (the description's own example has it; its "
        "schema forbids it)",
        DOCS + "conversations.history",
        lambda d: _add_property(
            _success(d, "conversations.history"), "response_metadata", NEXT_CURSOR
        ),
    ),
    Outdated(
        "conversations.history",
        "an empty conversation answers messages: [] (the description asks for one at least)",
        DOCS + "conversations.history",
        lambda d: _success(d, "conversations.history")["properties"]["messages"].update(minItems=0),
    ),
    Outdated(
        "conversations.history",
        "a cursor it did not hand out answers invalid_cursor",
        DOCS + "conversations.history",
        lambda d: _add_errors(d, "conversations.history", "invalid_cursor"),
    ),
    Outdated(
        "conversations.replies",
        "messages are message objects as in history: the description's thread shapes require "
        "`replies` (which Slack stopped sending in 2019) and forbid what app messages carry "
        "(bot_id, blocks, bot_profile…)",
        DOCS + "conversations.replies",
        lambda d: _success(d, "conversations.replies")["properties"]["messages"].update(
            items={"$ref": "#/definitions/objs_message"}
        ),
    ),
    Outdated(
        "conversations.replies",
        "pages with response_metadata.next_cursor",
        DOCS + "conversations.replies",
        lambda d: _add_property(
            _success(d, "conversations.replies"), "response_metadata", NEXT_CURSOR
        ),
    ),
    Outdated(
        "conversations.replies",
        "a cursor it did not hand out answers invalid_cursor",
        DOCS + "conversations.replies",
        lambda d: _add_errors(d, "conversations.replies", "invalid_cursor"),
    ),
    Outdated(
        "usergroups.users.list",
        "an unknown user group answers no_such_subteam",
        DOCS + "usergroups.users.list",
        lambda d: _add_errors(d, "usergroups.users.list", "no_such_subteam"),
    ),
    Outdated(
        "chat.postMessage",
        "a rate-limited call answers HTTP 429 with error `ratelimited` (the description lists "
        "only `rate_limited`, for some methods)",
        "https://api.slack.com/docs/rate-limits",
        _every_method(lambda d, m: _add_errors(d, m, "ratelimited")),
    ),
    Outdated(
        "apps.connections.open",
        "Socket Mode's method is newer than the description; its page describes {ok, url}",
        DOCS + "apps.connections.open",
        lambda d: d["paths"].update({"/apps.connections.open": copy.deepcopy(CONNECTIONS_OPEN)}),
    ),
    Outdated(
        "files.getUploadURLExternal",
        "the external upload flow is newer than the description; its page describes "
        "{ok, upload_url, file_id}",
        DOCS + "files.getUploadURLExternal",
        lambda d: d["paths"].update(
            {"/files.getUploadURLExternal": copy.deepcopy(GET_UPLOAD_URL_EXTERNAL)}
        ),
    ),
    Outdated(
        "files.completeUploadExternal",
        "the external upload flow is newer than the description; its page describes "
        "{ok, files: [{id, title}]}",
        DOCS + "files.completeUploadExternal",
        lambda d: d["paths"].update(
            {"/files.completeUploadExternal": copy.deepcopy(COMPLETE_UPLOAD_EXTERNAL)}
        ),
    ),
)


@functools.cache
def _published() -> Doc:
    return dict(json.loads(SUBSET.read_text()))


def _any_of(node: Any) -> Any:
    """``items: [a, b]`` on a value that is not an array read as ``anyOf: [a, b]``."""
    if isinstance(node, list):
        return [_any_of(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _any_of(v) for k, v in node.items()}
    if isinstance(out.get("items"), list) and out.get("type") != "array":
        out["anyOf"] = out.pop("items")
    return out


def described(*, without: Outdated | None = None) -> Doc:
    """The published description, ``items`` read as meant, with every exception but ``without``."""
    doc = copy.deepcopy(_published())
    for exception in OUTDATED:
        if exception is not without:
            exception.change(doc)
    return dict(_any_of(doc))


@dataclass(frozen=True, slots=True)
class Exchange:
    """One call to the stand-in and its answer, as the wire carried them."""

    method: str
    status: int
    content_type: str
    retry_after: str | None
    body: Any

    @property
    def ok(self) -> bool:
        """Whether Slack would call it a success (HTTP 200 and ``"ok": true``)."""
        return self.status == 200 and isinstance(self.body, dict) and self.body.get("ok") is True


def problems(exchange: Exchange, doc: Doc) -> list[str]:
    """Where the answer breaks its schema in ``doc`` (success or error); empty if it fits."""
    if f"/{exchange.method}" not in doc["paths"]:
        return [f"{exchange.method} is not described"]
    schema = (_success if exchange.ok else _failure)(doc, exchange.method)
    validator = Draft4Validator({**schema, "definitions": doc["definitions"]})
    found = []
    for error in validator.iter_errors(exchange.body):
        where = "/".join(str(p) for p in error.absolute_path) or "(top)"
        why = "; ".join(sorted({c.message[:160] for c in error.context})[:4])
        because = f" [{why}]" if why else ""
        found.append(f"{exchange.method} {where}: {error.message[:200]}{because}")
    return found


async def _call(
    http: aiohttp.ClientSession, base: str, method: str, *, token: str, **args: Any
) -> Exchange:
    """A form POST as ``slack_sdk`` sends it: JSON-encoded blocks and metadata, bearer token."""
    form = {k: json.dumps(v) if isinstance(v, list | dict) else str(v) for k, v in args.items()}
    headers = {"Authorization": f"Bearer {token}"}
    async with http.post(f"{base}/api/{method}", data=form, headers=headers) as response:
        text = await response.text()
        json_body = response.content_type == "application/json"
        return Exchange(
            method=method,
            status=response.status,
            content_type=response.content_type,
            retry_after=response.headers.get("Retry-After"),
            body=json.loads(text) if json_body else text,
        )


@dataclass(slots=True)
class Conversation:
    """A typical session with the stand-in: what was set up, and every exchange in order."""

    ws: Workspace
    exchanges: list[Exchange]

    def of(self, method: str) -> list[Exchange]:
        """The exchanges of one method."""
        return [e for e in self.exchanges if e.method == method]


async def converse() -> Conversation:
    """Call every served method the way the bot does, then its typical errors and faults."""
    ws = Workspace()
    ops = ws.create_channel("ops-alerts", topic="Alerts land here", purpose="Paging")
    general = ws.create_channel("general")
    general.is_general = True
    secret = ws.create_channel("sec-incident", private=True)
    quiet = ws.create_channel("quiet")
    for channel in (ops, secret, quiet):
        ws.invite(channel.id, ws.bot_user_id)
    alert = ws.post_as_user(ops.id, "payments-db p99 latency is high", user="U0ALERTS")
    ws.post_as_user(ops.id, "looking", user="U0HUMAN", thread_ts=alert)
    ws.post_as_user(ops.id, "me too", user="U0ONCALL", thread_ts=alert)
    ws.post_as_user(ops.id, "deploy of payments-api finished", user="U0DEPLOYS")
    ws.add_usergroup("S0PAYMENTS", ["U0HUMAN", "U0ONCALL"])
    exchanges: list[Exchange] = []
    async with serving(slack_app(ws)) as base, aiohttp.ClientSession() as http:

        async def call(method: str, *, token: str = ws.token, **args: Any) -> Exchange:
            exchanges.append(await _call(http, base, method, token=token, **args))
            return exchanges[-1]

        await call("auth.test")
        await call("apps.connections.open", token=ws.app_token)
        await call("conversations.info", channel=ops.id)
        await call("conversations.info", channel=secret.id)
        created = await call("conversations.create", name="inc-payments-db")
        incident = created.body["channel"]["id"]
        await call("conversations.create", name="inc-payments-db")  # name_taken
        await call("conversations.create", name="Bad Name!")  # invalid_name_specials
        await call("conversations.join", channel=general.id)
        await call("conversations.join", channel=general.id)  # already in: a warning
        await call("conversations.invite", channel=incident, users="U0HUMAN,U0ONCALL")
        await call("conversations.invite", channel=incident, users="U0HUMAN")  # already in
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Root cause*"}}]
        metadata = {"event_type": "incident_copilot_message", "event_payload": {"part": "x"}}
        posted = await call(
            "chat.postMessage",
            channel=incident,
            text="Root cause",
            blocks=blocks,
            metadata=metadata,
        )
        summary = posted.body["ts"]
        await call("chat.postMessage", channel=incident, text="details", thread_ts=summary)
        await call("chat.postMessage", channel=incident, text="more", thread_ts=summary)
        await call("chat.update", channel=incident, ts=summary, text="Root cause: payments-db")
        await call("chat.postEphemeral", channel=incident, user="U0HUMAN", text="only you")
        for channel in (incident, ops.id, quiet.id):
            await call("conversations.history", channel=channel, include_all_metadata="true")
        await call("conversations.history", channel=ops.id, limit=1)  # has_more, a cursor
        # The external upload flow: a URL, the bytes POSTed there, then shared in the thread.
        png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x03\xc0\x00\x00\x02\x00" + bytes(40)
        upload = await call(
            "files.getUploadURLExternal", filename="chart.png", length=len(png), alt_txt="A chart"
        )
        async with http.post(upload.body["upload_url"], data=png) as posted_bytes:
            assert posted_bytes.status == 200 and await posted_bytes.text() == f"OK - {len(png)}"
        file_id = upload.body["file_id"]
        await call(
            "files.completeUploadExternal",
            files=[{"id": file_id, "title": "What changed"}],
            channel_id=incident,
            thread_ts=summary,
        )
        await call("conversations.replies", channel=incident, ts=summary)
        await call("conversations.replies", channel=ops.id, ts=alert, limit=2)
        await call("usergroups.users.list", usergroup="S0PAYMENTS")
        # Errors, answered HTTP 200 with "ok": false as Slack does.
        await call("auth.test", token="xoxb-wrong")  # invalid_auth
        await call("apps.connections.open")  # not_allowed_token_type: a bot token
        await call("conversations.info", channel="C0NOSUCH01")
        await call("conversations.join", channel=secret.id)  # not for private channels
        await call("chat.postMessage", channel="C0NOSUCH01", text="x")
        await call("chat.postMessage", channel=incident)  # no_text
        await call("chat.update", channel=incident, ts="1700000000.000001", text="x")
        await call("conversations.history", channel=incident, cursor="bm9wZQ==")
        await call("conversations.replies", channel=incident, ts=summary, cursor="bm9wZQ==")
        await call("conversations.replies", channel=incident, ts="1700000000.000001")
        await call("usergroups.users.list", usergroup="S0NOSUCH")
        await call("files.getUploadURLExternal", filename="empty.png", length=0)
        await call("files.getUploadURLExternal", length=10)  # no filename
        unsent = await call("files.getUploadURLExternal", filename="never.png", length=10)
        await call("files.completeUploadExternal", files=[{"id": unsent.body["file_id"]}])
        await call("files.completeUploadExternal", files=[{"id": file_id}], channel_id="C0NOSUCH1")
        ws.scopes.discard("files:write")  # an app installed before it asked for files:write
        await call("files.getUploadURLExternal", filename="chart.png", length=10)
        ws.scopes.add("files:write")
        # Faults: a rate limit (429), a server error (5xx), an answer lost after the effect.
        ws.rate_limit("chat.postMessage", retry_after=3)
        await call("chat.postMessage", channel=incident, text="too fast")
        ws.fail("conversations.history", status=503)
        await call("conversations.history", channel=incident)
        ws.fail("chat.postMessage", after=True)
        await call("chat.postMessage", channel=incident, text="landed, answer lost")
    return Conversation(ws, exchanges)


@pytest.fixture
async def conversation() -> Conversation:
    """One typical session, shared by the checks of one test."""
    return await converse()


@pytest.mark.parametrize("method", SERVED)
def test_successes_match_the_description(conversation: Conversation, method: str) -> None:
    successes = [e for e in conversation.of(method) if e.ok]
    assert successes, f"the session has no successful {method}"
    doc = described()
    found = [p for e in successes for p in problems(e, doc)]
    assert not found, "\n".join(found)


ERRORS = (
    ("auth.test", "invalid_auth"),
    ("apps.connections.open", "not_allowed_token_type"),
    ("conversations.create", "name_taken"),
    ("conversations.create", "invalid_name_specials"),
    ("conversations.info", "channel_not_found"),
    ("conversations.join", "method_not_supported_for_channel_type"),
    ("conversations.invite", "already_in_channel"),
    ("chat.postMessage", "channel_not_found"),
    ("chat.postMessage", "no_text"),
    ("chat.postMessage", "ratelimited"),
    ("chat.update", "message_not_found"),
    ("conversations.history", "invalid_cursor"),
    ("conversations.replies", "invalid_cursor"),
    ("conversations.replies", "thread_not_found"),
    ("usergroups.users.list", "no_such_subteam"),
    ("files.getUploadURLExternal", "missing_argument"),
    ("files.getUploadURLExternal", "invalid_arguments"),
    ("files.completeUploadExternal", "file_not_found"),
    ("files.completeUploadExternal", "channel_not_found"),
    ("files.getUploadURLExternal", "missing_scope"),
)


@pytest.mark.parametrize(("method", "error"), ERRORS)
def test_error_bodies_match_the_description(
    conversation: Conversation, method: str, error: str
) -> None:
    answers = [
        e for e in conversation.of(method) if isinstance(e.body, dict) and e.body.get("error")
    ]
    answer = next((e for e in answers if e.body["error"] == error), None)
    assert answer is not None, f"{method} never answered {error}: {[e.body for e in answers]}"
    assert answer.content_type == "application/json"
    assert answer.status == (429 if error == "ratelimited" else 200)
    assert answer.body["ok"] is False
    assert not problems(answer, described())


def test_a_rate_limit_says_when_to_come_back(conversation: Conversation) -> None:
    limited = next(e for e in conversation.exchanges if e.status == 429)
    assert limited.retry_after == "3"
    assert limited.body == {"ok": False, "error": "ratelimited"}


def test_a_server_error_is_an_error_page_not_an_api_answer(conversation: Conversation) -> None:
    failed = [e for e in conversation.exchanges if e.status >= 500]
    assert [(e.method, e.status) for e in failed] == [
        ("conversations.history", 503),
        ("chat.postMessage", 500),
    ]
    for answer in failed:  # nothing to validate against the description: it is not Slack's JSON
        assert answer.content_type == "text/html"
        assert "Service Unavailable" in answer.body or "Internal Server Error" in answer.body
    landed = [m for c in conversation.ws.channels.values() for m in c.messages]
    assert any(m["text"] == "landed, answer lost" for m in landed)  # after=True took effect


def test_channels_carry_every_field_the_description_requires(conversation: Conversation) -> None:
    info = conversation.of("conversations.info")[0].body["channel"]
    required = described()["definitions"]["objs_conversation"]["anyOf"][0]["required"]
    assert set(required) <= set(info)
    assert info["is_general"] is False and info["is_mpim"] is False
    assert info["is_shared"] is False and info["name_normalized"] == "ops-alerts"
    joined = conversation.of("conversations.join")
    assert joined[0].body["channel"]["is_general"] is True
    assert joined[0].body["channel"]["is_member"] is True
    assert joined[1].body["warning"] == "already_in_channel"


def test_an_uploaded_file_is_shared_in_the_thread_as_slack_shows_it(
    conversation: Conversation,
) -> None:
    (done,) = [e for e in conversation.of("files.completeUploadExternal") if e.ok]
    file_id = done.body["files"][0]["id"]
    assert done.body["files"] == [{"id": file_id, "title": "What changed"}]
    thread = conversation.of("conversations.replies")[0].body["messages"]
    (share,) = [m for m in thread if m.get("files")]
    assert share["upload"] is True and share["thread_ts"] == thread[0]["ts"]
    (shown,) = share["files"]
    assert shown["id"] == file_id and shown["name"] == "chart.png"
    assert shown["mimetype"] == "image/png" and (shown["original_w"], shown["original_h"]) == (
        960,
        512,
    )
    assert not problems(conversation.of("conversations.replies")[0], described())
    stored = conversation.ws.files[file_id]
    assert stored.content is not None and shown["size"] == len(stored.content)
    assert stored.alt_txt == "A chart"


def test_ids_follow_slack_formats() -> None:
    defs = _published()["definitions"]
    ws = Workspace()
    channel = ws.create_channel("inc-x")
    private = ws.create_channel("sec-x", private=True)
    for value, kind in (
        (ws.team_id, "defs_workspace_id"),
        (ws.bot_user_id, "defs_user_id"),
        (ws.bot_id, "defs_bot_id"),
        (ws.app_id, "defs_app_id"),
        (channel.id, "defs_channel"),
        (private.id, "defs_group_id"),
    ):
        assert re.fullmatch(defs[kind]["pattern"].strip("^$"), value), (kind, value)


@pytest.mark.parametrize("exception", OUTDATED, ids=lambda o: f"{o.method}:{o.what[:40]}")
def test_every_exception_is_still_needed(conversation: Conversation, exception: Outdated) -> None:
    """Without the exception, the description rejects something the stand-in (and Slack) says."""
    assert exception.docs.startswith("https://api.slack.com/")
    doc = described(without=exception)
    rejected = [
        p
        for e in conversation.exchanges
        if e.content_type == "application/json"
        for p in problems(e, doc)
    ]
    assert rejected, f"{exception.method}: {exception.what} changes nothing any more"


async def test_history_pages_newest_first_with_slack_cursors() -> None:
    ws = Workspace()
    channel = ws.create_channel("inc-paging")
    posted = [ws.post_as_user(channel.id, f"m{i}") for i in range(5)]
    ws.post_as_user(channel.id, "a reply", thread_ts=posted[0])  # not in history's pages
    pages: list[list[str]] = []
    cursor = ""
    async with serving(slack_app(ws)) as base, aiohttp.ClientSession() as http:
        while True:
            args = {"channel": channel.id, "limit": 2} | ({"cursor": cursor} if cursor else {})
            page = await _call(http, base, "conversations.history", token=ws.token, **args)
            assert not problems(page, described())
            pages.append([m["ts"] for m in page.body["messages"]])
            if len(pages) == 1:
                ws.post_as_user(channel.id, "newer")  # a post between pages moves nothing
            cursor = page.body.get("response_metadata", {}).get("next_cursor", "")
            assert page.body["has_more"] is bool(cursor)
            if not cursor:
                break
    newest_first = list(reversed(posted))
    assert pages == [newest_first[0:2], newest_first[2:4], newest_first[4:]]


async def test_replies_page_oldest_first_from_the_parent() -> None:
    ws = Workspace()
    channel = ws.create_channel("inc-thread")
    parent = ws.post_as_user(channel.id, "parent")
    replies = [ws.post_as_user(channel.id, f"r{i}", thread_ts=parent) for i in range(4)]
    first = ws.post_as_user(channel.id, "elsewhere")
    async with serving(slack_app(ws)) as base, aiohttp.ClientSession() as http:

        def read(**more: Any) -> Any:
            args = {"channel": channel.id, "ts": parent, "limit": 2, **more}
            return _call(http, base, "conversations.replies", token=ws.token, **args)

        one = await read()
        two = await read(cursor=one.body["response_metadata"]["next_cursor"])
        three = await read(cursor=two.body["response_metadata"]["next_cursor"])
    seen = [[m["ts"] for m in page.body["messages"]] for page in (one, two, three)]
    assert seen == [[parent, replies[0]], replies[1:3], [replies[3]]]
    assert [p.body["has_more"] for p in (one, two, three)] == [True, True, False]
    assert "response_metadata" not in three.body
    head = one.body["messages"][0]
    assert head["reply_count"] == 4 and head["latest_reply"] == replies[-1]
    assert one.body["messages"][1]["parent_user_id"] == "U0HUMAN"
    assert first not in {ts for page in seen for ts in page}


async def test_slack_sdk_follows_the_cursors() -> None:
    """``slack_sdk`` iterates the pages itself from ``response_metadata.next_cursor``."""
    ws = Workspace()
    channel = ws.create_channel("inc-sdk")
    posted = [ws.post_as_user(channel.id, f"m{i}") for i in range(7)]
    async with serving(slack_app(ws)) as base:
        client = WebClient(token=ws.token, base_url=base + "/api/")

        def every_page() -> list[list[str]]:
            pages = client.conversations_history(channel=channel.id, limit=3)
            return [[m["ts"] for m in page["messages"]] for page in pages]

        pages = await asyncio.to_thread(every_page)
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [ts for page in pages for ts in page] == list(reversed(posted))
