"""Walk a flow through the network hop by hop, in the order AWS applies each setting.

    evaluate(snap, Flow(alb_dns, 80))        -> Verdict   the whole path, every blocker on it
    evaluate_alb_to_target(snap, lb, i, p)  -> TargetLeg the ALB-to-target part alone
    route_request(snap, listener, path=...) -> RuleMatch which listener rule takes one request

Order for an internet client and an internet-facing ALB (Reachability Analyzer's forward and
return path components):
    internet gateway -> each ALB subnet: route back to the IGW, NACL in (+ NACL out for the
    reply) -> ALB security groups in -> listener -> rule -> target group(s) -> each target:
    ALB SG out, NACLs between the ALB's subnets and the target's, target SG in -> the ECS task
    bound to instance:port -> its container port.

Choices where AWS documents no single answer (say so to learners):
- An ALB has a node in each of its subnets and DNS hands out all of them, so a client may reach
  any node, and every node may send to every target (cross-zone load balancing is always on for
  ALBs). The walk checks each ALB subnet and reports a blocker found in any of them.
- Replies go to the peer's ephemeral ports. Clients and the ALB (which remaps source ports,
  FACTS.md) use 1024-65535, so a stateless NACL must admit all of 1024-65535 for replies; the
  explanation names the part that is missing.
- When no ENI of the ALB is visible (the sandbox), a node's address is "somewhere in its subnet",
  so a CIDR rule must cover the whole subnet to admit it.
"""

from __future__ import annotations

import ipaddress

import re
from dataclasses import dataclass, field
from functools import lru_cache

from helpers.evaluator.model import INTERNET_CLIENT_IP, Explanation, Flow, Hop, RuleMatch, TargetLeg, Verdict
from helpers.evaluator.crossing import Crossing, connection_crossings, cross_nacl, internet_crossings
from helpers.evaluator.nacl import entry_text
from helpers.evaluator.ports import (
    EVERY_ADDRESS, addresses_text, cidr_range, ip_int, is_ipv4, merge_intervals, port_text, ports_text,
)
from helpers.evaluator.sg import evaluate_sgs
from helpers.evaluator.routes import route_for
from helpers.evaluator.snapshot import Instance, LoadBalancer, Snapshot
from helpers.facts import DYNAMIC_HOST_PORTS

# A registered target, in explanations that hold for every target alike (the digest's words).
_TARGET_ROLE, _TARGET_KIND = "the target's", "the target"
_MEMO_LIMIT = 20000  # a snapshot lives a fraction of a second in the sandbox; this only bounds memory


# -- the path being built ----------------------------------------------------------------------
@dataclass
class _Path:
    hops: list[Hop] = field(default_factory=list)
    explanations: list[Explanation] = field(default_factory=list)

    def hop(self, kind: str, resource_id: str, allowed: bool, detail: str, direction: str = "forward") -> None:
        new = Hop(kind, resource_id, allowed, detail, direction)  # type: ignore[arg-type]
        if new not in self.hops:  # several ALB nodes often find the same thing
            self.hops.append(new)

    def block(self, code: str, resource_id: str, problem: str, remedy: str, **fields) -> None:
        """One blocker; `problem` and `remedy` may hold {resource}, {ports}, {peer} (see Explanation)."""
        new = Explanation(code, resource_id, problem, remedy, **fields)
        if new not in self.explanations:
            self.explanations.append(new)


@dataclass(frozen=True)
class _Endpoint:
    """One end of a flow, as the network sees it."""

    label: str  # "internet client 203.0.113.10", "instance i-0abc (10.0.1.4)"
    resource_id: str
    addresses: tuple[int, int]  # one address, or every address an ALB node may use
    subnet_id: str | None = None  # None: outside every VPC (the internet)
    vpc_id: str | None = None
    group_ids: tuple[str, ...] = ()
    instance: Instance | None = None
    name: str = ""  # shorter, for explanations that hold for every node of an ALB
    role: str = "the client's"  # whose settings these are, to a learner: "the ALB's", "the target's"
    kind: str = ""  # the endpoint as any target of its kind: "the target" (empty: as `label`)

    @property
    def address_text(self) -> str:
        return addresses_text([(*self.addresses, 0, 0)])

    @property
    def on_internet(self) -> bool:
        return self.subnet_id is None



def _target_order(snap, target_id: str, port: int) -> tuple:
    """Targets by their instance's Name tag, then port: a stable order (instance ids are random)."""
    instance = snap.instance_by_id.get(target_id)
    return (instance.name if instance and instance.name else target_id, target_id, port)


def _subnets_in_order(snap, subnet_ids) -> list[str]:
    """Subnet ids by CIDR (then id): the same order every time the same network is built,
    so the hops and their explanations read the same from run to run."""
    def key(subnet_id):
        subnet = snap.subnet_by_id.get(subnet_id)
        return (ipaddress.ip_network(subnet.cidr) if subnet else ipaddress.ip_network("255.255.255.255/32"), subnet_id)
    return sorted(subnet_ids, key=key)

def _internet_client(address: str = INTERNET_CLIENT_IP) -> _Endpoint:
    value = ip_int(address)
    return _Endpoint(f"internet client {address}", address, (value, value))


