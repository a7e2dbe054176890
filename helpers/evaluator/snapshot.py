"""The evaluator's picture of one region: what boto3 reports, frozen.

    snap = read_snapshot(clients)     # a few dozen Describe*/List* calls; read-only, so it works on AWS
    snap.resolve("lab-alb-1.us-east-1.elb.amazonaws.com")  -> Resolved(kind="load_balancer", ...)

Every type here is a frozen dataclass of plain values, so tests build snapshots by hand (see
`helpers/evaluator/examples.py` for the seed stack as pure data) and nothing can change a
snapshot after it is read. Lookups the walk needs often (by id, by IP, sorted NACL entries) are
built on first use and cached on the snapshot.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from botocore.exceptions import ClientError

from helpers.evaluator.ports import cidr_range, ip_int, is_ipv4
from helpers.facts import NACL_STAR_RULE


# -- VPC --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Vpc:
    id: str
    cidr_blocks: tuple[str, ...]


@dataclass(frozen=True)
class Subnet:
    id: str
    vpc_id: str
    cidr: str
    availability_zone: str
    map_public_ip_on_launch: bool = False
    name: str = ""


@dataclass(frozen=True)
class Route:
    destination: str  # a CIDR; prefix-list routes keep "pl-..." here and never match an address
    target: str  # "local", "igw-...", "nat-...", "eni-...", "pcx-...", ...
    state: str = "active"  # "blackhole" when the target is gone


@dataclass(frozen=True)
class RouteTable:
    id: str
    vpc_id: str
    routes: tuple[Route, ...]
    subnet_ids: tuple[str, ...] = ()  # explicit associations
    main: bool = False  # the main table serves every subnet without an explicit association
    name: str = ""  # the Name tag


@dataclass(frozen=True)
class InternetGateway:
    id: str
    vpc_ids: tuple[str, ...]  # attached VPCs


@dataclass(frozen=True)
class NatGateway:
    id: str
    vpc_id: str
    subnet_id: str
    public_ip: str | None
    state: str = "available"


@dataclass(frozen=True)
class VpcEndpoint:
    """An interface (or gateway) VPC endpoint, e.g. com.amazonaws.us-east-1.ecs-agent."""

    id: str
    vpc_id: str
    service_name: str
    type: str = "Interface"  # "Interface" | "Gateway" | ...
    state: str = "available"
    subnet_ids: tuple[str, ...] = ()  # one endpoint network interface in each
    group_ids: tuple[str, ...] = ()  # the SGs on those interfaces
    private_dns_enabled: bool = False  # the service's own DNS name resolves to the endpoint inside the VPC


@dataclass(frozen=True)
class NaclEntry:
    rule_number: int
    egress: bool
    protocol: str  # "-1" all, "6" tcp, "17" udp, ...
    action: str  # "allow" | "deny"
    cidr: str | None  # None for IPv6-only entries (not modelled)
    port_from: int | None = None  # None: all ports
    port_to: int | None = None

    @property
    def label(self) -> str:
        return "*" if self.rule_number >= NACL_STAR_RULE else str(self.rule_number)


@dataclass(frozen=True)
class NetworkAcl:
    id: str
    vpc_id: str
    entries: tuple[NaclEntry, ...]
    subnet_ids: tuple[str, ...] = ()
    is_default: bool = False
    name: str = ""  # the Name tag


@dataclass(frozen=True)
class SgRule:
    """One IpPermission: a protocol and port range from (or to) some sources."""

    protocol: str  # "-1" all, "tcp"/"6", ...
    from_port: int | None = None  # None with protocol -1: all ports
    to_port: int | None = None
    cidrs: tuple[str, ...] = ()
    group_ids: tuple[str, ...] = ()  # referenced SGs: their members' private IPs
    prefix_list_ids: tuple[str, ...] = ()  # not resolved: treated as matching nothing


@dataclass(frozen=True)
class SecurityGroup:
    id: str
    name: str
    vpc_id: str
    ingress: tuple[SgRule, ...] = ()
    egress: tuple[SgRule, ...] = ()


@dataclass(frozen=True)
class NetworkInterface:
    id: str
    subnet_id: str
    vpc_id: str
    private_ips: tuple[str, ...]
    group_ids: tuple[str, ...]
    description: str = ""  # "ELB app/<name>/<id>" for an ALB's node
    instance_id: str | None = None
    public_ip: str | None = None


@dataclass(frozen=True)
class Instance:
    id: str
    state: str  # "running", "stopped", ...
    subnet_id: str | None
    vpc_id: str | None
    private_ip: str | None
    group_ids: tuple[str, ...] = ()
    public_ip: str | None = None
    public_dns_name: str | None = None
    private_dns_name: str | None = None
    network_interface_ids: tuple[str, ...] = ()
    name: str = ""


# -- ELBv2 ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LoadBalancer:
    arn: str
    name: str
    dns_name: str
    scheme: str  # "internet-facing" | "internal"
    vpc_id: str
    subnet_ids: tuple[str, ...]
    group_ids: tuple[str, ...]
    type: str = "application"
    state: str = "active"


@dataclass(frozen=True)
class Listener:
    arn: str
    load_balancer_arn: str
    port: int
    protocol: str


@dataclass(frozen=True)
class ListenerRule:
    arn: str
    listener_arn: str
    priority: str  # "1".."50000" or "default"
    conditions: tuple[dict, ...]  # as DescribeRules returns them
    actions: tuple[dict, ...]

    @property
    def is_default(self) -> bool:
        return self.priority == "default"


@dataclass(frozen=True)
class TargetGroup:
    arn: str
    name: str
    protocol: str | None
    port: int | None
    vpc_id: str | None
    target_type: str  # "instance" | "ip" | "lambda" | "alb"
    load_balancer_arns: tuple[str, ...] = ()
    health_check_port: str = "traffic-port"
    health_check_path: str = "/"
    health_check_protocol: str = "HTTP"


@dataclass(frozen=True)
class TargetRecord:
    """One row of DescribeTargetHealth. ECS registers the same instance once per host port."""

    target_group_arn: str
    id: str
    port: int
    state: str
    reason: str | None = None
    description: str | None = None
    availability_zone: str | None = None


# -- ECS --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PortBinding:
    container_name: str
    container_port: int
    host_port: int
    protocol: str = "tcp"


@dataclass(frozen=True)
class Task:
    arn: str
    cluster_arn: str
    last_status: str
    desired_status: str
    instance_id: str | None  # the EC2 instance behind the container instance (EC2 launch type)
    bindings: tuple[PortBinding, ...] = ()
    private_ip: str | None = None  # awsvpc tasks: the task's own ENI address
    group: str = ""  # "service:<name>"


@dataclass(frozen=True)
class Resolved:
    """What a DNS name or address points at."""

    kind: Literal["load_balancer", "instance"]
    resource_id: str  # the load balancer ARN or the instance id
    via: Literal["alb_dns", "public_dns", "public_ip", "private_dns", "private_ip"]
    address: str | None = None  # the address a client connects to, when there is one


# -- the snapshot ------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Snapshot:
    """Everything the walk looks at. Construct it directly in tests; every field has a default."""

    vpcs: tuple[Vpc, ...] = ()
    subnets: tuple[Subnet, ...] = ()
    route_tables: tuple[RouteTable, ...] = ()
    internet_gateways: tuple[InternetGateway, ...] = ()
    nat_gateways: tuple[NatGateway, ...] = ()
    vpc_endpoints: tuple[VpcEndpoint, ...] = ()
    network_acls: tuple[NetworkAcl, ...] = ()
    security_groups: tuple[SecurityGroup, ...] = ()
    network_interfaces: tuple[NetworkInterface, ...] = ()
    instances: tuple[Instance, ...] = ()
    load_balancers: tuple[LoadBalancer, ...] = ()
    listeners: tuple[Listener, ...] = ()
    rules: tuple[ListenerRule, ...] = ()
    target_groups: tuple[TargetGroup, ...] = ()
    targets: tuple[TargetRecord, ...] = ()
    tasks: tuple[Task, ...] = ()
    region: str = ""
    taken_at: float = 0.0  # time.time() when read
    # Results the walk memoizes for this snapshot (it never changes, so neither do they).
    memo: dict = field(default_factory=dict, repr=False, compare=False)

    # -- indexes, built on first use ---------------------------------------------------------
    @cached_property
    def vpc_by_id(self) -> dict[str, Vpc]:
        return {v.id: v for v in self.vpcs}

    @cached_property
    def subnet_by_id(self) -> dict[str, Subnet]:
        return {s.id: s for s in self.subnets}

    @cached_property
    def sg_by_id(self) -> dict[str, SecurityGroup]:
        return {g.id: g for g in self.security_groups}

    @cached_property
    def instance_by_id(self) -> dict[str, Instance]:
        return {i.id: i for i in self.instances}

    @cached_property
    def lb_by_arn(self) -> dict[str, LoadBalancer]:
        return {lb.arn: lb for lb in self.load_balancers}

    @cached_property
    def listener_by_arn(self) -> dict[str, Listener]:
        return {li.arn: li for li in self.listeners}

    @cached_property
    def tg_by_arn(self) -> dict[str, TargetGroup]:
        return {tg.arn: tg for tg in self.target_groups}

    @cached_property
    def route_table_by_subnet(self) -> dict[str, RouteTable]:
        """Each subnet's table: its explicit association, else its VPC's main table."""
        main = {rt.vpc_id: rt for rt in self.route_tables if rt.main}
        table: dict[str, RouteTable] = {}
        for subnet in self.subnets:
            if subnet.vpc_id in main:
                table[subnet.id] = main[subnet.vpc_id]
        for rt in self.route_tables:
            for subnet_id in rt.subnet_ids:
                table[subnet_id] = rt
        return table

    @cached_property
    def nacl_by_subnet(self) -> dict[str, NetworkAcl]:
        return {subnet_id: acl for acl in self.network_acls for subnet_id in acl.subnet_ids}

    @cached_property
    def igw_by_vpc(self) -> dict[str, InternetGateway]:
        return {vpc_id: igw for igw in self.internet_gateways for vpc_id in igw.vpc_ids}

    @cached_property
    def listeners_by_lb(self) -> dict[str, tuple[Listener, ...]]:
        out: dict[str, list[Listener]] = {}
        for li in sorted(self.listeners, key=lambda li: li.port):
            out.setdefault(li.load_balancer_arn, []).append(li)
        return {k: tuple(v) for k, v in out.items()}

    @cached_property
    def rules_by_listener(self) -> dict[str, tuple[ListenerRule, ...]]:
        """Rules in evaluation order: priority ascending, the default rule last."""
        out: dict[str, list[ListenerRule]] = {}
        for rule in self.rules:
            out.setdefault(rule.listener_arn, []).append(rule)
        order = lambda r: (1, 0) if r.is_default else (0, int(r.priority))  # noqa: E731
        return {k: tuple(sorted(v, key=order)) for k, v in out.items()}

    @cached_property
    def targets_by_group(self) -> dict[str, tuple[TargetRecord, ...]]:
        out: dict[str, list[TargetRecord]] = {}
        for t in self.targets:
            out.setdefault(t.target_group_arn, []).append(t)
        return {k: tuple(sorted(v, key=lambda t: (t.id, t.port))) for k, v in out.items()}

    @cached_property
    def instance_by_private_ip(self) -> dict[str, Instance]:
        out = {}
        for eni in self.network_interfaces:
            if eni.instance_id in self.instance_by_id:
                for ip in eni.private_ips:
                    out[ip] = self.instance_by_id[eni.instance_id]
        for inst in self.instances:
            if inst.private_ip:
                out[inst.private_ip] = inst
        return out

    @cached_property
    def holders_by_address(self) -> dict[tuple[str, str], tuple[Instance | None, NetworkInterface | None, Task | None]]:
        """(VPC id, private IP) -> the instance, ENI and awsvpc task holding it there. A private IP is
        unique only within its VPC (stacks alike share CIDRs): an ip target is looked up in its
        load balancer's VPC."""
        out: dict[tuple[str, str], list] = {}
        for eni in self.network_interfaces:
            for ip in eni.private_ips:
                out.setdefault((eni.vpc_id, ip), [None, None, None])[1] = eni
        for (vpc_id, ip), eni in [(key, found[1]) for key, found in out.items()]:
            if eni.instance_id in self.instance_by_id:
                out[(vpc_id, ip)][0] = self.instance_by_id[eni.instance_id]
        for inst in self.instances:
            if inst.private_ip and inst.vpc_id:
                out.setdefault((inst.vpc_id, inst.private_ip), [None, None, None])[0] = inst
        for task in self.tasks:  # an awsvpc task's ENI is in its host's VPC
            host = self.instance_by_id.get(task.instance_id or "")
            if task.private_ip and host is not None and host.vpc_id and task.last_status not in ("STOPPED", "DELETED"):
                out.setdefault((host.vpc_id, task.private_ip), [None, None, None])[2] = task
        return {key: tuple(found) for key, found in out.items()}

    @cached_property
    def alb_node_ips(self) -> dict[tuple[str, str], tuple[str, ...]]:
        """(load balancer ARN, subnet id) -> the node's private IPs, from the ALB's ENIs when
        DescribeNetworkInterfaces shows them (description "ELB app/<name>/<id>")."""
        out: dict[tuple[str, str], list[str]] = {}
        for lb in self.load_balancers:
            marker = "ELB " + "/".join(lb.arn.split(":loadbalancer/", 1)[-1].split("/")[:3])
            for eni in self.network_interfaces:
                if eni.description == marker:
                    out.setdefault((lb.arn, eni.subnet_id), []).extend(eni.private_ips)
        return {k: tuple(sorted(v)) for k, v in out.items()}

    @cached_property
    def binding_index(self) -> dict[tuple[str, int], tuple[Task, PortBinding]]:
        """(instance id, host port) -> the task and binding listening there (bridge/host mode)."""
        out = {}
        for task in self.tasks:
            if task.instance_id is not None and task.last_status not in ("STOPPED", "DELETED"):
                for b in task.bindings:
                    out[(task.instance_id, b.host_port)] = (task, b)
        return out

    @cached_property
    def _names(self) -> dict[str, Resolved]:
        names: dict[str, Resolved] = {}
        for inst in self.instances:
            if inst.private_ip:
                names[inst.private_ip] = Resolved("instance", inst.id, "private_ip", inst.private_ip)
            if inst.private_dns_name:
                names[inst.private_dns_name.lower()] = Resolved("instance", inst.id, "private_dns", inst.private_ip)
            if inst.public_ip:
                names[inst.public_ip] = Resolved("instance", inst.id, "public_ip", inst.public_ip)
            if inst.public_dns_name:
                names[inst.public_dns_name.lower()] = Resolved("instance", inst.id, "public_dns", inst.public_ip)
        for lb in self.load_balancers:
            names[lb.dns_name.lower()] = Resolved("load_balancer", lb.arn, "alb_dns")
        return names

    # -- queries -----------------------------------------------------------------------------
    def resolve(self, name_or_ip: str) -> Resolved | None:
        """An ALB DNS name (any case, trailing dot allowed), an EC2 public DNS name or public IP,
        or a private IP / private DNS name. None when nothing in this region answers to it."""
        key = name_or_ip.strip().rstrip(".").lower()
        return self._names.get(key)

    def alb_node_addresses(self, load_balancer_arn: str, subnet_id: str) -> tuple[tuple[int, int], str]:
        """Where an ALB's node in one subnet is: its ENI's address when visible, else any address of
        the subnet (the sandbox shows no ALB ENIs), with those addresses in words."""
        ips = self.alb_node_ips.get((load_balancer_arn, subnet_id))
        if ips:
            return cidr_range(ips[0]), ips[0]
        subnet = self.subnet_by_id.get(subnet_id)
        if subnet is None:
            return (0, 2**32 - 1), "an unknown address"
        return cidr_range(subnet.cidr), f"an address in {subnet.cidr}"

    def subnet_for_ip(self, address: str, vpc_id: str | None = None) -> Subnet | None:
        """The subnet whose CIDR holds `address` (in `vpc_id` when given: VPCs may share CIDRs)."""
        value = ip_int(address)
        for subnet in self.subnets:
            lo, hi = cidr_range(subnet.cidr)
            if lo <= value <= hi and vpc_id in (None, subnet.vpc_id):
                return subnet
        return None

    def vpc_contains(self, vpc_id: str, address: str) -> bool:
        vpc = self.vpc_by_id.get(vpc_id)
        if vpc is None or not is_ipv4(address):
            return False
        value = ip_int(address)
        return any(lo <= value <= hi for lo, hi in map(cidr_range, vpc.cidr_blocks))

    def target_groups_of(self, load_balancer_arn: str) -> tuple[TargetGroup, ...]:
        return tuple(tg for tg in sorted(self.target_groups, key=lambda t: t.arn)
                     if load_balancer_arn in tg.load_balancer_arns)


