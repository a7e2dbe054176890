"""Self-check for 09_awsvpc_and_fargate: the tasks' own security group admits the container port
from the ALB only, the `ip` targets are healthy, and requests are answered."""

from __future__ import annotations

from helpers.evaluator.crossing import sg_admits
from helpers.facts import CONTAINER_PORT
from helpers.selfcheck import Report, expect, report
from helpers.traffic import request_many


def task_sg_admits_the_alb(lab, stack) -> Report:
    """The exercise: the task SG admits tcp 8081 from the ALB's SG (not from 0.0.0.0/0); every
    target is healthy; requests through the ALB are answered."""
    snap = lab.snapshot()
    tasks = (stack.task_sg_id,)
    port = (CONTAINER_PORT, CONTAINER_PORT)
    from_alb = sg_admits(snap, tasks, port, peer_group=stack.alb_sg_id)
    from_anywhere = sg_admits(snap, tasks, port, peer_cidr="0.0.0.0/0")
    states = [d["TargetHealth"]["State"] for d in lab.clients.elbv2.describe_target_health(
        TargetGroupArn=stack.target_group_arn)["TargetHealthDescriptions"]]
    outcomes = request_many(f"http://{stack.alb_dns_name}/", 6, proxy=lab.socks_proxy, timeout=5.0)
    answered = sum(o.kind == "answered" for o in outcomes)
    return report([
        expect(from_alb, f"the tasks' security group admits tcp {CONTAINER_PORT} from the ALB's security group",
               f"no rule on the task SG admits tcp {CONTAINER_PORT} from the ALB's SG yet - authorize it on "
               "stack.task_sg_id with UserIdGroupPairs=[{'GroupId': stack.alb_sg_id}]"),
        expect(not from_anywhere, "and not from the whole internet (0.0.0.0/0)",
               f"a rule admits {CONTAINER_PORT} from 0.0.0.0/0 - use the ALB's SG as the source instead"),
        expect(states and all(s == "healthy" for s in states), f"all {len(states)} targets are healthy",
               f"the targets are {sorted(states)} - health checks need a few seconds after the fix"),
        expect(answered == len(outcomes), f"{answered} of {len(outcomes)} requests answered by the tasks",
               f"only {answered} of {len(outcomes)} requests answered"),
    ])
