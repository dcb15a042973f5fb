"""Secrets and personal data taken out of untrusted text before it is posted or prompted (pure).

Each finding becomes a typed placeholder such as ``[redacted: aws-key]`` so a reader still sees
*what* was there. Provider tokens are recognised by their published formats; values that have no
format of their own (passwords, keys, cookies) only in context: after a key-like name
(``DB_PASSWORD=``, ``"api_key":``, ``AccountKey=``), in a ``Cookie`` header, in a URL's userinfo,
or as a long high-entropy value after any name. So commit SHAs, UUIDs, IPs, hostnames, trace ids
and timestamps survive. Card numbers must pass the Luhn check, start like a card, and be written
like one (in groups) or stand next to a word like "card". Placeholders match no pattern, so
``redact`` is idempotent.

The text is hostile, and a regex that backtracks holds the GIL: one 40,000-character thread reply
once froze the whole bot. So the work is linear in the input and the input is bounded. Text is
first cut to :data:`MAX_CHARS` (or a margin past the caller's ``limit``), never through the middle
of a token (:func:`_bounded`); only then redacted; only then cut to ``limit``, so a secret that
straddles the limit is redacted whole before the cut and no tail of it survives. Every pattern
starts where its run of characters starts (a look-behind for the run's own characters) and runs
on with possessive or bounded quantifiers, so no attempt rescans what an earlier attempt read.
``bench/hostile.py`` times each function on inputs built to break that.
"""

from __future__ import annotations

import functools
import math
import re
import string
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

PLACEHOLDER = "[redacted: {kind}]"
#: Longest text redacted: a Slack message holds at most 40,000 characters, a log line far fewer.
#: Beyond it the text is dropped, never shown unredacted.
MAX_CHARS = 40_000
#: Text kept past a caller's ``limit`` before redacting, so a secret across the limit is whole.
_MARGIN = 4_096
#: How far a cut may move forward to finish the token it fell in; a longer token is dropped.
_STRADDLE = 4_096
#: Placeholders are skipped when they are already the value of a key.
_NOT_REDACTED = r"(?!\[redacted)"


def _placeholder(kind: str) -> str:
    return PLACEHOLDER.format(kind=kind)


def _whole(kind: str) -> Callable[[re.Match[str]], str]:
    """Replace the whole match."""
    return lambda m: _placeholder(kind)


def _value(kind: str) -> Callable[[re.Match[str]], str]:
    """Keep the ``head`` group (the key, the scheme, the user), replace the ``value`` group."""
    return lambda m: m["head"] + _placeholder(kind)


def _looks_secret(value: str) -> bool:
    """After ``token:`` (YAML, logs, prose) only a value with a digit or a symbol: not "expired"."""
    return not value.isalpha()


# --- Whole blocks: everything from the header on, to the footer or the end of the text. --------

_PEM = re.compile(
    r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"
    r".*?(?:-----END [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|\Z)",
    re.DOTALL,
)
_PUTTY = re.compile(
    r"PuTTY-User-Key-File-\d{1,2}:.*?(?:Private-MAC:[ \t]*+[0-9a-fA-F]*+|\Z)", re.DOTALL
)
# A PEM or PuTTY body without its header: lines of exactly 64 base64 characters (RFC 7468's
# width) with upper case, lower case and digits (a SHA-256 in hex has no upper case), then the
# shorter last line. Lines may be joined by real newlines or by JSON's escaped ones.
_B64 = "A-Za-z0-9+/"
_NEWLINE = r"(?:\r?\n|\\n)[ \t]{0,16}"
_KEY_LINES = re.compile(
    rf"(?:(?<![{_B64}=\\])|(?<=\\n))"
    + "".join(rf"(?=[{_B64}]{{0,63}}[{c}])" for c in ("A-Z", "a-z", "0-9"))
    + rf"[{_B64}]{{64}}(?:{_NEWLINE}[{_B64}]{{64}}(?![{_B64}=]))*+"
    rf"(?:{_NEWLINE}[{_B64}]{{1,63}}={{0,2}})?(?![{_B64}=])"
)

# --- Provider formats: the token itself says what it is. ------------------------------------

