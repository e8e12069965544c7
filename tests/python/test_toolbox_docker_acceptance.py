"""The docker toolbox backend as the seed README's users meet it, against podman's Engine
API (tests/python/podmantest.py), beyond test_toolbox_docker.py:

- DOCKER_HOST=tcp://host:port;
- the seed's troubleshooting steps, typed with podman's docker-compatible CLI against the
  engine the runner uses: `ps -a | grep mock-runner-toolbox`, `logs mock-runner-toolbox`,
  `exec mock-runner-toolbox ...`, `rm -f mock-runner-toolbox` (recreated);
- a container stopped behind the runner's back: /info and the toolbox routes say so with
  the error body, then it is started again;
- the start-to-ready line that LOG_LEVEL=info promises (docs/backends.md).

Skipped (exit 77) only where podman cannot run at all."""
import os
import re
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import mrtest  # noqa: E402
from podmantest import engine_with_image  # noqa: E402

IMAGE = "localhost/mock-runner-toolbox-acceptance:1"
NAME = "mock-runner-toolbox"          # the seed's name: this engine's storage is ours alone
RECOVERY_TIMEOUT = 90


@pytest.fixture(scope="module")
def engine():
    yield from engine_with_image(IMAGE)


def runner_env(docker_host, tmp_path, **extra):
    env = {"TOOLBOX_BACKEND": "docker", "DOCKER_HOST": docker_host, "TOOLBOX_IMAGE": IMAGE,
           "TOOLBOX_ULIMITS": "nofile=1024:1024,nproc=1024:1024", "TOOLBOX_ON_EXIT": "remove",
           "TOOLBOX_DAEMON_PATH": mrtest.TOOLBOXD_BIN, "LOG_LEVEL": "info",
           "LOG_FILE_PATH": str(tmp_path / "runner.log")}
    env.update(extra)
    return env


def wait_until(predicate, timeout=RECOVERY_TIMEOUT, interval=0.2):
    return mrtest.wait_until(predicate, timeout, interval)


def executes(r, sandbox="sb"):
    resp = r.post(f"/sandboxes/{sandbox}/toolbox/process/execute", {"command": "echo in-container"}, timeout=30)
    return resp.status == 200 and resp.json() == {"exitCode": 0, "result": "in-container\n"}


def test_docker_host_over_tcp_and_the_ready_line(engine, tmp_path):
    docker_host = engine.serve_tcp()
    r = mrtest.RunnerProcess(env=runner_env(docker_host, tmp_path, TOOLBOX_CONTAINER_NAME="mr-tcp"),
                             start_timeout=180)
    try:
        assert engine.container("mr-tcp")["State"]["Running"]
        r.create_sandbox("sb")
        assert executes(r)
        with open(tmp_path / "runner.log") as f:
            log = f.read()
        # docs/backends.md: LOG_LEVEL=info shows the break-down of each start
        ready = re.search(r"toolbox-docker: container mr-tcp \(created\) ready at http://\S+:2280 in (\d+) ms: "
                          r"engine \d+ ms, container \d+ ms, copy \d+ ms \(\d+ libraries, [\d.]+ MB\), daemon \d+ ms",
                          log)
        assert ready, log
        assert int(ready.group(1)) > 0
    finally:
        r.stop()
    assert engine.container("mr-tcp") is None


