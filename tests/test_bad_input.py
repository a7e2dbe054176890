"""Bad input, property-based (hypothesis): garbage bytes and malformed SOCKS handshakes on every
sandbox port, broken HTTP through the ALB emulation, and invalid arguments to the helpers.

After every batch the sandbox still serves (a good request is a 200 from a container), the
helpers' errors name the constraint, and nothing half-made stays behind. Each property prints
how many inputs it tried (`pytest -s` shows them). Loopback only; hypothesis is bounded
(max_examples) so the file runs in well under a minute.
"""

from __future__ import annotations

import ipaddress
import socket
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.course import Lab
from helpers.facts import NACL_RULE_MAX, NACL_RULE_MIN, PORT_MAX, PORT_MIN, check_cidr, check_port, check_rule_number
from helpers.resources import network_acls, security_groups
from helpers.sandbox.http11 import MAX_LINE_BYTES
from helpers.sandbox.socks5 import (ATYP_DOMAIN, CMD_CONNECT, METHOD_NO_AUTH, REP_HOST_UNREACHABLE, REP_SUCCEEDED,
                                    SOCKS_VERSION)
from helpers.stack import StackSpec, build_stack
from helpers.traffic import request
from helpers.waiters import wait_for_service

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

REPLY_TIMEOUT = 10.0  # seconds a port has to answer or close after the input ends; guards against a hang
BOUNDED = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def lab(region):
    clients = region.clients()
    stack = build_stack(clients, StackSpec(name="bad", desired_count=1, instance_count=1, deregistration_delay=0))
    wait_for_service(clients, stack, progress=False)
    return region, Lab(clients, region.socks_proxy, endpoint_url=region.endpoint_url), stack


class Tried:
    """Counts the inputs one property tried, and prints the count when the property is done."""

    def __init__(self, what: str) -> None:
        self.what, self.count = what, 0

    def __call__(self) -> None:
        self.count += 1

    def report(self) -> None:
        print(f"\n{self.what}: {self.count} inputs tried")


def still_serves(region, stack) -> None:
    outcome = request(f"http://{stack.alb_dns_name}/", proxy=region.socks_proxy, timeout=REPLY_TIMEOUT)
    assert outcome.kind == "answered" and outcome.status == 200 and outcome.task_id, outcome.summary()


def host_port(url: str) -> tuple[str, int]:
    host, port = url.rsplit("//", 1)[-1].rsplit(":", 1)
    return host, int(port)


def send_and_read(address: tuple[str, int], data: bytes, *, prefix: bytes = b"", socks_to: tuple[str, int] | None = None) -> bytes:
    """Connect (through the SOCKS proxy at `address` to `socks_to`, if given), send `data`, end our
    side, and read what comes back until the peer closes. The peer must close: a hang fails."""
    with socket.create_connection(address, timeout=REPLY_TIMEOUT) as sock:
        if socks_to is not None:
            socks_connect(sock, *socks_to)
        try:
            sock.sendall(prefix + data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:  # broken pipe, reset, not connected
            pass  # the peer gave up on our input already: what it said is still to be read
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:  # it closed with our bytes unread: what it sent before still counts
            pass
        return answer


def socks_connect(sock: socket.socket, host: str, port: int) -> None:
    sock.sendall(bytes([SOCKS_VERSION, 1, METHOD_NO_AUTH]))
    assert sock.recv(2) == bytes([SOCKS_VERSION, METHOD_NO_AUTH])
    name = host.encode()
    sock.sendall(bytes([SOCKS_VERSION, CMD_CONNECT, 0, ATYP_DOMAIN, len(name)]) + name + struct.pack("!H", port))
    reply = sock.recv(10)
    assert reply[:2] == bytes([SOCKS_VERSION, REP_SUCCEEDED]), reply


def status_of(answer: bytes) -> int | None:
    """The status code of an HTTP response, None for no answer; fails on anything else."""
    if not answer:
        return None
    assert answer.startswith(b"HTTP/1."), answer[:80]
    return int(answer.split(b" ", 2)[1])


# -- every port: garbage bytes and malformed SOCKS handshakes ------------------------------------------

socks_handshakes = st.one_of(
    st.binary(max_size=64),  # anything at all
    # a greeting, then anything: wrong versions, method counts that do not match, no "no auth"
    st.tuples(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=8), st.binary(max_size=32))
    .map(lambda t: bytes([t[0], t[1]]) + t[2] + t[3]),
    # a good greeting, then a request with any command, address type, name and port
    st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255), st.binary(max_size=40))
    .map(lambda t: bytes([SOCKS_VERSION, 1, METHOD_NO_AUTH, t[0], t[1], 0, t[2]]) + t[3]),
    # a good request for a domain name that is not a name
    st.binary(min_size=1, max_size=40)
    .map(lambda name: bytes([SOCKS_VERSION, 1, METHOD_NO_AUTH, SOCKS_VERSION, CMD_CONNECT, 0, ATYP_DOMAIN, len(name)])
         + name + b"\0\x50"),
)


