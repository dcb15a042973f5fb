"""The incident bundle: the spec's document, timestamps, validation messages and the round trip."""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from investigators.anomaly import clean
from investigators.bundle import (
    Bundle,
    BundleError,
    ChangeKind,
    MetricKind,
    dump_bundle,
    format_timestamp,
    load_bundle,
    parse_bundle,
    write_bundle,
)

REPO = Path(__file__).resolve().parents[2]
#: The bundle's specification, shipped with the project as user documentation.
SPEC = REPO / "docs" / "incident-bundle.md"

#: 2026-11-20T14:05:00Z
DETECTED = 1_795_183_500.0


def spec_example() -> dict[str, Any]:
    """The example document of the bundle spec, exactly as the spec prints it."""
    text = SPEC.read_text(encoding="utf-8")
    block = re.search(r"## Document\s+```json\n(.*?)```", text, re.S)
    assert block is not None, "the spec has no example document"
    document: dict[str, Any] = json.loads(block.group(1))
    return document


def small_document() -> dict[str, Any]:
    """A valid bundle of three services, one series, one change."""
    return {
        "version": 1,
        "incident": {
            "id": "INC-7",
            "title": "api errors",
            "started_at": "2026-11-20T14:05:00Z",
            "symptom_services": ["web"],
        },
        "services": [
            {"name": "web", "team": "storefront", "depends_on": ["api"]},
            {"name": "api", "team": "core", "depends_on": ["db"], "kind": "service"},
            {"name": "db", "team": "dba", "depends_on": [], "kind": "database"},
        ],
        "metrics": [
            {
                "service": "api",
                "name": "trace.http.request.errors",
                "kind": "errors",
                "unit": "1/s",
                "points": [
                    ["2026-11-20T14:00:00Z", 1.0],
                    ["2026-11-20T14:01:00Z", 2.0],
                    ["2026-11-20T14:02:00Z", 3.0],
                ],
            }
        ],
        "log_samples": [
            {
                "service": "api",
                "timestamp": "2026-11-20T14:03:12Z",
                "level": "error",
                "message": "boom",
            }
        ],
        "changes": [
            {"service": "api", "kind": "deploy", "at": "2026-11-20T14:01:30Z", "id": "a1b2c3d"}
        ],
    }


def parse(document: dict[str, Any]) -> Bundle:
    return parse_bundle(json.dumps(document))


def error_of(document: dict[str, Any] | str | bytes) -> BundleError:
    """The error a document that must be rejected raises."""
    text = document if isinstance(document, str | bytes) else json.dumps(document)
    with pytest.raises(BundleError) as caught:
        parse_bundle(text)
    return caught.value


def assert_same_bundle(a: Bundle, b: Bundle) -> None:
    """Equal in everything a reader of the bundle sees (series compare by their arrays)."""
    assert a.incident == b.incident
    assert a.services == b.services
    assert a.changes == b.changes
    assert a.log_samples == b.log_samples
    assert len(a.metrics) == len(b.metrics)
    for x, y in zip(a.metrics, b.metrics, strict=True):
        assert (x.service, x.name, x.kind, x.unit) == (y.service, y.name, y.kind, y.unit)
        np.testing.assert_allclose(y.times, x.times, rtol=0, atol=0.0005)
        np.testing.assert_array_equal(np.isnan(y.values), np.isnan(x.values))
        np.testing.assert_allclose(y.values, x.values, rtol=1e-9, equal_nan=True)


# ---------------------------------------------------------------------------------------------
# Reading


