"""The control-plane facade: the Daytona API routes the SDKs call, served by the runner
itself under CONTROL_PLANE_PREFIX (official-clients.md sections 4.3-4.5), with plain HTTP.
The official SDKs drive the same routes in test_official_sdk.py."""
import json
import re
import urllib.parse

import pytest

from mrtest import request
from wsclient import HandshakeError, WebSocket

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def api(runner, method, path, body=None, token="runner", headers=None, **kw):
    """A request to {runner}/api{path} with the runner token (or the token given)."""
    if token == "runner":
        token = runner.token
    return request(runner.url, method, "/api" + path, body=body, token=token, headers=headers, **kw)


def create(runner, **body):
    r = api(runner, "POST", "/sandbox", body)
    assert r.status == 200, r
    return r.json()


def runner_state(runner, sandbox_id):
    return runner.get(f"/sandboxes/{sandbox_id}").json()["state"]


def test_create_answers_the_dto_the_sdks_read(runner):
    dto = create(runner, name="cp-create", snapshot="python:3.12", user="root", env={"A": "1"},
                 labels={"team": "qa", "code-toolbox-language": "python"}, cpu=2, memory=4, disk=10,
                 autoStopInterval=0, autoArchiveInterval=60, autoDeleteInterval=5, public=True, target="eu")
    assert UUID4.match(dto["id"]), dto["id"]
    assert dto["name"] == "cp-create"
    assert dto["state"] == "started"
    assert dto["snapshot"] == "python:3.12"
    assert dto["user"] == "root"
    assert dto["env"] == {"A": "1"}
    assert dto["labels"] == {"team": "qa", "code-toolbox-language": "python"}
    assert (dto["cpu"], dto["gpu"], dto["memory"], dto["disk"]) == (2, 0, 4, 10)
    assert (dto["autoStopInterval"], dto["autoArchiveInterval"], dto["autoDeleteInterval"]) == (0, 60, 5)
    assert dto["public"] is True and dto["target"] == "eu"
    assert dto["toolboxProxyUrl"] == runner.url + "/toolbox"
    assert ISO_MS.match(dto["createdAt"]) and ISO_MS.match(dto["updatedAt"])
    assert dto["backupState"] == "None"
    assert dto["daemonVersion"] == "v0.0.0-dev"


def test_create_defaults(runner):
    dto = create(runner)
    assert dto["name"] == dto["id"]
    assert dto["snapshot"] == "daytonaio/sandbox:latest"
    assert dto["user"] == "daytona"
    assert (dto["cpu"], dto["memory"], dto["disk"]) == (1, 1, 3)
    assert dto["labels"] == {} and dto["env"] == {}
    assert dto["autoStopInterval"] == 15
    assert dto["organizationId"] == "mock-organization"
    assert dto["volumes"] == []


def test_create_from_an_image_runs_its_base_image(runner):
    dto = create(runner, buildInfo={"dockerfileContent": "FROM --platform=linux/amd64 node:22-slim\nRUN true\n"})
    assert dto["snapshot"] == "node:22-slim"


def test_create_reaches_the_runner_and_info(make_runner):
    r = make_runner()
    dto = create(r, cpu=3, memory=2, disk=7, snapshot="img:cp")
    assert runner_state(r, dto["id"]) == "started"
    metrics = r.get("/info").json()["metrics"]
    assert (metrics["currentAllocatedCpu"], metrics["currentAllocatedMemoryGiB"],
            metrics["currentAllocatedDiskGiB"]) == (3, 2, 7)
    assert metrics["currentStartedSandboxes"] == 1
    assert r.get("/snapshots/exists?snapshot=img:cp").json() == {"exists": True}


@pytest.mark.parametrize("body, message", [
    ({"cpu": "two"}, "cpu must be an integer number"),
    ({"memory": -1}, "memory must not be less than 0"),
    ({"labels": {"a": 1}}, "labels.a must be a string"),
    ({"env": []}, "env must be an object"),
    ({"name": 5}, "name must be a string"),
    ({"public": "yes"}, "public must be a boolean value"),
])
def test_create_rejects_invalid_fields(runner, body, message):
    r = api(runner, "POST", "/sandbox", body)
    assert r.status == 400, r
    assert r.json()["statusCode"] == 400
    assert r.json()["message"] == message


