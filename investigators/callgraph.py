"""The call graph as the root-cause engine walks it: plain adjacency, no I/O.

The engine needs only a handful of graph questions (who calls whom, everything below or above
a service, dependency cycles), asked on every ``incident-copilot rca``. Answering them on
adjacency dicts keeps NetworkX out of the engine's import path: importing it costs more than
ranking a 50-service incident. Catalog checks, which want NetworkX's fuller toolbox, still use it
(:mod:`investigators.servicegraph`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from investigators.bundle import Service


@dataclass(frozen=True, slots=True)
class CallGraph:
    """Edges go from caller to callee (``depends_on``); a fault travels against them."""

    calls: dict[str, tuple[str, ...]]  # service -> its dependencies
    callers: dict[str, tuple[str, ...]]  # service -> the services that call it
    kinds: dict[str, str]

    @classmethod
    def of(cls, services: Iterable[Service]) -> CallGraph:
        """The graph of a bundle's services (self-calls dropped, order kept)."""
        listed = list(services)
        calls = {s.name: tuple(d for d in s.depends_on if d != s.name) for s in listed}
        callers: dict[str, list[str]] = {s.name: [] for s in listed}
        for name, deps in calls.items():
            for dep in deps:
                callers[dep].append(name)
        return cls(
            calls, {n: tuple(c) for n, c in callers.items()}, {s.name: s.kind for s in listed}
        )

    def __contains__(self, name: object) -> bool:
        return name in self.calls

    def __iter__(self) -> Iterator[str]:
        return iter(self.calls)

    def below(self, name: str, within: set[str] | None = None) -> set[str]:
        """Everything ``name`` depends on, directly or further down (not itself); with
        ``within``, only along paths inside that set."""
        return _reach(self.calls, name, within)

    def above(self, name: str, within: set[str] | None = None) -> set[str]:
        """Everything that depends on ``name``, directly or further up (not itself); with
        ``within``, only along paths inside that set."""
        return _reach(self.callers, name, within)

    def cycles(self, nodes: set[str]) -> dict[str, int]:
        """For the subgraph of ``nodes``: a component number per node, equal for the nodes of
        one dependency cycle (strongly connected components, Tarjan's method, iteratively)."""
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        on_stack: set[str] = set()
        stack: list[str] = []
        component: dict[str, int] = {}
        counter = components = 0
        for root in sorted(nodes):
            if root in index:
                continue
            work = [(root, iter([d for d in self.calls[root] if d in nodes]))]
            index[root] = low[root] = counter
            counter += 1
            stack.append(root)
            on_stack.add(root)
            while work:
                node, deps = work[-1]
                advanced = False
                for dep in deps:
                    if dep not in index:
                        index[dep] = low[dep] = counter
                        counter += 1
                        stack.append(dep)
                        on_stack.add(dep)
                        work.append((dep, iter([d for d in self.calls[dep] if d in nodes])))
                        advanced = True
                        break
                    if dep in on_stack:
                        low[node] = min(low[node], index[dep])
                if advanced:
                    continue
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component[member] = components
                        if member == node:
                            break
                    components += 1
        return component


def _reach(edges: dict[str, tuple[str, ...]], start: str, within: set[str] | None) -> set[str]:
    seen: set[str] = set()
    todo = list(edges.get(start, ()))
    while todo:
        node = todo.pop()
        if node not in seen and (within is None or node in within):
            seen.add(node)
            todo.extend(edges.get(node, ()))
    seen.discard(start)
    return seen
