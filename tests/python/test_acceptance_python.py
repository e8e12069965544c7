"""Acceptance of the in-process Python runner, written as a user would from docs/python.md and
docs/mock-api.md only: the typelib, the Runner wrapper, the journal, signals, reset, seeds,
timing, faults, state, the /_mock/ routes and the pytest plugin (including the docs example,
run as a user would copy it)."""
import gc
import http.client as httpclient
import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import threading
import time

import gi
import pytest

gi.require_version("MockRunner", "1.0")
from gi.repository import GLib, MockRunner  # noqa: E402

from mock_runner import Runner  # noqa: E402

DOCS = os.path.join(os.path.dirname(__file__), "..", "..", "docs")


def http(runner_or_url, method, path, body=None, token=None, headers=None, timeout=10):
    """Plain HTTP as a client under test would send it: (status, headers, parsed body)."""
    url = runner_or_url if isinstance(runner_or_url, str) else runner_or_url.url
    host, port = url.split("//")[1].split(":")
    conn = httpclient.HTTPConnection(host, int(port), timeout=timeout)
    hdrs = dict(headers or {})
    if token:
        hdrs["Authorization"] = "Bearer " + token
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    conn.request(method, path, body=data, headers=hdrs)
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, parsed


def mock(runner, method, path, body=None):
    return http(runner.url, method, path, body, token=runner.token)


def create(runner, sandbox_id, **fields):
    body = {"id": sandbox_id, "userId": "u", "snapshot": "ubuntu:22.04", "osUser": "daytona",
            "cpuQuota": 1, "gpuQuota": 0, "memoryQuota": 1, "storageQuota": 3}
    body.update(fields)
    return mock(runner, "POST", "/sandboxes", body)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def refused(port):
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) != 0


# ---------------------------------------------------------------- the typelib

def test_typelib_exposes_errors_states_and_the_runner():
    assert MockRunner.Error.CONFIG is not None
    assert MockRunner.SandboxState.STARTED != MockRunner.SandboxState.STOPPED
    assert isinstance(MockRunner.error_quark(), int)
    runner = MockRunner.Runner.new()
    assert runner.props.port == 0
    assert runner.props.token  # generated
    assert not runner.props.running


def test_gobject_runner_properties_start_and_stop():
    runner = MockRunner.Runner.new()
    runner.props.token = "acceptance"
    runner.props.sandbox_backend = "sandbox-memory"
    runner.set_option("STRICT", "true")
    port = runner.start()
    try:
        assert port > 0 and runner.props.port == port and runner.props.running
        assert runner.props.url == "http://127.0.0.1:%d" % port
        assert runner.props.token == "acceptance"
        # the option reached the plugin: STRICT answers 404 for an unknown sandbox
        assert http(runner.props.url, "POST", "/sandboxes/nope/stop", {}, token="acceptance")[0] == 404
        # the server runs on its own thread: no main loop here, and a plain call answers
        assert http(runner.props.url, "GET", "/")[0] == 200
    finally:
        runner.stop()
    assert not runner.props.running
    assert refused(port)


def test_start_on_a_taken_port_raises_at_once():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        runner = MockRunner.Runner.new()
        runner.props.port = taken.getsockname()[1]
        begin = time.monotonic()
        with pytest.raises(GLib.Error) as info:
            runner.start()
        assert time.monotonic() - begin < 5
        assert info.value.domain == GLib.quark_to_string(MockRunner.error_quark())


def test_start_with_an_unknown_plugin_raises_a_config_error():
    runner = MockRunner.Runner.new()
    runner.props.sandbox_backend = "no-such-plugin"
    with pytest.raises(GLib.Error) as info:
        runner.start()
    assert info.value.matches(MockRunner.error_quark(), MockRunner.Error.CONFIG) or \
        info.value.domain == GLib.quark_to_string(MockRunner.error_quark())
    assert "no-such-plugin" in info.value.message


def test_configuration_stays_as_started_while_running():
    """Changing the token or an option from the test thread while the server thread reads
    them raced with the requests (the old token string was freed under it)."""
    runner = MockRunner.Runner.new()
    runner.props.token = "first"
    runner.start()
    try:
        runner.props.token = "second"
        runner.set_option("STRICT", "true")
        assert runner.props.token == "first"
        assert http(runner.props.url, "GET", "/info", token="first")[0] == 200
        assert http(runner.props.url, "GET", "/info", token="second")[0] == 401
        assert http(runner.props.url, "POST", "/sandboxes/x/stop", {}, token="first")[0] == 200  # not STRICT
    finally:
        runner.stop()
    runner.props.token = "second"  # stopped: allowed, and used by the next start
    runner.start()
    try:
        assert http(runner.props.url, "GET", "/info", token="second")[0] == 200
    finally:
        runner.stop()


