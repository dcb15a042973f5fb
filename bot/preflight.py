"""What the bot checks about itself before it claims to be up, and what ``doctor`` reports.

Each check returns a :class:`Check`: ``ok``, ``warn`` (an option is missing: the bot serves
without it) or ``fail`` (an essential is missing: the bot does not start). The token checks read
only the settings; the others ask Slack (``auth.test``), Redis, the catalog file and RQ.

Whether a check is essential depends on who asks. At ``bot`` start, no live RQ worker is a
warning (workers may start after the bot) and so is no data source (the workers use the sources,
not the bot; a worker refuses to start without one). ``doctor`` lists both among what to fix.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import redis
from rq import Queue, Worker
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.escape import group_mention
from bot.settings import Settings
from investigators.catalog import CatalogError, load_catalog

Status = Literal["ok", "warn", "fail"]

#: Seconds a start-up check may wait for Slack or Redis.
TIMEOUT = 5.0

_BOT_TOKEN_HELP = "the Bot User OAuth Token (xoxb-...) from the app's OAuth & Permissions page"
_APP_TOKEN_HELP = "an app-level token (xapp-...) from the app's Basic Information page"
#: What a token's prefix says it is (https://api.slack.com/concepts/token-types).
_TOKEN_KINDS = (
    ("xoxe.xoxb-", "a bot token"),  # a rotating bot token: as good as xoxb-
    ("xoxb-", "a bot token"),
    ("xapp-", "an app-level token (xapp-...)"),
    ("xoxe.xoxp-", "a user token (xoxp-...)"),
    ("xoxp-", "a user token (xoxp-...)"),
    ("xoxe-", "a refresh token (xoxe-...)"),
    ("xoxc-", "a browser session token (xoxc-...)"),
    ("xoxa-", "a workspace app token (xoxa-...)"),
)
_SLACK_ERRORS = {
    "invalid_auth": "Slack does not know SLACK_BOT_TOKEN (invalid_auth); copy " + _BOT_TOKEN_HELP,
    "not_authed": "Slack received no token; set SLACK_BOT_TOKEN to " + _BOT_TOKEN_HELP,
    "not_allowed_token_type": "SLACK_BOT_TOKEN is not a bot token (not_allowed_token_type); use "
    + _BOT_TOKEN_HELP,
    "token_revoked": "SLACK_BOT_TOKEN was revoked; reinstall the app and copy " + _BOT_TOKEN_HELP,
    "token_expired": "SLACK_BOT_TOKEN has expired; reinstall the app and copy " + _BOT_TOKEN_HELP,
    "account_inactive": "the app was uninstalled or its workspace is gone (account_inactive); "
    "reinstall it and copy " + _BOT_TOKEN_HELP,
}


@dataclass(frozen=True, slots=True)
class Check:
    """One thing checked: what, how it went, what was found, and what to do about it."""

    name: str
    status: Status
    detail: str = ""
    fix: str = ""
    notes: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        """The finding and the fix on one line."""
        return "; ".join(part for part in (self.detail, self.fix, *self.notes) if part)


def failures(checks: Iterable[Check]) -> list[Check]:
    """The checks that failed."""
    return [c for c in checks if c.status == "fail"]


def public_url(url: str) -> str:
    """``url`` without user name or password (Redis URLs may carry one)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(an unreadable URL)"
    return urlunsplit((parts.scheme, host + port, parts.path, "", ""))


def _kind(token: str) -> str | None:
    return next((kind for prefix, kind in _TOKEN_KINDS if token.startswith(prefix)), None)


# -- Slack ---------------------------------------------------------------------------------------


