"""The SSH gateway as a user of docs/ssh.md meets it, beyond test_ssh.py: sessions that end
with their sandbox, many sessions at once, big and recursive transfers, token logins with
no key at all, and a default host key that stays the same from one start to the next (or
OpenSSH refuses the second login with "REMOTE HOST IDENTIFICATION HAS CHANGED")."""
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from mrtest import RunnerProcess, free_port  # noqa: E402
from test_ssh import (SCP, SSH, SFTP, HAVE_PLUGIN, TIMEOUT, Gateway, Keys, client_options,  # noqa: E402
                      sftp_batch, stop_client, wait_for_port)

pytestmark = [
    pytest.mark.skipif(SSH is None or SFTP is None or SCP is None,
                       reason="the OpenSSH client is not installed (openssh-client)"),
    pytest.mark.skipif(not HAVE_PLUGIN, reason="built without libssh: no ssh-libssh plugin"),
]


@pytest.fixture(scope="module")
def keys():
    with tempfile.TemporaryDirectory(prefix="mr-ssh-acc-keys-") as d:
        yield Keys(d)


@pytest.fixture(scope="module")
def gw(keys):
    with tempfile.TemporaryDirectory(prefix="mr-ssh-acc-") as tmp:
        g = Gateway(keys, tmp)
        g.create_sandbox("sbx-acc")
        g.access("sbx-acc")
        yield g
        g.stop()


