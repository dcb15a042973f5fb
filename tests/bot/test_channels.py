"""Which channels are incidents, and which services they talk about."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.channels import DEFAULT_PATTERN, is_incident_channel, mentioned_services
from investigators.catalog import load_catalog

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


def test_a_broken_pattern_is_refused_at_startup() -> None:
    from pydantic import ValidationError

    from bot.settings import load_settings

    with pytest.raises(ValidationError, match="not a regular expression"):
        load_settings(incident_channel_pattern="(inc")
