"""The data plane: "the internet" for a client on this laptop, and the ALB behind it.

A client connects through the SOCKS5 proxy (`socks_proxy`, e.g. `curl --socks5-hostname 127.0.0.1:PORT
http://<ALB DNS name>/`). For every CONNECT the evaluator walks the path from the internet to that
name or address and port, on a snapshot at most 0.25 s old, and the proxy behaves as AWS's network would:

    unresolved    no such name or address in the region   -> SOCKS reply 0x04 "host unreachable"
                  (the sandbox's stand-in for a DNS failure: the client reports it like one)
    dropped       a route, NACL or SG drops the SYN        -> no reply at all: the client's connect
                  timeout fires (after `hold_seconds` the sandbox answers "TTL expired" and closes)
    no_listener   the ALB's SG admits the port but no listener is there. AWS does not document what a
                  client sees (FACTS.md, "Unconfirmed"); the sandbox treats it as a drop and says so
    instance      an instance port, admitted by SGs and NACLs -> over the wire (wire.py): the bytes go to
                  whatever container listens on that instance port, or SOCKS reply 0x05 "connection
                  refused" if none does
    listener      an ALB listener                           -> the ALB emulation (alb.py) serves HTTP/1.1
"""

from __future__ import annotations

import logging
import socket
import time
from functools import partial

from helpers import evaluator
from helpers.evaluator import Flow
from helpers.facts import PORT_MAX, PORT_MIN
from helpers.sandbox.alb import CONNECT_TIMEOUT, AlbEmulator, SandboxView
from helpers.sandbox.socks5 import (REP_CONNECTION_REFUSED, REP_GENERAL_FAILURE, REP_HOST_UNREACHABLE, Decision,
                                    Hold, Refuse, Serve, Socks5Server, splice)
from helpers.sandbox.wire import Dropped, Refused, sandbox_wire

log = logging.getLogger("helpers.sandbox.dataplane")


class DataPlane:
    # Real seconds a dropped connection is held unanswered before the sandbox gives up on it (SOCKS
    # "TTL expired"): three times the longest timeout the course's requests use (10 s), so their own
    # timeout always fires first, as with a real dropped SYN; short enough that held sockets do not
    # pile up.
    hold_seconds: float = 30.0
    # Real seconds without traffic after which a client connection (or a raw relay) is closed.
    idle_timeout: float = 60.0
    max_connections: int = 256
    # Real seconds a CONNECT's decision may take before the log says so: the client's timeout counts
    # it, so a slow decision looks like a dropped packet to the client.
    slow_decision_seconds: float = 1.0

    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self.server = Socks5Server(self.route, max_connections=self.max_connections, idle_timeout=self.idle_timeout)
        self.view = SandboxView(ctx)
        self.wire = sandbox_wire(ctx)
        self.alb = AlbEmulator(self.view, self.server, self.wire)
        self.socks_proxy: str | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        host, port = self.server.start("127.0.0.1", 0)
        self.socks_proxy = f"socks5h://{host}:{port}"

    def stop(self) -> None:
        self.server.stop()
        self.socks_proxy = None

    def reset(self) -> None:
        """The region was emptied: cut open connections and forget round-robin positions."""
        self.server.close_connections()
        self.alb.reset()

    # -- one CONNECT ---------------------------------------------------------------------------------
    def route(self, host: str, port: int) -> Decision:
        self.ctx.usage.touch()  # a connection through the proxy is a use of the sandbox (idle.py)
        if not PORT_MIN <= port <= PORT_MAX:
            return Refuse(REP_GENERAL_FAILURE)
        started = time.monotonic()
        verdict = evaluator.evaluate(self.view.snapshot(), Flow(destination=host, port=port, source="internet"))
        took = time.monotonic() - started
        log.debug("CONNECT %s:%d -> %s", host, port, verdict.outcome)
        if took > self.slow_decision_seconds:
            log.warning("CONNECT %s:%d -> %s took %.1f s to decide (the client's timeout counts it)",
                        host, port, verdict.outcome, took)
        if verdict.outcome == "unresolved":
            return Refuse(REP_HOST_UNREACHABLE)
        if verdict.outcome in ("dropped", "no_listener", "instance"):
            return self._to_instance(verdict, host, port)
        if verdict.outcome == "listener":
            return Serve(partial(self.alb.serve, load_balancer_arn=verdict.load_balancer_arn,
                                 listener_arn=verdict.listener_arn, listener_port=port))
        log.error("unknown verdict outcome %r for %s:%d", verdict.outcome, host, port)
        return Refuse(REP_GENERAL_FAILURE)

    def _to_instance(self, verdict, host: str, port: int) -> Decision:
        """A dropped path, or an instance port the path reaches: over the wire."""
        reached = verdict.outcome == "instance"
        # A dropped SYN is waited out by the client itself: the SOCKS server holds its connection
        # unanswered (`Hold`), so the wire does not wait. A container that is there gets real
        # seconds to accept (as the ALB gives it, alb.py): a busy machine must not look like a drop.
        connection = self.wire.connect(verdict.instance_id if reached else host,
                                       verdict.instance_port if reached else port,
                                       path_open=reached, timeout=CONNECT_TIMEOUT, dropped_wait=0)
        if isinstance(connection, Dropped):
            return Hold(self.hold_seconds)
        if isinstance(connection, Refused):
            return Refuse(REP_CONNECTION_REFUSED)  # the instance answers the SYN with a reset
        self.server.track(connection.sock)  # from now on, stopping the server cuts it
        return Serve(partial(self._relay, upstream=connection.sock))

    def _relay(self, client: socket.socket, *, upstream: socket.socket) -> None:
        """Raw TCP both ways between the client and the container process."""
        try:
            splice(client, upstream, idle_timeout=self.idle_timeout, stopping=self.server.stopping)
        finally:
            self.server.untrack(upstream)
