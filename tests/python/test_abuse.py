"""Abuse: every route with bodies, queries and paths no client should send, and HTTP that
breaks the protocol. Each answer must be a well-formed error (4xx, or a documented 5xx, with
the documented JSON body), and the runner must stay alive, keep serving, and give back every
descriptor and process afterwards.

Inputs come from a seeded random generator (ABUSE_SEED, default 1), so a failure reproduces.
Run against a sanitized build (meson setup -Db_sanitize=address,undefined) and the runner's
stop() turns any AddressSanitizer, LeakSanitizer or UBSan report into a failure.
"""
import base64
import json
import os
import random
import re
import socket
import struct
import time

import pytest

from mrtest import RunnerProcess, build_request, read_http_response

SEED = int(os.environ.get("ABUSE_SEED", "1"))
SANDBOX = "abuse-sb"
TB = f"/sandboxes/{SANDBOX}/toolbox"
LONG = "x" * 70000

# Values of every JSON type a field could wrongly get. Strings stay relative and
# harmless as file names, commands or git arguments: the toolbox really runs them.
BAD_VALUES = [None, True, 0, -1, 1.5, 2 ** 63, -(2 ** 63) - 1, 10 ** 30, 1e308, "", "fz", "-1",
              "a\u0000b", LONG, [], ["fz", None], {}, {"k": None}, {"k": [1]}]
# Values JSON cannot carry through json.dumps: raw text put in place of a field's value
RAW_VALUES = [b'"\xff\xfe"', b'"\xed\xa0\x80"', b"1e999", b"-0", b'"\\ud800"', b"01", b"NaN"]
MALFORMED = [b"", b"{", b"}", b'{"a":', b"[1,2", b"nul", b"\xff\xfe{}", b'{"a":"\xff"}', b"{}}",
             b"{}{}", b'"unterminated', b"[" * 5000, b'{"a":' * 3000, b"\x00", b"{\x00}",
             b"null", b"1", b'"s"', b"[]", b"true", b"-1e400"]

# (method, path, fields). {id} is a sandbox id; field names from docs/*.md.
RUNNER_ROUTES = [
    ("POST", "/sandboxes", ["id", "userId", "snapshot", "osUser", "cpuQuota", "gpuQuota", "memoryQuota",
                            "storageQuota", "env", "metadata", "networkBlockAll", "volumes", "registry",
                            "entrypoint", "authToken", "name", "networkAllowList"]),
    ("GET", "/sandboxes/fz-1", []),
    ("POST", "/sandboxes/fz-1/start", ["authToken", "metadata"]),
    ("POST", "/sandboxes/fz-1/stop", ["force"]),
    ("POST", "/sandboxes/fz-1/destroy", []),
    ("DELETE", "/sandboxes/fz-1", []),
    ("POST", "/sandboxes/fz-1/backup", ["snapshot", "registry", "authToken"]),
    ("POST", "/sandboxes/fz-1/resize", ["cpu", "memory", "disk", "gpu"]),
    ("POST", "/sandboxes/fz-1/network-settings", ["networkBlockAll", "networkAllowList", "networkLimitEgress"]),
    ("POST", "/sandboxes/fz-1/recover", ["userId", "snapshot", "osUser", "cpuQuota", "errorReason", "backupErrorReason"]),
    ("POST", "/sandboxes/fz-1/is-recoverable", ["errorReason"]),
    ("POST", "/sandboxes/fz-1/snapshot-from-sandbox", ["name", "registry"]),
    ("POST", "/sandboxes/fz-1/ssh-access", ["expiresInMinutes"]),
    ("DELETE", "/sandboxes/fz-1/ssh-access", []),
    ("GET", "/sandboxes/ssh-access/validate?token=fz", []),
    ("POST", "/snapshots/pull", ["snapshot", "registry", "destinationRegistry", "destinationRef", "newTag"]),
    ("POST", "/snapshots/build", ["snapshot", "dockerfile", "organizationId", "context", "registry",
                                  "pushToInternalRegistry", "sourceRegistries"]),
    ("POST", "/snapshots/tag", ["sourceImage", "targetImage"]),
    ("GET", "/snapshots/exists?snapshot=fz", []),
    ("GET", "/snapshots/info?snapshot=fz", []),
    ("POST", "/snapshots/remove?snapshot=fz", []),
    ("GET", "/snapshots/logs?snapshotRef=fz&follow=fz", []),
    ("POST", "/snapshots/inspect", ["snapshot", "registry"]),
    ("GET", "/info", []),
    ("GET", "/metrics", []),
    ("GET", "/", []),
]

MOCK_ROUTES = [
    ("GET", "/_mock/requests?method=%00&path=%ff&sandboxId=" + "y" * 5000, []),
    ("POST", "/_mock/seed", ["seed"]),
    ("PUT", "/_mock/timing", ["mode", "delayMs"]),
    ("PUT", "/_mock/timing/fz-1", ["mode", "delayMs"]),
    ("DELETE", "/_mock/timing/fz-1", []),
    ("POST", "/_mock/timing/advance", ["sandboxId"]),
    ("POST", "/_mock/clock", ["advanceSeconds"]),
    # a rule narrow enough to match nothing this test sends, whatever one field becomes
    ("POST", "/_mock/faults", ["method", "path", "sandboxId", "action", "status", "code", "message",
                               "delayMs", "times", "probability"]),
    ("DELETE", "/_mock/faults/fz-1", []),
    ("PUT", "/_mock/state", ["version", "sandboxes", "images", "toolbox", "ssh"]),
]
FAULT_BASE = {"method": "PATCH", "path": "/no-such-route-ever", "sandboxId": "no-such-sandbox"}

CP_ROUTES = [
    ("POST", "/api/sandbox", ["name", "snapshot", "user", "env", "labels", "cpu", "gpu", "memory", "disk",
                              "public", "target", "autoStopInterval", "autoArchiveInterval",
                              "autoDeleteInterval", "volumes", "buildInfo", "networkBlockAll",
                              "networkAllowList"]),
    ("GET", "/api/sandbox?labels=%7Bbad&limit=-1&cursor=%00&states=%ff", []),
    ("GET", "/api/sandbox/paginated?page=-1&limit=99999999999999999999", []),
    ("GET", "/api/sandbox/fz-1", []),
    ("POST", "/api/sandbox/fz-1/start", []),
    ("POST", "/api/sandbox/fz-1/stop?force=%ff", []),
    ("DELETE", "/api/sandbox/fz-1", []),
    ("GET", "/api/sandbox/fz-1/toolbox-proxy-url", []),
    ("PUT", "/api/sandbox/fz-1/labels", ["labels"]),
    ("POST", "/api/sandbox/fz-1/autostop/-1", []),
    ("POST", "/api/sandbox/fz-1/autoarchive/99999999999999999999", []),
    ("POST", "/api/sandbox/fz-1/autodelete/x", []),
    ("GET", "/api/config", []),
    ("GET", "/api/socket.io/?EIO=4&transport=polling", []),
]