def test_a_control_plane_prefix_of_two_segments_is_refused_at_start():
    runner = MockRunner.Runner.new()
    runner.set_option("CONTROL_PLANE_PREFIX", "/a/b")
    with pytest.raises(GLib.Error) as info:
        runner.start()
    assert info.value.matches(MockRunner.error_quark(), MockRunner.Error.CONFIG)
    assert "CONTROL_PLANE_PREFIX" in info.value.message
    assert not runner.props.running


def test_two_runners_side_by_side_do_not_share_anything():
    with Runner(token="one", seed=1) as a, Runner(token="two", seed=1) as b:
        assert a.port != b.port
        assert create(a, "only-in-a")[0] == 201
        assert a.sandbox_state("only-in-a") == "started"
        assert b.sandbox_state("only-in-a") == "destroyed"
        assert http(a.url, "GET", "/info", token="two")[0] == 401
        assert len(a.requests(path="/sandboxes")) == 1
        assert b.requests(path="/sandboxes") == []


def test_dropping_the_last_reference_stops_the_server():
    runner = MockRunner.Runner.new()
    port = runner.start()
    assert http("http://127.0.0.1:%d" % port, "GET", "/")[0] == 200
    del runner
    gc.collect()
    assert refused(port)


def test_wrapper_stop_then_garbage_collection_is_clean():
    runner = Runner()
    port = runner.start()
    runner.stop()
    runner.stop()  # twice is harmless
    del runner
    gc.collect()
    assert refused(port)


# ---------------------------------------------------------------- journal

def test_journal_entry_fields(mock_runner):
    create(mock_runner, "sb-j")
    status, _, _ = http(mock_runner.url, "POST", "/sandboxes/sb-j/start?token=x", {},
                        token=mock_runner.token, headers={"X-Extra": "1"})
    assert status == 200
    (entry,) = mock_runner.requests("POST", "/sandboxes/{id}/start", "sb-j")
    assert entry.method == "POST"
    assert entry.path == "/sandboxes/sb-j/start"
    assert entry.query == "token=x"
    assert entry.headers["authorization"] == "Bearer [redacted]"
    assert entry.headers["x-extra"] == "1"
    assert entry.body_size == 2
    assert entry.sandbox_id == "sb-j"
    assert entry.route == "/sandboxes/{id}/start"
    assert entry.status == 200 and entry.completed
    assert 0 <= entry.duration < 5
    assert entry.fault is None
    assert entry.time.tzinfo is not None


def test_journal_is_written_before_the_reply(mock_runner):
    seen = []

    def on_served(request):
        # the handler runs before the reply goes out, and the entry is already queryable
        seen.append([(r.path, r.status) for r in mock_runner.requests(path=request.path)])

    mock_runner.connect("request-served", on_served)
    assert http(mock_runner.url, "GET", "/info", token=mock_runner.token)[0] == 200
    assert seen == [[("/info", 200)]]


def test_journal_queries_from_python_and_http(mock_runner):
    create(mock_runner, "a")
    create(mock_runner, "b")
    mock(mock_runner, "POST", "/sandboxes/a/stop")
    mock(mock_runner, "POST", "/sandboxes/b/stop")
    mock(mock_runner, "GET", "/sandboxes/a")

    assert [r.path for r in mock_runner.requests(method="post", path="/sandboxes/*/stop")] == \
        ["/sandboxes/a/stop", "/sandboxes/b/stop"]
    assert [r.path for r in mock_runner.requests(sandbox_id="a")] == \
        ["/sandboxes/a/stop", "/sandboxes/a"]
    assert len(mock_runner.requests(path="/sandboxes/{id}/stop")) == 2

    status, _, body = mock(mock_runner, "GET", "/_mock/requests?method=POST&path=/sandboxes/*/stop&sandboxId=b")
    assert status == 200
    assert body["count"] == 1 and body["dropped"] == 0
    (entry,) = body["requests"]
    assert entry["path"] == "/sandboxes/b/stop" and entry["sandboxId"] == "b"
    assert entry["route"] == "/sandboxes/{id}/stop" and entry["status"] == 200
    assert entry["completed"] is True and isinstance(entry["durationUs"], int)
    assert set(entry) >= {"sequence", "time", "method", "path", "query", "headers", "bodySize",
                          "sandboxId", "route", "fault", "status", "completed", "durationUs"}
    # /_mock/ requests are not journaled
    assert not [r for r in mock_runner.requests() if r.path.startswith("/_mock")]