# -- reading through boto3 ----------------------------------------------------------------------
def _pages(client, operation: str, key: str, **kwargs) -> list:
    """Every item of a paginated Describe*/List* call (or the single page when there is no paginator)."""
    if client.can_paginate(operation):
        items: list = []
        for page in client.get_paginator(operation).paginate(**kwargs):
            items.extend(page.get(key, []))
        return items
    return getattr(client, operation)(**kwargs).get(key, [])


def _name_tag(tags) -> str:
    return next((t["Value"] for t in tags or () if t.get("Key") == "Name"), "")


def _sg_rules(permissions) -> tuple[SgRule, ...]:
    return tuple(
        SgRule(
            protocol=str(p.get("IpProtocol", "-1")),
            from_port=p.get("FromPort"),
            to_port=p.get("ToPort"),
            cidrs=tuple(r["CidrIp"] for r in p.get("IpRanges", []) if "CidrIp" in r),
            group_ids=tuple(g["GroupId"] for g in p.get("UserIdGroupPairs", []) if "GroupId" in g),
            prefix_list_ids=tuple(pl["PrefixListId"] for pl in p.get("PrefixListIds", []) if "PrefixListId" in pl),
        )
        for p in permissions
    )


def _read_vpcs(ec2) -> tuple[Vpc, ...]:
    return tuple(
        Vpc(v["VpcId"], tuple(a["CidrBlock"] for a in v.get("CidrBlockAssociationSet", [])
                              if a.get("CidrBlockState", {}).get("State", "associated") == "associated")
            or (v["CidrBlock"],))
        for v in _pages(ec2, "describe_vpcs", "Vpcs"))


