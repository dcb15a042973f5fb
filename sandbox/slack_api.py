"""A stand-in for the Slack Web API: the methods the bot uses, in Slack's documented shapes.

A :class:`Workspace` holds channels and messages; :func:`slack_app` serves it under ``/api/``
(point ``slack_sdk.WebClient(base_url=URL + "/api/")`` at it). Every call is recorded with its
arguments; :meth:`Workspace.rate_limit` makes the next calls of a method answer ``429`` with a
``Retry-After`` header and ``{"ok": false, "error": "ratelimited"}``, as Slack does. A wrong
token gets ``invalid_auth``. ``apps.connections.open`` (app-level token only) hands out a Socket
Mode URL on the same server (:mod:`sandbox.slack_socket` serves it).

For the health sweep's "Open incident channel": ``conversations.create`` (Slack's name rules and
``name_taken``), ``conversations.invite`` (comma-separated ``users``, ``force``) and
``usergroups.users.list`` over the user groups a test defines with
:meth:`Workspace.add_usergroup`.

Files go up the way Slack's external upload flow takes them: ``files.getUploadURLExternal``
(``filename``, ``length``) answers an ``upload_url`` on this server and a ``file_id``; the bytes
are POSTed there (raw or multipart, ``OK - {length}`` as Slack answers); and
``files.completeUploadExternal`` (``files`` as a JSON array of ``{id, title}``, ``channel_id``,
``thread_ts``, ``initial_comment``) shares them as a file message in the channel or thread. The
stored file is kept in :attr:`Workspace.files`; its ``url_private`` serves the bytes to the
bot token. ``Workspace.fail("upload")`` makes the upload URL fail like a method; taking
``files:write`` out of :attr:`Workspace.scopes` makes both methods answer ``missing_scope``.

People have names: :attr:`Workspace.users` (ids to names, the sandbox's usual ones known), for
the page that shows the channels. An ephemeral message (``chat.postEphemeral``) is kept with
the one user who sees it (:attr:`Workspace.ephemeral`), so that the page shows it to them only.

``conversations.history`` (newest first) and ``conversations.replies`` (oldest first) page with
Slack's cursors: ``limit``, ``cursor``, ``has_more`` and ``response_metadata.next_cursor``. Ids
follow Slack's formats (``T…``, ``U…``, ``B…`` with at least eight characters after the letter,
``C…``/``G…`` channels). ``tests/conformance/test_slack_conformance.py`` checks the answers
against Slack's published Web API description.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from aiohttp import BodyPartReader, web


@dataclass(slots=True)
class Call:
    """One Web API call the stand-in answered."""

    method: str
    args: dict[str, Any]
    at: float
    status: int = 200


@dataclass(slots=True)
class Channel:
    """A conversation: public or private, with a topic, a purpose and messages (oldest first)."""

    id: str
    name: str
    is_private: bool = False
    is_general: bool = False
    topic: str = ""
    purpose: str = ""
    created: int = 0
    creator: str = "U0CREATOR"
    members: set[str] = field(default_factory=set)
    messages: list[dict[str, Any]] = field(default_factory=list)

    def info(self) -> dict[str, Any]:
        """The ``conversation`` object of ``conversations.info``.

        A private channel here has a ``G`` id, so it answers as Slack's older private channels
        do: ``is_group`` rather than ``is_channel``.
        """
        return {
            "id": self.id,
            "name": self.name,
            "name_normalized": self.name,
            "is_channel": not self.is_private,
            "is_group": self.is_private,
            "is_im": False,
            "is_mpim": False,
            "is_private": self.is_private,
            "is_archived": False,
            "is_general": self.is_general,
            "is_shared": False,
            "is_org_shared": False,
            "is_ext_shared": False,
            "is_pending_ext_shared": False,
            "pending_shared": [],
            "previous_names": [],
            "unlinked": 0,
            "created": self.created,
            "creator": self.creator,
            "is_member": False,
            "topic": {"value": self.topic, "creator": "", "last_set": 0},
            "purpose": {"value": self.purpose, "creator": "", "last_set": 0},
        }


@dataclass(slots=True)
class SlackFile:
    """A file uploaded through the external upload flow: asked for, uploaded, then shared."""

    id: str
    name: str
    length: int
    user: str
    created: int
    alt_txt: str = ""
    title: str = ""
    content: bytes | None = None  # once uploaded
    shared: list[str] = field(default_factory=list)  # channel ids, once completed

    @property
    def mimetype(self) -> str:
        """What the bytes are, from their first bytes (PNG here) or the name."""
        if self.content is not None and self.content.startswith(b"\x89PNG\r\n\x1a\n"):
            return "image/png"
        return "application/octet-stream"

    def size(self) -> tuple[int, int] | None:
        """Width and height of a PNG, read from its header."""
        if self.mimetype != "image/png" or self.content is None or len(self.content) < 24:
            return None
        return int.from_bytes(self.content[16:20], "big"), int.from_bytes(
            self.content[20:24], "big"
        )

    def info(self, base: str, team_id: str) -> dict[str, Any]:
        """The ``file`` object as Slack shows it in a message's ``files``."""
        private = f"{base}/files-pri/{team_id}-{self.id}/{self.name}"
        found: dict[str, Any] = {
            "id": self.id,
            "created": self.created,
            "timestamp": self.created,
            "name": self.name,
            "title": self.title or self.name,
            "mimetype": self.mimetype,
            "filetype": "png" if self.mimetype == "image/png" else "binary",
            "pretty_type": "PNG" if self.mimetype == "image/png" else "Binary",
            "user": self.user,
            "user_team": team_id,
            "editable": False,
            "size": len(self.content or b""),
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": True,
            "public_url_shared": False,
            "display_as_bot": False,
            "username": "",
            "url_private": private,
            "url_private_download": f"{base}/files-pri/{team_id}-{self.id}/download/{self.name}",
            "permalink": f"https://sandbox.slack.com/files/{self.user}/{self.id}/{self.name}",
            "has_rich_preview": False,
            "channels": [c for c in self.shared if c.startswith("C")],
            "groups": [c for c in self.shared if c.startswith("G")],
        }
        size = self.size()
        if size is not None:
            found["original_w"], found["original_h"] = size
        return found


