"""The GitHub stand-in against GitHub's REST API description; the connector against its examples.

Two checks, both over real HTTP:

* Every endpoint the stand-in serves answers a typical request with a body that githubkit's
  models accept. The models are generated from GitHub's REST API description at the version the
  connector asks for (``X-GitHub-Api-Version: 2022-11-28``), so a missing required field, a wrong
  type or a plain-text error fails here before it misleads a connector test. Errors, injected
  faults and the rate-limit headers are checked the same way.
* The connector reads the description's own example responses (vendored, with their source, in
  ``examples/github/``) served from a tiny app: what it makes of each (author, time, title, link,
  sha or number) is asserted, so a field it reads that GitHub's example lacks or shapes
  differently fails here, not in production.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
from aiohttp import web
from githubkit_schemas.v2022_11_28.models import (
    BasicError,
    Commit,
    CommitComparison,
    Deployment,
    DeploymentStatus,
    DiffEntry,
    PullRequestSimple,
    RateLimitOverview,
    Release,
    SearchCommitsGetResponse200,
    SearchIssuesGetResponse200,
    ValidationError,
)
from pydantic import SecretStr, TypeAdapter

from connectors.config import GitHubConfig
from connectors.github import GitHubChanges
from investigators.bundle import Bundle, Change, ChangeKind, Incident, MetricKind, Series, Service
from sandbox.faults import FAULTS, serving
from sandbox.github_api import GitHubStandinConfig, github_app

EXAMPLES = Path(__file__).parent / "examples" / "github"
TOKEN = "sandbox-gh-token"
AUTH = {
    "Authorization": f"Bearer {TOKEN}",
    "Accept": "application/vnd.github+json",
    "X-GitHub-Api-Version": "2022-11-28",
}
T0 = 1_795_132_800.0  # 2026-11-20T00:00:00Z
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


def small_bundle() -> Bundle:
    """Two services over three hours; ``db`` had a deploy and ``cache`` a config change."""
    times = np.arange(T0, T0 + 3 * 3600, 60.0)
    metrics = [
        Series(name, "trace.http.request.errors", MetricKind.ERRORS, times, np.ones(times.size))
        for name in ("db", "cache")
    ]
    return Bundle(
        Incident("INC-1", T0 + 2 * 3600, "db errors", ("db",)),
        [Service("db", "data"), Service("cache", "data")],
        metrics,
        [],
        [
            Change("db", ChangeKind.DEPLOY, T0 + 6600, "d0c0ffe", "Raise pool timeout", "ana"),
            Change("cache", ChangeKind.CONFIG, T0 + 1800, "cafe123", "Tune TTL", "bo"),
        ],
    )


@dataclass(frozen=True, slots=True)
class Reply:
    """One response of the stand-in: status, headers and the parsed JSON body."""

    status: int
    headers: dict[str, str]
    body: Any


@dataclass(frozen=True, slots=True)
class Served:
    """The running stand-in, its address and a client that sends what the connector sends."""

    app: web.Application
    url: str
    http: aiohttp.ClientSession

    async def get(self, path: str, *, headers: dict[str, str] | None = None) -> Reply:
        """GET ``path``; the body must be JSON whatever the status."""
        async with self.http.get(self.url + path, headers=headers or AUTH) as response:
            assert response.content_type == "application/json", await response.text()
            return Reply(
                response.status,
                {k.lower(): v for k, v in response.headers.items()},
                await response.json(),
            )


@pytest.fixture
async def github() -> AsyncIterator[Served]:
    """The GitHub stand-in over HTTP, serving :func:`small_bundle`."""
    app = github_app(small_bundle(), config=GitHubStandinConfig(background_commits_per_day=48))
    async with serving(app) as url, aiohttp.ClientSession() as http:
        yield Served(app, url, http)


def conforms(model: Any, body: Any) -> Any:
    """``body`` validated by githubkit's model, as githubkit itself parses a response."""
    return TypeAdapter(model).validate_python(body)


# --- every endpoint, in the described shape ----------------------------------------------------