def _instance_endpoint(inst: Instance, role: str = "the instance's", kind: str = "") -> _Endpoint:
    value = ip_int(inst.private_ip) if inst.private_ip else 0
    return _Endpoint(f"instance {inst.id} ({inst.private_ip})", inst.id, (value, value), inst.subnet_id,
                     inst.vpc_id, inst.group_ids, inst, role=role, kind=kind)


def _alb_endpoint(lb: LoadBalancer) -> _Endpoint:
    """The ALB as the owner of its security groups (the SGs see peers, not which node)."""
    return _Endpoint(f"ALB {lb.name}", lb.arn, EVERY_ADDRESS, vpc_id=lb.vpc_id, group_ids=lb.group_ids, role="the ALB's")


def _alb_node(snap: Snapshot, lb: LoadBalancer, subnet_id: str) -> _Endpoint:
    addresses, where = snap.alb_node_addresses(lb.arn, subnet_id)
    return _Endpoint(f"ALB {lb.name} node in {subnet_id} ({where})", f"{lb.arn}@{subnet_id}", addresses,
                     subnet_id, lb.vpc_id, lb.group_ids, name=f"ALB {lb.name}", role="the ALB's")


# -- one setting at a time -----------------------------------------------------------------------
def _check_nacl(path: _Path, snap: Snapshot, crossing: Crossing, owner_role: str, *, host_port: bool = False) -> None:
    """One NACL crossing; `owner_role`: whose subnet it is, in words ("the ALB's")."""
    subnet_id, egress, reply, peer, ports = (crossing.subnet_id, crossing.egress, crossing.reply, crossing.peer,
                                             crossing.ports)
    kind = "nacl-out" if egress else "nacl-in"
    way, prep = ("outbound", "to") if egress else ("inbound", "from")
    direction = "return" if reply else "forward"
    result = cross_nacl(snap, crossing)
    if result is None:
        path.hop(kind, subnet_id, True, f"no network ACL is associated with {subnet_id}", direction)
        return
    acl = snap.nacl_by_subnet[subnet_id]
    what = f"tcp {port_text(*ports)} {prep} {peer.label}"
    if reply:
        what = f"replies ({what})"
    if result.ok:
        rules = "; ".join(f"rule {e.label} allows {entry_text(e)}" for e, _ in result.allowed)
        path.hop(kind, acl.id, True, f"NACL {acl.id} ({subnet_id}) {way} {rules} - {what}", direction)
        return
    deniers = ", ".join(f"rule {e.label if e else '*'} ({entry_text(e) if e else 'deny all'}) denies "
                        f"tcp {ports_text(list(boxes))}" for e, boxes in result.denied)
    path.hop(kind, acl.id, False, f"NACL {acl.id} ({subnet_id}) {way}: {deniers} - {what}", direction)
    denied_boxes = [b for _, boxes in result.denied for b in boxes]
    first_deny = result.denied[0][0]
    numbered = first_deny is not None and first_deny.label != "*"
    where = f", numbered below {first_deny.label} (rule {first_deny.label} denies it now)" if numbered \
        else " (only the * rule stops it now)"
    peer_cidr = "0.0.0.0/0" if peer.on_internet else addresses_text(denied_boxes)
    label = "the return direction: " if reply else ""
    denied_ports = merge_intervals((b[2], b[3]) for b in denied_boxes)
    path.block(
        "SUBNET_ACL_RESTRICTION", acl.id,
        f"{owner_role} network ACL {{resource}} blocks {label}{way} tcp {{ports}} {prep} {{peer}}"
        + (" (NACLs are stateless: replies need their own rule)" if reply else ""),
        f"add {way} rule to {{resource}}: allow tcp {{ports}} {prep} {peer_cidr}{where}",
        resource_name=acl.name, role=f"{owner_role} network ACL", direction="return" if reply else "forward",
        ports=tuple(denied_ports), peer=peer.label, peer_kind=peer.kind,
        host_port=host_port and not reply)


def _check_sgs(path: _Path, snap: Snapshot, owner: _Endpoint, *, egress: bool, peer: _Endpoint,
               ports: tuple[int, int], fix_ports: tuple[int, int] | None = None, host_port: bool = False) -> None:
    """The security groups on `owner`'s ENI: inbound from `peer`, or outbound to it.
    `fix_ports`: the range to suggest opening when it is wider than the port asked about;
    `host_port`: `ports` is a target's dynamic host port."""
    result = evaluate_sgs(snap, owner.group_ids, egress, peer.addresses, peer.group_ids, ports)
    kind = "sg-out" if egress else "sg-in"
    way, prep = ("outbound", "to") if egress else ("inbound", "from")
    groups = ", ".join(result.group_ids) or "(none)"
    if result.ok:
        path.hop(kind, groups, True, "; ".join(result.used) + f" - {owner.label} {way} tcp {port_text(*ports)} {prep} {peer.label}")
        return
    missing = ports_text(list(result.missing))
    path.hop(kind, groups, False, f"no rule of {groups} allows {way} tcp {missing} {prep} {peer.label}")
    code = "SG_HAS_NO_RULES" if result.no_rules else "ENI_SG_RULES_MISMATCH"
    # Name the peer's group when it has one (the ALB guide's advice), else its address.
    source = peer.group_ids[0] if peer.group_ids else ("0.0.0.0/0" if peer.on_internet else addresses_text(list(result.missing)))
    target = result.group_ids[0] if result.group_ids else owner.resource_id
    suggested = f"tcp {port_text(*fix_ports)} {prep} {source} (the whole dynamic host port range: the next task may get " \
        f"another port)" if fix_ports else f"tcp {{ports}} {prep} {source}"
    several = f" (with {groups}: none allows it)" if len(result.group_ids) > 1 else ""
    group = snap.sg_by_id.get(target)
    missing_ports = tuple(merge_intervals((b[2], b[3]) for b in result.missing))
    path.block(code, target,
               f"{owner.role} security group {{resource}} does not allow {way} tcp {{ports}} {prep} {{peer}}{several}",
               f"add {way} rule to {{resource}}: {suggested}",
               resource_name=group.name if group else "", role=f"{owner.role} security group",
               ports=missing_ports, peer=peer.name or peer.label, peer_kind=peer.kind,
               host_port=host_port)