def test_the_spec_example_document_parses() -> None:
    bundle = parse(spec_example())

    assert bundle.incident.id == "INC-2041"
    assert bundle.incident.title == "checkout 5xx spike"
    assert bundle.incident.started_at == DETECTED
    assert bundle.incident.symptom_services == ("frontend",)
    assert [s.name for s in bundle.services] == ["frontend", "checkout", "payments-db", "catalog"]
    frontend, checkout, db, _ = bundle.services
    assert frontend.depends_on == ("checkout", "catalog")
    assert frontend.kind == "service"  # the default when a service does not say
    assert db.kind == "database"
    assert checkout.team == "payments"
    assert db.team == "dba"

    (series,) = bundle.metrics
    assert (series.service, series.name, series.kind, series.unit) == (
        "checkout",
        "http.errors.rate",
        MetricKind.ERRORS,
        "1/s",
    )
    assert series.times.size == series.values.size == 3
    assert np.all(np.diff(series.times) >= 0)
    assert np.isnan(series.values).sum() == 1  # the null

    (log,) = bundle.log_samples
    assert log.service == "checkout"
    assert log.message == "pq: too many connections"
    (change,) = bundle.changes
    assert change.kind is ChangeKind.DEPLOY
    assert change.id == "a1b2c3d"
    assert change.at == DETECTED - 210  # 14:01:30Z
    assert change.url == "https://github.com/acme/checkout/commit/a1b2c3d"


@pytest.mark.parametrize(
    "stamp",
    [
        "2026-11-20T14:05:00Z",
        "2026-11-20T14:05:00.000Z",
        "2026-11-20T16:05:00+02:00",
        "2026-11-20T09:05:00-05:00",
        "2026-11-20T14:05:00+00:00",
        1795183500,
        1795183500.0,
    ],
)
def test_every_timestamp_spelling_of_one_instant_means_the_same_time(stamp: object) -> None:
    document = small_document()
    document["incident"]["started_at"] = stamp
    document["changes"][0]["at"] = stamp
    # A series spelled all alike (the common case) and one that mixes spellings.
    document["metrics"][0]["points"] = [[stamp, 1.0], [stamp, 2.0]]
    mixed = copy.deepcopy(document["metrics"][0])
    mixed["points"] = [[stamp, 1.0], ["2026-11-20T14:06:00Z", 2.0], [1795183620, 3.0]]
    document["metrics"].append(mixed)

    bundle = parse(document)

    assert bundle.incident.started_at == DETECTED
    assert bundle.changes[0].at == DETECTED
    assert bundle.metrics[0].times.tolist() == [DETECTED, DETECTED]
    assert bundle.metrics[1].times.tolist() == [DETECTED, DETECTED + 60, DETECTED + 120]


def test_fractions_of_a_second_are_kept_to_the_millisecond() -> None:
    document = small_document()
    document["incident"]["started_at"] = "2026-11-20T14:05:00.250Z"
    document["metrics"][0]["points"] = [
        ["2026-11-20T14:05:00.125Z", 1.0],
        ["2026-11-20T14:05:01.5Z", 2.0],
    ]
    bundle = parse(document)
    assert bundle.incident.started_at == pytest.approx(DETECTED + 0.25, abs=1e-6)
    assert bundle.metrics[0].times.tolist() == pytest.approx(
        [DETECTED + 0.125, DETECTED + 1.5], abs=1e-6
    )


def test_null_values_become_nan_and_stay_in_place() -> None:
    document = small_document()
    document["metrics"][0]["points"] = [
        ["2026-11-20T14:00:00Z", 1.5],
        ["2026-11-20T14:01:00Z", None],
        ["2026-11-20T14:02:00Z", 3.5],
        [1795183380, None],
    ]
    values = parse(document).metrics[0].values
    assert values[0] == 1.5
    assert math.isnan(values[1])
    assert values[2] == 3.5
    assert math.isnan(values[3])


@pytest.mark.parametrize(
    "points",
    [
        [[1795183320, 3.0], [1795183200, 1.0], [1795183260, None]],
        [
            ["2026-11-20T14:02:00Z", 3.0],
            ["2026-11-20T14:00:00Z", 1.0],
            ["2026-11-20T14:01:00Z", None],
        ],
        [["2026-11-20T14:02:00Z", 3.0], [1795183200, 1.0], ["2026-11-20T16:01:00+02:00", None]],
    ],
    ids=["numbers", "rfc3339", "mixed"],
)
def test_unsorted_points_are_sorted_with_their_values(points: list[list[object]]) -> None:
    document = small_document()
    document["metrics"][0]["points"] = points
    series = parse(document).metrics[0]
    assert series.times.tolist() == [DETECTED - 300, DETECTED - 240, DETECTED - 180]
    assert series.values[0] == 1.0
    assert math.isnan(series.values[1])
    assert series.values[2] == 3.0


