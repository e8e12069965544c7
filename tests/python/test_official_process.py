"""The official toolbox clients' ProcessApi (0.161.0 and 0.218.0) against the runner:
execute, code-run, sessions (tests/node/process.js)."""
import mrtest

mrtest.require_npm_clients()


def test_process_api_of_both_toolbox_clients(runner):
    lines = mrtest.run_node("process.js", env={"MR_URL": runner.url, "MR_TOKEN": runner.token})
    steps = {(line["step"], line.get("client")) for line in lines}
    for client in ("toolbox-0.161", "toolbox-0.218"):
        for step in ("execute", "session-exec-sync", "session-exec-async", "session-input", "session-delete"):
            assert (step, client) in steps, (step, client, lines)
    assert ("code-run", "toolbox-0.218") in steps
    assert lines[-1]["step"] == "done"


def test_sdk_process_and_log_streaming(runner):
    """@daytonaio/sdk 0.218.0 and 0.161.0 through a minimal control plane (tests/node/process-sdk.js)."""
    lines = mrtest.run_node("process-sdk.js", env={"MR_URL": runner.url, "MR_TOKEN": runner.token})
    steps = {(line["step"], line.get("sdk")) for line in lines}
    for sdk in ("sdk-0.218", "sdk-0.161"):
        for step in ("sdk-exec", "sdk-code-run", "sdk-session-exec", "sdk-session-logs-stream", "sdk-session-delete"):
            assert (step, sdk) in steps, (step, sdk, lines)
    assert lines[-1]["step"] == "done"