def test_journal_is_capped_and_clearable(make_mock_runner):
    runner = make_mock_runner(journal_size=3)
    for _ in range(5):
        http(runner.url, "GET", "/")
    _, _, body = mock(runner, "GET", "/_mock/requests")
    assert body["count"] == 3 and body["dropped"] == 2
    last_sequence = body["requests"][-1]["sequence"]

    assert mock(runner, "DELETE", "/_mock/requests")[0] == 204
    assert mock(runner, "GET", "/_mock/requests")[2] == {"requests": [], "count": 0, "dropped": 0}
    http(runner.url, "GET", "/")
    runner.clear_requests()
    assert runner.requests() == []
    http(runner.url, "GET", "/")
    assert runner.requests()[0].sequence > last_sequence  # sequences never go back


# ---------------------------------------------------------------- signals

def test_signals_run_on_the_server_thread_with_their_arguments(mock_runner):
    threads, states, images = set(), [], []
    mock_runner.connect("request-served", lambda r: threads.add(threading.get_ident()))
    mock_runner.connect("sandbox-state-changed", lambda i, old, new: states.append((i, old, new)))
    mock_runner.connect("image-added", lambda ref: images.append(("added", ref)))
    mock_runner.connect("image-removed", lambda ref: images.append(("removed", ref)))

    create(mock_runner, "sig")
    mock(mock_runner, "POST", "/sandboxes/sig/stop")
    assert mock(mock_runner, "POST", "/snapshots/pull", {"snapshot": "busybox:1.36"})[0] == 200
    assert mock(mock_runner, "POST", "/snapshots/remove?snapshot=busybox:1.36")[0] == 200

    assert threads and threading.get_ident() not in threads
    assert ("sig", "creating", "starting") in states
    assert states[-2:] == [("sig", "started", "stopping"), ("sig", "stopping", "stopped")]
    assert ("added", "busybox:1.36") in images and images[-1] == ("removed", "busybox:1.36")


def test_check_reraises_a_handler_exception():
    with Runner() as runner:
        def broken(request):
            raise ValueError("handler broke")

        runner.connect("request-served", broken)
        http(runner.url, "GET", "/")  # the request is still answered
        with pytest.raises(ValueError, match="handler broke"):
            runner.check()
        runner.check()  # reported once


def run_pytest(tmp_path, source, *args, env=None, name="test_user.py"):
    test_file = tmp_path / name
    test_file.write_text(source)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, str(test_file)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=tmp_path,
                          env=env or os.environ.copy())


HANDLER_FAILS = textwrap.dedent("""
    import urllib.request

    def test_handler_raises(mock_runner):
        def broken(sandbox_id, old, new):
            raise RuntimeError("boom in handler " + new)
        mock_runner.connect("sandbox-state-changed", broken)
        mock_runner.create_sandbox("x")

    def test_own_runner_handler_raises(make_mock_runner):
        own = make_mock_runner()
        own.connect("request-served", lambda r: 1 / 0)
        urllib.request.urlopen(own.url + "/").read()

    def test_next_test_is_clean(mock_runner):
        mock_runner.create_sandbox("y")
""")


def test_fixtures_reraise_handler_exceptions_at_teardown(tmp_path):
    result = run_pytest(tmp_path, HANDLER_FAILS, "-p", "mock_runner.pytest_plugin")
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "3 passed, 2 errors" in out, out  # teardown errors count on top of passes
    assert "ERROR at teardown of test_handler_raises" in out
    assert "RuntimeError: boom in handler" in out
    assert "ERROR at teardown of test_own_runner_handler_raises" in out
    assert "ZeroDivisionError" in out


# ---------------------------------------------------------------- reset

