"""The toolbox /git routes, through the runner's toolbox proxy (toolbox-local).

Repositories are made locally by the tests: a bare repository plays the remote (by path,
or over a loopback smart-HTTP server with Basic authentication for credentials).
"""
import json
import os
import re

import pytest

from gitserver import GitHttpServer, git, make_remote, seed_commit

SANDBOX = "git-sbx"
HEX40 = re.compile(r"^[0-9a-f]{40}$")
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$")


@pytest.fixture(scope="module")
def tb(runner):
    runner.create_sandbox(SANDBOX)
    return Toolbox(runner, SANDBOX)


class Toolbox:
    def __init__(self, runner, sandbox_id):
        self.runner = runner
        self.prefix = f"/sandboxes/{sandbox_id}/toolbox"

    def get(self, route, **query):
        from urllib.parse import urlencode
        q = ("?" + urlencode(query)) if query else ""
        return self.runner.get(self.prefix + route + q)

    def post(self, route, body=None, **kw):
        return self.runner.post(self.prefix + route, body, **kw)

    def delete(self, route, body=None, **kw):
        return self.runner.request("DELETE", self.prefix + route, body=body, **kw)

    def raw(self, method, route, data, content_type="application/json"):
        return self.runner.request(method, self.prefix + route, raw_body=data,
                                   headers={"Content-Type": content_type})


def error_message(r, status=400):
    assert r.status == status, r
    body = r.json()
    assert body["statusCode"] == status and body["code"] == "Bad Request" and body["method"]
    return body["message"]


def status_of(tb, path):
    r = tb.get("/git/status", path=path)
    assert r.status == 200, r
    return r.json()


def files_of(status):
    return {f["name"]: (f["staging"], f["worktree"], f["extra"]) for f in status["fileStatus"]}


@pytest.fixture
def cloned(tb, tmp_path):
    """A clone made through the toolbox: (repo path, bare remote, seed worktree)."""
    bare, seed = make_remote(str(tmp_path), files={"a.txt": "a\n", "b.txt": "b\n"}, branches=("dev",))
    repo = str(tmp_path / "repo")
    r = tb.post("/git/clone", {"url": bare, "path": repo})
    assert r.status == 200 and r.body == b"", r
    return repo, bare, seed


# clone ---------------------------------------------------------------------------

def test_clone_checks_out_the_default_branch(tb, cloned):
    repo, bare, _ = cloned
    assert open(os.path.join(repo, "a.txt")).read() == "a\n"
    st = status_of(tb, repo)
    assert st == {**st, "currentBranch": "main", "fileStatus": [], "branchPublished": True,
                  "ahead": 0, "behind": 0}
    # single-branch: only the cloned branch is fetched
    assert "origin/dev" not in git("branch", "-r", cwd=repo)


def test_clone_a_branch(tb, tmp_path):
    bare, _ = make_remote(str(tmp_path), branches=("dev",))
    repo = str(tmp_path / "r")
    assert tb.post("/git/clone", {"url": bare, "path": repo, "branch": "dev"}).status == 200
    assert status_of(tb, repo)["currentBranch"] == "dev"
    assert os.path.exists(os.path.join(repo, "dev.txt"))


def test_clone_a_commit_is_detached(tb, tmp_path):
    bare, seed = make_remote(str(tmp_path))
    first = git("rev-parse", "HEAD", cwd=seed).strip()
    seed_commit(seed, "later.txt", "later\n")
    repo = str(tmp_path / "r")
    r = tb.post("/git/clone", {"url": bare, "path": repo, "commit_id": first})
    assert r.status == 200, r
    assert git("rev-parse", "HEAD", cwd=repo).strip() == first
    st = status_of(tb, repo)
    assert st["currentBranch"] == "HEAD"
    assert not os.path.exists(os.path.join(repo, "later.txt"))


def test_clone_relative_path_resolves_against_work_dir(tb, runner, tmp_path):
    bare, _ = make_remote(str(tmp_path))
    work_dir = tb.get("/work-dir").json()["dir"]
    name = "rel-clone-" + os.path.basename(str(tmp_path))
    assert tb.post("/git/clone", {"url": bare, "path": name}).status == 200
    assert os.path.isdir(os.path.join(work_dir, name, ".git"))
    assert status_of(tb, name)["currentBranch"] == "main"