TOOLBOX_ROUTES = [
    ("GET", "/version", []),
    ("GET", "/project-dir", []),
    ("GET", "/work-dir", []),
    ("GET", "/user-home-dir", []),
    ("POST", "/init", ["token"]),
    ("GET", "/files?path=%00", []),
    ("GET", "/files/info?path=" + "z" * 5000, []),
    ("GET", "/files/download?path=%ff", []),
    ("GET", "/files/find?path=fz&pattern=%00", []),
    ("GET", "/files/search?path=fz&pattern=[", []),
    ("POST", "/files/folder?path=fz-dir&mode=zz", []),
    ("POST", "/files/move?source=fz-none&destination=fz-none2", []),
    ("POST", "/files/permissions?path=fz-none&mode=99999999999", []),
    ("POST", "/files/replace", ["files", "pattern", "newValue"]),
    ("POST", "/files/bulk-download", ["paths"]),
    ("POST", "/env", ["set", "unset", "unsetValuePrefix"]),
    ("GET", "/port", []),
    ("GET", "/port/-1/in-use", []),
    ("GET", "/port/99999999999999999999/in-use", []),
    ("GET", "/system/metrics", []),
    ("POST", "/process/execute", ["command", "cwd", "timeout", "envs"]),
    ("POST", "/process/code-run", ["code", "language", "argv", "envs", "timeout"]),
    ("POST", "/process/session", ["sessionId"]),
    ("GET", "/process/session/fz-none", []),
    ("DELETE", "/process/session/fz-none", []),
    ("POST", "/process/session/fz-none/exec", ["command", "runAsync", "async", "suppressInputEcho"]),
    ("GET", "/process/session/fz-none/command/fz-none", []),
    ("GET", "/process/session/fz-none/command/fz-none/logs?follow=%ff", []),
    ("POST", "/process/session/fz-none/command/fz-none/input", ["data"]),
    ("POST", "/process/pty", ["id", "cwd", "envs", "cols", "rows", "lazyStart"]),
    ("GET", "/process/pty/fz-none", []),
    ("DELETE", "/process/pty/fz-none", []),
    ("POST", "/process/pty/fz-none/resize", ["cols", "rows"]),
    ("GET", "/process/interpreter/context", []),
    ("POST", "/process/interpreter/context", ["cwd", "language"]),
    ("DELETE", "/process/interpreter/context/fz-none", []),
    ("POST", "/git/clone", ["url", "path", "branch", "commit_id", "username", "password", "depth"]),
    ("GET", "/git/status?path=%00", []),
    ("POST", "/git/add", ["path", "files"]),
    ("POST", "/git/commit", ["path", "message", "author", "email", "allow_empty"]),
    ("GET", "/git/branches?path=fz-none", []),
    ("POST", "/git/branches", ["path", "name"]),
    ("DELETE", "/git/branches", ["path", "name"]),
    ("POST", "/git/checkout", ["path", "branch"]),
    ("GET", "/git/history?path=fz-none", []),
    ("POST", "/git/pull", ["path", "username", "password", "remote", "branch"]),
    ("POST", "/git/push", ["path", "username", "password", "remote", "branch", "set_upstream"]),
    ("POST", "/git/init", ["path", "bare", "initial_branch"]),
    ("GET", "/git/remotes?path=fz-none", []),
    ("POST", "/git/remotes", ["path", "name", "url", "fetch", "overwrite"]),
    ("GET", "/git/config?key=%00&scope=%ff", []),
    ("POST", "/git/config", ["key", "value", "scope", "path"]),
    ("POST", "/git/config/user", ["name", "email", "scope", "path"]),
    ("POST", "/git/reset", ["path", "mode", "target", "files"]),
    ("POST", "/git/restore", ["path", "files", "staged", "worktree", "source"]),
    ("POST", "/lsp/did-open", ["languageId", "pathToProject", "uri"]),
    ("POST", "/lsp/completions", ["languageId", "pathToProject", "uri", "position", "context"]),
    ("GET", "/lsp/document-symbols?languageId=%00&uri=%ff", []),
    ("GET", "/lsp/workspacesymbols?query=%00", []),
    ("POST", "/computeruse/mouse/move", ["x", "y"]),
]

# 5xx answers the documentation gives for what a client sends (docs/toolbox.md)
DOCUMENTED_5XX = {
    "/lsp/": {500},
    "/computeruse/": {503},
    "/process/interpreter/context": {500},   # a worker that cannot start (a missing cwd)
    "/process/pty": {500},                   # failed to start PTY session (a missing cwd)
    "/env": {500},                           # setenv: invalid argument
    "/process/session": {500},               # the shell cannot start
    "/proxy/": {502},                        # nothing listens on the port (docs/backends.md)
}
# the Go mock's answer to a resize of an unknown sandbox without STRICT
# (test_runner_api.py::test_resize_unknown_is_500_in_lenient_mode)
RESIZE = re.compile(r"^/sandboxes/[^/]+/resize$")


# HTTP over raw sockets ------------------------------------------------------------

class Conn:
    """One keep-alive connection; reconnects when the server closes it."""

    def __init__(self, port, timeout=20):
        self.port, self.timeout = port, timeout
        self.sock = self.file = None

    def open(self):
        self.close()
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
        self.file = self.sock.makefile("rb")

    def close(self):
        if self.file:
            self.file.close()
        if self.sock:
            self.sock.close()
        self.sock = self.file = None

    def send(self, data):
        if self.sock is None:
            self.open()
        self.sock.sendall(data)

    def response(self):
        resp = read_http_response(self.file)
        if resp is None or (resp["headers"].get("connection", "").lower() == "close"):
            self.close()
        return resp

    def exchange(self, data):
        """One request and its response. libsoup closes a connection after the 400 of a
        request it cannot parse without saying so: a reused connection that ends
        before any answer is retried once on a new one, as HTTP clients do."""
        for attempt in (1, 2):
            reused = self.sock is not None
            try:
                self.send(data)
                resp = self.response()
            except (ConnectionResetError, BrokenPipeError):
                self.close()
                resp = None
            if resp is not None or not reused:
                return resp
        return resp