def test_empty_metrics_and_missing_optional_parts_are_fine() -> None:
    document = small_document()
    document["metrics"] = []
    del document["log_samples"]
    del document["changes"]
    del document["incident"]["symptom_services"]
    del document["incident"]["title"]
    bundle = parse(document)
    assert bundle.metrics == []
    assert bundle.changes == []
    assert bundle.log_samples == []
    assert bundle.incident.symptom_services == ()


def test_unknown_fields_are_ignored_everywhere() -> None:
    document = small_document()
    document["exported_by"] = {"tool": "incident-copilot", "version": "0.1.0"}
    document["incident"]["severity"] = "SEV-2"
    document["services"][0]["tier"] = 1
    document["metrics"][0]["tags"] = ["env:prod"]
    document["changes"][0]["pipeline"] = {"id": 7}
    document["log_samples"][0]["trace_id"] = "abc"
    assert_same_bundle(parse(document), parse(small_document()))


# ---------------------------------------------------------------------------------------------
# Invalid documents: every message names the JSON path of what is wrong


Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: object) -> Mutation:
    """A mutation that sets ``a.b[0].c`` in the document."""

    def mutate(document: dict[str, Any]) -> None:
        keys: list[str | int] = [
            int(k) if k.isdigit() else k for k in re.findall(r"[^.\[\]]+", path)
        ]
        target: Any = document
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return mutate


