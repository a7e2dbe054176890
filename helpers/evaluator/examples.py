"""The source document's stack as a pure-data Snapshot, for tests and offline examples.

    snap = seed_snapshot()                                   # ALB :80 -> 3 tasks on dynamic ports
    snap = seed_snapshot(hosts_in="private")                 # hosts in the private subnets
    snap = replace_item(snap, "security_groups", SecurityGroup(HOST_SG, ...))   # change one thing

Ids are fixed (see the constants) so tests can name what they change. The same shape as
`helpers.stack.build_stack` makes: VPC 10.0.0.0/16, public subnets 10.0.1.0/24 + 10.0.2.0/24
(route 0.0.0.0/0 -> IGW), private 10.0.11.0/24 + 10.0.12.0/24, the default NACL (rule 100 allow
all + `*` deny, both ways), ALB SG tcp 80 from anywhere, host SG tcp 32768-65535 from the ALB SG
and tcp 8081 from anywhere, two hosts, three tasks with container 8081 on host ports 32768/32769.
With hosts_in="private": the interface endpoints for ecs, ecs-agent, ecs-telemetry in both private
subnets (SG: tcp 443 from the host SG) that `build_egress` makes, so the hosts' agents reach ECS.
"""

from __future__ import annotations

import dataclasses

from helpers.evaluator.snapshot import (
    Instance, InternetGateway, Listener, ListenerRule, LoadBalancer, NaclEntry, NetworkAcl, PortBinding, Route,
    RouteTable, SecurityGroup, SgRule, Snapshot, Subnet, TargetGroup, TargetRecord, Task, Vpc, VpcEndpoint,
)
from helpers.facts import ECS_AGENT_ENDPOINT_SERVICES

REGION = "us-east-1"
VPC = "vpc-0seed"
IGW = "igw-0seed"
PUBLIC_A, PUBLIC_B = "subnet-0puba", "subnet-0pubb"
PRIVATE_A, PRIVATE_B = "subnet-0priva", "subnet-0privb"
MAIN_RTB, PUBLIC_RTB = "rtb-0main", "rtb-0public"
DEFAULT_ACL = "acl-0default"
ALB_SG, HOST_SG = "sg-0alb", "sg-0host"
ENDPOINT_SG = "sg-0vpce"
HOST_1, HOST_2 = "i-0host1", "i-0host2"
ALB_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/lab-alb/50dc6c495c0c9188"
ALB_DNS = "lab-alb-1.us-east-1.elb.amazonaws.com"
LISTENER_80 = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/lab-alb/50dc6c495c0c9188/f2f7dc8efc522ab2"
DEFAULT_RULE = LISTENER_80.replace(":listener/", ":listener-rule/") + "/default"
TG_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/lab-tg/73e2d6bc24d8a067"
CLUSTER = "arn:aws:ecs:us-east-1:123456789012:cluster/lab-cluster"
CONTAINER, CONTAINER_PORT = "tomcat", 8081


def allow_all_acl(acl_id: str, subnet_ids: tuple[str, ...], *, default: bool = True) -> NetworkAcl:
    """The default NACL: rule 100 allows all, `*` denies the rest, in both directions."""
    entries = tuple(NaclEntry(n, egress, "-1", action, "0.0.0.0/0")
                    for egress in (False, True) for n, action in ((100, "allow"), (32767, "deny")))
    return NetworkAcl(acl_id, VPC, entries, subnet_ids, default)


def host(instance_id: str, subnet_id: str, private_ip: str, public_ip: str | None) -> Instance:
    dns = f"ec2-{public_ip.replace('.', '-')}.compute-1.amazonaws.com" if public_ip else None
    return Instance(instance_id, "running", subnet_id, VPC, private_ip, (HOST_SG,), public_ip, dns,
                    f"ip-{private_ip.replace('.', '-')}.ec2.internal", (), instance_id)