def _read_subnets(ec2) -> tuple[Subnet, ...]:
    return tuple(
        Subnet(s["SubnetId"], s["VpcId"], s["CidrBlock"], s.get("AvailabilityZone", ""),
               bool(s.get("MapPublicIpOnLaunch")), _name_tag(s.get("Tags")))
        for s in _pages(ec2, "describe_subnets", "Subnets"))


def _read_route_tables(ec2) -> tuple[RouteTable, ...]:
    tables = []
    for rt in _pages(ec2, "describe_route_tables", "RouteTables"):
        routes = []
        for r in rt.get("Routes", []):
            destination = r.get("DestinationCidrBlock") or r.get("DestinationPrefixListId")
            if destination is None:  # IPv6 routes: not modelled
                continue
            target = (r.get("GatewayId") or r.get("NatGatewayId") or r.get("NetworkInterfaceId")
                      or r.get("VpcPeeringConnectionId") or r.get("TransitGatewayId") or r.get("InstanceId") or "?")
            routes.append(Route(destination, target, r.get("State", "active")))
        associations = rt.get("Associations", [])
        tables.append(RouteTable(
            rt["RouteTableId"], rt["VpcId"], tuple(routes),
            tuple(a["SubnetId"] for a in associations if a.get("SubnetId")),
            any(a.get("Main") for a in associations), _name_tag(rt.get("Tags"))))
    return tuple(tables)


