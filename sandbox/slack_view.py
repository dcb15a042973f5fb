"""Slack messages as Slack would show them, for a terminal or a web page (pure: no I/O).

Message text is Slack mrkdwn: ``&``, ``<`` and ``>`` arrive escaped, and a raw ``<…>`` is a
link or a mention. Only those raw entities become links or mentions here; escaped text, such
as a log line that says ``&lt;!channel&gt;`` or ``&lt;script&gt;``, is shown literally. In HTML
every piece of text is HTML-escaped after Slack's escapes are undone, links are made only for
http(s) URLs, and nothing from a message can become markup of its own. In text, formatting
markers (``*bold*``, ``_italic_``, backticks) are kept as written, and control characters that
a terminal would act on are replaced.
"""

from __future__ import annotations

import html
import re
import textwrap
import time
import zlib
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

NO_GROUPS: Mapping[str, str] = MappingProxyType({})
NO_USERS: Mapping[str, str] = MappingProxyType({})
#: A Slack file id, as a page may put it in a URL.
_FILE_ID = re.compile(r"^F[A-Z0-9]{8,}$")


class Names(NamedTuple):
    """How ids show: user groups by handle, users by name (unknown ones as their id)."""

    groups: Mapping[str, str] = NO_GROUPS
    users: Mapping[str, str] = NO_USERS


#: The emoji the bot uses, and a few common ones; others stay as ``:name:``.
EMOJI = {
    "mag": "🔍",
    "information_source": "ℹ️",
    "warning": "⚠️",
    "white_check_mark": "✅",
    "x": "❌",
    "rotating_light": "🚨",
    "fire": "🔥",
    "eyes": "👀",
    "thumbsup": "👍",
    "+1": "👍",
}
_EMOJI = re.compile(r":([a-z0-9_+-]+):")
_BROADCASTS = ("channel", "here", "everyone")
#: C0 controls but newline and tab, DEL, and C1 controls: a terminal would act on them.
_TERMINAL_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_TOKEN = re.compile(
    r"```(?P<pre>.+?)```"
    r"|`(?P<code>[^`\n]+)`"
    r"|<(?P<entity>[^<>\n]*)>"
    r"|(?<![\w*])\*(?P<bold>[^*\s](?:[^*\n]*?[^*\s])?)\*(?![\w*])"
    r"|(?<![\w_])_(?P<italic>[^_\s](?:[^\n]*?[^_\s])?)_(?![\w_])"
    r"|(?<![\w~])~(?P<strike>[^~\s](?:[^~\n]*?[^~\s])?)~(?![\w~])",
    re.DOTALL,
)


