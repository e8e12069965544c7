"""The runner API, route by route (runner-api.md sections 2, 4, 5, 6 and 9.5)."""
import re

import pytest

STATES = {"creating", "restoring", "destroyed", "destroying", "started", "stopped", "starting",
          "stopping", "resizing", "error", "unknown", "pulling_snapshot"}


def test_health_is_public(runner):
    r = runner.get("/", auth=False)
    assert r.status == 200
    assert r.json() == {"mode": "mock", "status": "ok", "version": "v0.0.0-dev"}
    assert r.header("Content-Type").startswith("application/json")


def test_info_reports_versions_health_and_metrics(runner):
    r = runner.get("/info")
    assert r.status == 200
    info = r.json()
    assert info["version"] == info["appVersion"] == "v0.0.0-dev"
    assert info["serviceHealth"] == [{"serviceName": "toolbox", "healthy": True}]
    m = info["metrics"]
    for key in ("currentCpuLoadAverage", "currentCpuUsagePercentage", "currentMemoryUsagePercentage",
                "currentDiskUsagePercentage", "currentAllocatedCpu", "currentAllocatedMemoryGiB",
                "currentAllocatedDiskGiB", "currentSnapshotCount", "currentStartedSandboxes"):
        assert isinstance(m[key], (int, float)), key
    assert 0 <= m["currentMemoryUsagePercentage"] <= 100
    assert 0 < m["currentDiskUsagePercentage"] <= 100


def test_info_sums_started_sandboxes(make_runner):
    r = make_runner()
    before = r.get("/info").json()["metrics"]
    assert before["currentAllocatedCpu"] == 0 and before["currentStartedSandboxes"] == 0
    r.create_sandbox("info-a", cpuQuota=2, memoryQuota=4, storageQuota=10, snapshot="img-a:1")
    r.create_sandbox("info-b", cpuQuota=3, memoryQuota=1, storageQuota=5, snapshot="img-b:1")
    m = r.get("/info").json()["metrics"]
    assert (m["currentAllocatedCpu"], m["currentAllocatedMemoryGiB"], m["currentAllocatedDiskGiB"]) == (5, 5, 15)
    assert m["currentStartedSandboxes"] == 2
    assert m["currentSnapshotCount"] == 2
    # a stopped sandbox keeps its disk but not its CPU and memory
    assert r.post("/sandboxes/info-b/stop").status == 200
    m = r.get("/info").json()["metrics"]
    assert (m["currentAllocatedCpu"], m["currentAllocatedMemoryGiB"], m["currentAllocatedDiskGiB"]) == (2, 4, 15)
    assert m["currentStartedSandboxes"] == 1
    assert r.post("/sandboxes/info-a/destroy").status == 200
    m = r.get("/info").json()["metrics"]
    assert (m["currentAllocatedCpu"], m["currentAllocatedDiskGiB"], m["currentStartedSandboxes"]) == (0, 5, 0)


def test_create_get_lifecycle(runner):
    r = runner.create_sandbox("life-1")
    assert r.json() == {"daemonVersion": "v0.0.0-dev"}
    got = runner.get("/sandboxes/life-1").json()
    assert got["state"] == "started"
    assert got["backupState"] == "NONE"
    assert got["recoverable"] is False
    assert got["daemonVersion"] == "v0.0.0-dev"

    stop = runner.post("/sandboxes/life-1/stop")
    assert (stop.status, stop.json()) == (200, "Sandbox stopped")
    got = runner.get("/sandboxes/life-1").json()
    assert got["state"] == "stopped" and "daemonVersion" not in got

    start = runner.post("/sandboxes/life-1/start", {})
    assert (start.status, start.json()) == (200, {"daemonVersion": "v0.0.0-dev"})
    assert runner.get("/sandboxes/life-1").json()["state"] == "started"

    destroy = runner.post("/sandboxes/life-1/destroy")
    assert (destroy.status, destroy.json()) == (200, "Sandbox destroyed")
    assert runner.get("/sandboxes/life-1").json()["state"] == "destroyed"
    removed = runner.delete("/sandboxes/life-1")
    assert (removed.status, removed.json()) == (200, "Sandbox removed")


