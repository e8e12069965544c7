"""Sessions through the runner's toolbox proxy (toolbox-api.md sections 1.3, 2.5, 3.4,
3.6, 3.7; runner-api.md section 7.3 for the plain-HTTP follow)."""
import http.client
import json
import os
import socket
import threading
import time
import urllib.parse
import uuid

import pytest

from mrtest import RunnerProcess, request
from wsclient import WebSocket

SANDBOX = "sbx-sessions"
BASE = f"/sandboxes/{SANDBOX}/toolbox/process/session"
OUT, ERR = "\x01\x01\x01", "\x02\x02\x02"
SDK_OLD = {"X-Daytona-SDK-Version": "0.161.0"}      # markers, text logs
SDK_NEW = {"X-Daytona-SDK-Version": "0.218.0"}      # markers, JSON logs, server demux


@pytest.fixture(scope="module")
def rn(runner):
    runner.create_sandbox(SANDBOX)
    return runner


@pytest.fixture
def session(rn):
    sid = "s-" + uuid.uuid4().hex[:8]
    r = rn.post(BASE, {"sessionId": sid})
    assert r.status == 201, r
    yield sid
    rn.delete(f"{BASE}/{sid}")


def exec_(rn, sid, command, headers=SDK_OLD, **extra):
    body = {"command": command}
    body.update(extra)
    return rn.post(f"{BASE}/{sid}/exec", body, headers=headers)


def run(rn, sid, command, headers=SDK_OLD):
    r = exec_(rn, sid, command, headers=headers)
    assert r.status == 200, r
    return r.json()


def start(rn, sid, command, headers=SDK_OLD, **extra):
    r = exec_(rn, sid, command, headers=headers, runAsync=True, **extra)
    assert r.status == 202, r
    return r.json()["cmdId"]


def command_info(rn, sid, cid):
    r = rn.get(f"{BASE}/{sid}/command/{cid}")
    assert r.status == 200, r
    return r.json()


