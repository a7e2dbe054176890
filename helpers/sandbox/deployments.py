"""ECS rolling updates (the ECS deployment controller): what starts a deployment, and how many
tasks one step may start and stop.

- A new task definition, `forceNewDeployment`, or a changed load balancer or network
  configuration starts a deployment: a new `PRIMARY` one, the previous ones `ACTIVE` until their
  tasks are gone; `rolloutState` IN_PROGRESS, then COMPLETED (ECS API UpdateService, Deployment).
- `minimumHealthyPercent` (default 100, rounded up) is the floor of RUNNING-and-healthy tasks;
  `maximumPercent` (default 200, rounded down) the ceiling of tasks alive at once. New tasks count
  as healthy once they pass the load balancer's health checks (ECS API DeploymentConfiguration;
  ECS guide "Deploy Amazon ECS services by replacing tasks").

The scheduler (scheduler.py) applies `plan` every reconcile while a service has more than one
deployment. Static host ports in bridge mode leave no room for an extra copy, so with 100/200 the
rollout cannot place new tasks (the port-conflict event) and keeps the old ones; 50/100 stops one
old task first and proceeds one instance at a time. Not emulated: the deployment circuit breaker
and rollback (a service that asks for them gets an event saying so - unsupported.py).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from moto.core.utils import utcnow

DEFAULT_MINIMUM_HEALTHY_PERCENT = 100
DEFAULT_MAXIMUM_PERCENT = 200


@dataclass(frozen=True)
class Step:
    start: int  # new tasks to place now
    stop_old: int  # old tasks to stop now


def percents(service) -> tuple[int, int]:
    """(minimumHealthyPercent, maximumPercent) of a service, AWS's defaults where not set."""
    configuration = getattr(service, "deployment_configuration", None) or {}
    minimum = configuration.get("minimumHealthyPercent")
    maximum = configuration.get("maximumPercent")
    return (DEFAULT_MINIMUM_HEALTHY_PERCENT if minimum is None else int(minimum),
            DEFAULT_MAXIMUM_PERCENT if maximum is None else int(maximum))


def plan(desired: int, minimum_percent: int, maximum_percent: int, *, new_live: int, new_healthy: int,
         old_live: int) -> Step:
    """How many new tasks to start and old ones to stop, keeping at least `minimum` healthy and at
    most `maximum` alive (old tasks still running count as healthy: they served before)."""
    maximum = desired * maximum_percent // 100
    minimum = math.ceil(desired * minimum_percent / 100)
    start = max(0, min(desired - new_live, maximum - new_live - old_live))
    stop_old = max(0, min(old_live, new_healthy + old_live - minimum))
    return Step(start, stop_old)


def new_deployment_id() -> str:
    return f"ecs-svc/{random.randint(10**18, 10**19 - 1)}"  # ECS's form: 19 digits


def begin(service) -> dict:
    """Start a deployment: a new PRIMARY for the service's current task definition; the others ACTIVE."""
    now = utcnow()
    deployment_id = new_deployment_id()
    primary = {
        "id": deployment_id, "status": "PRIMARY", "taskDefinition": service.task_definition,
        "desiredCount": service.desired_count, "pendingCount": 0, "runningCount": 0, "failedTasks": 0,
        "createdAt": now, "updatedAt": now, "launchType": service.launch_type,
        "rolloutState": "IN_PROGRESS", "rolloutStateReason": f"ECS deployment {deployment_id} in progress.",
    }
    if service.deployments:
        primary = {**service.deployments[0], **primary}  # keep moto's other members (platform, network)
    for deployment in service.deployments:
        deployment["status"] = "ACTIVE"
    service.deployments.insert(0, primary)
    return primary


def finish_old(service) -> None:
    """The old deployments' tasks are gone: only the PRIMARY remains."""
    del service.deployments[1:]


def needs_new_deployment(before: dict, service, force: bool) -> bool:
    """UpdateService starts a deployment for a new task definition, forceNewDeployment, or a changed
    load balancer or network configuration (ECS API UpdateService)."""
    return force or any(before[key] != getattr(service, key) for key in before)


def watched(service) -> dict:
    """What UpdateService may change that starts a deployment."""
    return {"task_definition": service.task_definition, "load_balancers": list(service.load_balancers),
            "network_configuration": getattr(service, "network_configuration", None)}


# -- the deployment circuit breaker ----------------------------------------------------------------

def circuit_breaker(service) -> dict:
    configuration = getattr(service, "deployment_configuration", None) or {}
    return configuration.get("deploymentCircuitBreaker") or {}


def failure_threshold(desired: int) -> int:
    return min(200, max(3, math.ceil(0.5 * desired)))


def count_failure(service, deployment_id: str) -> None:
    """A task of this deployment failed (exited, did not start, or failed its health checks)."""
    for deployment in service.deployments:
        if deployment["id"] == deployment_id:
            deployment["failedTasks"] = deployment.get("failedTasks", 0) + 1


def tripped(service) -> bool:
    """The PRIMARY deployment, still in progress, has reached the breaker's threshold."""
    primary = service.deployments[0]
    return (bool(circuit_breaker(service).get("enable")) and primary.get("rolloutState") == "IN_PROGRESS"
            and primary.get("failedTasks", 0) >= failure_threshold(service.desired_count))


FAILED_REASON = "ECS deployment circuit breaker: tasks failed to start."  # unconfirmed wording


def fail(service) -> dict | None:
    """Mark the PRIMARY deployment FAILED; with rollback, begin a deployment of the last completed
    one's task definition and return it."""
    primary = service.deployments[0]
    primary["rolloutState"], primary["rolloutStateReason"] = "FAILED", FAILED_REASON
    if not circuit_breaker(service).get("rollback") or len(service.deployments) < 2:
        return None
    service.task_definition = service.deployments[1]["taskDefinition"]
    return begin(service)


def failed_message(service_name: str, deployment_id: str) -> str:
    return f"(service {service_name}) (deployment {deployment_id}) deployment failed: tasks failed to start."  # unconfirmed


def rolling_back_message(service_name: str, deployment_id: str, to_task_definition: str) -> str:
    # The sandbox's words: AWS's rollback event text is not in its references.
    return (f"(service {service_name}) (deployment {deployment_id}) rolling back to "
            f"{to_task_definition.rsplit('/', 1)[-1]}, the last completed deployment's task definition.")