def test_action_replies_are_json_strings(runner):
    runner.create_sandbox("strings-1")
    r = runner.post("/sandboxes/strings-1/stop")
    assert r.body == b'"Sandbox stopped"'
    assert r.header("Content-Type") == "application/json; charset=utf-8"


def test_create_is_idempotent(runner):
    runner.create_sandbox("idem-1")
    runner.create_sandbox("idem-1")
    assert runner.get("/sandboxes/idem-1").json()["state"] == "started"
    assert runner.post("/sandboxes/idem-1/stop").status == 200
    # create of a stopped sandbox starts it (Go mock)
    runner.create_sandbox("idem-1")
    assert runner.get("/sandboxes/idem-1").json()["state"] == "started"


def test_create_registers_unknown_snapshot(runner):
    runner.create_sandbox("snap-reg", snapshot="never-pulled/image:1.2")
    r = runner.get("/snapshots/exists?snapshot=never-pulled/image:1.2")
    assert r.json() == {"exists": True}


def test_unknown_sandbox_reads_destroyed(runner):
    got = runner.get("/sandboxes/never-created")
    assert got.status == 200
    assert got.json()["state"] == "destroyed"


def test_stop_and_destroy_unknown_are_lenient(runner):
    assert runner.post("/sandboxes/ghost-1/stop").status == 200
    assert runner.post("/sandboxes/ghost-1/destroy").status == 200
    assert runner.delete("/sandboxes/ghost-1").status == 200
    assert runner.get("/sandboxes/ghost-1").json()["state"] == "destroyed"


def test_start_resurrects_unknown_id(runner):
    r = runner.post("/sandboxes/phoenix/start", {})
    assert r.status == 200
    assert runner.get("/sandboxes/phoenix").json()["state"] == "started"


def test_start_accepts_metadata_and_token(runner):
    runner.create_sandbox("meta-1")
    r = runner.post("/sandboxes/meta-1/start?token=abc", {"limitNetworkEgress": "true"})
    assert r.status == 200
    assert runner.post("/sandboxes/meta-1/start", None, raw_body=b"null").status == 200


def test_stop_ignores_body_and_accepts_force(runner):
    runner.create_sandbox("stop-force")
    assert runner.post("/sandboxes/stop-force/stop", {"force": True}).status == 200
    assert runner.post("/sandboxes/stop-force/stop", raw_body=b"not json").status == 200


def test_backup_uppercase_states(runner):
    runner.create_sandbox("backup-1")
    r = runner.post("/sandboxes/backup-1/backup", {"registry": {"url": "registry:5000"},
                                                   "snapshot": "registry:5000/backup-1:1"})
    assert (r.status, r.json()) == (201, "Backup started")
    got = runner.get("/sandboxes/backup-1").json()
    assert got["backupState"] == "COMPLETED"
    assert got["backupSnapshot"] == "registry:5000/backup-1:1"


def test_backup_requires_registry_and_snapshot(runner):
    runner.create_sandbox("backup-2")
    r = runner.post("/sandboxes/backup-2/backup", {"snapshot": "x:1"})
    assert r.status == 400
    assert r.json()["code"] == "INVALID_REQUEST_BODY"
    assert "CreateBackupDTO.Registry" in r.json()["message"]


def test_resize(runner):
    runner.create_sandbox("resize-1", cpuQuota=1, memoryQuota=1)
    runner.post("/sandboxes/resize-1/stop")
    r = runner.post("/sandboxes/resize-1/resize", {"cpu": 4, "gpu": 0, "memory": 8})
    assert (r.status, r.json()) == (200, "Sandbox resized")
    # the Go mock ends every resize in "started"
    assert runner.get("/sandboxes/resize-1").json()["state"] == "started"
    m = runner.get("/info").json()["metrics"]
    assert m["currentAllocatedCpu"] >= 4


def test_resize_unknown_is_500_in_lenient_mode(runner):
    r = runner.post("/sandboxes/nobody/resize", {"cpu": 1, "memory": 1})
    assert r.status == 500
    assert r.json()["code"] == "INTERNAL_SERVER_ERROR"
    assert "nobody" in r.json()["message"]


def test_resize_rejects_negative(runner):
    runner.create_sandbox("resize-2")
    r = runner.post("/sandboxes/resize-2/resize", {"cpu": -1})
    assert r.status == 400 and "'min' tag" in r.json()["message"]


