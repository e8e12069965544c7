"""The stateful Python interpreter (/process/interpreter) through the runner's toolbox
proxy: contexts, the execute WebSocket, chunks, close codes (toolbox-api.md 2.7)."""
import json
import os
import time

import pytest

from wsclient import WebSocket

SANDBOX = "interp-sandbox"
BASE = f"/sandboxes/{SANDBOX}/toolbox"
KEYS = ["type", "text", "name", "value", "traceback"]


@pytest.fixture(scope="module", autouse=True)
def sandbox(runner):
    runner.create_sandbox(SANDBOX)


def tb(runner, method, path, body=None, **kw):
    return runner.request(method, BASE + path, body=body, **kw)


def open_execute(runner, payload):
    ws = WebSocket.connect(runner.url, f"{BASE}/process/interpreter/execute",
                           headers={"Authorization": f"Bearer {runner.token}"})
    ws.send_text(payload if isinstance(payload, str) else json.dumps(payload))
    return ws


def execute(runner, payload, timeout=60):
    """Runs one execution; returns (chunks, (close code, reason))."""
    ws = open_execute(runner, payload)
    messages, close = ws.recv_until_close(timeout)
    chunks = []
    for kind, text in messages:
        assert kind == "text"
        chunk = json.loads(text)
        assert list(chunk) == KEYS, chunk
        chunks.append(chunk)
    return chunks, close


def stdout(chunks):
    return "".join(c["text"] for c in chunks if c["type"] == "stdout")


def create_context(runner, **body):
    r = tb(runner, "POST", "/process/interpreter/context", body)
    assert r.status == 200, r
    return r.json()


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


def test_state_persists_across_runs(runner):
    chunks, close = execute(runner, {"code": "counter = 41\nprint('set')"})
    assert close == (1000, "") and stdout(chunks) == "set\n"
    chunks, close = execute(runner, {"code": "counter += 1\nprint(counter)"})
    assert close == (1000, "") and stdout(chunks) == "42\n"


def test_stdout_and_stderr_chunks(runner):
    chunks, close = execute(runner, {"code": "import sys\nprint('out-1')\nprint('err-1', file=sys.stderr)\n"
                                             "sys.stdout.write('no newline')"})
    assert close == (1000, "")
    assert chunks == [
        {"type": "stdout", "text": "out-1\n", "name": "", "value": "", "traceback": ""},
        {"type": "stderr", "text": "err-1\n", "name": "", "value": "", "traceback": ""},
        {"type": "stdout", "text": "no newline", "name": "", "value": "", "traceback": ""},
    ]


def test_long_output_is_chunked(runner):
    chunks, close = execute(runner, {"code": "print('y' * 5000, end='')"})
    assert close == (1000, "")
    assert stdout(chunks) == "y" * 5000
    assert max(len(c["text"]) for c in chunks) == 1024


def test_output_of_child_processes(runner):
    chunks, close = execute(runner, {"code": "import os\nos.system('echo from-child; echo child-err >&2')"})
    assert close == (1000, "")
    assert stdout(chunks) == "from-child\n"
    assert "".join(c["text"] for c in chunks if c["type"] == "stderr") == "child-err\n"


def test_big_child_output_comes_in_small_chunks(runner):
    chunks, close = execute(runner, {"code": "import os\nos.system(\"head -c 100000 /dev/zero | tr '\\\\0' y\")"})
    assert close == (1000, "")
    assert stdout(chunks) == "y" * 100000
    assert max(len(c["text"]) for c in chunks) <= 8192


def test_huge_error_stays_below_the_message_limit(runner):
    ws = open_execute(runner, {"code": "raise ValueError('v' * 3000000)"})
    messages, close = ws.recv_until_close(60)
    assert close == (1000, "")
    assert all(len(text.encode()) < 1024 * 1024 for _, text in messages)
    [error] = [json.loads(text) for _, text in messages]
    assert error["name"] == "ValueError" and error["value"].endswith("... [truncated]")


def test_error_chunk_with_traceback(runner):
    chunks, close = execute(runner, {"code": "x = 1\ndef f():\n    return 1 / 0\nf()"})
    assert close == (1000, "")
    [error] = [c for c in chunks if c["type"] == "error"]
    assert (error["name"], error["value"], error["text"]) == ("ZeroDivisionError", "division by zero", "")
    assert error["traceback"].startswith("Traceback (most recent call last):\n")
    assert 'File "<stdin>", line 4, in <module>' in error["traceback"]
    assert 'File "<stdin>", line 3, in f' in error["traceback"]
    assert "repl_worker" not in error["traceback"]
    # the context survives its errors
    chunks, close = execute(runner, {"code": "print(x)"})
    assert stdout(chunks) == "1\n"


