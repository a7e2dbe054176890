"""The SOCKS5 server (RFC 1928) against raw sockets, httpx and curl."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import threading

import httpx
import pytest

from helpers.sandbox.socks5 import (REP_ADDRESS_TYPE_NOT_SUPPORTED, REP_COMMAND_NOT_SUPPORTED,
                                    REP_CONNECTION_REFUSED, REP_GENERAL_FAILURE, REP_HOST_UNREACHABLE,
                                    REP_SUCCEEDED, REP_TTL_EXPIRED, Hold, Refuse, Serve, Socks5Server,
                                    splice)
from helpers.traffic import client

pytestmark = pytest.mark.timeout(30)

CURL_ENV = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}


class EchoServer:
    """A loopback TCP server that echoes bytes back, standing for a container."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = self.listener.getsockname()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(4096):
                conn.sendall(data)

    def close(self) -> None:
        self.listener.close()


HTTP_PAGE = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: fake\r\nConnection: close\r\n\r\nhello"


def serve_http_page(sock: socket.socket) -> None:
    sock.recv(65536)
    sock.sendall(HTTP_PAGE)


@pytest.fixture
def echo():
    server = EchoServer()
    yield server
    server.close()


@pytest.fixture
def proxy(echo):
    """A SOCKS5 server with a fixed routing table; `seen` records every CONNECT."""
    seen: list[tuple[str, int]] = []

    def relay(sock: socket.socket) -> None:
        upstream = socket.create_connection(echo.address)
        server.track(upstream)
        try:
            splice(sock, upstream, idle_timeout=5, stopping=server.stopping)
        finally:
            server.untrack(upstream)

    def route(host: str, port: int):
        seen.append((host, port))
        if host in ("echo.test", "10.0.0.5"):
            return Serve(relay)
        if host == "web.test":
            return Serve(serve_http_page)
        if host == "refused.test":
            return Refuse(REP_CONNECTION_REFUSED)
        if host == "dropped.test":
            return Hold(0.6)
        if host == "broken.test":
            raise RuntimeError("a bug in routing")
        return Refuse(REP_HOST_UNREACHABLE)

    server = Socks5Server(route, max_connections=8)
    host, port = server.start()
    server.url = f"socks5h://{host}:{port}"
    server.seen = seen
    yield server
    server.stop()


def raw_connect(proxy, request: bytes, methods: bytes = b"\x00") -> tuple[socket.socket, bytes]:
    sock = socket.create_connection(proxy.address, timeout=5)
    sock.sendall(bytes([5, len(methods)]) + methods)
    method_reply = sock.recv(2)
    if method_reply != b"\x05\x00":
        return sock, method_reply
    sock.sendall(request)
    return sock, recv_exact(sock, 10)


