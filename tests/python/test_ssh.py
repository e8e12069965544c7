"""The SSH gateway (ssh-libssh) and the toolbox's SSH server, driven with Debian's real
OpenSSH client (ssh, sftp, scp), as users of Daytona's SSH access meet them:

- the public gateway's way: the user name is a token from POST /sandboxes/{id}/ssh-access;
- the runner gateway's way: the user name is the sandbox id, the key is SSH_PUBLIC_KEY.
"""
import base64
import errno
import fcntl
import hashlib
import os
import pty  # noqa: F401  (documents that the PTY tests need a pty-capable platform)
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import time
import urllib.parse

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from mrtest import RunnerProcess, TOOLBOXD_BIN, free_port, request  # noqa: E402

SSH = shutil.which("ssh")
SFTP = shutil.which("sftp")
SCP = shutil.which("scp")
PLUGIN_PATH = os.environ.get("MOCK_RUNNER_PLUGIN_PATH", "")
HAVE_PLUGIN = any(os.path.exists(os.path.join(d, "ssh-libssh.so")) for d in PLUGIN_PATH.split(":") if d)

pytestmark = [
    pytest.mark.skipif(SSH is None or SFTP is None, reason="the OpenSSH client is not installed (openssh-client)"),
    pytest.mark.skipif(not HAVE_PLUGIN, reason="built without libssh: no ssh-libssh plugin"),
]

SANDBOX = "sbx-ssh"
TIMEOUT = 60


def client_options(identity, log_level="ERROR"):
    """Options for ssh, sftp and scp: no user config, no known hosts, never a prompt."""
    return ["-F", "/dev/null",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "BatchMode=yes", "-o", f"LogLevel={log_level}", "-o", "ConnectTimeout=20",
            "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-i", identity]


def ssh_args(port, identity, user, *command, log_level="ERROR", options=()):
    return [SSH, "-p", str(port)] + client_options(identity, log_level) + list(options) + [f"{user}@127.0.0.1"] \
        + list(command)


def sftp_batch(port, identity, user, batch_file):
    return subprocess.run([SFTP, "-b", str(batch_file), "-P", str(port)] + client_options(identity)
                          + [f"{user}@127.0.0.1"], capture_output=True, timeout=TIMEOUT)


class Keys:
    def __init__(self, directory):
        self.dir = directory
        for name in ("gateway", "stranger"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{name}@test",
                            "-f", os.path.join(directory, name)], check=True)
        self.gateway = os.path.join(directory, "gateway")
        self.stranger = os.path.join(directory, "stranger")
        with open(self.gateway + ".pub") as f:
            self.gateway_pub = f.read().strip()


class Gateway:
    """A standalone runner with the SSH gateway on a free port."""

    def __init__(self, keys, tmp, extra_env=None):
        self.keys = keys
        self.tmp = tmp
        self.work_dir = os.path.join(tmp, "work")
        self.log_path = os.path.join(tmp, "runner.log")
        self.host_key = os.path.join(tmp, "hostkey", "ssh_host_rsa_key")
        env = {
            "SSH_GATEWAY_ENABLE": "true",
            "SSH_GATEWAY_PORT": "0",
            "SSH_PUBLIC_KEY": base64.b64encode(keys.gateway_pub.encode()).decode(),
            "SSH_HOST_KEY_PATH": self.host_key,
            "TOOLBOX_WORK_DIR": self.work_dir,
            "LOG_FILE_PATH": self.log_path,
        }
        env.update(extra_env or {})
        self.runner = RunnerProcess(env=env)
        self.port = None

    def stop(self):
        self.runner.stop()

    def create_sandbox(self, sandbox_id):
        r = self.runner.get(f"/sandboxes/{sandbox_id}")
        if r.status == 200 and r.json().get("state") == "started":
            return
        self.runner.create_sandbox(sandbox_id)

    def access(self, sandbox_id=SANDBOX, expires=None):
        path = f"/sandboxes/{sandbox_id}/ssh-access"
        if expires is not None:
            path += f"?expiresInMinutes={expires}"
        r = self.runner.post(path)
        assert r.status == 200, r
        body = r.json()
        self.port = int(re.search(r"-p (\d+)", body["sshCommand"]).group(1))
        return body

    def token(self, sandbox_id=SANDBOX):
        return self.access(sandbox_id)["token"]

    def ssh_args(self, user, *command, identity=None, log_level="ERROR", options=()):
        if self.port is None:
            self.access()
        return ssh_args(self.port, identity or self.keys.stranger, user, *command, log_level=log_level,
                        options=options)

    def ssh(self, user, *command, input=None, identity=None, log_level="ERROR", options=(), timeout=TIMEOUT):
        return subprocess.run(self.ssh_args(user, *command, identity=identity, log_level=log_level, options=options),
                              input=input, capture_output=True, timeout=timeout)

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.log()):
                return True
            time.sleep(0.1)
        return False

    def toolbox_file(self, sandbox_id, path):
        """A file's bytes, through the toolbox files API."""
        absolute = os.path.join(self.work_dir, path)
        r = self.runner.get(f"/sandboxes/{sandbox_id}/toolbox/files/download?path=" + urllib.parse.quote(absolute))
        assert r.status == 200, r
        return r.body

    def toolbox_info(self, sandbox_id, path):
        """A file's details, through the toolbox files API."""
        absolute = os.path.join(self.work_dir, path)
        r = self.runner.get(f"/sandboxes/{sandbox_id}/toolbox/files/info?path=" + urllib.parse.quote(absolute))
        assert r.status == 200, r
        return r.json()


