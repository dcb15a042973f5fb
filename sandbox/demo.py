"""``incident-copilot demo``: the whole copilot on a simulated company, watched from the terminal.

It generates a company (about 60 services, teams, a dependency graph), injects an incident,
serves its logs (noida-db), metrics, monitors, changes and a language model through the
sandbox's stand-ins, starts the bot in HTTP mode and the investigation workers (two ``rq worker``
processes when Redis answers on 127.0.0.1:6379, the in-process executor otherwise), opens an
incident channel in the Slack stand-in, and prints what people would see in Slack as it
happens: the "Investigating" message being edited, the summary with its links, who was tagged,
the answer to a thread question, the timings, and the truth it is graded against.

No Slack workspace, no credentials: everything runs on this machine. ``--keep-running`` leaves it
all up with a web page that shows the channel as Slack would.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import re
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import redis
import yaml

from sandbox.elastic import load_logs, replace_logs, running_noida
from sandbox.logs import synthesize_logs
from sandbox.scenarios import FAULT_TYPES, Scenario, generate_scenario
from sandbox.slack_api import Workspace
from sandbox.slack_events import EventSender, event_callback
from sandbox.slack_view import message_to_text
from sandbox.slack_web import serve_slack_web
from sandbox.workers import Workers, cleaned_keys
from sandbox.world import (
    REDIS_URL,
    SIGNING_SECRET,
    ServedSlack,
    Standins,
    llm_env,
    pipeline_env,
    signals_env,
    write_catalog,
)

#: How long the demo waits for the summary, and then for the answer, before giving up.
SUMMARY_TIMEOUT = 120.0
ANSWER_TIMEOUT = 60.0
PLACEHOLDER = "Looking into it"
#: Log documents indexed per incident.
MAX_DOCS = 20_000
#: Lines of the thread's detail message shown in the terminal (Slack folds threads too).
DETAIL_LINES = 8
ALERTS_BOT = "U0ALERTS"


@dataclass(slots=True)
class DemoOptions:
    """What to run: which fault, which seed, how big, and how to show it."""

    fault: str = "random"
    seed: int | None = None
    services: int = 60
    json: bool = False
    keep_running: bool = False
    every: float = 300.0  # with keep_running: seconds between incidents (0: just the one)
    port: int = 8080
    host: str = "127.0.0.1"
    in_process: bool = False  # the in-process executor even when Redis answers


@dataclass(slots=True)
class DemoResult:
    """What happened, for ``--json`` and for the closing lines."""

    fault: str
    seed: int
    services: int
    executor: str
    channel: str = ""
    first_message_seconds: float | None = None
    summary_seconds: float | None = None
    answer_seconds: float | None = None
    root_cause: str | None = None
    tagged: list[str] = field(default_factory=list)
    narrative: str = ""
    question: str = ""
    answer: str = ""
    summary_text: str = ""
    updates: list[dict[str, Any]] = field(default_factory=list)
    truth: dict[str, Any] = field(default_factory=dict)
    root_cause_right: bool = False
    tag_right: bool = False
    wrong_tag: bool = False


def group_id(team: str) -> str:
    """The Slack user-group id the demo's catalog gives a team."""
    return "S0" + "".join(c for c in team.upper() if c.isalnum()).ljust(6, "X")[:12]


def demo_catalog(scenario: Scenario, path: Path) -> dict[str, str]:
    """Write the company's catalog with a user group per team; the groups' handles by id."""
    write_catalog(scenario.bundle, path)
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    groups: dict[str, str] = {}
    for team, entry in document["teams"].items():
        entry["slack_group"] = group_id(team)
        groups[group_id(team)] = f"{team}-oncall"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return groups


def redis_reachable(url: str = REDIS_URL) -> bool:
    """Whether a Redis server answers at ``url`` within half a second."""
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


class Display:
    """Progress and Slack's view, in the terminal; quiet on stdout when the output is JSON."""

    def __init__(self, out: TextIO, *, json_mode: bool) -> None:
        self.out = sys.stderr if json_mode else out
        self.started = time.monotonic()
        self.color = not json_mode and getattr(out, "isatty", lambda: False)()

    def _dim(self, text: str) -> str:
        return f"\033[2m{text}\033[0m" if self.color else text

    def _bold(self, text: str) -> str:
        return f"\033[1m{text}\033[0m" if self.color else text

    def step(self, text: str) -> None:
        """One line of progress, with the seconds since the demo began."""
        stamp = self._dim(f"[{time.monotonic() - self.started:6.1f}s]")
        self.out.write(f"{stamp} {text}\n")
        self.out.flush()

    def slack(self, title: str, body: str) -> None:
        """A Slack message as it reads in the channel, boxed."""
        width = max(60, min(100, max((len(line) for line in body.splitlines()), default=0) + 4))
        self.out.write(f"┌─ {self._bold(title)} " + "─" * max(0, width - len(title) - 4) + "\n")
        for line in body.splitlines() or [""]:
            self.out.write(f"│ {line}\n")
        self.out.write("└" + "─" * (width - 1) + "\n")
        self.out.flush()