def test_malformed_socks_handshakes_are_refused_and_the_proxy_keeps_serving(lab):
    region, _, stack = lab
    proxy = host_port(region.socks_proxy)
    tried = Tried("malformed SOCKS5 handshakes")

    @BOUNDED
    @given(socks_handshakes)
    def property(data):
        tried()
        answer = send_and_read(proxy, data)
        # Whatever came back is SOCKS5: a method choice and at most one reply; never a success for garbage
        # that named no reachable place.
        assert answer[:1] in (b"", bytes([SOCKS_VERSION])), answer

    property()
    tried.report()
    # A domain name that is not one: "host unreachable", as when a name does not resolve.
    not_a_name = b"\xff\xfe"
    answer = send_and_read(proxy, bytes([SOCKS_VERSION, 1, METHOD_NO_AUTH, SOCKS_VERSION, CMD_CONNECT, 0, ATYP_DOMAIN,
                                         len(not_a_name)]) + not_a_name + b"\0\x50")
    assert answer[2:4] == bytes([SOCKS_VERSION, REP_HOST_UNREACHABLE]), answer
    still_serves(region, stack)


def test_garbage_on_every_port_gets_an_error_or_a_close_and_each_keeps_serving(lab):
    region, lab_handle, stack = lab
    containers = region.ctx.components["containers"].describe()
    # The ALB emulation is ours: garbage gets its 400 (or a close when nothing came); the moto
    # endpoint and a container are other HTTP servers: whatever they answer, they must keep serving.
    ports = {
        "the ALB listener (through SOCKS)": (dict(address=host_port(region.socks_proxy),
                                                  socks_to=(stack.alb_dns_name, 80)), True),
        "the moto endpoint": (dict(address=host_port(region.endpoint_url)), False),
        "a container": (dict(address=host_port("//" + containers[0]["endpoint"])), False),
    }
    for name, (where, ours) in ports.items():
        tried = Tried(f"garbage bytes on {name}")

        @BOUNDED
        @given(st.binary(max_size=256))
        def property(data):
            tried()
            answer = send_and_read(data=data, **where)
            if ours:
                assert status_of(answer) in (None, 200, 400), answer[:200]  # a 200 when the bytes were a request

        property()
        tried.report()
        lab_handle.clients.ecs.list_clusters()  # the control plane still answers
        still_serves(region, stack)


# -- HTTP through the ALB emulation: too large, cut off, bad headers ---------------------------------------

header_names = st.text(st.characters(codec="latin-1"), min_size=0, max_size=20)
header_values = st.text(st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=40)


