"""Explanations carry fields (role, direction, ports, peer, the resource's name), and every
rendering - the text, the digest, the HTML - is built from those fields."""

from __future__ import annotations

import dataclasses

from helpers.course import Explained
from helpers.evaluator import Flow, evaluate
from helpers.evaluator.examples import (
    ALB_DNS, ALB_SG, HOST_SG, PRIVATE_A, PRIVATE_B, VPC, replace_fields, replace_item, seed_snapshot,
)
from helpers.evaluator.report import all_explanations, without_ids
from helpers.evaluator.snapshot import NaclEntry, NetworkAcl, SecurityGroup, SgRule
from helpers.nacl_tools import blocker_digest, sorted_blockers

ALL_OUT = (SgRule("-1", cidrs=("0.0.0.0/0",)),)
# An id whose random part ends in digits that look like a dynamic host port.
HOSTS_ACL = "acl-4d50ee186b1b45123"


def broken_snapshot():
    """Hosts in private subnets; their SG admits only 8081 (not the dynamic host ports) and their
    NACL, named "lab-hosts-acl", lets the ALB's traffic in but no reply out."""
    snap = seed_snapshot(hosts_in="private")
    snap = replace_item(snap, "security_groups", SecurityGroup(
        HOST_SG, "lab-host-sg", VPC, (SgRule("tcp", 8081, 8081, cidrs=("0.0.0.0/0",)),), ALL_OUT))
    entries = (NaclEntry(100, False, "-1", "allow", "0.0.0.0/0"), NaclEntry(32767, False, "-1", "deny", "0.0.0.0/0"),
               NaclEntry(32767, True, "-1", "deny", "0.0.0.0/0"))
    hosts = (PRIVATE_A, PRIVATE_B)
    acls = tuple(dataclasses.replace(a, subnet_ids=tuple(s for s in a.subnet_ids if s not in hosts))
                 for a in snap.network_acls)
    return replace_fields(snap, network_acls=acls + (NetworkAcl(HOSTS_ACL, VPC, entries, hosts, name="lab-hosts-acl"),))


def explained():
    snap = broken_snapshot()
    return Explained(evaluate(snap, Flow(ALB_DNS, 80)), snap)


def test_each_blocker_carries_role_direction_ports_peer_and_name():
    found = all_explanations(explained().verdict)
    sg = next(e for e in found if e.code == "ENI_SG_RULES_MISMATCH")
    assert (sg.resource_id, sg.resource_name, sg.role) == (HOST_SG, "lab-host-sg", "the target's security group")
    assert sg.direction == "forward" and sg.peer == "ALB lab-alb" and sg.host_port
    assert sg.ports in {((32768, 32768),), ((32769, 32769),)}
    replies = [e for e in found if e.code == "SUBNET_ACL_RESTRICTION"]
    assert replies and all(e.direction == "return" and e.ports == ((1024, 65535),) for e in replies)
    assert {e.role for e in replies} == {"the target's network ACL"}
    assert all(e.resource == f"{HOSTS_ACL} (lab-hosts-acl)" for e in replies)
    assert all(e.resource in e.message and e.resource in e.fix for e in replies)


def test_the_digest_shows_each_kind_of_blocker_once_and_never_edits_an_id():
    digest = blocker_digest(explained())
    lines = digest.splitlines()
    assert lines[0].endswith("BLOCKED (no target reachable)")
    # Three targets on two hosts, two ports: one SG line, with the port as "<host port>".
    sg_lines = [line for line in lines if "[ENI_SG_RULES_MISMATCH]" in line]
    assert sg_lines == [f"  [ENI_SG_RULES_MISMATCH] the target's security group {HOST_SG} (lab-host-sg) does not "
                        "allow inbound tcp <host port> from ALB lab-alb"]
    assert f"tcp 32768-65535 from {ALB_SG}" in digest
    # The NACL's id keeps every digit; one line per ALB subnet (a node in each sends to every target).
    assert digest.count(f"the target's network ACL {HOSTS_ACL} (lab-hosts-acl) blocks the return direction") == 2
    assert "<host port>" not in digest.replace("tcp <host port> from ALB", "")
    assert digest == blocker_digest(explained())


def test_sorted_blockers_orders_by_text_without_ids():
    text = sorted_blockers(explained()).splitlines()[1:]
    heads = [line for line in text if line.startswith("  [")]
    assert heads == sorted(heads, key=without_ids)
    assert without_ids("sg-0ce11351a52711154 and subnet-4d50ee186b1b45123") == "sg- and subnet-"


def test_one_str_and_one_html_per_result_type():
    verdict = explained().verdict
    blocker = next(e for e in all_explanations(verdict) if e.code == "ENI_SG_RULES_MISMATCH")
    assert str(blocker).startswith(f"[{blocker.code}] ") and "\n    fix: " in str(blocker)
    assert "<table>" in blocker._repr_html_() and "lab-host-sg" in blocker._repr_html_()
    assert str(verdict.targets[0]).startswith(f"{verdict.targets[0].target_id}:{verdict.targets[0].port} ")
    assert str(explained()) == str(verdict) and "outcome: listener - BLOCKED" in str(verdict)
    assert explained()._repr_html_() == verdict._repr_html_() and "the target&#x27;s network ACL" in verdict._repr_html_()