async def _refs(github: Served) -> dict[str, str]:
    """Ids a typical request names: the deploy's sha, an older sha, a pull and a deployment."""
    commits = (await github.get("/repos/acme/db/commits?per_page=100")).body
    pulls = (await github.get("/repos/acme/db/pulls?state=closed")).body
    deployments = (await github.get("/repos/acme/db/deployments")).body
    return {
        "sha": next(c["sha"] for c in commits if c["sha"].startswith("d0c0ffe")),
        "base": commits[-1]["sha"],  # a background commit, older than the deploy
        "number": str(pulls[0]["number"]),
        "deployment": str(deployments[0]["id"]),
    }


ENDPOINTS: list[tuple[str, str, Any]] = [
    ("repos/list-commits", "/repos/acme/db/commits?per_page=100", list[Commit]),
    ("repos/get-commit", "/repos/acme/db/commits/{sha}", Commit),
    ("repos/compare-commits", "/repos/acme/db/compare/{base}...{sha}", CommitComparison),
    ("pulls/list", "/repos/acme/db/pulls?state=closed", list[PullRequestSimple]),
    ("pulls/list-files", "/repos/acme/db/pulls/{number}/files", list[DiffEntry]),
    ("repos/list-deployments", "/repos/acme/db/deployments", list[Deployment]),
    (
        "repos/list-deployment-statuses",
        "/repos/acme/db/deployments/{deployment}/statuses",
        list[DeploymentStatus],
    ),
    ("repos/list-releases", "/repos/acme/db/releases", list[Release]),
    (
        "search/commits",
        "/search/commits?q=org:acme+committer-date:>=2026-11-19T00:00:00Z",
        SearchCommitsGetResponse200,
    ),
    (
        "search/issues",
        "/search/issues?q=org:acme+is:pr+is:merged+merged:>=2026-11-19T00:00:00Z",
        SearchIssuesGetResponse200,
    ),
    ("rate-limit/get", "/rate_limit", RateLimitOverview),
]


@pytest.mark.parametrize(
    ("path", "model"), [e[1:] for e in ENDPOINTS], ids=[e[0] for e in ENDPOINTS]
)
async def test_each_endpoint_answers_in_the_described_shape(
    github: Served, path: str, model: Any
) -> None:
    reply = await github.get(path.format(**await _refs(github)))
    assert reply.status == 200
    parsed = conforms(model, reply.body)
    items = parsed if isinstance(parsed, list) else getattr(parsed, "items", None)
    assert items != [], "a typical response has something in it"


async def test_ids_and_links_look_like_githubs(github: Served) -> None:
    refs = await _refs(github)
    commit = conforms(Commit, (await github.get(f"/repos/acme/db/commits/{refs['sha']}")).body)
    assert re.fullmatch(r"C_kwDO[\w-]+", commit.node_id)
    assert commit.url == f"{github.url}/repos/acme/db/commits/{commit.sha}"
    assert commit.html_url == f"https://github.com/acme/db/commit/{commit.sha}"
    assert commit.commit.tree.url.startswith(f"{github.url}/repos/acme/db/git/trees/")
    pulls = conforms(
        list[PullRequestSimple], (await github.get("/repos/acme/db/pulls?state=closed")).body
    )
    pull = pulls[0]
    assert re.fullmatch(r"PR_kwDO[\w-]+", pull.node_id) and pull.id > 0
    assert pull.url == f"{github.url}/repos/acme/db/pulls/{pull.number}"
    assert pull.html_url == f"https://github.com/acme/db/pull/{pull.number}"
    assert pull.merge_commit_sha == refs["sha"] and pull.base.repo.full_name == "acme/db"
    [deployment] = conforms(list[Deployment], (await github.get("/repos/acme/db/deployments")).body)
    assert re.fullmatch(r"DE_kwDO[\w-]+", deployment.node_id)
    assert (
        deployment.statuses_url
        == f"{github.url}/repos/acme/db/deployments/{deployment.id}/statuses"
    )
    [status] = conforms(
        list[DeploymentStatus],
        (await github.get(f"/repos/acme/db/deployments/{deployment.id}/statuses")).body,
    )
    assert status.deployment_url == deployment.url and status.state == "success"
    [release] = conforms(list[Release], (await github.get("/repos/acme/db/releases")).body)
    assert re.fullmatch(r"RE_kwDO[\w-]+", release.node_id)
    assert release.url == f"{github.url}/repos/acme/db/releases/{release.id}"
    assert commit.author and not isinstance(commit.author, dict)
    assert getattr(commit.author, "login", None) == "ana"


