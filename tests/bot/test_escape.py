"""Untrusted text cannot mention anyone or break a message; only the owning group is tagged."""

from __future__ import annotations

from bot.escape import code, escape, group_label, group_mention, link


def test_escape_defuses_every_mention_form() -> None:
    hostile = "deploy <!channel> <!here> <@U123> <!subteam^S0EVIL12> <#C1|x> & @channel @here"
    text = escape(hostile)
    assert "<" not in text and ">" not in text
    assert "&lt;!channel&gt;" in text and "&amp;" in text
    assert "@channel" not in text and "@here" not in text
    assert "@everyone" not in escape("hey @Everyone")


def test_escape_cuts_to_a_limit_before_escaping() -> None:
    assert escape("x" * 50, limit=10) == "x" * 9 + "…"
    assert escape("a\x00b\nc") == "a b\nc"


def test_code_keeps_to_one_line_and_cannot_be_closed() -> None:
    assert code("a `b`\n<!here>") == "`a ˋbˋ &lt;!here&gt;`"


def test_links_take_only_http_urls_and_escape_the_label() -> None:
    assert link("https://x.test/a?b=1&c=2", "PR <!channel>|x") == (
        "<https://x.test/a?b=1&amp;c=2|PR &lt;!channel&gt;¦x>"
    )
    assert link("javascript:alert(1)", "title") == "title"
    assert link("https://x.test/a|b>c", "t").startswith("<https://x.test/a%7Cb%3Ec|")


def test_only_a_group_id_becomes_a_mention() -> None:
    assert group_mention("S0614PAY7") == "<!subteam^S0614PAY7>"
    assert group_mention("@payments-oncall") is None
    assert group_mention("S0<!channel>") is None
    assert group_label("@payments-oncall", "payments") == "@payments-oncall"
    assert group_label(None, "payments") == "payments"


def test_escape_redacts_tokens_and_emails_from_a_log_line() -> None:
    token = "xoxb-" + "1234567890123-1234567890123-" + "aB3dE5fG7hJ9kL2mN4pQ6rS8"
    line = f"auth failed for <ops@example.com> with {token} on payments-api"
    text = escape(line)
    assert "ops@example.com" not in text and "xoxb-" not in text
    assert "[redacted: email]" in text and "[redacted: slack-token]" in text
    assert "payments-api" in text and "&lt;" in text
    assert token[:20] not in escape(line, limit=60)
    assert "xoxb-" not in code(line)
