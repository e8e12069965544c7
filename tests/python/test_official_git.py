"""The official toolbox clients (0.161 and 0.218) for git, ports, info, server, LSP and
computer use, driven by tests/node/git.js against a standalone runner."""
import mrtest
from gitserver import git, make_remote

mrtest.require_npm_clients()


def test_official_clients_git_and_tier3(runner, tmp_path):
    remotes = {}
    for tag in ("0161", "0218"):
        remotes[tag], _ = make_remote(str(tmp_path), name=f"remote-{tag}.git", files={"README.md": "readme\n"})
    lines = mrtest.run_node("git.js", env={"MR_URL": runner.url, "MR_TOKEN": runner.token,
                                           "MR_GIT_DIR": str(tmp_path)})
    steps = [(line["step"], line.get("tag")) for line in lines]
    for tag in ("0161", "0218"):
        for step in ("clone", "status-clean", "status-dirty", "commit", "branches", "history", "push", "pull",
                     "git-errors", "info", "server-init", "ports", "lsp", "computer-use"):
            assert (step, tag) in steps, (step, tag, steps)
    assert ("init-remotes-config", "0218") in steps and ("reset-restore", "0218") in steps
    assert steps[-1] == ("done", None)

    # what the clients pushed is in the remotes
    for line in lines:
        if line["step"] == "push":
            assert git("rev-parse", "main~1", cwd=remotes[line["tag"]]).strip() == line["hash"]
        if line["step"] == "commit":
            author = git("log", "-1", "--format=%an <%ae>", line["hash"], cwd=remotes[line["tag"]]).strip()
            assert author == f"Client {line['tag']} <c{line['tag']}@example.com>"
    info = [line for line in lines if line["step"] == "info"]
    assert len(info) == 2 and info[0]["workDir"] == info[1]["workDir"]
    assert runner.get("/sandboxes/official-git-0161/toolbox/version").json()["version"] == info[0]["version"]
