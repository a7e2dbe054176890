"""One network model, two questions: `exposure` (who can reach a host, over every address and
port at once) and `evaluate` (does this one flow get through) must agree flow by flow.

Hypothesis builds small VPCs from the seed stack - the host subnet's route table with or
without internet-gateway routes, its NACL with allow/deny entries, rule numbers and port
ranges, the host's SG with CIDR and SG sources - and samples internet source addresses and ports.
"""

from __future__ import annotations

import dataclasses

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.evaluator import Flow, evaluate, evaluate_alb_to_target
from helpers.evaluator.examples import (
    ALB_ARN, ALB_SG, HOST_1, HOST_SG, IGW, PUBLIC_A, PUBLIC_B, PUBLIC_RTB, VPC, replace_fields, replace_item, seed_snapshot,
)
from helpers.evaluator.exposure import alb_leg_gaps, host_exposure
from helpers.evaluator.ports import ip_int
from helpers.evaluator.routes import is_public_subnet
from helpers.evaluator.snapshot import NaclEntry, NetworkAcl, Route, RouteTable, SecurityGroup, SgRule
from helpers.facts import NACL_STAR_RULE

# Sources: internet clients, one inside the VPC's range that no instance owns, one private range.
SOURCES = ("203.0.113.10", "198.51.100.7", "8.8.8.8", "54.1.2.3", "10.0.99.99", "192.168.1.1")
PORTS = (22, 80, 1023, 1024, 8081, 32768, 40000, 61000, 65535)
CIDRS = ("0.0.0.0/0", "0.0.0.0/1", "128.0.0.0/1", "203.0.113.0/24", "198.51.100.0/24", "8.0.0.0/8",
         "10.0.0.0/16", "54.0.0.0/8", "203.0.113.10/32")
PORT_RANGES = (None, (80, 80), (22, 22), (1024, 65535), (32768, 65535), (1, 1023), (8081, 8081), (0, 40000))

port_range = st.sampled_from(PORT_RANGES)


@st.composite
def nacl_entry(draw, egress: bool) -> NaclEntry:
    protocol = draw(st.sampled_from(("-1", "6", "17")))
    ports = draw(port_range) if protocol != "-1" else None
    return NaclEntry(draw(st.integers(1, 200)), egress, protocol, draw(st.sampled_from(("allow", "deny"))),
                     draw(st.sampled_from(CIDRS)), *(ports or (None, None)))


@st.composite
def sg_rule(draw) -> SgRule:
    protocol = draw(st.sampled_from(("-1", "tcp", "udp")))
    ports = draw(port_range) if protocol != "-1" else None
    cidrs = tuple(draw(st.lists(st.sampled_from(CIDRS), max_size=2, unique=True)))
    groups = tuple(draw(st.lists(st.sampled_from((ALB_SG, HOST_SG)), max_size=1)))
    return SgRule(protocol, *(ports or (None, None)), cidrs=cidrs, group_ids=groups)


route = st.builds(Route, st.sampled_from(("0.0.0.0/0", "0.0.0.0/1", "128.0.0.0/1", "203.0.113.0/24", "8.0.0.0/8",
                                          "10.0.99.0/24", "pl-0123abcd")),
                  st.sampled_from((IGW, "nat-0abc", "pcx-0abc")), st.sampled_from(("active", "active", "blackhole")))


