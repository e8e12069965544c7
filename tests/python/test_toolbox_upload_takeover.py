"""Uploads whose body has a Content-Length of 1 MiB or more are read off the connection by a thread of the
toolbox's own (src/toolbox/mr-body-takeover.c), which answers with Connection: close. These
guard what that path must keep: 100-continue, bytes sent along with the headers, several
files, the journal and faults, a client leaving mid-body, and chunked bodies (still libsoup's)."""
import hashlib
import json
import os
import resource
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from mrtest import RunnerProcess, TOOLBOXD_BIN, read_response as read_reply

SANDBOX = "takeover-sb"
BOUNDARY = "takeover-boundary"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def tb():
    work = tempfile.mkdtemp(prefix="mr-takeover-")
    runner = RunnerProcess(env={"TOOLBOX_WORK_DIR": work})
    runner.create_sandbox(SANDBOX)
    yield runner, work
    runner.stop()
    shutil.rmtree(work, ignore_errors=True)


def data_of(n, seed):
    out = bytearray()
    block = hashlib.sha256(seed.encode()).digest()
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block * 64
    return bytes(out[:n])


def form(parts):
    body = b""
    for name, data in parts:
        body += (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"f\"\r\n"
                 "Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"
    return body + f"--{BOUNDARY}--\r\n".encode()


def head_of(runner, path, length, ctype=f"multipart/form-data; boundary={BOUNDARY}", extra=""):
    return (f"POST /sandboxes/{SANDBOX}/toolbox{path} HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {runner.token}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {length}\r\n{extra}\r\n").encode()


def test_expect_100_continue(tb):
    runner, work = tb
    payload = data_of(3 * MIB + 17, "continue")
    body = form([("file", payload)])
    with socket.create_connection(("127.0.0.1", runner.port), timeout=30) as s:
        s.sendall(head_of(runner, "/files/upload?path=cont.bin", len(body), extra="Expect: 100-continue\r\n"))
        interim = b""
        while not interim.endswith(b"\r\n\r\n"):
            chunk = s.recv(1)
            assert chunk, interim
            interim += chunk
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n"), interim
        s.sendall(body)
        status, headers, reply = read_reply(s)
        assert status == "HTTP/1.1 200 OK" and reply == b""
        assert headers["connection"] == "close" and headers["server"].startswith("mock-runner ")
        assert "date" in headers
        assert s.recv(1) == b""   # and the connection ends
    assert open(os.path.join(work, "cont.bin"), "rb").read() == payload


def test_body_sent_with_the_headers(tb):
    """Bytes libsoup read along with the headers come first, not lost."""
    runner, work = tb
    payload = data_of(MIB + 5, "together")
    body = form([("file", payload)])
    with socket.create_connection(("127.0.0.1", runner.port), timeout=30) as s:
        s.sendall(head_of(runner, "/files/upload-v2?path=together.bin", len(body)) + body)
        status, headers, reply = read_reply(s)
    assert status == "HTTP/1.1 200 OK", reply
    assert json.loads(reply) == {"name": "together.bin", "path": "together.bin", "type": "file"}
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert open(os.path.join(work, "together.bin"), "rb").read() == payload


def test_bulk_upload_of_several_files(tb):
    runner, work = tb
    files = {"bulk/a.bin": data_of(MIB + 3, "a"), "bulk/empty": b"", "bulk/deep/b.bin": data_of(2 * MIB + 1, "b"),
             "bulk/c.txt": b"small"}
    parts = []
    for i, (path, data) in enumerate(files.items()):
        parts += [(f"files[{i}].path", path.encode()), (f"files[{i}].file", data)]
    body = form(parts)
    with socket.create_connection(("127.0.0.1", runner.port), timeout=30) as s:
        s.sendall(head_of(runner, "/files/bulk-upload", len(body)))
        for i in range(0, len(body), 300000):   # pieces that split parts and delimiters
            s.sendall(body[i:i + 300000])
        status, headers, reply = read_reply(s)
    assert status == "HTTP/1.1 200 OK", reply
    assert json.loads(reply) == {"files": [{"path": p, "bytes": len(d)} for p, d in files.items()]}
    for path, data in files.items():
        assert open(os.path.join(work, path), "rb").read() == data


def test_errors_answer_as_before(tb):
    runner, work = tb
    body = form([("notfile", b"x" * MIB)])
    with socket.create_connection(("127.0.0.1", runner.port), timeout=30) as s:
        s.sendall(head_of(runner, "/files/upload?path=nofile.bin", len(body)) + body)
        status, headers, reply = read_reply(s)
    assert status == "HTTP/1.1 400 Bad Request"
    assert json.loads(reply)["message"] == "http: no such file" and headers["connection"] == "close"
    open(os.path.join(work, "blocker"), "w").close()
    r = runner.request("POST", f"/sandboxes/{SANDBOX}/toolbox/files/upload?path=blocker/x",
                       raw_body=form([("file", b"data")]),
                       headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    assert r.status == 400 and r.json()["message"] == "mkdir blocker: not a directory"


def test_journal_records_the_upload(tb):
    runner, work = tb
    body = form([("file", data_of(2 * MIB, "journal"))])
    r = runner.request("POST", f"/sandboxes/{SANDBOX}/toolbox/files/upload?path=journal.bin", raw_body=body,
                       headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    assert r.status == 200
    entries = runner.get(f"/_mock/requests?path=/sandboxes/{SANDBOX}/toolbox/files/upload").json()["requests"]
    last = entries[-1]
    assert last["status"] == 200 and last["completed"] and last["bodySize"] == len(body), last
    assert last["query"] == "path=journal.bin"


def test_through_proxy_2280(tb):
    runner, work = tb
    payload = data_of(MIB + 1, "proxy")
    r = runner.request("POST", f"/sandboxes/{SANDBOX}/toolbox/proxy/2280/files/upload?path=proxied.bin",
                       raw_body=form([("file", payload)]),
                       headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    assert r.status == 200, r
    assert open(os.path.join(work, "proxied.bin"), "rb").read() == payload


def test_fault_rules_still_apply(tb):
    runner, work = tb
    url = f"/sandboxes/{SANDBOX}/toolbox/files/upload?path=faulted.bin"
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    body = form([("file", data_of(MIB, "fault"))])
    assert runner.post("/_mock/faults", {"path": "/sandboxes/{id}/toolbox/*path", "status": 503,
                                         "times": 1}).status == 201
    r = runner.request("POST", url, raw_body=body, headers=headers)
    assert r.status == 503 and not os.path.exists(os.path.join(work, "faulted.bin"))
    assert runner.post("/_mock/faults", {"path": "/sandboxes/{id}/toolbox/*path", "delayMs": 200,
                                         "times": 1}).status == 201
    started = time.monotonic()
    r = runner.request("POST", url, raw_body=body, headers=headers)
    assert r.status == 200 and time.monotonic() - started >= 0.2
    assert os.path.getsize(os.path.join(work, "faulted.bin")) == MIB
    assert runner.delete("/_mock/faults").status == 204


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_client_leaving_mid_body_leaves_nothing_open(tb):
    runner, work = tb
    pid = runner.proc.pid
    runner.get(f"/sandboxes/{SANDBOX}/toolbox/files/info?path=.")
    before = fd_count(pid)
    for extra, sent in (("", 3 * MIB), ("Expect: 100-continue\r\n", 0), ("", 100)):
        s = socket.create_connection(("127.0.0.1", runner.port))
        s.sendall(head_of(runner, "/files/upload?path=cut.bin", 64 * MIB, extra=extra)
                  + form([("file", b"")])[:-30])
        s.sendall(b"x" * sent)
        s.close()
        deadline = time.monotonic() + 10
        while fd_count(pid) > before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fd_count(pid) <= before, os.listdir(f"/proc/{pid}/fd")
    # nothing answered, nothing recorded as a success
    entries = runner.get("/_mock/requests?path=/sandboxes/{id}/toolbox/files/upload").json()["requests"]
    assert all(e["status"] != 200 for e in entries if e["query"] == "path=cut.bin")
    assert runner.get(f"/sandboxes/{SANDBOX}/toolbox/files/info?path=.").status == 200


def test_chunked_upload_stays_with_libsoup(tb):
    """A chunked body has no length to read up to: it is served as before, kept alive."""
    runner, work = tb
    payload = data_of(2 * MIB + 9, "chunked")
    body = form([("file", payload)])
    head = (f"POST /sandboxes/{SANDBOX}/toolbox/files/upload?path=chunked.bin HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {runner.token}\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", runner.port), timeout=30) as s:
        s.sendall(head)
        for i in range(0, len(body), 100000):
            piece = body[i:i + 100000]
            s.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
        s.sendall(b"0\r\n\r\n")
        status, headers, reply = read_reply(s)
        assert status == "HTTP/1.1 200 OK" and headers.get("connection") != "close"
        # the same connection serves the next request
        s.sendall(f"GET /sandboxes/{SANDBOX}/toolbox/files/info?path=chunked.bin HTTP/1.1\r\nHost: x\r\n"
                  f"Authorization: Bearer {runner.token}\r\n\r\n".encode())
        status, headers, reply = read_reply(s)
        assert status == "HTTP/1.1 200 OK" and json.loads(reply)["size"] == len(payload)
    assert open(os.path.join(work, "chunked.bin"), "rb").read() == payload


def test_small_uploads_keep_the_connection(tb):
    """Under 1 MiB a body stays with libsoup: a suite's many small uploads reuse one connection."""
    runner, work = tb
    with socket.create_connection(("127.0.0.1", runner.port), timeout=30) as s:
        for i in range(3):
            body = form([("file", data_of(1000 * (i + 1), f"small{i}"))])
            s.sendall(head_of(runner, f"/files/upload?path=small{i}.bin", len(body)) + body)
            status, headers, reply = read_reply(s)
            assert status == "HTTP/1.1 200 OK" and headers.get("connection") != "close", headers
    for i in range(3):
        assert os.path.getsize(os.path.join(work, f"small{i}.bin")) == 1000 * (i + 1)


@pytest.mark.parametrize("size", [0, 2048], ids=["libsoup-reads", "taken-over"])
def test_bulk_upload_of_more_files_than_the_runner_may_open(tmp_path, size):
    """Each file closes once written, as the daemon does: a bulk upload is not limited by
    the runner's descriptor limit (here 256 for 600 files)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    try:
        runner = RunnerProcess(env={"TOOLBOX_WORK_DIR": str(tmp_path)})
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        runner.create_sandbox(SANDBOX)
        n = 600
        parts = []
        for i in range(n):
            parts += [(f"files[{i}].path", f"lots/f{i}".encode()), (f"files[{i}].file", b"y" * size)]
        body = form(parts)
        assert (len(body) >= MIB) == (size > 0)   # one case per way of reading the body
        r = runner.request("POST", f"/sandboxes/{SANDBOX}/toolbox/files/bulk-upload", raw_body=body,
                           headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
        assert r.status == 200, r.body[:300]
        assert len(r.json()["files"]) == n
        assert all(os.path.getsize(tmp_path / f"lots/f{i}") == size for i in range(n))
    finally:
        runner.stop()


def test_toolboxd_takes_over_too(tmp_path):
    work = tmp_path / "work"
    proc = subprocess.Popen([TOOLBOXD_BIN, "--port", "0", "--work-dir", str(work)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline().rsplit(" ", 1)[1])
        payload = data_of(2 * MIB + 1, "toolboxd")
        body = form([("file", payload)])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall((f"POST /files/upload?path=d.bin HTTP/1.1\r\nHost: x\r\n"
                       f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
                       f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
            status, headers, reply = read_reply(s)
        assert status == "HTTP/1.1 200 OK" and headers["connection"] == "close"
        assert open(work / "d.bin", "rb").read() == payload
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()
