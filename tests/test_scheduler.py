"""The ECS agent and service scheduler, through plain boto3 against one sandbox region.

Every test builds its own copy of the seed stack (its own names, cluster and instances) in
one shared sandbox, and watches what ECS would do: tasks, host ports, targets, events.
"""

from __future__ import annotations

import base64
import http.client
import itertools
import time

import pytest

from helpers.sandbox.region import DEFAULT_HOST_PORT_RANGE, Sandbox
from helpers.sandbox.scheduler import cluster_from_user_data, user_data_text
from helpers.stack import StackSpec, build_stack, ecs_user_data

pytestmark = pytest.mark.slow
_names = itertools.count(1)


@pytest.fixture(scope="module")
def region():
    with Sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(region):
    """The shared region; each test's services are deleted afterwards, so their containers
    stop and later tests do not pay for their health checks."""
    yield region
    clients = region.clients()
    for cluster in clients.ecs.list_clusters()["clusterArns"]:
        for arn in clients.ecs.list_services(cluster=cluster)["serviceArns"]:
            if service_status(clients, cluster, arn) == "ACTIVE":
                clients.ecs.delete_service(cluster=cluster, service=arn, force=True)


def service_status(clients, cluster, arn):
    return clients.ecs.describe_services(cluster=cluster, services=[arn])["services"][0]["status"]


def build(sandbox, grace_period=3600, **spec):
    """The seed stack under a fresh name. The health-check grace period (AWS seconds) keeps a
    health check that is slow on a busy test machine from replacing tasks mid-test."""
    clients = sandbox.clients()
    stack = build_stack(clients, StackSpec(name=f"s{next(_names)}", **spec))
    clients.ecs.update_service(cluster=stack.cluster_name, service=stack.service_name,
                               healthCheckGracePeriodSeconds=grace_period)
    return clients, stack


