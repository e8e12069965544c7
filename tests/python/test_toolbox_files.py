"""The toolbox /files routes through the runner's proxy (toolbox-api.md 2.2, 3.5).

A standalone runner serves the toolbox in-process (toolbox-local) from a work directory
the tests can see, so every answer is checked against the files themselves.
"""
import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
import time
import urllib.parse

import pytest

import mrtest
from mrtest import RunnerProcess, read_response

SANDBOX = "files-sb"
BOUNDARY = "DAYTONA-FILE-BOUNDARY"
GO_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d*[1-9])? [+-]\d{4} \S+$")
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?(Z|[+-]\d\d:\d\d)$")


class Toolbox:
    """A runner with one started sandbox, and its toolbox work directory."""

    def __init__(self, runner, work_dir):
        self.runner = runner
        self.work = work_dir
        self.prefix = f"/sandboxes/{SANDBOX}/toolbox"

    def path(self, *parts):
        return os.path.join(self.work, *parts)

    def url(self, route, query=None):
        q = urllib.parse.urlencode(query or {})
        return self.prefix + route + ("?" + q if q else "")

    def call(self, method, route, query=None, **kw):
        return self.runner.request(method, self.url(route, query), **kw)

    def write(self, rel, data, mode=None):
        full = self.path(rel)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())
        if mode is not None:
            os.chmod(full, mode)
        return full


def start_toolbox(work_dir, **kw):
    runner = RunnerProcess(env={"TOOLBOX_WORK_DIR": work_dir}, **kw)
    runner.create_sandbox(SANDBOX)
    return Toolbox(runner, work_dir)


@pytest.fixture(scope="module")
def tb():
    work = tempfile.mkdtemp(prefix="mr-files-")
    t = start_toolbox(work)
    yield t
    t.runner.stop()
    shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
def d(tb):
    """A fresh directory inside the work dir; its name, relative to the work dir."""
    name = tempfile.mkdtemp(dir=tb.work, prefix="t-")
    yield os.path.basename(name)
    shutil.rmtree(name, ignore_errors=True)


def error_message(r):
    body = r.json()
    assert set(body) >= {"statusCode", "message", "code", "timestamp", "path", "method"}, body
    assert body["statusCode"] == r.status
    return body["message"]