def test_create_rejects_a_body_that_is_not_an_object(runner):
    r = api(runner, "POST", "/sandbox", raw_body=b"{nope", headers={"Content-Type": "application/json"})
    assert r.status == 400 and "invalid JSON" in r.json()["message"]
    r = api(runner, "POST", "/sandbox", [1, 2])
    assert r.status == 400 and r.json()["message"] == "request body must be a JSON object"


def test_create_rejects_a_name_in_use(runner):
    create(runner, name="cp-dup")
    r = api(runner, "POST", "/sandbox", {"name": "cp-dup"})
    assert r.status == 409
    assert r.json()["message"] == "Sandbox with name cp-dup already exists"


def test_get_by_id_and_by_name(runner):
    dto = create(runner, name="cp-by-name")
    by_id = api(runner, "GET", f"/sandbox/{dto['id']}")
    by_name = api(runner, "GET", "/sandbox/cp-by-name")
    assert by_id.status == by_name.status == 200
    assert by_id.json()["id"] == by_name.json()["id"] == dto["id"]
    assert by_name.json()["name"] == "cp-by-name"


def test_unknown_sandbox_is_a_404_with_a_message(runner):
    for method, path in (("GET", "/sandbox/nope"), ("POST", "/sandbox/nope/start"), ("POST", "/sandbox/nope/stop"),
                         ("DELETE", "/sandbox/nope"), ("GET", "/sandbox/nope/toolbox-proxy-url")):
        r = api(runner, method, path)
        assert r.status == 404, (method, path, r)
        body = r.json()
        assert body["statusCode"] == 404
        assert body["message"] == "Sandbox with ID or name nope not found"
        assert body["error"] == "Not Found"


def test_lifecycle_states_agree_with_the_runner_api(runner):
    dto = create(runner)
    sid = dto["id"]
    r = api(runner, "POST", f"/sandbox/{sid}/stop?force=false")
    assert r.status == 200 and r.json()["state"] == "stopped"
    assert runner_state(runner, sid) == "stopped"
    assert api(runner, "GET", f"/sandbox/{sid}").json()["state"] == "stopped"
    r = api(runner, "POST", f"/sandbox/{sid}/start")
    assert r.status == 200 and r.json()["state"] == "started"
    assert runner_state(runner, sid) == "started"
    # the runner API moves it, the facade sees it
    assert runner.post(f"/sandboxes/{sid}/stop").status == 200
    assert api(runner, "GET", f"/sandbox/{sid}").json()["state"] == "stopped"
    assert runner.post(f"/sandboxes/{sid}/start", {}).status == 200
    r = api(runner, "DELETE", f"/sandbox/{sid}")
    assert r.status == 200 and r.json()["state"] == "destroyed"
    assert runner_state(runner, sid) == "destroyed"


def test_a_deleted_sandbox_still_reads_back_as_destroyed(runner):
    # SDK 0.108 GETs the sandbox right after DELETE and fails on a 404
    dto = create(runner, name="cp-gone", labels={"k": "v"})
    assert api(runner, "DELETE", f"/sandbox/{dto['id']}").status == 200
    for key in (dto["id"], "cp-gone"):
        r = api(runner, "GET", f"/sandbox/{key}")
        assert r.status == 200, r
        assert r.json()["state"] == "destroyed" and r.json()["id"] == dto["id"]
        assert r.json()["labels"] == {"k": "v"}
    # deleting again is fine; starting it is not
    assert api(runner, "DELETE", f"/sandbox/{dto['id']}").json()["state"] == "destroyed"
    r = api(runner, "POST", f"/sandbox/{dto['id']}/start")
    assert r.status == 400 and r.json()["message"] == f"Sandbox {dto['id']} is destroyed"
    # and the name is free again
    assert create(runner, name="cp-gone")["id"] != dto["id"]


def test_a_sandbox_destroyed_through_the_runner_api_reads_back_as_destroyed(runner):
    dto = create(runner)
    assert runner.post(f"/sandboxes/{dto['id']}/destroy").status == 200
    r = api(runner, "GET", f"/sandbox/{dto['id']}")
    assert r.status == 200 and r.json()["state"] == "destroyed"


def test_runner_api_sandboxes_are_visible(runner):
    runner.create_sandbox("cp-runner-made", name="made-by-runner", cpuQuota=2)
    r = api(runner, "GET", "/sandbox/cp-runner-made")
    assert r.status == 200
    assert r.json()["name"] == "made-by-runner" and r.json()["cpu"] == 2 and r.json()["labels"] == {}
    assert api(runner, "GET", "/sandbox/made-by-runner").json()["id"] == "cp-runner-made"