async def test_search_items_carry_their_repository_and_score(github: Served) -> None:
    found = conforms(
        SearchCommitsGetResponse200, (await github.get("/search/commits?q=org:acme")).body
    )
    assert {i.repository.full_name for i in found.items} == {"acme/db", "acme/cache"}
    item = next(i for i in found.items if i.sha.startswith("d0c0ffe"))
    assert item.commit.author.name == "ana" and item.committer and item.committer.name == "ana"
    assert item.score == 1.0 and item.repository.owner.login == "acme"
    issues = conforms(
        SearchIssuesGetResponse200,
        (await github.get("/search/issues?q=org:acme+is:pr+is:merged")).body,
    )
    assert issues.search_type == "lexical"
    [pull] = issues.items
    assert pull.repository_url == f"{github.url}/repos/acme/db"
    assert pull.pull_request and pull.pull_request.merged_at == pull.closed_at


async def test_compare_lists_the_commits_between_base_and_head(github: Served) -> None:
    refs = await _refs(github)
    ahead = conforms(
        CommitComparison,
        (await github.get(f"/repos/acme/db/compare/{refs['base']}...{refs['sha']}")).body,
    )
    assert ahead.status == "ahead" and ahead.behind_by == 0
    assert ahead.ahead_by == ahead.total_commits == len(ahead.commits) > 0
    assert ahead.commits[-1].sha == refs["sha"] and ahead.base_commit.sha == refs["base"]
    assert ahead.merge_base_commit.sha == refs["base"]
    assert ahead.files and "src/handler.py" in {f.filename for f in ahead.files}
    behind = conforms(
        CommitComparison,
        (await github.get(f"/repos/acme/db/compare/{refs['sha'][:7]}..{refs['base'][:7]}")).body,
    )
    assert behind.status == "behind" and behind.behind_by == ahead.ahead_by and not behind.commits
    same = await github.get(f"/repos/acme/db/compare/{refs['sha']}...{refs['sha'][:7]}")
    assert conforms(CommitComparison, same.body).status == "identical"


# --- errors and faults -------------------------------------------------------------------------


ERRORS: list[tuple[str, str, dict[str, str] | None, int, str]] = [
    ("unknown-route", "/repos/acme/db/branches", None, 404, "Not Found"),
    ("unknown-path", "/nope", None, 404, "Not Found"),
    ("unknown-repository", "/repos/acme/nope/commits", None, 404, "Not Found"),
    ("unknown-pull", "/repos/acme/db/pulls/9999/files", None, 404, "Not Found"),
    ("unknown-deployment", "/repos/acme/db/deployments/1/statuses", None, 404, "Not Found"),
    (
        "bad-token",
        "/repos/acme/db/commits",
        {"Authorization": "Bearer nope"},
        401,
        "Bad credentials",
    ),
]


@pytest.mark.parametrize(
    ("path", "headers", "status", "message"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS]
)
async def test_errors_are_githubs_json(
    github: Served, path: str, headers: dict[str, str] | None, status: int, message: str
) -> None:
    reply = await github.get(path, headers=headers)
    error = conforms(BasicError, reply.body)
    assert reply.status == status and error.message == message
    assert error.status == str(status) and error.documentation_url


@pytest.mark.parametrize(
    "path",
    [
        "/repos/acme/db/commits?per_page=abc",
        "/repos/acme/db/releases?page=-1",
        "/search/commits?q=org:acme&per_page=ten",
    ],
)
async def test_bad_paging_parameters_fail_validation(github: Served, path: str) -> None:
    reply = await github.get(path)
    error = conforms(ValidationError, reply.body)
    assert reply.status == 422 and error.message == "Validation Failed"
    assert error.errors and error.errors[0].field in ("per_page", "page")


