"""Configuration of each connector: plain pydantic models, filled in by ``bot.settings``."""

from __future__ import annotations

from typing import Literal
from urllib.parse import unquote, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

DatadogSite = Literal[
    "datadoghq.com",
    "us3.datadoghq.com",
    "us5.datadoghq.com",
    "datadoghq.eu",
    "ap1.datadoghq.com",
    "ap2.datadoghq.com",
    "ddog-gov.com",
]

# The web app lives on app.<site> for US1, EU1 and US1-FED, and on the bare site elsewhere
# (https://docs.datadoghq.com/getting_started/site/).
_DATADOG_APP_HOSTS: dict[str, str] = {
    "datadoghq.com": "app.datadoghq.com",
    "us3.datadoghq.com": "us3.datadoghq.com",
    "us5.datadoghq.com": "us5.datadoghq.com",
    "datadoghq.eu": "app.datadoghq.eu",
    "ap1.datadoghq.com": "ap1.datadoghq.com",
    "ap2.datadoghq.com": "ap2.datadoghq.com",
    "ddog-gov.com": "app.ddog-gov.com",
}


class ResilienceConfig(BaseModel):
    """Timeouts, retries, rate-limit waits, concurrency and circuit breaking for one source."""

    model_config = ConfigDict(frozen=True)

    timeout: float = Field(default=10.0, gt=0, description="seconds for one request")
    attempts: int = Field(default=3, ge=1, description="tries per call, the first included")
    backoff_base: float = Field(default=0.2, ge=0, description="first backoff ceiling, seconds")
    backoff_max: float = Field(default=5.0, ge=0, description="largest backoff ceiling, seconds")
    total_budget: float = Field(
        default=30.0, gt=0, description="seconds one call may take, retries included"
    )
    max_rate_limit_wait: float = Field(
        default=10.0, ge=0, description="longest Retry-After we honour; longer fails fast"
    )
    concurrency: int = Field(default=20, ge=1, description="requests in flight at once")
    breaker_threshold: int = Field(
        default=5, ge=1, description="consecutive failures that open the circuit"
    )
    breaker_cooldown: float = Field(
        default=30.0, ge=0, description="seconds the circuit stays open"
    )


class ElasticsearchConfig(BaseModel):
    """Where the logs are and how their fields are named (Elastic Common Schema by default)."""

    model_config = ConfigDict(frozen=True)

    url: str
    api_key: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    index: str = "logs-*"
    timestamp_field: str = "@timestamp"
    service_field: str = "service.name"
    level_field: str = "log.level"
    message_field: str = "message"
    # A keyword copy of the message (e.g. ``message.keyword``) lets a terms aggregation count
    # distinct lines exactly; without one, patterns come from a bounded sample of lines.
    message_keyword_field: str | None = None
    error_levels: tuple[str, ...] = (
        "error",
        "ERROR",
        "Error",
        "fatal",
        "FATAL",
        "critical",
        "CRITICAL",
    )
    kibana_url: str | None = None
    verify_certs: bool = True
    resilience: ResilienceConfig = ResilienceConfig()

    @model_validator(mode="before")
    @classmethod
    def _credentials_out_of_url(cls, data: object) -> object:
        """``https://user:pass@host`` works, but the URL is shown in links and errors: keep
        the credentials in the secret fields and the URL clean."""
        if not isinstance(data, dict) or not isinstance(data.get("url"), str):
            return data
        parts = urlsplit(data["url"])
        if not parts.scheme or not parts.hostname:
            raise ValueError(
                f"ES_URL must be a full URL such as https://logs.example.com:9200, "
                f"not {parts._replace(netloc=parts.hostname or '').geturl()!r}"
            )
        if parts.username is None:
            return data
        host = parts.hostname + (f":{parts.port}" if parts.port else "")
        clean = dict(data, url=urlunsplit(parts._replace(netloc=host)))
        if data.get("username") is None and data.get("api_key") is None:
            clean["username"] = unquote(parts.username)
            clean["password"] = SecretStr(unquote(parts.password or ""))
        return clean

    @model_validator(mode="after")
    def _auth_is_whole(self) -> ElasticsearchConfig:
        if (self.username is None) != (self.password is None):
            raise ValueError("set both ES_USERNAME and ES_PASSWORD, or neither")
        return self


