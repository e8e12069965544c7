"""MockRunner through GObject Introspection: the typelib, the runner object, its lifecycle."""
import gc
import os
import socket
import urllib.request

import gi
import pytest

gi.require_version("MockRunner", "1.0")
gi.require_version("GIRepository", "2.0")
from gi.repository import GIRepository, GLib, MockRunner  # noqa: E402

from mock_runner import Runner  # noqa: E402


def http_status(url, path="/", token=None):
    request = urllib.request.Request(url + path, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def test_typelib_comes_from_the_build_tree():
    path = GIRepository.Repository.get_default().get_typelib_path("MockRunner")
    assert path.startswith(os.environ["MOCK_RUNNER_BUILD_DIR"]), path


def test_error_domain_and_enums_are_visible():
    assert MockRunner.Error.NOT_FOUND != MockRunner.Error.CONFIG
    assert MockRunner.SandboxState.STARTED.value_nick == "started"
    assert MockRunner.sandbox_state_to_string(MockRunner.SandboxState.STOPPING) == "stopping"
    assert MockRunner.TimingMode.MANUAL.value_nick == "manual"
    assert MockRunner.FaultAction.DROP.value_nick == "drop"
    assert GLib.quark_to_string(MockRunner.error_quark()) == "mr-error-quark"


def test_new_start_stop():
    runner = MockRunner.Runner.new()
    assert runner.props.port == 0
    assert runner.props.running is False
    assert runner.props.url is None
    assert runner.props.token  # generated
    port = runner.start()
    assert port > 0
    assert runner.props.port == port
    assert runner.props.running is True
    assert runner.props.url == f"http://127.0.0.1:{port}"
    assert http_status(runner.props.url, "/info", runner.props.token) == 200
    assert http_status(runner.props.url, "/info", "wrong") == 401
    runner.stop()
    assert runner.props.running is False
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_properties_token_plugins_options():
    runner = MockRunner.Runner(token="secret-1", sandbox_backend="sandbox-memory", image_backend="image-memory",
                               toolbox_backend="toolbox-local", options=["STRICT=true"])
    assert runner.props.token == "secret-1"
    assert "STRICT=true" in runner.props.options
    runner.start()
    try:
        assert runner.get_option("STRICT") == "true"
        # STRICT: an unknown sandbox is a 404 on stop
        req = urllib.request.Request(runner.props.url + "/sandboxes/nope/stop", data=b"{}", method="POST",
                                     headers={"Authorization": "Bearer secret-1"})
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        assert e.value.code == 404
    finally:
        runner.stop()


def test_two_runners_side_by_side():
    a, b = Runner(token="a"), Runner(token="b")
    try:
        pa, pb = a.start(), b.start()
        assert pa != pb
        a.create_sandbox("only-in-a")
        assert a.sandbox_state("only-in-a") == "started"
        assert b.sandbox_state("only-in-a") == "destroyed"
        assert b.get("/info", headers={"Authorization": "Bearer a"}, auth=False).status == 401
        assert len(a.requests()) == 2 and len(b.requests()) == 2
    finally:
        a.stop()
        b.stop()


def test_start_errors_are_glib_errors():
    taken = Runner()
    taken.start()
    try:
        clash = MockRunner.Runner(port=taken.port)
        with pytest.raises(GLib.Error) as e:
            clash.start()
        assert e.value.matches(MockRunner.error_quark(), MockRunner.Error.CONFIG)
        assert "already in use" in e.value.message
        assert clash.props.running is False
    finally:
        taken.stop()

    bad = MockRunner.Runner(sandbox_backend="no-such-plugin")
    with pytest.raises(GLib.Error) as e:
        bad.start()
    assert e.value.matches(MockRunner.error_quark(), MockRunner.Error.PLUGIN)
    assert "no-such-plugin" in e.value.message

    bad_option = MockRunner.Runner(options=["MOCK_RUNNER_SEED=minus-one"])
    with pytest.raises(GLib.Error) as e:
        bad_option.start()
    assert e.value.matches(MockRunner.error_quark(), MockRunner.Error.CONFIG)


def test_start_twice_is_an_error_and_restart_works():
    runner = Runner()
    runner.start()
    try:
        with pytest.raises(GLib.Error):
            runner.start()
    finally:
        runner.stop()
    port = runner.start()
    assert port > 0 and http_status(runner.url) == 200
    runner.stop()


def test_dropping_the_last_reference_stops_it():
    runner = MockRunner.Runner.new()
    port = runner.start()
    assert http_status(f"http://127.0.0.1:{port}") == 200
    del runner
    gc.collect()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_dropping_the_wrapper_with_handlers_connected_stops_it():
    runner = Runner()
    port = runner.start()
    seen = []
    runner.connect("request-served", seen.append)
    assert runner.get("/").status == 200
    assert len(seen) == 1
    del runner
    gc.collect()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_blocking_calls_from_python_threads():
    import concurrent.futures

    with Runner() as runner:
        def create(i):
            return runner.post("/sandboxes", json={"id": f"t-{i}", "userId": "u", "snapshot": "s:1",
                                                   "osUser": "daytona", "cpuQuota": 1, "gpuQuota": 0,
                                                   "memoryQuota": 1, "storageQuota": 3}).status

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            assert set(pool.map(create, range(32))) == {201}
        assert len(runner.requests(method="POST")) == 32


def test_context_manager():
    with Runner() as runner:
        url = runner.url
        assert http_status(url) == 200
    assert not runner.running


def test_without_gi_the_suite_fails_instead_of_vanishing(tmp_path):
    """A Python without PyGObject must make the GI tests fail, not skip or pass."""
    import subprocess
    import sys

    fake = tmp_path / "fake" / "gi"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('no PyGObject here')\n")
    (tmp_path / "test_uses_runner.py").write_text("def test_it(mock_runner):\n    assert mock_runner.url\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "fake"), os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "-p", "mock_runner.pytest_plugin", "test_uses_runner.py"],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert result.returncode not in (0, 5, 77), result.stdout + result.stderr
    assert "no PyGObject here" in result.stdout + result.stderr
