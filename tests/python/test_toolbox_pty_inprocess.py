"""PTY shells and interpreter workers of runners embedded through GObject Introspection:
reset and stop end them all, and two runners in one process do not share them."""
import json
import os
import re
import time

import pytest

gi = pytest.importorskip("gi")
gi.require_version("MockRunner", "1.0")
from gi.repository import MockRunner  # noqa: E402

from mrtest import request  # noqa: E402
from wsclient import WebSocket  # noqa: E402

SANDBOX = "inproc"
BASE = f"/sandboxes/{SANDBOX}/toolbox"


class Embedded:
    def __init__(self):
        self.runner = MockRunner.Runner.new()
        self.runner.start()
        self.url = self.runner.get_url()
        self.token = self.runner.get_token()
        self.create_sandbox()

    def create_sandbox(self):
        dto = {"id": SANDBOX, "userId": "u", "snapshot": "ubuntu:22.04", "osUser": "daytona",
               "cpuQuota": 1, "gpuQuota": 0, "memoryQuota": 1, "storageQuota": 1}
        r = request(self.url, "POST", "/sandboxes", body=dto, token=self.token)
        assert r.status == 201, r

    def tb(self, method, path, body=None):
        return request(self.url, method, BASE + path, body=body, token=self.token)

    def ws(self, path):
        ws = WebSocket.connect(self.url, BASE + path, headers={"Authorization": f"Bearer {self.token}"})
        ws.settimeout(30)
        return ws

    def shell(self, sid):
        """Creates a PTY session, connects; returns (socket, shell pid)."""
        assert self.tb("POST", "/process/pty", {"id": sid}).status == 201
        ws = self.ws(f"/process/pty/{sid}/connect")
        assert ws.recv()[0] == "text"
        ws.send_text("echo pid-$$-pid\n")
        out = b""
        while not re.search(rb"pid-(\d+)-pid", out):
            out += ws.recv()[1]
        return ws, int(re.search(rb"pid-(\d+)-pid", out).group(1))

    def python(self, code):
        ws = self.ws("/process/interpreter/execute")
        ws.send_text(json.dumps({"code": code}))
        messages, close = ws.recv_until_close(60)
        assert close == (1000, ""), close
        return "".join(json.loads(p)["text"] for _, p in messages)

    def worker(self):
        """The default context's worker: (pid, path of its script)."""
        pid, script = self.python("import os, sys\nprint(os.getpid(), sys.argv[0])").split()
        return int(pid), script


@pytest.fixture
def embedded():
    started = []

    def make():
        e = Embedded()
        started.append(e)
        return e

    yield make
    for e in started:
        e.runner.stop()


def gone(pid, timeout=10):
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


def test_reset_ends_shells_workers_and_their_clients(embedded):
    e = embedded()
    ws, shell = e.shell("r1")
    worker, script = e.worker()
    assert os.stat(script).st_mode & 0o777 == 0o700
    running = e.ws("/process/interpreter/execute")
    running.send_text(json.dumps({"code": "import time\nprint('go')\ntime.sleep(60)"}))
    assert json.loads(running.recv()[1])["text"] == "go\n"

    e.runner.reset()

    assert ws.recv_until_close(30)[1] == (1011, '{"exitCode":137,"exitReason":"SIGKILL"}')
    assert running.recv_until_close(30)[1] == (1001, "context shutdown")
    assert gone(shell) and gone(worker)
    assert not os.path.exists(script)
    e.create_sandbox()
    assert e.tb("GET", "/process/pty").json() == {"sessions": []}
    # the areas start afresh
    assert e.python("print('fresh' in globals())") == "False\n"


def test_stop_ends_shells_and_workers(embedded):
    e = embedded()
    _, shell = e.shell("s1")
    worker, script = e.worker()
    e.runner.stop()
    assert gone(shell) and gone(worker)
    assert not os.path.exists(script)


def test_two_runners_do_not_share(embedded):
    a, b = embedded(), embedded()
    a_worker, a_script = a.worker()
    b_worker, b_script = b.worker()
    assert os.path.dirname(a_script) != os.path.dirname(b_script)
    _, b_shell = b.shell("same-id")
    _, a_shell = a.shell("same-id")
    a.python("shared = 'a'")
    assert b.python("print('shared' in globals())") == "False\n"

    a.runner.reset()
    assert gone(a_shell) and gone(a_worker)
    # b is untouched
    assert not gone(b_shell, timeout=0.2)
    assert b.tb("GET", "/process/pty/same-id").json()["active"] is True
    assert b.worker() == (b_worker, b_script)
