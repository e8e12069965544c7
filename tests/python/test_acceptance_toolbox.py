"""Acceptance review of the toolbox against toolbox-api.md and official-clients.md: the
HTTP-level details the other suites left out (test_official_acceptance.py drives the same
routes with the official clients).

- listFiles' `depth` and POST /env, which toolbox client 0.218 calls;
- the session-log format for dev SDK versions (toolbox-api.md 3.6);
- item 5 of the toolbox issue across every hop: a client that goes away mid-transfer
  leaves no descriptor and no process behind in the runner or the daemon.
"""
import json
import os
import re
import socket
import subprocess
import time
import urllib.parse

import pytest

import mrtest

SANDBOX = "accept-sb"


@pytest.fixture(scope="module")
def tb():
    with mrtest.runner_with_work_dir("mr-accept-") as (runner, work):
        runner.create_sandbox(SANDBOX)
        runner.work = work
        yield runner


def call(runner, method, route, body=None, query=None, **kw):
    q = urllib.parse.urlencode(query or {})
    return runner.request(method, f"/sandboxes/{SANDBOX}/toolbox{route}" + ("?" + q if q else ""), body=body, **kw)


def execute(runner, command, **fields):
    r = call(runner, "POST", "/process/execute", body={"command": command, **fields})
    assert r.status == 200, r
    return r.json()


# listFiles depth (toolbox client 0.218) ------------------------------------------------

def make_tree(root):
    os.makedirs(os.path.join(root, "sub", "nested"))
    for rel, data in (("top.txt", "top"), ("sub/child.txt", "child"), ("sub/nested/deep.txt", "deep")):
        with open(os.path.join(root, rel), "w") as f:
            f.write(data)


def test_list_depth(tb):
    root = os.path.join(tb.work, "depth")
    make_tree(root)
    os.symlink(root, os.path.join(root, "sub", "loop"))       # a loop the listing must not enter
    # no depth: the at-mock answer, direct entries, no `path` member
    r = call(tb, "GET", "/files", query={"path": "depth"})
    assert r.status == 200
    assert [e["name"] for e in r.json()] == ["sub", "top.txt"]
    assert all("path" not in e for e in r.json())
    # depth=1: the same entries, each with its path (joined to the path as given)
    r = call(tb, "GET", "/files/", query={"path": "depth", "depth": "1"})
    assert [(e["name"], e["path"]) for e in r.json()] == [("sub", "depth/sub"), ("top.txt", "depth/top.txt")]
    # depth=2: a directory's entries follow it; the symlinked directory is listed, not entered
    r = call(tb, "GET", "/files", query={"path": root, "depth": "2"})
    assert r.status == 200
    assert [e["path"] for e in r.json()] == [f"{root}/sub", f"{root}/sub/child.txt", f"{root}/sub/loop",
                                             f"{root}/sub/nested", f"{root}/top.txt"]
    loop = r.json()[2]
    assert loop["isDir"] is True and loop["name"] == "loop"
    # a depth beyond the tree lists all of it
    r = call(tb, "GET", "/files", query={"path": root, "depth": "50"})
    assert [e["name"] for e in r.json()] == ["sub", "child.txt", "loop", "nested", "deep.txt", "top.txt"]
    deep = r.json()[4]
    assert deep["path"] == f"{root}/sub/nested/deep.txt" and deep["size"] == 4
    assert list(deep)[:9] == ["name", "size", "mode", "modTime", "modifiedAt", "isDir", "owner", "group",
                              "permissions"]


@pytest.mark.parametrize("depth", ["0", "-1", "1.5", "x", "2x"])
def test_list_bad_depth_is_400(tb, depth):
    r = call(tb, "GET", "/files", query={"path": ".", "depth": depth})
    assert r.status == 400, r
    assert r.json()["message"] == "depth must be an integer of at least 1"
    assert r.json()["code"] == "Bad Request"


def test_list_depth_errors_are_those_of_the_root(tb):
    r = call(tb, "GET", "/files", query={"path": "no-such-dir", "depth": "3"})
    assert r.status == 404 and r.json()["message"] == "open no-such-dir: no such file or directory"


# POST /env (toolbox client 0.218's ServerApi.updateEnv) ----------------------------------

