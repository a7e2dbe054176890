"""The wire (helpers/sandbox/wire.py): one connection's outcome after the evaluator's verdict."""

from __future__ import annotations

import socket
import threading

import pytest

from helpers.sandbox.wire import Connected, Dropped, Refused, Wire


@pytest.fixture
def listener():
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server


def test_an_open_path_to_a_listening_port_connects(listener):
    listening = {("i-1", 32768): listener.getsockname()}
    wire = Wire(lambda target, port, vpc_id: listening.get((target, port)))
    outcome = wire.connect("i-1", 32768, path_open=True, timeout=5)
    assert isinstance(outcome, Connected)
    with outcome.sock:
        accepted, _ = listener.accept()
        accepted.close()


def test_nothing_listening_is_refused():
    outcome = Wire(lambda target, port, vpc_id: None).connect("i-1", 8081, path_open=True, timeout=5)
    assert isinstance(outcome, Refused) and "nothing listens on i-1:8081" in outcome.reason


def test_a_port_that_closed_meanwhile_is_refused():
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        address = sock.getsockname()
    assert isinstance(Wire(lambda target, port, vpc_id: address).connect("i-1", 32768, path_open=True, timeout=5), Refused)


def test_a_dropped_path_never_connects_and_a_stopping_sandbox_ends_the_wait(listener):
    asked = []
    wire = Wire(lambda target, port, vpc_id: asked.append((target, port)) or listener.getsockname())
    stopping = threading.Event()
    stopping.set()  # a wait of an hour ends at once
    outcome = wire.connect("i-1", 32768, path_open=False, timeout=3600, cancel=stopping)
    assert isinstance(outcome, Dropped) and asked == []
    assert isinstance(wire.connect("i-1", 32768, path_open=False, timeout=3600, dropped_wait=0), Dropped)


def test_the_wire_only_connects_to_loopback():
    outcome = Wire(lambda target, port, vpc_id: ("192.0.2.1", 80)).connect("i-1", 80, path_open=True, timeout=5)
    assert isinstance(outcome, Refused) and "loopback" in outcome.reason
