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

import random
import re
from dataclasses import dataclass, field

from helpers.facts import RESERVED_HOST_PORTS as RESERVED_PORTS

CPU_UNITS_PER_VCPU = 1024
REGISTERED_MEMORY_RATIO = (7985, 8192)  # m4.large: registered / installed MiB (ECS guide)

# Why a container instance cannot take a task, in the order the checks run: the agent, the
# task's resources, then the placement constraints (ECS guide "Use strategies to define Amazon
# ECS task placement": requirements, then constraints, then strategies). The scheduler reports
# the instance that got furthest ("the closest matching container-instance").
NO_AGENT, NO_CPU, NO_MEMORY, NO_PORT, NO_ENI = "agent", "cpu", "memory", "port", "eni"
NOT_DISTINCT, NOT_MEMBER = "distinctInstance", "memberOf"
CHECK_ORDER = (NO_AGENT, NO_CPU, NO_MEMORY, NO_PORT, NO_ENI, NOT_DISTINCT, NOT_MEMBER)

# The sentences ECS ends its placement-failure event with (see `placement_failure_message`).
# The constraint errors are quoted from ECS output (containers-roadmap issues 723 and 1201;
# amazon-ecs-agent PR 3044); "doesn't have the agent connected" from amazon-ecs-deploy-task-definition issue 260.
UNMET_REQUIREMENT_TEXT = {
    NO_AGENT: "doesn't have the agent connected",
    NO_CPU: "has insufficient CPU units available",
    NO_MEMORY: "has insufficient memory available",
    NO_PORT: "is already using a port required by your task",
    # An awsvpc task on an instance whose ENIs are all in use: quoted from ECS output in a public
    # project's notes ('... encountered error "RESOURCE:ENI"'); not on an AWS page.
    NO_ENI: 'encountered error "RESOURCE:ENI"',
    NOT_DISTINCT: 'encountered error "DistinctInstance placement constraint unsatisfied."',
    NOT_MEMBER: 'encountered error "MemberOf placement constraint unsatisfied."',
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
    enis: int = 0  # awsvpc: the task's own network interface, attached to the instance


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
    enis_free: int | None = None  # ENIs the instance can still attach for awsvpc tasks (None: not counted)

    def host_port_range(self, default: tuple[int, int]) -> tuple[int, int]:
        return self.port_range or default

    def dynamic_ports_for(self, needs: TaskNeeds, default_range: tuple[int, int]) -> list[int]:
        """The dynamic host ports the agent would hand a task placed here now."""
        return free_ports(self.host_port_range(default_range), self.ports_in_use | set(needs.static_host_ports),
                          self.last_assigned_port, needs.dynamic_ports, self.reserved_ports)

    agent_connected: bool = True

    def unmet_requirement(self, needs: TaskNeeds, port_range: tuple[int, int]) -> str | None:
        """None if the task fits here, else which check failed first (NO_AGENT, NO_CPU, NO_MEMORY, NO_PORT, NO_ENI)."""
        if not self.agent_connected:
            return NO_AGENT
        if needs.cpu > self.cpu_free:
            return NO_CPU
        if needs.memory > self.memory_free:
            return NO_MEMORY
        taken = self.ports_in_use | self.reserved_ports
        if any(port in taken for port in needs.static_host_ports):
            return NO_PORT
        if needs.dynamic_ports and len(self.dynamic_ports_for(needs, port_range)) < needs.dynamic_ports:
            return NO_PORT
        if needs.enis and self.enis_free is not None and needs.enis > self.enis_free:
            return NO_ENI
        return None

    def take(self, needs: TaskNeeds, dynamic_ports: list[int]) -> None:
        """Book a placed task's resources (until the next reconcile recounts from the tasks)."""
        self.cpu_free -= needs.cpu
        self.memory_free -= needs.memory
        if self.enis_free is not None:
            self.enis_free -= needs.enis
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


# -- placement strategies and constraints (ECS API PlacementStrategy / PlacementConstraint) ---------
# Strategies: random; spread by instanceId (or host) or by any attribute:<name>; binpack by cpu or
# memory. At most 5 strategies and 10 constraints (ECS guide "Use strategies ..."/"... constraints").
MAX_STRATEGIES, MAX_CONSTRAINTS = 5, 10
INSTANCE_FIELDS = ("instanceId", "host")


@dataclass(frozen=True)
class Strategy:
    type: str  # "random", "spread", "binpack"
    field: str | None = None


@dataclass(frozen=True)
class Constraint:
    type: str  # "distinctInstance", "memberOf"
    expression: str | None = None


# A service's default: spread across Availability Zones (ECS guide "Use strategies to define Amazon
# ECS task placement"); within an AZ the console's default "AZ balanced spread" adds instanceId.
DEFAULT_STRATEGIES = (Strategy("spread", "attribute:ecs.availability-zone"), Strategy("spread", "instanceId"))


class PlacementError(ValueError):
    """A strategy or constraint ECS would reject, or one the sandbox does not model (said so)."""


def _at_most(raw: list, limit: int, what: str) -> None:
    if len(raw) > limit:
        raise PlacementError(f"at most {limit} {what} are allowed, got {len(raw)}")


def parse_strategies(raw: list[dict] | None) -> tuple[Strategy, ...]:
    """placementStrategy as sent to CreateService/UpdateService, checked; [] or None: the default."""
    if not raw:
        return DEFAULT_STRATEGIES
    _at_most(raw, MAX_STRATEGIES, "placement strategies")
    strategies = []
    for item in raw:
        kind, field_name = item.get("type"), item.get("field")
        if kind == "random":
            strategies.append(Strategy("random"))
        elif kind == "spread":
            if field_name not in INSTANCE_FIELDS and not (field_name or "").startswith("attribute:"):
                raise PlacementError(f"spread placement strategy field must be instanceId, host or attribute:<name>, "
                                     f"not {field_name!r}")
            strategies.append(Strategy("spread", "instanceId" if field_name == "host" else field_name))
        elif kind == "binpack":
            if field_name not in ("cpu", "memory"):
                raise PlacementError(f"binpack placement strategy field must be cpu or memory, not {field_name!r}")
            strategies.append(Strategy("binpack", field_name))
        else:
            raise PlacementError(f"placement strategy type must be random, spread or binpack, not {kind!r}")
    return tuple(strategies)


def parse_constraints(raw: list[dict] | None) -> tuple[Constraint, ...]:
    """placementConstraints as sent, checked (memberOf expressions parsed now, so a bad one fails the call)."""
    raw = raw or []
    _at_most(raw, MAX_CONSTRAINTS, "placement constraints")
    constraints = []
    for item in raw:
        kind, expression = item.get("type"), item.get("expression")
        if kind == "distinctInstance":
            if expression:
                raise PlacementError("a distinctInstance placement constraint takes no expression")
        elif kind == "memberOf":
            if not expression:
                raise PlacementError("a memberOf placement constraint needs an expression")
            parse_expression(expression)
        else:
            raise PlacementError(f"placement constraint type must be distinctInstance or memberOf, not {kind!r}")
        constraints.append(Constraint(kind, expression))
    return tuple(constraints)


# The part of ECS's cluster query language the sandbox evaluates (ECS guide "Create expressions
# to define container instances for Amazon ECS tasks"): `attribute:<name> <operator> <value>`
# clauses joined by `and` / `&&`. Anything else (or, parentheses, other subjects such as
# task:group or registeredAt) is rejected with a message that says so: never ignored.
_CLAUSE = re.compile(r"^attribute:(?P<name>[A-Za-z0-9_.:-]+)\s+(?P<op>==|equals|!=|not_equals|=~|matches|!~|not_matches"
                     r"|in|not_in)\s+(?P<value>\[[^\]]*\]|\S+)$|^attribute:(?P<ename>[A-Za-z0-9_.:-]+)\s+(?P<eop>exists|!exists)$")
_SPLIT_AND = re.compile(r"\s+(?:and|&&)\s+")
_OPERATOR = {"equals": "==", "not_equals": "!=", "matches": "=~", "not_matches": "!~"}


@dataclass(frozen=True)
class Clause:
    attribute: str
    operator: str  # ==, !=, =~, !~, in, not_in, exists, !exists
    values: tuple[str, ...] = ()

    def holds(self, attributes: dict[str, str]) -> bool:
        value = attributes.get(self.attribute)
        if self.operator in ("exists", "!exists"):
            return (value is not None) == (self.operator == "exists")
        if self.operator in ("==", "in"):
            return value in self.values
        if self.operator in ("!=", "not_in"):
            return value not in self.values
        matched = value is not None and re.fullmatch(self.values[0], value) is not None
        return matched if self.operator == "=~" else not matched


def parse_expression(expression: str) -> tuple[Clause, ...]:
    clauses = []
    for text in _SPLIT_AND.split(expression.strip()):
        match = _CLAUSE.match(text.strip())
        if match is None:
            raise PlacementError(
                f"the sandbox evaluates memberOf expressions of the form 'attribute:<name> <operator> <value>' "
                f"(==, !=, =~, !~, in [a, b], not_in [a, b], exists, !exists) joined by 'and'; it cannot evaluate "
                f"{text.strip()!r} in {expression!r}")
        if match.group("ename"):
            clauses.append(Clause(match.group("ename"), match.group("eop")))
            continue
        operator = _OPERATOR.get(match.group("op"), match.group("op"))
        value = match.group("value").strip()
        if operator in ("in", "not_in"):
            if not (value.startswith("[") and value.endswith("]")):
                raise PlacementError(f"'{operator}' takes a list such as [us-east-1a, us-east-1b], not {value!r}")
            values = tuple(v.strip() for v in value[1:-1].split(",") if v.strip())
        else:
            values = (value,)
            if operator in ("=~", "!~"):
                try:
                    re.compile(value)
                except re.error as error:
                    raise PlacementError(f"{value!r} is not a pattern: {error}") from None
        clauses.append(Clause(match.group("name"), operator, values))
    return tuple(clauses)


def unmet_constraint(room: InstanceRoom, constraints: tuple[Constraint, ...]) -> str | None:
    """None if `room` satisfies every constraint, else the first one it fails (NOT_DISTINCT, NOT_MEMBER)."""
    for constraint in constraints:
        if constraint.type == "distinctInstance" and room.service_tasks > 0:
            return NOT_DISTINCT
        if constraint.type == "memberOf" and not all(clause.holds(room.attributes)
                                                     for clause in parse_expression(constraint.expression)):
            return NOT_MEMBER
    return None


def _field_value(room: InstanceRoom, field_name: str) -> str:
    if field_name == "instanceId":
        return room.instance_id
    return room.attributes.get(field_name.removeprefix("attribute:"), "")


def _strategy_key(strategies: tuple[Strategy, ...], rooms: list[InstanceRoom], chance: random.Random):
    """A sort key: the best candidate first, strategy by strategy (the next one breaks ties)."""
    def key(room: InstanceRoom) -> tuple:
        parts: list = []
        for strategy in strategies:
            if strategy.type == "spread":
                # Fewest of this service's tasks where the field has this room's value.
                value = _field_value(room, strategy.field)
                parts.append(sum(other.service_tasks for other in rooms if _field_value(other, strategy.field) == value))
            elif strategy.type == "binpack":
                parts.append(room.cpu_free if strategy.field == "cpu" else room.memory_free)  # least left first
            else:
                parts.append(chance.random())
        # Our tie-break (not documented by AWS): fewest tasks of the service, then fewest tasks, then registration order.
        return (*parts, room.service_tasks, room.all_tasks)
    return key


def place(rooms: list[InstanceRoom], needs: TaskNeeds, port_range: tuple[int, int],
          strategies: tuple[Strategy, ...] = DEFAULT_STRATEGIES, constraints: tuple[Constraint, ...] = (),
          chance: random.Random | None = None) -> Placement:
    """Pick an instance for one task: those that fit (agent, CPU, memory, ports), then those that
    meet every constraint, then the best by the strategies in order (the default: spread across
    AZs, then instances)."""
    def unmet(room: InstanceRoom) -> str | None:
        return room.unmet_requirement(needs, port_range) or unmet_constraint(room, constraints)

    fitting = [room for room in rooms if unmet(room) is None]
    if fitting:
        return Placement(min(fitting, key=_strategy_key(strategies, rooms, chance or random.Random())))
    if not rooms:
        return Placement(None)
    closest = max(rooms, key=lambda room: CHECK_ORDER.index(unmet(room)))
    return Placement(None, closest, unmet(closest))


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
