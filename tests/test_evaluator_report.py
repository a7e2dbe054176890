"""The text and JSON renderings, the set arithmetic underneath, and the walk's speed."""

from __future__ import annotations

import json
import time

from helpers.evaluator import Flow, evaluate, evaluate_alb_to_target
from helpers.evaluator.examples import ALB_ARN, ALB_DNS, ALB_SG, HOST_1, HOST_SG, PUBLIC_A, PUBLIC_B, VPC, replace_fields, replace_item, seed_snapshot
from helpers.evaluator.ports import addresses_text, cidr_range, covers, ports_text, subtract
from helpers.evaluator.report import format_verdict, verdict_to_json
from helpers.evaluator.snapshot import NaclEntry, NetworkAcl, SecurityGroup, SgRule


def test_format_verdict_reachable_path_is_deterministic():
    text = format_verdict(evaluate(seed_snapshot(), Flow(ALB_DNS, 80)))
    assert text == format_verdict(evaluate(seed_snapshot(), Flow(ALB_DNS, 80)))
    assert "outcome: listener - REACHABLE" in text
    assert "i-0host1:32768 [healthy] reachable -> task task1 container tomcat:8081" in text
    assert text.index("i-0host1:32768") < text.index("i-0host1:32769") < text.index("i-0host2:32768")


def test_format_verdict_lists_every_blocker_with_its_fix():
    text = format_verdict(evaluate(seed_snapshot(), Flow(ALB_DNS, 8081)))
    assert "outcome: dropped - BLOCKED" in text
    # Each blocker names its resource by role, id and Name: what a learner sees in the tables.
    assert "[ENI_SG_RULES_MISMATCH] the ALB's security group sg-0alb (lab-alb-sg) does not allow inbound tcp 8081" in text
    assert "[ELBV2_LISTENERS_MISMATCH]" in text
    assert text.count("fix: ") == 2


def test_verdict_to_json():
    data = verdict_to_json(evaluate(seed_snapshot(), Flow(ALB_DNS, 8081)))
    json.dumps(data)  # plain JSON types only
    assert data["reachable"] is False and data["outcome"] == "dropped"
    assert {"code", "resource_id", "resource_name", "role", "direction", "ports", "peer", "message", "fix"} \
        == set(data["explanations"][0])
    assert data["explanations"][0]["ports"] == [[8081, 8081]] and data["explanations"][0]["resource_name"] == "lab-alb-sg"
    ok = verdict_to_json(evaluate(seed_snapshot(), Flow(ALB_DNS, 80)))
    assert ok["reachable"] is True and len(ok["targets"]) == 3
    assert ok["targets"][0]["container_port"] == 8081 and ok["hops"][0]["kind"] == "source"


def test_box_arithmetic():
    whole = (0, 9, 1024, 65535)
    assert subtract(whole, (0, 9, 32768, 65535)) == [(0, 9, 1024, 32767)]
    assert covers([(0, 4, 0, 65535), (5, 9, 1024, 65535)], whole)
    assert not covers([(0, 4, 0, 65535)], whole)
    assert ports_text([(0, 0, 1024, 2000), (1, 1, 2001, 3000), (0, 0, 5000, 5000)]) == "1024-3000, 5000"
    lo, hi = cidr_range("10.0.1.0/24")
    assert addresses_text([(lo, hi, 0, 0)]) == "10.0.1.0/24" and addresses_text([(lo, lo, 0, 0)]) == "10.0.1.0"


def _big_snapshot(rules: int):
    """The seed with thousands of NACL entries and SG rules that do not match, ahead of the ones that do."""
    snap = seed_snapshot()
    noise = [NaclEntry(n, egress, "6", "deny", f"172.{16 + n // 250 % 16}.{n % 250}.0/24", 22, 22)
             for egress in (False, True) for n in range(1, rules + 1)]
    allow = [NaclEntry(rules + 1, egress, "-1", "allow", "0.0.0.0/0") for egress in (False, True)]
    star = [NaclEntry(32767, egress, "-1", "deny", "0.0.0.0/0") for egress in (False, True)]
    subnets = tuple(s.id for s in snap.subnets)
    snap = replace_fields(snap, network_acls=(NetworkAcl("acl-0big", VPC, tuple(noise + allow + star), subnets),))
    host_rules = tuple(SgRule("tcp", 1000 + n % 1000, 1000 + n % 1000, cidrs=(f"192.168.{n % 250}.{n // 250 % 250}/32",))
                       for n in range(rules))
    snap = replace_item(snap, "security_groups", SecurityGroup(
        HOST_SG, "lab-host-sg", VPC, host_rules + (SgRule("tcp", 32768, 65535, group_ids=(ALB_SG,)),),
        (SgRule("-1", cidrs=("0.0.0.0/0",)),)))
    return snap


def test_thousands_of_rules_evaluate_in_milliseconds():
    snaps = [_big_snapshot(2000) for _ in range(3)]  # built outside the clock
    started = time.perf_counter()
    for snap in snaps:  # cold: every index and prepared rule list is built on first use
        verdict = evaluate(snap, Flow(ALB_DNS, 80))
    cold = (time.perf_counter() - started) / len(snaps)
    assert verdict.reachable and len(verdict.targets) == 3
    started = time.perf_counter()
    for n in range(100):  # a new flow on a warm snapshot: what the data plane pays per connection
        evaluate(snap, Flow(ALB_DNS, 80, path=f"/page/{n}"))
    warm = (time.perf_counter() - started) / 100
    started = time.perf_counter()
    for _ in range(1000):  # the health checker's question, answered from the memo
        evaluate_alb_to_target(snap, ALB_ARN, HOST_1, 32768)
    leg = (time.perf_counter() - started) / 1000
    print(f"\n2000 NACL entries per direction + 2000 SG rules: cold {cold * 1e3:.1f} ms, "
          f"new flow {warm * 1e3:.2f} ms, memoized leg {leg * 1e6:.0f} us")
    # Generous bounds for a loaded CI machine; typical: ~50 ms, ~1 ms, ~25 us.
    assert cold < 2.0 and warm < 0.05 and leg < 0.002
    assert PUBLIC_A in snap.nacl_by_subnet and PUBLIC_B in snap.nacl_by_subnet
