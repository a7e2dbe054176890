"""Rolling updates through plain boto3 against one sandbox region, with traffic through the
sandbox's SOCKS proxy while they run."""

from __future__ import annotations

import itertools
import threading

import pytest

from helpers.resources.ecs import instance_targets, service_tasks
from helpers.rollouts import watch_rollout
from helpers.sandbox.deployments import Step, plan
from helpers.stack import StackSpec, build_stack
from helpers.traffic import request
from helpers.waiters import first_value, wait_for_service

pytestmark = pytest.mark.slow
_names = itertools.count(1)


def test_plan_honours_the_percentages():
    # 100/200: start a full new set, stop old ones only as new ones turn healthy
    assert plan(2, 100, 200, new_live=0, new_healthy=0, old_live=2) == Step(2, 0)
    assert plan(2, 100, 200, new_live=2, new_healthy=1, old_live=2) == Step(0, 1)
    # 50/100: no extra task; stop one old first, then replace one at a time
    assert plan(2, 50, 100, new_live=0, new_healthy=0, old_live=2) == Step(0, 1)
    assert plan(2, 50, 100, new_live=0, new_healthy=0, old_live=1) == Step(1, 0)
    assert plan(2, 50, 100, new_live=1, new_healthy=1, old_live=1) == Step(0, 1)
    assert plan(3, 100, 150, new_live=0, new_healthy=0, old_live=3) == Step(1, 0)  # 150% of 3 rounds down to 4


def build(region, **spec):
    clients = region.clients()
    spec.setdefault("deregistration_delay", 5)
    stack = build_stack(clients, StackSpec(name=f"d{next(_names)}", **spec))
    wait_for_service(clients, stack, progress=False)
    return clients, stack


def service(clients, stack):
    return clients.ecs.describe_services(cluster=stack.cluster_name, services=[stack.service_name])["services"][0]


def new_revision(clients, stack):
    definition = clients.ecs.describe_task_definition(taskDefinition=stack.task_definition_arn)["taskDefinition"]
    keep = ("family", "containerDefinitions", "networkMode")
    return clients.ecs.register_task_definition(**{k: definition[k] for k in keep if k in definition})[
        "taskDefinition"]["taskDefinitionArn"]


def running_definitions(clients, stack):
    arns = clients.ecs.list_tasks(cluster=stack.cluster_name, serviceName=stack.service_name)["taskArns"]
    tasks = clients.ecs.describe_tasks(cluster=stack.cluster_name, tasks=arns)["tasks"] if arns else []
    return sorted(t["taskDefinitionArn"] for t in tasks if t["lastStatus"] == "RUNNING")


def test_a_new_revision_rolls_out_without_a_failed_request(region):
    clients, stack = build(region, desired_count=2)
    url = f"http://{stack.alb_dns_name}/"
    outcomes, stop = [], threading.Event()

    def traffic():
        while not stop.is_set() and len(outcomes) < 2000:  # bounded
            outcomes.append(request(url, proxy=region.socks_proxy, timeout=5))

    sender = threading.Thread(target=traffic)
    sender.start()
    try:
        revision = new_revision(clients, stack)
        clients.ecs.update_service(cluster=stack.cluster_name, service=stack.service_name, taskDefinition=revision)
        during = service(clients, stack)["deployments"]
        assert [(d["status"], d["taskDefinition"] == revision) for d in during] == [("PRIMARY", True), ("ACTIVE", False)]
        assert during[0]["rolloutState"] == "IN_PROGRESS"
        first_value(lambda: running_definitions(clients, stack) == [revision, revision]
                   and len(service(clients, stack)["deployments"]) == 1, timeout=30, what="the new revision everywhere")
        done = first_value(lambda: (lambda d: d if d["rolloutState"] == "COMPLETED" else None)(
            service(clients, stack)["deployments"][0]), timeout=30, what="COMPLETED")
    finally:
        stop.set()
        sender.join()
    assert outcomes and all(o.status == 200 for o in outcomes), {o.summary() for o in outcomes if o.status != 200}
    messages = [e["message"] for e in service(clients, stack)["events"]]
    assert f"(service {stack.service_name}) (deployment {done['id']}) deployment completed." in messages
    assert any(m.startswith(f"(service {stack.service_name}) has started 2 tasks:") for m in messages)


def target_ids(clients, stack):
    described = clients.elbv2.describe_target_health(TargetGroupArn=stack.target_group_arn)["TargetHealthDescriptions"]
    return {f"{d['Target']['Id']}:{d['Target']['Port']}" for d in described}


