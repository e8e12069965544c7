"""Every failure a client can cause answers the common error body with the right status
(runner-api.md sections 1.3-1.5)."""
import re
import socket

import pytest

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")


def assert_error(r, status, code, path, method, message=None):
    assert r.status == status, r
    assert r.header("Content-Type") == "application/json"
    body = r.json()
    assert set(body) == {"statusCode", "message", "code", "timestamp", "path", "method"}, body
    assert body["statusCode"] == status
    assert body["code"] == code
    assert body["path"] == path
    assert body["method"] == method
    assert TIMESTAMP.match(body["timestamp"]), body["timestamp"]
    if message is not None:
        assert body["message"] == message
    return body


VALID = {"id": "e-1", "userId": "u", "snapshot": "s:1", "osUser": "o", "cpuQuota": 1, "memoryQuota": 1,
         "storageQuota": 1}


@pytest.mark.parametrize("raw,message", [
    (b"", "invalid body request: EOF"),
    (b"{\"id\": ", None),
    (b"[]", "invalid body request: json: cannot unmarshal array into Go value of type dto.CreateSandboxDTO"),
    (b"\"text\"", "invalid body request: json: cannot unmarshal string into Go value of type dto.CreateSandboxDTO"),
])
def test_malformed_json(runner, raw, message):
    r = runner.post("/sandboxes", raw_body=raw, headers={"Content-Type": "application/json"})
    body = assert_error(r, 400, "INVALID_REQUEST_BODY", "/sandboxes", "POST", message)
    assert body["message"].startswith("invalid body request: ")


def test_wrong_json_types(runner):
    r = runner.post("/sandboxes", dict(VALID, cpuQuota="2"))
    assert_error(r, 400, "INVALID_REQUEST_BODY", "/sandboxes", "POST",
                 "invalid body request: json: cannot unmarshal string into Go struct field "
                 "CreateSandboxDTO.cpuQuota of type int64")
    r = runner.post("/sandboxes", dict(VALID, env={"A": 1}))
    assert_error(r, 400, "INVALID_REQUEST_BODY", "/sandboxes", "POST")
    r = runner.post("/sandboxes", dict(VALID, networkBlockAll="true"))
    assert_error(r, 400, "INVALID_REQUEST_BODY", "/sandboxes", "POST")


def test_missing_required_fields(runner):
    r = runner.post("/sandboxes", {"id": "x"})
    body = assert_error(r, 400, "INVALID_REQUEST_BODY", "/sandboxes", "POST")
    lines = body["message"][len("invalid body request: "):].split("\n")
    assert "Key: 'CreateSandboxDTO.UserId' Error:Field validation for 'UserId' failed on the 'required' tag" in lines
    assert "Key: 'CreateSandboxDTO.CpuQuota' Error:Field validation for 'CpuQuota' failed on the 'min' tag" in lines
    assert len(lines) == 6


def test_body_decoded_whatever_the_content_type(runner):
    import json
    r = runner.post("/sandboxes", raw_body=json.dumps(dict(VALID, id="ctype")).encode(),
                    headers={"Content-Type": "text/plain"})
    assert r.status == 201


def test_start_needs_a_body(runner):
    runner.create_sandbox("e-start")
    r = runner.post("/sandboxes/e-start/start")
    assert_error(r, 400, "INVALID_REQUEST_BODY", "/sandboxes/e-start/start", "POST", "invalid body request: EOF")
    r = runner.post("/sandboxes/e-start/start", raw_body=b"{\"a\": 1}")
    assert_error(r, 400, "INVALID_REQUEST_BODY", "/sandboxes/e-start/start", "POST")


def test_unknown_route(runner):
    r = runner.get("/no/such/route")
    assert_error(r, 404, "NOT_FOUND", "/no/such/route", "GET")
    r = runner.get("/no/such/route", auth=False)
    assert r.status == 404


def test_wrong_method(runner):
    r = runner.request("PUT", "/sandboxes/x")
    assert_error(r, 404, "NOT_FOUND", "/sandboxes/x", "PUT")
    assert r.header("Allow") == "GET, DELETE"
    r = runner.request("DELETE", "/info")
    assert_error(r, 404, "NOT_FOUND", "/info", "DELETE")


def test_trailing_slash_redirects(runner):
    r = runner.post("/sandboxes/", VALID)
    assert r.status == 307 and r.header("Location").endswith("/sandboxes")
    r = runner.get("/info/?x=1")
    assert r.status == 301 and r.header("Location").endswith("/info?x=1")


