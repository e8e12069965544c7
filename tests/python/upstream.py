"""A small HTTP/1.1 and WebSocket server on loopback, standing for an application inside
the toolbox, for the forwarding tests (standard library only).

    up = Upstream.start()
    up.port; up.requests (what it received); up.events (e.g. "forever-aborted")
    up.stop()

Routes (also under /mounted/..., for upstream URLs with a path):
  ANY  /echo...          JSON: method, raw path (with query), headers, body length and sha256
  GET  /big?n=N[&chunked=1]   N bytes of a fixed pattern (pattern_bytes(N))
  GET  /redirect         302 to /landed?x=1;   /abs-redirect: 302 to http://example.com/x
  GET  /headers-out      repeated Set-Cookie, a custom header, and hop-by-hop ones
  GET  /status/NNN       that status with a small body
  GET  /hold             never answers; records "hold-closed" when the connection is closed on it
  GET  /forever          a chunked body that never ends (records "forever-aborted" on a failed write)
  GET  /slow-headers?ms=N   answers after N ms
  GET  /version          {"version": "upstream-fake"} (so that it can stand for a toolbox daemon)
  GET  .../logs (WebSocket)  three binary messages, then close 1000 (a session log stream)
  GET  /ws-greet         the same, with a first text frame "welcome" sent together with the 101
  GET  /ws               WebSocket echo; picks the first subprotocol offered; echoes close code and reason
"""
import base64
import hashlib
import http.server
import json
import socket
import struct
import threading
import time
import urllib.parse

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PATTERN = bytes(range(256)) * 256      # 64 KiB


