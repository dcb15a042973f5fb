"""A stand-in for the GitHub REST API, serving a bundle's changes in the documented shapes.

Each service has a repository (``acme/<service>`` unless told otherwise). Every change of the
bundle becomes a commit, and deploys also a merged pull request, a deployment with a success
status and a release; quiet background commits fill the rest of the window. The history is kept
as small records and rendered per request in the shapes of GitHub's REST API description
(version 2022-11-28), with every required field and API links under the stand-in's own address:
``tests/conformance/test_github_conformance.py`` checks each endpoint with githubkit's models.

Lists paginate with ``Link`` headers; responses carry the ``x-ratelimit-*`` headers (5,000 an hour
for ``core``, 30 a minute for ``search``, counted but not enforced: throttling is a fault); errors
are JSON (``401 Bad credentials``, ``404 Not Found`` for unknown routes and repositories, ``422
Validation Failed`` for a bad ``per_page``); faults come from :mod:`sandbox.faults`.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from investigators.bundle import Bundle, ChangeKind
from sandbox.faults import RecordedRequest, install_faults

DOCS = "https://docs.github.com/rest"
Json = dict[str, Any]


@dataclass(slots=True)
class GitHubStandinConfig:
    """The token the stand-in accepts, where each service lives, and how busy repos are."""

    token: str = "sandbox-gh-token"
    repo_of: dict[str, str] = field(default_factory=dict)  # service -> owner/name
    owner: str = "acme"
    html_url: str = "https://github.com"
    background_commits_per_day: float = 4.0
    environment: str = "production"


def github_error(status: int, message: str) -> Json:
    """GitHub's error body: a message, a documentation link and the status."""
    return {"message": message, "documentation_url": DOCS, "status": str(status)}


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _sha(*parts: object) -> str:
    return hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()


def _number(*parts: object) -> int:
    """A stable positive id below 2**31, as GitHub's numeric ids look."""
    return int(_sha(*parts)[:8], 16) % 2_000_000_000 + 1


def _node(prefix: str, *parts: object) -> str:
    """A global node id in GitHub's format, e.g. ``C_kwDO...`` or ``PR_kwDO...``."""
    raw = hashlib.sha1("|".join(map(str, parts)).encode()).digest()[:12]
    kind = "kgDO" if prefix in ("U", "O", "R", "BOT") else "kwDO"
    return f"{prefix}_{kind}{base64.urlsafe_b64encode(raw).decode().rstrip('=')}"


# The API links every repository object carries, relative to the repository's API URL.
_REPOSITORY_LINKS = {
    "archive": "/{archive_format}{/ref}",
    "assignees": "/assignees{/user}",
    "blobs": "/git/blobs{/sha}",
    "branches": "/branches{/branch}",
    "collaborators": "/collaborators{/collaborator}",
    "comments": "/comments{/number}",
    "commits": "/commits{/sha}",
    "compare": "/compare/{base}...{head}",
    "contents": "/contents/{+path}",
    "contributors": "/contributors",
    "deployments": "/deployments",
    "downloads": "/downloads",
    "events": "/events",
    "forks": "/forks",
    "git_commits": "/git/commits{/sha}",
    "git_refs": "/git/refs{/sha}",
    "git_tags": "/git/tags{/sha}",
    "hooks": "/hooks",
    "issue_comment": "/issues/comments{/number}",
    "issue_events": "/issues/events{/number}",
    "issues": "/issues{/number}",
    "keys": "/keys{/key_id}",
    "labels": "/labels{/name}",
    "languages": "/languages",
    "merges": "/merges",
    "milestones": "/milestones{/number}",
    "notifications": "/notifications{?since,all,participating}",
    "pulls": "/pulls{/number}",
    "releases": "/releases{/id}",
    "stargazers": "/stargazers",
    "statuses": "/statuses/{sha}",
    "subscribers": "/subscribers",
    "subscription": "/subscription",
    "tags": "/tags",
    "teams": "/teams",
    "trees": "/git/trees{/sha}",
}


@dataclass(frozen=True, slots=True)
class _Commit:
    sha: str
    at: float
    author: str
    message: str
    paths: tuple[str, ...]
    parent: str | None = None


@dataclass(frozen=True, slots=True)
class _Pull:
    number: int
    title: str
    author: str
    merged_at: float
    sha: str  # the merge commit
    paths: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Deployment:
    id: int
    sha: str
    title: str
    creator: str
    at: float


