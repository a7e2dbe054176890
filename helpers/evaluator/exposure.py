"""Set-level questions for the audit: *who* can reach a host, on *which* ports, from *where*.

`walk.py` answers "does this one flow get through?". An audit asks the inverse: the whole set of
(source address x port) that gets through. Both use the same pieces - `nacl.evaluate_nacl`
(first match wins, over rectangles), the SG rules as `sg.rule_ports` reads them, longest-prefix
routing - so nothing re-decides a rule; here they are applied to every address and every port
at once, with the rectangle arithmetic of `ports.py`, instead of to one sampled port.

    host_exposure(snap, instance)            -> Exposure   what the internet reaches on a host
    alb_leg_gaps(snap, lb, instance, ports)  -> [LegGap]   NACL parts that break ALB -> host
    describe(boxes)                          -> ["tcp 8081 from 0.0.0.0/0", ...]
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from helpers.evaluator.nacl import entry_text, evaluate_nacl
from helpers.evaluator.ports import (
    ALL_PORTS, EPHEMERAL_PORTS, Box, addresses_text, box, cidr_range, intersect, merge_intervals, port_text, ports_text,
    subtract_all,
)
from helpers.evaluator.sg import rule_ports
from helpers.evaluator.snapshot import Instance, LoadBalancer, SecurityGroup, Snapshot

EVERY_ADDRESS = (0, 2**32 - 1)
Interval = tuple[int, int]


# -- intervals of addresses ------------------------------------------------------------------------
def _clip(boxes: list[Box], intervals: list[Interval]) -> list[Box]:
    """The part of `boxes` whose addresses fall in `intervals` (every port kept)."""
    out = []
    for b in boxes:
        for lo, hi in intervals:
            cut = intersect(b, (lo, hi, *ALL_PORTS))
            if cut is not None:
                out.append(cut)
    return out


def _address_intervals(boxes) -> list[Interval]:
    return merge_intervals((b[0], b[1]) for b in boxes)


def _without(intervals: list[Interval], removed: list[Interval]) -> list[Interval]:
    boxes = [(lo, hi, 0, 0) for lo, hi in intervals]
    for lo, hi in removed:
        boxes = subtract_all(boxes, (lo, hi, 0, 0))
    return _address_intervals(boxes)


# -- routes ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class InternetRoute:
    """The addresses a subnet's route table sends to an attached internet gateway."""

    table_id: str
    igw_id: str
    destinations: tuple[str, ...]  # the routes that do it, e.g. ("0.0.0.0/0",)
    addresses: tuple[Interval, ...]  # what longest-prefix match leaves them (the VPC's own range goes "local")


def internet_route(snap: Snapshot, subnet_id: str) -> InternetRoute | None:
    """Longest-prefix match over every address at once: the most specific routes claim their
    addresses first; what an active route to the VPC's IGW keeps is "the internet" for this
    subnet. None when no address leaves through an IGW (a private subnet)."""
    subnet = snap.subnet_by_id.get(subnet_id)
    table = snap.route_table_by_subnet.get(subnet_id)
    igw = snap.igw_by_vpc.get(subnet.vpc_id) if subnet else None
    if table is None or igw is None:
        return None
    routes = [r for r in table.routes if "/" in r.destination and r.destination[0].isdigit()]  # no prefix lists
    routes.sort(key=lambda r: -int(r.destination.split("/")[1]))
    unclaimed, kept, destinations = [EVERY_ADDRESS], [], []
    for route in routes:
        claimed = _address_intervals(_clip([(*u, 0, 0) for u in unclaimed], [cidr_range(route.destination)]))
        if not claimed:
            continue
        unclaimed = _without(unclaimed, claimed)
        if route.target == igw.id and route.state == "active":
            kept += claimed
            destinations.append(route.destination)
    if not kept:
        return None
    return InternetRoute(table.id, igw.id, tuple(destinations), tuple(merge_intervals(kept)))


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


