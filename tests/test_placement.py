"""Placement decisions, without any AWS: resources, host ports, spread, scale-in choice."""

from __future__ import annotations

import pytest

from helpers.sandbox.placement import (
    NO_AGENT,
    NO_CPU,
    NO_ENI,
    NO_MEMORY,
    NO_PORT,
    NOT_DISTINCT,
    NOT_MEMBER,
    InstanceRoom,
    Placement,
    PlacementError,
    RunningTask,
    TaskNeeds,
    free_ports,
    parse_constraints,
    parse_strategies,
    place,
    placement_failure_message,
    registered_resources,
    tasks_to_stop,
)

RANGE = (32768, 60999)
TOMCAT = TaskNeeds(cpu=256, memory=256, dynamic_ports=1)
STATIC_8081 = TaskNeeds(cpu=256, memory=256, static_host_ports=(8081,))


def room(name: str, cpu: int = 2048, memory: int = 1996, ports=(), service_tasks: int = 0, last: int = 0) -> InstanceRoom:
    return InstanceRoom(f"ci-{name}", f"i-{name}", cpu, memory, set(ports), service_tasks, service_tasks, last)


def test_t3_small_registers_2048_cpu_units_and_1996_mib():
    assert registered_resources(2, 2048) == (2048, 1996)
    assert registered_resources(2, 8192) == (2048, 7985)  # the ECS guide's m4.large example


def test_first_dynamic_port_is_the_bottom_of_the_range():
    assert free_ports(RANGE, set(), 0, 1) == [32768]


def test_next_port_follows_the_last_assigned_one_even_when_lower_ports_are_free():
    # The agent does not reuse a just-freed port: the replacement of a task gets a new port.
    assert free_ports(RANGE, set(), 32768, 1) == [32769]


def test_ports_in_use_are_skipped():
    assert free_ports(RANGE, {32769, 32770}, 32768, 2) == [32771, 32772]


def test_search_wraps_around_to_the_start_of_the_range():
    assert free_ports((100, 103), {101}, 103, 2) == [100, 102]
    assert free_ports((100, 103), {100}, 102, 2) == [103, 101]


def test_reserved_ports_are_never_handed_out():
    assert free_ports((2374, 2377), set(), 0, 4) == [2374, 2377]
    # 51678-51680 too: the ECS API's PortMapping lists 51680 beside the agent's two ports.
    assert free_ports((51677, 51681), set(), 0, 5) == [51677, 51681]


def test_a_task_without_dynamic_ports_takes_none():
    assert free_ports(RANGE, set(), 0, 0) == []
    static = room("a")
    static.take(STATIC_8081, free_ports(RANGE, static.ports_in_use, 0, STATIC_8081.dynamic_ports))
    assert (static.ports_in_use, static.last_assigned_port) == ({8081}, 0)


def test_a_full_range_gives_fewer_ports():
    assert free_ports((100, 101), {100, 101}, 0, 1) == []


def test_task_goes_to_the_instance_with_fewest_tasks_of_the_service():
    a, b = room("a", service_tasks=2), room("b", service_tasks=1)
    assert place([a, b], TOMCAT, RANGE).room is b


def test_tie_keeps_registration_order():
    a, b = room("a"), room("b")
    assert place([a, b], TOMCAT, RANGE).room is a


def test_taking_a_placement_books_resources_and_the_port():
    a = room("a")
    a.take(TOMCAT, [32768])
    assert (a.cpu_free, a.memory_free, a.ports_in_use, a.last_assigned_port, a.service_tasks) == (1792, 1740, {32768}, 32768, 1)


def test_three_spread_tasks_on_two_instances():
    rooms = [room("a"), room("b")]
    chosen = []
    for _ in range(3):
        target = place(rooms, TOMCAT, RANGE).room
        target.take(TOMCAT, free_ports(RANGE, target.ports_in_use, target.last_assigned_port, 1))
        chosen.append((target.instance_id, max(target.ports_in_use)))
    assert chosen == [("i-a", 32768), ("i-b", 32768), ("i-a", 32769)]


def test_static_host_port_fits_once_per_instance():
    a = room("a", ports={8081})
    b = room("b")
    assert place([a, b], STATIC_8081, RANGE).room is b
    b.ports_in_use.add(8081)
    result = place([a, b], STATIC_8081, RANGE)
    assert result.room is None and result.unmet == NO_PORT and result.closest is a


def test_static_reserved_port_does_not_fit():
    assert room("a").unmet_requirement(TaskNeeds(static_host_ports=(22,)), RANGE) == NO_PORT


def test_cpu_and_memory_are_checked_before_ports():
    assert room("a", cpu=100).unmet_requirement(STATIC_8081, RANGE) == NO_CPU
    assert room("a", memory=100).unmet_requirement(STATIC_8081, RANGE) == NO_MEMORY


def test_closest_match_is_the_instance_that_passed_most_checks():
    short_of_cpu, port_taken = room("a", cpu=0), room("b", ports={8081})
    result = place([short_of_cpu, port_taken], STATIC_8081, RANGE)
    assert (result.closest, result.unmet) == (port_taken, NO_PORT)


def test_port_failure_message_is_the_one_ecs_writes():
    closest = room("3f4de1c5")
    message = placement_failure_message("ecs-simple-service", Placement(None, closest, NO_PORT))
    # The ECS API reference's DescribeServices example (botocore ecs examples-1.json).
    assert message == (
        "(service ecs-simple-service) was unable to place a task because no container instance met all of its "
        "requirements. The closest matching (container-instance ci-3f4de1c5) is already using a port required by "
        "your task. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.")


