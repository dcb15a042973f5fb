"""Every error a connector raises, in one tree.

::

    ConnectorError                 a source could not answer; .connector names it, the message
     |                             says what was wrong and what a person can do about it
     +-- SourceUnavailable         connection refused, timeouts or 5xx, still failing after retries
     |    +-- CircuitOpen          recent calls kept failing: fail fast until the cool-down ends
     +-- RateLimited               the source asked us to wait longer than an incident can afford
     +-- AuthError                 401/403: a key or token is missing, wrong or lacks a scope
     +-- BadResponse               the answer was garbled: HTML from a proxy, a missing field,
     |                             a 200 carrying an error body
     +-- NotFound                  the configured index, metric or repository does not exist
     +-- ReadOnlyViolation         something tried to write; connectors only ever read

Messages never contain secrets: they name the environment variable to check, not its value.
"""

from __future__ import annotations


class ConnectorError(Exception):
    """A source could not answer; the message says what was wrong and what to do."""

    def __init__(self, connector: str, message: str) -> None:
        super().__init__(f"{connector}: {message}")
        self.connector = connector
        self.message = message


class SourceUnavailable(ConnectorError):
    """Connection errors, timeouts or 5xx responses that outlasted the retries."""


class CircuitOpen(SourceUnavailable):
    """The source failed repeatedly just now, so calls fail fast until a cool-down passes."""

    def __init__(self, connector: str, message: str, *, retry_in: float) -> None:
        super().__init__(connector, message)
        self.retry_in = retry_in


class RateLimited(ConnectorError):
    """The source asked for a pause longer than we may spend waiting."""

    def __init__(self, connector: str, message: str, *, retry_after: float | None) -> None:
        super().__init__(connector, message)
        self.retry_after = retry_after


class AuthError(ConnectorError):
    """The credentials were refused (401) or lack a permission (403)."""


class BadResponse(ConnectorError):
    """The source answered with something we cannot read."""


class NotFound(ConnectorError):
    """The configured index, metric, repository or endpoint does not exist."""


class ReadOnlyViolation(ConnectorError):
    """A request that could change the source was refused before it was sent."""
