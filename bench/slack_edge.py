"""Benchmark: the Slack edge in HTTP mode: acknowledgement latency, and duplicates posted.

Serves the real Bolt app (``bot.app.create_app``, threaded WSGI server, real Redis) against the
Slack Web API stand-in, with an instant in-process pipeline so that only the edge is measured.
Phase 1 sends signed ``channel_created`` events for new incident channels at a steady rate
(default 50 a second for 30 seconds), open-loop, and prints p50/p99 of the time to the HTTP
answer. Phase 2 creates channels and delivers every event three times (the original and two
retries with ``X-Slack-Retry-Num``, concurrently) plus a ``channel_rename`` of the same channel,
and counts messages beyond one per channel. Targets: p99 under 300 ms, 0 duplicates.

    .venv/bin/python bench/slack_edge.py [--rate 50] [--seconds 30] [--channels 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "bot"))  # the Slack stand-in harness the tests use

import redis  # noqa: E402
from slack_testkit import SECRET, ServedSlack, top_level  # noqa: E402

from bot.app import create_app  # noqa: E402
from bot.server import EVENTS_PATH, serve_in_thread  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from investigators.pipeline import Handle, IncidentRequest, ProgressEvent, Record, Summary  # noqa: E402
from sandbox.slack_events import EventSender, event_callback  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/0"
TARGET_P99 = 0.300


class InstantPipeline:
    """A pipeline that concludes at once: the bench measures Slack handling, not investigation."""

    def __init__(self) -> None:
        self.started: dict[str, IncidentRequest] = {}

    def start(self, request: IncidentRequest) -> Handle:
        """Record the request; its summary is ready immediately."""
        investigation_id = uuid.uuid4().hex[:16]
        self.started[investigation_id] = request
        return Handle(investigation_id, request.incident_id, joined=False)

    def progress(self, investigation_id: str, since: int = 0) -> list[ProgressEvent]:
        """No progress to show."""
        return []

    def summary(self, investigation_id: str) -> Summary | None:
        """A summary with no root cause."""
        request = self.started[investigation_id]
        return Summary(
            incident_id=request.incident_id,
            investigation_id=investigation_id,
            finished_by="complete",
            root_cause=None,
            evidence_ids=[],
            evidence=[],
            symptoms_ruled_out=[],
            next_steps=["Check the alert itself."],
            notify=None,
            ranking=[],
            sources_answered=[],
            sources_missing=[],
        )

    def record(self, investigation_id: str) -> Record | None:
        """No record."""
        return None


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _created(ws, name: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    channel = ws.create_channel(name)
    return event_callback(
        {"type": "channel_created", "channel": {"id": channel.id, "name": name, "created": 0}}
    )


def run(rate: float, seconds: float, channels: int) -> bool:
    """Run both phases; True when both meet their targets."""
    prefix = f"bench-slack-{uuid.uuid4().hex[:8]}"
    catalog = ROOT / "manifests" / "services.yaml"
    client = redis.Redis.from_url(REDIS_URL)
    with ServedSlack() as slack:
        settings = load_settings(
            slack_bot_token=slack.workspace.token,
            slack_signing_secret=SECRET,
            slack_api_url=slack.url,
            catalog_path=str(catalog),
            redis_url=REDIS_URL,
            pipeline_key_prefix=prefix,
            pipeline_result_ttl=600,
        )
        app = create_app(settings, executor=InstantPipeline())
        server = serve_in_thread(app)
        sender = EventSender(f"http://127.0.0.1:{server.server_address[1]}{EVENTS_PATH}", SECRET)
        ws = slack.workspace
        try:
            total = int(rate * seconds)
            envelopes = [_created(ws, f"inc-bench-{i}") for i in range(total)]
            latencies: list[float] = []
            statuses: list[int] = []
            with ThreadPoolExecutor(max_workers=64) as pool:
                begin = time.perf_counter()
                futures = []
                for i, envelope in enumerate(envelopes):
                    delay = begin + i / rate - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                    futures.append(pool.submit(sender.event, envelope))
                for future in futures:
                    delivered = future.result()
                    latencies.append(delivered.seconds)
                    statuses.append(delivered.status)
            p50, p99 = _percentile(latencies, 0.5), _percentile(latencies, 0.99)
            failed = sum(1 for s in statuses if s != 200)
            print(
                f"ack latency, {total} events at {rate:g}/s: p50 {p50 * 1000:.1f} ms, "
                f"p99 {p99 * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms, "
                f"mean {statistics.fmean(latencies) * 1000:.1f} ms, non-200: {failed}",
                flush=True,
            )

            names = [f"inc-dup-{i}" for i in range(channels)]
            dup = [_created(ws, name) for name in names]
            with ThreadPoolExecutor(max_workers=32) as pool:
                for envelope in dup:
                    channel = envelope["event"]["channel"]
                    rename = event_callback({"type": "channel_rename", "channel": channel})
                    pool.submit(sender.event, envelope)
                    pool.submit(sender.event, envelope, retry_num=1)
                    pool.submit(sender.event, envelope, retry_num=2)
                    pool.submit(sender.event, rename)
            time.sleep(3)  # let the bot finish posting
            ids = [e["event"]["channel"]["id"] for e in dup]
            posted = [len(top_level(ws, cid)) for cid in ids]
            duplicates = sum(max(0, n - 1) for n in posted)
            missing = sum(1 for n in posted if n == 0)
            print(
                f"duplicates: {channels} channels x (3 deliveries + a rename): "
                f"{duplicates} duplicate messages, {missing} channels without one",
                flush=True,
            )
        finally:
            server.shutdown()
            server.server_close()
            keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
            if keys:
                client.delete(*keys)
    ok = p99 < TARGET_P99 and duplicates == 0 and missing == 0 and failed == 0
    print(
        f"slack edge: p99 {p99 * 1000:.0f} ms (target < {TARGET_P99 * 1000:.0f} ms), "
        f"{duplicates} duplicates (target 0) {'PASS' if ok else 'FAIL'}"
    )
    return ok


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rate", type=float, default=50.0, help="events a second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--channels", type=int, default=200, help="channels in the duplicate run")
    args = parser.parse_args()
    raise SystemExit(0 if run(args.rate, args.seconds, args.channels) else 1)


if __name__ == "__main__":
    main()