def host_exposure(snap: Snapshot, inst: Instance) -> Exposure:
    """Exactly which (internet address x TCP port) reach `inst` and get a reply:
    public IP  AND  a route from its subnet to the IGW (for the reply)  AND  NACL inbound
    (first match, as sets)  AND  NACL outbound for the reply  AND  SG inbound (union of rules).
    The client picks its own source port, so the reply needs only *some* port open to it."""
    empty = Exposure(inst.id, (), ())
    if inst.state != "running" or not inst.public_ip or not inst.subnet_id:
        return empty  # an IGW only forwards to public IPs (IGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS)
    route = internet_route(snap, inst.subnet_id)
    if route is None:
        return empty
    internet = list(route.addresses)
    acl = snap.nacl_by_subnet.get(inst.subnet_id)
    if acl is None:
        inbound, replies, nacl_words = [box(EVERY_ADDRESS, ALL_PORTS)], internet, []
    else:
        into = evaluate_nacl(snap, acl, False, EVERY_ADDRESS, ALL_PORTS)
        out = evaluate_nacl(snap, acl, True, EVERY_ADDRESS, ALL_PORTS)
        inbound = [b for _, boxes in into.allowed for b in boxes]
        replies = _address_intervals(b for _, boxes in out.allowed for b in boxes)
        nacl_words = [(f"NACL {acl.id} inbound rule {e.label} allows {entry_text(e)}", boxes) for e, boxes in into.allowed]
    grants = [g for gid in inst.group_ids if gid in snap.sg_by_id for g in sg_grants(snap.sg_by_id[gid])]
    # Seen from the internet a client is no SG's member: only CIDR sources can admit it.
    cidr_grants = [g for g in grants if g.cidr]
    admitted = [cut for g in cidr_grants for b in inbound if (cut := intersect(b, g.box)) is not None]
    reached = _clip(_clip(admitted, internet), replies)
    if not reached:
        return Exposure(inst.id, (), (), tuple(internet))
    touches = lambda boxes: any(intersect(a, b) for a in boxes for b in reached)  # noqa: E731
    evidence = [f"{inst.id} has public IP {inst.public_ip}",
                f"route table {route.table_id} sends {', '.join(route.destinations)} to {route.igw_id}"]
    evidence += [words for words, boxes in nacl_words if touches(boxes)]
    evidence += [g.words for g in cidr_grants if touches([g.box])]
    return Exposure(inst.id, tuple(reached), tuple(evidence), tuple(internet))


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
    in its subnet (as walk.py assumes)."""
    ips = snap.alb_node_ips.get((lb.arn, subnet_id))
    if ips:
        return cidr_range(ips[0]), f"ALB {lb.name} node {ips[0]}", f"{ips[0]}/32"
    subnet = snap.subnet_by_id[subnet_id]
    return cidr_range(subnet.cidr), f"ALB {lb.name} nodes ({subnet.cidr})", subnet.cidr


def alb_leg_gaps(snap: Snapshot, lb: LoadBalancer, inst: Instance, ports: list[Interval]) -> list[LegGap]:
    """Every NACL part that stops the ALB reaching `inst` on `ports` (ranges, not samples), or
    its reply coming back on 1024-65535 - the stateless return path that turns into 504s."""
    if not inst.private_ip or not inst.subnet_id:
        return []
    host = cidr_range(inst.private_ip)
    host_words, host_cidr = f"{inst.id} ({inst.private_ip})", f"{inst.private_ip}/32"
    gaps: list[LegGap] = []
    for subnet_id in sorted(s for s in lb.subnet_ids if s in snap.subnet_by_id):
        if subnet_id == inst.subnet_id:
            continue  # NACLs apply only at the subnet boundary
        node, node_words, node_cidr = alb_node_addresses(snap, lb, subnet_id)
        # (subnet, egress, reply, peer): ALB out, host in, host's reply out, reply into the ALB's subnet.
        crossings = [(subnet_id, True, False, (host, host_words, host_cidr), p) for p in ports]
        crossings += [(inst.subnet_id, False, False, (node, node_words, node_cidr), p) for p in ports]
        crossings += [(inst.subnet_id, True, True, (node, node_words, node_cidr), EPHEMERAL_PORTS),
                      (subnet_id, False, True, (host, host_words, host_cidr), EPHEMERAL_PORTS)]
        for where, egress, reply, (peer, peer_words, peer_cidr), wanted in crossings:
            acl = snap.nacl_by_subnet.get(where)
            if acl is None:
                continue
            result = evaluate_nacl(snap, acl, egress, peer, wanted)
            if result.ok:
                continue
            denied = [b for _, boxes in result.denied for b in boxes]
            deciders = tuple(f"rule {e.label} ({e.action} {entry_text(e)})" if e else "rule * (deny all)"
                             for e, _ in result.denied)
            gap = LegGap(acl.id, where, egress, reply, peer_words, peer_cidr, ports_text(denied), deciders)
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
    cuts = sorted({b[2] for b in boxes} | {b[3] + 1 for b in boxes})
    groups: list[list] = []  # [[port lo, port hi], address intervals]
    for lo, nxt in zip(cuts, cuts[1:]):
        sources = merge_intervals((b[0], b[1]) for b in boxes if b[2] <= lo and nxt - 1 <= b[3])
        if not sources:
            continue
        if groups and groups[-1][0][1] == lo - 1 and groups[-1][1] == sources:
            groups[-1][0][1] = nxt - 1
        else:
            groups.append([[lo, nxt - 1], sources])
    outside = _without([EVERY_ADDRESS], internet) if internet is not None else []
    return [f"tcp {port_text(lo, hi)} from {_sources_text(sources, outside)}" for (lo, hi), sources in groups]


def _sources_text(sources: list[Interval], outside: list[Interval]) -> str:
    """CIDRs, or "0.0.0.0/0 except ..." when the holes are the shorter list."""
    if outside:
        sources = _bridge(sources, outside)
    holes = _without(_without([EVERY_ADDRESS], sources), outside)
    if holes and _cidr_count(holes) < _cidr_count(sources):
        return f"0.0.0.0/0 except {_text(holes)}"
    return _text(sources)


def _text(intervals: list[Interval]) -> str:
    return addresses_text([(lo, hi, 0, 0) for lo, hi in intervals])


def _cidr_count(intervals: list[Interval]) -> int:
    return sum(len(list(ipaddress.summarize_address_range(ipaddress.IPv4Address(lo), ipaddress.IPv4Address(hi))))
               for lo, hi in intervals)


def _bridge(sources: list[Interval], outside: list[Interval]) -> list[Interval]:
    """Join source intervals across gaps that hold no internet address (and extend to the ends
    of the address space the same way)."""
    filled = merge_intervals(list(sources) + outside)
    # Keep only the filled intervals that contain a real source: an all-outside block stays out.
    return [iv for iv in filled if any(iv[0] <= s[0] and s[1] <= iv[1] for s in sources)]