_AWS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b")
_GITHUB = re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,251})\b")
_GITLAB = re.compile(r"\bgl(?:pat|ptt|dt|rt|cbt|soat|ft|imt|oas|agent)-[A-Za-z0-9_.-]{20,}+")
_SLACK_TOKEN = re.compile(r"\b(?:xox[abposer]-[A-Za-z0-9-]{10,}+|xapp-\d-[A-Za-z0-9-]{10,}+)")
_SLACK_WEBHOOK = re.compile(
    r"https://hooks\.slack(?:-gov)?\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]++"
)
_STRIPE = re.compile(r"\b(?:(?:sk|rk)_(?:live|test)_|whsec_)[A-Za-z0-9]{10,}+")
_GOOGLE = re.compile(r"\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])")
_GOOGLE_CLIENT_SECRET = re.compile(r"\bGOCSPX-[0-9A-Za-z_-]{20,}+")
# OAuth access tokens (ya29.) and refresh tokens (1//0).
_GOOGLE_OAUTH = re.compile(r"\bya29\.[0-9A-Za-z_-]{20,}+|(?<![\w/])1//0[0-9A-Za-z_-]{30,}+")
_ANTHROPIC = re.compile(r"\bsk-ant-[A-Za-z0-9_-]{20,}+")
# Legacy keys are ``sk-`` and alphanumerics only, which keeps hostnames like sk-payments-eu out.
_OPENAI = re.compile(
    r"\bsk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}+|[A-Za-z0-9]{32,}+(?![_-]))"
)
_NPM = re.compile(r"\bnpm_[A-Za-z0-9]{36}(?![A-Za-z0-9])")
_SENDGRID = re.compile(r"\bSG\.[A-Za-z0-9_-]{16,32}+\.[A-Za-z0-9_-]{16,64}+")
_VAULT = re.compile(r"\bhv[sbr]\.[A-Za-z0-9_-]{20,}+")
# The signature is optional: a token cut short still shows its claims.
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}+\.eyJ[A-Za-z0-9_-]{5,}+(?:\.[A-Za-z0-9_-]*+)?")

# --- Values that look like nothing in particular: only in context. ---------------------------

_AWS_SECRET = re.compile(
    r"(?P<head>\baws_?secret_?(?:access_?)?key[\"']?[ \t]{0,16}[:=][ \t]{0,16}[\"']?)"
    r"(?P<value>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])",
    re.IGNORECASE,
)
_DATADOG = re.compile(
    r"(?P<head>\b(?:x-)?(?:dd|datadog)[_-](?:api|app|application)[_-]key[\"']?"
    r"[ \t]{0,16}[:=][ \t]{0,16}[\"']?)"
    r"(?P<value>[a-f0-9]{40}|[a-f0-9]{32})\b",
    re.IGNORECASE,
)
_AUTHORIZATION = re.compile(
    r"(?P<head>\b(?:proxy-)?authorization[\"']?[ \t]{0,16}[:=][ \t]{0,16}[\"']?"
    r"(?:(?P<scheme>bearer|basic|token|bot)[ \t]{1,16})?)"
    r"(?!\[redacted|(?:bearer|basic|digest|token|bot)\b)(?P<value>[^\s\"',;]++)",
    re.IGNORECASE,
)
# A bare "Bearer <token>" outside a header; the digit keeps "bearer tokenauthentication" prose out.
_BEARER = re.compile(
    r"(?P<head>\bbearer\s{1,16})"
    r"(?P<value>(?=[A-Za-z._~+/-]*+\d)[A-Za-z0-9._~+/-]{16,}+=*+)",
    re.IGNORECASE,
)
# Cookie values (RFC 6265: no whitespace, quotes, commas, semicolons or backslashes), each
# pair's value replaced and its name kept; Set-Cookie's attributes stay.
_COOKIE_PAIR = r"[^\s;,=\"'\\]{1,256}+(?:=(?:\"[^\s\";,\\]*+\"|[^\s;,\"'\\]*+))?"
_COOKIE = re.compile(
    r"(?P<head>(?<![\w-])(?:set-)?cookie[\"']?[ \t]{0,16}[:=][ \t]{0,16}[\"']?)"
    rf"(?P<value>{_COOKIE_PAIR}(?:;[ \t]{{0,4}}{_COOKIE_PAIR})*+)",
    re.IGNORECASE,
)
_COOKIE_ATTRIBUTES = frozenset(
    ("path", "domain", "expires", "max-age", "samesite", "secure", "httponly", "priority")
)

