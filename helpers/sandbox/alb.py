"""The ALB emulation: what an Application Load Balancer does with each HTTP request that reaches a listener.

    request -> listener rules (the evaluator's route_request) -> action
        fixed-response / redirect    the ALB answers itself
        forward                      pick a target group (by weight), then a target in it:
                                     healthy targets, round robin (or least outstanding requests);
                                     none healthy but some registered -> all of them ("fail open");
                                     none registered -> 503
    -> the ALB-to-target leg (the evaluator's evaluate_alb_to_target: ALB SG egress, NACLs, target SG),
       then the wire (wire.py) to the target
        dropped                      the SYN is dropped: wait the 10 s connect timeout (scaled) -> 504
        refused                      nothing listens -> 502
        no answer within idle timeout (real seconds) -> 504;  reset / not HTTP -> 502
    -> the target's response, passed back to the client

AWS sources (ALB User Guide):
  "Troubleshoot your Application Load Balancers" (load-balancer-troubleshooting): 502 refused/reset/
      malformed, 503 no registered targets, 504 no connection within 10 s or no response within the
      idle timeout (default 60 s).
  "Health checks for Application Load Balancer target groups": only healthy targets get requests;
      if a target group has only unhealthy registered targets, the ALB fails open and routes to all.
  "HTTP headers and Application Load Balancers" (x-forwarded-headers): X-Forwarded-For (append mode,
      the default), X-Forwarded-Proto, X-Forwarded-Port.
  "Request tracing for your Application Load Balancer": X-Amzn-Trace-Id Root=1-<8 hex epoch>-<24 hex>.
"""

from __future__ import annotations

import logging
import random
import secrets
import socket
import threading
import time
from collections import Counter
from contextlib import contextmanager
from email.utils import formatdate
from http import HTTPStatus
from typing import Protocol
from urllib.parse import parse_qsl, urlsplit

from helpers import evaluator
from helpers.evaluator.model import INTERNET_CLIENT_IP, RuleMatch, TargetLeg
from helpers.sandbox import target_health
from helpers.sandbox.http11 import (HttpConnection, MalformedMessage, Request, Response, encode_request,
                                    encode_response, header, without)
from helpers.sandbox.moto_fixes import find_target_group, target_records
from helpers.sandbox.wire import Dropped, Refused, Wire

log = logging.getLogger("helpers.sandbox.alb")

SERVER_HEADER = "awselb/2.0"
CONNECT_TIMEOUT = 10  # AWS seconds the ALB waits for a target to accept a connection (troubleshoot guide: 504)
DEFAULT_IDLE_TIMEOUT = 60  # AWS seconds; the load balancer attribute idle_timeout.timeout_seconds
# The reason phrases real ALBs send with their own errors.
REASONS = {400: "Bad Request", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Temporarily Unavailable",
           504: "Gateway Time-out"}


class RegionView(Protocol):
    """What the ALB needs to know about the region. `SandboxView` reads the sandbox; tests use fakes."""

    def route(self, listener_arn: str, *, path: str, host: str | None, method: str, headers: dict,
              query: dict, source_ip: str) -> RuleMatch: ...

    def target_leg(self, load_balancer_arn: str, target_id: str, port: int) -> TargetLeg: ...

    def targets(self, target_group_arn: str) -> list[dict]: ...  # target records (docs/ARCHITECTURE.md)

    def target_group_attribute(self, target_group_arn: str, key: str) -> str | None: ...

    def load_balancer_attribute(self, load_balancer_arn: str, key: str) -> str | None: ...

    def target_group_vpc(self, target_group_arn: str) -> str | None: ...  # where an ip target's address is

    def real(self, aws_seconds: float) -> float: ...  # the sandbox's time scale