def seed_snapshot(*, hosts_in: str = "public") -> Snapshot:
    subnets = (
        Subnet(PUBLIC_A, VPC, "10.0.1.0/24", "us-east-1a", True, "lab-public-a"),
        Subnet(PUBLIC_B, VPC, "10.0.2.0/24", "us-east-1b", True, "lab-public-b"),
        Subnet(PRIVATE_A, VPC, "10.0.11.0/24", "us-east-1a", False, "lab-private-a"),
        Subnet(PRIVATE_B, VPC, "10.0.12.0/24", "us-east-1b", False, "lab-private-b"),
    )
    local = Route("10.0.0.0/16", "local")
    endpoints, endpoint_groups = (), ()
    if hosts_in == "public":
        instances = (host(HOST_1, PUBLIC_A, "10.0.1.10", "54.210.0.11"), host(HOST_2, PUBLIC_B, "10.0.2.10", "54.210.0.12"))
    else:
        instances = (host(HOST_1, PRIVATE_A, "10.0.11.10", None), host(HOST_2, PRIVATE_B, "10.0.12.10", None))
        endpoints = tuple(VpcEndpoint(f"vpce-0{service.replace('-', '')}", VPC, f"com.amazonaws.{REGION}.{service}",
                                      subnet_ids=(PRIVATE_A, PRIVATE_B), group_ids=(ENDPOINT_SG,), private_dns_enabled=True)
                          for service in ECS_AGENT_ENDPOINT_SERVICES)
        endpoint_groups = (SecurityGroup(ENDPOINT_SG, "lab-vpce-sg", VPC, (SgRule("tcp", 443, 443, group_ids=(HOST_SG,)),),
                                         (SgRule("-1", cidrs=("0.0.0.0/0",)),)),)
    tasks = tuple(
        Task(f"arn:aws:ecs:us-east-1:123456789012:task/lab-cluster/task{n}", CLUSTER, "RUNNING", "RUNNING", inst,
             (PortBinding(CONTAINER, CONTAINER_PORT, hport),), group="service:lab-svc")
        for n, (inst, hport) in enumerate(((HOST_1, 32768), (HOST_1, 32769), (HOST_2, 32768)), start=1))
    return Snapshot(
        vpcs=(Vpc(VPC, ("10.0.0.0/16",)),),
        subnets=subnets,
        route_tables=(
            RouteTable(MAIN_RTB, VPC, (local,), (), True),
            RouteTable(PUBLIC_RTB, VPC, (local, Route("0.0.0.0/0", IGW)), (PUBLIC_A, PUBLIC_B)),
        ),
        internet_gateways=(InternetGateway(IGW, (VPC,)),),
        network_acls=(allow_all_acl(DEFAULT_ACL, tuple(s.id for s in subnets)),),
        security_groups=(
            SecurityGroup(ALB_SG, "lab-alb-sg", VPC, (SgRule("tcp", 80, 80, cidrs=("0.0.0.0/0",)),),
                          (SgRule("-1", cidrs=("0.0.0.0/0",)),)),
            SecurityGroup(HOST_SG, "lab-host-sg", VPC,
                          (SgRule("tcp", 32768, 65535, group_ids=(ALB_SG,)), SgRule("tcp", 8081, 8081, cidrs=("0.0.0.0/0",))),
                          (SgRule("-1", cidrs=("0.0.0.0/0",)),)),
        ) + endpoint_groups,
        vpc_endpoints=endpoints,
        instances=instances,
        load_balancers=(LoadBalancer(ALB_ARN, "lab-alb", ALB_DNS, "internet-facing", VPC, (PUBLIC_A, PUBLIC_B), (ALB_SG,)),),
        listeners=(Listener(LISTENER_80, ALB_ARN, 80, "HTTP"),),
        rules=(ListenerRule(DEFAULT_RULE, LISTENER_80, "default", (), ({"Type": "forward", "TargetGroupArn": TG_ARN},)),),
        target_groups=(TargetGroup(TG_ARN, "lab-tg", "HTTP", 80, VPC, "instance", (ALB_ARN,)),),
        targets=tuple(TargetRecord(TG_ARN, inst, hport, "healthy")
                      for inst, hport in ((HOST_1, 32768), (HOST_1, 32769), (HOST_2, 32768))),
        tasks=tasks,
        region=REGION,
    )


def _key(item) -> str:
    return getattr(item, "id", None) or getattr(item, "arn")


def replace_item(snap: Snapshot, field_name: str, item) -> Snapshot:
    """A new snapshot with `item` in place of the one with the same id/ARN in `field_name`
    (or added when there is none). The old snapshot is untouched."""
    items = getattr(snap, field_name)
    kept = tuple(x for x in items if _key(x) != _key(item))
    return replace_fields(snap, **{field_name: kept + (item,)})


def replace_fields(snap: Snapshot, **fields) -> Snapshot:
    """dataclasses.replace with a fresh memo (cached results belong to the old snapshot)."""
    return dataclasses.replace(snap, memo={}, **fields)
