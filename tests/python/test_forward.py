"""The toolbox's /proxy/{port}/{path...} route (toolbox-api.md section 2.11), served by the
shared forwarder (src/mr-forward.c), against a small HTTP and WebSocket server on
loopback. Each test runs through two doors: the runner (in-process toolbox, under
/sandboxes/{id}/toolbox) and mock-runner-toolboxd itself."""
import hashlib
import http.client
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import mrtest  # noqa: E402
import wsclient  # noqa: E402
from upstream import Upstream, closed_port, pattern_bytes  # noqa: E402

SANDBOX = "fw-1"
BIG = 24 * 1024 * 1024


class Door:
    """Where the toolbox is reached: base URL, path prefix and credentials."""

    def __init__(self, name, url, prefix, token=None, proc=None, runner=None):
        self.name, self.url, self.prefix, self.token = name, url, prefix, token
        self.proc, self.runner = proc, runner

    @property
    def auth(self):
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def request(self, method, path, headers=None, **kw):
        h = dict(self.auth)
        h.update(headers or {})
        return mrtest.request(self.url, method, self.prefix + path, headers=h, **kw)

    def connection(self, timeout=60):
        u = urllib.parse.urlsplit(self.url)
        return http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)

    def stop(self):
        if self.runner:
            self.runner.stop()
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()


