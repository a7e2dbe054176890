"""The waits that follow an exercise: while the path is still blocked (or the service runs no
task) they say so at once instead of waiting out their timeout; once the fix is in they wait and
report as before. A learner who has not done the exercise yet gets an answer, not a minute of
silence."""

import pytest

from helpers.course import Lab
from helpers.stack import StackSpec, build_stack
from helpers.waiters import WaitTimeout, target_states, wait_for_service, wait_until

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
    # (Once no target is healthy any more: right after the revoke they may still be.)
    wait_until(lambda: ("healthy" not in target_states(clients, stack.target_group_arn), ""), what="unhealthy targets",
               timeout=30, progress=False)
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


def test_a_watch_that_begins_late_still_says_where_the_targets_came_from(sandbox):
    """The learner's change and the watch are two cells; on a slow machine the targets may have
    finished changing before the watch's first look. The line must read the same either way."""
    clients = sandbox.clients()
    stack = build_stack(clients, StackSpec(name="latewatch"))
    lab = Lab(clients, sandbox.socks_proxy, endpoint_url=sandbox.endpoint_url)
    assert lab.wait_for_service(stack).startswith("3/3 tasks running")
    clients.ecs.update_service(cluster=stack.cluster_name, service=stack.service_name,
                               healthCheckGracePeriodSeconds=86400)  # ECS keeps the unhealthy tasks

    rules = _dynamic_port_rules(clients, stack)
    clients.ec2.revoke_security_group_ingress(GroupId=stack.host_sg_id, IpPermissions=rules)
    # Another lab (no memory) sees the change through: the watch below begins after it.
    Lab(clients, sandbox.socks_proxy, endpoint_url=sandbox.endpoint_url).watch_targets(stack, {"unhealthy": 3})
    assert lab.watch_targets(stack, {"unhealthy": 3}) == "on the way: healthy; now: 3 unhealthy"

    clients.ec2.authorize_security_group_ingress(GroupId=stack.host_sg_id, IpPermissions=rules)
    Lab(clients, sandbox.socks_proxy, endpoint_url=sandbox.endpoint_url).watch_targets(stack, {"healthy": 3})
    url = f"http://{stack.alb_dns_name}/"
    assert lab.watch_targets(stack, {"healthy": 3}, url=url) == "on the way: unhealthy; now: 3 healthy"
