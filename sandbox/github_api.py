"""A stand-in for the GitHub REST API, serving a bundle's changes in the documented shapes.

Each service has a repository (``acme/<service>`` unless told otherwise). Every change of the
bundle becomes a commit, and deploys also a merged pull request, a deployment with a success
status and a release; quiet background commits fill the rest of the window. Lists paginate with
``Link`` headers, responses carry the ``x-ratelimit-*`` headers, a bad token gets ``401 Bad
credentials``, and faults come from :mod:`sandbox.faults`.
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from investigators.bundle import Bundle, ChangeKind
from sandbox.faults import RecordedRequest, install_faults

DOCS = "https://docs.github.com/rest"


@dataclass(slots=True)
class GitHubStandinConfig:
    """The token the stand-in accepts, where each service lives, and how busy repos are."""

    token: str = "sandbox-gh-token"
    repo_of: dict[str, str] = field(default_factory=dict)  # service -> owner/name
    owner: str = "acme"
    html_url: str = "https://github.com"
    background_commits_per_day: float = 4.0
    environment: str = "production"


def github_error(status: int, message: str) -> dict[str, Any]:
    """GitHub's error body: a message and a documentation link."""
    return {"message": message, "documentation_url": DOCS, "status": str(status)}


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _sha(*parts: object) -> str:
    return hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()


@dataclass(slots=True)
class _Repo:
    name: str
    commits: list[dict[str, Any]] = field(default_factory=list)  # newest first
    pulls: list[dict[str, Any]] = field(default_factory=list)
    deployments: list[dict[str, Any]] = field(default_factory=list)
    statuses: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    releases: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


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
        for change in bundle.changes:
            repo = self.repos[self.repo_of[change.service]]
            sha = (change.id + _sha(change.service, change.id, change.at))[:40]
            author = change.author or "octocat"
            path = "config/app.yaml" if change.kind is ChangeKind.CONFIG else "src/handler.py"
            self._commit(repo, sha, change.at - 600, author, change.title or "Change", [path])
            if change.kind is ChangeKind.DEPLOY:
                self._deploy(repo, sha, change.at, author, change.title or change.id, [path])
        per_repo = max(0.0, (last - first) / 86400 * config.background_commits_per_day)
        for repo in self.repos.values():
            seed = zlib.crc32(repo.name.encode())
            count = int(per_repo) + (1 if (seed % 1000) / 1000 < per_repo % 1 else 0)
            for i in range(count):
                at = first + ((seed * (i + 7)) % 100_000) / 100_000 * (last - first)
                sha = _sha(repo.name, "background", i)
                self._commit(
                    repo, sha, at, "dependabot[bot]", f"Bump dependency {i}", ["poetry.lock"]
                )
        for repo in self.repos.values():
            repo.commits.sort(key=lambda c: c["commit"]["committer"]["date"], reverse=True)
            repo.pulls.sort(key=lambda p: p["updated_at"], reverse=True)
            repo.deployments.sort(key=lambda d: d["created_at"], reverse=True)
            repo.releases.sort(key=lambda r: r["created_at"], reverse=True)

    def _commit(
        self, repo: _Repo, sha: str, at: float, author: str, message: str, paths: list[str]
    ) -> None:
        person = {"name": author, "email": f"{author}@acme.example", "date": _iso(at)}
        repo.files[sha] = [
            {"filename": p, "status": "modified", "additions": 3, "deletions": 1, "changes": 4}
            for p in paths
        ]
        repo.commits.append(
            {
                "sha": sha,
                "node_id": "C_" + sha[:12],
                "html_url": f"{self.config.html_url}/{repo.name}/commit/{sha}",
                "commit": {"author": person, "committer": person, "message": message},
                "author": {"login": author, "type": "User"},
                "committer": {"login": author, "type": "User"},
                "parents": [],
            }
        )

    def _deploy(
        self, repo: _Repo, sha: str, at: float, author: str, title: str, paths: list[str]
    ) -> None:
        number = len(repo.pulls) + 101
        user = {"login": author, "type": "User"}
        repo.pulls.append(
            {
                "number": number,
                "state": "closed",
                "title": title,
                "user": user,
                "html_url": f"{self.config.html_url}/{repo.name}/pull/{number}",
                "created_at": _iso(at - 7200),
                "updated_at": _iso(at - 300),
                "closed_at": _iso(at - 300),
                "merged_at": _iso(at - 300),
                "merge_commit_sha": sha,
                "_files": paths,
            }
        )
        ident = zlib.crc32(f"{repo.name}/{sha}".encode())
        repo.deployments.append(
            {
                "id": ident,
                "sha": sha,
                "ref": "main",
                "task": "deploy",
                "environment": self.config.environment,
                "description": title,
                "creator": user,
                "created_at": _iso(at),
                "updated_at": _iso(at + 60),
            }
        )
        repo.statuses[ident] = [
            {
                "id": ident + 1,
                "state": "success",
                "description": "Deployment finished",
                "environment": self.config.environment,
                "target_url": "",
                "log_url": f"https://ci.acme.example/deploys/{ident}",
                "created_at": _iso(at + 60),
                "creator": user,
            }
        ]
        tag = f"v1.{len(repo.releases)}.{ident % 10}"
        repo.releases.append(
            {
                "id": ident + 2,
                "tag_name": tag,
                "name": f"{tag}: {title}",
                "draft": False,
                "prerelease": False,
                "author": user,
                "target_commitish": "main",
                "html_url": f"{self.config.html_url}/{repo.name}/releases/tag/{tag}",
                "created_at": _iso(at - 120),
                "published_at": _iso(at - 120),
            }
        )