def recv_exact(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            break
        data += chunk
    return data


def connect_domain(name: str, port: int) -> bytes:
    return bytes([5, 1, 0, 3, len(name)]) + name.encode() + struct.pack("!H", port)


def test_handshake_connect_by_name_and_relay(proxy):
    sock, reply = raw_connect(proxy, connect_domain("Echo.Test", 8081))
    with sock:
        assert reply == bytes([5, REP_SUCCEEDED, 0, 1, 0, 0, 0, 0, 0, 0])
        sock.sendall(b"ping")
        assert recv_exact(sock, 4) == b"ping"
    assert proxy.seen == [("echo.test", 8081)]  # names are case-insensitive


def test_connect_by_ipv4_address(proxy):
    sock, reply = raw_connect(proxy, bytes([5, 1, 0, 1, 10, 0, 0, 5]) + struct.pack("!H", 32768))
    with sock:
        assert reply[1] == REP_SUCCEEDED
    assert proxy.seen == [("10.0.0.5", 32768)]


def test_only_no_authentication_is_offered(proxy):
    sock, reply = raw_connect(proxy, b"", methods=b"\x02")  # username/password only
    with sock:
        assert reply == b"\x05\xff"


def test_bind_is_not_supported(proxy):
    sock, reply = raw_connect(proxy, connect_domain("echo.test", 80).replace(b"\x05\x01", b"\x05\x02", 1))
    with sock:
        assert reply[1] == REP_COMMAND_NOT_SUPPORTED


def test_ipv6_is_not_supported(proxy):
    sock, reply = raw_connect(proxy, bytes([5, 1, 0, 4]) + bytes(16) + b"\x00\x50")
    with sock:
        assert reply[1] == REP_ADDRESS_TYPE_NOT_SUPPORTED


def test_reply_codes(proxy):
    for name, code in [("refused.test", REP_CONNECTION_REFUSED), ("nowhere.test", REP_HOST_UNREACHABLE),
                       ("broken.test", REP_GENERAL_FAILURE)]:
        sock, reply = raw_connect(proxy, connect_domain(name, 80))
        with sock:
            assert reply[1] == code, name


def test_httpx_through_the_proxy(proxy):
    with httpx.Client(proxy=proxy.url, timeout=5) as http:
        response = http.get("http://web.test/")
    assert response.status_code == 200 and response.text == "hello"
    with httpx.Client(proxy=proxy.url, timeout=5) as http, pytest.raises(httpx.ProxyError, match="Connection refused"):
        http.get("http://refused.test/")
    with httpx.Client(proxy=proxy.url, timeout=5) as http, pytest.raises(httpx.ProxyError, match="Host unreachable"):
        http.get("http://nowhere.test/")


def curl(proxy, url: str, *extra: str) -> subprocess.CompletedProcess:
    host, port = proxy.address
    return subprocess.run(["curl", "-sS", "--socks5-hostname", f"{host}:{port}", *extra, url],
                          capture_output=True, text=True, timeout=20, env=CURL_ENV)


def test_curl_through_the_proxy(proxy):
    ok = curl(proxy, "http://web.test/")
    assert ok.returncode == 0 and ok.stdout == "hello"
    refused = curl(proxy, "http://refused.test/")
    assert refused.returncode != 0 and "refused" in refused.stderr.lower()
    unresolved = curl(proxy, "http://nowhere.test/")
    assert unresolved.returncode != 0 and "(4)" in unresolved.stderr  # curl names the SOCKS reply code


def test_dropped_connection_gets_no_reply_then_is_closed(proxy):
    sock = socket.create_connection(proxy.address, timeout=5)
    with sock:
        sock.sendall(b"\x05\x01\x00")
        assert sock.recv(2) == b"\x05\x00"
        sock.sendall(connect_domain("dropped.test", 8081))
        sock.settimeout(0.3)
        with pytest.raises(socket.timeout):
            sock.recv(10)  # nothing: the SYN was "dropped"
        sock.settimeout(5)
        # The server gave up holding it (else recv would time out): "TTL expired", then it closes.
        assert recv_exact(sock, 10) == bytes([5, REP_TTL_EXPIRED, 0, 1, 0, 0, 0, 0, 0, 0])
        assert sock.recv(10) == b""


def test_dropped_connection_is_a_client_connect_timeout(proxy):
    with client(proxy.url, timeout=0.3) as http, pytest.raises(httpx.ConnectTimeout):
        http.get("http://dropped.test:8081/")
    timed_out = curl(proxy, "http://dropped.test:8081/", "--connect-timeout", "0.3")
    assert timed_out.returncode == 28  # CURLE_OPERATION_TIMEDOUT


def test_connections_are_capped(proxy):
    held = []
    for _ in range(proxy.max_connections):
        sock = socket.create_connection(proxy.address, timeout=5)
        sock.sendall(b"\x05\x01\x00")
        assert sock.recv(2) == b"\x05\x00"
        held.append(sock)
    extra = socket.create_connection(proxy.address, timeout=5)
    with extra:
        extra.sendall(b"\x05\x01\x00")
        try:
            assert extra.recv(2) == b""  # closed at once, without an answer
        except ConnectionResetError:  # closed with our greeting unread: the kernel sends a reset
            pass
    for sock in held:
        sock.close()


def test_stop_closes_open_connections_promptly(echo):
    holding = threading.Event()
    server = Socks5Server(lambda host, port: holding.set() or Hold(60))
    server.start()
    sock = socket.create_connection(server.address, timeout=5)
    with sock:
        sock.sendall(b"\x05\x01\x00")
        assert sock.recv(2) == b"\x05\x00"
        sock.sendall(connect_domain("anything.test", 80))
        assert holding.wait(5)
        server.stop()
        assert sock.recv(10) == b""  # closed by stop, long before the 60 s hold (recv would time out at 5 s)
    assert server.connection_count == 0
