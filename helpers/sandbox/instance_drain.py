"""Container instance draining: how fast a service's tasks move off DRAINING instances. Pure.

AWS (ECS guide "Draining Amazon ECS container instances"; ECS API UpdateContainerInstancesState):
- A DRAINING instance gets no new tasks.
- A service's PENDING tasks on it are stopped at once.
- Its RUNNING service tasks are replaced within the service's deployment configuration: at most
  `maximumPercent` of the desired count run at once (so replacements start first), and at least
  `minimumHealthyPercent` stay healthy (at 100 % an old task stops only once its replacement is
  healthy). Defaults for a REPLICA service: 100 and 200 (ECS API DeploymentConfiguration).
- Tasks not started by a service keep running.

The stopped reason AWS shows on a task drained off an instance is not documented; ours is
`DRAINED_REASON`, with the stop code ServiceSchedulerInitiated.
"""

from __future__ import annotations

import math
from typing import Any

DEFAULT_MINIMUM_HEALTHY_PERCENT, DEFAULT_MAXIMUM_PERCENT = 100, 200
DRAINED_REASON = "Container instance is DRAINING: the service scheduler moved this task to another instance"


def deployment_percents(service: Any) -> tuple[int, int]:
    """(minimumHealthyPercent, maximumPercent) of a service, AWS's defaults where unset."""
    configuration = getattr(service, "deployment_configuration", None) or {}
    return (int(configuration.get("minimumHealthyPercent", DEFAULT_MINIMUM_HEALTHY_PERCENT)),
            int(configuration.get("maximumPercent", DEFAULT_MAXIMUM_PERCENT)))


def launch_allowance(missing: int, live: int, desired: int, maximum_percent: int) -> int:
    """How many of `missing` tasks may start now: live tasks (old ones on draining instances
    included) stay within maximumPercent of the desired count."""
    ceiling = math.floor(desired * maximum_percent / 100)
    return max(0, min(missing, ceiling - live))


def stop_allowance(leaving: int, healthy: int, desired: int, minimum_healthy_percent: int) -> int:
    """How many tasks on draining instances may stop now without going below minimumHealthyPercent
    of the desired count (`healthy` counts every healthy task, the leaving ones too)."""
    floor = math.ceil(desired * minimum_healthy_percent / 100)
    return max(0, min(leaving, healthy - floor))
