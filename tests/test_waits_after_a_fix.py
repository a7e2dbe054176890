"""The waits that follow an exercise: while the path is still blocked (or the service runs no
task) they say so at once instead of waiting out their timeout; once the fix is in they wait and
report as before. A learner who has not done the exercise yet gets an answer, not a minute of
silence."""

import pytest

from helpers.course import Lab
from helpers.stack import StackSpec, build_stack
from helpers.waiters import WaitTimeout, wait_for_service

pytestmark = pytest.mark.slow


def _dynamic_port_rules(clients, stack) -> list[dict]:
    group = clients.ec2.describe_security_groups(GroupIds=[stack.host_sg_id])["SecurityGroups"][0]
    return [p for p in group["IpPermissions"] if p.get("FromPort") == 32768]


def test_waits_after_a_fix_answer_at_once_while_the_path_is_blocked(sandbox):
    clients = sandbox.clients()
    stack = build_stack(clients, StackSpec(name="fixwait"))
    lab = Lab(clients, sandbox.socks_proxy, endpoint_url=sandbox.endpoint_url)
    url = f"http://{stack.alb_dns_name}/"
    wait_for_service(clients, stack, progress=False)

    rules = _dynamic_port_rules(clients, stack)
    assert rules, "the stack admits the ALB on the dynamic ports"
    clients.ec2.revoke_security_group_ingress(GroupId=stack.host_sg_id, IpPermissions=rules)

    for waited in (lab.wait_for_service(stack, url=url, requests=3, timeout=600),
                   lab.watch_targets(stack, {"healthy": 3}, url=url, timeout=600)):
        # A 600 s timeout would fail the test (pytest-timeout): the answer comes from explain, at once.
        assert waited.startswith("not waiting: explain still finds the ALB's way to every target behind "
                                 f"{url} BLOCKED (ENI_SG_RULES_MISMATCH)"), waited
        assert "Fix that, then run this cell again." in waited
    with pytest.raises(WaitTimeout):  # without a url it is a plain wait, as before
        lab.watch_targets(stack, {"healthy": 4}, timeout=0.5)

    # A blocked front (no listener on 8081) does not stop health checks: that wait is not cut short.
    assert lab.wait_for_service(stack, url=f"http://{stack.alb_dns_name}:8081/", timeout=1).startswith("not settled")

    clients.ec2.authorize_security_group_ingress(GroupId=stack.host_sg_id, IpPermissions=rules)
    settled = lab.wait_for_service(stack, url=url, requests=3)
    assert settled.splitlines() == ["3/3 tasks running; targets: 3 healthy", "3 of 3 requests answered (200 OK)"]


def test_an_unhealthy_target_is_not_awaited_when_the_service_runs_no_task(sandbox):
    clients = sandbox.clients()
    stack = build_stack(clients, StackSpec(name="notask", desired_count=0))
    lab = Lab(clients, sandbox.socks_proxy, endpoint_url=sandbox.endpoint_url)
    assert lab.wait_for_unhealthy_target(stack, timeout=600) == \
        "the service runs no task (desired count 0): no target to check, so none can fail"
