"""Acceptance review of the runner API against runner-api.md (v0 superset of its section 9.5,
route table of section 11) and the seed README, written black-box from the specification.

Only what test_runner_api.py, test_runner_errors.py and test_standalone.py leave out is here.
"""
import http.server
import json
import re
import socket
import ssl
import subprocess
import threading
import urllib.parse

import pytest

from mrtest import free_port, request, run_runner_expecting_failure, runner_in_dir

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")
BASE = {"API_TOKEN": "tok", "SERVER_URL": "http://localhost:3000", "API_PORT": "0"}
JSON_UTF8 = "application/json; charset=utf-8"


def assert_error(r, status, code, path, method, message=None):
    assert r.status == status, r
    assert r.header("Content-Type") == "application/json", r.headers
    body = r.json()
    assert set(body) == {"statusCode", "message", "code", "timestamp", "path", "method"}, body
    assert (body["statusCode"], body["code"], body["path"], body["method"]) == (status, code, path, method), body
    assert isinstance(body["message"], str) and body["message"]
    assert TIMESTAMP.match(body["timestamp"]), body["timestamp"]
    if message is not None:
        assert body["message"] == message
    return body


def create_dto(sandbox_id, **fields):
    dto = {"id": sandbox_id, "userId": "org-1", "snapshot": "ubuntu:22.04", "osUser": "daytona",
           "cpuQuota": 1, "gpuQuota": 0, "memoryQuota": 1, "storageQuota": 3}
    dto.update(fields)
    return dto


def validation_lines(body):
    prefix = "invalid body request: "
    assert body["message"].startswith(prefix), body
    return body["message"][len(prefix):].split("\n")


# --- success bodies: types and content types (sections 1.2, 2.x, 9.5) ---------------------------

def test_object_replies_are_json_utf8(runner):
    runner.create_sandbox("ct-1")
    for path in ("/", "/info", "/sandboxes/ct-1", "/snapshots/exists?snapshot=ubuntu:22.04",
                 "/snapshots/info?snapshot=ubuntu:22.04"):
        r = runner.get(path)
        assert r.status == 200, (path, r)
        assert r.header("Content-Type") == JSON_UTF8, (path, r.headers)
    r = runner.post("/sandboxes/ct-1/is-recoverable", {"errorReason": "x"})
    assert r.header("Content-Type") == JSON_UTF8


@pytest.mark.parametrize("method,path,body,status,reply", [
    ("POST", "/sandboxes/{id}/stop", None, 200, "Sandbox stopped"),
    ("POST", "/sandboxes/{id}/backup", {"registry": {"url": "r:5000"}, "snapshot": "r:5000/b:1"}, 201,
     "Backup started"),
    ("POST", "/sandboxes/{id}/resize", {"cpu": 2, "gpu": 0, "memory": 2}, 200, "Sandbox resized"),
    ("POST", "/sandboxes/{id}/network-settings", {}, 200, "Network settings updated"),
    ("POST", "/sandboxes/{id}/recover", {"userId": "u", "osUser": "daytona", "cpuQuota": 1, "memoryQuota": 1,
                                         "storageQuota": 5, "errorReason": "no space left on device"},
     200, "Sandbox recovered"),
    ("POST", "/sandboxes/{id}/destroy", None, 200, "Sandbox destroyed"),
    ("DELETE", "/sandboxes/{id}", None, 200, "Sandbox removed"),
])
def test_action_routes_answer_exact_json_strings(runner, method, path, body, status, reply):
    sid = "act-" + path.rsplit("/", 1)[-1].replace("{id}", "del")
    runner.create_sandbox(sid)
    r = runner.request(method, path.format(id=sid), body=body)
    assert r.status == status, r
    assert r.body == json.dumps(reply).encode()
    assert r.header("Content-Type") == JSON_UTF8


@pytest.mark.parametrize("path,body,reply", [
    ("/snapshots/pull", {"snapshot": "strings-pull:1"}, "Snapshot pulled successfully"),
    ("/snapshots/build", {"snapshot": "strings-build:1", "dockerfile": "FROM x", "organizationId": "o"},
     "Snapshot built successfully"),
    ("/snapshots/tag", {"sourceImage": "ubuntu:22.04", "targetImage": "strings-tag:1"}, "Image tagged successfully"),
    ("/snapshots/remove?snapshot=strings-tag:1", None, "Snapshot removed successfully"),
])
def test_snapshot_action_routes_answer_exact_json_strings(runner, path, body, reply):
    runner.create_sandbox("strings-src")     # makes ubuntu:22.04 known
    r = runner.post(path, body)
    # the 9.5 superset may complete pull/build synchronously (200) or start them (202)
    allowed = (200, 202) if path in ("/snapshots/pull", "/snapshots/build") else (200,)
    assert r.status in allowed, r
    assert r.body == json.dumps(reply).encode()
    assert r.header("Content-Type") == JSON_UTF8


def test_json_is_escaped_as_gin_escapes_it(runner):
    """runner-api.md 1.2: Gin's encoder writes <, > and & as \\u003c, \\u003e, \\u0026."""
    ref = "esc<a>&b\u2028:1"
    assert runner.post("/snapshots/pull", {"snapshot": ref}).status == 200
    r = runner.get("/snapshots/info?snapshot=" + urllib.parse.quote(ref))
    assert b'"name":"esc\\u003ca\\u003e\\u0026b\\u2028:1"' in r.body, r.body
    assert r.json()["name"] == ref
    err = runner.get("/no<such>&route")
    assert b'"path":"/no\\u003csuch\\u003e\\u0026route"' in err.body, err.body


def test_get_sandbox_field_types(runner):
    runner.create_sandbox("types-1")
    got = runner.get("/sandboxes/types-1").json()
    assert isinstance(got["state"], str) and isinstance(got["backupState"], str)
    assert got["backupState"] == "NONE"
    assert got["recoverable"] is False
    assert isinstance(got["daemonVersion"], str) and got["daemonVersion"]
    assert "backupError" not in got
    # create's and start's daemonVersion is what the toolbox's /version says
    created = runner.create_sandbox("types-2").json()
    tb = runner.get("/sandboxes/types-2/toolbox/version").json()
    assert created == {"daemonVersion": tb["version"]}


