"""Standalone tasks: RunTask and StartTask, as ECS places and runs them on EC2 container instances.

A standalone task is a service task without the service: placed by the same rules (placement.py),
given dynamic host ports by the same allocator, run by the same scheduler as a real container
process. It starts PENDING, turns RUNNING with its networkBindings, and StopTask stops it
(stopCode UserInitiated). Its group is `family:<task definition family>` unless the caller names
one (ECS API RunTask, `group`).

A task that fits nowhere is not created: it comes back in `failures`, one entry per container
instance that was tried, with the reason ECS gives - `RESOURCE:CPU`, `RESOURCE:MEMORY`,
`RESOURCE:PORTS` (ECS guide "API failure reasons": RunTask or StartTask, `RESOURCE:*`
(container instance ID)); StartTask on an unknown or deregistered instance gives `MISSING` /
`INACTIVE` (same page).

An awsvpc task on EC2 is placed like an awsvpc service task: it needs a `networkConfiguration`
with subnets, takes one of its instance's spare ENIs (`RESOURCE:ENI` when none is left) and gets
its own ENI in one of those subnets, deleted when it stops (awsvpc.py). RunTask with launch type
FARGATE runs its tasks on no instance, each with its own ENI in the subnets of its
`networkConfiguration` (fargate.py); so does RunTask with a strategy of the FARGATE / FARGATE_SPOT
capacity providers (capacity_providers.py). What the sandbox does not run (see unsupported.py) is refused
with an error that says so, rather than a task that never starts (issue 9, "nothing silent").

Called by moto_fixes/ecs.py inside moto's request handling: under `ctx.lock`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from moto.ecs.exceptions import EcsClientException, InvalidParameterException

from helpers.facts import AWSVPC_NEEDS_NETWORK_CONFIGURATION
from helpers.sandbox import awsvpc, capacity_providers, fargate, placement, unsupported
from helpers.sandbox.scheduler import main_container, task_needs

# The Failure reasons for a resource a task needs and no instance has (ECS guide "API failure reasons").
# AGENT: "the container instance ... has an agent that's currently disconnected" (same page).
# RESOURCE:ENI: an awsvpc task on an instance with no ENI left (quoted from ECS output; not on that page).
FAILURE_REASON = {placement.NO_CPU: "RESOURCE:CPU", placement.NO_MEMORY: "RESOURCE:MEMORY",
                  placement.NO_PORT: "RESOURCE:PORTS", placement.NO_ENI: "RESOURCE:ENI", placement.NO_AGENT: "AGENT"}
MISSING, INACTIVE = "MISSING", "INACTIVE"
# RunTask in a cluster with no usable container instance: AWS answers with this error (widely quoted
# CLI output: "InvalidParameterException ... No Container Instances were found in your cluster.").
NO_CONTAINER_INSTANCES = "No Container Instances were found in your cluster."


@dataclass
class Started:
    """What RunTask / StartTask answer: the tasks created, and a Failure for each instance that refused."""

    tasks: list = field(default_factory=list)  # moto Task objects
    failures: list[dict] = field(default_factory=list)  # ECS API Failure: arn, reason


def run_task(scheduler, cluster_name: str, definition, *, count: int, group: str | None, started_by: str | None,
             tags: list | None, launch_type: str | None, capacity_provider_strategy,
             network_configuration: dict | None = None) -> Started:
    """RunTask: place `count` tasks in the cluster, spread over its instances (or on Fargate)."""
    if fargate.runs_on_fargate(launch_type) or capacity_providers.on_fargate(capacity_provider_strategy):
        return _run_on_fargate(scheduler, cluster_name, definition, count=count, group=group, started_by=started_by,
                               tags=tags, network_configuration=network_configuration,
                               strategy=capacity_provider_strategy)
    refuse_what_the_sandbox_does_not_run(definition, launch_type, capacity_provider_strategy)
    check_network_configuration(definition, network_configuration)
    rooms = scheduler.rooms_in(cluster_name)
    if not rooms:
        raise InvalidParameterException(NO_CONTAINER_INSTANCES)
    started = Started()
    container_def = main_container(definition, [])
    needs = task_needs(definition, container_def)
    for _ in range(count):
        where = placement.place(rooms, needs, scheduler.ctx.options.host_port_range)
        if where.room is None:
            started.failures = [failure(room, needs, scheduler) for room in rooms]
            break
        started.tasks.append(_create(scheduler, cluster_name, definition, container_def, needs, where.room,
                                     group=group, started_by=started_by, tags=tags,
                                     network_configuration=network_configuration))
    return started


def start_task(scheduler, cluster_name: str, definition, *, container_instances: list[str], group: str | None,
               started_by: str | None, tags: list | None, network_configuration: dict | None = None) -> Started:
    """StartTask: one task on each container instance named (ARN or ID)."""
    refuse_what_the_sandbox_does_not_run(definition, None, None)
    check_network_configuration(definition, network_configuration)
    rooms = {room.container_instance_id: room for room in scheduler.rooms_in(cluster_name)}
    container_def = main_container(definition, [])
    needs = task_needs(definition, container_def)
    started = Started()
    for named in container_instances:
        instance_id = named.rsplit("/", 1)[-1]
        room = rooms.get(instance_id)
        if room is None:
            known = scheduler.ctx.ecs().container_instances.get(cluster_name, {}).get(instance_id)
            reason = MISSING if known is None else INACTIVE
            started.failures.append({"arn": named, "reason": reason})
            continue
        if room.unmet_requirement(needs, scheduler.ctx.options.host_port_range) is not None:
            started.failures.append(failure(room, needs, scheduler))
            continue
        started.tasks.append(_create(scheduler, cluster_name, definition, container_def, needs, room,
                                     group=group, started_by=started_by, tags=tags,
                                     network_configuration=network_configuration))
    return started


def _run_on_fargate(scheduler, cluster_name, definition, *, count, group, started_by, tags, network_configuration,
                    strategy):
    """RunTask with launch type FARGATE, or a strategy of the Fargate capacity providers: every task
    is started, each with its own ENI (fargate.py) and the provider the strategy gives it."""
    fargate.check_launch_type(definition, fargate.FARGATE)
    check_network_configuration(definition, network_configuration)
    container_def = main_container(definition, [])
    needs = task_needs(definition, container_def)
    started = Started()
    providers: list[str] = []
    for _ in range(count):
        if strategy:
            providers.append(capacity_providers.provider_for(strategy, providers))
        started.tasks.append(_create(scheduler, cluster_name, definition, container_def, needs, None, group=group,
                                     started_by=started_by, tags=tags, network_configuration=network_configuration,
                                     capacity_provider=providers[-1] if strategy else ""))
    return started


def failure(room: placement.InstanceRoom, needs: placement.TaskNeeds, scheduler) -> dict:
    unmet = room.unmet_requirement(needs, scheduler.ctx.options.host_port_range)
    return {"arn": scheduler.container_instance_arn(room.instance_id), "reason": FAILURE_REASON[unmet]}


def check_network_configuration(definition, network_configuration: dict | None) -> None:
    """An awsvpc task gets its ENI in the subnets named: without them AWS refuses (facts.py)."""
    subnets = ((network_configuration or {}).get("awsvpcConfiguration") or {}).get("subnets")
    if awsvpc.is_awsvpc(definition) and not subnets:
        raise InvalidParameterException(AWSVPC_NEEDS_NETWORK_CONFIGURATION)


def refuse_what_the_sandbox_does_not_run(definition, launch_type: str | None, capacity_provider_strategy) -> None:
    what = unsupported.not_run(definition, launch_type=launch_type, capacity_provider_strategy=capacity_provider_strategy)
    if what is not None:
        raise EcsClientException(unsupported.refusal(what))


def _create(scheduler, cluster_name, definition, container_def, needs, room, *, group, started_by, tags,
            network_configuration=None, capacity_provider=""):
    run = scheduler.create_task(cluster_name, definition, container_def, needs, room,
                                group=group or f"family:{definition.family}", started_by=started_by or "",
                                tags=list(tags or []), network_configuration=network_configuration,
                                capacity_provider=capacity_provider)
    scheduler.adopt(run)
    return scheduler.ctx.ecs().tasks[cluster_name][run.task_arn]
