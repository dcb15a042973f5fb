"""The service catalog: both formats, lookups, every kind of problem, and the check report."""

from __future__ import annotations

import textwrap
from pathlib import Path

import networkx as nx
import pytest
import yaml

from investigators.catalog import (
    KINDS,
    MAX_PROBLEMS,
    Catalog,
    CatalogError,
    CatalogService,
    Team,
    _Loader,
    catalog_report,
    check_catalog,
    load_catalog,
)

REPO = Path(__file__).resolve().parents[2]
SERVICES_YAML = REPO / "manifests" / "services.yaml"
BACKSTAGE_EXAMPLE = REPO / "examples" / "backstage" / "catalog-info.yaml"


def write(path: Path, text: str) -> Path:
    """Write dedented YAML, making parent directories."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    """The problems loading ``path`` reports (it must fail)."""
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    return caught.value.problems


def component(name: str, *, namespace: str = "default", depends_on: str = "[]") -> str:
    """A minimal Backstage Component document."""
    return f"""
        ---
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata: {{name: {name}, namespace: {namespace}}}
        spec: {{type: service, lifecycle: production, owner: group:team-a, dependsOn: {depends_on}}}
    """


def resource(name: str, *, namespace: str = "default") -> str:
    """A minimal Backstage Resource document (a database)."""
    return f"""
        ---
        apiVersion: backstage.io/v1alpha1
        kind: Resource
        metadata: {{name: {name}, namespace: {namespace}}}
        spec: {{type: database, owner: team-a}}
    """


# ---------------------------------------------------------------------------------------------
# The shipped examples


def test_services_yaml_example_loads_with_teams_inherited() -> None:
    catalog = load_catalog(SERVICES_YAML)

    assert len(catalog.services) == 17
    assert list(catalog.services)[:3] == ["frontend", "api-gateway", "auth"]
    payments = catalog.services["payments"]
    assert payments.team == "payments"
    assert payments.depends_on == ("payments-db", "stripe", "kafka")
    assert payments.slack_group == "S0614PAY7"  # inherited from teams.payments
    assert payments.datadog_service == "payments"  # defaults to the name
    assert payments.source == f"{SERVICES_YAML}: services[4] (payments)"
    assert catalog.services["notification"].slack_group == "@notifications-oncall"  # own wins
    assert catalog.services["payments-db"].kind == "database"
    assert catalog.services["frontend"].github_repo == "acme-shop/storefront-web"
    assert catalog.services["api-gateway"].log_filter is not None
    assert catalog.teams["platform"] == Team("platform", "@platform-oncall", "Platform & SRE")
    assert catalog.sources == (str(SERVICES_YAML),)


def test_services_yaml_example_gives_the_graph_the_engine_uses() -> None:
    catalog = load_catalog(SERVICES_YAML)
    graph = catalog.graph()

    assert graph.has_edge("checkout", "payments")
    assert not graph.has_edge("payments", "checkout")
    assert graph.nodes["payments-db"] == {"team": "payments", "kind": "database"}
    assert nx.is_directed_acyclic_graph(graph)
    services = catalog.to_services()
    assert [s.name for s in services] == list(catalog.services)
    assert services[0].depends_on == ("api-gateway",)


def test_backstage_example_is_the_same_graph_as_services_yaml() -> None:
    ours = load_catalog(SERVICES_YAML)
    theirs = load_catalog(BACKSTAGE_EXAMPLE)
    shared = set(theirs.services)

    assert shared == {
        "checkout",
        "payments",
        "payments-db",
        "stripe",
        "inventory",
        "orders",
        "orders-db",
        "redis-cache",
        "kafka",
    }
    assert shared <= set(ours.services)
    expected = ours.graph().subgraph(shared)
    assert set(theirs.graph().edges) == set(expected.edges)
    assert dict(theirs.graph().nodes(data=True)) == dict(expected.nodes(data=True))
    for name in shared:
        a, b = ours.services[name], theirs.services[name]
        assert b.depends_on == tuple(d for d in a.depends_on if d in shared), name
        for attribute in ("team", "kind", "slack_group", "github_repo", "datadog_service"):
            assert getattr(a, attribute) == getattr(b, attribute), (name, attribute)
        assert set(a.aliases) == set(b.aliases), name
        assert a.system == b.system, name
        assert ours.team_of(a) == theirs.team_of(b), name


def test_check_of_the_examples_passes_without_warnings() -> None:
    for path in (SERVICES_YAML, BACKSTAGE_EXAMPLE, BACKSTAGE_EXAMPLE.parent):
        code, text = check_catalog(path)
        assert code == 0, text
        assert "No warnings." in text


# ---------------------------------------------------------------------------------------------
# Lookups


def test_resolve_finds_names_aliases_and_datadog_services_in_any_case() -> None:
    catalog = load_catalog(SERVICES_YAML)

    assert catalog.resolve("payments") is catalog.services["payments"]
    assert catalog.resolve("PAY") is catalog.services["payments"]
    assert catalog.resolve(" payments-api ") is catalog.services["payments"]
    assert catalog.resolve("postgres-payments") is catalog.services["payments-db"]
    assert catalog.resolve("storefront-web") is catalog.services["frontend"]
    assert catalog.resolve("nothing-like-it") is None


def test_names_beat_aliases_and_shared_datadog_services_resolve_to_nothing() -> None:
    catalog = Catalog(
        [
            CatalogService("web", "a", aliases=("api",)),
            CatalogService("api", "b"),
            CatalogService("orders-db", "c", datadog_service="postgres"),
            CatalogService("users-db", "c", datadog_service="postgres"),
        ]
    )

    assert catalog.resolve("api") is catalog.services["api"]
    assert catalog.resolve("postgres") is None  # two services: tagging either would be a guess
    assert catalog.team_of("web") == Team("a", None, "a")


def test_suggest_and_team_of() -> None:
    catalog = load_catalog(SERVICES_YAML)

    assert catalog.suggest("paymnets")[0] == "payments"
    assert "inventory" in catalog.suggest("inventroy", n=1)
    assert catalog.suggest("zzzzzz") == []
    assert catalog.team_of("pay").slack_group == "S0614PAY7"
    assert catalog.team_of(catalog.services["kafka"]).display_name == "Platform & SRE"
    with pytest.raises(KeyError):
        catalog.team_of("no-such-service")


def test_teams_may_be_a_list_and_services_without_teams_entry_get_a_bare_team(
    tmp_path: Path,
) -> None:
    listed = write(
        tmp_path / "listed.yaml",
        """
        teams:
          - {handle: payments, slack_group: "@pay-oncall", display_name: Payments}
        services:
          - {name: payments, team: payments}
        """,
    )
    bare = write(tmp_path / "bare.yaml", "services:\n  - {name: api, team: web}\n")

    assert load_catalog(listed).services["payments"].slack_group == "@pay-oncall"
    catalog = load_catalog(bare)
    assert catalog.teams == {"web": Team("web", None, "web")}
    assert catalog.services["api"].slack_group is None


def test_depends_on_may_name_an_alias(tmp_path: Path) -> None:
    path = write(
        tmp_path / "services.yaml",
        """
        services:
          - {name: checkout, team: a, depends_on: [PAY]}
          - {name: payments, team: a, aliases: [pay]}
        """,
    )

    assert load_catalog(path).services["checkout"].depends_on == ("payments",)


# ---------------------------------------------------------------------------------------------
# Problems: each names the file, the entry, what is wrong and what to do


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        pytest.param(
            "- {name: checkout, team: a, depends_on: [paymnets]}\n- {name: payments, team: a}",
            "services[0] (checkout): depends_on[0] 'paymnets' is not a known service "
            "(did you mean 'payments'?)",
            id="unknown dependency",
        ),
        pytest.param(
            "- {name: payments, team: a}\n- {name: Payments, team: b}",
            "services[1] (Payments): duplicate service 'Payments' (also ",
            id="duplicate name",
        ),
        pytest.param(
            "- {name: payments}",
            "services[0] (payments): missing team; give the owning team's handle",
            id="missing team",
        ),
        pytest.param(
            "- {team: a}",
            "services[0]: missing name; every service needs one",
            id="missing name",
        ),
        pytest.param(
            "- {name: 404, team: a}",
            "services[0]: name must be text, not 404 (put it in quotes)",
            id="number as name",
        ),
        pytest.param(
            "- {name: api, team: a, depends_on: db}",
            "services[0] (api): depends_on must be a list, e.g. depends_on: [db]",
            id="string instead of list",
        ),
        pytest.param(
            "- {name: api, team: a, aliases: [ok, {x: 1}]}",
            "services[0] (api): aliases[1] must be text, not a mapping",
            id="mapping inside a list",
        ),
        pytest.param(
            "- {name: api, team: a, dependson: []}",
            "services[0] (api): unknown field 'dependson' (did you mean 'depends_on'?)",
            id="unknown field",
        ),
        pytest.param(
            "- {name: api, team: a, kind: databse}",
            "services[0] (api): kind 'databse' is unknown (did you mean 'database'?)",
            id="unknown kind",
        ),
        pytest.param(
            "- {name: api, team: a, slack_group: api-oncall}",
            "services[0] (api): slack_group 'api-oncall' should be a user-group like",
            id="slack group without @",
        ),
        pytest.param(
            "- {name: api, team: a, github_repo: just-a-name}",
            "services[0] (api): github_repo 'just-a-name' should be owner/name",
            id="github repo",
        ),
        pytest.param(
            "- {name: my api, team: a}",
            "services[0] (my api): name 'my api' may hold only letters, digits",
            id="name with a space",
        ),
        pytest.param(
            "- {name: api, team: a, aliases: [web]}\n- {name: web, team: a}",
            "services[0] (api): alias 'web' already names ",
            id="alias taken by a name",
        ),
        pytest.param(
            "- {name: api, team: a, depends_on: [api]}",
            "services[0] (api): depends_on[0] 'api' is the service itself; remove it",
            id="self dependency",
        ),
        pytest.param(
            "- just a string",
            "services[0]: must be a mapping with name and team, not the text 'just a string'",
            id="entry not a mapping",
        ),
    ],
)
def test_each_problem_names_file_entry_and_fix(tmp_path: Path, entries: str, expected: str) -> None:
    path = tmp_path / "services.yaml"
    path.write_text(f"services:\n{textwrap.indent(entries, '  ')}\n", encoding="utf-8")

    problems = problems_of(path)

    assert any(p.startswith(f"{path}: {expected}") for p in problems), problems


def test_a_service_must_use_a_declared_team_when_teams_are_listed(tmp_path: Path) -> None:
    path = write(
        tmp_path / "services.yaml",
        """
        teams:
          payments: {slack_group: "@payments-oncall"}
        services:
          - {name: payments, team: paymnets}
        """,
    )

    assert problems_of(path) == [
        f"{path}: services[0] (payments): team 'paymnets' is not under teams: "
        "(did you mean 'payments'?); add it there"
    ]


def test_bad_team_entries_are_named(tmp_path: Path) -> None:
    path = write(
        tmp_path / "services.yaml",
        """
        teams:
          - {handle: a, slack_group: "#a-channel"}
          - {slack_group: "@b"}
          - {handle: c, slack: "@c"}
        services: []
        """,
    )

    problems = problems_of(path)

    assert f"{path}: teams[0] (a): slack_group '#a-channel' should be a user-group" in problems[2]
    assert problems[0].startswith(f"{path}: teams[1]: missing handle")
    assert problems[1].startswith(f"{path}: teams[2] (c): unknown field 'slack'")


def test_yaml_syntax_error_gives_the_line(tmp_path: Path) -> None:
    path = tmp_path / "services.yaml"
    path.write_text("services:\n  - name: a\n    team: b\n   depends_on: []\n", encoding="utf-8")

    [problem] = problems_of(path)

    assert problem.startswith(f"{path}: line 4, column 4: invalid YAML")
    assert "fix the YAML there" in problem


def test_a_repeated_key_is_an_error_not_a_silent_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "services.yaml"
    path.write_text("services:\n  - name: a\n    team: b\n    team: c\n", encoding="utf-8")

    [problem] = problems_of(path)

    assert problem.startswith(f"{path}: line 4, column 5: invalid YAML: duplicate key 'team'")


def test_all_problems_are_collected_up_to_a_cap(tmp_path: Path) -> None:
    entries = "".join(f"  - {{name: s{i}, team: a, depends_on: [nope]}}\n" for i in range(70))
    path = tmp_path / "services.yaml"
    path.write_text(f"services:\n{entries}", encoding="utf-8")

    with pytest.raises(CatalogError) as caught:
        load_catalog(path)

    assert caught.value.total == 70
    assert len(caught.value.problems) == MAX_PROBLEMS
    assert str(caught.value).endswith("... and 20 more")
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("key", "what"),
    [("? [a, b]\n    : 1", "a list"), ("? {a: 1}\n    : 1", "a mapping")],
    ids=["list", "mapping"],
)
def test_a_key_that_is_a_list_or_a_mapping_is_named_by_its_line(
    tmp_path: Path, key: str, what: str
) -> None:
    path = tmp_path / "services.yaml"
    path.write_text(f"services:\n  - name: a\n    team: b\n    {key}\n", encoding="utf-8")

    [problem] = problems_of(path)

    assert problem.startswith(f"{path}: line 4, column 7: invalid YAML: a key must be a word")
    assert what in problem


@pytest.mark.parametrize(
    ("nesting", "line"),
    [
        ("notes: " + "[" * 5_000 + "]" * 5_000, 4),
        ("notes:\n" + "".join("  " * (depth + 3) + "k:\n" for depth in range(5_000)), 52),
    ],
    ids=["flow", "block"],
)
def test_nesting_thousands_deep_is_named_by_its_line(
    tmp_path: Path, nesting: str, line: int
) -> None:
    path = tmp_path / "services.yaml"
    path.write_text(f"services:\n  - name: a\n    team: b\n    {nesting}\n", encoding="utf-8")

    [problem] = problems_of(path)

    assert problem.startswith(f"{path}: line {line}, column ")
    assert "nested more than 50 deep" in problem
    assert "flatten" in problem


def test_merges_read_as_the_yaml_merge_key_spec_says(tmp_path: Path) -> None:
    text = textwrap.dedent(
        """
        base: &base {team: core, kind: worker, system: shop}
        loud: &loud {kind: queue, slack_group: "@loud"}
        services:
          - {<<: *base, name: a}
          - {<<: *base, <<: *loud, name: c, kind: cache}
          - {<<: {<<: *loud, team: ops}, name: d}
          - {<<: [*loud, *base], name: b}
        """
    )

    ours = yaml.load(text, Loader=_Loader)["services"]

    assert [dict(entry) for entry in ours] == [
        {"team": "core", "kind": "worker", "system": "shop", "name": "a"},
        {"team": "core", "kind": "cache", "system": "shop", "slack_group": "@loud", "name": "c"},
        {"kind": "queue", "slack_group": "@loud", "team": "ops", "name": "d"},
        # "Keys in mapping nodes earlier in the sequence override keys specified in later
        # mapping nodes" (yaml.org/type/merge); PyYAML 6.0.4 lets the later one win instead.
        {"team": "core", "kind": "queue", "system": "shop", "slack_group": "@loud", "name": "b"},
    ]
    assert ours[:3] == yaml.safe_load(text)["services"][:3]


def test_a_merged_entry_is_checked_like_any_other(tmp_path: Path) -> None:
    path = write(
        tmp_path / "services.yaml",
        """
        defaults: &defaults {team: core, kind: databse, tema: x}
        services:
          - {<<: *defaults, name: a}
        """,
    )

    problems = problems_of(path)

    assert problems == [
        f"{path}: top level: unknown field 'defaults'; known: services, teams",
        f"{path}: services[0] (a): unknown field 'tema' (did you mean 'team'?); known: "
        "name, team, slack_group, depends_on, aliases, github_repo, datadog_service, log_filter, "
        "kind, system",
        f"{path}: services[0] (a): kind 'databse' is unknown (did you mean 'database'?); known: "
        + ", ".join(KINDS),
    ]


def test_thousands_of_unknown_keys_merged_into_every_entry_give_a_bounded_report(
    tmp_path: Path,
) -> None:
    keys = "".join(f"  extra{k:03d}: 1\n" for k in range(300))
    entries = "".join(f"  - {{<<: *extra, name: s{i:03d}, team: core}}\n" for i in range(300))
    path = tmp_path / "services.yaml"
    path.write_text(f"x-extra: &extra\n{keys}services:\n{entries}", encoding="utf-8")

    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    code, text = check_catalog(path)

    assert caught.value.total == 1 + 300 * 300
    assert len(caught.value.problems) == MAX_PROBLEMS
    assert str(caught.value).endswith("\n... and 89,951 more unknown fields")
    assert code == 2
    lines = text.splitlines()
    assert len(lines) == MAX_PROBLEMS + 2
    assert lines[-2] == "... and 89,951 more unknown fields not shown"
    assert lines[-1].startswith(f"90,001 problems in {path}: ")


def test_a_misspelt_field_in_every_entry_is_suggested_in_each_line_shown(tmp_path: Path) -> None:
    entries = "".join(f"  - {{name: s{i}, team: core, dependson: []}}\n" for i in range(3))
    path = write(tmp_path / "services.yaml", f"services:\n{entries}")

    problems = problems_of(path)

    assert len(problems) == 3
    assert all("unknown field 'dependson' (did you mean 'depends_on'?)" in p for p in problems)


def test_the_remainder_names_what_it_holds_when_problems_are_mixed() -> None:
    error = CatalogError(["x"] * 60, unshown={"unknown fields": 5})
    assert error.total == 65
    assert str(error).endswith("\n... and 15 more (5 unknown fields among them)")


def test_a_file_in_neither_format_or_a_missing_path_is_explained(tmp_path: Path) -> None:
    other = write(tmp_path / "compose.yaml", "version: '3'\nservices_list: []\n")

    assert problems_of(other) == [
        f"{other}: not a catalog; expected a top-level 'services:' list or Backstage entities "
        "(apiVersion: backstage.io/...)"
    ]
    assert problems_of(tmp_path / "missing.yaml")[0].startswith(
        f"{tmp_path / 'missing.yaml'}: no such file or directory"
    )


# ---------------------------------------------------------------------------------------------
# Directories


def test_directory_loads_every_catalog_below_it_and_skips_other_yaml(tmp_path: Path) -> None:
    write(tmp_path / "core" / "services.yaml", "services:\n  - {name: api, team: a}\n")
    write(tmp_path / "teams" / "db" / "catalog-info.yml", resource("api-db"))
    write(
        tmp_path / "teams" / "web" / "catalog-info.yaml",
        component("web", depends_on="[component:api, resource:api-db]"),
    )
    write(tmp_path / "ci" / "workflow.yaml", "on: push\njobs: {build: {runs-on: ubuntu}}\n")
    write(tmp_path / "ci" / "broken.yaml", "key: [unclosed\n")
    write(tmp_path / ".hidden" / "services.yaml", "services:\n  - {name: api, team: z}\n")

    catalog = load_catalog(tmp_path)

    assert set(catalog.services) == {"api", "api-db", "web"}
    assert catalog.services["web"].depends_on == ("api", "api-db")
    assert len(catalog.sources) == 3


def test_directory_reports_a_broken_file_that_looks_like_a_catalog(tmp_path: Path) -> None:
    write(tmp_path / "a" / "services.yaml", "services:\n  - {name: api, team: a}\n")
    broken = write(
        tmp_path / "b" / "catalog-info.yaml", "apiVersion: backstage.io/v1alpha1\nkind: [\n"
    )

    [problem] = problems_of(tmp_path)

    assert problem.startswith(f"{broken}: line ")


def test_directory_without_a_catalog_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "values.yaml", "replicas: 3\n")

    assert problems_of(tmp_path) == [
        f"{tmp_path}: no catalog found in any *.yaml below it; expected a top-level 'services:' "
        "list or Backstage entities (apiVersion: backstage.io/...)"
    ]


# ---------------------------------------------------------------------------------------------
# Backstage


def test_backstage_namespaced_refs_point_at_their_namespace(tmp_path: Path) -> None:
    path = write(
        tmp_path / "catalog-info.yaml",
        component("checkout", depends_on="[resource:ops/payments-db, component:default/payments]")
        + component("payments", depends_on="[resource:ledger-db]")
        + resource("payments-db", namespace="ops")
        + component("ledger", namespace="ops", depends_on="[resource:ledger-db]")
        + resource("ledger-db", namespace="ops"),
    )

    problems = problems_of(path)

    # From the default namespace, an unqualified ref means default/ledger-db, which does not exist;
    # from ops, the same ref finds ops/ledger-db.
    assert problems == [
        f"{path}: document 2 (Component payments): spec.dependsOn[0] 'resource:ledger-db' is "
        "not a known entity in the catalog (did you mean 'resource:ops/ledger-db'?)"
    ]


def test_backstage_namespaced_refs_resolve_to_plain_names(tmp_path: Path) -> None:
    path = write(
        tmp_path / "catalog-info.yaml",
        component("checkout", depends_on="[resource:ops/payments-db, component:default/payments]")
        + component("payments")
        + resource("payments-db", namespace="ops")
        + component("ledger", namespace="ops", depends_on="[resource:payments-db]"),
    )

    catalog = load_catalog(path)

    assert catalog.services["checkout"].depends_on == ("payments-db", "payments")
    assert catalog.services["ledger"].depends_on == ("payments-db",)
    assert catalog.services["payments-db"].team == "team-a"


def test_backstage_same_name_in_two_namespaces_is_a_clear_error(tmp_path: Path) -> None:
    path = write(
        tmp_path / "catalog-info.yaml",
        resource("payments-db") + resource("payments-db", namespace="ops"),
    )

    assert problems_of(path) == [
        f"{path}: document 2 (Resource payments-db): duplicate service 'payments-db' (also "
        f"{path}: document 1 (Resource payments-db)); services are named by metadata.name alone, "
        "whatever their namespace: rename one"
    ]


def test_backstage_fields_owner_forms_groups_and_skipped_kinds(tmp_path: Path) -> None:
    path = write(
        tmp_path / "catalog-info.yaml",
        """
        apiVersion: backstage.io/v1alpha1
        kind: Group
        metadata:
          name: payments
          annotations: {slack.com/user-group-id: S0123ABCD}
        spec: {type: team, profile: {displayName: Payments Team}, children: []}
        ---
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata:
          name: payments
          title: Payment Service
          aliases: [pay]
          annotations:
            github.com/project-slug: acme/payments
            datadoghq.com/service: payments-svc
        spec:
          type: service
          lifecycle: production
          owner: group:default/payments
          system: system:billing
          dependsOn: [resource:ledger]
        ---
        apiVersion: backstage.io/v1alpha1
        kind: Resource
        metadata: {name: ledger}
        spec: {type: s3-bucket, owner: payments, dependencyOf: [component:reports]}
        ---
        apiVersion: backstage.io/v1beta1
        kind: Component
        metadata: {name: reports}
        spec: {type: lambda, owner: user:jdoe}
        ---
        apiVersion: backstage.io/v1alpha1
        kind: API
        metadata: {name: payments-api}
        spec: {type: openapi, owner: payments, definition: "{}"}
        ---
        apiVersion: backstage.io/v1alpha1
        kind: User
        metadata: {name: jdoe}
        spec: {memberOf: [payments]}
        ---
        apiVersion: backstage.io/v1alpha1
        kind: Location
        metadata: {name: more}
        spec: {targets: [./other/catalog-info.yaml]}
        ---
        apiVersion: example.com/v1
        kind: Something
        metadata: {name: not-ours}
        """,
    )

    catalog = load_catalog(path)

    assert list(catalog.services) == ["payments", "ledger", "reports"]
    payments = catalog.services["payments"]
    assert payments == CatalogService(
        name="payments",
        team="payments",
        depends_on=("ledger",),
        kind="service",
        aliases=("pay", "Payment Service"),
        slack_group="S0123ABCD",
        github_repo="acme/payments",
        datadog_service="payments-svc",
        source=f"{path}: document 2 (Component payments)",
        system="billing",
    )
    assert catalog.resolve("payment service") is payments
    assert catalog.services["ledger"].kind == "storage"
    assert catalog.services["reports"].depends_on == ("ledger",)  # from ledger's dependencyOf
    assert catalog.services["reports"].kind == "lambda"
    assert catalog.services["reports"].team == "jdoe"
    assert catalog.teams["payments"] == Team("payments", "S0123ABCD", "Payments Team")


def test_backstage_problems_name_the_document(tmp_path: Path) -> None:
    path = write(
        tmp_path / "catalog-info.yaml",
        """
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata: {name: api}
        spec: {type: service, lifecycle: production}
        ---
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata: {name: web}
        spec: {type: website, owner: group:web, dependsOn: [api, "component:"]}
        ---
        apiVersion: backstage.io/v1alpha1
        kind: Group
        metadata:
          name: web
          annotations: {slack.com/user-group: web-team}
        spec: {type: team, children: []}
        ---
        apiVersion: backstage.io/v1alpha1
        kind: Component
        spec: {owner: web}
        ---
        - not an entity
        """,
    )

    problems = problems_of(path)

    assert problems == [
        f"{path}: document 1 (Component api): missing spec.owner; name the owning team, "
        "e.g. owner: group:payments",
        f"{path}: document 2 (Component web): spec.dependsOn[0] 'api' needs a kind: "
        "write component:NAME or resource:NAME",
        f"{path}: document 2 (Component web): spec.dependsOn[1] 'component:' is not an entity "
        "reference like component:checkout or resource:ops/db",
        f"{path}: document 4: missing metadata.name; every entity needs a name",
        f"{path}: document 5: not a Backstage entity; each document needs apiVersion: "
        "backstage.io/v1alpha1, kind and metadata.name",
        f"{path}: document 3 (Group web): annotation slack.com/user-group 'web-team' should be "
        "a user-group like '@payments-oncall' or 'S0123ABCD'",
    ]


def test_a_backstage_ref_can_point_at_a_services_yaml_entry(tmp_path: Path) -> None:
    write(tmp_path / "services.yaml", "services:\n  - {name: payments, team: a}\n")
    write(
        tmp_path / "web" / "catalog-info.yaml", component("web", depends_on="[component:payments]")
    )

    assert load_catalog(tmp_path).services["web"].depends_on == ("payments",)


# ---------------------------------------------------------------------------------------------
# The check report


def test_report_shows_cycles_orphans_and_untaggable_services(tmp_path: Path) -> None:
    path = write(
        tmp_path / "services.yaml",
        """
        teams:
          core: {slack_group: "@core-oncall"}
          idle: {slack_group: "@idle"}
          data: {display_name: Data}
        services:
          - {name: web, team: core, depends_on: [orders]}
          - {name: orders, team: core, depends_on: [payments]}
          - {name: payments, team: core, depends_on: [orders, payments-db]}
          - {name: payments-db, team: core, kind: database}
          - {name: legacy-batch, team: core}
          - {name: reports, team: data}
        """,
    )

    code, report = check_catalog(path)

    assert code == 0
    lines = report.splitlines()
    assert lines[0] == f"Service catalog: {path}"
    assert lines[1] == "  6 services, 3 teams, 4 dependencies"
    assert "  service   5  web, orders, payments, legacy-batch, reports" in lines
    assert "  database  1  payments-db" in lines
    assert "  core  @core-oncall  web, orders, payments, payments-db, legacy-batch" in lines
    assert "  data  -             reports" in lines
    assert "Entry points (nothing calls them): web" in lines
    assert "Orphans (no caller, no dependency): legacy-batch, reports" in lines
    assert "Dependency cycles: 1" in lines
    assert "  orders -> payments -> orders" in lines
    assert any("no slack_group" in line and line.endswith(": reports") for line in lines)
    assert "  - teams owning no service: idle" in lines


def test_report_of_a_catalog_built_in_memory() -> None:
    catalog = Catalog([CatalogService("a", "t", depends_on=("b",)), CatalogService("b", "t")])

    report = catalog_report(catalog)

    assert "  2 services, 1 teams, 1 dependencies" in report
    assert "Dependency cycles: none" in report


def test_check_catalog_exit_code_and_problem_list(tmp_path: Path) -> None:
    path = write(
        tmp_path / "services.yaml",
        """
        services:
          - {name: checkout, team: a, depends_on: [paymnets]}
          - {name: payments}
        """,
    )

    code, text = check_catalog(path)

    assert code == 2
    lines = text.splitlines()
    assert lines[:2] == [
        f"{path}: services[1] (payments): missing team; give the owning team's handle, "
        "e.g. team: payments",
        f"{path}: services[0] (checkout): depends_on[0] 'paymnets' is not a known service",
    ]
    assert lines[-1] == (
        f"2 problems in {path}: fix each entry named above, "
        f"then run `incident-copilot catalog check {path}` again."
    )