def test_network_settings(runner):
    runner.create_sandbox("net-1")
    r = runner.post("/sandboxes/net-1/network-settings",
                    {"networkBlockAll": True, "networkAllowList": "10.0.0.0/8", "networkLimitEgress": False,
                     "domainAllowList": "example.com"})
    assert (r.status, r.json()) == (200, "Network settings updated")
    bad = runner.post("/sandboxes/net-1/network-settings", {"networkBlockAll": "yes"})
    assert bad.status == 400


def test_get_network_settings_is_not_routed(runner):
    r = runner.get("/sandboxes/net-1/network-settings")
    assert r.status == 404
    assert r.json()["code"] == "NOT_FOUND"


def test_recover_and_is_recoverable(runner):
    runner.create_sandbox("rec-1")
    r = runner.post("/sandboxes/rec-1/recover", {"userId": "u", "osUser": "daytona", "storageQuota": 20})
    assert (r.status, r.json()) == (200, "Sandbox recovered")
    assert runner.get("/sandboxes/rec-1").json()["state"] == "started"
    assert runner.post("/sandboxes/rec-1/recover", {"userId": "u"}).status == 400

    r = runner.post("/sandboxes/rec-1/is-recoverable", {"errorReason": "write /x: No space left on device"})
    assert r.json() == {"recoverable": True}
    r = runner.post("/sandboxes/rec-1/is-recoverable", {"errorReason": "segfault"})
    assert r.json() == {"recoverable": False}
    assert runner.post("/sandboxes/rec-1/is-recoverable", {}).status == 400


def test_snapshot_from_sandbox(runner):
    runner.create_sandbox("sfs-1", snapshot="base-image:3")
    r = runner.post("/sandboxes/sfs-1/snapshot-from-sandbox",
                    {"name": "daytona-abc:daytona", "registry": {"url": "registry:5000"}})
    assert r.status == 200
    info = r.json()
    assert info["name"] == "daytona-abc:daytona"
    assert info["sizeGB"] == pytest.approx(100 / 1024)
    assert runner.get("/snapshots/exists?snapshot=daytona-abc:daytona").json() == {"exists": True}
    r = runner.post("/sandboxes/sfs-1/snapshot-from-sandbox", {"name": "x:1"})
    assert r.status == 400
    assert r.json()["message"] == "bad request: registry is required for sandbox snapshot"


def test_pull_exists_info_remove(runner):
    r = runner.post("/snapshots/pull", {"snapshot": "docker.io/library/alpine:3.19"})
    assert (r.status, r.json()) == (200, "Snapshot pulled successfully")
    assert runner.get("/snapshots/exists?snapshot=library/alpine:3.19").json() == {"exists": True}
    assert runner.get("/snapshots/exists?snapshot=docker.io/library/alpine:3.19").json() == {"exists": True}
    info = runner.get("/snapshots/info?snapshot=library/alpine:3.19").json()
    assert info["name"] == "library/alpine:3.19"
    assert info["sizeGB"] == 0.09765625
    assert info["entrypoint"] == ["/bin/sh"]
    assert info["cmd"] == ["-c", "sleep infinity"]
    assert re.fullmatch(r"[0-9a-f]{64}", info["hash"])
    r = runner.post("/snapshots/remove?snapshot=library/alpine:3.19")
    assert (r.status, r.json()) == (200, "Snapshot removed successfully")
    assert runner.get("/snapshots/exists?snapshot=library/alpine:3.19").json() == {"exists": False}
    # removing again is fine
    assert runner.post("/snapshots/remove?snapshot=library/alpine:3.19").status == 200


def test_latest_never_exists(runner):
    assert runner.post("/snapshots/pull", {"snapshot": "busybox:latest"}).status == 200
    assert runner.get("/snapshots/exists?snapshot=busybox:latest").json() == {"exists": False}
    r = runner.get("/snapshots/info?snapshot=busybox:latest")
    assert r.status == 404
    assert r.json()["message"] == "not found: snapshot not found: busybox:latest"