def _check_internet_side(path: _Path, snap: Snapshot, endpoint: _Endpoint, client: _Endpoint) -> None:
    """What an internet connection needs at an endpoint in a VPC: an attached internet gateway,
    and a route back to it from the endpoint's subnet (else replies cannot leave)."""
    igw = snap.igw_by_vpc.get(endpoint.vpc_id or "")
    if igw is None:
        path.hop("igw", endpoint.vpc_id or "?", False, f"no internet gateway is attached to {endpoint.vpc_id}")
        path.block("NO_ROUTE_TO_DESTINATION", endpoint.vpc_id or "?",
                   f"{endpoint.vpc_id} has no internet gateway: nothing on the internet reaches {endpoint.label}",
                   f"attach an internet gateway to {endpoint.vpc_id} and route 0.0.0.0/0 to it from {endpoint.subnet_id}")
        return
    path.hop("igw", igw.id, True, f"internet gateway {igw.id} is attached to {endpoint.vpc_id}")
    table, route = route_for(snap, endpoint.subnet_id or "", client.addresses)
    table_id = table.id if table else endpoint.subnet_id or "?"
    if route is not None and route.target == igw.id and route.state == "active":
        path.hop("route", table_id, True,
                 f"route table {table_id} ({endpoint.subnet_id}): {route.destination} -> {igw.id}, so replies to {client.label} leave through the IGW")
        return
    found = f"sends {client.address_text} to {route.target} ({route.state})" if route else f"has no route for {client.address_text}"
    path.hop("route", table_id, False, f"route table {table_id} ({endpoint.subnet_id}) {found}")
    code = "BAD_STATE_ROUTE" if route is not None and route.state != "active" else "NO_ROUTE_TO_DESTINATION"
    path.block(code, table_id,
               f"route table {{resource}} of {endpoint.subnet_id} {found}, not to {igw.id}: {{peer}} sits in a "
               f"private subnet and cannot answer the internet",
               f"add route 0.0.0.0/0 -> {igw.id} to {{resource}}, or place {endpoint.resource_id} in a public subnet",
               resource_name=table.name if table else "", role=f"{endpoint.role} route table",
               peer=endpoint.label, peer_kind=endpoint.kind)


def _check_local_route(path: _Path, snap: Snapshot, source: _Endpoint, dest: _Endpoint) -> None:
    table, route = route_for(snap, source.subnet_id or "", dest.addresses)
    table_id = table.id if table else source.subnet_id or "?"
    if route is not None and route.target == "local":
        path.hop("route", table_id, True, f"route table {table_id}: {route.destination} -> local (inside {source.vpc_id})")
        return
    found = f"sends it to {route.target}" if route else "has no route for it"
    path.hop("route", table_id, False, f"route table {table_id} {found}")
    path.block("NO_ROUTE_TO_DESTINATION", table_id,
               f"route table {{resource}} of {source.subnet_id} {found}: {{peer}} is not reachable inside the VPC",
               "keep the VPC's local route in {resource}",
               resource_name=table.name if table else "", role=f"{source.role} route table",
               peer=dest.label, peer_kind=dest.kind)


def _check_crossing(path: _Path, snap: Snapshot, source: _Endpoint, dest: _Endpoint, port: int, *,
                    host_port: bool = False) -> None:
    """NACLs between two endpoints inside one VPC: only at subnet boundaries, both ways, with the
    reply to the source's ephemeral ports."""
    crossings = connection_crossings(source, dest, (port, port))
    if not crossings:
        path.hop("nacl", source.subnet_id or "?", True,
                 f"{source.label} and {dest.label} share {source.subnet_id}: NACLs apply only at the subnet boundary")
        return
    for crossing in crossings:
        owner = source if crossing.subnet_id == source.subnet_id else dest
        _check_nacl(path, snap, crossing, owner.role, host_port=host_port)


def _enter_from_internet(path: _Path, snap: Snapshot, client: _Endpoint, dest: _Endpoint, port: int) -> None:
    """Internet client -> endpoint in a public subnet: IGW, return route, NACL in and out (reply)."""
    _check_internet_side(path, snap, dest, client)
    for crossing in internet_crossings(dest, client, (port, port), inbound=True):
        _check_nacl(path, snap, crossing, dest.role)


