"""The audit: each finding fires on a stack built to have it and stays silent on the hardened stack.

Pure tests use the seed stack as data (helpers.evaluator.examples) and the hardened stack made from
the same rule definitions `helpers.hardening` applies (`helpers.hardened_spec`); one sandbox test builds both for real.
"""

from __future__ import annotations

import json

import pytest

from helpers.audit import AuditReport, audit, format_report, report_to_json
from helpers.evaluator import Flow, evaluate
from helpers.evaluator.examples import (
    ALB_DNS, ALB_SG, DEFAULT_ACL, HOST_1, HOST_2, HOST_SG, PRIVATE_A, PRIVATE_B, PUBLIC_A, PUBLIC_B, TG_ARN, VPC,
    allow_all_acl, replace_fields, replace_item, seed_snapshot,
)
from helpers.evaluator.exposure import describe, host_exposure
from helpers.evaluator.ports import box, cidr_range
from helpers.evaluator.snapshot import NaclEntry, NetworkAcl, SecurityGroup, SgRule
from helpers.facts import DYNAMIC_HOST_PORTS as HOST_PORTS
from helpers.hardened_spec import private_acl_rules, public_acl_rules

PUBLIC_CIDRS, PRIVATE_CIDRS = ["10.0.1.0/24", "10.0.2.0/24"], ["10.0.11.0/24", "10.0.12.0/24"]
ANYWHERE = ("0.0.0.0/0",)


def acl_from(acl_id, subnets, rules, extra=()) -> NetworkAcl:
    entries = tuple(NaclEntry(r.number, r.egress, "6", "allow", r.cidr, *r.ports) for r in rules) + tuple(extra)
    entries += tuple(NaclEntry(32767, egress, "-1", "deny", "0.0.0.0/0") for egress in (False, True))
    return NetworkAcl(acl_id, VPC, entries, subnets)


def host_sg(*ingress) -> SecurityGroup:
    return SecurityGroup(HOST_SG, "lab-host-sg", VPC, tuple(ingress), (SgRule("-1", cidrs=ANYWHERE),))


def alb_sg(ingress=(SgRule("tcp", 80, 80, cidrs=ANYWHERE),)) -> SecurityGroup:
    return SecurityGroup(ALB_SG, "lab-alb-sg", VPC, tuple(ingress), (SgRule("tcp", *HOST_PORTS, group_ids=(HOST_SG,)),))


FROM_ALB = SgRule("tcp", *HOST_PORTS, group_ids=(ALB_SG,))


def hardened(**changes):
    """Section 6 as data: hosts in private subnets, tight SGs, per-tier NACLs (hardening's rules)."""
    snap = seed_snapshot(hosts_in="private")
    snap = replace_fields(snap, network_acls=(
        allow_all_acl(DEFAULT_ACL, ()),  # the default NACL serves no subnet any more
        acl_from("acl-0public", (PUBLIC_A, PUBLIC_B), public_acl_rules([80], PRIVATE_CIDRS)),
        acl_from("acl-0private", (PRIVATE_A, PRIVATE_B), private_acl_rules(PUBLIC_CIDRS))))
    snap = replace_item(replace_item(snap, "security_groups", host_sg(FROM_ALB)), "security_groups", alb_sg())
    return replace_fields(snap, **changes) if changes else snap


def run(snap, *, role=True, services=()):
    return audit(snap, service_linked_role_present=role, services=list(services))


def codes(findings) -> set[tuple[str, str]]:
    return {(f.code, f.resource_id) for f in findings}


# -- the hardened stack: works, and nothing to report ----------------------------------------------------
def test_hardened_stack_still_works_and_is_silent():
    snap = hardened()
    verdict = evaluate(snap, Flow(ALB_DNS, 80))
    assert verdict.reachable and len(verdict.targets) == 3 and all(t.reachable for t in verdict.targets)
    assert run(snap) == []


def test_seed_stack_findings():
    findings = run(seed_snapshot())
    assert codes(findings) == {
        ("LAB_NACL_ALLOW_ALL_FIRST", DEFAULT_ACL),
        ("LAB_HOST_OPEN_TO_INTERNET", HOST_1), ("LAB_HOST_OPEN_TO_INTERNET", HOST_2),
        ("LAB_HOST_IN_PUBLIC_SUBNET", HOST_1), ("LAB_HOST_IN_PUBLIC_SUBNET", HOST_2),
    }
    assert [f.severity for f in findings] == ["high", "high", "medium", "medium", "medium"]  # sorted
    open_host = findings[0]
    assert open_host.title.endswith("tcp 8081 from 0.0.0.0/0")
    assert "SG sg-0host allows tcp 8081 from 0.0.0.0/0" in open_host.evidence