def _delete(path: str) -> Mutation:
    def mutate(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = document
        for key in parents:
            target = target[int(key)] if key.isdigit() else target[key]
        del target[last]

    return mutate


def _duplicate_service(document: dict[str, Any]) -> None:
    document["services"].append({"name": "api", "team": "other", "depends_on": []})


EXACT_ERRORS = [
    pytest.param(
        _set("metrics.0.points.1.0", "yesterday"),
        "metrics[0].points[1]: timestamp is not RFC 3339 or a number",
        id="timestamp-words",
    ),
    pytest.param(
        _set("metrics.0.points.1.0", "2026-11-20T14:01:00"),
        "metrics[0].points[1]: timestamp is not RFC 3339 or a number",
        id="timestamp-without-zone",
    ),
    pytest.param(
        _set("metrics.0.points.1.0", "2026-11-31T14:01:00Z"),
        "metrics[0].points[1]: timestamp is not RFC 3339 or a number",
        id="timestamp-no-such-day",
    ),
    pytest.param(
        _set("metrics.0.points.1.0", True),
        "metrics[0].points[1]: timestamp is not RFC 3339 or a number",
        id="timestamp-boolean",
    ),
    pytest.param(
        _set("metrics.0.points.2.0", None),
        "metrics[0].points[2]: timestamp is not RFC 3339 or a number",
        id="timestamp-null",
    ),
    pytest.param(
        _set("metrics.0.points.1.1", "2.0"),
        "metrics[0].points[1]: value must be a number or null",
        id="value-string",
    ),
    pytest.param(
        _set("metrics.0.points.2.1", True),
        "metrics[0].points[2]: value must be a number or null",
        id="value-boolean",
    ),
    pytest.param(
        _set("metrics.0.points.1", [1795183260]),
        "metrics[0].points[1]: a point must be a [timestamp, value] pair",
        id="point-not-a-pair",
    ),
    pytest.param(
        _set("incident.started_at", "soon"),
        "incident.started_at: timestamp is not RFC 3339 or a number",
        id="started-at-words",
    ),
    pytest.param(
        _set("changes.0.at", "2026-11-20"),
        "changes[0].at: timestamp is not RFC 3339 or a number",
        id="change-at-date-only",
    ),
    pytest.param(
        _set("log_samples.0.timestamp", "noon"),
        "log_samples[0].timestamp: timestamp is not RFC 3339 or a number",
        id="log-timestamp",
    ),
    pytest.param(
        _set("metrics.0.service", "ghost"),
        "metrics[0].service: unknown service 'ghost' (not listed in services)",
        id="metric-unknown-service",
    ),
    pytest.param(
        _set("changes.0.service", "ghost"),
        "changes[0].service: unknown service 'ghost' (not listed in services)",
        id="change-unknown-service",
    ),
    pytest.param(
        _set("log_samples.0.service", "ghost"),
        "log_samples[0].service: unknown service 'ghost' (not listed in services)",
        id="log-unknown-service",
    ),
    pytest.param(
        _set("services.1.depends_on", ["db", "ghost"]),
        "services[1].depends_on[1]: unknown service 'ghost'",
        id="depends-on-unknown-service",
    ),
    pytest.param(
        _set("incident.symptom_services", ["web", "ghost"]),
        "incident.symptom_services[1]: unknown service 'ghost' (not listed in services)",
        id="symptom-unknown-service",
    ),
    pytest.param(
        _duplicate_service,
        "services[3].name: duplicate service 'api' (also services[1])",
        id="duplicate-service",
    ),
    pytest.param(
        _set("metrics.0.kind", "speed"),
        "metrics[0].kind: unknown kind 'speed' "
        "(one of latency, errors, traffic, saturation, availability, other)",
        id="unknown-metric-kind",
    ),
    pytest.param(
        _set("changes.0.kind", "rollback"),
        "changes[0].kind: unknown kind 'rollback' "
        "(one of deploy, config, feature_flag, infra, other)",
        id="unknown-change-kind",
    ),
    pytest.param(
        _set("version", 2),
        "version: unsupported version 2 (this reads version 1)",
        id="version-2",
    ),
]


@pytest.mark.parametrize(("mutate", "message"), EXACT_ERRORS)
def test_an_invalid_document_is_rejected_with_a_message_naming_the_json_path(
    mutate: Mutation, message: str
) -> None:
    document = small_document()
    mutate(document)
    error = error_of(document)
    assert str(error) == message
    assert error.path == message.split(": ", 1)[0]


def test_a_bad_point_deep_in_a_long_series_is_named_by_its_index() -> None:
    document = small_document()
    document["metrics"][0]["points"] = [[1795183000 + 10 * i, float(i)] for i in range(500)]
    document["metrics"].insert(0, copy.deepcopy(document["metrics"][0]))
    document["metrics"][1]["points"][377][0] = "2026-11-20 at noon"
    assert (
        str(error_of(document)) == "metrics[1].points[377]: timestamp is not RFC 3339 or a number"
    )


@pytest.mark.parametrize(
    ("mutate", "path", "words"),
    [
        pytest.param(_set("services.0.team", 5), "services[0].team", ["str", "int"], id="team"),
        pytest.param(_set("services.1.depends_on", "db"), "services[1].depends_on", ["array"]),
        pytest.param(_set("metrics.0.name", None), "metrics[0].name", ["str", "null"], id="name"),
        pytest.param(_set("version", "1"), "version", ["int", "str"], id="version-string"),
        pytest.param(_set("incident.id", 2041), "incident.id", ["str", "int"], id="incident-id"),
        pytest.param(_set("services", {"web": {}}), "services", ["array", "object"]),
    ],
)
def test_a_field_of_the_wrong_type_is_named(mutate: Mutation, path: str, words: list[str]) -> None:
    document = small_document()
    mutate(document)
    error = error_of(document)
    assert error.path == path
    assert str(error).startswith(f"{path}: ")
    for word in words:
        assert word in error.message


@pytest.mark.parametrize(
    ("mutate", "path", "field"),
    [
        pytest.param(_delete("services.1.team"), "services[1]", "team", id="team"),
        pytest.param(_delete("incident.started_at"), "incident", "started_at", id="started_at"),
        pytest.param(_delete("incident.id"), "incident", "id", id="incident-id"),
        pytest.param(_delete("metrics.0.points"), "metrics[0]", "points", id="points"),
        pytest.param(_delete("changes.0.at"), "changes[0]", "at", id="change-at"),
    ],
)
def test_a_missing_required_field_is_named_with_its_object(
    mutate: Mutation, path: str, field: str
) -> None:
    document = small_document()
    mutate(document)
    error = error_of(document)
    assert error.path == path
    assert str(error).startswith(f"{path}: ")
    assert "missing required field" in error.message
    assert f"'{field}'" in error.message


@pytest.mark.parametrize("field", ["version", "incident", "services", "metrics"])
def test_a_missing_top_level_field_is_named(field: str) -> None:
    document = small_document()
    del document[field]
    error = error_of(document)
    assert "missing required field" in str(error)
    assert f"'{field}'" in str(error)


@pytest.mark.parametrize(
    "text",
    ["not json at all", "", "{", '{"version": 1,}', b"\x00\x01\x02", "[1, 2, 3]", "null"],
)
def test_a_document_that_is_not_a_json_object_is_rejected(text: str | bytes) -> None:
    error = error_of(text)
    assert error.path == ""
    assert str(error)  # says something a person can act on


@pytest.mark.parametrize(
    "points",
    [
        [[1795183200, 1.0, 1795183260], [2.0]],
        [[1795183200], [1.0]],
        [1795183200, 1.0],
        [[1795183200, 1.0], [1795183260, 2.0, 1795183320, 3.0]],
    ],
    ids=["three-then-one", "ones", "not-nested", "four"],
)
def test_points_that_are_not_pairs_are_rejected(points: list[object]) -> None:
    document = small_document()
    document["metrics"][0]["points"] = points
    error = error_of(document)
    assert error.path.startswith("metrics[0].points")


NOT_RFC3339 = pytest.mark.parametrize(
    "stamp",
    ["12345678901234567890Z", "2026-11-20T14:00:00.Z", "  2026-11-20T14:00:00Z"],
    ids=["digits", "empty-fraction", "leading-blanks"],
)


@NOT_RFC3339
def test_a_started_at_that_is_not_rfc3339_is_rejected(stamp: str) -> None:
    document = small_document()
    document["incident"]["started_at"] = stamp
    assert str(error_of(document)) == "incident.started_at: timestamp is not RFC 3339 or a number"


@NOT_RFC3339
def test_a_points_timestamp_that_is_not_rfc3339_is_rejected_even_when_it_ends_in_z(
    stamp: str,
) -> None:
    document = small_document()
    document["metrics"][0]["points"][1][0] = stamp
    assert str(error_of(document)) == (
        "metrics[0].points[1]: timestamp is not RFC 3339 or a number"
    )


def test_load_bundle_of_a_missing_file_is_a_bundle_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-bundle.json"
    with pytest.raises(BundleError) as caught:
        load_bundle(missing)
    assert str(missing) in str(caught.value)


def test_load_bundle_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(small_document()), encoding="utf-8")
    assert_same_bundle(load_bundle(path), parse(small_document()))