def _read_internet_gateways(ec2) -> tuple[InternetGateway, ...]:
    return tuple(
        InternetGateway(g["InternetGatewayId"],
                        tuple(a["VpcId"] for a in g.get("Attachments", []) if a.get("State", "available") in ("available", "attached")))
        for g in _pages(ec2, "describe_internet_gateways", "InternetGateways"))


def _read_nat_gateways(ec2) -> tuple[NatGateway, ...]:
    return tuple(
        NatGateway(n["NatGatewayId"], n.get("VpcId", ""), n.get("SubnetId", ""),
                   next((a.get("PublicIp") for a in n.get("NatGatewayAddresses", []) if a.get("PublicIp")), None),
                   n.get("State", "available"))
        for n in _pages(ec2, "describe_nat_gateways", "NatGateways"))


def _read_vpc_endpoints(ec2) -> tuple[VpcEndpoint, ...]:
    return tuple(
        VpcEndpoint(e["VpcEndpointId"], e.get("VpcId", ""), e.get("ServiceName", ""), e.get("VpcEndpointType", "Interface"),
                    str(e.get("State", "available")).lower(), tuple(e.get("SubnetIds", [])),
                    tuple(g["GroupId"] for g in e.get("Groups", [])), bool(e.get("PrivateDnsEnabled")))
        for e in _pages(ec2, "describe_vpc_endpoints", "VpcEndpoints"))


