"""PTY sessions (/process/pty) through the runner's toolbox proxy: REST, the connect
WebSocket, exit codes as close codes, broadcast, lazy start and errors (toolbox-api.md 2.6)."""
import base64
import json
import os
import re
import time

import pytest

from wsclient import WebSocket

SANDBOX = "pty-sandbox"
BASE = f"/sandboxes/{SANDBOX}/toolbox"


@pytest.fixture(scope="module", autouse=True)
def sandbox(runner):
    runner.create_sandbox(SANDBOX)


def tb(runner, method, path, body=None, **kw):
    return runner.request(method, BASE + path, body=body, **kw)


def create(runner, sid, **fields):
    r = tb(runner, "POST", "/process/pty", dict({"id": sid}, **fields))
    assert r.status == 201, r
    assert r.json() == {"sessionId": sid}
    return r


def connect(runner, sid, protocols=None, path=None):
    ws = WebSocket.connect(runner.url, path or f"{BASE}/process/pty/{sid}/connect",
                           headers={"Authorization": f"Bearer {runner.token}"}, protocols=protocols)
    ws.settimeout(20)
    return ws


def connected(runner, sid, **kw):
    ws = connect(runner, sid, **kw)
    assert ws.recv() == ("text", '{"status":"connected","type":"control"}')
    return ws


def read_until(ws, pattern, timeout=20):
    """Binary output until @pattern (a regex over the bytes) matches; returns the match.
    What follows the match is kept for the next call."""
    deadline = time.monotonic() + timeout
    out = getattr(ws, "unread_output", b"")
    while True:
        m = re.search(pattern, out)
        if m:
            ws.unread_output = out[m.end():]
            return m
        if time.monotonic() >= deadline:
            raise AssertionError(f"{pattern!r} not in output {out[-500:]!r}")
        kind, payload = ws.recv()
        assert kind == "binary", (kind, payload)
        out += payload


def shell_pid(ws):
    ws.send_text("echo pid-$$-pid\n")
    return int(read_until(ws, rb"pid-(\d+)-pid").group(1))


