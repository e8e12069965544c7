"""The official TypeScript SDK, @daytonaio/sdk, end to end against the runner alone: no
Daytona API, only the runner's control-plane facade (official-clients.md section 4).

0.218.0 runs the whole flow three times, with useDeprecatedPolling, in its default events
mode and with 300 ms lifecycle steps; 0.161.0 and 0.108.1 run the same flow. The
node scripts (tests/node/sdk-*.js, sdk-flow.js) print one JSON line per step; the
assertions here are on what the SDK returned. The scripts never call process.exit():
each run also checks that Node ends by itself once the flow is done."""
import os
import re
import stat
import subprocess
import time
import urllib.parse
import uuid

import pytest

import mrtest
from mrtest import RunnerProcess

mrtest.require_npm_clients()

GIT_ENV = dict(os.environ, GIT_AUTHOR_NAME="Test", GIT_AUTHOR_EMAIL="test@example.com",
               GIT_COMMITTER_NAME="Test", GIT_COMMITTER_EMAIL="test@example.com", GIT_CONFIG_NOSYSTEM="1",
               HOME=os.environ.get("HOME", "/tmp"))

# Node must end on its own well before this (it takes about a second); a client that
# keeps reconnecting a refused socket.io stream would hang for minutes.
NODE_TIMEOUT = 120

# name: (script, events mode, settings of a runner of its own or None for the shared one)
FLOWS = {
    "0.218-polling": ("sdk-0218.js", False, None),
    "0.218-events": ("sdk-0218.js", True, None),
    # every lifecycle step takes 300 ms: the SDK's wait loops poll through creating, starting...
    "0.218-delayed": ("sdk-0218.js", False, {"MOCK_RUNNER_TIMING": "delay:300"}),
    "0.161": ("sdk-0161.js", False, None),
    "0.108": ("sdk-0108.js", False, None),
}


def git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A repository made here, cloned by the SDK by its file:// URL."""
    d = tmp_path_factory.mktemp("origin")
    git(d, "init", "-q", "-b", "main")
    (d / "README.md").write_text("# cloned by the SDK\n")
    (d / "src").mkdir()
    (d / "src" / "app.py").write_text("print('hi')\n")
    git(d, "add", ".")
    git(d, "commit", "-q", "-m", "first")
    return d


@pytest.fixture(scope="module")
def sdk_runner():
    r = RunnerProcess()
    yield r
    r.stop()


class Flow:
    def __init__(self, name, runner, work, steps):
        self.name = name
        self.runner = runner
        self.work = work
        self.steps = steps

    def __getitem__(self, step):
        got = self.steps.get(step)
        assert got is not None, f"{self.name}: step {step} did not run; steps: {list(self.steps)}"
        assert got["ok"], f"{self.name}: step {step} failed: {got}"
        return got

    @property
    def version(self):
        return self.name.split("-")[0]

    @property
    def delayed(self):
        return self.name.endswith("-delayed")


@pytest.fixture(scope="module")
def flows(sdk_runner, repo, tmp_path_factory):
    out = {}
    own_runners = []
    try:
        for name, (script, events, settings) in FLOWS.items():
            runner = sdk_runner
            if settings:
                runner = RunnerProcess(env=settings)
                own_runners.append(runner)
            work = tmp_path_factory.mktemp("work-" + name)
            suite = f"sdk-{name}-{uuid.uuid4().hex[:8]}"
            lines = mrtest.run_node(script, timeout=NODE_TIMEOUT, env={
                "MR_URL": runner.url, "MR_TOKEN": runner.token, "MR_WORKDIR": str(work),
                "MR_GIT_REPO": repo.as_uri(), "MR_SUITE": suite, "MR_EVENTS": "1" if events else "0",
            })
            out[name] = Flow(name, runner, work, {line["step"]: line for line in lines})
        yield out
    finally:
        for runner in own_runners:
            runner.stop()


@pytest.fixture(params=list(FLOWS))
def flow(request, flows):
    return flows[request.param]


def test_flow_completed_and_node_exited(flow):
    # run_node() returned: node exited by itself with rc 0, and printed the last step
    assert flow["done"]


