"""The tools the model may use in a thread: logs, metrics, changes, evidence, and why not.

Each tool reads (connectors only ever read) and answers with citable items added to the same
:class:`~investigators.pipeline.brief.Brief`, so a sentence built on a tool result cites it like
any other evidence and links to the source. Errors are values: an unknown service, a source that
is not configured or did not answer come back as ``{"error": ...}`` for the model to report.

Times are relative to now while the incident is recent, and to the end of the investigation's
window when someone asks about an old one (a replay, a post-mortem).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from connectors.base import ChangeSource, LogSource, MetricSource, Registry
from connectors.errors import ConnectorError
from connectors.records import ToolCall
from investigators.catalog import Catalog
from investigators.phrasing import quantity, span
from investigators.pipeline.brief import Brief, clean
from investigators.pipeline.investigation import Plan
from investigators.pipeline.summary import Summary

#: An investigation older than this is looked at from its own window, not from now.
RECENT = 6 * 3600.0
MAX_MINUTES = 24 * 60
MAX_ITEMS = 12
SIGNALS = ("latency", "errors", "traffic", "saturation")

_SERVICE = {"type": "string", "description": "service name or alias from the catalog"}
_MINUTES = {
    "type": "integer",
    "minimum": 1,
    "maximum": MAX_MINUTES,
    "description": "how far back to look, in minutes (default 60)",
}
TOOLS: list[dict[str, Any]] = [
    {
        "name": "search_logs",
        "description": "Error log patterns of one service in the last N minutes, with counts "
        "before and during, samples, and a link to the log search.",
        "input_schema": {
            "type": "object",
            "properties": {
                "service": _SERVICE,
                "minutes": _MINUTES,
                "contains": {"type": "string", "description": "only patterns with this text"},
            },
            "required": ["service"],
        },
    },
    {
        "name": "query_metric",
        "description": "One signal of one service (latency, errors, traffic or saturation): its "
        "baseline, its mean and peak in the last N minutes, and a link to the graph.",
        "input_schema": {
            "type": "object",
            "properties": {
                "service": _SERVICE,
                "signal": {"type": "string", "enum": list(SIGNALS)},
                "minutes": _MINUTES,
            },
            "required": ["service", "signal"],
        },
    },
    {
        "name": "list_changes",
        "description": "Commits, merged pull requests, deployments, releases and change events "
        "of a service (or of the top suspects when no service is given) in the last N minutes.",
        "input_schema": {
            "type": "object",
            "properties": {"service": _SERVICE, "minutes": _MINUTES},
        },
    },
    {
        "name": "show_evidence",
        "description": "Evidence items of this investigation, by id or by service.",
        "input_schema": {
            "type": "object",
            "properties": {
                "ids": {"type": "array", "items": {"type": "string"}},
                "service": _SERVICE,
            },
        },
    },
    {
        "name": "explain_ruled_out",
        "description": "Why the investigation did or did not pick a service as the root cause.",
        "input_schema": {
            "type": "object",
            "properties": {"service": _SERVICE},
            "required": ["service"],
        },
    },
]


class ToolError(Exception):
    """A tool could not answer; the message goes to the model as the result."""


@dataclass(frozen=True, slots=True)
class ToolScope:
    """What the tools may look at: these services, between ``start`` and ``end`` (Unix seconds).

    Made by :func:`investigators.pipeline.qa.tool_scope`: the incident's services and their
    neighbours, any service the person named, and the incident's window with a margin.
    """

    services: frozenset[str]
    start: float
    end: float


def between(start: float, end: float) -> str:
    """``between 15:08 and 16:08 UTC``, with the dates when they are not one day."""
    first, last = (datetime.fromtimestamp(t, UTC) for t in (start, end))
    shape = "%H:%M" if first.date() == last.date() else "%b %d %H:%M"
    return f"between {first.strftime(shape)} and {last.strftime(shape)} UTC"


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def data_json(value: Any) -> str:
    """Redacted JSON in which no ``<`` can open or close a fence."""
    return json.dumps(clean(value), ensure_ascii=False).replace("<", "\\u003c")


class Toolbox:
    """Runs the model's tool calls for one investigation, adding citable items to ``brief``."""

    def __init__(
        self,
        *,
        summary: Summary,
        plan: Plan,
        catalog: Catalog,
        registry: Registry,
        brief: Brief,
        now: float | None = None,
        scope: ToolScope | None = None,
    ) -> None:
        self.summary = summary
        self.scope = scope
        self.plan = plan
        self.catalog = catalog
        self.registry = registry
        self.brief = brief
        now = time.time() if now is None else now
        self.anchor = now if now - plan.window_end < RECENT else plan.window_end
        #: Items the tools added, by the id the brief gave them, as :meth:`Brief.add` took them.
        self.added: dict[str, dict[str, Any]] = {}

    async def run(self, call: ToolCall) -> tuple[str, bool]:
        """The result's content (JSON) and whether it is an error."""
        handler = getattr(self, f"_tool_{call.name}", None)
        if handler is None or call.name not in {t["name"] for t in TOOLS}:
            return data_json({"error": f"no tool called {call.name!r}"}), True
        try:
            ids, note = await handler(**_arguments(call.input))
        except ToolError as exc:
            return data_json({"error": str(exc)}), True
        except ConnectorError as exc:
            return data_json({"error": exc.message}), True
        except TypeError as exc:
            return data_json({"error": f"bad input for {call.name}: {exc}"}), True
        items = [i for i in self.brief.items if i["id"] in ids]
        return data_json({"evidence": items, "note": note}), False

    # --- helpers ----------------------------------------------------------------------------

    def _add(self, **item: Any) -> str:
        """Add a citable item to the brief; its id, and the item in :attr:`added` when new.

        Every item gets a ``finding_id`` from its content when it has none, so the same item
        found again (in this answer or, through the ledger, a later one) keeps its id.
        """
        if not item.get("finding_id"):
            digest = hashlib.sha1(json.dumps(item, sort_keys=True, default=str).encode())
            item["finding_id"] = f"tool-{item.get('source', 'item')}-{digest.hexdigest()[:12]}"
        known = set(self.brief.references)
        item_id = self.brief.add(**item)
        if item_id not in known:
            self.added[item_id] = item
        return item_id

    def _service(self, text: object) -> str:
        if not isinstance(text, str) or not text.strip():
            raise ToolError("a service name is needed")
        found = self.catalog.resolve(text.strip())
        if found is None:
            close = self.catalog.suggest(text.strip())
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ToolError(f"no service called {text.strip()!r} in the catalog{hint}")
        if self.scope is not None and found.name not in self.scope.services:
            raise ToolError(
                f"{found.name} is outside this incident (its services and their neighbours): "
                "ask about it only if the person names it in the question"
            )
        return found.name

    def _window(self, minutes: object) -> tuple[float, float]:
        try:
            span = min(MAX_MINUTES, max(1, int(str(minutes)))) if minutes is not None else 60
        except ValueError as exc:
            raise ToolError(f"minutes should be a whole number, not {minutes!r}") from exc
        if self.scope is None:
            return self.anchor - span * 60.0, self.anchor
        # Within the incident's window (and its margin): the same span, ending there at the latest.
        end = min(self.anchor, self.scope.end)
        return max(self.scope.start, end - span * 60.0), end

    def _connector(self, capability: str, kind: type) -> Any:
        connector = self.registry.get(capability)
        if not isinstance(connector, kind):
            setting = {"logs": "ES_URL", "metrics": "DD_API_KEY", "changes": "GITHUB_TOKEN"}
            raise ToolError(f"{capability} are not configured (set {setting[capability]})")
        return connector

    def _nothing(self, service: str, what: str, start: float, end: float) -> list[str]:
        """A citable item saying a search found nothing (so "nothing changed" is a claim too)."""
        return [
            self._add(
                source="search",
                kind="nothing_found",
                service=service,
                title=f"no {what} {between(start, end)}",
            )
        ]

    # --- tools ------------------------------------------------------------------------------

    async def _tool_search_logs(
        self, service: str, minutes: object = None, contains: str | None = None
    ) -> tuple[list[str], str]:
        name = self._service(service)
        logs: LogSource = self._connector("logs", LogSource)
        start, end = self._window(minutes)
        baseline = (max(self.plan.window_start, start - 2 * 3600.0), start)
        when = datetime.fromtimestamp
        patterns = await logs.top_error_patterns(
            self.catalog.services[name].datadog_service,
            (when(start, UTC), when(end, UTC)),
            (when(baseline[0], UTC), when(baseline[1], UTC)),
            limit=MAX_ITEMS,
        )
        if contains:
            needle = contains.lower()
            patterns = [
                p
                for p in patterns
                if needle in p.pattern.lower() or any(needle in s.lower() for s in p.samples)
            ]
        ids = [
            self._add(
                source="logs",
                kind="new_log_pattern" if p.is_new else "log_pattern",
                service=name,
                title=p.pattern,
                url=p.url,
                numbers={"before": p.count_before, "during": p.count_during},
                samples=p.samples[:2],  # Brief.add redacts, then cuts
                window=[_iso(start), _iso(end)],
            )
            for p in patterns
        ]
        return ids or self._nothing(name, "error log lines", start, end), ""

    async def _tool_query_metric(
        self, service: str, signal: str, minutes: object = None
    ) -> tuple[list[str], str]:
        name = self._service(service)
        if signal not in SIGNALS:
            raise ToolError(f"signal should be one of {', '.join(SIGNALS)}, not {signal!r}")
        metrics: MetricSource = self._connector("metrics", MetricSource)
        start, end = self._window(minutes)
        since = max(self.plan.window_start, start - 2 * 3600.0)
        when = datetime.fromtimestamp
        found = await metrics.signal(signal, when(since, UTC), when(end, UTC))
        record = found.get(self.catalog.services[name].datadog_service) or found.get(name)
        if record is None:
            return self._nothing(name, f"{signal} data", start, end), ""
        times, values = record.as_arrays()
        recent = values[(times >= start) & np.isfinite(values)]
        before = values[(times < start) & np.isfinite(values)]
        if recent.size == 0:
            return self._nothing(name, f"{signal} points", start, end), ""
        numbers = {"recent_mean": float(np.mean(recent)), "recent_peak": float(np.max(recent))}
        if before.size:
            numbers["baseline_median"] = float(np.median(before))
        shown = {k: float(f"{v:.3g}") for k, v in numbers.items()}
        said = {k: quantity(v, record.unit) for k, v in numbers.items()}
        title = f"{signal} averaged {said['recent_mean']}, peaking at {said['recent_peak']}, "
        title += f"over the last {span(end - start)} ({between(start, end)})"
        if "baseline_median" in said:
            title += f"; typically {said['baseline_median']} before"
        item = self._add(
            source="metrics",
            kind="metric",
            service=name,
            title=title,
            url=record.url,
            numbers=shown,
            window=[_iso(start), _iso(end)],
        )
        return [item], ""

    async def _tool_list_changes(
        self, service: str | None = None, minutes: object = None
    ) -> tuple[list[str], str]:
        names = [self._service(service)] if service else self._suspects()
        start, end = self._window(minutes)
        repos = {
            repo: n for n in names if (repo := self.catalog.services[n].github_repo) is not None
        }
        ids: list[str] = []
        note = ""
        changes = self.registry.get("changes")
        metrics = self.registry.get("metrics")
        if not isinstance(changes, ChangeSource) and not isinstance(metrics, MetricSource):
            raise ToolError("no change source is configured (set GITHUB_TOKEN or DD_API_KEY)")
        calls: list[Any] = []
        if isinstance(changes, ChangeSource) and repos:
            calls.append(changes.changes(sorted(repos), datetime.fromtimestamp(start, UTC)))
        if isinstance(metrics, MetricSource):
            when = datetime.fromtimestamp
            calls.append(metrics.events(when(start, UTC), when(end, UTC)))
        answers = await asyncio.gather(*calls, return_exceptions=True)
        for answer in answers:
            if isinstance(answer, ConnectorError):
                note += f"{answer.message}. "
            elif isinstance(answer, BaseException):
                raise answer
            elif isinstance(answer, list):
                ids += self._events(answer, set(names), start, end)
            else:
                ids += self._changes(answer, repos, start, end)
        if not ids and note:
            raise ToolError(note.strip())
        return ids[:MAX_ITEMS] or self._nothing(", ".join(names), "changes", start, end), note

    def _suspects(self) -> list[str]:
        named = list(self.plan.scope.named)
        ranked = [str(r.get("service")) for r in self.summary.ranking[:3]]
        return [n for n in dict.fromkeys(named + ranked) if n in self.catalog.services]

    def _changes(self, found: Any, repos: dict[str, str], start: float, end: float) -> list[str]:
        entries: list[tuple[float, dict[str, Any]]] = []
        for c in found.commits:
            entries.append(
                (
                    c.at.timestamp(),
                    dict(
                        kind="commit",
                        title=c.title,
                        url=c.url,
                        repo=c.repo,
                        author=c.author,
                        ref=c.sha[:10],
                    ),
                )
            )
        for p in found.pull_requests:
            entries.append(
                (
                    p.merged_at.timestamp(),
                    dict(
                        kind="pull_request",
                        title=p.title,
                        url=p.url,
                        repo=p.repo,
                        author=p.author,
                        ref=f"#{p.number}",
                    ),
                )
            )
        for d in found.deployments:
            title = d.description or f"deploy {d.ref} to {d.environment}"
            entries.append(
                (
                    d.created_at.timestamp(),
                    dict(
                        kind="deploy",
                        title=title,
                        url=d.url,
                        repo=d.repo,
                        author=d.creator,
                        ref=d.sha[:10],
                        state=d.state,
                    ),
                )
            )
        for r in found.releases:
            entries.append(
                (
                    r.published_at.timestamp(),
                    dict(
                        kind="release",
                        title=r.name or r.tag,
                        url=r.url,
                        repo=r.repo,
                        author=r.author,
                        ref=r.tag,
                    ),
                )
            )
        ids = []
        for at, e in sorted(entries, key=lambda x: -x[0]):
            if start <= at <= end and e["repo"] in repos:
                ids.append(
                    self._add(
                        source="changes",
                        service=repos[e.pop("repo")],
                        at=_iso(at),
                        finding_id=f"tool-change-{e['kind']}-{e['ref']}",
                        **e,
                    )
                )
        return ids

    def _events(self, events: list[Any], names: set[str], start: float, end: float) -> list[str]:
        ids = []
        for e in sorted(events, key=lambda e: -e.at.timestamp()):
            services = [
                s.name
                for raw in e.services
                if (s := self.catalog.resolve(raw)) is not None and s.name in names
            ]
            at = e.at.timestamp()
            if services and start <= at <= end and e.alert_type not in ("error", "warning"):
                ids.append(
                    self._add(
                        source="events",
                        kind="event",
                        service=services[0],
                        title=e.title,
                        url=e.url,
                        at=_iso(at),
                        finding_id=f"tool-event-{e.id}",
                    )
                )
        return ids

    async def _tool_show_evidence(
        self, ids: list[str] | None = None, service: str | None = None
    ) -> tuple[list[str], str]:
        name = self._service(service) if service else None
        chosen = [
            str(i["id"])
            for i in self.brief.items
            if (not ids or i["id"] in ids) and (name is None or i["service"] == name)
        ]
        if not chosen:
            raise ToolError("no evidence item matches")
        return chosen[:MAX_ITEMS], ""

    async def _tool_explain_ruled_out(self, service: str) -> tuple[list[str], str]:
        name = self._service(service)
        root = self.summary.root_cause
        root_name = root.service if root else None
        ranked = {str(r.get("service")): (i, r) for i, r in enumerate(self.summary.ranking, 1)}
        if name == root_name:
            verdict = "picked as the most likely root cause"
        elif name in self.summary.symptoms_ruled_out:
            verdict = (
                f"anomalous but ruled out as a symptom of {root_name}: its trouble started no "
                "earlier than that dependency's, which is big enough to account for it"
            )
        elif name in ranked:
            verdict = f"ranked #{ranked[name][0]} but not picked"
        else:
            verdict = "showed no anomaly in the scanned telemetry: not a suspect"
        reasons = ranked[name][1].get("reasons") if name in ranked else None
        item = self._add(
            source="ranking",
            kind="explanation",
            service=name,
            title=verdict,
            about=[root_name] if root_name else [],
            reasons=[str(r) for r in reasons] if isinstance(reasons, list) else None,
        )
        return [item], ""


def _arguments(raw: dict[str, Any]) -> dict[str, Any]:
    """The model's input with only string keys (unknown keys make a TypeError, reported)."""
    return {str(k): v for k, v in raw.items()}
