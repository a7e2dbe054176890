"""Set-level questions: *who* can reach a host, on *which* ports, from *where*.

`walk.evaluate` answers "does this one flow get through?". Exposure asks the inverse: the whole
set of (source address x port) that gets through. Both are queries over the same primitives -
`routes` (longest-prefix match) and `crossing` (which NACL and SG boundaries a connection
crosses, and what each lets through, over rectangles of addresses x ports) - so nothing
re-decides a rule; here they are applied to every address and every port at once.

    host_exposure(snap, instance)            -> Exposure   what the internet reaches on a host
    alb_leg_gaps(snap, lb, instance, ports)  -> [LegGap]   NACL parts that break ALB -> host
    describe(boxes)                          -> ["tcp 8081 from 0.0.0.0/0", ...]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from helpers.evaluator.crossing import connection_crossings, cross_nacl, internet_crossings, nacl_allowed, sg_admitted
from helpers.evaluator.nacl import entry_text
from helpers.evaluator.ports import (
    ALL_PORTS, EVERY_ADDRESS, Box, BoxSet, Interval, address_intervals, addresses_text, box, cidr_range, clip, intervals_minus,
    merge_intervals, port_text, ports_text, sweep,
)
from helpers.evaluator.routes import InternetRoute, internet_route  # noqa: F401  (the audit imports them from here)
from helpers.evaluator.sg import rule_ports
from helpers.evaluator.snapshot import Instance, LoadBalancer, SecurityGroup, Snapshot
from helpers.facts import RETURN_PORTS


@dataclass(frozen=True)
class _Side:
    """One end of a connection, for the crossing primitives: its subnet and addresses."""

    subnet_id: str | None
    addresses: Interval
    words: str = ""
    cidr: str = ""


# -- security groups -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SgGrant:
    """One source of one SG rule, as a rectangle (CIDR sources) or a group reference."""

    group_id: str
    words: str  # "SG sg-0host allows tcp 8081 from 0.0.0.0/0"
    ports: Interval
    cidr: str | None = None
    source_group: str | None = None

    @property
    def box(self) -> Box | None:
        return box(cidr_range(self.cidr), self.ports) if self.cidr else None


def sg_grants(group: SecurityGroup) -> list[SgGrant]:
    """Every TCP-relevant (source x ports) a group's inbound rules admit. Prefix lists are not
    resolved (as in sg.py: they admit nothing here)."""
    grants = []
    for rule in group.ingress:
        ports = rule_ports(rule)
        if ports is None:
            continue
        what = "all traffic" if str(rule.protocol) in ("-1", "all") else f"tcp {port_text(*ports)}"
        grants += [SgGrant(group.id, f"SG {group.id} allows {what} from {c}", ports, cidr=c) for c in rule.cidrs]
        grants += [SgGrant(group.id, f"SG {group.id} allows {what} from {g}", ports, source_group=g) for g in rule.group_ids]
    return grants


# -- what the internet reaches on a host ----------------------------------------------------------------
@dataclass(frozen=True)
class Exposure:
    instance_id: str
    boxes: tuple[Box, ...]  # (internet address x port) that get in and get an answer back
    evidence: tuple[str, ...]  # the route, NACL entries and SG rules that let them
    internet: tuple[Interval, ...] = ()  # the addresses this subnet calls "the internet"

    @property
    def reachable(self) -> bool:
        return bool(self.boxes)

    def lines(self) -> list[str]:
        return describe(list(self.boxes), internet=list(self.internet))


# Whose ephemeral ports the reply must reach: "every" port of 1024-65535 (any client works, as
# `evaluate` asks) or "some" port (a client that picks its source port gets in: the audit's view).
Replies = Literal["every", "some"]


def host_exposure(snap: Snapshot, inst: Instance, *, replies: Replies = "some") -> Exposure:
    """Exactly which (internet address x TCP port) reach `inst` and get a reply:
    public IP  AND  a route from its subnet to the IGW (for the reply)  AND  NACL inbound
    (first match, as sets)  AND  NACL outbound for the reply  AND  SG inbound (union of rules).
    `replies`: see Replies - with "every", a flow is in the set exactly when `evaluate` finds
    it reachable."""
    empty = Exposure(inst.id, (), ())
    if inst.state != "running" or not inst.public_ip or not inst.subnet_id:
        return empty  # an IGW only forwards to public IPs (IGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS)
    route = internet_route(snap, inst.subnet_id)
    if route is None:
        return empty
    internet = list(route.addresses)
    host = _Side(inst.subnet_id, cidr_range(inst.private_ip or "0.0.0.0"))
    request, reply = internet_crossings(host, _Side(None, EVERY_ADDRESS), ALL_PORTS, inbound=True)
    inbound = nacl_allowed(snap, request)
    answered = nacl_allowed(snap, reply)
    if replies == "every":
        answered_from = _addresses_with_every_port(answered, RETURN_PORTS)
    else:
        answered_from = address_intervals(answered)
    # Seen from the internet a client is no SG's member: only CIDR sources can admit it.
    admitted = BoxSet(sg_admitted(snap, inst.group_ids, False, EVERY_ADDRESS, (), ALL_PORTS))
    reached = clip(clip([cut for a in inbound for cut in admitted.cut(a)], internet), answered_from)
    if not reached:
        return Exposure(inst.id, (), (), tuple(internet))
    reached_set = BoxSet(reached)
    touches = lambda boxes: any(reached_set.intersects(b) for b in boxes)  # noqa: E731
    evidence = [f"{inst.id} has public IP {inst.public_ip}",
                f"route table {route.table_id} sends {', '.join(route.destinations)} to {route.igw_id}"]
    result = cross_nacl(snap, request)
    if result is not None:
        evidence += [f"NACL {result.acl_id} inbound rule {e.label} allows {entry_text(e)}"
                     for e, boxes in result.allowed if touches(boxes)]
    grants = [g for gid in inst.group_ids if gid in snap.sg_by_id for g in sg_grants(snap.sg_by_id[gid])]
    evidence += [g.words for g in grants if g.cidr and touches([g.box])]
    return Exposure(inst.id, tuple(reached), tuple(evidence), tuple(internet))


def _addresses_with_every_port(boxes: list[Box], ports: Interval) -> list[Interval]:
    """The addresses for which `boxes` hold every port of `ports`."""
    return merge_intervals((lo, hi) for lo, hi, held in sweep(boxes, "addresses") if not intervals_minus([ports], held))


# -- the ALB-to-target leg over port ranges -------------------------------------------------------------
@dataclass(frozen=True)
class LegGap:
    """A part of the ALB-to-target leg that a NACL denies."""

    acl_id: str
    subnet_id: str
    egress: bool
    reply: bool  # the return packet (to the peer's ephemeral ports)
    peer: str  # who is on the other side, in words
    peer_cidr: str  # the same as a CIDR, for the fix
    ports: str  # the denied ports, e.g. "1024-32767"
    deciders: tuple[str, ...]  # "rule * (deny all)", "rule 90 (deny tcp 1024-65535 to 10.0.1.0/24)"

    def text(self) -> str:
        way, prep = ("outbound", "to") if self.egress else ("inbound", "from")
        what = "return path: " if self.reply else ""
        return (f"NACL {self.acl_id} ({self.subnet_id}) {what}{way} tcp {self.ports} {prep} {self.peer} "
                f"is denied by {', '.join(self.deciders)}")


def alb_node_addresses(snap: Snapshot, lb: LoadBalancer, subnet_id: str) -> tuple[Interval, str, str]:
    """The node's addresses, in words and as a CIDR: its ENI's IP when visible, else anything
    in its subnet (as `evaluate` assumes: both ask `Snapshot.alb_node_addresses`)."""
    addresses, where = snap.alb_node_addresses(lb.arn, subnet_id)
    if addresses[0] == addresses[1]:
        return addresses, f"ALB {lb.name} node {where}", f"{where}/32"
    cidr = snap.subnet_by_id[subnet_id].cidr
    return addresses, f"ALB {lb.name} nodes ({cidr})", cidr


def alb_leg_gaps(snap: Snapshot, lb: LoadBalancer, inst: Instance, ports: list[Interval]) -> list[LegGap]:
    """Every NACL part that stops the ALB reaching `inst` on `ports` (ranges, not samples), or
    its reply coming back on 1024-65535 - the stateless return path that turns into 504s."""
    if not inst.private_ip or not inst.subnet_id:
        return []
    host = _Side(inst.subnet_id, cidr_range(inst.private_ip), f"{inst.id} ({inst.private_ip})", f"{inst.private_ip}/32")
    gaps: list[LegGap] = []
    for subnet_id in sorted(s for s in lb.subnet_ids if s in snap.subnet_by_id):
        node = _Side(subnet_id, *alb_node_addresses(snap, lb, subnet_id))
        # The same crossings `evaluate` checks: ALB out, host in, host's reply out, reply into the ALB's subnet.
        crossings = [c for p in ports for c in connection_crossings(node, host, p)]
        for crossing in crossings:
            result = cross_nacl(snap, crossing)
            if result is None or result.ok:
                continue
            denied = [b for _, boxes in result.denied for b in boxes]
            deciders = tuple(f"rule {e.label} ({e.action} {entry_text(e)})" if e else "rule * (deny all)"
                             for e, _ in result.denied)
            peer = crossing.peer
            gap = LegGap(result.acl_id, crossing.subnet_id, crossing.egress, crossing.reply, peer.words, peer.cidr,
                         ports_text(denied), deciders)
            if gap not in gaps:
                gaps.append(gap)
    return gaps


# -- words ------------------------------------------------------------------------------------------------
def describe(boxes: list[Box], *, internet: list[Interval] | None = None) -> list[str]:
    """A set of (address x port) in a few canonical lines, sorted by port: "tcp 8081 from 0.0.0.0/0".

    Ports are split where any box starts or ends; neighbouring port ranges with the same sources
    are joined again, so the same set always prints the same lines. `internet`: the addresses
    that can be sources at all - gaps outside it (the VPC's own range) are bridged, so
    "everything but 10.0.0.0/16" reads as 0.0.0.0/0."""
    if not boxes:
        return []
    groups: list[list] = []  # [[port lo, port hi], address intervals]
    for lo, hi, sources in sweep(boxes, "ports"):
        if groups and groups[-1][0][1] == lo - 1 and groups[-1][1] == sources:
            groups[-1][0][1] = hi
        else:
            groups.append([[lo, hi], sources])
    outside = intervals_minus([EVERY_ADDRESS], internet) if internet is not None else []
    return [f"tcp {port_text(lo, hi)} from {_sources_text(sources, outside)}" for (lo, hi), sources in groups]


def _sources_text(sources: list[Interval], outside: list[Interval]) -> str:
    """CIDRs, or "0.0.0.0/0 except ..." when the holes are the shorter list."""
    if outside:
        sources = _bridge(sources, outside)
    holes = intervals_minus(intervals_minus([EVERY_ADDRESS], sources), outside)
    if holes and _cidr_count(holes) < _cidr_count(sources):
        return f"0.0.0.0/0 except {_text(holes)}"
    return _text(sources)


def _text(intervals: list[Interval]) -> str:
    return addresses_text([(lo, hi, 0, 0) for lo, hi in intervals])


def _cidr_count(intervals: list[Interval]) -> int:
    """How many CIDR blocks spell these intervals (as ipaddress.summarize_address_range would cut
    them: the largest aligned block at each step), counted with integers."""
    count = 0
    for lo, hi in intervals:
        while lo <= hi:
            size = lo & -lo if lo else 2**32  # the largest block aligned at lo ...
            while size > hi - lo + 1:  # ... that fits
                size >>= 1
            lo += size
            count += 1
    return count


def _bridge(sources: list[Interval], outside: list[Interval]) -> list[Interval]:
    """Join source intervals across gaps that hold no internet address (and extend to the ends
    of the address space the same way)."""
    filled = merge_intervals(list(sources) + outside)
    # Keep only the filled intervals that contain a real source: an all-outside block stays out.
    return [iv for iv in filled if any(iv[0] <= s[0] and s[1] <= iv[1] for s in sources)]
