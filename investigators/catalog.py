"""The service catalog: which services exist, who owns them, and what each depends on.

Two formats load into the same :class:`Catalog`:

* ``manifests/services.yaml`` (ours): a top-level ``services:`` list and an optional ``teams:``
  list or mapping whose ``slack_group`` services inherit; that file documents every field.
* Backstage ``catalog-info.yaml`` files, read by :mod:`investigators.backstage`: Components and
  Resources become services, Groups become teams, other kinds are skipped.

A path is one file (its format told by its content) or a directory, whose ``*.yaml``/``*.yml``
files are read recursively (hidden directories skipped, YAML in neither format ignored). Formats
may be mixed; a Backstage ``component:``/``resource:`` reference in the default namespace also
finds a services.yaml entry.

Naming rule for Backstage: a service is named by its plain ``metadata.name``, the name Datadog
tags and people in Slack use, whatever its namespace. Namespaces still decide what a reference
points at: ``resource:ops/payments-db`` finds only the entity in namespace ``ops``, and a
reference without a namespace means the referring entity's own. Two entities with one name in
different namespaces (or of different kinds) are therefore an error naming both: rename one, or
check one namespace's files at a time. Teams are likewise named by the plain group name.

Loading collects every problem and raises one :class:`CatalogError`, each line naming the file,
the entry, what is wrong and what to do, for example ``manifests/services.yaml: services[3]
(checkout): depends_on[0] 'paymnets' is not a known service (did you mean 'payments'?)``. Only the
first :data:`MAX_PROBLEMS` are written out (and searched for a "did you mean"); the rest are
counted, so a hostile file (a block of 2,000 unknown keys merged into 2,000 entries) is reported
in moments. YAML merges (``<<: *defaults``) are looked through, not copied into every entry, and
keys must be plain values (not lists or mappings); nesting past what the YAML reader can follow
is named by its line.
"""

from __future__ import annotations

import difflib
import functools
import itertools
import re
from collections import ChainMap, Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import networkx as nx
import yaml

from investigators import backstage
from investigators.backstage import Link
from investigators.bundle import Service
from investigators.servicegraph import build_graph, summarize

KINDS = (
    "service", "website", "worker", "lambda", "library", "database", "queue", "cache", "storage",
    "external", "other",
)  # fmt: skip
MAX_PROBLEMS = 50
#: Nesting named when a file is too deep for the YAML reader; a catalog needs six levels or so.
MAX_DEPTH = 50
UNKNOWN_FIELDS = "unknown fields"
SERVICE_FIELDS = (
    "name", "team", "slack_group", "depends_on", "aliases", "github_repo", "datadog_service",
    "log_filter", "kind", "system",
)  # fmt: skip
TEAM_FIELDS = ("handle", "slack_group", "display_name")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_SLACK_GROUP = re.compile(r"^(?:@[a-z0-9][a-z0-9._-]*|S[A-Z0-9]{6,})$")
_GITHUB_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+$")
_LOOKS_LIKE_CATALOG = re.compile(r"^services\s*:|backstage\.io/", re.MULTILINE)
_FIX_YAML = "fix the YAML there (indentation, a missing ':', or quote the value)"
_NAMESPACE_CLASH = "services are named by metadata.name alone, whatever their namespace: rename one"
_WANTED = (
    "expected a top-level 'services:' list or Backstage entities (apiVersion: backstage.io/...)"
)