def list_ids(runner, query="", headers=None):
    r = api(runner, "GET", "/sandbox" + query, headers=headers)
    assert r.status == 200, r
    return r.json()


def test_list_with_label_filter(make_runner):
    r = make_runner()
    a = create(r, labels={"suite": "cp", "n": "1"})
    b = create(r, labels={"suite": "cp", "n": "2"})
    c = create(r, labels={"suite": "other"})
    page = list_ids(r)
    assert page["nextCursor"] is None
    assert {s["id"] for s in page["items"]} == {a["id"], b["id"], c["id"]}
    labels = urllib.parse.quote(json.dumps({"suite": "cp"}))
    assert {s["id"] for s in list_ids(r, f"?labels={labels}")["items"]} == {a["id"], b["id"]}
    labels = urllib.parse.quote(json.dumps({"suite": "cp", "n": "2"}))
    items = list_ids(r, f"?labels={labels}")["items"]
    assert [s["id"] for s in items] == [b["id"]]
    assert items[0]["labels"] == {"suite": "cp", "n": "2"}
    assert items[0]["toolboxProxyUrl"] == r.url + "/toolbox"
    bad = api(r, "GET", "/sandbox?labels=" + urllib.parse.quote("{not json"))
    assert bad.status == 400 and bad.json()["message"].startswith("labels must be a JSON object")


def test_list_filters_and_order(make_runner):
    r = make_runner()
    first = create(r, name="alpha-1", snapshot="img:a")
    second = create(r, name="beta-1", snapshot="img:b")
    assert api(r, "POST", f"/sandbox/{second['id']}/stop").status == 200
    # newest first
    assert [s["id"] for s in list_ids(r)["items"]] == [second["id"], first["id"]]
    assert [s["id"] for s in list_ids(r, "?name=alpha")["items"]] == [first["id"]]
    assert [s["id"] for s in list_ids(r, "?states=stopped")["items"]] == [second["id"]]
    assert len(list_ids(r, "?states=stopped&states=started")["items"]) == 2
    assert [s["id"] for s in list_ids(r, "?snapshots=img:a")["items"]] == [first["id"]]


def test_list_orders_sandboxes_created_within_one_millisecond(make_runner):
    """createdAt has milliseconds: two sandboxes created in the same millisecond used to be
    ordered by id, so "newest first" held or not by chance (their ids are random)."""
    r = make_runner()
    same_ms = 1768473062123000
    state = {"version": 1, "sandboxes": [
        {"id": "a-older", "state": "started", "createdAt": same_ms + 100},
        {"id": "b-newer", "state": "started", "createdAt": same_ms + 900},
        {"id": "c-oldest", "state": "started", "createdAt": same_ms - 5000}]}
    assert r.request("PUT", "/_mock/state", state).status == 204
    assert [s["id"] for s in list_ids(r)["items"]] == ["b-newer", "a-older", "c-oldest"]


def test_list_pages_with_a_cursor(make_runner):
    r = make_runner()
    ids = {create(r)["id"] for _ in range(3)}
    page1 = list_ids(r, "?limit=2")
    assert len(page1["items"]) == 2 and page1["nextCursor"]
    page2 = list_ids(r, "?limit=2&cursor=" + page1["nextCursor"])
    assert len(page2["items"]) == 1 and page2["nextCursor"] is None
    assert {s["id"] for s in page1["items"] + page2["items"]} == ids
    assert api(r, "GET", "/sandbox?limit=0").status == 400
    assert api(r, "GET", "/sandbox?cursor=xyz").status == 400


def test_list_paginated_for_older_sdks(make_runner):
    r = make_runner()
    for i in range(3):
        create(r, labels={"p": "x"})
    labels = urllib.parse.quote(json.dumps({"p": "x"}))
    page = api(r, "GET", f"/sandbox/paginated?page=2&limit=2&labels={labels}").json()
    assert page["total"] == 3 and page["page"] == 2 and page["totalPages"] == 2
    assert len(page["items"]) == 1


def test_list_is_a_plain_array_for_sdks_before_cursor_pagination(make_runner):
    r = make_runner()
    dto = create(r)
    old = list_ids(r, headers={"X-Daytona-SDK-Version": "0.161.0"})
    assert isinstance(old, list) and [s["id"] for s in old] == [dto["id"]]
    new = list_ids(r, headers={"X-Daytona-SDK-Version": "0.218.0"})
    assert [s["id"] for s in new["items"]] == [dto["id"]]


