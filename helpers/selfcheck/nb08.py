"""Self-check for 08_deployments: the stalled static-port rollout, unblocked by the percentages."""

from __future__ import annotations

from helpers.rollouts import rollout_done
from helpers.selfcheck import Report, expect, report
from helpers.traffic import answers_per_task, request_many


def static_rollout_completed(lab, stack) -> Report:
    """The exercise: minimumHealthyPercent at most 50, so ECS may stop an old task first; the
    rollout completed; every running task runs the new revision; every request answered."""
    service = lab.clients.ecs.describe_services(cluster=stack.cluster_name, services=[stack.service_name])["services"][0]
    minimum = service.get("deploymentConfiguration", {}).get("minimumHealthyPercent", 100)
    primary = service["deployments"][0]["taskDefinition"]
    arns = lab.clients.ecs.list_tasks(cluster=stack.cluster_name, serviceName=stack.service_name)["taskArns"]
    tasks = lab.clients.ecs.describe_tasks(cluster=stack.cluster_name, tasks=arns)["tasks"] if arns else []
    running = [t for t in tasks if t["lastStatus"] == "RUNNING"]
    states = {d["Target"]["Id"] + ":" + str(d["Target"]["Port"]): d["TargetHealth"]["State"] for d in
              lab.clients.elbv2.describe_target_health(TargetGroupArn=stack.target_group_arn)["TargetHealthDescriptions"]}
    outcomes = request_many(f"http://{stack.alb_dns_name}/", 10, proxy=lab.socks_proxy, timeout=5.0)
    answered = sum(o.kind == "answered" and o.status == 200 for o in outcomes)
    return report([
        expect(minimum <= 50, f"minimumHealthyPercent is {minimum}: ECS may stop an old task before it starts a new one",
               f"minimumHealthyPercent is still {minimum} - update_service(..., deploymentConfiguration="
               "{'minimumHealthyPercent': 50, 'maximumPercent': 100})"),
        expect(rollout_done(service, states), "the rollout completed: one deployment, COMPLETED, every target healthy",
               f"the rollout has not completed yet ({len(service['deployments'])} deployments) - look at lab.deployments(static)"),
        expect(running and all(t["taskDefinitionArn"] == primary for t in running),
               f"all {len(running)} running tasks run the new revision", "some running tasks still run the old revision"),
        expect(answered == 10 and len(answers_per_task(outcomes)) == service["desiredCount"],
               f"10 of 10 requests answered, by {service['desiredCount']} tasks", f"{answered} of 10 requests answered"),
    ])
