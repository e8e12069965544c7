"""Helpers for the pytest suites: start the standalone mock-runner, talk HTTP to it.

Only the standard library is used, so the suites run with Debian's python3 alone.
"""
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.parse

MOCK_RUNNER_BIN = os.environ.get("MOCK_RUNNER_BIN", "mock-runner")
TOOLBOXD_BIN = os.environ.get("MOCK_RUNNER_TOOLBOXD", "mock-runner-toolboxd")
URL_LINE = re.compile(r"listening on (https?://\S+)")
# What AddressSanitizer, LeakSanitizer and UBSan print when a sanitized build finds an error
SANITIZER_REPORT = re.compile(r"^==\d+==ERROR: (AddressSanitizer|LeakSanitizer)|^\S+:\d+:\d+: runtime error: ",
                              re.MULTILINE)


class SanitizerReport(AssertionError):
    """A sanitized runner reported a memory error, a leak or undefined behaviour."""


def sanitizer_report(text):
    """The sanitizer report in @text (a process's stderr), or None."""
    m = SANITIZER_REPORT.search(text or "")
    return text[max(0, m.start() - 200):m.start() + 6000] if m else None


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def __repr__(self):
        return f"<Response {self.status} {self.body[:200]!r}>"


def request(base_url, method, path, body=None, headers=None, token=None, timeout=30, raw_body=None,
            tls_context=None):
    """One HTTP request; never follows redirects. body: a JSON value, or bytes via raw_body."""
    url = urllib.parse.urlsplit(base_url)
    if url.scheme == "https":
        conn = http.client.HTTPSConnection(url.hostname, url.port, timeout=timeout,
                                           context=tls_context or ssl._create_unverified_context())
    else:
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    hdrs = dict(headers or {})
    if token is not None:
        hdrs.setdefault("Authorization", f"Bearer {token}")
    data = raw_body
    if body is not None:
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    try:
        chunked = any(k.lower() == "transfer-encoding" and "chunked" in v.lower() for k, v in hdrs.items())
        conn.request(method, path, body=data, headers=hdrs, encode_chunked=chunked)
        resp = conn.getresponse()
        return Response(resp.status, resp.getheaders(), resp.read())
    finally:
        conn.close()


