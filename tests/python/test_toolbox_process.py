"""POST /process/execute and POST /process/code-run through the runner's toolbox proxy
(toolbox-api.md sections 2.3, 2.4, 3.1, 3.2)."""
import base64
import json
import os
import shutil
import socket
import threading
import time
import urllib.parse

import pytest

SANDBOX = "sbx-process"
EXEC = f"/sandboxes/{SANDBOX}/toolbox/process/execute"
CODE_RUN = f"/sandboxes/{SANDBOX}/toolbox/process/code-run"


@pytest.fixture(scope="module")
def rn(runner):
    runner.create_sandbox(SANDBOX)
    return runner


@pytest.fixture(scope="module")
def work_dir(rn):
    r = rn.get(f"/sandboxes/{SANDBOX}/toolbox/work-dir")
    if r.status == 200:
        return r.json()["dir"]
    r = rn.post(EXEC, {"command": "pwd"})
    return r.json()["result"].strip()


def execute(rn, body, **kw):
    return rn.post(EXEC, body, **kw)


def ok(rn, body):
    r = execute(rn, body)
    assert r.status == 200, r
    assert r.header("Content-Type").startswith("application/json")
    return r.json()


def b64(text):
    return base64.b64encode(text.encode()).decode()


def sdk_wrapper(command, env=None):
    """The at-mock SDKs' exec wrapper (TS/Python <= 0.150)."""
    inner = f"echo '{b64(command)}' | base64 -d | sh"
    if env:
        exports = ";".join(f"export {k}=$(echo '{b64(v)}' | base64 -d)" for k, v in env.items()) + ";"
        inner = f"{exports} {inner}"
    return f'sh -c "{inner}"'


def wait_gone(pid, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not os.path.exists(f"/proc/{pid}"):
            return True
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except OSError:
            return True
        time.sleep(0.05)
    return False


def read_pid(path, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path) as f:
                text = f.read().strip()
            if text:
                return int(text)
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"no pid in {path}")


# -- execute: results ---------------------------------------------------------------

def test_echo(rn):
    assert ok(rn, {"command": "echo hi"}) == {"exitCode": 0, "result": "hi\n"}


def test_stdout_and_stderr_share_one_pipe_in_order(rn):
    res = ok(rn, {"command": "sh -c 'echo a; echo b >&2; echo c; echo d >&2'"})
    assert res == {"exitCode": 0, "result": "a\nb\nc\nd\n"}


def test_result_is_not_trimmed(rn):
    res = ok(rn, {"command": "printf '  x  \\n\\n'"})
    assert res["result"] == "  x  \n\n"


def test_quotes_group_words(rn):
    # exec'd as argv: each quoted group is one argument, the other quote kind literal
    res = ok(rn, {"command": "printf '[%s]' 'a  b' \"c 'd'\" e"})
    assert res["result"] == "[a  b][c 'd'][e]"


def test_exit_code(rn):
    assert ok(rn, {"command": "sh -c 'exit 7'"})["exitCode"] == 7


def test_signal_death_is_minus_one(rn):
    assert ok(rn, {"command": "sh -c 'kill -9 $$'"})["exitCode"] == -1


def test_missing_program_is_minus_one_with_error(rn):
    res = ok(rn, {"command": "no-such-program-xyz --flag"})
    assert res["exitCode"] == -1
    assert "no-such-program-xyz" in res["result"] and "not found" in res["result"]


def test_stdin_is_dev_null(rn):
    # a command reading stdin sees end of file at once
    assert ok(rn, {"command": "cat"}) == {"exitCode": 0, "result": ""}


def test_invalid_utf8_is_replaced(rn):
    res = ok(rn, {"command": "printf 'a\\377b'"})
    assert res["result"] == "a\ufffdb"


# -- execute: shell or argv ---------------------------------------------------------

def test_raw_shell_commands_run_in_a_shell(rn, work_dir):
    # the latest SDK sends raw shell text: pipes, expansions, builtins
    assert ok(rn, {"command": "echo abc | tr a-z A-Z"})["result"] == "ABC\n"
    assert ok(rn, {"command": "echo $HOME"})["result"].strip() != "$HOME"
    assert ok(rn, {"command": "cd / && pwd"})["result"] == "/\n"
    assert ok(rn, {"command": "exit 4"})["exitCode"] == 4
    assert ok(rn, {"command": "X=1; echo $((X + 1))"})["result"] == "2\n"


def test_sdk_wrapper(rn):
    res = ok(rn, {"command": sdk_wrapper("echo hello; echo oops >&2; exit 3")})
    assert res == {"exitCode": 3, "result": "hello\noops\n"}


def test_sdk_wrapper_with_env_exports(rn):
    # values with spaces, quotes and $ survive: the wrapper never meets an outer shell
    env = {"K1": "a b  c", "K2": "it's \"quoted\"", "K3": "$HOME;`id`"}
    res = ok(rn, {"command": sdk_wrapper('printf "%s|" "$K1" "$K2" "$K3"', env)})
    assert res == {"exitCode": 0, "result": "a b  c|it's \"quoted\"|$HOME;`id`|"}


