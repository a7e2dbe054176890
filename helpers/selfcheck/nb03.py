"""Self-check for 03_alb_to_ecs: a short deregistration delay, then a scale-in that drained."""

from __future__ import annotations

from helpers.selfcheck import Report, expect, report
from helpers.traffic import answers_per_task, request_many


def scaled_in(lab, stack, *, to: int = 1) -> Report:
    """Exercises 1 and 2: deregistration delay at most 60 s; the service scaled in to `to` task(s),
    leaving exactly that many healthy targets; every request answered by the remaining task(s)."""
    attributes = lab.clients.elbv2.describe_target_group_attributes(TargetGroupArn=stack.target_group_arn)["Attributes"]
    delay = int({a["Key"]: a["Value"] for a in attributes}["deregistration_delay.timeout_seconds"])
    service = lab.clients.ecs.describe_services(cluster=stack.cluster_name, services=[stack.service_name])["services"][0]
    states = [d["TargetHealth"]["State"] for d in lab.clients.elbv2.describe_target_health(
        TargetGroupArn=stack.target_group_arn)["TargetHealthDescriptions"]]
    outcomes = request_many(f"http://{stack.alb_dns_name}/", 10, proxy=lab.socks_proxy, timeout=5.0)
    answered = sum(o.kind == "answered" for o in outcomes)
    return report([
        expect(delay <= 60, f"the target group's deregistration delay is short ({delay} s)",
               f"the deregistration delay is still {delay} s - set deregistration_delay.timeout_seconds to 30"),
        expect(service["desiredCount"] == to, f"the service wants {to} task(s)",
               f"the service still wants {service['desiredCount']} tasks - update_service(..., desiredCount={to})"),
        expect(states == ["healthy"] * to, f"the target group holds {to} healthy target(s) and nothing draining",
               f"the targets are {sorted(states)} - wait for draining to end, or scale in first"),
        expect(answered == 10 and len(answers_per_task(outcomes)) == to,
               f"10 of 10 requests answered, by {to} task(s)", f"{answered} of 10 requests answered"),
    ])