@pytest.mark.parametrize("headers,message", [
    ({}, "unauthorized: authorization header required"),
    ({"Authorization": "Basic abc"}, "unauthorized: invalid authorization header format"),
    ({"Authorization": "Bearer"}, "unauthorized: invalid authorization header format"),
    ({"Authorization": "Bearer a b"}, "unauthorized: invalid authorization header format"),
    ({"Authorization": "bearer test-token"}, "unauthorized: invalid authorization header format"),
    ({"Authorization": "Bearer wrong"}, "unauthorized: invalid token"),
    ({"Authorization": "Bearer test-tokenX"}, "unauthorized: invalid token"),
    ({"X-Daytona-Authorization": "Bearer wrong", "Authorization": "Bearer test-token"}, "unauthorized: invalid token"),
])
def test_auth_failures(runner, headers, message):
    r = runner.get("/info", auth=False, headers=headers)
    assert_error(r, 401, "UNAUTHORIZED", "/info", "GET", message)


def test_auth_headers_accepted(runner):
    assert runner.get("/info", auth=False, headers={"Authorization": "Bearer test-token"}).status == 200
    assert runner.get("/info", auth=False, headers={"X-Daytona-Authorization": "Bearer test-token"}).status == 200
    # an empty X-Daytona-Authorization falls back to Authorization, as the real runner does
    assert runner.get("/info", auth=False, headers={"X-Daytona-Authorization": "",
                                                    "Authorization": "Bearer test-token"}).status == 200


def test_every_protected_route_needs_the_token(runner):
    routes = [("GET", "/info"), ("POST", "/sandboxes"), ("GET", "/sandboxes/a"), ("DELETE", "/sandboxes/a"),
              ("POST", "/sandboxes/a/start"), ("POST", "/sandboxes/a/stop"), ("POST", "/sandboxes/a/destroy"),
              ("POST", "/sandboxes/a/backup"), ("POST", "/sandboxes/a/resize"),
              ("POST", "/sandboxes/a/network-settings"), ("POST", "/sandboxes/a/recover"),
              ("POST", "/sandboxes/a/is-recoverable"), ("POST", "/sandboxes/a/snapshot-from-sandbox"),
              ("GET", "/sandboxes/a/toolbox/version"), ("POST", "/snapshots/pull"), ("POST", "/snapshots/build"),
              ("POST", "/snapshots/tag"), ("GET", "/snapshots/exists"), ("GET", "/snapshots/info"),
              ("POST", "/snapshots/remove"), ("GET", "/snapshots/logs"), ("POST", "/snapshots/inspect")]
    for method, path in routes:
        r = runner.request(method, path, auth=False)
        assert r.status == 401, (method, path, r)
    assert runner.get("/", auth=False).status == 200
    assert runner.get("/metrics", auth=False).status == 200


def test_metrics_auth_option(make_runner):
    r = make_runner(env={"METRICS_AUTH": "true"})
    assert r.get("/metrics", auth=False).status == 401
    assert r.get("/metrics").status == 200


def test_body_over_limit_is_413(make_runner):
    r = make_runner(env={"MAX_BODY_SIZE": "1K"})
    big = b"{\"id\": \"" + b"x" * 4096 + b"\"}"
    res = r.post("/sandboxes", raw_body=big)
    assert_error(res, 413, "PAYLOAD_TOO_LARGE", "/sandboxes", "POST")
    # chunked bodies are counted as they arrive
    res = r.post("/sandboxes", raw_body=iter([big[:2000], big[2000:]]),
                 headers={"Transfer-Encoding": "chunked"})
    assert_error(res, 413, "PAYLOAD_TOO_LARGE", "/sandboxes", "POST")
    # and the runner still answers afterwards
    assert r.get("/info").status == 200


def test_strict_mode_answers_404(make_runner):
    r = make_runner(env={"STRICT": "true"})
    for path, body in [("/sandboxes/nope/start", {}), ("/sandboxes/nope/stop", None),
                       ("/sandboxes/nope/resize", {"cpu": 1}),
                       ("/sandboxes/nope/backup", {"registry": {"url": "r"}, "snapshot": "s:1"}),
                       ("/sandboxes/nope/network-settings", {})]:
        res = r.post(path, body)
        body_json = assert_error(res, 404, "NOT_FOUND", path, "POST")
        assert "nope" in body_json["message"]
    # the real runners still answer destroy and GET for an unknown id
    assert r.post("/sandboxes/nope/destroy").status == 200
    assert r.get("/sandboxes/nope").json()["state"] == "destroyed"
    assert r.get("/snapshots/logs?snapshotRef=none:1").status == 404


def test_garbage_requests_do_not_kill_the_server(runner):
    for junk in (b"\x00\x01\x02garbage\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
                 b"POST /sandboxes HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"):
        with socket.create_connection(("127.0.0.1", runner.port), timeout=5) as s:
            s.sendall(junk)
            try:
                s.recv(4096)
            except OSError:
                pass
    assert runner.get("/").status == 200


def test_client_disconnect_mid_body(runner):
    with socket.create_connection(("127.0.0.1", runner.port), timeout=5) as s:
        s.sendall(b"POST /sandboxes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer test-token\r\n"
                  b"Content-Length: 100000\r\n\r\n{\"id\":")
    assert runner.get("/").status == 200