def test_syntax_error(runner):
    chunks, close = execute(runner, {"code": "def broken(:\n    pass"})
    assert close == (1000, "")
    [error] = chunks
    assert error["type"] == "error" and error["name"] == "SyntaxError"
    assert 'File "<stdin>", line 1' in error["traceback"]


def test_keyboard_interrupt_in_code_is_not_an_error(runner):
    chunks, close = execute(runner, {"code": "print('before')\nraise KeyboardInterrupt"})
    assert close == (1000, "")
    assert chunks == [{"type": "stdout", "text": "before\n", "name": "", "value": "", "traceback": ""}]


def test_envs_apply_to_one_run_only(runner):
    chunks, _ = execute(runner, {"code": "import os\nprint(os.environ.get('MR_INTERP_VAR'))",
                                 "envs": {"MR_INTERP_VAR": "for-this-run"}})
    assert stdout(chunks) == "for-this-run\n"
    chunks, _ = execute(runner, {"code": "import os\nprint(os.environ.get('MR_INTERP_VAR'))"})
    assert stdout(chunks) == "None\n"


def test_timeout_interrupts_and_keeps_state(runner):
    ctx = create_context(runner)
    execute(runner, {"code": "kept = 'still here'", "contextId": ctx["id"]})
    chunks, close = execute(runner, {"code": "import time\nprint('started')\ntime.sleep(60)",
                                     "contextId": ctx["id"], "timeout": 1})
    assert close[0] == 4008
    assert stdout(chunks) == "started\n"
    chunks, close = execute(runner, {"code": "print(kept)", "contextId": ctx["id"]})
    assert (stdout(chunks), close) == ("still here\n", (1000, ""))
    tb(runner, "DELETE", f"/process/interpreter/context/{ctx['id']}")


def test_timeout_kills_a_worker_that_ignores_sigint(runner):
    ctx = create_context(runner)
    chunks, _ = execute(runner, {"code": "import os\nprint(os.getpid())\nlost = 1", "contextId": ctx["id"]})
    pid = int(stdout(chunks))
    code = "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(60)"
    _, close = execute(runner, {"code": code, "contextId": ctx["id"], "timeout": 1})
    assert close[0] == 4008
    assert wait_gone(pid)
    # the context restarts on the next run, without its state
    chunks, close = execute(runner, {"code": "print('lost' in globals())", "contextId": ctx["id"]})
    assert (stdout(chunks), close) == ("False\n", (1000, ""))
    tb(runner, "DELETE", f"/process/interpreter/context/{ctx['id']}")


def test_timeout_zero_means_none(runner):
    chunks, close = execute(runner, {"code": "import time\ntime.sleep(1.5)\nprint('done')", "timeout": 0})
    assert (stdout(chunks), close) == ("done\n", (1000, ""))


def test_runs_are_queued_per_context(runner):
    ctx = create_context(runner)
    execute(runner, {"code": "order = []", "contextId": ctx["id"]})
    first = open_execute(runner, {"code": "import time\nprint('running')\ntime.sleep(1)\norder.append(1)",
                                  "contextId": ctx["id"]})
    first.settimeout(30)
    assert json.loads(first.recv()[1])["text"] == "running\n"
    second = open_execute(runner, {"code": "order.append(2)\nprint(order)", "contextId": ctx["id"]})
    messages, close = second.recv_until_close(30)
    assert close == (1000, "")
    assert json.loads(messages[0][1])["text"] == "[1, 2]\n"
    assert first.recv_until_close(30)[1] == (1000, "")
    tb(runner, "DELETE", f"/process/interpreter/context/{ctx['id']}")