def test_clone_errors(tb, cloned, tmp_path):
    repo, bare, _ = cloned
    assert error_message(tb.post("/git/clone", {"url": bare, "path": repo})) == "repository already exists"
    assert error_message(tb.post("/git/clone", {"url": bare, "path": str(tmp_path / "x"), "branch": "nope"})) \
        == "reference not found"
    assert error_message(tb.post("/git/clone", {"url": str(tmp_path / "missing.git"), "path": str(tmp_path / "y")})) \
        == "repository not found"
    assert error_message(tb.post("/git/clone", {"url": bare})) == (
        "invalid request body: Key: 'GitCloneRequest.Path' Error:Field validation for 'Path' failed on the 'required' tag")
    assert error_message(tb.post("/git/clone", {})) == (
        "invalid request body: Key: 'GitCloneRequest.URL' Error:Field validation for 'URL' failed on the 'required' tag\n"
        "Key: 'GitCloneRequest.Path' Error:Field validation for 'Path' failed on the 'required' tag")
    assert error_message(tb.post("/git/clone", {"url": 5, "path": "p"})) == (
        "invalid request body: json: cannot unmarshal number into Go struct field GitCloneRequest.url of type string")
    assert error_message(tb.raw("POST", "/git/clone", b"")) == "invalid request body: EOF"
    assert error_message(tb.raw("POST", "/git/clone", b"{not json")).startswith("invalid request body: ")
    assert not os.path.exists(str(tmp_path / "x"))