def _leave_to_internet(path: _Path, snap: Snapshot, source: _Endpoint, port: int, what: str) -> _Endpoint | None:
    """A VPC endpoint connecting to a public address: out through an IGW (with its own public IP)
    or a NAT gateway. Returns the client the far end sees (a public address), or None if blocked."""
    internet = _Endpoint(what, what, EVERY_ADDRESS)
    _check_sgs(path, snap, source, egress=True, peer=internet, ports=(port, port))
    for crossing in internet_crossings(source, internet, (port, port), inbound=False):
        _check_nacl(path, snap, crossing, source.role)
    table, route = route_for(snap, source.subnet_id or "", EVERY_ADDRESS)
    table_id = table.id if table else source.subnet_id or "?"
    target = route.target if route else None
    public_ip = None
    if target and target.startswith("igw-"):
        public_ip = source.instance.public_ip if source.instance else None
        if public_ip is None:
            path.hop("route", table_id, False, f"route table {table_id}: 0.0.0.0/0 -> {target}, but {source.label} has no public IP")
            path.block("LAB_NO_PUBLIC_IP_FOR_EGRESS", source.resource_id,
                       f"{source.label} has no public IP, so the internet gateway cannot carry its traffic",
                       f"give {source.resource_id} a public IP, or route 0.0.0.0/0 in {table_id} to a NAT gateway")
            return None
    elif target and target.startswith("nat-"):
        nat = next((n for n in snap.nat_gateways if n.id == target), None)
        public_ip = nat.public_ip if nat else None
    if public_ip is None:
        path.hop("route", table_id, False, f"route table {table_id} has no route to the internet")
        path.block("NO_ROUTE_TO_DESTINATION", table_id,
                   f"route table {table_id} of {source.subnet_id} has no route to the internet for {what}",
                   f"add route 0.0.0.0/0 -> an internet gateway (public subnet) or a NAT gateway to {table_id}")
        return None
    path.hop("route", table_id, True, f"route table {table_id}: 0.0.0.0/0 -> {target}; the far end sees {public_ip}")
    value = ip_int(public_ip)
    # Seen by a public address, the source is no longer "a member of its SG": group rules stop matching.
    return _Endpoint(f"{source.resource_id} via public address {public_ip}", public_ip, (value, value))


# -- sources and destinations -------------------------------------------------------------------
def _source_endpoint(snap: Snapshot, source: str) -> tuple[_Endpoint | None, str]:
    """The flow's source as an endpoint, and a sentence saying how it was read."""
    if source == "internet":
        return _internet_client(), f"source: an internet client ({INTERNET_CLIENT_IP})"
    if source.startswith("i-"):
        inst = snap.instance_by_id.get(source)
        return (_instance_endpoint(inst), f"source: {inst.id}") if inst and inst.private_ip else (None, f"no instance {source}")
    if source.startswith("sg-"):
        members = sorted(i.id for i in snap.instances if source in i.group_ids and i.private_ip and i.state == "running")
        if members:
            inst = snap.instance_by_id[members[0]]
            return _instance_endpoint(inst), f"source: {inst.id}, a member of {source}"
        for lb in sorted(snap.load_balancers, key=lambda lb: lb.arn):
            if source in lb.group_ids and lb.subnet_ids:
                return _alb_node(snap, lb, _subnets_in_order(snap, lb.subnet_ids)[0]), f"source: ALB {lb.name}, a member of {source}"
        return None, f"{source} has no running member to start from"
    if is_ipv4(source):
        inst = snap.instance_by_private_ip.get(source)
        if inst is not None:
            return _instance_endpoint(inst), f"source: {inst.id} (owns {source})"
        return _internet_client(source), f"source: {source}, outside every VPC"
    return None, f"cannot read source {source!r}: use 'internet', an IPv4 address, i-... or sg-..."


def _unresolved(flow: Flow, resource: str, message: str) -> Verdict:
    return Verdict(flow, "unresolved", explanations=(Explanation(
        "LAB_UNRESOLVED", resource, message,
        "use an ALB DNS name, an EC2 public DNS name or IP, or a private IP from this region"),))


def _memo(snap: Snapshot, key, compute):
    found = snap.memo.get(key)
    if found is None:
        if len(snap.memo) > _MEMO_LIMIT:
            snap.memo.clear()
        found = snap.memo[key] = compute()
    return found


def evaluate(snapshot: Snapshot, flow: Flow) -> Verdict:
    """The whole path of one flow, with every blocker on it."""
    return _memo(snapshot, ("flow", flow), lambda: _evaluate(snapshot, flow))


def _evaluate(snap: Snapshot, flow: Flow) -> Verdict:
    dest = snap.resolve(flow.destination)
    if dest is None:
        return _unresolved(flow, flow.destination, f"{flow.destination} is not an ALB, instance or address in this region")
    source, how = _source_endpoint(snap, flow.source)
    if source is None:
        return _unresolved(flow, flow.source, how)
    path = _Path()
    path.hop("source", source.resource_id, True, how)
    if dest.kind == "load_balancer":
        return _to_load_balancer(snap, flow, source, snap.lb_by_arn[dest.resource_id], path)
    return _to_instance(snap, flow, source, snap.instance_by_id[dest.resource_id], dest.via, path)


