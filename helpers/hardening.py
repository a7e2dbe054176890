"""Section 6 of the source, applied to a built stack with plain boto3 (sandbox or AWS).

    stack = build_hardened_stack(clients)     # StackSpec(hosts_in="private") + harden()
    changes = harden(clients, stack)          # what changed, in words

What "hardened" means here (and what `python -m helpers audit` then finds nothing wrong with):

- 6-2: the ECS hosts run in the private subnets (no route to the IGW, no public IP); only the
  ALB sits in the public subnets. Moving a host means a new instance, so this is chosen when the
  stack is built: `StackSpec(hosts_in="private")`.
- 6-1: the host SG admits only tcp 32768-65535, and only from the ALB's SG (the 8081-from-
  anywhere rule goes). The ALB's SG admits only its listener port(s) inbound, and outbound only
  the hosts' dynamic port range to the host SG (a new SG allows all outbound; FACTS.md).
- 5-4: the allow-all NACL is replaced, per tier, by rules for the traffic that tier serves
  (`public_acl_rules`, `private_acl_rules`). NACLs are stateless, so every rule's reply needs
  its own rule on 1024-65535 - the ALB remaps source ports into that range (FACTS.md).
- 6-3 needs no change: ECS creates AWSServiceRoleForECS with the first cluster.

Why 32768-65535 and not the agent's default 32768-60999: the agent reads the kernel's range,
which was 32768-61000 on older kernels, falls back to 49153-65535, and can be reconfigured
(ECS_DYNAMIC_HOST_PORT_RANGE); 32768-65535 covers all of those and is the range the ECS guide's
examples open. The extra 61000-65535 is open to the ALB's SG only, so it costs nothing.
(AL2 on ARM once used 1025-65000 and broke this very rule: aws-cdk issue 9778, FACTS.md.)

On AWS, hosts in private subnets also need a way to the ECS endpoints and the image registry:
a NAT gateway (then also allow outbound tcp 443 to 0.0.0.0/0 and its replies inbound on
1024-65535 in the private NACL) or VPC endpoints. The sandbox's agent needs neither, so this
module adds neither.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from helpers.backend import Clients
from helpers.stack import Stack, StackSpec, _tag_spec, build_stack

HOST_PORTS = (32768, 65535)  # see the module docstring
RETURN_PORTS = (1024, 65535)  # where replies go (clients' and the ALB's ephemeral ports)
ANYWHERE = "0.0.0.0/0"


@dataclass(frozen=True)
class AclRule:
    """One NACL entry to create: allow tcp `ports` from (inbound) or to (outbound) `cidr`."""

    number: int
    egress: bool
    ports: tuple[int, int]
    cidr: str
    why: str

    def text(self) -> str:
        way, prep = ("outbound", "to") if self.egress else ("inbound", "from")
        low, high = self.ports
        ports = str(low) if low == high else f"{low}-{high}"
        return f"{self.number} {way} allow tcp {ports} {prep} {self.cidr} ({self.why})"


def public_acl_rules(listener_ports: list[int], private_cidrs: list[str]) -> list[AclRule]:
    """The ALB's subnets: clients in on the listener ports; the targets' replies back in;
    everything out on 1024-65535 (replies to clients, and the ALB's requests to the hosts'
    32768-65535, which that range contains)."""
    rules = [AclRule(100 + i, False, (port, port), ANYWHERE, "clients to the listener")
             for i, port in enumerate(sorted(listener_ports))]
    rules += [AclRule(200 + i, False, RETURN_PORTS, cidr, "replies from the targets")
              for i, cidr in enumerate(sorted(private_cidrs))]
    rules.append(AclRule(100, True, RETURN_PORTS, ANYWHERE, "replies to clients; requests to the hosts' ports"))
    return rules


def private_acl_rules(public_cidrs: list[str]) -> list[AclRule]:
    """The hosts' subnets: the ALB's nodes (anywhere in the public subnets) in on the dynamic
    host ports, and the replies back out to them - nothing from or to anywhere else."""
    rules = [AclRule(100 + i, False, HOST_PORTS, cidr, "the ALB to the dynamic host ports")
             for i, cidr in enumerate(sorted(public_cidrs))]
    rules += [AclRule(100 + i, True, RETURN_PORTS, cidr, "replies to the ALB")
              for i, cidr in enumerate(sorted(public_cidrs))]
    return rules


# -- security group rules as sets of single rules -------------------------------------------------------
def _single_rules(permissions: list[dict]) -> set[tuple]:
    """IpPermissions split into (protocol, from, to, kind, source) - one source each, so two
    rule sets compare as sets."""
    out = set()
    for p in permissions:
        key = (p["IpProtocol"], p.get("FromPort"), p.get("ToPort"))
        out |= {(*key, "cidr", r["CidrIp"]) for r in p.get("IpRanges", [])}
        out |= {(*key, "cidr6", r["CidrIpv6"]) for r in p.get("Ipv6Ranges", [])}
        out |= {(*key, "group", g["GroupId"]) for g in p.get("UserIdGroupPairs", [])}
        out |= {(*key, "prefix-list", g["PrefixListId"]) for g in p.get("PrefixListIds", [])}
    return out


def _permission(rule: tuple) -> dict:
    protocol, low, high, kind, source = rule
    permission = {"IpProtocol": protocol}
    if low is not None:
        permission.update(FromPort=low, ToPort=high)
    field, key = {"cidr": ("IpRanges", "CidrIp"), "cidr6": ("Ipv6Ranges", "CidrIpv6"),
                  "group": ("UserIdGroupPairs", "GroupId"), "prefix-list": ("PrefixListIds", "PrefixListId")}[kind]
    permission[field] = [{key: source}]
    return permission


def _rule_text(rule: tuple, prep: str, names: dict[str, str]) -> str:
    protocol, low, high, _, source = rule
    what = "all traffic" if protocol == "-1" else f"{protocol} {low if low == high else f'{low}-{high}'}"
    return f"{what} {prep} {names.get(source, source)}"


def _set_rules(clients: Clients, group_id: str, wanted: set[tuple], *, egress: bool, names: dict[str, str]) -> list[str]:
    """Make a group's inbound (or outbound) rules exactly `wanted`: add the missing ones first,
    then remove the rest, so traffic that stays allowed is never cut off in between."""
    ec2 = clients.ec2
    group = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    current = _single_rules(group["IpPermissionsEgress" if egress else "IpPermissions"])
    add, remove = sorted(wanted - current, key=str), sorted(current - wanted, key=str)
    authorize = ec2.authorize_security_group_egress if egress else ec2.authorize_security_group_ingress
    revoke = ec2.revoke_security_group_egress if egress else ec2.revoke_security_group_ingress
    if add:
        authorize(GroupId=group_id, IpPermissions=[_permission(r) for r in add])
    if remove:
        revoke(GroupId=group_id, IpPermissions=[_permission(r) for r in remove])
    way, prep = ("outbound", "to") if egress else ("inbound", "from")
    name = names[group_id]
    changes = [f"{name} {way}: removed {_rule_text(r, prep, names)}" for r in remove]
    changes += [f"{name} {way}: added {_rule_text(r, prep, names)}" for r in add]
    return changes


# -- network ACLs -----------------------------------------------------------------------------------------
def _replace_acl(clients: Clients, stack: Stack, name: str, subnet_ids: list[str], rules: list[AclRule]) -> list[str]:
    """Create a NACL with `rules` (its `*` rules deny the rest) and move `subnet_ids` onto it."""
    ec2 = clients.ec2
    acl_id = ec2.create_network_acl(VpcId=stack.vpc_id, TagSpecifications=_tag_spec(
        "network-acl", f"{stack.spec.name}-{name}-nacl", stack.spec.name))["NetworkAcl"]["NetworkAclId"]
    for rule in rules:
        ec2.create_network_acl_entry(NetworkAclId=acl_id, RuleNumber=rule.number, Protocol="6", RuleAction="allow",
                                     Egress=rule.egress, CidrBlock=rule.cidr,
                                     PortRange={"From": rule.ports[0], "To": rule.ports[1]})
    associations = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": subnet_ids}])
    for acl in associations["NetworkAcls"]:
        for association in acl.get("Associations", []):
            if association.get("SubnetId") in subnet_ids:
                ec2.replace_network_acl_association(AssociationId=association["NetworkAclAssociationId"], NetworkAclId=acl_id)
    return [f"{stack.spec.name}-{name}-nacl for {len(subnet_ids)} subnets: {rule.text()}" for rule in rules]


# -- the whole of section 6 -----------------------------------------------------------------------------------
def harden(clients: Clients, stack: Stack) -> list[str]:
    """Apply section 6 to a stack built with hosts in the private subnets. Returns what changed.
    Run it once per stack: each call creates new NACLs."""
    if stack.spec.hosts_in != "private":
        raise ValueError("harden() needs the hosts in private subnets, and moving a host means a new instance: "
                         "build the stack with StackSpec(hosts_in='private') (or use build_hardened_stack)")
    ec2 = clients.ec2
    name = stack.spec.name
    names = {stack.alb_sg_id: f"{name}-alb-sg", stack.host_sg_id: f"{name}-host-sg", ANYWHERE: ANYWHERE}
    listeners = clients.elbv2.describe_listeners(LoadBalancerArn=stack.alb_arn)["Listeners"]
    listener_ports = sorted({int(li["Port"]) for li in listeners})
    low, high = HOST_PORTS

    changes = _set_rules(clients, stack.host_sg_id, {("tcp", low, high, "group", stack.alb_sg_id)},
                         egress=False, names=names)
    changes += _set_rules(clients, stack.alb_sg_id, {("tcp", p, p, "cidr", ANYWHERE) for p in listener_ports},
                          egress=False, names=names)
    changes += _set_rules(clients, stack.alb_sg_id, {("tcp", low, high, "group", stack.host_sg_id)},
                          egress=True, names=names)

    subnets = {s["SubnetId"]: s["CidrBlock"] for s in ec2.describe_subnets(
        SubnetIds=stack.public_subnet_ids + stack.private_subnet_ids)["Subnets"]}
    public_cidrs = [subnets[s] for s in stack.public_subnet_ids]
    private_cidrs = [subnets[s] for s in stack.private_subnet_ids]
    changes += _replace_acl(clients, stack, "public", stack.public_subnet_ids, public_acl_rules(listener_ports, private_cidrs))
    changes += _replace_acl(clients, stack, "private", stack.private_subnet_ids, private_acl_rules(public_cidrs))
    return changes


def build_hardened_stack(clients: Clients, spec: StackSpec | None = None) -> Stack:
    """The source's stack as section 6 would have it: hosts in private subnets, then `harden`."""
    spec = dataclasses.replace(spec or StackSpec(), hosts_in="private")
    stack = build_stack(clients, spec)
    harden(clients, stack)
    return stack