@dataclass(frozen=True, slots=True)
class _Release:
    id: int
    tag: str
    title: str
    author: str
    at: float


@dataclass(slots=True)
class _Repo:
    name: str
    commits: list[_Commit] = field(default_factory=list)  # newest first
    pulls: list[_Pull] = field(default_factory=list)
    deployments: list[_Deployment] = field(default_factory=list)
    releases: list[_Release] = field(default_factory=list)

    @property
    def id(self) -> int:
        """The repository's numeric id."""
        return _number("repo", self.name)

    def find(self, ref: str) -> int | None:
        """The index in :attr:`commits` of a branch name or a (short) sha."""
        if ref in ("main", "HEAD") and self.commits:
            return 0
        for i, commit in enumerate(self.commits):
            if len(ref) >= 4 and commit.sha.startswith(ref):
                return i
        return None


class _History:
    """Repositories and their changes, built once from the bundle."""

    def __init__(self, bundle: Bundle, config: GitHubStandinConfig) -> None:
        self.config = config
        self.load(bundle)

    def load(self, bundle: Bundle) -> None:
        """Build the repositories of ``bundle``, in place of the ones served so far."""
        config = self.config
        self.repos: dict[str, _Repo] = {}
        self.repo_of = {
            s.name: config.repo_of.get(s.name, f"{config.owner}/{s.name}") for s in bundle.services
        }
        for name in self.repo_of.values():
            self.repos.setdefault(name, _Repo(name))
        times = [float(s.times[0]) for s in bundle.metrics if s.times.size]
        first = min(times, default=bundle.incident.started_at - 6 * 3600)
        last = bundle.incident.started_at + 1800
        commits: dict[str, list[_Commit]] = {name: [] for name in self.repos}
        for change in bundle.changes:
            repo = self.repos[self.repo_of[change.service]]
            sha = (change.id + _sha(change.service, change.id, change.at))[:40]
            author = change.author or "octocat"
            path = "config/app.yaml" if change.kind is ChangeKind.CONFIG else "src/handler.py"
            title = change.title or "Change"
            commits[repo.name].append(_Commit(sha, change.at - 600, author, title, (path,)))
            if change.kind is ChangeKind.DEPLOY:
                self._deploy(repo, sha, change.at, author, change.title or change.id, (path,))
        per_repo = max(0.0, (last - first) / 86400 * config.background_commits_per_day)
        for repo in self.repos.values():
            seed = zlib.crc32(repo.name.encode())
            count = int(per_repo) + (1 if (seed % 1000) / 1000 < per_repo % 1 else 0)
            for i in range(count):
                at = first + ((seed * (i + 7)) % 100_000) / 100_000 * (last - first)
                sha = _sha(repo.name, "background", i)
                commits[repo.name].append(
                    _Commit(sha, at, "dependabot[bot]", f"Bump dependency {i}", ("poetry.lock",))
                )
        for repo in self.repos.values():
            # One straight line of history: each commit's parent is the one before it.
            ordered = sorted(commits[repo.name], key=lambda c: (c.at, c.sha))
            linked = [
                _Commit(c.sha, c.at, c.author, c.message, c.paths, p.sha if p else None)
                for c, p in zip(ordered, [None, *ordered][: len(ordered)], strict=True)
            ]
            repo.commits = linked[::-1]
            repo.pulls.sort(key=lambda p: p.merged_at, reverse=True)
            repo.deployments.sort(key=lambda d: d.at, reverse=True)
            repo.releases.sort(key=lambda r: r.at, reverse=True)

    def _deploy(
        self, repo: _Repo, sha: str, at: float, author: str, title: str, paths: tuple[str, ...]
    ) -> None:
        repo.pulls.append(_Pull(len(repo.pulls) + 101, title, author, at - 300, sha, paths))
        ident = zlib.crc32(f"{repo.name}/{sha}".encode())
        repo.deployments.append(_Deployment(ident, sha, title, author, at))
        tag = f"v1.{len(repo.releases)}.{ident % 10}"
        repo.releases.append(_Release(ident + 2, tag, f"{tag}: {title}", author, at - 120))


