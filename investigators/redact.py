"""Secrets and personal data taken out of untrusted text before it is posted or prompted (pure).

Each finding becomes a typed placeholder such as ``[redacted: aws-key]`` so a reader still sees
*what* was there. Provider tokens are recognised by their published formats; values that have no
format of their own (passwords, Datadog keys, AWS secret keys) only in a ``key=value`` context, so
commit SHAs, UUIDs, IPs, hostnames and timestamps survive. Card numbers must pass the Luhn check
and start like a card. Placeholders match no pattern, so ``redact`` is idempotent.
"""

from __future__ import annotations

import re
from collections.abc import Callable

PLACEHOLDER = "[redacted: {kind}]"
#: Placeholders are skipped when they are already the value of a key.
_NOT_REDACTED = r"(?!\[redacted)"


def _placeholder(kind: str) -> str:
    return PLACEHOLDER.format(kind=kind)


def _whole(kind: str) -> Callable[[re.Match[str]], str]:
    """Replace the whole match."""
    return lambda m: _placeholder(kind)


def _value(kind: str) -> Callable[[re.Match[str]], str]:
    """Keep the ``head`` group (the key, the scheme, the user), replace the ``value`` group."""
    return lambda m: m["head"] + _placeholder(kind) + (m.groupdict().get("tail") or "")


# --- Provider formats: the token itself says what it is. ------------------------------------

_PEM = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----.*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|\Z)",
    re.DOTALL,
)
_AWS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b")
_GITHUB = re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,251})\b")
_SLACK_TOKEN = re.compile(r"\b(?:xox[abposer]-[A-Za-z0-9-]{10,}|xapp-\d-[A-Za-z0-9-]{10,})")
_SLACK_WEBHOOK = re.compile(
    r"https://hooks\.slack(?:-gov)?\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]+"
)
_STRIPE = re.compile(r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}\b")
_GOOGLE = re.compile(r"\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])")
_ANTHROPIC = re.compile(r"\bsk-ant-[A-Za-z0-9_-]{20,}")
# Legacy keys are ``sk-`` and alphanumerics only, which keeps hostnames like sk-payments-eu out.
_OPENAI = re.compile(
    r"\bsk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}|[A-Za-z0-9]{32,})(?![A-Za-z0-9_-])"
)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")

# --- Values that look like nothing in particular: only in context. ---------------------------

_AWS_SECRET = re.compile(
    r"(?P<head>\baws_?secret_?(?:access_?)?key[\"']?\s*[:=]\s*[\"']?)"
    r"(?P<value>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])",
    re.IGNORECASE,
)
_DATADOG = re.compile(
    r"(?P<head>\b(?:x-)?(?:dd|datadog)[_-](?:api|app|application)[_-]key[\"']?\s*[:=]\s*[\"']?)"
    r"(?P<value>[a-f0-9]{40}|[a-f0-9]{32})\b",
    re.IGNORECASE,
)
_AUTHORIZATION = re.compile(
    r"(?P<head>\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?"
    r"(?:(?P<scheme>bearer|basic|token|bot)\s+)?)"
    r"(?!\[redacted|(?:bearer|basic|digest|token|bot)\b)(?P<value>[^\s\"',;]+)",
    re.IGNORECASE,
)
# A bare "Bearer <token>" outside a header; the digit keeps "bearer tokenauthentication" prose out.
_BEARER = re.compile(
    r"(?P<head>\bbearer\s+)(?P<value>(?=[A-Za-z0-9._~+/-]*\d)[A-Za-z0-9._~+/-]{16,}=*)",
    re.IGNORECASE,
)
# scheme://user:password@host: the user and host stay, so the reader still knows where it went.
_URL_PASSWORD = re.compile(
    r"(?P<head>\b[a-z][a-z0-9+.-]*://[^\s:/@]*:)(?P<value>[^\s@/]+)(?P<tail>@)", re.IGNORECASE
)
#: Key names whose value is a secret, as the key's ending: ``DB_PASSWORD``, ``X-Auth-Token``.
_SECRET_KEY_ENDINGS = (
    "password",
    "passwd",
    "secret",
    "token",
    *(
        f"{word}{sep}key"
        for word in ("api", "access", "private", "signing", "secret")
        for sep in ("_", "-", "")
    ),
)
# A key is one run of [\w.-] followed by a separator (checked first: most words are not keys),
# its ending tested by fixed-width look-behinds; a lazy prefix would retry at every position.
_KEY_VALUE = re.compile(
    r"(?P<head>(?<![\w.-])(?=[\w.-]+[\"']?[ \t]*[:=])(?:[\w.-]+(?:"
    + "|".join(f"(?<={re.escape(e)})" for e in _SECRET_KEY_ENDINGS)
    + r")|pwd|pass|pw)"
    r"[\"']?[ \t]*(?P<sep>[:=])[ \t]*)"
    rf"(?:(?P<quote>[\"']){_NOT_REDACTED}(?P<quoted>[^\"'\n]+)(?P=quote)"
    rf"|{_NOT_REDACTED}(?P<bare>[^\s;&,'\"<>)}}\]]+))",
    re.IGNORECASE,
)
_EMAIL = re.compile(
    # Not after "/" (userinfo in a URL) and not git's scp form git@github.com:org/repo.
    r"(?<![\w.%+/-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"
    r"(?!:[\w.-]+/)"
)
_CARD = re.compile(r"(?<![\w.-])\d(?:[ -]?\d){12,18}(?![\w-]|\.\d)")


def _key_kind(key: str) -> str:
    key = key.lower()
    if "secret" in key:
        return "secret"
    if "token" in key:
        return "token"
    if "key" in key:
        return "api-key"
    return "password"


def _looks_secret(value: str) -> bool:
    """After ``key:`` (YAML, logs) only a value with a digit or a symbol: not "expired"."""
    return not value.isalpha()


def _key_value(m: re.Match[str]) -> str:
    if m["quoted"] is not None:
        value = m["quote"] + _placeholder(_key_kind(m["head"])) + m["quote"]
    elif m["sep"] == ":" and not _looks_secret(m["bare"]):
        return m.group(0)
    else:
        value = _placeholder(_key_kind(m["head"]))
    return m["head"] + value


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
    if _card_shaped(digits) and _luhn(digits):
        return _placeholder("card-number")
    return text


#: Order matters: whole blocks and provider tokens first, then context, then personal data.
_RULES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (_PEM, _whole("private-key")),
    (_SLACK_WEBHOOK, _whole("slack-webhook")),
    (_AWS_KEY_ID, _whole("aws-key")),
    (_AWS_SECRET, _value("aws-secret")),
    (_GITHUB, _whole("github-token")),
    (_SLACK_TOKEN, _whole("slack-token")),
    (_STRIPE, _whole("stripe-key")),
    (_GOOGLE, _whole("google-api-key")),
    (_ANTHROPIC, _whole("anthropic-key")),
    (_OPENAI, _whole("openai-key")),
    (_DATADOG, _value("datadog-key")),
    (_JWT, _whole("jwt")),
    (_AUTHORIZATION, _authorization),
    (_BEARER, _value("bearer-token")),
    (_URL_PASSWORD, _value("password")),
    (_KEY_VALUE, _key_value),
    (_EMAIL, _whole("email")),
    (_CARD, _card),
)


def redact(text: str) -> str:
    """``text`` with secrets and personal data replaced by ``[redacted: KIND]`` placeholders."""
    for pattern, replace in _RULES:
        text = pattern.sub(replace, text)
    return text
