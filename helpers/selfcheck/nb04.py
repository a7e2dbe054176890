"""Self-checks for 04_inbound_dynamic_ports: a listener rule (5-1), a target registered by hand
(5-2), and the hosts admitting the dynamic host ports from the ALB only."""

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


def _rule_answers_itself(rule: dict, path: str) -> bool:
    """A listener rule whose path-pattern condition names `path` and whose action is a fixed response."""
    paths = [value for condition in rule["Conditions"] if condition["Field"] == "path-pattern"
             for value in condition.get("PathPatternConfig", {}).get("Values", condition.get("Values", []))]
    return path in paths and any(action["Type"] == "fixed-response" for action in rule["Actions"])


def listener_rule(lab, stack, path: str = "/hello") -> Report:
    """5-1: a rule on the port-80 listener answers `path` itself (a fixed response), and every
    other request still goes to the target group through the default rule."""
    rules = lab.clients.elbv2.describe_rules(ListenerArn=stack.listener_arn)["Rules"]
    own = [rule for rule in rules if not rule["IsDefault"] and _rule_answers_itself(rule, path)]
    default_forwards = any(action.get("TargetGroupArn") == stack.target_group_arn
                           for rule in rules if rule["IsDefault"] for action in rule["Actions"])
    at_path = lab.request(f"http://{stack.alb_dns_name}{path}")
    elsewhere = lab.request(f"http://{stack.alb_dns_name}/")
    return report([
        expect(own, f"the port-80 listener has a rule for {path} with a fixed response",
               f"no rule for {path} yet - elbv2.create_rule(ListenerArn=stack.listener_arn, Priority=10, "
               "Conditions=[path-pattern ...], Actions=[fixed-response ...])"),
        expect(default_forwards, "its default rule still forwards to the target group",
               "the default rule no longer forwards to stack.target_group_arn - leave it as it was"),
        expect(at_path.kind == "answered" and at_path.from_load_balancer and at_path.task_id is None,
               f"{path} is answered by the load balancer itself: {at_path.status} {at_path.reason}".strip(),
               f"{path} gets: {at_path.summary()}"),
        expect(elsewhere.kind == "answered" and elsewhere.task_id is not None,
               "/ is still answered by a task, through the target group",
               f"/ gets: {elsewhere.summary()}"),
    ])


def target_by_hand(lab, stack, target: dict) -> Report:
    """5-2: `target` ({"Id": instance, "Port": port}) is registered by hand, the target group
    checks it like any other (nothing listens there: unhealthy), and the ALB sends it nothing."""
    descriptions = lab.clients.elbv2.describe_target_health(TargetGroupArn=stack.target_group_arn)["TargetHealthDescriptions"]
    found = [d["TargetHealth"] for d in descriptions
             if d["Target"]["Id"] == target["Id"] and d["Target"].get("Port") == target["Port"]]
    others = [d["TargetHealth"]["State"] for d in descriptions if d["Target"].get("Port") != target["Port"]]
    outcomes = request_many(f"http://{stack.alb_dns_name}/", 6, proxy=lab.socks_proxy, timeout=5.0)
    by_tasks = sum(o.kind == "answered" and o.task_id is not None and o.host_port != target["Port"] for o in outcomes)
    name = f"{target['Id']}:{target['Port']}"
    return report([
        expect(found, f"{name} is registered in the target group",
               f"{name} is not registered - elbv2.register_targets(TargetGroupArn=stack.target_group_arn, Targets=[by_hand])"),
        expect(found and found[0]["State"] == "unhealthy" and found[0].get("Reason") == "Target.FailedHealthChecks",
               f"its health checks fail: unhealthy, Target.FailedHealthChecks (nothing listens on port {target['Port']})",
               f"its health is {found[0] if found else 'unknown'} - give the checks a few seconds"),
        expect(others and all(state == "healthy" for state in others), "the tasks' targets stay healthy",
               f"the tasks' targets are {sorted(others)}"),
        expect(by_tasks == len(outcomes), f"{by_tasks} of {len(outcomes)} requests answered by the tasks: "
               "the ALB sends nothing to an unhealthy target", f"only {by_tasks} of {len(outcomes)} requests answered by the tasks"),
    ])