class CatalogError(ValueError):
    """A catalog that cannot be used: one line per problem (the first 50), ``total`` of them.

    ``unshown`` counts problems found past the first 50 that were never written out, by what
    they are (``""`` for any other problem).
    """

    def __init__(
        self, problems: Sequence[str], *, unshown: Mapping[str, int] | None = None
    ) -> None:
        self.problems = list(problems[:MAX_PROBLEMS])
        self.unshown = Counter(unshown or {})
        self.unshown[""] += len(problems) - len(self.problems)
        self.total = len(self.problems) + self.unshown.total()
        more = [self.more()] if self.total > len(self.problems) else []
        super().__init__("\n".join([*self.problems, *more]))

    def more(self) -> str:
        """``... and 3,980 more unknown fields``: what was found past the lines shown."""
        count = self.total - len(self.problems)
        kinds = [(n, kind) for kind, n in self.unshown.most_common() if kind and n]
        if kinds and kinds[0][0] == count:
            return f"... and {count:,} more {kinds[0][1]}"
        detail = ", ".join(f"{n:,} {kind}" for n, kind in kinds)
        return f"... and {count:,} more" + (f" ({detail} among them)" if detail else "")


class _Problems:
    """Problems as they are found: the first :data:`MAX_PROBLEMS` in full, the rest counted."""

    def __init__(self) -> None:
        self.shown: list[str] = []
        self.unshown: Counter[str] = Counter()

    @property
    def full(self) -> bool:
        """Whether another problem would go unshown (so it needs no message, nor a suggestion)."""
        return len(self.shown) >= MAX_PROBLEMS

    def append(self, text: str, *, kind: str = "") -> None:
        if self.full:
            self.unshown[kind] += 1
        else:
            self.shown.append(text)

    def count(self, n: int, *, kind: str = "") -> None:
        """Problems found once the list is full, counted without writing them out."""
        self.unshown[kind] += n

    def __iadd__(self, texts: Iterable[str]) -> _Problems:
        for text in texts:
            self.append(text)
        return self

    def __len__(self) -> int:
        return len(self.shown) + self.unshown.total()

    def error(self) -> CatalogError:
        return CatalogError(self.shown, unshown=self.unshown)


@dataclass(frozen=True)
class Team:
    """A team that owns services; its ``slack_group`` is what the copilot tags."""

    handle: str
    slack_group: str | None = None
    display_name: str = ""

    def __post_init__(self) -> None:
        if not self.display_name:
            object.__setattr__(self, "display_name", self.handle)


@dataclass(frozen=True)
class CatalogService:
    """A service; ``slack_group`` falls back to the team's and ``datadog_service`` to ``name``."""

    name: str
    team: str
    depends_on: tuple[str, ...] = ()
    kind: str = "service"
    aliases: tuple[str, ...] = ()
    slack_group: str | None = None
    github_repo: str | None = None
    datadog_service: str = ""
    log_filter: str | None = None
    source: str = ""
    system: str | None = None

    def __post_init__(self) -> None:
        if not self.datadog_service:
            object.__setattr__(self, "datadog_service", self.name)


class Catalog:
    """Services (in catalog order) and teams, looked up by name, alias or Datadog service."""

    def __init__(
        self,
        services: Iterable[CatalogService],
        *,
        teams: Iterable[Team] = (),
        sources: Iterable[str] = (),
    ) -> None:
        self.services: dict[str, CatalogService] = {s.name: s for s in services}
        self.teams: dict[str, Team] = {t.handle: t for t in teams}
        for s in self.services.values():
            self.teams.setdefault(s.team, Team(s.team))
        self.sources = tuple(sources)
        datadog: dict[str, set[str]] = {}
        for s in self.services.values():
            datadog.setdefault(s.datadog_service.lower(), set()).add(s.name)
        # Weakest first, so names beat aliases and aliases beat (unambiguous) Datadog services.
        self._lookup = {tag: min(names) for tag, names in datadog.items() if len(names) == 1}
        for s in self.services.values():
            self._lookup.update((alias.lower(), s.name) for alias in s.aliases)
        self._lookup.update((name.lower(), name) for name in self.services)

    def resolve(self, name_or_alias: str) -> CatalogService | None:
        """The service called this (case-insensitive: name, alias or Datadog service), if any."""
        name = self._lookup.get(name_or_alias.strip().lower())
        return None if name is None else self.services[name]

    def suggest(self, name: str, n: int = 3) -> list[str]:
        """Up to ``n`` service names closest to ``name``, for "did you mean"."""
        return _close(name.strip().lower(), self._lookup, n=n)

    def team_of(self, service: CatalogService | str) -> Team:
        """The team owning a service (given as object, name or alias); KeyError if unknown."""
        found = self.resolve(service) if isinstance(service, str) else service
        if found is None:
            raise KeyError(f"unknown service {service!r}")
        return self.teams.get(found.team) or Team(found.team)

    def to_services(self) -> list[Service]:
        """The services as the root-cause engine's graph nodes."""
        return [Service(s.name, s.team, s.depends_on, s.kind) for s in self.services.values()]

    def graph(self) -> nx.DiGraph:
        """The dependency graph, caller -> callee."""
        return build_graph(self.to_services())