def test_an_awsvpc_task_needs_a_spare_eni_and_takes_one():
    awsvpc_task = TaskNeeds(cpu=256, memory=256, enis=1)
    one_left = InstanceRoom("ci-a", "i-a", 2048, 1996, enis_free=1)
    assert one_left.unmet_requirement(awsvpc_task, RANGE) is None
    one_left.take(awsvpc_task, [])
    assert one_left.unmet_requirement(awsvpc_task, RANGE) == NO_ENI
    assert one_left.unmet_requirement(TOMCAT, RANGE) is None  # a bridge task needs no ENI of its own
    message = placement_failure_message("web", place([one_left], awsvpc_task, RANGE))
    assert message.endswith('The closest matching (container-instance ci-a) encountered error "RESOURCE:ENI". '
                            "For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.")


def test_no_instances_message():
    message = placement_failure_message("web", place([], TOMCAT, RANGE))
    assert "Reason: No Container Instances were found in your cluster." in message


def test_scale_in_stops_pending_tasks_first_then_keeps_the_spread():
    tasks = [
        RunningTask("t1", "i-a", True, 1),
        RunningTask("t2", "i-b", True, 2),
        RunningTask("t3", "i-a", True, 3),
        RunningTask("t4", "i-b", False, 4),
    ]
    assert tasks_to_stop(tasks, 1) == ["t4"]
    assert tasks_to_stop(tasks, 2) == ["t4", "t3"]  # then the newest on the busiest instance
    assert tasks_to_stop(tasks, 3) == ["t4", "t3", "t2"]


# -- strategies and constraints -------------------------------------------------------------------

def zoned(name: str, zone: str, service_tasks: int = 0, memory: int = 1996, instance_type: str = "t3.small") -> InstanceRoom:
    placed = room(name, memory=memory, service_tasks=service_tasks)
    placed.attributes = {"ecs.availability-zone": zone, "ecs.instance-type": instance_type}
    return placed


def test_default_spreads_across_zones_before_instances():
    a1, a2, b1 = zoned("a1", "zone-a", 1), zoned("a2", "zone-a"), zoned("b1", "zone-b")
    assert place([a1, a2, b1], TOMCAT, RANGE).room is b1  # a2 is empty, but zone-a already has a task


def test_binpack_on_memory_fills_the_fullest_instance_that_still_fits():
    roomy, tight = zoned("roomy", "zone-a", memory=1996), zoned("tight", "zone-b", memory=512)
    strategies = parse_strategies([{"type": "binpack", "field": "memory"}])
    assert place([roomy, tight], TOMCAT, RANGE, strategies).room is tight


def test_spread_by_instance_id_ignores_zones():
    a1, a2, b1 = zoned("a1", "zone-a"), zoned("a2", "zone-a"), zoned("b1", "zone-b", 1)
    strategies = parse_strategies([{"type": "spread", "field": "instanceId"}])
    assert place([b1, a1, a2], TOMCAT, RANGE, strategies).room is a1


def test_distinct_instance_refuses_a_second_task_on_an_instance():
    busy = zoned("busy", "zone-a", 1)
    where = place([busy], TOMCAT, RANGE, constraints=parse_constraints([{"type": "distinctInstance"}]))
    assert (where.room, where.closest, where.unmet) == (None, busy, NOT_DISTINCT)
    assert 'encountered error "DistinctInstance placement constraint unsatisfied."' in placement_failure_message("web", where)


def test_member_of_keeps_tasks_on_matching_instances():
    a, b = zoned("a", "zone-a"), zoned("b", "zone-b", instance_type="t3.large")
    only_b = parse_constraints([{"type": "memberOf", "expression": "attribute:ecs.availability-zone in [zone-b, zone-c]"}])
    assert place([a, b], TOMCAT, RANGE, constraints=only_b).room is b
    large = parse_constraints([{"type": "memberOf", "expression": "attribute:ecs.instance-type =~ t3\\..*large"}])
    assert place([a, b], TOMCAT, RANGE, constraints=large).room is b
    nowhere = parse_constraints([{"type": "memberOf", "expression": "attribute:ecs.availability-zone == zone-c"}])
    assert place([a, b], TOMCAT, RANGE, constraints=nowhere).unmet == NOT_MEMBER


@pytest.mark.parametrize("strategy", [{"type": "binpack", "field": "ports"}, {"type": "spread", "field": "zone"},
                                      {"type": "scatter"}])
def test_a_strategy_ecs_does_not_know_is_refused(strategy):
    with pytest.raises(PlacementError):
        parse_strategies([strategy])


@pytest.mark.parametrize("constraint", [{"type": "memberOf", "expression": "task:group == web"},
                                        {"type": "memberOf", "expression": "attribute:a == 1 or attribute:b == 2"},
                                        {"type": "distinctInstance", "expression": "attribute:a == 1"},
                                        {"type": "memberOf"}, {"type": "sameInstance"}])
def test_a_constraint_the_sandbox_cannot_evaluate_is_refused_not_ignored(constraint):
    with pytest.raises(PlacementError):
        parse_constraints([constraint])


def test_an_instance_whose_agent_is_disconnected_gets_no_task():
    gone = zoned("gone", "zone-a")
    gone.agent_connected = False
    where = place([gone], TOMCAT, RANGE)
    assert (where.room, where.unmet) == (None, NO_AGENT)
    assert "doesn't have the agent connected" in placement_failure_message("web", where)
