"""Slack messages rendered as Slack shows them: links, group mentions, and nothing unsafe."""

from __future__ import annotations

from typing import Any

from slack_samples import GROUPS, PR, payments_summary

from bot.blocks import fallback_text, summary_blocks
from bot.escape import escape
from sandbox.slack_view import message_to_html, message_to_text, mrkdwn_to_html, mrkdwn_to_text


def summary_message() -> dict[str, Any]:
    summary = payments_summary()
    return {
        "type": "message",
        "subtype": "bot_message",
        "user": "U0BOT",
        "bot_id": "B0BOT",
        "ts": "1795136400.000100",
        "text": fallback_text(summary),
        "blocks": summary_blocks(summary),
    }


def test_links_show_their_label_and_target() -> None:
    text = "see <https://ex.com/a?b=1&amp;c=2|the &lt;log&gt;> and <https://ex.com/raw>"
    assert mrkdwn_to_text(text) == "see the <log> (https://ex.com/a?b=1&c=2) and https://ex.com/raw"
    assert mrkdwn_to_html(text) == (
        'see <a href="https://ex.com/a?b=1&amp;c=2" rel="noopener noreferrer" target="_blank">'
        'the &lt;log&gt;</a> and <a href="https://ex.com/raw" rel="noopener noreferrer" '
        'target="_blank">https://ex.com/raw</a>'
    )


def test_only_web_links_become_anchors() -> None:
    shown = mrkdwn_to_html('<javascript:alert(1)|click> <https://ex.com/"onclick=x|ok>')
    assert shown.startswith("click ")
    assert "javascript" not in shown
    assert 'href="https://ex.com/&quot;onclick=x"' in shown


def test_user_groups_are_mentioned_by_name() -> None:
    assert mrkdwn_to_text("paging <!subteam^S0PAYMENTS>", groups=GROUPS) == "paging @payments"
    assert mrkdwn_to_text("paging <!subteam^S0OTHER>") == "paging @S0OTHER"
    assert mrkdwn_to_html("<!subteam^S0PAYMENTS>", groups=GROUPS) == (
        '<span class="mention">@payments</span>'
    )
    assert mrkdwn_to_text("<!here> <@U123>") == "@here @U123"


def test_an_escaped_broadcast_is_text_and_never_a_mention() -> None:
    text = escape("log says <!channel> and @channel")
    assert mrkdwn_to_text(text) == "log says <!channel> and @\u2060channel"
    shown = mrkdwn_to_html(text)
    assert 'class="mention"' not in shown
    assert shown == "log says &lt;!channel&gt; and @\u2060channel"


def test_script_in_a_message_is_shown_escaped() -> None:
    text = escape('<script>alert(1)</script><img src=x onerror="alert(2)">')
    shown = mrkdwn_to_html(text)
    assert "<script" not in shown and "<img" not in shown
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown
    message = {"type": "message", "user": "U0HUMAN", "ts": "1.0", "text": text}
    assert "&lt;script&gt;" in message_to_html(message)
    assert "<script>alert(1)</script>" in message_to_text(message)


def test_formatting_becomes_markup_only_in_html() -> None:
    text = "*Root cause:* `a&lt;b` _seen by claude_sandbox_\nnext"
    assert mrkdwn_to_html(text) == (
        "<b>Root cause:</b> <code>a&lt;b</code> <i>seen by claude_sandbox</i><br>next"
    )
    assert mrkdwn_to_text(text) == "*Root cause:* `a<b` _seen by claude_sandbox_\nnext"


def test_terminal_text_has_no_control_characters() -> None:
    assert mrkdwn_to_text("red \x1b[31malert") == "red \ufffd[31malert"


def test_summary_renders_for_a_terminal() -> None:
    shown = message_to_text(summary_message(), groups=GROUPS, width=80)
    lines = shown.splitlines()
    assert lines[0] == "Likely root cause (high confidence): payments-db"
    assert "*Root cause:* `payments-db` (team payments)" in lines
    assert f"Raise connection pool <!channel> ({PR})" in shown.replace("\n", " ")
    assert "<script>alert(1)</script>" in shown
    assert any(line.startswith("  · Owning team: @payments") for line in lines)
    assert lines[-1] == "[ Re-run ] [ Wrong root cause ]"
    assert all(len(line) <= 80 or "https://" in line for line in lines)


def test_summary_renders_as_html() -> None:
    shown = message_to_html(summary_message(), groups=GROUPS)
    assert '<div class="header">Likely root cause (high confidence): payments-db</div>' in shown
    assert "<b>Root cause:</b> <code>payments-db</code>" in shown
    href = PR.replace("&", "&amp;")
    assert f'<a href="{href}" rel="noopener noreferrer" target="_blank">' in shown
    assert '<span class="mention">@payments</span>' in shown
    assert "&lt;script&gt;" in shown and "<script" not in shown
    assert '<div class="context">' in shown
    danger = '<button type="button" class="button danger" data-action="rca_wrong_root_cause" '
    assert danger in shown and 'data-block="rca_actions">Wrong root cause</button>' in shown
    assert '<span class="author">U0BOT</span> <span class="badge">APP</span>' in shown


def test_a_message_without_blocks_shows_its_text() -> None:
    message = {"type": "message", "user": "U0HUMAN", "ts": "1.0", "text": "<!subteam^S0PAYMENTS>"}
    assert message_to_text(message, groups=GROUPS) == "@payments"
    assert '<span class="mention">@payments</span>' in message_to_html(message, groups=GROUPS)
