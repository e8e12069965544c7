"""The toolbox-remote backend doing real toolbox work in a separately started
mock-runner-toolboxd, through two sandboxes: a multipart upload streamed to the daemon,
the download back, execute, a session with its logs followed over plain HTTP, and a PTY
over a WebSocket passed through; then the daemon stopped: 502 with the error body and an
unhealthy /info."""
import os
import sys
import uuid

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import mrtest  # noqa: E402
from test_toolbox_remote import Toolboxd  # noqa: E402


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("remote-acc-work")


@pytest.fixture(scope="module")
def daemon(work_dir):
    d = Toolboxd(work_dir)
    yield d
    d.stop()


@pytest.fixture(scope="module")
def remote(daemon):
    r = mrtest.RunnerProcess(env={"TOOLBOX_BACKEND": "remote", "TOOLBOX_URL": daemon.url})
    r.create_sandbox("ra")
    r.create_sandbox("rb")
    yield r
    r.stop()


def tb(sandbox, path):
    return f"/sandboxes/{sandbox}/toolbox{path}"


def test_upload_lands_in_the_daemon_and_downloads_through_the_other_sandbox(remote, work_dir):
    content = os.urandom(5 * 1024 * 1024)
    boundary = "b" + uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.bin\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
    target = work_dir / "up" / "x.bin"
    r = remote.request("POST", tb("ra", f"/files/upload?path={target}"), raw_body=body,
                       headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.status == 200, r
    assert target.read_bytes() == content             # the daemon's disk, not the runner's
    r = remote.get(tb("rb", f"/files/download?path={target}"))
    assert r.status == 200 and r.body == content


def test_execute_and_a_session_in_the_daemon(remote, work_dir):
    r = remote.post(tb("ra", "/process/execute"), {"command": "pwd"})
    assert r.json() == {"exitCode": 0, "result": f"{work_dir}\n"}
    sid = "rs-" + uuid.uuid4().hex[:6]
    assert remote.post(tb("ra", "/process/session"), {"sessionId": sid}).status == 201
    assert remote.post(tb("ra", f"/process/session/{sid}/exec"), {"command": "export V=remote-ok"}).status == 200
    r = remote.post(tb("rb", f"/process/session/{sid}/exec"),
                    {"command": "for i in 1 2; do echo $V-$i; sleep 0.1; done", "runAsync": True})
    assert r.status == 202, r
    logs = remote.get(tb("rb", f"/process/session/{sid}/command/{r.json()['cmdId']}/logs?follow=true"), timeout=30)
    assert logs.status == 200 and b"remote-ok-1" in logs.body and b"remote-ok-2" in logs.body
    assert remote.delete(tb("ra", f"/process/session/{sid}")).status == 204


def test_pty_websocket_through_the_runner(remote):
    pid = "rp-" + uuid.uuid4().hex[:6]
    assert remote.post(tb("ra", "/process/pty"), {"id": pid, "cols": 80, "rows": 24}).status == 201
    mrtest.pty_round_trip(remote.url, remote.token, tb("rb", f"/process/pty/{pid}/connect"),
                          "echo via-$((20+22))", b"via-42")


def test_a_stopped_daemon_is_502_with_the_error_body(work_dir):
    d = Toolboxd(work_dir)
    r = mrtest.RunnerProcess(env={"TOOLBOX_BACKEND": "remote", "TOOLBOX_URL": d.url})
    try:
        r.create_sandbox("rx")
        assert r.get(tb("rx", "/version")).status == 200
        d.stop()
        resp = r.get(tb("rx", "/files/info?path=/"))
        assert resp.status == 502
        body = resp.json()
        assert body["statusCode"] == 502 and body["code"] == "BAD_GATEWAY"
        assert body["message"].startswith(f"bad gateway: {d.url}/files/info"), body
        assert body["path"] == tb("rx", "/files/info")
        health = r.get("/info").json()["serviceHealth"][0]
        assert health["healthy"] is False and health["errorReason"], health
    finally:
        r.stop()
        d.stop()