def start_toolboxd(tmp_path_factory):
    work = tmp_path_factory.mktemp("toolboxd")
    proc = subprocess.Popen([mrtest.TOOLBOXD_BIN, "--port", "0", "--host", "127.0.0.1", "--work-dir", str(work)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = proc.stdout.readline()
    m = re.search(r"port (\d+)", line)
    assert m, f"mock-runner-toolboxd did not start: {line!r}"
    return proc, int(m.group(1))


@pytest.fixture(scope="module")
def upstream():
    up = Upstream.start()
    yield up
    up.stop()


@pytest.fixture(scope="module", params=["runner", "daemon"])
def door(request, tmp_path_factory):
    if request.param == "runner":
        r = mrtest.RunnerProcess()
        r.create_sandbox(SANDBOX)
        d = Door("runner", r.url, f"/sandboxes/{SANDBOX}/toolbox", token=r.token, runner=r)
    else:
        proc, port = start_toolboxd(tmp_path_factory)
        d = Door("daemon", f"http://127.0.0.1:{port}", "", proc=proc)
    yield d
    d.stop()


def last_request(up, path_prefix):
    for r in reversed(up.requests):
        if r["path"].startswith(path_prefix):
            return r
    raise AssertionError(f"the upstream saw no request for {path_prefix}: {[r['path'] for r in up.requests]}")


def test_methods_path_and_query_reach_the_port(door, upstream):
    for method in ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]:
        r = door.request(method, f"/proxy/{upstream.port}/echo/a%20b?x=1&y=two%20words&x=3")
        assert r.status == 200, (method, r)
        seen = r.json()
        assert seen["method"] == method
        assert seen["path"] == "/echo/a%20b?x=1&y=two%20words&x=3"


def test_head_has_headers_and_no_body(door, upstream):
    r = door.request("HEAD", f"/proxy/{upstream.port}/big?n=1000")
    assert r.status == 200
    assert r.body == b""
    assert r.header("Content-Length") == "1000"


def test_empty_path_means_root(door, upstream):
    r = door.request("GET", f"/proxy/{upstream.port}/?q=1")
    assert r.status == 404 and r.body == b"not here"       # the upstream's own answer for "/"
    assert last_request(upstream, "/?q=1")["path"] == "/?q=1"
    r = door.request("GET", f"/proxy/{upstream.port}")
    assert r.status == 404 and r.body == b"not here"


def test_request_headers(door, upstream):
    r = door.request("POST", f"/proxy/{upstream.port}/echo/headers",
                     headers={"X-Custom": "value 1", "X-Daytona-Authorization": f"Bearer {door.token or 'x'}",
                              "Connection": "X-Hop-Req", "X-Hop-Req": "1", "X-Forwarded-For": "10.9.8.7",
                              "Content-Type": "text/plain"},
                     raw_body=b"hello")
    assert r.status == 200, r
    seen = r.json()["headers"]
    assert seen["x-custom"] == "value 1"
    assert seen["content-type"] == "text/plain"
    assert "x-daytona-authorization" not in seen
    assert "x-hop-req" not in seen
    assert seen["x-forwarded-for"].startswith("10.9.8.7, ") and seen["x-forwarded-for"].endswith("127.0.0.1")
    assert seen["host"] == f"localhost:{upstream.port}"
    if door.token:
        # the runner's credential in Authorization is the client's business: passed on
        assert seen["authorization"] == f"Bearer {door.token}"


@pytest.mark.parametrize("content_type", ["multipart/form-data; boundary=----x123", "text/plain; charset=utf-8"])
def test_content_type_parameters_are_kept(door, upstream, content_type):
    r = door.request("POST", f"/proxy/{upstream.port}/echo/ct", raw_body=b"--x--",
                     headers={"Content-Type": content_type})
    assert r.status == 200
    assert r.json()["headers"]["content-type"] == content_type


def test_response_headers(door, upstream):
    r = door.request("GET", f"/proxy/{upstream.port}/headers-out")
    assert r.status == 200 and r.body == b"ok"
    cookies = [v for k, v in r.headers if k.lower() == "set-cookie"]
    assert cookies == ["a=1", "b=2"]
    assert r.header("X-Custom") == "yes"
    assert r.header("X-Hop") is None          # named in the upstream's Connection header
    assert r.header("Keep-Alive") is None


def _upload(door, path, data, chunked):
    conn = door.connection()
    try:
        headers = dict(door.auth)
        headers["Content-Type"] = "application/octet-stream"
        if chunked:
            body = (data[i:i + 1024 * 1024] for i in range(0, len(data), 1024 * 1024))
            conn.request("PUT", door.prefix + path, body=body, headers=headers, encode_chunked=True)
        else:
            headers["Content-Length"] = str(len(data))
            conn.request("PUT", door.prefix + path, body=data, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_large_upload_is_streamed_intact(door, upstream, chunked):
    import json
    data = pattern_bytes(BIG)
    status, body = _upload(door, f"/proxy/{upstream.port}/echo/upload", data, chunked)
    assert status == 200, body[:300]
    seen = json.loads(body)
    assert seen["body_len"] == BIG
    assert seen["body_sha256"] == hashlib.sha256(data).hexdigest()
    if chunked:
        assert "chunked" in seen["headers"].get("transfer-encoding", "")
    else:
        assert seen["headers"]["content-length"] == str(BIG)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_large_download_is_streamed_intact(door, upstream, chunked):
    conn = door.connection()
    try:
        conn.request("GET", door.prefix + f"/proxy/{upstream.port}/big?n={BIG}" + ("&chunked=1" if chunked else ""),
                     headers=door.auth)
        resp = conn.getresponse()
        assert resp.status == 200
        if not chunked:
            assert resp.getheader("Content-Length") == str(BIG)
        h = hashlib.sha256()
        total = 0
        while True:
            piece = resp.read(1024 * 1024)
            if not piece:
                break
            h.update(piece)
            total += len(piece)
    finally:
        conn.close()
    assert total == BIG
    assert h.hexdigest() == hashlib.sha256(pattern_bytes(BIG)).hexdigest()


def test_redirects_stay_under_the_prefix(door, upstream):
    r = door.request("GET", f"/proxy/{upstream.port}/redirect")
    assert r.status == 302
    assert r.header("Location") == door.prefix + "/landed?x=1"
    r = door.request("GET", f"/proxy/{upstream.port}/abs-redirect")
    assert r.status == 302
    assert r.header("Location") == "http://example.com/x"


@pytest.mark.parametrize("status", [204, 404, 418, 500, 503])
def test_statuses_pass_through(door, upstream, status):
    r = door.request("GET", f"/proxy/{upstream.port}/status/{status}")
    assert r.status == status
    assert r.body == (b"" if status == 204 else f"status {status}".encode())


def test_connection_is_never_closed_silently(door, upstream):
    # One client connection for all of them, 204 and 304 included: kept alive, or closed
    # with "Connection: close" (which http.client follows by reconnecting); a connection
    # closed without saying so (libsoup does that after a 204) fails the next request.
    conn = door.connection()
    try:
        for path in ["/status/204", "/echo/1", "/status/304", "/status/404", "/redirect", "/echo/2"]:
            conn.request("GET", door.prefix + f"/proxy/{upstream.port}{path}", headers=door.auth)
            resp = conn.getresponse()
            resp.read()
            assert resp.status == int(path.rsplit("/", 1)[1]) if path.startswith("/status") else resp.status in (200, 302)
    finally:
        conn.close()


def test_unreachable_port_is_502_with_empty_body(door):
    r = door.request("GET", f"/proxy/{closed_port()}/anything?x=1")
    assert r.status == 502
    assert r.body == b""


def test_invalid_port_is_400(door):
    r = door.request("GET", "/proxy/notaport/x")
    assert r.status == 400


def test_port_2280_is_the_toolbox_itself(door):
    r = door.request("GET", "/proxy/2280/version")
    assert r.status == 200
    assert "version" in r.json()
    direct = door.request("GET", "/work-dir")
    via = door.request("GET", "/proxy/2280/work-dir")
    assert via.status == 200 and via.json() == direct.json()
    r = door.request("GET", "/proxy/2280/no-such-route")
    assert r.status == 404 and r.body == b"404 page not found"


def test_websocket_is_tunnelled(door, upstream):
    ws = wsclient.WebSocket.connect(door.url, door.prefix + f"/proxy/{upstream.port}/ws?room=1",
                                    headers=door.auth, protocols=["chat", "v2"])
    try:
        assert ws.protocol == "chat"
        ws.send_text("héllo")
        assert ws.recv() == ("text", "héllo")
        blob = os.urandom(100 * 1024)
        ws.send_binary(blob)
        assert ws.recv() == ("binary", blob)
        ws.ping(b"p")
        ws.send_text("after ping")
        assert ws.recv() == ("text", "after ping")
        ws.close(4001, "bye now")
        ws.settimeout(10)
        assert ws.recv() == ("close", (4001, "bye now"))
    finally:
        ws.shutdown()
    seen = last_request(upstream, "/ws?room=1")
    assert seen["headers"]["sec-websocket-protocol"] == "chat, v2"
    assert "x-daytona-authorization" not in seen["headers"]


def test_websocket_first_frame_sent_with_the_101_arrives(door, upstream):
    for _ in range(5):
        ws = wsclient.WebSocket.connect(door.url, door.prefix + f"/proxy/{upstream.port}/ws-greet", headers=door.auth)
        try:
            ws.settimeout(10)
            assert ws.recv() == ("text", "welcome")
            ws.send_text("and then")
            assert ws.recv() == ("text", "and then")
        finally:
            ws.shutdown()


def test_websocket_to_unreachable_port_is_502(door):
    with pytest.raises(wsclient.HandshakeError) as e:
        wsclient.WebSocket.connect(door.url, door.prefix + f"/proxy/{closed_port()}/ws", headers=door.auth)
    assert e.value.status == 502


def test_websocket_refused_by_the_app_passes_its_answer(door, upstream):
    with pytest.raises(wsclient.HandshakeError) as e:
        wsclient.WebSocket.connect(door.url, door.prefix + f"/proxy/{upstream.port}/not-ws", headers=door.auth)
    assert e.value.status == 404
    assert e.value.body == b"not here"


def _raw_get(door, path):
    u = urllib.parse.urlsplit(door.url)
    s = socket.create_connection((u.hostname, u.port), timeout=10)
    lines = [f"GET {door.prefix}{path} HTTP/1.1", f"Host: {u.hostname}:{u.port}"]
    lines += [f"{k}: {v}" for k, v in door.auth.items()]
    s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    return s


def test_client_going_away_mid_body_stops_the_upstream(door, upstream):
    s = _raw_get(door, f"/proxy/{upstream.port}/forever")
    got = b""
    while len(got) < 8192:
        got += s.recv(4096)
    assert got.startswith(b"HTTP/1.1 200")
    s.close()
    assert upstream.wait_event("forever-aborted", timeout=15)
    upstream.events.remove("forever-aborted")


def test_client_going_away_while_waiting_closes_the_upstream_connection(door, upstream):
    s = _raw_get(door, f"/proxy/{upstream.port}/hold")
    deadline = time.monotonic() + 10
    while not any(r["path"] == "/hold" for r in upstream.requests) and time.monotonic() < deadline:
        time.sleep(0.05)
    s.close()
    assert upstream.wait_event("hold-closed", timeout=15)
    upstream.events.remove("hold-closed")


def _fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_no_descriptor_is_leaked(door, upstream):
    pid = door.runner.proc.pid if door.runner else door.proc.pid
    door.request("GET", f"/proxy/{upstream.port}/echo/warm")
    time.sleep(0.5)
    before = _fds(pid)
    for i in range(20):
        assert door.request("POST", f"/proxy/{upstream.port}/echo/{i}", raw_body=b"x" * 1000).status == 200
        assert door.request("GET", f"/proxy/{closed_port()}/x").status == 502
        ws = wsclient.WebSocket.connect(door.url, door.prefix + f"/proxy/{upstream.port}/ws", headers=door.auth)
        ws.send_text("x")
        assert ws.recv() == ("text", "x")
        ws.shutdown()                                   # gone without a close frame
        s = _raw_get(door, f"/proxy/{upstream.port}/forever")
        s.recv(100)
        s.close()
    # what was in flight winds down; at most the pooled upstream connections remain
    deadline = time.monotonic() + 15
    while _fds(pid) > before + 6 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _fds(pid) <= before + 6, os.listdir(f"/proc/{pid}/fd")


def test_still_serving_after_all_that(door, upstream):
    r = door.request("GET", f"/proxy/{upstream.port}/echo/final")
    assert r.status == 200 and r.json()["path"] == "/echo/final"