# ---------------------------------------------------------------------------------------------
# Loading


@dataclass
class _Draft:
    """A service before its references are resolved."""

    service: CatalogService
    links: list[Link]
    ids: tuple[str, ...] = ()  # Backstage keys other entities may refer to it by
    soft_aliases: tuple[str, ...] = ()  # Backstage titles: aliases only when nobody else has them
    labels: Mapping[str, str] = field(default_factory=dict)  # where a field came from, if renamed
    from_backstage: bool = False
    declared_teams_only: bool = False


@dataclass
class _Loaded:
    drafts: list[_Draft] = field(default_factory=list)
    teams: list[tuple[Team, str, Mapping[str, str]]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    problems: _Problems = field(default_factory=_Problems)


def load_catalog(path: str | Path) -> Catalog:
    """Read a catalog file or directory; :class:`CatalogError` lists every problem found."""
    root = Path(path)
    if root.is_dir():
        files = sorted(
            p
            for p in root.rglob("*")
            if p.suffix in (".yaml", ".yml")
            and p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(root).parts)
        )
    elif root.is_file():
        files = [root]
    else:
        raise CatalogError(
            [
                f"{root}: no such file or directory; give services.yaml, "
                "a catalog-info.yaml or a directory holding them"
            ]
        )
    loaded = _Loaded()
    for file in files:
        _load_file(file, loaded, explicit=file == root)
    if not loaded.sources and not loaded.problems:
        raise CatalogError([f"{root}: no catalog found in any *.yaml below it; {_WANTED}"])
    catalog = _finish(loaded)
    if loaded.problems:
        raise loaded.problems.error()
    return catalog


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate and unhashable keys and looks through merges.

    PyYAML copies every merged key into every mapping that merges it, so one block of 2,000 keys
    merged into 2,000 entries costs four million insertions; a :class:`~collections.ChainMap`
    over the merged mappings reads the same and costs nothing.
    """


_MERGE = "tag:yaml.org,2002:merge"


def _mapping_without_duplicates(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    own: dict[Any, Any] = {}
    merged: list[dict[Any, Any]] = []  # the one that wins first, as PyYAML decides
    for key_node, value_node in node.value:
        if key_node.tag == _MERGE:
            merged[:0] = _merged(loader, node, value_node)
            continue
        key = loader.construct_object(key_node)
        try:
            duplicate = key in own
        except TypeError:  # a list or a mapping as a key: `? [a, b] : 1`
            raise yaml.constructor.ConstructorError(
                problem=f"a key must be a word like 'name', not {_describe(key)}",
                problem_mark=key_node.start_mark,
            ) from None
        if duplicate:
            raise yaml.constructor.ConstructorError(
                problem=f"duplicate key {key!r} (remove or merge one)",
                problem_mark=key_node.start_mark,
            )
        own[key] = loader.construct_object(value_node)
    # Read-only to everything downstream, so a view passes for the dict PyYAML would build.
    return cast(dict[Any, Any], ChainMap(own, *merged)) if merged else own


def _merged(loader: _Loader, node: yaml.MappingNode, value_node: yaml.Node) -> list[dict[Any, Any]]:
    """The mappings a ``<<`` key merges, the one that wins first."""
    nodes = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
    if not all(isinstance(n, yaml.MappingNode) for n in nodes):
        raise yaml.constructor.ConstructorError(
            "while constructing a mapping",
            node.start_mark,
            "'<<' merges a mapping or a list of mappings, not a single value",
            value_node.start_mark,
        )
    return [loader.construct_object(n) for n in nodes]


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def _too_deep(name: str, text: str) -> str:
    """The problem of a file nested past what the YAML reader can follow, naming the line.

    Only called once reading it failed (RecursionError): PyYAML's parser is iterative, so its
    events can be walked to the first collection :data:`MAX_DEPTH` deep.
    """
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH and event.start_mark is not None:
                    at = f"line {event.start_mark.line + 1}, column {event.start_mark.column + 1}"
                    return (
                        f"{name}: {at}: lists or mappings nested more than {MAX_DEPTH} deep (a "
                        "catalog needs a few); flatten or remove what starts there"
                    )
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        pass
    return f"{name}: lists or mappings nested too deeply to read; flatten them"


def _load_file(file: Path, loaded: _Loaded, *, explicit: bool) -> None:
    name, problems = str(file), loaded.problems
    try:
        text = file.read_text(encoding="utf-8")
        documents = list(yaml.load_all(text, Loader=_Loader))
    except (OSError, UnicodeDecodeError) as exc:
        if explicit:
            problems.append(f"{name}: cannot read it ({exc}); check the path and that it is UTF-8")
        return
    except yaml.YAMLError as exc:
        if explicit or _LOOKS_LIKE_CATALOG.search(text):
            problems.append(_yaml_problem(name, exc))
        return
    except RecursionError:
        if explicit or _LOOKS_LIKE_CATALOG.search(text):
            problems.append(_too_deep(name, text))
        return
    prefix = backstage.API_VERSION_PREFIX
    if any(
        isinstance(d, Mapping) and str(d.get("apiVersion", "")).startswith(prefix)
        for d in documents
    ):
        entities, groups, found = backstage.read_documents(name, documents)
        problems += found
        _add_backstage(entities, groups, loaded=loaded)
    elif len(documents) == 1 and isinstance(documents[0], Mapping) and "services" in documents[0]:
        _read_manifest(name, documents[0], loaded=loaded)
    else:
        if explicit:
            problems.append(f"{name}: not a catalog; {_WANTED}")
        return
    loaded.sources.append(name)


def _yaml_problem(name: str, exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark, context = exc.problem_mark, f" ({exc.context})" if exc.context else ""
        at = f"line {mark.line + 1}, column {mark.column + 1}"
        return f"{name}: {at}: invalid YAML{context}: {exc.problem}; {_FIX_YAML}"
    return f"{name}: invalid YAML: {exc}; {_FIX_YAML}"


class _Entry:
    """One mapping of a services.yaml file, read field by field; problems are appended."""

    def __init__(self, data: Mapping[Any, Any], *, where: str, problems: _Problems) -> None:
        self.data, self.where, self.problems = data, where, problems

    def only(self, allowed: tuple[str, ...]) -> None:
        # Counted by lookups, not by a walk over the keys: an entry may merge thousands of them.
        unknown = len(self.data) - sum(1 for key in allowed if key in self.data)
        for key in self.data if unknown else ():
            if key in allowed:
                continue
            if self.problems.full:
                self.problems.count(unknown, kind=UNKNOWN_FIELDS)
                return
            hint = _did_you_mean(str(key), allowed)
            self.problems.append(
                f"{self.where}: unknown field {_quoted(key)}{hint}; {_known(allowed)}",
                kind=UNKNOWN_FIELDS,
            )
            unknown -= 1

    def text(self, key: str, *, required: str = "") -> str | None:
        value = self.data.get(key)
        if value is None:
            if required:
                self.problems.append(f"{self.where}: missing {key}; {required}")
            return None
        if isinstance(value, str) and value.strip():
            return value.strip()
        self.problems.append(f"{self.where}: {key} must be text, not {_describe(value)}")
        return None

    def names(self, key: str) -> list[tuple[int, str]]:
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            example = value if isinstance(value, str) else "a, b"
            self.problems.append(f"{self.where}: {key} must be a list, e.g. {key}: [{example}]")
            return []
        for j, item in enumerate(value):
            if not (isinstance(item, str) and item.strip()):
                self.problems.append(
                    f"{self.where}: {key}[{j}] must be text, not {_describe(item)}"
                )
        return [(j, v.strip()) for j, v in enumerate(value) if isinstance(v, str) and v.strip()]


def _read_manifest(name: str, data: Mapping[Any, Any], *, loaded: _Loaded) -> None:
    _Entry(data, where=f"{name}: top level", problems=loaded.problems).only(("services", "teams"))
    declared = _read_teams(name, data.get("teams"), loaded=loaded)
    if not isinstance(data["services"], list):
        loaded.problems.append(f"{name}: services must be a list of entries, each '- name: ...'")
        return
    for i, item in enumerate(data["services"]):
        where = f"{name}: services[{i}]"
        if not isinstance(item, Mapping):
            loaded.problems.append(
                f"{where}: must be a mapping with name and team, not {_describe(item)}"
            )
            continue
        if isinstance(item.get("name"), str) and item["name"].strip():
            where += f" ({item['name'].strip()})"
        entry = _Entry(item, where=where, problems=loaded.problems)
        entry.only(SERVICE_FIELDS)
        service_name = entry.text("name", required="every service needs one, e.g. name: checkout")
        team = entry.text("team", required="give the owning team's handle, e.g. team: payments")
        depends_on, aliases = entry.names("depends_on"), entry.names("aliases")
        service = CatalogService(
            name=service_name or "",
            team=team or "",
            kind=entry.text("kind") or "service",
            aliases=tuple(alias for _, alias in aliases),
            slack_group=entry.text("slack_group"),
            github_repo=entry.text("github_repo"),
            datadog_service=entry.text("datadog_service") or "",
            log_filter=entry.text("log_filter"),
            source=where,
            system=entry.text("system"),
        )
        if service_name and team:
            links = [Link(f"depends_on[{j}]", dep, dep.lower()) for j, dep in depends_on]
            ids = (
                f"component:default/{service_name}".lower(),
                f"resource:default/{service_name}".lower(),
            )
            loaded.drafts.append(_Draft(service, links, ids, declared_teams_only=declared))


def _read_teams(name: str, raw: object, *, loaded: _Loaded) -> bool:
    """Add the ``teams:`` of a services.yaml file; True when the file declares any."""
    if raw is None:
        return False
    if isinstance(raw, Mapping):
        items = [(f"teams.{key}", key, value or {}) for key, value in raw.items()]
    elif isinstance(raw, list):
        items = [(f"teams[{i}]", None, value) for i, value in enumerate(raw)]
    else:
        loaded.problems.append(f"{name}: teams must be a list ('- handle: payments') or a mapping")
        return True
    for label, handle, value in items:
        where = f"{name}: {label}"
        if not isinstance(value, Mapping):
            loaded.problems.append(f"{where}: must be a mapping with slack_group and display_name")
            continue
        if handle is None and isinstance(value.get("handle"), str):
            where += f" ({value['handle']})"
        entry = _Entry(value, where=where, problems=loaded.problems)
        entry.only(TEAM_FIELDS if handle is None else TEAM_FIELDS[1:])
        if handle is None:
            handle = entry.text("handle", required="give the team's handle, e.g. handle: payments")
        if not isinstance(handle, str) or not handle:
            continue
        team = Team(handle, entry.text("slack_group"), entry.text("display_name") or handle)
        loaded.teams.append((team, where, {}))
    return True


def _add_backstage(
    entities: Sequence[backstage.Entity], groups: Sequence[backstage.Group], *, loaded: _Loaded
) -> None:
    for e in entities:
        service = CatalogService(
            name=e.name,
            team=e.team,
            kind=e.kind,
            aliases=e.aliases,
            slack_group=e.slack_group,
            github_repo=e.github_repo,
            datadog_service=e.datadog_service or "",
            source=e.source,
            system=e.system,
        )
        title = (e.title,) if e.title and e.title.lower() != e.name.lower() else ()
        draft = _Draft(service, list(e.links), (e.key,), title, e.labels, from_backstage=True)
        loaded.drafts.append(draft)
    loaded.teams += [
        (Team(g.name, g.slack_group, g.display_name), g.source, g.labels) for g in groups
    ]


# ---------------------------------------------------------------------------------------------
# Checking and resolving


def _finish(loaded: _Loaded) -> Catalog:
    """Check values, resolve references and teams; problems are appended to ``loaded``."""
    drafts = _unique(loaded.drafts, loaded.problems)
    names, edges = _link(drafts, loaded.problems)
    teams = _merge_teams(loaded.teams, loaded.problems)
    services: list[CatalogService] = []
    for d in drafts.values():
        s = d.service
        team = teams.get(s.team.lower())
        if team is None and d.declared_teams_only:
            handles = () if loaded.problems.full else tuple(t.handle for t in teams.values())
            hint = _did_you_mean(s.team, handles)
            loaded.problems.append(
                f"{s.source}: team {s.team!r} is not under teams:{hint}; add it there"
            )
        titles = [a for a in d.soft_aliases if names.get(a.lower()) == s.name]
        services.append(
            replace(
                s,
                team=team.handle if team else s.team,
                depends_on=tuple(dict.fromkeys(edges[s.name])),
                aliases=tuple(dict.fromkeys([*s.aliases, *titles])),
                slack_group=s.slack_group or (team.slack_group if team else None),
            )
        )
    return Catalog(services, teams=teams.values(), sources=loaded.sources)


def _unique(drafts: Iterable[_Draft], problems: _Problems) -> dict[str, _Draft]:
    """The drafts with valid values by lowercased name, the first of each name kept."""
    kept: dict[str, _Draft] = {}
    for d in drafts:
        _check_values(d.service, labels=d.labels, problems=problems)
        first = kept.setdefault(d.service.name.lower(), d)
        if first is not d:
            namespaces = d.from_backstage and first.from_backstage and d.ids != first.ids
            hint = _NAMESPACE_CLASH if namespaces else "names must be unique: rename or merge one"
            also = f"(also {first.service.source})"
            problems.append(
                f"{d.service.source}: duplicate service {d.service.name!r} {also}; {hint}"
            )
    return kept


def _link(
    drafts: Mapping[str, _Draft], problems: _Problems
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Names and aliases (lowercased) to service names, and each service's dependencies."""
    names = {low: d.service.name for low, d in drafts.items()}
    refs = {key: d.service.name for d in drafts.values() for key in d.ids}
    for d in drafts.values():
        for alias in d.service.aliases:
            owner = names.setdefault(alias.lower(), d.service.name)
            if owner != d.service.name:
                also = drafts[owner.lower()].service.source
                problems.append(
                    f"{d.service.source}: alias {alias!r} already names {also}; remove one"
                )
    for d in drafts.values():
        for title in d.soft_aliases:
            names.setdefault(title.lower(), d.service.name)
    edges: dict[str, list[str]] = {d.service.name: [] for d in drafts.values()}
    for d in drafts.values():
        for link in d.links:
            index = refs if ":" in link.key else names
            target = index.get(link.key)
            where = f"{d.service.source}: {link.field} {link.text!r}"
            if target is None:
                what = "entity in the catalog" if index is refs else "service"
                guesses = []
                if not problems.full:
                    guesses = _close(
                        link.key, {k: k for k in refs} if index is refs else names, n=1
                    )
                hint = f" (did you mean {guesses[0]!r}?)" if guesses else ""
                problems.append(f"{where} is not a known {what}{hint}")
            elif target == d.service.name:
                problems.append(f"{where} is the service itself; remove it")
            elif link.reverse:
                edges[target].append(d.service.name)
            else:
                edges[d.service.name].append(target)
    return names, edges