def test_unknown_sandbox_backup_state_is_uppercase(runner):
    got = runner.get("/sandboxes/never-seen-anywhere").json()
    assert got["state"] == "destroyed"
    assert got["backupState"] in ("NONE", "")
    assert got.get("recoverable", False) is False


def test_info_types_and_counts(make_runner):
    r = make_runner()
    info = r.get("/info").json()
    assert isinstance(info["version"], str) and isinstance(info["appVersion"], str)
    assert isinstance(info["serviceHealth"], list) and info["serviceHealth"]
    for item in info["serviceHealth"]:
        assert isinstance(item["serviceName"], str) and item["healthy"] is True
    m = info["metrics"]
    assert isinstance(m["currentSnapshotCount"], int) and isinstance(m["currentStartedSandboxes"], int)
    for key in ("currentCpuUsagePercentage", "currentMemoryUsagePercentage", "currentDiskUsagePercentage"):
        assert 0 <= m[key] <= 100, key
    assert m["currentCpuLoadAverage"] >= 0
    # the image count follows pull, build, tag and remove
    count = m["currentSnapshotCount"]
    r.post("/snapshots/pull", {"snapshot": "count-a:1"})
    r.post("/snapshots/build", {"snapshot": "count-b:1", "dockerfile": "FROM x", "organizationId": "o"})
    r.post("/snapshots/tag", {"sourceImage": "count-a:1", "targetImage": "count-c:1"})
    assert r.get("/info").json()["metrics"]["currentSnapshotCount"] == count + 3
    r.post("/snapshots/remove?snapshot=count-a:1")
    assert r.get("/info").json()["metrics"]["currentSnapshotCount"] == count + 2


def test_info_follows_resize_and_removal(make_runner):
    r = make_runner()
    r.create_sandbox("rs-1", cpuQuota=1, memoryQuota=2, storageQuota=10)
    assert r.post("/sandboxes/rs-1/resize", {"cpu": 3, "gpu": 0, "memory": 6, "disk": 20}).status == 200
    m = r.get("/info").json()["metrics"]
    assert (m["currentAllocatedCpu"], m["currentAllocatedMemoryGiB"], m["currentAllocatedDiskGiB"]) == (3, 6, 20)
    # June 2026: every resize field is optional, 0 or absent leaves the quota alone
    assert r.post("/sandboxes/rs-1/resize", {"memory": 4}).status == 200
    m = r.get("/info").json()["metrics"]
    assert (m["currentAllocatedCpu"], m["currentAllocatedMemoryGiB"], m["currentAllocatedDiskGiB"]) == (3, 4, 20)
    assert r.delete("/sandboxes/rs-1").status == 200
    m = r.get("/info").json()["metrics"]
    assert (m["currentAllocatedCpu"], m["currentAllocatedMemoryGiB"], m["currentAllocatedDiskGiB"]) == (0, 0, 0)
    assert r.get("/sandboxes/rs-1").json()["state"] == "destroyed"


def test_version_setting_reaches_health_and_info(make_runner):
    r = make_runner(env={"VERSION": "v9.8.7"})
    assert r.get("/", auth=False).json()["version"] == "v9.8.7"
    info = r.get("/info").json()
    assert info["version"] == info["appVersion"] == "v9.8.7"


# --- control plane sequence (official-clients.md section 6) --------------------------------------

def test_control_plane_client_sequence(runner):
    """health, info, create, info, stop, start ({}), toolbox GET /version, destroy, info, as the
    generated axios client sends them (JSON Accept, no body on stop and destroy)."""
    hdrs = {"Accept": "application/json, text/plain, */*", "User-Agent": "axios/1.7.9"}
    assert runner.get("/", auth=False, headers=hdrs).json()["status"] == "ok"
    assert "metrics" in runner.get("/info", headers=hdrs).json()
    created = runner.post("/sandboxes", create_dto("cp-seq", metadata={"limitNetworkEgress": "false",
                                                                      "organizationId": "org-1",
                                                                      "organizationName": "Org",
                                                                      "sandboxName": "cp"}),
                          headers=hdrs)
    assert created.status == 201
    assert runner.get("/sandboxes/cp-seq", headers=hdrs).json()["state"] == "started"
    assert runner.post("/sandboxes/cp-seq/stop", headers=hdrs).json() == "Sandbox stopped"
    assert runner.get("/sandboxes/cp-seq", headers=hdrs).json()["state"] == "stopped"
    assert runner.post("/sandboxes/cp-seq/start", {}, headers=hdrs).status == 200
    v = runner.get("/sandboxes/cp-seq/toolbox/version", headers=hdrs)
    assert v.status == 200 and isinstance(v.json()["version"], str)
    assert runner.post("/sandboxes/cp-seq/destroy", headers=hdrs).json() == "Sandbox destroyed"
    assert runner.get("/sandboxes/cp-seq", headers=hdrs).json()["state"] == "destroyed"


def test_dec_api_destroy_sequence_then_recreate(runner):
    runner.create_sandbox("recreate-1", cpuQuota=2)
    assert runner.post("/sandboxes/recreate-1/destroy").status == 200
    assert runner.delete("/sandboxes/recreate-1").status == 200
    # the same id may be created again (the API moves sandboxes between runners)
    assert runner.post("/sandboxes", create_dto("recreate-1")).status == 201
    assert runner.get("/sandboxes/recreate-1").json()["state"] == "started"


# --- body validation on every route that binds a body (section 1.4) ------------------------------

BODY_ROUTES = [
    "/sandboxes/{id}/start", "/sandboxes/{id}/backup", "/sandboxes/{id}/resize",
    "/sandboxes/{id}/network-settings", "/sandboxes/{id}/recover", "/sandboxes/{id}/is-recoverable",
    "/sandboxes/{id}/snapshot-from-sandbox", "/snapshots/pull", "/snapshots/build", "/snapshots/tag",
    "/snapshots/inspect",
]


