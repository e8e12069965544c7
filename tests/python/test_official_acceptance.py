"""Acceptance review with the official toolbox clients 0.161.0 and 0.218.0
(tests/node/acceptance.js): the client operations the other test_official_* suites leave
out, and the exact formats of the spec (FileInfo, error shapes, multipart filenames, log
formats by SDK version, tier-3 answers)."""

import pytest

import mrtest

mrtest.require_npm_clients()


@pytest.fixture(scope="module")
def accept_runner():
    with mrtest.runner_with_work_dir("mr-official-accept-") as (runner, work):
        yield runner, work


def test_official_clients_acceptance(accept_runner):
    runner, work = accept_runner
    lines = mrtest.run_node("acceptance.js", env={"MR_URL": runner.url, "MR_TOKEN": runner.token,
                                                  "MR_WORKDIR": work})
    steps = {(line["step"], line.get("client")) for line in lines}
    for client in ("0161", "0218"):
        for step in ("file-info-format", "bulk-upload-orders", "bulk-download-filenames", "session-logs-versions",
                     "entrypoint", "websocket-routes-without-upgrade", "lsp", "computer-use"):
            assert (step, client) in steps, (step, client, lines)
    for step in ("list-depth", "update-env", "system-metrics", "git-authenticate"):
        assert (step, "0218") in steps, (step, lines)
    assert lines[-1]["step"] == "done"

    depth = next(line for line in lines if line["step"] == "list-depth")
    assert depth["paths"] == ["sub", "sub/child.txt", "sub/nested", "top.txt"]
    cu = {line["client"]: line["operations"] for line in lines if line["step"] == "computer-use"}
    assert cu == {"0161": 28, "0218": 33}

    covered = next(line for line in lines if line["step"] == "covered")
    common = {"InfoApi.getWorkDir", "InfoApi.getUserHomeDir", "FileSystemApi.listFiles", "FileSystemApi.getFileInfo",
              "FileSystemApi.uploadFiles", "FileSystemApi.downloadFiles", "ProcessApi.createSession",
              "ProcessApi.sessionExecuteCommand", "ProcessApi.getSessionCommandLogs", "ProcessApi.deleteSession",
              "ProcessApi.getEntrypointSession", "ProcessApi.getEntrypointLogs", "ProcessApi.createPtySession",
              "ProcessApi.connectPtySession", "ProcessApi.deletePtySession", "InterpreterApi.executeInterpreterCode",
              "LspApi.completions", "LspApi.didClose", "LspApi.workspaceSymbols"}
    cu_0161 = {"click", "deleteRecording", "downloadRecording", "drag", "getComputerUseStatus",
               "getComputerUseSystemStatus", "getDisplayInfo", "getMousePosition", "getProcessErrors", "getProcessLogs",
               "getProcessStatus", "getRecording", "getWindows", "listRecordings", "moveMouse", "pressHotkey",
               "pressKey", "restartProcess", "scroll", "startComputerUse", "startRecording", "stopComputerUse",
               "stopRecording", "takeCompressedRegionScreenshot", "takeCompressedScreenshot", "takeRegionScreenshot",
               "takeScreenshot", "typeText"}
    cu_0218 = cu_0161 | {"findAccessibilityNodes", "focusAccessibilityNode", "getAccessibilityTree",
                         "invokeAccessibilityNode", "setAccessibilityNodeValue"}
    assert set(covered["0161"]) == common | {f"ComputerUseApi.{op}" for op in cu_0161}
    assert set(covered["0218"]) == common | {f"ComputerUseApi.{op}" for op in cu_0218} | {
        "ServerApi.updateEnv", "SystemApi.getSystemMetrics", "ProcessApi.executeCommand", "GitApi.authenticate",
        "GitApi.getGitConfig"}