def test_reset_returns_to_the_configured_baseline(make_mock_runner):
    runner = make_mock_runner(seed=5, timing=("delay", 40))
    first_uuid = runner.random_uuid()
    runner.set_timing("manual")
    runner.set_timing("immediate", sandbox_id="fast")
    create(runner, "gone")
    mock(runner, "POST", "/snapshots/pull", {"snapshot": "alpine:3"})
    runner.add_fault(path="/info", status=500)

    runner.reset()

    assert runner.requests() == []
    assert runner.faults() == []
    assert runner.export_state()["sandboxes"] == []
    assert mock(runner, "GET", "/snapshots/exists?snapshot=alpine:3")[2] == {"exists": False}
    _, _, timing = mock(runner, "GET", "/_mock/timing")
    assert timing == {"mode": "delay", "delayMs": 40, "sandboxes": {}, "pending": []}
    assert runner.random_uuid() == first_uuid
    assert mock(runner, "GET", "/info")[0] == 200


def test_reset_over_http(mock_runner):
    create(mock_runner, "gone")
    mock_runner.add_fault(path="/nothing", status=500)
    assert mock(mock_runner, "POST", "/_mock/reset")[0] == 204
    assert mock_runner.export_state()["sandboxes"] == []
    assert mock(mock_runner, "GET", "/_mock/faults")[2] == {"faults": []}
    assert mock(mock_runner, "GET", "/_mock/requests")[2]["count"] == 0


def facade_create(runner, **body):
    status, _, dto = mock(runner, "POST", "/api/sandbox", body)
    assert status == 200, dto
    return dto


def test_reset_forgets_the_control_plane_facade(mock_runner):
    dto = facade_create(mock_runner, name="named", labels={"team": "a"})
    assert mock(mock_runner, "GET", "/api/sandbox/named")[2]["id"] == dto["id"]
    assert mock(mock_runner, "POST", "/_mock/reset")[0] == 204
    assert mock(mock_runner, "GET", "/api/sandbox/named")[0] == 404
    assert mock(mock_runner, "GET", "/api/sandbox")[2]["items"] == []
    again = facade_create(mock_runner, name="named", labels={"team": "b"})
    assert again["labels"] == {"team": "b"}


def test_state_import_replaces_the_control_plane_facade_too(mock_runner):
    dto = facade_create(mock_runner, name="before-import", labels={"team": "a"})
    sandbox_id = dto["id"]
    mock_runner.import_state({"sandboxes": [
        {"id": sandbox_id, "state": "stopped", "backupState": "NONE",
         "cpuQuota": 2, "memoryQuota": 4, "storageQuota": 10}]})
    # the name and labels were the facade's view of a sandbox the import replaced
    assert mock(mock_runner, "GET", "/api/sandbox/before-import")[0] == 404
    status, _, after = mock(mock_runner, "GET", "/api/sandbox/" + sandbox_id)
    assert status == 200
    assert after["state"] == "stopped" and after["labels"] == {} and after["cpu"] == 2
    _, _, listed = mock(mock_runner, "GET", '/api/sandbox?labels={"team":"a"}')
    assert listed["items"] == []
    # and the name is free again
    facade_create(mock_runner, name="before-import")


def test_state_import_over_http_forgets_destroyed_facade_sandboxes(mock_runner):
    dto = facade_create(mock_runner, name="deleted-one")
    assert mock(mock_runner, "DELETE", "/api/sandbox/" + dto["id"])[0] == 200
    assert mock(mock_runner, "GET", "/api/sandbox/" + dto["id"])[2]["state"] == "destroyed"
    assert mock(mock_runner, "PUT", "/_mock/state", {"version": 1, "sandboxes": []})[0] == 204
    assert mock(mock_runner, "GET", "/api/sandbox/" + dto["id"])[0] == 404


# ---------------------------------------------------------------- seeds

def seeded_run(seed):
    """The same requests against a fresh runner; the answers a client would compare."""
    with Runner(token="t", seed=seed) as runner:
        answers = [runner.random_uuid(), runner.random_hex(8)]
        dto = facade_create(runner)
        answers.append(dto["id"])
        answers.append(dto["name"])
        create(runner, "seeded")
        mock(runner, "POST", "/snapshots/pull", {"snapshot": "busybox:1.36"})
        answers.append(mock(runner, "GET", "/snapshots/info?snapshot=busybox:1.36")[2]["hash"])
        _, _, snap = mock(runner, "POST", "/sandboxes/seeded/snapshot-from-sandbox",
                          {"name": "snap-1", "registry": {"url": "registry.local"}})
        answers.append(snap)
        box = "/sandboxes/seeded/toolbox"
        mock(runner, "POST", box + "/process/session", {"sessionId": "s"})
        _, _, cmd = mock(runner, "POST", box + "/process/session/s/exec",
                         {"command": "true", "runAsync": True})
        answers.append(cmd["cmdId"])
        runner.add_fault(path="/", probability=0.5, status=503)
        answers.append([http(runner.url, "GET", "/")[0] for _ in range(16)])
        return answers