def slack_settings(settings: Settings) -> list[Check]:
    """The Slack tokens and mode, from the settings alone (no request is made)."""
    bot = settings.slack_bot_token.get_secret_value().strip() if settings.slack_bot_token else ""
    app = settings.slack_app_token.get_secret_value().strip() if settings.slack_app_token else ""
    bot_kind, app_kind = _kind(bot), _kind(app)
    if not bot:
        return [
            Check(
                "slack",
                "fail",
                "SLACK_BOT_TOKEN is not set",
                "set SLACK_BOT_TOKEN (xoxb-...) and either SLACK_APP_TOKEN (xapp-..., Socket "
                "Mode) or SLACK_SIGNING_SECRET (HTTP mode); see README, Connecting Slack",
            )
        ]
    if bot.startswith("xapp-") and app and app_kind == "a bot token":
        return [
            Check(
                "slack",
                "fail",
                "SLACK_BOT_TOKEN and SLACK_APP_TOKEN are swapped",
                "put the xoxb-... token in SLACK_BOT_TOKEN and the xapp-... one in SLACK_APP_TOKEN",
            )
        ]
    problems: list[Check] = []
    if bot.startswith("xapp-"):
        problems.append(
            Check(
                "slack",
                "fail",
                "SLACK_BOT_TOKEN holds an app-level token (xapp-...); it belongs in "
                "SLACK_APP_TOKEN",
                "set SLACK_BOT_TOKEN to " + _BOT_TOKEN_HELP,
            )
        )
    elif bot_kind != "a bot token":
        found = f"holds {bot_kind}" if bot_kind else "does not start with xoxb-"
        problems.append(
            Check(
                "slack",
                "fail",
                f"SLACK_BOT_TOKEN {found}",
                "set it to " + _BOT_TOKEN_HELP,
            )
        )
    if app and not app.startswith("xapp-"):
        found = f"holds {app_kind}" if app_kind else "does not start with xapp-"
        problems.append(
            Check(
                "slack",
                "fail",
                f"SLACK_APP_TOKEN {found}",
                f"set it to {_APP_TOKEN_HELP} with the connections:write scope, or unset it for "
                "HTTP mode",
            )
        )
    secret = settings.slack_signing_secret
    if not settings.socket_mode() and not (secret and secret.get_secret_value().strip()):
        problems.append(
            Check(
                "slack",
                "fail",
                "HTTP mode needs SLACK_SIGNING_SECRET",
                "set it from the app's Basic Information page; or set SLACK_APP_TOKEN for "
                "Socket Mode",
            )
        )
    return problems


def slack_auth(settings: Settings, *, timeout: float = TIMEOUT) -> Check:
    """``auth.test`` with the bot token: Slack accepts it, and it is a bot's."""
    if settings.slack_bot_token is None:
        return Check("slack", "fail", "SLACK_BOT_TOKEN is not set", "set it to " + _BOT_TOKEN_HELP)
    client = WebClient(
        token=settings.slack_bot_token.get_secret_value().strip(),
        base_url=settings.slack_api_url,
        timeout=int(max(1, timeout)),
    )
    where = public_url(settings.slack_api_url)
    try:
        answer = client.auth_test()
    except SlackApiError as exc:
        error = str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
        text = _SLACK_ERRORS.get(error, f"Slack refused auth.test ({error})")
        return Check(
            "slack", "fail", text, "" if error in _SLACK_ERRORS else "check SLACK_BOT_TOKEN"
        )
    except (SlackClientError, OSError) as exc:
        return Check(
            "slack",
            "fail",
            f"Slack's Web API at {where} does not answer ({type(exc).__name__})",
            "check the network, or SLACK_API_URL if it is set",
        )
    if not answer.get("bot_id"):
        return Check(
            "slack", "fail", "SLACK_BOT_TOKEN is not a bot's token", "set it to " + _BOT_TOKEN_HELP
        )
    team, user = answer.get("team") or answer.get("team_id"), answer.get("user")
    return Check("slack", "ok", f"the bot is @{user} in {team}")


# -- Redis and the workers -----------------------------------------------------------------------


def _redis(url: str, timeout: float) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)


def redis_check(url: str, *, timeout: float = TIMEOUT) -> Check:
    """Redis answers a PING."""
    try:
        with _redis(url, timeout) as client:
            client.ping()
    except (redis.RedisError, ValueError) as exc:
        return Check(
            "redis",
            "fail",
            f"Redis at {public_url(url)} does not answer ({type(exc).__name__})",
            "start it, or set REDIS_URL to the one the workers use",
        )
    return Check("redis", "ok", f"{public_url(url)} answers")


