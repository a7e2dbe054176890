"""Self-checks for 02_port_mapping: reading the host ports ECS chose, and reaching a static port."""

from __future__ import annotations

from helpers.selfcheck import Report, expect, report

EPHEMERAL = (32768, 60999)  # the Linux default ip_local_port_range the ECS agent reads (FACTS.md)


def _bindings(lab, stack) -> list[tuple[str, int]]:
    """(container instance ARN, host port) of every running task of the stack's service, from the API."""
    ecs = lab.clients.ecs
    arns = ecs.list_tasks(cluster=stack.cluster_name, serviceName=stack.service_name, desiredStatus="RUNNING")["taskArns"]
    tasks = ecs.describe_tasks(cluster=stack.cluster_name, tasks=arns)["tasks"] if arns else []
    return [(t["containerInstanceArn"], b["hostPort"]) for t in tasks for c in t["containers"] for b in c.get("networkBindings", [])]


def host_ports_found(lab, stack, host_ports) -> Report:
    """Exercise 1: `host_ports` lists the host port of every running task, as DescribeTasks shows them."""
    truth = _bindings(lab, stack)
    given = host_ports if isinstance(host_ports, (list, tuple, set)) else None
    per_instance = {}
    for instance, port in truth:
        per_instance.setdefault(instance, []).append(port)
    return report([
        expect(given is not None, "host_ports is a list",
               "host_ports is not a list yet - build it from describe_tasks(...)['tasks'][...]['containers'][...]['networkBindings']"),
        expect(given is not None and sorted(given) == sorted(p for _, p in truth),
               f"it holds the host port of each of the {len(truth)} running tasks",
               f"host_ports should hold {len(truth)} ports, one per running task (sorted or not)"),
        expect(truth and all(EPHEMERAL[0] <= p <= EPHEMERAL[1] for _, p in truth),
               "every one lies in the ephemeral range 32768-60999", "a host port lies outside 32768-60999 - unexpected"),
        expect(all(len(ports) == len(set(ports)) for ports in per_instance.values()),
               "no instance gave the same host port to two tasks", "two tasks share a host port on one instance - unexpected"),
    ])


def static_port_answers(lab, static_stack, public_dns) -> Report:
    """Exercise 2: `public_dns` is the public DNS name of one of the static stack's instances,
    and the app answers there on :8081."""
    names = {lab.public_dns(i) for i in static_stack.instance_ids}
    found = isinstance(public_dns, str) and public_dns in names
    outcome = lab.request(f"http://{public_dns}:8081/", timeout=10) if found else None
    return report([
        expect(found, "public_dns is the public DNS name of an instance of the static stack",
               "public_dns is not yet an instance's public DNS name - read PublicDnsName from ec2.describe_instances"),
        expect(outcome is not None and outcome.kind == "answered",
               f"http://<that name>:8081/ is answered: {outcome.status} {outcome.reason}" if outcome and outcome.kind == "answered"
               else "", f"http://<that name>:8081/ is not answered yet: {outcome.summary() if outcome else 'no name to ask'}"),
    ])
