"""Can this instance's ECS agent reach ECS? One more flow of the evaluator, with its hops and
explanations: HTTPS (tcp 443) from the instance to the regional ECS endpoints.

    reach = agent_reaches_ecs(snapshot, "i-0abc")
    reach.reachable, reach.hops, reach.explanations

The agent talks to three endpoints (ECS guide "Amazon ECS interface VPC endpoints (AWS
PrivateLink)"): `ecs` (the API: registering the instance), `ecs-agent` (the connection that makes
`agentConnected` true and brings tasks) and `ecs-telemetry` (metrics). For each, the name resolves:
- inside the VPC, to an interface VPC endpoint `com.amazonaws.<region>.<service>` whose private DNS
  is on: then the path is the host's SG out, the VPC's local route, the NACLs between the two
  subnets, and the endpoint's SG in (tcp 443 from the host);
- otherwise to ECS's public addresses: out through the subnet's 0.0.0.0/0 route - to an internet
  gateway (the host needs a public IP) or to a NAT gateway (available, in a subnet whose own
  0.0.0.0/0 goes to the internet gateway, with an Elastic IP, and the NAT subnet's NACL passing
  443 out and the replies in). The host's SG must send tcp 443 and its subnet's NACL pass 443 out
  and the replies (1024-65535) in (ECS guide "Container instance networking"; VPC guide NACLs).

Our choices where AWS does not document the behaviour (one place: here):
- The agent needs all three endpoints; a missing one counts as "cannot reach ECS".
- ECS's public addresses are not published per region: the internet leg asks for tcp 443 to
  *every* address (a rule to 0.0.0.0/0), so a rule that allows only some CIDRs is reported.
- An interface endpoint is reached at its network interface in the host's AZ if it has one there,
  else in its first subnet (by CIDR): a private-DNS name resolves to every zonal address.

Built on the network model's primitives (routes.py `route_for`, crossing.py `connection_crossings`
/ `internet_crossings`) and the one-setting-at-a-time checks of checks.py (`check_sgs`, `check_nacl`,
`check_crossing`, `leave_to_internet`), so it explains itself in the same words.
"""

from __future__ import annotations

from dataclasses import dataclass

from helpers.evaluator.crossing import connection_crossings, internet_crossings
from helpers.evaluator.model import Explanation, Hop
from helpers.evaluator.ports import EVERY_ADDRESS, cidr_range
from helpers.evaluator.routes import route_for
from helpers.evaluator.snapshot import Instance, Snapshot, VpcEndpoint
from helpers.evaluator.checks import (Endpoint, FlowPath, check_crossing, check_nacl, check_sgs, instance_endpoint,
                                      leave_to_internet, memo, subnets_in_order)
from helpers.facts import ECS_AGENT_ENDPOINT_SERVICES, HTTPS_PORT

HTTPS = HTTPS_PORT


@dataclass(frozen=True)
class EcsReach:
    """The verdict for one instance: can its agent reach every ECS endpoint it needs?"""

    instance_id: str
    hops: tuple[Hop, ...]
    explanations: tuple[Explanation, ...]
    via: dict  # service -> "vpce-..." or "internet" (through igw-... / nat-...)

    @property
    def reachable(self) -> bool:
        return not self.explanations


def ecs_endpoint_name(region: str, service: str) -> str:
    return f"{service}.{region or '<region>'}.amazonaws.com"


def agent_reaches_ecs(snapshot: Snapshot, instance_id: str) -> EcsReach:
    return memo(snapshot, ("ecs-reach", instance_id), lambda: _agent_reaches_ecs(snapshot, instance_id))


def _agent_reaches_ecs(snap: Snapshot, instance_id: str) -> EcsReach:
    path = FlowPath()
    inst = snap.instance_by_id.get(instance_id)
    if inst is None or not inst.private_ip:
        path.block("LAB_UNRESOLVED", instance_id, f"no instance {instance_id} with an address in this region",
                   "name a running EC2 instance of this region")
        return EcsReach(instance_id, tuple(path.hops), tuple(path.explanations), {})
    path.hop("source", inst.id, True, f"source: the ECS agent on {inst.id} ({inst.private_ip})")
    if inst.state != "running":
        path.hop("instance", inst.id, False, f"{inst.id} is {inst.state}")
        path.block("BAD_STATE", inst.id, f"instance {inst.id} is {inst.state}: no agent runs", f"start {inst.id}")
    source = instance_endpoint(inst, role="the host's")
    via: dict[str, str] = {}
    by_internet = []
    for service in ECS_AGENT_ENDPOINT_SERVICES:
        endpoint = _interface_endpoint(snap, inst, service)
        if endpoint is None:
            by_internet.append(service)
            continue
        via[service] = endpoint.id
        _through_endpoint(path, snap, source, inst, endpoint)
    if by_internet:
        names = ", ".join(ecs_endpoint_name(snap.region, s) for s in by_internet)
        gateway = _through_internet(path, snap, source, inst, f"the ECS endpoint(s) {names}")
        via.update({service: f"internet ({gateway})" if gateway else "none" for service in by_internet})
    return EcsReach(inst.id, tuple(path.hops), tuple(path.explanations), via)


