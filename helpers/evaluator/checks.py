"""The walk's steps, one setting at a time: each `check_*` looks at one kind of setting (a route
table, a network ACL crossing, the security groups) between two endpoints and writes what it
found into a `FlowPath` - a hop, and an `Explanation` when it blocks.

`walk.py` (one flow) and `ecs_reach.py` (the ECS agent's way out) build their paths from these, so
both explain a blocker in the same words. The rules themselves are decided below this module:
`routes.route_for`, `crossing.cross_nacl` (NACLs), `sg.evaluate_sgs`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from helpers.evaluator.crossing import Crossing, connection_crossings, cross_nacl, internet_crossings
from helpers.evaluator.model import INTERNET_CLIENT_IP, Explanation, Hop
from helpers.evaluator.nacl import entry_text
from helpers.evaluator.ports import EVERY_ADDRESS, addresses_text, ip_int, merge_intervals, port_text, ports_text
from helpers.evaluator.routes import route_for
from helpers.evaluator.sg import evaluate_sgs
from helpers.evaluator.snapshot import Instance, LoadBalancer, Snapshot

MEMO_LIMIT = 20000  # a snapshot lives a fraction of a second in the sandbox; this only bounds memory


# -- the path being built ----------------------------------------------------------------------
@dataclass
class FlowPath:
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
class Endpoint:
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



def subnets_in_order(snap, subnet_ids) -> list[str]:
    """Subnet ids by CIDR (then id): the same order every time the same network is built,
    so the hops and their explanations read the same from run to run."""
    def key(subnet_id):
        subnet = snap.subnet_by_id.get(subnet_id)
        return (ipaddress.ip_network(subnet.cidr) if subnet else ipaddress.ip_network("255.255.255.255/32"), subnet_id)
    return sorted(subnet_ids, key=key)

def internet_client(address: str = INTERNET_CLIENT_IP) -> Endpoint:
    value = ip_int(address)
    return Endpoint(f"internet client {address}", address, (value, value))


def instance_endpoint(inst: Instance, role: str = "the instance's", kind: str = "") -> Endpoint:
    value = ip_int(inst.private_ip) if inst.private_ip else 0
    return Endpoint(f"instance {inst.id} ({inst.private_ip})", inst.id, (value, value), inst.subnet_id,
                     inst.vpc_id, inst.group_ids, inst, role=role, kind=kind)


def alb_endpoint(lb: LoadBalancer) -> Endpoint:
    """The ALB as the owner of its security groups (the SGs see peers, not which node)."""
    return Endpoint(f"ALB {lb.name}", lb.arn, EVERY_ADDRESS, vpc_id=lb.vpc_id, group_ids=lb.group_ids, role="the ALB's")


def alb_node(snap: Snapshot, lb: LoadBalancer, subnet_id: str) -> Endpoint:
    addresses, where = snap.alb_node_addresses(lb.arn, subnet_id)
    return Endpoint(f"ALB {lb.name} node in {subnet_id} ({where})", f"{lb.arn}@{subnet_id}", addresses,
                     subnet_id, lb.vpc_id, lb.group_ids, name=f"ALB {lb.name}", role="the ALB's")


# -- one setting at a time -----------------------------------------------------------------------
def check_nacl(path: FlowPath, snap: Snapshot, crossing: Crossing, owner_role: str, *, host_port: bool = False) -> None:
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


def check_sgs(path: FlowPath, snap: Snapshot, owner: Endpoint, *, egress: bool, peer: Endpoint,
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
    source = _group_text(snap, peer.group_ids[0]) if peer.group_ids else (
        "0.0.0.0/0" if peer.on_internet else addresses_text(list(result.missing)))
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


def _group_text(snap: Snapshot, group_id: str) -> str:
    """A security group as the tables show it: its id, and its name when it has one."""
    group = snap.sg_by_id.get(group_id)
    return f"{group_id} ({group.name})" if group and group.name else group_id


def check_internet_side(path: FlowPath, snap: Snapshot, endpoint: Endpoint, client: Endpoint) -> None:
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


def check_local_route(path: FlowPath, snap: Snapshot, source: Endpoint, dest: Endpoint) -> None:
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


def check_crossing(path: FlowPath, snap: Snapshot, source: Endpoint, dest: Endpoint, port: int, *,
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
        check_nacl(path, snap, crossing, owner.role, host_port=host_port)


def enter_from_internet(path: FlowPath, snap: Snapshot, client: Endpoint, dest: Endpoint, port: int) -> None:
    """Internet client -> endpoint in a public subnet: IGW, return route, NACL in and out (reply)."""
    check_internet_side(path, snap, dest, client)
    for crossing in internet_crossings(dest, client, (port, port), inbound=True):
        check_nacl(path, snap, crossing, dest.role)


def leave_to_internet(path: FlowPath, snap: Snapshot, source: Endpoint, port: int, what: str) -> Endpoint | None:
    """A VPC endpoint connecting to a public address: out through an IGW (with its own public IP)
    or a NAT gateway. Returns the client the far end sees (a public address), or None if blocked."""
    internet = Endpoint(what, what, EVERY_ADDRESS)
    check_sgs(path, snap, source, egress=True, peer=internet, ports=(port, port))
    for crossing in internet_crossings(source, internet, (port, port), inbound=False):
        check_nacl(path, snap, crossing, source.role)
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
    return Endpoint(f"{source.resource_id} via public address {public_ip}", public_ip, (value, value))


def memo(snap: Snapshot, key, compute):
    """`compute()` once per snapshot and key (a snapshot is never changed once read)."""
    found = snap.memo.get(key)
    if found is None:
        if len(snap.memo) > MEMO_LIMIT:
            snap.memo.clear()
        found = snap.memo[key] = compute()
    return found