def wait_gone(pid, timeout=10):
    """Whether @pid ends within @timeout s (a zombie left to an init that does not reap
    counts as ended)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def test_create_get_list_delete(runner):
    create(runner, "crud")
    work_dir = tb(runner, "GET", "/work-dir").json()["dir"]
    r = tb(runner, "GET", "/process/pty/crud")
    assert r.status == 200, r
    info = r.json()
    assert list(info) == ["id", "cwd", "envs", "cols", "rows", "createdAt", "active", "lazyStart"]
    assert info["id"] == "crud"
    assert info["cwd"] == work_dir
    assert info["envs"] == {"TERM": "xterm-256color"}
    assert (info["cols"], info["rows"]) == (80, 24)
    assert info["active"] is True and info["lazyStart"] is False
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z", info["createdAt"])

    listed = tb(runner, "GET", "/process/pty").json()
    assert list(listed) == ["sessions"]
    assert [s for s in listed["sessions"] if s["id"] == "crud"] == [info]

    r = tb(runner, "DELETE", "/process/pty/crud")
    assert (r.status, r.json()) == (200, {"message": "PTY session deleted"})
    r = tb(runner, "GET", "/process/pty/crud")
    assert (r.status, r.json()) == (404, {"error": "PTY session not found"})
    assert tb(runner, "DELETE", "/process/pty/crud").json() == {"error": "PTY session not found"}
    assert all(s["id"] != "crud" for s in tb(runner, "GET", "/process/pty").json()["sessions"])


def test_create_options_are_reported(runner, tmp_path):
    create(runner, "opts", cwd=str(tmp_path), envs={"A": "1", "TERM": "vt100"}, cols=120, rows=30)
    info = tb(runner, "GET", "/process/pty/opts").json()
    assert info["cwd"] == str(tmp_path)
    assert info["envs"] == {"A": "1", "TERM": "vt100"}
    assert (info["cols"], info["rows"]) == (120, 30)
    ws = connected(runner, "opts")
    ws.send_text("echo \"at-$(pwd)-term-$TERM-a-$A\"\n")
    read_until(ws, rf"at-{re.escape(str(tmp_path))}-term-vt100-a-1".encode())
    ws.send_text("stty size\n")
    read_until(ws, rb"30 120")
    tb(runner, "DELETE", "/process/pty/opts")


@pytest.mark.parametrize("body,status,message", [
    ({"id": ""}, 400, "session ID is required"),
    ({}, 400, "session ID is required"),
    ({"id": "big", "cols": 1001}, 400, "invalid value for cols - must be less than 1000"),
    ({"id": "big", "rows": 1001}, 400, "invalid value for rows - must be less than 1000"),
    ({"id": "nocwd", "cwd": "/nonexistent/mock-runner"}, 500, "failed to start PTY session"),
])
def test_create_errors(runner, body, status, message):
    r = tb(runner, "POST", "/process/pty", body)
    assert (r.status, r.json()) == (status, {"error": message})
    assert r.header("Content-Type").startswith("application/json")
    assert all(s["id"] not in ("big", "nocwd") for s in tb(runner, "GET", "/process/pty").json()["sessions"])


def test_create_bad_json_and_duplicate(runner):
    r = tb(runner, "POST", "/process/pty", raw_body=b"{nope", headers={"Content-Type": "application/json"})
    assert r.status == 400 and list(r.json()) == ["error"]
    r = tb(runner, "POST", "/process/pty", {"id": "neg", "cols": -1})
    assert r.status == 400 and "cannot unmarshal number -1" in r.json()["error"]
    create(runner, "dup", lazyStart=True)
    r = tb(runner, "POST", "/process/pty", {"id": "dup"})
    assert (r.status, r.json()) == (409, {"error": "PTY session with ID 'dup' already exists"})
    tb(runner, "DELETE", "/process/pty/dup")


def test_connect_echo_and_input_frames(runner):
    create(runner, "echo", envs={"MR_PTY_VAR": "hello"})
    ws = connected(runner, "echo")
    # arithmetic so that the echoed command line itself does not match
    ws.send_text("echo $MR_PTY_VAR-$((40+2))\n")
    read_until(ws, rb"hello-42")
    ws.send_binary(b"echo bin-$((3*3))\n")
    read_until(ws, rb"bin-9")
    ws.close()
    tb(runner, "DELETE", "/process/pty/echo")


def test_resize_changes_the_terminal(runner):
    create(runner, "rsz", cols=100, rows=30)
    ws = connected(runner, "rsz")
    ws.send_text("stty size\n")
    read_until(ws, rb"30 100")
    r = tb(runner, "POST", "/process/pty/rsz/resize", {"cols": 150, "rows": 40})
    assert r.status == 200, r
    assert (r.json()["cols"], r.json()["rows"], r.json()["id"]) == (150, 40, "rsz")
    ws.send_text("stty size\n")
    read_until(ws, rb"40 150")
    info = tb(runner, "GET", "/process/pty/rsz").json()
    assert (info["cols"], info["rows"]) == (150, 40)
    tb(runner, "DELETE", "/process/pty/rsz")


def test_resize_errors(runner):
    r = tb(runner, "POST", "/process/pty/ghost/resize", {"cols": 10, "rows": 10})
    assert (r.status, r.json()) == (410, {"error": "PTY session ghost not found"})
    create(runner, "rsz-err", lazyStart=True)
    r = tb(runner, "POST", "/process/pty/rsz-err/resize", {"cols": 1001, "rows": 10})
    assert (r.status, r.json()) == (400, {"error": "cols must be less than 1000"})
    r = tb(runner, "POST", "/process/pty/rsz-err/resize", {"cols": 10, "rows": 1001})
    assert (r.status, r.json()) == (400, {"error": "rows must be less than 1000"})
    r = tb(runner, "POST", "/process/pty/rsz-err/resize", raw_body=b"[1,",
           headers={"Content-Type": "application/json"})
    assert r.status == 400 and list(r.json()) == ["error"]
    r = tb(runner, "POST", "/process/pty/rsz-err/resize", {"cols": 10, "rows": 10})
    assert (r.status, r.json()) == (500, {"error": "cannot resize inactive PTY session"})
    tb(runner, "DELETE", "/process/pty/rsz-err")


@pytest.mark.parametrize("command,code,reason", [
    ("exit 0", 1000, {"exitCode": 0}),
    ("exit 3", 1011, {"exitCode": 3, "exitReason": "non-zero exit"}),
    ("exec sh -c 'kill -INT $$'", 1011, {"exitCode": 130, "exitReason": "Ctrl+C"}),
    ("exec sh -c 'kill -TERM $$'", 1011, {"exitCode": 143, "exitReason": "SIGTERM"}),
    ("exec sh -c 'kill -KILL $$'", 1011, {"exitCode": 137, "exitReason": "SIGKILL"}),
    ("exec sh -c 'kill -HUP $$'", 1011, {"exitCode": 129, "exitReason": "signal 1"}),
])
def test_exit_code_becomes_close_code(runner, command, code, reason):
    sid = "exit-" + str(abs(hash(command)))
    create(runner, sid)
    ws = connected(runner, sid)
    ws.send_text(command + "\n")
    messages, (close_code, close_reason) = ws.recv_until_close(20)
    assert all(kind == "binary" for kind, _ in messages)
    assert close_code == code
    assert json.loads(close_reason) == reason
    assert close_reason == json.dumps(reason, separators=(",", ":"))
    # an exited shell's session is removed
    assert tb(runner, "GET", f"/process/pty/{sid}").status == 404


def test_delete_kills_the_shell_and_closes_clients(runner):
    create(runner, "del")
    ws = connected(runner, "del")
    pid = shell_pid(ws)
    # a background job has a process group of its own
    ws.send_text("sleep 1000 & echo job-$!-job\n")
    job = int(read_until(ws, rb"job-(\d+)-job").group(1))
    assert tb(runner, "DELETE", "/process/pty/del").status == 200
    _, close = ws.recv_until_close(20)
    assert close == (1011, '{"exitCode":137,"exitReason":"SIGKILL"}')
    assert wait_gone(pid), "the shell survived DELETE"
    assert wait_gone(job), "a background job of the shell survived DELETE"


def test_two_clients_get_the_same_output(runner):
    create(runner, "bcast")
    a = connected(runner, "bcast")
    b = connected(runner, "bcast")
    a.send_text("echo shared-$((6*7))\n")
    read_until(a, rb"shared-42")
    read_until(b, rb"shared-42")
    b.send_text("echo from-b-$((2+2))\n")
    read_until(a, rb"from-b-4")
    # closing one socket detaches that client only
    a.close()
    assert a.recv_until_close(20)[1] == (1000, "")
    b.send_text("echo still-$((1+1))\n")
    read_until(b, rb"still-2")
    assert tb(runner, "GET", "/process/pty/bcast").json()["active"] is True
    # a new client sees new output only (no replay)
    c = connected(runner, "bcast")
    c.send_text("echo late-$((5+5))\n")
    m = read_until(c, rb"late-10")
    assert b"shared-42" not in m.string and b"still-2" not in m.string
    b.send_text("exit\n")
    assert b.recv_until_close(20)[1][0] == 1000
    assert c.recv_until_close(20)[1][0] == 1000


def test_lazy_start(runner):
    create(runner, "lazy", lazyStart=True)
    info = tb(runner, "GET", "/process/pty/lazy").json()
    assert (info["active"], info["lazyStart"]) == (False, True)
    ws = connected(runner, "lazy")
    info = tb(runner, "GET", "/process/pty/lazy").json()
    assert (info["active"], info["lazyStart"]) == (True, True)
    ws.send_text("echo lazy-$((1+1))\n")
    read_until(ws, rb"lazy-2")
    tb(runner, "DELETE", "/process/pty/lazy")


def test_connect_to_unknown_session(runner):
    ws = connect(runner, "nope")
    assert ws.recv() == ("text", '{"error":"Failed to connect to PTY session: PTY session nope not found",'
                                 '"status":"error","type":"control"}')
    # then the TCP connection ends without a close frame
    with pytest.raises(ConnectionError):
        ws.recv()


def test_connect_requires_a_websocket(runner):
    create(runner, "plain")
    r = tb(runner, "GET", "/process/pty/plain/connect")
    assert r.status == 400 and list(r.json()) == ["error"]
    tb(runner, "DELETE", "/process/pty/plain")


def test_client_vanishing_mid_stream(runner):
    create(runner, "vanish")
    ws = connected(runner, "vanish")
    ws.send_text("for i in $(seq 1 2000); do echo line-$i; done\n")
    ws.recv()
    ws.shutdown()   # no close frame
    other = connected(runner, "vanish")
    other.send_text("echo alive-$((4+4))\n")
    read_until(other, rb"alive-8")
    tb(runner, "DELETE", "/process/pty/vanish")


def test_slow_consumer_is_dropped(runner):
    create(runner, "slow")
    slow = connected(runner, "slow")
    work_dir = tb(runner, "GET", "/work-dir").json()["dir"]
    marker = os.path.join(work_dir, "slow-consumer-done")
    # about 40 MB of output while `slow` reads nothing: far more than the socket buffers
    # plus a queue of 256 frames can hold
    slow.send_text(f"head -c 40000000 /dev/zero | tr '\\0' x; touch {marker}\n")
    deadline = time.monotonic() + 60
    while not os.path.exists(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert os.path.exists(marker)
    messages, close = slow.recv_until_close(30)
    assert close == (1008, "slow consumer")
    assert sum(len(p) for _, p in messages) < 40000000
    # the shell is unaffected
    other = connected(runner, "slow")
    other.send_text("echo after-$((7+1))\n")
    read_until(other, rb"after-8")
    tb(runner, "DELETE", "/process/pty/slow")
    os.unlink(marker)


def test_exit_control_subprotocol(runner):
    create(runner, "ctl")
    ws = connected(runner, "ctl", protocols=["X-Daytona-Pty-Exit-Control"])
    assert ws.protocol == "X-Daytona-Pty-Exit-Control"
    ws.send_text("exit 4\n")
    messages, close = ws.recv_until_close(20)
    texts = [json.loads(p) for kind, p in messages if kind == "text"]
    assert texts == [{"type": "control", "status": "exited", "exitCode": 4, "exitReason": "non-zero exit"}]
    assert close == (1011, '{"exitCode":4,"exitReason":"non-zero exit"}')


def test_sdk_version_subprotocol_is_echoed(runner):
    create(runner, "proto")
    ws = connected(runner, "proto", protocols=["X-Daytona-SDK-Version~0.218.0"])
    assert ws.protocol == "X-Daytona-SDK-Version~0.218.0"
    ws.close()
    tb(runner, "DELETE", "/process/pty/proto")


def test_create_connect(runner, tmp_path):
    envs = base64.urlsafe_b64encode(json.dumps({"CC_VAR": "via-protocol"}).encode()).decode().rstrip("=")
    path = f"{BASE}/process/pty/create-connect?id=cc1&cols=90&rows=20&cwd={tmp_path}"
    ws = connect(runner, None, path=path, protocols=["X-Daytona-Pty-Envs~" + envs, "X-Daytona-Pty-Exit-Control"])
    assert ws.protocol == "X-Daytona-Pty-Exit-Control"
    assert ws.recv() == ("text", '{"status":"connected","type":"control"}')
    info = tb(runner, "GET", "/process/pty/cc1").json()
    assert (info["cols"], info["rows"], info["cwd"], info["active"]) == (90, 20, str(tmp_path), True)
    assert info["envs"]["CC_VAR"] == "via-protocol"
    ws.send_text("stty size; echo $CC_VAR-$((1+2))\n")
    read_until(ws, rb"20 90")
    read_until(ws, rb"via-protocol-3")
    ws.send_text("exit\n")
    messages, close = ws.recv_until_close(20)
    assert close == (1000, '{"exitCode":0}')
    assert ("text", '{"type":"control","status":"exited","exitCode":0}') in messages
    # a second create-connect with the same id is refused like a duplicate create
    create(runner, "cc2")
    ws = connect(runner, None, path=f"{BASE}/process/pty/create-connect?id=cc2")
    kind, text = ws.recv()
    assert json.loads(text) == {"error": "Failed to create PTY session: PTY session with ID 'cc2' already exists",
                                "status": "error", "type": "control"}
    with pytest.raises(ConnectionError):
        ws.recv()
    tb(runner, "DELETE", "/process/pty/cc2")


def test_served_by_the_toolbox_daemon(tmp_path):
    """The same PTY and interpreter from mock-runner-toolboxd; SIGTERM ends their processes."""
    import signal
    import subprocess
    from mrtest import TOOLBOXD_BIN, request
    proc = subprocess.Popen([TOOLBOXD_BIN, "--port", "0", "--host", "127.0.0.1", "--work-dir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        port = int(re.search(r"port (\d+)", line).group(1))
        url = f"http://127.0.0.1:{port}"
        assert request(url, "POST", "/process/pty", body={"id": "d1"}).status == 201
        ws = WebSocket.connect(url, "/process/pty/d1/connect")
        ws.settimeout(20)
        assert ws.recv() == ("text", '{"status":"connected","type":"control"}')
        shell = shell_pid(ws)
        worker_ws = WebSocket.connect(url, "/process/interpreter/execute")
        worker_ws.send_text(json.dumps({"code": "import os\nprint(os.getpid())"}))
        messages, close = worker_ws.recv_until_close(30)
        assert close == (1000, "")
        worker = int(json.loads(messages[0][1])["text"])
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        assert ws.recv_until_close(20)[1] == (1011, '{"exitCode":137,"exitReason":"SIGKILL"}')
        assert wait_gone(shell) and wait_gone(worker)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