@pytest.mark.parametrize("route", BODY_ROUTES)
def test_empty_body_is_eof(runner, route):
    runner.create_sandbox("body-1")
    path = route.format(id="body-1")
    r = runner.post(path)
    assert_error(r, 400, "INVALID_REQUEST_BODY", path, "POST", "invalid body request: EOF")


@pytest.mark.parametrize("route", BODY_ROUTES)
def test_malformed_json_is_400(runner, route):
    runner.create_sandbox("body-2")
    path = route.format(id="body-2")
    r = runner.post(path, raw_body=b"{\"snapshot\": ", headers={"Content-Type": "application/json"})
    assert_error(r, 400, "INVALID_REQUEST_BODY", path, "POST")


@pytest.mark.parametrize("route,body", [
    ("/sandboxes/{id}/backup", {"registry": {"url": 5}, "snapshot": "s:1"}),
    ("/sandboxes/{id}/backup", {"registry": "r", "snapshot": "s:1"}),
    ("/sandboxes/{id}/resize", {"cpu": "2"}),
    ("/sandboxes/{id}/resize", {"cpu": 1.5}),
    ("/sandboxes/{id}/network-settings", {"networkAllowList": ["10.0.0.0/8"]}),
    ("/sandboxes/{id}/network-settings", {"networkLimitEgress": "false"}),
    ("/sandboxes/{id}/is-recoverable", {"errorReason": 5}),
    ("/sandboxes/{id}/snapshot-from-sandbox", {"name": ["x"], "registry": {"url": "r"}}),
    ("/snapshots/pull", {"snapshot": 1}),
    ("/snapshots/pull", {"snapshot": "a:1", "registry": []}),
    ("/snapshots/build", {"snapshot": "a:1", "dockerfile": "FROM x", "organizationId": "o", "context": "dir"}),
    ("/snapshots/build", {"snapshot": "a:1", "dockerfile": "FROM x", "organizationId": "o",
                          "pushToInternalRegistry": "yes"}),
    ("/snapshots/tag", {"sourceImage": 1, "targetImage": "b:1"}),
    ("/snapshots/inspect", {"snapshot": True}),
    ("/sandboxes/{id}/start", {"limitNetworkEgress": True}),
    ("/sandboxes/{id}/start", ["a"]),
])
def test_wrong_json_types_are_400(runner, route, body):
    runner.create_sandbox("types-3")
    path = route.format(id="types-3")
    r = runner.post(path, body)
    assert_error(r, 400, "INVALID_REQUEST_BODY", path, "POST")


@pytest.mark.parametrize("route,body,fields", [
    ("/sandboxes/{id}/backup", {}, ["Registry", "Snapshot"]),
    ("/sandboxes/{id}/backup", {"registry": {}, "snapshot": "s:1"}, ["Url"]),
    ("/sandboxes/{id}/is-recoverable", {}, ["ErrorReason"]),
    ("/sandboxes/{id}/snapshot-from-sandbox", {"registry": {"url": "r"}}, ["Name"]),
    ("/snapshots/pull", {}, ["Snapshot"]),
    ("/snapshots/pull", {"snapshot": ""}, ["Snapshot"]),
    ("/snapshots/build", {"snapshot": "a:1"}, ["Dockerfile", "OrganizationId"]),
    ("/snapshots/tag", {}, ["SourceImage", "TargetImage"]),
    ("/snapshots/inspect", {"snapshot": ""}, ["Snapshot"]),
])
def test_missing_required_fields_name_each_field(runner, route, body, fields):
    runner.create_sandbox("req-1")
    path = route.format(id="req-1")
    r = runner.post(path, body)
    err = assert_error(r, 400, "INVALID_REQUEST_BODY", path, "POST")
    lines = validation_lines(err)
    assert len(lines) == len(fields), lines
    for field, line in zip(fields, lines):
        assert re.fullmatch(rf"Key: '[A-Za-z]+(\.[A-Za-z]+)*\.{field}' Error:Field validation for '{field}' "
                            rf"failed on the 'required' tag", line), line


@pytest.mark.parametrize("raw,kind", [(b"[1]", "array"), (b"\"x\"", "string"), (b"5", "number"),
                                      (b"true", "bool")])
def test_start_body_that_is_not_a_map(runner, raw, kind):
    runner.create_sandbox("start-map")
    r = runner.post("/sandboxes/start-map/start", raw_body=raw)
    assert_error(r, 400, "INVALID_REQUEST_BODY", "/sandboxes/start-map/start", "POST",
                 f"invalid body request: json: cannot unmarshal {kind} into Go value of type map[string]string")


def test_create_validates_nested_registry_and_min_tags(runner):
    r = runner.post("/sandboxes", create_dto("nested-1", registry={"username": "u"}))
    lines = validation_lines(assert_error(r, 400, "INVALID_REQUEST_BODY", "/sandboxes", "POST"))
    assert lines == ["Key: 'CreateSandboxDTO.Registry.Url' Error:Field validation for 'Url' failed on the "
                     "'required' tag"]
    r = runner.post("/sandboxes", create_dto("nested-2", gpuQuota=-1))
    lines = validation_lines(assert_error(r, 400, "INVALID_REQUEST_BODY", "/sandboxes", "POST"))
    assert lines == ["Key: 'CreateSandboxDTO.GpuQuota' Error:Field validation for 'GpuQuota' failed on the "
                     "'min' tag"]
    r = runner.post("/sandboxes", create_dto("nested-3", cpuQuota=1.5))
    assert_error(r, 400, "INVALID_REQUEST_BODY", "/sandboxes", "POST",
                 "invalid body request: json: cannot unmarshal number 1.5 into Go struct field "
                 "CreateSandboxDTO.cpuQuota of type int64")
    r = runner.post("/sandboxes", create_dto("nested-4", entrypoint="sleep"))
    assert_error(r, 400, "INVALID_REQUEST_BODY", "/sandboxes", "POST")
    r = runner.post("/sandboxes", create_dto("nested-5", metadata={"limitNetworkEgress": True}))
    assert_error(r, 400, "INVALID_REQUEST_BODY", "/sandboxes", "POST")
    r = runner.post("/sandboxes", create_dto("", cpuQuota=0))
    lines = validation_lines(assert_error(r, 400, "INVALID_REQUEST_BODY", "/sandboxes", "POST"))
    assert lines[0].startswith("Key: 'CreateSandboxDTO.Id' ") and lines[1].startswith("Key: 'CreateSandboxDTO.CpuQuota' ")