#: The people the sandbox's messages come from, by id: what Slack's client shows for them.
USERS = {
    "U0BOT": "incident-copilot",
    "U0HUMAN": "alex.kim",
    "U0DEMO": "you",
    "U0ONCALL": "sam.oncall",
    "U0ALERTS": "Datadog",
    "U0DEPLOYS": "deploy-bot",
    "U0CREATOR": "jordan",
}


@dataclass(frozen=True, slots=True)
class SlackFault:
    """One injected failure of a Web API method (see :meth:`Workspace.fail`)."""

    status: int = 500
    after: bool = False
    hang: float = 0.0


class Workspace:
    """One Slack workspace: the bot's identity, channels, messages, and every call made."""

    def __init__(
        self,
        *,
        token: str = "xoxb-sandbox-token",
        app_token: str = "xapp-1-A0SANDBOX-1-sandbox",
        team_id: str = "T0SANDBOX",
        bot_user_id: str = "U0BOT",
        bot_id: str = "B0SANDBOX",
        app_id: str = "A0SANDBOX",
    ) -> None:
        self.token = token
        self.app_token = app_token
        self.tickets: set[str] = set()
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.channels: dict[str, Channel] = {}
        self.usergroups: dict[str, list[str]] = {}
        self.users: dict[str, str] = {**USERS, bot_user_id: "incident-copilot"}
        self.files: dict[str, SlackFile] = {}
        self.uploads: dict[str, str] = {}  # upload URL tickets -> file ids
        self.ephemeral: list[dict[str, Any]] = []  # each with its channel and its one viewer
        # The bot token's scopes, as the manifest asks for them; a method whose scope is
        # missing answers missing_scope (an app installed before the scope was added).
        self.scopes: set[str] = {"files:write"}
        self.calls: list[Call] = []
        self._limits: dict[str, list[float]] = {}
        self._faults: dict[str, list[SlackFault]] = {}
        self._ts = 0.0
        self._lock = threading.Lock()

    def create_channel(
        self, name: str, *, private: bool = False, topic: str = "", purpose: str = ""
    ) -> Channel:
        """A new channel, as a person would create it."""
        with self._lock:
            prefix = "G" if private else "C"
            channel = Channel(
                id=f"{prefix}{uuid.uuid4().hex[:10].upper()}",
                name=name,
                is_private=private,
                topic=topic,
                purpose=purpose,
                created=int(time.time()),
            )
            self.channels[channel.id] = channel
            return channel

    def add_usergroup(self, group_id: str, users: list[str]) -> None:
        """A user group (``S0123ABC``, the id in ``<!subteam^ID>``) and its members."""
        with self._lock:
            self.usergroups[group_id] = list(users)

    def add_user(self, user_id: str, name: str) -> None:
        """Someone in the workspace (``U…``), shown by ``name``."""
        with self._lock:
            self.users[user_id] = name

    def user_name(self, user_id: str) -> str | None:
        """The name shown for a user id, if the workspace knows it."""
        return self.users.get(user_id)

    def ephemeral_for(self, channel: str, user: str) -> list[dict[str, Any]]:
        """The ephemeral messages ``user`` sees in ``channel``, oldest first."""
        with self._lock:
            return [m for m in self.ephemeral if m["channel"] == channel and m["to"] == user]

    def shared_files(self, channel: str) -> list[SlackFile]:
        """Files shared in a channel, oldest first."""
        with self._lock:
            return [f for f in self.files.values() if channel in f.shared]

    def channel_named(self, name: str) -> Channel | None:
        """The channel called ``name``, if any."""
        return next((c for c in list(self.channels.values()) if c.name == name), None)

    def post_as_user(self, channel: str, text: str, *, user: str = "U0HUMAN", **extra: Any) -> str:
        """A message someone (or an alert bot) posted; returns its ts."""
        message = {"type": "message", "user": user, "text": text, "ts": self.next_ts(), **extra}
        with self._lock:
            self.channels[channel].messages.append(message)
        return str(message["ts"])

    def invite(self, channel: str, user: str) -> None:
        """Someone added ``user`` (the bot, say) to a channel."""
        with self._lock:
            self.channels[channel].members.add(user)

    def rate_limit(self, method: str, *, times: int = 1, retry_after: float = 1.0) -> None:
        """Answer the next ``times`` calls of ``method`` with 429 and ``Retry-After``."""
        with self._lock:
            self._limits.setdefault(method, []).extend([retry_after] * times)

    def fail(
        self,
        method: str,
        *,
        times: int = 1,
        status: int = 500,
        after: bool = False,
        hang: float = 0.0,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with an HTTP ``status`` error page.

        ``after``: the call takes effect first and only its answer is lost (the ambiguous
        failure: a message posted whose ts the caller never learns). ``hang``: seconds to wait
        before answering, past a client's timeout.
        """
        with self._lock:
            fault = SlackFault(status=status, after=after, hang=hang)
            self._faults.setdefault(method, []).extend([fault] * times)

    def take_fault(self, method: str) -> SlackFault | None:
        """Whether this call of ``method`` is to fail, and how."""
        with self._lock:
            queued = self._faults.get(method)
            return queued.pop(0) if queued else None

    def calls_of(self, method: str) -> list[Call]:
        """Answered calls of one method (rate-limited ones excluded), oldest first."""
        return [c for c in list(self.calls) if c.method == method and c.status == 200]

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """The channel's messages as they are now, oldest first (thread replies included)."""
        return list(self.channels[channel].messages)

    def next_ts(self) -> str:
        """A message timestamp, unique and increasing, in Slack's ``seconds.micros`` form."""
        with self._lock:
            self._ts = max(time.time(), self._ts + 0.000001)
            return f"{self._ts:.6f}"

    def take_limit(self, method: str) -> float | None:
        """Whether this call of ``method`` is to be rate-limited, and for how long."""
        with self._lock:
            queued = self._limits.get(method)
            return queued.pop(0) if queued else None


SLACK = web.AppKey("slack_workspace", Workspace)


def _error(error: str, status: int = 200) -> web.Response:
    return web.json_response({"ok": False, "error": error}, status=status)


def _error_page(status: int) -> web.Response:
    """What a load balancer in front of Slack answers for a failure: HTML, not the API's JSON."""
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Error"
    text = f"<html><body><h1>{status} {reason}</h1></body></html>"
    return web.Response(status=status, text=text, content_type="text/html")


async def _args(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        body = json.loads(await request.text() or "{}")
        args = dict(body) if isinstance(body, dict) else {}
    else:
        args = dict(await request.post())
    args.update(request.query)
    for key in ("blocks", "attachments", "metadata"):
        if isinstance(args.get(key), str):
            with contextlib.suppress(ValueError):
                args[key] = json.loads(args[key])
    return args


def _token(request: web.Request, args: dict[str, Any]) -> str:
    header = request.headers.get("Authorization", "")
    return header.removeprefix("Bearer ").strip() if header else str(args.get("token", ""))


def _bot_message(ws: Workspace, args: dict[str, Any], ts: str) -> dict[str, Any]:
    """A message the app posts with its bot token: no subtype, the bot's user, id and profile."""
    message: dict[str, Any] = {
        "type": "message",
        "text": args.get("text", ""),
        "user": ws.bot_user_id,
        "bot_id": ws.bot_id,
        "app_id": ws.app_id,
        "team": ws.team_id,
        "bot_profile": {
            "id": ws.bot_id,
            "app_id": ws.app_id,
            "name": "incident-copilot",
            "deleted": False,
            "updated": 1700000000,
            "team_id": ws.team_id,
            "icons": {
                size: f"https://avatars.slack-edge.com/sandbox/copilot_{size[6:]}.png"
                for size in ("image_36", "image_48", "image_72")
            },
        },
        "ts": ts,
    }
    if args.get("blocks"):
        message["blocks"] = args["blocks"]
    if args.get("thread_ts"):
        message["thread_ts"] = args["thread_ts"]
    if isinstance(args.get("metadata"), dict):
        metadata = args["metadata"]
        message["metadata"] = {
            "event_type": str(metadata.get("event_type", "")),
            "event_payload": dict(metadata.get("event_payload") or {}),
        }
    return message


def _shown(
    channel: Channel, messages: list[dict[str, Any]], args: dict[str, Any]
) -> list[dict[str, Any]]:
    """Messages as history and replies return them: copies, a thread's parent with its reply
    counts, a reply with its parent's author, metadata only with ``include_all_metadata``."""
    everything = args.get("include_all_metadata") in _TRUE
    replies: dict[str, list[dict[str, Any]]] = {}
    for m in channel.messages:
        if m.get("thread_ts", m["ts"]) != m["ts"]:
            replies.setdefault(str(m["thread_ts"]), []).append(m)
    authors = {str(m["ts"]): m.get("user") for m in channel.messages}
    shown = []
    for m in messages:
        copy = {k: v for k, v in m.items() if everything or k != "metadata"}
        thread = replies.get(str(m["ts"]))
        if thread:
            users = list(dict.fromkeys(str(r["user"]) for r in thread if r.get("user")))
            copy.update(
                thread_ts=m["ts"],
                reply_count=len(thread),
                reply_users_count=len(users),
                reply_users=users[:5],
                latest_reply=thread[-1]["ts"],
                subscribed=False,
            )
        parent = m.get("thread_ts")
        if parent and parent != m["ts"] and authors.get(str(parent)):
            copy["parent_user_id"] = authors[str(parent)]
        shown.append(copy)
    return shown


class _BadCursor(ValueError):
    """A ``cursor`` this stand-in did not hand out (Slack answers ``invalid_cursor``)."""


def _cursor(ts: str) -> str:
    """Slack's opaque ``next_cursor``: base64 of ``next_ts:`` and the next page's first ts."""
    return base64.b64encode(f"next_ts:{ts.replace('.', '')}".encode()).decode()


def _page(
    messages: list[dict[str, Any]], args: dict[str, Any], *, default: int, most: int
) -> tuple[list[dict[str, Any]], str]:
    """One page of ``messages`` from ``args["cursor"]``, and the cursor of the next ('' if none).

    Raises :class:`_BadCursor` for a cursor that names no message of the list.
    """
    try:
        limit = int(args.get("limit") or default)
    except (TypeError, ValueError):
        limit = default
    limit = max(1, min(limit, most))
    start = 0
    if args.get("cursor"):
        try:
            decoded = base64.b64decode(str(args["cursor"]), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise _BadCursor(str(args["cursor"])) from exc
        digits = decoded.removeprefix("next_ts:")
        starts = [i for i, m in enumerate(messages) if str(m["ts"]).replace(".", "") == digits]
        if not decoded.startswith("next_ts:") or not starts:
            raise _BadCursor(str(args["cursor"]))
        start = starts[0]
    page = messages[start : start + limit]
    rest = messages[start + limit :]
    return page, _cursor(str(rest[0]["ts"])) if rest else ""


def _paged(page: list[dict[str, Any]], next_cursor: str, **extra: Any) -> web.Response:
    """A page as Slack answers it: ``has_more``, and the next cursor only when there is more."""
    answer: dict[str, Any] = {"ok": True, "messages": page, "has_more": bool(next_cursor), **extra}
    if next_cursor:
        answer["response_metadata"] = {"next_cursor": next_cursor}
    return web.json_response(answer)


def _history(channel: Channel, args: dict[str, Any]) -> web.Response:
    """``conversations.history``: top-level messages, newest first, 100 a page unless asked."""
    top = [m for m in channel.messages if m.get("thread_ts", m["ts"]) == m["ts"]]
    try:
        page, next_cursor = _page(list(reversed(top)), args, default=100, most=999)
    except _BadCursor:
        return _error("invalid_cursor")
    return _paged(
        _shown(channel, page, args),
        next_cursor,
        pin_count=0,
        channel_actions_ts=None,
        channel_actions_count=0,
    )


def _replies(channel: Channel, args: dict[str, Any]) -> web.Response:
    """``conversations.replies``: the parent, then its replies oldest first, 1000 a page."""
    ts = str(args.get("ts", ""))
    thread = [m for m in channel.messages if m["ts"] == ts or m.get("thread_ts") == ts]
    if not any(m["ts"] == ts for m in thread):
        return _error("thread_not_found")
    try:
        page, next_cursor = _page(thread, args, default=1000, most=1000)
    except _BadCursor:
        return _error("invalid_cursor")
    return _paged(_shown(channel, page, args), next_cursor)


#: Slack's channel names: lowercase letters, digits, hyphens and underscores, 80 at most.
_CHANNEL_NAME = re.compile(r"^[a-z0-9_-]+$")
_TRUE = ("1", "true", True)


def _create(ws: Workspace, args: dict[str, Any]) -> web.Response:
    """``conversations.create``: the errors Slack documents for a name, then the channel."""
    name = str(args.get("name", ""))
    if not name:
        return _error("invalid_name_required")
    if len(name) > 80:
        return _error("invalid_name_maxlength")
    if not _CHANNEL_NAME.match(name):
        return _error("invalid_name_specials")
    if not name.strip("-_"):
        return _error("invalid_name_punctuation")
    if ws.channel_named(name) is not None:
        return _error("name_taken")
    channel = ws.create_channel(name, private=args.get("is_private") in _TRUE)
    channel.creator = ws.bot_user_id
    channel.members.add(ws.bot_user_id)
    info = channel.info()
    info["is_member"] = True
    return web.json_response({"ok": True, "channel": info})


def _invite(ws: Workspace, channel: Channel, args: dict[str, Any]) -> web.Response:
    """``conversations.invite``: all or nothing, unless ``force`` skips the ones that fail."""
    users = [u.strip() for u in str(args.get("users", "")).split(",") if u.strip()]
    if not users:
        return _error("no_user")
    if len(users) > 1000:
        return _error("too_many_users")
    if ws.bot_user_id not in channel.members:
        return _error("not_in_channel")
    failed = [
        {"user": u, "ok": False, "error": "cant_invite_self"}
        if u == ws.bot_user_id
        else {"user": u, "ok": False, "error": "already_in_channel"}
        for u in users
        if u == ws.bot_user_id or u in channel.members
    ]
    if failed and args.get("force") not in _TRUE:
        return web.json_response({"ok": False, "error": failed[0]["error"], "errors": failed})
    refused = {str(f["user"]) for f in failed}
    channel.members.update(u for u in users if u not in refused)
    info = channel.info()
    info["is_member"] = True
    answer: dict[str, Any] = {"ok": True, "channel": info}
    if failed:
        answer["errors"] = failed
    return web.json_response(answer)


def _find(channel: Channel, ts: str) -> dict[str, Any] | None:
    return next((m for m in channel.messages if m.get("ts") == ts), None)


def _upload_url(ws: Workspace, args: dict[str, Any], base: str) -> web.Response:
    """``files.getUploadURLExternal``: a file id and where to POST its bytes."""
    filename = str(args.get("filename") or "")
    try:
        length = int(str(args.get("length", "")))
    except ValueError:
        length = -1
    if not filename or length < 0:
        return _error("invalid_arguments")
    if length == 0:
        return _error("missing_argument")  # Slack's answer to an empty file
    file_id = f"F{uuid.uuid4().hex[:10].upper()}"
    ticket = uuid.uuid4().hex
    alt = str(args.get("alt_txt") or "")
    if len(alt) > 1000:
        return _error("alt_txt_too_large")
    with ws._lock:
        ws.files[file_id] = SlackFile(
            id=file_id,
            name=filename,
            length=length,
            user=ws.bot_user_id,
            created=int(time.time()),
            alt_txt=alt,
        )
        ws.uploads[ticket] = file_id
    return web.json_response(
        {"ok": True, "upload_url": f"{base}/upload/v1/{ticket}", "file_id": file_id}
    )


def _complete(ws: Workspace, args: dict[str, Any], base: str) -> web.Response:
    """``files.completeUploadExternal``: the uploaded files shared in a channel or thread."""
    raw = args.get("files")
    try:
        asked = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return _error("invalid_arguments")
    if not isinstance(asked, list) or not asked or not all(isinstance(f, dict) for f in asked):
        return _error("invalid_arguments")
    found = [ws.files.get(str(f.get("id", ""))) for f in asked]
    files = [f for f in found if f is not None and f.content is not None]
    if len(files) != len(asked):
        return _error("file_not_found")
    channel_id = str(args.get("channel_id") or "")
    channel = ws.channels.get(channel_id) if channel_id else None
    if channel_id and channel is None:
        return _error("channel_not_found")
    if channel is not None and channel.is_private and ws.bot_user_id not in channel.members:
        return _error("not_in_channel")
    for f, wanted in zip(files, asked, strict=True):
        if wanted.get("title"):
            f.title = str(wanted["title"])
    if channel is not None:
        fresh = [f for f in files if channel.id not in f.shared]
        for f in fresh:
            f.shared.append(channel.id)
        if fresh:  # sharing a file where it is already shared posts nothing new
            message = _bot_message(
                ws, {"text": str(args.get("initial_comment") or "")}, ws.next_ts()
            )
            message.update(files=[f.info(base, ws.team_id) for f in fresh], upload=True)
            if args.get("thread_ts"):
                message["thread_ts"] = str(args["thread_ts"])
            channel.messages.append(message)
    return web.json_response(
        {"ok": True, "files": [{"id": f.id, "title": f.title or f.name} for f in files]}
    )


#: The scope a method needs, for the methods whose scope a test may take away.
NEEDS = {
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
}


def _handle(ws: Workspace, method: str, args: dict[str, Any], base: str = "") -> web.Response:
    channel = ws.channels.get(str(args.get("channel", "")))
    needed = NEEDS.get(method)
    if needed is not None and needed not in ws.scopes:
        provided = ",".join(sorted(ws.scopes))
        return web.json_response(
            {"ok": False, "error": "missing_scope", "needed": needed, "provided": provided}
        )
    if method == "auth.test":
        return web.json_response(
            {
                "ok": True,
                "url": "https://sandbox.slack.com/",
                "team": "Sandbox",
                "user": "incident-copilot",
                "team_id": ws.team_id,
                "user_id": ws.bot_user_id,
                "bot_id": ws.bot_id,
                "is_enterprise_install": False,
            }
        )
    if method == "conversations.create":
        return _create(ws, args)
    if method == "files.getUploadURLExternal":
        return _upload_url(ws, args, base)
    if method == "files.completeUploadExternal":
        return _complete(ws, args, base)
    if method == "usergroups.users.list":
        members = ws.usergroups.get(str(args.get("usergroup", "")))
        if members is None:
            return _error("no_such_subteam")
        return web.json_response({"ok": True, "users": list(members)})
    if method.startswith(("chat.", "conversations.")) and channel is None:
        return _error("channel_not_found")
    assert channel is not None or not method.startswith(("chat.", "conversations."))
    if method == "conversations.info" and channel:
        if channel.is_private and ws.bot_user_id not in channel.members:
            return _error("channel_not_found")  # Slack hides private channels from non-members
        info = channel.info()
        info["is_member"] = ws.bot_user_id in channel.members
        return web.json_response({"ok": True, "channel": info})
    if method == "conversations.join" and channel:
        if channel.is_private:
            return _error("method_not_supported_for_channel_type")
        joined = {"ok": True, "channel": {**channel.info(), "is_member": True}}
        if ws.bot_user_id in channel.members:
            joined["warning"] = "already_in_channel"
            joined["response_metadata"] = {"warnings": ["already_in_channel"]}
        channel.members.add(ws.bot_user_id)
        return web.json_response(joined)
    if method == "conversations.invite" and channel:
        return _invite(ws, channel, args)
    if method == "conversations.history" and channel:
        return _history(channel, args)
    if method == "conversations.replies" and channel:
        return _replies(channel, args)
    if method == "chat.postMessage" and channel:
        if channel.is_private and ws.bot_user_id not in channel.members:
            return _error("not_in_channel")
        if not (args.get("text") or args.get("blocks")):
            return _error("no_text")
        message = _bot_message(ws, args, ws.next_ts())
        channel.messages.append(message)
        return web.json_response(
            {"ok": True, "channel": channel.id, "ts": message["ts"], "message": message}
        )
    if method == "chat.update" and channel:
        found = _find(channel, str(args.get("ts", "")))
        if found is None:
            return _error("message_not_found")
        if found.get("user") != ws.bot_user_id:
            return _error("cant_update_message")
        found["text"] = args.get("text", found.get("text", ""))
        if "blocks" in args:
            found["blocks"] = args["blocks"]
        found["edited"] = {"user": ws.bot_user_id, "ts": ws.next_ts()}
        return web.json_response(
            {
                "ok": True,
                "channel": channel.id,
                "ts": found["ts"],
                "text": found["text"],
                "message": found,
            }
        )
    if method == "chat.postEphemeral" and channel:
        if not (args.get("text") or args.get("blocks")):
            return _error("no_text")
        ts = ws.next_ts()
        shown = _bot_message(ws, args, ts)
        with ws._lock:
            ws.ephemeral.append({**shown, "channel": channel.id, "to": str(args.get("user", ""))})
        return web.json_response({"ok": True, "message_ts": ts})
    return _error("unknown_method", status=404)


def slack_app(workspace: Workspace) -> web.Application:
    """The Web API stand-in for ``workspace``, methods under ``/api/``."""

    async def method(request: web.Request) -> web.Response:
        ws = request.app[SLACK]
        name = request.match_info["method"]
        args = await _args(request)
        recorded = {k: v for k, v in args.items() if k != "token"}
        retry_after = ws.take_limit(name)
        if retry_after is not None:
            ws.calls.append(Call(name, recorded, time.time(), status=429))
            response = _error("ratelimited", status=429)
            response.headers["Retry-After"] = f"{retry_after:g}"
            return response
        socket = name == "apps.connections.open"
        token = _token(request, args)
        if token != (ws.app_token if socket else ws.token):
            ws.calls.append(Call(name, recorded, time.time(), status=401))
            known = token in (ws.token, ws.app_token)
            return _error("not_allowed_token_type" if known else "invalid_auth")
        base = f"{request.scheme}://{request.host}"
        fault = ws.take_fault(name)
        if fault is not None:
            if fault.hang:
                await asyncio.sleep(fault.hang)
            if fault.after and not socket:
                _handle(ws, name, args, base)  # it took effect; only the answer is lost
            ws.calls.append(Call(name, recorded, time.time(), status=fault.status))
            return _error_page(fault.status)
        ws.calls.append(Call(name, recorded, time.time()))
        if socket:
            ticket = uuid.uuid4().hex
            ws.tickets.add(ticket)
            url = f"ws://{request.host}/link/?ticket={ticket}"
            return web.json_response({"ok": True, "url": url})
        return _handle(ws, name, args, base)

    async def upload(request: web.Request) -> web.Response:
        """The upload URL: the file's bytes, raw or as a multipart form's one file."""
        ws = request.app[SLACK]
        file_id = ws.uploads.get(request.match_info["ticket"])
        if file_id is None:
            return web.Response(status=404, text="upload URL not found")
        fault = ws.take_fault("upload")
        if fault is not None:
            if fault.hang:
                await asyncio.sleep(fault.hang)
            if fault.after:
                ws.files[file_id].content = await _upload_body(request)
            ws.calls.append(Call("upload", {"file_id": file_id}, time.time(), fault.status))
            return _error_page(fault.status)
        content = await _upload_body(request)
        ws.files[file_id].content = content
        ws.calls.append(Call("upload", {"file_id": file_id, "bytes": len(content)}, time.time()))
        return web.Response(text=f"OK - {len(content)}", content_type="text/plain")

    async def private(request: web.Request) -> web.StreamResponse:
        """``url_private``: a shared file's bytes, for the bot token only."""
        ws = request.app[SLACK]
        if _token(request, {}) != ws.token:
            return web.Response(status=404, text="not found")
        found = ws.files.get(request.match_info["file"].rpartition("-")[2])
        if found is None or found.content is None or not found.shared:
            return web.Response(status=404, text="not found")
        return web.Response(body=found.content, content_type=found.mimetype)

    app = web.Application(client_max_size=20 * 1024**2)
    app[SLACK] = workspace
    app.router.add_route("*", "/api/{method}", method)
    app.router.add_post("/upload/v1/{ticket}", upload)
    app.router.add_get("/files-pri/{file}/{name}", private)
    app.router.add_get("/files-pri/{file}/download/{name}", private)
    return app


async def _upload_body(request: web.Request) -> bytes:
    """The uploaded bytes: a multipart form's file part, or the body as it is."""
    if request.content_type.startswith("multipart/"):
        reader = await request.multipart()
        async for part in reader:
            if isinstance(part, BodyPartReader) and part.filename:
                return bytes(await part.read())
        return b""
    return await request.read()