def test_list_leaves_out_destroyed_sandboxes_unless_asked(make_runner):
    r = make_runner()
    kept = create(r)
    gone = create(r)
    assert api(r, "DELETE", f"/sandbox/{gone['id']}").status == 200
    assert [s["id"] for s in list_ids(r)["items"]] == [kept["id"]]
    everything = list_ids(r, "?includeErroredDeleted=true")["items"]
    assert {s["id"]: s["state"] for s in everything} == {kept["id"]: "started", gone["id"]: "destroyed"}


def test_toolbox_proxy_url_and_config(runner):
    dto = create(runner)
    r = api(runner, "GET", f"/sandbox/{dto['id']}/toolbox-proxy-url")
    assert r.status == 200 and r.json() == {"url": runner.url + "/toolbox"}
    # the URL follows the address the client used (a port mapping, a container name)
    r = api(runner, "GET", f"/sandbox/{dto['id']}/toolbox-proxy-url", headers={"Host": "mock.example:9999"})
    assert r.json() == {"url": "http://mock.example:9999/toolbox"}
    config = api(runner, "GET", "/config", token=None)
    assert config.status == 200
    assert config.json()["proxyToolboxUrl"] == runner.url + "/toolbox"
    assert config.json()["defaultSnapshot"] == "daytonaio/sandbox:latest"


def test_labels_and_intervals_can_be_changed(runner):
    dto = create(runner, labels={"a": "1"})
    r = api(runner, "PUT", f"/sandbox/{dto['id']}/labels", {"labels": {"b": "2"}})
    assert r.status == 200 and r.json() == {"labels": {"b": "2"}}
    assert api(runner, "GET", f"/sandbox/{dto['id']}").json()["labels"] == {"b": "2"}
    assert api(runner, "PUT", f"/sandbox/{dto['id']}/labels", {"labels": {"b": 2}}).status == 400
    assert api(runner, "POST", f"/sandbox/{dto['id']}/autostop/0").json()["autoStopInterval"] == 0
    assert api(runner, "POST", f"/sandbox/{dto['id']}/autoarchive/30").json()["autoArchiveInterval"] == 30
    assert api(runner, "POST", f"/sandbox/{dto['id']}/autodelete/-1").json()["autoDeleteInterval"] == -1
    assert api(runner, "POST", f"/sandbox/{dto['id']}/autostop/-5").status == 400


def test_auth(make_runner):
    r = make_runner()
    assert api(r, "GET", "/sandbox", token=None).status == 401
    bad = api(r, "GET", "/sandbox", token="wrong")
    assert bad.status == 401 and bad.json()["statusCode"] == 401 and bad.json()["message"] == "Unauthorized"
    assert api(r, "POST", "/sandbox", {}, token=None).status == 401
    assert api(r, "GET", "/sandbox").status == 200
    # the SDK never sends X-Daytona-Organization-ID with an API key, but may with a JWT
    dto = api(r, "POST", "/sandbox", {}, headers={"X-Daytona-Organization-ID": "org-7"})
    assert dto.status == 200 and dto.json()["organizationId"] == "org-7"


def test_a_separate_api_key(make_runner):
    r = make_runner(env={"CONTROL_PLANE_API_KEY": "sdk-key"})
    dto = api(r, "POST", "/sandbox", {}, token="sdk-key")
    assert dto.status == 200, dto
    sid = dto.json()["id"]
    assert api(r, "GET", f"/sandbox/{sid}", token=r.token).status == 200
    assert api(r, "GET", f"/sandbox/{sid}", token="wrong").status == 401
    assert request(r.url, "GET", f"/toolbox/{sid}/version", token="sdk-key").status == 200
    # the control-plane key does not open the runner API
    assert request(r.url, "GET", f"/sandboxes/{sid}", token="sdk-key").status == 401
    assert request(r.url, "GET", f"/sandboxes/{sid}/toolbox/version", token="sdk-key").status == 401


def test_toolbox_routes(runner):
    dto = create(runner)
    sid = dto["id"]
    for path in (f"/toolbox/{sid}/version", f"/api/toolbox/{sid}/toolbox/version"):
        r = request(runner.url, "GET", path, token=runner.token)
        assert r.status == 200, (path, r)
        assert r.json() == {"version": "v0.0.0-dev"}
        assert request(runner.url, "GET", path).status == 401
    r = request(runner.url, "GET", "/toolbox/nope/version", token=runner.token)
    assert r.status == 404 and "nope" in r.json()["message"]
    assert api(runner, "POST", f"/sandbox/{sid}/stop").status == 200
    r = request(runner.url, "GET", f"/toolbox/{sid}/version", token=runner.token)
    assert r.status == 400 and "Is the Sandbox started?" in r.json()["message"]