class SandboxView:
    """RegionView for the running sandbox: rules and paths from the evaluator on a recent snapshot (so an
    API change shows within a second), target states and attributes from moto's models (under
    `ctx.lock`), listening ports from the container runtime."""

    def __init__(self, ctx) -> None:
        self.ctx = ctx

    def snapshot(self):
        """The region as of its latest change (`ctx.snapshot()` re-reads only after a change)."""
        return self.ctx.snapshot()

    def route(self, listener_arn, **request) -> RuleMatch:
        return evaluator.route_request(self.snapshot(), listener_arn, **request)

    def target_leg(self, load_balancer_arn, target_id, port) -> TargetLeg:
        return evaluator.evaluate_alb_to_target(self.snapshot(), load_balancer_arn, target_id, port)

    def targets(self, target_group_arn) -> list[dict]:
        with self.ctx.lock:
            target_group = find_target_group(self.ctx, target_group_arn)
            return [dict(record) for record in target_records(target_group)] if target_group else []

    def target_group_attribute(self, target_group_arn, key) -> str | None:
        with self.ctx.lock:
            target_group = self.ctx.elbv2().target_groups.get(target_group_arn)
            return target_group.attributes.get(key) if target_group else None

    def load_balancer_attribute(self, load_balancer_arn, key) -> str | None:
        with self.ctx.lock:
            load_balancer = self.ctx.elbv2().load_balancers.get(load_balancer_arn)
            return load_balancer.attrs.get(key) if load_balancer else None

    def target_group_vpc(self, target_group_arn) -> str | None:
        with self.ctx.lock:
            target_group = self.ctx.elbv2().target_groups.get(target_group_arn)
            return target_group.vpc_id if target_group else None

    def real(self, aws_seconds) -> float:
        return self.ctx.timescale.real(aws_seconds)


def alb_response(status: int, reason: str, body: bytes, content_type: str, extra: list | None = None) -> Response:
    headers = [("Server", SERVER_HEADER), ("Date", formatdate(usegmt=True)), ("Content-Type", content_type)]
    return Response(status, reason, headers + (extra or []), body)


