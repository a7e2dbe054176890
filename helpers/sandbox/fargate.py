"""Fargate: awsvpc tasks without container instances.

A task with launch type FARGATE (a service's, or RunTask's) is placed on no instance: it gets its
own ENI in one of the subnets its `networkConfiguration` names - a private IP, the security groups
given, and a public IP only with `assignPublicIp` ENABLED - registers `taskIP:containerPort` in
`ip` target groups, and runs a real container process reached at that IP, like an awsvpc task on
EC2 (awsvpc.py; ECS guide "Amazon ECS task networking options for Fargate").

AWS's checks, with the texts in `helpers/facts.py`:
- RegisterTaskDefinition with FARGATE in `requiresCompatibilities`: network mode awsvpc, and
  task-level `cpu` and `memory` in one of Fargate's combinations (`facts.FARGATE_CPU_MEMORY`),
  else ClientException (ECS API RegisterTaskDefinition; ECS guide "Troubleshoot Amazon ECS task
  definition invalid CPU or memory errors").
- CreateService / UpdateService / RunTask with launch type FARGATE: the task definition must
  require FARGATE, else InvalidParameterException "Task definition does not support launch_type
  FARGATE."; awsvpc needs subnets (moto_fixes/ecs.py).

The sandbox's choices (AWS does not document them): a service's (or RunTask group's) tasks go
to its subnets in turn, the subnet with the fewest of its live tasks first (AWS spreads Fargate
tasks across Availability Zones; how exactly is not published); the platform version shown is
`LINUX_PLATFORM`.

What the sandbox does not model, said plainly:
- the image pull: a Fargate task pulls its image over its own ENI, so on AWS a task in a subnet
  with no route to the registry (no public IP in a public subnet, no NAT gateway, no VPC
  endpoints) fails to start with CannotPullContainerError - here it starts anyway;
- a task's public IP is shown on its ENI, but the internet (the SOCKS proxy) reaches only the ALB
  and instances, so a request to the task's public IP itself is not answered as AWS would;
- Fargate capacity is never short, FARGATE_SPOT is never interrupted (a strategy of the FARGATE /
  FARGATE_SPOT capacity providers runs here too: capacity_providers.py); ephemeral storage,
  platform versions and Windows are not checked.
Called under `ctx.lock`.
"""

from __future__ import annotations

import re

from moto.ecs.exceptions import EcsClientException, InvalidParameterException

from helpers.facts import (FARGATE_CPU_MEMORY, FARGATE_INVALID_CPU, FARGATE_NEEDS_TASK_LEVEL,
                           FARGATE_NETWORK_MODE_ONLY_AWSVPC, FARGATE_NO_CONFIGURATION, LAUNCH_TYPE_NOT_SUPPORTED)

FARGATE = "FARGATE"
LINUX_PLATFORM = "1.4.0"  # what LATEST means for Linux tasks (ECS guide "Fargate Linux platform versions")

_VCPU = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*vcpu\s*$", re.IGNORECASE)
_GB = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*gb\s*$", re.IGNORECASE)


def runs_on_fargate(launch_type: str | None) -> bool:
    return launch_type == FARGATE


def requires_fargate(definition) -> bool:
    return FARGATE in (getattr(definition, "requires_compatibilities", None) or [])


def check_task_definition(network_mode: str | None, requires_compatibilities, cpu, memory) -> None:
    """RegisterTaskDefinition's Fargate checks, in the order AWS reports them (ClientException)."""
    if FARGATE not in (requires_compatibilities or []):
        return
    # The default network mode is bridge even here (ECS API RegisterTaskDefinition, networkMode).
    if network_mode != "awsvpc":
        raise EcsClientException(FARGATE_NETWORK_MODE_ONLY_AWSVPC)
    for what, value in (("cpu", cpu), ("memory", memory)):
        if value in (None, ""):
            raise EcsClientException(FARGATE_NEEDS_TASK_LEVEL.format(what=what))
    units = task_cpu_units(cpu)
    if units not in FARGATE_CPU_MEMORY:
        raise EcsClientException(FARGATE_INVALID_CPU)
    if task_memory_mib(memory) not in FARGATE_CPU_MEMORY[units]:
        raise EcsClientException(FARGATE_NO_CONFIGURATION)


def task_cpu_units(cpu) -> int | None:
    """'256' or '0.25 vCPU' as CPU units (ECS API TaskDefinition cpu: 1024 units per vCPU); None if neither."""
    return _in_units(cpu, _VCPU)


def task_memory_mib(memory) -> int | None:
    """'512' or '0.5 GB' as MiB (ECS API TaskDefinition memory); None if neither."""
    return _in_units(memory, _GB)


def _in_units(value, with_unit: re.Pattern) -> int | None:
    # A whole number is already in units (CPU units, MiB); "N vCPU" / "N GB" is N x 1024 of them.
    text = str(value)
    if text.isdigit():
        return int(text)
    match = with_unit.match(text)
    return round(float(match.group(1)) * 1024) if match else None


def check_launch_type(definition, launch_type: str | None) -> None:
    """A FARGATE service or RunTask needs a task definition that requires FARGATE."""
    if runs_on_fargate(launch_type) and definition is not None and not requires_fargate(definition):
        raise InvalidParameterException(LAUNCH_TYPE_NOT_SUPPORTED.format(launch_type=launch_type))


def subnet_for(subnet_ids: list[str], busy_subnets: list[str]) -> str:
    """The subnet for one more task: the one holding the fewest of `busy_subnets` (the group's live
    tasks' subnets), in the order given. The sandbox's choice (see the module docstring)."""
    return min(subnet_ids, key=lambda subnet_id: busy_subnets.count(subnet_id))


def availability_zone(ec2, subnet_id: str) -> str:
    return ec2.get_subnet(subnet_id).availability_zone