def test_pull_with_destination_registry(runner):
    body = {"snapshot": "pushme:1", "destinationRegistry": {"url": "reg.local", "project": "proj"}}
    assert runner.post("/snapshots/pull", body).status == 200
    source_hash = runner.get("/snapshots/info?snapshot=pushme:1").json()["hash"]
    target = f"reg.local/proj/daytona-{source_hash}:daytona"
    assert runner.get(f"/snapshots/exists?snapshot={target}").json() == {"exists": True}
    body["destinationRef"] = "reg.local/proj/custom:7"
    assert runner.post("/snapshots/pull", body).status == 200
    assert runner.get("/snapshots/exists?snapshot=reg.local/proj/custom:7").json() == {"exists": True}
    r = runner.post("/snapshots/pull", {"snapshot": "a:1", "destinationRegistry": {"url": "reg.local"}})
    assert r.status == 400
    assert r.json()["message"] == "bad request: project is required when pushing to registry"


def test_build_and_logs(runner):
    r = runner.post("/snapshots/build", {"snapshot": "built:1", "dockerfile": "FROM alpine\nRUN echo hi\n",
                                         "organizationId": "org"})
    assert (r.status, r.json()) == (200, "Snapshot built successfully")
    info = runner.get("/snapshots/info?snapshot=built:1").json()
    assert info["sizeGB"] == 0.1953125
    logs = runner.get("/snapshots/logs?snapshotRef=built:1")
    assert logs.status == 200
    assert logs.header("Content-Type") == "application/octet-stream"
    assert logs.text.startswith("Mock build log for built:1\n")
    assert "Step 2/2 : RUN echo hi" in logs.text
    assert logs.text.endswith("Build completed successfully.\n")


def test_build_validation(runner):
    r = runner.post("/snapshots/build", {"snapshot": "notag", "dockerfile": "FROM x", "organizationId": "o"})
    assert r.status == 400
    assert r.json()["message"] == "bad request: snapshot name must include a valid tag"
    r = runner.post("/snapshots/build", {"snapshot": "a:1", "organizationId": "o"})
    assert r.status == 400 and r.json()["code"] == "INVALID_REQUEST_BODY"
    # the Go mock panics here; we answer a 400 with the common body
    r = runner.post("/snapshots/build", {"snapshot": "a:1", "dockerfile": "FROM x", "organizationId": "o",
                                         "pushToInternalRegistry": True})
    assert r.status == 400
    assert r.json()["message"] == "bad request: project is required when pushing to internal registry"
    r = runner.post("/snapshots/build", {"snapshot": "pushed:1", "dockerfile": "FROM x", "organizationId": "o",
                                         "pushToInternalRegistry": True,
                                         "registry": {"url": "harbor", "project": "p"}})
    assert r.status == 200
    assert runner.get("/snapshots/exists?snapshot=harbor/p/pushed:1").json() == {"exists": True}


def test_logs_of_unknown_ref_are_synthetic(runner):
    r = runner.get("/snapshots/logs?snapshotRef=never:1&follow=false")
    assert r.status == 200
    assert r.text == "Mock build log for never:1\nBuild completed successfully.\n"


def test_logs_follow_ends_when_image_exists(runner):
    runner.post("/snapshots/build", {"snapshot": "follow:1", "dockerfile": "FROM x", "organizationId": "o"})
    r = runner.get("/snapshots/logs?snapshotRef=follow:1&follow=true", timeout=10)
    assert r.status == 200 and "Build completed successfully." in r.text


def test_tag(runner):
    runner.post("/snapshots/pull", {"snapshot": "source:1"})
    r = runner.post("/snapshots/tag", {"sourceImage": "source:1", "targetImage": "copy:2"})
    assert (r.status, r.json()) == (200, "Image tagged successfully")
    src = runner.get("/snapshots/info?snapshot=source:1").json()
    dst = runner.get("/snapshots/info?snapshot=copy:2").json()
    assert src["hash"] == dst["hash"] and src["sizeGB"] == dst["sizeGB"]
    r = runner.post("/snapshots/tag", {"sourceImage": "missing:1", "targetImage": "copy:3"})
    assert r.status == 404 and r.json()["message"] == "not found: source image not found: missing:1"
    r = runner.post("/snapshots/tag", {"sourceImage": "source:1", "targetImage": "copy"})
    assert r.status == 400 and r.json()["message"] == "bad request: targetImage must include a valid tag"


