"""The GitHub connector against its stand-in, over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from connectors_testkit import FAST, INCIDENT, SERVICES, T0, when
from pydantic import SecretStr

from connectors.config import GitHubConfig
from connectors.errors import AuthError, BadResponse, NotFound, RateLimited, ReadOnlyViolation
from connectors.github import GitHubChanges
from investigators.bundle import Bundle
from sandbox.faults import FAULTS, REQUESTS, run_standin
from sandbox.github_api import GitHubStandinConfig, github_app

App = tuple[web.Application, str]
REPOS = [f"acme/{s}" for s in SERVICES]


def config(base_url: str, **overrides: object) -> GitHubConfig:
    values: dict[str, object] = {
        "token": SecretStr("sandbox-gh-token"),
        "base_url": base_url,
        "resilience": FAST,
    }
    values.update(overrides)
    return GitHubConfig.model_validate(values)


async def test_changes_repo_by_repo(github: App) -> None:
    app, url = github
    async with GitHubChanges(config(url)) as gh:
        found = await gh.changes(["acme/db", "acme/cache"], when(T0), with_files=True)
    commit = next(c for c in found.commits if c.sha.startswith("d0c0ffe"))
    assert commit.repo == "acme/db" and commit.author == "ana"
    assert commit.title == "Raise pool timeout" and commit.files == ["src/handler.py"]
    assert commit.url == f"https://github.com/acme/db/commit/{commit.sha}"
    [pull] = found.pull_requests
    assert pull.repo == "acme/db" and pull.url.startswith("https://github.com/acme/db/pull/")
    [deploy] = found.deployments
    assert deploy.state == "success" and deploy.sha == commit.sha and deploy.creator == "ana"
    [release] = found.releases
    assert release.url.startswith("https://github.com/acme/db/releases/tag/v1.")
    paths = {r.path for r in app[REQUESTS]}
    assert "/repos/acme/cache/commits" in paths and not any(p.startswith("/search") for p in paths)


async def test_many_repos_of_one_owner_are_searched(github: App) -> None:
    app, url = github
    async with GitHubChanges(config(url, search_threshold=3)) as gh:
        found = await gh.changes(REPOS, when(INCIDENT - 3600))
    assert {c.repo for c in found.commits} >= {"acme/db"}
    assert [p.repo for p in found.pull_requests] == ["acme/db"]
    paths = [r.path for r in app[REQUESTS]]
    assert paths.count("/search/commits") == 1 and paths.count("/search/issues") == 1
    assert not any(p.endswith("/commits") and p.startswith("/repos/") for p in paths)
    assert found.deployments and all(
        d.created_at >= when(INCIDENT - 3600) for d in found.deployments
    )


@pytest.fixture
async def busy_github(bundle: Bundle) -> AsyncIterator[App]:
    """A stand-in whose repositories have hundreds of commits, to paginate through."""
    app = github_app(bundle, config=GitHubStandinConfig(background_commits_per_day=2000))
    base_url, cleanup = await run_standin(app)
    yield app, base_url
    await cleanup()


async def test_pagination_follows_the_link_header(busy_github: App) -> None:
    app, url = busy_github
    async with GitHubChanges(config(url)) as gh:
        commits = await gh.commits("acme/worker", when(T0 - 86400))
    assert len(commits) > 200
    assert len({c.sha for c in commits}) == len(commits)
    pages = [r.query.get("page", "1") for r in app[REQUESTS]]
    assert pages[:3] == ["1", "2", "3"]


async def test_secondary_rate_limit_is_waited_out(github: App) -> None:
    app, url = github
    app[FAULTS].inject("/repos/acme/db/releases", status=403, retry_after=1, times=1)
    async with GitHubChanges(config(url)) as gh:
        releases = await gh.releases("acme/db", when(T0))
    assert len(releases) == 1 and len(app[REQUESTS]) == 2


async def test_primary_rate_limit_reset_too_far_fails_fast(github: App) -> None:
    app, url = github
    reset = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "4102444800"}
    app[FAULTS].inject("/repos", status=403, headers=reset)
    async with GitHubChanges(config(url)) as gh:
        with pytest.raises(RateLimited, match="try again after"):
            await gh.deployments("acme/db", when(T0))
    assert len(app[REQUESTS]) == 1


async def test_bad_token_names_the_variable_not_the_value(github: App) -> None:
    _, url = github
    secret = "ghp_wrongwrongwrong0123456789"
    async with GitHubChanges(config(url, token=SecretStr(secret))) as gh:
        with pytest.raises(AuthError) as caught:
            await gh.changes(["acme/db"], when(T0))
    assert "GITHUB_TOKEN" in str(caught.value) and secret not in str(caught.value)


async def test_unknown_repository_is_not_found(github: App) -> None:
    _, url = github
    async with GitHubChanges(config(url)) as gh:
        with pytest.raises(NotFound) as caught:
            await gh.commits("acme/nope", when(T0))
    assert caught.value.connector == "github"


async def test_error_body_where_a_list_belongs(github: App) -> None:
    app, url = github
    app[FAULTS].inject("/repos/acme/db/commits", error_body=True)
    async with GitHubChanges(config(url)) as gh:
        with pytest.raises(BadResponse, match="instead of a list"):
            await gh.commits("acme/db", when(T0))


async def test_garbled_search_is_a_bad_response(github: App) -> None:
    app, url = github
    app[FAULTS].inject("/search", garbled=True)
    async with GitHubChanges(config(url, search_threshold=2)) as gh:
        with pytest.raises(BadResponse, match=r"github: .*instead of JSON"):
            await gh.changes(REPOS, when(T0))


async def test_writes_and_foreign_links_are_refused(github: App) -> None:
    app, url = github
    async with GitHubChanges(config(url)) as gh:
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            with pytest.raises(ReadOnlyViolation):
                await gh.http.request(method, "/repos/acme/db/deployments")
        with pytest.raises(BadResponse, match="another host"):
            await gh.http.get_json("https://evil.example/steal")
    assert app[REQUESTS] == []


def test_enterprise_links_point_at_the_enterprise_host() -> None:
    cfg = GitHubConfig(token=SecretStr("t"), base_url="https://ghe.acme.example/api/v3")
    assert cfg.web_base == "https://ghe.acme.example"
    assert GitHubConfig(token=SecretStr("t")).web_base == "https://github.com"
