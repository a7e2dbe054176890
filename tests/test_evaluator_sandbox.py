"""read_snapshot against a real sandbox region built by helpers.stack."""

from __future__ import annotations

import pytest

from helpers.evaluator import Flow, evaluate, read_snapshot
from helpers.stack import StackSpec, build_stack

pytestmark = pytest.mark.slow


@pytest.fixture
def seeded(sandbox):
    """The seed stack in a fresh sandbox. moto's backends are process-wide, so leave them empty."""
    try:
        yield sandbox, build_stack(sandbox.clients(), StackSpec(name="evaltest"))
    finally:
        sandbox.reset()


def test_read_snapshot_of_the_seed_stack(seeded):
    sandbox, stack = seeded
    clients = sandbox.clients()
    calls: list[str] = []
    for client in (clients.ec2, clients.elbv2, clients.ecs):
        client.meta.events.register("before-call", lambda model, **_: calls.append(model.name))
    snap = read_snapshot(clients)
    assert len(calls) <= 30, calls  # a few dozen calls, not one per resource

    lb = snap.resolve(stack.alb_dns_name.upper())
    assert lb is not None and lb.resource_id == stack.alb_arn
    alb = snap.lb_by_arn[stack.alb_arn]
    assert alb.scheme == "internet-facing" and set(alb.subnet_ids) == set(stack.public_subnet_ids)
    assert alb.group_ids == (stack.alb_sg_id,)

    for subnet_id in stack.public_subnet_ids:  # the explicit association wins
        assert snap.route_table_by_subnet[subnet_id].id == stack.public_route_table_id
    for subnet_id in stack.private_subnet_ids:  # the main table serves the rest
        assert snap.route_table_by_subnet[subnet_id].main
    assert snap.igw_by_vpc[stack.vpc_id].id == stack.igw_id
    assert all(s in snap.nacl_by_subnet for s in stack.public_subnet_ids + stack.private_subnet_ids)

    host_sg = snap.sg_by_id[stack.host_sg_id]
    assert any(r.group_ids == (stack.alb_sg_id,) and (r.from_port, r.to_port) == (32768, 65535) for r in host_sg.ingress)
    for instance_id in stack.instance_ids:
        inst = snap.instance_by_id[instance_id]
        assert inst.public_dns_name and snap.resolve(inst.public_dns_name).resource_id == instance_id
        assert snap.resolve(inst.public_ip).via == "public_ip"
        assert snap.resolve(inst.private_ip).via == "private_ip"

    assert [li.port for li in snap.listeners_by_lb[stack.alb_arn]] == [80]
    assert snap.rules_by_listener[stack.listener_arn][-1].is_default

    # What does not depend on tasks being placed yet: the front end of the path.
    blocked = evaluate(snap, Flow(stack.alb_dns_name, 8081))
    assert {e.code for e in blocked.explanations} == {"ENI_SG_RULES_MISMATCH", "ELBV2_LISTENERS_MISMATCH"}
    front = evaluate(snap, Flow(stack.alb_dns_name, 80))
    assert front.outcome == "listener" and front.listener_arn == stack.listener_arn
    assert front.target_group_arns == (stack.target_group_arn,)
    for leg in front.targets:  # whatever the scheduler registered so far reaches its task
        assert leg.reachable, leg.explanations