def _read_network_acls(ec2) -> tuple[NetworkAcl, ...]:
    acls = []
    for acl in _pages(ec2, "describe_network_acls", "NetworkAcls"):
        entries = tuple(
            NaclEntry(int(e["RuleNumber"]), bool(e["Egress"]), str(e["Protocol"]), e["RuleAction"], e.get("CidrBlock"),
                      e.get("PortRange", {}).get("From"), e.get("PortRange", {}).get("To"))
            for e in acl.get("Entries", []))
        acls.append(NetworkAcl(acl["NetworkAclId"], acl["VpcId"], entries,
                               tuple(a["SubnetId"] for a in acl.get("Associations", []) if a.get("SubnetId")),
                               bool(acl.get("IsDefault")), _name_tag(acl.get("Tags"))))
    return tuple(acls)


def _read_security_groups(ec2) -> tuple[SecurityGroup, ...]:
    return tuple(
        SecurityGroup(g["GroupId"], g.get("GroupName", ""), g.get("VpcId", ""),
                      _sg_rules(g.get("IpPermissions", [])), _sg_rules(g.get("IpPermissionsEgress", [])))
        for g in _pages(ec2, "describe_security_groups", "SecurityGroups"))


def _read_network_interfaces(ec2) -> tuple[NetworkInterface, ...]:
    return tuple(
        NetworkInterface(
            n["NetworkInterfaceId"], n.get("SubnetId", ""), n.get("VpcId", ""),
            tuple(a["PrivateIpAddress"] for a in n.get("PrivateIpAddresses", []))
            or ((n["PrivateIpAddress"],) if n.get("PrivateIpAddress") else ()),
            tuple(g["GroupId"] for g in n.get("Groups", [])), n.get("Description", ""),
            n.get("Attachment", {}).get("InstanceId"), n.get("Association", {}).get("PublicIp"))
        for n in _pages(ec2, "describe_network_interfaces", "NetworkInterfaces"))


