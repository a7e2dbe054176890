"""The hardened stack's rules (section 6 of the source), as data - ONE specification.

`helpers.hardening.harden` applies these rules to a live stack with boto3; `helpers.cfn` writes the
same rules into a CloudFormation template. Both read them from here, with the same rule numbers.

    public_acl_rules([80], private_cidrs)     # the ALB's subnets
    private_acl_rules(public_cidrs)           # the ECS hosts' subnets
    security_group_rules([80])                # the ALB's and the hosts' security groups
    print(spec_text([80], public_cidrs, private_cidrs, nat=True))

Rule numbers go in steps of 10 (AWS's advice: room to slip a rule in later), one block of 100
per purpose, the same in both tiers:

    100s  the traffic the tier serves (clients to the listener; the ALB to the dynamic host ports),
          and outbound the replies to it
    200s  the ALB's subnets: the targets' replies coming back
    300s  only with a NAT gateway (`nat=True`, what the CloudFormation template builds): replies
          from the internet in, HTTPS out
    400s  only with a NAT gateway: the hosts' HTTPS into the NAT gateway's (public) subnets

NACLs are stateless: every allowed request needs its reply allowed too, on 1024-65535 - the ALB
and the NAT gateway remap source ports into that range (VPC guide "Network ACLs", ephemeral ports).

Why the hosts admit 32768-65535 and not only the agent's default 32768-60999: the agent reads
the kernel's range, which was 32768-61000 on older kernels, falls back to 49153-65535, and can be
reconfigured (ECS_DYNAMIC_HOST_PORT_RANGE); 32768-65535 covers all of those and is the range the
ECS guide's examples open. The extra 61000-65535 is open to the ALB's SG only, so it costs
nothing. (AL2 on ARM once used 1025-65000 and broke this very rule: aws-cdk issue 9778, FACTS.md.)
"""

from __future__ import annotations

from dataclasses import dataclass

from helpers.facts import (ANYWHERE, DYNAMIC_HOST_PORTS, HTTPS_PORT, NACL_RULE_STEP, RETURN_PORTS, check_port,
                           check_rule_number)

HTTPS = (HTTPS_PORT, HTTPS_PORT)
ALB, HOSTS = "alb", "hosts"  # the two security groups, by role
_BLOCK = 100  # one block of rule numbers per purpose (see the module docstring)


def _port_text(ports: tuple[int, int]) -> str:
    low, high = ports
    return str(low) if low == high else f"{low}-{high}"


@dataclass(frozen=True)
class AclRule:
    """One NACL entry: allow tcp `ports` from (inbound) or to (outbound) `cidr`."""

    number: int
    egress: bool
    ports: tuple[int, int]
    cidr: str
    why: str

    def __post_init__(self) -> None:
        check_rule_number(self.number)
        check_port(self.ports[0], "the first port"), check_port(self.ports[1], "the last port")

    def text(self) -> str:
        way, prep = ("outbound", "to") if self.egress else ("inbound", "from")
        return f"{self.number} {way} allow tcp {_port_text(self.ports)} {prep} {self.cidr} ({self.why})"


@dataclass(frozen=True)
class GroupRule:
    """One security group rule: group `group` (ALB or HOSTS) admits (inbound) or sends (outbound)
    tcp `ports` from or to `peer` - the other group's role, or a CIDR. `why` becomes the rule's
    description, so it keeps to the characters AWS allows there (no apostrophes)."""

    group: str
    egress: bool
    ports: tuple[int, int]
    peer: str
    why: str

    @property
    def peer_is_group(self) -> bool:
        return self.peer in (ALB, HOSTS)

    def text(self) -> str:
        way, prep = ("out", "to") if self.egress else ("in", "from")
        peer = f"the {self.peer} SG" if self.peer_is_group else self.peer
        return f"{self.group} SG {way} tcp {_port_text(self.ports)} {prep} {peer} ({self.why})"


def _numbered(block: int, egress: bool, items: list[tuple[tuple[int, int], str]], why: str) -> list[AclRule]:
    """Rules block, block+10, ... for (ports, cidr) pairs; a block holds at most 10."""
    if len(items) > _BLOCK // NACL_RULE_STEP:
        raise ValueError(f"the hardened rules number at most {_BLOCK // NACL_RULE_STEP} rules per purpose "
                         f"(rules {block}-{block + _BLOCK - NACL_RULE_STEP}), not {len(items)}")
    return [AclRule(block + i * NACL_RULE_STEP, egress, ports, cidr, why) for i, (ports, cidr) in enumerate(items)]