@st.composite
def small_vpc(draw):
    """The seed stack with the host subnet's route table, NACL and the hosts' SG drawn anew. Each
    starts, more often than not, from a setting that lets traffic through (a default route to the
    IGW, NACL rule 100 allowing all, an SG rule from anywhere), so both answers get exercised."""
    snap = seed_snapshot()
    base_route = [Route("0.0.0.0/0", IGW)] if draw(st.booleans()) else []
    extra_routes = draw(st.lists(route, max_size=3, unique_by=lambda r: r.destination))
    routes = {r.destination: r for r in base_route + extra_routes}  # one route per destination
    table = RouteTable(PUBLIC_RTB, VPC, (Route("10.0.0.0/16", "local"), *routes.values()), (PUBLIC_A, PUBLIC_B))
    snap = replace_item(snap, "route_tables", table)
    entries = [NaclEntry(100, egress, "-1", "allow", "0.0.0.0/0") for egress in (False, True) if draw(st.booleans())]
    entries += [draw(nacl_entry(egress)) for egress in (False, True) for _ in range(draw(st.integers(0, 3)))]
    numbered = {(e.egress, e.rule_number): e for e in entries}  # a rule number is unique per direction
    star = [NaclEntry(NACL_STAR_RULE, egress, "-1", "deny", "0.0.0.0/0") for egress in (False, True)]
    acls = tuple(dataclasses.replace(a, subnet_ids=tuple(s for s in a.subnet_ids if s != PUBLIC_A))
                 for a in snap.network_acls)
    snap = replace_fields(snap, network_acls=acls + (
        NetworkAcl("acl-0drawn", VPC, tuple(numbered.values()) + tuple(star), (PUBLIC_A,)),))
    base_rule = (SgRule("tcp", 0, 65535, cidrs=("0.0.0.0/0",)),) if draw(st.booleans()) else ()
    ingress = base_rule + tuple(draw(st.lists(sg_rule(), max_size=3)))
    return replace_item(snap, "security_groups", SecurityGroup(HOST_SG, "lab-host-sg", VPC, ingress,
                                                               (SgRule("-1", cidrs=("0.0.0.0/0",)),)))


def exposed(exposure, address: str, port: int) -> bool:
    value = ip_int(address)
    return any(b[0] <= value <= b[1] and b[2] <= port <= b[3] for b in exposure.boxes)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_vpc(), st.lists(st.tuples(st.sampled_from(SOURCES), st.sampled_from(PORTS)), min_size=1, max_size=6))
def test_exposure_and_evaluate_agree_flow_by_flow(snap, flows):
    host = snap.instance_by_id[HOST_1]
    exposure = host_exposure(snap, host, replies="every")
    for source, port in flows:
        verdict = evaluate(snap, Flow(host.public_ip, port, source=source))
        assert exposed(exposure, source, port) == verdict.reachable, (
            f"{source} -> {host.public_ip}:{port}: exposure says {exposed(exposure, source, port)}, "
            f"evaluate says {verdict.reachable} {[e.code for e in verdict.explanations]}")


@settings(max_examples=60, deadline=None)
@given(small_vpc())
def test_a_public_subnet_is_one_the_internet_reaches_through_a_route(snap):
    # The route primitive's answer and a flow from the internet agree about the host's subnet:
    # without an IGW route no internet address gets a reply.
    host = snap.instance_by_id[HOST_1]
    if not is_public_subnet(snap, PUBLIC_A):
        assert not any(evaluate(snap, Flow(host.public_ip, port, source=source)).reachable
                       for source in SOURCES for port in PORTS)


@settings(max_examples=100, deadline=None)
@given(small_vpc(), st.sampled_from((32768, 32769, 8081, 40000)))
def test_the_audits_leg_gaps_and_the_alb_to_target_leg_agree(snap, port):
    # The ALB's node in the other public subnet crosses the drawn NACL both ways: the audit's
    # gaps over a port range and the walk's blockers for one port come from the same crossings.
    host = snap.instance_by_id[HOST_1]
    gaps = alb_leg_gaps(snap, snap.lb_by_arn[ALB_ARN], host, [(port, port)])
    leg = evaluate_alb_to_target(snap, ALB_ARN, HOST_1, port)
    nacl_blockers = {(e.resource_id, e.direction) for e in leg.explanations if e.code == "SUBNET_ACL_RESTRICTION"}
    assert nacl_blockers == {(g.acl_id, "return" if g.reply else "forward") for g in gaps}
