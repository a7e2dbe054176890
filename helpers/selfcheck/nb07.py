"""Self-check for 07_troubleshooting: the capstone stack works end to end again.

It judges the outcome, not the route to it: real requests through the ALB answered by every
running task, every target healthy, `explain` without a blocker, and the audit finding nothing
(the stack was hardened before it broke, so any finding is one of the injected faults - or a
fix that opened more than it needed to).
"""

from __future__ import annotations

from helpers.audit import run_audit
from helpers.selfcheck import CheckResult, Report, expect, report
from helpers.tables import service_tasks
from helpers.traffic import request_many


def _failed_count(outcomes) -> str:
    failed = sum(o.kind != "answered" for o in outcomes)
    return "all" if failed == len(outcomes) else f"{failed} of {len(outcomes)}"


def stack_works(lab, stack, *, requests: int = 12) -> Report:
    """Desired tasks running, all healthy, all answering; no blocker; a clean audit."""
    ecs = lab.clients.ecs
    service = ecs.describe_services(cluster=stack.cluster_name, services=[stack.service_name])["services"][0]
    desired, running = service["desiredCount"], service["runningCount"]
    wanted = stack.spec.desired_count
    tasks = {t["taskArn"].rsplit("/", 1)[-1] for t in service_tasks(lab.clients, stack.cluster_name, stack.service_name)}
    health = lab.clients.elbv2.describe_target_health(TargetGroupArn=stack.target_group_arn)["TargetHealthDescriptions"]
    healthy = sum(d["TargetHealth"]["State"] == "healthy" for d in health)
    url = f"http://{stack.alb_dns_name}/"
    outcomes = request_many(url, requests, proxy=lab.socks_proxy, timeout=10.0)
    answered_by = {o.task_id for o in outcomes if o.kind == "answered" and o.task_id}
    failures = sorted({o.summary() for o in outcomes if o.kind != "answered"})
    explained = lab.explain(url)
    legs = explained.verdict.targets
    findings = run_audit(lab.clients, stack.vpc_id).findings
    results: list[CheckResult] = [
        expect(desired == wanted and running == wanted, f"the service runs {wanted} of {wanted} tasks",
               f"the service runs {running} task(s) and wants {desired}; the stack was built for {wanted} "
               "- look at the service itself (lab.tasks(stack), lab.events(stack))"),
        expect(wanted > 0 and healthy == wanted == len(health), f"all {wanted} targets are healthy",
               f"{healthy} of {len(health)} registered targets are healthy - read lab.targets(stack): the reason "
               "column says what the health checks meet"),
        expect(not failures and tasks and answered_by == tasks,
               f"{requests} requests through the ALB: every one answered, by every running task",
               f"{requests} requests through the ALB: "
               + (f"{_failed_count(outcomes)} failed ({'; '.join(failures)})" if failures else
                  f"answered by {len(answered_by)} of {len(tasks)} running tasks")),
        expect(explained.reachable and legs and all(leg.reachable for leg in legs),
               "explain finds no blocker on the way to any target",
               f"explain still finds blockers: {', '.join(explained.codes) or 'no targets to reach'}"),
        expect(not findings, "the audit finds nothing",
               "the audit still finds: " + "; ".join(sorted({f.title for f in findings}))
               + " (the audit from 06: audit_text(lab.clients, stack.vpc_id) shows the evidence)"),
    ]
    return report(results)