class _Shapes:
    """Renders the history in GitHub's shapes, with links under this stand-in's address."""

    def __init__(self, api: str, web_base: str, environment: str) -> None:
        self.api, self.web, self.environment = api, web_base, environment

    def user(self, login: str) -> Json:
        """A ``simple-user``; logins ending in ``[bot]`` are bots, as on GitHub."""
        bot = login.endswith("[bot]")
        ident = _number("user", login)
        url = f"{self.api}/users/{login}"
        return {
            "login": login,
            "id": ident,
            "node_id": _node("BOT" if bot else "U", login),
            "avatar_url": f"https://avatars.githubusercontent.com/u/{ident}?v=4",
            "gravatar_id": "",
            "url": url,
            "html_url": f"{self.web}/{'apps/' + login[:-5] if bot else login}",
            "followers_url": f"{url}/followers",
            "following_url": f"{url}/following{{/other_user}}",
            "gists_url": f"{url}/gists{{/gist_id}}",
            "starred_url": f"{url}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{url}/subscriptions",
            "organizations_url": f"{url}/orgs",
            "repos_url": f"{url}/repos",
            "events_url": f"{url}/events{{/privacy}}",
            "received_events_url": f"{url}/received_events",
            "type": "Bot" if bot else "User",
            "user_view_type": "public",
            "site_admin": False,
        }

    def git_user(self, login: str, at: float) -> Json:
        """A ``git-user``: the name, email and date written in the commit."""
        return {"name": login, "email": f"{login}@acme.example", "date": _iso(at)}

    def minimal_repository(self, repo: _Repo) -> Json:
        """A ``minimal-repository``."""
        owner, name = repo.name.split("/", 1)
        url = f"{self.api}/repos/{repo.name}"
        body: Json = {
            "id": repo.id,
            "node_id": _node("R", repo.name),
            "name": name,
            "full_name": repo.name,
            "owner": self.user(owner) | {"type": "Organization", "node_id": _node("O", owner)},
            "private": True,
            "html_url": f"{self.web}/{repo.name}",
            "description": f"The {name} service",
            "fork": False,
            "url": url,
        }
        body.update({f"{key}_url": url + suffix for key, suffix in _REPOSITORY_LINKS.items()})
        return body

    def repository(self, repo: _Repo) -> Json:
        """A full ``repository``, as a pull request's head and base carry it."""
        host = self.web.split("://", 1)[-1]
        created = "2020-01-01T00:00:00Z"
        return self.minimal_repository(repo) | {
            "git_url": f"git://{host}/{repo.name}.git",
            "ssh_url": f"git@{host}:{repo.name}.git",
            "clone_url": f"{self.web}/{repo.name}.git",
            "svn_url": f"{self.web}/{repo.name}",
            "mirror_url": None,
            "homepage": None,
            "language": "Python",
            "license": None,
            "forks": 0,
            "forks_count": 0,
            "stargazers_count": 0,
            "watchers_count": 0,
            "watchers": 0,
            "size": 1024,
            "default_branch": "main",
            "open_issues_count": 0,
            "open_issues": 0,
            "has_pages": False,
            "disabled": False,
            "visibility": "private",
            "pushed_at": _iso(repo.commits[0].at) if repo.commits else created,
            "created_at": created,
            "updated_at": _iso(repo.commits[0].at) if repo.commits else created,
        }

    def diff_entries(self, repo: _Repo, sha: str, paths: Iterable[str]) -> list[Json]:
        """``diff-entry`` items: the files a commit or pull request touched."""
        return [
            {
                "sha": _sha(sha, path),
                "filename": path,
                "status": "modified",
                "additions": 3,
                "deletions": 1,
                "changes": 4,
                "blob_url": f"{self.web}/{repo.name}/blob/{sha}/{path}",
                "raw_url": f"{self.web}/{repo.name}/raw/{sha}/{path}",
                "contents_url": f"{self.api}/repos/{repo.name}/contents/{path}?ref={sha}",
                "patch": "@@ -1,2 +1,4 @@",
            }
            for path in paths
        ]

    def _commit_body(self, repo: _Repo, commit: _Commit) -> Json:
        url = f"{self.api}/repos/{repo.name}"
        person = self.git_user(commit.author, commit.at)
        parents = [commit.parent] if commit.parent else []
        return {
            "url": f"{url}/commits/{commit.sha}",
            "sha": commit.sha,
            "node_id": _node("C", repo.name, commit.sha),
            "html_url": f"{self.web}/{repo.name}/commit/{commit.sha}",
            "comments_url": f"{url}/commits/{commit.sha}/comments",
            "commit": {
                "url": f"{url}/git/commits/{commit.sha}",
                "author": person,
                "committer": person,
                "message": commit.message,
                "tree": {"url": f"{url}/git/trees/{_sha(commit.sha)}", "sha": _sha(commit.sha)},
                "comment_count": 0,
                "verification": {
                    "verified": False,
                    "reason": "unsigned",
                    "signature": None,
                    "payload": None,
                    "verified_at": None,
                },
            },
            "parents": [
                {
                    "sha": p,
                    "url": f"{url}/commits/{p}",
                    "html_url": f"{self.web}/{repo.name}/commit/{p}",
                }
                for p in parents
            ],
        }

    def commit(self, repo: _Repo, commit: _Commit, *, files: bool = False) -> Json:
        """A ``commit``; with its files and stats when asked for one commit."""
        body = self._commit_body(repo, commit)
        body["author"] = self.user(commit.author)
        body["committer"] = self.user(commit.author)
        if files:
            entries = self.diff_entries(repo, commit.sha, commit.paths)
            body["stats"] = {
                "additions": sum(e["additions"] for e in entries),
                "deletions": sum(e["deletions"] for e in entries),
                "total": sum(e["changes"] for e in entries),
            }
            body["files"] = entries
        return body

    def commit_search_item(self, repo: _Repo, commit: _Commit) -> Json:
        """A ``commit-search-result-item``: a commit with its repository and a score."""
        body = self._commit_body(repo, commit)
        person = self.git_user(commit.author, commit.at)
        url = f"{self.api}/repos/{repo.name}"
        body["commit"] = {
            "url": f"{url}/git/commits/{commit.sha}",
            "author": person,
            "committer": person,
            "message": commit.message,
            "tree": {"url": f"{url}/git/trees/{_sha(commit.sha)}", "sha": _sha(commit.sha)},
            "comment_count": 0,
        }
        body["author"] = self.user(commit.author)
        # The description gives the top-level committer of a search item as a git-user.
        body["committer"] = person
        body["repository"] = self.minimal_repository(repo)
        body["score"] = 1.0
        return body

    def pull(self, repo: _Repo, pull: _Pull) -> Json:
        """A ``pull-request-simple`` of a pull request merged into main."""
        url = f"{self.api}/repos/{repo.name}"
        html = f"{self.web}/{repo.name}/pull/{pull.number}"
        owner = repo.name.split("/", 1)[0]
        head_sha = _sha(pull.sha, "head")
        base_sha = next((c.parent for c in repo.commits if c.sha == pull.sha), None) or pull.sha
        branch = f"change-{pull.number}"
        links = {
            "self": f"{url}/pulls/{pull.number}",
            "html": html,
            "issue": f"{url}/issues/{pull.number}",
            "comments": f"{url}/issues/{pull.number}/comments",
            "review_comments": f"{url}/pulls/{pull.number}/comments",
            "review_comment": f"{url}/pulls/comments{{/number}}",
            "commits": f"{url}/pulls/{pull.number}/commits",
            "statuses": f"{url}/statuses/{head_sha}",
        }
        return {
            "url": links["self"],
            "id": _number("pull", repo.name, pull.number),
            "node_id": _node("PR", repo.name, pull.number),
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": links["issue"],
            "commits_url": links["commits"],
            "review_comments_url": links["review_comments"],
            "review_comment_url": links["review_comment"],
            "comments_url": links["comments"],
            "statuses_url": links["statuses"],
            "number": pull.number,
            "state": "closed",
            "locked": False,
            "title": pull.title,
            "user": self.user(pull.author),
            "body": None,
            "labels": [],
            "milestone": None,
            "active_lock_reason": None,
            "created_at": _iso(pull.merged_at - 6900),
            "updated_at": _iso(pull.merged_at),
            "closed_at": _iso(pull.merged_at),
            "merged_at": _iso(pull.merged_at),
            "merge_commit_sha": pull.sha,
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "head": {
                "label": f"{owner}:{branch}",
                "ref": branch,
                "sha": head_sha,
                "user": self.user(owner),
                "repo": self.repository(repo),
            },
            "base": {
                "label": f"{owner}:main",
                "ref": "main",
                "sha": base_sha,
                "user": self.user(owner),
                "repo": self.repository(repo),
            },
            "_links": {k: {"href": v} for k, v in links.items()},
            "author_association": "MEMBER",
            "auto_merge": None,
            "draft": False,
        }

    def issue_search_item(self, repo: _Repo, pull: _Pull) -> Json:
        """An ``issue-search-result-item`` for a merged pull request."""
        url = f"{self.api}/repos/{repo.name}/issues/{pull.number}"
        simple = self.pull(repo, pull)
        keep = [
            *("id", "number", "title", "user", "labels", "state", "locked", "assignee"),
            *("assignees", "milestone", "created_at", "updated_at", "closed_at", "body"),
            *("author_association", "active_lock_reason", "draft"),
        ]
        return {k: simple[k] for k in keep} | {
            "url": url,
            "repository_url": f"{self.api}/repos/{repo.name}",
            "labels_url": f"{url}/labels{{/name}}",
            "comments_url": f"{url}/comments",
            "events_url": f"{url}/events",
            "html_url": simple["html_url"],
            "node_id": simple["node_id"],
            "comments": 0,
            "pull_request": {
                "url": simple["url"],
                "html_url": simple["html_url"],
                "diff_url": simple["diff_url"],
                "patch_url": simple["patch_url"],
                "merged_at": simple["merged_at"],
            },
            "score": 1.0,
        }

    def deployment(self, repo: _Repo, deployment: _Deployment) -> Json:
        """A ``deployment`` of main to the configured environment."""
        url = f"{self.api}/repos/{repo.name}/deployments/{deployment.id}"
        return {
            "url": url,
            "id": deployment.id,
            "node_id": _node("DE", repo.name, deployment.id),
            "sha": deployment.sha,
            "ref": "main",
            "task": "deploy",
            "payload": {},
            "original_environment": self.environment,
            "environment": self.environment,
            "description": deployment.title,
            "creator": self.user(deployment.creator),
            "created_at": _iso(deployment.at),
            "updated_at": _iso(deployment.at + 60),
            "statuses_url": f"{url}/statuses",
            "repository_url": f"{self.api}/repos/{repo.name}",
            "transient_environment": False,
            "production_environment": self.environment == "production",
        }

    def deployment_status(self, repo: _Repo, deployment: _Deployment) -> Json:
        """The ``deployment-status`` saying the deployment finished."""
        url = f"{self.api}/repos/{repo.name}/deployments/{deployment.id}"
        ident = deployment.id + 1
        return {
            "url": f"{url}/statuses/{ident}",
            "id": ident,
            "node_id": _node("DES", repo.name, ident),
            "state": "success",
            "creator": self.user(deployment.creator),
            "description": "Deployment finished",
            "environment": self.environment,
            "target_url": "",
            "log_url": f"https://ci.acme.example/deploys/{deployment.id}",
            "environment_url": "",
            "created_at": _iso(deployment.at + 60),
            "updated_at": _iso(deployment.at + 60),
            "deployment_url": url,
            "repository_url": f"{self.api}/repos/{repo.name}",
        }

    def release(self, repo: _Repo, release: _Release) -> Json:
        """A published ``release`` of main."""
        url = f"{self.api}/repos/{repo.name}/releases/{release.id}"
        return {
            "url": url,
            "html_url": f"{self.web}/{repo.name}/releases/tag/{release.tag}",
            "assets_url": f"{url}/assets",
            "upload_url": f"{url}/assets{{?name,label}}",  # uploads.github.com on github.com
            "tarball_url": f"{self.api}/repos/{repo.name}/tarball/{release.tag}",
            "zipball_url": f"{self.api}/repos/{repo.name}/zipball/{release.tag}",
            "id": release.id,
            "node_id": _node("RE", repo.name, release.id),
            "tag_name": release.tag,
            "target_commitish": "main",
            "name": release.title,
            "body": None,
            "draft": False,
            "prerelease": False,
            "immutable": False,
            "created_at": _iso(release.at),
            "updated_at": _iso(release.at),
            "published_at": _iso(release.at),
            "author": self.user(release.author),
            "assets": [],
        }