def _bot_top_level(ws: Workspace, channel: str) -> list[dict[str, Any]]:
    return [
        m
        for m in ws.messages(channel)
        if m.get("user") == ws.bot_user_id and m.get("thread_ts", m["ts"]) == m["ts"]
    ]


def _bot_replies(ws: Workspace, channel: str, thread_ts: str) -> list[dict[str, Any]]:
    """The bot's messages in a thread; the files it shares there (the chart) are not replies."""
    return [
        m
        for m in ws.messages(channel)
        if m.get("thread_ts") == thread_ts
        and m["ts"] != thread_ts
        and m.get("user") == ws.bot_user_id
        and not m.get("files")
    ]


def _is_summary(message: dict[str, Any]) -> bool:
    return any(b.get("type") == "actions" for b in message.get("blocks") or [])


def _tagged(message: dict[str, Any], groups: dict[str, str]) -> list[str]:
    text = json.dumps(message)
    return sorted({groups.get(g, g) for g in re.findall(r"<!subteam\^(S[A-Z0-9]+)", text)})


def _until(check: Callable[[], Any], timeout: float, poll: float = 0.05) -> Any:
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        found = check()
        if found:
            return found
        time.sleep(poll)
    return None


def run_demo(options: DemoOptions, out: TextIO) -> int:
    """Run the demo: 0 when the summary was posted, 1 when it never came, 2 on bad options."""
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(1, 10_000)
    fault = options.fault
    if fault not in ("random", *FAULT_TYPES):
        print(f"unknown fault {fault!r}: use random or one of {', '.join(FAULT_TYPES)}", file=out)
        return 2
    show = Display(out, json_mode=options.json)
    scenario = generate_scenario(seed=seed, services=options.services, fault=fault)
    truth = scenario.truth
    teams = {s.team for s in scenario.bundle.services}
    show.step(
        f"generated a company of {len(scenario.bundle.services)} services and {len(teams)} teams "
        f"(seed {seed}); injected a {truth.fault} incident"
    )
    try:
        with ExitStack() as stack:
            return _run(options, scenario, seed, show, stack, out)
    except KeyboardInterrupt:
        show.step("stopped")
        return 0