def unescape(text: str) -> str:
    """Slack's three escapes undone (``&amp;`` last, so ``&amp;lt;`` stays ``&lt;``)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _emoji(text: str) -> str:
    return _EMOJI.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), text)


def _is_web(url: str) -> bool:
    return url.lower().startswith(("http://", "https://"))


class _Text:
    """How each piece of mrkdwn looks in a terminal (arguments are Slack-escaped)."""

    def plain(self, text: str) -> str:
        return _TERMINAL_CONTROL.sub("\ufffd", text)

    def text(self, raw: str) -> str:
        return self.plain(_emoji(unescape(raw)))

    def code(self, raw: str) -> str:
        return f"`{self.plain(unescape(raw))}`"

    def pre(self, raw: str) -> str:
        return f"```{self.plain(unescape(raw))}```"

    def styled(self, style: str, inner: str) -> str:
        marker = {"bold": "*", "italic": "_", "strike": "~"}[style]
        return f"{marker}{inner}{marker}"

    def link(self, url: str, label: str) -> str:
        target, shown = unescape(url), unescape(label)
        return self.plain(target if shown in ("", target) else f"{shown} ({target})")

    def mention(self, name: str) -> str:
        return self.plain(f"@{name}")


class _Html:
    """How each piece of mrkdwn looks on a web page (arguments are Slack-escaped)."""

    def plain(self, text: str) -> str:
        return html.escape(text).replace("\n", "<br>")

    def text(self, raw: str) -> str:
        return self.plain(_emoji(unescape(raw)))

    def code(self, raw: str) -> str:
        return f"<code>{html.escape(unescape(raw))}</code>"

    def pre(self, raw: str) -> str:
        return f"<pre>{html.escape(unescape(raw).strip(chr(10)))}</pre>"

    def styled(self, style: str, inner: str) -> str:
        tag = {"bold": "b", "italic": "i", "strike": "s"}[style]
        return f"<{tag}>{inner}</{tag}>"

    def link(self, url: str, label: str) -> str:
        shown = self.text(label or url)
        target = unescape(url)
        if not _is_web(target):
            return shown
        href = html.escape(target, quote=True)
        return f'<a href="{href}" rel="noopener noreferrer" target="_blank">{shown}</a>'

    def mention(self, name: str) -> str:
        return f'<span class="mention">@{html.escape(name)}</span>'


def _entity(body: str, out: _Text | _Html, names: Names) -> str:
    """A raw ``<…>``: a user-group, broadcast, user or channel mention, or a link."""
    target, _, label = body.partition("|")
    if target.startswith("!subteam^"):
        group = target.removeprefix("!subteam^")
        return out.mention(names.groups.get(group) or unescape(label).lstrip("@") or group)
    if target.startswith("!"):
        word = target[1:]
        return out.mention(word) if word in _BROADCASTS else out.text(label)  # dates: fallback
    if target.startswith("@"):
        user = target[1:]
        return out.mention(names.users.get(user) or unescape(label).lstrip("@") or user)
    if target.startswith("#"):
        return out.text("#" + (label or target[1:]))
    return out.link(target, label)


def _render(text: str, out: _Text | _Html, names: Names) -> str:
    parts: list[str] = []
    at = 0
    for match in _TOKEN.finditer(text):
        parts.append(out.text(text[at : match.start()]))
        at = match.end()
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "pre":
            parts.append(out.pre(value))
        elif kind == "code":
            parts.append(out.code(value))
        elif kind == "entity":
            parts.append(_entity(value, out, names))
        else:
            parts.append(out.styled(kind, _render(value, out, names)))
    parts.append(out.text(text[at:]))
    return "".join(parts)


def mrkdwn_to_text(
    text: str, *, groups: Mapping[str, str] = NO_GROUPS, users: Mapping[str, str] = NO_USERS
) -> str:
    """Mrkdwn for a terminal: links as ``label (url)``, mentions as ``@name``, escapes undone."""
    return _render(text, _Text(), Names(groups, users))


def mrkdwn_to_html(
    text: str, *, groups: Mapping[str, str] = NO_GROUPS, users: Mapping[str, str] = NO_USERS
) -> str:
    """Mrkdwn as safe HTML: escaped text, http(s) links, bold, italic, code, mention spans."""
    return _render(text, _Html(), Names(groups, users))


def _raw(obj: Any) -> str:
    """The raw text of a Block Kit text object (``plain_text`` or ``mrkdwn``)."""
    return str(obj.get("text", "")) if isinstance(obj, Mapping) else ""


def _object(obj: Any, out: _Text | _Html, names: Names) -> str:
    """A text or image element: mrkdwn rendered, plain text shown as written."""
    if not isinstance(obj, Mapping):
        return ""
    if obj.get("type") == "mrkdwn":
        return _render(_raw(obj), out, names)
    if obj.get("type") == "image":
        return out.plain(f"[{obj.get('alt_text', 'image')}]")
    return out.plain(_emoji(_raw(obj)))


def _label(element: Mapping[str, Any]) -> str:
    return _raw(element.get("text")) or _raw(element.get("placeholder")) or "…"


def _wrap(line: str, width: int, *, indent: str = "", hanging: str | None = None) -> list[str]:
    if hanging is None:
        hanging = indent + "  " if line.startswith("• ") else indent
    wrapped = textwrap.wrap(
        line,
        width,
        initial_indent=indent,
        subsequent_indent=hanging,
        break_long_words=False,
        break_on_hyphens=False,
    )
    return wrapped or [indent.rstrip()]


def _block_text(block: Mapping[str, Any], names: Names, width: int) -> list[str]:
    out = _Text()
    kind = block.get("type")
    if kind == "header":
        title = out.plain(_emoji(_raw(block.get("text"))))
        return [title, "─" * min(max(len(title), 3), width)]
    if kind == "section":
        texts = [_object(block.get("text"), out, names)]
        texts += [_object(f, out, names) for f in block.get("fields") or []]
        accessory = block.get("accessory")
        if isinstance(accessory, Mapping) and accessory.get("type") == "button":
            texts.append(f"[ {out.plain(_label(accessory))} ]")
        return [w for t in texts if t for line in t.split("\n") for w in _wrap(line, width)]
    if kind == "context":
        parts = [_object(e, out, names) for e in block.get("elements") or []]
        joined = " ".join(p for p in parts if p)
        return [w for line in joined.split("\n") for w in _wrap(line, width, indent="  · ")]
    if kind == "actions":
        return [" ".join(f"[ {out.plain(_label(e))} ]" for e in block.get("elements") or [])]
    if kind == "divider":
        return ["─" * min(40, width)]
    if kind == "image":
        return [out.plain(f"[image: {block.get('alt_text', '')}]")]
    return []


def message_to_text(
    message: Mapping[str, Any],
    *,
    groups: Mapping[str, str] = NO_GROUPS,
    users: Mapping[str, str] = NO_USERS,
    width: int = 100,
) -> str:
    """A whole message for a terminal: title, sections, dimmed context, ``[ buttons ]``."""
    names = Names(groups, users)
    lines = [
        line for block in message.get("blocks") or [] for line in _block_text(block, names, width)
    ]
    if not lines:
        text = _render(str(message.get("text", "")), _Text(), names)
        lines = [w for line in text.split("\n") for w in _wrap(line, width)] if text else []
    for f in _files(message):
        lines.append(_Text().plain(f"[file: {f.get('title') or f.get('name') or 'untitled'}]"))
    return "\n".join(lines)


def _files(message: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The files a message shares."""
    return [f for f in message.get("files") or [] if isinstance(f, Mapping)]


