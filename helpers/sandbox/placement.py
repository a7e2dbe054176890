"""The ECS decisions that need no AWS at all: where a task fits, which host port it gets,
which tasks a scale-in stops. Plain data in, plain data out (the scheduler feeds it from moto).

Sources for the numbers:
- Reserved host ports 22, 2375, 2376, 51678-51680: `facts.RESERVED_HOST_PORTS` (ECS API
  PortMapping; the agent README's default `ECS_RESERVED_PORTS`).
- Dynamic host ports: the agent (>= 1.70) picks them itself, *the next free port after the last
  one it assigned*, wrapping around to the start of the range (amazon-ecs-agent
  `ecs-agent/utils/ephemeral_ports.go`, `getNumOfHostPorts`). Not random - so sandbox runs are
  reproducible, and a replacement task gets a different port from the task it replaces.
- CPU: 1024 units per vCPU (ECS Developer Guide, task definition parameters "cpu").
- Memory: the agent registers what the OS reports, less than the installed amount; the ECS
  guide's example is an m4.large with 8192 MiB installed registering 7985 MiB ("Reserving Amazon
  ECS Linux container instance memory"). We scale every instance type by that ratio, so a
  t3.small (2048 MiB) registers 1996 MiB. The exact t3.small figure is not published.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from helpers.facts import RESERVED_HOST_PORTS as RESERVED_PORTS

CPU_UNITS_PER_VCPU = 1024
REGISTERED_MEMORY_RATIO = (7985, 8192)  # m4.large: registered / installed MiB (ECS guide)

# Why a container instance cannot take a task, in the order the checks run. The scheduler
# reports the instance that got furthest ("the closest matching container-instance").
NO_CPU, NO_MEMORY, NO_PORT = "cpu", "memory", "port"
CHECK_ORDER = (NO_CPU, NO_MEMORY, NO_PORT)

# The sentences ECS ends its placement-failure event with (see `placement_failure_message`).
UNMET_REQUIREMENT_TEXT = {
    NO_CPU: "has insufficient CPU units available",
    NO_MEMORY: "has insufficient memory available",
    NO_PORT: "is already using a port required by your task",
}


def registered_resources(vcpus: int, memory_mib: int) -> tuple[int, int]:
    """(CPU units, MiB) an instance registers with ECS, e.g. t3.small (2 vCPU, 2048 MiB) -> (2048, 1996)."""
    registered, installed = REGISTERED_MEMORY_RATIO
    return vcpus * CPU_UNITS_PER_VCPU, memory_mib * registered // installed


@dataclass(frozen=True)
class TaskNeeds:
    """What one task asks of a container instance."""

    cpu: int = 0
    memory: int = 0
    static_host_ports: tuple[int, ...] = ()  # bridge hostPort N, or host-mode containerPort
    dynamic_ports: int = 0  # bridge hostPort 0/omitted: the agent picks


@dataclass
class InstanceRoom:
    """A container instance as placement sees it: what is left, and which host ports are taken."""

    container_instance_id: str
    instance_id: str
    cpu_free: int
    memory_free: int
    ports_in_use: set[int] = field(default_factory=set)  # static and dynamic ports of live tasks
    service_tasks: int = 0  # tasks of the service being placed
    all_tasks: int = 0
    last_assigned_port: int = 0  # the agent's tracker: 0 = none assigned yet
    # The agent's own settings (agent_config.py): its dynamic range (None = the region's) and reserved ports.
    port_range: tuple[int, int] | None = None
    reserved_ports: frozenset[int] = RESERVED_PORTS
    attributes: dict[str, str] = field(default_factory=dict)  # e.g. ecs.availability-zone, ecs.instance-type

    def host_port_range(self, default: tuple[int, int]) -> tuple[int, int]:
        return self.port_range or default

    def dynamic_ports_for(self, needs: TaskNeeds, default_range: tuple[int, int]) -> list[int]:
        """The dynamic host ports the agent would hand a task placed here now."""
        return free_ports(self.host_port_range(default_range), self.ports_in_use | set(needs.static_host_ports),
                          self.last_assigned_port, needs.dynamic_ports, self.reserved_ports)

    def unmet_requirement(self, needs: TaskNeeds, port_range: tuple[int, int]) -> str | None:
        """None if the task fits here, else which check failed first (NO_CPU, NO_MEMORY, NO_PORT)."""
        if needs.cpu > self.cpu_free:
            return NO_CPU
        if needs.memory > self.memory_free:
            return NO_MEMORY
        taken = self.ports_in_use | self.reserved_ports
        if any(port in taken for port in needs.static_host_ports):
            return NO_PORT
        if needs.dynamic_ports and len(self.dynamic_ports_for(needs, port_range)) < needs.dynamic_ports:
            return NO_PORT
        return None

    def take(self, needs: TaskNeeds, dynamic_ports: list[int]) -> None:
        """Book a placed task's resources (until the next reconcile recounts from the tasks)."""
        self.cpu_free -= needs.cpu
        self.memory_free -= needs.memory
        self.ports_in_use.update(needs.static_host_ports, dynamic_ports)
        if dynamic_ports:
            self.last_assigned_port = dynamic_ports[-1]
        self.service_tasks += 1
        self.all_tasks += 1