def _run(
    options: DemoOptions,
    scenario: Scenario,
    seed: int,
    show: Display,
    stack: ExitStack,
    out: TextIO,
) -> int:
    from bot.app import create_app
    from bot.dedupe import MemoryKeys
    from bot.server import EVENTS_PATH, serve_in_thread
    from bot.settings import PIPELINE_CONFIG_REF, load_settings
    from investigators.pipeline import InProcessExecutor, RqExecutor

    bundle = scenario.bundle
    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="incident-copilot-demo-")))
    show.step("starting the Elasticsearch-API server (noida-db) and indexing the company's logs…")
    noida = stack.enter_context(running_noida())
    asyncio.run(load_logs(noida, synthesize_logs(bundle, max_docs=MAX_DOCS, seed=seed)))
    standins = stack.enter_context(Standins(bundle, noida))
    slack: ServedSlack = stack.enter_context(ServedSlack())
    show.step(
        "serving the stand-ins: Datadog, GitHub, Elasticsearch, Anthropic and Slack on 127.0.0.1"
    )
    groups = demo_catalog(scenario, tmp / "services.yaml")
    # Later incidents (--keep-running) happen in the same company; the workers learn every
    # metric name they may carry now, because they read their settings once.
    later = (
        [
            generate_scenario(
                seed=seed + n, services=len(bundle.services), fault=f, company=scenario.company
            )
            for n, f in enumerate(FAULT_TYPES, start=1)
        ]
        if options.keep_running and options.every > 0
        else []
    )
    tag = uuid.uuid4().hex[:8]
    prefix = queue = f"demo-{tag}"
    env = {
        **pipeline_env(
            standins=standins,
            bundle=bundle,
            catalog=tmp / "services.yaml",
            prefix=prefix,
            queue=queue,
        ),
        **llm_env(standins),
    }
    env.update(signals_env([s.bundle for s in (scenario, *later)]))
    os.environ.update(env)
    settings = load_settings(
        slack_bot_token=slack.workspace.token,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack.url,
    )
    config = settings.pipeline()
    if not options.in_process and redis_reachable():
        stack.enter_context(cleaned_keys(prefix, queue))
        workers = Workers(env, queue)
        workers.start(2)
        stack.callback(workers.stop)
        executor: Any = RqExecutor(config, config_ref=PIPELINE_CONFIG_REF)
        state: Any = redis.Redis.from_url(REDIS_URL)
        kind = "2 rq workers on Redis"
    else:
        executor = InProcessExecutor(config)
        stack.callback(executor.close)
        state = MemoryKeys()
        why = "as asked" if options.in_process else "no Redis on 127.0.0.1:6379"
        kind = f"the in-process executor ({why})"
    show.step(f"investigations run on {kind}")
    clock = IncidentClock(bundle.incident.started_at)
    app = create_app(settings, executor=executor, redis_client=state, clock=clock)
    stack.callback(app.stop)
    server = serve_in_thread(app)
    stack.callback(server.server_close)
    stack.callback(server.shutdown)
    bot_url = f"http://127.0.0.1:{server.server_address[1]}{EVENTS_PATH}"
    show.step(f"the bot listens in HTTP mode at {bot_url}")

    result = _new_result(scenario, executor)
    ok = _incident(slack.workspace, bot_url, scenario, groups, show, result)
    if options.json:
        out.write(json.dumps(_as_json(result), indent=2) + "\n")
    else:
        _closing(show, result)
    if options.keep_running and ok:
        page = serve_slack_web(
            slack.workspace,
            host=options.host,
            port=options.port,
            bot_events_url=bot_url,
            signing_secret=SIGNING_SECRET,
            groups=groups,
        )
        stack.callback(page.stop)
        show.step(
            f"the channel, as Slack would show it: {page.url}/ (ask questions in the thread "
            "there; Ctrl-C stops everything)"
        )
        for number, nxt in enumerate(itertools.cycle(later), start=1):
            time.sleep(options.every)
            show.step(f"a new incident (#{number + 1}): a {nxt.truth.fault}; loading its data…")
            standins.switch(nxt.bundle)
            asyncio.run(
                replace_logs(noida, synthesize_logs(nxt.bundle, max_docs=MAX_DOCS, seed=nxt.seed))
            )
            clock.restart(nxt.bundle.incident.started_at)
            more = _new_result(nxt, executor)
            _incident(slack.workspace, bot_url, nxt, groups, show, more)
            _closing(show, more)
        while True:  # only the one incident: stay up until Ctrl-C
            time.sleep(3600)
    return 0 if ok else 1


def _incident(
    ws: Workspace,
    bot_url: str,
    scenario: Scenario,
    groups: dict[str, str],
    show: Display,
    result: DemoResult,
) -> bool:
    bundle, truth = scenario.bundle, scenario.truth
    where = bundle.incident.symptom_services[0] if bundle.incident.symptom_services else "edge"
    name = f"inc-{random.SystemRandom().randrange(1000, 9999)}-{where}"[:80]
    channel = ws.create_channel(name, topic=bundle.incident.title)
    result.channel = f"#{channel.name}"
    ws.post_as_user(channel.id, f"[Triggered] {bundle.incident.title}", user=ALERTS_BOT)
    sender = EventSender(bot_url, SIGNING_SECRET)
    show.step(f"opened #{channel.name} (an alert is its first message); Slack tells the bot")
    opened = time.monotonic()
    sender.event(
        event_callback(
            {
                "type": "channel_created",
                "channel": {"id": channel.id, "name": channel.name, "created": int(time.time())},
            }
        )
    )
    seen: dict[str, str] = {}
    summary: dict[str, Any] | None = None
    until = opened + SUMMARY_TIMEOUT
    while time.monotonic() < until and summary is None:
        for message in _bot_top_level(ws, channel.id):
            shown = message_to_text(message, groups=groups)
            if seen.get(message["ts"]) == shown:
                continue
            at = time.monotonic() - opened
            if not seen:
                result.first_message_seconds = at
            seen[message["ts"]] = shown
            result.updates.append({"seconds": round(at, 2), "text": shown})
            if _is_summary(message):
                summary = message
                result.summary_seconds = at
            else:
                show.slack(f"#{channel.name} · bot · +{at:.1f}s", shown)
        time.sleep(0.05)
    if summary is None:
        show.step(f"no summary within {SUMMARY_TIMEOUT:.0f} s: something is wrong (see above)")
        return False
    result.summary_text = seen[summary["ts"]]
    result.tagged = _tagged(summary, groups)
    result.root_cause = _root_of(summary)
    result.narrative = "shown" if "What happened" in result.summary_text else "unavailable"
    result.root_cause_right = result.root_cause == truth.root
    expected = [f"{truth.team}-oncall"] if truth.team else []
    result.tag_right = result.tagged == expected
    result.wrong_tag = any(t not in expected for t in result.tagged)
    show.slack(
        f"#{channel.name} · bot · summary at +{result.summary_seconds:.1f}s", result.summary_text
    )
    who = ", ".join(f"@{t}" for t in result.tagged) or "nobody (not confident enough)"
    show.step(f"tagged: {who}")
    details = _bot_replies(ws, channel.id, summary["ts"])
    if details:
        lines = message_to_text(details[0], groups=groups).splitlines()
        head = lines[:DETAIL_LINES]
        if len(lines) > DETAIL_LINES:
            head.append(f"… {len(lines) - DETAIL_LINES} more lines in the thread")
        show.slack(f"#{channel.name} · thread · details", "\n".join(head))
    question = thread_question(summary, fallback=where)
    _ask(ws, sender, channel.id, summary["ts"], question, groups, show, result)
    return True