@pytest.fixture
def http_remote(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    bare, seed = make_remote(str(root), name="private.git")
    server = GitHttpServer(str(root), username="alice", password="s3cr%t'pw\\x")
    yield server, seed
    server.stop()


def test_clone_with_credentials(tb, tmp_path, http_remote):
    server, _ = http_remote
    url = server.url("private.git")
    repo = str(tmp_path / "auth")
    r = tb.post("/git/clone", {"url": url, "path": repo, "username": "alice", "password": "s3cr%t'pw\\x"})
    assert r.status == 200, r
    assert os.path.exists(os.path.join(repo, "README.md"))
    # the secret is nowhere on disk: not in the repository, not in the toolbox home
    home = tb.get("/user-home-dir").json()["dir"]
    for top in (repo, home):
        for d, _, names in os.walk(top):
            for n in names:
                p = os.path.join(d, n)
                if os.path.isfile(p) and not os.path.islink(p):
                    with open(p, "rb") as f:
                        assert b"s3cr%t" not in f.read(), p
    assert git("remote", "get-url", "origin", cwd=repo).strip() == url


def test_clone_without_or_with_wrong_credentials(tb, tmp_path, http_remote):
    server, _ = http_remote
    url = server.url("private.git")
    assert error_message(tb.post("/git/clone", {"url": url, "path": str(tmp_path / "a")})) == "authentication required"
    assert error_message(tb.post("/git/clone", {"url": url, "path": str(tmp_path / "b"), "username": "alice",
                                                "password": "wrong"})) == "authentication required"
    # a username alone is not basic auth
    assert error_message(tb.post("/git/clone", {"url": url, "path": str(tmp_path / "c"), "username": "alice"})) \
        == "authentication required"


def test_pull_and_push_with_credentials(tb, tmp_path, http_remote):
    server, seed = http_remote
    url = server.url("private.git")
    repo = str(tmp_path / "auth")
    creds = {"username": "alice", "password": "s3cr%t'pw\\x"}
    assert tb.post("/git/clone", {"url": url, "path": repo, **creds}).status == 200
    seed_commit(seed, "from-seed.txt", "x\n")
    assert error_message(tb.post("/git/pull", {"path": repo})) == "authentication required"
    assert tb.post("/git/pull", {"path": repo, **creds}).status == 200
    assert os.path.exists(os.path.join(repo, "from-seed.txt"))
    with open(os.path.join(repo, "mine.txt"), "w") as f:
        f.write("mine\n")
    assert tb.post("/git/add", {"path": repo, "files": ["mine.txt"]}).status == 200
    sha = tb.post("/git/commit", {"path": repo, "message": "mine", "author": "A", "email": "a@x"}).json()["hash"]
    assert error_message(tb.post("/git/push", {"path": repo})) == "authentication required"
    assert tb.post("/git/push", {"path": repo, **creds}).status == 200
    assert git("rev-parse", "main", cwd=os.path.join(str(tmp_path), "served", "private.git")).strip() == sha


# status --------------------------------------------------------------------------

def test_status_maps_porcelain_codes(tb, cloned):
    repo, _, _ = cloned
    with open(os.path.join(repo, "untracked.txt"), "w") as f:
        f.write("u\n")
    os.makedirs(os.path.join(repo, "newdir"))
    with open(os.path.join(repo, "newdir", "deep.txt"), "w") as f:
        f.write("d\n")
    with open(os.path.join(repo, "a.txt"), "a") as f:
        f.write("more\n")
    with open(os.path.join(repo, "staged.txt"), "w") as f:
        f.write("s\n")
    git("add", "staged.txt", cwd=repo)
    git("mv", "b.txt", "renamed.txt", cwd=repo)
    files = files_of(status_of(tb, repo))
    assert files == {
        "untracked.txt": ("Untracked", "Untracked", ""),
        "newdir/deep.txt": ("Untracked", "Untracked", ""),   # files, not collapsed directories
        "a.txt": ("Unmodified", "Modified", ""),
        "staged.txt": ("Added", "Unmodified", ""),
        "renamed.txt": ("Renamed", "Unmodified", "b.txt"),
    }


def test_status_deleted(tb, cloned):
    repo, _, _ = cloned
    os.unlink(os.path.join(repo, "a.txt"))
    git("rm", "-q", "b.txt", cwd=repo)
    assert files_of(status_of(tb, repo)) == {"a.txt": ("Unmodified", "Deleted", ""),
                                             "b.txt": ("Deleted", "Unmodified", "")}


def test_status_ahead_behind_and_published(tb, cloned):
    repo, _, seed = cloned
    r = tb.post("/git/branches", {"path": repo, "name": "local-only"})
    assert r.status == 201, r
    st = status_of(tb, repo)
    assert (st["currentBranch"], st["branchPublished"], st["ahead"], st["behind"]) == ("local-only", False, 0, 0)
    assert tb.post("/git/checkout", {"path": repo, "branch": "main"}).status == 200
    git("commit", "-q", "--allow-empty", "-m", "local 1", cwd=repo)
    git("commit", "-q", "--allow-empty", "-m", "local 2", cwd=repo)
    seed_commit(seed, "remote.txt", "r\n")
    git("fetch", "-q", cwd=repo)
    st = status_of(tb, repo)
    assert (st["branchPublished"], st["ahead"], st["behind"]) == (True, 2, 1)


def test_status_errors(tb, cloned, tmp_path):
    repo, _, _ = cloned
    assert error_message(tb.get("/git/status")) == "path is required"
    assert error_message(tb.get("/git/status", path=str(tmp_path / "nope"))) == "repository does not exist"
    # a directory inside a repository is not a repository (go-git does not look upwards)
    os.makedirs(os.path.join(repo, "sub"))
    assert error_message(tb.get("/git/status", path=os.path.join(repo, "sub"))) == "repository does not exist"
    plain = tmp_path / "plain"
    plain.mkdir()
    assert error_message(tb.get("/git/status", path=str(plain))) == "repository does not exist"


# add and commit ----------------------------------------------------------------

def test_add_and_commit(tb, cloned):
    repo, _, _ = cloned
    with open(os.path.join(repo, "new.txt"), "w") as f:
        f.write("new\n")
    os.unlink(os.path.join(repo, "b.txt"))
    r = tb.post("/git/add", {"path": repo, "files": ["."]})
    assert r.status == 200 and r.body == b"", r
    assert files_of(status_of(tb, repo)) == {"new.txt": ("Added", "Unmodified", ""),
                                             "b.txt": ("Deleted", "Unmodified", "")}
    r = tb.post("/git/commit", {"path": repo, "message": "add new, drop b", "author": "Jane Doe",
                                "email": "jane@example.com"})
    assert r.status == 200, r
    sha = r.json()["hash"]
    assert HEX40.match(sha) and r.json() == {"hash": sha}
    assert git("rev-parse", "HEAD", cwd=repo).strip() == sha
    assert git("log", "-1", "--format=%an|%ae|%cn|%ce|%B", cwd=repo) == \
        "Jane Doe|jane@example.com|Jane Doe|jane@example.com|add new, drop b\n\n"
    assert status_of(tb, repo)["fileStatus"] == []
    assert status_of(tb, repo)["ahead"] == 1


def test_add_pathspecs_one_by_one(tb, cloned):
    repo, _, _ = cloned
    for n in ("x.txt", "y.txt", "z.txt"):
        with open(os.path.join(repo, n), "w") as f:
            f.write(n)
    assert tb.post("/git/add", {"path": repo, "files": ["x.txt", "y.txt"]}).status == 200
    files = files_of(status_of(tb, repo))
    assert files["x.txt"][0] == "Added" and files["y.txt"][0] == "Added"
    assert files["z.txt"] == ("Untracked", "Untracked", "")
    # an empty list is valid and stages nothing
    assert tb.post("/git/add", {"path": repo, "files": []}).status == 200
    assert error_message(tb.post("/git/add", {"path": repo})) == (
        "invalid request body: Key: 'GitAddRequest.Files' Error:Field validation for 'Files' failed on the 'required' tag")


def test_commit_empty_and_allow_empty(tb, cloned):
    repo, _, _ = cloned
    body = {"path": repo, "message": "nothing", "author": "A", "email": "a@x"}
    assert error_message(tb.post("/git/commit", body)) == "cannot create empty commit: clean working tree"
    # unstaged changes do not make a commit either
    with open(os.path.join(repo, "a.txt"), "a") as f:
        f.write("x\n")
    assert error_message(tb.post("/git/commit", body)) == "cannot create empty commit: clean working tree"
    r = tb.post("/git/commit", {**body, "allow_empty": True})
    assert r.status == 200 and HEX40.match(r.json()["hash"]), r
    assert error_message(tb.post("/git/commit", {"path": repo, "message": "m", "author": "A"})) == (
        "invalid request body: Key: 'GitCommitRequest.Email' Error:Field validation for 'Email' failed on the 'required' tag")
    assert error_message(tb.post("/git/commit", {**body, "path": os.path.join(repo, "nope")})) == \
        "repository does not exist"


# branches and checkout ---------------------------------------------------------

def test_branches(tb, cloned):
    repo, _, _ = cloned
    r = tb.get("/git/branches", path=repo)
    assert r.status == 200 and r.json()["branches"] == ["main"], r
    r = tb.post("/git/branches", {"path": repo, "name": "feature/x"})
    assert r.status == 201 and r.body == b"", r
    assert status_of(tb, repo)["currentBranch"] == "feature/x"   # created and checked out
    assert sorted(tb.get("/git/branches", path=repo).json()["branches"]) == ["feature/x", "main"]
    assert error_message(tb.post("/git/branches", {"path": repo, "name": "main"})) == \
        "a branch named 'main' already exists"
    assert tb.post("/git/checkout", {"path": repo, "branch": "main"}).status == 200
    r = tb.delete("/git/branches", {"path": repo, "name": "feature/x"})
    assert r.status == 204 and r.body == b"", r
    assert tb.get("/git/branches", path=repo).json()["branches"] == ["main"]
    assert error_message(tb.get("/git/branches")) == "path is required"
    assert error_message(tb.delete("/git/branches", {"path": repo})) == (
        "invalid request body: Key: 'GitDeleteBranchRequest.Name' Error:Field validation for 'Name' failed on the 'required' tag")


def test_branches_of_an_empty_repository_is_an_empty_list(tb, tmp_path):
    repo = str(tmp_path / "empty")
    git("init", "-q", repo)
    r = tb.get("/git/branches", path=repo)
    assert r.status == 200 and r.json()["branches"] == [], r
    r = tb.get("/git/history", path=repo)
    assert r.status == 200 and r.json() == [], r


def test_checkout_branch_and_commit(tb, cloned):
    repo, _, _ = cloned
    first = git("rev-parse", "HEAD", cwd=repo).strip()
    assert tb.post("/git/branches", {"path": repo, "name": "work"}).status == 201
    git("commit", "-q", "--allow-empty", "-m", "on work", cwd=repo)
    assert tb.post("/git/checkout", {"path": repo, "branch": "main"}).status == 200
    assert status_of(tb, repo)["currentBranch"] == "main"
    r = tb.post("/git/checkout", {"path": repo, "branch": first})
    assert r.status == 200, r
    st = status_of(tb, repo)
    assert st["currentBranch"] == "HEAD"
    assert git("rev-parse", "HEAD", cwd=repo).strip() == first
    assert tb.post("/git/checkout", {"path": repo, "branch": "work"}).status == 200
    assert status_of(tb, repo)["currentBranch"] == "work"


def test_checkout_errors(tb, cloned):
    repo, _, _ = cloned
    assert error_message(tb.post("/git/checkout", {"path": repo, "branch": "nope"})) == \
        "failed to checkout branch or commit 'nope': reference not found"
    assert tb.post("/git/branches", {"path": repo, "name": "other"}).status == 201
    with open(os.path.join(repo, "a.txt"), "a") as f:
        f.write("dirty\n")
    msg = error_message(tb.post("/git/checkout", {"path": repo, "branch": "main"}))
    assert msg == "failed to checkout branch or commit 'main': worktree contains unstaged changes"
    assert status_of(tb, repo)["currentBranch"] == "other"
    # untracked files do not block a checkout
    git("checkout", "--", "a.txt", cwd=repo)
    with open(os.path.join(repo, "untracked.txt"), "w") as f:
        f.write("u\n")
    assert tb.post("/git/checkout", {"path": repo, "branch": "main"}).status == 200


# history -------------------------------------------------------------------------

def test_history(tb, cloned):
    repo, _, _ = cloned
    with open(os.path.join(repo, "h.txt"), "w") as f:
        f.write("h\n")
    tb.post("/git/add", {"path": repo, "files": ["h.txt"]})
    sha = tb.post("/git/commit", {"path": repo, "message": "second <&> \"quoted\"\n\nbody line",
                                  "author": "Hist Ory", "email": "h@example.com"}).json()["hash"]
    r = tb.get("/git/history", path=repo)
    assert r.status == 200, r
    log = r.json()
    assert [c["hash"] for c in log] == git("log", "--format=%H", cwd=repo).split()
    assert log[0] == {**log[0], "hash": sha, "author": "Hist Ory", "email": "h@example.com",
                      "message": "second <&> \"quoted\"\n\nbody line\n"}
    assert log[1]["message"] == "initial commit\n" and log[1]["author"] == "Test Author"
    for c in log:
        assert set(c) == {"hash", "author", "email", "message", "timestamp"}
        assert RFC3339.match(c["timestamp"]), c["timestamp"]
    assert error_message(tb.get("/git/history")) == "path is required"


# pull and push -------------------------------------------------------------------

def test_pull(tb, cloned):
    repo, _, seed = cloned
    r = tb.post("/git/pull", {"path": repo})
    assert r.status == 200, r                                 # already up to date
    seed_commit(seed, "pulled.txt", "p\n")
    r = tb.post("/git/pull", {"path": repo})
    assert r.status == 200, r
    assert open(os.path.join(repo, "pulled.txt")).read() == "p\n"
    assert git("rev-parse", "HEAD", cwd=repo) == git("rev-parse", "HEAD", cwd=seed)


def test_pull_is_fast_forward_only(tb, cloned):
    repo, _, seed = cloned
    seed_commit(seed, "theirs.txt", "t\n")
    git("commit", "-q", "--allow-empty", "-m", "ours", cwd=repo)
    assert error_message(tb.post("/git/pull", {"path": repo})) == "non-fast-forward update"


def test_push(tb, cloned):
    repo, bare, _ = cloned
    with open(os.path.join(repo, "pushed.txt"), "w") as f:
        f.write("p\n")
    tb.post("/git/add", {"path": repo, "files": ["pushed.txt"]})
    sha = tb.post("/git/commit", {"path": repo, "message": "push me", "author": "A", "email": "a@x"}).json()["hash"]
    r = tb.post("/git/push", {"path": repo})
    assert r.status == 200 and r.body == b"", r
    assert git("rev-parse", "main", cwd=bare).strip() == sha
    assert tb.post("/git/push", {"path": repo}).status == 200   # everything up to date
    # a new branch is pushed under its own name
    tb.post("/git/branches", {"path": repo, "name": "topic"})
    git("commit", "-q", "--allow-empty", "-m", "topic", cwd=repo)
    assert tb.post("/git/push", {"path": repo}).status == 200
    assert git("rev-parse", "topic", cwd=bare).strip() == git("rev-parse", "HEAD", cwd=repo).strip()


def test_push_rejected_and_detached(tb, cloned):
    repo, _, seed = cloned
    seed_commit(seed, "theirs.txt", "t\n")
    git("commit", "-q", "--allow-empty", "-m", "ours", cwd=repo)
    assert error_message(tb.post("/git/push", {"path": repo})) == "non-fast-forward update"
    git("checkout", "-q", "--detach", cwd=repo)
    assert error_message(tb.post("/git/push", {"path": repo})) == "reference not found"


def test_pull_without_origin(tb, tmp_path):
    repo = str(tmp_path / "lonely")
    git("init", "-q", repo)
    git("commit", "-q", "--allow-empty", "-m", "x", cwd=repo)
    assert error_message(tb.post("/git/pull", {"path": repo})) == "remote not found"


def test_newer_client_pull_push_options(tb, cloned):
    repo, bare, _ = cloned
    assert tb.post("/git/branches", {"path": repo, "name": "up"}).status == 201
    git("commit", "-q", "--allow-empty", "-m", "up", cwd=repo)
    r = tb.post("/git/push", {"path": repo, "remote": "origin", "branch": "up", "set_upstream": True})
    assert r.status == 200, r
    assert git("rev-parse", "up", cwd=bare) == git("rev-parse", "HEAD", cwd=repo)
    assert git("config", "branch.up.merge", cwd=repo).strip() == "refs/heads/up"
    # a named branch of a named remote, fast-forwarded onto the current branch
    assert tb.post("/git/checkout", {"path": repo, "branch": "main"}).status == 200
    assert tb.post("/git/branches", {"path": repo, "name": "follow"}).status == 201
    assert tb.post("/git/pull", {"path": repo, "remote": "origin", "branch": "dev"}).status == 200
    assert os.path.exists(os.path.join(repo, "dev.txt"))
    assert git("rev-parse", "HEAD", cwd=repo) == git("rev-parse", "dev", cwd=bare)


# newer routes (toolbox client 0.218) --------------------------------------------

def test_init(tb, tmp_path):
    repo = str(tmp_path / "fresh")
    r = tb.post("/git/init", {"path": repo, "initial_branch": "trunk"})
    assert r.status == 201 and r.body == b"", r
    st = status_of(tb, repo)
    assert st["currentBranch"] == "trunk" and st["fileStatus"] == [] and st["branchPublished"] is False
    assert error_message(tb.post("/git/init", {"path": repo})) == "repository already exists"
    bare = str(tmp_path / "bare.git")
    assert tb.post("/git/init", {"path": bare, "bare": True}).status == 201
    assert git("rev-parse", "--is-bare-repository", cwd=bare).strip() == "true"
    assert error_message(tb.post("/git/init", {"bare": True})) == (
        "invalid request body: Key: 'GitInitRequest.Path' Error:Field validation for 'Path' failed on the 'required' tag")


def test_remotes(tb, tmp_path):
    repo = str(tmp_path / "rem")
    assert tb.post("/git/init", {"path": repo}).status == 201
    r = tb.get("/git/remotes", path=repo)
    assert r.status == 200 and r.json() == {"remotes": []}, r
    bare, _ = make_remote(str(tmp_path))
    r = tb.post("/git/remotes", {"path": repo, "name": "origin", "url": bare, "fetch": True})
    assert r.status == 201, r
    assert git("rev-parse", "origin/main", cwd=repo).strip()     # fetched
    assert error_message(tb.post("/git/remotes", {"path": repo, "name": "origin", "url": "/x"})) == \
        "remote already exists"
    r = tb.post("/git/remotes", {"path": repo, "name": "origin", "url": "https://user:pw@example.com/r.git",
                                 "overwrite": True})
    assert r.status == 201, r
    tb.post("/git/remotes", {"path": repo, "name": "backup", "url": "git@example.com:r.git"})
    r = tb.get("/git/remotes", path=repo)
    assert r.json() == {"remotes": [{"name": "backup", "url": "git@example.com:r.git"},
                                    {"name": "origin", "url": "https://user@example.com/r.git"}]}
    assert error_message(tb.get("/git/remotes")) == "path is required"


def test_config_get_and_set(tb, tmp_path):
    repo = str(tmp_path / "cfg")
    assert tb.post("/git/init", {"path": repo}).status == 201
    r = tb.get("/git/config", key="mr.test-unset-key", scope="local", path=repo)
    assert r.status == 200 and r.json() == {"value": None}, r
    r = tb.post("/git/config", {"path": repo, "scope": "local", "key": "core.editor", "value": "vi -x"})
    assert r.status == 200, r
    assert tb.get("/git/config", key="core.editor", scope="local", path=repo).json() == {"value": "vi -x"}
    assert git("config", "--local", "core.editor", cwd=repo).strip() == "vi -x"
    # global scope is the toolbox user's home
    r = tb.post("/git/config", {"key": "mrtest.section.flag", "value": "yes"})
    assert r.status == 200, r
    assert tb.get("/git/config", key="mrtest.section.flag").json() == {"value": "yes"}
    home = tb.get("/user-home-dir").json()["dir"]
    assert "flag = yes" in open(os.path.join(home, ".gitconfig")).read()
    assert error_message(tb.get("/git/config")) == "key is required"
    assert error_message(tb.get("/git/config", key="a.b", scope="local")) == "path is required when scope is local"
    assert error_message(tb.get("/git/config", key="nodot")) == \
        'invalid config key "nodot" (expected section.name or section.subsection.name)'
    assert error_message(tb.get("/git/config", key="a.b", scope="worktree")) == \
        'unsupported config scope "worktree" (supported: global, local, system)'
    assert error_message(tb.post("/git/config", {"key": "a.b", "value": "v", "scope": "local"})) == \
        "path is required when scope is local"


def test_config_user(tb, tmp_path):
    repo = str(tmp_path / "usr")
    assert tb.post("/git/init", {"path": repo}).status == 201
    r = tb.post("/git/config/user", {"name": "Cfg User", "email": "cfg@example.com", "scope": "local", "path": repo})
    assert r.status == 200, r
    assert git("config", "--local", "user.name", cwd=repo).strip() == "Cfg User"
    assert git("config", "--local", "user.email", cwd=repo).strip() == "cfg@example.com"
    assert error_message(tb.post("/git/config/user", {"name": "x"})) == (
        "invalid request body: Key: 'GitConfigureUserRequest.Email' Error:Field validation for 'Email' failed on the 'required' tag")


def test_credentials(tb, tmp_path):
    r = tb.post("/git/credentials", {"username": "bob", "password": "tok3n", "host": "git.example.com"})
    assert r.status == 200, r
    home = tb.get("/user-home-dir").json()["dir"]
    assert "https://bob:tok3n@git.example.com" in open(os.path.join(home, ".git-credentials")).read()
    assert tb.get("/git/config", key="credential.helper").json() == {"value": "store"}
    assert error_message(tb.post("/git/credentials", {"username": "bob", "password": "a\nhost=evil"})) == \
        "credential fields must not contain newline or NUL characters"


def test_stored_credentials_are_used(tb, tmp_path, http_remote):
    server, _ = http_remote
    host = server.url("").split("//")[1].rstrip("/")
    r = tb.post("/git/credentials", {"username": "alice", "password": "s3cr%t'pw\\x", "host": host,
                                     "protocol": "http"})
    assert r.status == 200, r
    repo = str(tmp_path / "stored")
    assert tb.post("/git/clone", {"url": server.url("private.git"), "path": repo}).status == 200


def test_reset(tb, cloned):
    repo, _, _ = cloned
    first = git("rev-parse", "HEAD", cwd=repo).strip()
    git("commit", "-q", "--allow-empty", "-m", "two", cwd=repo)
    r = tb.post("/git/reset", {"path": repo, "mode": "soft", "target": first})
    assert r.status == 200, r
    assert git("rev-parse", "HEAD", cwd=repo).strip() == first
    with open(os.path.join(repo, "a.txt"), "w") as f:
        f.write("changed\n")
    git("add", "a.txt", cwd=repo)
    assert tb.post("/git/reset", {"path": repo, "files": ["a.txt"]}).status == 200      # unstage
    assert files_of(status_of(tb, repo))["a.txt"] == ("Unmodified", "Modified", "")
    assert tb.post("/git/reset", {"path": repo, "mode": "hard"}).status == 200
    assert open(os.path.join(repo, "a.txt")).read() == "a\n"
    assert error_message(tb.post("/git/reset", {"path": repo, "mode": "sideways"})) == \
        'unsupported reset mode "sideways" (supported: soft, mixed, hard, merge, keep)'
    assert error_message(tb.post("/git/reset", {"path": repo, "target": "no-such-rev"})) == "reference not found"


def test_restore(tb, cloned):
    repo, _, _ = cloned
    with open(os.path.join(repo, "a.txt"), "w") as f:
        f.write("changed\n")
    assert tb.post("/git/restore", {"path": repo, "files": ["a.txt"]}).status == 200
    assert open(os.path.join(repo, "a.txt")).read() == "a\n"
    with open(os.path.join(repo, "b.txt"), "w") as f:
        f.write("staged\n")
    git("add", "b.txt", cwd=repo)
    assert tb.post("/git/restore", {"path": repo, "files": ["b.txt"], "staged": True}).status == 200
    assert files_of(status_of(tb, repo))["b.txt"] == ("Unmodified", "Modified", "")
    assert error_message(tb.post("/git/restore", {"path": repo, "files": []})) == "at least one path is required"
    assert error_message(tb.post("/git/restore", {"path": repo, "files": ["a.txt"], "staged": False})) == \
        "at least one of staged or worktree must be true"
    assert error_message(tb.post("/git/restore", {"path": repo, "files": ["nope.txt"]})) == \
        "pathspec 'nope.txt' did not match any file(s) known to git"


def test_unknown_git_route_and_method(tb):
    r = tb.runner.request("PUT", tb.prefix + "/git/branches")
    assert r.status == 404 and r.text == "404 page not found"
    r = tb.get("/git/nothing")
    assert r.status == 404 and r.text == "404 page not found"


def test_concurrent_requests_do_not_block_the_server(tb, cloned):
    """A git request that waits on a slow remote does not stop other requests."""
    import socket
    import threading
    repo, _, _ = cloned
    # a "remote" that accepts the connection and never answers
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    url = f"http://127.0.0.1:{srv.getsockname()[1]}/slow.git"
    results = {}

    def slow_clone():
        results["clone"] = tb.runner.post(tb.prefix + "/git/clone", {"url": url, "path": repo + "-slow"}, timeout=60)

    t = threading.Thread(target=slow_clone)
    t.start()
    try:
        conn, _ = srv.accept()
        r = tb.get("/git/status", path=repo)      # answered while the clone hangs
        assert r.status == 200
        conn.close()                              # the clone fails now
    finally:
        t.join(60)
        srv.close()
    assert results["clone"].status == 400


def test_keep_alive_client_after_204(tb, cloned):
    """A client that reuses its connection can send another request after a 204 (libsoup
    closes the connection after a 204, so the answer must say so)."""
    import http.client
    repo, _, _ = cloned
    assert tb.post("/git/branches", {"path": repo, "name": "gone"}).status == 201
    assert tb.post("/git/checkout", {"path": repo, "branch": "main"}).status == 200
    conn = http.client.HTTPConnection("127.0.0.1", tb.runner.port, timeout=30)
    headers = {"Authorization": f"Bearer {tb.runner.token}", "Content-Type": "application/json"}
    try:
        conn.request("DELETE", tb.prefix + "/git/branches", body=json.dumps({"path": repo, "name": "gone"}),
                     headers=headers)
        r = conn.getresponse()
        r.read()
        assert r.status == 204
        conn.request("GET", tb.prefix + "/git/branches?path=" + repo, headers=headers)
        r = conn.getresponse()
        assert r.status == 200 and json.loads(r.read())["branches"] == ["main"]
    finally:
        conn.close()


def test_concurrent_requests_on_one_repository(tb, cloned):
    """Requests on one repository run one after the other: no index.lock collisions."""
    import threading
    repo, _, _ = cloned
    names = [f"c{i}.txt" for i in range(12)]
    for n in names:
        with open(os.path.join(repo, n), "w") as f:
            f.write(n)
    results = []

    def add(name):
        results.append(tb.post("/git/add", {"path": repo, "files": [name]}))

    threads = [threading.Thread(target=add, args=(n,)) for n in names]
    threads += [threading.Thread(target=lambda: results.append(tb.get("/git/status", path=repo)))
                for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [r.status for r in results if r.status != 200] == [], [r for r in results if r.status != 200]
    files = files_of(status_of(tb, repo))
    assert all(files[n][0] == "Added" for n in names), files


def _processes_with(marker):
    import subprocess
    return subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout.split()


def test_client_gone_kills_git(tb, tmp_path):
    """A client that disconnects while its clone waits on a silent remote leaves no git behind."""
    import socket
    import time
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    srv.settimeout(20)
    marker = f"silent-remote-{os.getpid()}-{srv.getsockname()[1]}"
    body = json.dumps({"url": f"http://127.0.0.1:{srv.getsockname()[1]}/{marker}.git",
                       "path": str(tmp_path / "never")}).encode()
    client = socket.create_connection(("127.0.0.1", tb.runner.port))
    conns = []
    try:
        client.sendall(f"POST {tb.prefix}/git/clone HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tb.runner.token}\r\n"
                       f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        conns.append(srv.accept()[0])         # git is connected to the remote and waits
        assert _processes_with(marker)
        client.close()
        deadline = time.monotonic() + 10
        while _processes_with(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _processes_with(marker) == []
    finally:
        client.close()
        for c in conns:
            c.close()
        srv.close()
    assert tb.get("/version").status == 200
