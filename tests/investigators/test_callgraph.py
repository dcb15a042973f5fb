"""The engine's call graph answers what NetworkX would, on random graphs with cycles."""

from __future__ import annotations

import random

import networkx as nx
import pytest

from investigators.bundle import Service
from investigators.callgraph import CallGraph
from investigators.servicegraph import build_graph


def random_services(seed: int) -> list[Service]:
    rng = random.Random(seed)
    names = [f"s{i}" for i in range(rng.randint(1, 25))]
    return [
        Service(name, "team", tuple(rng.sample(names, min(len(names), rng.randint(0, 3)))))
        for name in names
    ]


@pytest.mark.parametrize("seed", range(40))
def test_reach_and_cycles_agree_with_networkx(seed: int) -> None:
    services = random_services(seed)
    ours, theirs = CallGraph.of(services), build_graph(services)
    names = [s.name for s in services]
    within = set(random.Random(seed).sample(names, len(names) // 2))
    for name in names:
        assert ours.below(name) == nx.descendants(theirs, name)
        assert ours.above(name) == nx.ancestors(theirs, name)
        if name in within:
            assert ours.above(name, within=within) == nx.ancestors(theirs.subgraph(within), name)
    components: dict[int, set[str]] = {}
    for name, number in ours.cycles(within).items():
        components.setdefault(number, set()).add(name)
    expected = {frozenset(c) for c in nx.strongly_connected_components(theirs.subgraph(within))}
    assert {frozenset(c) for c in components.values()} == expected


def test_self_calls_are_dropped_and_callers_listed() -> None:
    graph = CallGraph.of([Service("a", "t", ("a", "b")), Service("b", "t", ())])
    assert graph.calls["a"] == ("b",)
    assert graph.callers["b"] == ("a",)
    assert "a" in graph and "z" not in graph
