"""Reset, seeded ids, lifecycle timing, fault rules and state export/import, from Python
and over /_mock/."""
import http.client
import time

import pytest
from gi.repository import GLib, MockRunner

from mock_runner import Runner


# Reset --------------------------------------------------------------------------------

def test_reset_returns_to_the_baseline(make_mock_runner):
    runner = make_mock_runner(seed=3, timing=("delay", 60000))
    runner.create_sandbox("r-1")
    runner.post("/snapshots/pull", json={"snapshot": "busybox:1"})
    runner.add_fault(path="/info", status=500)
    runner.set_timing("manual")
    runner.set_timing("immediate", sandbox_id="r-2")
    uuid_after_seed = Runner(seed=3).random_uuid()
    runner.random_uuid()

    runner.reset()
    assert runner.sandbox_state("r-1") == "destroyed"
    assert runner.get("/snapshots/exists?snapshot=busybox:1").json() == {"exists": False}
    assert runner.get("/info").status == 200
    assert runner.faults() == []
    assert runner.get_timing() == ("delay", 60000)
    assert runner.get_timing("r-2") == ("delay", 60000)
    assert runner.pending_transitions() == 0
    assert runner.random_uuid() == uuid_after_seed
    assert [r.path for r in runner.requests()] == ["/sandboxes/r-1", "/snapshots/exists", "/info"]


def test_keep_alive_client_after_a_204(mock_runner):
    """After a 204 from a control the connection stays usable (libsoup 3.2 would close it
    silently), so a keep-alive client's next request on it works."""
    conn = http.client.HTTPConnection("127.0.0.1", mock_runner.port, timeout=10)
    headers = {"Authorization": f"Bearer {mock_runner.token}"}
    try:
        for path in ("/_mock/reset", "/_mock/requests", "/_mock/faults"):
            conn.request("POST" if path == "/_mock/reset" else "DELETE", path, headers=headers)
            response = conn.getresponse()
            response.read()
            assert response.status == 204
            sock = conn.sock
            assert sock is not None
            conn.request("GET", "/_mock/seed", headers=headers)
            response = conn.getresponse()
            assert response.status == 200, response.read()
            response.read()
            assert conn.sock is sock
    finally:
        conn.close()


def test_reset_over_http(mock_runner, sandbox_factory):
    sandbox_factory("rh-1")
    assert mock_runner.post("/_mock/reset").status == 204
    assert mock_runner.requests() == []
    assert mock_runner.sandbox_state("rh-1") == "destroyed"


# Seeded ids ---------------------------------------------------------------------------

def test_same_seed_same_ids():
    a, b, c = Runner(seed=42), Runner(seed=42), Runner(seed=43)
    ids_a = [a.random_uuid() for _ in range(3)] + [a.random_hex(8)]
    ids_b = [b.random_uuid() for _ in range(3)] + [b.random_hex(8)]
    ids_c = [c.random_uuid() for _ in range(3)] + [c.random_hex(8)]
    assert ids_a == ids_b
    assert ids_a != ids_c
    assert len(set(ids_a)) == 4


def test_unseeded_runners_differ():
    assert Runner().random_uuid() != Runner().random_uuid()


def test_seed_over_http(mock_runner):
    assert mock_runner.post("/_mock/seed", json={"seed": 9}).json() == {"seed": 9}
    assert mock_runner.get("/_mock/seed").json() == {"seed": 9}
    assert mock_runner.seed == 9
    first = mock_runner.random_uuid()
    assert mock_runner.post("/_mock/seed?seed=9").status == 200
    assert mock_runner.random_uuid() == first
    assert mock_runner.post("/_mock/seed", json={"seed": "nine"}).status == 400
    assert mock_runner.post("/_mock/seed", json={}).status == 400
    assert mock_runner.post("/_mock/seed", json={"seed": None}).json() == {"seed": None}
    assert mock_runner.seed is None