def started_session(gw, sandbox, *extra):
    """An ssh client running `echo ready; sleep 600` in @sandbox, once it printed ready."""
    gw.create_sandbox(sandbox)
    p = subprocess.Popen(gw.ssh_args(gw.token(sandbox), "echo ready; exec sleep 600", options=list(extra)),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout.readline() == b"ready\n"
    return p


def wait_exit(p, timeout=20):
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        stop_client(p)
        pytest.fail("the ssh session outlived its sandbox")


# Sessions end with their sandbox -----------------------------------------------------------

@pytest.mark.parametrize("how", ["stop", "destroy"])
def test_sessions_end_when_the_sandbox_stops_or_is_destroyed(gw, how):
    sandbox = f"sbx-acc-{how}"
    p = started_session(gw, sandbox)
    other = started_session(gw, "sbx-acc-bystander")
    try:
        r = gw.runner.post(f"/sandboxes/{sandbox}/{how}")
        assert r.status in (200, 202), r
        # as when Daytona stops the sandbox's container: the connection goes away
        assert wait_exit(p) == 255
        assert gw.wait_log(rf"ssh gateway: sandbox {sandbox} is (stopping|stopped|destroying|destroyed): "
                           r"closing 1 connection")
        # another sandbox's session is left alone
        time.sleep(0.3)
        assert other.poll() is None
    finally:
        stop_client(other)
        if p.poll() is None:
            stop_client(p)


def test_a_forwarding_only_connection_ends_with_its_sandbox(gw):
    sandbox = "sbx-acc-tunnel"
    gw.create_sandbox(sandbox)
    local_port = free_port()
    p = subprocess.Popen(gw.ssh_args(gw.token(sandbox), options=["-N", "-L", f"{local_port}:127.0.0.1:9"]),
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert wait_for_port(local_port), "the tunnel did not open"     # opened once logged in
        assert gw.runner.post(f"/sandboxes/{sandbox}/stop").status in (200, 202)
        assert wait_exit(p) == 255
    finally:
        if p.poll() is None:
            stop_client(p)


# Many sessions, big and recursive transfers ------------------------------------------------

def test_ten_concurrent_sessions(gw):
    barrier = f"barrier-{os.getpid()}"
    token = gw.token("sbx-acc")
    # each session waits until all ten have arrived: they really run at the same time
    script = (f"mkdir -p {barrier}; touch {barrier}/$N; n=0; "
              f"while [ $(ls {barrier} | wc -l) -lt 10 ] && [ $n -lt 300 ]; do sleep 0.1; n=$((n+1)); done; "
              "echo session-$N; exit $N")
    procs = [subprocess.Popen(gw.ssh_args(token, script.replace("$N", str(i))),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(10)]
    try:
        for i, p in enumerate(procs):
            out, err = p.communicate(timeout=TIMEOUT)
            assert p.returncode == i, (i, out, err)
            assert out == f"session-{i}\n".encode()
    finally:
        for p in procs:
            if p.poll() is None:
                stop_client(p)


def test_sftp_transfers_50_mib_both_ways(gw, tmp_path):
    data = os.urandom(50 * 1024 * 1024)
    (tmp_path / "big.bin").write_bytes(data)
    batch = tmp_path / "batch"
    batch.write_text(f"put {tmp_path / 'big.bin'} big.bin\nget big.bin {tmp_path / 'back.bin'}\n")
    p = sftp_batch(gw.port, gw.keys.stranger, gw.token("sbx-acc"), batch)
    assert p.returncode == 0, p
    digest = hashlib.sha256(data).hexdigest()
    assert hashlib.sha256((tmp_path / "back.bin").read_bytes()).hexdigest() == digest
    with open(os.path.join(gw.work_dir, "big.bin"), "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == digest


def test_scp_copies_a_directory_tree_both_ways(gw, tmp_path):
    tree = tmp_path / "tree"
    (tree / "sub" / "deeper").mkdir(parents=True)
    (tree / "a.txt").write_text("a")
    (tree / "sub" / "b.bin").write_bytes(os.urandom(200_000))
    (tree / "sub" / "deeper" / "c.txt").write_text("c")
    token = gw.token("sbx-acc")
    opts = ["-r", "-P", str(gw.port)] + client_options(gw.keys.stranger)
    p = subprocess.run([SCP] + opts + [str(tree), f"{token}@127.0.0.1:scptree"], capture_output=True, timeout=TIMEOUT)
    assert p.returncode == 0, p
    p = subprocess.run([SCP] + opts + [f"{token}@127.0.0.1:scptree", str(tmp_path / "back")],
                       capture_output=True, timeout=TIMEOUT)
    assert p.returncode == 0, p
    for rel in ("a.txt", "sub/b.bin", "sub/deeper/c.txt"):
        assert (tmp_path / "back" / rel).read_bytes() == (tree / rel).read_bytes(), rel
        assert gw.toolbox_file("sbx-acc", f"scptree/{rel}") == (tree / rel).read_bytes()


def test_sftp_ls_mkdir_rename_rm_rmdir(gw, tmp_path):
    (tmp_path / "f.txt").write_text("x")
    batch = tmp_path / "batch"
    batch.write_text(f"mkdir lsdir\nput {tmp_path / 'f.txt'} lsdir/one.txt\nrename lsdir/one.txt lsdir/two.txt\n"
                     "ls lsdir\nrm lsdir/two.txt\nrmdir lsdir\nls\n")
    p = sftp_batch(gw.port, gw.keys.stranger, gw.token("sbx-acc"), batch)
    assert p.returncode == 0, p
    assert b"lsdir/two.txt" in p.stdout
    assert not os.path.exists(os.path.join(gw.work_dir, "lsdir"))


def test_token_login_needs_no_key(gw):
    # docs/ssh.md: "The token is the user name; nothing else is asked"
    p = gw.ssh(gw.token("sbx-acc"), "echo no-key", options=["-o", "PubkeyAuthentication=no"])
    assert p.returncode == 0, p
    assert p.stdout == b"no-key\n"


# The default host key ----------------------------------------------------------------------

def host_key(port):
    p = subprocess.run(["ssh-keyscan", "-t", "rsa", "-p", str(port), "127.0.0.1"], capture_output=True, timeout=30)
    lines = [line for line in p.stdout.decode().splitlines() if " ssh-rsa " in line]
    assert lines, p
    return lines[0].split()[-1]


def test_the_default_host_key_is_the_same_on_the_next_start(tmp_path):
    # no SSH_HOST_KEY_PATH: a user's known_hosts entry must still hold after a restart
    env = {"SSH_GATEWAY_ENABLE": "true", "SSH_GATEWAY_PORT": "0", "XDG_STATE_HOME": str(tmp_path / "state"),
           "LOG_LEVEL": "info"}
    keys_seen = []
    for _ in range(2):
        r = RunnerProcess(env=env)
        try:
            r.create_sandbox("k")
            port = int(re.search(r"-p (\d+)", r.post("/sandboxes/k/ssh-access").json()["sshCommand"]).group(1))
            keys_seen.append(host_key(port))
        finally:
            r.stop()
    assert keys_seen[0] == keys_seen[1]
    saved = tmp_path / "state" / "mock-runner" / "ssh_host_rsa_key"
    assert saved.exists() and (saved.stat().st_mode & 0o777) == 0o600