def test_create(flow):
    created = flow["create"]
    assert created["state"] == "started"
    assert created["labels"]["suite"].startswith("sdk-")
    if flow.version == "0.218":
        # 0.218 always sends a language; older SDKs only when the caller gives one
        assert created["labels"]["code-toolbox-language"] == "python"
    assert created["env"] == {"FROM_CREATE": "yes"}
    assert (created["cpu"], created["memory"], created["disk"]) == (1, 1, 3)
    assert created["user"] == "daytona"
    if flow.version != "0.108":
        # 0.108 reaches the toolbox through the API; the others through toolboxProxyUrl
        assert created["toolboxProxyUrl"] == flow.runner.url + "/toolbox"
        assert created["name"] == created["labels"]["suite"] + "-box"


def test_runner_api_agrees(flow):
    # the sandbox went through the runner's plugin: the runner API sees it, destroyed at the end
    sid = flow["create"]["id"]
    deadline = time.monotonic() + 10
    while flow.runner.get(f"/sandboxes/{sid}").json()["state"] != "destroyed" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert flow.runner.get(f"/sandboxes/{sid}").json()["state"] == "destroyed"


def journal(runner, **query):
    r = runner.get("/_mock/requests?" + urllib.parse.urlencode(query))
    assert r.status == 200, r
    return r.json()["requests"]


def test_toolbox_traffic_takes_the_route_of_its_sdk_version(flow):
    # official-clients.md 4.7: <= 0.108 through the API, later ones through toolboxProxyUrl
    sid = flow["create"]["id"]
    # what the SDK sent (the tests here also ask the runner API about the sandbox)
    paths = [e["path"] for e in journal(flow.runner, sandboxId=sid) if "x-daytona-source" in e["headers"]]
    prefix = f"/api/toolbox/{sid}/toolbox/" if flow.version == "0.108" else f"/toolbox/{sid}/"
    toolbox = [p for p in paths if p.startswith(prefix)]
    assert f"{prefix}files/bulk-upload" in toolbox
    assert f"{prefix}git/clone" in toolbox
    others = [p for p in paths if not p.startswith(prefix) and not p.startswith("/api/sandbox/")]
    assert others == []


def test_the_sdk_polls_while_a_lifecycle_step_runs(flow):
    """With immediate timing create answers "started" and the SDK goes straight to the
    toolbox; with 300 ms steps it polls GET /api/sandbox/{id} until the sandbox started."""
    sid = flow["create"]["id"]
    entries = journal(flow.runner, sandboxId=sid)
    first_toolbox = next(i for i, e in enumerate(entries) if "/toolbox/" in e["path"])
    polls = [e for e in entries[:first_toolbox] if e["method"] == "GET" and e["path"] == f"/api/sandbox/{sid}"]
    if flow.delayed:
        assert len(polls) >= 2, [e["path"] for e in entries[:first_toolbox]]
    else:
        assert polls == []


def test_events_mode_opens_socketio_and_is_refused(flows):
    # the events-mode flow ran on the shared runner; the polling flows never open the stream.
    # The refusal itself (open, CONNECT_ERROR, close) is in test_control_plane.py.
    flow = flows["0.218-events"]
    attempts = journal(flow.runner, path="/api/socket.io/")
    assert attempts, "the SDK never tried its event stream"
    assert {e["status"] for e in attempts} == {101}
    assert all("sdkVersion=0.218.0" in e["query"] for e in attempts)
    assert journal(flows["0.218-delayed"].runner, path="/api/socket.io/") == []


def test_exec(flow):
    assert flow["exec"]["exitCode"] == 0
    assert flow["exec"]["result"] == "hi\n"
    assert flow["exec_exit_code"]["exitCode"] == 3
    assert flow["exec_exit_code"]["result"] == "oops\n"


def test_exec_with_cwd_and_env(flow):
    got = flow["exec_cwd_env"]
    assert got["exitCode"] == 0
    assert got["result"] == f"{flow.work}|hello env"


def test_files(flow):
    assert "sdk-dir" in flow["fs_folder"]["listed"]
    assert flow["fs_upload"]
    content = f"hello via sdk {_full_version(flow)}\n"
    assert flow["fs_list"]["files"] == [{"name": "hello.txt", "size": len(content), "isDir": False}]
    assert flow["fs_download"]["content"] == content
    assert flow["fs_delete"]["listed"] == []
    assert "sdk-dir" not in flow["fs_delete_folder"]["listed"]
    # the toolbox runs on this host: the SDK's files were real files here
    assert not (flow.work / "sdk-dir").exists()