def _read_instances(ec2) -> tuple[Instance, ...]:
    instances = []
    for reservation in _pages(ec2, "describe_instances", "Reservations"):
        for i in reservation.get("Instances", []):
            instances.append(Instance(
                i["InstanceId"], i.get("State", {}).get("Name", "unknown"), i.get("SubnetId"), i.get("VpcId"),
                i.get("PrivateIpAddress"), tuple(g["GroupId"] for g in i.get("SecurityGroups", [])),
                i.get("PublicIpAddress"), i.get("PublicDnsName") or None, i.get("PrivateDnsName") or None,
                tuple(n["NetworkInterfaceId"] for n in i.get("NetworkInterfaces", [])), _name_tag(i.get("Tags"))))
    return tuple(instances)


# Snapshot field -> reader. Independent calls, so read_snapshot runs them side by side.
_EC2_READERS = {
    "vpcs": _read_vpcs, "subnets": _read_subnets, "route_tables": _read_route_tables,
    "internet_gateways": _read_internet_gateways, "nat_gateways": _read_nat_gateways,
    "vpc_endpoints": _read_vpc_endpoints,
    "network_acls": _read_network_acls, "security_groups": _read_security_groups,
    "network_interfaces": _read_network_interfaces, "instances": _read_instances,
}


# Deleted between two calls of one read (a stack being cleaned up meanwhile): skipped, as a read
# a moment later would not see it either.
_GONE = ("LoadBalancerNotFound", "ListenerNotFound", "TargetGroupNotFound")