def test_watch_rollout_takes_the_old_targets_from_the_old_tasks(region):
    # Started once the new tasks' targets are registered too, watch_rollout must still name as old
    # only the old tasks' instance:hostPort. The default deregistration delay (300 AWS seconds)
    # keeps the old tasks draining, not stopped, while it starts.
    clients, stack = build(region, desired_count=2, deregistration_delay=300)
    old = instance_targets(clients, stack.cluster_name, service_tasks(clients, stack.cluster_name, stack.service_name))
    assert len(old) == 2 and target_ids(clients, stack) == old
    clients.ecs.update_service(cluster=stack.cluster_name, service=stack.service_name,
                               taskDefinition=new_revision(clients, stack))
    first_value(lambda: target_ids(clients, stack) - old, timeout=30, what="the new tasks' targets registered")

    watched = watch_rollout(clients, stack, proxy=region.socks_proxy, timeout=60)
    assert set(watched.old_targets) == old
    assert watched.completed and not watched.failed, str(watched)
    assert all("draining" in seen for seen in watched.old_targets.values()), watched.old_targets
    assert set(watched.final_targets).isdisjoint(old)


def test_static_host_port_stalls_at_100_200_and_proceeds_at_50_100(region):
    clients, stack = build(region, desired_count=2, host_port=8081)
    clients.ecs.update_service(cluster=stack.cluster_name, service=stack.service_name, forceNewDeployment=True)
    first_value(lambda: any("is already using a port required by your task" in e["message"]
                           for e in service(clients, stack)["events"]), timeout=30, what="the port-conflict event")
    old = running_definitions(clients, stack)
    stalled = service(clients, stack)["deployments"]
    assert len(old) == 2 and len(stalled) == 2  # the old tasks keep serving
    assert stalled[0]["rolloutState"] == "IN_PROGRESS"  # the old tasks' steady state is not the rollout's

    clients.ecs.update_service(cluster=stack.cluster_name, service=stack.service_name,
                               deploymentConfiguration={"minimumHealthyPercent": 50, "maximumPercent": 100})
    first_value(lambda: (lambda s: len(s["deployments"]) == 1 and s["deployments"][0]["rolloutState"] == "COMPLETED"
                        and s["runningCount"] == 2)(service(clients, stack)), timeout=60, what="the rollout at 50/100")


def test_circuit_breaker_fails_a_crashing_deployment_and_rolls_back(region):
    clients, stack = build(region, desired_count=1, instance_count=1)
    original = service(clients, stack)["taskDefinition"]
    clients.ecs.update_service(cluster=stack.cluster_name, service=stack.service_name, deploymentConfiguration={
        "deploymentCircuitBreaker": {"enable": True, "rollback": True}})
    assert len(service(clients, stack)["deployments"]) == 1  # the configuration alone starts no deployment
    revision = new_revision(clients, stack)
    clients.ecs.update_service(cluster=stack.cluster_name, service=stack.service_name, taskDefinition=revision)
    failed_id = service(clients, stack)["deployments"][0]["id"]
    containers = region.ctx.components["containers"]

    def crash_new_tasks():  # every task of the new revision dies once it runs: a crash loop
        arns = clients.ecs.list_tasks(cluster=stack.cluster_name, serviceName=stack.service_name)["taskArns"]
        for task in clients.ecs.describe_tasks(cluster=stack.cluster_name, tasks=arns)["tasks"] if arns else []:
            if task["taskDefinitionArn"] == revision and task["lastStatus"] == "RUNNING":
                containers.kill_task_id(task["taskArn"].rsplit("/", 1)[-1])
        return any(d["id"] == failed_id and d["rolloutState"] == "FAILED" for d in service(clients, stack)["deployments"])

    first_value(crash_new_tasks, timeout=60, what="the circuit breaker")
    after = service(clients, stack)
    failed = next(d for d in after["deployments"] if d["id"] == failed_id)
    assert failed["failedTasks"] >= 3 and after["deployments"][0]["taskDefinition"] == original
    assert f"(service {stack.service_name}) (deployment {failed_id}) deployment failed: tasks failed to start." in [
        e["message"] for e in after["events"]]
    first_value(lambda: (lambda s: len(s["deployments"]) == 1 and s["deployments"][0]["rolloutState"] == "COMPLETED"
                        and s["runningCount"] == 1)(service(clients, stack)), timeout=60, what="the rollback completed")
    assert running_definitions(clients, stack) == [original]