def wait_finished(rn, sid, cid, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = command_info(rn, sid, cid)
        if "exitCode" in info:
            return info
        time.sleep(0.05)
    raise AssertionError(f"command {cid} did not finish")


def logs(rn, sid, cid, headers=SDK_OLD, query=""):
    return rn.get(f"{BASE}/{sid}/command/{cid}/logs{query}", headers=headers)


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_gone(pid, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


def fd_count(pid):
    """Open files, pipes and FIFOs of @pid. Sockets are left out: libsoup 3.2 keeps the
    server side of every closed keep-alive connection open (CLOSE_WAIT), whoever serves
    the request, so they would count connections rather than what the toolbox holds."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if not os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                count += 1
        except OSError:
            pass
    return count


def descendants(pid):
    children = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(name))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return [p for p in out if alive(p)]


def settle(fn, expected, timeout=10):
    """Polls fn() until it returns expected (or times out); returns the last value."""
    deadline = time.monotonic() + timeout
    value = fn()
    while value != expected and time.monotonic() < deadline:
        time.sleep(0.1)
        value = fn()
    return value


# -- create, list, get, delete ------------------------------------------------------

def test_create_list_get_delete(rn):
    sid = "lifecycle-" + uuid.uuid4().hex[:6]
    r = rn.post(BASE, {"sessionId": sid})
    assert r.status == 201 and r.body == b""
    assert sid in [s["sessionId"] for s in rn.get(BASE).json()]
    r = rn.get(f"{BASE}/{sid}")
    assert r.status == 200 and r.json() == {"sessionId": sid, "commands": []}
    r = rn.delete(f"{BASE}/{sid}")
    assert r.status == 204 and r.body == b""
    assert rn.get(f"{BASE}/{sid}").status == 404
    assert sid not in [s["sessionId"] for s in rn.get(BASE).json()]


def test_duplicate_is_409(rn, session):
    r = rn.post(BASE, {"sessionId": session})
    assert r.status == 409 and r.json()["message"] == "session already exists"


@pytest.mark.parametrize("body", [{}, {"sessionId": ""}, {"id": "x"}])
def test_create_requires_session_id(rn, body):
    r = rn.post(BASE, body)
    assert r.status == 400
    assert r.json()["message"].startswith("invalid request body: Key: 'CreateSessionRequest.SessionId'")


def test_create_bad_json(rn):
    r = rn.request("POST", BASE, raw_body=b"{", headers={"Content-Type": "application/json"})
    assert r.status == 400 and r.json()["message"].startswith("invalid request body")


def test_unknown_session_is_404(rn):
    for r in (rn.get(f"{BASE}/nope"), rn.delete(f"{BASE}/nope"), exec_(rn, "nope", "ls"),
              rn.get(f"{BASE}/nope/command/x"), rn.get(f"{BASE}/nope/command/x/logs")):
        assert r.status == 404, r
        assert r.json()["message"] == "session not found"


def test_unknown_command_is_404(rn, session):
    for r in (rn.get(f"{BASE}/{session}/command/nope"), rn.get(f"{BASE}/{session}/command/nope/logs"),
              rn.post(f"{BASE}/{session}/command/nope/input", {"data": "x"})):
        assert r.status == 404, r
        assert r.json()["message"] == "command not found"


def test_entrypoint_routes(rn):
    for path in ("/entrypoint", "/entrypoint/logs", "/entrypoint/logs?follow=true"):
        r = rn.get(BASE + path)
        assert r.status == 404 and r.json()["message"] == "session not found"
    r = rn.post(BASE, {"sessionId": "entrypoint"})
    assert r.status == 400


# -- exec ---------------------------------------------------------------------------

def test_sync_exec_shape(rn, session):
    r = exec_(rn, session, "echo hello; echo oops >&2")
    assert r.status == 200
    body = r.json()
    assert set(body) == {"cmdId", "output", "stdout", "stderr", "exitCode"}
    uuid.UUID(body["cmdId"])
    assert body["output"] == f"{OUT}hello\n{ERR}oops\n"
    assert body["stdout"] is None and body["stderr"] is None
    assert body["exitCode"] == 0


def test_async_exec_shape(rn, session):
    r = exec_(rn, session, "sleep 0.2; echo done", runAsync=True)
    assert r.status == 202
    body = r.json()
    assert body["output"] is None and body["stdout"] is None and body["stderr"] is None
    assert body["exitCode"] is None
    # "async" is an alias of runAsync
    r = exec_(rn, session, "true", **{"async": True})
    assert r.status == 202


def test_state_persists_between_commands(rn, session):
    run(rn, session, "cd /tmp && export MY_VAR=42 && myfn() { echo fn-$1; }")
    assert run(rn, session, "pwd; echo $MY_VAR; myfn x")["output"] == f"{OUT}/tmp\n{OUT}42\n{OUT}fn-x\n"


def test_exit_code(rn, session):
    assert run(rn, session, "false")["exitCode"] == 1
    assert run(rn, session, "(exit 42)")["exitCode"] == 42


def test_partial_last_line_and_empty_lines(rn, session):
    assert run(rn, session, "echo; printf 'no newline'")["output"] == f"{OUT}\n{OUT}no newline\n"


def test_exec_errors(rn, session):
    r = exec_(rn, session, None)
    assert r.status == 400 and "SessionExecuteRequest.Command" in r.json()["message"]
    r = exec_(rn, session, "   ")
    assert r.status == 400 and r.json()["message"] == "command cannot be empty"
    r = rn.request("POST", f"{BASE}/{session}/exec", raw_body=b"nope", headers={"Content-Type": "application/json"})
    assert r.status == 400 and r.json()["message"].startswith("invalid request body")


def test_output_drained_before_exit_code(rn, session):
    # at-mock wrote exit_code before the output was labelled: lines went missing
    res = run(rn, session, "for i in $(seq 1 300); do echo out$i; echo err$i >&2; done; seq 1 20000")
    out = res["output"]
    assert out.count(OUT) == 300 + 20000 and out.count(ERR) == 300
    assert f"{OUT}20000\n" in out and f"{ERR}err300\n" in out


def test_command_stdin_is_not_the_session_pipe(rn, session):
    # a command reading stdin sees end of file; it does not swallow the next commands
    assert run(rn, session, "cat; echo after")["output"] == f"{OUT}after\n"
    assert run(rn, session, "read x; echo \"[$x]\"")["output"] == f"{OUT}[]\n"
    assert run(rn, session, "echo still-alive")["output"] == f"{OUT}still-alive\n"


def test_command_with_unbalanced_syntax_does_not_break_the_session(rn, session):
    r = exec_(rn, session, "echo 'unterminated")
    assert r.status == 200 and r.json()["exitCode"] != 0
    assert run(rn, session, "echo ok")["output"] == f"{OUT}ok\n"


def test_async_command_lifecycle(rn, session):
    cid = start(rn, session, "echo start; sleep 0.5; echo end; (exit 3)")
    info = command_info(rn, session, cid)
    assert info["id"] == cid and info["command"] == "echo start; sleep 0.5; echo end; (exit 3)"
    assert "exitCode" not in info   # omitted while it runs
    info = wait_finished(rn, session, cid)
    assert info["exitCode"] == 3
    listed = rn.get(f"{BASE}/{session}").json()
    assert [c["id"] for c in listed["commands"]] == [cid]
    assert listed["commands"][0]["exitCode"] == 3


def test_commands_run_in_order(rn, session):
    cids = [start(rn, session, f"sleep 0.1; echo {i}") for i in range(3)]
    last = run(rn, session, "echo last")
    assert last["output"] == f"{OUT}last\n"
    for i, cid in enumerate(cids):
        assert command_info(rn, session, cid)["exitCode"] == 0
        assert logs(rn, session, cid).text == f"{OUT}{i}\n"


def test_dead_shell(rn, session):
    r = exec_(rn, session, "exit 5")
    assert r.status == 400 and r.json()["message"] == "session cancelled"
    r = exec_(rn, session, "echo again")
    assert r.status == 400 and r.json()["message"] == "session cancelled"
    cmd = rn.get(f"{BASE}/{session}").json()["commands"][0]
    assert cmd["exitCode"] == 1
    # the session can still be deleted
    assert rn.delete(f"{BASE}/{session}").status == 204


# -- SDK version gates -----------------------------------------------------------------

def test_combined_output_without_version(rn, session):
    # a client without headers (curl) gets the text without markers
    assert run(rn, session, "echo a; echo b >&2", headers={})["output"] == "a\nb\n"
    # ...unless it asks for the split output
    res = run(rn, session, "echo a", headers={"X-Daytona-Split-Output": "true"})
    assert res["output"] == f"{OUT}a\n"


@pytest.mark.parametrize("version,markers", [("0.21.5", False), ("0.26.9", False), ("0.27.0", True),
                                             ("0.0.0-dev", True), ("unknown", True)])
def test_combined_output_by_version(rn, session, version, markers):
    res = run(rn, session, "echo a", headers={"X-Daytona-SDK-Version": version})
    assert res["output"] == (f"{OUT}a\n" if markers else "a\n")


# toolbox-api.md 3.6: JSON logs from 0.167.0, text below it and for dev builds (the at-mock
# SDKs built from source report "0.0.0-dev" and demultiplex the text themselves)
@pytest.mark.parametrize("version,demux,json_logs", [
    ("0.161.0", False, False), ("0.166.0", False, False), ("0.167.0", True, True), ("0.218.0", True, True),
    ("0.0.0-dev", True, False), ("unknown", True, True)])
def test_server_demux_by_version(rn, session, version, demux, json_logs):
    headers = {"X-Daytona-SDK-Version": version}
    res = run(rn, session, "echo out; echo err >&2", headers=headers)
    assert res["output"] == f"{OUT}out\n{ERR}err\n"
    if demux:
        assert res["stdout"] == "out\n" and res["stderr"] == "err\n"
    else:
        assert res["stdout"] is None and res["stderr"] is None
    r = logs(rn, session, res["cmdId"], headers=headers)
    assert r.status == 200
    if json_logs:
        assert r.header("Content-Type").startswith("application/json")
        assert r.json() == {"output": f"{OUT}out\n{ERR}err\n", "stdout": "out\n", "stderr": "err\n"}
    else:
        assert r.header("Content-Type") == "text/plain; charset=utf-8"
        assert r.text == f"{OUT}out\n{ERR}err\n"


def test_plain_logs_without_version_are_stripped(rn, session):
    cid = run(rn, session, "echo x; echo y >&2")["cmdId"]
    r = logs(rn, session, cid, headers={})
    assert r.header("Content-Type") == "text/plain; charset=utf-8" and r.text == "x\ny\n"


def test_legacy_session_cwd(make_runner, tmp_path):
    home, work = tmp_path / "home", tmp_path / "work"
    r = make_runner(env={"TOOLBOX_HOME_DIR": str(home), "TOOLBOX_WORK_DIR": str(work)})
    r.create_sandbox("sb")
    base = "/sandboxes/sb/toolbox/process/session"
    for sid, version, expected in (("old", "0.102.0", home), ("new", "0.103.0", work), ("dev", "0.0.0-dev", work)):
        assert r.post(base, {"sessionId": sid}, headers={"X-Daytona-SDK-Version": version}).status == 201
        res = r.post(f"{base}/{sid}/exec", {"command": "pwd"}, headers=SDK_OLD).json()
        assert res["output"] == f"{OUT}{os.path.realpath(expected)}\n", sid


# -- logs: WebSocket follow --------------------------------------------------------------

def ws_logs(rn, sid, cid, follow, headers=SDK_OLD, protocols=None):
    q = "?follow=true" if follow else ""
    return WebSocket.connect(rn.url, f"{BASE}/{sid}/command/{cid}/logs{q}",
                             headers={"Authorization": f"Bearer {rn.token}", **headers}, protocols=protocols)


def test_ws_logs_without_follow(rn, session):
    cid = run(rn, session, "seq 1 1000; echo e >&2")["cmdId"]
    ws = ws_logs(rn, session, cid, follow=False)
    messages, (code, _) = ws.recv_until_close(20)
    ws.shutdown()
    assert code == 1000
    assert all(kind == "binary" and len(data) <= 1024 for kind, data in messages)
    data = b"".join(d for _, d in messages).decode()
    assert data == "".join(f"{OUT}{i}\n" for i in range(1, 1001)) + f"{ERR}e\n"


def test_ws_follow_tails_until_the_command_ends(rn, session):
    cid = start(rn, session, "for i in 1 2 3; do echo line$i; sleep 0.3; done; echo bye >&2")
    ws = ws_logs(rn, session, cid, follow=True)
    ws.settimeout(20)
    kind, first = ws.recv()
    # the first line arrives while the command still runs
    assert kind == "binary" and first == f"{OUT}line1\n".encode()
    assert "exitCode" not in command_info(rn, session, cid)
    messages, (code, _) = ws.recv_until_close(20)
    ws.shutdown()
    assert code == 1000
    data = first + b"".join(d for _, d in messages)
    assert data.decode() == f"{OUT}line1\n{OUT}line2\n{OUT}line3\n{ERR}bye\n"
    assert command_info(rn, session, cid)["exitCode"] == 0


def test_ws_follow_of_a_finished_command(rn, session):
    cid = run(rn, session, "echo done")["cmdId"]
    ws = ws_logs(rn, session, cid, follow=True)
    messages, (code, _) = ws.recv_until_close(10)
    ws.shutdown()
    assert code == 1000 and b"".join(d for _, d in messages) == f"{OUT}done\n".encode()


def test_ws_echoes_the_sdk_version_subprotocol(rn, session):
    cid = run(rn, session, "echo x")["cmdId"]
    ws = ws_logs(rn, session, cid, follow=False, headers={}, protocols=["X-Daytona-SDK-Version~0.161.0"])
    assert ws.protocol == "X-Daytona-SDK-Version~0.161.0"
    messages, (code, _) = ws.recv_until_close(10)
    ws.shutdown()
    # the version came from the subprotocol: markers kept
    assert code == 1000 and b"".join(d for _, d in messages) == f"{OUT}x\n".encode()


def test_ws_subprotocol_echo_with_other_protocols_and_header(rn, session):
    cid = run(rn, session, "echo x")["cmdId"]
    ws = ws_logs(rn, session, cid, follow=False, headers={"X-Daytona-SDK-Version": "0.21.5"},
                 protocols=["other", "X-Daytona-SDK-Version~0.218.0"])
    # the offered token is echoed as offered; the header wins for the version (old: stripped)
    assert ws.protocol == "X-Daytona-SDK-Version~0.218.0"
    messages, (code, _) = ws.recv_until_close(10)
    ws.shutdown()
    assert code == 1000 and b"".join(d for _, d in messages) == b"x\n"


def test_ws_without_version_strips_markers(rn, session):
    cid = start(rn, session, "echo a; sleep 0.2; echo b >&2")
    ws = ws_logs(rn, session, cid, follow=True, headers={})
    messages, (code, _) = ws.recv_until_close(10)
    ws.shutdown()
    assert code == 1000 and b"".join(d for _, d in messages) == b"a\nb\n"


def test_ws_follow_closes_when_the_session_is_deleted(rn):
    sid = "ws-del-" + uuid.uuid4().hex[:6]
    assert rn.post(BASE, {"sessionId": sid}).status == 201
    cid = start(rn, sid, "sleep 300")
    ws = ws_logs(rn, sid, cid, follow=True)
    assert rn.delete(f"{BASE}/{sid}").status == 204
    _, (code, _) = ws.recv_until_close(10)
    ws.shutdown()
    assert code == 1000


def test_ws_client_disconnect_stops_the_tail(rn, session):
    cid = start(rn, session, "sleep 300")
    pid = rn.proc.pid
    baseline = fd_count(pid)
    sockets = [ws_logs(rn, session, cid, follow=True) for _ in range(3)]
    time.sleep(0.3)
    assert fd_count(pid) >= baseline + 3   # each follower reads the log file
    for ws in sockets:
        ws.shutdown()
    assert settle(lambda: fd_count(pid), baseline) == baseline


# -- logs: plain HTTP follow (the runner's conversion) -----------------------------------

def open_stream(rn, path, headers=None):
    url = urllib.parse.urlsplit(rn.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=20)
    conn.request("GET", path, headers={"Authorization": f"Bearer {rn.token}", **(headers or {})})
    return conn, conn.getresponse()


def test_http_follow_streams_until_done(rn, session):
    cid = start(rn, session, "echo first; sleep 1; echo second >&2; sleep 0.3; echo third")
    conn, resp = open_stream(rn, f"{BASE}/{session}/command/{cid}/logs?follow=true", SDK_OLD)
    try:
        assert resp.status == 200
        assert resp.getheader("Content-Type") == "application/octet-stream"
        assert resp.getheader("Transfer-Encoding") == "chunked"
        # streamed: the first line arrives while the command still runs
        first = resp.read1(65536)
        assert first == b"first\n"
        assert "exitCode" not in command_info(rn, session, cid)
        rest = resp.read()
    finally:
        conn.close()
    # the runner's conversion dials the daemon without the client's headers: no markers
    assert first + rest == b"first\nsecond\nthird\n"
    assert command_info(rn, session, cid)["exitCode"] == 0


def test_http_follow_of_finished_command(rn, session):
    cid = run(rn, session, "echo one; echo two >&2")["cmdId"]
    r = logs(rn, session, cid, query="?follow=true")
    assert r.status == 200 and r.body == b"one\ntwo\n"
    # follow=false (or anything but "true") is the normal reply
    r = logs(rn, session, cid, query="?follow=false")
    assert r.header("Content-Type") == "text/plain; charset=utf-8" and r.text == f"{OUT}one\n{ERR}two\n"


def test_http_follow_client_disconnect_stops_the_tail(rn, session):
    cid = start(rn, session, "sleep 300")
    pid = rn.proc.pid
    baseline = fd_count(pid)
    streams = [open_stream(rn, f"{BASE}/{session}/command/{cid}/logs?follow=true") for _ in range(3)]
    for _, resp in streams:
        assert resp.status == 200
    assert fd_count(pid) >= baseline + 3   # each follower reads the log file
    for conn, resp in streams:
        # every answer says "Connection: close": the socket belongs to the response
        resp.close()
        conn.close()
    assert settle(lambda: fd_count(pid), baseline) == baseline


# -- input [latest] ------------------------------------------------------------------------

def test_input(rn, session):
    cid = start(rn, session, "read a; read b; echo \"got $a and $b\"")
    r = rn.post(f"{BASE}/{session}/command/{cid}/input", {"data": "one"})
    assert r.status == 204 and r.body == b""
    assert rn.post(f"{BASE}/{session}/command/{cid}/input", {"data": "two\n"}).status == 204
    info = wait_finished(rn, session, cid)
    assert info["exitCode"] == 0
    # the input is echoed into the log as stdout
    assert logs(rn, session, cid).text == f"{OUT}one\n{OUT}two\n{OUT}got one and two\n"
    r = rn.post(f"{BASE}/{session}/command/{cid}/input", {"data": "late"})
    assert r.status == 410 and r.json()["code"] == "Gone"


def test_input_suppressed_echo(rn, session):
    cid = start(rn, session, "read a; echo \"[$a]\"", suppressInputEcho=True)
    assert rn.post(f"{BASE}/{session}/command/{cid}/input", {"data": "secret"}).status == 204
    wait_finished(rn, session, cid)
    assert logs(rn, session, cid).text == f"{OUT}[secret]\n"


def test_input_errors(rn, session):
    cid = start(rn, session, "sleep 0.1")
    r = rn.post(f"{BASE}/{session}/command/{cid}/input", {})
    assert r.status == 400
    wait_finished(rn, session, cid)
    assert rn.post(f"{BASE}/{session}/command/{cid}/input", {"data": "x"}).status == 410


def test_keep_alive_client_survives_204(rn, session):
    # libsoup 3.2 drops the connection after a 204 unless told otherwise: a keep-alive
    # client's next request on it must still work, on the same connection
    url = urllib.parse.urlsplit(rn.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=20)
    headers = {"Authorization": f"Bearer {rn.token}", "Content-Type": "application/json"}
    try:
        cid = start(rn, session, "read x; echo $x")
        conn.request("POST", f"{BASE}/{session}/command/{cid}/input", body=json.dumps({"data": "x"}), headers=headers)
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 204
        sock = conn.sock
        assert sock is not None          # http.client keeps it: no Connection: close
        conn.request("GET", f"{BASE}/{session}", headers=headers)
        resp = conn.getresponse()
        assert resp.status == 200
        resp.read()
        assert conn.sock is sock
    finally:
        conn.close()


# -- delete and process cleanup -------------------------------------------------------------

def session_pids(rn, sid):
    shell = int(run(rn, sid, "echo $$")["output"][3:])
    bg = int(run(rn, sid, "sleep 300 > /dev/null 2>&1 & echo $!")["output"][3:])
    cid = start(rn, sid, "sh -c 'sleep 301'")
    time.sleep(0.3)
    return shell, bg, cid


def test_delete_kills_every_process(rn):
    sid = "del-" + uuid.uuid4().hex[:6]
    before = set(descendants(rn.proc.pid))
    baseline = fd_count(rn.proc.pid)
    assert rn.post(BASE, {"sessionId": sid}).status == 201
    shell, bg, _ = session_pids(rn, sid)
    assert alive(shell) and alive(bg)
    assert len(set(descendants(rn.proc.pid)) - before) >= 3
    assert rn.delete(f"{BASE}/{sid}").status == 204
    assert not alive(shell) and not alive(bg)
    assert settle(lambda: set(descendants(rn.proc.pid)) - before, set()) == set()
    assert settle(lambda: fd_count(rn.proc.pid), baseline) == baseline


def test_delete_sigkills_what_ignores_sigterm(rn):
    sid = "stubborn-" + uuid.uuid4().hex[:6]
    assert rn.post(BASE, {"sessionId": sid}).status == 201
    pid = int(run(rn, sid, "sh -c 'trap \"\" TERM; sleep 300' > /dev/null 2>&1 & echo $!")["output"][3:])
    time.sleep(0.2)
    started = time.monotonic()
    assert rn.delete(f"{BASE}/{sid}").status == 204
    # the grace period (5 s) passed, then SIGKILL
    assert time.monotonic() - started >= 4
    assert wait_gone(pid, 2)


def test_delete_answers_a_waiting_sync_exec(rn):
    sid = "waiting-" + uuid.uuid4().hex[:6]
    assert rn.post(BASE, {"sessionId": sid}).status == 201
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("r", exec_(rn, sid, "sleep 300")))
    t.start()
    time.sleep(0.5)
    assert rn.delete(f"{BASE}/{sid}").status == 204
    t.join(15)
    assert result["r"].status == 400 and result["r"].json()["message"] == "session cancelled"


def test_sync_exec_client_disconnect_leaks_nothing(rn, session):
    pid = rn.proc.pid
    baseline = fd_count(pid)
    url = urllib.parse.urlsplit(rn.url)
    body = json.dumps({"command": "sleep 1"}).encode()
    s = socket.create_connection((url.hostname, url.port))
    s.sendall((f"POST {BASE}/{session}/exec HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {rn.token}\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body)
    time.sleep(0.3)
    s.close()
    # the command finishes on its own; the session stays usable and nothing is left open
    assert run(rn, session, "echo next")["output"] == f"{OUT}next\n"
    assert settle(lambda: fd_count(pid), baseline) == baseline


def test_runner_shutdown_kills_sessions(make_runner):
    r = make_runner()
    r.create_sandbox("sb")
    base = "/sandboxes/sb/toolbox/process/session"
    assert r.post(base, {"sessionId": "s"}).status == 201
    shell = int(r.post(f"{base}/s/exec", {"command": "echo $$"}, headers=SDK_OLD).json()["output"][3:])
    bg = int(r.post(f"{base}/s/exec", {"command": "sleep 300 > /dev/null 2>&1 & echo $!"},
                    headers=SDK_OLD).json()["output"][3:])
    r.proc.terminate()
    r.proc.wait(20)
    stderr = r.read_stderr()
    assert r.proc.returncode == 0, stderr
    assert "CRITICAL" not in stderr and "WARNING" not in stderr, stderr
    assert wait_gone(shell) and wait_gone(bg)


def test_two_runners_do_not_share_sessions(make_runner):
    a, b = make_runner(), make_runner()
    for r in (a, b):
        r.create_sandbox("sb")
        assert r.post("/sandboxes/sb/toolbox/process/session", {"sessionId": "same"}).status == 201
    base = "/sandboxes/sb/toolbox/process/session/same"
    ra = a.post(f"{base}/exec", {"command": "echo from-a"}, headers=SDK_OLD).json()
    assert b.get(f"{base}/command/{ra['cmdId']}").status == 404
    assert a.delete(base).status == 204
    assert b.post(f"{base}/exec", {"command": "echo from-b"}, headers=SDK_OLD).json()["output"] == f"{OUT}from-b\n"
    assert a.get(base).status == 404


def test_reset_kills_every_process_of_the_area(tmp_path):
    """MrRunner in-process (GI): reset ends sessions, running and lingering commands."""
    gi = pytest.importorskip("gi")
    gi.require_version("MockRunner", "1.0")
    from gi.repository import MockRunner

    runner = MockRunner.Runner.new()
    runner.start()
    url, token = runner.get_url(), runner.get_token()

    def call(method, path, body=None, headers=None, timeout=30):
        return request(url, method, path, body=body, headers=headers, token=token, timeout=timeout)

    try:
        dto = {"id": "sb", "userId": "u", "snapshot": "s", "osUser": "d", "cpuQuota": 1, "gpuQuota": 0,
               "memoryQuota": 1, "storageQuota": 1}
        assert call("POST", "/sandboxes", dto).status == 201
        base = "/sandboxes/sb/toolbox/process"
        before = set(descendants(os.getpid()))
        baseline = fd_count(os.getpid())
        assert call("POST", f"{base}/session", {"sessionId": "s"}).status == 201
        shell = int(call("POST", f"{base}/session/s/exec", {"command": "echo $$"}, SDK_OLD).json()["output"][3:])
        bg = int(call("POST", f"{base}/session/s/exec", {"command": "sleep 300 > /dev/null 2>&1 & echo $!"},
                      SDK_OLD).json()["output"][3:])
        lingering_file = tmp_path / "lingering.pid"
        assert call("POST", f"{base}/execute",
                    {"command": f"sh -c 'sleep 301 > /dev/null 2>&1 & echo $! > {lingering_file}'"}).status == 200
        lingering = int(lingering_file.read_text())
        results = {}
        waiters = [
            threading.Thread(target=lambda: results.setdefault(
                "sync", call("POST", f"{base}/session/s/exec", {"command": "sleep 302"}, SDK_OLD))),
            threading.Thread(target=lambda: results.setdefault(
                "execute", call("POST", f"{base}/execute", {"command": "sleep 303"}))),
        ]
        for t in waiters:
            t.start()
        time.sleep(0.5)
        assert all(alive(p) for p in (shell, bg, lingering))

        runner.reset()

        for t in waiters:
            t.join(15)
        # the waiting requests are answered: the session is gone, the command was killed
        assert results["sync"].status == 400 and results["sync"].json()["message"] == "session cancelled"
        assert results["execute"].status == 200 and results["execute"].json()["exitCode"] == -1
        assert not any(alive(p) for p in (shell, bg, lingering))
        assert settle(lambda: set(descendants(os.getpid())) - before, set()) == set()
        assert settle(lambda: fd_count(os.getpid()), baseline) == baseline
        # the toolbox starts afresh (and the sandbox was forgotten too)
        assert call("POST", "/sandboxes", dto).status == 201
        assert call("GET", f"{base}/session").json() == []
        assert call("POST", f"{base}/session", {"sessionId": "s"}).status == 201
    finally:
        runner.stop()


def test_served_by_the_toolbox_daemon(tmp_path):
    """The same routes from mock-runner-toolboxd (port 2280 inside a container): there a
    plain GET with follow=true is the daemon's plain reply (the runner converts follow)."""
    import subprocess
    from mrtest import TOOLBOXD_BIN, free_port

    port = free_port()
    work = tmp_path / "work"
    proc = subprocess.Popen([TOOLBOXD_BIN, "--port", str(port), "--work-dir", str(work), "--home-dir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                if request(url, "GET", "/version").status == 200:
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        r = request(url, "POST", "/process/execute", {"command": "pwd"})
        assert r.json() == {"exitCode": 0, "result": f"{os.path.realpath(work)}\n"}
        assert request(url, "POST", "/process/session", {"sessionId": "d"}).status == 201
        shell = int(request(url, "POST", "/process/session/d/exec", {"command": "echo $$"},
                            headers=SDK_OLD).json()["output"][3:])
        cid = request(url, "POST", "/process/session/d/exec", {"command": "echo a; sleep 0.5; echo b", "runAsync": True},
                      headers=SDK_OLD).json()["cmdId"]
        time.sleep(0.2)
        r = request(url, "GET", f"/process/session/d/command/{cid}/logs?follow=true", headers=SDK_OLD)
        assert r.status == 200 and r.text == f"{OUT}a\n"
        ws = WebSocket.connect(url, f"/process/session/d/command/{cid}/logs?follow=true", headers=SDK_OLD)
        messages, (code, _) = ws.recv_until_close(10)
        ws.shutdown()
        assert code == 1000 and b"".join(d for _, d in messages) == f"{OUT}a\n{OUT}b\n".encode()
        # shutting the daemon down ends its sessions
        proc.terminate()
        proc.wait(20)
        assert wait_gone(shell)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