def thread_question(summary: dict[str, Any], *, fallback: str) -> str:
    """The demo's question in the summary's thread, as someone reading it would ask: about the
    service the bot named (never the truth, which nobody in the channel knows), or about
    ``fallback``, where the alert fired, when it named none."""
    return f"what changed in {_root_of(summary) or fallback} in the last hour?"


def _root_of(summary: dict[str, Any]) -> str | None:
    """The service the summary's header names as the likely root cause, if it names one."""
    for block in summary.get("blocks") or []:
        if block.get("type") == "header":
            text = str(block["text"].get("text", ""))
            # "Likely root cause: X", or with its confidence: "Likely root cause (high …): X".
            if text.startswith("Likely root cause") and ": " in text:
                return text.rpartition(": ")[2].strip() or None
    return None


def _ask(
    ws: Workspace,
    sender: EventSender,
    channel: str,
    thread_ts: str,
    question: str,
    groups: dict[str, str],
    show: Display,
    result: DemoResult,
) -> None:
    result.question = question
    show.step(f'someone asks in the thread: "{question}"')
    asked = time.monotonic()
    before = {m["ts"] for m in _bot_replies(ws, channel, thread_ts)}
    ts = ws.post_as_user(channel, question, user="U0ONCALL", thread_ts=thread_ts)
    sender.event(
        event_callback(
            {
                "type": "message",
                "channel": channel,
                "user": "U0ONCALL",
                "text": question,
                "ts": ts,
                "thread_ts": thread_ts,
            }
        )
    )

    def answered() -> dict[str, Any] | None:
        for m in _bot_replies(ws, channel, thread_ts):
            if m["ts"] not in before and PLACEHOLDER not in str(m.get("text", "")):
                return m
        return None

    found = _until(answered, ANSWER_TIMEOUT)
    if found is None:
        show.step(f"no answer within {ANSWER_TIMEOUT:.0f} s")
        return
    result.answer_seconds = time.monotonic() - asked
    result.answer = message_to_text(found, groups=groups)
    show.slack(f"thread · bot · answer at +{result.answer_seconds:.1f}s", result.answer)


def _closing(show: Display, result: DemoResult) -> None:
    def seconds(value: float | None) -> str:
        return f"{value:.1f} s" if value is not None else "never"

    show.step(
        f"timings: first message {seconds(result.first_message_seconds)}, summary "
        f"{seconds(result.summary_seconds)}, thread answer {seconds(result.answer_seconds)}"
    )
    truth = result.truth
    verdict = "right" if result.root_cause_right else "WRONG"
    tags = "right" if result.tag_right else "WRONG" if result.wrong_tag else "none (not confident)"
    show.step(
        f"truth: a {truth['fault']} on {truth['root']} (team {truth['team']}); the bot said "
        f"{result.root_cause or 'nothing'}: {verdict}; tagging {tags}"
    )


def _as_json(result: DemoResult) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(result)


def _new_result(scenario: Scenario, executor: object) -> DemoResult:
    from investigators.pipeline import RqExecutor

    truth = scenario.truth
    return DemoResult(
        fault=truth.fault,
        seed=scenario.seed,
        services=len(scenario.bundle.services),
        executor="rq" if isinstance(executor, RqExecutor) else "in-process",
        truth={"root": truth.root, "team": truth.team, "fault": truth.fault},
    )


class IncidentClock:
    """The bot's "now": 15 minutes into the current incident, running at real speed."""

    def __init__(self, started_at: float) -> None:
        self.restart(started_at)

    def restart(self, started_at: float) -> None:
        """Move to the next incident."""
        self.anchor = started_at + 900
        self.opened = time.time()

    def __call__(self) -> float:
        return self.anchor + (time.time() - self.opened)
