"""mock-runner-toolboxd as a program: flags, ready line, serving, signals, errors."""
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

from gitserver import git
from mrtest import TOOLBOXD_BIN, request

READY = re.compile(r"^Starting toolbox server on port (\d+)$")


class Toolboxd:
    def __init__(self, args, env=None, cwd=None):
        full_env = dict(os.environ)
        full_env.pop("DAYTONA_USER_HOME_AS_WORKDIR", None)
        full_env.update(env or {})
        self.proc = subprocess.Popen([TOOLBOXD_BIN] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=full_env, cwd=cwd)
        line = self.proc.stdout.readline().rstrip("\n")
        m = READY.match(line)
        if not m:
            self.proc.kill()
            out, err = self.proc.communicate()
            raise AssertionError(f"no ready line: {line!r} {out!r} {err!r}")
        self.port = int(m.group(1))
        self.url = f"http://127.0.0.1:{self.port}"

    def get(self, path):
        return request(self.url, "GET", path)

    def post(self, path, body):
        return request(self.url, "POST", path, body=body)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()
            self.proc.stderr.close()
        return rc


@pytest.fixture
def dirs(tmp_path):
    work, home = tmp_path / "work", tmp_path / "home"
    return str(work), str(home)


@pytest.fixture
def daemon(dirs):
    work, home = dirs
    d = Toolboxd(["--port", "0", "--work-dir", work, "--home-dir", home])
    yield d
    d.stop()


def test_ready_line_version_and_dirs(daemon, dirs):
    work, home = dirs
    r = daemon.get("/version")
    assert r.status == 200 and r.header("Content-Type").startswith("application/json")
    version = r.json()["version"]
    assert isinstance(version, str) and version
    assert daemon.get("/work-dir").json() == {"dir": work}
    assert daemon.get("/user-home-dir").json() == {"dir": home}
    assert daemon.get("/project-dir").json() == {"dir": home}
    assert os.path.isdir(work)                              # created
    assert os.path.isdir(os.path.join(home, ".daytona"))    # the daemon's config dir
    r = daemon.get("/nothing")
    assert r.status == 404 and r.text == "404 page not found"


def test_serves_git_relative_to_the_work_dir(daemon, dirs):
    work, _ = dirs
    git("init", "-q", os.path.join(work, "repo"))
    r = daemon.get("/git/status?path=repo")
    assert r.status == 200, r
    assert r.json()["currentBranch"] == "main" and r.json()["fileStatus"] == []
    r = daemon.post("/git/init", {"path": "made"})
    assert r.status == 201, r
    assert os.path.isdir(os.path.join(work, "made", ".git"))


def test_listens_on_all_interfaces(daemon):
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        r = request(f"http://[::1]:{daemon.port}", "GET", "/version")
    except OSError:
        pytest.skip("no IPv6 loopback")
    assert r.status == 200


def test_home_as_work_dir(tmp_path):
    home = str(tmp_path / "h")
    d = Toolboxd(["--port", "0", "--work-dir", "DAYTONA_USER_HOME_AS_WORKDIR", "--home-dir", home])
    try:
        assert d.get("/work-dir").json() == {"dir": home}
    finally:
        assert d.stop() == 0
    # the newer daemon's form: the variable set to true and no flag
    d = Toolboxd(["--port", "0", "--home-dir", home], env={"DAYTONA_USER_HOME_AS_WORKDIR": "true"},
                 cwd=str(tmp_path))
    try:
        assert d.get("/work-dir").json() == {"dir": home}
    finally:
        d.stop()
    # without either, the work dir is the current directory
    d = Toolboxd(["--port", "0", "--home-dir", home], cwd=str(tmp_path))
    try:
        assert d.get("/work-dir").json() == {"dir": str(tmp_path)}
    finally:
        d.stop()


def test_home_defaults_to_HOME(tmp_path):
    home = str(tmp_path / "envhome")
    os.makedirs(home)
    d = Toolboxd(["--port", "0", "--work-dir", str(tmp_path / "w")], env={"HOME": home})
    try:
        assert d.get("/user-home-dir").json() == {"dir": home}
    finally:
        d.stop()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_exits_cleanly(dirs, sig):
    work, home = dirs
    d = Toolboxd(["--port", "0", "--work-dir", work, "--home-dir", home])
    assert d.get("/version").status == 200
    assert d.stop(sig) == 0
    with pytest.raises(OSError):
        request(d.url, "GET", "/version", timeout=2)


def _processes_with(marker):
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if marker.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def test_sigterm_kills_running_children(dirs, tmp_path):
    """A git clone waiting on a remote that never answers is killed on SIGTERM."""
    work, home = dirs
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    marker = f"never-answers-{os.getpid()}-{srv.getsockname()[1]}"
    url = f"http://127.0.0.1:{srv.getsockname()[1]}/{marker}.git"
    d = Toolboxd(["--port", "0", "--work-dir", work, "--home-dir", home])
    answered = {}

    def clone():
        try:
            answered["r"] = d.post("/git/clone", {"url": url, "path": "slow"})
        except OSError as e:
            answered["error"] = e

    t = threading.Thread(target=clone, daemon=True)
    t.start()
    conns = []
    try:
        srv.settimeout(20)
        conns.append(srv.accept()[0])           # git is connected and waiting
        assert _processes_with(marker), "git should be running"
        assert d.stop() == 0
        deadline = time.monotonic() + 5
        while _processes_with(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _processes_with(marker) == []
    finally:
        for c in conns:
            c.close()
        srv.close()
        t.join(10)


def test_port_in_use_is_a_clear_error(daemon, dirs):
    work, home = dirs
    p = subprocess.run([TOOLBOXD_BIN, "--port", str(daemon.port), "--work-dir", work, "--home-dir", home],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode != 0
    assert p.stdout == ""                                   # never announced as ready
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and str(daemon.port) in lines[0] and "in use" in lines[0], p.stderr
    assert daemon.get("/version").status == 200             # the first one is unharmed


def test_bad_arguments(tmp_path):
    for args in (["--port", "70000"], ["--port", "x"], ["--nope"]):
        p = subprocess.run([TOOLBOXD_BIN] + args, capture_output=True, text=True, timeout=20, cwd=str(tmp_path))
        assert p.returncode != 0 and p.stdout == "", args
        assert p.stderr.startswith("mock-runner-toolboxd: ") and len(p.stderr.strip().splitlines()) == 1, p.stderr
    p = subprocess.run([TOOLBOXD_BIN, "--version"], capture_output=True, text=True, timeout=20)
    assert p.returncode == 0 and p.stdout.startswith("mock-runner-toolboxd ")
