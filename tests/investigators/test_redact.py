"""Secrets and personal data are redacted; ordinary incident text survives untouched.

The samples follow the providers' published formats but are made up, and are assembled from
pieces so secret scanners do not mistake this file for a leak.
"""

from __future__ import annotations

import random
import time

import pytest

from investigators.pipeline.brief import SAMPLE_CHARS, Brief
from investigators.pipeline.investigation import Finding
from investigators.redact import MAX_CHARS, redact

ALNUM = "aB3dE5fG7hJ9kL2mN4pQ6rS8tV0wX1yZ"  # 32 mixed alphanumerics
HEX40 = "3f1c9a7e5b2d4f6a8c0e1b3d5f7a9c2e4b6d8f0a"

# (sample as it might appear in a log line, the secret inside it, the placeholder kind)
SECRETS = [
    ("key AKIA" + "IOSFODNN7EXAMPLE used", "AKIAIOSFODNN7EXAMPLE", "aws-key"),
    ("session ASIA" + "Y34FZKBOKMUTVV7A", "ASIAY34FZKBOKMUTVV7A", "aws-key"),
    (
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "aws-secret",
    ),
    ("push with ghp_" + ALNUM + "Ab12", "ghp_" + ALNUM + "Ab12", "github-token"),
    ("oauth gho_" + ALNUM + "Cd34", "gho_" + ALNUM + "Cd34", "github-token"),
    ("app ghs_" + ALNUM + "Ef56 expired", "ghs_" + ALNUM + "Ef56", "github-token"),
    (
        "GH github_pat_" + "11ABCDEFG0" + ALNUM + "_" + ALNUM + ALNUM,
        "github_pat_11ABCDEFG0" + ALNUM + "_" + ALNUM + ALNUM,
        "github-token",
    ),
    (
        "bot xoxb-" + "1234567890123-1234567890123-" + ALNUM[:24],
        "xoxb-1234567890123-1234567890123-" + ALNUM[:24],
        "slack-token",
    ),
    ("user xoxp-" + "1234567890-98765432101-" + ALNUM, "xoxp-", "slack-token"),
    ("socket xapp-1-" + "A0123BCDEFG-1234567890123-" + HEX40, "xapp-1-", "slack-token"),
    (
        "posting to https://hooks.slack.com/services/" + "T0123ABCD/B0456EFGH/" + ALNUM[:24],
        "hooks.slack.com",
        "slack-webhook",
    ),
    ("charge with sk_live_" + ALNUM[:24], "sk_live_" + ALNUM[:24], "stripe-key"),
    ("restricted rk_live_" + ALNUM[:24], "rk_live_", "stripe-key"),
    ("test sk_test_" + ALNUM[:24], "sk_test_", "stripe-key"),
    ("maps key=AIza" + "SyD-" + ALNUM[:31] + " ok", "AIzaSyD-", "google-api-key"),
    ("claude sk-ant-api03-" + ALNUM + ALNUM + "-AA", "sk-ant-api03-", "anthropic-key"),
    ("legacy sk-" + ALNUM + "T3BlbkFJ" + ALNUM[:8], "sk-" + ALNUM, "openai-key"),
    ("project sk-proj-" + ALNUM + "_" + ALNUM + "-x9", "sk-proj-", "openai-key"),
    ("DD_API_KEY=" + HEX40[:32], HEX40[:32], "datadog-key"),
    ("headers dd-application-key: " + HEX40, HEX40, "datadog-key"),
    (
        "cookie eyJhbGciOiJIUzI1NiJ9." + "eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N",
        "eyJzdWIiOiIxMjM0NTY3ODkwIn0",
        "jwt",
    ),
    ("Authorization: Bearer " + ALNUM + ".x-1", ALNUM, "bearer-token"),
    ("authorization=Basic dXNlcjpodW50ZXIy", "dXNlcjpodW50ZXIy", "basic-auth"),
    ("retry with bearer " + ALNUM + " failed", ALNUM, "bearer-token"),
    ("connect postgres://app:hunter2@db.internal:5432/orders", "hunter2", "password"),
    ("GET https://deploy:S3cr%40t@ci.example.com/job", "S3cr%40t", "password"),
    ("broker redis://:r3d1s-pass@cache-1:6379/0", "r3d1s-pass", "password"),
    (
        "Server=sql-1;User Id=sa;Password=Tr0ub4dor3x;Encrypt=true",
        "Tr0ub4dor",
        "password",
    ),
    ("dsn host=db pwd=p4ss user=app", "p4ss", "password"),
    ("config client_secret=abc123def456", "abc123def456", "secret"),
    ('{"api_key": "live-9f8e7d6c"}', "live-9f8e7d6c", "api-key"),
    ("GET /cb?code=1&access_token=ya29.a0AfH6SM&state=x", "ya29.a0AfH6SM", "token"),
    ("db_password: hunter2", "hunter2", "password"),
    ("SECRET_KEY='django-insecure-x7'", "django-insecure-x7", "secret"),
    (
        "key -----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7bq\n"
        "-----END RSA PRIVATE KEY----- ok",
        "MIIEowIBAAKCAQEA7bq",
        "private-key",
    ),
    ("-----BEGIN OPENSSH PRIVATE KEY----- b3BlbnNzaC1rZXktdjEAAAAA", "b3BlbnNz", "private-key"),
    ("refund requested by alice.smith+ops@example.co.uk today", "alice.smith", "email"),
    ("paid with 4111 1111 1111 1111 at 12:01", "4111 1111 1111 1111", "card-number"),
    ("card 5555-5555-5555-4444 declined", "5555-5555-5555-4444", "card-number"),
    ("amex 378282246310005 declined", "378282246310005", "card-number"),
    # Formats that once went through to the model and Slack untouched.
    ("webhook whsec_" + ALNUM, "whsec_" + ALNUM, "stripe-key"),
    ("Cookie: session=" + ALNUM[:20] + "; theme=dark", ALNUM[:20], "cookie"),
    ('{"cookie": "sid=s%3A' + ALNUM[:16] + '"}', ALNUM[:16], "cookie"),
    ("Set-Cookie: sid=" + ALNUM[:12] + "; Path=/; HttpOnly", ALNUM[:12], "cookie"),
    ("called with ya29.a0AfH6SMBx" + ALNUM, "ya29.a0AfH6SMBx", "google-oauth-token"),
    ("clone with glpat-" + ALNUM[:20], "glpat-" + ALNUM[:20], "gitlab-token"),
    ("SECRET_KEY_BASE=" + HEX40 + HEX40, HEX40, "secret"),
    ("password: hunter", "hunter", "password"),
    ("db_password: correcthorsebatterystaple", "correcthorse", "password"),
    # Formats the redactor did not know.
    ("oauth client GOCSPX-" + ALNUM[:28], "GOCSPX-", "google-client-secret"),
    (
        "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF" + ALNUM + "\n"
        "-----END PGP PRIVATE KEY BLOCK----- imported",
        "lQOYBF",
        "private-key",
    ),
    (
        "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: deploy\n"
        "Public-Lines: 2\nAAAAC3NzaC1lZDI1NTE5\nPrivate-Lines: 1\nAAAAIB" + ALNUM + "\n"
        "Private-MAC: " + HEX40,
        "AAAAIB",
        "private-key",
    ),
    (
        "key line " + ALNUM * 2 + "\n" + ALNUM * 2 + "\n" + ALNUM[:20] + "==",
        ALNUM[:20],
        "key-material",
    ),
    ('"key": "' + ALNUM * 2 + "\\n" + ALNUM[:20] + '="', ALNUM, "key-material"),
    ("connect postgres://app:pa/ss@w0rd@db.internal:5432/orders", "w0rd", "password"),
    ("connect mysql://app:p@ss/w0rd@db.internal/orders", "ss/w0rd", "password"),
    (
        "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" + ALNUM + "==;Suffix=x",
        ALNUM,
        "api-key",
    ),
    ("GET /c/b?sv=2022-11-02&sr=b&sig=" + ALNUM[:20] + "%2B%3D&sp=r", ALNUM[:20], "signature"),
    ("publish npm_" + ALNUM + "abcd", "npm_" + ALNUM, "npm-token"),
    ("mail SG." + ALNUM[:22] + "." + ALNUM + ALNUM[:11], "SG." + ALNUM[:22], "sendgrid-key"),
    ("vault hvs." + ALNUM, "hvs." + ALNUM, "vault-token"),
    ("MY_APP_KEY=changeme", "changeme", "api-key"),
    ("STRIPE_WEBHOOK_SECRET=changeme", "changeme", "secret"),
    ("encryptionKey: 'changeme'", "changeme", "api-key"),
    ('{"secret": "hunter", "token": "letmein"}', "hunter", "secret"),
    # A long random value after any name at all.
    ("upstream state=" + ALNUM + " trace=1", ALNUM, "secret"),
    ('{"x-upstream-credential": "' + ALNUM[:24] + '"}', ALNUM[:24], "secret"),
]


