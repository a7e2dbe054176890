"""A small SOCKS5 server (RFC 1928): the door through which a client on this laptop reaches "the internet"
of the sandbox.

Only what curl and httpx need: the "no authentication" method and the CONNECT command with a domain name
(`socks5h://`, `curl --socks5-hostname`: the *proxy* resolves the name, so ALB and EC2 public DNS names
work) or an IPv4 address. What happens to each CONNECT is decided by a `route(host, port)` callback:

    Refuse(code)     answer with an RFC 1928 error code (REP_HOST_UNREACHABLE, REP_CONNECTION_REFUSED, ...)
    Hold(seconds)    answer nothing: the client waits until its own connect timeout fires - what a dropped
                     SYN looks like. A client still waiting after `seconds` gets 0x06 "TTL expired" (the
                     network gave up), and the connection is closed, so nothing leaks
    Serve(handler)   answer "succeeded", then `handler(sock)` owns the conversation

The server never connects anywhere by itself; handlers decide (the sandbox's connect only to loopback).
"""

from __future__ import annotations

import ipaddress
import logging
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass
from typing import Callable, Union

log = logging.getLogger("helpers.sandbox.socks5")

SOCKS_VERSION = 5
METHOD_NO_AUTH = 0x00
METHOD_NONE_ACCEPTABLE = 0xFF
CMD_CONNECT = 0x01
ATYP_IPV4, ATYP_DOMAIN, ATYP_IPV6 = 0x01, 0x03, 0x04

# Reply codes, RFC 1928 section 6.
REP_SUCCEEDED = 0x00
REP_GENERAL_FAILURE = 0x01
REP_NOT_ALLOWED = 0x02
REP_NETWORK_UNREACHABLE = 0x03
REP_HOST_UNREACHABLE = 0x04
REP_CONNECTION_REFUSED = 0x05
REP_TTL_EXPIRED = 0x06
REP_COMMAND_NOT_SUPPORTED = 0x07
REP_ADDRESS_TYPE_NOT_SUPPORTED = 0x08


@dataclass(frozen=True)
class Refuse:
    code: int


@dataclass(frozen=True)
class Hold:
    seconds: float


@dataclass(frozen=True)
class Serve:
    handler: Callable[[socket.socket], None]


Decision = Union[Refuse, Hold, Serve]


class HandshakeError(Exception):
    """The client broke the protocol; the connection is closed without more ado."""


