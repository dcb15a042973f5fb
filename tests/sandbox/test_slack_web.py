"""The live channel viewer in a real browser: rendered, escaped, updated, and asking the bot."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDict
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from slack_samples import PR, payments_summary

from bot.blocks import fallback_text, progress_blocks, summary_blocks
from sandbox.slack_api import Channel, Workspace
from sandbox.slack_events import signature
from sandbox.slack_web import DEMO_USER, ServedSlackWeb, run_slack_web, slack_web_app

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,900",
)
SECRET = "viewer-test-secret"
GROUPS = {"S0PAYMENTS": "payments"}
# What a person typed, stored the way Slack stores it: escaped.
XSS = "&lt;script&gt;window.__xss=1&lt;/script&gt;&lt;img src=x onerror=window.__xss=2&gt;"
HOSTILE_CHANNEL = "<img src=x onerror=window.__xss=3>"

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("CI"),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium "
    "chromium-driver; .ci/run installs them)",
)


def post_as_bot(ws: Workspace, channel: str, text: str, **extra: Any) -> str:
    """A bot message, shaped as ``chat.postMessage`` stores it."""
    return ws.post_as_user(
        channel, text, user=ws.bot_user_id, bot_id=ws.bot_id, subtype="bot_message", **extra
    )


def incident_workspace() -> tuple[Workspace, Channel, str]:
    """An incident channel: an alert, the bot's progress message with a thread, a hostile reply."""
    ws = Workspace()
    other = ws.create_channel(HOSTILE_CHANNEL)
    other.created -= 60
    channel = ws.create_channel("inc-2041-checkout-errors", topic="5xx on checkout")
    ws.post_as_user(channel.id, "[Triggered] checkout error rate high", user="U0ALERTS")
    progress = progress_blocks(channel.name, [])
    ts = post_as_bot(ws, channel.id, "Investigating #inc-2041-checkout-errors…", blocks=progress)
    post_as_bot(ws, channel.id, "*Why payments-db* (score 0.90)", thread_ts=ts)
    ws.post_as_user(channel.id, XSS, user="U0HUMAN", thread_ts=ts)
    return ws, channel, ts


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    if not CHROMIUM.exists():
        pytest.fail("CI must have /usr/bin/chromium and /usr/bin/chromedriver (see .ci/run)")
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium'}")
    browser = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture
def bot_events() -> Iterator[tuple[str, list[tuple[CIMultiDict[str], bytes]]]]:
    """A stand-in for the bot's ``/slack/events``: records every request; its URL."""
    received: list[tuple[CIMultiDict[str], bytes]] = []

    async def events(request: web.Request) -> web.Response:
        received.append((request.headers.copy(), await request.read()))
        return web.Response(text="")

    app = web.Application()
    app.router.add_post("/slack/events", events)
    with ServedSlackWeb(app) as served:  # any aiohttp app, served from a thread
        yield f"{served.url}/slack/events", received


