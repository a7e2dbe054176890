"""What AWS would run and this sandbox does not (yet), said in plain words - never a task that
silently never starts (issue 9). One place decides it; RunTask/StartTask refuse with an error
(standalone_tasks.py) and a service gets an event (scheduler.py). These words are the sandbox's,
not AWS's."""

from __future__ import annotations

RUNS = ("It runs EC2 tasks (bridge, host, awsvpc) and Fargate tasks (launch type FARGATE), "
        "deployed by the ECS deployment controller.")


def not_run(definition, *, launch_type: str | None, capacity_provider_strategy=None,
            deployment_controller: dict | None = None) -> str | None:
    """What the sandbox does not run here, in words ("tasks with launch type EXTERNAL"), or None if it runs it.
    Capacity provider strategies - FARGATE and FARGATE_SPOT among them - are refused: the sandbox
    has no capacity providers (launch type FARGATE runs, fargate.py)."""
    if capacity_provider_strategy:
        return "tasks placed through a capacity provider strategy (use launchType EC2 or FARGATE)"
    if launch_type not in (None, "", "EC2", "FARGATE"):
        return f"tasks with launch type {launch_type}"
    controller = (deployment_controller or {}).get("type", "ECS")
    if controller != "ECS":
        return f"services with the {controller} deployment controller"
    return None


def refusal(what: str) -> str:
    return f"This sandbox does not run {what} (AWS would). {RUNS}"


def service_event(service_name: str, what: str) -> str:
    return f"(service {service_name}) This sandbox does not run {what} (AWS would), so it starts no tasks. {RUNS}"