def test_create_accepts_every_dto_shape_the_apis_send(runner):
    """Unknown fields are ignored, volume elements are not validated (both the mock's and the
    real runner's shapes), null maps are fine, June-2026 fields are accepted."""
    dto = create_dto("shapes-1", fromVolumeId="v0", env=None, entrypoint=["sleep", "infinity"],
                     volumes=[{"volumeId": "v1", "mountPath": "/data", "subpath": "x"},
                              {"id": "v2", "mountPath": "/other"}],
                     networkBlockAll=False, networkAllowList="10.0.0.0/8,192.168.0.0/16",
                     registry={"url": "registry:5000", "username": None, "password": None, "project": "p"},
                     metadata=None, name="my-sandbox", domainAllowList="example.com", authToken="t",
                     otelEndpoint="http://otel:4318", sandboxClass="container", organizationId="org-1",
                     regionId="eu", linkedSandboxId=None, someFutureField={"nested": [1, 2]})
    r = runner.post("/sandboxes", dto)
    assert r.status == 201, r
    assert runner.get("/sandboxes/shapes-1").json()["state"] == "started"


def test_backup_registry_credentials_are_optional(runner):
    runner.create_sandbox("bk-opt")
    r = runner.post("/sandboxes/bk-opt/backup", {"registry": {"url": "r:5000", "username": None, "password": None},
                                                "snapshot": "r:5000/bk:1"})
    assert r.status == 201


def test_destroy_and_stop_ignore_their_bodies(runner):
    runner.create_sandbox("nobody-1")
    assert runner.post("/sandboxes/nobody-1/stop", raw_body=b"").status == 200
    assert runner.post("/sandboxes/nobody-1/destroy", raw_body=b"{garbage").status == 200
    assert runner.delete("/sandboxes/nobody-1", raw_body=b"{garbage").status == 200


@pytest.mark.parametrize("route", ["/snapshots/pull", "/sandboxes/{id}/start", "/sandboxes/{id}/backup",
                                   "/snapshots/build"])
def test_body_limit_applies_to_every_json_route(make_runner, route):
    r = make_runner(env={"MAX_BODY_SIZE": "2K"})
    r.create_sandbox("limit-1")
    path = route.format(id="limit-1")
    big = json.dumps({"snapshot": "x" * 4096}).encode()
    assert_error(r.post(path, raw_body=big), 413, "PAYLOAD_TOO_LARGE", path, "POST")
    # just under the limit is fine
    r2 = r.post("/snapshots/pull", {"snapshot": "y" * 1500 + ":1"})
    assert r2.status in (200, 202), r2


def test_default_body_limit_exists(runner):
    big = b"{\"id\": \"" + b"x" * (11 * 1024 * 1024) + b"\"}"
    r = runner.post("/sandboxes", raw_body=big, timeout=60)
    assert_error(r, 413, "PAYLOAD_TOO_LARGE", "/sandboxes", "POST")
    assert runner.get("/").status == 200


# --- auth (section 1.5) ---------------------------------------------------------------------------

@pytest.mark.parametrize("value,message", [
    # HTTP servers trim the value's surrounding whitespace (Go's textproto too): "Bearer " is "Bearer"
    ("Bearer ", "unauthorized: invalid authorization header format"),
    ("Bearer  test-token", "unauthorized: invalid authorization header format"),
    ("Token test-token", "unauthorized: invalid authorization header format"),
    ("test-token", "unauthorized: invalid authorization header format"),
])
def test_auth_header_format(runner, value, message):
    r = runner.get("/info", auth=False, headers={"Authorization": value})
    assert_error(r, 401, "UNAUTHORIZED", "/info", "GET", message)
    r = runner.get("/info", auth=False, headers={"X-Daytona-Authorization": value})
    assert_error(r, 401, "UNAUTHORIZED", "/info", "GET", message)


def test_public_routes_ignore_bad_credentials(runner):
    for hdrs in ({"Authorization": "Bearer wrong"}, {"Authorization": "garbage"},
                 {"X-Daytona-Authorization": "Bearer wrong"}):
        assert runner.get("/", auth=False, headers=hdrs).status == 200
        assert runner.get("/metrics", auth=False, headers=hdrs).status == 200


def test_unknown_route_and_wrong_method_without_auth_are_404(runner):
    r = runner.request("PUT", "/sandboxes/x", auth=False)
    assert_error(r, 404, "NOT_FOUND", "/sandboxes/x", "PUT")
    r = runner.get("/sandboxes", auth=False)
    assert_error(r, 404, "NOT_FOUND", "/sandboxes", "GET")


@pytest.mark.parametrize("method,path", [
    ("GET", "/sandboxes"), ("POST", "/info"), ("POST", "/"), ("PUT", "/metrics"), ("GET", "/snapshots/pull"),
    ("POST", "/snapshots/exists"), ("POST", "/snapshots/logs"), ("GET", "/snapshots/remove"),
    ("GET", "/sandboxes/x/start"), ("PATCH", "/sandboxes/x"), ("GET", "/sandboxes/x/update-network-settings"),
    ("POST", "/sandboxes/x/update-network-settings"), ("GET", "/snapshots"), ("DELETE", "/snapshots/remove"),
])
def test_wrong_method_or_route_is_common_404(runner, method, path):
    r = runner.request(method, path)
    assert_error(r, 404, "NOT_FOUND", path, method)


