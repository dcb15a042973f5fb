"""Settings: the one place the environment is read.

``.env.example`` at the repository's root lists every one, commented (a test keeps it whole). A
variable set to nothing counts as unset.

Connector settings (all optional; a connector is configured when its essentials are set):

==========================  ===============================================================
ES_URL                      Elasticsearch URL (essential for logs)
ES_API_KEY                  API key, or ES_USERNAME and ES_PASSWORD for basic auth
ES_INDEX                    index pattern of the logs (default ``logs-*``)
ES_TIMESTAMP_FIELD ...      ES_SERVICE_FIELD, ES_LEVEL_FIELD, ES_MESSAGE_FIELD (ECS defaults),
                            ES_MESSAGE_KEYWORD_FIELD (exact pattern counts when set)
KIBANA_URL                  for Discover links
DD_API_KEY, DD_APP_KEY      Datadog keys (both essential for metrics)
DD_SITE                     datadoghq.com (default), us3.datadoghq.com, us5.datadoghq.com,
                            datadoghq.eu, ap1.datadoghq.com, ap2.datadoghq.com, ddog-gov.com
DD_BASE_URL                 overrides https://api.<site> (a proxy or the sandbox stand-in)
DD_SCOPE, DD_ENV            tag filter of every query (default ``*``); APM env for the map
DD_METRIC_LATENCY ...       DD_METRIC_ERRORS, DD_METRIC_TRAFFIC, DD_METRIC_SATURATION:
                            ``agg:metric`` (e.g. ``p95:trace.http.request``)
GITHUB_TOKEN                essential for changes
GITHUB_API_URL              https://api.github.com (default) or https://HOST/api/v3
GITHUB_HTML_URL             web root for links, derived from GITHUB_API_URL when unset
INCIDENT_COPILOT_CATALOG    service catalog (default ``manifests/services.yaml``)
DD_EXTRA_SIGNALS            more Datadog signals, ``name=agg:metric`` comma-separated; the
                            name's head is the kind: ``saturation.db=avg:postgresql.cpu``
==========================  ===============================================================

Language model (optional; without a key the deterministic summary and answers serve):

==========================  ===============================================================
ANTHROPIC_API_KEY           essential for the narrative and thread Q&A
ANTHROPIC_BASE_URL          https://api.anthropic.com (default), a proxy, or the stand-in
LLM_MODEL                   model id (default ``claude-sonnet-4-6``)
LLM_PRICE_INPUT ...         LLM_PRICE_OUTPUT: USD per million tokens, for the cost recorded
LLM_MAX_INPUT_TOKENS        evidence sent for one narrative (default 20000)
LLM_MAX_OUTPUT_TOKENS       tokens one answer may use (default 600)
LLM_TIMEOUT                 seconds the narrative may take, never past the deadline (20)
LLM_QA_STEPS                model calls per thread question, tools between them (default 4)
LLM_QA_MAX_INPUT_TOKENS     input tokens per question, summed over its steps (default 40000)
LLM_QA_TIMEOUT              seconds per thread question (default 25)
==========================  ===============================================================

Investigation pipeline:

==========================  ===============================================================
REDIS_URL                   Redis of the RQ queue and results (default redis://127.0.0.1:6379/0)
RQ_QUEUE                    queue name (default ``incident-copilot``)
PIPELINE_KEY_PREFIX         prefix of every key the pipeline writes (``incident-copilot``)
INVESTIGATION_DEADLINE      seconds from request to summary (default 45)
PIPELINE_RESULT_TTL         seconds results, records and leases are kept (default 7 days)
PIPELINE_JOB_TIMEOUT        seconds one job may run (default 30)
PIPELINE_RETRIES            extra tries of a transiently failing source (default 2)
==========================  ===============================================================

Slack:

==========================  ===============================================================
SLACK_BOT_TOKEN             the bot token, ``xoxb-...`` (essential)
SLACK_SIGNING_SECRET        verifies HTTP requests (essential in HTTP mode)
SLACK_APP_TOKEN             app-level token, ``xapp-...``: Socket Mode when set
SLACK_API_URL               Web API base URL (default ``https://slack.com/api/``; the stand-in)
INCIDENT_CHANNEL_PATTERN    regular expression of incident channel names
                            (default ``^(inc|incident)[-_]``)
PORT                        HTTP mode's port (default 3000), serving ``/slack/events``
==========================  ===============================================================

Who may do what (README, *Who may do what*):

==========================  ===============================================================
ALERT_CHANNELS              channel ids where alerts land, comma-separated: ``/rca`` may
                            investigate there (the ops channel, SWEEP_CHANNEL, is one too)
RCA_IN_INVITED_CHANNELS     whether ``/rca`` also works in any channel the bot was invited
                            to (default true); it never joins a channel for ``/rca`` that is
                            neither an incident channel nor an alert channel
SWEEP_MUTE_MAX              longest ``/rca mute``, in seconds (default 86400, at most 7 days)
LINK_ALLOWED_URLS           more web roots that links may point to, comma-separated; the
                            GitHub, Datadog and Kibana ones are always allowed
==========================  ===============================================================

Health sweep (the ``sweep`` process scans every service; the bot posts its heads-ups):

==========================  ===============================================================
SWEEP_CHANNEL               the ops channel's id (``C0123...``); heads-ups are posted only
                            when it is set (invite the bot there if it is private)
SWEEP_INTERVAL              seconds between sweeps (default 600, at least 60)
SWEEP_MENTION               lowest severity whose heads-up mentions the owning team:
                            ``high`` (default), ``medium``, or ``none``
SWEEP_COVER_HOURS           an incident channel this recent covers its services: no heads-up
                            for them (default 12)
==========================  ===============================================================
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.commands import RcaPolicy
from bot.escape import LinkPolicy
from connectors.config import (
    AnthropicConfig,
    DatadogConfig,
    DatadogSite,
    ElasticsearchConfig,
    GitHubConfig,
    SignalQuery,
    default_signals,
)
from investigators.pipeline.config import LlmBudget, PipelineConfig


def _signal(text: str, default: SignalQuery) -> SignalQuery:
    """``agg:metric`` or ``metric``; a ``.as_count()`` suffix counts instead of averaging.

    Another metric than the default's does not inherit the default's unit: its unit is what
    Datadog's metadata says (``trace.http.request.duration`` is in seconds, a custom ``.p95``
    may well be in milliseconds)."""
    as_count = text.endswith(".as_count()")
    text = text.removesuffix(".as_count()")
    aggregation, _, metric = text.rpartition(":")
    return SignalQuery(
        metric=metric,
        aggregation=aggregation or default.aggregation,
        as_count=as_count or (default.as_count and not aggregation),
        unit=default.unit if metric == default.metric else None,
    )


class Settings(BaseSettings):
    """Everything configurable, read from the environment (and a ``.env`` file if present)."""

    # A variable set to nothing (``SLACK_APP_TOKEN=`` as .env.example has it) is unset, never
    # an empty token that would switch modes or pass for a configured source.
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", case_sensitive=False, env_ignore_empty=True
    )

    catalog_path: str = Field(
        default="manifests/services.yaml", validation_alias="INCIDENT_COPILOT_CATALOG"
    )

    es_url: str | None = None
    es_api_key: SecretStr | None = None
    es_username: str | None = None
    es_password: SecretStr | None = None
    es_index: str = "logs-*"
    es_timestamp_field: str = "@timestamp"
    es_service_field: str = "service.name"
    es_level_field: str = "log.level"
    es_message_field: str = "message"
    es_message_keyword_field: str | None = None
    kibana_url: str | None = None

    dd_api_key: SecretStr | None = None
    dd_app_key: SecretStr | None = None
    dd_site: DatadogSite = "datadoghq.com"
    dd_base_url: str | None = None
    dd_scope: str = "*"
    dd_env: str | None = None
    dd_metric_latency: str | None = None
    dd_metric_errors: str | None = None
    dd_metric_traffic: str | None = None
    dd_metric_saturation: str | None = None

    dd_extra_signals: str | None = None

    github_token: SecretStr | None = None
    github_api_url: str = "https://api.github.com"
    github_html_url: str | None = None

    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str = "https://api.anthropic.com"
    llm_model: str = "claude-sonnet-4-6"
    llm_price_input: float = Field(default=3.0, ge=0)
    llm_price_output: float = Field(default=15.0, ge=0)
    llm_max_input_tokens: int = Field(default=20_000, gt=0)
    llm_max_output_tokens: int = Field(default=600, gt=0)
    llm_timeout: float = Field(default=20.0, gt=0)
    llm_qa_steps: int = Field(default=4, ge=1)
    llm_qa_max_input_tokens: int = Field(default=40_000, gt=0)
    llm_qa_timeout: float = Field(default=25.0, gt=0)

    redis_url: str = "redis://127.0.0.1:6379/0"
    rq_queue: str = "incident-copilot"
    pipeline_key_prefix: str = "incident-copilot"
    investigation_deadline: float = Field(default=45.0, gt=0)
    pipeline_result_ttl: int = Field(default=7 * 86400, gt=0)
    pipeline_job_timeout: int = Field(default=30, gt=0)
    pipeline_retries: int = Field(default=2, ge=0)

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    incident_channel_pattern: str = r"^(inc|incident)[-_]"
    port: int = Field(default=3000, gt=0, lt=65536)

    alert_channels: str | None = None
    rca_in_invited_channels: bool = True
    sweep_mute_max: float = Field(default=86400.0, gt=0, le=7 * 86400.0)
    link_allowed_urls: str | None = None

    sweep_channel: str | None = None
    sweep_interval: float = Field(default=600.0, ge=60)
    sweep_mention: Literal["high", "medium", "none"] = "high"
    sweep_cover_hours: float = Field(default=12.0, ge=0)

    @field_validator("incident_channel_pattern")
    @classmethod
    def _pattern_compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression ({exc}): e.g. ^(inc|incident)[-_]") from exc
        return value

    @field_validator("sweep_channel")
    @classmethod
    def _channel_id(cls, value: str | None) -> str | None:
        value = (value or "").strip()
        if not value:
            return None
        if not re.fullmatch(r"[CG][A-Z0-9]{6,}", value):
            raise ValueError(
                f"{value!r} is not a channel id: use the id like C0123ABCD (the channel's "
                "details, at the bottom), not its name"
            )
        return value

    @field_validator("alert_channels")
    @classmethod
    def _channel_ids(cls, value: str | None) -> str | None:
        ids = [cls._channel_id(item) for item in (value or "").split(",")]
        return ",".join(i for i in ids if i) or None

    @field_validator("link_allowed_urls")
    @classmethod
    def _web_roots(cls, value: str | None) -> str | None:
        roots = [item.strip() for item in (value or "").split(",") if item.strip()]
        for root in roots:
            if not LinkPolicy.of([root]).bases:
                raise ValueError(
                    f"{root!r} is not a web root: use a full http(s) URL without credentials, "
                    "like https://ci.example.com"
                )
        return ",".join(roots) or None

    def socket_mode(self) -> bool:
        """Whether the bot connects over Socket Mode (an app-level token is set), which needs no
        signing secret; else it serves HTTP, verifying requests with SLACK_SIGNING_SECRET."""
        return bool(self.slack_app_token and self.slack_app_token.get_secret_value().strip())

    def rca_policy(self) -> RcaPolicy:
        """Where ``/rca`` may act and post, and how long a mute may last."""
        return RcaPolicy(
            incident_pattern=self.incident_channel_pattern,
            ops_channel=self.sweep_channel,
            alert_channels=frozenset((self.alert_channels or "").split(",")) - {""},
            invited_channels=self.rca_in_invited_channels,
            mute_max=self.sweep_mute_max,
        )

    def link_policy(self) -> LinkPolicy:
        """Where links may point: the configured GitHub, Datadog and Kibana web roots, and
        LINK_ALLOWED_URLS; every other URL is shown as text."""
        github, datadog = self.github(), self.datadog()
        return LinkPolicy.of(
            [
                github.web_base if github else None,
                datadog.app_base if datadog else None,
                self.kibana_url,
                *(self.link_allowed_urls or "").split(","),
            ]
        )

    def pipeline(self) -> PipelineConfig:
        """The investigation pipeline's configuration, connectors included."""
        return PipelineConfig(
            catalog_path=self.catalog_path,
            elasticsearch=self.elasticsearch(),
            datadog=self.datadog(),
            github=self.github(),
            llm=self.anthropic(),
            llm_budget=LlmBudget(
                narrative_input_tokens=self.llm_max_input_tokens,
                narrative_output_tokens=self.llm_max_output_tokens,
                narrative_seconds=self.llm_timeout,
                qa_steps=self.llm_qa_steps,
                qa_input_tokens=self.llm_qa_max_input_tokens,
                qa_output_tokens=self.llm_max_output_tokens,
                qa_seconds=self.llm_qa_timeout,
            ),
            redis_url=self.redis_url,
            queue=self.rq_queue,
            key_prefix=self.pipeline_key_prefix,
            deadline=self.investigation_deadline,
            result_ttl=self.pipeline_result_ttl,
            job_timeout=self.pipeline_job_timeout,
            retries=self.pipeline_retries,
            sweep_interval=self.sweep_interval,
            sweep_mention=self.sweep_mention,
            sweep_cover_hours=self.sweep_cover_hours,
        )

    def elasticsearch(self) -> ElasticsearchConfig | None:
        """The Elasticsearch configuration, or None when ES_URL is unset."""
        if not self.es_url:
            return None
        return ElasticsearchConfig(
            url=self.es_url,
            api_key=self.es_api_key,
            username=self.es_username,
            password=self.es_password,
            index=self.es_index,
            timestamp_field=self.es_timestamp_field,
            service_field=self.es_service_field,
            level_field=self.es_level_field,
            message_field=self.es_message_field,
            message_keyword_field=self.es_message_keyword_field,
            kibana_url=self.kibana_url,
        )

    def datadog(self) -> DatadogConfig | None:
        """The Datadog configuration, or None unless both keys are set."""
        if self.dd_api_key is None or self.dd_app_key is None:
            return None
        signals = default_signals()
        overrides = {
            "latency": self.dd_metric_latency,
            "errors": self.dd_metric_errors,
            "traffic": self.dd_metric_traffic,
            "saturation": self.dd_metric_saturation,
        }
        for name, text in overrides.items():
            if text:
                signals[name] = _signal(text, signals[name])
        for item in (self.dd_extra_signals or "").split(","):
            name, _, text = item.strip().partition("=")
            if name and text:
                signals[name] = _signal(text, SignalQuery(metric=text, aggregation="avg"))
        return DatadogConfig(
            api_key=self.dd_api_key,
            app_key=self.dd_app_key,
            site=self.dd_site,
            base_url=self.dd_base_url,
            scope=self.dd_scope,
            env=self.dd_env,
            signals=signals,
        )

    def github(self) -> GitHubConfig | None:
        """The GitHub configuration, or None when GITHUB_TOKEN is unset."""
        if self.github_token is None:
            return None
        return GitHubConfig(
            token=self.github_token, base_url=self.github_api_url, html_url=self.github_html_url
        )

    def anthropic(self) -> AnthropicConfig | None:
        """The language model's configuration, or None when ANTHROPIC_API_KEY is unset."""
        if self.anthropic_api_key is None:
            return None
        return AnthropicConfig(
            api_key=self.anthropic_api_key,
            base_url=self.anthropic_base_url,
            model=self.llm_model,
            price_input=self.llm_price_input,
            price_output=self.llm_price_output,
        )


def load_settings(**overrides: object) -> Settings:
    """Read the environment now; keyword arguments win over it (handy in tests)."""
    return Settings(**overrides)  # type: ignore[arg-type]


#: What RQ workers call to rebuild the pipeline's configuration from their environment.
PIPELINE_CONFIG_REF = "bot.settings:pipeline_config"


def pipeline_config() -> PipelineConfig:
    """The pipeline configuration from the environment (the factory RQ jobs call)."""
    return load_settings().pipeline()
