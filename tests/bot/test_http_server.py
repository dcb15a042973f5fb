"""HTTP mode's server: what it refuses before Bolt sees a byte, and the Kubernetes probes.

Real HTTP over 127.0.0.1: the bot built by ``create_app`` behind ``bot.server``, the Slack Web API
stand-in, real Redis and real RQ workers for readiness; large bodies are streamed from a
generator, so that no test holds them.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from pipeline_testkit import Workers
from slack_testkit import SECRET, ServedSlack

from bot.app import create_app
from bot.dedupe import MemoryKeys
from bot.server import EVENTS_PATH, MAX_BODY, HttpServer, redis_and_workers, serve_in_thread
from bot.settings import load_settings
from sandbox.slack_events import EventSender, signed_headers, slash_command

ROOT = Path(__file__).resolve().parents[2]
HUNDRED_MB = 100 * 1024 * 1024
REDIS_URL = "redis://127.0.0.1:6379/0"


def stream_post(
    port: int, headers: dict[str, str], total: int, *, chunked: bool = False
) -> tuple[int, int]:
    """POST ``total`` zero bytes to the events path until the server answers: (status, bytes sent).

    The body comes from a 64 KiB buffer sent over and over, so the client never holds it.
    """
    head = [f"POST {EVENTS_PATH} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}")
    piece = b"\0" * 65536
    frame = f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        pending = b""
        while sent < total:
            readable, writable, _ = select.select([sock], [sock], [], 10)
            if readable:
                break  # the server answered before the body was all sent
            if not writable:
                continue
            if not pending:
                pending, sent = frame, sent + len(piece)
            try:
                pending = pending[sock.send(pending) :]
            except (BrokenPipeError, ConnectionResetError):
                break
        answer = b""
        while b"\r\n" not in answer:
            data = sock.recv(4096)
            assert data, "the server closed the connection without answering"
            answer += data
    return int(answer.split(b" ", 2)[1]), sent


def plain_post(url: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """POST without any Slack headers unless given; (status, body)."""
    request = urllib.request.Request(url, data=body, headers=headers or {}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def get_json(url: str) -> tuple[int, Any]:
    """GET a JSON endpoint; (status, document)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def looks_signed(body: bytes = b"") -> dict[str, str]:
    """Headers that pass every check made before the body is read (the signature is wrong)."""
    return signed_headers("not-the-secret", body, content_type="application/json")


def _server_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "bot.server"]


@pytest.fixture
def served(slack: ServedSlack) -> Iterator[HttpServer]:
    """The bot in HTTP mode, its investigations never started (no test here gets that far)."""
    settings = load_settings(
        slack_bot_token=slack.workspace.token,
        slack_signing_secret=SECRET,
        slack_api_url=slack.url,
        catalog_path=str(ROOT / "manifests" / "services.yaml"),
    )
    app = create_app(settings, redis_client=MemoryKeys())
    server = serve_in_thread(app)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        app.stop()


@pytest.fixture
def sender(served: HttpServer) -> EventSender:
    return EventSender(served.url + EVENTS_PATH, SECRET)


def test_an_unsigned_hundred_megabytes_is_refused_before_it_is_sent(served: HttpServer) -> None:
    status, sent = stream_post(served.server_address[1], {}, HUNDRED_MB)
    assert status == 413
    assert sent < HUNDRED_MB // 4  # answered from the headers, while the body was still coming


def test_an_oversized_chunked_body_is_cut_off_at_the_cap(served: HttpServer) -> None:
    status, sent = stream_post(served.server_address[1], looks_signed(), HUNDRED_MB, chunked=True)
    assert status == 413
    assert sent < HUNDRED_MB // 4


def test_a_body_just_over_the_cap_with_valid_looking_headers_is_refused(
    served: HttpServer,
) -> None:
    status, _ = stream_post(served.server_address[1], looks_signed(), MAX_BODY + 1)
    assert status == 413


def test_unsigned_wrongly_signed_and_stale_requests_are_refused(
    served: HttpServer, sender: EventSender
) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "c", "token": "t"}).encode()
    assert plain_post(sender.url, body, {"Content-Type": "application/json"})[0] == 401
    wrong = sender.post(body, content_type="application/json", secret="not-the-secret")
    assert wrong.status == 401
    stale = sender.post(body, content_type="application/json", timestamp=time.time() - 600)
    assert stale.status == 401
    headers = signed_headers(SECRET, body, content_type="application/json")
    headers["X-Slack-Request-Timestamp"] = "yesterday"
    assert plain_post(sender.url, body, headers)[0] == 401


def test_a_signed_url_verification_is_answered_with_its_challenge(sender: EventSender) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "c-42", "token": "t"}).encode()
    answer = sender.post(body, content_type="application/json")
    assert answer.status == 200
    assert answer.json() == {"challenge": "c-42"}