async def test_an_unknown_sha_is_unprocessable(github: Served) -> None:
    reply = await github.get("/repos/acme/db/commits/0123456789abcdef")
    assert reply.status == 422
    assert conforms(ValidationError, reply.body).message.startswith("No commit found for SHA")


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        ({"status": 429, "retry_after": 7}, 429),
        ({"status": 403, "headers": {"x-ratelimit-remaining": "0"}}, 403),
        ({"status": 500}, 500),
        ({"status": 502}, 502),
        ({"status": 503}, 503),
        ({"error_body": True}, 200),
    ],
    ids=["429", "403-rate-limited", "500", "502", "503", "200-with-error"],
)
async def test_injected_faults_answer_githubs_error_body(
    github: Served, fault: dict[str, Any], status: int
) -> None:
    github.app[FAULTS].inject("/repos/acme/db/releases", times=1, **fault)
    reply = await github.get("/repos/acme/db/releases")
    error = conforms(BasicError, reply.body)
    assert reply.status == status and error.message and error.documentation_url
    if "retry_after" in fault:
        assert reply.headers["retry-after"] == "7"
    assert conforms(list[Release], (await github.get("/repos/acme/db/releases")).body)


async def test_rate_limit_headers_count_core_and_search_apart(github: Served) -> None:
    first = await github.get("/repos/acme/db/commits")
    second = await github.get("/repos/acme/db/releases")
    for reply, used in ((first, 1), (second, 2)):
        assert reply.headers["x-ratelimit-resource"] == "core"
        assert reply.headers["x-ratelimit-limit"] == "5000"
        assert reply.headers["x-ratelimit-used"] == str(used)
        assert reply.headers["x-ratelimit-remaining"] == str(5000 - used)
        assert int(reply.headers["x-ratelimit-reset"]) > datetime.now(tz=UTC).timestamp()
    search = await github.get("/search/commits?q=org:acme")
    assert search.headers["x-ratelimit-resource"] == "search"
    assert search.headers["x-ratelimit-limit"] == "30"
    assert (
        search.headers["x-ratelimit-used"] == "1"
        and search.headers["x-ratelimit-remaining"] == "29"
    )
    overview = conforms(RateLimitOverview, (await github.get("/rate_limit")).body)
    assert overview.resources.search.limit == 30 and overview.resources.search.used == 1
    assert overview.resources.core.used == 2 and overview.rate.remaining == 4998
    assert overview.resources.search.reset == int(search.headers["x-ratelimit-reset"])


# --- the connector against GitHub's own examples ---------------------------------------------


def example(name: str) -> Any:
    """The ``value`` of a vendored example of GitHub's REST API description."""
    document = json.loads((EXAMPLES / f"{name}.json").read_text())
    assert document["source"].startswith("https://github.com/github/rest-api-description/")
    return copy.deepcopy(document["value"])


def examples_app(routes: dict[str, Any]) -> web.Application:
    """A tiny GitHub answering each path with its example body."""

    def answer(body: Any) -> Callable[[web.Request], Any]:
        async def handler(request: web.Request) -> web.Response:
            return web.json_response(body)

        return handler

    app = web.Application()
    for path, body in routes.items():
        app.router.add_get(path, answer(body))
    return app


async def read_examples(routes: dict[str, Any], read: Callable[[GitHubChanges], Any]) -> Any:
    """Serve ``routes`` and return what ``read`` makes of them through the connector."""
    async with serving(examples_app(routes)) as url:
        config = GitHubConfig(token=SecretStr(TOKEN), base_url=url)
        async with GitHubChanges(config) as gh:
            return await read(gh)


