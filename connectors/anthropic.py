"""Anthropic's Messages API as a language model, through the official ``anthropic`` client.

One call is one ``POST /v1/messages`` (tools included), bounded by the caller's time budget:
the client's own timeout and retries sit inside an ``asyncio`` deadline, so an overloaded or
unreachable API costs at most ``timeout`` seconds. Its errors become the connector error tree
(:mod:`connectors.errors`): a refused key is an :class:`AuthError`, a 429 is
:class:`RateLimited`, a 529, a 5xx (504 ``timeout_error`` included), a timeout or a refused
connection :class:`SourceUnavailable`, and a 200 that carries an error instead of a message a
:class:`BadResponse`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import anthropic

from connectors.config import AnthropicConfig
from connectors.errors import (
    AuthError,
    BadResponse,
    ConnectorError,
    RateLimited,
    SourceUnavailable,
)
from connectors.records import Diagnosis, ModelReply, ToolCall

NAME = "anthropic"


def _retry_after(exc: anthropic.APIStatusError) -> float | None:
    value = exc.response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def connector_error(exc: BaseException, *, timeout: float) -> ConnectorError:
    """The connector error for what the client raised (or the deadline)."""
    if isinstance(exc, TimeoutError | anthropic.APITimeoutError):
        return SourceUnavailable(NAME, f"no answer within {timeout:.1f} s")
    if isinstance(exc, anthropic.AuthenticationError | anthropic.PermissionDeniedError):
        return AuthError(NAME, "the API key was refused: check ANTHROPIC_API_KEY")
    if isinstance(exc, anthropic.RateLimitError):
        return RateLimited(NAME, "rate limited (429)", retry_after=_retry_after(exc))
    if isinstance(exc, anthropic.OverloadedError):
        return SourceUnavailable(NAME, "the API is overloaded (529)")
    if isinstance(exc, anthropic.GatewayTimeoutError):
        return SourceUnavailable(NAME, "the API timed out on the request (504)")
    if isinstance(exc, anthropic.InternalServerError):
        return SourceUnavailable(NAME, f"server error ({exc.status_code})")
    if isinstance(exc, anthropic.APIConnectionError):
        return SourceUnavailable(NAME, "unreachable: check ANTHROPIC_BASE_URL and the network")
    if isinstance(exc, anthropic.PaymentRequiredError):
        return ConnectorError(
            NAME, "billing problem (402): check the organisation's plan and credit balance"
        )
    if isinstance(exc, anthropic.APIStatusError):
        return ConnectorError(NAME, f"request refused ({exc.status_code}): {exc.message}")
    return BadResponse(NAME, f"unreadable answer: {exc}")


class AnthropicModel:
    """A :class:`~connectors.base.LanguageModel` over the Messages API."""

    name = NAME

    def __init__(self, config: AnthropicConfig) -> None:
        self.config = config
        self.model = config.model
        self.client = anthropic.AsyncAnthropic(
            api_key=config.api_key.get_secret_value(),
            base_url=config.base_url,
            max_retries=config.max_retries,
        )

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """US dollars for that many tokens at the configured prices."""
        return self.config.cost(input_tokens, output_tokens)

    async def create(
        self,
        *,
        system: str,
        messages: Sequence[dict[str, Any]],
        max_tokens: int,
        timeout: float,
        tools: Sequence[dict[str, Any]] = (),
        tool_choice: str = "auto",
    ) -> ModelReply:
        """One turn, within ``timeout`` seconds however many retries the client makes."""
        started = time.perf_counter()
        extra: dict[str, Any] = {}
        if tools:  # "none" keeps the tools defined (earlier turns used them) but forbids more
            extra = {"tools": list(tools), "tool_choice": {"type": tool_choice}}
        try:
            message = await asyncio.wait_for(
                self.client.messages.create(
                    model=self.model,
                    system=system,
                    messages=list(messages),  # type: ignore[arg-type]
                    max_tokens=max_tokens,
                    timeout=timeout,
                    **extra,
                ),
                timeout=timeout,
            )
        except (anthropic.AnthropicError, TimeoutError) as exc:
            raise connector_error(exc, timeout=timeout) from exc
        if message.type != "message" or not isinstance(message.content, list):
            raise BadResponse(NAME, f"a 200 without a message: {_error_in(message)}")
        content = [block.model_dump(exclude_none=True) for block in message.content]
        text = "".join(str(b.get("text", "")) for b in content if b.get("type") == "text")
        calls = [
            ToolCall(id=str(b["id"]), name=str(b["name"]), input=dict(b.get("input") or {}))
            for b in content
            if b.get("type") == "tool_use"
        ]
        return ModelReply(
            model=message.model,
            text=text,
            tool_calls=calls,
            stop_reason=str(message.stop_reason or ""),
            input_tokens=int(message.usage.input_tokens),
            output_tokens=int(message.usage.output_tokens),
            seconds=time.perf_counter() - started,
            content=[_sendable(b) for b in content],
        )

    async def diagnose(self) -> Diagnosis:
        """Reachable and the key accepted: counts the tokens of a one-word message (free)."""
        try:
            await asyncio.wait_for(
                self.client.messages.count_tokens(
                    model=self.model, messages=[{"role": "user", "content": "ping"}]
                ),
                timeout=10.0,
            )
        except (anthropic.AnthropicError, TimeoutError) as exc:
            return Diagnosis(
                connector=NAME, ok=False, lines=[connector_error(exc, timeout=10.0).message]
            )
        return Diagnosis(
            connector=NAME,
            ok=True,
            lines=[f"reachable at {self.config.base_url}, key accepted, model {self.model}"],
        )

    async def aclose(self) -> None:
        """Close the client's connections."""
        await self.client.close()


def _error_in(message: anthropic.types.Message) -> str:
    """What an error body read as a message says (the client builds it without checking)."""
    error = (message.model_extra or {}).get("error")
    detail = error.get("message") if isinstance(error, dict) else None
    return str(detail or "unreadable answer")


def _sendable(block: dict[str, Any]) -> dict[str, Any]:
    """A content block as the API accepts it back in the next request's assistant turn."""
    if block.get("type") == "text":
        return {"type": "text", "text": block.get("text", "")}
    if block.get("type") == "tool_use":
        return {
            "type": "tool_use",
            "id": block["id"],
            "name": block["name"],
            "input": block.get("input") or {},
        }
    return block