def test_sdk_0161_env_prefix(rn):
    # SDK 0.161 sends a raw command with base64 env exports in front
    command = f"export K=\"$(printf '%s' '{b64('x  y')}' | base64 -d)\"; echo \"[$K]\""
    assert ok(rn, {"command": command}) == {"exitCode": 0, "result": "[x  y]\n"}


def test_at_mock_code_run_one_liner(rn):
    # the at-mock SDKs' Python code_run goes through execute
    code = b64("import sys\nprint('argv', sys.argv[1:])")
    command = f"sh -c 'python3 -u -c \"exec(__import__(\\\"base64\\\").b64decode(\\\"{code}\\\").decode())\" a b'"
    res = ok(rn, {"command": command})
    assert res == {"exitCode": 0, "result": "argv ['a', 'b']\n"}


def test_envs(rn):
    res = ok(rn, {"command": "printf '%s|%s' \"$A\" \"$B\"", "envs": {"A": "x y", "B": "$HOME"}})
    assert res == {"exitCode": 0, "result": "x y|$HOME"}
    # envs make even a plain command run in the shell, with the variables set
    assert ok(rn, {"command": "env", "envs": {"MY_VAR": "1"}})["result"].count("MY_VAR=1") == 1


@pytest.mark.parametrize("name", ["1A", "A-B", "A B", ""])
def test_invalid_env_name(rn, name):
    r = execute(rn, {"command": "echo", "envs": {name: "x"}})
    assert r.status == 400, r
    assert r.json()["message"] == f"invalid environment variable name: '{name}'"


def test_cwd(rn, work_dir):
    ok(rn, {"command": "mkdir -p cwd-test/inner"})
    assert ok(rn, {"command": "pwd", "cwd": "cwd-test/inner"})["result"] == f"{work_dir}/cwd-test/inner\n"
    assert ok(rn, {"command": "pwd", "cwd": "/"})["result"] == "/\n"
    assert ok(rn, {"command": "pwd"})["result"] == f"{work_dir}\n"


def test_missing_cwd_is_a_start_failure(rn):
    res = ok(rn, {"command": "pwd", "cwd": "/no/such/dir"})
    assert res["exitCode"] == -1
    assert "/no/such/dir" in res["result"]


# -- execute: errors ----------------------------------------------------------------

@pytest.mark.parametrize("body", [{}, {"command": ""}, {"command": 5}, {"cmd": "ls"}, {"command": "ls", "timeout": -1}])
def test_command_is_required(rn, body):
    r = execute(rn, body)
    assert r.status == 400, r
    body = r.json()
    assert body["message"] == "command is required"
    assert body["statusCode"] == 400 and body["code"] == "Bad Request" and body["path"] == "/process/execute"
    assert body["method"] == "POST" and body["timestamp"]


def test_bad_json_is_command_required(rn):
    r = rn.request("POST", EXEC, raw_body=b"{nope", headers={"Content-Type": "application/json"})
    assert r.status == 400 and r.json()["message"] == "command is required"


@pytest.mark.parametrize("command", ["   ", "''", "'' \"\""])
def test_empty_command(rn, command):
    r = execute(rn, {"command": command})
    assert r.status == 400 and r.json()["message"] == "empty command"


# -- execute: timeouts and process cleanup ------------------------------------------

def test_timeout_is_408(rn):
    started = time.monotonic()
    r = execute(rn, {"command": "sleep 30", "timeout": 1})
    assert r.status == 408, r
    body = r.json()
    assert body["message"] == "command execution timeout" and body["code"] == "Request Timeout"
    assert time.monotonic() - started < 20


def test_timeout_kills_the_whole_group(rn, work_dir):
    # a grandchild holding the output pipe would keep at-mock waiting: it must die too
    pidfile = os.path.join(work_dir, "grandchild.pid")
    r = execute(rn, {"command": f"sh -c 'sleep 301 & echo $! > {pidfile}; echo $$ >> {pidfile}.sh; wait'",
                     "timeout": 1})
    assert r.status == 408, r
    grandchild = read_pid(pidfile)
    shell = read_pid(pidfile + ".sh")
    assert wait_gone(grandchild), "the grandchild sleep survived the timeout"
    assert wait_gone(shell)


def test_timeout_with_sdk_wrapper(rn, work_dir):
    pidfile = os.path.join(work_dir, "wrapped.pid")
    r = execute(rn, {"command": sdk_wrapper(f"sleep 302 & echo $! > {pidfile}; wait"), "timeout": 1})
    assert r.status == 408, r
    assert wait_gone(read_pid(pidfile))


def test_server_not_blocked_by_a_running_command(rn):
    done = {}

    def slow():
        done["slow"] = execute(rn, {"command": "sleep 3"})

    t = threading.Thread(target=slow)
    t.start()
    try:
        time.sleep(0.3)
        assert ok(rn, {"command": "echo quick"})["result"] == "quick\n"
        # the quick command was answered while the slow one still ran
        assert t.is_alive()
    finally:
        t.join(30)
    assert done["slow"].status == 200 and done["slow"].json()["exitCode"] == 0


