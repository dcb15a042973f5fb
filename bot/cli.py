"""The ``incident-copilot`` command line.

``rca BUNDLE.json [--json]``   rank the root-cause candidates of a recorded incident
``catalog check PATH``         validate a service catalog and summarise it
``doctor``                     check Slack, Redis, workers, catalog, sources; "ready" or what to fix
``scenario [--fault ...]``     write a generated incident bundle (and its truth) from the sandbox
``investigate --service S``    investigate now against the configured backends, in-process
``bot``                        run the Slack bot: Socket Mode with SLACK_APP_TOKEN, else HTTP

Exit status: 0 on success, 1 when a check finds problems, 2 on invalid input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from investigators.bundle import BundleError, load_bundle
from investigators.rca import RcaResult, rank
from investigators.report import format_result

if TYPE_CHECKING:
    from pydantic import ValidationError

    from bot.settings import Settings
    from investigators.pipeline import Summary


def _cmd_rca(args: argparse.Namespace, out: TextIO) -> int:
    try:
        bundle = load_bundle(args.bundle)
    except BundleError as exc:
        print(f"incident-copilot rca: invalid bundle {args.bundle}: {exc}", file=sys.stderr)
        return 2
    result: RcaResult = rank(bundle)
    if args.json:
        out.write(result.to_json(indent=2) + "\n")
    else:
        out.write(format_result(result, bundle) + "\n")
    return 0


def _cmd_catalog_check(args: argparse.Namespace, out: TextIO) -> int:
    from investigators.catalog import check_catalog

    code, text = check_catalog(args.path)
    (out if code == 0 else sys.stderr).write(text.rstrip("\n") + "\n")
    return code


def _cmd_doctor(args: argparse.Namespace, out: TextIO) -> int:
    import asyncio

    from bot.doctor import run_doctor
    from bot.settings import load_settings

    code, text = asyncio.run(run_doctor(load_settings()))
    out.write(text.rstrip("\n") + "\n")
    return code


def _cmd_scenario(args: argparse.Namespace, out: TextIO) -> int:
    from dataclasses import asdict

    from investigators.bundle import write_bundle
    from sandbox.scenarios import FAULT_TYPES, QUIET, generate_scenario

    fault = None if args.fault == QUIET else args.fault
    if fault not in (None, "random", *FAULT_TYPES):
        print(
            f"incident-copilot scenario: unknown fault {args.fault!r}; use one of "
            f"random, {QUIET}, {', '.join(FAULT_TYPES)}",
            file=sys.stderr,
        )
        return 2
    scenario = generate_scenario(
        seed=args.seed, services=args.services, fault=fault, hours=args.hours
    )
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    write_bundle(scenario.bundle, args.output)
    truth = Path(args.output).with_suffix(".truth.json")
    truth.write_text(json.dumps(asdict(scenario.truth), indent=2) + "\n", encoding="utf-8")
    out.write(
        f"wrote {args.output} ({len(scenario.bundle.services)} services, "
        f"{len(scenario.bundle.metrics)} series) and {truth}\n"
    )
    return 0


def _cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    try:
        from sandbox.demo import DemoOptions, run_demo
        from sandbox.elastic import noida_binary

        noida_binary()
    except (ImportError, RuntimeError) as exc:
        print(
            f"incident-copilot demo needs the sandbox's dependencies ({exc}): "
            "install them with  .venv/bin/pip install -e '.[dev]'",
            file=sys.stderr,
        )
        return 2
    options = DemoOptions(
        fault=args.fault,
        seed=args.seed,
        services=args.services,
        json=args.json,
        keep_running=args.keep_running,
        every=args.every,
        port=args.port,
        in_process=args.in_process,
    )
    return run_demo(options, out)


def _duration(text: str) -> float:
    """``30m``, ``2h``, ``90s`` or plain seconds."""
    units = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
    try:
        if text[-1:] in units:
            return float(text[:-1]) * units[text[-1]]
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration like 30m, 2h or 90s"
        ) from None


def _format_summary(summary: Summary) -> str:
    lines = [
        f"Investigation {summary.investigation_id} of {summary.incident_id} ({summary.finished_by})"
    ]
    root = summary.root_cause
    if root is None:
        lines.append("No root cause found: nothing anomalous in the scanned telemetry.")
    else:
        lines.append(
            f"Root cause: {root.service} (team {root.team}), confidence "
            f"{root.confidence}, score {root.score:.2f}"
        )
        lines += [f"  - {reason}" for reason in root.reasons]
    if summary.symptoms_ruled_out:
        lines.append(f"Symptoms ruled out: {', '.join(summary.symptoms_ruled_out)}")
    if summary.evidence:
        lines.append("Evidence:")
        lines += [
            f"  [{f.id}] {f.service}: {f.title}" + (f"  {f.url}" if f.url else "")
            for f in summary.evidence
        ]
    lines.append(
        "Notify: "
        + (
            f"{summary.notify.slack_group or summary.notify.team} ({summary.notify.service})"
            if summary.notify
            else "nobody"
        )
    )
    for m in summary.sources_missing:
        lines.append(f"Missing: {m.source} ({m.phase}): {m.reason}")
    lines.append("Next steps:")
    lines += [f"  - {step}" for step in summary.next_steps]
    return "\n".join(lines)


def _cmd_investigate(args: argparse.Namespace, out: TextIO) -> int:
    import asyncio
    import time

    from bot.settings import load_settings
    from investigators.bundle import write_bundle
    from investigators.catalog import CatalogError, load_catalog
    from investigators.pipeline import IncidentRequest, LocalExecutor

    config = load_settings().pipeline()
    if not (config.elasticsearch or config.datadog or config.github):
        print(
            "incident-copilot investigate: no data source is configured; set ES_URL, "
            "DD_API_KEY and DD_APP_KEY, or GITHUB_TOKEN (see README, and check with "
            "`incident-copilot doctor`)",
            file=sys.stderr,
        )
        return 2
    try:
        catalog = load_catalog(config.catalog_path)
    except CatalogError as exc:
        print(f"incident-copilot investigate: {exc}", file=sys.stderr)
        return 2
    unknown = [name for name in args.service if catalog.resolve(name) is None]
    if unknown:
        for name in unknown:
            close = catalog.suggest(name)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            print(
                f"incident-copilot investigate: unknown service {name!r}{hint}; services come "
                f"from the catalog {config.catalog_path}",
                file=sys.stderr,
            )
        return 2
    if args.deadline is not None:
        config = config.model_copy(update={"deadline": args.deadline})
    now = time.time()
    request = IncidentRequest(
        incident_id=args.incident or f"cli-{int(now)}",
        started_at=now - args.since,
        until=now,
        services=args.service,
        title=args.title,
    )
    try:
        outcome = asyncio.run(LocalExecutor(config).run(request))
    except (CatalogError, OSError) as exc:
        print(f"incident-copilot investigate: {exc}", file=sys.stderr)
        return 2
    if args.export_bundle:
        write_bundle(outcome.bundle, args.export_bundle)
    if args.json:
        out.write(outcome.summary.model_dump_json(indent=2) + "\n")
    else:
        out.write(_format_summary(outcome.summary) + "\n")
        if args.export_bundle:
            out.write(f"wrote {args.export_bundle}\n")
    return 0


def _preflight(settings: Settings) -> bool:
    """Check the bot's essentials before serving: one line per missing one on stderr, then
    one per warning (README, *Running in production*)."""
    from bot.preflight import bot_start, failures

    checks = bot_start(settings)
    failed = failures(checks)
    for check in failed:
        print(f"incident-copilot bot: {check.name}: {check.summary}", file=sys.stderr)
    if failed:
        return False
    for check in checks:
        if check.status == "warn":
            print(f"incident-copilot bot: warning: {check.name}: {check.summary}", file=sys.stderr)
    ok = ", ".join(f"{c.name} ({c.detail})" for c in checks if c.status == "ok")
    print(f"incident-copilot bot: checked {ok}", file=sys.stderr)
    return True


def _cmd_bot(args: argparse.Namespace, out: TextIO) -> int:
    import logging

    from bot.settings import load_settings

    settings = load_settings()
    if not _preflight(settings):
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    from bot.app import create_app

    app = create_app(settings)
    if settings.socket_mode() and settings.slack_app_token is not None:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        out.write("incident-copilot bot: Socket Mode\n")
        try:
            SocketModeHandler(app, settings.slack_app_token.get_secret_value()).start()
        except KeyboardInterrupt:
            pass
        finally:
            app.stop()  # what is due stays in Redis for the next process
        return 0
    from bot.server import EVENTS_PATH, http_server, redis_and_workers

    config = settings.pipeline()
    server = http_server(
        app,
        port=args.port if args.port is not None else settings.port,
        ready=redis_and_workers(config.redis_url, config.queue),
    )
    port = server.server_address[1]
    out.write(f"incident-copilot bot: HTTP on :{port}{EVENTS_PATH} (/healthz, /readyz)\n")
    out.flush()
    try:
        server.serve_forever()  # until SIGTERM or Ctrl-C, answering the requests in flight
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        app.stop()
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, one sub-command per job."""
    parser = argparse.ArgumentParser(
        prog="incident-copilot",
        description="Slack-native incident copilot: root cause, evidence, the right team.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    rca = sub.add_parser("rca", help="rank root-cause candidates of an incident bundle")
    rca.add_argument("bundle", help="incident bundle (JSON, version 1)")
    rca.add_argument("--json", action="store_true", help="print the result document as JSON")
    rca.set_defaults(handler=_cmd_rca)

    catalog = sub.add_parser("catalog", help="service catalog tools")
    catalog_sub = catalog.add_subparsers(dest="catalog_command", required=True)
    check = catalog_sub.add_parser("check", help="validate a catalog and print a summary")
    check.add_argument("path", help="services.yaml, a Backstage catalog-info.yaml, or a folder")
    check.set_defaults(handler=_cmd_catalog_check)

    doctor = sub.add_parser(
        "doctor", help="check Slack, Redis, the workers, the catalog and every source"
    )
    doctor.set_defaults(handler=_cmd_doctor)

    scenario = sub.add_parser("scenario", help="write a generated incident bundle (sandbox)")
    scenario.add_argument(
        "--fault",
        default="random",
        help="random, quiet, bad-deploy, db-saturation, memory-leak, cpu-hog, "
        "external-outage or config-change",
    )
    scenario.add_argument("--seed", type=int, default=1)
    scenario.add_argument("--services", type=int, default=60)
    scenario.add_argument("--hours", type=float, default=6.0)
    scenario.add_argument("-o", "--output", default="incident-bundle.json")
    scenario.set_defaults(handler=_cmd_scenario)

    demo = sub.add_parser(
        "demo",
        help="the copilot on a simulated company: an incident, the bot, Slack, in the terminal",
    )
    demo.add_argument(
        "--fault",
        default="random",
        help="random, bad-deploy, db-saturation, memory-leak, cpu-hog, external-outage or "
        "config-change",
    )
    demo.add_argument("--seed", type=int, help="the company and incident (default: random)")
    demo.add_argument("--services", type=int, default=60)
    demo.add_argument("--json", action="store_true", help="print the outcome as JSON on stdout")
    demo.add_argument(
        "--keep-running",
        action="store_true",
        help="leave the sandbox up with a web page of the channel, as Slack shows it",
    )
    demo.add_argument("--port", type=int, default=8080, help="the web page's port (8080)")
    demo.add_argument(
        "--every",
        type=float,
        default=300.0,
        help="with --keep-running: seconds between new incidents (default 300; 0: only one)",
    )
    demo.add_argument(
        "--in-process",
        action="store_true",
        help="run investigations in this process even when Redis answers (no rq workers)",
    )
    demo.set_defaults(handler=_cmd_demo)

    investigate = sub.add_parser(
        "investigate", help="investigate an incident now, in-process, with the configured sources"
    )
    investigate.add_argument(
        "--service", action="append", default=[], help="a service named by the incident (repeat)"
    )
    investigate.add_argument(
        "--since", type=_duration, default=30 * 60.0, help="when it started: 30m, 2h (ago)"
    )
    investigate.add_argument("--incident", help="incident id (default: cli-<time>)")
    investigate.add_argument("--title", default="")
    investigate.add_argument("--deadline", type=float, help="seconds (default from settings)")
    investigate.add_argument("--export-bundle", metavar="FILE", help="write the incident bundle")
    investigate.add_argument("--json", action="store_true", help="print the summary as JSON")
    investigate.set_defaults(handler=_cmd_investigate)

    bot = sub.add_parser(
        "bot", help="run the Slack bot (Socket Mode with SLACK_APP_TOKEN, else HTTP on PORT)"
    )
    bot.add_argument("--port", type=int, help="HTTP mode's port (default: PORT or 3000)")
    bot.set_defaults(handler=_cmd_bot)
    return parser


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run one command; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args, out or sys.stdout))
    except Exception as exc:
        # Settings from the environment that cannot be used. pydantic is looked up, not
        # imported: ``rca`` never loads it (start-up time), and then none can have been raised.
        pydantic = sys.modules.get("pydantic")
        if pydantic is None or not isinstance(exc, pydantic.ValidationError):
            raise
        print(_settings_problem(exc), file=sys.stderr)
        return 2


def _settings_problem(exc: ValidationError) -> str:
    """A settings error in environment-variable terms, without echoing any value."""
    lines = [f"incident-copilot: the configuration in the environment is not usable ({exc.title}):"]
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in error["loc"])
        name = where.upper() if exc.title == "Settings" else f"{exc.title} {where}".strip()
        lines.append(f"  - {name}: {error['msg']}")
    lines.append("See README, 'Connecting the backends', for each variable and its values.")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