def _unless_gone(read, default=()):
    try:
        return read()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in _GONE:
            return default
        raise


def _read_elbv2(elbv2) -> dict:
    lbs, listeners, rules, tgs, targets = [], [], [], [], []
    for lb in _pages(elbv2, "describe_load_balancers", "LoadBalancers"):
        if lb.get("Type", "application") != "application":
            continue
        lbs.append(LoadBalancer(
            lb["LoadBalancerArn"], lb["LoadBalancerName"], lb["DNSName"], lb.get("Scheme", "internet-facing"),
            lb.get("VpcId", ""), tuple(z["SubnetId"] for z in lb.get("AvailabilityZones", []) if z.get("SubnetId")),
            tuple(lb.get("SecurityGroups", [])), lb.get("Type", "application"), lb.get("State", {}).get("Code", "active")))
        # One call per load balancer and per listener: the API takes no batch of ARNs here.
        for li in _unless_gone(lambda: _pages(elbv2, "describe_listeners", "Listeners", LoadBalancerArn=lb["LoadBalancerArn"])):
            listeners.append(Listener(li["ListenerArn"], li["LoadBalancerArn"], int(li["Port"]), li.get("Protocol", "HTTP")))
            for r in _unless_gone(lambda: _pages(elbv2, "describe_rules", "Rules", ListenerArn=li["ListenerArn"])):
                rules.append(ListenerRule(r["RuleArn"], li["ListenerArn"], str(r.get("Priority", "default")),
                                          tuple(r.get("Conditions", [])), tuple(r.get("Actions", []))))
    for tg in _pages(elbv2, "describe_target_groups", "TargetGroups"):
        arn = tg["TargetGroupArn"]
        tgs.append(TargetGroup(
            arn, tg["TargetGroupName"], tg.get("Protocol"), tg.get("Port"), tg.get("VpcId"), tg.get("TargetType", "instance"),
            tuple(tg.get("LoadBalancerArns", [])), str(tg.get("HealthCheckPort", "traffic-port")),
            tg.get("HealthCheckPath", "/"), tg.get("HealthCheckProtocol", "HTTP")))
        if tg.get("TargetType", "instance") not in ("instance", "ip"):
            continue
        health = _unless_gone(lambda: elbv2.describe_target_health(TargetGroupArn=arn), default={})
        for d in health.get("TargetHealthDescriptions", []):
            state = d.get("TargetHealth", {})
            targets.append(TargetRecord(
                arn, d["Target"]["Id"], int(d["Target"].get("Port") or tg.get("Port") or 0), state.get("State", "unavailable"),
                state.get("Reason"), state.get("Description"), d["Target"].get("AvailabilityZone")))
    return dict(load_balancers=tuple(lbs), listeners=tuple(listeners), rules=tuple(rules),
                target_groups=tuple(tgs), targets=tuple(targets))