@dataclass(slots=True)
class _Quota:
    """One rate-limit resource: its limit, its window, and the requests counted in it."""

    limit: int
    window: float
    used: int = 0
    reset: float = 0.0

    def count(self, now: float, *, spend: int = 1) -> None:
        """Count ``spend`` requests at ``now``, opening a new window when the last one ended."""
        if now >= self.reset:
            self.used, self.reset = 0, float(int(now + self.window))
        self.used += spend

    def body(self, now: float) -> Json:
        """The resource as ``/rate_limit`` shows it."""
        self.count(now, spend=0)
        remaining = max(0, self.limit - self.used)
        return {
            "limit": self.limit,
            "used": self.used,
            "remaining": remaining,
            "reset": int(self.reset),
        }


@dataclass(slots=True)
class _State:
    """What the stand-in serves, and the quotas it has counted."""

    history: _History
    quotas: dict[str, _Quota] = field(
        default_factory=lambda: {"core": _Quota(5000, 3600.0), "search": _Quota(30, 60.0)}
    )

    def shapes(self, request: web.Request) -> _Shapes:
        """Shapes whose API links point at the address ``request`` reached."""
        config = self.history.config
        return _Shapes(f"{request.scheme}://{request.host}", config.html_url, config.environment)


_STATE = web.AppKey("github_state", _State)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _Invalid(Exception):
    """A query parameter GitHub would refuse with ``422 Validation Failed``."""

    def __init__(self, name: str, value: str) -> None:
        super().__init__(name)
        self.name, self.value = name, value