# Key names whose value is a secret, tested as the key's ending: ``DB_PASSWORD``, ``X-Auth-Token``,
# ``client_secret``, ``SECRET_KEY_BASE``, ``AccountKey`` (Azure), ``sig`` (an Azure SAS).
_SECRET_KEY_ENDINGS = (
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "_pass",
    "-pass",
    ".pass",
    "_pw",
    "secret",
    "token",
    "_key",
    "-key",
    ".key",
    "apikey",
    "accesskey",
    "secretkey",
    "privatekey",
    "signingkey",
    "accountkey",
    "masterkey",
    "encryptionkey",
    "key_base",
    "signature",
    "_sig",
    "_auth",
    "-auth",
    "sessionid",
    "session_id",
    "session-id",
    "sessid",
)
#: Keys that are secret only as a whole word; as an ending they would catch "bypass" or "oauth".
_SECRET_KEY_WORDS = ("pass", "pw", "sig", "auth")
#: Keys that end like a secret's but name an identifier: a cache key, a public key.
_NOT_SECRET_KEYS = tuple(
    f"{word}key"
    for word in (
        "cache", "routing", "partition", "sort", "primary", "foreign", "idempotency", "dedup",
        "dedupe", "object", "s3", "row", "shard", "hash", "range", "lookup", "message", "record",
        "group", "public", "publishable", "pub", "host",
    )
)  # fmt: skip
#: After one of these alone and ``:``, a word is prose ("invalid token: signature mismatch").
_PROSE_KEYS = frozenset(("token", "secret", "auth", "sig", "signature", "key", "pass", "pw"))
# The key is one run of [\w.-] taken whole (possessive), its ending tested by fixed-width
# look-behinds; the camelCase ``Key`` ending is matched case-sensitively so "monkey" stays out.
_KEY = (
    r"(?P<key>(?:"
    + "|".join(_SECRET_KEY_WORDS)
    + r")(?![\w.-])|[\w.-]{1,64}+(?:"
    + "|".join(f"(?<={re.escape(e)})" for e in _SECRET_KEY_ENDINGS)
    + r"|(?-i:(?<=[a-z]Key))))"
)
# A quoted value may hold escaped quotes; one that is not closed is read like a bare value.
_VALUE = (
    rf"\"(?P<dq>{_NOT_REDACTED}(?:[^\"\\\n]|\\.){{1,4096}}+)\""
    rf"|'(?P<sq>{_NOT_REDACTED}(?:[^'\\\n]|\\.){{1,4096}}+)'"
    rf"|[\"']?(?P<bare>{_NOT_REDACTED}[^\s;&,'\"<>)}}\]]++)"
)
_KEY_VALUE = re.compile(
    rf"(?<![\w.-]){_KEY}[\"']?[ \t]{{0,16}}(?P<sep>[:=])[ \t]{{0,16}}(?:{_VALUE})",
    re.IGNORECASE,
)
# Any key-like name followed by a long value; the value is judged by its entropy in the callback.
_ASSIGNED = re.compile(
    r"(?P<head>(?<![\w.-])[A-Za-z_][\w.-]{0,63}+[\"']?[ \t]{0,16}[:=][ \t]{0,16}[\"']?)"
    rf"(?P<value>{_NOT_REDACTED}[A-Za-z0-9][A-Za-z0-9+/_.~%=-]{{19,}}+)"
)
_EMAIL = re.compile(
    # Not after "/" (userinfo in a URL) and not git's scp form git@github.com:org/repo.
    # Labels are taken whole; only the count of them backtracks, to find the top-level one.
    r"(?<![\w.%+/-])[A-Za-z0-9._%+-]++@(?:[A-Za-z0-9-]++\.)+[A-Za-z]{2,}+\b(?!:[\w.-]{1,253}+/)"
)
_CARD = re.compile(r"(?<![\w.-])\d(?:[ -]?\d){12,18}(?![\w-]|\.\d)")
# A card number written without separators is one only beside a word that says so: a 64-bit
# trace id passes the Luhn check and starts like a card about one time in seventy.
_CARD_CONTEXT = re.compile(
    r"card|credit|debit|visa|master|amex|maestro|discover|jcb|diners|\bpan\b|\bcc", re.IGNORECASE
)