@needs_chromium
def test_the_channel_live_in_a_browser(
    driver: webdriver.Chrome,
    bot_events: tuple[str, list[tuple[CIMultiDict[str], bytes]]],
) -> None:
    ws, channel, ts = incident_workspace()
    events_url, received = bot_events
    app = slack_web_app(ws, bot_events_url=events_url, signing_secret=SECRET, groups=GROUPS)
    # The page swaps a channel's HTML when it changes: an element found just before is stale.
    wait = WebDriverWait(driver, 10, ignored_exceptions=[StaleElementReferenceException])
    with ServedSlackWeb(app) as served:
        driver.get(served.url)
        pane = wait.until(lambda d: d.find_element(By.ID, "pane"))
        wait.until(lambda d: "Investigating #inc-2041-checkout-errors" in pane.text)
        names = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "#channels a")]
        assert names == [f"# {HOSTILE_CHANNEL}", "# inc-2041-checkout-errors"]
        assert "# inc-2041-checkout-errors" in driver.find_element(By.CLASS_NAME, "name").text

        # The bot edits its progress message into the summary; the page follows.
        made = payments_summary()
        progress = next(m for m in ws.messages(channel.id) if m["ts"] == ts)
        progress.update(
            text=fallback_text(made), blocks=summary_blocks(made), edited={"ts": ws.next_ts()}
        )
        header = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, ".header"))
        assert header.text == "Likely root cause (high confidence): payments-db"
        assert "(edited)" in driver.find_element(By.CSS_SELECTOR, ".message.bot .meta").text
        link = driver.find_element(By.PARTIAL_LINK_TEXT, "Raise connection pool")
        assert link.get_attribute("href") == PR
        assert link.get_attribute("rel") == "noopener noreferrer"
        assert driver.find_element(By.CSS_SELECTOR, ".context .mention").text == "@payments"
        buttons = [b.text for b in driver.find_elements(By.CSS_SELECTOR, ".actions button")]
        assert buttons == ["Re-run", "Wrong root cause"]

        # What people typed is shown as they typed it, and never runs.
        replies = driver.find_element(By.CSS_SELECTOR, f'.thread[data-thread="{ts}"] .replies')
        assert "<script>window.__xss=1</script><img src=x onerror=window.__xss=2>" in replies.text
        assert driver.find_elements(By.CSS_SELECTOR, "#pane script, #pane img, nav img") == []
        assert driver.execute_script("return window.__xss === undefined")

        # A question half typed survives the page re-rendering for a new message.
        question = driver.find_element(By.CSS_SELECTOR, f'form.ask[data-thread="{ts}"] input')
        question.send_keys("why not <checkout>?")
        ws.post_as_user(channel.id, "Rolled back payments-db", user="U0HUMAN")
        wait.until(lambda d: "Rolled back payments-db" in d.find_element(By.ID, "pane").text)
        question = driver.find_element(By.CSS_SELECTOR, f'form.ask[data-thread="{ts}"] input')
        assert question.get_attribute("value") == "why not <checkout>?"

        # Asking in the thread: the workspace has the question, the bot gets a signed event.
        driver.find_element(By.CSS_SELECTOR, f'form.ask[data-thread="{ts}"] button').click()
        wait.until(lambda _: received)
        headers, body = received[0]
        stamp = headers["X-Slack-Request-Timestamp"]
        assert headers["X-Slack-Signature"] == signature(SECRET, stamp, body)
        event = json.loads(body)["event"]
        asked = [m for m in ws.messages(channel.id) if m.get("user") == DEMO_USER]
        assert [(m["text"], m["thread_ts"]) for m in asked] == [("why not &lt;checkout&gt;?", ts)]
        assert event["type"] == "message" and event["channel"] == channel.id
        assert (event["user"], event["text"]) == (DEMO_USER, "why not &lt;checkout&gt;?")
        assert (event["ts"], event["thread_ts"]) == (asked[0]["ts"], ts)
        thread = f'.thread[data-thread="{ts}"] .replies'
        wait.until(lambda d: "why not <checkout>?" in d.find_element(By.CSS_SELECTOR, thread).text)
        form = f'form.ask[data-thread="{ts}"] input'
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, form).get_attribute("value") == "")
        assert driver.execute_script("return window.__xss === undefined")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_asking_checks_its_input_and_says_when_the_bot_is_unreachable() -> None:
    ws, channel, ts = incident_workspace()
    unreachable = f"http://127.0.0.1:{_closed_port()}/slack/events"
    app = slack_web_app(ws, bot_events_url=unreachable, signing_secret=SECRET)
    url, cleanup = await run_slack_web(app)
    ask = f"{url}/api/channels/{channel.id}/ask"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(ask, data={"thread_ts": ts, "text": "hi"}) as resp:
                assert resp.status == 415  # a cross-site form cannot post here
            async with http.post(ask, json={"thread_ts": "1.0", "text": "hi"}) as resp:
                assert (resp.status, (await resp.json())["error"]) == (404, "thread_not_found")
            async with http.post(ask, json={"thread_ts": ts, "text": "  "}) as resp:
                assert (resp.status, (await resp.json())["error"]) == (400, "no_text")
            async with http.post(f"{url}/api/channels/CNOPE/ask", json={}) as resp:
                assert resp.status == 404
            async with http.post(ask, json={"thread_ts": ts, "text": "still there?"}) as resp:
                body = await resp.json()
                assert resp.status == 502 and "unreachable" in body["error"]
            async with http.get(f"{url}/") as resp:
                assert "script-src 'nonce-" in resp.headers["Content-Security-Policy"]
            async with http.get(f"{url}/api/channels") as resp:
                listed = await resp.json()
                assert [c["name"] for c in listed] == [HOSTILE_CHANNEL, channel.name]
    finally:
        await cleanup()
    asked = [m for m in ws.messages(channel.id) if m.get("user") == DEMO_USER]
    assert [(m["text"], m["thread_ts"], m["ts"]) for m in asked] == [
        ("still there?", ts, body["ts"])
    ]
