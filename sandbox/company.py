"""A generated company: services, owners and a dependency graph that look like real estates.

Layered like most micro-service estates: edge services (frontends, gateways) call mid-tier
services, which call leaf services, shared databases, caches, queues and external providers.
Popular services (auth, users) attract many callers, so fan-in is uneven, as it is in practice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from investigators.bundle import Service

_DOMAINS = [
    "checkout",
    "payments",
    "cart",
    "catalog",
    "search",
    "inventory",
    "orders",
    "shipping",
    "users",
    "auth",
    "notifications",
    "recommendations",
    "pricing",
    "reviews",
    "ads",
    "billing",
    "fraud",
    "ledger",
    "accounts",
    "profile",
    "media",
    "images",
    "loyalty",
    "coupons",
    "tax",
    "invoices",
    "refunds",
    "returns",
    "warehouse",
    "delivery",
    "tracking",
    "geo",
    "maps",
    "chat",
    "support",
    "feedback",
    "analytics",
    "reporting",
    "identity",
    "sessions",
    "consent",
    "gdpr",
    "email",
    "sms",
    "push",
    "subscriptions",
    "plans",
    "quotes",
    "offers",
    "bids",
    "auctions",
    "wallet",
    "rewards",
    "partners",
    "vendors",
    "sellers",
]
_SUFFIXES = ("-api", "-svc", "", "-worker", "-service", "-core", "-gateway", "-engine")
_EDGE = ("frontend", "api-gateway", "mobile-bff", "web-bff", "partner-api", "admin-ui", "graphql")
_EXTERNAL = ("stripe", "twilio", "sendgrid", "s3", "auth0", "adyen", "maps-provider", "segment")
_TEAM_WORDS = [
    "payments",
    "web",
    "growth",
    "platform",
    "search",
    "core",
    "commerce",
    "identity",
    "fulfilment",
    "data",
    "mobile",
    "checkout",
    "catalog",
    "risk",
    "billing",
    "messaging",
    "partners",
    "ops",
]


@dataclass(frozen=True, slots=True)
class Dependency:
    """How strongly a caller needs a callee: ``criticality`` in [0, 1], calls per request."""

    caller: str
    callee: str
    criticality: float
    calls: float
    delay: float  # seconds for a fault to show in the caller


@dataclass(slots=True)
class Company:
    """A generated estate: services in a topological order (callees before callers)."""

    services: list[Service]
    dependencies: list[Dependency]
    traffic: dict[str, float] = field(default_factory=dict)  # baseline requests per second
    repo_of: dict[str, str] = field(default_factory=dict)

    def callers(self) -> dict[str, list[Dependency]]:
        """For every service, the dependencies naming it as callee."""
        out: dict[str, list[Dependency]] = {s.name: [] for s in self.services}
        for dep in self.dependencies:
            out[dep.callee].append(dep)
        return out

    def kind_of(self, name: str) -> str:
        """The kind of one service."""
        return next(s.kind for s in self.services if s.name == name)


def _unique_names(rng: np.random.Generator, count: int, taken: set[str]) -> list[str]:
    names: list[str] = []
    while len(names) < count:
        base = _DOMAINS[int(rng.integers(len(_DOMAINS)))] + _SUFFIXES[int(rng.integers(4))]
        name = base
        n = 2
        while name in taken:
            name = f"{base}-{n}"
            n += 1
        taken.add(name)
        names.append(name)
    return names


def generate_company(rng: np.random.Generator, size: int) -> Company:
    """An estate of about ``size`` nodes (services, databases, caches, queues, externals)."""
    size = max(size, 8)
    n_ext = max(1, min(len(_EXTERNAL), size // 25))
    n_db = max(1, size // 9)
    n_cache = max(1, size // 30)
    n_queue = max(1, size // 30)
    n_svc = size - n_ext - n_db - n_cache - n_queue
    n_edge = max(1, min(n_svc // 8, 40))
    taken: set[str] = set()
    edge = [(_EDGE[i] if i < len(_EDGE) else f"edge-{i}") for i in range(n_edge)]
    taken.update(edge)
    mid = _unique_names(rng, n_svc - n_edge, taken)
    externals = [str(x) for x in rng.choice(_EXTERNAL, size=n_ext, replace=False)]
    databases = [f"{name.split('-')[0]}-db" for name in mid[:n_db]]
    databases = [d if databases.count(d) == 1 else f"{d}-{i}" for i, d in enumerate(databases)]
    caches = [f"redis-{i}" if i else "redis-cache" for i in range(n_cache)]
    queues = [f"kafka-{i}" if i else "kafka" for i in range(n_queue)]

    n_teams = max(2, n_svc // 6)
    teams = [
        (_TEAM_WORDS[i % len(_TEAM_WORDS)] + ("" if i < len(_TEAM_WORDS) else f"-{i}"))
        for i in range(n_teams)
    ]
    team_of: dict[str, str] = {}
    for i, name in enumerate(edge):
        team_of[name] = teams[i % len(teams)]
    for name in mid:
        team_of[name] = teams[int(rng.integers(len(teams)))]

    deps: list[Dependency] = []

    def link(caller: str, callee: str) -> None:
        deps.append(
            Dependency(
                caller=caller,
                callee=callee,
                criticality=float(rng.choice([1.0, 0.8, 0.5, 0.2], p=[0.45, 0.3, 0.15, 0.1])),
                calls=float(rng.choice([1, 1, 2, 3])),
                delay=float(rng.uniform(0, 75)),
            )
        )

    # Mid-tier services form a DAG by index: a service calls only services after it. Popularity
    # (preferential attachment) gives a few services many callers, as auth or users have.
    popularity = np.ones(len(mid))
    for i, name in enumerate(mid):
        later = np.arange(i + 1, len(mid))
        if later.size == 0:
            continue
        k = min(later.size, int(rng.choice([0, 1, 1, 2, 2, 3, 4])))
        if k:
            weights = popularity[later] / popularity[later].sum()
            for j in rng.choice(later, size=k, replace=False, p=weights):
                link(name, mid[int(j)])
                popularity[int(j)] += 1.0
    for name in edge:
        k = min(len(mid), int(rng.integers(2, 6)))
        head = max(k, len(mid) // 3)
        for j in rng.choice(head, size=k, replace=False):
            link(name, mid[int(j)])
    # Databases: each owned by one service's team, shared by one to three services.
    db_team: dict[str, str] = {}
    for db in databases:
        users = rng.choice(len(mid), size=min(len(mid), int(rng.integers(1, 4))), replace=False)
        for u in users:
            link(mid[int(u)], db)
        db_team[db] = "dba" if rng.random() < 0.3 else team_of[mid[int(users[0])]]
    for store in caches + queues:
        users = rng.choice(len(mid), size=min(len(mid), int(rng.integers(2, 6))), replace=False)
        for u in users:
            link(mid[int(u)], store)
        db_team[store] = "platform"
    for x in externals:
        users = rng.choice(len(mid), size=min(len(mid), int(rng.integers(1, 4))), replace=False)
        for u in users:
            link(mid[int(u)], x)
        db_team[x] = team_of[mid[int(users[0])]]
    team_of.update(db_team)

    # Give every mid-tier service at least one caller so nothing floats unused.
    called = {d.callee for d in deps}
    for i, name in enumerate(mid):
        if name not in called:
            callers = edge + mid[:i]
            link(callers[int(rng.integers(len(callers)))], name)

    kind_of = {n: "service" for n in edge + mid}
    kind_of.update({db: "database" for db in databases})
    kind_of.update({c: "cache" for c in caches})
    kind_of.update({q: "queue" for q in queues})
    kind_of.update({x: "external" for x in externals})
    depends: dict[str, list[str]] = {n: [] for n in kind_of}
    for dep in deps:
        depends[dep.caller].append(dep.callee)
    # Topological order: stores and externals, then mid-tier from the deepest, then edges.
    order = databases + caches + queues + externals + list(reversed(mid)) + edge
    services = [Service(n, team_of[n], tuple(depends[n]), kind_of[n]) for n in order]

    incoming: dict[str, list[Dependency]] = {n: [] for n in kind_of}
    for dep in deps:
        incoming[dep.callee].append(dep)
    traffic: dict[str, float] = {}
    for name in edge:
        traffic[name] = float(rng.lognormal(np.log(150), 0.8))
    for name in reversed(order):  # callers before callees
        if name in traffic:
            continue
        base = sum(
            traffic.get(d.caller, 0.0) * d.calls * rng.uniform(0.2, 0.9) for d in incoming[name]
        )
        traffic[name] = max(base, float(rng.uniform(0.5, 5.0)))
    return Company(
        services=services,
        dependencies=deps,
        traffic=traffic,
        repo_of={n: f"acme/{n}" for n in kind_of if kind_of[n] in ("service",)},
    )