def test_bad_http_gets_400_from_the_alb_and_it_keeps_serving(lab):
    region, _, stack = lab
    proxy, alb = host_port(region.socks_proxy), (stack.alb_dns_name, 80)
    host = f"Host: {stack.alb_dns_name}\r\n".encode()
    cases = {
        "a head over 64 KiB": b"GET / HTTP/1.1\r\n" + host
        + b"".join(b"X-Big-%d: " % n + b"a" * (MAX_LINE_BYTES - 20) + b"\r\n" for n in range(5)) + b"\r\n",
        "one header over 16 KiB": b"GET / HTTP/1.1\r\n" + host + b"X-Big: " + b"a" * MAX_LINE_BYTES + b"\r\n\r\n",
        "a request line over 16 KiB": b"GET /" + b"a" * MAX_LINE_BYTES + b" HTTP/1.1\r\n" + host + b"\r\n",
        "a body cut off": b"POST / HTTP/1.1\r\n" + host + b"Content-Length: 100\r\n\r\nonly this",
        "a head cut off": b"GET / HTTP/1.1\r\n" + host + b"X-Half: yes",
        "a bad Content-Length": b"POST / HTTP/1.1\r\n" + host + b"Content-Length: -5\r\n\r\n",
        "a bad chunk size": b"POST / HTTP/1.1\r\n" + host + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
        "a header without a colon": b"GET / HTTP/1.1\r\n" + host + b"no colon here\r\n\r\n",
        "a folded header": b"GET / HTTP/1.1\r\n" + host + b"X-A: 1\r\n  folded\r\n\r\n",
        "a bad request line": b"GET /\r\n" + host + b"\r\n",
    }
    for name, data in cases.items():
        answer = send_and_read(proxy, data, socks_to=alb)
        assert status_of(answer) == 400 and b"Server: awselb/2.0" in answer, (name, answer[:200])
    print(f"\nbad HTTP requests through the ALB: {len(cases)} kinds tried, each answered 400")
    still_serves(region, stack)

    tried = Tried("requests with arbitrary header names and values through the ALB")

    @BOUNDED
    @given(st.lists(st.tuples(header_names, header_values), max_size=4))
    def property(headers):
        tried()
        lines = b"".join(f"{name}: {value}\r\n".encode("latin-1") for name, value in headers)
        status = status_of(send_and_read(proxy, b"GET / HTTP/1.1\r\n" + host + lines + b"Connection: close\r\n\r\n",
                                         socks_to=alb))
        assert status in (200, 400), status  # a container's answer, or the ALB's refusal; never a 5xx

    property()
    tried.report()
    still_serves(region, stack)


# -- helpers: invalid ports, CIDRs, rule numbers and unknown ids -----------------------------------------

not_a_port = st.one_of(st.integers(max_value=PORT_MIN - 1), st.integers(min_value=PORT_MAX + 1), st.booleans(),
                       st.floats(allow_nan=True), st.text(max_size=6), st.none())
not_a_rule_number = st.one_of(st.integers(max_value=NACL_RULE_MIN - 1), st.integers(min_value=NACL_RULE_MAX + 1),
                              st.booleans(), st.floats(), st.text(max_size=6), st.none())


def _is_cidr(text: str) -> bool:
    try:
        ipaddress.IPv4Network(text, strict=False)
    except ValueError:
        return False
    return "/" in text


not_a_cidr = st.one_of(st.text(max_size=20), st.integers(), st.none(),
                       st.tuples(st.integers(0, 300), st.integers(0, 300), st.integers(0, 40))
                       .map(lambda t: f"10.{t[0]}.{t[1]}.0/{t[2]}")).filter(lambda v: not (isinstance(v, str) and _is_cidr(v)))


# (what, bad values, the words the error must hold, every helper that must refuse them)
BAD_VALUES = {
    "ports": (not_a_port, f"from {PORT_MIN} to {PORT_MAX}", (
        check_port, lambda port: security_groups.cidr_permission((port, 80), "0.0.0.0/0"))),
    "rule numbers": (not_a_rule_number, f"from {NACL_RULE_MIN} to {NACL_RULE_MAX}", (
        check_rule_number,
        lambda number: network_acls.entry_request(number, egress=False, ports=(80, 80), cidr="0.0.0.0/0"))),
    "CIDRs": (not_a_cidr, "IPv4 CIDR block", (
        check_cidr, lambda cidr: security_groups.cidr_permission((80, 80), cidr),
        lambda cidr: network_acls.entry_request(100, egress=False, ports=(80, 80), cidr=cidr))),
    "reversed port ranges": (
        st.integers(PORT_MIN, PORT_MAX - 1).flatmap(lambda low: st.tuples(st.integers(low + 1, PORT_MAX), st.just(low))),
        "from low to high", (lambda ports: security_groups.cidr_permission(ports, "0.0.0.0/0"),
                             lambda ports: network_acls.entry_request(100, egress=False, ports=ports, cidr="0.0.0.0/0"))),
}


