"""Just enough HTTP/1.1 (RFC 9112) for the ALB emulation: read a request or a response from a socket,
with the body framed by Content-Length, chunked transfer coding, or (responses only) the end of the
connection; and write one back with a Content-Length.

Bodies are read whole (the lab's pages are small); both heads and bodies have a size cap.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

# An ALB's limits (ALB guide, "Quotas for your Application Load Balancers", HTTP headers): the
# whole request head 64K, the request line 16K, one header 16K.
MAX_HEAD_BYTES = 64 * 1024
MAX_LINE_BYTES = 16 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024

# Hop-by-hop headers (RFC 9110 section 7.6.1) describe one connection; a proxy never passes them on.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}


class MalformedMessage(Exception):
    """The peer sent something that is not HTTP/1.x, or closed the connection mid-message."""


Headers = list[tuple[str, str]]


def header(headers: Headers, name: str) -> str | None:
    """The value of `name` (several fields joined with ", ", as RFC 9110 allows), or None."""
    values = [value for key, value in headers if key.lower() == name.lower()]
    return ", ".join(values) if values else None


def without(headers: Headers, names: set[str]) -> Headers:
    return [(key, value) for key, value in headers if key.lower() not in names]


@dataclass
class Request:
    method: str
    target: str  # "/path?query" as sent
    version: str  # "HTTP/1.1"
    headers: Headers = field(default_factory=list)
    body: bytes = b""

    @property
    def keep_alive(self) -> bool:
        tokens = {t.strip().lower() for t in (header(self.headers, "Connection") or "").split(",")}
        if self.version == "HTTP/1.0":
            return "keep-alive" in tokens
        return "close" not in tokens


@dataclass
class Response:
    status: int
    reason: str
    headers: Headers = field(default_factory=list)
    body: bytes = b""
    version: str = "HTTP/1.1"


class HttpConnection:
    """Reads HTTP messages from one socket, keeping bytes that arrive early for the next message."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = b""

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self._buffer += chunk
        return bool(chunk)

    def _read_until(self, marker: bytes, limit: int) -> bytes:
        while marker not in self._buffer:
            if len(self._buffer) > limit:
                raise MalformedMessage(f"more than {limit} bytes without {marker!r}")
            if not self._fill():
                raise MalformedMessage("the connection closed in the middle of a message")
        data, self._buffer = self._buffer.split(marker, 1)
        if len(data) > limit:  # the marker came, but too late: the message is over the limit all the same
            raise MalformedMessage(f"more than {limit} bytes before {marker!r}")
        return data

    def _read_exact(self, count: int) -> bytes:
        while len(self._buffer) < count:
            if not self._fill():
                raise MalformedMessage("the connection closed in the middle of a body")
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def _read_to_end(self) -> bytes:
        while self._fill():
            if len(self._buffer) > MAX_BODY_BYTES:
                raise MalformedMessage("body too large")
        data, self._buffer = self._buffer, b""
        return data

    def _read_head(self) -> tuple[str, Headers]:
        head = self._read_until(b"\r\n\r\n", MAX_HEAD_BYTES).decode("latin-1")
        start_line, *lines = head.split("\r\n")
        headers: Headers = []
        if max(len(line) for line in [start_line, *lines]) > MAX_LINE_BYTES:
            raise MalformedMessage(f"a start line or header longer than {MAX_LINE_BYTES} bytes")
        for line in lines:
            if line[:1] in (" ", "\t") or ":" not in line:  # obsolete line folding is rejected, as the ALB does
                raise MalformedMessage(f"bad header line {line!r}")
            name, value = line.split(":", 1)
            if not name or name != name.strip():
                raise MalformedMessage(f"bad header name {name!r}")
            headers.append((name, value.strip()))
        return start_line, headers

    def _read_body(self, headers: Headers, *, until_close: bool) -> bytes:
        if "chunked" in (header(headers, "Transfer-Encoding") or "").lower():
            return self._read_chunked()
        length = header(headers, "Content-Length")
        if length is not None:
            if not length.isdigit() or int(length) > MAX_BODY_BYTES:
                raise MalformedMessage(f"bad Content-Length {length!r}")
            return self._read_exact(int(length))
        return self._read_to_end() if until_close else b""

    def _read_chunked(self) -> bytes:
        body = b""
        while True:
            size_line = self._read_until(b"\r\n", 1024).split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise MalformedMessage(f"bad chunk size {size_line!r}") from None
            if size == 0:
                while self._read_until(b"\r\n", MAX_HEAD_BYTES):  # trailer fields, up to the empty line
                    pass
                return body
            if len(body) + size > MAX_BODY_BYTES:
                raise MalformedMessage("body too large")
            body += self._read_exact(size)
            if self._read_exact(2) != b"\r\n":
                raise MalformedMessage("chunk not followed by CRLF")

    def read_request(self) -> Request | None:
        """The next request, or None when the client closed the connection between requests."""
        if not self._buffer and not self._fill():
            return None
        start_line, headers = self._read_head()
        parts = start_line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[1]:
            raise MalformedMessage(f"bad request line {start_line!r}")
        method, target, version = parts
        return Request(method, target, version, headers, self._read_body(headers, until_close=False))

    def read_response(self, request_method: str) -> Response:
        start_line, headers = self._read_head()
        parts = start_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not (parts[1].isdigit() and len(parts[1]) == 3):
            raise MalformedMessage(f"bad status line {start_line!r}")
        status = int(parts[1])
        reason = parts[2] if len(parts) == 3 else ""
        if request_method == "HEAD" or status < 200 or status in (204, 304):
            body = b""  # these responses never have a body (RFC 9112 section 6.3)
        else:
            body = self._read_body(headers, until_close=True)
        return Response(status, reason, headers, body, parts[0])


def encode_request(request: Request) -> bytes:
    headers = without(request.headers, HOP_BY_HOP | {"content-length"})
    if request.body or request.method in ("POST", "PUT", "PATCH"):
        headers.append(("Content-Length", str(len(request.body))))
    lines = [f"{request.method} {request.target} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + request.body


def encode_response(response: Response, *, keep_alive: bool, head_only: bool = False) -> bytes:
    if head_only:  # a HEAD response keeps the length a GET would have had, and sends no body
        headers = without(response.headers, HOP_BY_HOP)
        if header(headers, "Content-Length") is None:
            headers.append(("Content-Length", str(len(response.body))))
    else:
        headers = without(response.headers, HOP_BY_HOP | {"content-length"})
        if response.status >= 200 and response.status not in (204, 304):
            headers.append(("Content-Length", str(len(response.body))))
    headers.append(("Connection", "keep-alive" if keep_alive else "close"))
    lines = [f"HTTP/1.1 {response.status} {response.reason}"] + [f"{k}: {v}" for k, v in headers]
    body = b"" if head_only else response.body
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
