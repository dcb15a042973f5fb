"""Backstage ``catalog-info.yaml`` entities, read into the service catalog's vocabulary.

Components and Resources become services and Groups become teams; every other kind (API, System,
Domain, Location, Template, User, custom kinds) is skipped without error, a System mattering only
through a component's ``spec.system``. Locations are not followed: point the loader at a directory.

References are Backstage's ``[kind:][namespace/]name`` strings (or ``{kind, namespace, name}``
mappings). A reference without a namespace means the referring entity's own namespace; a kind
may be left out only where Backstage has a default (``group`` for ``spec.owner``, ``system`` for
``spec.system``), so ``spec.dependsOn`` entries must say ``component:`` or ``resource:``. Each
entity is identified by its lowercased ``kind:namespace/name`` key; how services are *named* is
decided in :mod:`investigators.catalog`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

API_VERSION_PREFIX = "backstage.io/"
DEFAULT_NAMESPACE = "default"
SLACK_GROUP_ANNOTATIONS = ("slack.com/user-group-id", "slack.com/user-group")
DATADOG_ANNOTATIONS = ("datadoghq.com/service-name", "datadoghq.com/service")
GITHUB_ANNOTATION = "github.com/project-slug"

# spec.type is free text in Backstage; these are the spellings seen in practice.
_TYPE_TO_KIND = {
    "service": "service",
    "website": "website",
    "library": "library",
    "worker": "worker",
    "lambda": "lambda",
    "function": "lambda",
    "database": "database",
    "db": "database",
    "queue": "queue",
    "message-queue": "queue",
    "topic": "queue",
    "kafka-topic": "queue",
    "cache": "cache",
    "storage": "storage",
    "bucket": "storage",
    "s3-bucket": "storage",
    "external": "external",
    "external-api": "external",
    "external-service": "external",
    "saas": "external",
    "third-party": "external",
}
_REF = re.compile(r"^(?:(?P<kind>[^:/\s]+):)?(?:(?P<namespace>[^:/\s]+)/)?(?P<name>[^:/\s]+)$")


class Link(NamedTuple):
    """A dependency as written; ``reverse`` for ``dependencyOf`` (the target depends on us)."""

    field: str
    text: str
    key: str
    reverse: bool = False


@dataclass(frozen=True)
class Entity:
    """A Component or Resource, flattened; ``key`` is its ``kind:namespace/name`` identity."""

    key: str
    name: str
    source: str
    team: str
    kind: str
    links: tuple[Link, ...] = ()
    aliases: tuple[str, ...] = ()
    title: str | None = None
    slack_group: str | None = None
    github_repo: str | None = None
    datadog_service: str | None = None
    system: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Group:
    """A Group entity: a team."""

    key: str
    name: str
    source: str
    display_name: str
    slack_group: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


def ref_key(ref: object, *, default_kind: str | None, namespace: str) -> tuple[str, str]:
    """``(kind:namespace/name, name)`` for a reference; :class:`ValueError` says what is wrong."""
    if isinstance(ref, Mapping):
        kind, ns, name = (
            ref.get("kind", default_kind),
            ref.get("namespace", namespace),
            ref.get("name"),
        )
        if not all(isinstance(part, str) and part for part in (kind, ns, name)):
            raise ValueError("a reference mapping needs text kind, namespace and name")
    elif isinstance(ref, str) and (match := _REF.match(ref.strip())):
        kind = match["kind"] or default_kind
        ns, name = match["namespace"] or namespace, match["name"]
        if kind is None:
            raise ValueError("needs a kind: write component:NAME or resource:NAME")
    else:
        raise ValueError("is not an entity reference like component:checkout or resource:ops/db")
    return f"{kind}:{ns}/{name}".lower(), str(name)


class _Part:
    """The mapping at ``path`` of one document, read field by field; problems are appended."""

    def __init__(self, data: object, *, path: str, where: str, problems: list[str]) -> None:
        if data is not None and not isinstance(data, Mapping):
            problems.append(f"{where}: {path} must be a mapping")
        self.data: Mapping[str, Any] = data if isinstance(data, Mapping) else {}
        self.path, self.where, self.problems = path, where, problems

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def part(self, key: str) -> _Part:
        return _Part(
            self.data.get(key), path=self.at(key), where=self.where, problems=self.problems
        )

    def text(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is None or (isinstance(value, str) and value.strip()):
            return value.strip() if value else None
        self.problems.append(f"{self.where}: {self.at(key)} must be non-empty text")
        return None

    def items(self, key: str) -> list[Any]:
        value = self.data.get(key)
        if value is None or isinstance(value, list):
            return value or []
        self.problems.append(f"{self.where}: {self.at(key)} must be a list")
        return []

    def annotation(self, keys: Sequence[str]) -> tuple[str, str] | None:
        """The first of ``keys`` set, and where it was found."""
        for key in keys:
            value = self.data.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip(), f"annotation {key}"
        return None


class _Doc(NamedTuple):
    """The envelope every entity shares, checked once."""

    kind: str
    key: str
    name: str
    namespace: str
    where: str
    meta: _Part
    spec: _Part
    notes: _Part


def read_documents(
    path: str, documents: Sequence[object]
) -> tuple[list[Entity], list[Group], list[str]]:
    """The services and teams of one file's documents, and the problems found in them."""
    entities: list[Entity] = []
    groups: list[Group] = []
    problems: list[str] = []
    for number, document in enumerate(documents, start=1):
        doc = _envelope(document, where=f"{path}: document {number}", problems=problems)
        if doc is None:
            continue
        if doc.kind == "group":
            groups.append(_read_group(doc))
        elif (entity := _read_entity(doc)) is not None:
            entities.append(entity)
    return entities, groups, problems