def multipart(parts, boundary="test-boundary-1234"):
    """parts: (name, filename or None, bytes). Returns (content type, body)."""
    out = []
    for name, filename, data in parts:
        disp = f'form-data; name="{name}"'
        if filename is not None:
            disp += f'; filename="{filename}"'
        out.append(f"--{boundary}\r\nContent-Disposition: {disp}\r\n"
                   "Content-Type: application/octet-stream\r\n\r\n".encode())
        out.append(data if isinstance(data, bytes) else data.encode())
        out.append(b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(out)


def post_multipart(tb, path, parts, query=None, chunked=False, boundary="test-boundary-1234"):
    ctype, body = multipart(parts, boundary)
    if not chunked:
        return tb.call("POST", path, query, raw_body=body, headers={"Content-Type": ctype})
    return raw_request(tb, "POST", tb.url(path, query), [body[i:i + 7] for i in range(0, len(body), 7)],
                       {"Content-Type": ctype})


def raw_request(tb, method, url, chunks, headers):
    """A request with a chunked body sent piece by piece (like form-data streams)."""
    conn = http.client.HTTPConnection("127.0.0.1", tb.runner.port, timeout=60)
    try:
        hdrs = dict(headers)
        hdrs["Authorization"] = f"Bearer {tb.runner.token}"
        conn.request(method, url, body=iter(chunks), headers=hdrs, encode_chunked=True)
        resp = conn.getresponse()
        return mrtest.Response(resp.status, resp.getheaders(), resp.read())
    finally:
        conn.close()


def parse_multipart(ctype, body):
    """Parts of a multipart body: list of (headers dict, data). Strict about framing."""
    m = re.search(r'boundary="?([^";]+)"?', ctype)
    assert m, ctype
    boundary = m.group(1).encode()
    assert body.startswith(b"--" + boundary + b"\r\n"), body[:200]
    assert body.endswith(b"\r\n--" + boundary + b"--\r\n"), body[-200:]
    inner = body[len(boundary) + 4:-(len(boundary) + 8)]
    parts = []
    for raw in inner.split(b"\r\n--" + boundary + b"\r\n"):
        head, _, data = raw.partition(b"\r\n\r\n")
        headers = {}
        for line in head.split(b"\r\n"):
            k, _, v = line.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        parts.append((headers, data))
    return parts


def disposition(headers):
    value = headers["content-disposition"]
    name = re.search(r'\bname="([^"]*)"', value).group(1)
    fn = re.search(r'filename="((?:[^"\\]|\\.)*)"', value).group(1)
    return name, re.sub(r"\\(.)", r"\1", fn)


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def wait_fd_count(pid, expected, timeout=10):
    deadline = time.monotonic() + timeout
    while fd_count(pid) > expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return fd_count(pid)


# F1 list ------------------------------------------------------------------------------

def test_list_both_paths_and_file_info(tb, d):
    tb.write(f"{d}/b.txt", "bb", 0o640)
    tb.write(f"{d}/a.txt", "a")
    os.mkdir(tb.path(d, "c"))
    os.symlink("a.txt", tb.path(d, "link"))
    os.symlink("missing-target", tb.path(d, "broken"))
    for route in ("/files", "/files/"):
        r = tb.call("GET", route, {"path": d})
        assert r.status == 200, r
        assert r.header("Content-Type") == "application/json; charset=utf-8"
        entries = r.json()
        # name order; the broken link is skipped; the link is stat'ed through
        assert [e["name"] for e in entries] == ["a.txt", "b.txt", "c", "link"]
    b = entries[1]
    st = os.stat(tb.path(d, "b.txt"))
    assert list(b) == ["name", "size", "mode", "modTime", "modifiedAt", "isDir", "owner", "group", "permissions"]
    assert b["size"] == 2 and b["isDir"] is False
    assert b["mode"] == "-rw-r-----" and b["permissions"] == "0640"
    assert b["owner"] == str(st.st_uid) and b["group"] == str(st.st_gid)
    assert GO_TIME.match(b["modTime"]), b["modTime"]
    assert RFC3339.match(b["modifiedAt"]), b["modifiedAt"]
    assert entries[2]["isDir"] is True and entries[2]["mode"].startswith("d")
    assert entries[3]["size"] == 1 and entries[3]["mode"].startswith("-")


def test_list_defaults_to_work_dir_and_empty_dir(tb, d):
    r = tb.call("GET", "/files")
    assert r.status == 200
    assert d in [e["name"] for e in r.json()]
    r = tb.call("GET", "/files/", {"path": d})
    assert r.status == 200 and r.json() == []
    r = tb.call("GET", "/files/", {"path": tb.path(d)})
    assert r.status == 200 and r.json() == []


def test_list_errors(tb, d):
    r = tb.call("GET", "/files", {"path": f"{d}/nope"})
    assert r.status == 404
    assert error_message(r) == f"open {d}/nope: no such file or directory"
    assert r.json()["code"] == "Not Found" and r.json()["path"] == "/files"
    tb.write(f"{d}/f", "x")
    r = tb.call("GET", "/files/", {"path": f"{d}/f"})
    assert r.status == 400
    assert error_message(r) == f"readdirent {d}/f: not a directory"


def test_list_special_files(tb, d):
    os.mkfifo(tb.path(d, "fifo"), 0o644)
    os.chmod(tb.path(d, "fifo"), 0o644)
    r = tb.call("GET", "/files", {"path": d})
    assert [(e["name"], e["mode"]) for e in r.json()] == [("fifo", "prw-r--r--")]
    # a FIFO as the listed path must not block the server
    r = tb.call("GET", "/files", {"path": f"{d}/fifo"}, timeout=10)
    assert r.status == 400


# F2 info ------------------------------------------------------------------------------

def test_info(tb, d):
    tb.write(f"{d}/x.py", "print(1)\n", 0o755)
    r = tb.call("GET", "/files/info", {"path": f"{d}/x.py"})
    assert r.status == 200
    info = r.json()
    assert info["name"] == "x.py" and info["size"] == 9 and info["mode"] == "-rwxr-xr-x"
    assert info["permissions"] == "0755" and info["isDir"] is False
    r = tb.call("GET", "/files/info", {"path": "/"})
    assert r.json()["name"] == "/" and r.json()["isDir"] is True
    r = tb.call("GET", "/files/info", {"path": d + "/"})
    assert r.json()["name"] == d
    r = tb.call("GET", "/files/info", {"path": "/tmp"})
    if stat.S_IMODE(os.stat("/tmp").st_mode) == 0o1777:
        assert r.json()["mode"] == "dtrwxrwxrwx" and r.json()["permissions"] == "0777"
    r = tb.call("GET", "/files/info", {"path": "/dev/null"})
    assert r.json()["mode"] == "Dcrw-rw-rw-"


def test_info_errors(tb, d):
    r = tb.call("GET", "/files/info")
    assert r.status == 400 and error_message(r) == "path is required"
    r = tb.call("GET", "/files/info", {"path": f"{d}/nope"})
    assert r.status == 404 and error_message(r) == f"stat {d}/nope: no such file or directory"
    tb.write(f"{d}/f", "x")
    r = tb.call("GET", "/files/info", {"path": f"{d}/f/x"})
    assert r.status == 400 and error_message(r) == f"stat {d}/f/x: not a directory"


# F3 download --------------------------------------------------------------------------

def test_download_headers_and_body(tb, d):
    data = bytes(range(256)) * 10
    tb.write(f"{d}/blob.bin", data)
    r = tb.call("GET", "/files/download", {"path": f"{d}/blob.bin"})
    assert r.status == 200
    assert r.body == data
    assert r.header("Content-Type") == "application/octet-stream"
    assert r.header("Content-Disposition") == "attachment; filename=blob.bin"
    assert r.header("Content-Description") == "File Transfer"
    assert r.header("Content-Transfer-Encoding") == "binary"
    assert r.header("Expires") == "0"
    assert r.header("Cache-Control") == "must-revalidate"
    assert r.header("Pragma") == "public"
    assert r.header("Accept-Ranges") == "bytes"
    assert r.header("Content-Length") == str(len(data))
    assert r.header("Last-Modified").endswith(" GMT")
    tb.write(f"{d}/empty", b"")
    r = tb.call("GET", "/files/download", {"path": f"{d}/empty"})
    assert r.status == 200 and r.body == b"" and r.header("Content-Length") == "0"
    r = tb.call("HEAD", "/files/download", {"path": f"{d}/blob.bin"})
    assert r.status == 200 and r.body == b"" and r.header("Content-Length") == str(len(data))


def test_download_ranges(tb, d):
    data = b"0123456789abcdefghij"
    tb.write(f"{d}/r.txt", data)
    q = {"path": f"{d}/r.txt"}
    r = tb.call("GET", "/files/download", q, headers={"Range": "bytes=2-5"})
    assert r.status == 206 and r.body == b"2345"
    assert r.header("Content-Range") == "bytes 2-5/20" and r.header("Content-Length") == "4"
    r = tb.call("GET", "/files/download", q, headers={"Range": "bytes=-3"})
    assert r.status == 206 and r.body == b"hij" and r.header("Content-Range") == "bytes 17-19/20"
    r = tb.call("GET", "/files/download", q, headers={"Range": "bytes=15-100"})
    assert r.status == 206 and r.body == b"fghij"
    r = tb.call("GET", "/files/download", q, headers={"Range": "bytes=0-1, 10-11"})
    assert r.status == 206
    ctype = r.header("Content-Type")
    assert ctype.startswith("multipart/byteranges; boundary=")
    assert r.header("Content-Length") == str(len(r.body))
    parts = parse_multipart(ctype, r.body)
    assert [(h["content-range"], body) for h, body in parts] == [("bytes 0-1/20", b"01"), ("bytes 10-11/20", b"ab")]
    r = tb.call("GET", "/files/download", q, headers={"Range": "bytes=20-"})
    assert r.status == 416 and r.header("Content-Range") == "bytes */20"
    assert r.body == b"invalid range: failed to overlap\n"
    r = tb.call("GET", "/files/download", q, headers={"Range": "lines=1-2"})
    assert r.status == 416 and r.body == b"invalid range\n"
    # overlapping ranges asking for more than the file: the whole file
    r = tb.call("GET", "/files/download", q, headers={"Range": "bytes=0-15,5-19"})
    assert r.status == 200 and r.body == data


def test_download_conditional(tb, d):
    full = tb.write(f"{d}/c.txt", "cond")
    os.utime(full, (1_700_000_000, 1_700_000_000))
    q = {"path": f"{d}/c.txt"}
    r = tb.call("GET", "/files/download", q)
    last = r.header("Last-Modified")
    assert last == "Tue, 14 Nov 2023 22:13:20 GMT"
    r = tb.call("GET", "/files/download", q, headers={"If-Modified-Since": last})
    assert r.status == 304 and r.body == b""
    r = tb.call("GET", "/files/download", q, headers={"If-Modified-Since": "Mon, 13 Nov 2023 00:00:00 GMT"})
    assert r.status == 200 and r.body == b"cond"
    r = tb.call("GET", "/files/download", q, headers={"If-Unmodified-Since": "Mon, 13 Nov 2023 00:00:00 GMT"})
    assert r.status == 412
    # If-Range that does not match: the whole file, not the range
    r = tb.call("GET", "/files/download", q, headers={"Range": "bytes=0-0", "If-Range": "Mon, 13 Nov 2023 00:00:00 GMT"})
    assert r.status == 200 and r.body == b"cond"
    r = tb.call("GET", "/files/download", q, headers={"Range": "bytes=0-0", "If-Range": last})
    assert r.status == 206 and r.body == b"c"


def test_download_errors(tb, d):
    r = tb.call("GET", "/files/download")
    assert r.status == 400 and error_message(r) == "path is required"
    r = tb.call("GET", "/files/download", {"path": f"{d}/../{d}/nope"})
    assert r.status == 404
    assert error_message(r) == f"stat {tb.path(d, 'nope')}: no such file or directory"
    r = tb.call("GET", "/files/download", {"path": d})
    assert r.status == 400 and error_message(r) == "path must be a file"
    os.mkfifo(tb.path(d, "fifo"))
    r = tb.call("GET", "/files/download", {"path": f"{d}/fifo"}, timeout=10)
    assert r.status == 400


# F5 upload, upload-v2 -----------------------------------------------------------------

def test_upload(tb, d):
    r = post_multipart(tb, "/files/upload", [("file", "blob", b"first version, longer")], {"path": f"{d}/new/dir/u.txt"})
    assert r.status == 200 and r.body == b""
    assert open(tb.path(d, "new/dir/u.txt"), "rb").read() == b"first version, longer"
    # parents made as gin 1.10 makes them (0750 before the umask)
    assert stat.S_IMODE(os.stat(tb.path(d, "new")).st_mode) & 0o7027 == 0o0000
    # truncates; other fields ignored; a chunked body
    r = post_multipart(tb, "/files/upload", [("other", None, "x"), ("file", "whatever.bin", b"v2")],
                       {"path": tb.path(d, "new/dir/u.txt")}, chunked=True)
    assert r.status == 200
    assert open(tb.path(d, "new/dir/u.txt"), "rb").read() == b"v2"


def test_upload_errors(tb, d):
    r = post_multipart(tb, "/files/upload", [("file", "b", b"x")])
    assert r.status == 400 and error_message(r) == "path is required"
    r = tb.call("POST", "/files/upload", {"path": f"{d}/x"}, raw_body=b"raw", headers={"Content-Type": "text/plain"})
    assert r.status == 400 and error_message(r) == "request Content-Type isn't multipart/form-data"
    r = post_multipart(tb, "/files/upload", [("notfile", "b", b"x")], {"path": f"{d}/x"})
    assert r.status == 400 and error_message(r) == "http: no such file"
    assert not os.path.exists(tb.path(d, "x"))
    ctype, body = multipart([("file", "b", b"some data")])
    r = tb.call("POST", "/files/upload", {"path": f"{d}/x"}, raw_body=body[:-30], headers={"Content-Type": ctype})
    assert r.status == 400 and error_message(r) == "unexpected EOF"
    tb.write(f"{d}/file", "x")
    r = post_multipart(tb, "/files/upload", [("file", "b", b"x")], {"path": f"{d}/file/under"})
    assert r.status == 400 and error_message(r) == f"mkdir {d}/file: not a directory"


def test_upload_v2(tb, d):
    r = post_multipart(tb, "/files/upload-v2", [("file", "blob", b"via v2")], {"path": f"{d}/v2/a.txt"})
    assert r.status == 200
    assert r.json() == {"name": "a.txt", "path": f"{d}/v2/a.txt", "type": "file"}
    assert open(tb.path(d, "v2/a.txt"), "rb").read() == b"via v2"
    # a raw body is the file
    r = tb.call("POST", "/files/upload-v2", {"path": tb.path(d, "raw.bin")}, raw_body=b"\x00raw\xff",
                headers={"Content-Type": "application/octet-stream"})
    assert r.status == 200 and r.json()["name"] == "raw.bin"
    assert open(tb.path(d, "raw.bin"), "rb").read() == b"\x00raw\xff"
    r = tb.call("POST", "/files/upload-v2", raw_body=b"x", headers={"Content-Type": "application/octet-stream"})
    assert r.status == 400 and error_message(r) == "path is required"


# F6 bulk-upload -----------------------------------------------------------------------

@pytest.mark.parametrize("order", ["interleaved", "paths-first"])
@pytest.mark.parametrize("chunked", [False, True])
def test_bulk_upload_orders(tb, d, order, chunked):
    files = {f"{d}/one.txt": b"one", tb.path(d, "deep/er/two.bin"): bytes(range(256)) * 3,
             f"{d}/empty": b""}
    paths = [("files[%d].path" % i, None, p) for i, p in enumerate(files)]
    datas = [("files[%d].file" % i, p, c) for i, (p, c) in enumerate(files.items())]
    parts = [x for pair in zip(paths, datas) for x in pair] if order == "interleaved" else paths + datas
    r = post_multipart(tb, "/files/bulk-upload", parts, chunked=chunked)
    assert r.status == 200, r
    assert r.json() == {"files": [{"path": p, "bytes": len(c)} for p, c in files.items()]}
    for p, c in files.items():
        assert open(p if p.startswith("/") else tb.path(p), "rb").read() == c


def test_bulk_upload_part_errors(tb, d):
    tb.write(f"{d}/blocker", "x")
    parts = [("files[a].file", "x", b"no path yet"),
             ("files[a].path", None, f"{d}/late.txt"),
             ("files[b].path", None, "   "),
             ("files[c].path", None, f"  {d}/trimmed.txt \n"),
             ("files[c].file", "c", b"ok"),
             ("files[d].path", None, f"{d}/blocker/sub/x"),
             ("files[d].file", "d", b"never"),
             ("ignored", None, b"zzz")]
    r = post_multipart(tb, "/files/bulk-upload", parts)
    assert r.status == 400
    assert r.json()["errors"] == [
        "file[a]: missing .path metadata",
        "path[b]: empty path",
        f"{d}/blocker/sub/x: mkdir {d}/blocker/sub: mkdir {d}/blocker: not a directory",
    ]
    assert r.json()["files"] == [{"path": f"{d}/trimmed.txt", "bytes": 2}]
    assert not os.path.exists(tb.path(d, "late.txt"))


def test_bulk_upload_bad_bodies(tb, d):
    r = tb.call("POST", "/files/bulk-upload", raw_body=b"{}", headers={"Content-Type": "application/json"})
    assert r.status == 400 and r.json() == {"errors": ["invalid multipart form"]}
    r = tb.call("POST", "/files/bulk-upload", raw_body=b"x", headers={"Content-Type": "multipart/form-data"})
    assert r.status == 400 and r.json() == {"errors": ["invalid multipart form"]}
    # truncated in the middle of a file
    ctype, body = multipart([("files[0].path", None, f"{d}/t.txt"), ("files[0].file", "t", b"0123456789" * 100)])
    r = tb.call("POST", "/files/bulk-upload", raw_body=body[:-200], headers={"Content-Type": ctype})
    assert r.status == 400
    assert r.json()["errors"] == [f"{d}/t.txt: write: unexpected EOF", "reading part: unexpected EOF"]
    # garbage
    r = tb.call("POST", "/files/bulk-upload", raw_body=b"--test-boundary-1234\r\nno colon here\r\n\r\nx",
                headers={"Content-Type": ctype})
    assert r.status == 400
    assert r.json()["errors"] == ["reading part: malformed MIME header line: no colon here"]
    # no parts at all
    r = tb.call("POST", "/files/bulk-upload", raw_body=b"--test-boundary-1234--\r\n", headers={"Content-Type": ctype})
    assert r.status == 200 and r.json() == {"files": []}


# F4 bulk-download ---------------------------------------------------------------------

def test_bulk_download_format(tb, d):
    tb.write(f"{d}/a.txt", "alpha\n")
    tb.write(f"{d}/b.bin", b"\r\n--DAYTONA-FILE-BOUNDAR\r\n--\x00\xff")
    tb.write(f"{d}/zero", b"")
    weird = f'{d}/we ird "q" \\ ü.txt'
    tb.write(weird, "w")
    paths = [f"{d}/a.txt", tb.path(d, "b.bin"), f"{d}/missing", d, f"{d}/zero", weird, f"{d}/./a.txt"]
    r = tb.call("POST", "/files/bulk-download", body={"paths": paths})
    assert r.status == 200
    assert r.header("Content-Type") == f"multipart/form-data; boundary={BOUNDARY}"
    assert r.header("Transfer-Encoding") == "chunked"
    assert r.body.startswith(b"--" + BOUNDARY.encode() + b"\r\nContent-Disposition: form-data; name=\"file\"; filename=\"")
    parts = parse_multipart(r.header("Content-Type"), r.body)
    assert len(parts) == len(paths)
    got = [(disposition(h), data) for h, data in parts]
    # one part per requested path, in order, filename = the request string
    assert [fn for (name, fn), _ in got[:5]] == paths[:5]
    assert got[0] == (("file", f"{d}/a.txt"), b"alpha\n")
    assert parts[0][0]["content-type"] == "text/plain; charset=utf-8"
    assert parts[0][0]["content-length"] == "6"
    assert got[1] == (("file", tb.path(d, "b.bin")), b"\r\n--DAYTONA-FILE-BOUNDAR\r\n--\x00\xff")
    assert got[4] == (("file", f"{d}/zero"), b"")
    assert got[6] == (("file", f"{d}/./a.txt"), b"alpha\n")
    # the non-ASCII name also travels as RFC 5987 filename*, which busboy prefers
    ext = re.search(r"filename\*=utf-8''(\S+)", parts[5][0]["content-disposition"]).group(1)
    assert urllib.parse.unquote(ext) == weird and got[5][1] == b"w"
    for i, status, code in ((2, 404, "FILE_NOT_FOUND"), (3, 400, "INVALID_FILE_PATH")):
        (name, fn), data = got[i]
        assert name == "error" and fn == paths[i]
        assert parts[i][0]["content-type"] == "application/json; charset=utf-8"
        err = json.loads(data)
        assert err["statusCode"] == status and err["code"] == code
        assert err["path"] == paths[i] and err["method"] == "POST" and paths[i] in err["message"]
        assert RFC3339.match(err["timestamp"])
    assert json.loads(got[2][1])["message"] == f"file not found: {d}/missing"


def test_bulk_download_bad_bodies(tb):
    expected = {"error": 'request body must be {"paths": [ ... ]} and non-empty'}
    for body in (b"", b"{}", b'{"paths":[]}', b'{"paths":null}', b'{"paths":[1]}', b"[]", b"{nope"):
        r = tb.call("POST", "/files/bulk-download", raw_body=body, headers={"Content-Type": "application/json"})
        assert r.status == 400, body
        assert r.json() == expected


# F7 folder ----------------------------------------------------------------------------

def test_folder(tb, d):
    r = tb.call("POST", "/files/folder", {"path": f"{d}/p/q", "mode": "700"})
    assert r.status == 201 and r.body == b""
    assert stat.S_IMODE(os.stat(tb.path(d, "p/q")).st_mode) == 0o700
    r = tb.call("POST", "/files/folder", {"path": f"{d}/p/q", "mode": "0755"})
    assert r.status == 201
    assert stat.S_IMODE(os.stat(tb.path(d, "p/q")).st_mode) == 0o700  # existing dirs are kept
    r = tb.call("POST", "/files/folder", {"path": tb.path(d, "dflt")})
    assert r.status == 201 and os.path.isdir(tb.path(d, "dflt"))
    # the setuid/setgid/sticky bits of a raw octal mode are dropped, as Go does
    r = tb.call("POST", "/files/folder", {"path": f"{d}/s", "mode": "1777"})
    assert r.status == 201 and not os.stat(tb.path(d, "s")).st_mode & stat.S_ISVTX


def test_folder_errors(tb, d):
    r = tb.call("POST", "/files/folder", {"mode": "755"})
    assert r.status == 400 and error_message(r) == "path is required"
    for mode in ("8", "abc", "0o755", "-1", "77777777777"):
        r = tb.call("POST", "/files/folder", {"path": f"{d}/m", "mode": mode})
        assert r.status == 400 and error_message(r) == "invalid mode format", mode
    tb.write(f"{d}/f", "x")
    r = tb.call("POST", "/files/folder", {"path": f"{d}/f"})
    assert r.status == 400 and error_message(r) == f"mkdir {d}/f: not a directory"


# F8 delete ----------------------------------------------------------------------------

def test_delete(tb, d):
    tb.write(f"{d}/f.txt", "x")
    tb.write(f"{d}/tree/a/b/c.txt", "x")
    r = tb.call("DELETE", "/files", {"path": f"{d}/f.txt"})
    assert r.status == 204 and r.body == b"" and not os.path.exists(tb.path(d, "f.txt"))
    r = tb.call("DELETE", "/files/", {"path": f"{d}/tree"})
    assert r.status == 400 and error_message(r) == "cannot delete directory without recursive flag"
    r = tb.call("DELETE", "/files/", {"path": f"{d}/tree", "recursive": "yes"})
    assert r.status == 400
    r = tb.call("DELETE", "/files/", {"path": f"{d}/tree", "recursive": "true"})
    assert r.status == 204 and not os.path.exists(tb.path(d, "tree"))
    tb.write(f"{d}/g.txt", "x")
    r = tb.call("DELETE", "/files", {"path": tb.path(d, "g.txt"), "recursive": "true"})
    assert r.status == 204 and not os.path.exists(tb.path(d, "g.txt"))


def test_delete_errors(tb, d):
    r = tb.call("DELETE", "/files")
    assert r.status == 400 and error_message(r) == "path is required"
    r = tb.call("DELETE", "/files", {"path": f"{d}/nope"})
    assert r.status == 404 and error_message(r) == f"stat {d}/nope: no such file or directory"
    r = tb.call("DELETE", "/files", {"path": "/", "recursive": "true"})
    assert r.status == 400 and os.path.isdir(tb.work)


# F9 move ------------------------------------------------------------------------------

def test_move(tb, d):
    tb.write(f"{d}/src.txt", "move me", 0o600)
    r = tb.call("POST", "/files/move", {"source": f"{d}/src.txt", "destination": f"{d}/dst.txt"})
    assert r.status == 200 and r.body == b""
    assert open(tb.path(d, "dst.txt")).read() == "move me" and not os.path.exists(tb.path(d, "src.txt"))
    tb.write(f"{d}/dir/inner.txt", "in")
    r = tb.call("POST", "/files/move", {"source": tb.path(d, "dir"), "destination": f"{d}/dir2"})
    assert r.status == 200 and os.path.exists(tb.path(d, "dir2/inner.txt"))


def test_move_errors(tb, d):
    tb.write(f"{d}/a", "a")
    tb.write(f"{d}/b", "b")
    for q in ({}, {"source": f"{d}/a"}, {"destination": f"{d}/b"}):
        r = tb.call("POST", "/files/move", q)
        assert r.status == 400 and error_message(r) == "source and destination paths are required"
    r = tb.call("POST", "/files/move", {"source": f"{d}/a", "destination": f"{d}/b"})
    assert r.status == 409 and error_message(r) == "destination already exists"
    assert r.json()["code"] == "Conflict"
    r = tb.call("POST", "/files/move", {"source": f"{d}/nope", "destination": f"{d}/c"})
    assert r.status == 404 and error_message(r) == f"stat {tb.path(d, 'nope')}: no such file or directory"
    r = tb.call("POST", "/files/move", {"source": f"{d}/a", "destination": f"{d}/no/dir/c"})
    assert r.status == 404 and error_message(r) == f"stat {tb.path(d, 'no/dir')}: no such file or directory"
    os.mkdir(tb.path(d, "self"))
    r = tb.call("POST", "/files/move", {"source": f"{d}/self", "destination": f"{d}/self/inside"})
    assert r.status == 400 and error_message(r).startswith("failed to move file: ")


def test_move_across_devices(tb, d):
    shm = "/dev/shm"
    if not os.path.isdir(shm) or os.stat(shm).st_dev == os.stat(tb.work).st_dev:
        pytest.skip("no second filesystem to move across")
    target = tempfile.mkdtemp(dir=shm, prefix="mr-move-")
    try:
        tb.write(f"{d}/x/y.txt", "across", 0o640)
        r = tb.call("POST", "/files/move", {"source": f"{d}/x", "destination": f"{target}/x"})
        assert r.status == 200
        assert open(f"{target}/x/y.txt").read() == "across"
        assert stat.S_IMODE(os.stat(f"{target}/x/y.txt").st_mode) == 0o640
        assert not os.path.exists(tb.path(d, "x"))
    finally:
        shutil.rmtree(target, ignore_errors=True)


# F10 permissions ----------------------------------------------------------------------

def test_permissions(tb, d):
    full = tb.write(f"{d}/p.sh", "#!/bin/sh\n", 0o644)
    r = tb.call("POST", "/files/permissions", {"path": f"{d}/p.sh", "mode": "0750"})
    assert r.status == 200 and r.body == b""
    assert stat.S_IMODE(os.stat(full).st_mode) == 0o750
    r = tb.call("POST", "/files/permissions", {"path": f"{d}/p.sh", "mode": "4755"})
    assert r.status == 200 and stat.S_IMODE(os.stat(full).st_mode) == 0o755
    if os.geteuid() == 0:
        r = tb.call("POST", "/files/permissions", {"path": f"{d}/p.sh", "owner": "nobody", "group": "0"})
        assert r.status == 200
        assert os.stat(full).st_uid == 65534 and os.stat(full).st_gid == 0
        r = tb.call("POST", "/files/permissions", {"path": f"{d}/p.sh", "owner": "0"})
        assert r.status == 200 and os.stat(full).st_uid == 0 and os.stat(full).st_gid == 0


def test_permissions_errors(tb, d):
    full = tb.write(f"{d}/p", "x", 0o644)
    r = tb.call("POST", "/files/permissions", {"mode": "755"})
    assert r.status == 400 and error_message(r) == "path is required"
    r = tb.call("POST", "/files/permissions", {"path": f"{d}/nope", "mode": "755"})
    assert r.status == 404 and error_message(r) == f"stat {tb.path(d, 'nope')}: no such file or directory"
    r = tb.call("POST", "/files/permissions", {"path": f"{d}/p", "mode": "rwx"})
    assert r.status == 400 and error_message(r) == "invalid mode format"
    # chmod first, then the owner lookup fails
    r = tb.call("POST", "/files/permissions", {"path": f"{d}/p", "mode": "600", "owner": "no-such-user-xyz"})
    assert r.status == 400 and error_message(r) == "user not found"
    assert stat.S_IMODE(os.stat(full).st_mode) == 0o600
    r = tb.call("POST", "/files/permissions", {"path": f"{d}/p", "group": "no-such-group-xyz"})
    assert r.status == 400 and error_message(r) == "group not found"


# F11 find, F12 search -----------------------------------------------------------------

def test_find(tb, d):
    tb.write(f"{d}/a.txt", "hello world\r\nnothing\nsay hello\n")
    tb.write(f"{d}/sub/b.md", "no\nhello there")
    tb.write(f"{d}/bin.dat", b"hello\x00binary")
    tb.write(f"{d}/long.txt", "hello\n" + "x" * 70000 + "\nhello again\n")
    os.symlink(tb.path(d, "sub"), tb.path(d, "zlink"))
    r = tb.call("GET", "/files/find", {"path": d, "pattern": "hello"})
    assert r.status == 200
    assert r.json() == [
        {"file": f"{d}/a.txt", "line": 1, "content": "hello world"},
        {"file": f"{d}/a.txt", "line": 3, "content": "say hello"},
        {"file": f"{d}/long.txt", "line": 1, "content": "hello"},
        {"file": f"{d}/sub/b.md", "line": 2, "content": "hello there"},
    ]
    r = tb.call("GET", "/files/find", {"path": f"{d}/nope", "pattern": "x"})
    assert r.status == 200 and r.json() == []
    for q in ({"path": d}, {"pattern": "x"}, {}):
        r = tb.call("GET", "/files/find", q)
        assert r.status == 400 and error_message(r) == "path and pattern are required"


def test_search(tb, d):
    for name in ("a.py", "b.py", "c.txt", "sub/d.py", "sub/deeper/[x].py", "sub/e.PY"):
        tb.write(f"{d}/{name}", "")
    r = tb.call("GET", "/files/search", {"path": d, "pattern": "*.py"})
    assert r.status == 200
    assert r.json() == {"files": [f"{d}/a.py", f"{d}/b.py", f"{d}/sub/d.py", f"{d}/sub/deeper/[x].py"]}
    r = tb.call("GET", "/files/search", {"path": f"./{d}/", "pattern": "[ab].py"})
    assert r.json() == {"files": [f"{d}/a.py", f"{d}/b.py"]}
    r = tb.call("GET", "/files/search", {"path": d, "pattern": r"\[x\].py"})
    assert r.json() == {"files": [f"{d}/sub/deeper/[x].py"]}
    # directories match too, the root included
    r = tb.call("GET", "/files/search", {"path": f"{d}/sub", "pattern": "s?b"})
    assert r.json() == {"files": [f"{d}/sub"]}
    r = tb.call("GET", "/files/search", {"path": d, "pattern": "[^a-c].py"})
    assert r.json() == {"files": [f"{d}/sub/d.py"]}
    # nothing found is [] (never null); a bad pattern matches nothing
    for q in ({"path": d, "pattern": "*.none"}, {"path": f"{d}/nope", "pattern": "*"}, {"path": d, "pattern": "[a"}):
        r = tb.call("GET", "/files/search", q)
        assert r.status == 200 and r.json() == {"files": []}
    r = tb.call("GET", "/files/search", {"path": d})
    assert r.status == 400 and error_message(r) == "path and pattern are required"


# F13 replace --------------------------------------------------------------------------

def test_replace(tb, d):
    a = tb.write(f"{d}/a.txt", "foo bar foo", 0o600)
    tb.write(f"{d}/b.txt", "nothing")
    body = {"files": [f"{d}/a.txt", tb.path(d, "b.txt"), f"{d}/missing", d], "pattern": "foo", "newValue": ""}
    r = tb.call("POST", "/files/replace", body=body)
    assert r.status == 200
    res = r.json()
    assert res[0] == {"file": f"{d}/a.txt", "success": True}
    assert res[1] == {"file": tb.path(d, "b.txt"), "success": True}
    assert res[2] == {"file": f"{d}/missing", "success": False, "error": f"open {d}/missing: no such file or directory"}
    assert res[3]["success"] is False and res[3]["file"] == d
    assert open(a).read() == " bar "
    assert stat.S_IMODE(os.stat(a).st_mode) == 0o600


def test_replace_bad_bodies(tb):
    cases = [
        (b"", "invalid request body: EOF"),
        (b'{"files":["a"],"pattern":"x"}',
         "invalid request body: Key: 'ReplaceRequest.NewValue' Error:Field validation for 'NewValue' failed on the 'required' tag"),
        (b'{"pattern":"","newValue":"y"}',
         "invalid request body: Key: 'ReplaceRequest.Files' Error:Field validation for 'Files' failed on the 'required' tag\n"
         "Key: 'ReplaceRequest.Pattern' Error:Field validation for 'Pattern' failed on the 'required' tag"),
    ]
    for raw, message in cases:
        r = tb.call("POST", "/files/replace", raw_body=raw, headers={"Content-Type": "application/json"})
        assert r.status == 400 and error_message(r) == message
    r = tb.call("POST", "/files/replace", body={"files": [], "pattern": "x", "newValue": "y"})
    assert r.status == 200 and r.json() == []
    for raw in (b"{bad", b'{"files":"a","pattern":"x","newValue":""}', b'{"files":[],"pattern":1,"newValue":""}'):
        r = tb.call("POST", "/files/replace", raw_body=raw, headers={"Content-Type": "application/json"})
        assert r.status == 400 and error_message(r).startswith("invalid request body: ")


def test_unknown_files_route(tb):
    r = tb.call("GET", "/files/nope")
    assert r.status == 404 and r.body == b"404 page not found"


# Permission errors (403): the runner runs as an unprivileged user ----------------------

@pytest.fixture(scope="module")
def unprivileged():
    work = tempfile.mkdtemp(prefix="mr-files-unpriv-")
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: cannot test permission errors")
        os.chown(work, 65534, 65534)
        saved = mrtest.MOCK_RUNNER_BIN
        mrtest.MOCK_RUNNER_BIN = setpriv
        try:
            # the runner reads .env from its cwd: give it one it may enter
            t = start_toolbox(work, args=["--reuid=65534", "--regid=65534", "--clear-groups", "--",
                                          "env", f"--chdir={work}", saved])
        except RuntimeError as e:
            shutil.rmtree(work, ignore_errors=True)
            pytest.skip(f"cannot run the runner as an unprivileged user here: {e}")
        finally:
            mrtest.MOCK_RUNNER_BIN = saved
    else:
        t = start_toolbox(work)
    locked = os.path.join(work, "locked")
    os.mkdir(locked)
    with open(os.path.join(locked, "secret"), "w") as f:
        f.write("s")
    ro = os.path.join(work, "ro")
    os.mkdir(ro)
    with open(os.path.join(ro, "f"), "w") as f:
        f.write("f")
    if os.geteuid() == 0:
        os.chown(locked, 0, 0)
        os.chown(ro, 0, 0)
    os.chmod(locked, 0o700 if os.geteuid() == 0 else 0o000)
    os.chmod(ro, 0o555)
    yield t
    os.chmod(locked, 0o700)
    os.chmod(ro, 0o755)
    t.runner.stop()
    shutil.rmtree(work, ignore_errors=True)


def test_permission_denied_is_403(unprivileged):
    tb = unprivileged
    r = tb.call("GET", "/files", {"path": "locked"})
    assert r.status == 403 and error_message(r) == "open locked: permission denied"
    assert r.json()["code"] == "Forbidden"
    r = tb.call("GET", "/files/info", {"path": "locked/secret"})
    assert r.status == 403 and error_message(r) == "stat locked/secret: permission denied"
    r = tb.call("GET", "/files/download", {"path": "locked/secret"})
    assert r.status == 403 and error_message(r) == f"stat {tb.path('locked/secret')}: permission denied"
    r = tb.call("DELETE", "/files", {"path": "ro/f"})
    assert r.status == 403 and error_message(r) == "remove ro/f: permission denied"
    r = tb.call("POST", "/files/folder", {"path": "ro/sub"})
    assert r.status == 403 and error_message(r) == "mkdir ro/sub: permission denied"
    r = post_multipart(tb, "/files/upload", [("file", "f", b"x")], {"path": "ro/new.txt"})
    assert r.status == 403 and error_message(r) == "open ro/new.txt: permission denied"
    r = post_multipart(tb, "/files/bulk-upload", [("files[0].path", None, "ro/new.txt"), ("files[0].file", "f", b"x")])
    assert r.status == 400
    assert r.json()["errors"] == ["ro/new.txt: create: open ro/new.txt: permission denied"]
    r = tb.call("POST", "/files/bulk-download", body={"paths": ["locked/secret"]})
    assert r.status == 200
    (headers, data), = parse_multipart(r.header("Content-Type"), r.body)
    assert disposition(headers) == ("error", "locked/secret")
    assert json.loads(data)["statusCode"] == 403 and json.loads(data)["code"] == "FILE_ACCESS_DENIED"
    # the walks skip what they cannot read
    r = tb.call("GET", "/files/search", {"path": ".", "pattern": "secret"})
    assert r.status == 200 and r.json() == {"files": []}


# Streaming: large transfers in flat memory; clients that go away ------------------------

def vm_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


class RssSampler:
    """Samples a process's VmRSS while a transfer runs; .peak is the highest seen."""

    def __init__(self, pid):
        self.pid = pid
        self.peak = vm_rss_kib(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, vm_rss_kib(self.pid))
            time.sleep(0.02)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, vm_rss_kib(self.pid))


