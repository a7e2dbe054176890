"""ECS: CreateService and UpdateService keep `placementStrategy` and `placementConstraints` (moto
drops both), after checking them as ECS does; what the sandbox cannot evaluate is refused with a
message that says so, never ignored. The scheduler places tasks by them (placement.py)."""

from __future__ import annotations

from moto.ecs.exceptions import InvalidParameterException
from moto.ecs.responses import EC2ContainerServiceResponse

from helpers.sandbox import placement
from helpers.sandbox.moto_fixes._patching import wrap


def install() -> None:
    wrap(EC2ContainerServiceResponse, "create_service", _keep_placement)
    wrap(EC2ContainerServiceResponse, "update_service", _keep_placement)
    wrap(EC2ContainerServiceResponse, "run_task", _refuse_standalone_placement)


def _refuse_standalone_placement(original, self: EC2ContainerServiceResponse):
    # Why: the sandbox places standalone tasks by its default spread only; RunTask's own placement
    # strategies and constraints would be ignored - say so instead (issue 10: never silent).
    for name in ("placementStrategy", "placementConstraints"):
        if self._get_param(name):
            raise InvalidParameterException(f"the sandbox does not apply {name} to RunTask (only to services); "
                                            f"leave it out, or use a service")
    return original(self)


def _keep_placement(original, self: EC2ContainerServiceResponse):
    # Why: moto ignores both parameters; ECS places the service's tasks by them (ECS API
    # CreateService/UpdateService placementStrategy, placementConstraints; ECS guide "Use
    # strategies to define Amazon ECS task placement").
    strategies, constraints = self._get_param("placementStrategy"), self._get_param("placementConstraints")
    try:
        placement.parse_strategies(strategies)
        placement.parse_constraints(constraints)
    except placement.PlacementError as error:
        raise InvalidParameterException(str(error)) from None
    result = original(self)
    if strategies is None and constraints is None:
        return result
    cluster = self._get_param("cluster", "default")
    name = self._get_param("serviceName") or self._get_param("service")
    service = self.ecs_backend.describe_services(cluster, [name])[0][0]
    if strategies is not None:
        service.placement_strategy = strategies
    if constraints is not None:
        service.placement_constraints = constraints
    return result