def author_of(message: Mapping[str, Any]) -> str:
    """Who posted a message: its user id, else its bot id."""
    return str(message.get("user") or message.get("bot_id") or message.get("username") or "?")


def shown_author(message: Mapping[str, Any], users: Mapping[str, str] = NO_USERS) -> str:
    """Who posted a message, as Slack shows it: the user's name, the app's, else the id."""
    author = author_of(message)
    profile = message.get("bot_profile")
    app = profile.get("name") if isinstance(profile, Mapping) else None
    return str(users.get(author) or app or author)


def clock(ts: object) -> str:
    """A message timestamp as local ``HH:MM:SS`` (empty when it is not a Slack ts)."""
    try:
        return time.strftime("%H:%M:%S", time.localtime(float(str(ts))))
    except (ValueError, OverflowError, OSError):
        return ""


def _button_html(element: Mapping[str, Any], block_id: object = "") -> str:
    style = element.get("style")
    css = f"button {style}" if style in ("primary", "danger") else "button"
    action = html.escape(str(element.get("action_id", "")), quote=True)
    value = html.escape(str(element.get("value", "")), quote=True)
    block = html.escape(str(block_id or ""), quote=True)
    label = html.escape(_label(element))
    return (
        f'<button type="button" class="{css}" data-action="{action}" data-value="{value}" '
        f'data-block="{block}">{label}</button>'
    )


