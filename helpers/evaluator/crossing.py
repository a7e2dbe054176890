"""Crossing a boundary: which part of (addresses x ports) a network ACL or the security groups
let through, and which boundaries a TCP connection crosses on its way and on its way back.

The one place that lists the crossings; `walk.py` asks for one flow's addresses and port,
`exposure.py` for every address and port at once, with the same functions:

    connection_crossings(source, dest, port)  -> [Crossing]  the NACLs between two subnets, both ways
    internet_crossings(endpoint, client, port, inbound=True) -> [Crossing]  the NACL at a VPC edge
    cross_nacl(snap, crossing)                -> NaclResult | None  (None: the subnet has no NACL)
    sg_admitted(snap, group_ids, egress, peer_addresses, peer_groups, ports) -> [Box]  what the SGs admit

Rules (VPC guide "Network ACLs", "Security group rules"; FACTS.md): NACLs apply only at a subnet
boundary and are stateless, so the reply crosses them again, towards the peer's ephemeral ports
(facts.RETURN_PORTS); security groups are stateful, so only the request is checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from helpers.evaluator.nacl import NaclResult, evaluate_nacl
from helpers.evaluator.ports import Box, BoxSet, Interval, box, cidr_range
from helpers.evaluator.sg import evaluate_sgs
from helpers.evaluator.snapshot import Snapshot
from helpers.facts import RETURN_PORTS


@dataclass(frozen=True)
class Crossing:
    """One NACL check: at `subnet_id`, `egress` or not, for packets to or from `peer` on `ports`."""

    subnet_id: str
    egress: bool
    reply: bool  # the connection's return packet
    peer: Any  # the other side: anything with `.addresses` (an Interval) and `.subnet_id`
    ports: Interval

    @property
    def peer_addresses(self) -> Interval:
        return self.peer.addresses


def connection_crossings(source, dest, port: Interval) -> list[Crossing]:
    """A connection from `source` to `dest` (each with `.subnet_id` and `.addresses`) on `port`
    inside one VPC: out of the source's subnet, into the destination's, the reply out of the
    destination's and into the source's. None when both share a subnet."""
    if source.subnet_id == dest.subnet_id:
        return []
    return [Crossing(source.subnet_id, True, False, dest, port),
            Crossing(dest.subnet_id, False, False, source, port),
            Crossing(dest.subnet_id, True, True, source, RETURN_PORTS),
            Crossing(source.subnet_id, False, True, dest, RETURN_PORTS)]


def internet_crossings(endpoint, client, port: Interval, *, inbound: bool = True) -> list[Crossing]:
    """The NACL of `endpoint`'s subnet for a connection with `client` outside the VPC:
    `inbound` (the client connects in) or out (the endpoint connects to the client)."""
    return [Crossing(endpoint.subnet_id, not inbound, False, client, port),
            Crossing(endpoint.subnet_id, inbound, True, client, RETURN_PORTS)]


def cross_nacl(snap: Snapshot, crossing: Crossing) -> NaclResult | None:
    """Which entry of the subnet's NACL decides each part of the crossing; None when the
    subnet has no NACL (nothing to cross)."""
    acl = snap.nacl_by_subnet.get(crossing.subnet_id)
    if acl is None:
        return None
    return evaluate_nacl(snap, acl, crossing.egress, crossing.peer_addresses, crossing.ports)


def nacl_allowed(snap: Snapshot, crossing: Crossing) -> list[Box]:
    """The part of the crossing (peer addresses x ports) its NACL lets through."""
    result = cross_nacl(snap, crossing)
    if result is None:
        return [box(crossing.peer_addresses, crossing.ports)]
    return [b for _, boxes in result.allowed for b in boxes]


def sg_admitted(snap: Snapshot, group_ids: tuple[str, ...], egress: bool, peer_addresses: Interval | None,
                peer_groups: tuple[str, ...], ports: Interval) -> list[Box]:
    """The part of (peer addresses x ports) the union of the groups' rules admits
    (peer_addresses None: a peer known by its groups only; the boxes then hold address 0)."""
    result = evaluate_sgs(snap, group_ids, egress, peer_addresses, peer_groups, ports)
    rest = BoxSet([box(peer_addresses or (0, 0), ports)])
    for missing in result.missing:
        rest.subtract(missing)
    return rest.boxes()


def sg_admits(snap: Snapshot, group_ids: tuple[str, ...], ports: Interval, *, peer_cidr: str | None = None,
              peer_group: str | None = None, egress: bool = False) -> bool:
    """The self-checks' question: do these groups admit every port of `ports` inbound (or
    outbound) from every address of `peer_cidr`, or from any member of `peer_group` (by that
    group alone, not by an address rule that happens to cover it)? Exactly one peer."""
    if (peer_cidr is None) == (peer_group is None):
        raise ValueError("name exactly one peer: peer_cidr='0.0.0.0/0' or peer_group='sg-...'")
    addresses = cidr_range(peer_cidr) if peer_cidr is not None else None
    groups = (peer_group,) if peer_group is not None else ()
    return evaluate_sgs(snap, tuple(group_ids), egress, addresses, groups, ports).ok