def live_workers(client: redis.Redis, queue: str) -> int:
    """RQ workers serving ``queue`` now: a worker killed outright stays registered, but its key
    expires without heartbeats, so only the registered ones whose key lives count."""
    keys = Worker.all_keys(queue=Queue(queue, connection=client))
    return int(client.exists(*keys)) if keys else 0


def workers_check(url: str, queue: str, *, essential: bool, timeout: float = TIMEOUT) -> Check:
    """At least one live RQ worker serves ``queue`` (a killed one expires without heartbeats)."""
    try:
        with _redis(url, timeout) as client:
            alive = live_workers(client, queue)
    except (redis.RedisError, ValueError) as exc:
        return Check("workers", "fail", f"cannot list the RQ workers ({type(exc).__name__})")
    if alive:
        return Check("workers", "ok", f"{alive} live on queue {queue!r}")
    return Check(
        "workers",
        "fail" if essential else "warn",
        f"no live RQ worker on queue {queue!r}: investigations wait until one starts",
        "start one (the Procfile's worker line) with the same REDIS_URL and RQ_QUEUE",
    )


# -- The catalog and the sources -----------------------------------------------------------------


def catalog_check(path: str) -> Check:
    """The catalog loads; how many services and teams, and whether any team can be mentioned."""
    try:
        catalog = load_catalog(path)
    except CatalogError as exc:
        more = f" (and {exc.total - 1} more problems)" if exc.total > 1 else ""
        first = exc.problems[0] if exc.problems else str(exc)
        return Check(
            "catalog",
            "fail",
            f"{first}{more}",
            f"fix it (incident-copilot catalog check {path}), or set INCIDENT_COPILOT_CATALOG",
        )
    except OSError as exc:
        return Check(
            "catalog", "fail", f"{path}: cannot be read ({exc})", "set INCIDENT_COPILOT_CATALOG"
        )
    services, teams = len(catalog.services), len(catalog.teams)
    mentionable = sum(bool(group_mention(t.slack_group)) for t in catalog.teams.values())
    counts = f"{services} services, {teams} teams"
    if services and not mentionable:
        return Check(
            "catalog",
            "warn",
            f"{counts}, and no team has a user-group id the bot can mention: owners are named, "
            "never paged",
            "give each team its slack_group as the user group's id (S0123ABCD)",
        )
    return Check("catalog", "ok", f"{counts}, {mentionable} with a user group to mention")


def configured_sources(settings: Settings) -> list[str]:
    """The data sources with their essentials set."""
    found = {
        "elasticsearch": settings.elasticsearch(),
        "datadog": settings.datadog(),
        "github": settings.github(),
    }
    return [name for name, config in found.items() if config is not None]


def sources_check(settings: Settings, *, essential: bool) -> Check:
    """At least one data source (logs, metrics or changes) is configured."""
    names = configured_sources(settings)
    if names:
        return Check("sources", "ok", ", ".join(names))
    return Check(
        "sources",
        "fail" if essential else "warn",
        "no data source is configured: investigations find nothing",
        "set ES_URL, DD_API_KEY and DD_APP_KEY, or GITHUB_TOKEN (README, Connecting the backends)",
    )


def llm_check(settings: Settings) -> Check:
    """The language model is optional: without it the deterministic summary serves."""
    if settings.anthropic() is None:
        return Check(
            "anthropic",
            "warn",
            "not configured: no narrative, no thread Q&A beyond the summary",
            "set ANTHROPIC_API_KEY to have them",
        )
    return Check("anthropic", "ok", "configured")


def bot_start(settings: Settings) -> list[Check]:
    """What ``incident-copilot bot`` checks before serving; the settings first, without I/O."""
    refused = slack_settings(settings)
    if refused:
        return refused
    config = settings.pipeline()
    checks = [slack_auth(settings), redis_check(config.redis_url)]
    if checks[-1].status == "ok":
        checks.append(workers_check(config.redis_url, config.queue, essential=False))
    checks.append(catalog_check(config.catalog_path))
    checks.append(sources_check(settings, essential=False))
    checks.append(llm_check(settings))
    return checks
