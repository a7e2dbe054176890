"""The evaluator on pure-data snapshots: every rule kind and every blocker code it uses."""

from __future__ import annotations

import dataclasses

import pytest

from helpers.evaluator import Flow, evaluate, evaluate_alb_to_target
from helpers.evaluator.examples import (
    ALB_ARN, ALB_DNS, ALB_SG, CLUSTER, DEFAULT_ACL, HOST_1, HOST_2, HOST_SG, IGW, PRIVATE_A, PRIVATE_B, PUBLIC_A,
    PUBLIC_B, PUBLIC_RTB, TG_ARN, VPC, allow_all_acl, host, replace_fields, replace_item, seed_snapshot,
)
from helpers.evaluator.nacl import shadowed_entries
from helpers.evaluator.snapshot import (
    NaclEntry, NetworkAcl, PortBinding, Route, RouteTable, SecurityGroup, SgRule, Task,
)

ALL_OUT = (SgRule("-1", cidrs=("0.0.0.0/0",)),)


def codes(explanations) -> set[str]:
    return {e.code for e in explanations}


def with_host_sg(snap, *ingress, egress=ALL_OUT):
    return replace_item(snap, "security_groups", SecurityGroup(HOST_SG, "lab-host-sg", VPC, tuple(ingress), egress))


def with_acl(snap, acl_id, subnets, entries):
    """Move `subnets` to a new NACL with `entries` (each subnet has exactly one NACL)."""
    acls = tuple(dataclasses.replace(a, subnet_ids=tuple(s for s in a.subnet_ids if s not in subnets))
                 for a in snap.network_acls)
    return replace_fields(snap, network_acls=acls + (NetworkAcl(acl_id, VPC, tuple(entries), tuple(subnets)),))


def entry(number, egress, action, cidr="0.0.0.0/0", ports=None, protocol="6"):
    low, high = ports if ports else (None, None)
    return NaclEntry(number, egress, "-1" if ports is None and protocol == "6" else protocol, action, cidr, low, high)


STAR = [NaclEntry(32767, False, "-1", "deny", "0.0.0.0/0"), NaclEntry(32767, True, "-1", "deny", "0.0.0.0/0")]


# -- the seed stack ---------------------------------------------------------------------------------
def test_seed_port_80_reaches_every_task_through_its_dynamic_host_port():
    verdict = evaluate(seed_snapshot(), Flow(ALB_DNS, 80))
    assert verdict.outcome == "listener" and verdict.reachable and not verdict.explanations
    kinds = [h.kind for h in verdict.hops]
    assert kinds.index("igw") < kinds.index("nacl-in") < kinds.index("sg-in") < kinds.index("listener") < kinds.index("rule")
    assert any(h.kind == "nacl-out" and h.direction == "return" for h in verdict.hops)
    assert verdict.target_group_arns == (TG_ARN,)
    legs = {(t.target_id, t.port): t for t in verdict.targets}
    assert set(legs) == {(HOST_1, 32768), (HOST_1, 32769), (HOST_2, 32768)}
    for leg in legs.values():
        assert leg.reachable and leg.health == "healthy"
        assert (leg.container_name, leg.container_port) == ("tomcat", 8081)
        assert leg.task_arn.endswith(("task1", "task2", "task3"))
        assert any(h.kind == "sg-in" and "allows tcp 32768-65535 from sg-0alb" in h.detail for h in leg.hops)
    sg_hop = next(h for h in verdict.hops if h.kind == "sg-in")
    assert sg_hop.detail.startswith("SG sg-0alb allows tcp 80 from 0.0.0.0/0")
    nacl_hop = next(h for h in verdict.hops if h.kind == "nacl-in")
    assert "inbound rule 100 allows all traffic from 0.0.0.0/0" in nacl_hop.detail


def test_seed_port_8081_on_the_alb_has_two_blockers():
    verdict = evaluate(seed_snapshot(), Flow(ALB_DNS, 8081))
    assert verdict.outcome == "dropped" and not verdict.reachable
    assert [e.code for e in verdict.explanations] == ["ENI_SG_RULES_MISMATCH", "ELBV2_LISTENERS_MISMATCH"]
    sg, listener = verdict.explanations
    assert sg.resource_id == ALB_SG and "tcp 8081" in sg.fix
    assert listener.resource_id == ALB_ARN and "80" in listener.fix
    assert not verdict.targets