def _json_error(status: int, message: str) -> web.Response:
    return web.json_response(github_error(status, message), status=status)


@web.middleware
async def _github(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Check the token, answer errors in JSON, and count and report the rate limit."""
    state = request.app[_STATE]
    token = state.history.config.token
    if request.headers.get("Authorization", "") not in (f"Bearer {token}", f"token {token}"):
        return _json_error(401, "Bad credentials")
    resource = "search" if request.path.startswith("/search/") else "core"
    quota = state.quotas[resource]
    now = time.time()
    if request.path != "/rate_limit":  # GitHub does not count asking for the rate limit
        quota.count(now)
    response: web.StreamResponse
    try:
        response = await handler(request)
    except _Invalid as bad:
        body = github_error(422, "Validation Failed") | {
            "errors": [
                {
                    "resource": "Request",
                    "field": bad.name,
                    "code": "invalid",
                    "value": bad.value,
                    "message": f"{bad.name} must be a positive integer",
                }
            ]
        }
        response = web.json_response(body, status=422)
    except web.HTTPNotFound:
        response = _json_error(404, "Not Found")
    except web.HTTPMethodNotAllowed:
        response = _json_error(404, "Not Found")
    shown = quota.body(now)
    response.headers.update(
        {
            "x-ratelimit-limit": str(shown["limit"]),
            "x-ratelimit-remaining": str(shown["remaining"]),
            "x-ratelimit-reset": str(shown["reset"]),
            "x-ratelimit-used": str(shown["used"]),
            "x-ratelimit-resource": resource,
            "x-github-api-version-selected": "2022-11-28",
        }
    )
    return response


def _positive(request: web.Request, name: str, default: int) -> int:
    text = request.query.get(name)
    if text is None:
        return default
    if not text.isdigit():
        raise _Invalid(name, text)
    return int(text)


def _page(request: web.Request, items: list[Any]) -> tuple[list[Any], dict[str, str]]:
    """One page of ``items`` and its Link header, like every GitHub list."""
    per_page = min(max(_positive(request, "per_page", 30), 1), 100)
    page = max(_positive(request, "page", 1), 1)
    chunk = items[(page - 1) * per_page : page * per_page]
    last = max(1, -(-len(items) // per_page))
    links = []
    if page < last:
        links.append(f'<{request.url.update_query(page=page + 1)}>; rel="next"')
        links.append(f'<{request.url.update_query(page=last)}>; rel="last"')
    if page > 1:
        links.append(f'<{request.url.update_query(page=1)}>; rel="first"')
        links.append(f'<{request.url.update_query(page=page - 1)}>; rel="prev"')
    return chunk, ({"Link": ", ".join(links)} if links else {})


def _list(request: web.Request, items: list[Any], render: Callable[[Any], Json]) -> web.Response:
    chunk, headers = _page(request, items)
    return web.json_response([render(item) for item in chunk], headers=headers)


def _repo(request: web.Request) -> _Repo:
    name = f"{request.match_info['owner']}/{request.match_info['repo']}"
    repo = request.app[_STATE].history.repos.get(name)
    if repo is None:
        raise web.HTTPNotFound()
    return repo


def _shapes(request: web.Request) -> _Shapes:
    return request.app[_STATE].shapes(request)


async def _commits(request: web.Request) -> web.Response:
    repo, shapes = _repo(request), _shapes(request)
    items = repo.commits
    since, until = request.query.get("since"), request.query.get("until")
    if since:
        items = [c for c in items if c.at >= _parse_iso(since)]
    if until:
        items = [c for c in items if c.at <= _parse_iso(until)]
    return _list(request, items, lambda c: shapes.commit(repo, c))


async def _commit(request: web.Request) -> web.Response:
    repo = _repo(request)
    ref = request.match_info["sha"]
    found = repo.find(ref)
    if found is None:
        return _json_error(422, f"No commit found for SHA: {ref}")
    return web.json_response(_shapes(request).commit(repo, repo.commits[found], files=True))


async def _compare(request: web.Request) -> web.Response:
    """``GET /repos/{owner}/{repo}/compare/{base}...{head}`` on the repository's one line."""
    repo, shapes = _repo(request), _shapes(request)
    basehead = request.match_info["basehead"]
    base_ref, dots, head_ref = basehead.partition("...")
    if not dots:
        base_ref, dots, head_ref = basehead.partition("..")
    base, head = repo.find(base_ref), repo.find(head_ref)
    if not dots or base is None or head is None:
        return _json_error(404, "Not Found")
    # Newest first: the head is ahead of the base when its index is smaller.
    ahead = repo.commits[head:base][::-1] if head < base else []
    behind = head - base if head > base else 0
    status = "identical" if base == head else ("ahead" if head < base else "behind")
    merge_base = repo.commits[max(base, head)]
    url = f"{shapes.api}/repos/{repo.name}/compare/{basehead}"
    html = f"{shapes.web}/{repo.name}/compare/{basehead}"
    base_sha, head_sha = repo.commits[base].sha, repo.commits[head].sha
    files: dict[str, Json] = {}
    for commit in ahead:
        for entry in shapes.diff_entries(repo, commit.sha, commit.paths):
            files[entry["filename"]] = entry
    return web.json_response(
        {
            "url": url,
            "html_url": html,
            "permalink_url": f"{shapes.web}/{repo.name}/compare/{base_sha[:7]}...{head_sha[:7]}",
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "base_commit": shapes.commit(repo, repo.commits[base]),
            "merge_base_commit": shapes.commit(repo, merge_base),
            "status": status,
            "ahead_by": len(ahead),
            "behind_by": behind,
            "total_commits": len(ahead),
            "commits": [shapes.commit(repo, c) for c in ahead],
            "files": list(files.values()),
        }
    )


def _pull(request: web.Request) -> tuple[_Repo, _Pull]:
    repo = _repo(request)
    number = request.match_info["number"]
    for pull in repo.pulls:
        if str(pull.number) == number:
            return repo, pull
    raise web.HTTPNotFound()


async def _pulls(request: web.Request) -> web.Response:
    repo, shapes = _repo(request), _shapes(request)
    state = request.query.get("state", "open")
    items = repo.pulls if state in ("all", "closed") else []  # every pull request is merged
    return _list(request, items, lambda p: shapes.pull(repo, p))


async def _pull_files(request: web.Request) -> web.Response:
    repo, pull = _pull(request)
    entries = _shapes(request).diff_entries(repo, pull.sha, pull.paths)
    return _list(request, entries, lambda e: e)


async def _deployments(request: web.Request) -> web.Response:
    repo, shapes = _repo(request), _shapes(request)
    env = request.query.get("environment")
    items = repo.deployments if env in (None, shapes.environment) else []
    return _list(request, items, lambda d: shapes.deployment(repo, d))


async def _statuses(request: web.Request) -> web.Response:
    repo, shapes = _repo(request), _shapes(request)
    ident = request.match_info["id"]
    for deployment in repo.deployments:
        if str(deployment.id) == ident:
            return _list(request, [deployment], lambda d: shapes.deployment_status(repo, d))
    raise web.HTTPNotFound()


async def _releases(request: web.Request) -> web.Response:
    repo, shapes = _repo(request), _shapes(request)
    return _list(request, repo.releases, lambda r: shapes.release(repo, r))


_QUALIFIER = re.compile(r"^(?P<key>[\w-]+):(?P<op>>=|>|<=|<)?(?P<value>.+)$")


def _qualifiers(q: str) -> dict[str, tuple[str, str]]:
    found = {}
    for token in q.split():
        match = _QUALIFIER.match(token)
        if match:
            found[match["key"] + ("" if match["key"] != "is" else ":" + match["value"])] = (
                match["op"] or "",
                match["value"],
            )
    return found


def _after(moment: float, condition: tuple[str, str] | None) -> bool:
    if condition is None:
        return True
    op, value = condition
    bound = _parse_iso(value)
    return moment > bound if op == ">" else moment >= bound


def _owned(history: _History, q: dict[str, tuple[str, str]]) -> list[_Repo]:
    owner = (q.get("org") or q.get("user") or ("", ""))[1]
    single = q.get("repo", ("", ""))[1]
    return [r for r in history.repos.values() if r.name.startswith(owner + "/") or r.name == single]


def _search_page(request: web.Request, items: list[Json], **extra: Any) -> web.Response:
    chunk, headers = _page(request, items[:1000])
    body = {"total_count": len(items), "incomplete_results": False, **extra, "items": chunk}
    return web.json_response(body, headers=headers)


async def _search_commits(request: web.Request) -> web.Response:
    state, shapes = request.app[_STATE], _shapes(request)
    q = _qualifiers(request.query.get("q", ""))
    found = [
        (repo, c)
        for repo in _owned(state.history, q)
        for c in repo.commits
        if _after(c.at, q.get("committer-date"))
    ]
    found.sort(key=lambda rc: rc[1].at, reverse=True)
    return _search_page(request, [shapes.commit_search_item(r, c) for r, c in found])


async def _search_issues(request: web.Request) -> web.Response:
    state, shapes = request.app[_STATE], _shapes(request)
    q = _qualifiers(request.query.get("q", ""))
    found = [
        (repo, p)
        for repo in _owned(state.history, q)
        for p in repo.pulls
        if _after(p.merged_at, q.get("merged"))
    ]
    found.sort(key=lambda rp: rp[1].merged_at, reverse=True)
    items = [shapes.issue_search_item(r, p) for r, p in found]
    return _search_page(request, items, search_type="lexical")


async def _rate_limit(request: web.Request) -> web.Response:
    now = time.time()
    quotas = request.app[_STATE].quotas
    resources = {name: quota.body(now) for name, quota in quotas.items()}
    return web.json_response({"resources": resources, "rate": resources["core"]})


def github_app(
    bundle: Bundle,
    *,
    config: GitHubStandinConfig | None = None,
    sinks: list[list[RecordedRequest]] | None = None,
) -> web.Application:
    """The stand-in as an aiohttp application; serve it with :func:`sandbox.faults.serving`."""
    app = web.Application(middlewares=[_github])
    install_faults(app, error_shape=github_error, sinks=sinks)
    app[_STATE] = _State(_History(bundle, config or GitHubStandinConfig()))
    r = "/repos/{owner}/{repo}"
    app.router.add_get("/rate_limit", _rate_limit)
    app.router.add_get(f"{r}/commits", _commits)
    app.router.add_get(f"{r}/commits/{{sha}}", _commit)
    app.router.add_get(f"{r}/compare/{{basehead}}", _compare)
    app.router.add_get(f"{r}/pulls", _pulls)
    app.router.add_get(f"{r}/pulls/{{number}}/files", _pull_files)
    app.router.add_get(f"{r}/deployments", _deployments)
    app.router.add_get(f"{r}/deployments/{{id}}/statuses", _statuses)
    app.router.add_get(f"{r}/releases", _releases)
    app.router.add_get("/search/commits", _search_commits)
    app.router.add_get("/search/issues", _search_issues)
    return app


def repo_of(app: web.Application) -> dict[str, str]:
    """The repository of each service, as the stand-in serves them."""
    return dict(app[_STATE].history.repo_of)


def load_bundle(app: web.Application, bundle: Bundle) -> None:
    """Serve ``bundle`` from now on, on the same port: call it on the stand-in's event loop."""
    app[_STATE].history.load(bundle)