def _to_instance(snap: Snapshot, flow: Flow, source: _Endpoint, inst: Instance, via: str, path: _Path) -> Verdict:
    port = flow.port
    dest = _instance_endpoint(inst)
    public = via in ("public_ip", "public_dns")
    address = inst.public_ip if public else inst.private_ip
    path.hop("resolve", inst.id, True, f"{flow.destination} is {'the public' if public else 'the private'} address {address} of {inst.id}")
    if inst.state != "running":
        path.hop("instance", inst.id, False, f"{inst.id} is {inst.state}")
        path.block("BAD_STATE", inst.id, f"instance {inst.id} is {inst.state}", f"start {inst.id}")
    if public:
        client = source
        if not source.on_internet:
            client = _leave_to_internet(path, snap, source, port, f"{inst.public_ip} ({inst.id})")
        if client is not None:
            _enter_from_internet(path, snap, client, dest, port)
            _check_sgs(path, snap, dest, egress=False, peer=client, ports=(port, port))
    elif source.on_internet:
        path.hop("igw", inst.id, False, f"{address} is a private address: the internet cannot route to it")
        path.block("IGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS", inst.id,
                   f"{address} is a private IP of {inst.id}; an internet gateway only forwards to public IPs",
                   f"connect to {inst.id}'s public IP or DNS name (give it one), or go through the ALB")
    elif source.vpc_id != inst.vpc_id:
        path.block("NO_ROUTE_TO_DESTINATION", inst.vpc_id or inst.id,
                   f"{source.label} is in {source.vpc_id}, {inst.id} in {inst.vpc_id}: no route between them",
                   "peer the VPCs, or connect to a public address")
    else:
        _check_sgs(path, snap, source, egress=True, peer=dest, ports=(port, port))
        _check_local_route(path, snap, source, dest)
        _check_crossing(path, snap, source, dest, port)
        _check_sgs(path, snap, dest, egress=False, peer=source, ports=(port, port))
    if path.explanations:
        return Verdict(flow, "dropped", tuple(path.hops), tuple(path.explanations), instance_id=inst.id, instance_port=port)
    _binding_hops(path, snap, inst.id, port)
    return Verdict(flow, "instance", tuple(path.hops), (), instance_id=inst.id, instance_port=port)


def _to_load_balancer(snap: Snapshot, flow: Flow, source: _Endpoint, lb: LoadBalancer, path: _Path) -> Verdict:
    port = flow.port
    subnets = _subnets_in_order(snap, lb.subnet_ids)
    path.hop("resolve", lb.arn, True, f"{flow.destination} is ALB {lb.name} ({lb.scheme}) with nodes in {', '.join(subnets)}")
    client = source
    if lb.scheme == "internal" and source.on_internet:
        path.hop("igw", lb.arn, False, f"ALB {lb.name} is internal: its nodes have private addresses only")
        path.block("LAB_INTERNAL_LOAD_BALANCER", lb.arn,
                   f"ALB {lb.name} is internal; {source.label} on the internet cannot reach it",
                   "use an internet-facing ALB in public subnets, or connect from inside the VPC")
    elif lb.scheme == "internal":
        if source.vpc_id != lb.vpc_id:
            path.block("NO_ROUTE_TO_DESTINATION", lb.vpc_id, f"{source.label} is not in {lb.vpc_id}",
                       "connect from inside the ALB's VPC (or a peered one)")
        for subnet_id in subnets:
            node = _alb_node(snap, lb, subnet_id)
            _check_sgs(path, snap, source, egress=True, peer=node, ports=(port, port))
            _check_local_route(path, snap, source, node)
            _check_crossing(path, snap, source, node, port)
    else:
        if not source.on_internet:
            client = _leave_to_internet(path, snap, source, port, f"ALB {lb.name}'s public addresses")
        if client is not None:
            for subnet_id in subnets:
                _enter_from_internet(path, snap, client, _alb_node(snap, lb, subnet_id), port)
    if client is not None:
        # The SGs see the client, not the node: check once for the ALB's ENIs.
        _check_sgs(path, snap, _alb_endpoint(lb), egress=False, peer=client, ports=(port, port))
    network_blocked = bool(path.explanations)

    listener = next((li for li in snap.listeners_by_lb.get(lb.arn, ()) if li.port == port), None)
    if listener is None:
        ports = ", ".join(str(li.port) for li in snap.listeners_by_lb.get(lb.arn, ())) or "none"
        path.hop("listener", lb.arn, False, f"ALB {lb.name} has no listener on port {port} (listeners: {ports})")
        # What a client sees at a port the SG admits but no listener serves is not documented by
        # AWS (FACTS.md, "Unconfirmed"); the sandbox lets it time out, and says so.
        unconfirmed = "" if network_blocked else (
            "; AWS does not document whether a client then sees a timeout or a refusal - the sandbox lets it time out")
        path.block("ELBV2_LISTENERS_MISMATCH", lb.arn,
                   f"ALB {lb.name} has no listener on port {port} (it listens on: {ports}){unconfirmed}",
                   f"connect to a listener port ({ports}): the ALB forwards from there to the tasks' host ports; "
                   f"or create a listener on {port} (and allow tcp {port} in {', '.join(lb.group_ids)})",
                   resource_name=lb.name, role="the ALB", ports=((port, port),))
        outcome = "dropped" if network_blocked else "no_listener"
        return Verdict(flow, outcome, tuple(path.hops), tuple(path.explanations), load_balancer_arn=lb.arn)
    path.hop("listener", listener.arn, True, f"listener {listener.protocol}:{listener.port} on ALB {lb.name}")
    if network_blocked:
        return Verdict(flow, "dropped", tuple(path.hops), tuple(path.explanations),
                       load_balancer_arn=lb.arn, listener_arn=listener.arn)

    match = route_request(snap, listener.arn, path=flow.path, host=flow.host or flow.destination, method=flow.method,
                          source_ip=None if client is None else addresses_text([(*client.addresses, 0, 0)]))
    for h in match.hops:
        path.hop(h.kind, h.resource_id, h.allowed, h.detail, h.direction)
    groups = tuple(arn for arn, weight in match.target_groups if weight > 0)
    legs = []
    if match.action_type == "forward" and not groups:
        path.block("ELBV2_LISTENER_HAS_NO_TG", match.rule_arn,
                   f"rule {match.priority} forwards to no target group with a weight above 0",
                   "give at least one target group of the forward action a weight of 1 or more")
    for tg_arn in groups:
        tg = snap.tg_by_arn.get(tg_arn)
        records = snap.targets_by_group.get(tg_arn, ())
        states = ", ".join(f"{n} {s}" for s, n in sorted(_count(r.state for r in records).items())) or "none"
        name = tg.name if tg else tg_arn
        path.hop("target-group", tg_arn, bool(records), f"target group {name}: {len(records)} registered target(s) ({states})")
        if not records:
            path.block("LAB_NO_REGISTERED_TARGETS", tg_arn, f"target group {name} has no registered targets: the ALB answers 503",
                       f"register targets in {name} (for ECS: run the service's tasks)",
                       resource_name=tg.name if tg else "", role="the listener rule's target group")
        for record in sorted(records, key=lambda r: _target_order(snap, r.id, r.port)):
            legs.append(evaluate_alb_to_target(snap, lb.arn, record.id, record.port, target_group_arn=tg_arn))
    return Verdict(flow, "listener", tuple(path.hops), tuple(path.explanations), load_balancer_arn=lb.arn,
                   listener_arn=listener.arn, rule_arn=match.rule_arn, target_group_arns=groups, targets=tuple(legs))