def pattern_bytes(n):
    full, rest = divmod(n, len(PATTERN))
    return PATTERN * full + PATTERN[:rest]


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "upstream/1"

    def log_message(self, *args):
        pass

    def _read_body(self):
        h = hashlib.sha256()
        total = 0
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                left = size
                while left:
                    chunk = self.rfile.read(min(left, 65536))
                    if not chunk:
                        raise ConnectionError("body cut short")
                    h.update(chunk)
                    total += len(chunk)
                    left -= len(chunk)
                self.rfile.readline()
        else:
            left = int(self.headers.get("Content-Length") or 0)
            while left:
                chunk = self.rfile.read(min(left, 65536))
                if not chunk:
                    raise ConnectionError("body cut short")
                h.update(chunk)
                total += len(chunk)
                left -= len(chunk)
        return total, h.hexdigest()

    def _reply(self, status, body=b"", content_type="application/octet-stream", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self):
        up = self.server.upstream
        url = urllib.parse.urlsplit(self.path)
        if url.path.startswith("/mounted/"):          # the same routes under a prefix
            url = url._replace(path=url.path[len("/mounted"):])
        query = urllib.parse.parse_qs(url.query)
        upgrade = (self.headers.get("Upgrade") or "").lower() == "websocket"
        if url.path == "/ws" and upgrade:
            return self._websocket()
        if url.path == "/ws-greet" and upgrade:
            return self._websocket(greeting=b"welcome")
        if url.path.endswith("/logs") and upgrade:
            return self._websocket(script=[b"out1 ", b"out2 ", b"out3"])
        length, digest = self._read_body()
        record = {"method": self.command, "path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                  "header_list": [(k.lower(), v) for k, v in self.headers.items()],
                  "body_len": length, "body_sha256": digest}
        up.requests.append(record)
        if url.path.startswith("/echo"):
            body = json.dumps(record).encode()
            return self._reply(200, body, "application/json")
        if url.path == "/big":
            n = int(query.get("n", ["0"])[0])
            data = pattern_bytes(n)
            if query.get("chunked"):
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for i in range(0, n, 65536):
                    piece = data[i:i + 65536]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.write(b"0\r\n\r\n")
                return
            return self._reply(200, data)
        if url.path == "/version":
            return self._reply(200, b'{"version":"upstream-fake"}', "application/json")
        if url.path == "/redirect":
            return self._reply(302, b"", headers=[("Location", "/landed?x=1")])
        if url.path == "/abs-redirect":
            return self._reply(302, b"", headers=[("Location", "http://example.com/x")])
        if url.path == "/headers-out":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Set-Cookie", "a=1")
            self.send_header("Set-Cookie", "b=2")
            self.send_header("X-Custom", "yes")
            self.send_header("Connection", "X-Hop")
            self.send_header("X-Hop", "must-not-pass")
            self.send_header("Keep-Alive", "timeout=5")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
            return
        if url.path.startswith("/status/"):
            status = int(url.path.rsplit("/", 1)[1])
            return self._reply(status, b"" if status in (204, 304) else f"status {status}".encode(), "text/plain")
        if url.path == "/hold":
            # never answers; records when the proxy closes the connection (its client went away)
            self.connection.settimeout(30)
            try:
                while self.connection.recv(1024):
                    pass
                up.events.append("hold-closed")
            except OSError:
                up.events.append("hold-error")
            self.close_connection = True
            return
        if url.path == "/slow-headers":
            time.sleep(int(query.get("ms", ["0"])[0]) / 1000)
            return self._reply(200, b"slow", "text/plain")
        if url.path == "/forever":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                while True:
                    piece = b"x" * 1024
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.flush()
                    time.sleep(0.02)
            except OSError:
                up.events.append("forever-aborted")
                self.close_connection = True
            return
        return self._reply(404, b"not here", "text/plain")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _handle

    # WebSocket ------------------------------------------------------------------------
    def _websocket(self, script=None, greeting=None):
        up = self.server.upstream
        key = self.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        offered = [p.strip() for p in (self.headers.get("Sec-WebSocket-Protocol") or "").split(",") if p.strip()]
        up.requests.append({"method": "GET", "path": self.path, "websocket": True,
                            "headers": {k.lower(): v for k, v in self.headers.items()}})
        head = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {accept}\r\n")
        if offered:
            head += f"Sec-WebSocket-Protocol: {offered[0]}\r\n"
        data = (head + "\r\n").encode()
        if greeting is not None:
            # the first frame in the same write as the handshake answer, as servers often do
            data += bytes([0x81, len(greeting)]) + greeting
        sock = self.connection
        sock.sendall(data)
        if script is not None:
            # a log stream: the messages, then a normal close
            for message in script:
                self._ws_send(sock, 0x2, message)
            self._ws_send(sock, 0x8, struct.pack("!H", 1000))
            self.close_connection = True
            return
        try:
            while True:
                opcode, payload = self._ws_read(sock)
                if opcode == 0x8:
                    self._ws_send(sock, 0x8, payload)
                    up.events.append(("ws-close", payload))
                    break
                if opcode == 0x9:
                    self._ws_send(sock, 0xA, payload)
                elif opcode in (0x1, 0x2):
                    self._ws_send(sock, opcode, payload)
        except (OSError, ConnectionError):
            up.events.append("ws-dropped")
        self.close_connection = True

    def _ws_read_exact(self, n):
        data = b""
        while len(data) < n:
            chunk = self.rfile.read(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def _ws_read(self, sock):
        parts, first = [], None
        while True:
            b1, b2 = self._ws_read_exact(2)
            fin, opcode = b1 & 0x80, b1 & 0x0F
            n = b2 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._ws_read_exact(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._ws_read_exact(8))[0]
            mask = self._ws_read_exact(4) if b2 & 0x80 else None
            payload = self._ws_read_exact(n)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if opcode >= 0x8:
                return opcode, payload
            if opcode:
                first = opcode
            parts.append(payload)
            if fin:
                return first, b"".join(parts)

    def _ws_send(self, sock, opcode, payload):
        n = len(payload)
        header = bytes([0x80 | opcode])
        if n < 126:
            header += bytes([n])
        elif n < 65536:
            header += bytes([126]) + struct.pack("!H", n)
        else:
            header += bytes([127]) + struct.pack("!Q", n)
        sock.sendall(header + payload)


class Upstream:
    def __init__(self):
        self.requests = []
        self.events = []
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.upstream = self
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @classmethod
    def start(cls):
        up = cls()
        up.thread.start()
        return up

    def wait_event(self, event, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if event in self.events:
                return True
            time.sleep(0.05)
        return False

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def closed_port():
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
