"""Escaping untrusted text (logs, commits, PR titles, channel names, LLM output) for Slack.

Slack's formatting rules: ``&``, ``<`` and ``>`` are control characters, and escaping them is
what stops ``<!channel>``, ``<@U123>`` or ``<!subteam^S1>`` in a log line from pinging anyone.
Plain ``@channel``, ``@here`` and ``@everyone`` are broken with a zero-width joiner so they
cannot be auto-linked either. The only mention the bot emits is built by :func:`group_mention`.
Secrets and personal data are redacted (:mod:`investigators.redact`) before anything else, so a
token in a log line never reaches Slack, not even half of one cut at a limit.

Links are made in one place, :func:`link`, and point only where a :class:`LinkPolicy` allows:
under the web roots the configuration names (GitHub, Datadog, Kibana). A URL from anywhere else
(a deployment's ``log_url``, a model's citation) is shown as defanged text, never as a link.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import SplitResult, quote, urlsplit

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


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(parts: SplitResult) -> tuple[str, str, int] | None:
    """Scheme, host and port of an http(s) URL without credentials; None for anything else."""
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or "@" in parts.netloc or not parts.hostname:
        return None
    try:
        port = parts.port or _DEFAULT_PORTS[scheme]
    except ValueError:  # a port that is not a number
        return None
    return scheme, parts.hostname.lower(), port


@dataclass(frozen=True, slots=True)
class LinkPolicy:
    """Where links may point: under one of ``bases`` (same scheme, host and port, path prefix).

    Made once from the settings (``Settings.link_policy()``) and passed to the block builders;
    no bases means no links at all.
    """

    bases: tuple[str, ...] = ()

    @classmethod
    def of(cls, urls: Iterable[str | None]) -> LinkPolicy:
        """A policy from configured web roots; unset and non-http(s) ones are left out."""
        kept = []
        for url in urls:
            if url and _origin(urlsplit(url.strip())) is not None:
                kept.append(url.strip().rstrip("/"))
        return cls(tuple(dict.fromkeys(kept)))

    def allows(self, url: str) -> bool:
        """Whether ``url`` (as it would be sent to Slack) lies under one of the bases."""
        parts = urlsplit(url)
        origin = _origin(parts)
        if origin is None:
            return False
        for base in self.bases:
            root = urlsplit(base)
            prefix = root.path.rstrip("/")
            if _origin(root) == origin and (
                not prefix or parts.path == prefix or parts.path.startswith(prefix + "/")
            ):
                return True
        return False


def defang(url: str) -> str:
    """A URL no client turns into a link (``hxxps://host[.]example/...``), for showing as text."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url.replace(".", "[.]")
    host, slash, path = rest.partition("/")
    return f"{scheme.lower().replace('tt', 'xx', 1)}://{host.replace('.', '[.]')}{slash}{path}"


def link(
    url: str,
    label: object,
    *,
    links: LinkPolicy | None = None,
    limit: int = 120,
    show_url: bool = True,
) -> str:
    """A mrkdwn link ``<url|label>`` when ``links`` allows the URL; otherwise the escaped label,
    followed by the URL as defanged inline code when ``show_url``.

    ``links=None`` accepts any http(s) URL: only for callers not yet handed the configured
    policy.
    """
    text = escape(label, limit=limit).replace("|", "¦")
    target = safe_url(url)
    if target is None:
        return text
    if links is None or links.allows(target):
        return f"<{target.replace('&', '&amp;')}|{text}>"
    return f"{text} ({code(defang(target), limit=200)})" if show_url else text


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
