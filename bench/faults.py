"""Benchmark: the fault matrix. Is every summary delivered exactly once, whatever breaks?

Real processes throughout: ``incident-copilot bot`` in HTTP mode, two ``rq worker`` processes, a
``redis-server`` of this run's own (so that it can be stopped), the sandbox's stand-ins for
Datadog, GitHub, Elasticsearch (noida-db) and Slack. Every Datadog request takes ``--latency``
seconds so that an investigation runs long enough to break things in the middle of it.

For each row, a fresh channel gets ``/rca``; the fault strikes; the Slack stand-in is polled
until the summary appears (or ``deadline + 120`` s pass). Printed per row: whether the summary
was delivered, how many summaries and thread details were posted, and the seconds from ``/rca``
to the summary. The target is one summary and one detail in every row.

Rows: the bot SIGKILLed (and started again) at three moments; Redis down for 5, 15 and 60 s;
Slack answering 500 to, or losing the answer of, each call the delivery makes, or hanging past
the client's timeout; a worker SIGKILLed mid-job; Datadog answering with mangled point lists.

Then, for the same issue, the summary lines of ``bench/hostile.py`` and ``bench/inputs.py``
(hostile inputs) and of ``bench/slack_edge.py`` (ack latency, and memory under a 100 MB unsigned
body), each run as its own script.

    .venv/bin/python bench/faults.py [--quick] [--latency 0.5] [--deadline 30]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from sandbox.faults import FAULTS  # noqa: E402
from sandbox.processes import BotProcess, RedisServer  # noqa: E402
from sandbox.scenarios import generate_scenario  # noqa: E402
from sandbox.slack_api import Workspace  # noqa: E402
from sandbox.slack_events import EventSender, slash_command  # noqa: E402
from sandbox.workers import Workers, kill_session  # noqa: E402
from sandbox.world import (  # noqa: E402
    SIGNING_SECRET,
    ServedSlack,
    Standins,
    pipeline_env,
    serving,
    write_catalog,
)

POLL = 0.05


@dataclass
class World:
    """Everything a row acts on."""

    slack: ServedSlack
    standins: Standins
    redis_server: RedisServer
    workers: Workers
    bot: BotProcess
    prefix: str

    @property
    def ws(self) -> Workspace:
        return self.slack.workspace


@dataclass
class Row:
    """One fault and what reached Slack."""

    name: str
    delivered: bool
    summaries: int
    details: int
    seconds: float | None

    @property
    def ok(self) -> bool:
        return self.delivered and self.summaries == 1 and self.details == 1


def _bot_messages(ws: Workspace, channel: str) -> list[dict[str, Any]]:
    return [m for m in ws.messages(channel) if m.get("user") == ws.bot_user_id]


def _is_summary(message: dict[str, Any]) -> bool:
    return any(b.get("type") == "actions" for b in message.get("blocks") or [])


def _summary_ready(world: World) -> bool:
    client = redis.Redis.from_url(world.redis_server.url, socket_timeout=2)
    try:
        return any(True for _ in client.scan_iter(f"{world.prefix}:inv:*:summary"))
    except redis.RedisError:
        return False


def _wait(check: Callable[[], bool], timeout: float) -> bool:
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        if check():
            return True
        time.sleep(POLL)
    return False


def run_row(world: World, name: str, strike: Callable[[World, str], None], deadline: float) -> Row:
    """Open a channel, ``/rca``, strike, and count what reaches the channel."""
    ws = world.ws
    channel = ws.create_channel(f"inc-{uuid.uuid4().hex[:6]}-{name[:40]}".lower().replace(" ", "-"))
    started = time.monotonic()
    EventSender(world.bot.events_url, SIGNING_SECRET).command(
        slash_command("", channel_id=channel.id, channel_name=channel.name)
    )
    strike(world, channel.id)

    def summary() -> dict[str, Any] | None:
        top = [m for m in _bot_messages(ws, channel.id) if "thread_ts" not in m]
        return next((m for m in top if _is_summary(m)), None)

    delivered = _wait(lambda: summary() is not None, deadline + 120)
    seconds = time.monotonic() - started if delivered else None
    time.sleep(5)  # a second post, if any, would come by now
    messages = _bot_messages(ws, channel.id)
    top = [m for m in messages if "thread_ts" not in m]
    found = summary()
    thread = [m for m in messages if found and m.get("thread_ts") == found["ts"]]
    details = [m for m in thread if not m.get("files")]  # the chart is a file of its own
    return Row(name, delivered, sum(_is_summary(m) for m in top), len(details), seconds)


# -- the faults --------------------------------------------------------------------------------


def nothing(world: World, channel: str) -> None:
    """No fault: the reference row."""


def kill_bot_at_once(world: World, channel: str) -> None:
    """SIGKILL right after the ack: the message may not be posted yet."""
    time.sleep(0.05)
    world.bot.kill()
    world.bot.start()


def kill_bot_mid_investigation(world: World, channel: str) -> None:
    """SIGKILL once the progress message is up."""
    _wait(lambda: bool(_bot_messages(world.ws, channel)), 30)
    world.bot.kill()
    world.bot.start()


def kill_bot_at_summary(world: World, channel: str) -> None:
    """SIGKILL the moment the summary is made, before or while it is posted."""
    _wait(lambda: _summary_ready(world), 120)
    world.bot.kill()
    world.bot.start()


def redis_down(seconds: float) -> Callable[[World, str], None]:
    def strike(world: World, channel: str) -> None:
        _wait(lambda: bool(_bot_messages(world.ws, channel)), 30)
        world.redis_server.stop()
        time.sleep(seconds)
        world.redis_server.start()

    strike.__doc__ = f"Redis down for {seconds:g} s from the progress message on."
    return strike


def kill_a_worker(world: World, channel: str) -> None:
    """SIGKILL one worker (main process and work horse) mid-job, and start another."""
    _wait(lambda: bool(_bot_messages(world.ws, channel)), 30)
    time.sleep(0.5)
    victim = world.workers.procs.pop(0)
    kill_session(victim.pid)
    victim.wait(timeout=10)
    world.workers.start(1)


def run_matrix(world: World, *, quick: bool, deadline: float, latency: float) -> list[Row]:
    """Every row, one after another on the same processes."""
    rows: list[tuple[str, Callable[[World, str], None], Callable[[Workspace], None] | None]] = [
        ("no fault", nothing, None),
        ("bot SIGKILL right after the ack", kill_bot_at_once, None),
        ("bot SIGKILL mid-investigation", kill_bot_mid_investigation, None),
        ("bot SIGKILL as the summary is made", kill_bot_at_summary, None),
        ("Redis down 5 s", redis_down(5), None),
        ("Redis down 15 s", redis_down(15), None),
    ]
    if not quick:
        rows.append(("Redis down 60 s", redis_down(60), None))
    slack_rows = [
        ("Slack 500 on chat.postMessage", "chat.postMessage", {"times": 2}),
        ("Slack answer lost, chat.postMessage", "chat.postMessage", {"after": True, "times": 2}),
        ("Slack 500 on chat.update", "chat.update", {"times": 4}),
        ("Slack 503 on conversations.info", "conversations.info", {"status": 503}),
        ("Slack 500 on conversations.history", "conversations.history", {"times": 2}),
    ]
    if not quick:
        slack_rows.append(
            ("Slack timeout on chat.postMessage", "chat.postMessage", {"after": True, "hang": 35})
        )
    for label, method, how in slack_rows:
        rows.append((label, nothing, lambda ws, m=method, h=how: ws.fail(m, **h)))
    rows.append(("worker SIGKILL mid-job", kill_a_worker, None))
    plan = world.standins.apps["datadog"][FAULTS]
    rows.append(("Datadog mangled point lists", nothing, lambda ws: plan.inject(mangled=True)))

    results = []
    for name, strike, before in rows:
        if before is not None:
            before(world.ws)
        row = run_row(world, name, strike, deadline)
        plan.clear()
        plan.latency = latency  # the clear above dropped it too
        results.append(row)
        took = f"{row.seconds:6.1f} s" if row.seconds is not None else "     -  "
        print(
            f"{name:<40} delivered {'yes' if row.delivered else 'NO ':<3}  summaries "
            f"{row.summaries}  details {row.details}  {took}  {'ok' if row.ok else 'FAIL'}",
            flush=True,
        )
    return results


def _other_bench(script: str) -> str | None:
    """The last line of another bench script of this issue, if it exists."""
    path = ROOT / "bench" / script
    if not path.exists():
        return None
    done = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, cwd=ROOT, timeout=900
    )
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return lines[-1] if lines else f"{script}: no output (exit {done.returncode})"


def main() -> None:
    """Run the matrix and print one line against the target."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="skip the 60 s and timeout rows")
    parser.add_argument("--latency", type=float, default=0.5, help="seconds per Datadog request")
    parser.add_argument("--deadline", type=float, default=30.0, help="investigation deadline, s")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    scenario = generate_scenario(seed=args.seed, services=40, fault="bad-deploy")
    prefix = f"faults-{uuid.uuid4().hex[:8]}"
    with (
        tempfile.TemporaryDirectory() as tmp,
        serving(scenario.bundle, seed=args.seed) as standins,
        ServedSlack() as slack,
    ):
        catalog = write_catalog(scenario.bundle, Path(tmp) / "services.yaml")
        redis_server = RedisServer(Path(tmp) / "redis").start()
        env = {
            **pipeline_env(
                standins=standins,
                bundle=scenario.bundle,
                catalog=catalog,
                prefix=prefix,
                queue=prefix,
            ),
            "REDIS_URL": redis_server.url,
            "INVESTIGATION_DEADLINE": str(args.deadline),
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_BOT_TOKEN": slack.workspace.token,
            "SLACK_API_URL": slack.url,
        }
        standins.apps["datadog"][FAULTS].latency = args.latency
        workers = Workers(env, prefix, redis_url=redis_server.url)
        workers.start(2)
        bot = BotProcess(env, log=Path(tmp) / "bot.log").start()
        world = World(slack, standins, redis_server, workers, bot, prefix)
        print(
            f"bot in HTTP mode (pid {bot.proc.pid if bot.proc else '?'}), 2 rq workers, own "
            f"redis-server on :{redis_server.port}, {args.latency:g} s per Datadog request, "
            f"deadline {args.deadline:g} s",
            flush=True,
        )
        try:
            rows = run_matrix(world, quick=args.quick, deadline=args.deadline, latency=args.latency)
        finally:
            bot.stop()
            workers.stop()
            redis_server.stop()
    others = [
        line for s in ("hostile.py", "inputs.py", "slack_edge.py") if (line := _other_bench(s))
    ]
    for line in others:
        print(line)
    good = sum(r.ok for r in rows)
    worst = max((r.seconds or 0.0) for r in rows)
    verdict = "PASS" if good == len(rows) else "FAIL"
    print(
        f"faults: summary delivered exactly once in {good}/{len(rows)} rows (target: all), "
        f"slowest delivery {worst:.1f} s: {verdict}"
    )


if __name__ == "__main__":
    main()
