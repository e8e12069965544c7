"""The runner frees what each request used: bodies, messages, connections."""
import os

from mrtest import request


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_toolbox_requests_are_freed(make_runner):
    """Each toolbox request used to keep its message (and its body) alive forever."""
    r = make_runner()
    r.create_sandbox("leak-1")
    body = b"x" * (2 * 1024 * 1024)
    for _ in range(5):   # warm up allocator pools
        r.request("GET", "/sandboxes/leak-1/toolbox/version", raw_body=body)
    before = rss_kib(r.proc.pid)
    for _ in range(100):
        res = r.request("GET", "/sandboxes/leak-1/toolbox/version", raw_body=body)
        assert res.status == 200
    grown_mib = (rss_kib(r.proc.pid) - before) / 1024
    assert grown_mib < 60, f"RSS grew by {grown_mib:.0f} MiB over 200 MiB of request bodies"


def test_connections_are_closed(make_runner):
    r = make_runner()
    r.create_sandbox("fd-1")
    for _ in range(3):
        r.get("/sandboxes/fd-1/toolbox/version")
    before = fd_count(r.proc.pid)
    for _ in range(50):
        assert r.get("/sandboxes/fd-1/toolbox/version").status == 200
        assert r.get("/info").status == 200
    assert fd_count(r.proc.pid) <= before + 2
