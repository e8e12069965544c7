"""The official toolbox clients' FileSystemApi (0.161 and 0.218) and the SDKs' FileSystem
classes on top of them, against the runner's toolbox proxy (tests/node/files.js)."""
import os

import pytest

import mrtest

mrtest.require_npm_clients()


@pytest.fixture(scope="module")
def files_runner():
    with mrtest.runner_with_work_dir("mr-official-files-") as (runner, work):
        yield runner, work


def test_official_clients_files(files_runner):
    runner, work = files_runner
    lines = mrtest.run_node("files.js", env={"MR_URL": runner.url, "MR_TOKEN": runner.token})
    steps = [(line["step"], line.get("client") or line.get("sdk")) for line in lines]
    for client in ("0161", "0218"):
        for step in ("folder", "upload", "upload-files", "list", "info", "download", "download-files",
                     "find-search-replace", "move-permissions", "delete"):
            assert (step, client) in steps, (step, client, steps)
    uploads = {line["client"]: line for line in lines if line["step"] == "upload"}
    assert uploads["0161"]["route"] == "/files/upload"
    assert uploads["0218"]["route"] == "/files/upload-v2"
    sdk = {line["sdk"]: line for line in lines if line["step"] == "sdk-fs"}
    # a missing file in a bulk download: DaytonaNotFoundError (404) in 0.218, an error in 0.161
    assert sdk["0218"]["errorClass"] == "DaytonaNotFoundError" and sdk["0218"]["statusCode"] == 404
    assert "missing.txt" in sdk["0161"]["message"]
    assert lines[-1]["step"] == "done"
    # what the clients left behind is really on disk
    assert open(os.path.join(work, "sdk-0218", "hello.txt")).read() == "hello via sdk\n"
    assert sorted(os.listdir(os.path.join(work, "sdk-0161", "many"))) == ["one.txt", "two.txt"]