def test_update_env_reaches_later_processes(tb):
    r = call(tb, "POST", "/env", {"set": {"ACC_ONE": "one", "ACC_TWO": "two words"}})
    assert r.status == 200, r
    assert r.json() == {"message": "Environment updated successfully"}
    assert r.header("Content-Type") == "application/json; charset=utf-8"
    assert execute(tb, "sh -c 'echo \"$ACC_ONE/$ACC_TWO\"'")["result"] == "one/two words\n"
    # sessions started afterwards inherit it too
    assert call(tb, "POST", "/process/session", {"sessionId": "env-s"}).status == 201
    res = call(tb, "POST", "/process/session/env-s/exec", {"command": "echo $ACC_TWO"}).json()
    assert res["output"] == "two words\n"
    # unset, then set: ACC_ONE goes, a new value arrives; request envs still win
    r = call(tb, "POST", "/env", {"unset": ["ACC_ONE", "NEVER_SET"], "set": {"ACC_THREE": "3"}})
    assert r.status == 200
    assert execute(tb, "sh -c 'echo \"${ACC_ONE-unset}/$ACC_TWO/$ACC_THREE\"'")["result"] == "unset/two words/3\n"
    assert execute(tb, "echo $ACC_THREE", envs={"ACC_THREE": "mine"})["result"] == "mine\n"
    # the already running session shell keeps its environment
    res = call(tb, "POST", "/process/session/env-s/exec", {"command": "echo ${ACC_THREE-none}"}).json()
    assert res["output"] == "none\n"
    call(tb, "DELETE", "/process/session/env-s")


def test_update_env_unset_value_prefix(tb):
    call(tb, "POST", "/env", {"set": {"ACC_SECRET_A": "placeholder:a", "ACC_SECRET_B": "placeholder:b",
                                      "ACC_PLAIN": "plain"}})
    r = call(tb, "POST", "/env", {"unsetValuePrefix": "placeholder:", "set": {"ACC_SECRET_B": "placeholder:new"}})
    assert r.status == 200
    out = execute(tb, "sh -c 'echo \"${ACC_SECRET_A-gone}/$ACC_SECRET_B/$ACC_PLAIN\"'")["result"]
    assert out == "gone/placeholder:new/plain\n"


def test_update_env_errors(tb):
    r = call(tb, "POST", "/env", raw_body=b"", headers={"Content-Type": "application/json"})
    assert r.status == 400 and r.json()["message"].startswith("invalid request body: ")
    r = call(tb, "POST", "/env", {"set": {"ACC_N": 1}})
    assert r.status == 400
    assert r.json()["message"] == ("invalid request body: json: cannot unmarshal number into Go struct field "
                                   "UpdateEnvRequest.set of type string")
    r = call(tb, "POST", "/env", {"unset": "ACC_N"})
    assert r.status == 400
    r = call(tb, "POST", "/env", {"set": {"BAD=NAME": "x"}})
    assert r.status == 500 and r.json()["message"] == "setenv: invalid argument"
    # nothing of a refused request was applied; an empty request changes nothing
    assert call(tb, "POST", "/env", {}).status == 200
    assert execute(tb, "sh -c 'echo ${ACC_N-none}'")["result"] == "none\n"


def test_update_env_is_per_toolbox(tmp_path):
    """Two runners (two toolboxes) never share it."""
    a = mrtest.RunnerProcess(env={"TOOLBOX_WORK_DIR": str(tmp_path / "a")})
    b = mrtest.RunnerProcess(env={"TOOLBOX_WORK_DIR": str(tmp_path / "b")})
    try:
        for r in (a, b):
            r.create_sandbox(SANDBOX)
        assert call(a, "POST", "/env", {"set": {"ACC_ONLY_A": "a"}}).status == 200
        assert execute(a, "sh -c 'echo ${ACC_ONLY_A-none}'")["result"] == "a\n"
        assert execute(b, "sh -c 'echo ${ACC_ONLY_A-none}'")["result"] == "none\n"
    finally:
        a.stop()
        b.stop()


def test_update_env_in_process_runners_and_reset():
    """Two MrRunners in one process (GI): /env on one never reaches the other (the process
    environment is not touched), and a reset returns to the runner's environment."""
    gi = pytest.importorskip("gi")
    gi.require_version("MockRunner", "1.0")
    from gi.repository import MockRunner

    dto = {"id": SANDBOX, "userId": "u", "snapshot": "s", "osUser": "d", "cpuQuota": 1, "gpuQuota": 0,
           "memoryQuota": 1, "storageQuota": 1}
    runners = [MockRunner.Runner.new(), MockRunner.Runner.new()]
    try:
        for r in runners:
            r.start()

        def do(r, method, route, body=None):
            return mrtest.request(r.get_url(), method, f"/sandboxes/{SANDBOX}/toolbox{route}", body=body,
                                  token=r.get_token())

        def echo(r):
            res = do(r, "POST", "/process/execute", {"command": "sh -c 'echo ${ACC_INPROC-none}'"})
            return res.json()["result"]

        for r in runners:
            assert mrtest.request(r.get_url(), "POST", "/sandboxes", dto, token=r.get_token()).status == 201
        assert do(runners[0], "POST", "/env", {"set": {"ACC_INPROC": "first"}}).status == 200
        assert (echo(runners[0]), echo(runners[1])) == ("first\n", "none\n")
        assert "ACC_INPROC" not in os.environ
        runners[0].reset()
        assert mrtest.request(runners[0].get_url(), "POST", "/sandboxes", dto,
                              token=runners[0].get_token()).status == 201
        assert echo(runners[0]) == "none\n"
    finally:
        for r in runners:
            r.stop()