def wait_until(check, timeout=15.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def reconcile(sandbox, times: int = 5) -> None:
    """Run the scheduler's reconcile a few times now: what would have happened by then has."""
    scheduler = sandbox.ctx.components["scheduler"]
    for _ in range(times):
        scheduler.reconcile_once()


def tasks(clients, stack, desired="RUNNING"):
    arns = clients.ecs.list_tasks(cluster=stack.cluster_name, serviceName=stack.service_name,
                                  desiredStatus=desired)["taskArns"]
    return clients.ecs.describe_tasks(cluster=stack.cluster_name, tasks=arns)["tasks"] if arns else []


def running(clients, stack, count):
    found = [t for t in tasks(clients, stack) if t["lastStatus"] == "RUNNING"]
    return found if len(found) == count else None


def stopped(clients, stack):
    return [task for task in tasks(clients, stack, "STOPPED") if task["lastStatus"] == "STOPPED"]


def binding(task):
    return task["containers"][0]["networkBindings"][0]


def instance_of(clients, stack, task):
    described = clients.ecs.describe_container_instances(cluster=stack.cluster_name,
                                                         containerInstances=[task["containerInstanceArn"]])
    return described["containerInstances"][0]["ec2InstanceId"]


def targets(clients, stack):
    health = clients.elbv2.describe_target_health(TargetGroupArn=stack.target_group_arn)
    return {(d["Target"]["Id"], d["Target"]["Port"]): d["TargetHealth"]["State"] for d in health["TargetHealthDescriptions"]}


def service(clients, stack):
    return clients.ecs.describe_services(cluster=stack.cluster_name, services=[stack.service_name])["services"][0]


def messages(clients, stack):
    return [event["message"] for event in service(clients, stack)["events"]]


def wait_stable(clients, stack):
    clients.ecs.get_waiter("services_stable").wait(cluster=stack.cluster_name, services=[stack.service_name],
                                                   WaiterConfig={"Delay": 0.2, "MaxAttempts": 75})


# -- the agent's reading of user data ---------------------------------------------------------------

def test_cluster_name_comes_from_the_user_data_script():
    assert cluster_from_user_data(ecs_user_data("lab-cluster")) == "lab-cluster"
    assert cluster_from_user_data("#!/bin/bash\nyum update -y\n") is None


def test_user_data_is_decoded_from_base64():
    from moto.core.types import Base64EncodedString

    script = ecs_user_data("web")
    assert user_data_text(Base64EncodedString(base64.b64encode(script.encode()).decode())) == script
    assert user_data_text(None) == ""


def container_instance_ids(clients, cluster):
    arns = clients.ecs.list_container_instances(cluster=cluster, status="ACTIVE")["containerInstanceArns"]
    if not arns:
        return set()
    described = clients.ecs.describe_container_instances(cluster=cluster, containerInstances=arns)
    return {ci["ec2InstanceId"] for ci in described["containerInstances"]}


def test_instance_without_ecs_cluster_joins_default_only_if_it_exists(sandbox):
    clients, stack = build(sandbox, desired_count=0, instance_count=1)
    assert wait_until(lambda: container_instance_ids(clients, stack.cluster_name) == set(stack.instance_ids),
                      what="the stack's instance joining its cluster")
    image_id = clients.ec2.describe_instances(InstanceIds=stack.instance_ids)["Reservations"][0]["Instances"][0]["ImageId"]
    plain = clients.ec2.run_instances(ImageId=image_id, InstanceType="t3.small", MinCount=1, MaxCount=1,
                                      SubnetId=stack.public_subnet_ids[0])["Instances"][0]["InstanceId"]
    try:
        reconcile(sandbox)  # no cluster named default, so the agent waits
        assert all(plain not in container_instance_ids(clients, arn) for arn in clients.ecs.list_clusters()["clusterArns"])
        clients.ecs.create_cluster(clusterName="default")
        wait_until(lambda: plain in container_instance_ids(clients, "default"), what="the instance joining default")
    finally:
        clients.ec2.terminate_instances(InstanceIds=[plain])


# -- the service scheduler ------------------------------------------------------------------------------

def test_service_runs_three_tasks_on_dynamic_host_ports(sandbox):
    clients, stack = build(sandbox, deregistration_delay=5)
    found = wait_until(lambda: running(clients, stack, 3), what="3 RUNNING tasks")
    deployment_id = service(clients, stack)["deployments"][0]["id"]
    low, high = DEFAULT_HOST_PORT_RANGE
    placed = [(instance_of(clients, stack, task), binding(task)["hostPort"]) for task in found]
    for task in found:
        assert binding(task) == {"bindIP": "0.0.0.0", "containerPort": 8081, "hostPort": binding(task)["hostPort"],
                                 "protocol": "tcp"}
        assert low <= binding(task)["hostPort"] <= high
        assert task["group"] == f"service:{stack.service_name}" and task["startedBy"] == deployment_id
        assert task["startedAt"] and "exitCode" not in task["containers"][0]
    assert len(set(placed)) == 3  # never twice the same port on one instance
    assert {instance for instance, _ in placed} == set(stack.instance_ids)  # spread over both instances
    wait_until(lambda: set(targets(clients, stack)) == set(placed), what="instance:hostPort targets")

    wait_stable(clients, stack)
    wait_until(lambda: service(clients, stack)["deployments"][0]["rolloutState"] == "COMPLETED", what="rollout")
    events = messages(clients, stack)
    assert events[-1].startswith(f"(service {stack.service_name}) has started 3 tasks: (task ")
    assert events.count(f"(service {stack.service_name}) registered 1 targets in (target-group {stack.target_group_arn})") == 3
    wait_until(lambda: f"(service {stack.service_name}) has reached a steady state." in messages(clients, stack),
               what="steady state event")

    # Each instance registered a t3.small's resources; its tasks hold 256 CPU units and 256 MiB each.
    arns = clients.ecs.list_container_instances(cluster=stack.cluster_name)["containerInstanceArns"]
    for ci in clients.ecs.describe_container_instances(cluster=stack.cluster_name, containerInstances=arns)["containerInstances"]:
        on_instance = sum(1 for instance, _ in placed if instance == ci["ec2InstanceId"])
        registered = {r["name"]: r for r in ci["registeredResources"]}
        remaining = {r["name"]: r for r in ci["remainingResources"]}
        assert (registered["CPU"]["integerValue"], registered["MEMORY"]["integerValue"]) == (2048, 1996)
        assert remaining["CPU"]["integerValue"] == 2048 - 256 * on_instance
        assert remaining["MEMORY"]["integerValue"] == 1996 - 256 * on_instance
        assert (ci["runningTasksCount"], ci["agentConnected"], ci["status"]) == (on_instance, True, "ACTIVE")

    # The container behind instance:hostPort says who it is.
    instance_id, host_port = placed[0]
    connection = http.client.HTTPConnection(*sandbox.ctx.components["containers"].endpoint(instance_id, host_port), timeout=5)
    connection.request("GET", "/")
    body = connection.getresponse().read().decode()
    assert instance_id in body and str(host_port) in body


def test_stop_task_drains_and_gets_a_replacement_on_a_new_port(sandbox):
    clients, stack = build(sandbox, deregistration_delay=5)
    before = wait_until(lambda: running(clients, stack, 3), what="3 RUNNING tasks")
    victim = before[0]
    old = (instance_of(clients, stack, victim), binding(victim)["hostPort"])
    clients.ecs.stop_task(cluster=stack.cluster_name, task=victim["taskArn"])

    gone = wait_until(lambda: stopped(clients, stack), what="the stopped task")[0]
    assert gone["taskArn"] == victim["taskArn"]
    assert (gone["stopCode"], gone["stoppedReason"]) == ("UserInitiated", "Task stopped by user")
    assert gone["stoppedAt"] and gone["containers"][0]["lastStatus"] == "STOPPED"

    after = wait_until(lambda: running(clients, stack, 3), what="a replacement")
    replacement = [t for t in after if t["taskArn"] not in {b["taskArn"] for b in before}]
    assert len(replacement) == 1, [(t["taskArn"], t["stoppedReason"]) for t in tasks(clients, stack, "STOPPED")]
    new = (instance_of(clients, stack, replacement[0]), binding(replacement[0])["hostPort"])
    assert new != old and new[1] != old[1]
    wait_until(lambda: new in targets(clients, stack) and old not in targets(clients, stack), what="targets swapped")
    assert f"(service {stack.service_name}) deregistered 1 targets in (target-group {stack.target_group_arn})" in messages(clients, stack)


def test_killed_container_stops_its_task_and_is_replaced(sandbox):
    clients, stack = build(sandbox, desired_count=1, instance_count=1, deregistration_delay=5)
    victim = wait_until(lambda: running(clients, stack, 1), what="a RUNNING task")[0]
    assert sandbox.ctx.components["containers"].kill(victim["taskArn"])

    gone = wait_until(lambda: stopped(clients, stack), what="the stopped task")[0]
    assert gone["stoppedReason"] == "Essential container in task exited"
    assert gone["stopCode"] == "EssentialContainerExited"
    assert gone["containers"][0]["exitCode"] == 137
    after = wait_until(lambda: running(clients, stack, 1), what="a replacement")
    assert victim["taskArn"] != after[0]["taskArn"]


def test_scale_in_drains_targets_before_stopping_tasks(sandbox):
    clients, stack = build(sandbox, deregistration_delay=60)  # 60 AWS s = 1.2 s here
    wait_until(lambda: running(clients, stack, 3), what="3 RUNNING tasks")
    clients.ecs.update_service(cluster=stack.cluster_name, service=stack.service_name, desiredCount=1)

    def draining_while_deactivating():
        draining = [key for key, state in targets(clients, stack).items() if state == "draining"]
        leaving = [task["lastStatus"] for task in tasks(clients, stack, "STOPPED")]
        return len(draining) == 2 and leaving == ["DEACTIVATING", "DEACTIVATING"]

    wait_until(draining_while_deactivating, what="2 targets draining while their tasks wait")
    wait_until(lambda: len(targets(clients, stack)) == 1 and len(stopped(clients, stack)) == 2,
               what="drained targets removed and their tasks stopped")
    deployment_id = service(clients, stack)["deployments"][0]["id"]
    for task in stopped(clients, stack):
        assert task["stoppedReason"] == f"Scaling activity initiated by (deployment {deployment_id})"
        assert task["stopCode"] == "ServiceSchedulerInitiated"
    events = messages(clients, stack)
    assert events.count(f"(service {stack.service_name}, taskSet {deployment_id}) has begun draining connections on 1 tasks.") == 2
    assert sum(m.startswith(f"(service {stack.service_name}) has stopped 1 running tasks: (task ") for m in events) == 2
    wait_stable(clients, stack)
    assert service(clients, stack)["runningCount"] == 1


def test_static_host_port_fits_once_per_instance(sandbox):
    clients, stack = build(sandbox, host_port=8081)
    found = wait_until(lambda: running(clients, stack, 2), what="2 RUNNING tasks")
    assert {binding(task)["hostPort"] for task in found} == {8081}
    failure = (f"(service {stack.service_name}) was unable to place a task because no container instance met all of "
               "its requirements. The closest matching (container-instance ")
    wait_until(lambda: any(m.startswith(failure) for m in messages(clients, stack)), what="the placement failure event")
    reconcile(sandbox)  # the event is not repeated every tick
    events = [m for m in messages(clients, stack) if m.startswith(failure)]
    assert len(events) == 1, messages(clients, stack)
    assert events[0].endswith(") is already using a port required by your task. For more information, "
                              "see the Troubleshooting section of the Amazon ECS Developer Guide.")
    current = service(clients, stack)
    assert (current["runningCount"], current["desiredCount"]) == (2, 3)


def test_unhealthy_targets_are_replaced_after_the_grace_period(sandbox):
    clients, stack = build(sandbox, desired_count=1, instance_count=1, health_check_path="/status/503",
                           deregistration_delay=5, grace_period=3600)
    first = wait_until(lambda: running(clients, stack, 1), what="a RUNNING task")[0]
    wait_until(lambda: "unhealthy" in targets(clients, stack).values(), what="an unhealthy target")
    reconcile(sandbox)
    assert running(clients, stack, 1)[0]["taskArn"] == first["taskArn"]  # still in its grace period

    clients.ecs.update_service(cluster=stack.cluster_name, service=stack.service_name, healthCheckGracePeriodSeconds=0)
    leaving = wait_until(lambda: [t for t in tasks(clients, stack, "STOPPED") if t["taskArn"] == first["taskArn"]],
                         what="the unhealthy task stopping")[0]
    assert leaving["stoppedReason"] == f"Task failed ELB health checks in (target-group {stack.target_group_arn})"
    wait_until(lambda: (running(clients, stack, 1) or [first])[0]["taskArn"] != first["taskArn"], what="a replacement")
    assert any(m.startswith(f"(service {stack.service_name}) (instance ") and
               f"is unhealthy in (target-group {stack.target_group_arn}) due to (reason " in m
               for m in messages(clients, stack))


def test_without_the_service_linked_role_targets_are_not_registered(sandbox):
    clients, stack = build(sandbox, desired_count=0, instance_count=1)
    # The role deleted after the service exists (CreateService itself would refuse: test_moto_fixes).
    clients.iam.delete_service_linked_role(RoleName="AWSServiceRoleForECS")
    try:
        clients.ecs.update_service(cluster=stack.cluster_name, service=stack.service_name, desiredCount=1)
        wait_until(lambda: running(clients, stack, 1), what="a RUNNING task")
        expected = f"(service {stack.service_name}) failed to register targets in (target-group {stack.target_group_arn})"
        wait_until(lambda: any(m.startswith(expected) and "Unable to assume the service linked role" in m for m in messages(clients, stack)),
                   what="the registration failure event")
        reconcile(sandbox)
        assert sum(m.startswith(expected) for m in messages(clients, stack)) == 1
        assert targets(clients, stack) == {}
    finally:
        clients.iam.create_service_linked_role(AWSServiceName="ecs.amazonaws.com")
    wait_until(lambda: len(targets(clients, stack)) == 1, what="registration once the role exists")


def test_terminated_instance_stops_its_tasks_and_goes_inactive(sandbox):
    clients, stack = build(sandbox, desired_count=2, deregistration_delay=5)
    wait_until(lambda: running(clients, stack, 2), what="2 RUNNING tasks")
    doomed, survivor = stack.instance_ids
    clients.ec2.terminate_instances(InstanceIds=[doomed])

    gone = wait_until(lambda: stopped(clients, stack), what="the task on the terminated instance")[0]
    assert gone["stoppedReason"] == f"Host EC2 (instance {doomed}) terminated."
    after = wait_until(lambda: running(clients, stack, 2), what="a replacement")
    assert {instance_of(clients, stack, task) for task in after} == {survivor}
    inactive = clients.ecs.list_container_instances(cluster=stack.cluster_name, status="INACTIVE")["containerInstanceArns"]
    assert len(inactive) == 1


def test_deleting_a_service_stops_its_tasks(sandbox):
    clients, stack = build(sandbox, desired_count=2, instance_count=1, deregistration_delay=0)
    found = wait_until(lambda: running(clients, stack, 2), what="2 RUNNING tasks")
    clients.ecs.delete_service(cluster=stack.cluster_name, service=stack.service_name, force=True)

    def described():
        return clients.ecs.describe_tasks(cluster=stack.cluster_name, tasks=[t["taskArn"] for t in found])["tasks"]

    wait_until(lambda: all(t["lastStatus"] == "STOPPED" for t in described()), what="the service's tasks stopped")
    wait_until(lambda: targets(clients, stack) == {}, what="targets deregistered")
    still_running = {c["task_arn"] for c in sandbox.ctx.components["containers"].describe()}
    assert not still_running & {t["taskArn"] for t in found}  # their container processes are gone