def test_alb_sg_open_but_no_listener_is_no_listener():
    snap = replace_item(seed_snapshot(), "security_groups",
                        SecurityGroup(ALB_SG, "lab-alb-sg", VPC, (SgRule("tcp", 0, 65535, cidrs=("0.0.0.0/0",)),), ALL_OUT))
    verdict = evaluate(snap, Flow(ALB_DNS, 8081))
    assert verdict.outcome == "no_listener"
    assert codes(verdict.explanations) == {"ELBV2_LISTENERS_MISMATCH"}


def test_host_sg_admitting_only_8081_blocks_the_alb_to_target_leg():
    snap = with_host_sg(seed_snapshot(), SgRule("tcp", 8081, 8081, cidrs=("0.0.0.0/0",)))
    verdict = evaluate(snap, Flow(ALB_DNS, 80))
    assert verdict.outcome == "listener" and not verdict.reachable
    assert not verdict.explanations  # the front end is fine; the legs are not
    for leg in verdict.targets:
        assert not leg.reachable
        (problem,) = leg.explanations
        assert problem.code == "ENI_SG_RULES_MISMATCH" and problem.resource_id == HOST_SG
        assert problem.fix.startswith(f"add inbound rule to {HOST_SG} (lab-host-sg): tcp 32768-65535 from {ALB_SG} ")
    leg = evaluate_alb_to_target(snap, ALB_ARN, HOST_1, 32768)
    assert leg.target_group_arn == TG_ARN and codes(leg.explanations) == {"ENI_SG_RULES_MISMATCH"}


def test_host_sg_without_rules_is_sg_has_no_rules():
    leg = evaluate_alb_to_target(with_host_sg(seed_snapshot()), ALB_ARN, HOST_2, 32768)
    assert codes(leg.explanations) == {"SG_HAS_NO_RULES"}


def test_alb_sg_egress_counts():
    snap = replace_item(seed_snapshot(), "security_groups", SecurityGroup(
        ALB_SG, "lab-alb-sg", VPC, (SgRule("tcp", 80, 80, cidrs=("0.0.0.0/0",)),), (SgRule("tcp", 80, 80, cidrs=("0.0.0.0/0",)),)))
    leg = evaluate_alb_to_target(snap, ALB_ARN, HOST_1, 32768)
    (problem,) = leg.explanations
    assert problem.code == "ENI_SG_RULES_MISMATCH" and problem.resource_id == ALB_SG
    assert problem.fix.startswith(f"add outbound rule to {ALB_SG} (lab-alb-sg): tcp 32768 to {HOST_SG}")


def test_private_subnet_nacl_without_ephemeral_return_rule():
    # Hosts in private subnets whose NACL admits the ALB's traffic but lets no reply out.
    snap = with_acl(seed_snapshot(hosts_in="private"), "acl-0private", (PRIVATE_A, PRIVATE_B), [
        entry(100, False, "allow", "10.0.0.0/16", (32768, 65535)),
        entry(100, True, "allow", "10.0.0.0/16", (32768, 65535)),  # replies to the ALB need 1024-65535
        *STAR])
    leg = evaluate_alb_to_target(snap, ALB_ARN, HOST_1, 32768)
    assert not leg.reachable and codes(leg.explanations) == {"SUBNET_ACL_RESTRICTION"}
    problem = leg.explanations[0]
    assert problem.resource_id == "acl-0private"
    assert "return direction" in problem.message and "1024-32767" in problem.message
    assert "allow tcp 1024-32767 to 10.0.1.0/24" in problem.fix
    assert any(h.kind == "nacl-out" and h.direction == "return" and not h.allowed for h in leg.hops)
    assert any(h.kind == "nacl-in" and h.direction == "forward" and h.allowed for h in leg.hops)
    # Both ALB nodes' subnets are named: each node sends to every target.
    assert all(any(f"to {cidr} (only the * rule" in e.fix for e in leg.explanations) for cidr in ("10.0.1.0/24", "10.0.2.0/24"))