def _count(values) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


# -- the ALB-to-target leg -------------------------------------------------------------------------
def evaluate_alb_to_target(snapshot: Snapshot, load_balancer_arn: str, target_id: str, port: int, *,
                           target_group_arn: str | None = None) -> TargetLeg:
    """The ALB-to-target leg for one target (instance id or IP) and port. `target_group_arn`
    picks whose health to report; by default the first of the ALB's groups that has the target."""
    snap = snapshot
    if target_group_arn is None:
        target_group_arn = next((tg.arn for tg in snap.target_groups_of(load_balancer_arn)
                                 if any(r.id == target_id and r.port == port for r in snap.targets_by_group.get(tg.arn, ()))), "")
    record = next((r for r in snap.targets_by_group.get(target_group_arn, ()) if r.id == target_id and r.port == port), None)
    hops, explanations, binding = _memo(snap, ("leg", load_balancer_arn, target_id, port),
                                        lambda: _alb_to_target(snap, load_balancer_arn, target_id, port))
    task, container_name, container_port = binding
    return TargetLeg(target_group_arn, target_id, port, record.state if record else "unused", hops, explanations,
                     task, container_name, container_port)


def _alb_to_target(snap: Snapshot, lb_arn: str, target_id: str, port: int):
    path = _Path()
    lb = snap.lb_by_arn.get(lb_arn)
    no_binding = (None, None, None)
    if lb is None:
        path.block("LAB_UNRESOLVED", lb_arn, f"no load balancer {lb_arn} in this region", "check the ARN")
        return tuple(path.hops), tuple(path.explanations), no_binding
    if is_ipv4(target_id):  # ip targets (awsvpc tasks): whoever owns the address
        inst = snap.instance_by_private_ip.get(target_id)
        subnet = snap.subnet_for_ip(target_id)
        if inst is not None:
            dest = _Endpoint(f"target {target_id} ({inst.id})", target_id, (ip_int(target_id),) * 2, inst.subnet_id,
                             inst.vpc_id, inst.group_ids, inst, role=_TARGET_ROLE, kind=_TARGET_KIND)
        elif subnet is not None:
            task = snap.task_by_ip.get(target_id)
            eni = snap.eni_by_private_ip.get(target_id)
            groups = eni.group_ids if eni else ()
            dest = _Endpoint(f"target {target_id}" + (f" (task {task.arn.rsplit('/', 1)[-1]})" if task else ""), target_id,
                             (ip_int(target_id),) * 2, subnet.id, subnet.vpc_id, groups, role=_TARGET_ROLE, kind=_TARGET_KIND)
        else:
            path.block("BAD_STATE", target_id, f"target {target_id} is in no subnet of this region", f"deregister {target_id}")
            return tuple(path.hops), tuple(path.explanations), no_binding
    else:
        inst = snap.instance_by_id.get(target_id)
        if inst is None or inst.private_ip is None:
            path.block("BAD_STATE", target_id, f"target {target_id} is not an instance in this region (terminated?)",
                       f"deregister {target_id}")
            return tuple(path.hops), tuple(path.explanations), no_binding
        dest = _instance_endpoint(inst, _TARGET_ROLE, _TARGET_KIND)
    if inst is not None and inst.state != "running":
        path.hop("target", target_id, False, f"{inst.id} is {inst.state}")
        path.block("BAD_STATE", inst.id, f"target instance {inst.id} is {inst.state}", f"start {inst.id} or deregister it")

    lb_zones = {snap.subnet_by_id[s].availability_zone for s in lb.subnet_ids if s in snap.subnet_by_id}
    dest_subnet = snap.subnet_by_id.get(dest.subnet_id or "")
    if dest_subnet is not None and lb_zones and dest_subnet.availability_zone not in lb_zones:
        path.block("ELB_INSTALLED_AZ_RESTRICTION", target_id,
                   f"{target_id} is in {dest_subnet.availability_zone}, where ALB {lb.name} has no subnet: it receives no traffic",
                   f"add a subnet in {dest_subnet.availability_zone} to ALB {lb.name}")
    if dest.vpc_id != lb.vpc_id:
        path.block("NO_ROUTE_TO_DESTINATION", target_id, f"{target_id} is in {dest.vpc_id}, ALB {lb.name} in {lb.vpc_id}",
                   "register targets from the ALB's VPC")
        return tuple(path.hops), tuple(path.explanations), no_binding

    subnets = _subnets_in_order(snap, lb.subnet_ids)
    # An ECS task on a dynamic host port: suggest the range every later task may use, not this one port.
    bound = snap.binding_index.get((target_id, port))
    in_range = DYNAMIC_HOST_PORTS[0] <= port <= DYNAMIC_HOST_PORTS[1]
    dynamic = bound is not None and in_range
    # SG egress depends only on the target, so one check serves every node (FACTS: ALB SG egress counts).
    _check_sgs(path, snap, _alb_endpoint(lb), egress=True, peer=dest, ports=(port, port), host_port=in_range)
    for subnet_id in subnets:
        node = _alb_node(snap, lb, subnet_id)
        _check_local_route(path, snap, node, dest)
        _check_crossing(path, snap, node, dest, port, host_port=in_range)
        _check_sgs(path, snap, dest, egress=False, peer=node, ports=(port, port),
                   fix_ports=DYNAMIC_HOST_PORTS if dynamic else None, host_port=in_range)
    binding = no_binding
    if not path.explanations:
        binding = _binding_hops(path, snap, target_id, port)
    return tuple(path.hops), tuple(path.explanations), binding


