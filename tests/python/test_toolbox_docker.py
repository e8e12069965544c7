"""The toolbox-docker backend for real, against podman's Docker-compatible Engine API
(tests/python/podmantest.py): the shared toolbox container is created from a small image
made of host programs (none of mock-runner's libraries), mock-runner-toolboxd is copied in
and started, and every sandbox's toolbox requests go there.

Skipped (exit 77) only where podman cannot run at all."""
import base64
import os
import sys
import time
import uuid

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import mrtest  # noqa: E402
from podmantest import engine_with_image  # noqa: E402

IMAGE = "localhost/mock-runner-toolbox-test:1"
ULIMITS = "nofile=1024:1024,nproc=1024:1024"
RECOVERY_TIMEOUT = 90


def docker_env(engine, name, **extra):
    env = {"TOOLBOX_BACKEND": "docker", "DOCKER_HOST": engine.docker_host, "TOOLBOX_IMAGE": IMAGE,
           "TOOLBOX_ULIMITS": ULIMITS, "TOOLBOX_CONTAINER_NAME": name, "TOOLBOX_ON_EXIT": "remove",
           "TOOLBOX_DAEMON_PATH": mrtest.TOOLBOXD_BIN, "TOOLBOX_HEALTH_INTERVAL_MS": "500"}
    env.update(extra)
    return env


def tb(sandbox, path):
    return f"/sandboxes/{sandbox}/toolbox{path}"


def wait_until(predicate, timeout=RECOVERY_TIMEOUT, interval=0.2):
    return mrtest.wait_until(predicate, timeout, interval)


# No engine at all: needs no podman -------------------------------------------------------

def test_no_engine_is_a_one_line_error_naming_the_socket(tmp_path):
    socket_path = tmp_path / "docker.sock"
    rc, out, err = mrtest.run_runner_expecting_failure(env={
        "API_TOKEN": "t", "SERVER_URL": "http://x", "API_PORT": "0", "TOOLBOX_BACKEND": "docker",
        "DOCKER_HOST": f"unix://{socket_path}"})
    assert rc != 0
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert f"unix://{socket_path}" in lines[0]
    assert "cannot reach the Docker engine" in lines[0]


# With podman ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def engine():
    yield from engine_with_image(IMAGE)


@pytest.fixture(scope="module")
def toolbox(engine):
    """One runner on the docker backend, with two sandboxes."""
    name = f"mr-test-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    r = mrtest.RunnerProcess(env=docker_env(engine, name, LOG_LEVEL="info"), start_timeout=180)
    # the runner listens only once the toolbox daemon answers: this is start to ready
    r.ready_seconds = time.monotonic() - started
    r.container = name
    r.create_sandbox("sb-a")
    r.create_sandbox("sb-b")
    yield r
    r.stop()


def area(r, method, path, what):
    """Skips (visibly) when the toolbox in this build does not serve @path yet."""
    probe = r.request(method, tb("sb-a", path))
    if probe.status == 404 and probe.body == b"404 page not found":
        pytest.skip(f"the toolbox does not serve {what} in this build")


def test_start_to_ready_time_is_reported(toolbox, capsys):
    # the figure docs/backends.md quotes (container created from scratch, daemon copied in)
    with capsys.disabled():
        print(f"\n[docker backend] runner start to toolbox ready: {toolbox.ready_seconds * 1000:.0f} ms")
    assert toolbox.ready_seconds > 0


def test_the_shared_container_runs_the_daemon(toolbox, engine):
    c = engine.container(toolbox.container)
    assert c is not None and c["State"]["Running"]
    assert c["Config"]["Labels"].get("io.mock-runner.role") == "toolbox"
    assert c["Config"]["WorkingDir"] == "/home/daytona"
    for sandbox in ("sb-a", "sb-b"):
        r = toolbox.get(tb(sandbox, "/version"))
        assert r.status == 200 and "version" in r.json()
        assert toolbox.get(tb(sandbox, "/work-dir")).json() == {"dir": "/home/daytona"}
        assert toolbox.get(tb(sandbox, "/user-home-dir")).json() == {"dir": "/root"}
    info = toolbox.get("/info").json()
    assert info["serviceHealth"] == [{"serviceName": "toolbox", "healthy": True}]
    sandbox = toolbox.get("/sandboxes/sb-a").json()
    assert sandbox["daemonVersion"] == toolbox.get(tb("sb-a", "/version")).json()["version"]


