"""Self-checks for 06_hardening: the SG-to-SG rule (exercise 1) and the hardened stack."""

from __future__ import annotations

from helpers.audit import run_audit
from helpers.evaluator.crossing import sg_admits, sg_admitted
from helpers.evaluator.ports import ALL_PORTS, EVERY_ADDRESS, addresses_text
from helpers.facts import DYNAMIC_HOST_PORTS
from helpers.selfcheck import CheckResult, Report, expect, report


def only_the_alb(lab, stack, direct_url: str) -> Report:
    """Exercise 1: the host SG admits tcp 32768-65535 from the ALB's SG and nothing from any
    address range; the ALB still answers; `direct_url` (a host's public name : a task's host
    port) no longer does."""
    snap = lab.snapshot()
    hosts = (stack.host_sg_id,)
    from_alb = sg_admits(snap, hosts, DYNAMIC_HOST_PORTS, peer_group=stack.alb_sg_id)
    # Anything an address (no group membership) gets in on, and every other group the rules admit.
    by_address = sg_admitted(snap, hosts, False, EVERY_ADDRESS, (), ALL_PORTS)
    other_groups = [g.id for g in snap.security_groups if g.id != stack.alb_sg_id
                    and sg_admitted(snap, hosts, False, None, (g.id,), ALL_PORTS)]
    through_alb = lab.request(f"http://{stack.alb_dns_name}/", timeout=10.0)
    direct = lab.request(direct_url)
    results: list[CheckResult] = [
        expect(from_alb, "the host SG admits tcp 32768-65535 from the ALB's security group",
               "add the rule: tcp 32768-65535 with UserIdGroupPairs=[{'GroupId': stack.alb_sg_id}]"),
        expect(not by_address, "no rule of the host SG admits an address range (0.0.0.0/0 is gone)",
               f"the host SG still admits {addresses_text(by_address)} - revoke those rules"),
        expect(not other_groups, "the ALB's SG is the only source the host SG names",
               "the host SG names other groups as sources too - only the ALB's SG should be there"),
        expect(through_alb.kind == "answered", "a request through the ALB is answered",
               f"a request through the ALB fails: {through_alb.summary()} - did the ALB's rule go too?"),
        expect(direct.kind != "answered", "a request straight to a task's host port is no longer answered",
               f"a request straight to the host is still answered: {direct.summary()}"),
    ]
    return report(results)


def hardened(lab, stack) -> Report:
    """The end state: hosts in private subnets without public IPs, the ALB answering for every
    task, and an audit with no finding."""
    reservations = lab.clients.ec2.describe_instances(InstanceIds=stack.instance_ids)["Reservations"]
    instances = [i for r in reservations for i in r["Instances"]]
    private = all(i["SubnetId"] in stack.private_subnet_ids for i in instances)
    no_public_ip = not any(i.get("PublicIpAddress") for i in instances)
    explained = lab.explain(f"http://{stack.alb_dns_name}/")
    legs = explained.verdict.targets
    findings = run_audit(lab.clients, stack.vpc_id).findings
    results: list[CheckResult] = [
        expect(private, "every ECS host runs in a private subnet",
               "some hosts run in public subnets - rebuild with lab.build(..., hosts_in='private')"),
        expect(no_public_ip, "no ECS host has a public IP", "some hosts have a public IP"),
        expect(explained.reachable and legs and all(leg.reachable for leg in legs),
               "the ALB reaches every task",
               f"the ALB does not reach every task: {', '.join(explained.codes) or 'no targets'}"),
        expect(not findings, "the audit finds nothing",
               "the audit still finds: " + ", ".join(sorted({f.code for f in findings}))),
    ]
    return report(results)
