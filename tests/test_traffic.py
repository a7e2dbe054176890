"""helpers.traffic: requests through a SOCKS5 proxy, and their results in words."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from helpers.sandbox.alb import error_page
from helpers.sandbox.container_app import QuietServer, make_handler
from helpers.sandbox.http11 import encode_response
from helpers.sandbox.socks5 import (REP_CONNECTION_REFUSED, REP_HOST_UNREACHABLE, Hold, Refuse, Serve, Socks5Server,
                                    splice)
from helpers.traffic import Outcome, answers_per_task, request, request_many, summarize

pytestmark = pytest.mark.timeout(30)

TASK_ID = "1a2b3c4d5e6f47a8b9c0d1e2f3a4b5c6"


@pytest.fixture
def container():
    """The real container app (in a thread), as task TASK_ID on i-0abc123 host port 32768."""
    identity = {"task_id": TASK_ID, "instance_id": "i-0abc123", "host_port": 32768, "container_port": 8081,
                "container_name": "tomcat"}
    server = QuietServer(("127.0.0.1", 0), make_handler(identity))
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield server.server_address[:2]
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(container):
    def relay(sock: socket.socket) -> None:
        upstream = socket.create_connection(container)
        server.track(upstream)
        try:
            splice(sock, upstream, idle_timeout=5, stopping=server.stopping)
        finally:
            server.untrack(upstream)

    def alb_without_targets(sock: socket.socket) -> None:
        sock.recv(65536)
        sock.sendall(encode_response(error_page(503), keep_alive=False))

    def route(host: str, port: int):
        return {
            "web.test": Serve(relay),
            "empty-alb.test": Serve(alb_without_targets),
            "refused.test": Refuse(REP_CONNECTION_REFUSED),
            "dropped.test": Hold(2),
            "briefly-dropped.test": Hold(0.2),
            "silent.test": Serve(lambda sock: (sock.recv(65536), time.sleep(1))),
        }.get(host, Refuse(REP_HOST_UNREACHABLE))

    server = Socks5Server(route)
    host, port = server.start()
    yield f"socks5h://{host}:{port}"
    server.stop()


def test_answered_by_a_task(proxy):
    out = request("http://web.test/", proxy=proxy)
    assert out.kind == "answered" and out.status == 200
    assert (out.task_id, out.instance_id, out.host_port, out.container_port) == (TASK_ID, "i-0abc123", 32768, 8081)
    assert out.summary() == "200 OK - answered by task 1a2b3c4d on i-0abc123 host port 32768 -> container port 8081"


def test_timeout_refused_unresolved_and_alb_error(proxy):
    timed_out = request("http://dropped.test:8081/", proxy=proxy, timeout=0.3)
    assert timed_out.kind == "timeout" and timed_out.elapsed < 1.5
    assert timed_out.summary() == ("timed out after 0.3 s: nothing answered "
                                   "(a security group, network ACL or route dropped the packets)")
    refused = request("http://refused.test:8081/", proxy=proxy)
    assert refused.summary() == "connection refused: nothing listens on that port"
    unresolved = request("http://nowhere.test/", proxy=proxy)
    assert unresolved.kind == "unresolved"
    assert unresolved.summary() == "could not resolve nowhere.test: no load balancer or instance has that name here"
    alb_error = request("http://empty-alb.test/", proxy=proxy)
    assert (alb_error.kind, alb_error.status, alb_error.server) == ("alb_error", 503, "awselb/2.0")
    assert alb_error.summary() == "503 from the load balancer (Server: awselb/2.0): no registered targets"


def test_no_proxy_running():
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    out = request("http://web.test/", proxy=f"socks5h://127.0.0.1:{port}")
    assert out.kind == "error" and "is the sandbox running?" in out.summary()
    with pytest.raises(ValueError, match="proxy="):
        request("http://web.test/")


def test_request_many_and_counts(proxy):
    outcomes = request_many("http://web.test/", 3, proxy=proxy)
    assert [o.kind for o in outcomes] == ["answered"] * 3
    assert answers_per_task(outcomes) == {TASK_ID: 3}


def test_summaries_are_deterministic_and_counted():
    def answered(task: str, elapsed: float) -> Outcome:
        return Outcome(url="http://alb/", kind="answered", timeout=3.0, elapsed=elapsed, status=200, reason="OK",
                       task_id=task, instance_id="i-1", host_port=32768, container_port=8081)

    assert answered("bbbb", 0.01).summary() == answered("bbbb", 0.5).summary()
    timeout = Outcome(url="http://alb:8081/", kind="timeout", timeout=3.0, elapsed=3.0)
    outcomes = [answered("bbbb", 0.1), answered("aaaa", 0.1), answered("bbbb", 0.1), timeout]
    assert answers_per_task(outcomes) == {"aaaa": 1, "bbbb": 2}
    assert summarize(outcomes).splitlines() == [
        "task aaaa on i-1 host port 32768: 1 of 4 requests",
        "task bbbb on i-1 host port 32768: 2 of 4 requests",
        "timed out after 3.0 s: nothing answered (a security group, network ACL or route dropped the packets): 1 of 4 requests",
    ]


def test_a_slow_response_is_not_called_a_drop():
    slow = Outcome(url="http://alb/", kind="timeout", timeout=3.0, elapsed=3.0, connected=True)
    assert slow.summary() == "timed out after 3.0 s: connected, but no response came back in time"


def test_slow_response_and_proxy_giving_up(proxy):
    silent = request("http://silent.test/", proxy=proxy, timeout=0.3)
    assert silent.kind == "timeout" and silent.connected
    gave_up = request("http://briefly-dropped.test/", proxy=proxy, timeout=30)  # the proxy's hold is shorter
    assert (gave_up.kind, gave_up.connected) == ("timeout", False)
    assert gave_up.summary() == ("nothing answered, and the sandbox gave up before the client's 30.0 s timeout "
                                 "(a security group, network ACL or route dropped the packets)")
