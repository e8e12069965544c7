"""A small RFC 6455 WebSocket client for the tests (Debian's python3 has none built in).

    ws = WebSocket.connect(base_url, "/sandboxes/x/toolbox/process/pty/p1/connect",
                           headers={"Authorization": "Bearer t"}, protocols=["a"])
    kind, payload = ws.recv()          # ("text", str) | ("binary", bytes) | ("close", (code, reason))
    ws.send_text("ls\\n"); ws.send_binary(b"..."); ws.close(1000)
"""
import base64
import hashlib
import os
import socket
import ssl
import struct
import urllib.parse

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class HandshakeError(Exception):
    def __init__(self, status, headers, body):
        super().__init__(f"handshake failed: HTTP {status}: {body[:200]!r}")
        self.status = status
        self.headers = headers
        self.body = body


class WebSocket:
    def __init__(self, sock, protocol, response_headers):
        self.sock = sock
        self.protocol = protocol
        self.response_headers = response_headers
        self.buffer = b""
        self.closed = False

    @classmethod
    def connect(cls, base_url, path, headers=None, protocols=None, timeout=10):
        url = urllib.parse.urlsplit(base_url)
        sock = socket.create_connection((url.hostname, url.port), timeout=timeout)
        if url.scheme in ("https", "wss"):
            sock = ssl._create_unverified_context().wrap_socket(sock, server_hostname=url.hostname)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: {url.hostname}:{url.port}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        if protocols:
            lines.append("Sec-WebSocket-Protocol: " + ", ".join(protocols))
        for k, v in (headers or {}).items():
            lines.append(f"{k}: {v}")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split()[1]) if len(status_line.split()) > 1 else 0
        resp_headers = {}
        for h in header_lines:
            k, _, v = h.partition(":")
            resp_headers[k.strip().lower()] = v.strip()
        if status != 101:
            length = int(resp_headers.get("content-length", "0") or 0)
            while len(rest) < length:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                rest += chunk
            sock.close()
            raise HandshakeError(status, resp_headers, rest)
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        if resp_headers.get("sec-websocket-accept") != accept:
            sock.close()
            raise HandshakeError(status, resp_headers, b"bad Sec-WebSocket-Accept")
        ws = cls(sock, resp_headers.get("sec-websocket-protocol"), resp_headers)
        ws.buffer = rest
        return ws

    def settimeout(self, timeout):
        self.sock.settimeout(timeout)

    def _send_frame(self, opcode, payload):
        header = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 65536:
            header += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def send_text(self, text):
        self._send_frame(0x1, text.encode())

    def send_binary(self, data):
        self._send_frame(0x2, bytes(data))

    def ping(self, data=b""):
        self._send_frame(0x9, data)

    def close(self, code=1000, reason=""):
        if not self.closed:
            try:
                self._send_frame(0x8, struct.pack("!H", code) + reason.encode())
            except OSError:
                pass
        self.closed = True

    def _read(self, n):
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed by server")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def _read_frame(self):
        b1, b2 = self._read(2)
        fin, opcode = b1 & 0x80, b1 & 0x0F
        n = b2 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read(8))[0]
        mask = self._read(4) if b2 & 0x80 else None
        payload = self._read(n)
        if mask:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return fin, opcode, payload

    def recv(self):
        """The next message: ("text", str), ("binary", bytes), ("close", (code, reason)).

        Pings are answered; raises ConnectionError if the TCP connection ends without a
        close frame, socket.timeout on timeout."""
        parts, first = [], None
        while True:
            fin, opcode, payload = self._read_frame()
            if opcode == 0x9:
                self._send_frame(0xA, payload)
                continue
            if opcode == 0xA:
                continue
            if opcode == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                reason = payload[2:].decode("utf-8", "replace")
                if not self.closed:
                    self.close(code if code not in (1005, 1006) else 1000)
                return "close", (code, reason)
            if opcode in (0x1, 0x2):
                first = opcode
            parts.append(payload)
            if fin:
                data = b"".join(parts)
                return ("text", data.decode("utf-8")) if first == 0x1 else ("binary", data)

    def recv_until_close(self, timeout=30):
        """Collects messages until the close frame; returns (messages, (code, reason))."""
        self.sock.settimeout(timeout)
        messages = []
        while True:
            kind, payload = self.recv()
            if kind == "close":
                return messages, payload
            messages.append((kind, payload))

    def shutdown(self):
        try:
            self.sock.close()
        except OSError:
            pass