# GET /system/metrics (toolbox client 0.218's SystemApi.getSystemMetrics) ----------------

def test_system_metrics(tmp_path):
    runner = mrtest.RunnerProcess(env={"TOOLBOX_WORK_DIR": str(tmp_path)})
    try:
        runner.create_sandbox(SANDBOX)
        first = call(runner, "GET", "/system/metrics")
        assert first.status == 200 and first.header("Content-Type") == "application/json; charset=utf-8"
        m = first.json()
        assert sorted(m) == ["cpuCount", "cpuUsedPct", "diskFree", "diskTotal", "diskUsed", "memCache", "memTotal",
                             "memUsed", "timestamp", "timestampUnix"]
        assert m["cpuCount"] == os.cpu_count()
        assert m["cpuUsedPct"] == 0                       # no earlier sample to compare with
        meminfo = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in open("/proc/meminfo")}
        assert m["memTotal"] == meminfo["MemTotal"]
        assert 0 < m["memUsed"] < m["memTotal"] and 0 <= m["memCache"] < m["memTotal"]
        fs = os.statvfs("/")
        assert m["diskTotal"] == fs.f_blocks * fs.f_frsize
        assert m["diskUsed"] + m["diskFree"] <= m["diskTotal"]
        assert abs(m["timestampUnix"] - time.time()) < 5
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", m["timestamp"])
        # a busy machine between two answers shows in cpuUsedPct (the average since the last)
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline:
            pass
        pct = call(runner, "GET", "/system/metrics").json()["cpuUsedPct"]
        assert 100 / os.cpu_count() * 0.5 <= pct <= 100
    finally:
        runner.stop()


# Session logs and SDK versions (toolbox-api.md 3.6) -------------------------------------

def test_dev_sdk_gets_text_logs(tb):
    """The at-mock SDKs built from source send 0.0.0-dev and demultiplex text logs."""
    assert call(tb, "POST", "/process/session", {"sessionId": "dev-s"}).status == 201
    headers = {"X-Daytona-SDK-Version": "0.0.0-dev"}
    res = call(tb, "POST", "/process/session/dev-s/exec", {"command": "echo out; echo err >&2"},
               headers=headers).json()
    assert res["output"] == "\x01\x01\x01out\n\x02\x02\x02err\n"
    r = call(tb, "GET", f"/process/session/dev-s/command/{res['cmdId']}/logs", headers=headers)
    assert r.status == 200
    assert r.header("Content-Type") == "text/plain; charset=utf-8"
    assert r.body == b"\x01\x01\x01out\n\x02\x02\x02err\n"
    call(tb, "DELETE", "/process/session/dev-s")


def test_plain_follow_behind_the_proxy_hop_is_the_daemons_reply(tb):
    """The runner's follow conversion matches ^/process/session/.+/command/.+/logs$ only
    (toolbox-api.md 1.2): /proxy/2280/process/... reaches the daemon, whose plain GET is
    the current log at once, in the format the client's SDK version asks for."""
    assert call(tb, "POST", "/process/session", {"sessionId": "hop-s"}).status == 201
    old = {"X-Daytona-SDK-Version": "0.161.0"}
    cid = call(tb, "POST", "/process/session/hop-s/exec", {"command": "echo early; sleep 30", "runAsync": True},
               headers=old).json()["cmdId"]
    route = f"/proxy/2280/process/session/hop-s/command/{cid}/logs"
    deadline = time.monotonic() + 10
    while True:
        r = call(tb, "GET", route, query={"follow": "true"}, headers=old, timeout=5)
        if r.body or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert r.status == 200
    assert r.header("Content-Type") == "text/plain; charset=utf-8"
    assert r.body == b"\x01\x01\x01early\n"
    r = call(tb, "GET", route, query={"follow": "true"}, headers={"X-Daytona-SDK-Version": "0.218.0"}, timeout=5)
    assert r.json() == {"output": "\x01\x01\x01early\n", "stdout": "early\n", "stderr": ""}
    call(tb, "DELETE", "/process/session/hop-s")


# Item 5: clients leaving mid-transfer, through every hop --------------------------------

