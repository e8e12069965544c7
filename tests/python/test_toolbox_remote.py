"""The toolbox-remote backend: TOOLBOX_BACKEND=remote forwards every toolbox request to
TOOLBOX_URL. The target is a mock-runner-toolboxd started separately (--port 0), and,
where the daemon's own behaviour is not the point, the loopback test server standing in
for a daemon."""
import hashlib
import http.client
import json
import os
import re
import subprocess
import sys
import urllib.parse

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import mrtest  # noqa: E402
import wsclient  # noqa: E402
from upstream import Upstream, closed_port, pattern_bytes  # noqa: E402

SANDBOX = "remote-1"


class Toolboxd:
    def __init__(self, work_dir):
        self.proc = subprocess.Popen([mrtest.TOOLBOXD_BIN, "--port", "0", "--host", "127.0.0.1",
                                      "--work-dir", str(work_dir)],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"port (\d+)", line)
        assert m, f"mock-runner-toolboxd did not start: {line!r}"
        self.port = int(m.group(1))
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    d = Toolboxd(tmp_path_factory.mktemp("remote-work"))
    yield d
    d.stop()


@pytest.fixture(scope="module")
def remote(daemon):
    r = mrtest.RunnerProcess(env={"TOOLBOX_BACKEND": "remote", "TOOLBOX_URL": daemon.url})
    r.create_sandbox(SANDBOX)
    yield r
    r.stop()


@pytest.fixture(scope="module")
def upstream():
    up = Upstream.start()
    yield up
    up.stop()


def tb(path):
    return f"/sandboxes/{SANDBOX}/toolbox{path}"


def test_healthy_while_the_daemon_answers(remote):
    r = remote.get("/info")
    assert r.status == 200
    assert r.json()["serviceHealth"][0]["healthy"] is True


@pytest.mark.parametrize("path", ["/version", "/work-dir", "/user-home-dir"])
def test_info_routes_are_the_daemons(remote, daemon, path):
    direct = mrtest.request(daemon.url, "GET", path)
    via = remote.get(tb(path))
    assert via.status == direct.status == 200
    assert via.json() == direct.json()
    assert via.header("Content-Type") == direct.header("Content-Type")


def test_sandbox_reports_the_daemon_version(remote, daemon):
    version = mrtest.request(daemon.url, "GET", "/version").json()["version"]
    r = remote.get(f"/sandboxes/{SANDBOX}")
    assert r.status == 200
    assert r.json()["daemonVersion"] == version


def test_unknown_toolbox_route_is_the_daemons_404(remote):
    r = remote.get(tb("/no/such/route"))
    assert r.status == 404
    assert r.body == b"404 page not found"


def test_proxy_route_through_the_daemon(remote, upstream):
    r = remote.request("POST", tb(f"/proxy/{upstream.port}/echo/x?a=1"), raw_body=b"body!",
                       headers={"X-Test": "1", "Content-Type": "text/plain"})
    assert r.status == 200, r
    seen = r.json()
    assert seen["path"] == "/echo/x?a=1"
    assert seen["body_len"] == 5
    assert seen["headers"]["x-test"] == "1"