def test_error_path_has_no_query(runner):
    r = runner.get("/no/route?x=1&y=2")
    assert_error(r, 404, "NOT_FOUND", "/no/route", "GET")
    r = runner.get("/snapshots/exists?other=1")
    assert_error(r, 400, "BAD_REQUEST", "/snapshots/exists", "GET", "bad request: snapshot parameter is required")


def test_daytona_runner_token_wins_over_api_token(make_runner):
    r = make_runner(env={"API_TOKEN": "old", "DAYTONA_RUNNER_TOKEN": "new"}, token="new")
    assert r.get("/info").status == 200
    assert request(r.url, "GET", "/info", token="old").status == 401
    # an empty newer name falls back to the older one
    r = make_runner(env={"API_TOKEN": "old", "DAYTONA_RUNNER_TOKEN": ""}, token="old")
    assert r.get("/info").status == 200


def test_accept_any_token_is_the_go_mocks_check(make_runner):
    """The seed README starts the runner with API_TOKEN=your-api-token and registers it with
    MOCK_RUNNER_API_KEY=your-mock-runner-api-key: the Go mock checks no token."""
    r = make_runner(env={"ACCEPT_ANY_TOKEN": "true"})
    assert request(r.url, "GET", "/info", token="your-mock-runner-api-key").status == 200
    assert request(r.url, "GET", "/info", headers={"X-Daytona-Authorization": "Bearer other"}).status == 200
    # the format is still checked, and the test controls keep the real token
    assert_error(request(r.url, "GET", "/info", headers={"Authorization": "Basic x"}), 401, "UNAUTHORIZED",
                 "/info", "GET", "unauthorized: invalid authorization header format")
    assert request(r.url, "GET", "/_mock/requests", token="other").status == 401
    assert request(r.url, "GET", "/_mock/requests", token=r.token).status == 200


def test_daytona_api_url_is_enough(make_runner):
    r = make_runner(env={"SERVER_URL": None, "DAYTONA_API_URL": "http://api:3000"})
    assert r.get("/info").status == 200