def test_a_signed_slash_command_reaches_the_bot(sender: EventSender) -> None:
    answer = sender.command(slash_command("help", channel_id="C0INC", channel_name="inc-1"))
    assert answer.status == 200
    assert "/rca" in answer.json()["text"]


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b'{"type": "event_callback", "event": ', "application/json", "not JSON"),
        (b"\xff\xfe{}", "application/json", "not UTF-8"),
        (b"[1, 2]", "application/json", "not a JSON object"),
        (b"payload=%7Bnope", "application/x-www-form-urlencoded", "not JSON"),
        (
            json.dumps({"type": "event_callback", "event": {"type": "app_mention"}}).encode(),
            "application/json",
            "app_mention event: event.channel",
        ),
    ],
)
def test_a_signed_malformed_body_is_a_400_with_one_log_line(
    sender: EventSender,
    caplog: pytest.LogCaptureFixture,
    body: bytes,
    content_type: str,
    reason: str,
) -> None:
    answer = sender.post(body, content_type=content_type)
    assert answer.status == 400
    assert reason in answer.body
    assert [reason in line for line in _server_lines(caplog)] == [True]
    assert not any(r.exc_info for r in caplog.records)  # no traceback, from Bolt or anyone


def test_a_signed_rca_without_a_channel_is_a_400(
    sender: EventSender, caplog: pytest.LogCaptureFixture
) -> None:
    fields = slash_command("", channel_id="C0INC", channel_name="inc-1")
    del fields["channel_id"]
    answer = sender.post(
        urlencode(fields).encode(), content_type="application/x-www-form-urlencoded"
    )
    assert answer.status == 400
    assert "channel_id" in answer.body
    assert ["channel_id" in line for line in _server_lines(caplog)] == [True]
    assert not any(r.exc_info for r in caplog.records)


def test_liveness_answers_while_the_process_serves(served: HttpServer) -> None:
    assert get_json(served.url + "/healthz") == (200, {"ok": True})


def test_readiness_names_redis_when_it_does_not_answer(slack: ServedSlack) -> None:
    settings = load_settings(
        slack_bot_token=slack.workspace.token, slack_signing_secret=SECRET, slack_api_url=slack.url
    )
    app = create_app(settings, redis_client=MemoryKeys())
    server = serve_in_thread(app, ready=redis_and_workers("redis://127.0.0.1:1/0", "q"))
    try:
        status, document = get_json(server.url + "/readyz")
    finally:
        server.shutdown()
        server.server_close()
        app.stop()
    assert status == 503
    assert document["ready"] is False
    assert ["redis" in m for m in document["missing"]] == [True]


def test_readiness_waits_for_an_rq_worker_on_the_queue(
    slack: ServedSlack, workers: Workers, names: tuple[str, str]
) -> None:
    settings = load_settings(
        slack_bot_token=slack.workspace.token, slack_signing_secret=SECRET, slack_api_url=slack.url
    )
    app = create_app(settings, redis_client=MemoryKeys())
    empty = serve_in_thread(app, ready=redis_and_workers(REDIS_URL, f"nobody-{uuid.uuid4().hex}"))
    staffed = serve_in_thread(app, ready=redis_and_workers(REDIS_URL, names[1]))
    try:
        status, document = get_json(empty.url + "/readyz")
        assert status == 503
        assert "rq workers" in document["missing"][0]
        assert get_json(staffed.url + "/readyz") == (200, {"ready": True, "missing": []})
    finally:
        for server in (empty, staffed):
            server.shutdown()
            server.server_close()
        app.stop()


def _peak_rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1])


def test_the_bot_process_stays_small_under_hundred_megabyte_bodies(
    slack: ServedSlack, tmp_path: Path
) -> None:
    """``incident-copilot bot`` itself, in HTTP mode: its peak memory barely moves."""
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": slack.workspace.token,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack.url,
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("SLACK_APP_TOKEN", None)
    with (tmp_path / "bot.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "bot", "--port", "0"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
        )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        assert "HTTP on :" in line, (tmp_path / "bot.log").read_text()
        port = int(line.split("HTTP on :")[1].split("/")[0])
        assert get_json(f"http://127.0.0.1:{port}/healthz")[0] == 200
        before = _peak_rss_kib(proc.pid)
        assert stream_post(port, {}, HUNDRED_MB)[0] == 413
        assert stream_post(port, looks_signed(), HUNDRED_MB, chunked=True)[0] == 413
        grown = _peak_rss_kib(proc.pid) - before
        assert grown < 32 * 1024, f"peak RSS grew by {grown} KiB"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0  # a graceful stop on SIGTERM, as Kubernetes sends it
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