# -- 5-4: allow-all ahead of any deny ------------------------------------------------------------------------
def test_allow_all_nacl_fires_and_names_the_dead_rules():
    acl = allow_all_acl(DEFAULT_ACL, (PUBLIC_A, PUBLIC_B, PRIVATE_A, PRIVATE_B))
    acl = NetworkAcl(acl.id, VPC, acl.entries + (NaclEntry(110, False, "6", "deny", "0.0.0.0/0", 22, 22),),
                     acl.subnet_ids, True)
    (finding,) = [f for f in run(hardened(network_acls=(acl,))) if f.code == "LAB_NACL_ALLOW_ALL_FIRST"]
    assert finding.severity == "medium" and "inbound rule 100 allows all traffic from 0.0.0.0/0" in finding.evidence
    assert any("rule 110 (tcp 22 from 0.0.0.0/0) can never match" in e for e in finding.evidence)


def test_a_deny_ahead_of_the_allow_all_is_not_that_finding():
    acl = allow_all_acl(DEFAULT_ACL, (PUBLIC_A, PUBLIC_B, PRIVATE_A, PRIVATE_B))
    acl = NetworkAcl(acl.id, VPC, acl.entries + (NaclEntry(90, False, "6", "deny", "198.51.100.0/24", 22, 22),),
                     acl.subnet_ids, True)
    assert "LAB_NACL_ALLOW_ALL_FIRST" not in {f.code for f in run(hardened(network_acls=(acl,)))}


def test_allow_all_split_over_several_rules_is_the_same_finding():
    """Computed over the whole (address x port) space, not by reading one rule's text."""
    split = (NaclEntry(100, False, "6", "allow", "0.0.0.0/1", 0, 65535),
             NaclEntry(101, False, "6", "allow", "128.0.0.0/1", 0, 65535))
    acl = acl_from("acl-0public", (PUBLIC_A, PUBLIC_B), public_acl_rules([80], PRIVATE_CIDRS)[1:], split)
    snap = replace_item(hardened(), "network_acls", acl)
    assert ("LAB_NACL_ALLOW_ALL_FIRST", "acl-0public") in codes(run(snap))


# -- hosts reachable from the internet: exact over ranges and CIDR sets --------------------------------------
def test_exposure_is_the_intersection_of_nacl_and_sg_sets():
    snap = seed_snapshot()
    snap = replace_item(snap, "security_groups", host_sg(
        FROM_ALB, SgRule("tcp", 8000, 8100, cidrs=ANYWHERE), SgRule("tcp", 22, 22, cidrs=("198.51.100.0/24",))))
    acl = allow_all_acl(DEFAULT_ACL, (PUBLIC_A, PUBLIC_B, PRIVATE_A, PRIVATE_B))
    deny = (NaclEntry(50, False, "6", "deny", "0.0.0.0/0", 8082, 8100),
            NaclEntry(60, False, "6", "deny", "198.51.100.128/25", 0, 65535))
    snap = replace_item(snap, "network_acls", NetworkAcl(acl.id, VPC, acl.entries + deny, acl.subnet_ids, True))
    exposure = host_exposure(snap, snap.instance_by_id[HOST_1])
    assert exposure.lines() == ["tcp 22 from 198.51.100.0/25", "tcp 8000-8081 from 0.0.0.0/0 except 198.51.100.128/25"]
    (finding,) = [f for f in run(snap) if f.code == "LAB_HOST_OPEN_TO_INTERNET" and f.resource_id == HOST_1]
    assert finding.title.endswith("tcp 22 from 198.51.100.0/25 (+1 more)")


def test_no_public_ip_or_no_route_or_no_reply_means_not_exposed():
    seed = seed_snapshot()
    inst = seed.instance_by_id[HOST_1]
    assert host_exposure(seed, inst).reachable
    no_ip = replace_item(seed, "instances", type(inst)(**{**inst.__dict__, "public_ip": None}))
    assert not host_exposure(no_ip, no_ip.instance_by_id[HOST_1]).reachable
    # NACL outbound denies every reply: the SYN gets in, the SYN-ACK never leaves.
    acl = allow_all_acl(DEFAULT_ACL, (PUBLIC_A, PUBLIC_B))
    silent = NetworkAcl(acl.id, VPC, tuple(e for e in acl.entries if not (e.egress and e.action == "allow")), acl.subnet_ids)
    assert not host_exposure(replace_item(seed, "network_acls", silent), inst).reachable


def test_describe_is_canonical():
    a, b = cidr_range("0.0.0.0/1"), cidr_range("128.0.0.0/1")
    boxes = [box(a, (80, 90)), box(b, (80, 85)), box(b, (86, 90))]
    assert describe(boxes) == ["tcp 80-90 from 0.0.0.0/0"]
    assert describe([box(a, (1, 1))]) == ["tcp 1 from 0.0.0.0/1"]
    # The VPC's own range never comes from the internet: "everything but 10.0.0.0/8" reads as 0.0.0.0/0.
    vpc = cidr_range("10.0.0.0/8")
    internet = [(0, vpc[0] - 1), (vpc[1] + 1, b[1])]
    assert describe([box(iv, (1, 1)) for iv in internet], internet=internet) == ["tcp 1 from 0.0.0.0/0"]