def when(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


async def test_connector_reads_the_commit_list_example() -> None:
    routes = {"/repos/octocat/Hello-World/commits": example("commit-items")}
    [commit] = await read_examples(routes, lambda gh: gh.commits("octocat/Hello-World", LONG_AGO))
    assert commit.sha == "6dcb09b5b57875f334f61aebed695e2e4193db5e"
    assert commit.author == "octocat" and commit.title == "Fix all the bugs"
    assert commit.at == when("2011-04-14T16:00:49+00:00")
    assert commit.url == f"https://github.com/octocat/Hello-World/commit/{commit.sha}"


async def test_connector_reads_the_pull_list_example() -> None:
    routes = {"/repos/octocat/Hello-World/pulls": example("pull-request-simple-items")}
    [pull] = await read_examples(
        routes, lambda gh: gh.merged_pulls("octocat/Hello-World", LONG_AGO)
    )
    assert pull.number == 1347 and pull.title == "Amazing new feature"
    assert pull.author == "octocat" and pull.merged_at == when("2011-01-26T19:01:12+00:00")
    assert pull.merge_commit_sha == "e5bd3914e2e596debea16f433f57875b5b90bcd6"
    assert pull.url == "https://github.com/octocat/Hello-World/pull/1347"


async def test_connector_reads_the_deployment_and_status_examples() -> None:
    routes = {
        "/repos/octocat/example/deployments": example("deployment-items"),
        "/repos/octocat/example/deployments/1/statuses": example("deployment-status-items"),
    }
    [deployment] = await read_examples(
        routes, lambda gh: gh.deployments("octocat/example", LONG_AGO)
    )
    assert deployment.id == 1 and deployment.sha == "a84d88e7554fc1fa21bcbc4efae3c782a70d2b9d"
    assert deployment.ref == "topic-branch" and deployment.environment == "production"
    assert deployment.creator == "octocat" and deployment.state == "success"
    assert deployment.created_at == when("2012-07-20T01:19:13+00:00")
    assert deployment.description == "Deploy request from hubot"
    assert deployment.url == "https://example.com/deployment/42/output"


async def test_connector_reads_the_release_list_example() -> None:
    routes = {"/repos/octocat/Hello-World/releases": example("release-items")}
    [release] = await read_examples(routes, lambda gh: gh.releases("octocat/Hello-World", LONG_AGO))
    assert release.tag == "v1.0.0" and release.name == "v1.0.0" and release.author == "octocat"
    assert release.published_at == when("2013-02-27T19:35:32+00:00")
    assert release.url == "https://github.com/octocat/Hello-World/releases/v1.0.0"


async def test_connector_reads_the_commit_search_example() -> None:
    body = example("commit-search-result-item-paginated")
    [commit] = await read_examples(
        {"/search/commits": body}, lambda gh: gh.search_commits("octocat", LONG_AGO)
    )
    assert commit.repo == "octocat/Spoon-Knife"
    assert commit.sha == "bb4cc8d3b2e14b3af5df699876dd4ff3acd00b7f"
    assert commit.author == "octocat" and commit.title == "Create styles.css and updated README"
    # The committer's date, with its offset: when the commit landed, not when it was written.
    assert commit.at == when("2014-02-12T15:18:55-08:00")
    assert commit.url == f"https://github.com/octocat/Spoon-Knife/commit/{commit.sha}"


async def test_a_search_commit_without_a_github_user_is_named_by_its_git_author() -> None:
    body = example("commit-search-result-item-paginated")
    body["items"][0]["author"] = None  # the description allows it: an email GitHub cannot match
    del body["items"][0]["commit"]["committer"]  # and a commit with only its author's date
    [commit] = await read_examples(
        {"/search/commits": body}, lambda gh: gh.search_commits("octocat", LONG_AGO)
    )
    assert commit.author == "The Octocat" and commit.at == when("2014-02-04T14:38:36-08:00")


async def test_connector_reads_the_issue_search_example() -> None:
    body = example("issue-search-result-item-paginated")
    # The example is an open issue: nothing in it says it merged, so it is not a merged change.
    found = await read_examples(
        {"/search/issues": body}, lambda gh: gh.search_merged_pulls("octocat", LONG_AGO)
    )
    assert found == []
    # The same item closed: a merged pull request's item has its close time, and
    # pull_request.merged_at only sometimes (the description makes it optional).
    body["items"][0] |= {"state": "closed", "closed_at": "2009-07-19T09:23:43Z"}
    [pull] = await read_examples(
        {"/search/issues": body}, lambda gh: gh.search_merged_pulls("octocat", LONG_AGO)
    )
    assert pull.repo == "batterseapower/pinyin-toolkit" and pull.number == 132
    assert pull.title == "Line Number Indexes Beyond 20 Not Displayed" and pull.author == "Nick3C"
    assert pull.merged_at == when("2009-07-19T09:23:43+00:00")
    assert pull.url == "https://github.com/batterseapower/pinyin-toolkit/issues/132"
    body["items"][0]["pull_request"]["merged_at"] = "2009-07-19T09:20:00Z"
    [pull] = await read_examples(
        {"/search/issues": body}, lambda gh: gh.search_merged_pulls("octocat", LONG_AGO)
    )
    assert pull.merged_at == when("2009-07-19T09:20:00+00:00")