class SignalQuery(BaseModel):
    """One Datadog metric standing for a signal, e.g. ``avg:trace.http.request.duration``."""

    model_config = ConfigDict(frozen=True)

    metric: str
    aggregation: str = "avg"
    as_count: bool = False
    unit: str | None = None


def default_signals() -> dict[str, SignalQuery]:
    """APM trace metrics for latency, errors and traffic; host CPU for saturation."""
    return {
        "latency": SignalQuery(metric="trace.http.request.duration", aggregation="avg", unit="s"),
        "errors": SignalQuery(metric="trace.http.request.errors", aggregation="sum", as_count=True),
        "traffic": SignalQuery(metric="trace.http.request.hits", aggregation="sum", as_count=True),
        "saturation": SignalQuery(metric="system.cpu.user", aggregation="avg", unit="%"),
    }


class DatadogConfig(BaseModel):
    """A Datadog organisation: its site, keys, and which metric stands for each signal."""

    model_config = ConfigDict(frozen=True)

    api_key: SecretStr
    app_key: SecretStr
    site: DatadogSite = "datadoghq.com"
    base_url: str | None = Field(
        default=None, description="overrides https://api.<site>, for stand-ins"
    )
    app_url: str | None = Field(default=None, description="overrides the web app URL used in links")
    scope: str = Field(default="*", description="tag filter applied to every query, e.g. env:prod")
    service_tag: str = "service"
    env: str | None = Field(default=None, description="APM environment, for the service map")
    signals: dict[str, SignalQuery] = Field(default_factory=default_signals)
    resilience: ResilienceConfig = ResilienceConfig()

    @property
    def api_base(self) -> str:
        """The API root, e.g. https://api.datadoghq.eu."""
        return (self.base_url or f"https://api.{self.site}").rstrip("/")

    @property
    def app_base(self) -> str:
        """The web app root people click through to, e.g. https://app.datadoghq.eu."""
        return (self.app_url or f"https://{_DATADOG_APP_HOSTS[self.site]}").rstrip("/")


class GitHubConfig(BaseModel):
    """github.com or a GitHub Enterprise Server, and the token to read it with."""

    model_config = ConfigDict(frozen=True)

    token: SecretStr
    base_url: str = Field(
        default="https://api.github.com", description="GitHub Enterprise: https://HOST/api/v3"
    )
    html_url: str | None = Field(default=None, description="web root for links; derived when unset")
    deployment_environment: str | None = Field(default=None, description="only this environment")
    # An owner with at least this many repositories in one scan is searched org-wide for
    # commits and merged pull requests (two paginated requests) instead of repo by repo.
    search_threshold: int = Field(default=5, ge=1)
    resilience: ResilienceConfig = ResilienceConfig(concurrency=50)

    @property
    def api_base(self) -> str:
        """The REST API root."""
        return self.base_url.rstrip("/")

    @property
    def web_base(self) -> str:
        """The web root, e.g. https://github.com or https://ghe.example.com."""
        if self.html_url:
            return self.html_url.rstrip("/")
        base = self.api_base
        if base == "https://api.github.com":
            return "https://github.com"
        return base.removesuffix("/api/v3")


class AnthropicConfig(BaseModel):
    """The Anthropic Messages API, the model to ask, and what its tokens cost."""

    model_config = ConfigDict(frozen=True)

    api_key: SecretStr
    base_url: str = Field(default="https://api.anthropic.com", description="or the stand-in")
    model: str = "claude-sonnet-4-6"
    max_retries: int = Field(default=1, ge=0, description="client retries, within the budget")
    # USD per million tokens; the defaults are the published Sonnet 4.6 prices.
    price_input: float = Field(default=3.0, ge=0)
    price_output: float = Field(default=15.0, ge=0)

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """What a call of that many tokens costs, in US dollars."""
        return (input_tokens * self.price_input + output_tokens * self.price_output) / 1e6