def _batches(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _read_ecs(ecs) -> tuple[Task, ...]:
    tasks = []
    for cluster in _pages(ecs, "list_clusters", "clusterArns"):
        instance_of: dict[str, str] = {}
        arns = _pages(ecs, "list_container_instances", "containerInstanceArns", cluster=cluster)
        for batch in _batches(arns, 100):  # DescribeContainerInstances takes up to 100
            for ci in ecs.describe_container_instances(cluster=cluster, containerInstances=batch).get("containerInstances", []):
                instance_of[ci["containerInstanceArn"]] = ci.get("ec2InstanceId")
        # Desired RUNNING covers PENDING and RUNNING tasks; desired STOPPED ones may still be
        # running while they stop (their containers still answer), so read those too.
        task_arns = []
        for desired in ("RUNNING", "STOPPED"):
            task_arns += _pages(ecs, "list_tasks", "taskArns", cluster=cluster, desiredStatus=desired)
        for batch in _batches(sorted(set(task_arns)), 100):  # DescribeTasks takes up to 100
            for t in ecs.describe_tasks(cluster=cluster, tasks=batch).get("tasks", []):
                if t.get("lastStatus") in ("STOPPED", "DELETED"):
                    continue
                bindings = tuple(
                    PortBinding(c.get("name", ""), int(b["containerPort"]), int(b["hostPort"]), b.get("protocol", "tcp"))
                    for c in t.get("containers", []) for b in c.get("networkBindings", []) or []
                    if b.get("hostPort") is not None and b.get("containerPort") is not None)
                private_ip = next((d["value"] for a in t.get("attachments", []) for d in a.get("details", [])
                                   if d.get("name") == "privateIPv4Address"), None)
                tasks.append(Task(t["taskArn"], cluster, t.get("lastStatus", ""), t.get("desiredStatus", ""),
                                  instance_of.get(t.get("containerInstanceArn", "")), bindings, private_ip, t.get("group", "")))
    return tuple(tasks)


# What a snapshot is read in: each part is one reader's fields, read on its own. The sandbox re-reads
# only the parts a change may have touched (helpers/sandbox/snapshot_parts.py).
EC2_PARTS = tuple(_EC2_READERS)
ELBV2_PART = "elbv2"  # load_balancers, listeners, rules, target_groups, targets: one chain of calls
ECS_PART = "ecs"  # tasks
PARTS = (*EC2_PARTS, ELBV2_PART, ECS_PART)


def _read_part(clients, part: str) -> dict:
    if part in _EC2_READERS:
        return {part: _EC2_READERS[part](clients.ec2)}
    if part == ELBV2_PART:
        return _read_elbv2(clients.elbv2)
    if part == ECS_PART:
        return {"tasks": _read_ecs(clients.ecs)}
    raise ValueError(f"unknown snapshot part {part!r}; the parts are: {', '.join(PARTS)}")


def read_parts(clients, parts=PARTS) -> dict[str, dict]:
    """Read some parts of the region (default: all): part name -> its Snapshot fields. The parts
    run side by side: boto3 clients are thread-safe and most of a call's time is the round trip
    and parsing."""
    parts = list(parts)
    if len(parts) == 1:
        return {parts[0]: _read_part(clients, parts[0])}
    with ThreadPoolExecutor(max_workers=len(parts), thread_name_prefix="read-snapshot") as pool:
        futures = {part: pool.submit(_read_part, clients, part) for part in parts}
        return {part: future.result() for part, future in futures.items()}


def snapshot_from_parts(parts: dict[str, dict], region: str = "") -> Snapshot:
    """A Snapshot from every part's fields (as `read_parts` returns them)."""
    fields = {}
    for part_fields in parts.values():
        fields.update(part_fields)
    return Snapshot(**fields, region=region, taken_at=time.time())


def read_snapshot(clients) -> Snapshot:
    """Read the region through boto3 (`clients.ec2`, `.elbv2`, `.ecs`): about twenty Describe/List
    calls (plus one per extra load balancer, listener and target group), all read-only."""
    return snapshot_from_parts(read_parts(clients), region=getattr(clients, "region", ""))
