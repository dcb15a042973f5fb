"""Escaping untrusted text (logs, commits, PR titles, channel names, LLM output) for Slack.

Slack's formatting rules: ``&``, ``<`` and ``>`` are control characters, and escaping them is
what stops ``<!channel>``, ``<@U123>`` or ``<!subteam^S1>`` in a log line from pinging anyone.
Plain ``@channel``, ``@here`` and ``@everyone`` are broken with a zero-width joiner so they
cannot be auto-linked either. The only mention the bot emits is built by :func:`group_mention`.
Secrets and personal data are redacted (:mod:`investigators.redact`) before anything else, so a
token in a log line never reaches Slack, not even half of one cut at a limit.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from investigators.redact import redact

#: Between ``@`` and a broadcast word: invisible, but no longer the word Slack looks for.
ZERO_WIDTH = "\u2060"
_BROADCAST = re.compile(r"@(?=(channel|here|everyone)\b)", re.IGNORECASE)
_GROUP_ID = re.compile(r"^S[A-Z0-9]{6,}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def escape(text: object, *, limit: int | None = None) -> str:
    """Untrusted text made inert: no mentions, no links, no broken markup; cut to ``limit``."""
    raw = redact(_CONTROL.sub(" ", str(text)))
    if limit is not None and len(raw) > limit:
        raw = raw[: max(0, limit - 1)] + "…"
    raw = raw.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST.sub("@" + ZERO_WIDTH, raw)


def code(text: object, *, limit: int = 300) -> str:
    """Untrusted text as inline code: escaped, one line, backticks that cannot close it."""
    flat = " ".join(str(text).split()).replace("`", "ˋ")
    return f"`{escape(flat, limit=limit)}`" if flat else "` `"


def safe_url(url: str) -> str | None:
    """An http(s) URL, redacted, with the characters that would break ``<url|label>`` encoded."""
    if not url.lower().startswith(("http://", "https://")):
        return None
    return quote(redact(url), safe=":/?#[]@!$&'()*+,;=%~-._")


def link(url: str, label: object, *, limit: int = 120) -> str:
    """A mrkdwn link ``<url|label>``, or just the escaped label when the URL is unusable."""
    text = escape(label, limit=limit).replace("|", "¦")
    target = safe_url(url)
    return f"<{target.replace('&', '&amp;')}|{text}>" if target else text


def group_mention(slack_group: str | None) -> str | None:
    """``<!subteam^ID>`` for a user-group id (``S0123ABC``); None for anything else."""
    if slack_group and _GROUP_ID.match(slack_group.strip()):
        return f"<!subteam^{slack_group.strip()}>"
    return None


def group_label(slack_group: str | None, team: str) -> str:
    """How the owning team is shown: its mention when it has an id, else its name as text."""
    mention = group_mention(slack_group)
    if mention:
        return mention
    return escape(slack_group or team)