_DATA = web.AppKey("history", _History)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    token = request.app[_DATA].config.token
    given = request.headers.get("Authorization", "")
    if given not in (f"Bearer {token}", f"token {token}"):
        return web.json_response(github_error(401, "Bad credentials"), status=401)
    response = await handler(request)
    response.headers.update(
        {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": "4999",
            "x-ratelimit-reset": str(int(datetime.now(tz=UTC).timestamp()) + 3600),
            "x-ratelimit-resource": "search" if request.path.startswith("/search") else "core",
        }
    )
    return response


def _page(request: web.Request, items: list[Any]) -> web.Response:
    """One page of ``items`` with a Link header, like every GitHub list."""
    per_page = min(int(request.query.get("per_page", "30")), 100)
    page = max(int(request.query.get("page", "1")), 1)
    chunk = items[(page - 1) * per_page : page * per_page]
    headers = {}
    last = max(1, -(-len(items) // per_page))
    links = []
    if page < last:
        links.append(f'<{request.url.update_query(page=page + 1)}>; rel="next"')
        links.append(f'<{request.url.update_query(page=last)}>; rel="last"')
    if page > 1:
        links.append(f'<{request.url.update_query(page=1)}>; rel="first"')
        links.append(f'<{request.url.update_query(page=page - 1)}>; rel="prev"')
    if links:
        headers["Link"] = ", ".join(links)
    return web.json_response(chunk, headers=headers)


def _repo(request: web.Request) -> _Repo:
    name = f"{request.match_info['owner']}/{request.match_info['repo']}"
    repo = request.app[_DATA].repos.get(name)
    if repo is None:
        raise web.HTTPNotFound(
            text=json.dumps(github_error(404, "Not Found")),
            content_type="application/json",
        )
    return repo


def _public(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if not k.startswith("_")}


async def _commits(request: web.Request) -> web.Response:
    items = _repo(request).commits
    since, until = request.query.get("since"), request.query.get("until")
    if since:
        items = [c for c in items if c["commit"]["committer"]["date"] >= _iso(_parse_iso(since))]
    if until:
        items = [c for c in items if c["commit"]["committer"]["date"] <= _iso(_parse_iso(until))]
    return _page(request, items)


async def _commit(request: web.Request) -> web.Response:
    repo = _repo(request)
    sha = request.match_info["sha"]
    for item in repo.commits:
        if item["sha"].startswith(sha):
            return web.json_response({**item, "files": repo.files.get(item["sha"], [])})
    return web.json_response(github_error(422, f"No commit found for SHA: {sha}"), status=422)


async def _pulls(request: web.Request) -> web.Response:
    state = request.query.get("state", "open")
    items = [_public(p) for p in _repo(request).pulls if state in ("all", p["state"])]
    return _page(request, items)


async def _pull_files(request: web.Request) -> web.Response:
    number = int(request.match_info["number"])
    for pull in _repo(request).pulls:
        if pull["number"] == number:
            return _page(request, [{"filename": f, "status": "modified"} for f in pull["_files"]])
    return web.json_response(github_error(404, "Not Found"), status=404)


async def _deployments(request: web.Request) -> web.Response:
    env = request.query.get("environment")
    items = [d for d in _repo(request).deployments if env in (None, d["environment"])]
    return _page(request, items)


async def _statuses(request: web.Request) -> web.Response:
    repo = _repo(request)
    ident = int(request.match_info["id"])
    if ident not in repo.statuses:
        return web.json_response(github_error(404, "Not Found"), status=404)
    return _page(request, repo.statuses[ident])


async def _releases(request: web.Request) -> web.Response:
    return _page(request, _repo(request).releases)


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


def _after(stamp: str, condition: tuple[str, str] | None) -> bool:
    if condition is None:
        return True
    op, value = condition
    moment, bound = _parse_iso(stamp), _parse_iso(value)
    return moment > bound if op == ">" else moment >= bound


def _owned(history: _History, q: dict[str, tuple[str, str]]) -> list[_Repo]:
    owner = (q.get("org") or q.get("user") or ("", ""))[1]
    single = q.get("repo", ("", ""))[1]
    return [r for r in history.repos.values() if r.name.startswith(owner + "/") or r.name == single]


def _search_page(request: web.Request, items: list[Any]) -> web.Response:
    inner = _page(request, items[:1000])
    assert isinstance(inner.text, str)
    body = {
        "total_count": len(items),
        "incomplete_results": False,
        "items": json.loads(inner.text),
    }
    return web.json_response(body, headers={k: v for k, v in inner.headers.items() if k == "Link"})


async def _search_commits(request: web.Request) -> web.Response:
    history = request.app[_DATA]
    q = _qualifiers(request.query.get("q", ""))
    api = f"{request.scheme}://{request.host}"
    items = []
    for repo in _owned(history, q):
        for c in repo.commits:
            if _after(c["commit"]["committer"]["date"], q.get("committer-date")):
                items.append(
                    {
                        **c,
                        "url": f"{api}/repos/{repo.name}/commits/{c['sha']}",
                        "repository": {"full_name": repo.name, "name": repo.name.split("/")[1]},
                        "score": 1.0,
                    }
                )
    items.sort(key=lambda c: c["commit"]["committer"]["date"], reverse=True)
    return _search_page(request, items)


async def _search_issues(request: web.Request) -> web.Response:
    history = request.app[_DATA]
    q = _qualifiers(request.query.get("q", ""))
    api = f"{request.scheme}://{request.host}"
    items = []
    for repo in _owned(history, q):
        for p in repo.pulls:
            if "is:merged" in q and not p["merged_at"]:
                continue
            if _after(p["merged_at"], q.get("merged")):
                items.append(
                    {
                        **_public(p),
                        "repository_url": f"{api}/repos/{repo.name}",
                        "pull_request": {
                            "url": f"{api}/repos/{repo.name}/pulls/{p['number']}",
                            "html_url": p["html_url"],
                            "merged_at": p["merged_at"],
                        },
                    }
                )
    items.sort(key=lambda p: p["updated_at"], reverse=True)
    return _search_page(request, items)


async def _rate_limit(request: web.Request) -> web.Response:
    reset = int(datetime.now(tz=UTC).timestamp()) + 3600
    core = {"limit": 5000, "remaining": 4999, "reset": reset, "used": 1}
    search = {"limit": 30, "remaining": 30, "reset": reset, "used": 0}
    return web.json_response({"resources": {"core": core, "search": search}, "rate": core})


def github_app(
    bundle: Bundle,
    *,
    config: GitHubStandinConfig | None = None,
    sinks: list[list[RecordedRequest]] | None = None,
) -> web.Application:
    """The stand-in as an aiohttp application; serve it with :func:`sandbox.faults.serving`."""
    app = web.Application(middlewares=[_auth])
    install_faults(app, error_shape=github_error, sinks=sinks)
    app[_DATA] = _History(bundle, config or GitHubStandinConfig())
    r = "/repos/{owner}/{repo}"
    app.router.add_get("/rate_limit", _rate_limit)
    app.router.add_get(f"{r}/commits", _commits)
    app.router.add_get(f"{r}/commits/{{sha}}", _commit)
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
    return dict(app[_DATA].repo_of)


def load_bundle(app: web.Application, bundle: Bundle) -> None:
    """Serve ``bundle`` from now on, on the same port: call it on the stand-in's event loop."""
    app[_DATA].load(bundle)
