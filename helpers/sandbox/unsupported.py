"""What AWS would run and this sandbox does not (yet), said in plain words - never a task that
silently never starts (issue 9). One place decides it; RunTask/StartTask refuse with an error
(standalone_tasks.py) and a service gets an event (scheduler.py). These words are the sandbox's,
not AWS's."""

from __future__ import annotations

from helpers.sandbox import capacity_providers

RUNS = ("It runs EC2 tasks (bridge, host, awsvpc) and Fargate tasks (launch type FARGATE, or the FARGATE / "
        "FARGATE_SPOT capacity providers - FARGATE_SPOT tasks are never interrupted here), deployed by the ECS "
        "deployment controller.")


def not_run(definition, *, launch_type: str | None, capacity_provider_strategy=None,
            deployment_controller: dict | None = None) -> str | None:
    """What the sandbox does not run here, in words ("tasks with launch type EXTERNAL"), or None if it runs it.
    A strategy of the FARGATE / FARGATE_SPOT providers runs on Fargate (capacity_providers.py);
    capacity providers backed by an Auto Scaling group are refused: the sandbox has no Auto Scaling."""
    if capacity_provider_strategy and not capacity_providers.on_fargate(capacity_provider_strategy):
        return ("tasks placed through a capacity provider strategy with Auto Scaling group providers "
                "(use launchType EC2 or FARGATE, or the FARGATE / FARGATE_SPOT capacity providers)")
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