def reason_phrase(status: int) -> str:
    if status in REASONS:
        return REASONS[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def error_page(status: int) -> Response:
    """The small HTML page the ALB itself answers with (Server: awselb/2.0)."""
    title = f"{status} {REASONS[status]}"
    body = f"<html><head><title>{title}</title></head><body><center><h1>{title}</h1></center></body></html>"
    return alb_response(status, REASONS[status], body.encode(), "text/html")


def trace_id(existing: str | None) -> str:
    """X-Amzn-Trace-Id as the ALB sets it: a new Root if the client sent none; otherwise a Self field is
    added (or updated) and the client's fields are kept."""
    new = f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"
    if not existing:
        return f"Root={new}"
    fields = [f.strip() for f in existing.split(";") if f.strip()]
    if any(f.startswith("Self=") for f in fields):
        return ";".join(f"Self={new}" if f.startswith("Self=") else f for f in fields)
    if any(f.startswith("Root=") for f in fields):
        return ";".join([f"Self={new}"] + fields)
    return ";".join([f"Root={new}"] + fields)


def forwarded(request: Request, listener_port: int, client_ip: str = INTERNET_CLIENT_IP) -> Request:
    """The request as the target receives it: Host kept, X-Forwarded-* and X-Amzn-Trace-Id set."""
    xff = header(request.headers, "X-Forwarded-For")
    trace = trace_id(header(request.headers, "X-Amzn-Trace-Id"))
    headers = without(request.headers, {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-port", "x-amzn-trace-id"})
    headers += [
        ("X-Forwarded-For", f"{xff}, {client_ip}" if xff else client_ip),  # "append", the default mode
        ("X-Forwarded-Proto", "http"),
        ("X-Forwarded-Port", str(listener_port)),
        ("X-Amzn-Trace-Id", trace),
    ]
    return Request(request.method, request.target, "HTTP/1.1", headers, request.body)


class TargetChooser:
    """Which target gets the next request, per target group (the TG attribute
    load_balancing.algorithm.type: round_robin (default), least_outstanding_requests, weighted_random)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._turn: Counter = Counter()  # round-robin position per target group
        self._outstanding: Counter = Counter()  # requests in flight per (target group, id, port)

    def reset(self) -> None:
        with self._lock:
            self._turn.clear()
            self._outstanding.clear()

    def choose(self, target_group_arn: str, records: list[dict], algorithm: str | None) -> dict | None:
        routable = [r for r in records if r["State"] == target_health.HEALTHY]
        if not routable:  # fail open: every registered target, whatever its health
            routable = [r for r in records if r["State"] not in target_health.NOT_ROUTABLE]
        if not routable:
            return None
        routable.sort(key=lambda r: (r["Id"], int(r["Port"])))
        with self._lock:
            if algorithm == "weighted_random":  # equal weights unless anomaly mitigation (not modelled)
                return random.choice(routable)
            if algorithm == "least_outstanding_requests":
                fewest = min(self._outstanding[self._key(target_group_arn, r)] for r in routable)
                routable = [r for r in routable if self._outstanding[self._key(target_group_arn, r)] == fewest]
            turn = self._turn[target_group_arn]
            self._turn[target_group_arn] += 1
            return routable[turn % len(routable)]

    @contextmanager
    def in_flight(self, target_group_arn: str, record: dict):
        key = self._key(target_group_arn, record)
        with self._lock:
            self._outstanding[key] += 1
        try:
            yield
        finally:
            with self._lock:
                self._outstanding[key] -= 1

    @staticmethod
    def _key(target_group_arn: str, record: dict) -> tuple:
        return target_group_arn, record["Id"], int(record["Port"])


class AlbEmulator:
    """Serves HTTP/1.1 on client connections that reached a listener. `connections` is the SOCKS5 server:
    it tracks the sockets opened to targets (so stopping cuts them) and says when to stop. `wire` is
    how the ALB reaches a target, once the evaluator has judged the path there."""

    def __init__(self, view: RegionView, connections, wire: Wire) -> None:
        self.view = view
        self.connections = connections
        self.wire = wire
        self.chooser = TargetChooser()

    def reset(self) -> None:
        self.chooser.reset()

    def serve(self, sock: socket.socket, *, load_balancer_arn: str, listener_arn: str, listener_port: int) -> None:
        """Answer requests on one client connection until the client closes it, asks to close, goes
        idle (the socket's timeout), or sends something that is not HTTP."""
        client = HttpConnection(sock)
        while not self.connections.stopping.is_set():
            try:
                request = client.read_request()
            except socket.timeout:
                return
            except MalformedMessage:
                sock.sendall(encode_response(error_page(400), keep_alive=False))
                return
            if request is None:
                return
            try:
                response = self.handle(request, load_balancer_arn=load_balancer_arn, listener_arn=listener_arn,
                                       listener_port=listener_port)
            except LookupError:  # the listener was deleted while this connection was open
                return
            except Exception:  # a fault inside the sandbox: answer as the ALB does for its own errors
                log.exception("the ALB emulation failed on %s %s", request.method, request.target)
                sock.sendall(encode_response(error_page(500), keep_alive=False))
                return
            sock.sendall(encode_response(response, keep_alive=request.keep_alive, head_only=request.method == "HEAD"))
            if not request.keep_alive:
                return

    def handle(self, request: Request, *, load_balancer_arn: str, listener_arn: str, listener_port: int) -> Response:
        url = urlsplit(request.target)  # origin form "/path?q" (absolute form is accepted too)
        host_header = header(request.headers, "Host") or url.netloc
        host = urlsplit(f"//{host_header}").hostname if host_header else None
        match = self.view.route(
            listener_arn, path=url.path or "/", host=host, method=request.method,
            headers={name: value for name, value in request.headers},
            query=dict(parse_qsl(url.query, keep_blank_values=True)), source_ip=INTERNET_CLIENT_IP)
        if match.action_type == "fixed-response":
            return self._fixed_response(match.fixed_response or {})
        if match.action_type == "redirect":
            return self._redirect(match.redirect or {}, url, host, listener_port)
        return self._forward(request, match, load_balancer_arn, listener_port)

    # -- the ALB answers itself --------------------------------------------------------------------
    @staticmethod
    def _fixed_response(config: dict) -> Response:
        status = int(config.get("StatusCode", "200"))
        return alb_response(status, reason_phrase(status), (config.get("MessageBody") or "").encode(),
                            config.get("ContentType") or "text/plain")

    @staticmethod
    def _redirect(config: dict, url, host: str | None, listener_port: int) -> Response:
        """Location from the redirect action; "#{protocol}", "#{host}", "#{port}", "#{path}" and
        "#{query}" keep the request's values (ALB guide, "Redirect actions")."""
        values = {"protocol": "http", "host": host or "", "port": str(listener_port),
                  "path": (url.path or "/").lstrip("/"), "query": url.query}

        def fill(template: str) -> str:
            for name, value in values.items():
                template = template.replace("#{" + name + "}", value)
            return template

        protocol = fill(config.get("Protocol", "#{protocol}")).lower()
        port = fill(config.get("Port", "#{port}"))
        default_port = {"http": "80", "https": "443"}.get(protocol)
        location = f"{protocol}://{fill(config.get('Host', '#{host}'))}"
        location += "" if port == default_port else f":{port}"
        location += fill(config.get("Path", "/#{path}"))
        query = fill(config.get("Query", "#{query}"))
        location += f"?{query}" if query else ""
        status = 301 if config.get("StatusCode", "HTTP_301") == "HTTP_301" else 302
        return alb_response(status, reason_phrase(status), b"", "text/html", [("Location", location)])

    # -- forward ----------------------------------------------------------------------------------
    def _forward(self, request: Request, match: RuleMatch, load_balancer_arn: str, listener_port: int) -> Response:
        weighted = [(arn, weight) for arn, weight in match.target_groups if weight > 0]
        if not weighted:
            return error_page(503)
        arns, weights = zip(*weighted)
        target_group_arn = arns[0] if len(arns) == 1 else random.choices(arns, weights)[0]
        algorithm = self.view.target_group_attribute(target_group_arn, "load_balancing.algorithm.type")
        record = self.chooser.choose(target_group_arn, self.view.targets(target_group_arn), algorithm)
        if record is None:
            return error_page(503)  # no registered targets
        with self.chooser.in_flight(target_group_arn, record):
            return self._send_to_target(forwarded(request, listener_port), load_balancer_arn,
                                        record["Id"], int(record["Port"]), self.view.target_group_vpc(target_group_arn))

    def _send_to_target(self, request: Request, load_balancer_arn: str, target_id: str, port: int,
                        vpc_id: str | None) -> Response:
        leg = self.view.target_leg(load_balancer_arn, target_id, port)
        # Dropped: an SG or NACL drops the ALB's SYN (or the answer), nothing comes back, and the ALB
        # gives up after its connect timeout - a simulated wait, on the sandbox's clock. Refused: the
        # instance answers the SYN with a reset, nothing listens there. A target that is there is
        # waited for in real seconds, as AWS waits: a slow answer on a busy machine is no 504.
        connection = self.wire.connect(target_id, port, vpc_id=vpc_id, path_open=leg.reachable, timeout=CONNECT_TIMEOUT,
                                       dropped_wait=self.view.real(CONNECT_TIMEOUT), cancel=self.connections.stopping)
        if isinstance(connection, Dropped):
            return error_page(504)
        if isinstance(connection, Refused):
            return error_page(502)
        idle = self.view.load_balancer_attribute(load_balancer_arn, "idle_timeout.timeout_seconds")
        idle_timeout = float(idle or DEFAULT_IDLE_TIMEOUT)
        upstream = connection.sock
        self.connections.track(upstream)
        try:
            upstream.settimeout(idle_timeout)
            upstream.sendall(encode_request(request))
            return HttpConnection(upstream).read_response(request.method)
        except socket.timeout:
            return error_page(504)  # the target said nothing for the idle timeout
        except (MalformedMessage, OSError) as exc:
            log.debug("target %s:%d failed: %s", target_id, port, exc)
            return error_page(502)
        finally:
            self.connections.untrack(upstream)