def _merge_teams(
    declared: Iterable[tuple[Team, str, Mapping[str, str]]], problems: _Problems
) -> dict[str, Team]:
    """Teams by lowercased handle; the same team described the same way twice is fine."""
    teams: dict[str, Team] = {}
    sources: dict[str, str] = {}
    for team, source, labels in declared:
        where = f"{source}: {labels.get('slack_group', 'slack_group')}"
        _check_slack_group(team.slack_group, where=where, problems=problems)
        also = sources.setdefault(team.handle.lower(), source)
        if teams.setdefault(team.handle.lower(), team) != team:
            problems.append(f"{source}: team {team.handle!r} differs from {also}; keep one")
    return teams


def _check_values(s: CatalogService, *, labels: Mapping[str, str], problems: _Problems) -> None:
    def where(key: str) -> str:
        return f"{s.source}: {labels.get(key, key)}"

    if not _NAME.match(s.name):
        problems.append(f"{where('name')} {s.name!r} may hold only letters, digits, '.', '_', '-'")
    if s.kind not in KINDS:
        hint = "" if problems.full else _did_you_mean(s.kind, KINDS)
        problems.append(f"{where('kind')} {s.kind!r} is unknown{hint}; {_known(KINDS)}")
    _check_slack_group(s.slack_group, where=where("slack_group"), problems=problems)
    if s.github_repo is not None and not _GITHUB_REPO.match(s.github_repo):
        problems.append(
            f"{where('github_repo')} {s.github_repo!r} should be owner/name, e.g. acme/shop"
        )