def _file_html(f: Mapping[str, Any]) -> str:
    """A shared file: an image shown inline (served by the page at ``/files/ID``), else its
    name. Only ids of Slack's form make a URL."""
    title = html.escape(str(f.get("title") or f.get("name") or "untitled"))
    file_id = str(f.get("id", ""))
    if str(f.get("mimetype", "")).startswith("image/") and _FILE_ID.match(file_id):
        alt = html.escape(str(f.get("title") or "image"), quote=True)
        return (
            f'<figure class="file" data-file="{file_id}"><img src="/files/{file_id}" '
            f'alt="{alt}" loading="eager"><figcaption>{title}</figcaption></figure>'
        )
    return f'<div class="file">📎 {title}</div>'


def _block_html(block: Mapping[str, Any], names: Names) -> str:
    out = _Html()
    kind = block.get("type")
    if kind == "header":
        return f'<div class="header">{out.plain(_emoji(_raw(block.get("text"))))}</div>'
    if kind == "section":
        inner = f'<div class="text">{_object(block.get("text"), out, names)}</div>'
        fields = "".join(f"<div>{_object(f, out, names)}</div>" for f in block.get("fields") or [])
        if fields:
            inner += f'<div class="fields">{fields}</div>'
        accessory = block.get("accessory")
        if isinstance(accessory, Mapping) and accessory.get("type") == "button":
            inner += _button_html(accessory, block.get("block_id"))
        return f'<div class="section">{inner}</div>'
    if kind == "context":
        parts = [_object(e, out, names) for e in block.get("elements") or []]
        return '<div class="context">' + "".join(f"<span>{p}</span>" for p in parts if p) + "</div>"
    if kind == "actions":
        block_id = block.get("block_id")
        buttons = "".join(_button_html(e, block_id) for e in block.get("elements") or [])
        return f'<div class="actions">{buttons}</div>'
    if kind == "divider":
        return '<hr class="divider">'
    if kind == "image":
        alt = out.plain(f"[image: {block.get('alt_text', '')}]")
        return f'<div class="image">{alt}</div>'
    return ""


def message_to_html(
    message: Mapping[str, Any],
    *,
    groups: Mapping[str, str] = NO_GROUPS,
    users: Mapping[str, str] = NO_USERS,
    ephemeral: bool = False,
) -> str:
    """A message as an HTML fragment: avatar, author, time, its blocks by block type, and the
    files it shares. ``ephemeral``: shown only to the one who sees it, as Slack marks it."""
    names = Names(groups, users)
    blocks = "".join(_block_html(b, names) for b in message.get("blocks") or [])
    text = str(message.get("text", ""))
    if not blocks and (text or not _files(message)):
        shown = _render(text, _Html(), names)
        blocks = f'<div class="section"><div class="text">{shown}</div></div>'
    blocks += "".join(_file_html(f) for f in _files(message))
    author = author_of(message)
    name = shown_author(message, users)
    is_bot = bool(message.get("bot_id"))
    badge = ' <span class="badge">APP</span>' if is_bot else ""
    edited = ' <span class="edited">(edited)</span>' if message.get("edited") else ""
    only = ' <span class="only">Only visible to you</span>' if ephemeral else ""
    ts = html.escape(str(message.get("ts", "")), quote=True)
    initial = next((c for c in name if c.isalpha()), name[:1])
    css = "message" + (" bot" if is_bot else "") + (" ephemeral" if ephemeral else "")
    return (
        f'<div class="{css}" data-ts="{ts}" data-user="{html.escape(author, quote=True)}">'
        f'<div class="avatar c{zlib.crc32(author.encode()) % 8}" aria-hidden="true">'
        f"{html.escape(initial.upper())}</div>"
        f'<div class="body"><div class="meta"><span class="author">{html.escape(name)}</span>'
        f"{badge} <time>{clock(message.get('ts'))}</time>{edited}{only}</div>"
        f'<div class="blocks">{blocks}</div></div></div>'
    )