# -- 6-1: the host SG and the dynamic host ports -------------------------------------------------------------
@pytest.mark.parametrize("rule, severity", [
    (SgRule("tcp", 32768, 65535, cidrs=ANYWHERE), "high"),
    (SgRule("-1", cidrs=ANYWHERE), "high"),
    (SgRule("tcp", 1024, 40000, cidrs=("10.0.0.0/16",)), "medium"),
    (SgRule("tcp", 32768, 65535, group_ids=("sg-0other",)), "medium"),
])
def test_host_sg_admitting_dynamic_ports_from_others(rule, severity):
    (finding,) = [f for f in run(hardened(security_groups=(alb_sg(), host_sg(FROM_ALB, rule))))
                  if f.code == "LAB_HOST_SG_EPHEMERAL_NOT_FROM_ALB"]
    assert finding.resource_id == HOST_SG and finding.severity == severity


def test_host_sg_rule_below_the_dynamic_range_is_not_that_finding():
    snap = hardened(security_groups=(alb_sg(), host_sg(FROM_ALB, SgRule("tcp", 8081, 8081, cidrs=ANYWHERE))))
    assert "LAB_HOST_SG_EPHEMERAL_NOT_FROM_ALB" not in {f.code for f in run(snap)}


# -- 6-2: hosts in public subnets -----------------------------------------------------------------------------
def test_hosts_in_public_subnets_only_matters_with_an_internet_facing_alb():
    seed = seed_snapshot()
    assert {f.resource_id for f in run(seed) if f.code == "LAB_HOST_IN_PUBLIC_SUBNET"} == {HOST_1, HOST_2}
    lb = seed.load_balancers[0]
    internal = replace_item(seed, "load_balancers", type(lb)(**{**lb.__dict__, "scheme": "internal"}))
    assert "LAB_HOST_IN_PUBLIC_SUBNET" not in {f.code for f in run(internal)}


# -- the ALB's SG and its listeners ---------------------------------------------------------------------------
def test_alb_sg_admitting_more_than_its_listener_ports():
    wide = alb_sg((SgRule("tcp", 80, 80, cidrs=ANYWHERE), SgRule("tcp", 8000, 8100, cidrs=ANYWHERE)))
    (finding,) = [f for f in run(hardened(security_groups=(wide, host_sg(FROM_ALB))))
                  if f.code == "LAB_ALB_SG_EXTRA_PORTS"]
    assert finding.resource_id == ALB_SG and "tcp 8000-8100" in finding.title
    everything = alb_sg((SgRule("-1", cidrs=ANYWHERE),))
    (finding,) = [f for f in run(hardened(security_groups=(everything, host_sg(FROM_ALB))))
                  if f.code == "LAB_ALB_SG_EXTRA_PORTS"]
    assert "tcp 0-79, 81-65535" in finding.title


# -- NACLs that break the ALB-to-target leg ---------------------------------------------------------------------
def test_nacl_without_return_rules_breaks_the_leg():
    inbound_only = [r for r in private_acl_rules(PUBLIC_CIDRS) if not r.egress]
    outbound_missing = acl_from("acl-0private", (PRIVATE_A, PRIVATE_B), inbound_only)
    snap = replace_item(hardened(), "network_acls", outbound_missing)
    assert not evaluate(snap, Flow(ALB_DNS, 80)).reachable  # the evaluator agrees: the path is blocked
    (finding,) = [f for f in run(snap) if f.code == "LAB_NACL_BREAKS_TARGET_LEG"]
    assert finding.resource_id == "acl-0private" and finding.severity == "high" and "return path" in finding.title
    assert "outbound allow tcp 1024-65535 to 10.0.1.0/24" in finding.fix


def test_nacl_leg_checks_the_whole_agent_range_not_only_todays_ports():
    """Today's tasks use 32768/32769; a NACL opening only those breaks the next task's port."""
    narrow = [r for r in private_acl_rules(PUBLIC_CIDRS) if r.egress]
    narrow += [type(r)(r.number, False, (32768, 32769), r.cidr, r.why) for r in private_acl_rules(PUBLIC_CIDRS) if not r.egress]
    snap = replace_item(hardened(), "network_acls", acl_from("acl-0private", (PRIVATE_A, PRIVATE_B), narrow))
    assert evaluate(snap, Flow(ALB_DNS, 80)).reachable  # fine today ...
    services = [{"serviceArn": "arn:svc", "serviceName": "svc", "loadBalancers": [{"targetGroupArn": TG_ARN}]}]
    (finding,) = [f for f in run(snap, services=services) if f.code == "LAB_NACL_BREAKS_TARGET_LEG"]
    assert any("inbound tcp 32770-60999 from ALB lab-alb nodes" in e for e in finding.evidence)  # ... not tomorrow