# ---------------------------------------------------------------------------------------------
# Hostile documents: numbers past a float, times past any calendar, nesting past the decoders

RAW = "@raw@"


def with_raw(mutate_path: str, raw: str, document: dict[str, Any] | None = None) -> str:
    """The document as JSON text with ``raw`` (not expressible in Python's json) at a path."""
    document = document or small_document()
    _set(mutate_path, RAW)(document)
    return json.dumps(document).replace(json.dumps(RAW), raw)


BIG_INT = "1" + "0" * 400


@pytest.mark.parametrize(
    ("path", "raw", "named", "words"),
    [
        ("incident.started_at", "1e400", "incident.started_at", ["64-bit float"]),
        ("incident.started_at", BIG_INT, "incident.started_at", ["64-bit float"]),
        ("metrics.0.points.1.0", "1e400", "metrics[0].points[1]", ["timestamp", "64-bit float"]),
        ("metrics.0.points.1.0", BIG_INT, "metrics[0].points[1]", ["timestamp", "64-bit float"]),
        ("metrics.0.points.1.1", "-1e400", "metrics[0].points[1]", ["value", "64-bit float"]),
        ("metrics.0.points.1.1", BIG_INT, "metrics[0].points[1]", ["value", "null"]),
        ("changes.0.at", BIG_INT, "changes[0].at", ["64-bit float"]),
        ("log_samples.0.timestamp", "1e400", "log_samples[0].timestamp", ["64-bit float"]),
    ],
    ids=[
        "started-1e400", "started-10**400", "point-time-1e400", "point-time-10**400",
        "point-value-1e400", "point-value-10**400", "change-10**400", "log-1e400",
    ],
)  # fmt: skip
def test_a_number_beyond_a_float_is_named_not_a_crash(
    path: str, raw: str, named: str, words: list[str]
) -> None:
    error = error_of(with_raw(path, raw))
    assert error.path == named
    for word in words:
        assert word in error.message


