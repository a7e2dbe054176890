"""Self-check for 01_listener: a second way in on :8081, built by the learner."""

from __future__ import annotations

from helpers.evaluator.crossing import sg_admits
from helpers.selfcheck import CheckResult, Report, expect, report


def listener_on_8081(lab, stack) -> Report:
    """Exercise 1 and 2: a listener on 8081 forwarding to the service's target group, and the
    ALB's security group admitting tcp 8081 from anywhere - then a real request answers."""
    listeners = lab.clients.elbv2.describe_listeners(LoadBalancerArn=stack.alb_arn)["Listeners"]
    on_8081 = [listener for listener in listeners if listener["Port"] == 8081]
    forwards = any(action.get("TargetGroupArn") == stack.target_group_arn
                   for listener in on_8081 for action in listener["DefaultActions"])
    snap = lab.snapshot()
    outcome = lab.request(f"http://{stack.alb_dns_name}:8081/")
    results: list[CheckResult] = [
        expect(on_8081, "the ALB has a listener on port 8081",
               "the ALB has no listener on 8081 yet - create one with elbv2.create_listener(..., Port=8081, ...)"),
        expect(forwards, "that listener forwards to the service's target group",
               "the 8081 listener should forward to stack.target_group_arn"),
        expect(sg_admits(snap, (stack.alb_sg_id,), (8081, 8081), peer_cidr="0.0.0.0/0"),
               "the ALB's security group admits tcp 8081 from anywhere",
               "the ALB's security group does not admit tcp 8081 - authorize it on stack.alb_sg_id"),
        expect(outcome.kind == "answered", f"a request to :8081 is answered: {outcome.status} {outcome.reason}".strip(),
               f"a request to :8081 still fails: {outcome.summary()}"),
    ]
    return report(results)