class RunnerProcess:
    """A standalone mock-runner on an ephemeral port."""

    def __init__(self, env=None, args=None, token="test-token", start_timeout=30):
        self.token = token
        self.tmp = tempfile.TemporaryDirectory(prefix="mr-test-")
        full_env = dict(os.environ)
        for k in ("API_TOKEN", "DAYTONA_RUNNER_TOKEN", "SERVER_URL", "DAYTONA_API_URL", "API_PORT",
                  "ENABLE_TLS", "LOG_LEVEL", "LOG_FILE_PATH"):
            full_env.pop(k, None)
        full_env.update({"API_TOKEN": token, "SERVER_URL": "http://localhost:3000", "API_PORT": "0"})
        full_env.update(env or {})
        full_env = {k: v for k, v in full_env.items() if v is not None}
        # stderr goes to a file: a pipe nobody reads fills up and blocks a runner that logs,
        # and the file is where a sanitized build's reports are looked for at stop()
        self.stderr_path = os.path.join(self.tmp.name, "runner.stderr")
        with open(self.stderr_path, "wb") as stderr:
            self.proc = subprocess.Popen([MOCK_RUNNER_BIN] + list(args or []), env=full_env, cwd=self.tmp.name,
                                         stdout=subprocess.PIPE, stderr=stderr, text=True)
        self.url = None
        deadline = time.monotonic() + start_timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            m = URL_LINE.search(line)
            if m:
                self.url = m.group(1)
                break
        if self.url is None:
            self.proc.kill()
            self.proc.communicate()
            err = self.read_stderr()
            self.tmp.cleanup()
            raise RuntimeError(f"mock-runner did not start: rc={self.proc.returncode} stderr={err!r}")
        self.port = urllib.parse.urlsplit(self.url).port

    def request(self, method, path, body=None, headers=None, auth=True, **kw):
        return request(self.url, method, path, body=body, headers=headers,
                       token=self.token if auth else None, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def create_sandbox(self, sandbox_id, **fields):
        dto = {"id": sandbox_id, "userId": "user-1", "snapshot": "ubuntu:22.04", "osUser": "daytona",
               "cpuQuota": 1, "gpuQuota": 0, "memoryQuota": 1, "storageQuota": 3}
        dto.update(fields)
        r = self.post("/sandboxes", dto)
        assert r.status == 201, r
        return r

    def read_stderr(self):
        try:
            with open(self.stderr_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        """SIGTERM, so that the runner exits normally (a sanitized build reports leaks then).

        Raises SanitizerReport when the runner's stderr holds a sanitizer report."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        report = sanitizer_report(self.read_stderr())
        self.tmp.cleanup()
        if report:
            raise SanitizerReport(f"mock-runner (pid {self.proc.pid}, rc={self.proc.returncode}):\n{report}")


@contextlib.contextmanager
def runner_with_work_dir(prefix):
    """A standalone runner whose toolbox works in a fresh directory: (runner, work dir),
    both gone afterwards."""
    work = tempfile.mkdtemp(prefix=prefix)
    runner = RunnerProcess(env={"TOOLBOX_WORK_DIR": work})
    try:
        yield runner, work
    finally:
        runner.stop()
        shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def runner_in_dir(cwd, unset=()):
    """The standalone runner started in @cwd (so that it reads the .env there) with the
    variables of @unset removed from its environment: yields its URL."""
    env = {k: v for k, v in os.environ.items() if k not in unset}
    proc = subprocess.Popen([MOCK_RUNNER_BIN], env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "listening on" in line, proc.stderr.read() if proc.poll() is not None else line
        yield line.split("listening on ")[1].split()[0]
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()


def wait_until(predicate, timeout, interval=0.2):
    """The first true value of predicate() within timeout seconds, else None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None


def pty_round_trip(url, token, connect_path, command, expected):
    """Through the PTY WebSocket at connect_path: the "connected" message, `command`'s
    output showing `expected` (bytes), then `exit 0` ends the shell with close code 1000."""
    import wsclient
    ws = wsclient.WebSocket.connect(url, connect_path, headers={"Authorization": f"Bearer {token}"})
    try:
        ws.settimeout(20)
        kind, payload = ws.recv()
        assert kind == "text" and json.loads(payload)["status"] == "connected"
        ws.send_text(command + "\n")
        seen = b""
        while expected not in seen:
            kind, payload = ws.recv()
            assert kind in ("text", "binary"), f"closed early: {payload}"
            seen += payload if kind == "binary" else payload.encode()
        ws.send_text("exit 0\n")
        while True:
            kind, payload = ws.recv()
            if kind == "close":
                assert payload[0] == 1000
                break
    finally:
        ws.shutdown()


def run_runner_expecting_failure(env=None, args=None, timeout=15):
    """Runs mock-runner expecting it to exit by itself; returns (rc, stdout, stderr)."""
    full_env = dict(os.environ)
    for k in ("API_TOKEN", "DAYTONA_RUNNER_TOKEN", "SERVER_URL", "DAYTONA_API_URL", "API_PORT"):
        full_env.pop(k, None)
    full_env.update(env or {})
    full_env = {k: v for k, v in full_env.items() if v is not None}
    with tempfile.TemporaryDirectory() as cwd:
        p = subprocess.run([MOCK_RUNNER_BIN] + list(args or []), env=full_env, cwd=cwd,
                           capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def read_response(sock):
    """One HTTP response from a raw socket: (status line, headers, body).

    Reads without a buffer of its own, so it is for one request at a time: bytes received
    past the body (a second, pipelined reply in the same segment) are lost. For several
    replies on one connection read through a file: read_http_response()."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed {length - len(body)} bytes before the end of the body"
        body += chunk
    return lines[0], headers, body


def read_http_response(f):
    """Parses one HTTP/1.1 response from @f (a socket's buffered file: replies that arrive
    together are read one by one), or None when the connection ends before one."""
    line = f.readline(65537)
    if not line:
        return None
    parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    assert len(parts) >= 2 and parts[0] in ("HTTP/1.1", "HTTP/1.0") and parts[1].isdigit() \
        and len(parts[1]) == 3, f"malformed status line {line!r}"
    status = int(parts[1])
    headers = {}
    while True:
        h = f.readline(65537)
        assert h, "connection closed inside the response headers"
        if h in (b"\r\n", b"\n"):
            break
        name, _, value = h.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = b""
    if status in (101, 204, 304) or 100 <= status < 200:
        pass
    elif "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            size = int(f.readline(1000).split(b";")[0].strip(), 16)
            chunk = f.read(size + 2)
            body += chunk[:size]
            if size == 0:
                break
    elif "content-length" in headers:
        body = f.read(int(headers["content-length"]))
    else:
        body = f.read()
    return {"status": status, "headers": headers, "body": body}


def build_request(method, path, body=None, headers=None, token="test-token", version="HTTP/1.1"):
    """The bytes of one request, for raw sockets; a header given as None is left out."""
    hdrs = {"Host": "127.0.0.1"}
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    if body is not None:
        hdrs["Content-Type"] = "application/json"
        hdrs["Content-Length"] = str(len(body))
    hdrs.update(headers or {})
    head = f"{method} {path} {version}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items() if v is not None)
    return head.encode("latin-1") + b"\r\n" + (body or b"")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


NODE_DIR = os.environ.get("MOCK_RUNNER_NODE_DIR", os.path.join(os.path.dirname(__file__), "..", "node"))


def npm_clients_available():
    stamp = os.environ.get("NPM_CLIENTS_STAMP")
    return bool(stamp) and os.path.exists(stamp) and shutil.which("node") is not None


def install_npm_clients():
    """Runs tests/node/install-clients.sh unless its stamp is there. With meson 1.7 and later
    the npm-clients target did it before the test; older meson cannot have it as a test
    dependency (tests/node/meson.build). A lock makes parallel tests install once."""
    import fcntl
    stamp, prefix = os.environ.get("NPM_CLIENTS_STAMP"), os.environ.get("NPM_PREFIX")
    if not stamp or not prefix or os.path.exists(stamp):
        return
    os.makedirs(os.path.dirname(stamp), exist_ok=True)
    failed = stamp + ".failed"      # an attempt in the last 10 minutes (this suite run) failed
    with open(stamp + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(stamp) or (os.path.exists(failed) and time.time() - os.path.getmtime(failed) < 600):
            return
        try:
            subprocess.run(["sh", os.path.join(NODE_DIR, "install-clients.sh"), prefix, stamp],
                           stdout=subprocess.DEVNULL, timeout=480)
        except subprocess.TimeoutExpired:
            pass
        if not os.path.exists(stamp):       # the tests skip and say why
            with open(failed, "w"):
                pass


def require_npm_clients():
    """Call at module level in test_official_*.py: exits with 77 (meson SKIP) without them."""
    import pytest
    install_npm_clients()
    if not npm_clients_available():
        pytest.exit("the official npm clients are not installed (no npm or no registry?): skipped",
                    returncode=77)


def run_node(script, args=(), env=None, timeout=180, cwd=None):
    """Runs tests/node/<script> with node. The script prints one JSON object per line.

    Returns the list of parsed JSON lines; raises AssertionError with the output when node
    exits non-zero. The environment is scrubbed of DAYTONA_* variables (SDK pitfall 6).
    """
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("DAYTONA_")}
    full_env.update(env or {})
    with tempfile.TemporaryDirectory(prefix="mr-node-") as tmp:
        p = subprocess.run(["node", os.path.join(NODE_DIR, script)] + [str(a) for a in args],
                           env=full_env, cwd=cwd or tmp, capture_output=True, text=True, timeout=timeout)
    lines = []
    for line in p.stdout.splitlines():
        line = line.strip()
        if line.startswith("{") or line.startswith("["):
            try:
                lines.append(json.loads(line))
            except ValueError:
                pass
    assert p.returncode == 0, f"node {script} failed rc={p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    return lines
