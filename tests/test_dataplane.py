"""The ALB emulation and the data plane, with small fakes for the region; then end to end in a sandbox."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from helpers.evaluator.model import Explanation, Flow, RuleMatch, TargetLeg, Verdict
from helpers.sandbox.alb import AlbEmulator, TargetChooser, forwarded, trace_id
from helpers.sandbox.dataplane import DataPlane
from helpers.sandbox.http11 import HttpConnection, Request
from helpers.sandbox.region import Sandbox
from helpers.sandbox.socks5 import REP_TTL_EXPIRED, Serve, Socks5Server
from helpers.sandbox.idle import Usage
from helpers.sandbox.timescale import TimeScale
from helpers.sandbox.wire import Wire
from helpers.stack import StackSpec, build_stack
from helpers.traffic import client, request, request_many
from helpers.waiters import wait_until

pytestmark = pytest.mark.timeout(60)

LB = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/lab-alb/1"
LISTENER = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/lab-alb/1/80"
TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/lab-tg/1"
TRACE = re.compile(r"^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$")


# -- fakes ------------------------------------------------------------------------------------------
class Backend:
    """A target: an HTTP server on loopback that answers JSON naming itself and echoing the request."""

    def __init__(self, name: str, delay: float = 0.0) -> None:
        identity = {"name": name}

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                time.sleep(delay)
                page = json.dumps(dict(identity, path=self.path, headers=dict(self.headers), body=body.decode())).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            do_GET = do_POST = _answer

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = self.server.server_address[:2]
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class GarbageServer:
    """Answers anything with bytes that are not HTTP."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = self.listener.getsockname()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(b"SSH-2.0-OpenSSH_9.0\r\n")

    def close(self) -> None:
        self.listener.close()


def record(target_id: str, port: int, state: str = "healthy") -> dict:
    """A target record as docs/ARCHITECTURE.md describes them."""
    return {"Id": target_id, "Port": port, "State": state, "Reason": None, "Description": None}


@dataclass
class FakeRegion:
    """RegionView with the answers set by the test."""

    match: RuleMatch = field(default_factory=lambda: RuleMatch(LISTENER, "default-rule", "default", "forward", ((TG, 1),)))
    records: dict = field(default_factory=dict)  # target group ARN -> target records
    endpoints: dict = field(default_factory=dict)  # (id, port) -> (host, port)
    blocked: set = field(default_factory=set)  # (id, port) the ALB cannot reach
    tg_attributes: dict = field(default_factory=dict)
    lb_attributes: dict = field(default_factory=dict)
    factor: float = 0.01
    routed: list = field(default_factory=list)

    def route(self, listener_arn, *, path, host, method, headers, query, source_ip):
        self.routed.append(dict(listener_arn=listener_arn, path=path, host=host, method=method, query=query,
                                source_ip=source_ip))
        return self.match

    def target_leg(self, load_balancer_arn, target_id, port):
        blockers = ()
        if (target_id, port) in self.blocked:
            blockers = (Explanation("ENI_SG_RULES_MISMATCH", "sg-host", "no rule admits the ALB", "add one"),)
        return TargetLeg(TG, target_id, port, "healthy", (), blockers)

    def targets(self, target_group_arn):
        return [dict(r) for r in self.records.get(target_group_arn, [])]

    def target_group_attribute(self, target_group_arn, key):
        return self.tg_attributes.get(key)

    def load_balancer_attribute(self, load_balancer_arn, key):
        return self.lb_attributes.get(key)

    def target_group_vpc(self, target_group_arn):
        return "vpc-fake"

    def endpoint(self, target_id, port, vpc_id=None):  # what listens there: the ALB's wire asks
        return self.endpoints.get((target_id, port))

    def real(self, aws_seconds):
        return aws_seconds * self.factor


@pytest.fixture
def backends():
    started = {name: Backend(name) for name in ("a", "b", "c")}
    yield started
    for backend in started.values():
        backend.close()


@pytest.fixture
def region(backends):
    """Three healthy targets i-a:32768, i-b:32769, i-c:32770, each served by its backend."""
    fake = FakeRegion()
    ids = {"a": ("i-a", 32768), "b": ("i-b", 32769), "c": ("i-c", 32770)}
    fake.records[TG] = [record(*ids[name]) for name in ("a", "b", "c")]
    fake.endpoints = {ids[name]: backend.address for name, backend in backends.items()}
    return fake