def _key_kind(key: str) -> str:
    key = key.lower()
    if "secret" in key:
        return "secret"
    if "token" in key:
        return "token"
    if "key" in key:
        return "api-key"
    if "sig" in key:
        return "signature"
    if "sess" in key:
        return "session"
    if "auth" in key:
        return "authorization"
    return "password"


def _key_value(m: re.Match[str]) -> str:
    key = m["key"]
    if re.sub(r"[_.-]", "", key.lower()).endswith(_NOT_SECRET_KEYS):
        return m.group(0)
    group = next(g for g in ("dq", "sq", "bare") if m[g] is not None)
    # Only a bare value can be prose; a quoted one is data ({"secret": "hunter"}).
    prose = group == "bare" and key.lower() in _PROSE_KEYS and not _looks_secret(m[group])
    if m["sep"] == ":" and prose:
        return m.group(0)
    start, end = m.start(group) - m.start(), m.end(group) - m.start()
    text = m.group(0)
    return text[:start] + _placeholder(_key_kind(key)) + text[end:]


def _entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


#: Upper case, lower case and digits, each as one letter; anything else dropped.
_KINDS = str.maketrans(
    string.ascii_uppercase + string.ascii_lowercase + string.digits,
    "A" * 26 + "a" * 26 + "0" * 10,
    string.punctuation,
)
_KIND_RUNS = re.compile(r"A++|a++|0++")
_WORDS = re.compile(r"[a-z]{4,}+|[A-Z]{4,}+")


def _random_looking(value: str) -> bool:
    """A random token: upper case, lower case and digits, varied, well mixed, and not words.

    Entropy alone cannot tell a 20-character token from ``ConnectionRefusedError2024``, so three
    cheap tests: entropy at least 80% of the most its length allows, the kind of character
    changing at 40% of steps or more (CamelCase changes at a word's start only), and under 40%
    of it in runs of four letters of one case. Random base64 passes 88% of the time at 20
    characters and 97% at 40; names, versions, hostnames and ARNs fail.
    """
    kinds = value.translate(_KINDS)
    if not ("A" in kinds and "a" in kinds and "0" in kinds):
        return False
    if _entropy(value) < 0.8 * math.log2(min(len(value), 64)):
        return False
    switches = len(_KIND_RUNS.findall(kinds)) - 1
    words = sum(len(w) for w in _WORDS.findall(value))
    return switches >= 0.4 * (len(kinds) - 1) and words < 0.4 * len(value)


def _assigned(m: re.Match[str]) -> str:
    if not _random_looking(m["value"]):
        return m.group(0)
    return m["head"] + _placeholder("secret")


def _cookie(m: re.Match[str]) -> str:
    pairs = []
    for pair in m["value"].split(";"):
        name, eq, value = pair.partition("=")
        if "[redacted" in pair:
            pass  # redacted before
        elif eq and value and name.strip().lower() not in _COOKIE_ATTRIBUTES:
            quote = '"' if value.startswith('"') else ""
            pair = f"{name}={quote}{_placeholder('cookie')}{quote}"
        elif not eq and _looks_secret(pair.strip()):
            pair = pair[: len(pair) - len(pair.lstrip())] + _placeholder("cookie")
        pairs.append(pair)
    return m["head"] + ";".join(pairs)