def test_nacl_return_rule_fixed():
    snap = with_acl(seed_snapshot(hosts_in="private"), "acl-0private", (PRIVATE_A, PRIVATE_B), [
        entry(100, False, "allow", "10.0.0.0/16", (32768, 65535)),
        entry(100, True, "allow", "10.0.0.0/16", (1024, 65535)),
        *STAR])
    assert evaluate(snap, Flow(ALB_DNS, 80)).reachable


def test_static_8081_on_the_instance_is_reachable_while_a_dynamic_port_is_not():
    snap = seed_snapshot()
    static_task = Task("arn:aws:ecs:us-east-1:123456789012:task/lab-cluster/static1", CLUSTER, "RUNNING", "RUNNING",
                       HOST_1, (PortBinding("tomcat", 8081, 8081),))
    snap = replace_fields(snap, tasks=(static_task,))
    public_dns = snap.instance_by_id[HOST_1].public_dns_name
    ok = evaluate(snap, Flow(public_dns, 8081))
    assert ok.outcome == "instance" and ok.reachable and (ok.instance_id, ok.instance_port) == (HOST_1, 8081)
    assert ok.hops[-1].kind == "container" and "8081" in ok.hops[-1].detail
    blocked = evaluate(snap, Flow(public_dns, 32768))
    assert blocked.outcome == "dropped" and codes(blocked.explanations) == {"ENI_SG_RULES_MISMATCH"}


def test_no_route_to_the_internet_gateway():
    snap = replace_item(seed_snapshot(), "route_tables",
                        RouteTable(PUBLIC_RTB, VPC, (Route("10.0.0.0/16", "local"),), (PUBLIC_A, PUBLIC_B)))
    verdict = evaluate(snap, Flow(ALB_DNS, 80))
    assert verdict.outcome == "dropped"
    assert codes(verdict.explanations) == {"NO_ROUTE_TO_DESTINATION"}
    assert verdict.explanations[0].resource_id == PUBLIC_RTB and IGW in verdict.explanations[0].fix


def test_blackhole_route_is_bad_state_route():
    snap = replace_item(seed_snapshot(), "route_tables", RouteTable(
        PUBLIC_RTB, VPC, (Route("10.0.0.0/16", "local"), Route("0.0.0.0/0", IGW, "blackhole")), (PUBLIC_A, PUBLIC_B)))
    assert codes(evaluate(snap, Flow(ALB_DNS, 80)).explanations) == {"BAD_STATE_ROUTE"}


def test_vpc_without_internet_gateway():
    snap = replace_fields(seed_snapshot(), internet_gateways=())
    assert codes(evaluate(snap, Flow(ALB_DNS, 80)).explanations) == {"NO_ROUTE_TO_DESTINATION"}


def test_private_ip_from_the_internet():
    verdict = evaluate(seed_snapshot(), Flow("10.0.1.10", 8081))
    assert verdict.outcome == "dropped"
    assert codes(verdict.explanations) == {"IGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS"}


def test_stopped_target_is_bad_state():
    snap = seed_snapshot()
    stopped = dataclasses.replace(snap.instance_by_id[HOST_2], state="stopped")
    leg = evaluate_alb_to_target(replace_item(snap, "instances", stopped), ALB_ARN, HOST_2, 32768)
    assert codes(leg.explanations) == {"BAD_STATE"}


def test_unhealthy_target_is_still_a_reachable_path():
    snap = seed_snapshot()
    sick = dataclasses.replace(snap.targets[0], state="unhealthy", reason="Target.Timeout")
    snap = replace_fields(snap, targets=(sick,) + snap.targets[1:])
    leg = evaluate_alb_to_target(snap, ALB_ARN, sick.id, sick.port)
    assert leg.health == "unhealthy" and leg.reachable


def test_nothing_bound_is_a_failed_hop_but_not_a_network_blocker():
    leg = evaluate_alb_to_target(replace_fields(seed_snapshot(), tasks=()), ALB_ARN, HOST_1, 32768)
    assert leg.reachable and leg.task_arn is None
    assert leg.hops[-1].kind == "binding" and not leg.hops[-1].allowed