@pytest.fixture
def alb(region):
    """An ALB listening on port 80 behind a SOCKS5 server; `alb.url` is its address for clients."""
    server = Socks5Server(lambda host, port: Serve(partial(emulator.serve, load_balancer_arn=LB,
                                                           listener_arn=LISTENER, listener_port=port)))
    emulator = AlbEmulator(region, server, Wire(region.endpoint))
    host, port = server.start()
    emulator.proxy = f"socks5h://{host}:{port}"
    yield emulator
    server.stop()


def get(alb, path: str = "/", **kwargs) -> httpx.Response:
    with client(alb.proxy, timeout=5) as http:
        return http.get(f"http://lab-alb-1.us-east-1.elb.amazonaws.com{path}", **kwargs)


def assert_alb_error(response: httpx.Response, status: int, title: str) -> None:
    assert response.status_code == status
    assert response.headers["server"] == "awselb/2.0"
    assert response.headers["content-type"] == "text/html"
    assert f"<title>{status} {title}</title>" in response.text


# -- the ALB ---------------------------------------------------------------------------------------
def test_forwarded_request_carries_the_alb_headers(alb, region):
    response = get(alb, "/app?x=1", headers={"X-Forwarded-For": "198.51.100.7"})
    assert response.status_code == 200
    seen = response.json()["headers"]
    assert seen["X-Forwarded-For"] == "198.51.100.7, 203.0.113.10"  # appended
    assert seen["X-Forwarded-Proto"] == "http"
    assert seen["X-Forwarded-Port"] == "80"
    assert TRACE.match(seen["X-Amzn-Trace-Id"])
    assert seen["Host"] == "lab-alb-1.us-east-1.elb.amazonaws.com"
    assert response.json()["path"] == "/app?x=1"
    assert region.routed[-1] == dict(listener_arn=LISTENER, path="/app", host="lab-alb-1.us-east-1.elb.amazonaws.com",
                                     method="GET", query={"x": "1"}, source_ip="203.0.113.10")


def test_trace_id_root_self_and_custom_fields():
    assert TRACE.match(trace_id(None))
    root = "Root=1-67891233-abcdef012345678912345678"
    with_self = trace_id(root + ";CalledFrom=app")
    assert re.match(r"^Self=1-[0-9a-f]{8}-[0-9a-f]{24};" + re.escape(root) + ";CalledFrom=app$", with_self)
    updated = trace_id("Self=1-00000000-000000000000000000000000;" + root)
    assert updated.endswith(";" + root) and "00000000-0000" not in updated
    plain = forwarded(Request("GET", "/", "HTTP/1.1", [("Host", "h")]), 8080)
    assert dict(plain.headers)["X-Forwarded-For"] == "203.0.113.10"
    assert dict(plain.headers)["X-Forwarded-Port"] == "8080"


def test_round_robin_across_three_targets(alb):
    with client(alb.proxy, timeout=5) as http:
        names = [http.get("http://lab-alb.test/").json()["name"] for _ in range(30)]
    assert Counter(names) == {"a": 10, "b": 10, "c": 10}
    assert names[:6] == ["a", "b", "c", "a", "b", "c"]


def test_only_healthy_targets_get_requests(alb, region):
    region.records[TG][1]["State"] = "unhealthy"
    region.records[TG][2]["State"] = "draining"
    region.records[TG].append(record("i-d", 32771, "initial"))
    assert {get(alb).json()["name"] for _ in range(6)} == {"a"}


def test_fail_open_when_no_target_is_healthy(alb, region):
    region.records[TG][0]["State"] = "unhealthy"
    region.records[TG][1]["State"] = "initial"
    region.records[TG][2]["State"] = "draining"  # leaving: never gets new requests
    assert Counter(get(alb).json()["name"] for _ in range(6)) == {"a": 3, "b": 3}


def test_503_without_registered_targets(alb, region):
    region.records[TG] = []
    assert_alb_error(get(alb), 503, "Service Temporarily Unavailable")
    region.records[TG] = [record("i-a", 32768, "draining")]
    assert_alb_error(get(alb), 503, "Service Temporarily Unavailable")