def test_two_runs_with_the_same_seed_answer_the_same():
    first, second, other = seeded_run(1234), seeded_run(1234), seeded_run(99)
    assert first == second
    assert first[0] != other[0] and first[2] != other[2] and first[6] != other[6]
    assert 503 in first[-1] and 200 in first[-1]
    assert re.fullmatch(r"[0-9a-f-]{36}", first[2])


def test_seed_over_http_is_the_baseline_of_reset(mock_runner):
    assert mock(mock_runner, "POST", "/_mock/seed", {"seed": 42})[0] == 200
    assert mock(mock_runner, "GET", "/_mock/seed")[2] == {"seed": 42}
    assert mock_runner.seed == 42
    first = mock_runner.random_uuid()
    mock(mock_runner, "POST", "/_mock/reset")
    assert mock_runner.random_uuid() == first
    assert mock(mock_runner, "POST", "/_mock/seed?seed=7")[0] == 200
    assert mock(mock_runner, "GET", "/_mock/seed")[2] == {"seed": 7}
    assert mock(mock_runner, "POST", "/_mock/seed", {"seed": None})[0] == 200
    assert mock(mock_runner, "GET", "/_mock/seed")[2] == {"seed": None}
    assert mock(mock_runner, "POST", "/_mock/seed", {"seed": "x"})[0] == 400


SEEDED_SESSION = textwrap.dedent("""
    def test_session_runner_takes_the_seed(mock_runner):
        assert mock_runner.seed == 321
        print("UUID", mock_runner.random_uuid())
""")