BLOCK = 1 << 20


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def children(pid):
    out = subprocess.run(["ps", "--ppid", str(pid), "-o", "pid="], capture_output=True, text=True).stdout
    return len(out.split())


def settle(pids, before, timeout=10):
    """Waits until no process in @pids has more descriptors or children than @before
    (fewer is fine: idle keep-alive connections may close meanwhile); returns whether so."""
    def done():
        return all(fd_count(p) <= fds and children(p) <= kids for p, (fds, kids) in zip(pids, before))
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        time.sleep(0.05)
    return done()


def cut_transfers(port, token, prefix, pids, make_file):
    """Uploads cut after 16 MiB of a promised 256 MiB, downloads abandoned after 1 MiB of
    64 MiB: afterwards every process in @pids has the descriptors and children it had."""
    def request_head(method, route, ctype, length):
        return (f"{method} {prefix}{route} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                f"Content-Type: {ctype}\r\nContent-Length: {length}\r\n\r\n").encode()

    make_file("cut-dl.bin", 64 * BLOCK)
    before = [(fd_count(p), children(p)) for p in pids]
    block = os.urandom(BLOCK)
    uploads = (
        ("/files/bulk-upload", "multipart/form-data; boundary=cut",
         '--cut\r\nContent-Disposition: form-data; name="files[0].path"\r\n\r\ncut-bulk.bin\r\n'
         '--cut\r\nContent-Disposition: form-data; name="files[0].file"; filename="x"\r\n\r\n'),
        ("/files/upload?path=cut-single.bin", "multipart/form-data; boundary=cut",
         '--cut\r\nContent-Disposition: form-data; name="file"; filename="x"\r\n\r\n'),
        ("/files/upload-v2?path=cut-raw.bin", "application/octet-stream", ""),
    )
    for route, ctype, head in uploads:
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(request_head("POST", route, ctype, 256 * BLOCK) + head.encode())
        for _ in range(16):
            s.sendall(block)
        s.close()
        assert settle(pids, before), f"{prefix}{route}: descriptors or processes leaked"
    body = json.dumps({"paths": ["cut-dl.bin", "cut-dl.bin"]}).encode()
    for method, route, data in (("GET", "/files/download?path=cut-dl.bin", b""), ("POST", "/files/bulk-download", body)):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(request_head(method, route, "application/json", len(data)) + data)
        got = 0
        while got < BLOCK:
            chunk = s.recv(65536)
            assert chunk, f"{route}: the answer ended early"
            got += len(chunk)
        s.close()
        assert settle(pids, before), f"{prefix}{route}: descriptors or processes leaked"


def write_file(directory):
    def make(name, size):
        with open(os.path.join(directory, name), "wb") as f:
            f.truncate(size)
    return make


def test_cut_transfers_through_the_proxy_hop(tb):
    """/proxy/2280/... is how the Daytona proxy routes every toolbox call (toolbox-api.md 1.2)."""
    pid = tb.proc.pid
    assert call(tb, "GET", "/proxy/2280/version").json() == {"version": "v0.0.0-dev"}
    cut_transfers(tb.port, tb.token, f"/sandboxes/{SANDBOX}/toolbox/proxy/2280", [pid], write_file(tb.work))
    assert call(tb, "GET", "/files/info", query={"path": "cut-dl.bin"}).json()["size"] == 64 * BLOCK


def test_cut_transfers_through_the_remote_daemon(tmp_path):
    """Runner (toolbox-remote) -> mock-runner-toolboxd: neither process keeps anything."""
    work = tmp_path / "daemon-work"
    daemon = subprocess.Popen([mrtest.TOOLBOXD_BIN, "--port", "0", "--host", "127.0.0.1", "--work-dir", str(work)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        m = re.search(r"port (\d+)", daemon.stdout.readline())
        assert m
        runner = mrtest.RunnerProcess(env={"TOOLBOX_BACKEND": "remote", "TOOLBOX_URL": f"http://127.0.0.1:{m.group(1)}"})
        try:
            runner.create_sandbox(SANDBOX)
            assert call(runner, "GET", "/version").status == 200
            for prefix in (f"/sandboxes/{SANDBOX}/toolbox", f"/sandboxes/{SANDBOX}/toolbox/proxy/2280"):
                cut_transfers(runner.port, runner.token, prefix, [runner.proc.pid, daemon.pid], write_file(str(work)))
            assert call(runner, "GET", "/files/info", query={"path": "cut-dl.bin"}).json()["size"] == 64 * BLOCK
            assert runner.proc.poll() is None and daemon.poll() is None
        finally:
            runner.stop()
    finally:
        daemon.terminate()
        daemon.wait(10)
        daemon.stdout.close()