def test_502_when_nothing_listens_or_the_target_refuses(alb, region):
    region.endpoints.pop(("i-a", 32768))  # no container on that host port
    assert_alb_error(get(alb), 502, "Bad Gateway")
    closed = socket.create_server(("127.0.0.1", 0))
    region.endpoints[("i-b", 32769)] = closed.getsockname()
    closed.close()  # nothing listens there any more: connection refused
    assert_alb_error(get(alb), 502, "Bad Gateway")
    assert get(alb).json()["name"] == "c"


def test_502_on_a_malformed_response(alb, region):
    garbage = GarbageServer()
    try:
        region.records[TG] = [record("i-a", 32768)]
        region.endpoints[("i-a", 32768)] = garbage.address
        assert_alb_error(get(alb), 502, "Bad Gateway")
    finally:
        garbage.close()


def test_504_when_the_path_to_the_target_is_blocked(alb, region):
    region.records[TG] = [record("i-a", 32768)]
    region.blocked.add(("i-a", 32768))
    # 504, not 502: the SYN was dropped (the ALB waited out its connect timeout), not refused.
    assert_alb_error(get(alb), 504, "Gateway Time-out")


def test_504_when_the_target_is_slower_than_the_idle_timeout(alb, region):
    slow = Backend("slow", delay=1.5)
    try:
        region.records[TG] = [record("i-s", 32768)]
        region.endpoints[("i-s", 32768)] = slow.address
        region.lb_attributes["idle_timeout.timeout_seconds"] = "1"  # AWS's smallest; real seconds
        assert_alb_error(get(alb), 504, "Gateway Time-out")
        region.lb_attributes["idle_timeout.timeout_seconds"] = "60"
        assert get(alb).json()["name"] == "slow"
    finally:
        slow.close()


def test_a_slow_target_is_waited_for_in_real_seconds_not_scaled_ones(alb, region):
    # 10 AWS seconds would be 0.1 s on the sandbox's clock: the answer after 0.5 s must still count.
    slow = Backend("slow", delay=0.5)
    try:
        region.records[TG] = [record("i-s", 32768)]
        region.endpoints[("i-s", 32768)] = slow.address
        region.lb_attributes["idle_timeout.timeout_seconds"] = "10"
        assert get(alb).json()["name"] == "slow"
    finally:
        slow.close()