@pytest.fixture(scope="module")
def keys():
    with tempfile.TemporaryDirectory(prefix="mr-ssh-keys-") as d:
        yield Keys(d)


@pytest.fixture(scope="module")
def gw(keys):
    with tempfile.TemporaryDirectory(prefix="mr-ssh-") as tmp:
        g = Gateway(keys, tmp)
        g.create_sandbox(SANDBOX)
        g.access()
        yield g
        g.stop()


# The access route ----------------------------------------------------------------------

def test_access_route_shape(gw):
    before = time.time()
    body = gw.access()
    assert set(body) == {"id", "sandboxId", "token", "expiresAt", "createdAt", "updatedAt", "sshCommand"}
    assert body["sandboxId"] == SANDBOX
    assert re.fullmatch(r"[0-9A-Za-z]{32}", body["token"])
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", body["id"])
    assert body["sshCommand"] == f"ssh -p {gw.port} {body['token']}@127.0.0.1"
    created = time.mktime(time.strptime(body["createdAt"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    expires = time.mktime(time.strptime(body["expiresAt"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["expiresAt"])
    assert abs(created - before) < 5
    assert abs((expires - created) - 3600) < 2     # 60 minutes by default


def test_access_route_errors(gw):
    r = gw.runner.post("/sandboxes/no-such-sandbox/ssh-access")
    assert r.status == 404 and r.json()["code"] == "NOT_FOUND"
    for bad in ("abc", "0", "-5", "1e99"):
        r = gw.runner.post(f"/sandboxes/{SANDBOX}/ssh-access?expiresInMinutes={bad}")
        assert r.status == 400, (bad, r)
        assert "expiresInMinutes" in r.json()["message"]
    r = gw.runner.post(f"/sandboxes/{SANDBOX}/ssh-access", auth=False)
    assert r.status == 401


def test_validate_and_revoke_route(gw):
    token = gw.token()
    r = gw.runner.get(f"/sandboxes/ssh-access/validate?token={token}")
    assert r.status == 200 and r.json() == {"valid": True, "sandboxId": SANDBOX}
    r = gw.runner.delete(f"/sandboxes/{SANDBOX}/ssh-access?token={token}")
    assert r.status == 200 and r.json() == {"sandboxId": SANDBOX, "revoked": 1}
    r = gw.runner.get(f"/sandboxes/ssh-access/validate?token={token}")
    assert r.json() == {"valid": False, "sandboxId": None}
    gw.token()
    r = gw.runner.delete(f"/sandboxes/{SANDBOX}/ssh-access")
    assert r.json()["revoked"] == 1


# Sessions -------------------------------------------------------------------------------

def test_exec_prints_and_returns_the_exit_status(gw):
    p = gw.ssh(gw.token(), "echo hi; exit 3")
    assert p.stdout == b"hi\n", p
    assert p.returncode == 3, p


def test_exec_stdin_stderr_and_work_dir(gw):
    p = gw.ssh(gw.token(), "cat; echo to-stderr >&2; pwd", input=b"from stdin\n")
    assert p.returncode == 0, p
    assert p.stdout.decode().splitlines() == ["from stdin", os.path.realpath(gw.work_dir)]
    assert b"to-stderr" in p.stderr


def test_environment_sent_by_the_client_is_applied(gw):
    env = dict(os.environ, MR_SSH_TEST_VAR="from the client")
    p = subprocess.run(gw.ssh_args(gw.token(), 'echo "[$MR_SSH_TEST_VAR]"', options=["-o", "SendEnv=MR_SSH_TEST_VAR"]),
                       capture_output=True, timeout=TIMEOUT, env=env)
    assert p.returncode == 0, p
    assert p.stdout == b"[from the client]\n"


def test_exec_large_output_arrives_whole(gw):
    # more than the SSH windows on both hops: flow control has to work through the relay
    p = gw.ssh(gw.token(), "head -c 5000000 /dev/zero | tr '\\0' x; echo")
    assert p.returncode == 0
    assert len(p.stdout) == 5000001 and p.stdout.count(b"x") == 5000000


def test_exit_by_signal_is_reported(gw):
    p = gw.ssh(gw.token(), "kill -TERM $$")
    # OpenSSH exits with 255 when the remote command died of a signal
    assert p.returncode == 255, p


def test_runner_style_login_with_the_gateway_key(gw):
    p = gw.ssh(SANDBOX, "echo runner-style", identity=gw.keys.gateway)
    assert p.returncode == 0, p
    assert p.stdout == b"runner-style\n"


class PtyClient:
    """ssh -tt on a pseudo-terminal we hold the master of."""

    def __init__(self, args, rows=24, cols=80):
        self.master, slave = os.openpty()
        self.resize_slave(slave, rows, cols)
        self.proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
        os.close(slave)
        self.buffer = b""

    @staticmethod
    def resize_slave(fd, rows, cols):
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def resize(self, rows, cols):
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        # the client learns of it the way a terminal tells it: SIGWINCH
        os.kill(self.proc.pid, signal.SIGWINCH)

    def send(self, text):
        os.write(self.master, text.encode())

    def expect(self, pattern, timeout=20):
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern.encode())
        while True:
            m = regex.search(self.buffer)
            if m:
                self.buffer = self.buffer[m.end():]
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{pattern!r} not seen; got {self.buffer[-500:]!r}")
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError as e:
                    if e.errno != errno.EIO:
                        raise
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"{pattern!r} not seen before EOF; got {self.buffer[-500:]!r}")
                self.buffer += chunk

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        os.close(self.master)


def test_interactive_shell_on_a_pty_with_window_changes(gw):
    client = PtyClient(gw.ssh_args(gw.token(), options=["-tt"]), rows=24, cols=80)
    try:
        # $((...)) and $(...) are expanded by the remote shell: the echo of what we type
        # cannot match these patterns, only the output can
        client.send("echo TTY=$(tty) SUM=$((6*7))\n")
        m = client.expect(r"TTY=(/dev/\S+) SUM=42")
        assert m.group(1).startswith(b"/dev/pts/")
        client.send("echo SIZE=$(stty size)=\n")
        assert client.expect(r"SIZE=(\d+ \d+)=").group(1) == b"24 80"
        client.resize(33, 101)
        # the window change travels on its own: ask until it has arrived (or give up)
        for _ in range(20):
            client.send("echo SIZE=$(stty size)=\n")
            size = client.expect(r"SIZE=(\d+ \d+)=").group(1)
            if size == b"33 101":
                break
            time.sleep(0.25)
        assert size == b"33 101"
        client.send("echo TERM=$TERM=\n")
        assert client.expect(r"TERM=(\S+)=").group(1) != b""
        client.send("exit 7\n")
        assert client.proc.wait(20) == 7
    finally:
        client.close()


def test_exec_with_a_requested_pty_runs_on_it(gw):
    p = gw.ssh(gw.token(), "tty; test -t 0 && echo on-a-terminal", options=["-tt"])
    assert p.returncode == 0, p
    assert b"/dev/pts/" in p.stdout and b"on-a-terminal" in p.stdout


# Files -------------------------------------------------------------------------------------

def test_sftp_put_get_and_directory_operations(gw, tmp_path):
    data = os.urandom(700_000)
    local = tmp_path / "local.bin"
    local.write_bytes(data)
    back = tmp_path / "back.bin"
    batch = tmp_path / "batch"
    batch.write_text(
        "mkdir sftpdir\n"
        f"put {local} sftpdir/upload.bin\n"
        "ls -l sftpdir\n"
        f"get sftpdir/upload.bin {back}\n"
        "rename sftpdir/upload.bin sftpdir/renamed.bin\n"
        "chmod 640 sftpdir/renamed.bin\n"
        "ln -s renamed.bin sftpdir/link.bin\n"
        "df\n"
        "ls sftpdir\n")
    p = sftp_batch(gw.port, gw.keys.stranger, gw.token(), batch)
    assert p.returncode == 0, p
    assert back.read_bytes() == data
    assert b"upload.bin" in p.stdout and b"renamed.bin" in p.stdout
    # what landed in the toolbox, seen through the toolbox's own API
    assert gw.toolbox_file(SANDBOX, "sftpdir/renamed.bin") == data
    info = gw.toolbox_info(SANDBOX, "sftpdir/renamed.bin")
    assert info["permissions"] == "0640" and info["size"] == len(data)
    assert os.readlink(os.path.join(gw.work_dir, "sftpdir/link.bin")) == "renamed.bin"


def test_sftp_reads_a_file_the_toolbox_wrote(gw, tmp_path):
    p = gw.ssh(gw.token(), "printf 'made in the toolbox' > made.txt")
    assert p.returncode == 0, p
    batch = tmp_path / "batch"
    batch.write_text(f"get made.txt {tmp_path / 'made.txt'}\n")
    p = sftp_batch(gw.port, gw.keys.stranger, gw.token(), batch)
    assert p.returncode == 0, p
    assert (tmp_path / "made.txt").read_bytes() == b"made in the toolbox"


def test_scp_round_trip(gw, tmp_path):
    data = os.urandom(3_000_000)
    (tmp_path / "up.bin").write_bytes(data)
    token = gw.token()
    opts = ["-P", str(gw.port)] + client_options(gw.keys.stranger)
    p = subprocess.run([SCP] + opts + [str(tmp_path / "up.bin"), f"{token}@127.0.0.1:scp.bin"],
                       capture_output=True, timeout=TIMEOUT)
    assert p.returncode == 0, p
    p = subprocess.run([SCP] + opts + [f"{token}@127.0.0.1:scp.bin", str(tmp_path / "down.bin")],
                       capture_output=True, timeout=TIMEOUT)
    assert p.returncode == 0, p
    assert (tmp_path / "down.bin").read_bytes() == data
    assert hashlib.sha256(gw.toolbox_file(SANDBOX, "scp.bin")).digest() == hashlib.sha256(data).digest()


# Port forwarding ---------------------------------------------------------------------------

def stop_client(p):
    """Ends an ssh client. SIGTERM first; OpenSSH 9.2's client can miss a SIGTERM that
    lands just before it polls (it has no ppoll), so SIGKILL after a while."""
    p.terminate()
    try:
        p.wait(5)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(10)


def wait_for_port(port, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def http_get(port, path="/"):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def test_local_port_forwarding_reaches_a_server_in_the_toolbox(gw):
    server_port = free_port()
    local_port = free_port()
    with open(os.path.join(gw.work_dir, "served.txt"), "w") as f:
        f.write("served from the toolbox")
    # the server runs inside the toolbox, started over ssh like a user would
    server = subprocess.Popen(gw.ssh_args(gw.token(), f"exec python3 -m http.server {server_port} --bind 127.0.0.1"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tunnel = None
    try:
        assert wait_for_port(server_port), "the server in the toolbox did not start"
        tunnel = subprocess.Popen(gw.ssh_args(gw.token(), options=["-N", "-L", f"{local_port}:127.0.0.1:{server_port}"]),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert wait_for_port(local_port), "the tunnel did not open"
        reply = http_get(local_port, "/served.txt")
        assert reply.startswith(b"HTTP/1.0 200"), reply[:200]
        assert reply.endswith(b"served from the toolbox")
        # several connections through the same tunnel
        for _ in range(3):
            assert http_get(local_port, "/served.txt").endswith(b"served from the toolbox")
    finally:
        for p in (tunnel, server):
            if p:
                stop_client(p)
    # closing the ssh session ended the server it started
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", server_port), timeout=1).close()
            time.sleep(0.2)
        except OSError:
            break
    else:
        pytest.fail("the server started over ssh outlived its session")


def test_forwarding_to_a_closed_port_fails_only_that_channel(gw):
    closed = free_port()
    local_port = free_port()
    tunnel = subprocess.Popen(gw.ssh_args(gw.token(), options=["-N", "-L", f"{local_port}:127.0.0.1:{closed}"]),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert wait_for_port(local_port)
        with socket.create_connection(("127.0.0.1", local_port), timeout=10) as s:
            s.settimeout(10)
            assert s.recv(100) == b""      # the channel was refused: the local side closes
        assert tunnel.poll() is None       # the ssh connection itself lives on
    finally:
        stop_client(tunnel)


def test_closing_the_client_ends_the_remote_process(gw):
    marker = f"sleep {4000 + os.getpid() % 1000}"
    p = subprocess.Popen(gw.ssh_args(gw.token(), marker), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def remote_running():
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        if f.read().replace(b"\0", b" ").strip() == marker.encode():
                            return True
                except OSError:
                    pass
        return False

    deadline = time.monotonic() + 20
    while not remote_running():
        assert time.monotonic() < deadline, "the remote command did not start"
        time.sleep(0.1)
    p.kill()
    p.wait(10)
    deadline = time.monotonic() + 15
    while remote_running():
        assert time.monotonic() < deadline, "the remote command outlived its client"
        time.sleep(0.1)


# Refusals -----------------------------------------------------------------------------------

def assert_refused(p):
    assert p.returncode == 255, p
    assert b"Permission denied" in p.stderr, p
    assert p.stdout == b""


def test_unknown_token_is_refused(gw):
    bogus = "A" * 32
    p = gw.ssh(bogus, "echo in", log_level="INFO")
    assert_refused(p)
    assert b"unknown or revoked access token" in p.stderr        # the banner
    assert gw.wait_log(rf"refused .*\(user '{bogus}'\): unknown or revoked access token")


def test_revoked_token_is_refused(gw):
    token = gw.token()
    assert gw.ssh(token, "true").returncode == 0
    r = gw.runner.delete(f"/sandboxes/{SANDBOX}/ssh-access?token={token}")
    assert r.json()["revoked"] == 1
    assert_refused(gw.ssh(token, "echo in"))
    assert gw.wait_log(rf"\(user '{token}'\): unknown or revoked access token")


def test_a_new_token_revokes_the_earlier_one(gw):
    first = gw.token()
    second = gw.token()
    assert_refused(gw.ssh(first, "echo in"))
    assert gw.ssh(second, "echo in").stdout == b"in\n"


def test_expired_token_is_refused(keys):
    """Tokens expire on the runner's clock, which the test advances (its own runner: the
    module's keeps the real time)."""
    with tempfile.TemporaryDirectory(prefix="mr-ssh-clock-") as tmp:
        g = Gateway(keys, tmp)
        try:
            g.create_sandbox(SANDBOX)
            token = g.access(expires="60")["token"]
            validate = f"/sandboxes/ssh-access/validate?token={token}"
            assert g.runner.post("/_mock/clock", {"advanceSeconds": 59 * 60}).status == 200
            assert g.runner.get(validate).json()["valid"] is True
            assert g.ssh(token, "echo in").stdout == b"in\n"
            assert g.runner.post("/_mock/clock", {"advanceSeconds": 2 * 60}).status == 200
            assert g.runner.get(validate).json()["valid"] is False
            p = g.ssh(token, "echo in", log_level="INFO")
            assert_refused(p)
            assert b"expired" in p.stderr
            assert g.wait_log(rf"\(user '{token}'\): the access token has expired")
        finally:
            g.stop()


def test_stopped_sandbox_is_refused(gw):
    sandbox = "sbx-ssh-stopped"
    gw.create_sandbox(sandbox)
    token = gw.token(sandbox)
    assert gw.ssh(token, "true").returncode == 0
    r = gw.runner.post(f"/sandboxes/{sandbox}/stop")
    assert r.status == 200, r
    p = gw.ssh(token, "echo in", log_level="INFO")
    assert_refused(p)
    assert b"is not started (state: stopped)" in p.stderr
    assert gw.wait_log(rf"\(user '{token}'\): sandbox {sandbox} is not started \(state: stopped\)")
    # and in the runner's way too
    assert_refused(gw.ssh(sandbox, "echo in", identity=gw.keys.gateway))


def test_unknown_sandbox_and_foreign_key_are_refused(gw):
    assert_refused(gw.ssh("no-such-sandbox", "echo in", identity=gw.keys.gateway))
    assert gw.wait_log(r"\(user 'no-such-sandbox'\): sandbox no-such-sandbox not found")
    assert_refused(gw.ssh(SANDBOX, "echo in", identity=gw.keys.stranger))
    assert gw.wait_log(rf"\(user '{SANDBOX}'\): the public key is not the gateway's")


def test_password_authentication_is_refused(gw):
    p = gw.ssh(SANDBOX, "echo in", options=["-o", "PreferredAuthentications=password,keyboard-interactive",
                                            "-o", "PubkeyAuthentication=no"])
    assert_refused(p)
    # the gateway offers public keys only: a client cannot even try a password
    assert b"(publickey)" in p.stderr


def test_tokens_belong_to_one_runner(keys, gw):
    with tempfile.TemporaryDirectory(prefix="mr-ssh-other-") as tmp:
        other = Gateway(keys, tmp)
        try:
            other.create_sandbox(SANDBOX)
            other.access()
            assert_refused(other.ssh(gw.token(), "echo in"))
            assert other.ssh(other.token(), "echo mine").stdout == b"mine\n"
        finally:
            other.stop()


# Host key -------------------------------------------------------------------------------------

def host_key_of(port):
    p = subprocess.run(["ssh-keyscan", "-p", str(port), "-t", "rsa", "127.0.0.1"], capture_output=True,
                       timeout=TIMEOUT)
    keys = [line.split()[1:3] for line in p.stdout.decode().splitlines() if line and not line.startswith("#")]
    assert keys, p
    return keys[0]


def test_host_key_is_generated_saved_and_reused(keys):
    with tempfile.TemporaryDirectory(prefix="mr-ssh-hostkey-") as tmp:
        first = Gateway(keys, tmp)
        try:
            first.create_sandbox(SANDBOX)
            first.access()
            assert os.stat(first.host_key).st_mode & 0o777 == 0o600
            offered = host_key_of(first.port)
        finally:
            first.stop()
        saved = subprocess.run(["ssh-keygen", "-y", "-f", first.host_key], capture_output=True, check=True)
        assert saved.stdout.decode().split()[:2] == offered
        assert offered[0] == "ssh-rsa"
        second = Gateway(keys, tmp)
        try:
            second.create_sandbox(SANDBOX)
            second.access()
            assert host_key_of(second.port) == offered
        finally:
            second.stop()


def test_gateway_port_in_use_fails_the_start(keys):
    with socket.socket() as busy, tempfile.TemporaryDirectory(prefix="mr-ssh-busy-") as tmp:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        with pytest.raises(RuntimeError, match="SSH_GATEWAY_PORT"):
            Gateway(keys, tmp, extra_env={"SSH_GATEWAY_PORT": str(busy.getsockname()[1]),
                                          "API_HOST": "127.0.0.1"})


def test_bad_keys_fail_the_start_with_a_clear_error(keys):
    with tempfile.TemporaryDirectory(prefix="mr-ssh-badkey-") as tmp:
        with pytest.raises(RuntimeError, match="invalid SSH_PUBLIC_KEY"):
            Gateway(keys, tmp, extra_env={"SSH_PUBLIC_KEY": "bm90IGEga2V5"})
        garbage = os.path.join(tmp, "garbage_key")
        with open(garbage, "w") as f:
            f.write("not a key\n")
        with pytest.raises(RuntimeError, match="cannot read the SSH host key"):
            Gateway(keys, tmp, extra_env={"SSH_HOST_KEY_PATH": garbage})


# The toolbox daemon's own server (what the docker and remote backends reach) -----------------

def test_toolboxd_serves_ssh_like_the_daemon(keys, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.Popen([TOOLBOXD_BIN, "--port", "0", "--ssh-port", "0", "--host", "127.0.0.1",
                             "--work-dir", str(work), "--home-dir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = None
        deadline = time.monotonic() + 20
        while port is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            m = re.search(r"Starting SSH server on port (\d+)", line)
            if m:
                port = int(m.group(1))
            elif not line:
                break
        assert port, proc.stderr.read() if proc.poll() is not None else "no SSH port printed"
        # the daemon takes any user and any key
        p = subprocess.run(ssh_args(port, keys.stranger, "daytona", "echo $HOME; pwd; exit 42"),
                           capture_output=True, timeout=TIMEOUT)
        assert p.returncode == 42, p
        assert p.stdout.decode().split() == [str(tmp_path), str(work)]
        (tmp_path / "batch").write_text(f"put {tmp_path / 'batch'} copied\n")
        p = sftp_batch(port, keys.stranger, "anyone", tmp_path / "batch")
        assert p.returncode == 0, p
        assert (work / "copied").read_text().startswith("put ")
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()
