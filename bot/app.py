"""The Bolt app factory: ``create_app(settings)`` wires Slack, Redis and the pipeline.

It starts the :class:`~bot.delivery.Courier`, which delivers every investigation's message
from Redis; with ``SWEEP_CHANNEL`` set, also the health sweep's heads-up poster
(:class:`~bot.sweeper.SweepPoster`). Both are daemon threads; ``app.stop()`` stops them.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import redis
from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry import HttpRequest, HttpResponse, RetryHandler, RetryState
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from bot.copilot import Copilot, Investigations
from bot.dedupe import BotState, KeyValue
from bot.delivery import Courier
from bot.listeners import register
from bot.settings import PIPELINE_CONFIG_REF, Settings
from bot.sweeper import SweepPoster
from investigators.pipeline import RqExecutor
from investigators.pipeline.steps import catalog_of
from investigators.pipeline.store import RedisStore, Store
from investigators.pipeline.sweep import SweepBook, schedule_sweeps

#: 429s retried per call, each after Slack's Retry-After.
RATE_LIMIT_RETRIES = 3


#: Seconds between two tries of a read (two retries at most).
READ_RETRY_WAIT = 0.25
#: Web API methods that only read: safe to send again when an answer is lost.
READ_METHODS = frozenset(
    {
        "auth.test",
        "conversations.info",
        "conversations.history",
        "conversations.replies",
        "conversations.members",
        "usergroups.users.list",
        "users.info",
    }
)


class ReadRetryHandler(RetryHandler):
    """Retries a read method on a 5xx or a dropped connection (writes are the courier's job).

    A write sent again after a lost answer could post twice; the courier (bot/delivery.py)
    retries its posts itself, after checking Slack for the first one.
    """

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        method = request.url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
        if method not in READ_METHODS:
            return False
        if response is not None:
            return response.status_code >= 500
        return isinstance(error, OSError | TimeoutError)


def web_client(settings: Settings) -> WebClient:
    """A Web API client for the bot token, retrying reads on 5xx (429s: see create_app)."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    client = WebClient(token=token, base_url=settings.slack_api_url)
    # Quick retries: a read may sit before a listener's ack, which Slack wants within 3 s.
    quick = FixedValueRetryIntervalCalculator(fixed_internal=READ_RETRY_WAIT)
    client.retry_handlers.append(ReadRetryHandler(max_retry_count=2, interval_calculator=quick))
    return client


class CopilotApp(App):
    """A Bolt app that also holds the threads it started: the courier, the heads-up poster."""

    courier: Courier
    sweep_poster: SweepPoster | None = None

    def stop(self) -> None:
        """Stop the courier and the heads-up poster (what is due stays in Redis)."""
        self.courier.stop()
        if self.sweep_poster is not None:
            self.sweep_poster.stop()


def create_app(
    settings: Settings,
    *,
    client: WebClient | None = None,
    executor: Investigations | None = None,
    redis_client: KeyValue | None = None,
    clock: Callable[[], float] = time.time,
) -> CopilotApp:
    """The Slack app: listeners, deduplication, the pipeline behind them, the sweep's poster."""
    config = settings.pipeline()
    client = client or web_client(settings)
    if not any(isinstance(h, RateLimitErrorRetryHandler) for h in client.retry_handlers):
        client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES))
    secret = settings.slack_signing_secret
    app = CopilotApp(
        client=client,
        signing_secret=secret.get_secret_value() if secret else "",
        token_verification_enabled=False,
        process_before_response=False,
    )
    state = BotState(
        redis_client or redis.Redis.from_url(config.redis_url),
        prefix=config.key_prefix,
        ttl=config.result_ttl,
    )
    copilot = Copilot(
        client=client,
        executor=executor or RqExecutor(config, config_ref=PIPELINE_CONFIG_REF),
        state=state,
        catalog=lambda: catalog_of(config),
        deadline=config.deadline,
        clock=clock,
        model=config.llm.model if config.llm is not None else None,
        links=settings.link_policy(),
        policy=settings.rca_policy(),
    )
    app.courier = copilot.courier.start()  # resumes whatever an earlier process left due
    # The executor's own store when it has one (the demo's in-process executor keeps a dict).
    store: Store = getattr(copilot.executor, "store", None) or RedisStore.from_url(config.redis_url)
    book = SweepBook(store, config)
    register(
        app,
        copilot,
        pattern=settings.incident_channel_pattern,
        key_prefix=config.key_prefix,
        sweep_book=book,
        policy=settings.rca_policy(),
    )
    if settings.sweep_channel:
        app.sweep_poster = SweepPoster(
            client=client,
            book=book,
            state=state,
            channel=settings.sweep_channel,
            catalog=copilot.catalog,
            schedule=(lambda: schedule_sweeps(config, PIPELINE_CONFIG_REF))
            if isinstance(copilot.executor, RqExecutor)
            else None,
            schedule_every=min(300.0, config.sweep_interval / 2),
            links=copilot.links,
        )
        app.sweep_poster.start()
    return app