def _binding_hops(path: _Path, snap: Snapshot, target_id: str, port: int):
    """Who answers on target:port: the ECS task whose networkBindings use it (bridge/host mode),
    or the awsvpc task owning the address. Nothing bound is not a network blocker: the connection
    is refused (the ALB answers 502), so it is a failed hop without an explanation."""
    bound = snap.binding_index.get((target_id, port))
    if bound is not None:
        task, b = bound
        task_id = task.arn.rsplit("/", 1)[-1]
        path.hop("binding", f"{target_id}:{port}", True, f"{target_id}:{port} is host port {b.host_port} of task {task_id} ({task.last_status})")
        path.hop("container", task.arn, True, f"container {b.container_name} listens on {b.container_port}")
        return task.arn, b.container_name, b.container_port
    task = snap.task_by_ip.get(target_id)
    if task is not None:  # awsvpc: the task's own ENI, host port = container port (FACTS.md)
        name = next((b.container_name for b in task.bindings if b.container_port == port), None)
        path.hop("binding", f"{target_id}:{port}", True, f"{target_id} is task {task.arn.rsplit('/', 1)[-1]}'s own ENI (awsvpc)")
        return task.arn, name, port
    path.hop("binding", f"{target_id}:{port}", False, f"no running task is bound to {target_id}:{port}: nothing listens there (connection refused)")
    return None, None, None