@pytest.mark.parametrize(
    ("path", "stamp", "named", "words"),
    [
        ("incident.started_at", 1e12, "incident.started_at", ["after 2200", "milliseconds?"]),
        ("incident.started_at", -1e12, "incident.started_at", ["before 1970"]),
        (
            "incident.started_at",
            253402300800,
            "incident.started_at",
            ["after 2200", "milliseconds?"],
        ),
        ("incident.started_at", "0001-01-01T00:00:00+01:00", "incident.started_at", ["1970"]),
        ("incident.started_at", "9999-12-31T23:59:59Z", "incident.started_at", ["after 2200"]),
        ("changes.0.at", 1.8e12, "changes[0].at", ["milliseconds?"]),
        ("log_samples.0.timestamp", -1, "log_samples[0].timestamp", ["before 1970"]),
        ("metrics.0.points.2.0", 1795183320000, "metrics[0].points[2]", ["milliseconds?"]),
        ("metrics.0.points.1.0", "2300-01-01T00:00:00Z", "metrics[0].points[1]", ["after 2200"]),
        ("metrics.0.points.1.0", "9999-01-01T00:00:00Z", "metrics[0].points[1]", ["after 2200"]),
        ("metrics.0.points.0.0", -60, "metrics[0].points[0]", ["before 1970"]),
    ],
)
def test_a_timestamp_outside_1970_to_2200_is_named_with_what_to_give(
    path: str, stamp: object, named: str, words: list[str]
) -> None:
    document = small_document()
    _set(path, stamp)(document)
    error = error_of(document)
    assert error.path == named
    assert "give Unix seconds" in error.message
    for word in words:
        assert word in error.message
    assert ("milliseconds?" in error.message) == ("milliseconds?" in words)


def test_the_edges_of_the_timestamp_range_are_accepted() -> None:
    document = small_document()
    document["incident"]["started_at"] = "2199-12-31T23:59:59Z"
    document["changes"][0]["at"] = 0
    document["metrics"][0]["points"] = [[0, 1.0], ["2200-01-01T00:00:00Z", 2.0]]
    bundle = parse(document)
    assert bundle.metrics[0].times.tolist() == [0.0, 7_258_118_400.0]


@pytest.mark.parametrize(
    ("where", "named"),
    [
        ("metrics.0.points", "metrics[0].points[0][0][0]"),
        ("metrics.0.points.1.1", "metrics[0].points[1][1][0][0]"),
        ("incident.context", "incident.context[0][0][0]"),
        ("services.0.notes", "services[0].notes[0][0][0]"),
    ],
)
def test_nesting_deeper_than_the_decoders_follow_is_named(where: str, named: str) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    error = error_of(with_raw(where, deep))
    assert error.path.startswith(named)
    assert "nested more than 100 deep" in error.message


def test_a_deep_object_names_its_keys() -> None:
    deep = '{"a":' * 5_000 + "1" + "}" * 5_000
    error = error_of(with_raw("incident.context", deep))
    assert error.path.startswith("incident.context.a.a.a")


@pytest.mark.parametrize("seconds", [1e12, -1e12, 253402300800.0, math.inf, -math.inf, math.nan])
def test_formatting_a_time_no_calendar_holds_does_not_raise(seconds: float) -> None:
    assert format_timestamp(seconds)


def test_formatting_an_ordinary_time_is_rfc3339() -> None:
    assert format_timestamp(DETECTED + 0.4) == "2026-11-20T14:05:00Z"


