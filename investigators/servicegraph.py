"""The service graph: who calls whom, who owns what.

An edge goes from caller to callee (``depends_on``), so a fault travels against the edges: from a
broken dependency to the services that call it. Nodes carry ``team`` and ``kind``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import networkx as nx

from investigators.bundle import Service


def build_graph(services: Iterable[Service]) -> nx.DiGraph:
    """A directed graph with an edge caller -> callee for every dependency."""
    graph = nx.DiGraph()
    for s in services:
        graph.add_node(s.name, team=s.team, kind=s.kind)
    for s in services:
        for dep in s.depends_on:
            if dep != s.name:
                graph.add_edge(s.name, dep)
    return graph


@dataclass(frozen=True, slots=True)
class GraphSummary:
    """What a person checks first about a catalog."""

    services: int
    teams: int
    edges: int
    orphans: tuple[str, ...]
    cycles: tuple[tuple[str, ...], ...]
    roots: tuple[str, ...]


def summarize(graph: nx.DiGraph, *, max_cycles: int = 20) -> GraphSummary:
    """Counts, orphans (no caller and no dependency) and dependency cycles."""
    orphans = tuple(sorted(n for n in graph if graph.degree(n) == 0))
    roots = tuple(sorted(n for n in graph if graph.in_degree(n) == 0 and graph.out_degree(n) > 0))
    cycles: list[tuple[str, ...]] = []
    for component in nx.strongly_connected_components(graph):
        if len(component) > 1:
            cycle = nx.find_cycle(graph.subgraph(component))
            cycles.append(tuple(edge[0] for edge in cycle))
            if len(cycles) >= max_cycles:
                break
    teams = {data.get("team") for _, data in graph.nodes(data=True) if data.get("team")}
    return GraphSummary(
        services=graph.number_of_nodes(),
        teams=len(teams),
        edges=graph.number_of_edges(),
        orphans=orphans,
        cycles=tuple(sorted(cycles)),
        roots=roots,
    )