# -- listener rules -------------------------------------------------------------------------------
@lru_cache(maxsize=4096)
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern:
    """ALB patterns: `*` is 0 or more characters, `?` exactly one, everything else literal."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _matches(pattern: str, value: str, ignore_case: bool) -> bool:
    return _wildcard(pattern, ignore_case).fullmatch(value) is not None


def _values(condition: dict, config: str) -> list:
    return list((condition.get(config) or {}).get("Values") or condition.get("Values") or [])


def _condition_matches(condition: dict, request: dict) -> tuple[bool, str]:
    """One rule condition against one request; returns (matched, words).
    Case rules (ALB guide "Listener rules" / ELBv2 API RuleCondition): path-pattern and
    http-request-method are case-sensitive; host-header, http-header values and query strings are not."""
    field_name = condition.get("Field", "")
    if field_name == "path-pattern":
        values = _values(condition, "PathPatternConfig")
        return any(_matches(v, request["path"], False) for v in values), f"path-pattern {' | '.join(values)}"
    if field_name == "host-header":
        values = _values(condition, "HostHeaderConfig")
        host = (request["host"] or "").split(":")[0]
        return bool(host) and any(_matches(v, host, True) for v in values), f"host-header {' | '.join(values)}"
    if field_name == "http-request-method":
        values = _values(condition, "HttpRequestMethodConfig")
        return request["method"] in values, f"http-request-method {' | '.join(values)}"
    if field_name == "source-ip":
        values = _values(condition, "SourceIpConfig")
        ip = request["source_ip"]
        hit = ip is not None and is_ipv4(ip) and any(
            lo <= ip_int(ip) <= hi for lo, hi in (cidr_range(v) for v in values if is_ipv4(v.split("/")[0])))
        return hit, f"source-ip {' | '.join(values)}"
    if field_name == "http-header":
        config = condition.get("HttpHeaderConfig") or {}
        name = config.get("HttpHeaderName", "")
        values = config.get("Values") or []
        got = [v for k, vs in request["headers"].items() if k.lower() == name.lower()
               for v in (vs if isinstance(vs, (list, tuple)) else [vs])]
        return any(_matches(p, g, True) for p in values for g in got), f"http-header {name}: {' | '.join(values)}"
    if field_name == "query-string":
        pairs = (condition.get("QueryStringConfig") or {}).get("Values") or []
        got = [(k, v) for k, vs in request["query"].items() for v in (vs if isinstance(vs, (list, tuple)) else [vs])]
        hit = any((p.get("Key") is None or _matches(p["Key"], k, True)) and _matches(p.get("Value", ""), v, True)
                  for p in pairs for k, v in got)
        words = " | ".join(f"{p['Key']}={p.get('Value', '')}" if p.get("Key") else p.get("Value", "") for p in pairs)
        return hit, f"query-string {words}"
    return False, f"{field_name} (not modelled: treated as no match)"


def route_request(snapshot: Snapshot, listener_arn: str, *, path: str, host: str | None, method: str = "GET",
                  headers: dict | None = None, query: dict | None = None, source_ip: str | None = None) -> RuleMatch:
    """Which rule of a listener handles one HTTP request: rules by priority, lowest first, every
    condition of a rule must match (one of its values each); the default rule last.
    Raises LookupError for a listener the snapshot does not have."""
    request = {"path": path.split("?", 1)[0], "host": host, "method": method, "headers": headers or {},
               "query": query or {}, "source_ip": source_ip}
    rules = snapshot.rules_by_listener.get(listener_arn)
    if not rules:
        raise LookupError(f"listener {listener_arn} has no rules in this snapshot")
    skipped = []
    for rule in rules:
        results = [_condition_matches(c, request) for c in rule.conditions]
        if all(ok for ok, _ in results):
            why = "default rule (no other rule matched)" if rule.is_default else \
                f"rule {rule.priority} matches ({'; '.join(words for _, words in results)})"
            if skipped:
                why += f"; rules {', '.join(skipped)} did not"
            return _action(listener_arn, rule, why)
        skipped.append(rule.priority)
    raise LookupError(f"listener {listener_arn} has no default rule in this snapshot")


def _action(listener_arn: str, rule, why: str) -> RuleMatch:
    # Authentication actions come first in Order and are not modelled; the terminal action decides.
    actions = sorted(rule.actions, key=lambda a: a.get("Order", 50001))
    action = next((a for a in actions if a.get("Type") in ("forward", "redirect", "fixed-response")), {"Type": "none"})
    kind = action["Type"]
    hop = Hop("rule", rule.arn, True, why)
    if kind == "forward":
        groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or []
        if groups:  # ForwardConfig (weighted) wins over the single TargetGroupArn form
            pairs = tuple((g["TargetGroupArn"], int(g.get("Weight", 1))) for g in groups)
        else:
            pairs = ((action["TargetGroupArn"], 1),) if action.get("TargetGroupArn") else ()
        detail = ", ".join(f"{arn.split('/')[-2] if '/' in arn else arn} (weight {w})" for arn, w in pairs)
        return RuleMatch(listener_arn, rule.arn, rule.priority, kind, pairs,
                         hops=(hop, Hop("action", rule.arn, True, f"forward to {detail or 'nothing'}")))
    if kind == "fixed-response":
        config = dict(action.get("FixedResponseConfig") or {})
        return RuleMatch(listener_arn, rule.arn, rule.priority, kind, fixed_response=config,
                         hops=(hop, Hop("action", rule.arn, True, f"fixed-response {config.get('StatusCode', '?')}")))
    if kind == "redirect":
        config = dict(action.get("RedirectConfig") or {})
        return RuleMatch(listener_arn, rule.arn, rule.priority, kind, redirect=config,
                         hops=(hop, Hop("action", rule.arn, True, f"redirect {config.get('StatusCode', '')}")))
    return RuleMatch(listener_arn, rule.arn, rule.priority, kind,
                     hops=(hop, Hop("action", rule.arn, False, "no forward, redirect or fixed-response action")))