def test_contexts_crud(runner, tmp_path):
    execute(runner, {"code": "pass"})   # makes sure the default context exists
    ctx = create_context(runner, cwd=str(tmp_path), language="python")
    assert list(ctx) == ["id", "cwd", "createdAt", "active", "language"]
    assert (ctx["cwd"], ctx["active"], ctx["language"]) == (str(tmp_path), True, "python")
    chunks, _ = execute(runner, {"code": "import os\nprint(os.getcwd())", "contextId": ctx["id"]})
    assert stdout(chunks) == f"{tmp_path}\n"

    listed = tb(runner, "GET", "/process/interpreter/context").json()
    ids = [c["id"] for c in listed["contexts"]]
    assert ctx["id"] in ids and "default" not in ids

    r = tb(runner, "DELETE", f"/process/interpreter/context/{ctx['id']}")
    assert (r.status, r.json()) == (200, {"message": "Context deleted successfully"})
    r = tb(runner, "DELETE", f"/process/interpreter/context/{ctx['id']}")
    assert r.status == 404 and f"context with ID '{ctx['id']}' not found" in r.json()["message"]
    assert ctx["id"] not in [c["id"] for c in tb(runner, "GET", "/process/interpreter/context").json()["contexts"]]
    _, close = execute(runner, {"code": "pass", "contextId": ctx["id"]})
    assert close == (1008, f"context not found: {ctx['id']}")


def test_context_defaults(runner):
    work_dir = tb(runner, "GET", "/work-dir").json()["dir"]
    ctx = create_context(runner)
    assert (ctx["cwd"], ctx["language"]) == (work_dir, "python")
    tb(runner, "DELETE", f"/process/interpreter/context/{ctx['id']}")


def test_context_errors(runner):
    r = tb(runner, "DELETE", "/process/interpreter/context/default")
    assert (r.status, r.json()["message"]) == (400, "cannot delete default context")
    r = tb(runner, "POST", "/process/interpreter/context", {"language": "javascript"})
    assert r.status == 400
    assert r.json()["message"] == "unsupported language: javascript (only 'python' is supported currently)"
    r = tb(runner, "POST", "/process/interpreter/context", {"cwd": "/nonexistent/mock-runner"})
    assert r.status == 500


def test_delete_context_ends_its_worker_and_runs(runner):
    ctx = create_context(runner)
    chunks, _ = execute(runner, {"code": "import os\nprint(os.getpid())", "contextId": ctx["id"]})
    pid = int(stdout(chunks))
    running = open_execute(runner, {"code": "import time\nprint('go', flush=True)\ntime.sleep(60)",
                                    "contextId": ctx["id"]})
    running.settimeout(30)
    assert json.loads(running.recv()[1])["text"] == "go\n"
    assert tb(runner, "DELETE", f"/process/interpreter/context/{ctx['id']}").status == 200
    assert running.recv_until_close(30)[1] == (1001, "context shutdown")
    assert wait_gone(pid)


def test_worker_death_closes_1001_and_restarts(runner):
    ctx = create_context(runner)
    _, close = execute(runner, {"code": "import os\nos._exit(3)", "contextId": ctx["id"]})
    assert close == (1001, "worker process ended")
    chunks, close = execute(runner, {"code": "print('back')", "contextId": ctx["id"]})
    assert (stdout(chunks), close) == ("back\n", (1000, ""))
    tb(runner, "DELETE", f"/process/interpreter/context/{ctx['id']}")


def test_client_leaving_stops_its_run(runner):
    ctx = create_context(runner)
    ws = open_execute(runner, {"code": "while True:\n    pass", "contextId": ctx["id"], "timeout": 0})
    time.sleep(0.3)
    ws.shutdown()
    # the endless run was interrupted, so the next one on the context gets its turn
    chunks, close = execute(runner, {"code": "print('next')", "contextId": ctx["id"]}, timeout=30)
    assert (stdout(chunks), close) == ("next\n", (1000, ""))
    tb(runner, "DELETE", f"/process/interpreter/context/{ctx['id']}")


@pytest.mark.parametrize("payload,close", [
    ({"code": ""}, (1008, "code is required")),
    ({"contextId": "x"}, (1008, "code is required")),
    ({"code": "1", "timeout": -1}, (1008, "timeout must be greater than or equal to 0")),
    ({"code": "1", "contextId": "no-such-context"}, (1008, "context not found: no-such-context")),
    ("not json", (1002, "invalid JSON payload")),
    ({"code": 42}, (1002, "invalid JSON payload")),
    ({"code": "1", "envs": {"A": 1}}, (1002, "invalid JSON payload")),
])
def test_execute_errors(runner, payload, close):
    chunks, got = execute(runner, payload)
    assert (chunks, got) == ([], close)


def test_execute_requires_a_websocket(runner):
    r = tb(runner, "GET", "/process/interpreter/execute")
    assert r.status == 400
