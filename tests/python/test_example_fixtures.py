"""An example test file for users: it uses only the public fixtures of mock_runner's
pytest plugin (mock_runner, sandbox_factory, mock_journal, make_mock_runner).

Run it from a source tree with `pytest -p mock_runner.pytest_plugin`; with the package
installed the plugin loads by itself. See docs/python.md."""
import pytest


def test_create_and_stop(mock_runner, sandbox_factory, mock_journal):
    sandbox = sandbox_factory()
    assert sandbox.state == "started"

    assert sandbox.stop().status == 200
    assert sandbox.state == "stopped"

    mock_journal.assert_called_once("POST", "/sandboxes")
    mock_journal.assert_called("POST", "/sandboxes/{id}/stop", sandbox_id=sandbox.id, times=1)


def test_every_test_starts_clean(mock_runner, mock_journal):
    # whatever the previous test did is gone
    mock_journal.assert_not_called()
    assert mock_runner.get("/sandboxes/sandbox-1").json()["state"] == "destroyed"


def test_polling_sees_intermediate_states(mock_runner, sandbox_factory):
    mock_runner.set_timing("manual")
    sandbox = sandbox_factory()
    assert sandbox.state == "creating"
    mock_runner.advance(sandbox.id)
    assert sandbox.state == "starting"
    mock_runner.advance(sandbox.id)
    assert sandbox.state == "started"


def test_client_retries_after_a_503(mock_runner, mock_journal):
    mock_runner.add_fault(method="POST", path="/sandboxes", status=503, times=1)

    def create_with_retry(sandbox_id):
        for _ in range(3):
            response = mock_runner.post("/sandboxes", json={
                "id": sandbox_id, "userId": "user-1", "snapshot": "ubuntu:22.04", "osUser": "daytona",
                "cpuQuota": 1, "gpuQuota": 0, "memoryQuota": 1, "storageQuota": 3})
            if response.status != 503:
                return response
        return response

    assert create_with_retry("retried").status == 201
    statuses = [r.status for r in mock_journal.requests("POST", "/sandboxes")]
    assert statuses == [503, 201]


def test_assert_on_what_the_runner_saw(mock_runner, sandbox_factory):
    states = []
    mock_runner.connect("sandbox-state-changed", lambda sandbox_id, old, new: states.append(new))
    sandbox_factory("watched")
    assert states == ["creating", "starting", "started"]


def test_start_from_a_prepared_state(mock_runner):
    mock_runner.import_state({
        "sandboxes": [{"id": "prepared", "state": "stopped", "backupState": "NONE", "cpuQuota": 2,
                       "memoryQuota": 4, "storageQuota": 10}],
        "images": [{"ref": "my-app:1.0", "sizeBytes": 1048576}],
    })
    assert mock_runner.sandbox_state("prepared") == "stopped"
    assert mock_runner.get("/snapshots/exists?snapshot=my-app:1.0").json() == {"exists": True}


def test_dedicated_runner_with_its_own_options(make_mock_runner):
    strict = make_mock_runner(options={"STRICT": "true"}, seed=1)
    assert strict.post("/sandboxes/unknown/stop", json={}).status == 404


@pytest.mark.parametrize("path", ["/info", "/sandboxes/x"])
def test_slow_runner(mock_runner, path):
    mock_runner.add_fault(path=path, delay_ms=50)
    assert mock_runner.get(path).status == 200
    assert mock_runner.journal.last(path=path).duration >= 0.05