# -- 6-3: the service-linked role -------------------------------------------------------------------------------
def test_service_linked_role_and_legacy_roles():
    legacy = {"serviceArn": "arn:aws:ecs:us-east-1:123456789012:service/lab-cluster/lab-svc", "serviceName": "lab-svc",
              "roleArn": "arn:aws:iam::123456789012:role/ecsServiceRole", "loadBalancers": [{"targetGroupArn": TG_ARN}]}
    findings = run(hardened(), role=False, services=[legacy, {"serviceName": "modern", "serviceArn": "arn:m"}])
    assert [(f.code, f.severity) for f in findings] == [
        ("LAB_NO_ECS_SERVICE_LINKED_ROLE", "high"), ("LAB_ECS_LEGACY_SERVICE_ROLE", "low")]
    assert run(hardened(), role=None) == []  # IAM unreadable: not checked (run_audit adds a note)


# -- output -------------------------------------------------------------------------------------------------------
def test_report_text_and_json_are_deterministic():
    report = AuditReport(tuple(run(seed_snapshot())), (VPC,), "us-east-1")
    text = format_report(report)
    assert text == format_report(AuditReport(tuple(run(seed_snapshot())), (VPC,), "us-east-1"))
    assert text.splitlines()[0] == f"audit of {VPC} (us-east-1)"
    assert text.splitlines()[-1] == "5 findings: 2 high, 3 medium"
    assert "[HIGH] LAB_HOST_OPEN_TO_INTERNET  i-0host1" in text and "  fix: " in text
    data = json.loads(json.dumps(report_to_json(report)))
    assert data["counts"] == {"high": 2, "medium": 3, "low": 0} and data["findings"][0]["code"] == "LAB_HOST_OPEN_TO_INTERNET"
    assert report.at_or_above("high") and not AuditReport((), (VPC,)).at_or_above("low")
    assert AuditReport((), (VPC,)).summary() == "no findings"


# -- a real sandbox: the seed stack has the findings, the hardened one has none and still serves -----------------
@pytest.mark.slow
def test_sandbox_seed_versus_hardened_stack(sandbox, capsys):
    from helpers.audit import run_audit
    from helpers.cli import main
    from helpers.evaluator import read_snapshot
    from helpers.hardening import build_hardened_stack
    from helpers.stack import StackSpec, build_stack
    from helpers.traffic import request
    from helpers.waiters import wait_for_service

    clients = sandbox.clients()
    try:
        seed = build_stack(clients, StackSpec(name="auditseed", desired_count=1))
        report = run_audit(clients, seed.vpc_id)
        found = {(f.code, f.resource_id) for f in report.findings}
        hosts = set(seed.instance_ids)
        assert {r for c, r in found if c == "LAB_HOST_OPEN_TO_INTERNET"} == hosts
        assert {r for c, r in found if c == "LAB_HOST_IN_PUBLIC_SUBNET"} == hosts
        assert {c for c, _ in found} == {"LAB_HOST_OPEN_TO_INTERNET", "LAB_HOST_IN_PUBLIC_SUBNET", "LAB_NACL_ALLOW_ALL_FIRST"}
        assert all(f.title.endswith("tcp 8081 from 0.0.0.0/0") for f in report.findings if f.code == "LAB_HOST_OPEN_TO_INTERNET")

        hardened = build_hardened_stack(clients, StackSpec(name="audithard", desired_count=2))
        wait_for_service(clients, hardened, progress=False, timeout=30)
        assert run_audit(clients, hardened.vpc_id).findings == ()
        assert evaluate(read_snapshot(clients), Flow(hardened.alb_dns_name, 80)).reachable
        assert request(f"http://{hardened.alb_dns_name}/", proxy=sandbox.socks_proxy).status == 200

        # The command: exit 1 with a high finding, 0 without, 2 for a VPC that is not there.
        endpoint = ["--endpoint-url", sandbox.endpoint_url]
        assert main(["audit", "--vpc", seed.vpc_id, *endpoint]) == 1
        assert capsys.readouterr().out.rstrip().endswith("5 findings: 2 high, 3 medium")
        assert main(["audit", "--vpc", hardened.vpc_id, "--json", "--fail-on", "low", *endpoint]) == 0
        assert json.loads(capsys.readouterr().out)["findings"] == []
        assert main(["audit", "--vpc", "vpc-0nothere", *endpoint]) == 2
    finally:
        sandbox.reset()