def _authorization(m: re.Match[str]) -> str:
    scheme = (m["scheme"] or "").lower()
    if not scheme and not _looks_secret(m["value"]):
        return m.group(0)  # "authorization: denied"
    kind = {"bearer": "bearer-token", "basic": "basic-auth"}.get(scheme, "authorization")
    return m["head"] + _placeholder(kind)


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card_shaped(digits: str) -> bool:
    """Starts like a card network's numbers and has one of its lengths."""
    n = len(digits)
    two, four = int(digits[:2]), int(digits[:4])
    if digits[0] == "4":
        return n in (13, 16, 19)  # Visa
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return n == 16  # Mastercard
    if two in (34, 37):
        return n == 15  # American Express
    if two in (30, 35, 36, 38, 39):
        return 14 <= n <= 19  # Diners Club, JCB
    if digits[0] == "6":
        return 16 <= n <= 19  # Discover, UnionPay, Maestro
    return False


def _card(m: re.Match[str]) -> str:
    text = m.group(0)
    separators = set(re.findall(r"[ -]", text))
    groups = re.split(r"[ -]", text)
    # "4111 1111 1111 1111" or "4111-1111-..." or contiguous; never a list of small numbers.
    if len(separators) > 1 or (separators and min(len(g) for g in groups) < 4):
        return text
    digits = "".join(groups)
    if not (_card_shaped(digits) and _luhn(digits)):
        return text
    if not separators and not _CARD_CONTEXT.search(m.string, max(0, m.start() - 32), m.start()):
        return text
    return _placeholder("card-number")


# --- URL passwords: a scan, since a password may hold "/" or "@" and regexes would backtrack. --

_URL_USER = re.compile(
    r"(?<![\w+.-])[a-z][a-z0-9+.-]{0,31}+://[^\s:/@\"'<>]{0,256}+:", re.IGNORECASE
)
_URL_TOKEN_END = re.compile(r"[^\s\"'<>`]*+")
_URL_QUERY = re.compile(r"[?#]|://")


def _run_end(pattern: re.Pattern[str], text: str, pos: int) -> int:
    """Where a run of ``pattern`` (which may be empty) starting at ``pos`` ends."""
    m = pattern.match(text, pos)
    return pos if m is None else m.end()


def _url_passwords(text: str) -> str:
    """``scheme://user:password@host`` with the password replaced; user and host stay.

    The host cannot hold an ``@``, so the password runs to the last ``@`` before the query (or a
    second URL). Each position is read a bounded number of times: the token's end, its next
    ``@`` and its next query are remembered while the scan stays inside them.
    """
    out: list[str] = []
    done = pos = 0
    token_end = next_at = next_query = -1
    while (head := _URL_USER.search(text, pos)) is not None:
        start = head.end()
        if start >= token_end:  # a new token: nothing remembered holds for it
            token_end = _run_end(_URL_TOKEN_END, text, start)
            next_at = next_query = -1
        if next_at < start:
            found = text.find("@", start, token_end)
            next_at = token_end if found == -1 else found
        if next_at >= token_end:  # no "@" left in this token: no password in it
            pos = max(token_end, start)
            continue
        if next_query < next_at:
            query = _URL_QUERY.search(text, next_at, token_end)
            next_query = token_end if query is None else query.start()
        at = text.rfind("@", start, next_query)
        if at == start:  # scheme://user:@host, an empty password
            pos = start + 1
            continue
        out += (text[done:start], _placeholder("password"))
        done, pos = at, at + 1
    return "".join(out) + text[done:] if out else text


@dataclass(frozen=True, slots=True)
class _Step:
    """One pass over the text, skipped when the text holds none of its ``hints``.

    Hints are lower-case substrings every match contains (a provider's prefix, a header's name):
    one substring search is cheaper than a regex pass over text that cannot match.
    """

    run: Callable[[str], str]
    hints: tuple[str, ...] = ()

    def applies(self, lowered: str) -> bool:
        return not self.hints or any(hint in lowered for hint in self.hints)


def _sub(pattern: re.Pattern[str], replace: Callable[[re.Match[str]], str], *hints: str) -> _Step:
    return _Step(functools.partial(pattern.sub, replace), hints)