def _check_slack_group(value: str | None, *, where: str, problems: _Problems) -> None:
    if value is not None and not _SLACK_GROUP.match(value):
        problems.append(
            f"{where} {value!r} should be a user-group like '@payments-oncall' or 'S0123ABCD'"
        )


def _close(word: str, choices: Mapping[str, str], *, n: int) -> list[str]:
    """The values of the ``n`` keys most like ``word``; a key of the same name part goes first."""
    tail = word.rsplit("/", 1)[-1]
    same = [k for k in choices if ":" in k and k.rsplit("/", 1)[-1] == tail]
    keys = same + difflib.get_close_matches(word, _candidates(word, choices), n=n * 3, cutoff=0.6)
    return list(dict.fromkeys(choices[k] for k in keys))[:n]


#: Names compared with one unknown word, at most: a "did you mean" is not worth seconds.
MAX_CANDIDATES = 5000


def _candidates(word: str, choices: Iterable[str]) -> list[str]:
    """The choices a close match could be: of a length within difflib's 0.6 cutoff, bounded."""
    # ratio = 2 * matches / (len(a) + len(b)) >= 0.6 needs the shorter at least 3/7 of the longer
    size = len(word)
    fits = (c for c in choices if 3 * max(size, len(c)) <= 7 * min(size, len(c)))
    return list(itertools.islice(fits, MAX_CANDIDATES))