def test_toolbox_redirects_stay_under_the_route_the_client_used(make_runner):
    """A trailing-slash redirect of the toolbox comes back under /toolbox/{id} or under
    {prefix}/toolbox/{id}/toolbox, whichever the SDK called (as the Daytona proxy does)."""
    r = make_runner(env={"CONTROL_PLANE_PREFIX": "/v1"})
    sid = request(r.url, "POST", "/v1/sandbox", {}, token=r.token).json()["id"]
    for prefix in (f"/toolbox/{sid}", f"/v1/toolbox/{sid}/toolbox"):
        got = request(r.url, "GET", f"{prefix}/work-dir/?x=1", token=r.token)
        assert (got.status, got.header("Location")) == (301, f"{prefix}/work-dir?x=1")
        got = request(r.url, "POST", f"{prefix}/process/execute/", {"command": "true"}, token=r.token)
        assert (got.status, got.header("Location")) == (307, f"{prefix}/process/execute")


def test_prefix_is_configurable(make_runner):
    r = make_runner(env={"CONTROL_PLANE_PREFIX": "/v1/"})
    created = request(r.url, "POST", "/v1/sandbox", {}, token=r.token)
    assert created.status == 200, created
    sid = created.json()["id"]
    assert request(r.url, "GET", f"/v1/sandbox/{sid}", token=r.token).json()["state"] == "started"
    assert request(r.url, "GET", f"/v1/toolbox/{sid}/toolbox/version", token=r.token).status == 200
    assert request(r.url, "GET", f"/toolbox/{sid}/version", token=r.token).status == 200
    old = request(r.url, "GET", f"/api/sandbox/{sid}", token=r.token)
    assert old.status == 404
    assert old.json()["code"] == "NOT_FOUND" and old.json()["message"] == f"not found: no route for GET /api/sandbox/{sid}"


@pytest.mark.parametrize("value", ["off", ""])
def test_facade_can_be_turned_off(make_runner, value):
    r = make_runner(env={"CONTROL_PLANE_PREFIX": value})
    assert api(r, "POST", "/sandbox", {}).status == 404
    assert api(r, "GET", "/config").status == 404
    r.create_sandbox("cp-off")
    assert request(r.url, "GET", "/toolbox/cp-off/version", token=r.token).status == 404
    # the runner API is untouched
    assert request(r.url, "GET", "/sandboxes/cp-off/toolbox/version", token=r.token).status == 200


def test_runner_routes_are_not_shadowed(runner):
    # a path the facade's patterns also match, but that belongs to the runner API
    runner.create_sandbox("sandbox")
    assert runner.get("/sandboxes/sandbox").json()["state"] == "started"
    r = runner.get("/snapshots/config")
    assert r.status == 404 and r.json()["code"] == "NOT_FOUND"


def test_two_runners_do_not_share_sandboxes(make_runner):
    a, b = make_runner(), make_runner()
    dto = create(a, name="only-in-a")
    assert api(b, "GET", f"/sandbox/{dto['id']}").status == 404
    assert api(b, "GET", "/sandbox/only-in-a").status == 404
    assert list_ids(b)["items"] == []


def sio_path(query="EIO=4&transport=websocket"):
    return "/api/socket.io/?source=sdk-typescript-legacy&sdkVersion=0.218.0&" + query


def test_socketio_is_refused_at_once(runner):
    ws = WebSocket.connect(runner.url, sio_path())
    try:
        ws.settimeout(10)
        kind, text = ws.recv()
        assert kind == "text" and text.startswith("0")
        opened = json.loads(text[1:])
        assert opened["sid"] and opened["upgrades"] == []
        ws.send_text('40{"token":"whatever"}')
        kind, text = ws.recv()
        assert kind == "text" and text.startswith("44")
        assert "poll" in json.loads(text[2:])["message"]
        kind, (code, _) = ws.recv()
        assert kind == "close" and code == 1000
    finally:
        ws.shutdown()


def test_socketio_closes_a_silent_client(runner):
    ws = WebSocket.connect(runner.url, sio_path())
    try:
        messages, (code, _) = ws.recv_until_close(timeout=30)
        assert messages[0][1].startswith("0{")
        assert code == 1001
    finally:
        ws.shutdown()