#: Order matters: whole blocks and provider tokens first, then context, then personal data.
_STEPS: tuple[_Step, ...] = (
    _sub(_PEM, _whole("private-key"), "-----begin "),
    _sub(_PUTTY, _whole("private-key"), "putty-user-key-file-"),
    _sub(_SLACK_WEBHOOK, _whole("slack-webhook"), "hooks.slack"),
    _sub(_AWS_KEY_ID, _whole("aws-key"), "akia", "asia", "abia", "acca"),
    _sub(_AWS_SECRET, _value("aws-secret"), "secret"),
    _sub(_GITHUB, _whole("github-token"), "gho_", "ghp_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    _sub(_GITLAB, _whole("gitlab-token"), "gl"),
    _sub(_SLACK_TOKEN, _whole("slack-token"), "xox", "xapp-"),
    _sub(_STRIPE, _whole("stripe-key"), "_live_", "_test_", "whsec_"),
    _sub(_GOOGLE, _whole("google-api-key"), "aiza"),
    _sub(_GOOGLE_CLIENT_SECRET, _whole("google-client-secret"), "gocspx-"),
    _sub(_GOOGLE_OAUTH, _whole("google-oauth-token"), "ya29.", "1//0"),
    _sub(_ANTHROPIC, _whole("anthropic-key"), "sk-ant-"),
    _sub(_OPENAI, _whole("openai-key"), "sk-"),
    _sub(_NPM, _whole("npm-token"), "npm_"),
    _sub(_SENDGRID, _whole("sendgrid-key"), "sg."),
    _sub(_VAULT, _whole("vault-token"), "hvs.", "hvb.", "hvr."),
    _sub(_DATADOG, _value("datadog-key"), "dd_", "dd-", "datadog"),
    _sub(_JWT, _whole("jwt"), "eyj"),
    _sub(_KEY_LINES, _whole("key-material")),
    _sub(_AUTHORIZATION, _authorization, "authorization"),
    _sub(_BEARER, _value("bearer-token"), "bearer"),
    _sub(_COOKIE, _cookie, "cookie"),
    _Step(_url_passwords, ("://",)),
    _sub(_KEY_VALUE, _key_value, "=", ":"),
    _sub(_ASSIGNED, _assigned, "=", ":"),
    _sub(_EMAIL, _whole("email"), "@"),
    _sub(_CARD, _card),
)

_REST_OF_TOKEN = re.compile(rf"\S{{0,{_STRADDLE}}}")
# Digit groups after the cut: the rest of a card number written "4111 1111 1111 1111".
_DIGIT_GROUPS = re.compile(r"(?: \d{1,6}(?!\S)){0,4}")
_LAST_BREAK = re.compile(r".*[\s\"'<>,;&(){}\[\]|]", re.DOTALL)
_PLACEHOLDERS = re.compile(r"\[redacted: [a-z0-9-]++\]")


def _bounded(text: str, size: int) -> str:
    """``text`` cut near ``size`` characters, never inside a token.

    A cut that falls in a token moves on to its end (and over the digit groups of a card number
    written with spaces), so the token is redacted whole; a token too long for that is dropped,
    the cut moving back to where it starts. Only a text with no break at all is cut hard.
    """
    if len(text) <= size:
        return text
    end = _run_end(_REST_OF_TOKEN, text, size)
    if end == len(text) or text[end].isspace():
        return text[: _run_end(_DIGIT_GROUPS, text, end)]
    before = _LAST_BREAK.match(text, 0, size)
    return text[: before.end() if before else size]


def _cut(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, before a placeholder rather than through it."""
    if len(text) <= limit:
        return text
    for m in _PLACEHOLDERS.finditer(text, max(0, limit - 40), limit + 40):
        if m.start() < limit < m.end():
            return text[: m.start()]
    return text[:limit]


def redact(text: str, *, limit: int | None = None) -> str:
    """``text`` with secrets and personal data replaced by ``[redacted: KIND]`` placeholders.

    With ``limit``, the result is at most that long: redacted first, then cut. Without, text past
    :data:`MAX_CHARS` is dropped.
    """
    size = MAX_CHARS if limit is None else min(MAX_CHARS, max(0, limit) + _MARGIN)
    text = _bounded(text, size)
    # Hints are read from the text as it came: a placeholder put in by one step holds no hint
    # that a later step could match on.
    lowered = text.lower()
    for step in _STEPS:
        if step.applies(lowered):
            text = step.run(text)
    return text if limit is None else _cut(text, max(0, limit))