def _envelope(document: object, *, where: str, problems: list[str]) -> _Doc | None:
    """The document's identity if it is a Component, Resource or Group, else None."""
    if document is None:
        return None
    if not isinstance(document, Mapping) or not isinstance(document.get("kind"), str):
        problems.append(
            f"{where}: not a Backstage entity; each document needs "
            "apiVersion: backstage.io/v1alpha1, kind and metadata.name"
        )
        return None
    if not str(document.get("apiVersion", "")).startswith(API_VERSION_PREFIX):
        return None  # another tool's document in the same file
    kind = document["kind"].lower()
    if kind not in ("component", "resource", "group"):
        return None
    meta = _Part(document.get("metadata"), path="metadata", where=where, problems=problems)
    name = meta.text("name")
    if name is None:
        if meta.data.get("name") is None:
            problems.append(f"{where}: missing metadata.name; every entity needs a name")
        return None
    meta.where = where = f"{where} ({document['kind']} {name})"
    top = _Part(document, path="", where=where, problems=problems)
    namespace = meta.text("namespace") or DEFAULT_NAMESPACE
    key = f"{kind}:{namespace}/{name}".lower()
    return _Doc(kind, key, name, namespace, where, meta, top.part("spec"), meta.part("annotations"))


def _read_group(doc: _Doc) -> Group:
    slack = doc.notes.annotation(SLACK_GROUP_ANNOTATIONS)
    display = doc.spec.part("profile").text("displayName") or doc.meta.text("title")
    return Group(
        key=doc.key,
        name=doc.name,
        source=doc.where,
        display_name=display or doc.name,
        slack_group=slack[0] if slack else None,
        labels={"slack_group": slack[1]} if slack else {},
    )


def _read_entity(doc: _Doc) -> Entity | None:
    where, spec, problems = doc.where, doc.spec, doc.spec.problems
    owner = spec.data.get("owner")
    if owner is None:
        problems.append(
            f"{where}: missing spec.owner; name the owning team, e.g. owner: group:payments"
        )
        return None
    try:
        _, team = ref_key(owner, default_kind="group", namespace=doc.namespace)
    except ValueError as exc:
        problems.append(f"{where}: spec.owner {owner!r} {exc}")
        return None
    links: list[Link] = []
    for what, reverse in (("dependsOn", False), ("dependencyOf", True)):
        for j, ref in enumerate(spec.items(what)):
            try:
                key = ref_key(ref, default_kind=None, namespace=doc.namespace)[0]
            except ValueError as exc:
                problems.append(f"{where}: spec.{what}[{j}] {ref!r} {exc}")
                continue
            links.append(Link(f"spec.{what}[{j}]", str(ref), key, reverse))
    system = None
    if spec.data.get("system") is not None:
        try:
            system = ref_key(spec.data["system"], default_kind="system", namespace=doc.namespace)[1]
        except ValueError as exc:
            problems.append(f"{where}: spec.system {spec.data['system']!r} {exc}")
    aliases: list[str] = []
    for j, alias in enumerate(doc.meta.items("aliases")):
        if isinstance(alias, str) and alias.strip():
            aliases.append(alias.strip())
        else:
            problems.append(f"{where}: metadata.aliases[{j}] must be non-empty text")
    slack = doc.notes.annotation(SLACK_GROUP_ANNOTATIONS)
    github = doc.notes.annotation((GITHUB_ANNOTATION,))
    datadog = doc.notes.annotation(DATADOG_ANNOTATIONS)
    labels = {"name": "metadata.name"}
    labels |= {"slack_group": slack[1]} if slack else {}
    labels |= {"github_repo": github[1]} if github else {}
    fallback = "service" if doc.kind == "component" else "other"
    return Entity(
        key=doc.key,
        name=doc.name,
        source=where,
        team=team,
        kind=_TYPE_TO_KIND.get(str(spec.data.get("type", "")).lower(), fallback),
        links=tuple(links),
        aliases=tuple(aliases),
        title=doc.meta.text("title"),
        slack_group=slack[0] if slack else None,
        github_repo=github[0] if github else None,
        datadog_service=datadog[0] if datadog else None,
        system=system,
        labels=labels,
    )