def free_ports(port_range: tuple[int, int], taken: set[int], last_assigned: int, count: int,
               reserved: frozenset[int] = RESERVED_PORTS) -> list[int]:
    """Up to `count` free ports, searching from `last_assigned + 1` and wrapping to the range start,
    as the ECS agent does (one port at a time, each after the previous); never a `reserved` one."""
    if count <= 0:
        return []
    low, high = port_range
    start = last_assigned + 1 if low <= last_assigned < high else low
    found: list[int] = []
    for port in list(range(start, high + 1)) + list(range(low, start)):
        if port not in taken and port not in reserved:
            found.append(port)
            if len(found) == count:
                break
    return found


@dataclass(frozen=True)
class Placement:
    room: InstanceRoom | None  # where the task goes; None if nowhere
    closest: InstanceRoom | None = None  # when nowhere: the instance that came closest
    unmet: str | None = None  # ... and what it lacked


def place(rooms: list[InstanceRoom], needs: TaskNeeds, port_range: tuple[int, int]) -> Placement:
    """Pick an instance for one task, spreading: fewest tasks of this service, then fewest tasks
    overall, then the order given (registration order). ECS's default spread is by
    availability zone and instance; with one instance per AZ, as here, that is the same."""
    fitting = [room for room in rooms if room.unmet_requirement(needs, port_range) is None]
    if fitting:
        return Placement(min(fitting, key=lambda room: (room.service_tasks, room.all_tasks)))
    if not rooms:
        return Placement(None)
    closest = max(rooms, key=lambda room: CHECK_ORDER.index(room.unmet_requirement(needs, port_range)))
    return Placement(None, closest, closest.unmet_requirement(needs, port_range))


def placement_failure_message(service_name: str, placement: Placement) -> str:
    """The service event ECS writes when it cannot place a task. Wording from the ECS API
    reference's DescribeServices example (botocore `ecs` examples-1.json) and the ECS guide's
    "Amazon ECS service event messages"."""
    start = f"(service {service_name}) was unable to place a task because no container instance met all of its requirements."
    tail = "For more information, see the Troubleshooting section of the Amazon ECS Developer Guide."
    if placement.closest is None:
        return f"{start} Reason: No Container Instances were found in your cluster. {tail}"
    return (f"{start} The closest matching (container-instance {placement.closest.container_instance_id}) "
            f"{UNMET_REQUIREMENT_TEXT[placement.unmet]}. {tail}")


@dataclass(frozen=True)
class RunningTask:
    """A task a scale-in could stop."""

    task_arn: str
    instance_id: str
    started: bool  # False while still PROVISIONING/PENDING
    sequence: int  # start order: higher = newer


def tasks_to_stop(tasks: list[RunningTask], count: int) -> list[str]:
    """Which tasks a scale-in stops: tasks not started yet first, then one at a time from the
    instance running most of the service's tasks (keeps the spread), newest first."""
    remaining = sorted(tasks, key=lambda task: (task.started, -task.sequence))
    chosen: list[str] = []
    while remaining and len(chosen) < count:
        if not remaining[0].started:
            victim = remaining[0]
        else:
            per_instance: dict[str, int] = {}
            for task in remaining:
                per_instance[task.instance_id] = per_instance.get(task.instance_id, 0) + 1
            busiest = max(per_instance.values())
            victim = next(task for task in remaining if per_instance[task.instance_id] == busiest)
        chosen.append(victim.task_arn)
        remaining.remove(victim)
    return chosen