def test_repeated_timestamps_are_kept_as_given_for_scoring_to_merge() -> None:
    document = small_document()
    document["metrics"][0]["points"] = [
        [1795183260, 1.0],
        [1795183200, 3.0],
        [1795183200, 1.0],
        ["2026-11-20T14:01:00Z", None],
    ]
    series = parse(document).metrics[0]
    assert series.times.tolist() == [DETECTED - 300, DETECTED - 300, DETECTED - 240, DETECTED - 240]
    assert series.values[:2].tolist() == [3.0, 1.0]
    merged = clean(series)
    assert merged.times.tolist() == [DETECTED - 300, DETECTED - 240]
    assert merged.values.tolist() == [2.0, 1.0]


# ---------------------------------------------------------------------------------------------
# Writing


def rich_document() -> dict[str, Any]:
    """Several series: numbers and strings, millisecond times, nulls, negative and tiny values."""
    document = small_document()
    document["metrics"] = [
        {
            "service": "api",
            "name": "trace.http.request.duration.p95",
            "kind": "latency",
            "unit": "ms",
            "points": [
                ["2026-11-20T14:00:00.125Z", 12.5],
                ["2026-11-20T14:00:10.250Z", None],
                ["2026-11-20T14:00:20.375Z", 0.00125],
                ["2026-11-20T14:00:30Z", -3.75],
            ],
        },
        {
            "service": "db",
            "name": "postgresql.percent_usage_connections",
            "kind": "saturation",
            "points": [[1795183200, 40], [1795183260.5, 98.25], [1795183320, None]],
        },
        {"service": "web", "name": "empty", "kind": "traffic", "points": []},
    ]
    document["changes"].append(
        {
            "service": "db",
            "kind": "config",
            "at": "2026-11-20T13:55:00Z",
            "id": "cfg-12",
            "title": "max_connections 200",
            "author": "mona",
            "url": "https://example.invalid/cfg-12",
        }
    )
    return document


def test_dump_bundle_round_trips() -> None:
    original = parse(rich_document())
    text = dump_bundle(original)
    json.loads(text)  # plain JSON that any tool reads
    assert_same_bundle(original, parse_bundle(text))


def test_write_bundle_round_trips_through_a_file(tmp_path: Path) -> None:
    original = parse(rich_document())
    path = tmp_path / "out" / "bundle.json"
    path.parent.mkdir()
    write_bundle(original, path)
    assert path.read_text(encoding="utf-8") == dump_bundle(original)
    assert_same_bundle(original, load_bundle(path))


def test_a_round_trip_is_stable() -> None:
    once = dump_bundle(parse(rich_document()))
    assert dump_bundle(parse_bundle(once)) == once


def test_a_bundle_with_microsecond_timestamps_can_be_written_and_read_back() -> None:
    document = small_document()
    document["metrics"][0]["points"] = [
        ["2026-11-20T14:00:00.000123+00:00", 1.0],
        ["2026-11-20T14:01:00Z", 2.0],
    ]
    original = parse(document)
    again = parse_bundle(dump_bundle(original))
    np.testing.assert_allclose(again.metrics[0].times, original.metrics[0].times, atol=0.0005)


# ---------------------------------------------------------------------------------------------
# The alert


def with_alert(service: str = "api", metric: str = "trace.http.request.errors") -> dict[str, Any]:
    document = small_document()
    document["incident"]["alert"] = {"service": service, "metric": metric}
    return document


def test_the_alert_names_its_series_and_survives_a_round_trip() -> None:
    bundle = parse(with_alert())
    assert bundle.incident.alert is not None
    assert (bundle.incident.alert.service, bundle.incident.alert.metric) == (
        "api",
        "trace.http.request.errors",
    )
    again = parse_bundle(dump_bundle(bundle))
    assert again.incident.alert == bundle.incident.alert


def test_without_an_alert_there_is_none() -> None:
    assert parse(small_document()).incident.alert is None
    assert '"alert"' not in dump_bundle(parse(small_document()))


def test_an_alert_on_an_unknown_service_is_named() -> None:
    error = error_of(with_alert(service="ghost"))
    assert error.path == "incident.alert.service"
    assert "ghost" in str(error)


def test_an_alert_naming_no_series_of_the_bundle_says_what_to_do() -> None:
    error = error_of(with_alert(metric="http.latency.p99"))
    assert error.path == "incident.alert.metric"
    assert "http.latency.p99" in str(error) and "name one of the bundle's series" in str(error)