def test_socketio_answers_other_requests_as_engine_io_does(runner):
    r = request(runner.url, "GET", sio_path("EIO=4&transport=polling"))
    assert r.status == 400 and r.json() == {"code": 0, "message": "Transport unknown"}
    r = request(runner.url, "GET", sio_path("EIO=3&transport=websocket"))
    assert r.status == 400 and r.json()["code"] == 5
    with pytest.raises(HandshakeError) as err:
        WebSocket.connect(runner.url, "/v9/socket.io/?EIO=4&transport=websocket")
    assert err.value.status == 404


def test_reset_forgets_the_facade_state():
    """An embedded runner (GI): mr_runner_reset() empties the facade with the plugins."""
    gi = pytest.importorskip("gi")
    gi.require_version("MockRunner", "1.0")
    from gi.repository import MockRunner

    r = MockRunner.Runner.new()
    r.start()
    try:
        class Target:
            url = r.get_url()
            token = r.get_token()
        dto = create(Target, name="cp-reset", labels={"x": "y"})
        gone = create(Target, name="cp-reset-gone")
        assert api(Target, "DELETE", f"/sandbox/{gone['id']}").status == 200
        r.reset()
        for key in (dto["id"], "cp-reset", gone["id"], "cp-reset-gone"):
            assert api(Target, "GET", f"/sandbox/{key}").status == 404, key
        assert list_ids(Target, "?includeErroredDeleted=true")["items"] == []
        # a new sandbox does not inherit the old labels, and the name is free
        again = create(Target, name="cp-reset")
        assert again["labels"] == {}
    finally:
        r.stop()


def test_mock_reset_forgets_the_facade_state(make_runner):
    r = make_runner()
    gone = create(r, name="cp-mock-reset")
    assert api(r, "DELETE", f"/sandbox/{gone['id']}").status == 200
    assert r.post("/_mock/reset").status == 204
    assert api(r, "GET", f"/sandbox/{gone['id']}").status == 404
    assert api(r, "GET", "/sandbox/cp-mock-reset").status == 404


def test_state_import_forgets_the_facade_state(make_runner):
    """The labels and destroyed DTOs the facade keeps are not in a state document: an
    import of sandboxes used to leave them pinned on the ids it brought back."""
    r = make_runner()
    kept = create(r, name="cp-import", labels={"team": "a"})
    gone = create(r, name="cp-import-gone")
    assert api(r, "DELETE", f"/sandbox/{gone['id']}").status == 200
    state = {"version": 1, "sandboxes": [{"id": kept["id"], "state": "stopped"}]}
    assert r.request("PUT", "/_mock/state", state).status == 204
    dto = api(r, "GET", f"/sandbox/{kept['id']}").json()
    assert dto["state"] == "stopped" and dto["labels"] == {}
    assert api(r, "GET", "/sandbox/cp-import").status == 404
    assert api(r, "GET", f"/sandbox/{gone['id']}").status == 404
    labels = urllib.parse.quote(json.dumps({"team": "a"}))
    assert list_ids(r, f"?labels={labels}")["items"] == []
    # an import of images only leaves the facade alone
    relabelled = create(r, labels={"team": "b"})
    assert r.request("PUT", "/_mock/state", {"version": 1, "images": []}).status == 204
    assert api(r, "GET", f"/sandbox/{relabelled['id']}").json()["labels"] == {"team": "b"}


def test_ids_follow_the_runners_seed(make_runner):
    first = [create(make_runner(env={"MOCK_RUNNER_SEED": "42"}))["id"] for _ in range(2)]
    assert first[0] == first[1]
    assert UUID4.match(first[0])
    assert create(make_runner(env={"MOCK_RUNNER_SEED": "43"}))["id"] != first[0]


def test_reads_do_not_change_updated_at(runner):
    """A GET used to count as an update: the memory plugin writes the state it read back
    (to refresh the cache TTL), which moved updatedAt on every poll."""
    import time
    dto = create(runner, name="cp-updated")
    first = runner.get(f"/api/sandbox/{dto['id']}").json()["updatedAt"]
    time.sleep(0.01)
    runner.get(f"/sandboxes/{dto['id']}")
    assert runner.get(f"/api/sandbox/{dto['id']}").json()["updatedAt"] == first
    assert runner.post(f"/api/sandbox/{dto['id']}/stop").status == 200
    assert runner.get(f"/api/sandbox/{dto['id']}").json()["updatedAt"] != first
