"""Which services an investigation's logs scan covers: the named ones, their neighbourhood and
everything they depend on, however deep."""

from __future__ import annotations

from pathlib import Path

import networkx as nx

from investigators.catalog import load_catalog
from investigators.pipeline.investigation import NEIGHBOURHOOD, make_scope

CATALOG = load_catalog(Path(__file__).resolve().parents[2] / "manifests" / "services.yaml")


def test_a_dependency_deeper_than_the_neighbourhood_is_in_scope() -> None:
    # frontend -> api-gateway -> checkout -> payments -> stripe: the provider's callers log
    # "timeout calling stripe" four hops below what alerted.
    hops = nx.shortest_path_length(CATALOG.graph().to_undirected(), "frontend")
    assert hops["stripe"] > NEIGHBOURHOOD
    scope = make_scope(CATALOG, ["frontend"])
    assert "stripe" in scope.neighbourhood
    assert nx.descendants(CATALOG.graph(), "frontend") <= set(scope.neighbourhood)


def test_services_neither_near_nor_below_stay_out_of_scope() -> None:
    scope = make_scope(CATALOG, ["checkout"])
    # sendgrid is four hops away through kafka and notification, and checkout does not call it.
    assert "sendgrid" not in scope.neighbourhood
    assert set(scope.scanned) == set(CATALOG.services)


def test_no_named_service_scopes_the_whole_catalog() -> None:
    scope = make_scope(CATALOG, ["no-such-service"])
    assert scope.unknown == ["no-such-service"]
    assert sorted(scope.neighbourhood) == sorted(CATALOG.services)