def test_large_upload_and_download_through_two_hops(remote, upstream):
    size = 16 * 1024 * 1024
    data = pattern_bytes(size)
    u = urllib.parse.urlsplit(remote.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    try:
        conn.request("PUT", tb(f"/proxy/{upstream.port}/echo/up"), body=data,
                     headers={"Authorization": f"Bearer {remote.token}", "Content-Length": str(size)})
        resp = conn.getresponse()
        seen = json.loads(resp.read())
        assert resp.status == 200
        assert seen["body_len"] == size and seen["body_sha256"] == hashlib.sha256(data).hexdigest()
        conn.request("GET", tb(f"/proxy/{upstream.port}/big?n={size}&chunked=1"),
                     headers={"Authorization": f"Bearer {remote.token}"})
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == 200 and body == data
    finally:
        conn.close()


def test_websocket_through_two_hops(remote, upstream):
    ws = wsclient.WebSocket.connect(remote.url, tb(f"/proxy/{upstream.port}/ws"),
                                    headers={"Authorization": f"Bearer {remote.token}"}, protocols=["p1"])
    try:
        assert ws.protocol == "p1"
        ws.send_text("through the runner and the daemon")
        assert ws.recv() == ("text", "through the runner and the daemon")
        ws.close(1000, "done")
        ws.settimeout(10)
        assert ws.recv() == ("close", (1000, "done"))
    finally:
        ws.shutdown()


def test_redirect_from_the_daemon_side_stays_under_the_runner_prefix(remote, upstream):
    r = remote.get(tb(f"/proxy/{upstream.port}/redirect"))
    assert r.status == 302
    assert r.header("Location") == f"/sandboxes/{SANDBOX}/toolbox/landed?x=1"


# The loopback server standing for a daemon -------------------------------------------------

@pytest.fixture(scope="module")
def fake(upstream):
    r = mrtest.RunnerProcess(env={"TOOLBOX_BACKEND": "toolbox-remote", "TOOLBOX_URL": f"http://127.0.0.1:{upstream.port}/"})
    r.create_sandbox(SANDBOX)
    yield r
    r.stop()


def test_headers_reaching_the_daemon(fake, upstream):
    r = fake.request("GET", tb("/echo/h?q=%2F1"), auth=False,
                     headers={"X-Daytona-Authorization": f"Bearer {fake.token}", "Authorization": "Bearer user-key",
                              "X-Forwarded-Host": "preview.example"})
    assert r.status == 200, r
    seen = r.json()
    assert seen["path"] == "/echo/h?q=%2F1"
    assert "x-daytona-authorization" not in seen["headers"]
    assert seen["headers"]["authorization"] == "Bearer user-key"
    assert seen["headers"]["x-forwarded-host"] == "preview.example"
    assert seen["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert seen["headers"]["host"] == f"127.0.0.1:{upstream.port}"


def test_session_logs_follow_over_plain_http(fake, upstream):
    path = "/process/session/s1/command/c1/logs"
    r = fake.get(tb(path + "?follow=true&other=x"), headers={"X-Custom": "dropped"})
    assert r.status == 200, r
    assert r.header("Content-Type") == "application/octet-stream"
    assert r.body == b"out1 out2 out3"
    seen = [x for x in upstream.requests if x.get("websocket") and x["path"].startswith(path)][-1]
    assert seen["path"] == path + "?follow=true"          # the other parameters are dropped
    assert "x-custom" not in seen["headers"]


def test_session_logs_without_follow_are_forwarded_as_they_are(fake, upstream):
    r = fake.get(tb("/process/session/s1/command/c1/logs?follow=false"))
    assert r.status == 404 and r.body == b"not here"        # what the server answered a plain GET
    assert upstream.requests[-1]["path"] == "/process/session/s1/command/c1/logs?follow=false"


def test_session_logs_follow_over_websocket_is_a_plain_tunnel(fake):
    ws = wsclient.WebSocket.connect(fake.url, tb("/process/session/s1/command/c1/logs?follow=true"),
                                    headers={"Authorization": f"Bearer {fake.token}"})
    try:
        messages, close = ws.recv_until_close(timeout=10)
    finally:
        ws.shutdown()
    assert messages == [("binary", b"out1 "), ("binary", b"out2 "), ("binary", b"out3")]
    assert close[0] == 1000


def test_a_url_with_a_path_keeps_it(make_runner, upstream):
    r = make_runner(env={"TOOLBOX_BACKEND": "remote", "TOOLBOX_URL": f"http://127.0.0.1:{upstream.port}/mounted/"})
    r.create_sandbox(SANDBOX)
    resp = r.get(tb("/echo/p?q=1"))
    assert resp.status == 200 and resp.json()["path"] == "/mounted/echo/p?q=1"
    ws = wsclient.WebSocket.connect(r.url, tb("/ws"), headers={"Authorization": f"Bearer {r.token}"})
    try:
        ws.send_text("mounted")
        assert ws.recv() == ("text", "mounted")
    finally:
        ws.shutdown()
    assert [x for x in upstream.requests if x.get("websocket")][-1]["path"] == "/mounted/ws"


# An unreachable daemon -----------------------------------------------------------------------

def test_unreachable_daemon_is_502_with_the_error_body(make_runner):
    port = closed_port()
    r = make_runner(env={"TOOLBOX_BACKEND": "remote", "TOOLBOX_URL": f"http://127.0.0.1:{port}"})
    r.create_sandbox(SANDBOX)
    resp = r.get(tb("/files/info?path=/tmp"))
    assert resp.status == 502
    body = resp.json()
    assert body["statusCode"] == 502
    assert body["code"] == "BAD_GATEWAY"
    assert body["path"] == tb("/files/info")
    assert body["method"] == "GET"
    assert str(port) in body["message"]
    health = r.get("/info").json()["serviceHealth"][0]
    assert health["healthy"] is False
    assert str(port) in health["errorReason"]
    with pytest.raises(wsclient.HandshakeError) as e:
        wsclient.WebSocket.connect(r.url, tb("/process/pty/p1/connect"), headers={"Authorization": f"Bearer {r.token}"})
    assert e.value.status == 502
    # the logs-follow special case fails like the real runner's: 400
    resp = r.get(tb("/process/session/s/command/c/logs?follow=true"))
    assert resp.status == 400
    assert resp.json()["message"].startswith("bad request: failed to create outgoing request: ")


def test_daemon_going_away_and_coming_back(make_runner, tmp_path):
    d = Toolboxd(tmp_path)
    try:
        r = make_runner(env={"TOOLBOX_BACKEND": "remote", "TOOLBOX_URL": d.url})
        r.create_sandbox(SANDBOX)
        assert r.get(tb("/version")).status == 200
        port = d.port
        d.stop()
        assert r.get(tb("/version")).status == 502
        assert r.get("/info").json()["serviceHealth"][0]["healthy"] is False
        # a daemon on the same port again: served again, nothing to restart in the runner
        d = None
        d2 = subprocess.Popen([mrtest.TOOLBOXD_BIN, "--port", str(port), "--host", "127.0.0.1",
                               "--work-dir", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            assert "port" in d2.stdout.readline()
            assert r.get(tb("/version")).status == 200
            assert r.get("/info").json()["serviceHealth"][0]["healthy"] is True
        finally:
            d2.terminate()
            d2.wait(10)
            d2.stdout.close()
    finally:
        if d:
            d.stop()


def test_missing_or_bad_url_stops_the_runner_with_a_clear_error():
    rc, out, err = mrtest.run_runner_expecting_failure(env={"API_TOKEN": "t", "SERVER_URL": "http://x", "API_PORT": "0",
                                                            "TOOLBOX_BACKEND": "remote", "TOOLBOX_URL": None})
    assert rc != 0
    assert "TOOLBOX_URL is required" in err
    rc, out, err = mrtest.run_runner_expecting_failure(env={"API_TOKEN": "t", "SERVER_URL": "http://x", "API_PORT": "0",
                                                            "TOOLBOX_BACKEND": "remote", "TOOLBOX_URL": "ftp://x"})
    assert rc != 0
    assert "invalid TOOLBOX_URL" in err
