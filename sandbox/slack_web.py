"""The sandbox's Slack channels, live in a browser: what the bot posts, as Slack would show it.

:func:`slack_web_app` serves one page (inline CSS and JS, no external assets) that polls the
:class:`~sandbox.slack_api.Workspace` every second and re-renders a channel only when it
changed, so people watch "Investigating…" being edited into the summary. Threads show under
their message, each with an "Ask in thread" form: the question goes into the workspace as user
``U0DEMO`` and, when the bot's events URL is known, to the bot as a signed ``message`` event,
the way Slack delivers it. The message's buttons (*Re-run*, *Wrong root cause*) work as in
Slack: a click is sent to the bot as a signed ``block_actions`` payload (form-encoded
``payload=``), and what the bot answers shows up: a new message, or an ephemeral one that only
``U0DEMO`` sees. People show by name (the workspace's users), files the bot shared as images
(``/files/ID``). Everything shown is escaped (:mod:`sandbox.slack_view`), and a
Content-Security-Policy allows only the page's own script, style and images.
"""

from __future__ import annotations

import asyncio
import html
import secrets
import threading
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from sandbox.slack_api import Channel, Workspace
from sandbox.slack_events import EventSender, block_action, event_callback
from sandbox.slack_view import NO_GROUPS, message_to_html

#: The user the browser's questions come from.
DEMO_USER = "U0DEMO"
#: Slack's limit on a message's text.
MAX_TEXT = 4000


@dataclass(frozen=True, slots=True)
class _Config:
    workspace: Workspace
    bot_events_url: str | None
    signing_secret: str
    groups: Mapping[str, str] = field(default_factory=dict)


CONFIG = web.AppKey("slack_web_config", _Config)


def _slack_escape(text: str) -> str:
    """What Slack's client does to typed text: ``&``, ``<`` and ``>`` become entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _ts_key(message: Mapping[str, Any]) -> float:
    try:
        return float(str(message.get("ts", "0")))
    except ValueError:
        return 0.0


def threads(
    messages: list[dict[str, Any]],
) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Top-level messages in order, each with its replies (orphan replies stand alone)."""
    tops: list[dict[str, Any]] = []
    replies: dict[str, list[dict[str, Any]]] = {}
    for message in messages:
        parent = message.get("thread_ts")
        if parent and parent != message.get("ts"):
            replies.setdefault(str(parent), []).append(message)
        else:
            tops.append(message)
    known = {str(m.get("ts")) for m in tops}
    tops += [m for parent, found in replies.items() if parent not in known for m in found]
    tops.sort(key=_ts_key)
    return [(m, sorted(replies.get(str(m.get("ts")), []), key=_ts_key)) for m in tops]


def channel_html(workspace: Workspace, channel_id: str, *, groups: Mapping[str, str]) -> str:
    """One channel as an HTML fragment: its name and topic, messages, threads and their forms,
    as ``U0DEMO`` sees it (with the ephemeral messages meant for them)."""
    channel = workspace.channels[channel_id]
    users = dict(workspace.users)
    private = {str(m["ts"]) for m in workspace.ephemeral_for(channel_id, DEMO_USER)}

    def shown(message: dict[str, Any]) -> str:
        ephemeral = str(message.get("ts")) in private
        return message_to_html(message, groups=groups, users=users, ephemeral=ephemeral)

    parts = [
        '<header class="channel-head"><span class="name">'
        f"{'🔒' if channel.is_private else '#'} {html.escape(channel.name)}</span>"
        f'<span class="topic">{html.escape(channel.topic)}</span></header>'
    ]
    everything = workspace.messages(channel_id) + workspace.ephemeral_for(channel_id, DEMO_USER)
    listed = threads(everything)
    if not listed:
        parts.append('<p class="empty">No messages yet.</p>')
    for parent, replies in listed:
        ts = html.escape(str(parent.get("ts", "")), quote=True)
        parts.append(f'<section class="thread" data-thread="{ts}">')
        parts.append(shown(parent))
        if replies:
            count = f"{len(replies)} repl{'y' if len(replies) == 1 else 'ies'}"
            parts.append(f'<div class="replies"><div class="count">{count}</div>')
            parts += [shown(r) for r in replies]
            parts.append("</div>")
        if (replies or parent.get("bot_id")) and str(parent.get("ts")) not in private:
            parts.append(
                f'<form class="ask" data-thread="{ts}" '
                f'data-channel="{html.escape(channel_id, quote=True)}" autocomplete="off">'
                f'<input name="text" maxlength="{MAX_TEXT}" placeholder="Ask in thread…" '
                'aria-label="Ask in thread"><button type="submit">Ask in thread</button></form>'
            )
        parts.append("</section>")
    return "".join(parts)


