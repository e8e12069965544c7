"""Local git fixtures for the git tests: repositories made with the git program, and a
smart-HTTP git server on loopback (git http-backend behind Basic authentication), so that
clone, pull and push with username/password can be tested without any network.

Standard library only.
"""
import base64
import http.server
import os
import subprocess
import threading

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Author", "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Author", "GIT_COMMITTER_EMAIL": "author@example.com",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C",
}


def git(*args, cwd=None, check=True, input=None):
    """Runs git with a fixed identity and no user configuration; returns stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_ENV)
    env["HOME"] = env.get("MR_TEST_GIT_HOME", "/nonexistent")
    p = subprocess.run(["git", "-c", "init.defaultBranch=main", "-c", "protocol.file.allow=always"] + list(args),
                       cwd=cwd, env=env, capture_output=True, text=True, input=input)
    if check and p.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {p.stderr}")
    return p.stdout


def make_remote(tmp, name="remote.git", files=None, branches=()):
    """A bare repository with one commit on main (files: {name: text}) and extra branches.

    Returns (bare_path, seed_worktree_path): the seed clone can push more commits.
    """
    bare = os.path.join(tmp, name)
    seed = os.path.join(tmp, name + "-seed")
    git("init", "-q", "--bare", "-b", "main", bare)
    git("clone", "-q", bare, seed)
    for fname, text in (files or {"README.md": "hello\n"}).items():
        path = os.path.join(seed, fname)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    git("add", "-A", cwd=seed)
    git("commit", "-q", "-m", "initial commit", cwd=seed)
    git("push", "-q", "origin", "main", cwd=seed)
    for b in branches:
        git("checkout", "-q", "-b", b, cwd=seed)
        with open(os.path.join(seed, b + ".txt"), "w") as f:
            f.write(b + "\n")
        git("add", "-A", cwd=seed)
        git("commit", "-q", "-m", "on " + b, cwd=seed)
        git("push", "-q", "origin", b, cwd=seed)
        git("checkout", "-q", "main", cwd=seed)
    return bare, seed


def seed_commit(seed, fname, text, message="seed change", push=True):
    with open(os.path.join(seed, fname), "w") as f:
        f.write(text)
    git("add", "-A", cwd=seed)
    git("commit", "-q", "-m", message, cwd=seed)
    if push:
        git("push", "-q", "origin", "HEAD", cwd=seed)
    return git("rev-parse", "HEAD", cwd=seed).strip()


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "test-git-http"

    def log_message(self, fmt, *args):
        pass

    def _authorized(self):
        creds = self.server.credentials
        if creds is None:
            return True
        expected = "Basic " + base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
        return self.headers.get("Authorization") == expected

    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self):
        self.server.requests.append((self.command, self.path, self.headers.get("Authorization")))
        body = self._body()
        if not self._authorized():
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": self.server.root, "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": path, "QUERY_STRING": query, "REQUEST_METHOD": self.command,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""), "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": "127.0.0.1", "REMOTE_USER": "tester", "GIT_CONFIG_NOSYSTEM": "1",
            "HOME": "/nonexistent",
        }
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        p = subprocess.run(["git", "-c", "http.receivepack=true", "http-backend"], input=body, env=env,
                           capture_output=True)
        head, _, payload = p.stdout.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.split(b"\r\n"):
            if not line:
                continue
            k, _, v = line.decode("latin-1").partition(":")
            if k.lower() == "status":
                status = int(v.strip().split()[0])
            else:
                headers.append((k, v.strip()))
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _serve
    do_POST = _serve


class GitHttpServer:
    """Serves the bare repositories under root at http://127.0.0.1:PORT/<name>; with
    credentials, every request needs that Basic authentication (401 otherwise)."""

    def __init__(self, root, username=None, password=None):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.root = root
        self.httpd.credentials = (username, password) if username is not None else None
        self.httpd.requests = []
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def requests(self):
        return self.httpd.requests

    def url(self, name):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)