@functools.lru_cache(maxsize=1024)
def _did_you_mean(word: str, choices: tuple[str, ...]) -> str:
    # Cached: a misspelt field repeated in every entry is compared with the fields once.
    guesses = difflib.get_close_matches(word, _candidates(word, choices), n=1, cutoff=0.6)
    return f" (did you mean {guesses[0]!r}?)" if guesses else ""


def _quoted(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _known(choices: Sequence[str]) -> str:
    return "known: " + ", ".join(choices)


def _describe(value: object) -> str:
    if isinstance(value, bool | int | float):
        return f"{value!r} (put it in quotes)"
    if isinstance(value, str):
        return f"the text {value!r}" if value.strip() else "empty text"
    return "a mapping" if isinstance(value, Mapping) else f"a {type(value).__name__}"


# ---------------------------------------------------------------------------------------------
# Reporting


def catalog_report(catalog: Catalog) -> str:
    """A plain-text summary for ``incident-copilot catalog check``: shape, and what to look at."""
    summary = summarize(catalog.graph())
    files = f"{len(catalog.sources)} files: " if len(catalog.sources) > 1 else ""
    lines = [
        f"Service catalog: {files}{_listing(catalog.sources, limit=4)}",
        f"  {summary.services} services, {len(catalog.teams)} teams, {summary.edges} dependencies",
        "",
        "Services by kind",
    ]
    by_kind: dict[str, list[str]] = {}
    owned: dict[str, list[str]] = {}
    systems: dict[str, list[str]] = {}
    for s in catalog.services.values():
        by_kind.setdefault(s.kind, []).append(s.name)
        owned.setdefault(s.team, []).append(s.name)
        if s.system:
            systems.setdefault(s.system, []).append(s.name)
    kinds = sorted(by_kind.items(), key=lambda item: (-len(item[1]), item[0]))
    lines += _table([(kind, str(len(names)), _listing(names)) for kind, names in kinds])
    lines += ["", "Teams"]
    teams = catalog.teams.values()
    lines += _table(
        [(t.handle, t.slack_group or "-", _listing(owned.get(t.handle, []))) for t in teams]
    )
    if systems:
        lines += [
            "",
            "Systems",
            *_table([(k, str(len(v)), _listing(v)) for k, v in systems.items()]),
        ]
    lines += [
        "",
        f"Entry points (nothing calls them): {_listing(summary.roots) or 'none'}",
        f"Orphans (no caller, no dependency): {_listing(summary.orphans) or 'none'}",
    ]
    if summary.cycles:
        lines.append(f"Dependency cycles: {len(summary.cycles)}")
        for cycle in summary.cycles:  # start each at its first name, so the report is stable
            start = cycle.index(min(cycle))
            lines.append("  " + " -> ".join([*cycle[start:], *cycle[: start + 1]]))
    else:
        lines.append("Dependency cycles: none")
    warnings = []
    untagged = [s.name for s in catalog.services.values() if not s.slack_group]
    if untagged:
        names = _listing(untagged, limit=20)
        warnings.append(f"no slack_group, so nobody can be tagged (set one on the team): {names}")
    idle = [handle for handle in catalog.teams if handle not in owned]
    if idle:
        warnings.append(f"teams owning no service: {_listing(idle, limit=20)}")
    lines += ["", "Warnings", *(f"  - {w}" for w in warnings)] if warnings else ["", "No warnings."]
    return "\n".join(lines)


def check_catalog(path: str | Path) -> tuple[int, str]:
    """``(0, report)`` for a valid catalog, ``(2, one problem per line)`` otherwise."""
    try:
        catalog = load_catalog(path)
    except CatalogError as exc:
        lines = list(exc.problems)
        if exc.total > len(lines):
            lines.append(f"{exc.more()} not shown")
        noun = "problem" if exc.total == 1 else "problems"
        again = f"then run `incident-copilot catalog check {path}` again"
        lines.append(f"{exc.total:,} {noun} in {path}: fix each entry named above, {again}.")
        return 2, "\n".join(lines)
    return 0, catalog_report(catalog)


def _table(rows: Sequence[tuple[str, str, str]]) -> list[str]:
    """Rows of three columns, the first two padded to line up."""
    first, second = (max((len(row[i]) for row in rows), default=0) for i in (0, 1))
    return [f"  {a.ljust(first)}  {b.ljust(second)}  {c}".rstrip() for a, b, c in rows]


def _listing(names: Sequence[str], *, limit: int = 8) -> str:
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more
