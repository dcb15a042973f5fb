"""Which channels are incidents, and which services they talk about."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from bot.channels import DEFAULT_PATTERN, is_incident_channel, mentioned_services
from investigators.catalog import Catalog, CatalogService, load_catalog

CATALOG = Path(__file__).resolve().parents[2] / "manifests" / "services.yaml"


@pytest.mark.parametrize(
    ("name", "incident"),
    [
        ("inc-2041-checkout-errors", True),
        ("inc_2041", True),
        ("incident-42", True),
        ("INC-7", True),
        ("incidents", False),
        ("increase-budget", False),
        ("general", False),
        ("team-inc-1", False),
    ],
)
def test_default_pattern(name: str, incident: bool) -> None:
    assert is_incident_channel(name, DEFAULT_PATTERN) is incident


def test_a_custom_pattern() -> None:
    assert is_incident_channel("sev1-db", r"^sev[0-9]-")
    assert not is_incident_channel("inc-1", r"^sev[0-9]-")


def test_services_from_name_topic_purpose_and_first_messages() -> None:
    catalog = load_catalog(CATALOG)
    found = mentioned_services(
        catalog,
        [
            "inc-2041-checkout-errors",
            "Payments are failing",
            "",
            "[Triggered] High error rate on api-gateway (service:api-gateway)",
        ],
    )
    assert found[:2] == ["checkout", "payments"]
    assert "api-gateway" in found


def test_aliases_count_and_long_names_win() -> None:
    catalog = load_catalog(CATALOG)
    assert mentioned_services(catalog, ["inc_12_gateway_down"]) == ["api-gateway"]
    assert mentioned_services(catalog, ["inc-3 api-gateway slow"]) == ["api-gateway"]


def test_no_service_means_the_whole_graph() -> None:
    catalog = load_catalog(CATALOG)
    assert mentioned_services(catalog, ["inc-99-everything-is-on-fire"]) == []


def rule(catalog: Catalog, texts: list[str]) -> list[str]:
    """The rule as it was first written: each term searched for in turn, longest first."""
    terms: dict[str, str] = {}
    for s in catalog.services.values():
        for term in (s.datadog_service, *s.aliases, s.name):
            if term:
                terms[term.lower()] = s.name
    found: list[tuple[int, int, str]] = []
    for index, text in enumerate(texts):
        words = " " + re.sub(r"[^a-z0-9-]+", " ", text.lower()) + " "
        taken = [False] * len(words)
        for term in sorted(terms, key=len, reverse=True):
            for match in re.finditer(rf"(?<=[ -]){re.escape(term)}(?=[ -])", words):
                if not any(taken[match.start() : match.end()]):
                    taken[match.start() : match.end()] = [True] * (match.end() - match.start())
                    found.append((index, match.start(), terms[term]))
    return list(dict.fromkeys(name for *_, name in sorted(found)))


def catalog_of(*services: tuple[str, tuple[str, ...], str]) -> Catalog:
    return Catalog(
        CatalogService(name=name, team="t", aliases=aliases, datadog_service=datadog)
        for name, aliases, datadog in services
    )


def test_the_longer_name_wins_even_when_it_starts_later() -> None:
    catalog = catalog_of(("x", ("edge proxy",), ""), ("y", ("proxy-payments",), ""))
    text = "inc: edge proxy-payments down"
    assert mentioned_services(catalog, [text]) == rule(catalog, [text]) == ["y"]


def test_names_with_blanks_hyphens_and_punctuation_around_them() -> None:
    catalog = catalog_of(
        ("payments-api", ("payments api",), "payments"),
        ("api-gateway", ("gateway", "edge gateway"), ""),
        ("ledger", (), "ledger-svc"),
    )
    texts = [
        "inc_2041_gateway",
        "Edge   Gateway 5xx; (payments api) and #ledger-svc. Also api-gateway--payments",
        "payments-api-gateway payments_api_gateway",
    ]
    assert mentioned_services(catalog, texts) == rule(catalog, texts)
    assert mentioned_services(catalog, texts) == ["api-gateway", "payments-api", "ledger"]


@pytest.mark.parametrize("seed", range(12))
def test_any_catalog_and_text_give_what_the_rule_gives(seed: int) -> None:
    rng = random.Random(seed)
    words = ["a", "b", "ab", "api", "gateway", "db", "1", "x"]
    seps = ["-", " ", "--", " - ", "- ", " -", "_", ". ", "é"]

    def name(parts: int) -> str:
        text = rng.choice(words)
        for _ in range(rng.randint(0, parts)):
            text += rng.choice(seps[:6]) + rng.choice(words)
        return text

    for _ in range(150):
        catalog = catalog_of(
            *(
                (f"s{i}", tuple(name(3) for _ in range(rng.randint(0, 3))), name(2))
                for i in range(rng.randint(1, 8))
            )
        )
        texts = ["".join(rng.choice(words + seps) for _ in range(rng.randint(0, 80)))]
        texts.append(texts[0] * rng.choice([1, 8]))  # words repeated: read once each
        assert mentioned_services(catalog, texts) == rule(catalog, texts), (catalog, texts)


def test_names_chained_into_one_long_run_give_what_the_rule_gives() -> None:
    catalog = catalog_of(
        ("cart", ("cart api",), ""), ("api", ("api cart",), ""), ("edge", ("cart-api-edge",), "")
    )
    texts = ["cart api " * 2_000 + "cart-api-edge", "api-cart-" * 1_000 + "x"]
    # "cart api" (listed first) takes every "cart api": no "api cart" is left between them.
    assert mentioned_services(catalog, texts) == rule(catalog, texts) == ["cart", "edge", "api"]


def test_a_thousand_services_and_a_long_message() -> None:
    catalog = Catalog(
        CatalogService(name=f"svc-{i}", team="t", aliases=(f"service {i}",)) for i in range(1000)
    )
    message = "the quick brown fox " * 5_000 + "svc-977 and service 12 then svc-977 " * 50
    assert mentioned_services(catalog, ["inc-9", message, "svc-3"]) == [
        "svc-977",
        "svc-12",
        "svc-3",
    ]


def test_a_broken_pattern_is_refused_at_startup() -> None:
    from pydantic import ValidationError

    from bot.settings import load_settings

    with pytest.raises(ValidationError, match="not a regular expression"):
        load_settings(incident_channel_pattern="(inc")
