"""The standalone server: configuration from the environment, .env and flags; clear one-line
errors and non-zero exits; port 0; TLS; logging; signals."""
import datetime
import os
import re
import signal
import socket
import ssl
import subprocess
import time

import pytest

from mrtest import free_port, request, run_runner_expecting_failure, runner_in_dir

BASE = {"API_TOKEN": "tok", "SERVER_URL": "http://localhost:3000", "API_PORT": "0"}


def assert_one_line_error(rc, stderr, fragment):
    assert rc != 0
    lines = [l for l in stderr.splitlines() if l.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("mock-runner: "), stderr
    assert fragment in lines[0], stderr


def test_missing_token():
    rc, out, err = run_runner_expecting_failure({"SERVER_URL": "http://localhost:3000"})
    assert_one_line_error(rc, err, "API_TOKEN is required")


def test_missing_server_url():
    rc, out, err = run_runner_expecting_failure({"API_TOKEN": "x"})
    assert_one_line_error(rc, err, "SERVER_URL is required")


@pytest.mark.parametrize("name,value,fragment", [
    ("API_PORT", "eighty", "invalid value for API_PORT: 'eighty'"),
    ("API_PORT", "99999", "invalid value for API_PORT"),
    ("ENABLE_TLS", "sometimes", "invalid value for ENABLE_TLS"),
    ("SSH_GATEWAY_ENABLE", "2", "invalid value for SSH_GATEWAY_ENABLE"),
    ("LOG_LEVEL", "chatty", "invalid value for LOG_LEVEL"),
    ("CACHE_RETENTION_DAYS", "week", "invalid value for CACHE_RETENTION_DAYS"),
    ("SERVER_URL", "::nope::", "invalid value for SERVER_URL"),
    ("MAX_BODY_SIZE", "-1", "invalid value for MAX_BODY_SIZE"),
])
def test_invalid_values(name, value, fragment):
    rc, out, err = run_runner_expecting_failure(dict(BASE, **{name: value}))
    assert_one_line_error(rc, err, fragment)


def test_invalid_flag_value():
    rc, out, err = run_runner_expecting_failure(BASE, ["--api-port", "x"])
    assert_one_line_error(rc, err, "invalid value for API_PORT")
    rc, out, err = run_runner_expecting_failure(BASE, ["--no-such-flag"])
    assert_one_line_error(rc, err, "unknown argument '--no-such-flag'")


def test_port_in_use():
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", 0))
        s.listen()
        port = s.getsockname()[1]
        rc, out, err = run_runner_expecting_failure(dict(BASE, API_PORT=str(port)))
    assert_one_line_error(rc, err, f"cannot start API server, port {port} is already in use")


def test_tls_files_unreadable(tmp_path):
    rc, out, err = run_runner_expecting_failure(dict(BASE, ENABLE_TLS="true", TLS_CERT_FILE=str(tmp_path / "no.pem"),
                                                     TLS_KEY_FILE=str(tmp_path / "no.key")))
    assert_one_line_error(rc, err, "cannot read TLS_CERT_FILE")
    rc, out, err = run_runner_expecting_failure(dict(BASE, ENABLE_TLS="true"))
    assert_one_line_error(rc, err, "ENABLE_TLS=true needs TLS_CERT_FILE")
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    rc, out, err = run_runner_expecting_failure(dict(BASE, ENABLE_TLS="true", TLS_CERT_FILE=str(bad),
                                                     TLS_KEY_FILE=str(bad)))
    assert_one_line_error(rc, err, "cannot load TLS certificate")


def test_unknown_plugin():
    rc, out, err = run_runner_expecting_failure(dict(BASE, SANDBOX_BACKEND="sandbox-nope"))
    assert_one_line_error(rc, err, "no sandbox plugin named 'sandbox-nope'")
    rc, out, err = run_runner_expecting_failure(dict(BASE, SSH_GATEWAY_ENABLE="true", SSH_BACKEND="ssh-nope"))
    assert_one_line_error(rc, err, "no ssh plugin named 'ssh-nope'")


def test_https_served(tmp_path, make_runner):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    r = make_runner(env={"ENABLE_TLS": "true", "TLS_CERT_FILE": str(cert), "TLS_KEY_FILE": str(key)})
    assert r.url.startswith("https://127.0.0.1:")
    context = ssl.create_default_context(cafile=str(cert))
    res = request(r.url, "GET", "/", tls_context=context)
    assert res.status == 200 and res.json()["status"] == "ok"
    res = request(r.url, "GET", "/info", token=r.token, tls_context=context)
    assert res.status == 200
    # plain HTTP on the TLS port is not served
    with pytest.raises(Exception):
        request(r.url.replace("https://", "http://"), "GET", "/", timeout=3)


def test_port_zero_prints_bound_url(make_runner):
    r = make_runner()
    assert r.port > 0
    assert request(r.url, "GET", "/").status == 200


def test_fixed_port(make_runner):
    port = free_port()
    r = make_runner(env={"API_PORT": str(port)})
    assert r.port == port


def test_flags_override_environment(make_runner):
    r = make_runner(env={"API_TOKEN": "from-env"}, args=["--api-token", "from-flag"], token="from-flag")
    assert r.get("/info").status == 200
    assert request(r.url, "GET", "/info", token="from-env").status == 401


def test_newer_variable_names(make_runner):
    r = make_runner(env={"API_TOKEN": None, "SERVER_URL": None, "DAYTONA_RUNNER_TOKEN": "newer",
                         "DAYTONA_API_URL": "http://api:3000"}, token="newer")
    assert r.get("/info").status == 200


def test_dotenv_file(tmp_path):
    (tmp_path / ".env").write_text("# comment\nAPI_TOKEN=from-dotenv\nexport SERVER_URL='http://x:1'\nAPI_PORT=0\n")
    with runner_in_dir(tmp_path, unset=("API_TOKEN", "SERVER_URL", "API_PORT")) as url:
        assert request(url, "GET", "/info", token="from-dotenv").status == 200


def test_log_file_and_level(tmp_path, make_runner):
    log = tmp_path / "logs" / "nested" / "runner.log"
    r = make_runner(env={"LOG_FILE_PATH": str(log), "LOG_LEVEL": "info"})
    r.get("/info")
    r.get("/sandboxes/logged")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "/sandboxes/logged" not in (log.read_text() if log.exists() else ""):
        time.sleep(0.05)
    text = log.read_text()
    assert "GET /sandboxes/logged -> 200" in text
    assert "INFO" in text


def test_log_file_unwritable(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rc, out, err = run_runner_expecting_failure(dict(BASE, LOG_FILE_PATH=str(blocker / "sub" / "log")))
    assert_one_line_error(rc, err, "cannot create log directory")


def test_warn_level_is_quiet(tmp_path, make_runner):
    """The default level (warn) writes no request lines; the log file is complete once the
    runner has exited (stop() waits for it)."""
    log = tmp_path / "quiet.log"
    r = make_runner(env={"LOG_FILE_PATH": str(log)})
    assert r.get("/info").status == 200
    r.stop()
    assert r.proc.returncode == 0
    assert "/info" not in (log.read_text() if log.exists() else "")


def test_sigterm_exits_cleanly(make_runner):
    r = make_runner()
    r.proc.send_signal(signal.SIGTERM)
    assert r.proc.wait(10) == 0


def test_help_lists_every_variable():
    p = subprocess.run([os.environ["MOCK_RUNNER_BIN"], "--help"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 0
    for name in ("SERVER_URL", "API_TOKEN", "API_PORT", "ENVIRONMENT", "LOG_LEVEL", "LOG_FILE_PATH",
                 "TOOLBOX_IMAGE", "SSH_GATEWAY_ENABLE", "CACHE_RETENTION_DAYS", "TLS_CERT_FILE", "TLS_KEY_FILE",
                 "ENABLE_TLS", "--api-port", "--list-plugins", "DAYTONA_RUNNER_TOKEN"):
        assert name in p.stdout, name


def test_help_lists_every_documented_setting_and_option():
    # each row of docs/configuration.md's tables (settings, further settings, runner
    # options) and the test controls of docs/mock-api.md, with its flag where it has one
    p = subprocess.run([os.environ["MOCK_RUNNER_BIN"], "--help"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 0
    docs = os.path.join(os.environ["MOCK_RUNNER_SOURCE_DIR"], "docs")
    with open(os.path.join(docs, "configuration.md")) as f:
        rows = [l for l in f.read().split("## Installed files")[0].splitlines() if l.startswith("| `")]
    with open(os.path.join(docs, "mock-api.md")) as f:
        rows += [l for l in f if l.startswith("| `MOCK_RUNNER_")]
    assert len(rows) > 25
    for row in rows:
        cells = [c.strip() for c in row.strip("|\n").split("|")]
        for name in re.findall(r"`([A-Z][A-Z0-9_]+)", cells[0]):
            assert re.search(r"^ +%s\b" % name, p.stdout, re.M), name
        if cells[1].startswith("`--"):
            flag = cells[1].strip("`")
            assert re.search(r"^ +[A-Z_]+ +%s " % flag, p.stdout, re.M), flag


def test_version_and_list_plugins():
    p = subprocess.run([os.environ["MOCK_RUNNER_BIN"], "--version"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 0 and p.stdout.startswith("mock-runner ")
    p = subprocess.run([os.environ["MOCK_RUNNER_BIN"], "--list-plugins"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 0
    for name in ("sandbox-memory", "image-memory", "toolbox-local", "sandbox-skeleton"):
        assert name in p.stdout
    assert "option STRICT" in p.stdout


def test_list_plugins_reports_broken_modules(tmp_path):
    (tmp_path / "broken.so").write_text("not a module")
    env = dict(os.environ, MOCK_RUNNER_PLUGIN_PATH=f"{tmp_path}:{os.environ['MOCK_RUNNER_PLUGIN_PATH']}")
    p = subprocess.run([os.environ["MOCK_RUNNER_BIN"], "--list-plugins"], capture_output=True, text=True,
                       env=env, timeout=10)
    assert p.returncode == 0
    assert f"{tmp_path}/broken.so: cannot load" in p.stdout


def test_skeleton_plugin_serves(make_runner):
    r = make_runner(env={"SANDBOX_BACKEND": "sandbox-skeleton"})
    r.create_sandbox("skel-1")
    assert r.get("/sandboxes/skel-1").json()["state"] == "started"
    assert r.post("/sandboxes/skel-1/stop").status == 200
    assert r.get("/sandboxes/skel-1").json()["state"] == "stopped"
    # what the skeleton does not implement answers the common error body
    res = r.post("/sandboxes/skel-1/resize", {"cpu": 2})
    assert res.status == 400 and "not supported" in res.json()["message"]


DAY = 86400


def advance_clock(r, seconds):
    res = r.post("/_mock/clock", {"advanceSeconds": seconds})
    assert res.status == 200, res
    return res.json()


def state(r, sandbox_id):
    return r.get(f"/sandboxes/{sandbox_id}").json()["state"]


def test_cache_retention_expiry_reads_unknown(make_runner):
    """A sandbox nobody touched for CACHE_RETENTION_DAYS (7 by default) reads back as unknown
    (the Go mock's state cache); a read refreshes the period. The runner's clock is advanced
    over /_mock/clock, nobody sleeps."""
    r = make_runner()
    r.create_sandbox("ttl-1")
    r.create_sandbox("ttl-2")
    # without an advance no time passes for the cache, however often it is polled
    for _ in range(3):
        assert state(r, "ttl-1") == "started"
    assert r.get("/_mock/clock").json()["offsetSeconds"] == 0

    assert advance_clock(r, 6 * DAY)["offsetSeconds"] == 6 * DAY
    assert state(r, "ttl-2") == "started"       # polled: kept fresh
    advance_clock(r, DAY)
    assert state(r, "ttl-1") == "unknown"       # 7 days since its last write
    assert state(r, "ttl-2") == "started"       # a day since its read
    # a start brings it back
    assert r.post("/sandboxes/ttl-1/start", {}).status == 200
    assert state(r, "ttl-1") == "started"


@pytest.mark.parametrize("days,retention", [("2", 2), ("0", 7), ("-3", 7)])
def test_cache_retention_days(make_runner, days, retention):
    """CACHE_RETENTION_DAYS sets the period; values <= 0 mean 7, as in the Go mock."""
    r = make_runner(env={"CACHE_RETENTION_DAYS": days})
    r.create_sandbox("ret-1")
    r.create_sandbox("ret-2")
    advance_clock(r, (retention - 1) * DAY)
    assert state(r, "ret-1") == "started"       # not yet: and the read refreshes it
    advance_clock(r, DAY)
    assert state(r, "ret-2") == "unknown"       # the whole period since its create
    assert state(r, "ret-1") == "started"       # a day since its read


def test_clock_control(make_runner):
    """/_mock/clock needs the token, refuses what is not a forward move, and reset sets the
    clock back to the real time."""
    r = make_runner()
    assert r.get("/_mock/clock", auth=False).status == 401
    assert r.post("/_mock/clock", {"advanceSeconds": 60}, auth=False).status == 401
    for bad in ({"advanceSeconds": -1}, {"advanceSeconds": "60"}, {}, {"advanceSeconds": 1, "days": 1}, [60]):
        res = r.post("/_mock/clock", bad)
        assert res.status == 400, (bad, res)
        assert res.json()["code"] == "BAD_REQUEST"
    assert r.get("/_mock/clock").json()["offsetSeconds"] == 0
    body = advance_clock(r, 1.5)
    assert body["offsetSeconds"] == 1.5
    now = datetime.datetime.fromisoformat(body["now"].replace("Z", "+00:00"))
    assert abs((now - datetime.datetime.now(datetime.timezone.utc)).total_seconds() - 1.5) < 2
    # not journaled
    assert r.get("/_mock/requests?path=/_mock/*").json()["count"] == 0
    assert r.post("/_mock/reset").status == 204
    assert r.get("/_mock/clock").json()["offsetSeconds"] == 0


def test_env_example_lines_work_for_systemd_once_uncommented():
    # data/mock-runner.env.example is also the systemd unit's EnvironmentFile, and systemd
    # keeps an inline "# ..." as part of the value: an uncommented line must hold no comment
    path = os.path.join(os.environ["MOCK_RUNNER_SOURCE_DIR"], "data", "mock-runner.env.example")
    with open(path) as f:
        assignments = [re.sub(r"^# ?", "", l.strip()) for l in f if re.match(r"^(# ?)?[A-Z_]+=", l)]
    assert len(assignments) > 10
    for line in assignments:
        assert "#" not in line.split("=", 1)[1], line
