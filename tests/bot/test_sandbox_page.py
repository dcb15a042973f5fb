"""The demo's page with the real bot behind it, in headless Chromium (issue 15).

The bot (HTTP mode, real RQ workers and Redis) investigates a channel of the Slack stand-in;
the page shows the summary's thread with the chart the bot uploaded (an image that loads),
people by name, and its buttons work as in Slack: *Wrong root cause* and *Re-run* go to the bot
as signed ``block_actions`` payloads, and what the bot answers shows up on the page.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from pipeline_testkit import Workers
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait
from slack_testkit import SECRET, ServedSlack, eventually, is_summary, shared, top_level

from sandbox.slack_events import EventSender, event_callback
from sandbox.slack_web import DEMO_USER, serve_slack_web

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,1000",
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("CI"),
        reason="needs Debian's chromium and chromium-driver (.ci/run installs them)",
    ),
]


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium'}")
    browser = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield browser
    finally:
        browser.quit()


def _click(driver: webdriver.Chrome, css: str) -> bool:
    """Click as a person would: the element in view first (not under the channel's header).
    Called from a wait: a page re-rendered in between makes the element stale, and it is
    found again."""
    element: WebElement = driver.find_element(By.CSS_SELECTOR, css)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()
    return True


def test_the_page_shows_the_chart_and_its_buttons_reach_the_bot(
    slack: ServedSlack,
    bot_url: str,
    workers: Workers,
    redis_client: redis.Redis,
    names: tuple[str, str],
    driver: webdriver.Chrome,
) -> None:
    ws = slack.workspace
    channel = ws.create_channel("inc-3201-page", topic="5xx on the edge")
    ws.post_as_user(channel.id, "[Triggered] error rate high on api-gateway", user="U0ALERTS")
    created = {"id": channel.id, "name": channel.name, "created": int(time.time())}
    EventSender(bot_url, SECRET).event(
        event_callback({"type": "channel_created", "channel": created})
    )
    summary = eventually(
        lambda: next((m for m in top_level(ws, channel.id) if is_summary(m)), None),
        what="the summary",
    )
    eventually(lambda: shared(ws, channel.id, summary["ts"]), timeout=30, what="the chart")
    time.sleep(1.0)  # the delivery ends after the chart: the channel is free for a re-run
    wait = WebDriverWait(driver, 20, ignored_exceptions=[StaleElementReferenceException])
    page = serve_slack_web(ws, bot_events_url=bot_url, signing_secret=SECRET)
    try:
        driver.get(f"{page.url}/#{channel.id}")

        # The chart, in the summary's thread, loaded.
        image = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "figure.file img"))
        wait.until(
            lambda d: d.execute_script(
                "const i = document.querySelector('figure.file img');"
                "return i && i.complete && i.naturalWidth;"
            )
        )
        width = driver.execute_script(
            "return document.querySelector('figure.file img').naturalWidth"
        )
        assert width == 960
        assert "what changed around" in image.get_attribute("alt")
        # People by name: the alert's author, the app.
        authors = [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".author")]
        assert "Datadog" in authors and "incident-copilot" in authors
        assert not any(a.startswith("U0") for a in authors)

        # Wrong root cause: recorded with the investigation, and the bot's thanks shows, to us.
        investigation_id = summary["blocks"][-1]["elements"][1]["value"]
        wrong = f'.message[data-ts="{summary["ts"]}"] button[data-action="rca_wrong_root_cause"]'
        wait.until(lambda d: _click(d, wrong))
        thanks = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, ".message.ephemeral"))
        assert "recorded as a wrong root cause" in thanks.text
        assert "Only visible to you" in thanks.text
        key = f"{names[0]}:inv:{investigation_id}:feedback"
        recorded = eventually(lambda: redis_client.lrange(key, 0, -1), timeout=5)
        assert json.loads(recorded[-1])["user"] == DEMO_USER

        # Re-run: the bot starts again; its new message shows up on the page.
        rerun = f'.message[data-ts="{summary["ts"]}"] button[data-action="rca_rerun"]'
        wait.until(lambda d: _click(d, rerun))
        second = eventually(
            lambda: [m for m in top_level(ws, channel.id) if m["ts"] != summary["ts"]],
            timeout=15,
            what="the re-run's message",
        )
        wait.until(
            lambda d: d.find_elements(By.CSS_SELECTOR, f'.message[data-ts="{second[0]["ts"]}"]')
        )
        assert driver.find_element(By.ID, "status").text == ""
        # ...and its summary replaces it, buttons and all; then nothing of it is left due.
        wait = WebDriverWait(driver, 120, ignored_exceptions=[StaleElementReferenceException])
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".actions")) == 2)
        due = f"{names[0]}:bot:deliveries:due"
        eventually(
            lambda: not any(channel.id in str(m) for m in redis_client.smembers(due)),
            timeout=60,
            what="the re-run delivered",
        )
    finally:
        page.stop()
