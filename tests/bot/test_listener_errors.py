"""A listener that fails is logged once, with its investigation and without any secret."""

from __future__ import annotations

import logging

import pytest

from bot.blocks import RERUN_ACTION
from bot.dedupe import BotState, MemoryKeys
from bot.listeners import log_listener_error

TOKEN = "xoxb-" + "1234567890-" * 2 + "AbCdEfGhIjKlMnOpQrStUvWx"


def _failure() -> Exception:
    try:
        raise RuntimeError(f"Slack refused token={TOKEN}")
    except RuntimeError as exc:
        return exc


def _state() -> BotState:
    return BotState(MemoryKeys(), prefix="t", ttl=60)


def test_a_failed_button_is_logged_with_its_investigation_and_no_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = {"type": "block_actions", "actions": [{"action_id": RERUN_ACTION, "value": "inv42"}]}
    with caplog.at_level(logging.ERROR, logger="bot.listeners"):
        log_listener_error(_failure(), body, _state())
    [record] = caplog.records
    text = record.getMessage()
    assert "investigation inv42" in text and "RuntimeError" in text
    assert TOKEN not in text and "AbCdEfGhIjKl" not in text


def test_a_failed_thread_reply_names_the_thread_s_investigation(
    caplog: pytest.LogCaptureFixture,
) -> None:
    state = _state()
    state.remember("C0INC", investigation_id="inv7", ts="100.1")
    body = {"event": {"type": "message", "channel": "C0INC", "thread_ts": "100.1"}}
    with caplog.at_level(logging.ERROR, logger="bot.listeners"):
        log_listener_error(_failure(), body, state)
    assert "listener for message failed (investigation inv7)" in caplog.records[0].getMessage()