def _json_error(error: str, status: int, **extra: Any) -> web.Response:
    return web.json_response({"ok": False, "error": error, **extra}, status=status)


async def _page(request: web.Request) -> web.Response:
    nonce = secrets.token_urlsafe(16)
    policy = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )
    body = PAGE.replace("{nonce}", nonce)
    return web.Response(
        text=body,
        content_type="text/html",
        headers={"Content-Security-Policy": policy, "X-Content-Type-Options": "nosniff"},
    )


async def _channels(request: web.Request) -> web.Response:
    ws = request.app[CONFIG].workspace
    listed = sorted(list(ws.channels.values()), key=lambda c: (c.created, c.name))
    return web.json_response(
        [
            {"id": c.id, "name": c.name, "is_private": c.is_private, "topic": c.topic}
            for c in listed
        ],
        headers={"Cache-Control": "no-store"},
    )


async def _channel_html(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    channel_id = request.match_info["channel"]
    if channel_id not in config.workspace.channels:
        return web.Response(status=404, text="channel not found")
    fragment = channel_html(config.workspace, channel_id, groups=config.groups)
    return web.Response(
        text=fragment,
        content_type="text/html",
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


async def _channel_and_json(request: web.Request) -> tuple[Channel, Any] | web.Response:
    """The channel a page request names and its JSON body, or the error to answer."""
    channel = request.app[CONFIG].workspace.channels.get(request.match_info["channel"])
    if channel is None:
        return _json_error("channel_not_found", 404)
    # JSON only: a cross-site form cannot send it without the browser asking first.
    if request.content_type != "application/json":
        return _json_error("expected application/json", 415)
    try:
        return channel, await request.json()
    except ValueError:
        return _json_error("invalid_json", 400)


async def _ask(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    ws = config.workspace
    read = await _channel_and_json(request)
    if isinstance(read, web.Response):
        return read
    channel, body = read
    text = body.get("text") if isinstance(body, dict) else None
    thread_ts = body.get("thread_ts") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text.strip():
        return _json_error("no_text", 400)
    if len(text) > MAX_TEXT:
        return _json_error("msg_too_long", 400)
    parent = next((m for m in ws.messages(channel.id) if m.get("ts") == thread_ts), None)
    if parent is None:
        return _json_error("thread_not_found", 404)
    thread_ts = str(parent.get("thread_ts") or parent["ts"])  # a reply's thread is its parent's
    escaped = _slack_escape(text.strip())
    ts = ws.post_as_user(channel.id, escaped, thread_ts=thread_ts, user=DEMO_USER)
    if not config.bot_events_url:
        return web.json_response({"ok": True, "ts": ts, "delivered": False})
    event = {
        "type": "message",
        "channel": channel.id,
        "channel_type": "group" if channel.is_private else "channel",
        "user": DEMO_USER,
        "text": escaped,
        "ts": ts,
        "thread_ts": thread_ts,
    }
    sender = EventSender(config.bot_events_url, config.signing_secret)
    loop = asyncio.get_running_loop()
    try:  # urllib blocks: keep it off the loop that serves the page
        delivery = await loop.run_in_executor(
            None, sender.event, event_callback(event, team_id=ws.team_id)
        )
    except OSError as exc:
        return _json_error(f"the bot is unreachable: {exc}", 502, ts=ts)
    if delivery.status >= 300:
        return _json_error(f"the bot answered HTTP {delivery.status}", 502, ts=ts)
    return web.json_response({"ok": True, "ts": ts, "delivered": True})


async def _act(request: web.Request) -> web.Response:
    """A click on a message's button: a signed ``block_actions`` payload to the bot, as Slack
    sends it, from ``U0DEMO``. Only buttons the message has can be clicked."""
    config = request.app[CONFIG]
    ws = config.workspace
    read = await _channel_and_json(request)
    if isinstance(read, web.Response):
        return read
    channel, body = read
    if not isinstance(body, dict):
        return _json_error("invalid_json", 400)
    message = next(
        (m for m in ws.messages(channel.id) if m.get("ts") == body.get("message_ts")), None
    )
    if message is None:
        return _json_error("message_not_found", 404)
    found = _button(message, str(body.get("action_id", "")), str(body.get("value", "")))
    if found is None:
        return _json_error("no_such_button", 404)
    block_id, button = found
    if not config.bot_events_url:
        return web.json_response({"ok": True, "delivered": False})
    payload = block_action(
        str(button.get("action_id", "")),
        str(button.get("value", "")),
        channel_id=channel.id,
        channel_name=channel.name,
        message=message,
        block_id=block_id,
        text=str((button.get("text") or {}).get("text", "")),
        user_id=DEMO_USER,
        user_name=ws.user_name(DEMO_USER) or DEMO_USER,
        team_id=ws.team_id,
    )
    sender = EventSender(config.bot_events_url, config.signing_secret)
    loop = asyncio.get_running_loop()
    try:
        delivery = await loop.run_in_executor(None, sender.action, payload)
    except OSError as exc:
        return _json_error(f"the bot is unreachable: {exc}", 502)
    if delivery.status >= 300:
        return _json_error(f"the bot answered HTTP {delivery.status}", 502)
    return web.json_response({"ok": True, "delivered": True})


def _button(
    message: Mapping[str, Any], action_id: str, value: str
) -> tuple[str, Mapping[str, Any]] | None:
    """The message's button of that action and value, with its block's id."""
    for block in message.get("blocks") or []:
        elements = list(block.get("elements") or [])
        if isinstance(block.get("accessory"), Mapping):
            elements.append(block["accessory"])
        for element in elements:
            if (
                isinstance(element, Mapping)
                and element.get("type") == "button"
                and element.get("action_id") == action_id
                and str(element.get("value", "")) == value
            ):
                return str(block.get("block_id", "")), element
    return None


async def _file(request: web.Request) -> web.Response:
    """A file shared in a channel, for the page's ``<img>`` (what Slack's client shows)."""
    ws = request.app[CONFIG].workspace
    found = ws.files.get(request.match_info["file"])
    if found is None or found.content is None or not found.shared:
        return web.Response(status=404, text="file not found")
    return web.Response(
        body=found.content,
        content_type=found.mimetype,
        headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


def slack_web_app(
    workspace: Workspace,
    *,
    bot_events_url: str | None,
    signing_secret: str,
    groups: Mapping[str, str] = NO_GROUPS,
) -> web.Application:
    """The live channel viewer for ``workspace``; questions go to ``bot_events_url`` if set."""
    app = web.Application()
    app[CONFIG] = _Config(workspace, bot_events_url, signing_secret, dict(groups))
    app.router.add_get("/", _page)
    app.router.add_get("/api/channels", _channels)
    app.router.add_get("/api/channels/{channel}/html", _channel_html)
    app.router.add_post("/api/channels/{channel}/ask", _ask)
    app.router.add_post("/api/channels/{channel}/act", _act)
    app.router.add_get("/files/{file}", _file)
    return app


async def run_slack_web(
    app: web.Application, *, host: str = "127.0.0.1", port: int = 0
) -> tuple[str, Callable[[], Coroutine[Any, Any, None]]]:
    """Serve ``app`` on ``host:port`` (0: a free port); returns its base URL and a cleanup."""
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    return f"http://{host}:{bound}", runner.cleanup


class ServedSlackWeb:
    """The viewer on a loop and thread of its own; calling it (or :meth:`stop`) stops it."""

    def __init__(self, app: web.Application, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._cleanup: Callable[[], Coroutine[Any, Any, None]] | None = None

    def start(self) -> ServedSlackWeb:
        """Start serving; ``url`` is the page's address once this returns."""
        self._thread.start()
        started = run_slack_web(self.app, host=self.host, port=self.port)
        self.url, self._cleanup = asyncio.run_coroutine_threadsafe(started, self._loop).result(10)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the loop's thread to end."""
        if self._cleanup is not None:
            asyncio.run_coroutine_threadsafe(self._cleanup(), self._loop).result(10)
            self._cleanup = None
            executor = self._loop.shutdown_default_executor()
            asyncio.run_coroutine_threadsafe(executor, self._loop).result(15)
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
        if not self._loop.is_closed() and not self._loop.is_running():
            self._loop.close()

    __call__ = stop

    def __enter__(self) -> ServedSlackWeb:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_slack_web(
    workspace: Workspace,
    *,
    bot_events_url: str | None,
    signing_secret: str,
    groups: Mapping[str, str] = NO_GROUPS,
    host: str = "127.0.0.1",
    port: int = 0,
) -> ServedSlackWeb:
    """Serve the viewer from a thread now; ``stop = serve_slack_web(...)``, later ``stop()``."""
    app = slack_web_app(
        workspace, bot_events_url=bot_events_url, signing_secret=signing_secret, groups=groups
    )
    return ServedSlackWeb(app, host=host, port=port).start()


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>Sandbox Slack · incident-copilot</title>
<style nonce="{nonce}">
*{box-sizing:border-box}
html,body{margin:0;height:100%}
body{display:flex;font:15px/1.46 -apple-system,BlinkMacSystemFont,"Segoe UI",Lato,Roboto,
 "Helvetica Neue",Arial,sans-serif;color:#1d1c1d;background:#fff}
nav{width:250px;flex:none;background:#3f0e40;color:#cfc3cf;overflow-y:auto}
nav .team{padding:14px 16px;border-bottom:1px solid #5d2c5d;color:#fff;font-weight:900;
 font-size:18px}
nav .team small{display:block;font-weight:400;font-size:12px;color:#b9a8b9}
nav h2{font-size:13px;font-weight:600;margin:14px 16px 4px;color:#b9a8b9}
nav ul{list-style:none;margin:0;padding:0}
nav a{display:block;padding:3px 16px;color:#cfc3cf;text-decoration:none;white-space:nowrap;
 overflow:hidden;text-overflow:ellipsis}
nav a:hover{background:#350d36}
nav a.active{background:#1164a3;color:#fff;font-weight:700}
main{flex:1;display:flex;flex-direction:column;min-width:0}
#pane{flex:1;overflow-y:auto;padding-bottom:24px}
#status{padding:2px 20px;font-size:12px;color:#e01e5a;min-height:18px;border-top:1px solid #eee}
.channel-head{position:sticky;top:0;z-index:1;background:#fff;border-bottom:1px solid #e8e8e8;
 padding:12px 20px;display:flex;gap:14px;align-items:baseline}
.channel-head .name{font-weight:900;font-size:18px}
.channel-head .topic{color:#616061;font-size:13px;overflow:hidden;white-space:nowrap;
 text-overflow:ellipsis}
.empty{color:#616061;padding:20px}
.thread{padding:4px 0;border-bottom:1px solid #f4f4f4}
.message{display:flex;gap:10px;padding:8px 20px}
.message:hover{background:#f8f8f8}
.avatar{width:36px;height:36px;flex:none;border-radius:4px;color:#fff;font-weight:700;
 display:flex;align-items:center;justify-content:center}
.c0{background:#2bac76}.c1{background:#1264a3}.c2{background:#e01e5a}.c3{background:#ecb22e}
.c4{background:#611f69}.c5{background:#0b4c8c}.c6{background:#3aa3e3}.c7{background:#de4e2b}
.body{min-width:0;flex:1}
.meta{font-size:12px;color:#616061}
.meta .author{font-weight:900;font-size:15px;color:#1d1c1d;margin-right:4px}
.badge{background:#e8e8e8;color:#616061;font-size:10px;font-weight:700;padding:1px 3px;
 border-radius:2px}
.edited{color:#868686}
.header{font-weight:900;font-size:18px;margin:2px 0 6px}
.section{margin:4px 0;overflow-wrap:anywhere}
.fields{display:grid;grid-template-columns:1fr 1fr;gap:4px 16px}
.context{font-size:12px;color:#616061;margin:6px 0}
.actions{display:flex;gap:8px;margin:8px 0 2px}
.button{font:inherit;font-size:13px;font-weight:700;background:#fff;color:#1d1c1d;
 border:1px solid #c8c8c8;border-radius:4px;padding:3px 12px;cursor:pointer}
.button.primary{background:#007a5a;border-color:#007a5a;color:#fff}
.button.danger{color:#e01e5a;border-color:#e01e5a}
a{color:#1264a3;text-decoration:none}
a:hover{text-decoration:underline}
.mention{background:#e8f5fa;color:#1264a3;border-radius:3px;padding:0 2px}
code{font:12px Monaco,Menlo,Consolas,monospace;color:#e01e5a;background:#f6f6f6;
 border:1px solid #e3e3e3;border-radius:3px;padding:1px 3px}
pre{font:12px Monaco,Menlo,Consolas,monospace;background:#f8f8f8;border:1px solid #e3e3e3;
 border-radius:4px;padding:8px;white-space:pre-wrap}
.replies{margin-left:66px;border-left:2px solid #e8e8e8}
.replies .message{padding-left:12px}
.replies .count{font-size:12px;font-weight:700;color:#1264a3;padding:2px 12px}
.message.ephemeral{background:#f4f8fb}
.only{color:#616061;font-style:italic}
figure.file{margin:6px 0;max-width:720px}
figure.file img{display:block;max-width:100%;height:auto;border:1px solid #e3e3e3;
 border-radius:6px}
figure.file figcaption{font-size:12px;color:#616061;margin-top:2px}
.button:disabled{opacity:.5;cursor:default}
form.ask{display:flex;gap:8px;margin:4px 20px 8px 66px}
form.ask input{flex:1;font:inherit;font-size:14px;border:1px solid #c8c8c8;border-radius:6px;
 padding:5px 10px}
form.ask input:focus{outline:none;border-color:#1264a3;box-shadow:0 0 0 2px #d6e9f8}
form.ask button{font:inherit;font-size:13px;font-weight:700;background:#007a5a;color:#fff;
 border:0;border-radius:6px;padding:5px 12px;cursor:pointer}
form.ask button:disabled{opacity:.5}
</style></head>
<body>
<nav><div class="team">Sandbox<small>incident-copilot, live</small></div>
<h2>Channels</h2><ul id="channels"></ul></nav>
<main><div id="pane"><p class="empty">Loading…</p></div><div id="status"></div></main>
<script nonce="{nonce}">
"use strict";
const pane = document.getElementById("pane"), status = document.getElementById("status");
let current = decodeURIComponent(location.hash.slice(1)) || null, follow = !current;
let lastList = "", lastHtml = "";
const api = (id, what) => "/api/channels/" + encodeURIComponent(id) + "/" + what;

function renderList(channels) {
  const list = document.getElementById("channels");
  list.replaceChildren(...channels.map((c) => {
    const item = document.createElement("li"), a = document.createElement("a");
    a.href = "#" + encodeURIComponent(c.id);
    a.textContent = (c.is_private ? "🔒 " : "# ") + c.name;
    a.title = c.topic;
    if (c.id === current) a.className = "active";
    item.append(a);
    return item;
  }));
}

function swap(fragment) {  // keep what people typed, where they were, and their focus
  const typed = {}, active = document.activeElement;
  for (const f of pane.querySelectorAll("form.ask")) {
    typed[f.dataset.thread] = f.elements.text.value;
  }
  const focused = active && active.form && active.form.matches("form.ask") ? active : null;
  const atBottom = pane.scrollHeight - pane.scrollTop - pane.clientHeight < 60;
  const top = pane.scrollTop;
  pane.innerHTML = fragment;
  pane.querySelectorAll("form.ask").forEach((f) => {
    const input = f.elements.text;
    if (typed[f.dataset.thread]) input.value = typed[f.dataset.thread];
    if (focused && f.dataset.thread === focused.form.dataset.thread) {
      input.focus();
      input.setSelectionRange(focused.selectionStart, focused.selectionEnd);
    }
  });
  pane.scrollTop = atBottom ? pane.scrollHeight : top;
}

async function refresh() {
  try {
    const listed = await fetch("/api/channels", {cache: "no-store"});
    const text = await listed.text(), channels = JSON.parse(text);
    if (follow && channels.length) current = channels[channels.length - 1].id;
    if (text + current !== lastList) { renderList(channels); lastList = text + current; }
    if (current) {
      const shown = await fetch(api(current, "html"), {cache: "no-store"});
      const fragment = shown.ok ? await shown.text() : "<p class='empty'>No such channel.</p>";
      if (fragment !== lastHtml) { swap(fragment); lastHtml = fragment; }
    }
    if (status.dataset.kind !== "error") status.textContent = "";
  } catch (err) {
    status.dataset.kind = "offline";
    status.textContent = "Cannot reach the sandbox; retrying…";
  }
}

async function poll() { await refresh(); setTimeout(poll, 1000); }

window.addEventListener("hashchange", () => {
  current = decodeURIComponent(location.hash.slice(1)) || null;
  follow = !current; lastHtml = ""; refresh();
});

document.addEventListener("submit", async (event) => {
  const form = event.target.closest("form.ask");
  if (!form) return;
  event.preventDefault();
  const thread = form.dataset.thread, channel = form.dataset.channel;
  const text = form.elements.text.value.trim();
  if (!text) return;
  const live = () => pane.querySelector(`form.ask[data-thread="${CSS.escape(thread)}"]`);
  form.querySelector("button").disabled = true;
  try {
    const answer = await fetch(api(channel, "ask"), {
      method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({thread_ts: thread, text}),
    });
    const body = await answer.json();
    if (live()) live().elements.text.value = answer.ok ? "" : text;
    status.dataset.kind = answer.ok ? "" : "error";
    status.textContent = answer.ok ? "" : "Not delivered: " + body.error;
  } catch (err) {
    status.dataset.kind = "error";
    status.textContent = "Not delivered: the sandbox did not answer.";
  } finally {
    if (live()) live().querySelector("button").disabled = false;
    refresh();
  }
});

document.addEventListener("click", async (event) => {
  const button = event.target.closest("#pane button.button[data-action]");
  if (!button) return;
  const message = button.closest(".message"), section = button.closest("section.thread");
  const form = section && section.querySelector("form.ask");
  const channel = form ? form.dataset.channel : current;
  button.disabled = true;
  try {
    const answer = await fetch(api(channel, "act"), {
      method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({action_id: button.dataset.action, value: button.dataset.value,
                            message_ts: message.dataset.ts}),
    });
    const body = await answer.json();
    status.dataset.kind = answer.ok ? "" : "error";
    status.textContent = answer.ok ? "" : "Not delivered: " + body.error;
  } catch (err) {
    status.dataset.kind = "error";
    status.textContent = "Not delivered: the sandbox did not answer.";
  } finally {
    button.disabled = false;
    refresh();
  }
});

poll();
</script></body></html>
"""
