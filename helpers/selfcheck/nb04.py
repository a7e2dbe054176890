"""Self-check for 04_inbound_dynamic_ports: the hosts admit the dynamic host ports from the ALB only."""

from __future__ import annotations

from helpers.evaluator.crossing import sg_admits
from helpers.selfcheck import Report, expect, report
from helpers.traffic import request_many


def _host_ports(lab, stack) -> list[int]:
    ecs = lab.clients.ecs
    arns = ecs.list_tasks(cluster=stack.cluster_name, serviceName=stack.service_name, desiredStatus="RUNNING")["taskArns"]
    tasks = ecs.describe_tasks(cluster=stack.cluster_name, tasks=arns)["tasks"] if arns else []
    return sorted(b["hostPort"] for t in tasks for c in t["containers"] for b in c.get("networkBindings", []))


def ephemeral_range_from_alb(lab, stack) -> Report:
    """The exercise: an inbound rule on the hosts' SG admits every task's host port from the
    ALB's SG (and not from the whole internet); the targets are healthy; requests are answered."""
    ports = _host_ports(lab, stack)
    snap = lab.snapshot()
    hosts = (stack.host_sg_id,)
    from_alb = all(sg_admits(snap, hosts, (p, p), peer_group=stack.alb_sg_id) for p in ports)
    from_anywhere = any(sg_admits(snap, hosts, (p, p), peer_cidr="0.0.0.0/0") for p in ports)
    states = [d["TargetHealth"]["State"] for d in lab.clients.elbv2.describe_target_health(
        TargetGroupArn=stack.target_group_arn)["TargetHealthDescriptions"]]
    outcomes = request_many(f"http://{stack.alb_dns_name}/", 6, proxy=lab.socks_proxy, timeout=5.0)
    answered = sum(o.kind == "answered" for o in outcomes)
    return report([
        expect(ports and from_alb,
               "the hosts' security group admits every task's host port from the ALB's security group",
               "no rule admits the tasks' host ports from the ALB's SG yet - authorize tcp 32768-65535 "
               "with UserIdGroupPairs=[{'GroupId': stack.alb_sg_id}]"),
        expect(not from_anywhere,
               "and not from the whole internet (0.0.0.0/0)",
               "a rule admits the host ports from 0.0.0.0/0 - anyone can skip the ALB; use the ALB's SG as the source"),
        expect(states and all(s == "healthy" for s in states), f"all {len(states)} targets are healthy",
               f"the targets are {sorted(states)} - health checks need a few seconds after the fix"),
        expect(answered == len(outcomes), f"{answered} of {len(outcomes)} requests answered by the tasks",
               f"only {answered} of {len(outcomes)} requests answered"),
    ])