@pytest.mark.parametrize(("sample", "secret", "kind"), SECRETS)
def test_each_kind_of_secret_is_replaced_by_a_typed_placeholder(
    sample: str, secret: str, kind: str
) -> None:
    redacted = redact(sample)
    assert secret not in redacted
    assert f"[redacted: {kind}]" in redacted


def test_context_around_a_secret_is_kept() -> None:
    assert redact("connect postgres://app:hunter2@db.internal:5432/orders") == (
        "connect postgres://app:[redacted: password]@db.internal:5432/orders"
    )
    assert redact("Authorization: Bearer abc.def-123") == (
        "Authorization: Bearer [redacted: bearer-token]"
    )
    assert redact("user=app password=hunter2; host=db") == (
        "user=app password=[redacted: password]; host=db"
    )
    assert redact('{"password": "hunter2", "user": "app"}') == (
        '{"password": "[redacted: password]", "user": "app"}'
    )


ORDINARY = [
    "deploy 3f1c9a7 of payments-api by ci-bot",
    "commit " + HEX40 + " merged",
    "request 123e4567-e89b-12d3-a456-426614174000 failed",
    "upstream 10.0.12.7:8080 and 2001:db8::1 timed out",
    "checkout-api.prod.internal returned 503",
    "at 2024-05-01T12:34:56.789Z and 1714566896789 and 1714566896789123456",
    "order 4111111111111112 shipped",  # fails the Luhn check
    "order 1234567890123456 and 98765432109876543 ok",
    "see https://grafana.example.com/d/abc?orgId=1&from=now-1h",
    "clone git@github.com:acme/payments.git at https://user@github.com/acme",
    "password reset requested for user 42",
    "invalid token: signature mismatch; token expired",
    "authorization failed: authorization: denied",
    "max_tokens=1024 token_count=17 tokenizer=bert bypass=true",
    "secrets-manager rotated the secret for payments",
    "bearer token missing from request",
    "sk-payments-eu-west-1-canary is healthy",
    "pods 1 2 3 4 5 6 7 8 9 1 2 3 4 5 6 restarted",
    "image nginx@sha256:" + HEX40 + " pulled",
    "digest sha256:" + HEX40 + HEX40[:24] + " verified",
    "trace_id=4532015112830366 span_id=4111111111111111 done",  # Luhn-valid, but no card here
    "cache_key=users:42 routingKey=orders.created partition_key=7",
    "invalid token: signature mismatch; signature: invalid",
    "name=ConnectionRefusedError2024 class=com.example.payments.CheckoutService2",
    "host=ip-10-0-12-7.ec2.internal pod=payments-api-7d9f8b6c5-x2k4p version=v2.14.3-rc1",
    "bypass=true oauth=enabled monkey=3",
    "https://medium.com/@alice and https://grafana.example.com:3000/d/abc",
    "mail bob@ and x@y and user@localhost",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_incident_text_survives(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize("text", [s for s, _, _ in SECRETS] + ORDINARY)
def test_redacting_twice_changes_nothing_more(text: str) -> None:
    once = redact(text)
    assert redact(once) == once


def test_a_log_line_with_several_secrets_loses_all_of_them() -> None:
    line = (
        "ERROR payments-api 2024-05-01T12:00:00Z charge failed for bob@example.com "
        "card=4242424242424242 key=sk_live_" + ALNUM[:24] + " via "
        "https://svc:pa55word@stripe-proxy.internal/v1 trace=123e4567-e89b-12d3-a456-426614174000"
    )
    redacted = redact(line)
    for secret in ("bob@example.com", "4242424242424242", "sk_live_", "pa55word"):
        assert secret not in redacted
    for kept in ("payments-api", "2024-05-01T12:00:00Z", "stripe-proxy.internal", "123e4567"):
        assert kept in redacted


def test_context_around_the_newer_kinds_is_kept() -> None:
    assert redact("Cookie: session=abc123; theme=dark") == (
        "Cookie: session=[redacted: cookie]; theme=[redacted: cookie]"
    )
    assert redact("Set-Cookie: sid=abc123; Path=/; Secure") == (
        "Set-Cookie: sid=[redacted: cookie]; Path=/; Secure"
    )
    assert redact("AccountName=acct;AccountKey=abc+def==;EndpointSuffix=core.windows.net") == (
        "AccountName=acct;AccountKey=[redacted: api-key];EndpointSuffix=core.windows.net"
    )
    assert redact("postgres://app:p@ss/w0rd@db.internal:5432/orders?x=a@b") == (
        "postgres://app:[redacted: password]@db.internal:5432/orders?x=a@b"
    )


def test_card_numbers_need_grouping_or_a_word_that_says_card() -> None:
    rng = random.Random(13)
    trace_ids = [str(rng.getrandbits(64)) for _ in range(1000)]
    lines = [f"trace_id={t} span {t} took 12ms" for t in trace_ids]
    assert [redact(line) for line in lines] == lines
    # The same digits beside "card", or written in groups, are a card number.
    luhn_valid = "4532015112830366"
    assert redact(f"card={luhn_valid}") == "card=[redacted: card-number]"
    assert redact(f"cc_number: {luhn_valid}") == "cc_number: [redacted: card-number]"
    assert redact("paid 4532-0151-1283-0366 today") == "paid [redacted: card-number] today"


def _straddling(sample: str, *, at: int, secret: str | None = None, before: int = 4) -> str:
    """Filler words, then ``sample``, placed so its ``secret`` starts ``before`` ``at``."""
    lead = at - before - sample.index(secret or sample)
    return ("lorem ipsum " * (lead // 12 + 1))[: lead - 1] + " " + sample + " and more after it"


@pytest.mark.parametrize(
    ("sample", "secret"),
    [
        ("ghp_" + ALNUM + "Ab12", "ghp_" + ALNUM + "Ab12"),
        ("sk_live_" + ALNUM[:24], "sk_live_" + ALNUM[:24]),
        ("https://deploy:S3cr3tpass@ci.example.com/job", "S3cr3tpass"),
        ("paid 4111 1111 1111 1111", "4111 1111 1111 1111"),
        (
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4",
            "eyJzdWIiOiIxMjM0NTY3ODkwIn0",
        ),
        ("Cookie: session=" + ALNUM[:20], ALNUM[:20]),
    ],
)
@pytest.mark.parametrize("before", [4, 12])
def test_a_secret_across_the_limit_is_redacted_whole_before_the_cut(
    sample: str, secret: str, before: int
) -> None:
    shown = redact(_straddling(sample, at=300, secret=secret, before=before), limit=300)
    assert len(shown) <= 300
    for piece in (secret[:4], secret[4:8]):
        assert piece not in shown


def test_a_placeholder_is_not_cut_in_half() -> None:
    shown = redact(_straddling("ghp_" + ALNUM + "Ab12", at=300), limit=300)
    assert shown.endswith(" ") and "[redacted" not in shown


def test_text_past_the_bound_is_dropped_and_a_secret_across_it_never_half_shown() -> None:
    for shift in range(0, 40, 3):
        text = _straddling("sk_live_" + ALNUM[:24], at=MAX_CHARS + shift) + "lorem " * 20_000
        shown = redact(text)
        assert len(shown) <= MAX_CHARS + 100
        assert "sk_live" not in shown and ALNUM[:12] not in shown
    # One huge token with no break: cut hard, and what is kept is still redacted.
    assert redact("password=" + "x" * 2 * MAX_CHARS) == "password=[redacted: password]"


def test_a_short_text_is_not_cut() -> None:
    line = "deploy 3f1c9a7 of payments-api by ci-bot"
    assert redact(line, limit=300) == line
    assert redact(line, limit=10) == line[:10]


#: Inputs that make a backtracking pattern retry at every position (see bench/hostile.py).
HOSTILE = [
    "a." * 500_000,
    "a-" * 500_000,
    "a+" * 500_000,
    "://" + "a:" * 500_000,
    "eyJ" + "a." * 500_000,
    "postgres://u:" + "p@" * 500_000,
    "a://a:" * 170_000,
    "1 " * 500_000,
    "password=" * 110_000,
    '"password": "' + '\\"' * 500_000,
    "Cookie: " + "a=b; " * 200_000,
]


@pytest.mark.parametrize("text", HOSTILE, ids=lambda t: repr(t[:12]))
def test_hostile_text_does_not_freeze_the_bot(text: str) -> None:
    # A guard against quadratic patterns only, so the bound is 20 times what bench/hostile.py
    # measures on a slow machine; before the fix these took minutes.
    started = time.process_time()
    redact(text)
    redact(text, limit=300)
    assert time.process_time() - started < 2.0


def test_log_samples_reach_the_model_redacted_then_cut() -> None:
    token = "ghp_" + ALNUM + "Ab12"
    finding = Finding(
        id="logs-payments-1",
        source="logs",
        kind="new_log_pattern",
        service="payments",
        title="auth failed with <str>",
        details={"samples": [_straddling(token, at=SAMPLE_CHARS, before=30)]},
    )
    brief = Brief()
    brief.add_finding(finding)
    sent = brief.evidence()
    assert token[:10] not in sent and token[-8:] not in sent
    (sample,) = brief.items[0]["samples"]
    assert len(sample) <= SAMPLE_CHARS