def recv_exact(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise HandshakeError("client closed the connection during the handshake")
        data += chunk
    return data


def reply(code: int) -> bytes:
    """VER REP RSV ATYP BND.ADDR BND.PORT. The bound address means nothing here (no real outbound
    socket), so it is 0.0.0.0:0, as many servers send."""
    return struct.pack("!BBBB4sH", SOCKS_VERSION, code, 0, ATYP_IPV4, b"\0\0\0\0", 0)


class Socks5Server:
    """Thread per connection, at most `max_connections` at once (more are closed at once), every
    connection closed after `idle_timeout` seconds without traffic by the handlers that use `idle_timeout`."""

    def __init__(self, route: Callable[[str, int], Decision], *, max_connections: int = 256,
                 handshake_timeout: float = 10.0, idle_timeout: float = 60.0) -> None:
        self.route = route
        self.max_connections = max_connections
        self.handshake_timeout = handshake_timeout
        self.idle_timeout = idle_timeout
        self.stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()  # every socket a connection uses, closed on stop
        self._threads: set[threading.Thread] = set()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        self.stopping.clear()
        listener = socket.create_server((host, port))
        listener.settimeout(0.2)  # so the accept loop notices stop() promptly
        self._listener = listener
        self._accept_thread = threading.Thread(target=self._accept_loop, name="socks5-accept", daemon=True)
        self._accept_thread.start()
        return self.address

    @property
    def address(self) -> tuple[str, int]:
        if self._listener is None:
            raise RuntimeError("the SOCKS5 server is not running")
        return self._listener.getsockname()[:2]

    def stop(self) -> None:
        self.stopping.set()
        if self._listener is not None:
            self._listener.close()
        if self._accept_thread is not None:
            self._accept_thread.join(timeout=2)
        self.close_connections()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=2)
        self._listener = None
        self._accept_thread = None

    def close_connections(self) -> None:
        """Cut every open connection (their threads wake up and end)."""
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            shutdown_quietly(sock)

    @property
    def connection_count(self) -> int:
        with self._lock:
            return len(self._threads)

    # -- sockets a handler opens are tracked too, so stop() can cut them -----------------------
    def track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)
        if self.stopping.is_set():
            shutdown_quietly(sock)

    def untrack(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        sock.close()

    # -- connections ---------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:  # the listener was closed by stop()
                return
            with self._lock:
                full = len(self._threads) >= self.max_connections
                if not full:
                    thread = threading.Thread(target=self._serve_connection, args=(sock,), name="socks5-conn", daemon=True)
                    self._threads.add(thread)
                    self._sockets.add(sock)
            if full:
                log.warning("SOCKS5: %d connections open, refusing a new one", self.max_connections)
                sock.close()
                continue
            thread.start()

    def _serve_connection(self, sock: socket.socket) -> None:
        try:
            sock.settimeout(self.handshake_timeout)
            host, port = self._handshake(sock)
            decision = self._decide(host, port)
            if isinstance(decision, Refuse):
                sock.sendall(reply(decision.code))
            elif isinstance(decision, Hold):
                self._hold(sock, decision.seconds)
            else:
                sock.sendall(reply(REP_SUCCEEDED))
                sock.settimeout(self.idle_timeout)
                decision.handler(sock)
        except (HandshakeError, OSError) as exc:
            log.debug("SOCKS5 connection ended: %s", exc)
        except Exception:  # a bug in a handler ends this connection only
            log.exception("SOCKS5 connection handler failed")
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())
            self.untrack(sock)

    def _decide(self, host: str, port: int) -> Decision:
        try:
            return self.route(host, port)
        except Exception:  # a bug in routing must not leave the client hanging
            log.exception("SOCKS5: deciding %s:%d failed", host, port)
            return Refuse(REP_GENERAL_FAILURE)

    def _handshake(self, sock: socket.socket) -> tuple[str, int]:
        version, method_count = recv_exact(sock, 2)
        if version != SOCKS_VERSION:
            raise HandshakeError(f"not SOCKS5 (version byte {version})")
        methods = recv_exact(sock, method_count)
        if METHOD_NO_AUTH not in methods:
            sock.sendall(bytes([SOCKS_VERSION, METHOD_NONE_ACCEPTABLE]))
            raise HandshakeError("the client offers no method we support (only 'no authentication')")
        sock.sendall(bytes([SOCKS_VERSION, METHOD_NO_AUTH]))

        version, command, _, address_type = recv_exact(sock, 4)
        if version != SOCKS_VERSION:
            raise HandshakeError(f"bad request version {version}")
        if address_type == ATYP_IPV4:
            host = str(ipaddress.IPv4Address(recv_exact(sock, 4)))
        elif address_type == ATYP_DOMAIN:
            name = recv_exact(sock, recv_exact(sock, 1)[0])
            try:
                host = name.decode("idna").rstrip(".").lower()
            except UnicodeError:  # bytes that are no host name: no such host, as a resolver would say
                recv_exact(sock, 2)
                sock.sendall(reply(REP_HOST_UNREACHABLE))
                raise HandshakeError(f"not a host name: {name!r}") from None
        elif address_type == ATYP_IPV6:
            recv_exact(sock, 16 + 2)
            sock.sendall(reply(REP_ADDRESS_TYPE_NOT_SUPPORTED))  # the sandbox's VPCs are IPv4 only
            raise HandshakeError("IPv6 destination")
        else:
            sock.sendall(reply(REP_ADDRESS_TYPE_NOT_SUPPORTED))
            raise HandshakeError(f"unknown address type {address_type}")
        (port,) = struct.unpack("!H", recv_exact(sock, 2))
        if command != CMD_CONNECT:
            sock.sendall(reply(REP_COMMAND_NOT_SUPPORTED))  # BIND and UDP ASSOCIATE are not offered
            raise HandshakeError(f"command {command} not supported")
        return host, port

    def _hold(self, sock: socket.socket, seconds: float) -> None:
        """Say nothing until the client gives up (closes) or `seconds` pass or the server stops.
        A client still there after `seconds` hears "TTL expired": closing without a reply would
        look like a proxy that broke, not like a network that dropped its packets."""
        deadline = time.monotonic() + seconds
        while not self.stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                sock.sendall(reply(REP_TTL_EXPIRED))
                return
            readable, _, _ = select.select([sock], [], [], min(remaining, 0.2))
            if readable and not sock.recv(4096):
                return  # the client's connect timeout fired and it closed


def shutdown_quietly(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def splice(a: socket.socket, b: socket.socket, *, idle_timeout: float, stopping: threading.Event) -> None:
    """Copy bytes both ways until either side closes, nothing moves for `idle_timeout`, or `stopping`."""
    peers = {a: b, b: a}
    open_for_reading = {a, b}
    last_traffic = time.monotonic()
    while open_for_reading and not stopping.is_set():
        readable, _, _ = select.select(list(open_for_reading), [], [], 0.2)
        if not readable:
            if time.monotonic() - last_traffic > idle_timeout:
                return
            continue
        last_traffic = time.monotonic()
        for source in readable:
            data = source.recv(65536)
            if data:
                peers[source].sendall(data)
            else:  # half-close: pass the EOF on, keep the other direction going
                open_for_reading.discard(source)
                try:
                    peers[source].shutdown(socket.SHUT_WR)
                except OSError:
                    return
