"""Replies leave in one TCP segment and never wait (src/mr-reply-batch.c).

A reply complete when its handler returns is corked while libsoup writes it and released
at the end of the main-loop turn. What a client notices: one segment per reply (libsoup
alone sends the headers and the body apart, two segments and two wake-ups), and no reply
ever waits for the kernel's 200 ms cork timeout, however the requests arrive.
"""
import os
import socket
import struct
import tempfile
import time

import pytest

from mrtest import RunnerProcess, build_request, read_http_response

SANDBOX = "batch-sb"
# where Linux's struct tcp_info keeps tcpi_segs_out and tcpi_segs_in (since 4.2)
TCP_INFO_SEGS = 136


def segments_in(sock):
    """Segments this socket has received so far."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    return struct.unpack_from("II", info, TCP_INFO_SEGS)[1]


@pytest.fixture(scope="module")
def runner():
    work = tempfile.TemporaryDirectory(prefix="mr-batch-")
    r = RunnerProcess(env={"TOOLBOX_WORK_DIR": work.name})
    assert r.create_sandbox(SANDBOX).status == 201
    yield r
    r.stop()
    work.cleanup()


class Connection:
    """A keep-alive client connection that reads replies through a buffer: replies sent
    back to back may arrive in one segment, and what follows a reply is kept for the next."""

    def __init__(self, runner):
        self.sock = socket.create_connection(("127.0.0.1", runner.port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = self.sock.makefile("rb")

    def sendall(self, data):
        self.sock.sendall(data)

    def read_reply(self):
        """(status, body) of the next reply."""
        reply = read_http_response(self.reader)
        assert reply is not None, "connection closed"
        return reply["status"], reply["body"]

    def close(self):
        self.reader.close()
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def get(path, token):
    return build_request("GET", path, token=token)


# A reply left corked waits 200 ms for the kernel. Replies are checked against a bound
# below that, and the check allows one slow reply in a series: a loaded CI machine can
# stall any one of them, while a reply the runner failed to release stalls them all.
PROMPT = 0.15


def assert_prompt(durations, what):
    slow = [d for d in durations if d >= PROMPT]
    assert len(slow) <= 1, f"{len(slow)} of {len(durations)} {what} took {PROMPT * 1000:.0f} ms or more: " \
        + ", ".join(f"{d * 1000:.0f} ms" for d in slow)


def replies_on_one_connection(runner, request, n):
    """Sends @request @n times on one keep-alive connection, one after the other; returns
    the status lines and the segments the client received for them."""
    with Connection(runner) as s:
        s.sendall(request)
        s.read_reply()  # the connection's first exchange settles the handshake's ACKs
        time.sleep(0.05)
        before = segments_in(s.sock)
        statuses = []
        for _ in range(n):
            s.sendall(request)
            statuses.append(s.read_reply()[0])
        time.sleep(0.05)
        return statuses, segments_in(s.sock) - before


@pytest.mark.parametrize("path,token,status", [
    (f"/sandboxes/{SANDBOX}", "test-token", 200),
    ("/sandboxes/nope/is-recoverable", "test-token", 404),
    ("/info", "test-token", 200),
    ("/", None, 200),
    ("/no-such-route", "test-token", 404),
    (f"/sandboxes/{SANDBOX}", None, 401),
    (f"/sandboxes/{SANDBOX}", "wrong", 401),
])
def test_one_segment_per_reply(runner, path, token, status):
    n = 40
    statuses, segments = replies_on_one_connection(runner, get(path, token), n)
    assert all(code == status for code in statuses), statuses[:3]
    # libsoup alone: 2 per reply (80); an ACK of ours may come on its own now and then
    assert segments <= n + n // 4, f"{segments} segments for {n} replies"


def test_sequential_requests_never_wait_for_the_cork_timeout(runner):
    """A reply left corked would wait 200 ms for the kernel: 100 of them would take 20 s."""
    request = get(f"/sandboxes/{SANDBOX}", "test-token")
    with Connection(runner) as s:
        start = time.monotonic()
        for _ in range(100):
            s.sendall(request)
            assert s.read_reply()[0] == 200
        elapsed = time.monotonic() - start
    assert elapsed < 5, f"100 requests took {elapsed:.2f} s"
    # and the slowest single one is far from the cork timeout
    with Connection(runner) as s:
        durations = []
        for _ in range(50):
            t = time.monotonic()
            s.sendall(request)
            s.read_reply()
            durations.append(time.monotonic() - t)
    assert_prompt(durations, "replies")


def test_pipelined_requests_all_answered_promptly(runner):
    """Requests that arrive together are answered in one turn or in several: all of them
    go out, in order, without a cork timeout in between."""
    paths = [f"/sandboxes/{SANDBOX}", "/no-such-route", "/info", f"/sandboxes/{SANDBOX}"] * 4
    with Connection(runner) as s:
        start = time.monotonic()
        s.sendall(b"".join(get(p, "test-token") for p in paths))
        statuses = [s.read_reply()[0] for _ in paths]
        elapsed = time.monotonic() - start
    assert statuses == [200, 404, 200, 200] * 4
    assert elapsed < PROMPT * 4, f"{len(paths)} pipelined replies took {elapsed:.2f} s"


def test_many_connections_each_get_their_reply(runner):
    """Replies held in one turn for different connections are all released together."""
    request = get(f"/sandboxes/{SANDBOX}", "test-token")
    socks = [Connection(runner) for _ in range(32)]
    durations = []
    try:
        for _ in range(5):
            start = time.monotonic()
            for s in socks:
                s.sendall(request)
            for s in socks:
                assert s.read_reply()[0] == 200
            durations.append(time.monotonic() - start)
    finally:
        for s in socks:
            s.close()
    assert_prompt(durations, "rounds of 32 replies")


def test_large_reply_and_connection_close(runner):
    """A reply larger than a segment, and one on a connection the runner closes after it,
    arrive whole and at once."""
    tb = f"/sandboxes/{SANDBOX}/toolbox"
    data = os.urandom(3 * 1024 * 1024 + 17)
    path = os.path.join(tempfile.gettempdir(), f"mr-batch-{os.getpid()}.bin")
    with open(path, "wb") as f:
        f.write(data)
    try:
        with Connection(runner) as s:
            start = time.monotonic()
            s.sendall(get(f"{tb}/files/download?path={path}", "test-token"))
            status, body = s.read_reply()
            assert status == 200 and body == data
            assert time.monotonic() - start < 2
    finally:
        os.unlink(path)
    with Connection(runner) as s:
        start = time.monotonic()
        s.sendall(build_request("GET", f"/sandboxes/{SANDBOX}", headers={"Connection": "close"}))
        received = b""
        while chunk := s.sock.recv(65536):
            received += chunk
        assert received.startswith(b"HTTP/1.1 200") and received.endswith(b'"daemonVersion":"v0.0.0-dev"}')
        assert time.monotonic() - start < PROMPT


def test_lone_client_after_a_burst(runner):
    """After a burst on many connections (replies batched per turn), a client alone again
    still gets each reply in one segment and at once."""
    request = get(f"/sandboxes/{SANDBOX}", "test-token")
    socks = [Connection(runner) for _ in range(16)]
    try:
        for s in socks:
            s.sendall(request)
        for s in socks:
            assert s.read_reply()[0] == 200
    finally:
        for s in socks:
            s.close()
    statuses, segments = replies_on_one_connection(runner, request, 40)
    assert statuses == [200] * 40
    assert segments <= 50, f"{segments} segments for 40 replies"
    with Connection(runner) as s:
        durations = []
        for _ in range(20):
            start = time.monotonic()
            s.sendall(request)
            assert s.read_reply()[0] == 200
            durations.append(time.monotonic() - start)
    assert_prompt(durations, "replies")
