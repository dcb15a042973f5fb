"""GitHub as a change source: commits, merged pull requests, deployments and releases.

GitHub has no endpoint listing commits across repositories, so for an owner with many
repositories in one scan the connector uses the search API (``/search/commits`` and
``/search/issues`` with ``org:OWNER`` and a date qualifier: a couple of paginated requests for the
whole organisation), and falls back to listing repo by repo when the search hits its 1,000-result
cap. Deployments and releases have no such endpoint and are listed per repository, newest first,
stopping at ``since``; the concurrency cap keeps that fast without tripping GitHub's limits.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import (
    AsyncIterator,
    Callable,
    Collection,
    Coroutine,
    Iterable,
    Mapping,
    Sequence,
)
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import aiohttp

from connectors.config import GitHubConfig
from connectors.errors import BadResponse, ConnectorError, NotFound
from connectors.http import HttpSource, retry_after_seconds
from connectors.records import (
    ChangeSet,
    Commit,
    Deployment,
    Diagnosis,
    PullRequest,
    Release,
)

NAME = "github"
KINDS = frozenset({"commits", "pull_requests", "deployments", "releases"})
SEARCHABLE = frozenset({"commits", "pull_requests"})
PER_PAGE = 100
MAX_PAGES = 10
SEARCH_CAP = 1000  # the search API never returns more than 1,000 results
FILES_PER_REPO = 20  # commits whose files are fetched, per repository


def _rate_limit(status: int, headers: Mapping[str, str]) -> float | bool | None:
    """429, or 403 with Retry-After or no requests remaining (primary and secondary limits)."""
    if status not in (403, 429):
        return False
    wait = retry_after_seconds(headers)
    if wait is not None:
        return wait
    if (
        headers.get("x-ratelimit-remaining") == "0"
        and headers.get("x-ratelimit-reset", "").isdigit()
    ):
        return max(0.0, float(headers["x-ratelimit-reset"]) - time.time())
    if status == 429:
        return 60.0  # GitHub: without a header, wait at least a minute
    return False


async def _all(calls: Iterable[Coroutine[Any, Any, None]]) -> None:
    """Run ``calls`` together; on the first failure cancel the rest and raise that error."""
    try:
        async with asyncio.TaskGroup() as group:
            for call in calls:
                group.create_task(call)
    except BaseExceptionGroup as failed:
        first: BaseException = failed
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None


def _time(value: Any, what: str) -> datetime:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        raise BadResponse(NAME, f"{what}: {value!r} is not a timestamp") from None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _login(user: Any, fallback: Any = None) -> str:
    if isinstance(user, dict) and user.get("login"):
        return str(user["login"])
    if isinstance(fallback, dict) and fallback.get("name"):
        return str(fallback["name"])
    return "unknown"


class GitHubChanges:
    """A :class:`~connectors.base.ChangeSource` over the GitHub REST API (or GHE)."""

    name = NAME

    def __init__(self, config: GitHubConfig, *, session: aiohttp.ClientSession | None = None):
        self.config = config
        token = config.token.get_secret_value()
        self.http = HttpSource(
            connector=NAME,
            base_url=config.api_base,
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": "incident-copilot",
            },
            secrets=[token],
            resilience=config.resilience,
            auth_hint=(
                "check GITHUB_TOKEN (it needs read access to contents, pull requests and "
                "deployments of these repositories) and GITHUB_API_URL"
            ),
            session=session,
            rate_limit=_rate_limit,
        )

    async def __aenter__(self) -> GitHubChanges:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP session if this connector made it."""
        await self.http.aclose()

    # --- the scan -------------------------------------------------------------------------------

    async def changes(
        self,
        repos: Sequence[str],
        since: datetime,
        *,
        with_files: bool = False,
        kinds: Collection[str] = KINDS,
    ) -> ChangeSet:
        """Commits, merged PRs, deployments and releases of ``repos`` since ``since``."""
        unknown = set(kinds) - KINDS
        if unknown:
            raise ConnectorError(NAME, f"unknown change kinds {sorted(unknown)}")
        wanted = list(dict.fromkeys(repos))
        owners: dict[str, list[str]] = {}
        for repo in wanted:
            owners.setdefault(repo.split("/", 1)[0], []).append(repo)
        commits: list[Commit] = []
        pulls: list[PullRequest] = []
        deployments: list[Deployment] = []
        releases: list[Release] = []

        # Searches and per-repository listings all run at once, under the concurrency cap;
        # a search that hits the result cap falls back to listing its repositories after.
        fallback: list[tuple[str, str]] = []

        async def by_search(owner: str, names: list[str], kind: str) -> None:
            chosen = set(names)
            if kind == "commits":
                found_commits = await self.search_commits(owner, since)
                if found_commits is None:
                    fallback.extend((r, kind) for r in names)
                else:
                    commits.extend(c for c in found_commits if c.repo in chosen)
            else:
                merged = await self.search_merged_pulls(owner, since)
                if merged is None:
                    fallback.extend((r, kind) for r in names)
                else:
                    pulls.extend(p for p in merged if p.repo in chosen)

        listing: dict[str, Callable[[str, datetime], Any]] = {
            "commits": self.commits,
            "pull_requests": self.merged_pulls,
            "deployments": self.deployments,
            "releases": self.releases,
        }
        sinks: dict[str, list[Any]] = {
            "commits": commits,
            "pull_requests": pulls,
            "deployments": deployments,
            "releases": releases,
        }

        async def one(repo: str, kind: str) -> None:
            sinks[kind].extend(await listing[kind](repo, since))

        searched = {
            o: names for o, names in owners.items() if len(names) >= self.config.search_threshold
        }
        calls: list[Coroutine[Any, Any, None]] = [
            by_search(owner, names, kind)
            for owner, names in searched.items()
            for kind in ("commits", "pull_requests")
            if kind in kinds
        ]
        for repo in wanted:
            owner = repo.split("/", 1)[0]
            for kind in ("commits", "pull_requests", "deployments", "releases"):
                if kind in kinds and not (owner in searched and kind in SEARCHABLE):
                    calls.append(one(repo, kind))
        await _all(calls)
        await _all(one(repo, kind) for repo, kind in fallback)
        if with_files:
            commits = await self._with_files(commits)
        return ChangeSet(
            commits=sorted(commits, key=lambda c: c.at, reverse=True),
            pull_requests=sorted(pulls, key=lambda p: p.merged_at, reverse=True),
            deployments=sorted(deployments, key=lambda d: d.created_at, reverse=True),
            releases=sorted(releases, key=lambda r: r.published_at, reverse=True),
        )

    async def _with_files(self, commits: list[Commit]) -> list[Commit]:
        counted: dict[str, int] = {}
        chosen: list[int] = []
        for i, commit in enumerate(sorted(commits, key=lambda c: c.at, reverse=True)):
            if counted.get(commit.repo, 0) < FILES_PER_REPO:
                counted[commit.repo] = counted.get(commit.repo, 0) + 1
                chosen.append(i)
        ordered = sorted(commits, key=lambda c: c.at, reverse=True)
        files = await asyncio.gather(
            *(self.commit_files(ordered[i].repo, ordered[i].sha) for i in chosen)
        )
        for i, names in zip(chosen, files, strict=True):
            ordered[i] = ordered[i].model_copy(update={"files": names})
        return ordered

    # --- per repository -------------------------------------------------------------------------

    async def _pages(
        self, path: str, params: Mapping[str, Any] | None = None
    ) -> AsyncIterator[list[Any]]:
        url: str | None = path
        query: Mapping[str, Any] | None = {"per_page": PER_PAGE, **(params or {})}
        for _ in range(MAX_PAGES):
            if url is None:
                return
            response = await self.http.get_json(url, params=query)
            if not isinstance(response.data, list):
                detail = response.data.get("message") if isinstance(response.data, dict) else None
                raise BadResponse(
                    NAME,
                    f"GET {path} returned {type(response.data).__name__} instead of a list"
                    + (f" ({self.http.scrub(str(detail))})" if detail else ""),
                )
            yield response.data
            url, query = response.next_url, None  # the next link carries its own query

    async def commits(self, repo: str, since: datetime) -> list[Commit]:
        """Commits on the default branch since ``since``."""
        found: list[Commit] = []
        async for page in self._pages(f"/repos/{repo}/commits", {"since": _iso(since)}):
            found.extend(self._commit(repo, item) for item in page)
        return found

    def _commit(self, repo: str, item: Any) -> Commit:
        try:
            detail = item["commit"]
            stamp = (detail.get("committer") or {}).get("date") or detail["author"]["date"]
            return Commit(
                repo=repo,
                sha=str(item["sha"]),
                at=_time(stamp, f"commit of {repo}"),
                author=_login(item.get("author"), detail.get("author")),
                message=str(detail.get("message") or ""),
                files=[str(f["filename"]) for f in item["files"]] if "files" in item else None,
                url=str(
                    item.get("html_url") or f"{self.config.web_base}/{repo}/commit/{item['sha']}"
                ),
            )
        except (KeyError, TypeError) as exc:
            raise BadResponse(NAME, f"a commit of {repo} lacks a field ({exc})") from None

    async def commit_files(self, repo: str, sha: str) -> list[str]:
        """The paths a commit touched."""
        response = await self.http.get_json(f"/repos/{repo}/commits/{sha}")
        files = response.data.get("files") if isinstance(response.data, dict) else None
        if not isinstance(files, list):
            raise BadResponse(NAME, f"commit {sha[:7]} of {repo}: the response has no 'files'")
        return [str(f.get("filename")) for f in files]

    async def merged_pulls(self, repo: str, since: datetime) -> list[PullRequest]:
        """Pull requests merged since ``since`` (closed PRs, most recently updated first)."""
        found = []
        params = {"state": "closed", "sort": "updated", "direction": "desc"}
        async for page in self._pages(f"/repos/{repo}/pulls", params):
            for item in page:
                if item.get("merged_at") and _time(item["merged_at"], "merged_at") >= since:
                    found.append(self._pull(repo, item, item["merged_at"]))
            if page and _time(page[-1].get("updated_at"), "updated_at") < since:
                break
        return found

    def _pull(self, repo: str, item: Any, merged: Any) -> PullRequest:
        try:
            return PullRequest(
                repo=repo,
                number=int(item["number"]),
                title=str(item.get("title") or ""),
                author=_login(item.get("user")),
                merged_at=_time(merged, f"pull request of {repo}"),
                merge_commit_sha=item.get("merge_commit_sha"),
                url=str(
                    item.get("html_url") or f"{self.config.web_base}/{repo}/pull/{item['number']}"
                ),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BadResponse(NAME, f"a pull request of {repo} lacks a field ({exc})") from None

    async def pull_files(self, repo: str, number: int) -> list[str]:
        """The paths a pull request touched."""
        names: list[str] = []
        async for page in self._pages(f"/repos/{repo}/pulls/{number}/files"):
            names.extend(str(f.get("filename")) for f in page)
        return names

    async def deployments(self, repo: str, since: datetime) -> list[Deployment]:
        """Deployments created since ``since``, each with its latest status."""
        params = {}
        if self.config.deployment_environment:
            params["environment"] = self.config.deployment_environment
        recent: list[Any] = []
        async for page in self._pages(f"/repos/{repo}/deployments", params):
            for item in page:
                if _time(item.get("created_at"), f"deployment of {repo}") >= since:
                    recent.append(item)
            if page and _time(page[-1].get("created_at"), "created_at") < since:
                break
        statuses = await asyncio.gather(*(self._latest_status(repo, item) for item in recent))
        return [
            self._deployment(repo, item, status)
            for item, status in zip(recent, statuses, strict=True)
        ]

    async def _latest_status(self, repo: str, item: Any) -> Any:
        response = await self.http.get_json(
            f"/repos/{repo}/deployments/{item['id']}/statuses", params={"per_page": 1}
        )
        if not isinstance(response.data, list):
            raise BadResponse(NAME, f"statuses of deployment {item['id']} of {repo}: not a list")
        return response.data[0] if response.data else None

    def _deployment(self, repo: str, item: Any, status: Any) -> Deployment:
        try:
            environment = str(item.get("environment") or "production")
            url = None
            if isinstance(status, dict):
                url = status.get("log_url") or status.get("target_url") or None
            return Deployment(
                repo=repo,
                id=int(item["id"]),
                sha=str(item["sha"]),
                ref=str(item.get("ref") or ""),
                environment=environment,
                created_at=_time(item["created_at"], f"deployment of {repo}"),
                creator=_login(item.get("creator")),
                state=str(status["state"]) if isinstance(status, dict) else None,
                description=item.get("description"),
                url=url or f"{self.config.web_base}/{repo}/deployments/{quote(environment)}",
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BadResponse(NAME, f"a deployment of {repo} lacks a field ({exc})") from None

    async def releases(self, repo: str, since: datetime) -> list[Release]:
        """Releases published since ``since`` (drafts left out)."""
        found = []
        async for page in self._pages(f"/repos/{repo}/releases"):
            for item in page:
                published = item.get("published_at")
                if item.get("draft") or not published:
                    continue
                if _time(published, f"release of {repo}") >= since:
                    found.append(self._release(repo, item))
            if page and _time(page[-1].get("created_at"), "created_at") < since:
                break
        return found

    def _release(self, repo: str, item: Any) -> Release:
        try:
            tag = str(item["tag_name"])
            return Release(
                repo=repo,
                tag=tag,
                name=str(item.get("name") or tag),
                author=_login(item.get("author")),
                published_at=_time(item["published_at"], f"release of {repo}"),
                url=str(
                    item.get("html_url") or f"{self.config.web_base}/{repo}/releases/tag/{tag}"
                ),
            )
        except (KeyError, TypeError) as exc:
            raise BadResponse(NAME, f"a release of {repo} lacks a field ({exc})") from None

    # --- organisation-wide search ----------------------------------------------------------

    async def _search(self, path: str, q: str, **params: Any) -> list[Any] | None:
        """All items of a search, or None when it hit the result cap or came back incomplete."""
        url: str | None = path
        query: Mapping[str, Any] | None = {"q": q, "per_page": PER_PAGE, **params}
        items: list[Any] = []
        for _ in range(MAX_PAGES):
            if url is None:
                break
            response = await self.http.get_json(url, params=query)
            body = response.data
            if not isinstance(body, dict) or not isinstance(body.get("items"), list):
                raise BadResponse(NAME, f"GET {path}: the response has no 'items' list")
            if body.get("incomplete_results") or int(body.get("total_count", 0)) > SEARCH_CAP:
                return None
            items.extend(body["items"])
            url, query = response.next_url, None
        return items

    async def search_commits(self, owner: str, since: datetime) -> list[Commit] | None:
        """Commits of every repository of ``owner`` since ``since``; None if too many."""
        items = await self._search(
            "/search/commits",
            f"org:{owner} committer-date:>={_iso(since)}",
            sort="committer-date",
            order="desc",
        )
        if items is None:
            return None
        try:
            return [self._commit(str(item["repository"]["full_name"]), item) for item in items]
        except (KeyError, TypeError):
            raise BadResponse(NAME, "a commit search result lacks its repository") from None

    async def search_merged_pulls(self, owner: str, since: datetime) -> list[PullRequest] | None:
        """Pull requests of ``owner`` merged since ``since``; None if too many."""
        items = await self._search(
            "/search/issues", f"org:{owner} is:pr is:merged merged:>={_iso(since)}"
        )
        if items is None:
            return None
        found = []
        for item in items:
            repo_url = str(item.get("repository_url", ""))
            if "/repos/" not in repo_url:
                raise BadResponse(NAME, "a pull request search result lacks its repository_url")
            # An issue search item has no top-level merged_at: the description makes
            # pull_request.merged_at optional, and a merged pull request closed when it merged.
            merged = (item.get("pull_request") or {}).get("merged_at") or item.get("closed_at")
            if merged:  # neither: GitHub does not show it merged, whatever the query said
                found.append(self._pull(repo_url.split("/repos/", 1)[1], item, merged))
        return found

    # --- checks -----------------------------------------------------------------------------------

    async def diagnose(self) -> Diagnosis:
        """Reachable, token accepted, and how much of the hourly quota is left."""
        try:
            response = await self.http.get_json("/rate_limit")
        except NotFound:
            return Diagnosis(
                connector=NAME,
                ok=False,
                lines=[
                    f"{self.config.api_base}/rate_limit not found: is GITHUB_API_URL the API root "
                    "(https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise)?"
                ],
            )
        except ConnectorError as exc:
            return Diagnosis(connector=NAME, ok=False, lines=[exc.message])
        core = (
            response.data.get("resources", {}).get("core", {})
            if isinstance(response.data, dict)
            else {}
        )
        remaining, limit = core.get("remaining"), core.get("limit")
        lines = [f"reachable at {self.config.api_base}, token accepted"]
        if remaining is not None:
            lines.append(f"{remaining} of {limit} requests left this hour")
        ok = remaining is None or int(remaining) > 0
        if not ok:
            lines.append("the hourly quota is spent: wait for the reset or use another token")
        return Diagnosis(connector=NAME, ok=ok, lines=lines)