def test_seed_from_the_environment_of_the_standalone_server(make_runner):
    standalone = make_runner(env={"MOCK_RUNNER_SEED": "5", "MOCK_RUNNER_TIMING": "manual"})
    assert standalone.get("/_mock/seed").json() == {"seed": 5}
    standalone.create_sandbox("env-1")
    assert standalone.get("/sandboxes/env-1").json()["state"] == "creating"
    assert standalone.post("/_mock/timing/advance", {}).json() == {"advanced": 1}


# Timing -------------------------------------------------------------------------------

def test_manual_timing(mock_runner, sandbox_factory):
    mock_runner.set_timing("manual")
    sandbox = sandbox_factory("m-1")
    assert sandbox.state == "creating"
    assert mock_runner.pending_transitions("m-1") == 1
    assert mock_runner.advance("m-1") == 1
    assert sandbox.state == "starting"
    assert mock_runner.advance() == 1
    assert sandbox.state == "started"
    sandbox.stop()
    assert sandbox.state == "stopping"
    mock_runner.advance("m-1")
    assert sandbox.state == "stopped"


def test_delay_timing_shows_intermediate_states(mock_runner, sandbox_factory):
    mock_runner.set_timing("delay", 300)
    seen = []
    mock_runner.connect("sandbox-state-changed", lambda sandbox_id, old, new: seen.append(new))
    start = time.monotonic()
    sandbox = sandbox_factory("d-1")
    sandbox.wait_for_state("started", timeout=20)
    # two transitions of at least 300 ms each
    assert time.monotonic() - start >= 0.6
    assert seen == ["creating", "starting", "started"]


def test_per_sandbox_timing_over_http(mock_runner, sandbox_factory):
    assert mock_runner.put("/_mock/timing/slow-1", json={"mode": "manual"}).status == 200
    fast, slow = sandbox_factory("fast-1"), sandbox_factory("slow-1")
    assert fast.state == "started"
    assert slow.state == "creating"
    timing = mock_runner.get("/_mock/timing").json()
    assert timing["mode"] == "immediate"
    assert timing["sandboxes"] == {"slow-1": {"mode": "manual", "delayMs": 0}}
    assert timing["pending"] == [{"sandboxId": "slow-1", "target": "starting"}]
    assert mock_runner.post("/_mock/timing/advance", json={"sandboxId": "slow-1"}).json() == {"advanced": 1}
    assert mock_runner.delete("/_mock/timing/slow-1").status == 204
    assert slow.state == "started"
    assert mock_runner.put("/_mock/timing", json={"mode": "sometimes"}).status == 400


def test_timing_mode_names():
    with pytest.raises(ValueError):
        Runner(timing="sometimes")


# Faults -------------------------------------------------------------------------------

def test_error_fault_from_python(mock_runner, mock_journal):
    fault_id = mock_runner.add_fault(method="POST", path="/sandboxes/{id}/start", sandbox_id="f-1",
                                     status=503, message="service unavailable: try later", times=1)
    mock_runner.create_sandbox("f-1")
    mock_runner.create_sandbox("f-2")
    assert mock_runner.post("/sandboxes/f-2/start", json={}).status == 200
    reply = mock_runner.post("/sandboxes/f-1/start", json={})
    assert reply.status == 503
    assert reply.json()["message"] == "service unavailable: try later"
    assert reply.json()["code"] == "SERVICE_UNAVAILABLE"
    assert mock_runner.post("/sandboxes/f-1/start", json={}).status == 200
    (rule,) = mock_runner.faults()
    assert rule["id"] == fault_id and rule["hits"] == 1 and rule["times"] == 1
    assert mock_journal.assert_called("POST", "*/start", sandbox_id="f-1", status=503, times=1)[0].fault == fault_id


def test_delay_fault(mock_runner):
    mock_runner.add_fault(path="/info", delay_ms=250)
    start = time.monotonic()
    assert mock_runner.get("/info").status == 200
    assert time.monotonic() - start >= 0.25
    assert mock_runner.faults()[0]["action"] == "delay"


def test_drop_fault(mock_runner):
    mock_runner.add_fault(path="/sandboxes/*", drop=True, times=1)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        mock_runner.get("/sandboxes/gone")
    assert mock_runner.get("/sandboxes/gone").status == 200
    dropped, served = mock_runner.requests(path="/sandboxes/gone")
    assert dropped.status == 0 and dropped.completed and dropped.fault
    assert served.status == 200 and served.fault is None