@pytest.mark.parametrize("what", BAD_VALUES)
def test_checkers_refuse_bad_values_naming_the_constraint(what):
    values, words, refusers = BAD_VALUES[what]
    tried = Tried(f"bad {what}")

    @BOUNDED
    @given(values)
    def property(value):
        tried()
        for refuse in refusers:
            with pytest.raises(ValueError, match=words):
                refuse(value)

    property()
    tried.report()


def test_good_values_pass_the_checkers_unchanged():
    assert (check_port(8081), check_rule_number(100), check_cidr("10.0.0.0/16")) == (8081, 100, "10.0.0.0/16")


def what_the_stack_has(lab_handle: Lab, stack) -> tuple:
    """Listeners, the ALB's SG rules, and the stack's NACL entries: what a half-made change would leave."""
    clients = lab_handle.clients
    listeners = sorted(listener["Port"] for listener in clients.elbv2.describe_listeners(LoadBalancerArn=stack.alb_arn)["Listeners"])
    rules = sorted(str(p) for p in security_groups.permissions(clients, stack.alb_sg_id))
    acl = network_acls.subnet_acl_id(clients, stack.public_subnet_ids[0])
    entries = sorted(str(e) for e in network_acls.describe_acl(clients, acl)["Entries"])
    return listeners, rules, entries


def test_lab_methods_refuse_bad_arguments_and_leave_nothing_behind(lab):
    region, lab_handle, stack = lab
    before = what_the_stack_has(lab_handle, stack)
    tried = Tried("bad ports to Lab.open_port / Lab.close_port")

    @BOUNDED
    @given(not_a_port)
    def bad_ports(port):
        tried()
        with pytest.raises(ValueError, match=f"from {PORT_MIN} to {PORT_MAX}"):
            lab_handle.open_port(stack, port)
        with pytest.raises(ValueError, match=f"from {PORT_MIN} to {PORT_MAX}"):
            lab_handle.close_port(stack, port)

    bad_ports()
    tried.report()
    assert what_the_stack_has(lab_handle, stack) == before

    acl = network_acls.subnet_acl_id(lab_handle.clients, stack.public_subnet_ids[0])
    for number in (0, NACL_RULE_MAX + 1, 32767):
        with pytest.raises(ValueError, match="rule number"):
            network_acls.add_entry(lab_handle.clients, acl, number, egress=False, ports=(80, 80), cidr="0.0.0.0/0")
    with pytest.raises(ValueError, match="IPv4 CIDR block"):
        network_acls.add_entry(lab_handle.clients, acl, 120, egress=False, ports=(80, 80), cidr="10.0.0.0/33")
    with pytest.raises(ValueError, match="IPv4 CIDR block"):
        security_groups.authorize(lab_handle.clients, stack.alb_sg_id,
                                  [security_groups.cidr_permission((81, 81), "anywhere")])
    assert what_the_stack_has(lab_handle, stack) == before

    # Unknown ids: the error names what is missing.
    for task_id in ("0" * 32, "no-such-task", "../health"):
        with pytest.raises(LookupError, match="no running container for task"):
            lab_handle.kill_container(task_id)
    with pytest.raises(Exception, match="sg-0123456789abcdef0"):
        security_groups.describe_group(lab_handle.clients, "sg-0123456789abcdef0")
    with pytest.raises(Exception, match="acl-0123456789abcdef0"):
        network_acls.describe_acl(lab_handle.clients, "acl-0123456789abcdef0")
    with pytest.raises(Exception, match="i-0123456789abcdef0"):
        lab_handle.public_dns("i-0123456789abcdef0")
    assert what_the_stack_has(lab_handle, stack) == before
    still_serves(region, stack)
