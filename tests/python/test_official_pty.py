"""PTY sessions and the code interpreter driven by the official npm clients
(tests/node/pty.js): both toolbox clients' ProcessApi/InterpreterApi plus `ws`, and the
Process/PtyHandle and CodeInterpreter of SDK 0.218 and 0.161 pointed at the runner's
toolbox proxy."""
import mrtest

mrtest.require_npm_clients()


def test_pty_and_interpreter_with_official_clients(runner):
    steps = {line["step"]: line for line in mrtest.run_node("pty.js", env={"MR_URL": runner.url,
                                                                          "MR_TOKEN": runner.token})}
    for name in ("toolbox-0.161", "toolbox-0.218"):
        assert steps[f"{name}-pty-rest"] == {"step": f"{name}-pty-rest", "cols": 100, "rows": 30, "active": False}
        assert steps[f"{name}-pty-ws"]["active"] is True
        delete = steps[f"{name}-pty-delete"]
        assert (delete["code"], delete["reason"]) == (1011, '{"exitCode":137,"exitReason":"SIGKILL"}')
        errors = steps[f"{name}-pty-errors"]
        assert errors["resize"] == {"error": f"PTY session pty-{name} not found"}
        interp = steps[f"{name}-interpreter"]
        assert interp["chunks"] == [{"type": "stdout", "text": "42 /tmp\n", "name": "", "value": "",
                                     "traceback": ""}]
        assert interp["close"] == {"code": 1000, "reason": ""}
        assert "not found" in interp["missing"]

    assert steps["sdk-create-pty"] == {"step": "sdk-create-pty", "exitCode": 7, "error": "non-zero exit"}
    assert steps["sdk-connect-pty"] == {"step": "sdk-connect-pty", "exitCode": 137, "error": "SIGKILL"}
    assert "PTY session sdk-nope not found" in steps["sdk-connect-missing"]["error"]
    assert steps["sdk-run-code"]["stdout"] == "5\n" and steps["sdk-run-code"]["stderr"] == "warn\n"
    err = steps["sdk-run-code-error"]
    assert err["stdout"] == "e\n"
    assert err["error"]["name"] == "ZeroDivisionError" and 'File "<stdin>", line 3' in err["error"]["traceback"]
    assert steps["sdk-run-code-timeout"]["name"] == "DaytonaTimeoutError"
    assert steps["sdk-run-code-default"]["stdout"] == "default context\n"
    assert "default" not in steps["sdk-run-code-default"]["listed"]

    assert steps["sdk0161-create-pty"] == {"step": "sdk0161-create-pty", "exitCode": 0, "error": None}
    old = steps["sdk0161-run-code"]
    assert (old["first"], old["after"]) == ("9\n", "3\n")
    assert "timed out" in old["timeout"].lower()