def raw_exchange(port, data, timeout=10, shut=False, count=None):
    """Sends @data on a new connection and returns the responses: all of them until the
    server closes (after a half-close when @shut), or the first @count."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
            if shut:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass   # the server may answer and close before it read everything
        f = s.makefile("rb")
        out = []
        try:
            while count is None or len(out) < count:
                r = read_http_response(f)
                if r is None:
                    break
                out.append(r)
                if r["headers"].get("connection", "").lower() == "close" or r["status"] == 101:
                    break
        except (ConnectionResetError, socket.timeout):
            pass
        f.close()
        return out


# Checks -----------------------------------------------------------------------------

def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def children(pid):
    """Every live (non-zombie) descendant of @pid."""
    by_parent = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                by_parent.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for c in by_parent.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


TOOLBOX_PREFIX = re.compile(r"^(/sandboxes/[^/]+/toolbox|/toolbox/[^/]+|/api/toolbox/[^/]+/toolbox)(?=/)")


def documented_5xx(route):
    if RESIZE.match(route):
        return {500}
    route = TOOLBOX_PREFIX.sub("", route)
    return {s for prefix, codes in DOCUMENTED_5XX.items() if route.startswith(prefix) for s in codes}


def check_answer(runner, method, path, resp, what, common_body=True, route=None):
    where = f"{method} {path[:120]} {what[:200]!r}"
    assert runner.proc.poll() is None, f"the runner died on {where}: {runner.read_stderr()[-3000:]}"
    assert resp is not None, f"no answer to {where}"
    status = resp["status"]
    assert 200 <= status < 600, f"{where}: status {status}"
    if status >= 500:
        assert status in documented_5xx(route or path), f"{where}: undocumented {status} {resp['body'][:300]!r}"
    if status >= 400 and resp["body"]:
        ctype = resp["headers"].get("content-type", "")
        if "json" in ctype:
            try:
                doc = json.loads(resp["body"])
            except ValueError as e:
                raise AssertionError(f"{where}: {status} body is no JSON ({e}): {resp['body'][:300]!r}")
            assert isinstance(doc, dict), f"{where}: error body {resp['body'][:200]!r}"
            if common_body:
                assert doc.get("statusCode") == status and isinstance(doc.get("message"), str), \
                    f"{where}: error body {resp['body'][:300]!r}"
        else:
            assert not common_body, f"{where}: {status} with Content-Type {ctype!r}: {resp['body'][:200]!r}"


def assert_serving(runner):
    r = runner.get("/")
    assert r.status == 200, r
    assert runner.get("/info").status == 200


def bodies_for(fields, base, rng):
    """Bodies for one route: malformed JSON, wrong top-level types, and each field wrong."""
    out = list(MALFORMED)
    for name in fields:
        for v in BAD_VALUES:
            doc = dict(base)
            doc[name] = v
            out.append(json.dumps(doc).encode())
        for raw in RAW_VALUES:
            doc = dict(base)
            doc[name] = "@@RAW@@"
            out.append(json.dumps(doc).encode().replace(b'"@@RAW@@"', raw))
    # a few whole bodies of random fields and values, different for each seed
    for _ in range(3):
        doc = {rng.choice(fields or ["x"]): rng.choice(BAD_VALUES) for _ in range(rng.randint(1, 4))}
        out.append(json.dumps(doc).encode())
    return out


def fuzz_routes(runner, routes, prefix="", base=None, common_body=True, sample=1.0):
    """Sends every body (or a seeded @sample of them) to every route; fails with the wrong
    answers, at most one a route."""
    rng = random.Random(f"{SEED}:{prefix}:{len(routes)}")
    conn = Conn(runner.port)
    failures = {}
    try:
        for method, path, fields in routes:
            full = prefix + path
            bodies = bodies_for(fields, base or {}, rng) if method in ("POST", "PUT", "DELETE") else [None]
            if sample < 1.0:
                bodies = [b for b in bodies if rng.random() < sample]
            for body in bodies:
                resp = conn.exchange(build_request(method, full, body))
                try:
                    check_answer(runner, method, full, resp, repr(body), common_body, route=path)
                except AssertionError as e:
                    if runner.proc.poll() is not None:
                        raise
                    failures.setdefault((method, path), str(e).split("\n")[0])
    finally:
        conn.close()
    assert not failures, "\n".join(failures.values())


# The runner -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    # every directory the toolbox could write to or resolve ".." into stays inside tmp
    root = tmp_path_factory.mktemp("abuse")
    work = root / "a" / "b" / "work"
    work.mkdir(parents=True)
    (root / "tmp").mkdir()
    r = RunnerProcess(env={"TOOLBOX_WORK_DIR": str(work), "TOOLBOX_HOME_DIR": str(work),
                           "TMPDIR": str(root / "tmp"), "MOCK_RUNNER_SEED": "7",
                           # a GLib critical (a failed precondition) is a bug too: make it a crash
                           "G_DEBUG": "fatal-criticals"})
    # what a reset runner holds once its toolbox has served a request
    r.create_sandbox(SANDBOX)
    assert r.get(f"{TB}/version").status == 200
    assert r.post("/_mock/reset").status == 204
    r.baseline_fds = settle(lambda: fd_count(r.proc.pid), lambda n: True)
    yield r
    r.stop()


def settle(measure, good, timeout=10):
    """Measures until good(value) holds or @timeout passes; returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = measure()
        if good(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


@pytest.fixture
def fresh(runner):
    """A reset runner with a started sandbox; afterwards the runner still serves."""
    assert runner.post("/_mock/reset").status == 204
    runner.create_sandbox(SANDBOX)
    yield runner
    assert_serving(runner)


def test_runner_api_bodies(fresh):
    fuzz_routes(fresh, RUNNER_ROUTES, base={"id": "fz-1", "snapshot": "fz"})


def test_mock_api_bodies(fresh):
    fuzz_routes(fresh, MOCK_ROUTES, base=FAULT_BASE)
    assert fresh.delete("/_mock/faults").status == 204


SANDBOX_RECORD = {"id": "st-1", "state": "stopped", "backupState": "NONE", "userId": "u", "snapshot": "img",
                  "osUser": "daytona", "cpuQuota": 1, "gpuQuota": 0, "memoryQuota": 1, "storageQuota": 3,
                  "env": {}, "metadata": {}, "networkBlockAll": False, "networkLimitEgress": False,
                  "createdAt": 1768473062123456, "updatedAt": 1768473062123456}
IMAGE_RECORD = {"ref": "img", "sizeBytes": 1, "entrypoint": ["/bin/sh"], "cmd": ["-c"], "hash": "sha256:0",
                "createdAt": 1768473062123000}


def test_mock_state_records(fresh):
    """Each member of the records a state import takes, wrong in every way."""
    conn = Conn(fresh.port)
    failures = {}
    try:
        for member, record in [("sandboxes", SANDBOX_RECORD), ("images", IMAGE_RECORD)]:
            for name in record:
                for v in BAD_VALUES + [[v] for v in BAD_VALUES[:6]]:
                    doc = {"version": 1, member: [dict(record, **{name: v})]}
                    body = json.dumps(doc).encode()
                    resp = conn.exchange(build_request("PUT", "/_mock/state", body))
                    try:
                        check_answer(fresh, "PUT", "/_mock/state", resp, f"{member}.{name}={v!r:.40}")
                    except AssertionError as e:
                        if fresh.proc.poll() is not None:
                            raise
                        failures.setdefault(name, str(e).split("\n")[0][:400])
            for doc in [{member: [None]}, {member: [[]]}, {member: [record, record]}, {member: {}},
                        {member: [dict(record, unknown=1)]}, {"version": 1, member: [{}]}]:
                resp = conn.exchange(build_request("PUT", "/_mock/state", json.dumps(doc).encode()))
                check_answer(fresh, "PUT", "/_mock/state", resp, repr(doc)[:80])
    finally:
        conn.close()
    assert not failures, "\n".join(failures.values())
    assert fresh.get("/_mock/state").status == 200

def test_control_plane_bodies(fresh):
    fuzz_routes(fresh, CP_ROUTES, common_body=False)


def test_toolbox_bodies(fresh):
    fuzz_routes(fresh, TOOLBOX_ROUTES, prefix=TB, common_body=False)


def test_toolbox_bodies_through_the_control_plane(fresh):
    """The same toolbox behind /toolbox/{id}: a seeded quarter of the bodies is enough."""
    fuzz_routes(fresh, TOOLBOX_ROUTES, prefix=f"/toolbox/{SANDBOX}", common_body=False, sample=0.25)


# Path segments ------------------------------------------------------------------------

SEGMENTS = ["%00", "a%00b", "%2F", "a%2Fb", "..", "%2E%2E", "..%2F..", "%ff", "%C0%AF", "%zz", "%",
            "%25", "%20", ";", "~", "x" * 8000, "\x7f", "%0A", "%0D%0A", "*", "{id}"]
# (method, template, common error body): {} is replaced by each segment
PATH_ROUTES = [
    ("GET", "/sandboxes/{}", True),
    ("POST", "/sandboxes/{}/start", True),
    ("POST", "/sandboxes/{}/stop", True),
    ("POST", "/sandboxes/{}/destroy", True),
    ("DELETE", "/sandboxes/{}", True),
    ("POST", "/sandboxes/{}/backup", True),
    ("POST", "/sandboxes/{}/resize", True),
    ("POST", "/sandboxes/{}/network-settings", True),
    ("POST", "/sandboxes/{}/recover", True),
    ("POST", "/sandboxes/{}/is-recoverable", True),
    ("POST", "/sandboxes/{}/snapshot-from-sandbox", True),
    ("POST", "/sandboxes/{}/ssh-access", True),
    ("DELETE", "/sandboxes/{}/ssh-access", True),
    ("GET", "/sandboxes/{}/toolbox/version", False),
    ("GET", "/snapshots/{}", True),
    ("GET", "/{}", True),
    ("PUT", "/_mock/timing/{}", True),
    ("DELETE", "/_mock/timing/{}", True),
    ("DELETE", "/_mock/faults/{}", True),
    ("GET", "/api/sandbox/{}", False),
    ("POST", "/api/sandbox/{}/start", False),
    ("POST", "/api/sandbox/{}/stop", False),
    ("DELETE", "/api/sandbox/{}", False),
    ("PUT", "/api/sandbox/{}/labels", False),
    ("POST", "/api/sandbox/fz-1/autostop/{}", False),
    ("GET", "/api/sandbox/{}/toolbox-proxy-url", False),
    ("GET", "/toolbox/{}/version", False),
    ("GET", "/api/toolbox/{}/toolbox/version", False),
    ("GET", f"{TB}/process/session/{{}}", False),
    ("POST", f"{TB}/process/session/{{}}/exec", False),
    ("GET", f"{TB}/process/session/{{}}/command/{{}}", False),
    ("POST", f"{TB}/process/session/{{}}/command/{{}}/input", False),
    ("DELETE", f"{TB}/process/session/{{}}", False),
    ("GET", f"{TB}/process/pty/{{}}", False),
    ("DELETE", f"{TB}/process/pty/{{}}", False),
    ("POST", f"{TB}/process/pty/{{}}/resize", False),
    ("DELETE", f"{TB}/process/interpreter/context/{{}}", False),
    ("GET", f"{TB}/port/{{}}/in-use", False),
    ("GET", f"{TB}/files/{{}}", False),
    ("GET", f"{TB}/{{}}", False),
    ("GET", f"{TB}/proxy/{{}}/x", False),
]


def test_path_segments(fresh):
    conn = Conn(fresh.port)
    failures = {}
    try:
        for method, template, common_body in PATH_ROUTES:
            for seg in SEGMENTS:
                path = template.replace("{}", seg)
                body = b"{}" if method in ("POST", "PUT") else None
                resp = conn.exchange(build_request(method, path, body))
                try:
                    check_answer(fresh, method, path, resp, seg[:20], common_body, route=template)
                except AssertionError as e:
                    if fresh.proc.poll() is not None:
                        raise
                    failures.setdefault((method, template, seg[:20]), str(e).split("\n")[0][:500])
    finally:
        conn.close()
    assert not failures, "\n".join(failures.values())


# Query parameters and headers ---------------------------------------------------------

QUERY_ROUTES = [
    ("GET", "/snapshots/exists", ["snapshot"]),
    ("GET", "/snapshots/info", ["snapshot"]),
    ("POST", "/snapshots/remove", ["snapshot"]),
    ("GET", "/snapshots/logs", ["snapshotRef", "follow"]),
    ("POST", "/sandboxes/fz-1/start", ["token"]),
    ("GET", "/sandboxes/ssh-access/validate", ["token"]),
    ("GET", "/_mock/requests", ["method", "path", "sandboxId"]),
    ("POST", "/_mock/seed", ["seed"]),
    ("GET", "/api/sandbox", ["labels", "id", "name", "states", "snapshots", "includeErroredDeleted", "limit", "cursor"]),
    ("GET", "/api/sandbox/paginated", ["labels", "page", "limit"]),
    ("POST", "/api/sandbox/fz-1/stop", ["force"]),
    ("GET", "/api/socket.io/", ["EIO", "transport", "sid"]),
    ("GET", f"{TB}/files", ["path", "depth"]),
    ("GET", f"{TB}/files/info", ["path"]),
    ("GET", f"{TB}/files/download", ["path"]),
    ("GET", f"{TB}/files/find", ["path", "pattern"]),
    ("GET", f"{TB}/files/search", ["path", "pattern"]),
    ("POST", f"{TB}/files/folder", ["path", "mode"]),
    ("POST", f"{TB}/files/permissions", ["path", "mode", "owner", "group"]),
    ("GET", f"{TB}/git/status", ["path"]),
    ("GET", f"{TB}/git/config", ["key", "scope", "path"]),
    ("GET", f"{TB}/process/session/fz-none/command/fz-none/logs", ["follow"]),
    ("GET", f"{TB}/lsp/document-symbols", ["languageId", "pathToProject", "uri"]),
]
QUERY_VALUES = ["", "%00", "%ff", "%", "%zz", "a%00b", "-1", "99999999999999999999", "1e999", "true", "[", "{",
                "%7B%22a%22%3A1%7D", "z" * 20000, "*", "?", "..%2F..%2Fetc"]


def test_query_parameters(fresh):
    """Each parameter missing, empty, repeated, undecodable or absurd; unknown ones added."""
    rng = random.Random(f"{SEED}:query")
    conn = Conn(fresh.port)
    failures = {}
    try:
        for method, path, names in QUERY_ROUTES:
            queries = ["", "?", "?&&", "?=x", "?unknown=1", "?" + "&".join(f"{n}=a&{n}=b" for n in names)]
            for name in names:
                for v in QUERY_VALUES:
                    if path.startswith(TB + "/files") and name == "path" and ".." in v:
                        continue   # the toolbox works on real files: stay in the work directory
                    queries.append(f"?{name}={v}")
            queries.append("?" + "&".join(f"{rng.choice(names)}={rng.choice(QUERY_VALUES)}" for _ in range(4)))
            for q in queries:
                body = b"{}" if method == "POST" else None
                resp = conn.exchange(build_request(method, path + q, body))
                try:
                    check_answer(fresh, method, path + q, resp, q[:60], common_body=not path.startswith(("/api", TB)),
                                 route=path[len(TB):] if path.startswith(TB) else path)
                except AssertionError as e:
                    if fresh.proc.poll() is not None:
                        raise
                    failures.setdefault((method, path), str(e).split("\n")[0][:400])
    finally:
        conn.close()
    assert not failures, "\n".join(failures.values())


HEADER_VALUES = ["", " ", "Bearer", "Bearer ", "Bearer " + "t" * 60000, "Basic dGVzdA==", "bearer test-token",
                 "Bearer test-token, Bearer x", "\u00ff\u00fe", "1.2.3.4.5", "99999999999999999999.1.1",
                 "1.2.3-" + "a" * 5000, "-", "v", "0.0.0-dev", "unknown", "~", "X-Daytona-Pty-Envs~%%%",
                 "X-Daytona-Pty-Envs~e30", "X-Daytona-Pty-Envs~W10", "X-Daytona-Pty-Envs~" + "A" * 10000]
HEADER_NAMES = ["Authorization", "X-Daytona-Authorization", "X-Daytona-SDK-Version", "X-Daytona-Split-Output",
                "X-Daytona-Source", "X-Daytona-Organization-ID", "Content-Type", "Accept", "Range", "Origin",
                "Sec-WebSocket-Protocol", "Cookie", "X-Forwarded-For", "Host"]


def test_headers(fresh):
    base = f"{TB}/process/session"
    assert fresh.post(base, {"sessionId": "hs"}).status == 201
    cmd = fresh.post(f"{base}/hs/exec", {"command": "echo hi"}).json()["cmdId"]
    targets = [("GET", "/info", True), ("GET", f"{TB}/version", False), ("GET", f"{base}/hs/command/{cmd}/logs", False),
               ("POST", f"{base}/hs/exec", False), ("GET", f"{TB}/files/download?path=fz-none", False),
               ("GET", "/api/sandbox", False), ("GET", "/_mock/requests?path=/nothing", True)]
    conn = Conn(fresh.port)
    failures = {}
    try:
        for method, path, common in targets:
            for name in HEADER_NAMES:
                for value in HEADER_VALUES:
                    body = b'{"command":"true"}' if method == "POST" else None
                    data = build_request(method, path, body, headers={name: value})
                    resp = conn.exchange(data)
                    try:
                        check_answer(fresh, method, path, resp, f"{name}: {value[:40]}", common)
                    except AssertionError as e:
                        if fresh.proc.poll() is not None:
                            raise
                        failures.setdefault((path, name), str(e).split("\n")[0][:400])
    finally:
        conn.close()
    assert not failures, "\n".join(failures.values())


# Bugs the abuse found, one by one ----------------------------------------------------

def test_undecodable_sandbox_id_is_a_missing_route(fresh):
    """An id with an escaped NUL used to reach the sandbox plugin as NULL: a crash."""
    for method, path in [("POST", "/sandboxes/a%00b/start"), ("GET", "/sandboxes/%00"),
                         ("POST", "/api/sandbox/%00/start"), ("GET", f"{TB}/process/session/%2500")]:
        r = fresh.request(method, path, body={} if method == "POST" else None)
        assert r.status == 404, (path, r)
        assert fresh.proc.poll() is None


def test_info_sums_huge_quotas_without_overflow(fresh):
    """Two sandboxes of int64-max CPUs: the sum used to overflow (undefined behaviour)."""
    top = 2 ** 63 - 1
    fresh.create_sandbox("huge-1", cpuQuota=top, memoryQuota=top, storageQuota=top)
    fresh.create_sandbox("huge-2", cpuQuota=top, memoryQuota=top, storageQuota=top)
    m = fresh.get("/info").json()["metrics"]
    assert (m["currentAllocatedCpu"], m["currentAllocatedMemoryGiB"], m["currentAllocatedDiskGiB"]) == (top, top, top)


@pytest.mark.parametrize("method, path", [("DELETE", "/_mock/faults/%FF"), ("GET", "/api/sandbox/%C0%AF"),
                                          ("GET", "/sandboxes/%FF/toolbox/version")])
def test_error_bodies_stay_utf8(fresh, method, path):
    """Client bytes that are not UTF-8 used to be copied into the JSON body as they were."""
    r = fresh.request(method, path)
    assert r.status == 404
    assert "\ufffd" in json.loads(r.body.decode("utf-8"))["message"]


@pytest.mark.parametrize("depth", ["18446744073709551617", "9223372036854775808", "99999999999999999999"])
def test_huge_numbers_in_queries_are_refused(fresh, depth):
    """2^64 + 1 used to wrap around to 1 while it was parsed: a depth of 1, not a 400."""
    r = fresh.get(f"{TB}/files?path=.&depth={depth}")
    assert r.status == 400, r
    assert r.json()["message"] == "depth must be an integer of at least 1"

def test_pty_control_frames_stay_utf8(fresh):
    """A PTY id that is not UTF-8 used to go into the error text frame as it was (a
    client must fail such a frame)."""
    from wsclient import WebSocket
    ws = WebSocket.connect(fresh.url, TB + "/process/pty/%FF/connect", headers={"Authorization": f"Bearer {fresh.token}"})
    try:
        kind, text = ws.recv()
        assert kind == "text" and "\ufffd" in json.loads(text)["error"]
    finally:
        ws.shutdown()


@pytest.mark.parametrize("protocol, connects", [
    ("X-Daytona-Pty-Envs~", False), ("X-Daytona-Pty-Envs~%%%", False),
    ("X-Daytona-Pty-Envs~" + base64.urlsafe_b64encode(b'{"A=B":"x","":"y"}').decode(), True)])
def test_pty_envs_subprotocol_that_says_nothing(fresh, protocol, connects):
    """An empty envs subprotocol parsed to no JSON at all, then was copied (a GLib
    critical); a name holding '=' went to g_environ_setenv() (another)."""
    from wsclient import WebSocket
    ws = WebSocket.connect(fresh.url, TB + f"/process/pty/create-connect?id=envs-{len(protocol)}",
                           headers={"Authorization": f"Bearer {fresh.token}"}, protocols=[protocol])
    try:
        ws.settimeout(10)
        kind, text = ws.recv()
        assert kind == "text"
        if connects:
            assert json.loads(text) == {"status": "connected", "type": "control"}
        else:
            assert json.loads(text)["error"] == "Failed to create PTY session: invalid envs subprotocol"
    finally:
        ws.shutdown()
    assert fresh.proc.poll() is None, fresh.read_stderr()[-3000:]


def test_env_names_no_variable_can_have(fresh):
    r = fresh.post(f"{TB}/process/pty", {"id": "envs-2", "envs": {"A=B": "x", "": "y", "OK": "1"}})
    assert r.status == 201, r
    assert fresh.get(f"{TB}/process/pty/envs-2").status == 200
    assert fresh.proc.poll() is None, fresh.read_stderr()[-3000:]


# The HTTP protocol ---------------------------------------------------------------------

AUTH = b"Authorization: Bearer test-token\r\n"
WS = (b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
      b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")


def http(first_line, headers=b"", body=b"", host=True):
    return first_line.encode() + b"\r\n" + (b"Host: 127.0.0.1\r\n" if host else b"") + AUTH + headers + b"\r\n" + body


# (name, bytes, half-close after sending, statuses allowed in order; None: any 4xx, or none)
PROTOCOL_CASES = [
    ("cut in the request line", b"GET /sandb", True, None),
    ("cut in the headers", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: ", True, None),
    ("garbage", b"\x00\x01\x02\xff\r\n\r\n", True, None),
    ("no version", b"GET /\r\n\r\n", True, None),
    # 505 HTTP Version Not Supported and 501 Not Implemented (an unknown transfer coding) are
    # libsoup's answers, as RFC 9110 and 9112 want them
    ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", True, [505]),
    ("HTTP/9.9", http("GET / HTTP/9.9"), True, [505]),
    ("unknown method", http("FROB /info HTTP/1.1"), True, [404]),
    ("absolute URI", http("GET http://127.0.0.1/info HTTP/1.1"), True, [200]),
    ("asterisk", http("OPTIONS * HTTP/1.1"), True, None),
    ("HTTP/1.0 without Host", http("GET /info HTTP/1.0", host=False), True, [200]),
    ("HTTP/1.1 without Host", http("GET /info HTTP/1.1", host=False), True, [400]),
    ("two Hosts", http("GET /info HTTP/1.1", b"Host: other\r\n"), True, None),
    ("dot segments", http("GET /sandboxes/../_mock/requests HTTP/1.1"), True, None),
    ("encoded dot segments", http("GET /sandboxes/%2e%2e/info HTTP/1.1"), True, None),
    ("a very long path", http("GET /" + "a/" * 40000 + " HTTP/1.1"), True, None),
    ("a huge header", http("GET /info HTTP/1.1", b"X-Big: " + b"b" * 200000 + b"\r\n"), True, None),
    ("many headers", http("GET /info HTTP/1.1", b"".join(b"X-%d: v\r\n" % i for i in range(20000))), True, None),
    ("a header without colon", http("GET /info HTTP/1.1", b"NoColonHere\r\n"), True, None),
    ("a NUL in a header", http("GET /info HTTP/1.1", b"X-A: a\x00b\r\n"), True, None),
    ("a bare LF", b"GET /info HTTP/1.1\nHost: x\n" + AUTH + b"\n", True, None),
    ("a huge Content-Length", http("POST /sandboxes HTTP/1.1", b"Content-Length: 99999999999999999999\r\n"), True, None),
    ("a negative Content-Length", http("POST /sandboxes HTTP/1.1", b"Content-Length: -5\r\n", b"{}"), True, [400]),
    ("two Content-Lengths", http("POST /sandboxes HTTP/1.1", b"Content-Length: 2\r\nContent-Length: 5\r\n", b"{}"),
     True, None),
    ("a body shorter than its length", http("POST /sandboxes HTTP/1.1", b"Content-Length: 100\r\n", b"{}"), True,
     None),
    ("a body longer than its length",
     http("POST /snapshots/exists HTTP/1.1", b"Content-Length: 2\r\n", b"{}GARBAGE / HTTP/1.1\r\n\r\n"), True,
     None),
    ("a chunked body cut short",
     http("POST /sandboxes HTTP/1.1", b"Transfer-Encoding: chunked\r\n", b"10\r\n{\"id\":"), True, None),
    ("a bad chunk size", http("POST /sandboxes HTTP/1.1", b"Transfer-Encoding: chunked\r\n", b"zz\r\n{}\r\n0\r\n\r\n"),
     True, None),
    ("a huge chunk size",
     http("POST /sandboxes HTTP/1.1", b"Transfer-Encoding: chunked\r\n", b"ffffffffffffffffff\r\n{}\r\n"), True, None),
    ("chunked and a length",
     http("POST /sandboxes HTTP/1.1", b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", b"2\r\n{}\r\n0\r\n\r\n"),
     True, None),
    ("an unknown transfer coding", http("POST /sandboxes HTTP/1.1", b"Transfer-Encoding: gzip\r\n", b"{}"), True,
     [501]),
    ("Expect: 100-continue and no body", http("POST /sandboxes HTTP/1.1",
                                              b"Expect: 100-continue\r\nContent-Length: 10\r\n"), True, None),
    ("an unknown Expect", http("POST /sandboxes HTTP/1.1", b"Expect: teapot\r\nContent-Length: 2\r\n", b"{}"), True,
     None),
    ("text/plain JSON", http("POST /snapshots/inspect HTTP/1.1", b"Content-Type: text/plain\r\nContent-Length: 2\r\n",
                             b"{}"), True, [400]),
    ("multipart to a JSON route",
     http("POST /sandboxes HTTP/1.1", b"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 2\r\n", b"{}"),
     True, [400]),
    ("a JSON body to a GET", http("GET /info HTTP/1.1", b"Content-Length: 2\r\n", b"{}"), True, [200]),
    ("pipelined",
     http("GET / HTTP/1.1") + http("GET /info HTTP/1.1") + http("GET /nope HTTP/1.1") + http("GET / HTTP/1.1"),
     False, [200, 200, 404, 200]),
    ("pipelined after a bad body", http("POST /snapshots/inspect HTTP/1.1", b"Content-Length: 1\r\n", b"{")
     + http("GET / HTTP/1.1"), False, [400, 200]),
    # streamed toolbox bodies that end early: the upload must give back its file and fds
    ("an upload cut short", http(f"POST {TB}/files/upload?path=fz-up HTTP/1.1",
                                 b"Content-Type: multipart/form-data; boundary=B\r\nContent-Length: 100000\r\n",
                                 b'--B\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\nabc'),
     True, None),
    ("a chunked upload cut short", http(f"POST {TB}/files/upload?path=fz-up2 HTTP/1.1",
                                        b"Content-Type: multipart/form-data; boundary=B\r\n"
                                        b"Transfer-Encoding: chunked\r\n",
                                        b'40\r\n--B\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\nab'),
     True, None),
    ("a bulk upload cut short", http(f"POST {TB}/files/bulk-upload HTTP/1.1",
                                     b"Content-Type: multipart/form-data; boundary=B\r\nContent-Length: 100000\r\n",
                                     b'--B\r\nContent-Disposition: form-data; name="files[0].path"\r\n\r\nfz-b\r\n'
                                     b'--B\r\nContent-Disposition: form-data; name="files[0].file"; filename="f"'
                                     b'\r\n\r\nabc'), True, None),
    ("an upload-v2 cut short", http(f"POST {TB}/files/upload-v2?path=fz-up3 HTTP/1.1",
                                    b"Content-Length: 100000\r\n", b"abc"), True, None),
    ("a multipart without boundary", http(f"POST {TB}/files/upload?path=fz-up4 HTTP/1.1",
                                          b"Content-Type: multipart/form-data\r\nContent-Length: 3\r\n", b"abc"),
     True, None),
    ("a toolbox body cut short", http(f"POST {TB}/process/execute HTTP/1.1", b"Content-Length: 1000\r\n",
                                      b'{"command":'), True, None),
    ("WebSocket upgrade of a plain route", http("GET /info HTTP/1.1", WS), True, None),
    ("WebSocket upgrade of a POST route", http("POST /sandboxes HTTP/1.1", WS + b"Content-Length: 2\r\n", b"{}"), True,
     None),
    ("WebSocket upgrade of the health route", http("GET / HTTP/1.1", WS), True, None),
    ("WebSocket upgrade of an unknown route", http("GET /nope HTTP/1.1", WS), True, [404]),
]

# WebSocket routes, with handshakes that must fail
WS_ROUTES = [f"{TB}/process/pty/fz-none/connect", f"{TB}/process/pty/create-connect?id=fz-ws",
             f"{TB}/process/interpreter/execute", f"{TB}/process/session/fz-none/command/fz-none/logs?follow=true",
             "/api/socket.io/?EIO=4&transport=websocket"]
BAD_HANDSHAKES = [
    ("no key", b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"),
    ("a short key", b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: abc\r\n"),
    ("version 8", b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 8\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"),
    ("no version", b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"),
    ("no Connection", b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"),
    ("Upgrade: h2c", b"Connection: Upgrade\r\nUpgrade: h2c\r\nSec-WebSocket-Version: 13\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"),
    ("a huge protocol list", WS + b"Sec-WebSocket-Protocol: " + b"p," * 30000 + b"p\r\n"),
    ("a POST", WS + b"Content-Length: 2\r\n"),
]


def test_protocol_abuse(fresh):
    failures = []
    for name, data, shut, expected in PROTOCOL_CASES:
        try:
            answers = raw_exchange(fresh.port, data, shut=shut, count=None if shut else len(expected))
        except (ConnectionResetError, BrokenPipeError):
            answers = []
        statuses = [a["status"] for a in answers]
        assert fresh.proc.poll() is None, f"the runner died on {name}: {fresh.read_stderr()[-3000:]}"
        if expected is not None:
            if statuses != expected:
                failures.append(f"{name}: {statuses} (expected {expected}) {answers[-1:]!r:.300}")
        elif any(s >= 500 or s == 101 for s in statuses):
            failures.append(f"{name}: {statuses} {answers!r:.300}")
        for a in answers:
            if a["status"] >= 400 and "json" in a["headers"].get("content-type", ""):
                try:
                    json.loads(a["body"])
                except ValueError:
                    failures.append(f"{name}: a body that is no JSON: {a['body'][:200]!r}")
        assert_serving(fresh)
    assert not failures, "\n".join(failures)


def test_websocket_handshakes_that_must_fail(fresh):
    failures = []
    for route in WS_ROUTES:
        for name, headers in BAD_HANDSHAKES:
            method = "POST" if name == "a POST" else "GET"
            body = b"{}" if method == "POST" else b""
            answers = raw_exchange(fresh.port, http(f"{method} {route} HTTP/1.1", headers, body), shut=True)
            assert fresh.proc.poll() is None, f"the runner died on {route} {name}: {fresh.read_stderr()[-3000:]}"
            statuses = [a["status"] for a in answers]
            if name == "a huge protocol list":
                ok = all(s < 500 for s in statuses)       # a valid handshake: 101 is fine
            else:
                ok = all(400 <= s < 500 for s in statuses)
            if not ok:
                failures.append(f"{route} {name}: {statuses} {answers!r:.300}")
    assert_serving(fresh)
    assert not failures, "\n".join(failures)


def frame(opcode, payload, fin=True, mask=True, rsv=0, length=None):
    """A client frame, wrong in the ways asked for."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | rsv | opcode])
    m = 0x80 if mask else 0
    if n < 126:
        head += bytes([m | n])
    elif n < 65536:
        head += bytes([m | 126]) + struct.pack("!H", n)
    else:
        head += bytes([m | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = b"\x01\x02\x03\x04"
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


BAD_FRAMES = [
    ("unmasked", frame(0x1, b'{"code":"1"}', mask=False)),
    ("reserved opcode", frame(0x3, b"x")),
    ("reserved control opcode", frame(0xB, b"x")),
    ("RSV1 without extension", frame(0x1, b"{}", rsv=0x40)),
    ("a long ping", frame(0x9, b"p" * 200)),
    ("a fragmented ping", frame(0x9, b"p", fin=False)),
    ("a continuation first", frame(0x0, b"x")),
    ("a text inside a fragmented text", frame(0x1, b"{", fin=False) + frame(0x1, b"}")),
    ("invalid UTF-8 text", frame(0x1, b'{"code":"\xff"}')),
    ("a 2^63 length", frame(0x2, b"", length=2 ** 63)),
    ("a 2^40 length, then nothing", frame(0x2, b"", length=2 ** 40)),
    ("a message over the limit", frame(0x2, b"x" * 70000, fin=False) + frame(0x0, b"x" * 70000)),
    ("a close with one byte", frame(0x8, b"\x03")),
    ("a close code 999", frame(0x8, struct.pack("!H", 999))),
    ("a close with invalid UTF-8", frame(0x8, struct.pack("!H", 1000) + b"\xff")),
    ("a frame cut short", frame(0x1, b"x" * 100)[:20]),
    ("garbage", b"\xff" * 64),
    ("bad JSON", frame(0x1, b"{")),
    ("wrong types", frame(0x1, b'{"code":1,"timeout":"x","envs":[]}')),
    ("an unknown context", frame(0x1, b'{"code":"1","contextId":"fz-none"}')),
    ("a negative timeout", frame(0x1, b'{"code":"1","timeout":-1}')),
    ("an envs value not a string", frame(0x1, b'{"code":"1","envs":{"A":1}}')),
]


def test_websocket_frames(fresh):
    """Frames no client should send, to each kind of WebSocket the runner serves: the
    runner's own (mr-toolbox-ws.c: PTY, interpreter) and libsoup's (session logs)."""
    from wsclient import WebSocket
    base = f"{TB}/process/session"
    assert fresh.post(f"{TB}/process/pty", {"id": "ws-pty"}).status == 201
    assert fresh.post(base, {"sessionId": "ws-s"}).status == 201
    cmd = fresh.post(f"{base}/ws-s/exec", {"command": "sleep 30", "runAsync": True}).json()["cmdId"]
    routes = [f"{TB}/process/pty/ws-pty/connect", f"{TB}/process/interpreter/execute",
              f"{base}/ws-s/command/{cmd}/logs?follow=true"]
    auth = {"Authorization": f"Bearer {fresh.token}"}
    hangs = []
    for route in routes:
        for name, data in BAD_FRAMES:
            ws = WebSocket.connect(fresh.url, route, headers=auth)
            ws.settimeout(15)
            try:
                # the bad frame, then a proper close (or the end of the input): whether
                # the server refused the frame or took it as data, it must close now
                ws.sock.sendall(data)
                if name == "a frame cut short":
                    ws.sock.shutdown(socket.SHUT_WR)
                else:
                    ws.sock.sendall(frame(0x8, struct.pack("!H", 1000)))
                while ws.recv()[0] != "close":
                    pass
            except socket.timeout:
                hangs.append(f"{route} {name}: no close in 15 s")
            except (ConnectionError, OSError, UnicodeDecodeError, struct.error):
                pass
            finally:
                ws.sock.close()
            assert fresh.proc.poll() is None, f"the runner died on {route} {name}: {fresh.read_stderr()[-3000:]}"
    assert_serving(fresh)
    assert fresh.get(f"{TB}/process/pty/ws-pty").status == 200
    assert not hangs, "\n".join(hangs)

def test_connections_left_open_do_not_block_others(fresh):
    """Clients that stop mid-request hold nothing the others need."""
    idle = []
    try:
        for data in [b"GET / HTTP/1.1\r\nHost: x\r\n", b"POST /sandboxes HTTP/1.1\r\nHost: x\r\n" + AUTH
                     + b"Content-Length: 100\r\n\r\n{", b"POST /sandboxes HTTP/1.1\r\nHost: x\r\n" + AUTH
                     + b"Transfer-Encoding: chunked\r\n\r\n5\r\n{"]:
            s = socket.create_connection(("127.0.0.1", fresh.port))
            s.sendall(data)
            idle.append(s)
        started = time.monotonic()
        assert_serving(fresh)
        assert time.monotonic() - started < 5
    finally:
        for s in idle:
            s.close()


def test_nothing_left_behind(runner):
    """Last in the file: after all of the above and a reset, the runner holds no more
    descriptors than before, and no process it started is left."""
    assert runner.post("/_mock/reset").status == 204
    fds = settle(lambda: fd_count(runner.proc.pid), lambda n: n <= runner.baseline_fds)
    assert fds <= runner.baseline_fds, sorted(os.readlink(f"/proc/{runner.proc.pid}/fd/{fd}")
                                              for fd in os.listdir(f"/proc/{runner.proc.pid}/fd"))
    left = settle(lambda: children(runner.proc.pid), lambda c: not c)
    assert not left, [open(f"/proc/{p}/cmdline").read() for p in left]
