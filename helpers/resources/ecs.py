"""ECS services in plain boto3: their tasks and host ports, a task's direct URL, the desired count.

    bindings = task_bindings(clients, stack.cluster_name, stack.service_name)   # where each task listens
    url = direct_task_url(clients, stack)        # http://<host's public DNS>:<host port>/ (skips the ALB)
    set_desired_count(clients, stack, 0)
"""

from __future__ import annotations

from dataclasses import dataclass

from helpers.backend import Clients
from helpers.waiters import wait_until


@dataclass(frozen=True)
class TaskBinding:
    """One task's container port bound to a host port ("-" where ECS has not bound one yet)."""

    host_name: str  # the instance's Name tag (its id when it has none, "-" when not placed)
    instance_id: str
    task_id: str  # the task id's first 8 characters
    host_port: str
    container_port: str
    status: str


def describe_service(clients: Clients, cluster: str, service: str) -> dict:
    return clients.ecs.describe_services(cluster=cluster, services=[service])["services"][0]


def set_desired_count(clients: Clients, stack, count: int) -> None:
    """UpdateService: ECS starts or stops tasks until `count` run."""
    clients.ecs.update_service(cluster=stack.cluster_name, service=stack.service_name, desiredCount=count)


def instance_names(clients: Clients, instance_ids: list[str]) -> dict[str, str]:
    """instance id -> its Name tag (or the id when it has none)."""
    if not instance_ids:
        return {}
    names = {}
    for reservation in clients.ec2.describe_instances(InstanceIds=sorted(set(instance_ids)))["Reservations"]:
        for instance in reservation["Instances"]:
            tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
            names[instance["InstanceId"]] = tags.get("Name", instance["InstanceId"])
    return names


def _container_instance_to_ec2(clients: Clients, cluster: str, arns: list[str]) -> dict[str, str]:
    if not arns:
        return {}
    described = clients.ecs.describe_container_instances(cluster=cluster, containerInstances=sorted(set(arns)))
    return {ci["containerInstanceArn"]: ci["ec2InstanceId"] for ci in described["containerInstances"]}


def service_tasks(clients: Clients, cluster: str, service: str | None = None, desired_status: str = "RUNNING") -> list[dict]:
    kwargs = {"cluster": cluster, "desiredStatus": desired_status}
    if service:
        kwargs["serviceName"] = service
    arns = clients.ecs.list_tasks(**kwargs)["taskArns"]
    return clients.ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []


def instance_targets(clients: Clients, cluster: str, tasks: list[dict]) -> set[str]:
    """The targets ECS registers for these tasks in bridge or host mode: "instance id:host port",
    as DescribeTargetHealth names them - one per port binding (the course's tasks map one port,
    the one their service registers)."""
    ci_to_ec2 = _container_instance_to_ec2(clients, cluster, [t["containerInstanceArn"] for t in tasks if t.get("containerInstanceArn")])
    return {f"{ci_to_ec2[task['containerInstanceArn']]}:{binding['hostPort']}"
            for task in tasks if task.get("containerInstanceArn") in ci_to_ec2
            for container in task["containers"] for binding in container.get("networkBindings") or []
            if binding.get("hostPort")}


def task_bindings(clients: Clients, cluster: str, service: str | None = None) -> list[TaskBinding]:
    """One entry per running task's port binding, sorted by host name, then host port, then task."""
    tasks = service_tasks(clients, cluster, service)
    ci_to_ec2 = _container_instance_to_ec2(clients, cluster, [t["containerInstanceArn"] for t in tasks if t.get("containerInstanceArn")])
    names = instance_names(clients, list(ci_to_ec2.values()))
    bindings = []
    for task in tasks:
        instance_id = ci_to_ec2.get(task.get("containerInstanceArn", ""), "")
        for container in task["containers"]:
            for binding in container.get("networkBindings") or [{}]:
                bindings.append(TaskBinding(names.get(instance_id, instance_id or "-"), instance_id or "-",
                                            task["taskArn"].rsplit("/", 1)[-1][:8], str(binding.get("hostPort", "-")),
                                            str(binding.get("containerPort", "-")), task["lastStatus"]))
    bindings.sort(key=lambda b: (b.host_name, int(b.host_port) if b.host_port.isdigit() else 0, b.task_id))
    return bindings


def direct_task_url(clients: Clients, stack) -> str:
    """A URL that skips the ALB: the first task's host (by the `task_bindings` order) at its public
    DNS name and the task's host port. Raises LookupError when no host has a public name."""
    bindings = task_bindings(clients, stack.cluster_name, stack.service_name)
    if not bindings:
        raise LookupError("the service runs no task")
    instance_id, port = bindings[0].instance_id, bindings[0].host_port
    instance = clients.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    name = instance.get("PublicDnsName")
    if not name:
        raise LookupError(f"{instance_id} has no public DNS name: it is in a private subnet or has no public IP")
    return f"http://{name}:{port}/"


def wait_for_unhealthy_event(clients: Clients, stack, *, timeout: float = 30.0) -> str:
    """Wait until ECS logs that a target of the stack's service turned unhealthy; return that
    event's message (the first one, as ECS wrote it). Its ids and port vary from run to run,
    its shape does not: "(service ...) (instance ...) (port ...) is unhealthy in (target-group
    ...) due to (reason ...)."."""
    found: list[str] = []

    def check() -> tuple[bool, str]:
        service = describe_service(clients, stack.cluster_name, stack.service_name)
        hits = [e["message"] for e in reversed(service.get("events", [])) if " is unhealthy in " in e["message"]]
        found[:] = hits[:1]
        return bool(hits), "no unhealthy target yet" if not hits else "ECS noticed an unhealthy target"

    wait_until(check, what="an unhealthy target in the service's events", timeout=timeout)
    return found[0]