def test_session_runner_seed_from_the_environment(tmp_path):
    env = dict(os.environ, MOCK_RUNNER_SEED="321")
    uuids = []
    for _ in range(2):
        result = run_pytest(tmp_path, SEEDED_SESSION, "-s", "-p", "mock_runner.pytest_plugin", env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        uuids.append(re.search(r"UUID (\S+)", result.stdout).group(1))
    assert uuids[0] == uuids[1]


# ---------------------------------------------------------------- timing

def test_manual_timing_from_python_global_and_per_sandbox(mock_runner):
    mock_runner.set_timing("manual")
    mock_runner.set_timing("immediate", sandbox_id="quick")
    create(mock_runner, "held")
    create(mock_runner, "quick")
    assert mock_runner.sandbox_state("held") == "creating"
    assert mock_runner.sandbox_state("quick") == "started"
    assert mock_runner.pending_transitions("held") == 1
    assert mock_runner.pending_transitions() == 1
    assert mock_runner.get_timing("held") == ("manual", 0)
    assert mock_runner.get_timing("quick") == ("immediate", 0)
    assert mock_runner.advance("held") == 1
    assert mock_runner.sandbox_state("held") == "starting"
    mock_runner.advance("held")
    assert mock_runner.sandbox_state("held") == "started"
    mock_runner.unset_timing("quick")
    mock(mock_runner, "POST", "/sandboxes/quick/stop")
    assert mock_runner.sandbox_state("quick") == "stopping"


def test_delay_timing_from_python(mock_runner):
    mock_runner.set_timing("delay", 30)
    create(mock_runner, "slow")
    assert mock_runner.sandbox_state("slow") == "creating"
    mock_runner.wait_for_state("slow", "started", 5)


def test_timing_over_http(mock_runner):
    assert mock(mock_runner, "PUT", "/_mock/timing", {"mode": "manual"})[0] == 200
    assert mock(mock_runner, "PUT", "/_mock/timing/sb-d", {"mode": "delay", "delayMs": 2000})[0] == 200
    create(mock_runner, "sb-m")
    _, _, timing = mock(mock_runner, "GET", "/_mock/timing")
    assert timing["mode"] == "manual"
    assert timing["sandboxes"] == {"sb-d": {"mode": "delay", "delayMs": 2000}}
    assert timing["pending"] == [{"sandboxId": "sb-m", "target": "starting"}]
    assert mock(mock_runner, "POST", "/_mock/timing/advance", {"sandboxId": "sb-m"})[2] == {"advanced": 1}
    assert mock(mock_runner, "POST", "/_mock/timing/advance")[2] == {"advanced": 1}
    assert mock_runner.sandbox_state("sb-m") == "started"
    assert mock(mock_runner, "DELETE", "/_mock/timing/sb-d")[0] == 204
    assert mock(mock_runner, "GET", "/_mock/timing")[2]["sandboxes"] == {}
    assert mock(mock_runner, "PUT", "/_mock/timing", {"mode": "delay", "delayMs": 0})[0] == 400
    assert mock(mock_runner, "PUT", "/_mock/timing", {"mode": "sometimes"})[0] == 400


@pytest.mark.parametrize("method,path,body", [
    ("POST", "/_mock/timing/advance", {"sandboxID": "sb-1"}),   # would advance every sandbox
    ("PUT", "/_mock/timing", {"mode": "delay", "delayms": 500}),
    ("PUT", "/_mock/timing/sb-1", {"mode": "manual", "sandboxId": "sb-2"}),
    ("POST", "/_mock/seed", {"seed": 1, "sead": 2}),
    ("PUT", "/_mock/timing", {"mode": {}}),
])
def test_control_bodies_refuse_what_they_do_not_know(mock_runner, method, path, body):
    status, _, error = mock(mock_runner, method, path, body)
    assert status == 400 and error["code"] == "BAD_REQUEST"
    assert mock(mock_runner, "GET", "/_mock/timing")[2] == {"mode": "immediate", "delayMs": 0,
                                                          "sandboxes": {}, "pending": []}


def test_a_204_keeps_the_connection_usable(mock_runner):
    conn = httpclient.HTTPConnection("127.0.0.1", mock_runner.port, timeout=10)
    auth = {"Authorization": "Bearer " + mock_runner.token}
    try:
        for method, path in (("DELETE", "/_mock/requests"), ("POST", "/_mock/reset"), ("GET", "/_mock/seed")):
            conn.request(method, path, headers=auth)
            resp = conn.getresponse()
            resp.read()
            assert resp.status in (200, 204)
        assert resp.status == 200  # the last one, on the same connection
    finally:
        conn.close()


# ---------------------------------------------------------------- faults

def test_error_fault_by_method_route_and_sandbox_with_a_count(mock_runner, mock_journal):
    fault = mock_runner.add_fault(method="POST", path="/sandboxes/{id}/stop", sandbox_id="x",
                                  status=503, times=1)
    create(mock_runner, "x")
    create(mock_runner, "y")
    assert mock(mock_runner, "POST", "/sandboxes/y/stop")[0] == 200  # other sandbox
    status, headers, body = mock(mock_runner, "POST", "/sandboxes/x/stop")
    assert status == 503
    assert headers["content-type"].startswith("application/json")
    assert body["statusCode"] == 503 and body["code"] == "SERVICE_UNAVAILABLE"
    assert body["path"] == "/sandboxes/x/stop" and body["method"] == "POST"
    assert body["message"] and body["timestamp"]
    assert mock_runner.sandbox_state("x") == "started"  # the route never saw it
    assert mock(mock_runner, "POST", "/sandboxes/x/stop")[0] == 200  # times=1
    assert mock_journal.last("POST", "/sandboxes/x/stop").fault is None
    (hit,) = [r for r in mock_journal.requests("POST", "/sandboxes/x/stop") if r.fault]
    assert hit.fault == fault and hit.status == 503


def test_delay_and_drop_faults(mock_runner):
    mock_runner.add_fault(path="/info", delay_ms=200)
    begin = time.monotonic()
    assert mock(mock_runner, "GET", "/info")[0] == 200
    assert time.monotonic() - begin >= 0.2

    mock_runner.add_fault(path="/sandboxes/*", drop=True, times=1)
    with pytest.raises((ConnectionError, httpclient.HTTPException)):
        mock(mock_runner, "GET", "/sandboxes/any")
    assert mock(mock_runner, "GET", "/sandboxes/any")[0] == 200
    dropped = mock_runner.requests(path="/sandboxes/any")[0]
    assert dropped.status == 0 and dropped.fault


def test_faults_over_http(mock_runner):
    status, _, rule = mock(mock_runner, "POST", "/_mock/faults",
                           {"method": "GET", "path": "/info", "status": 429, "message": "slow down",
                            "times": 2})
    assert status == 201
    assert rule["id"] and rule["action"] == "error" and rule["status"] == 429 and rule["hits"] == 0
    status, _, body = mock(mock_runner, "GET", "/info")
    assert status == 429 and body["message"] == "slow down" and body["code"] == "TOO_MANY_REQUESTS"
    (listed,) = mock(mock_runner, "GET", "/_mock/faults")[2]["faults"]
    assert listed["hits"] == 1
    assert mock(mock_runner, "POST", "/_mock/faults", {"pth": "/info"})[0] == 400
    assert mock(mock_runner, "POST", "/_mock/faults", {"status": 200})[0] == 400
    assert mock(mock_runner, "POST", "/_mock/faults", {"probability": 2})[0] == 400
    assert mock(mock_runner, "DELETE", "/_mock/faults/" + rule["id"])[0] == 204
    assert mock(mock_runner, "DELETE", "/_mock/faults/" + rule["id"])[0] == 404
    mock(mock_runner, "POST", "/_mock/faults", {"path": "/info", "action": "drop"})
    assert mock(mock_runner, "DELETE", "/_mock/faults")[0] == 204
    assert mock(mock_runner, "GET", "/info")[0] == 200
    # /_mock/ itself is out of reach of the rules
    mock(mock_runner, "POST", "/_mock/faults", {"status": 500})
    assert mock(mock_runner, "GET", "/_mock/faults")[0] == 200
    assert mock(mock_runner, "GET", "/info")[0] == 500


# ---------------------------------------------------------------- state

def test_state_export_and_import_between_runners(mock_runner, make_mock_runner):
    create(mock_runner, "kept")
    mock(mock_runner, "POST", "/sandboxes/kept/stop")
    mock(mock_runner, "POST", "/snapshots/pull", {"snapshot": "busybox:1.36"})
    status, _, exported = mock(mock_runner, "GET", "/_mock/state")
    assert status == 200 and exported["version"] == 1
    assert exported == mock_runner.export_state()

    other = make_mock_runner()
    assert mock(other, "PUT", "/_mock/state", exported)[0] == 204
    assert other.sandbox_state("kept") == "stopped"
    assert mock(other, "GET", "/snapshots/exists?snapshot=busybox:1.36")[2] == {"exists": True}
    assert other.export_state() == exported


@pytest.mark.parametrize("record", [
    {"sandboxes": [{"id": "x", "cpuQuta": 2}]},             # misspelt: must not read as 0
    {"sandboxes": [{"id": "x", "cpuQuota": "2"}]},
    {"sandboxes": [{"id": "x", "env": {"A": 1}}]},
    {"sandboxes": [{"id": "x", "networkBlockAll": "yes"}]},
    {"images": [{"ref": "x", "sizeByte": 5}]},
    {"images": [{"ref": "x", "cmd": "sleep"}]},
])
def test_state_import_refuses_unknown_or_mistyped_members(mock_runner, record):
    before = mock_runner.export_state()
    status, _, body = mock(mock_runner, "PUT", "/_mock/state", dict(record, version=1))
    assert status == 400, body
    member = next(iter(record[next(iter(record))][0].keys() - {"id", "ref"}))
    assert member in body["message"]
    assert mock_runner.export_state() == before


def test_state_import_is_all_or_nothing(mock_runner):
    create(mock_runner, "stays")
    before = mock_runner.export_state()
    bad = {"version": 1, "sandboxes": [], "images": [{"ref": "x", "sizeBytes": "big"}]}
    status, _, body = mock(mock_runner, "PUT", "/_mock/state", bad)
    assert status == 400 and body["code"] == "BAD_REQUEST"
    assert mock_runner.export_state() == before
    assert mock(mock_runner, "PUT", "/_mock/state", {"version": 2})[0] == 400
    assert mock(mock_runner, "PUT", "/_mock/state", {"version": 1, "bogus": []})[0] == 400
    with pytest.raises(Exception):
        mock_runner.import_state({"sandboxes": [{"id": "x", "state": "nonsense"}]})
    assert mock_runner.export_state() == before


# ---------------------------------------------------------------- /_mock/ auth

@pytest.mark.parametrize("method,path", [
    ("GET", "/_mock/requests"), ("DELETE", "/_mock/requests"), ("POST", "/_mock/reset"),
    ("GET", "/_mock/seed"), ("POST", "/_mock/seed"), ("GET", "/_mock/timing"),
    ("PUT", "/_mock/timing"), ("PUT", "/_mock/timing/x"), ("DELETE", "/_mock/timing/x"),
    ("POST", "/_mock/timing/advance"), ("GET", "/_mock/faults"), ("POST", "/_mock/faults"),
    ("DELETE", "/_mock/faults"), ("DELETE", "/_mock/faults/fault-1"), ("GET", "/_mock/state"),
    ("PUT", "/_mock/state"),
])
def test_mock_routes_need_the_token(mock_runner, method, path):
    status, _, body = http(mock_runner.url, method, path, {})
    assert status == 401 and body["statusCode"] == 401 and body["code"] == "UNAUTHORIZED"
    status, _, _ = http(mock_runner.url, method, path, {}, token="wrong")
    assert status == 401
    status, _, _ = http(mock_runner.url, "GET", "/_mock/seed",
                        headers={"X-Daytona-Authorization": "Bearer " + mock_runner.token})
    assert status == 200


# ---------------------------------------------------------------- pytest plugin

def test_per_test_runner_is_reset_first_part_1(mock_runner):
    create(mock_runner, "leftover")
    mock_runner.add_fault(path="/nowhere", status=500)
    mock_runner.set_timing("manual")


def test_per_test_runner_is_reset_first_part_2(mock_runner, mock_journal):
    mock_journal.assert_not_called()
    assert mock_runner.faults() == []
    assert mock_runner.export_state()["sandboxes"] == []
    assert mock_runner.get_timing() == ("immediate", 0)


def test_session_runner_is_one_runner(mock_runner, mock_runner_session):
    assert mock_runner is mock_runner_session or mock_runner.url == mock_runner_session.url


FACTORY = textwrap.dedent("""
    def test_factory(sandbox_factory, mock_runner):
        first = sandbox_factory()
        named = sandbox_factory("named", cpuQuota=2)
        assert (first.id, named.id) == ("sandbox-1", "named")
        assert mock_runner.sandbox_state("named") == "started"
        assert mock_runner.export_state()["sandboxes"][-1]["cpuQuota"] == 2 or \\
            [s for s in mock_runner.export_state()["sandboxes"] if s["id"] == "named"][0]["cpuQuota"] == 2

    def test_factory_cleaned_up(mock_runner_session):
        assert mock_runner_session.sandbox_state("named") == "destroyed"
        assert mock_runner_session.sandbox_state("sandbox-1") == "destroyed"
        destroys = mock_runner_session.requests("POST", "/sandboxes/{id}/destroy")
        assert sorted(r.sandbox_id for r in destroys) == ["named", "sandbox-1"]
""")


def test_sandbox_factory_creates_through_the_api_and_destroys_at_teardown(tmp_path):
    result = run_pytest(tmp_path, FACTORY, "-p", "mock_runner.pytest_plugin")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_journal_assertion_helpers(mock_runner, mock_journal):
    create(mock_runner, "h")
    mock(mock_runner, "POST", "/sandboxes/h/stop")
    mock(mock_runner, "POST", "/sandboxes/h/start", {})
    assert mock_journal.assert_called_once("POST", "/sandboxes").status == 201
    assert len(mock_journal.assert_called("POST", "/sandboxes/*", sandbox_id="h", times=2)) == 2
    mock_journal.assert_called("POST", "/sandboxes/{id}/stop", status=200)
    mock_journal.assert_not_called("DELETE")
    mock_journal.assert_sequence(("POST", "/sandboxes"), ("POST", "/sandboxes/{id}/start"))
    assert mock_journal.count("POST") == 3
    assert mock_journal.last("POST").path == "/sandboxes/h/start"
    with pytest.raises(AssertionError) as failure:
        mock_journal.assert_sequence(("POST", "/sandboxes/{id}/start"), ("POST", "/sandboxes/{id}/stop"))
    assert "/sandboxes/h/stop" in str(failure.value)  # lists the journal
    with pytest.raises(AssertionError):
        mock_journal.assert_called("GET", "/info")
    with pytest.raises(AssertionError):
        mock_journal.assert_called_once("POST", "/sandboxes/*")
    mock_journal.clear()
    mock_journal.assert_not_called()


def docs_example():
    with open(os.path.join(DOCS, "python.md")) as f:
        text = f.read()
    section = text.split("## A complete example", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_docs_example_runs_as_written(tmp_path):
    result = run_pytest(tmp_path, docs_example(), "-p", "mock_runner.pytest_plugin",
                        name="test_my_client.py")
    assert result.returncode == 0, result.stdout + result.stderr
    n_tests = len(re.findall(r"^def test_", docs_example(), re.M))
    assert "%d passed" % n_tests in result.stdout, result.stdout