def test_target_in_a_zone_without_an_alb_subnet():
    snap = seed_snapshot()
    subnet_c = dataclasses.replace(snap.subnet_by_id[PRIVATE_B], id="subnet-0c", cidr="10.0.13.0/24", availability_zone="us-east-1c")
    third = host("i-0host3", "subnet-0c", "10.0.13.10", None)
    acl = dataclasses.replace(snap.network_acls[0], subnet_ids=snap.network_acls[0].subnet_ids + ("subnet-0c",))
    snap = replace_fields(snap, subnets=snap.subnets + (subnet_c,), instances=snap.instances + (third,), network_acls=(acl,))
    leg = evaluate_alb_to_target(snap, ALB_ARN, "i-0host3", 32768)
    assert codes(leg.explanations) == {"ELB_INSTALLED_AZ_RESTRICTION"}


# -- NACL semantics --------------------------------------------------------------------------------
def test_nacl_first_match_wins_and_a_later_deny_is_dead():
    entries = [entry(100, False, "allow"), entry(110, False, "deny", ports=(80, 80)), entry(100, True, "allow"), *STAR]
    snap = with_acl(seed_snapshot(), "acl-0public", (PUBLIC_A, PUBLIC_B), entries)
    verdict = evaluate(snap, Flow(ALB_DNS, 80))
    assert verdict.reachable
    assert "inbound rule 100 allows all traffic" in next(h for h in verdict.hops if h.kind == "nacl-in").detail
    (dead, hidden_by), = shadowed_entries(snap.nacl_by_subnet[PUBLIC_A], egress=False)
    assert dead.rule_number == 110 and [e.rule_number for e in hidden_by] == [100]


def test_nacl_deny_before_allow_blocks():
    entries = [entry(90, False, "deny", ports=(80, 80)), entry(100, False, "allow"), entry(100, True, "allow"), *STAR]
    snap = with_acl(seed_snapshot(), "acl-0public", (PUBLIC_A, PUBLIC_B), entries)
    verdict = evaluate(snap, Flow(ALB_DNS, 80))
    assert codes(verdict.explanations) == {"SUBNET_ACL_RESTRICTION"}
    assert "numbered below 90" in verdict.explanations[0].fix
    assert not shadowed_entries(snap.nacl_by_subnet[PUBLIC_A], egress=False)


def test_nacl_star_rule_denies_what_no_entry_allows():
    entries = [entry(100, False, "allow", ports=(443, 443)), entry(100, True, "allow"), *STAR]
    snap = with_acl(seed_snapshot(), "acl-0public", (PUBLIC_A, PUBLIC_B), entries)
    verdict = evaluate(snap, Flow(ALB_DNS, 80))
    (problem,) = verdict.explanations
    assert problem.code == "SUBNET_ACL_RESTRICTION" and "rule *" in next(h for h in verdict.hops if not h.allowed).detail
    assert "only the * rule" in problem.fix


def test_nacl_for_another_protocol_never_matches_tcp():
    entries = [entry(50, False, "deny", protocol="17", ports=(80, 80)), entry(100, False, "allow"), entry(100, True, "allow"), *STAR]
    snap = with_acl(seed_snapshot(), "acl-0public", (PUBLIC_A, PUBLIC_B), entries)
    assert evaluate(snap, Flow(ALB_DNS, 80)).reachable


def test_same_subnet_skips_nacls_and_crossing_subnets_does_not():
    snap = seed_snapshot()
    neighbour = host("i-0next", PUBLIC_A, "10.0.1.20", None)
    snap = replace_fields(snap, instances=snap.instances + (neighbour,))
    snap = with_acl(snap, "acl-0closed", (PUBLIC_A, PUBLIC_B), STAR)  # denies everything at the boundary
    same = evaluate(snap, Flow("10.0.1.20", 8081, source=HOST_1))
    assert same.reachable and any(h.kind == "nacl" and "share" in h.detail for h in same.hops)
    across = evaluate(snap, Flow("10.0.2.10", 8081, source=HOST_1))
    assert codes(across.explanations) == {"SUBNET_ACL_RESTRICTION"}
    assert len(across.explanations) == 4  # out and in, each side, forward and return