def _interface_endpoint(snap: Snapshot, inst: Instance, service: str) -> VpcEndpoint | None:
    """The interface endpoint the agent's DNS lookup of `service` lands on, if any: private DNS on, available."""
    wanted = f".{service}"
    return next((e for e in sorted(snap.vpc_endpoints, key=lambda e: e.id)
                 if e.vpc_id == inst.vpc_id and e.type.lower() == "interface" and e.service_name.endswith(wanted)
                 and e.service_name.count(".") >= 3 and e.private_dns_enabled and e.state == "available"), None)


def _through_endpoint(path: FlowPath, snap: Snapshot, source: Endpoint, inst: Instance, endpoint: VpcEndpoint) -> None:
    zone = snap.subnet_by_id[inst.subnet_id].availability_zone if inst.subnet_id in snap.subnet_by_id else None
    subnets = [s for s in subnets_in_order(snap, endpoint.subnet_ids) if s in snap.subnet_by_id]
    if not subnets:
        path.block("LAB_ENDPOINT_HAS_NO_SUBNET", endpoint.id, f"{endpoint.id} ({endpoint.service_name}) has no subnet",
                   f"add a subnet to {endpoint.id}")
        return
    subnet_id = next((s for s in subnets if snap.subnet_by_id[s].availability_zone == zone), subnets[0])
    subnet = snap.subnet_by_id[subnet_id]
    target = Endpoint(f"{endpoint.service_name} endpoint {endpoint.id} (an address in {subnet.cidr})", endpoint.id,
                       cidr_range(subnet.cidr), subnet_id, endpoint.vpc_id, endpoint.group_ids,
                       name=f"endpoint {endpoint.id}", role="the endpoint's")
    path.hop("resolve", endpoint.id, True, f"private DNS: {endpoint.service_name.rsplit('.', 1)[-1]} resolves to "
                                            f"{endpoint.id} in {subnet_id}")
    check_sgs(path, snap, source, egress=True, peer=target, ports=(HTTPS, HTTPS))
    check_crossing(path, snap, source, target, HTTPS)
    check_sgs(path, snap, target, egress=False, peer=source, ports=(HTTPS, HTTPS))


def _through_internet(path: FlowPath, snap: Snapshot, source: Endpoint, inst: Instance, what: str) -> str | None:
    """Out to ECS's public addresses; a NAT gateway's own leg is checked too. Returns the gateway used."""
    _, route = route_for(snap, inst.subnet_id or "", EVERY_ADDRESS)
    gateway = route.target if route is not None else None
    if leave_to_internet(path, snap, source, HTTPS, what) is None:
        return None
    if gateway and gateway.startswith("nat-"):
        _nat_leg(path, snap, source, gateway)
    return gateway


def _nat_leg(path: FlowPath, snap: Snapshot, source: Endpoint, nat_id: str) -> None:
    """The NAT gateway: available, in a public subnet (its 0.0.0.0/0 to the VPC's internet gateway),
    and the NACL of its subnet passing the hosts' 443 in and out, and the replies back."""
    nat = next((n for n in snap.nat_gateways if n.id == nat_id), None)
    if nat is None or nat.state != "available":
        state = nat.state if nat else "gone"
        path.hop("nat", nat_id, False, f"NAT gateway {nat_id} is {state}")
        path.block("BAD_STATE", nat_id, f"NAT gateway {nat_id} is {state}", "route 0.0.0.0/0 to an available NAT gateway")
        return
    igw = snap.igw_by_vpc.get(nat.vpc_id)
    table, route = route_for(snap, nat.subnet_id, EVERY_ADDRESS)
    table_id = table.id if table else nat.subnet_id
    if igw is None or route is None or route.target != igw.id or route.state != "active":
        found = f"sends 0.0.0.0/0 to {route.target}" if route else "has no route to the internet"
        path.hop("route", table_id, False, f"route table {table_id} of the NAT gateway's subnet {nat.subnet_id} {found}")
        path.block("NO_ROUTE_TO_DESTINATION", table_id,
                   f"NAT gateway {nat.id} sits in {nat.subnet_id}, whose route table {table_id} {found}: "
                   f"a NAT gateway must be in a public subnet",
                   f"put the NAT gateway in a public subnet, or add route 0.0.0.0/0 -> "
                   f"{igw.id if igw else 'an internet gateway'} to {table_id}")
        return
    path.hop("route", table_id, True, f"NAT gateway {nat.id} in {nat.subnet_id}: {route.destination} -> {igw.id}")
    subnet = snap.subnet_by_id.get(nat.subnet_id)
    nat_end = Endpoint(f"NAT gateway {nat.id}", nat.id, cidr_range(subnet.cidr) if subnet else EVERY_ADDRESS,
                        nat.subnet_id, nat.vpc_id, role="the NAT gateway's")
    internet = Endpoint("ECS's public addresses", "internet", EVERY_ADDRESS)
    # Host -> NAT gateway: the NAT subnet's side (the host's side was checked toward the internet).
    for crossing in connection_crossings(source, nat_end, (HTTPS, HTTPS)):
        if crossing.subnet_id == nat.subnet_id:
            check_nacl(path, snap, crossing, nat_end.role)
    for crossing in internet_crossings(nat_end, internet, (HTTPS, HTTPS), inbound=False):
        check_nacl(path, snap, crossing, nat_end.role)