def test_snapshot_query_parameters_required(runner):
    for path in ("/snapshots/exists", "/snapshots/info"):
        r = runner.get(path)
        assert r.status == 400
        assert r.json()["message"] == "bad request: snapshot parameter is required"
    r = runner.post("/snapshots/remove")
    assert r.status == 400
    r = runner.get("/snapshots/logs")
    assert r.status == 400 and r.json()["message"] == "bad request: snapshotRef parameter is required"


def test_inspect(runner):
    runner.post("/snapshots/pull", {"snapshot": "inspected:1"})
    known = runner.get("/snapshots/info?snapshot=inspected:1").json()
    r = runner.post("/snapshots/inspect", {"snapshot": "inspected:1"})
    assert r.status == 200 and r.json() == {"hash": known["hash"], "sizeGB": known["sizeGB"]}
    r = runner.post("/snapshots/inspect", {"snapshot": "elsewhere:9"})
    assert r.status == 200 and re.fullmatch(r"[0-9a-f]{64}", r.json()["hash"])
    assert runner.post("/snapshots/inspect", {}).status == 400


def test_toolbox_route_reaches_backend(runner):
    runner.create_sandbox("tb-1")
    r = runner.get("/sandboxes/tb-1/toolbox/version")
    assert r.status == 200 and r.json() == {"version": "v0.0.0-dev"}
    # X-Daytona-Authorization is accepted in place of Authorization
    r = runner.get("/sandboxes/tb-1/toolbox/version", auth=False,
                   headers={"X-Daytona-Authorization": f"Bearer {runner.token}"})
    assert r.status == 200


def test_toolbox_errors_for_stopped_and_unknown(runner):
    runner.create_sandbox("tb-2")
    runner.post("/sandboxes/tb-2/stop")
    r = runner.get("/sandboxes/tb-2/toolbox/version")
    assert r.status == 400
    assert r.json()["message"] == "bad request: no IP address found. Is the Sandbox started?"
    r = runner.get("/sandboxes/tb-unknown/toolbox/version")
    assert r.status == 404 and r.json()["code"] == "NOT_FOUND"
    r = runner.get("/sandboxes/tb-2/toolbox")
    assert r.status == 301 and r.header("Location").endswith("/sandboxes/tb-2/toolbox/")


def test_toolbox_unknown_route_is_gin_404(runner):
    runner.create_sandbox("tb-3")
    r = runner.get("/sandboxes/tb-3/toolbox/definitely/not/a/route")
    assert r.status == 404
    assert r.body == b"404 page not found"


def test_metrics_counts_operations(make_runner):
    r = make_runner()
    assert "mock_runner_container_operation_total{" not in r.get("/metrics", auth=False).text
    r.create_sandbox("m-1")
    r.create_sandbox("m-2")
    r.post("/sandboxes/m-1/destroy")
    r.post("/sandboxes/zzz/resize", {"cpu": 1})
    text = r.get("/metrics", auth=False)
    assert text.status == 200
    assert text.header("Content-Type").startswith("text/plain; version=0.0.4")
    body = text.text
    assert 'mock_runner_container_operation_total{operation="create",status="success"} 2' in body
    assert 'mock_runner_container_operation_total{operation="destroy",status="success"} 1' in body
    assert 'mock_runner_container_operation_total{operation="resize",status="failure"} 1' in body
    assert 'mock_runner_container_operation_duration_seconds_count{operation="create"} 2' in body
    assert re.search(r"^process_open_fds \d+$", body, re.M)
    # every sample line is valid exposition syntax
    for line in body.splitlines():
        if line and not line.startswith("#"):
            assert re.fullmatch(r'[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? [-+0-9.eE]+|.*\{.*\} [0-9.eE+-]+', line), line


def test_toolbox_trailing_slash_redirect_stays_under_prefix(runner):
    """gin redirects /files/info/ to /files/info; the Location is rewritten under the
    prefix the client used, as the Daytona proxy does."""
    runner.create_sandbox("tb-redirect")
    r = runner.get("/sandboxes/tb-redirect/toolbox/work-dir/?x=1")
    assert r.status == 301
    assert r.header("Location") == "/sandboxes/tb-redirect/toolbox/work-dir?x=1"
    r = runner.post("/sandboxes/tb-redirect/toolbox/process/execute/", {"command": "true"})
    assert r.status == 307
    assert r.header("Location") == "/sandboxes/tb-redirect/toolbox/process/execute"