# -- sources ---------------------------------------------------------------------------------------
def test_sources_instance_ip_and_security_group():
    snap = seed_snapshot()
    by_instance = evaluate(snap, Flow("10.0.2.10", 32768, source=HOST_1))
    assert codes(by_instance.explanations) == {"ENI_SG_RULES_MISMATCH"}
    assert by_instance.explanations[0].fix == f"add inbound rule to {HOST_SG} (lab-host-sg): tcp 32768 from {HOST_SG} (lab-host-sg)"
    assert evaluate(snap, Flow("10.0.2.10", 8081, source="10.0.1.10")).reachable
    assert evaluate(snap, Flow("10.0.2.10", 8081, source=HOST_SG)).reachable
    outside = evaluate(snap, Flow(snap.instance_by_id[HOST_2].public_ip, 8081, source="198.51.100.7"))
    assert outside.reachable


def test_instance_to_internet_facing_alb_goes_out_through_the_igw():
    verdict = evaluate(seed_snapshot(), Flow(ALB_DNS, 80, source=HOST_1))
    assert verdict.reachable
    assert any("the far end sees 54.210.0.11" in h.detail for h in verdict.hops)


def test_private_host_without_nat_cannot_reach_the_public_alb():
    verdict = evaluate(seed_snapshot(hosts_in="private"), Flow(ALB_DNS, 80, source=HOST_1))
    assert codes(verdict.explanations) == {"NO_ROUTE_TO_DESTINATION"}


def test_internal_alb_from_the_internet():
    snap = seed_snapshot()
    internal = dataclasses.replace(snap.load_balancers[0], scheme="internal")
    snap = replace_item(snap, "load_balancers", internal)
    assert codes(evaluate(snap, Flow(ALB_DNS, 80)).explanations) == {"LAB_INTERNAL_LOAD_BALANCER"}
    assert evaluate(snap, Flow(ALB_DNS, 80, source=HOST_1)).reachable


def test_unresolved_destination_and_source():
    snap = seed_snapshot()
    assert evaluate(snap, Flow("nowhere.example.com", 80)).outcome == "unresolved"
    verdict = evaluate(snap, Flow(ALB_DNS, 80, source="i-0missing"))
    assert verdict.outcome == "unresolved" and codes(verdict.explanations) == {"LAB_UNRESOLVED"}


def test_no_registered_targets():
    verdict = evaluate(replace_fields(seed_snapshot(), targets=()), Flow(ALB_DNS, 80))
    assert verdict.outcome == "listener" and not verdict.reachable
    assert codes(verdict.explanations) == {"LAB_NO_REGISTERED_TARGETS"}


def test_resolve_names_and_addresses():
    snap = seed_snapshot()
    assert snap.resolve(ALB_DNS.upper() + ".").resource_id == ALB_ARN
    inst = snap.instance_by_id[HOST_1]
    assert snap.resolve(inst.public_dns_name).via == "public_dns"
    assert snap.resolve(inst.public_ip).via == "public_ip"
    assert snap.resolve(inst.private_ip).via == "private_ip"
    assert snap.resolve("192.0.2.1") is None


@pytest.mark.parametrize("hosts_in", ["public", "private"])
def test_evaluate_is_memoized_per_snapshot(hosts_in):
    snap = seed_snapshot(hosts_in=hosts_in)
    assert evaluate(snap, Flow(ALB_DNS, 80)) is evaluate(snap, Flow(ALB_DNS, 80))
    assert DEFAULT_ACL in {a.id for a in snap.network_acls}
    assert allow_all_acl("acl-x", ()).entries[0].label == "100"


def test_an_admitted_port_without_a_listener_says_aws_behaviour_is_unconfirmed():
    import dataclasses

    from helpers.evaluator.examples import ALB_SG, replace_item
    from helpers.evaluator.snapshot import SgRule

    snap = seed_snapshot()
    alb_group = next(g for g in snap.security_groups if g.id == ALB_SG)
    opened = dataclasses.replace(alb_group, ingress=alb_group.ingress + (SgRule("tcp", 8081, 8081, cidrs=("0.0.0.0/0",)),))
    verdict = evaluate(replace_item(snap, "security_groups", opened), Flow(ALB_DNS, 8081))
    assert verdict.outcome == "no_listener" and not verdict.reachable
    (problem,) = verdict.explanations
    assert problem.code == "ELBV2_LISTENERS_MISMATCH" and "AWS does not document" in problem.message