def test_keep_alive_with_chunked_and_sized_bodies(alb):
    host, port = alb.proxy.removeprefix("socks5h://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    with sock:
        sock.sendall(b"\x05\x01\x00")
        assert sock.recv(2) == b"\x05\x00"
        name = b"lab-alb.test"
        sock.sendall(bytes([5, 1, 0, 3, len(name)]) + name + (80).to_bytes(2, "big"))
        assert sock.recv(10)[1] == 0
        # Two requests back to back on one connection: a chunked POST, then a POST with Content-Length.
        sock.sendall(b"POST /one HTTP/1.1\r\nHost: lab-alb.test\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
                     b"POST /two HTTP/1.1\r\nHost: lab-alb.test\r\nContent-Length: 3\r\n\r\nabc")
        responses = HttpConnection(sock)
        first, second = responses.read_response("POST"), responses.read_response("POST")
    assert json.loads(first.body)["body"] == "hello world"
    assert json.loads(second.body)["body"] == "abc"
    assert dict(first.headers)["Connection"] == "keep-alive"


def test_fixed_response_and_redirect(alb, region):
    region.match = RuleMatch(LISTENER, "rule-1", "1", "fixed-response",
                             fixed_response={"StatusCode": "404", "ContentType": "text/plain", "MessageBody": "nope"})
    response = get(alb, "/missing")
    assert (response.status_code, response.text, response.headers["server"]) == (404, "nope", "awselb/2.0")
    region.match = RuleMatch(LISTENER, "rule-2", "2", "redirect",
                             redirect={"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"})
    response = get(alb, "/login?next=1")
    assert response.status_code == 301
    assert response.headers["location"] == "https://lab-alb-1.us-east-1.elb.amazonaws.com/login?next=1"


def test_500_when_the_emulation_itself_fails(alb, region, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(region, "route", broken)
    assert_alb_error(get(alb), 500, "Internal Server Error")


def test_weight_zero_target_group_gets_nothing(alb, region, backends):
    other = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/other/2"
    region.records[other] = [record("i-x", 1)]
    region.match = RuleMatch(LISTENER, "default-rule", "default", "forward", ((other, 0), (TG, 1)))
    assert {get(alb).json()["name"] for _ in range(3)} == {"a", "b", "c"}


def test_least_outstanding_requests_prefers_the_idle_target():
    chooser = TargetChooser()
    records = [record("i-a", 1), record("i-b", 2)]
    busy = chooser.choose(TG, records, "least_outstanding_requests")
    with chooser.in_flight(TG, busy):
        picks = {chooser.choose(TG, records, "least_outstanding_requests")["Id"] for _ in range(4)}
    assert picks == {"i-b" if busy["Id"] == "i-a" else "i-a"}


# -- the data plane: one CONNECT, one verdict ------------------------------------------------------
class FakeContainers:
    def __init__(self, endpoints: dict) -> None:
        self.endpoints = endpoints

    def endpoint(self, instance_id, host_port, vpc_id=None):
        return self.endpoints.get((instance_id, host_port))


@dataclass
class FakeContext:
    components: dict
    timescale: TimeScale = TimeScale(0.01)
    lock: threading.RLock = field(default_factory=threading.RLock)
    usage: Usage = field(default_factory=Usage)

    def snapshot(self, max_age: float = 0.25):
        return "snapshot"


VERDICTS = {
    ("lab-alb.test", 80): dict(outcome="listener", load_balancer_arn=LB, listener_arn=LISTENER),
    ("lab-alb.test", 8081): dict(outcome="dropped"),
    ("lab-alb.test", 81): dict(outcome="no_listener"),
    ("ec2-54-0-0-1.test", 32768): dict(outcome="instance", instance_id="i-a", instance_port=32768),
    ("ec2-54-0-0-1.test", 8081): dict(outcome="instance", instance_id="i-a", instance_port=8081),
}


@pytest.fixture
def dataplane(monkeypatch, region, backends):
    def evaluate(snapshot, flow: Flow) -> Verdict:
        assert snapshot == "snapshot" and flow.source == "internet"
        return Verdict(flow, **VERDICTS.get((flow.destination, flow.port), dict(outcome="unresolved")))

    monkeypatch.setattr("helpers.evaluator.evaluate", evaluate)
    ctx = FakeContext({"containers": FakeContainers({("i-a", 32768): backends["a"].address})})
    plane = DataPlane(ctx)
    plane.hold_seconds = 0.5
    plane.alb.view = region
    plane.alb.wire = Wire(region.endpoint)
    plane.start()
    yield plane
    plane.stop()


def test_dataplane_outcomes(dataplane):
    # Answers get all the time a loaded machine needs; only the drops wait out a short timeout,
    # which fires well before the 2 s hold ends (then the sandbox would close, not time out).
    dataplane.hold_seconds = 2.0
    with client(dataplane.socks_proxy, timeout=10) as http:
        assert http.get("http://lab-alb.test/").json()["name"] in {"a", "b", "c"}
        assert http.get("http://ec2-54-0-0-1.test:32768/").json()["name"] == "a"  # raw TCP relay
        with pytest.raises(httpx.ProxyError, match="Connection refused"):
            http.get("http://ec2-54-0-0-1.test:8081/")  # the instance admits 8081, but nothing listens
        with pytest.raises(httpx.ProxyError, match="Host unreachable"):
            http.get("http://nowhere.test/")
    with client(dataplane.socks_proxy, timeout=0.3) as http:
        for port in (8081, 81):  # dropped, and no listener (treated as a drop)
            with pytest.raises(httpx.ConnectTimeout):
                http.get(f"http://lab-alb.test:{port}/")


def test_dropped_connections_are_closed_after_the_hold(dataplane):
    host, port = dataplane.socks_proxy.removeprefix("socks5h://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    with sock:
        sock.sendall(b"\x05\x01\x00")
        sock.recv(2)
        name = b"lab-alb.test"
        sock.sendall(bytes([5, 1, 0, 3, len(name)]) + name + (8081).to_bytes(2, "big"))
        # No SOCKS reply while the hold lasts (a refusal would answer at once), then "TTL expired"
        # and the sandbox closes the connection: had it held it forever, recv would raise when the
        # socket's 5 s timeout fires.
        assert sock.recv(10) == bytes([5, REP_TTL_EXPIRED, 0, 1, 0, 0, 0, 0, 0, 0])
        assert sock.recv(10) == b""
    wait_until(lambda: (dataplane.server.connection_count == 0, f"{dataplane.server.connection_count} open"),
               what="the held connection to be forgotten", timeout=5, interval=0.02, progress=False)


def test_curl_reaches_the_alb_through_the_dataplane(dataplane):
    host, port = dataplane.socks_proxy.removeprefix("socks5h://").split(":")
    result = subprocess.run(["curl", "-sS", "--socks5-hostname", f"{host}:{port}", "-H", "Accept: application/json",
                             "http://lab-alb.test/"], capture_output=True, text=True, timeout=20,
                            env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["headers"]["X-Forwarded-For"] == "203.0.113.10"


# -- end to end: a real sandbox region, the seed stack, curl and httpx ------------------------------
def wait_for_healthy_targets(sb, target_group_arn: str, count: int, timeout: float = 20) -> None:
    elbv2 = sb.clients().elbv2
    deadline = time.monotonic() + timeout
    states: list = []
    while time.monotonic() < deadline:
        states = [d["TargetHealth"]["State"] for d in
                  elbv2.describe_target_health(TargetGroupArn=target_group_arn)["TargetHealthDescriptions"]]
        if states.count("healthy") >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"targets not healthy within {timeout} s: {states}")


def wait_for_outcome(sb, url: str, kind: str, *, request_timeout: float, timeout: float = 20) -> None:
    """Send requests until one ends as `kind` (the sandbox applies an API change within moments)."""
    wait_until(lambda: ((outcome := request(url, proxy=sb.socks_proxy, timeout=request_timeout)).kind == kind,
                        outcome.kind), what=f"a request to end as {kind!r}", timeout=timeout, interval=0.1,
               progress=False)


@pytest.mark.slow
def test_end_to_end_through_the_sandbox():
    with Sandbox() as sb:
        stack = build_stack(sb.clients(), StackSpec())
        wait_for_healthy_targets(sb, stack.target_group_arn, 3)
        host, port = sb.socks_proxy.removeprefix("socks5h://").split(":")

        page = subprocess.run(["curl", "-sS", "--max-time", "5", "--socks5-hostname", f"{host}:{port}",
                               f"http://{stack.alb_dns_name}/"], capture_output=True, text=True, timeout=20,
                              env={"PATH": "/usr/bin:/bin"})
        assert page.returncode == 0, page.stderr
        assert page.stdout.startswith("Hello from task ") and "-> container tomcat:8081" in page.stdout

        # Generous client timeouts: this checks where requests go, not how fast a busy machine is.
        outcomes = request_many(f"http://{stack.alb_dns_name}/", 30, proxy=sb.socks_proxy, timeout=10)
        tasks = sb.clients().ecs.list_tasks(cluster=stack.cluster_name)["taskArns"]
        assert {o.kind for o in outcomes} == {"answered"}
        assert sorted({o.task_id for o in outcomes}) == sorted(arn.rsplit("/", 1)[-1] for arn in tasks)
        assert all(32768 <= o.host_port <= 60999 and o.container_port == 8081 for o in outcomes)

        # The ALB's SG admits only 80: :8081 is dropped. The host SG admits 8081 from anywhere, but the
        # container listens on a dynamic host port, so the instance refuses 8081.
        blocked = request(f"http://{stack.alb_dns_name}:8081/", proxy=sb.socks_proxy, timeout=2)
        assert blocked.kind == "timeout" and not blocked.connected, blocked
        instance = sb.clients().ec2.describe_instances(InstanceIds=stack.instance_ids[:1])["Reservations"][0]["Instances"][0]
        refused = request(f"http://{instance['PublicDnsName']}:8081/", proxy=sb.socks_proxy, timeout=10)
        assert refused.kind == "refused", refused

        # A change through the API shows on the next connection.
        http_rule = [{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
        sb.clients().ec2.revoke_security_group_ingress(GroupId=stack.alb_sg_id, IpPermissions=http_rule)
        wait_for_outcome(sb, f"http://{stack.alb_dns_name}/", "timeout", request_timeout=2)
        sb.clients().ec2.authorize_security_group_ingress(GroupId=stack.alb_sg_id, IpPermissions=http_rule)
        wait_for_outcome(sb, f"http://{stack.alb_dns_name}/", "answered", request_timeout=10)
