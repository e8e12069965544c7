"""The toolbox /port routes, through the runner's toolbox proxy (toolbox-local)."""
import random
import socket

import pytest

SANDBOX = "ports-sbx"


@pytest.fixture(scope="module")
def tb(runner):
    runner.create_sandbox(SANDBOX)
    return lambda route: runner.get(f"/sandboxes/{SANDBOX}/toolbox{route}")


def listener_in_range(family=socket.AF_INET, host="127.0.0.1"):
    """A listening socket on a free port in 3000-9999 (the range /in-use accepts)."""
    for _ in range(200):
        port = random.randint(3000, 9999)
        s = socket.socket(family, socket.SOCK_STREAM)
        try:
            s.bind((host, port))
        except OSError:
            s.close()
            continue
        s.listen(1)
        return s, port
    pytest.skip("no free port in 3000-9999")


def free_port_in_range():
    s, port = listener_in_range()
    s.close()
    return port


def test_port_list_has_listening_ports(tb, runner):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        r = tb("/port")
        assert r.status == 200, r
        ports = r.json()["ports"]
        assert port in ports
        assert runner.port in ports                       # the server's own port is listed
        assert all(isinstance(p, int) for p in ports)
        assert ports == sorted(set(ports))
    finally:
        s.close()
    assert port not in tb("/port").json()["ports"]


def test_port_list_has_ipv6_only_listeners(tb):
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    s = socket.socket(socket.AF_INET6)
    try:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind(("::1", 0))
    except OSError:
        s.close()
        pytest.skip("no IPv6 loopback")
    s.listen(1)
    try:
        assert s.getsockname()[1] in tb("/port").json()["ports"]
    finally:
        s.close()


def test_port_not_bound_to_connect_is_not_listed(tb):
    # a bound but not listening socket is not a server
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    try:
        assert s.getsockname()[1] not in tb("/port").json()["ports"]
    finally:
        s.close()


def test_in_use(tb):
    s, port = listener_in_range()
    try:
        r = tb(f"/port/{port}/in-use")
        assert r.status == 200 and r.json() == {"isInUse": True}, r
    finally:
        s.close()
    r = tb(f"/port/{port}/in-use")
    assert r.status == 200 and r.json() == {"isInUse": False}, r
    # Go's Atoi accepts a sign and leading zeros
    free = free_port_in_range()
    assert tb(f"/port/+{free}/in-use").json() == {"isInUse": False}
    assert tb(f"/port/0{free}/in-use").json() == {"isInUse": False}


def test_in_use_ipv6_listener(tb):
    s, port = None, None
    try:
        s, port = listener_in_range(socket.AF_INET6, "::1")
    except OSError:
        pytest.skip("no IPv6 loopback")
    try:
        assert tb(f"/port/{port}/in-use").json() == {"isInUse": True}
    finally:
        s.close()


@pytest.mark.parametrize("value,message", [
    ("2999", "port out of range: must be between 3000 and 9999"),
    ("10000", "port out of range: must be between 3000 and 9999"),
    ("-3000", "port out of range: must be between 3000 and 9999"),
    ("0", "port out of range: must be between 3000 and 9999"),
    ("abc", "invalid port: must be a number between 3000 and 9999"),
    ("30a0", "invalid port: must be a number between 3000 and 9999"),
    ("3000.5", "invalid port: must be a number between 3000 and 9999"),
    ("99999999999999999999", "invalid port: must be a number between 3000 and 9999"),
])
def test_in_use_bad_ports(tb, value, message):
    r = tb(f"/port/{value}/in-use")
    assert r.status == 400, r
    body = r.json()
    assert body["message"] == message and body["statusCode"] == 400 and body["code"] == "Bad Request"
    assert body["path"] == f"/port/{value}/in-use" and body["method"] == "GET"


def test_in_use_does_not_block_other_requests(tb):
    """The dial runs asynchronously: many checks of closed ports answer quickly and right."""
    ports = [free_port_in_range() for _ in range(5)]
    for p in ports:
        assert tb(f"/port/{p}/in-use").json() == {"isInUse": False}
    assert tb("/version").status == 200