def public_acl_rules(listener_ports: list[int], private_cidrs: list[str], *, nat: bool = False) -> list[AclRule]:
    """The ALB's subnets: clients in on the listener ports; the targets' replies back in;
    everything out on 1024-65535 (replies to clients, and the ALB's requests to the hosts'
    32768-65535, which that range contains). With `nat`, also the NAT gateway's traffic."""
    private = sorted(private_cidrs)
    rules = _numbered(100, False, [((p, p), ANYWHERE) for p in sorted(listener_ports)], "clients to the listener")
    rules += _numbered(200, False, [(RETURN_PORTS, cidr) for cidr in private], "replies from the targets")
    rules += _numbered(100, True, [(RETURN_PORTS, ANYWHERE)], "replies to clients; requests to the hosts' ports")
    if nat:
        rules += _numbered(300, False, [(RETURN_PORTS, ANYWHERE)], "replies from the internet to the NAT gateway")
        rules += _numbered(400, False, [(HTTPS, cidr) for cidr in private], "the hosts' HTTPS to the NAT gateway")
        rules += _numbered(300, True, [(HTTPS, ANYWHERE)], "the NAT gateway to the internet")
    return rules


def private_acl_rules(public_cidrs: list[str], *, nat: bool = False) -> list[AclRule]:
    """The hosts' subnets: the ALB's nodes (anywhere in the public subnets) in on the dynamic
    host ports, and the replies back out to them - nothing from or to anywhere else. With `nat`,
    also the hosts' HTTPS to the ECS API and the image registry, and its replies."""
    public = sorted(public_cidrs)
    rules = _numbered(100, False, [(DYNAMIC_HOST_PORTS, cidr) for cidr in public], "the ALB to the dynamic host ports")
    rules += _numbered(100, True, [(RETURN_PORTS, cidr) for cidr in public], "replies to the ALB")
    if nat:
        # The replies carry the internet server's address, hence from anywhere: the private subnets
        # have no route from the internet, and the hosts' SG still admits only the ALB.
        rules += _numbered(300, False, [(RETURN_PORTS, ANYWHERE)], "replies to the hosts' HTTPS, through the NAT gateway")
        rules += _numbered(300, True, [(HTTPS, ANYWHERE)], "the ECS API and the image registry, through the NAT gateway")
    return rules


def security_group_rules(listener_ports: list[int], *, nat: bool = False) -> list[GroupRule]:
    """The hosts' SG admits only the dynamic host ports, and only from the ALB's SG; the ALB's SG
    admits only its listener ports and sends only to the hosts' dynamic ports (a new SG allows
    all outbound: FACTS.md). The hosts' outbound rules are left as they are - except with `nat`,
    where they may call only HTTPS (the ECS API and the image registry)."""
    rules = [GroupRule(HOSTS, False, DYNAMIC_HOST_PORTS, ALB, "dynamic host ports, from the ALB only")]
    rules += [GroupRule(ALB, False, (p, p), ANYWHERE, f"clients to the listener on {p}") for p in sorted(listener_ports)]
    rules.append(GroupRule(ALB, True, DYNAMIC_HOST_PORTS, HOSTS, "dynamic host ports and health checks"))
    if nat:
        rules.append(GroupRule(HOSTS, True, HTTPS, ANYWHERE, "ECS API and image registry, through the NAT gateway"))
    return rules


def spec_text(listener_ports: list[int], public_cidrs: list[str], private_cidrs: list[str], *, nat: bool = False) -> str:
    """Every rule of the specification, one line each: security groups, then each NACL."""
    lines = [rule.text() for rule in security_group_rules(listener_ports, nat=nat)]
    for tier, rules in (("public NACL", public_acl_rules(listener_ports, private_cidrs, nat=nat)),
                        ("private NACL", private_acl_rules(public_cidrs, nat=nat))):
        lines += [f"{tier}: {rule.text()}" for rule in sorted(rules, key=lambda r: (r.egress, r.number))]
    return "\n".join(lines)
