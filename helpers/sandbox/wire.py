"""The wire: what a TCP connection to an instance port does once the evaluator has judged its path.

The data plane (a client on the internet), the ALB emulation and the health checker (the ALB's
nodes) reach a target only through `Wire.connect`, so the three always agree:

    the path is blocked (a route, NACL or SG drops the SYN)  -> Dropped, once the wait is over:
                                                                nothing ever answers a dropped SYN
    nothing listens on that instance port                    -> Refused: the host answers with a reset
    a container listens there                                -> Connected, with a socket to its process
                                                                (or Dropped / Refused if that connect
                                                                times out / fails)

The evaluator decides whether the path is open; the container runtime says what listens on an
instance port (`ContainerRuntime.endpoint`). The sandbox only ever connects to loopback.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from dataclasses import dataclass
from typing import Callable, Optional, Union

from helpers.evaluator.ports import is_ipv4
from helpers.sandbox.addresses import holder_of_address

# What listens on an instance port: (target, host port, vpc_id) -> a loopback (host, port), or None.
# The target is an instance id, or an IP address in that VPC (ip targets); vpc_id None for an instance id.
Listening = Callable[[str, int, Optional[str]], Optional[tuple[str, int]]]


@dataclass(frozen=True)
class Connected:
    sock: socket.socket  # the caller owns it and closes it


@dataclass(frozen=True)
class Dropped:
    reason: str


@dataclass(frozen=True)
class Refused:
    reason: str


Outcome = Union[Connected, Dropped, Refused]


class Wire:
    def __init__(self, listening: Listening) -> None:
        self.listening = listening

    def connect(self, target: str, port: int, *, path_open: bool, timeout: float, dropped_wait: float | None = None,
                cancel: threading.Event | None = None, vpc_id: str | None = None) -> Outcome:
        """Connect to `target:port` (an instance id or a private IP, and a host port) as the network would.

        vpc_id: where a private IP is (the target group's or load balancer's VPC): addresses are
            unique only within a VPC.
        path_open: the evaluator's verdict on the path there (False: something drops the packets).
        timeout: real seconds the connect may take; also how long a dropped SYN is waited out,
            unless `dropped_wait` says otherwise (0: the caller's client does the waiting).
        cancel: set when the sandbox stops; it ends a wait early.
        """
        if not path_open:
            wait = timeout if dropped_wait is None else dropped_wait
            if wait > 0:
                (cancel or threading.Event()).wait(wait)
            return Dropped(f"the packets to {target}:{port} are dropped on the way")
        endpoint = self.listening(target, port, vpc_id)
        if endpoint is None:
            return Refused(f"nothing listens on {target}:{port}")
        try:
            return Connected(connect_loopback(endpoint, timeout))
        except socket.timeout:
            return Dropped(f"{target}:{port} did not accept the connection within {timeout:g} s")
        except OSError as exc:
            return Refused(f"{target}:{port} refused the connection ({exc})")


def sandbox_wire(ctx) -> Wire:
    """The wire of a running sandbox: what listens is what its container runtime has started."""

    def listening(target: str, port: int, vpc_id: str | None) -> tuple[str, int] | None:
        containers = ctx.components.get("containers")
        if containers is None:
            return None
        if not is_ipv4(target):
            return containers.endpoint(target, port)
        with ctx.lock:  # an ip target: whoever holds the address in that VPC
            holder = holder_of_address(ctx.ec2(), vpc_id, target)
        return containers.endpoint(holder.id, port) if holder is not None else None

    return Wire(listening)


def connect_loopback(endpoint: tuple[str, int], timeout: float) -> socket.socket:
    """Connect to a container process. The sandbox never opens a connection off this machine."""
    host, port = endpoint
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        raise PermissionError(f"the sandbox only connects to loopback, not {host}")
    return socket.create_connection((host, port), timeout=timeout)