def test_download_of_a_missing_file_raises(flow):
    missing = flow["fs_download_missing"]
    assert missing["raised"] is True
    # 0.218 maps the per-file 404 to its not-found error; older SDKs raise their base error
    if flow.version == "0.218":
        assert missing["error"] == "DaytonaNotFoundError"
    else:
        assert missing["error"].startswith("Daytona")


def test_session(flow):
    s = flow["session"]
    assert s["exitCode"] == 0
    out = s.get("stdout") or s.get("output")
    assert "from-session" in out
    assert "kept" in (s.get("againStdout") or s.get("againOutput"))
    assert "from-session" in (s["logs"].get("stdout") or s["logs"]["output"])
    assert [c["command"] for c in s["commands"]] == ["export SEEN=kept; echo from-session", 'echo "$SEEN"']


def test_session_async_command_and_its_logs(flow):
    s = flow["session_async"]
    assert s["exitCode"] == 0
    assert "later" in (s["logs"].get("stdout") or s["logs"]["output"])


def test_git_clone(flow):
    g = flow["git_clone"]
    assert g["currentBranch"] == "main"
    assert {"README.md", "src"} <= set(g["listed"])
    assert g["fileStatus"] == []


def test_git_add_commit_and_branches(flow):
    g = flow["git_commit"]
    assert [(f["name"], f["staging"]) for f in g["before"]] == [("added.txt", "Untracked")]
    assert [(f["name"], f["staging"]) for f in g["staged"]] == [("added.txt", "Added")]
    assert re.fullmatch(r"[0-9a-f]{40}", g["sha"]), g["sha"]
    assert g["afterFiles"] == [] and g["ahead"] == 1
    assert g["branches"] == ["main", "sdk-branch"]
    # the commit is in the clone on this host, with the author the SDK gave
    log = subprocess.run(["git", "-C", str(flow.work / "clone"), "log", "-1", "--format=%H %an <%ae> %s"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert log == f"{g['sha']} SDK Tester <sdk@example.com> sdk commit"


def test_home_and_work_dirs(flow):
    dirs = flow["dirs"]
    assert os.path.isabs(dirs["home"]) and os.path.isdir(dirs["home"])
    assert os.path.isabs(dirs["work"]) and os.path.isdir(dirs["work"])


def test_more_file_operations(flow):
    more = flow["fs_more"]
    base = flow.work / "more"
    assert more["details"] == {"name": "a.txt", "size": len("alpha needle\nbeta\n"), "isDir": False}
    assert more["found"] == [{"file": str(base / "a.txt"), "line": 1, "content": "alpha needle"}]
    assert more["searched"] == [str(base / "a.txt")]
    assert more["replaced"] == [{"file": str(base / "a.txt"), "success": True}]
    assert more["afterReplace"] == "alpha pin\nbeta\n"
    assert more["permissionsAfterChmod"] == "0600" and more["modeAfterChmod"] == "-rw-------"
    assert more["listed"] == ["b.log", "moved.txt"]
    # and on this host, where the toolbox runs
    moved = base / "moved.txt"
    assert moved.read_text() == "alpha pin\nbeta\n"
    assert stat.S_IMODE(moved.stat().st_mode) == 0o600
    assert more["missing"]["raised"] is True
    assert more["missing"]["error"] == "DaytonaNotFoundError"
    assert "nothing.txt" in more["missing"]["message"]


def test_code_run(flow):
    # 0.218 posts /process/code-run; 0.161 and 0.108 build a python3 command and execute it
    assert flow["code_run"] == {"step": "code_run", "ok": True, "exitCode": 0, "result": "42\n"}


def test_refresh_data(flow):
    refreshed = flow["refresh"]
    assert refreshed["state"] == "started"
    assert refreshed["labels"]["suite"] == flow["create"]["labels"]["suite"]


def test_set_labels_and_autostop(flow):
    sid = flow["create"]["id"]
    suite = flow["create"]["labels"]["suite"]
    got = flow["set_labels"]
    assert got["returned"] == {"suite": suite, "relabelled": "yes"}
    assert got["held"] == got["returned"]
    assert got["listed"] == [sid]
    assert got["autoStopInterval"] == 42


def test_find_one_of_sdk_0108(flows):
    flow = flows["0.108"]
    found = flow["find_one"]
    assert found["byId"] == flow["create"]["id"]
    assert found["byLabel"] == found["otherId"] != found["byId"]
    assert found["none"]["raised"] is True and found["none"]["error"] == "DaytonaError"


def test_delete_of_a_stopped_sandbox(flow):
    got = flow["delete_stopped"]
    assert got["stopped"] == "stopped"
    if flow.delayed:
        assert got["after"] in ("destroying", "destroyed")
    else:
        assert got["after"] == "destroyed"


def test_get_and_list_by_label(flow):
    sid = flow["create"]["id"]
    got = flow["get"]
    assert got["id"] == sid and got["state"] == "started"
    if flow.version != "0.108":
        assert got["byNameId"] == sid
    listed = flow["list"]
    assert listed["ids"] == [sid]
    assert listed["states"] == ["started"]
    assert listed["none"] == 0


def test_stop_start_delete(flow):
    assert flow["stop"]["state"] == "stopped"
    assert flow["start"]["state"] == "started"
    assert flow["exec_after_restart"]["result"] == "again\n"
    if flow.delayed:
        # 0.218 does not wait for a delete unless asked to: it reports the state it got
        assert flow["delete"]["state"] == "destroying"
        assert flow["get_after_delete"]["state"] in ("destroying", "destroyed")
        return
    # 0.161 does not wait for the refresh after delete (official-clients.md pitfall 10)
    if flow.version != "0.161":
        assert flow["delete"]["state"] == "destroyed"
    assert flow["get_after_delete"]["state"] == "destroyed"


def test_missing_sandbox_raises_not_found(flow):
    missing = flow["get_missing"]
    assert missing["raised"] is True
    assert missing["error"] == "DaytonaNotFoundError"
    assert "no-such-sandbox" in missing["message"]


def test_nothing_left_running(flows):
    for flow in flows.values():
        metrics = flow.runner.get("/info").json()["metrics"]
        assert metrics["currentStartedSandboxes"] == 0, flow.name


def _full_version(flow):
    return {"0.218": "0.218.0", "0.161": "0.161.0", "0.108": "0.108.1"}[flow.version]


@pytest.fixture(scope="module")
def auth_steps(tmp_path_factory):
    runner = RunnerProcess(env={"CONTROL_PLANE_API_KEY": "sdk-key"})
    try:
        lines = mrtest.run_node("sdk-auth.js", timeout=NODE_TIMEOUT, env={
            "MR_URL": runner.url, "MR_TOKEN": runner.token, "MR_SDK_KEY": "sdk-key",
            "MR_WORKDIR": str(tmp_path_factory.mktemp("auth"))})
        yield runner, {line["step"]: line for line in lines}
    finally:
        runner.stop()


@pytest.mark.parametrize("version", ["0.218.0", "0.161.0"])
def test_control_plane_key_and_organization(auth_steps, version):
    runner, steps = auth_steps
    for mode, org in (("api_key", "mock-organization"), ("jwt", "org-sdk")):
        got = steps[f"{mode} {version}"]
        assert got["ok"], got
        assert (got["exitCode"], got["result"]) == (0, "authorised\n")
        assert got["state"] == "started"
        assert got["organizationId"] == org
    # only the JWT client sent the organization, on its API and toolbox requests alike
    jwt_id = steps[f"jwt {version}"]["id"]
    sent = runner.get("/_mock/requests?" + urllib.parse.urlencode({"sandboxId": jwt_id})).json()["requests"]
    assert sent and all(e["headers"].get("x-daytona-organization-id") == "org-sdk" for e in sent)
    key_id = steps[f"api_key {version}"]["id"]
    sent = runner.get("/_mock/requests?" + urllib.parse.urlencode({"sandboxId": key_id})).json()["requests"]
    assert sent and not any("x-daytona-organization-id" in e["headers"] for e in sent)


@pytest.mark.parametrize("version", ["0.218.0", "0.161.0"])
def test_errors_raise_the_sdk_error_classes(auth_steps, version):
    _, steps = auth_steps
    wrong = steps[f"wrong_key {version}"]
    assert wrong["raised"] is True
    taken = steps[f"name_in_use {version}"]
    assert taken["raised"] is True and f"taken-{version}" in taken["message"]
    if version == "0.218.0":
        assert wrong["error"] == "DaytonaAuthenticationError"
        assert taken["error"] == "DaytonaConflictError"
    else:
        # 0.161 has one class per status only for 404
        assert wrong["error"] == "DaytonaError" and taken["error"] == "DaytonaError"