class _EchoHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({k.lower(): v for k, v in self.headers.items()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def echo_port():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EchoHandler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_daytona_proxy_request_is_accepted_and_its_key_stripped(runner, echo_port):
    """The Daytona proxy sends X-Daytona-Authorization (runner key) to
    /sandboxes/{id}/toolbox/proxy/{port}/...; a preview request carries no Authorization of its
    own. The runner accepts it and never forwards the runner key."""
    runner.create_sandbox("proxy-1")
    r = runner.get(f"/sandboxes/proxy-1/toolbox/proxy/{echo_port}/hello", auth=False,
                   headers={"X-Daytona-Authorization": f"Bearer {runner.token}",
                            "X-Forwarded-Host": "3000-proxy-1.example.com"})
    assert r.status == 200, r
    seen = r.json()
    assert "x-daytona-authorization" not in seen
    assert seen.get("x-forwarded-host") == "3000-proxy-1.example.com"
    # an Authorization header is forwarded unchanged
    r = runner.get(f"/sandboxes/proxy-1/toolbox/proxy/{echo_port}/hello", auth=False,
                   headers={"X-Daytona-Authorization": f"Bearer {runner.token}",
                            "Authorization": "Bearer user-preview-token"})
    assert r.status == 200
    assert r.json().get("authorization") == "Bearer user-preview-token"


# --- snapshots (sections 2.12, 4, 5.4) -------------------------------------------------------------

def test_latest_source_cannot_be_tagged(runner):
    runner.post("/snapshots/pull", {"snapshot": "tagsrc:latest"})
    r = runner.post("/snapshots/tag", {"sourceImage": "tagsrc:latest", "targetImage": "tagdst:1"})
    assert_error(r, 404, "NOT_FOUND", "/snapshots/tag", "POST", "not found: source image not found: tagsrc:latest")
    runner.create_sandbox("tag-src-maker")     # makes ubuntu:22.04 known
    r = runner.post("/snapshots/tag", {"sourceImage": "ubuntu:22.04", "targetImage": "tagdst:"})
    assert_error(r, 400, "BAD_REQUEST", "/snapshots/tag", "POST", "bad request: targetImage must include a valid tag")


def test_info_of_missing_snapshot_is_404(runner):
    r = runner.get("/snapshots/info?snapshot=never-pulled:9")
    assert_error(r, 404, "NOT_FOUND", "/snapshots/info", "GET", "not found: snapshot not found: never-pulled:9")
    assert runner.get("/snapshots/exists?snapshot=never-pulled:9").json() == {"exists": False}


def test_remove_snapshot_needs_the_parameter(runner):
    assert_error(runner.post("/snapshots/remove"), 400, "BAD_REQUEST", "/snapshots/remove", "POST",
                 "bad request: snapshot parameter is required")


def test_snapshot_info_fields(runner):
    runner.post("/snapshots/pull", {"snapshot": "fields:1"})
    info = runner.get("/snapshots/info?snapshot=fields:1").json()
    assert set(info) <= {"name", "sizeGB", "entrypoint", "cmd", "hash"}
    assert isinstance(info["sizeGB"], float)
    assert not info["hash"].startswith("sha256:")


@pytest.mark.parametrize("snapshot", ["notag", "ends-with:", ""])
def test_build_needs_a_tagged_name(runner, snapshot):
    r = runner.post("/snapshots/build", {"snapshot": snapshot, "dockerfile": "FROM x", "organizationId": "o"})
    assert_error(r, 400, "BAD_REQUEST", "/snapshots/build", "POST", "bad request: snapshot name must include a valid tag")


def test_build_accepts_context_and_source_registries(runner):
    r = runner.post("/snapshots/build", {"snapshot": "ctx:1", "dockerfile": "FROM x", "organizationId": "o",
                                         "context": ["abc123", "def456"],
                                         "sourceRegistries": [{"url": "docker.io", "username": "u", "password": "p"}],
                                         "pushToSnapshotRegistry": False})
    assert r.status in (200, 202), r
    assert runner.get("/snapshots/exists?snapshot=ctx:1").json() == {"exists": True}


def test_pull_accepts_june_fields(runner):
    r = runner.post("/snapshots/pull", {"snapshot": "june:1", "registry": {"url": "docker.io"},
                                        "sandboxClass": "container", "newTag": "june-tag:2"})
    assert r.status in (200, 202), r
    assert runner.get("/snapshots/exists?snapshot=june:1").json() == {"exists": True}
    # newTag: the pulled image is tagged under that name too
    assert runner.get("/snapshots/exists?snapshot=june-tag:2").json() == {"exists": True}


def test_logs_follow_of_unknown_ref_does_not_hang(runner):
    """The Go mock ignores follow: a ref nobody builds must not keep the request open."""
    r = runner.get("/snapshots/logs?snapshotRef=nobody-builds-this:1&follow=true", timeout=10)
    assert r.status == 200
    assert r.header("Content-Type") == "application/octet-stream"
    assert r.text == "Mock build log for nobody-builds-this:1\nBuild completed successfully.\n"


def test_logs_are_found_by_build_id(runner):
    """Build logs are files named after the ref up to its first ':' (Go mock and real runners),
    so the Daytona API may ask for them with or without the tag."""
    runner.post("/snapshots/build", {"snapshot": "logkey:1", "dockerfile": "FROM x\nRUN true", "organizationId": "o"})
    exact = runner.get("/snapshots/logs?snapshotRef=logkey:1")
    assert exact.text.startswith("Mock build log for logkey:1\n")
    by_id = runner.get("/snapshots/logs?snapshotRef=logkey")
    assert (by_id.status, by_id.text) == (200, exact.text)


def test_logs_follow_of_a_daytona_build_ends(make_runner):
    """The real runners follow until the image exists, appending ':daytona' to a ref that
    starts with 'daytona' (the API asks for daytona-<hash> logs of a daytona-<hash>:daytona build)."""
    r = make_runner(env={"STRICT": "true"})
    r.post("/snapshots/build", {"snapshot": "daytona-0123abcd:daytona", "dockerfile": "FROM x",
                                "organizationId": "o"})
    res = r.get("/snapshots/logs?snapshotRef=daytona-0123abcd&follow=true", timeout=10)
    assert res.status == 200 and res.text.startswith("Mock build log for daytona-0123abcd:daytona\n")
    # a ref nobody built is a 404 at once, follow or not
    res = r.get("/snapshots/logs?snapshotRef=nobody:1&follow=true", timeout=10)
    assert_error(res, 404, "NOT_FOUND", "/snapshots/logs", "GET", "not found: build logs not found for ref: nobody:1")


def test_strict_follow_streams_until_its_bound(make_runner):
    """STRICT follows like the real runners: an image that never appears keeps the stream open
    until SNAPSHOT_LOGS_FOLLOW_TIMEOUT_SEC, and the log is sent before that."""
    import time
    r = make_runner(env={"STRICT": "true", "SNAPSHOT_LOGS_FOLLOW_TIMEOUT_SEC": "1"})
    r.post("/snapshots/build", {"snapshot": "removed:1", "dockerfile": "FROM x", "organizationId": "o"})
    r.post("/snapshots/remove?snapshot=removed:1")
    started = time.monotonic()
    res = r.get("/snapshots/logs?snapshotRef=removed:1&follow=true", timeout=10)
    assert time.monotonic() - started >= 0.9
    assert res.status == 200 and res.header("Content-Type") == "application/octet-stream"
    assert res.text.startswith("Mock build log for removed:1\n")


def test_logs_follow_after_the_image_is_removed_does_not_hang(runner):
    runner.post("/snapshots/build", {"snapshot": "gone:1", "dockerfile": "FROM x", "organizationId": "o"})
    runner.post("/snapshots/remove?snapshot=gone:1")
    r = runner.get("/snapshots/logs?snapshotRef=gone:1&follow=true", timeout=10)
    assert r.status == 200 and r.text.startswith("Mock build log for gone:1\n")


def test_inspect_reply_types(runner):
    r = runner.post("/snapshots/inspect", {"snapshot": "insp:1", "registry": {"url": "registry:5000"}})
    assert r.status == 200
    body = r.json()
    assert set(body) == {"hash", "sizeGB"}
    assert isinstance(body["hash"], str) and isinstance(body["sizeGB"], (int, float))


# --- sandbox routes, June 2026 additions -----------------------------------------------------------

@pytest.mark.parametrize("reason,expected", [
    ("write /x: No Space Left On Device", True),
    ("STORAGE LIMIT reached", True),
    ("Disk quota exceeded", True),
    ("container exited with code 137", False),
])
def test_is_recoverable_is_case_insensitive(runner, reason, expected):
    runner.create_sandbox("isrec")
    r = runner.post("/sandboxes/isrec/is-recoverable", {"errorReason": reason})
    assert (r.status, r.json()) == (200, {"recoverable": expected})


def test_snapshot_from_sandbox_reply(runner):
    runner.create_sandbox("sfs-2")
    r = runner.post("/sandboxes/sfs-2/snapshot-from-sandbox",
                    {"name": "sfs-snap:1", "organizationId": "org", "registry": {"url": "registry:5000",
                                                                                 "project": "daytona"}})
    assert r.status == 200
    body = r.json()
    assert set(body) <= {"name", "sizeGB", "entrypoint", "cmd", "hash"}
    assert body["name"] == "sfs-snap:1" and isinstance(body["sizeGB"], float)
    info = runner.get("/snapshots/info?snapshot=sfs-snap:1")
    assert info.status == 200 and info.json()["hash"] == body["hash"]


def test_stop_force_and_start_token(runner):
    runner.create_sandbox("force-1")
    assert runner.post("/sandboxes/force-1/stop", {"force": True}).json() == "Sandbox stopped"
    assert runner.get("/sandboxes/force-1").json()["state"] == "stopped"
    r = runner.post("/sandboxes/force-1/start?token=secret-telemetry-token", {})
    assert r.status == 200 and isinstance(r.json()["daemonVersion"], str)


def test_network_settings_accepts_nulls(runner):
    runner.create_sandbox("net-null")
    r = runner.post("/sandboxes/net-null/network-settings",
                    {"networkBlockAll": None, "networkAllowList": None, "networkLimitEgress": None,
                     "domainAllowList": None})
    assert r.status == 200


def test_backup_progress_is_reported_uppercase(runner):
    runner.create_sandbox("bk-up")
    runner.post("/sandboxes/bk-up/backup", {"registry": {"url": "r"}, "snapshot": "r/bk-up:1"})
    got = runner.get("/sandboxes/bk-up").json()
    assert got["backupState"] in ("PENDING", "IN_PROGRESS", "COMPLETED")
    assert got["backupState"] == got["backupState"].upper()


# --- /metrics (section 6) ---------------------------------------------------------------------------

def test_metrics_exposition_is_well_formed(make_runner):
    r = make_runner()
    r.create_sandbox("hist-1")
    r.post("/sandboxes/hist-1/destroy")
    res = r.get("/metrics", auth=False)
    assert res.header("Content-Type").startswith("text/plain")
    body = res.text
    assert "# TYPE mock_runner_container_operation_total counter" in body
    assert "# HELP mock_runner_container_operation_total " in body
    assert "# TYPE mock_runner_container_operation_duration_seconds histogram" in body
    buckets = re.findall(r'^mock_runner_container_operation_duration_seconds_bucket\{operation="create",le="([^"]+)"\}'
                         r' (\S+)$', body, re.M)
    assert buckets and buckets[-1][0] == "+Inf"
    counts = [float(v) for _, v in buckets]
    assert counts == sorted(counts)
    count = re.search(r'^mock_runner_container_operation_duration_seconds_count\{operation="create"\} (\S+)$',
                      body, re.M)
    assert count and float(count.group(1)) == counts[-1] == 1
    assert re.search(r'^mock_runner_container_operation_duration_seconds_sum\{operation="create"\} \S+$', body, re.M)
    # every family is declared once, before its samples
    types = re.findall(r"^# TYPE (\S+) ", body, re.M)
    assert len(types) == len(set(types))
    assert body.endswith("\n")


def test_metrics_leaves_out_families_without_series(make_runner):
    """runner-api.md 6: a vector with no series is not printed at all (client_golang drops
    empty families, HELP and TYPE included), so a fresh runner shows no mock_runner_* family."""
    r = make_runner()
    first = r.get("/metrics", auth=False).text
    assert "mock_runner_" not in first, first
    r.create_sandbox("series-1")
    text = r.get("/metrics", auth=False).text
    assert "# TYPE mock_runner_container_operation_total counter" in text


def test_snapshot_hash_is_sha256_of_the_name(runner):
    import hashlib
    runner.post("/snapshots/pull", {"snapshot": "docker.io/library/hashme:2"})
    runner.post("/snapshots/build", {"snapshot": "hashb:1", "dockerfile": "FROM x", "organizationId": "o"})
    for name in ("library/hashme:2", "hashb:1"):
        info = runner.get("/snapshots/info?snapshot=" + name).json()
        assert info["hash"] == hashlib.sha256(name.encode()).hexdigest()


def test_metrics_has_the_default_handler_families(make_runner):
    """client_golang's default handler reports its own scrapes (runner-api.md section 6)."""
    r = make_runner()
    first = r.get("/metrics", auth=False).text
    assert "# TYPE promhttp_metric_handler_requests_total counter" in first
    assert 'promhttp_metric_handler_requests_total{code="200"} 0' in first
    assert re.search(r"^promhttp_metric_handler_requests_in_flight 1$", first, re.M)
    second = r.get("/metrics", auth=False).text
    assert 'promhttp_metric_handler_requests_total{code="200"} 1' in second


def test_metrics_auth_flag(make_runner):
    r = make_runner(args=["--metrics-auth", "true"])
    assert_error(r.get("/metrics", auth=False), 401, "UNAUTHORIZED", "/metrics", "GET")
    assert r.get("/metrics").status == 200
    assert r.get("/", auth=False).status == 200


# --- configuration (seed README table, section 8.1) -------------------------------------------------

def test_default_port_is_8080():
    """Without API_PORT the runner takes 8080: it either listens there or says 8080 is in use."""
    import os
    env = {k: v for k, v in os.environ.items() if k not in ("API_PORT", "API_TOKEN", "SERVER_URL",
                                                            "DAYTONA_RUNNER_TOKEN", "DAYTONA_API_URL")}
    env.update({"API_TOKEN": "tok", "SERVER_URL": "http://localhost:3000"})
    p = subprocess.Popen([os.environ["MOCK_RUNNER_BIN"]], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        line = p.stdout.readline()
        if line:
            assert "listening on http://" in line and ":8080" in line, line
        else:
            p.wait(10)
            assert p.returncode != 0 and "port 8080 is already in use" in p.stderr.read()
    finally:
        if p.poll() is None:
            p.terminate()
            p.wait(10)
        p.stdout.close()
        p.stderr.close()


def test_help_gives_the_seed_defaults():
    import os
    p = subprocess.run([os.environ["MOCK_RUNNER_BIN"], "--help"], capture_output=True, text=True, timeout=10)
    lines = {l.split()[0]: l for l in p.stdout.splitlines() if l.strip() and l.split()[0].isupper()}
    for name, default in (("API_PORT", "8080"), ("LOG_LEVEL", "warn"), ("TOOLBOX_IMAGE", "ubuntu:22.04"),
                          ("SSH_GATEWAY_ENABLE", "false"), ("CACHE_RETENTION_DAYS", "7"), ("ENABLE_TLS", "false")):
        assert f"[default: {default}]" in lines[name], lines[name]
    for name in ("SERVER_URL", "API_TOKEN"):
        assert "[required]" in lines[name]


@pytest.mark.parametrize("flag,value", [
    ("--server-url", "http://api:3000"), ("--environment", "development"), ("--log-level", "debug"),
    ("--toolbox-image", "ubuntu:24.04"), ("--cache-retention-days", "3"), ("--ssh-gateway-enable", "false"),
    ("--enable-tls", "false"), ("--tls-cert-file", "/nonexistent.pem"), ("--tls-key-file", "/nonexistent.key"),
])
def test_every_seed_variable_has_a_flag(make_runner, flag, value):
    r = make_runner(args=[f"{flag}={value}"])
    assert r.get("/info").status == 200
    r2 = make_runner(args=[flag, value])
    assert r2.get("/").status == 200


def test_log_file_path_flag(tmp_path, make_runner):
    log = tmp_path / "flag" / "runner.log"
    r = make_runner(args=["--log-file-path", str(log), "--log-level", "info"])
    assert r.get("/sandboxes/flag-logged").status == 200
    r.stop()
    assert "/sandboxes/flag-logged" in log.read_text()


@pytest.mark.parametrize("value", ["debug", "info", "warn", "error", "INFO", "Warn", "warning", "trace"])
def test_log_levels_of_the_go_mock(make_runner, value):
    """The Go mock parses LOG_LEVEL with logrus (case-insensitive; warning and trace too)."""
    r = make_runner(env={"LOG_LEVEL": value})
    assert r.get("/").status == 200


@pytest.mark.parametrize("value", ["true", "TRUE", "True", "1", "t", "T"])
def test_tls_booleans_as_go_parses_them(tmp_path, make_runner, value):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], check=True, capture_output=True)
    r = make_runner(env={"ENABLE_TLS": value, "TLS_CERT_FILE": str(cert), "TLS_KEY_FILE": str(key)})
    assert r.url.startswith("https://")
    ctx = ssl.create_default_context(cafile=str(cert))
    res = request(r.url, "GET", "/info", token=r.token, tls_context=ctx)
    assert res.status == 200
    assert request(r.url, "GET", "/metrics", tls_context=ctx).status == 200


@pytest.mark.parametrize("value", ["false", "FALSE", "0", "f", "F", "False"])
def test_tls_off_values_serve_plain_http(make_runner, value):
    r = make_runner(env={"ENABLE_TLS": value, "TLS_CERT_FILE": "/nonexistent.pem"})
    assert r.url.startswith("http://")
    assert r.get("/").status == 200


def test_tls_flags(tmp_path, make_runner):
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    r = make_runner(args=["--enable-tls", "true", "--tls-cert-file", str(cert), "--tls-key-file", str(key)])
    assert r.url.startswith("https://")
    ctx = ssl.create_default_context(cafile=str(cert))
    assert request(r.url, "GET", "/", tls_context=ctx).status == 200


@pytest.mark.parametrize("value", ["0", "-3"])
def test_cache_retention_non_positive_means_default(make_runner, value):
    r = make_runner(env={"CACHE_RETENTION_DAYS": value})
    r.create_sandbox("ret-1")
    assert r.get("/sandboxes/ret-1").json()["state"] == "started"


@pytest.mark.parametrize("env,fragment", [
    ({"API_TOKEN": ""}, "API_TOKEN is required"),
    ({"SERVER_URL": ""}, "SERVER_URL is required"),
    ({"CACHE_RETENTION_DAYS": "1.5"}, "invalid value for CACHE_RETENTION_DAYS"),
    ({"API_PORT": "-1"}, "invalid value for API_PORT"),
    ({"ENABLE_TLS": "yesplease"}, "invalid value for ENABLE_TLS"),
])
def test_more_invalid_values(env, fragment):
    rc, out, err = run_runner_expecting_failure(dict(BASE, **env))
    assert rc != 0
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("mock-runner: ") and fragment in lines[0], err


def test_dotenv_is_read_as_the_go_mock_reads_it(tmp_path):
    """The Go mock loads .env with godotenv: inline comments after unquoted values, anything
    after a closing quote, YAML-style KEY: VALUE, and escapes in double quotes."""
    (tmp_path / ".env").write_text(
        "API_TOKEN=tok-1 # the runner's token\n"
        "SERVER_URL=\"http://api:3000\" # quoted, then a comment\n"
        "API_PORT: 0\n"
        "VERSION='v1.2.3#not-a-comment'\n"
        "export LOG_LEVEL=info\n")
    with runner_in_dir(tmp_path, unset=("API_TOKEN", "SERVER_URL", "API_PORT", "VERSION", "LOG_LEVEL",
                                        "DAYTONA_RUNNER_TOKEN", "DAYTONA_API_URL")) as url:
        assert request(url, "GET", "/info", token="tok-1").status == 200
        assert request(url, "GET", "/").json()["version"] == "v1.2.3#not-a-comment"


def test_flag_without_value_is_an_error():
    rc, out, err = run_runner_expecting_failure(BASE, ["--api-port"])
    assert rc != 0
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("mock-runner: "), err


def test_ssh_gateway_enable_starts_the_gateway(make_runner):
    port = free_port()
    r = make_runner(env={"SSH_GATEWAY_ENABLE": "true", "SSH_GATEWAY_PORT": str(port)})
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        assert s.recv(64).startswith(b"SSH-2.0-")
    assert r.get("/").status == 200


def test_environment_development_logs_requests(tmp_path, make_runner):
    """ENVIRONMENT=development turns on debug logging: requests are logged without LOG_LEVEL."""
    import time
    log = tmp_path / "dev.log"
    r = make_runner(env={"ENVIRONMENT": "development", "LOG_FILE_PATH": str(log)})
    r.get("/sandboxes/dev-logged")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "/sandboxes/dev-logged" not in (log.read_text() if log.exists() else ""):
        time.sleep(0.05)
    assert "/sandboxes/dev-logged" in log.read_text()