@pytest.fixture(scope="module")
def seed_runner(engine, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("seed")
    # no TOOLBOX_CONTAINER_NAME: the seed's container name
    r = mrtest.RunnerProcess(env=runner_env(engine.docker_host, tmp, TOOLBOX_HEALTH_INTERVAL_MS="500"),
                             start_timeout=180)
    r.create_sandbox("sb")
    yield r
    r.stop()


def test_docker_ps_shows_the_toolbox_container(engine, seed_runner):
    # docker ps -a | grep mock-runner-toolbox
    lines = [line for line in engine.podman("ps", "-a").stdout.splitlines() if NAME in line]
    assert len(lines) == 1 and " Up " in lines[0], lines


def test_docker_logs_tells_about_the_daemon(engine, seed_runner):
    # docker logs mock-runner-toolbox: the container's own output says the daemon started
    # and where its log is, rather than nothing (the container's command is sleep)
    out = engine.podman("logs", NAME).stdout
    assert "mock-runner-toolboxd" in out and "/tmp/mock-runner-toolboxd.log" in out, out


def test_docker_exec_reads_the_daemon_log_and_runs_commands(engine, seed_runner):
    # docs/backends.md: docker exec mock-runner-toolbox cat /tmp/mock-runner-toolboxd.log
    log = engine.podman("exec", NAME, "cat", "/tmp/mock-runner-toolboxd.log").stdout
    assert "Starting toolbox server on port 2280" in log, log
    # what a toolbox call wrote is there for docker exec too
    r = seed_runner.post("/sandboxes/sb/toolbox/process/execute", {"command": "sh -c \"echo made > /tmp/by-runner\""})
    assert r.status == 200 and r.json()["exitCode"] == 0
    assert engine.podman("exec", NAME, "cat", "/tmp/by-runner").stdout == "made\n"


def test_docker_rm_f_then_the_runner_recreates_it(engine, seed_runner):
    before = engine.container(NAME)["Id"]
    engine.podman("rm", "-f", NAME)
    assert wait_until(lambda: executes(seed_runner)), "the toolbox did not come back"
    after = engine.container(NAME)
    assert after["State"]["Running"] and after["Id"] != before
    lines = [line for line in engine.podman("ps", "-a").stdout.splitlines() if NAME in line]
    assert len(lines) == 1 and " Up " in lines[0], lines


def test_a_stopped_container_is_reported_then_started_again(engine, tmp_path):
    # the supervisor's timer is out of the way: what notices is /info and the request itself
    r = mrtest.RunnerProcess(env=runner_env(engine.docker_host, tmp_path, TOOLBOX_CONTAINER_NAME="mr-stopped",
                                            TOOLBOX_HEALTH_INTERVAL_MS="600000"), start_timeout=180)
    try:
        r.create_sandbox("sb")
        before = engine.container("mr-stopped")["Id"]
        engine.podman("stop", "-t", "1", "mr-stopped", check=False)
        assert not engine.container("mr-stopped")["State"]["Running"]
        health = r.get("/info").json()["serviceHealth"]
        assert health[0]["serviceName"] == "toolbox" and health[0]["healthy"] is False, health
        assert health[0]["errorReason"], health
        resp = r.get("/sandboxes/sb/toolbox/files/info?path=/tmp", timeout=60)
        if resp.status != 200:          # it may already be back, but never a bare failure
            assert resp.status in (502, 503), resp
            body = resp.json()
            assert body["statusCode"] == resp.status and body["path"] == "/sandboxes/sb/toolbox/files/info"
            assert body["message"].startswith(("bad gateway", "service unavailable")), body
        assert wait_until(lambda: executes(r)), "the stopped container was not started again"
        after = engine.container("mr-stopped")
        assert after["State"]["Running"] and after["Id"] == before      # started, not recreated
        assert r.get("/info").json()["serviceHealth"] == [{"serviceName": "toolbox", "healthy": True}]
    finally:
        r.stop()


def test_ssh_in_the_container_sftp_tunnel_and_stop(engine, seed_runner, tmp_path):
    import shutil
    import subprocess
    from test_ssh import HAVE_PLUGIN, client_options, stop_client, wait_for_port
    if shutil.which("ssh") is None or shutil.which("sftp") is None or not HAVE_PLUGIN:
        pytest.skip("no OpenSSH client or no ssh-libssh plugin in this build")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "id")], check=True)
    identity = str(tmp_path / "id")
    r = mrtest.RunnerProcess(env=runner_env(engine.docker_host, tmp_path, TOOLBOX_CONTAINER_NAME="mr-ssh",
                                            SSH_GATEWAY_ENABLE="true", SSH_GATEWAY_PORT="0",
                                            SSH_HOST_KEY_PATH=str(tmp_path / "hostkey")), start_timeout=180)
    try:
        r.create_sandbox("ssh-d")
        access = r.post("/sandboxes/ssh-d/ssh-access").json()
        port = int(re.search(r"-p (\d+)", access["sshCommand"]).group(1))
        user = f"{access['token']}@127.0.0.1"
        # sftp into the container: what lands there is the container's
        data = os.urandom(2 * 1024 * 1024)
        (tmp_path / "up.bin").write_bytes(data)
        (tmp_path / "batch").write_text(f"put {tmp_path / 'up.bin'} /tmp/sftp.bin\nget /tmp/sftp.bin {tmp_path / 'back.bin'}\n")
        p = subprocess.run(["sftp", "-b", str(tmp_path / "batch"), "-P", str(port)] + client_options(identity) + [user],
                           capture_output=True, timeout=60)
        assert p.returncode == 0, p
        assert (tmp_path / "back.bin").read_bytes() == data
        code, out = engine.exec_output("mr-ssh", ["/bin/sh", "-c", "wc -c < /tmp/sftp.bin"])
        assert out.decode().strip() == str(len(data))
        # ssh -N -L to a port inside the container: the toolbox daemon's own 2280
        local = mrtest.free_port()
        tunnel = subprocess.Popen(["ssh", "-N", "-L", f"{local}:127.0.0.1:2280", "-p", str(port)]
                                  + client_options(identity) + [user],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            assert wait_for_port(local), "the tunnel did not open"
            resp = mrtest.request(f"http://127.0.0.1:{local}", "GET", "/version")
            assert resp.status == 200 and "version" in resp.json()
            # stopping the sandbox ends its connections, in the container too
            assert r.post("/sandboxes/ssh-d/stop").status in (200, 202)
            assert tunnel.wait(20) == 255
        finally:
            if tunnel.poll() is None:
                stop_client(tunnel)
    finally:
        r.stop()
