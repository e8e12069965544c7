"""Signals a test connects to, the thread they run on, and handler errors at teardown."""
import os
import subprocess
import sys
import textwrap
import threading

import pytest


def test_request_served_before_the_reply(mock_runner):
    seen = []

    def on_request(request):
        # already in the journal, with its status
        journal = mock_runner.requests()
        seen.append((request.method, request.path, request.status, journal[-1].sequence == request.sequence,
                     threading.current_thread() is threading.main_thread()))

    mock_runner.connect("request-served", on_request)
    assert mock_runner.get("/sandboxes/s-1").status == 200
    # the handler ran before the response reached us, on the server thread
    assert seen == [("GET", "/sandboxes/s-1", 200, True, False)]


def test_sandbox_state_changes(mock_runner):
    changes = []
    mock_runner.connect("sandbox-state-changed", lambda *change: changes.append(change))
    mock_runner.create_sandbox("st-1")
    mock_runner.post("/sandboxes/st-1/stop", json={})
    assert changes == [
        ("st-1", "unknown", "creating"),
        ("st-1", "creating", "starting"),
        ("st-1", "starting", "started"),
        ("st-1", "started", "stopping"),
        ("st-1", "stopping", "stopped"),
    ]


def test_image_added_and_removed(mock_runner):
    added, removed = [], []
    mock_runner.connect("image-added", added.append)
    mock_runner.connect("image-removed", removed.append)
    assert mock_runner.post("/snapshots/pull", json={"snapshot": "alpine:3.19"}).status == 200
    assert mock_runner.post("/snapshots/remove?snapshot=alpine:3.19").status in (200, 204)
    assert added == ["alpine:3.19"]
    assert removed == ["alpine:3.19"]


def test_raw_gobject_signal(mock_runner):
    got = []
    handler = mock_runner.gobject.connect("request-served", lambda runner, entry: got.append(entry.get_status()))
    try:
        mock_runner.get("/")
    finally:
        mock_runner.gobject.disconnect(handler)
    assert got == [200]


def test_handler_errors_are_kept_and_reraised(mock_runner):
    def broken(request):
        raise ValueError(f"boom on {request.path}")

    mock_runner.connect("request-served", broken)
    # the request itself is not affected
    assert mock_runner.get("/").status == 200
    assert mock_runner.get("/info").status == 200
    with pytest.raises(ValueError, match="boom on /") as e:
        mock_runner.check()
    assert any("boom on /info" in note for note in getattr(e.value, "__notes__", []))
    mock_runner.check()  # forgotten once raised
    mock_runner.disconnect_all()


FAILING_TEST = textwrap.dedent("""
    def test_handler_fails(mock_runner):
        def on_request(request):
            assert request.status == 404, "the handler saw " + str(request.status)
        mock_runner.connect("request-served", on_request)
        assert mock_runner.get("/").status == 200

    def test_next_test_is_clean(mock_runner):
        assert mock_runner.requests() == []
        assert mock_runner.get("/").status == 200
""")


def test_fixture_reraises_handler_errors_at_teardown(tmp_path):
    test_file = tmp_path / "test_failing_handler.py"
    test_file.write_text(FAILING_TEST)
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "-p", "mock_runner.pytest_plugin", str(test_file)],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path, env=dict(os.environ))
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "the handler saw 200" in output
    # the test body passed; its teardown reports the handler's failure; the next test is clean
    assert "2 passed, 1 error" in output, output
    assert "ERROR test_failing_handler.py::test_handler_fails" in output, output
