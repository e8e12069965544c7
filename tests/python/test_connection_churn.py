"""Connections that come and go fast, and clients that hang up mid-request: the runner and
mock-runner-toolboxd close their side of every connection a client closed (libsoup 3.2
alone leaves it in CLOSE-WAIT), keep serving, and do not spin (src/mr-keepalive.c).

A watch that let libsoup read a client's end before it looked crashed the daemon within a
few thousand such connections (a FIN in flight is reported as readable only)."""
import os
import socket
import struct
import subprocess
import tempfile
import threading
import time

import pytest

from mrtest import RunnerProcess, TOOLBOXD_BIN, read_response, wait_until
from upstream import Upstream, closed_port

CONNECTIONS = 3000


def close_wait_count(port):
    """Sockets on @port in CLOSE-WAIT (state 08 in /proc/net/tcp)."""
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            cols = line.split()
            if cols[1].endswith(f":{port:04X}") and cols[3] == "08":
                n += 1
    return n


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_shot(port, request):
    """A connection for one request, closed as soon as the reply is read."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        status, _, _ = read_response(s)
    return status


@pytest.fixture(scope="module")
def runner():
    r = RunnerProcess()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def toolboxd():
    work = tempfile.mkdtemp(prefix="mr-churn-")
    proc = subprocess.Popen([TOOLBOXD_BIN, "--port", "0", "--host", "127.0.0.1", "--work-dir", work],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    port = int(proc.stdout.readline().rsplit(" ", 1)[1])
    yield proc, port
    proc.terminate()
    proc.wait(10)
    proc.stdout.close()


def test_runner_survives_connections_closed_right_after_their_reply(runner):
    request = (f"GET /info HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {runner.token}\r\n\r\n").encode()
    for _ in range(CONNECTIONS):
        assert one_shot(runner.port, request) == "HTTP/1.1 200 OK"
    assert runner.proc.poll() is None
    assert wait_until(lambda: close_wait_count(runner.port) == 0, 10), close_wait_count(runner.port)


@pytest.fixture(scope="module")
def upstream():
    up = Upstream.start()
    yield up
    up.stop()


def test_toolboxd_survives_proxied_connections_closed_right_after_their_reply(toolboxd, upstream):
    """Through /proxy the reply waits on the upstream, and the client's end often arrives as
    the daemon goes back to polling: what crashed it (reproduced 1 run in 6 of test_forward)."""
    proc, port = toolboxd
    # a stream relayed all along keeps the daemon's main loop turning, so that ends arrive
    # while it works rather than while it sleeps in poll()
    stream = socket.create_connection(("127.0.0.1", port), timeout=10)
    stream.sendall(f"GET /proxy/{upstream.port}/forever HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    reading = threading.Event()
    reading.set()

    def drain():
        try:
            while reading.is_set() and stream.recv(65536):
                pass
        except OSError:
            pass   # shut down under it at the end

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    body = b"x" * 1000
    post = (f"POST /proxy/{upstream.port}/echo/churn HTTP/1.1\r\nHost: x\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    for i in range(CONNECTIONS // 3):
        assert one_shot(port, post) == "HTTP/1.1 200 OK"
        refused = f"GET /proxy/{closed_port()}/x HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        assert one_shot(port, refused) == "HTTP/1.1 502 Bad Gateway"
        assert one_shot(port, b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n") == "HTTP/1.1 200 OK"
    reading.clear()
    stream.shutdown(socket.SHUT_RDWR)
    reader.join(10)
    stream.close()
    assert proc.poll() is None
    assert wait_until(lambda: close_wait_count(port) == 0, 10), close_wait_count(port)


def test_client_resetting_during_a_slow_request_costs_no_cpu(runner):
    """A hang-up during a request is reported by poll whatever one asks for: the watch must
    take the socket out of the poll set until the request ends, not spin on it."""
    rule = runner.post("/_mock/faults", {"path": "/info", "action": "delay", "delayMs": 1500})
    assert rule.status == 201, rule.body
    try:
        s = socket.create_connection(("127.0.0.1", runner.port), timeout=10)
        s.sendall(f"GET /info HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {runner.token}\r\n\r\n".encode())
        time.sleep(0.2)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()   # a reset, while the runner holds the request
        before = cpu_seconds(runner.proc.pid)
        time.sleep(1.0)
        spent = cpu_seconds(runner.proc.pid) - before
        assert spent < 0.5, f"the runner used {spent:.2f} s of CPU in 1 s while a request waited"
    finally:
        assert runner.delete("/_mock/faults").status == 204
    assert runner.get("/info").status == 200
    assert wait_until(lambda: close_wait_count(runner.port) == 0, 10)