def test_seeded_probability_is_reproducible(make_mock_runner):
    def pattern(seed):
        runner = make_mock_runner(seed=seed)
        runner.add_fault(path="/info", status=500, probability=0.3)
        return "".join("x" if runner.get("/info").status == 500 else "." for _ in range(30))

    first, second = pattern(11), pattern(11)
    assert first == second
    assert "x" in first and "." in first


def test_invalid_fault_rules(mock_runner):
    with pytest.raises(GLib.Error) as e:
        mock_runner.add_fault(status=302)
    assert e.value.matches(MockRunner.error_quark(), MockRunner.Error.INVALID_ARGUMENT)
    reply = mock_runner.post("/_mock/faults", json={"sandbox_id": "x"})
    assert reply.status == 400
    assert "unknown field 'sandbox_id'" in reply.json()["message"]


def test_faults_over_http(mock_runner):
    reply = mock_runner.post("/_mock/faults", json={"path": "/info", "status": 429, "times": 2})
    assert reply.status == 201
    rule = reply.json()
    assert rule["action"] == "error" and rule["status"] == 429
    assert mock_runner.get("/info").status == 429
    assert mock_runner.get("/_mock/faults").json()["faults"][0]["hits"] == 1
    assert mock_runner.delete(f"/_mock/faults/{rule['id']}").status == 204
    assert mock_runner.delete(f"/_mock/faults/{rule['id']}").status == 404
    assert mock_runner.get("/info").status == 200


# State export / import ----------------------------------------------------------------

def test_export_import_round_trip(make_mock_runner):
    source = make_mock_runner()
    source.create_sandbox("ex-1", cpuQuota=4, env={"A": "1"})
    source.create_sandbox("ex-2")
    source.post("/sandboxes/ex-2/stop", json={})
    assert source.post("/snapshots/build", json={"snapshot": "built:1", "dockerfile": "FROM alpine\nRUN true",
                                                 "organizationId": "org-1"}).status == 200
    state = source.export_state()
    assert state["version"] == 1
    assert {s["id"]: s["state"] for s in state["sandboxes"]} == {"ex-1": "started", "ex-2": "stopped"}

    target = make_mock_runner()
    target.import_state(state)
    assert target.export_state() == state
    assert target.sandbox_state("ex-1") == "started"
    assert target.sandbox_state("ex-2") == "stopped"
    assert target.get("/snapshots/exists?snapshot=built:1").json() == {"exists": True}
    assert target.get("/snapshots/logs?snapshotRef=built:1").text.startswith("Mock build log for built:1")


def test_state_over_http_and_all_or_nothing(mock_runner, sandbox_factory):
    sandbox_factory("keep-1")
    state = mock_runner.get("/_mock/state").json()
    assert [s["id"] for s in state["sandboxes"]] == ["keep-1"]

    prepared = {"sandboxes": [dict(state["sandboxes"][0], id="prepared-1", state="stopped")],
                "images": [{"ref": "prepared:1", "sizeBytes": 1024}]}
    assert mock_runner.put("/_mock/state", json=prepared).status == 204
    assert mock_runner.sandbox_state("prepared-1") == "stopped"
    assert mock_runner.sandbox_state("keep-1") == "destroyed"

    # the image part is fine, the sandbox part is not: nothing changes
    broken = {"images": [], "sandboxes": [{"id": 5}]}
    reply = mock_runner.put("/_mock/state", json=broken)
    assert reply.status == 400
    assert mock_runner.sandbox_state("prepared-1") == "stopped"
    assert mock_runner.get("/snapshots/exists?snapshot=prepared:1").json() == {"exists": True}
    assert mock_runner.put("/_mock/state", json={"volumes": []}).status == 400
    assert mock_runner.put("/_mock/state", json={"version": 2}).status == 400
    with pytest.raises(GLib.Error):
        mock_runner.import_state("not json")
