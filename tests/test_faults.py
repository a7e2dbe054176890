"""The capstone (07_troubleshooting) through a real sandbox: its self-check fails on the broken
stack, for the reasons the faults cause, and passes once the fixes are applied."""

from __future__ import annotations

import pytest

from helpers.course import Lab
from helpers.faults import FAULTS, break_stack, repair_stack
from helpers.hardening import harden
from helpers.selfcheck.nb07 import stack_works
from helpers.stack import StackSpec, build_stack
from helpers.resources.ecs import wait_for_unhealthy_event
from helpers.waiters import wait_for_service, wait_for_targets, wait_until

pytestmark = pytest.mark.slow


def lines(result) -> list[str]:
    return str(result).splitlines()


def test_break_needs_the_hardened_stack(sandbox):
    clients = sandbox.clients()
    stack = build_stack(clients, StackSpec(name="f07p", desired_count=1, instance_count=1))
    with pytest.raises(ValueError, match="hosts_in='private'"):
        break_stack(clients, stack)


def test_self_check_fails_when_broken_and_passes_when_repaired(sandbox):
    clients = sandbox.clients()
    lab = Lab(clients, sandbox.socks_proxy, endpoint_url=sandbox.endpoint_url)
    stack = build_stack(clients, StackSpec(name="f07", hosts_in="private"))
    wait_for_service(clients, stack, progress=False)
    harden(clients, stack)
    assert stack_works(lab, stack), str(stack_works(lab, stack))

    url = f"http://{stack.alb_dns_name}/"
    assert break_stack(clients, stack) == list(FAULTS)
    wait_for_targets(clients, stack.target_group_arn, {}, progress=False)
    broken = stack_works(lab, stack)
    assert not broken
    text = str(broken)
    assert "✗ not yet: the service runs 0 task(s) and wants 0" in text
    assert "503 from the load balancer" in text
    assert "blocks the return path of the ALB-to-target leg" in text  # the audit sees the missing return rule even with no task

    # Scaled back up, the tasks come, the SG and the NACL keep the ALB out: explain names both.
    clients.ecs.update_service(cluster=stack.cluster_name, service=stack.service_name, desiredCount=3)
    # (ECS keeps replacing the tasks that fail their health checks, so no target state lasts.)
    wanted = {"ENI_SG_RULES_MISMATCH", "SUBNET_ACL_RESTRICTION"}
    wait_until(lambda: (wanted <= set(lab.explain(url).codes), "explain"), what="both blockers", progress=False)
    assert wait_for_unhealthy_event(clients, stack).endswith("due to (reason Request timed out).")
    # 504 while an unhealthy target still takes requests; 503 in the moments when ECS has
    # every target draining (replaced) and none registered yet. Either way the ALB answers itself.
    outcome = lab.request(url, timeout=10.0)
    assert outcome.from_load_balancer and outcome.status in (503, 504), outcome.summary()

    repair_stack(clients, stack)
    wait_for_service(clients, stack, progress=False)
    fixed = stack_works(lab, stack)
    assert fixed, str(fixed)
    assert lines(fixed)[-1] == "All 5 checks pass. Well done!"
