"""Section 6 of the source, applied to a built stack with plain boto3 (sandbox or AWS).

    stack = build_hardened_stack(clients)     # StackSpec(hosts_in="private") + harden()
    changes = harden(clients, stack)          # what changed, in words ([] when already hardened)

What "hardened" means here (and what `python -m helpers audit` then finds nothing wrong with) -
the rules themselves are in `helpers.hardened_spec`, which the CloudFormation export uses too:

- 6-2: the ECS hosts run in the private subnets (no route to the IGW, no public IP); only the
  ALB sits in the public subnets. Moving a host means a new instance, so this is chosen when the
  stack is built: `StackSpec(hosts_in="private")`.
- 6-1: the host SG admits only tcp 32768-65535, and only from the ALB's SG (the 8081-from-
  anywhere rule goes). The ALB's SG admits only its listener port(s) inbound, and outbound only
  the hosts' dynamic port range to the host SG.
- 5-4: the allow-all NACL is replaced, per tier, by a NACL with the rules for the traffic that
  tier serves (`<stack>-public-nacl`, `<stack>-private-nacl`).
- 6-3 needs no change: ECS creates AWSServiceRoleForECS with the first cluster.

Hosts in private subnets also need a way to the ECS endpoint and the image registry, on AWS and
in the sandbox alike: `build_stack` gives a private-hosts stack a NAT gateway (helpers/stack.py
`build_egress`), and `harden` then applies the specification's `nat=True` rules - the hosts' SG
sends only HTTPS, and both NACLs pass the hosts' HTTPS through the NAT gateway and its replies.

`harden` can run again: it finds its NACLs by name and changes only what differs.
"""

from __future__ import annotations

import dataclasses

from helpers.backend import Clients
from helpers.hardened_spec import ALB, HOSTS, AclRule, private_acl_rules, public_acl_rules, security_group_rules
from helpers.resources import network_acls, security_groups
from helpers.resources.subnets import subnet_cidrs
from helpers.stack import Stack, StackSpec, build_stack


def _rule_text(rule: tuple, prep: str, names: dict[str, str]) -> str:
    protocol, low, high, _, source = rule
    what = "all traffic" if protocol == "-1" else f"{protocol} {low if low == high else f'{low}-{high}'}"
    return f"{what} {prep} {names.get(source, source)}"


def _harden_groups(clients: Clients, stack: Stack, listener_ports: list[int], nat: bool) -> list[str]:
    """Make each security group's rules, in each direction the specification names, exactly its rules."""
    name = stack.spec.name
    group_ids = {ALB: stack.alb_sg_id, HOSTS: stack.host_sg_id}
    names = {stack.alb_sg_id: f"{name}-alb-sg", stack.host_sg_id: f"{name}-host-sg"}
    wanted: dict[tuple[str, bool], set[tuple]] = {}
    for rule in security_group_rules(listener_ports, nat=nat):
        kind, peer = ("group", group_ids[rule.peer]) if rule.peer_is_group else ("cidr", rule.peer)
        wanted.setdefault((rule.group, rule.egress), set()).add(("tcp", *rule.ports, kind, peer))
    changes = []
    for (group, egress), rules in wanted.items():
        group_id = group_ids[group]
        added, removed = security_groups.set_rules(clients, group_id, rules, egress=egress)
        way, prep = ("outbound", "to") if egress else ("inbound", "from")
        changes += [f"{names[group_id]} {way}: removed {_rule_text(r, prep, names)}" for r in removed]
        changes += [f"{names[group_id]} {way}: added {_rule_text(r, prep, names)}" for r in added]
    return changes


def _harden_acl(clients: Clients, stack: Stack, tier: str, subnet_ids: list[str], rules: list[AclRule]) -> list[str]:
    """Give `subnet_ids` the stack's NACL for `tier` (made on the first run) holding exactly `rules`."""
    name = f"{stack.spec.name}-{tier}-nacl"
    acl_id = network_acls.find_acl(clients, stack.vpc_id, name)
    if acl_id is None:
        acl_id = network_acls.create_acl(clients, stack.vpc_id, name, stack.spec.name)
    requests = [network_acls.entry_request(r.number, egress=r.egress, ports=r.ports, cidr=r.cidr) for r in rules]
    written, deleted = network_acls.set_entries(clients, acl_id, requests)
    network_acls.associate(clients, acl_id, subnet_ids)
    by_entry = {(r.egress, r.number): r for r in rules}
    changes = [f"{name} for {len(subnet_ids)} subnets: {by_entry[(w['Egress'], w['RuleNumber'])].text()}" for w in written]
    changes += [f"{name}: removed {'outbound' if egress else 'inbound'} rule {number}" for egress, number in deleted]
    return changes


def harden(clients: Clients, stack: Stack) -> list[str]:
    """Apply section 6 to a stack built with hosts in the private subnets. Returns what changed
    (nothing when it is hardened already)."""
    if stack.spec.hosts_in != "private":
        raise ValueError("harden() needs the hosts in private subnets, and moving a host means a new instance: "
                         "build the stack with StackSpec(hosts_in='private') (or use build_hardened_stack)")
    listeners = clients.elbv2.describe_listeners(LoadBalancerArn=stack.alb_arn)["Listeners"]
    listener_ports = sorted({int(li["Port"]) for li in listeners})
    nat = bool(stack.nat_gateway_id)  # the hosts' way to the ECS endpoint (build_egress)
    changes = _harden_groups(clients, stack, listener_ports, nat)

    public_cidrs = subnet_cidrs(clients, stack.public_subnet_ids)
    private_cidrs = subnet_cidrs(clients, stack.private_subnet_ids)
    changes += _harden_acl(clients, stack, "public", stack.public_subnet_ids,
                           public_acl_rules(listener_ports, private_cidrs, nat=nat))
    changes += _harden_acl(clients, stack, "private", stack.private_subnet_ids, private_acl_rules(public_cidrs, nat=nat))
    return changes


def build_hardened_stack(clients: Clients, spec: StackSpec | None = None) -> Stack:
    """The source's stack as section 6 would have it: hosts in private subnets, then `harden`."""
    spec = dataclasses.replace(spec or StackSpec(), hosts_in="private")
    stack = build_stack(clients, spec)
    harden(clients, stack)
    return stack
