"""The shared pieces: circuit breaker, backoff, read-only guard, Retry-After, log patterns."""

from __future__ import annotations

import pytest

from connectors.config import ResilienceConfig
from connectors.errors import CircuitOpen, ConnectorError, ReadOnlyViolation
from connectors.http import check_read_only, retry_after_seconds
from connectors.patterns import group_lines, mask
from connectors.resilience import CircuitBreaker, Resilience


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_fails_fast_then_lets_one_probe_through() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=2, cooldown=10, clock=clock)
    breaker.record_failure()
    breaker.before_attempt("x")
    breaker.record_failure()
    assert breaker.state == "open"
    with pytest.raises(CircuitOpen) as caught:
        breaker.before_attempt("x")
    assert caught.value.retry_in == 10
    clock.now = 11
    assert breaker.state == "half-open"
    breaker.before_attempt("x")  # the probe
    with pytest.raises(CircuitOpen):
        breaker.before_attempt("x")  # only one at a time
    breaker.record_failure()
    assert breaker.state == "open"
    clock.now = 22
    breaker.before_attempt("x")
    breaker.record_success()
    assert breaker.state == "closed"


def test_backoff_is_full_jitter_under_the_cap() -> None:
    policy = Resilience("x", ResilienceConfig(backoff_base=0.5, backoff_max=2.0))
    waits = [policy.backoff(n) for n in range(8) for _ in range(50)]
    assert all(0 <= w <= 2.0 for w in waits) and max(waits) > 1.0


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/anything", True),
        ("POST", "/logs-*/_search", True),
        ("POST", "/_msearch", True),
        ("POST", "/logs-*/_count", True),
        ("HEAD", "/logs-*", True),
        ("POST", "/logs-*/_doc", False),
        ("PUT", "/logs-x", False),
        ("DELETE", "/logs-x", False),
        ("POST", "/logs-*/_delete_by_query", False),
        ("POST", "/_bulk", False),
    ],
)
def test_elasticsearch_reads(method: str, path: str, allowed: bool) -> None:
    if allowed:
        check_read_only("es", method, path, elasticsearch=True)
    else:
        with pytest.raises(ReadOnlyViolation, match="connectors only read"):
            check_read_only("es", method, path, elasticsearch=True)


def test_http_sources_only_get() -> None:
    check_read_only("dd", "GET", "/api/v1/query")
    for method in ("POST", "HEAD", "PUT", "PATCH", "DELETE"):
        with pytest.raises(ReadOnlyViolation):
            check_read_only("dd", method, "/api/v1/query")


def test_retry_after_as_seconds_or_date() -> None:
    assert retry_after_seconds({"Retry-After": "7"}) == 7
    date = {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}
    assert retry_after_seconds(date, now=1445412470.0) == 10
    assert retry_after_seconds({}) is None


def test_errors_name_their_connector() -> None:
    error = ConnectorError("github", "token refused")
    assert str(error) == "github: token refused" and error.connector == "github"


@pytest.mark.parametrize(
    ("line", "pattern"),
    [
        (
            "Timeout after 3000ms calling db at 10.0.3.17:5432",
            "Timeout after <num> calling db at <host>:<num>",
        ),
        ("req 8f14e45f-ceea-467f-a9b1-1b8c2d3e4f50 failed", "req <uuid> failed"),
        ("reset by peer host=ip-10-0-0-1.ec2.internal", "reset by peer host=<host>"),
        ("bad token for bob@acme.example", "bad token for <email>"),
        ('parse error in "x=1"', "parse error in <str>"),
        ("session 0123456789abcdef expired", "session <hex> expired"),
    ],
)
def test_masking(line: str, pattern: str) -> None:
    assert mask(line) == pattern


def test_grouping_puts_new_patterns_first() -> None:
    before = [("Timeout after 100ms", 1.0), ("Timeout after 250ms", 1.0)]
    during = [("Timeout after 900ms", 1.0), ("Pool exhausted: 5 waiting", 1.0)]
    grouped = group_lines(before, during)
    assert [g.pattern for g in grouped] == ["Pool exhausted: <num> waiting", "Timeout after <num>"]
    assert (grouped[1].before, grouped[1].during) == (2.0, 1.0)
    assert grouped[1].samples == ["Timeout after 900ms"]
