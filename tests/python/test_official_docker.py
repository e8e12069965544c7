"""Both official toolbox clients against the docker toolbox backend (tests/node/docker.js):
files, execute, a session and git in the shared container, through two sandboxes, against
podman's Engine API as in test_toolbox_docker.py. Exit 77 without the npm clients or
where podman cannot run at all."""
import os
import sys
import uuid

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import mrtest  # noqa: E402
from podmantest import engine_with_image  # noqa: E402

mrtest.require_npm_clients()

IMAGE = "localhost/mock-runner-toolbox-official:1"


@pytest.fixture(scope="module")
def docker_runner():
    engines = engine_with_image(IMAGE)
    engine = next(engines)
    try:
        r = mrtest.RunnerProcess(env={
            "TOOLBOX_BACKEND": "docker", "DOCKER_HOST": engine.docker_host, "TOOLBOX_IMAGE": IMAGE,
            "TOOLBOX_ULIMITS": "nofile=1024:1024,nproc=1024:1024", "TOOLBOX_ON_EXIT": "remove",
            "TOOLBOX_CONTAINER_NAME": f"mr-official-{uuid.uuid4().hex[:8]}",
            "TOOLBOX_DAEMON_PATH": mrtest.TOOLBOXD_BIN}, start_timeout=180)
        try:
            yield r
        finally:
            r.stop()
    finally:
        engines.close()


def test_official_toolbox_clients_in_the_shared_container(docker_runner):
    lines = mrtest.run_node("docker.js", env={"MR_URL": docker_runner.url, "MR_TOKEN": docker_runner.token})
    steps = {(line["step"], line.get("client")) for line in lines}
    for client in ("0161", "0218"):
        for step in ("files", "execute", "session", "git", "cleanup"):
            assert (step, client) in steps, (step, client, lines)
    assert lines[-1]["step"] == "done"
