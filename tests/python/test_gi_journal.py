"""The request journal from Python and over GET /_mock/requests."""
import pytest


def create_body(sandbox_id):
    return {"id": sandbox_id, "userId": "u", "snapshot": "ubuntu:22.04", "osUser": "daytona",
            "cpuQuota": 1, "gpuQuota": 0, "memoryQuota": 1, "storageQuota": 3}


def test_records_what_was_asked_and_answered(mock_runner):
    body = create_body("sb-1")
    assert mock_runner.post("/sandboxes", json=body, headers={"X-Trace": "abc"}).status == 201
    assert mock_runner.get("/sandboxes/sb-1?x=1").status == 200
    assert mock_runner.get("/nope").status == 404

    create, get, missing = mock_runner.requests()
    assert (create.method, create.path, create.status, create.route) == ("POST", "/sandboxes", 201, "/sandboxes")
    assert create.body_size == len(__import__("json").dumps(body))
    assert create.headers["x-trace"] == "abc"
    assert create.headers["authorization"] == "Bearer [redacted]"
    assert create.completed and create.duration >= 0
    assert (get.sandbox_id, get.query, get.route) == ("sb-1", "x=1", "/sandboxes/{id}")
    assert get.sequence == create.sequence + 1
    assert missing.status == 404 and missing.route is None


def test_queries(mock_runner, sandbox_factory):
    a, b = sandbox_factory("q-a"), sandbox_factory("q-b")
    a.stop()
    b.stop()
    assert a.state == "stopped"
    assert len(mock_runner.requests(method="post")) == 4
    assert len(mock_runner.requests(sandbox_id="q-a")) == 2
    assert len(mock_runner.requests(path="/sandboxes/{id}/stop")) == 2
    assert len(mock_runner.requests(path="/sandboxes/q-*")) == 3
    assert mock_runner.requests(method="DELETE") == []


def test_over_http(mock_runner):
    mock_runner.post("/sandboxes", json=create_body("h-1"))
    mock_runner.get("/sandboxes/h-1")
    reply = mock_runner.get("/_mock/requests?method=GET")
    assert reply.status == 200
    data = reply.json()
    assert data["count"] == 1 and data["dropped"] == 0
    (entry,) = data["requests"]
    assert entry["path"] == "/sandboxes/h-1"
    assert entry["sandboxId"] == "h-1"
    assert entry["status"] == 200 and entry["completed"] is True
    assert entry["route"] == "/sandboxes/{id}"
    assert entry["headers"]["authorization"] == "Bearer [redacted]"
    assert isinstance(entry["durationUs"], int)
    assert entry["time"].endswith("Z")

    assert mock_runner.get("/_mock/requests", auth=False).status == 401
    assert mock_runner.delete("/_mock/requests").status == 204
    assert mock_runner.requests() == []


def test_control_routes_are_not_recorded(mock_runner):
    mock_runner.get("/_mock/faults")
    mock_runner.get("/_mock/timing")
    mock_runner.get("/_mock/nothing")
    assert mock_runner.requests() == []


def test_journal_cap(make_mock_runner):
    runner = make_mock_runner(journal_size=2)
    for i in range(5):
        runner.get(f"/sandboxes/c{i}")
    assert [r.path for r in runner.requests()] == ["/sandboxes/c3", "/sandboxes/c4"]
    assert runner.get("/_mock/requests").json()["dropped"] == 3


def test_journal_helpers(mock_runner, mock_journal, sandbox_factory):
    sandbox = sandbox_factory("jh-1")
    sandbox.stop()
    sandbox.start()
    mock_journal.assert_called("POST", "/sandboxes/{id}/stop", sandbox_id="jh-1", times=1)
    assert mock_journal.assert_called_once("POST", "/sandboxes").status == 201
    mock_journal.assert_not_called("DELETE")
    mock_journal.assert_sequence(("POST", "/sandboxes"), ("POST", "*/stop"), ("POST", "*/start"))
    with pytest.raises(AssertionError, match="after the previous"):
        mock_journal.assert_sequence(("POST", "*/start"), ("POST", "*/stop"))
    with pytest.raises(AssertionError, match="expected none"):
        mock_journal.assert_not_called("POST", "/sandboxes")
    with pytest.raises(AssertionError, match="expected 2"):
        mock_journal.assert_called("POST", "/sandboxes", times=2)
    assert mock_journal.count(status=200) == 2
    assert mock_journal.last("POST").path == "/sandboxes/jh-1/start"
    mock_journal.clear()
    assert mock_journal.count() == 0


def test_entries_are_copies(mock_runner):
    """What a test holds does not change afterwards (a boxed copy, not the live entry)."""
    mock_runner.get("/")
    first = mock_runner.gobject.get_requests(None, None, None)[0]
    mock_runner.clear_requests()
    mock_runner.get("/")
    assert first.get_path() == "/" and first.get_status() == 200
