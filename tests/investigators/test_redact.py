"""Secrets and personal data are redacted; ordinary incident text survives untouched.

The samples follow the providers' published formats but are made up, and are assembled from
pieces so secret scanners do not mistake this file for a leak.
"""

from __future__ import annotations

import pytest

from investigators.redact import redact

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