def test_client_disconnect_kills_the_command(rn, work_dir):
    pidfile = os.path.join(work_dir, "disconnect.pid")
    url = urllib.parse.urlsplit(rn.url)
    body = json.dumps({"command": f"sh -c 'echo $$ > {pidfile}; exec sleep 303'"}).encode()
    s = socket.create_connection((url.hostname, url.port))
    s.sendall((f"POST {EXEC} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {rn.token}\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body)
    pid = read_pid(pidfile)
    s.close()
    assert wait_gone(pid), "the command outlived its client"


def test_background_process_left_by_a_command_is_kept(rn, work_dir):
    # `server &` started by a command keeps running after the reply (as in the daemon)
    pidfile = os.path.join(work_dir, "bg.pid")
    res = ok(rn, {"command": f"sh -c 'sleep 304 > /dev/null 2>&1 & echo $! > {pidfile}'"})
    assert res["exitCode"] == 0
    pid = read_pid(pidfile)
    time.sleep(0.3)
    assert os.path.exists(f"/proc/{pid}")
    os.kill(pid, 9)


def stop_and_read_stderr(r):
    """Stops a standalone runner (SIGTERM) and returns what it wrote to stderr."""
    r.proc.terminate()
    r.proc.wait(20)
    return r.read_stderr()


def test_runner_shutdown_kills_running_commands(make_runner, tmp_path):
    r = make_runner()
    r.create_sandbox("sb")
    pidfile = tmp_path / "p.pid"
    bgfile = tmp_path / "bg.pid"

    def slow():
        try:
            r.post("/sandboxes/sb/toolbox/process/execute", {"command": f"sh -c 'echo $$ > {pidfile}; sleep 305'"})
        except OSError:
            pass  # the runner went away: expected

    t = threading.Thread(target=slow, daemon=True)
    t.start()
    ok_bg = r.post("/sandboxes/sb/toolbox/process/execute",
                   {"command": f"sh -c 'sleep 306 > /dev/null 2>&1 & echo $! > {bgfile}'"})
    assert ok_bg.status == 200
    running, lingering = read_pid(str(pidfile)), read_pid(str(bgfile))
    stderr = stop_and_read_stderr(r)
    assert r.proc.returncode == 0, stderr
    assert "CRITICAL" not in stderr and "WARNING" not in stderr, stderr
    assert wait_gone(running)
    assert wait_gone(lingering)


# -- code-run [latest] --------------------------------------------------------------

def code_run(rn, body):
    return rn.post(CODE_RUN, body)


def test_code_run_python(rn):
    r = code_run(rn, {"code": "import sys, os\nprint('hi', sys.argv[1:], os.environ.get('K'))",
                      "language": "python", "argv": ["a b", "c"], "envs": {"K": "v"}})
    assert r.status == 200, r
    assert r.json() == {"exitCode": 0, "result": "hi ['a b', 'c'] v\n"}


def test_code_run_exit_code_and_stderr(rn):
    r = code_run(rn, {"code": "import sys\nprint('out')\nsys.stderr.write('err\\n')\nsys.exit(5)",
                      "language": "python"})
    assert r.json() == {"exitCode": 5, "result": "out\nerr\n"}


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_code_run_javascript(rn):
    r = code_run(rn, {"code": "console.log('js', process.argv.slice(1).join(','))", "language": "javascript",
                      "argv": ["x", "y"]})
    assert r.status == 200, r
    assert r.json() == {"exitCode": 0, "result": "js x,y\n"}


def test_code_run_artifacts(rn):
    chart = {"type": "line", "title": "t", "elements": [{"label": "l", "points": [[1, 2]]}]}
    code = (f"print('before')\nprint('dtn_artifact_k39fd2:' + {json.dumps(json.dumps({'type': 'chart', 'value': chart}))})\n"
            "print('after')")
    r = code_run(rn, {"code": code, "language": "python"})
    assert r.status == 200, r
    body = r.json()
    assert body["result"] == "before\nafter\n"
    assert body["artifacts"] == {"charts": [chart]}


def test_code_run_without_charts_has_no_artifacts(rn):
    assert "artifacts" not in code_run(rn, {"code": "print(1)", "language": "python"}).json()


def test_code_run_unsupported_language(rn):
    r = code_run(rn, {"code": "puts 1", "language": "ruby"})
    assert r.status == 400
    assert "unsupported language: ruby" in r.json()["message"]


@pytest.mark.parametrize("body", [{"language": "python"}, {"code": "print(1)"}, {"code": 1, "language": "python"}])
def test_code_run_bad_body(rn, body):
    r = code_run(rn, body)
    assert r.status == 400
    assert r.json()["message"].startswith("invalid request body")


def test_code_run_invalid_env_name(rn):
    r = code_run(rn, {"code": "print(1)", "language": "python", "envs": {"9x": "1"}})
    assert r.status == 400 and "invalid environment variable name: '9x'" in r.json()["message"]


def test_code_run_timeout(rn):
    r = code_run(rn, {"code": "import time\ntime.sleep(30)", "language": "python", "timeout": 1})
    assert r.status == 408
    assert r.json()["message"] == "command execution timeout"