def test_the_image_has_none_of_our_libraries(engine):
    # what the daemon runs with comes from its bundle, not from the image
    files = engine.podman("run", "--rm", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
                          IMAGE, "sh", "-c", "ls /usr/lib/x86_64-linux-gnu/ /usr/lib64/ 2>/dev/null").stdout
    assert "libc.so.6" in files
    assert "libglib-2.0" not in files and "libsoup-3.0" not in files and "libmockrunner" not in files


def test_proxy_2280_inside_the_container(toolbox):
    r = toolbox.get(tb("sb-a", "/proxy/2280/version"))
    assert r.status == 200 and "version" in r.json()


def test_files_written_through_one_sandbox_are_read_through_the_other(toolbox):
    area(toolbox, "GET", "/files/info?path=/", "files")
    content = os.urandom(300 * 1024)
    boundary = "mrboundary" + uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.bin\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
    r = toolbox.request("POST", tb("sb-a", "/files/upload?path=/tmp/shared/x.bin"), raw_body=body,
                        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.status == 200, r
    r = toolbox.get(tb("sb-b", "/files/download?path=/tmp/shared/x.bin"))
    assert r.status == 200
    assert r.body == content
    info = toolbox.get(tb("sb-b", "/files/info?path=/tmp/shared/x.bin")).json()
    assert info["size"] == len(content) and info["isDir"] is False
    listing = toolbox.get(tb("sb-a", "/files/?path=/tmp/shared")).json()
    assert [f["name"] for f in listing] == ["x.bin"]
    missing = toolbox.get(tb("sb-b", "/files/info?path=/tmp/shared/nope"))
    assert missing.status == 404 and missing.json()["statusCode"] == 404


def test_execute_runs_in_the_container(toolbox):
    area(toolbox, "POST", "/process/execute", "process execution")
    r = toolbox.post(tb("sb-a", "/process/execute"),
                     {"command": "sh -c \"cat /etc/group; pwd; id -u; echo err >&2; exit 3\""})
    assert r.status == 200, r
    out = r.json()
    assert out["exitCode"] == 3
    assert "daytona:x:1000:" in out["result"]          # the image's /etc/group, not the host's
    assert "/home/daytona" in out["result"]
    assert "err" in out["result"]
    # the SDK's wrapping
    script = base64.b64encode(b"echo from-sdk $((6*7))").decode()
    r = toolbox.post(tb("sb-b", "/process/execute"), {"command": f"sh -c \"echo '{script}' | base64 -d | sh\""})
    assert r.json() == {"exitCode": 0, "result": "from-sdk 42\n"}


def test_session_state_is_shared_by_every_sandbox(toolbox):
    area(toolbox, "GET", "/process/session", "sessions")
    sid = "s-" + uuid.uuid4().hex[:6]
    assert toolbox.post(tb("sb-a", "/process/session"), {"sessionId": sid}).status == 201
    r = toolbox.post(tb("sb-a", f"/process/session/{sid}/exec"), {"command": "export GREETING=hello-docker"})
    assert r.status == 200, r
    r = toolbox.post(tb("sb-b", f"/process/session/{sid}/exec"), {"command": "echo $GREETING"})
    assert r.status == 200, r
    result = r.json()
    assert result["exitCode"] == 0
    assert "hello-docker" in result["output"]
    # an async command, its logs over plain HTTP with follow (the runner dials the WebSocket)
    r = toolbox.post(tb("sb-a", f"/process/session/{sid}/exec"),
                     {"command": "for i in 1 2 3; do echo line-$i; sleep 0.2; done", "runAsync": True})
    assert r.status == 202, r
    cmd = r.json()["cmdId"]
    r = toolbox.get(tb("sb-b", f"/process/session/{sid}/command/{cmd}/logs?follow=true"), timeout=60)
    assert r.status == 200
    assert r.header("Content-Type") == "application/octet-stream"
    for i in (1, 2, 3):
        assert f"line-{i}".encode() in r.body
    assert toolbox.delete(tb("sb-a", f"/process/session/{sid}")).status == 204


def test_pty_over_websocket(toolbox):
    area(toolbox, "GET", "/process/pty", "PTY")
    pid = "p-" + uuid.uuid4().hex[:6]
    r = toolbox.post(tb("sb-a", "/process/pty"), {"id": pid, "cols": 100, "rows": 30})
    assert r.status == 201, r
    mrtest.pty_round_trip(toolbox.url, toolbox.token, tb("sb-b", f"/process/pty/{pid}/connect"),
                          "echo pty-$((40+2))", b"pty-42")


# Recovery ----------------------------------------------------------------------------------

def daemon_answers(r, sandbox="sb-a"):
    resp = r.get(tb(sandbox, "/version"), timeout=30)
    return resp.status == 200


def test_a_removed_container_is_recreated(toolbox, engine):
    before = engine.container(toolbox.container)["Id"]
    assert engine.remove_container(toolbox.container) in (200, 204)
    # while it is down: the error body, and /info says so
    down = wait_until(lambda: toolbox.get(tb("sb-a", "/version"), timeout=30).status in (502, 503), timeout=30)
    assert down
    r = toolbox.get(tb("sb-a", "/version"), timeout=30)
    if r.status != 200:
        body = r.json()
        assert body["statusCode"] == r.status and body["code"] in ("BAD_GATEWAY", "SERVICE_UNAVAILABLE")
        assert body["path"] == tb("sb-a", "/version")
    assert wait_until(lambda: daemon_answers(toolbox)), "the toolbox did not come back"
    after = engine.container(toolbox.container)
    assert after is not None and after["State"]["Running"] and after["Id"] != before
    assert daemon_answers(toolbox, "sb-b")
    assert toolbox.get("/info").json()["serviceHealth"][0]["healthy"] is True


def test_unhealthy_while_down(toolbox, engine):
    # podman 4.3 may answer 500 "refusing to clean up" to a stop of a container with exec
    # sessions, and stops it all the same
    assert engine.stop_container(toolbox.container) in (204, 304, 500)
    # the supervisor notices within its interval; until the container is back, /info says why
    reasons = []

    def unhealthy():
        h = toolbox.get("/info").json()["serviceHealth"][0]
        if not h["healthy"]:
            reasons.append(h["errorReason"])
        return not h["healthy"]

    assert wait_until(unhealthy, timeout=30, interval=0.05), "the runner never reported the toolbox down"
    assert toolbox.container in reasons[0] or "daemon" in reasons[0]
    assert wait_until(lambda: daemon_answers(toolbox)), "the stopped container was not started again"
    assert engine.container(toolbox.container)["State"]["Running"]


def daemon_pid(engine, name):
    try:
        code, out = engine.exec_output(name, ["/bin/sh", "-c", "cat /dev/shm/mock-runner-toolboxd.pid"])
    except RuntimeError:
        return None
    return out.decode().strip() or None


def test_a_killed_daemon_is_restarted(toolbox, engine):
    before = daemon_pid(engine, toolbox.container)
    assert before
    status, created = engine.api("POST", f"/v1.41/containers/{toolbox.container}/exec",
                                 {"Cmd": ["/bin/sh", "-c", f"kill {before}"]})
    assert status == 201
    status, body = engine.api("POST", f"/v1.41/exec/{created['Id']}/start", {"Detach": True, "Tty": False})
    assert status == 200, body
    assert wait_until(lambda: daemon_pid(engine, toolbox.container) not in (None, before)), "no new daemon"
    assert wait_until(lambda: daemon_answers(toolbox)), "the daemon was not restarted"


def test_create_waits_for_the_toolbox(toolbox, engine):
    engine.remove_container(toolbox.container)
    # sandbox creation runs "ensure running": it succeeds once the toolbox is back
    r = toolbox.create_sandbox("sb-c")
    assert r.status == 201
    assert daemon_answers(toolbox, "sb-c")


# Lifecycle and settings ---------------------------------------------------------------------

def test_runner_exit_leaves_the_container_as_told(engine):
    name = f"mr-test-{uuid.uuid4().hex[:8]}"
    r = mrtest.RunnerProcess(env=docker_env(engine, name, TOOLBOX_ON_EXIT="stop"), start_timeout=180)
    assert engine.container(name)["State"]["Running"]
    r.stop()
    c = engine.container(name)
    assert c is not None and not c["State"]["Running"]       # stopped, not removed, as the seed does
    # the next runner finds it and starts it again
    r = mrtest.RunnerProcess(env=docker_env(engine, name, TOOLBOX_ON_EXIT="remove"), start_timeout=180)
    try:
        assert engine.container(name)["State"]["Running"]
        r.create_sandbox("x")
        assert daemon_answers(r, "x")
    finally:
        r.stop()
    assert engine.container(name) is None


def test_published_port_mode(engine):
    name = f"mr-test-{uuid.uuid4().hex[:8]}"
    r = mrtest.RunnerProcess(env=docker_env(engine, name, TOOLBOX_PUBLISH="true"), start_timeout=180)
    try:
        c = engine.container(name)
        bindings = c["NetworkSettings"]["Ports"]["2280/tcp"]
        assert bindings and bindings[0]["HostIp"] == "127.0.0.1"
        r.create_sandbox("x")
        assert daemon_answers(r, "x")
    finally:
        r.stop()


def test_missing_image_that_cannot_be_pulled(engine):
    rc, out, err = mrtest.run_runner_expecting_failure(env=dict(
        docker_env(engine, f"mr-test-{uuid.uuid4().hex[:8]}", TOOLBOX_IMAGE="localhost:1/no/such-image:1"),
        API_TOKEN="t", SERVER_URL="http://x", API_PORT="0"), timeout=120)
    assert rc != 0
    assert "localhost:1/no/such-image:1" in err and "cannot be pulled" in err


def test_ssh_gateway_reaches_the_shared_container(engine, tmp_path):
    import re
    import shutil
    import subprocess
    ssh = shutil.which("ssh")
    plugin_path = os.environ.get("MOCK_RUNNER_PLUGIN_PATH", "")
    if ssh is None or not any(os.path.exists(os.path.join(d, "ssh-libssh.so")) for d in plugin_path.split(":") if d):
        pytest.skip("no OpenSSH client or no ssh-libssh plugin in this build")
    name = f"mr-test-{uuid.uuid4().hex[:8]}"
    identity = tmp_path / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(identity)], check=True)
    r = mrtest.RunnerProcess(env=docker_env(engine, name, SSH_GATEWAY_ENABLE="true", SSH_GATEWAY_PORT="0",
                                            SSH_HOST_KEY_PATH=str(tmp_path / "hostkey" / "key")), start_timeout=180)
    try:
        r.create_sandbox("ssh-a")
        access = r.post("/sandboxes/ssh-a/ssh-access")
        assert access.status == 200, access
        port = int(re.search(r"-p (\d+)", access.json()["sshCommand"]).group(1))
        out = subprocess.run([ssh, "-p", str(port), "-F", "/dev/null", "-o", "StrictHostKeyChecking=no",
                              "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
                              "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-i", str(identity),
                              f"{access.json()['token']}@127.0.0.1", "grep daytona /etc/group; pwd"],
                             capture_output=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert b"daytona:x:1000:" in out.stdout           # the image's file: we are in the container
        assert b"/home/daytona" in out.stdout
    finally:
        r.stop()