BIG = 512 * 1024 * 1024
BLOCK = 1024 * 1024


def big_blocks(n_bytes, seed=b"mock-runner"):
    """Deterministic, incompressible-looking data, produced one block at a time."""
    base = hashlib.sha512(seed).digest() * (BLOCK // 64)
    for i in range(n_bytes // BLOCK):
        yield i.to_bytes(8, "big") + base[8:]


@pytest.fixture(scope="module")
def big():
    work = tempfile.mkdtemp(prefix="mr-files-big-")
    t = start_toolbox(work)
    yield t
    t.runner.stop()
    shutil.rmtree(work, ignore_errors=True)


def test_large_upload_and_download_stream(big):
    tb = big
    pid = tb.runner.proc.pid
    # warm up the allocator and the thread pool with a small transfer first
    post_multipart(tb, "/files/bulk-upload", [("files[0].path", None, "warm"), ("files[0].file", "w", b"w" * 100000)])
    tb.call("GET", "/files/download", {"path": "warm"})
    base = vm_rss_kib(pid)
    limit_kib = 64 * 1024

    # upload: a chunked multipart body, generated as it is sent
    boundary = "big-boundary-0987"
    sha = hashlib.sha256()

    def body():
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files[0].path\"\r\n\r\nbig.bin\r\n"
               f"--{boundary}\r\nContent-Disposition: form-data; name=\"files[0].file\"; filename=\"big.bin\"\r\n\r\n").encode()
        for block in big_blocks(BIG):
            sha.update(block)
            yield block
        yield f"\r\n--{boundary}--\r\n".encode()

    with RssSampler(pid) as s:
        r = raw_request(tb, "POST", tb.url("/files/bulk-upload"), body(),
                        {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.status == 200, r
    assert r.json() == {"files": [{"path": "big.bin", "bytes": BIG}]}
    assert os.path.getsize(tb.path("big.bin")) == BIG
    assert (s.peak - base) < limit_kib, f"RSS grew by {(s.peak - base) // 1024} MiB during a 512 MiB upload"
    with open(tb.path("big.bin"), "rb") as f:
        disk = hashlib.sha256()
        for chunk in iter(lambda: f.read(BLOCK), b""):
            disk.update(chunk)
    assert disk.hexdigest() == sha.hexdigest()

    # download, then bulk-download, read slowly enough that the server must wait for us
    for method, path, body_json in (("GET", "/files/download?path=big.bin", None),
                                    ("POST", "/files/bulk-download", {"paths": ["big.bin"]})):
        conn = http.client.HTTPConnection("127.0.0.1", tb.runner.port, timeout=120)
        got = hashlib.sha256()
        total = 0
        with RssSampler(pid) as s:
            hdrs = {"Authorization": f"Bearer {tb.runner.token}"}
            if body_json is not None:
                hdrs["Content-Type"] = "application/json"
            conn.request(method, tb.prefix + path, body=json.dumps(body_json) if body_json else None, headers=hdrs)
            resp = conn.getresponse()
            assert resp.status == 200
            head = b""
            if body_json is not None:
                # skip the part header; the trailer is checked below
                while b"\r\n\r\n" not in head:
                    head += resp.read(1)
            data = resp.read(BLOCK)
            tail = b""
            while data:
                total += len(data)
                got.update(data)
                tail = (tail + data)[-64:]
                data = resp.read(BLOCK)
        conn.close()
        if body_json is not None:
            trailer = f"\r\n--{BOUNDARY}--\r\n".encode()
            assert tail.endswith(trailer)
            total -= len(trailer)
        else:
            assert total == BIG
            assert got.hexdigest() == sha.hexdigest()
        assert total == BIG
        assert (s.peak - base) < limit_kib, f"RSS grew by {(s.peak - base) // 1024} MiB during a 512 MiB {method}"
    os.unlink(tb.path("big.bin"))


def test_client_disconnects_mid_upload_and_download(big):
    tb = big
    pid = tb.runner.proc.pid
    tb.call("GET", "/files/info", {"path": "."})
    before = fd_count(pid)

    # upload: promise 256 MiB, send 16 MiB, go away
    for route in ("/files/bulk-upload", "/files/upload?path=cut-single.bin", "/files/upload-v2?path=cut-raw.bin"):
        boundary = "cut-boundary"
        head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files[0].path\"\r\n\r\ncut.bin\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"files[0].file\"; filename=\"x\"\r\n\r\n")
        if "upload?" in route:
            head = f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x\"\r\n\r\n"
        ctype = "application/octet-stream" if "v2" in route else f"multipart/form-data; boundary={boundary}"
        s = socket.create_connection(("127.0.0.1", tb.runner.port))
        s.sendall((f"POST {tb.prefix}{route} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tb.runner.token}\r\n"
                   f"Content-Type: {ctype}\r\nContent-Length: {256 * 1024 * 1024}\r\n\r\n").encode() + head.encode())
        for block in big_blocks(16 * BLOCK):
            s.sendall(block)
        s.close()
        assert wait_fd_count(pid, before) <= before, f"{route}: file descriptors leaked"

    # download: read a little of a big file, then go away
    with open(tb.path("dl.bin"), "wb") as f:
        for block in big_blocks(64 * BLOCK):
            f.write(block)
    for method, path, body in (("GET", f"/files/download?path=dl.bin", b""),
                               ("POST", "/files/bulk-download", json.dumps({"paths": ["dl.bin", "dl.bin"]}).encode())):
        s = socket.create_connection(("127.0.0.1", tb.runner.port))
        s.sendall((f"{method} {tb.prefix}{path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tb.runner.token}\r\n"
                   f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body)
        got = 0
        while got < 1024 * 1024:
            chunk = s.recv(65536)
            assert chunk
            got += len(chunk)
        s.close()
        assert wait_fd_count(pid, before) <= before, f"{method} {path}: file descriptors leaked"

    # and the runner still serves
    r = tb.call("GET", "/files/info", {"path": "dl.bin"})
    assert r.status == 200 and r.json()["size"] == 64 * BLOCK
    assert tb.runner.proc.poll() is None


def test_keep_alive_after_bodiless_answers(tb, d):
    """A 204 or 304 must not end the connection: keep-alive clients reuse it."""
    tb.write(f"{d}/k.txt", "keep")
    auth = f"Authorization: Bearer {tb.runner.token}\r\nHost: x\r\n"
    with socket.create_connection(("127.0.0.1", tb.runner.port), timeout=10) as s:
        s.sendall(f"GET {tb.url('/files/download', {'path': f'{d}/k.txt'})} HTTP/1.1\r\n{auth}\r\n".encode())
        status, headers, body = read_response(s)
        assert status.endswith("200 OK") and body == b"keep"
        since = headers["last-modified"]
        s.sendall(f"GET {tb.url('/files/download', {'path': f'{d}/k.txt'})} HTTP/1.1\r\n{auth}"
                  f"If-Modified-Since: {since}\r\n\r\n".encode())
        status, headers, body = read_response(s)
        assert status.endswith("304 Not Modified") and body == b""
        s.sendall(f"DELETE {tb.url('/files', {'path': f'{d}/k.txt'})} HTTP/1.1\r\n{auth}\r\n".encode())
        status, headers, body = read_response(s)
        assert status.endswith("204 No Content") and "content-length" not in headers
        s.sendall(f"GET {tb.url('/files/info', {'path': d})} HTTP/1.1\r\n{auth}\r\n".encode())
        status, headers, body = read_response(s)
        assert status.endswith("200 OK") and json.loads(body)["name"] == d


def test_write_errors_are_reported(tb, d):
    """A failing write (a full disk: /dev/full) is the upload's error, not a silent success."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    r = post_multipart(tb, "/files/upload", [("file", "f", b"x" * 100000)], {"path": "/dev/full"})
    assert r.status == 400 and error_message(r) == "write /dev/full: no space left on device"
    r = post_multipart(tb, "/files/bulk-upload", [("files[0].path", None, "/dev/full"), ("files[0].file", "f", b"data"),
                                                  ("files[1].path", None, f"{d}/fine.txt"), ("files[1].file", "f", b"ok")])
    assert r.status == 400
    assert r.json() == {"errors": ["/dev/full: write: write /dev/full: no space left on device"],
                        "files": [{"path": f"{d}/fine.txt", "bytes": 2}]}


def test_fifos_never_block_the_server(tb, d):
    fifo = tb.path(d, "fifo")
    os.mkfifo(fifo)
    # nobody reads it: the upload fails at once instead of hanging the runner
    r = post_multipart(tb, "/files/upload", [("file", "f", b"x")], {"path": f"{d}/fifo"}, )
    assert r.status == 400 and error_message(r) == f"open {d}/fifo: no such device or address"
    r = tb.call("POST", "/files/replace", body={"files": [f"{d}/fifo"], "pattern": "a", "newValue": "b"}, timeout=10)
    assert r.status == 200 and r.json() == [{"file": f"{d}/fifo", "success": False,
                                             "error": f"read {d}/fifo: invalid argument"}]
    r = tb.call("GET", "/files/find", {"path": d, "pattern": "x"}, timeout=10)
    assert r.status == 200 and r.json() == []


def test_upload_backpressure_when_the_disk_lags(big):
    """Writes slower than the network: the runner stops reading instead of buffering.

    The destination is a FIFO that the test drains only after a while, so the writer
    thread blocks like on a slow disk; meanwhile the client's send must stall and the
    runner's memory must stay flat. Then everything arrives, in order."""
    tb = big
    pid = tb.runner.proc.pid
    total = 128 * BLOCK
    fifo = tb.path("slow-disk")
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    sent = [0]
    sha = hashlib.sha256()
    base = vm_rss_kib(pid)

    def body():
        yield (b"--bp\r\nContent-Disposition: form-data; name=\"files[0].path\"\r\n\r\nslow-disk\r\n"
               b"--bp\r\nContent-Disposition: form-data; name=\"files[0].file\"; filename=\"s\"\r\n\r\n")
        for block in big_blocks(total, seed=b"backpressure"):
            sha.update(block)
            sent[0] += len(block)
            yield block
        yield b"\r\n--bp--\r\n"

    result = {}

    def upload():
        result["r"] = raw_request(tb, "POST", tb.url("/files/bulk-upload"), body(),
                                  {"Content-Type": "multipart/form-data; boundary=bp"})

    t = threading.Thread(target=upload)
    with RssSampler(pid) as s:
        t.start()
        time.sleep(2)
        stalled_at = sent[0]
        assert t.is_alive() and stalled_at < total // 2, f"the client sent {stalled_at} bytes into a stalled disk"
        got = hashlib.sha256()
        received = 0
        os.set_blocking(reader, True)
        while received < total:
            chunk = os.read(reader, 1 << 20)
            assert chunk
            got.update(chunk)
            received += len(chunk)
        t.join(60)
    os.close(reader)
    assert result["r"].status == 200, result["r"]
    assert result["r"].json() == {"files": [{"path": "slow-disk", "bytes": total}]}
    assert got.hexdigest() == sha.hexdigest()
    assert (s.peak - base) < 64 * 1024, f"RSS grew by {(s.peak - base) // 1024} MiB"
    os.unlink(fifo)


def test_non_utf8_names_give_valid_json(tb, d):
    raw = os.path.join(tb.work, d).encode() + b"/caf\xe9.txt"
    with open(raw, "wb") as f:
        f.write(b"x")
    r = tb.call("GET", "/files", {"path": d})
    assert r.status == 200 and r.json()[0]["name"] == "caf\ufffd.txt"
    r = tb.runner.get(tb.prefix + "/files/info?path=" + urllib.parse.quote(d.encode() + b"/nope\xff"))
    assert r.status == 404 and error_message(r) == f"stat {d}/nope\ufffd: no such file or directory"
    r = tb.call("GET", "/files/search", {"path": d, "pattern": "caf*"})
    assert r.json() == {"files": [f"{d}/caf\ufffd.txt"]}
