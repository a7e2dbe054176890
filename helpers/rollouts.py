"""Watching an ECS rolling update from outside, the way a user of the app would see it: requests
through the ALB the whole time, and what ECS and the target group say on the way.

    ecs.update_service(cluster=..., service=..., taskDefinition=new_revision)   # the call that matters
    print(watch_rollout(clients, stack, proxy=lab.socks_proxy))   # a summary with no timings in it

Only what is certain goes into the summary (which states were seen depends on the clock, so it
names only those a rollout cannot skip: old targets drain before they go).

The old targets come from the old deployments' tasks, not from the target group: by the time
`watch_rollout` first reads the target group the new tasks may be registered in it already.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from helpers.backend import Clients
from helpers.resources.ecs import describe_service, instance_targets, service_tasks
from helpers.traffic import Outcome, request, short_task_id
from helpers.waiters import first_value

MAX_REQUESTS = 2000  # bounded: a rollout that never ends does not send requests forever
AFTER_REQUESTS = 10  # sent once the rollout completed, so the new tasks answer some


def _targets(clients: Clients, target_group_arn: str) -> dict[str, str]:
    descriptions = clients.elbv2.describe_target_health(TargetGroupArn=target_group_arn)["TargetHealthDescriptions"]
    return {f"{d['Target']['Id']}:{d['Target'].get('Port', '-')}": d["TargetHealth"]["State"] for d in descriptions}


def _task_ids(tasks: list[dict]) -> set[str]:
    return {short_task_id(t["taskArn"].rsplit("/", 1)[-1]) for t in tasks}


def _running_tasks(clients: Clients, stack) -> list[dict]:
    return [t for t in service_tasks(clients, stack.cluster_name, stack.service_name) if t.get("lastStatus") == "RUNNING"]


def old_deployment_tasks(clients: Clients, stack, service: dict) -> list[dict]:
    """The service's tasks that are not the PRIMARY deployment's and have not stopped yet: running,
    or already stopping while their targets drain. A service task's `startedBy` is the id of the
    deployment that started it (ECS API StartTask, startedBy), so this also holds for
    forceNewDeployment, where old and new tasks share a task definition."""
    primary = service["deployments"][0]["id"]
    tasks = [t for status in ("RUNNING", "STOPPED")
             for t in service_tasks(clients, stack.cluster_name, stack.service_name, desired_status=status)]
    return [t for t in tasks if t.get("startedBy") != primary and t.get("lastStatus") != "STOPPED"]


def rollout_done(service: dict, targets: dict[str, str]) -> bool:
    """One deployment left, COMPLETED, its desired count running, and every target healthy."""
    deployments = service["deployments"]
    return (len(deployments) == 1 and deployments[0].get("rolloutState") == "COMPLETED"
            and service["runningCount"] == service["desiredCount"]
            and sorted(targets.values()) == ["healthy"] * service["desiredCount"])


@dataclass
class Rollout:
    """What one rollout looked like from outside (no timings: it reads the same on every run)."""

    completed: bool = False
    side_by_side: bool = False  # a PRIMARY and an ACTIVE deployment seen at once
    desired: int = 0
    old_targets: dict[str, set[str]] = field(default_factory=dict)  # target -> states seen
    final_targets: dict[str, str] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)
    old_tasks: set[str] = field(default_factory=set)
    new_tasks: set[str] = field(default_factory=set)
    timeout: float = 0.0

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.kind != "answered" or o.status != 200]

    def __str__(self) -> str:
        if not self.completed:
            return (f"the rollout did not complete within {self.timeout:.0f} s; "
                    f"{len(self.failed)} of the requests sent meanwhile failed - look at the service's events")
        answered_by = [short_task_id(o.task_id) for o in self.outcomes if o.task_id]
        first_old = bool(answered_by) and answered_by[0] in self.old_tasks
        last_new = bool(answered_by) and answered_by[-1] in self.new_tasks
        drained = all("draining" in seen for seen in self.old_targets.values())
        healthy = sum(state == "healthy" for state in self.final_targets.values())
        lines = [
            "deployments side by side: " + ("a PRIMARY (the new task definition) and an ACTIVE (the old one)"
                                            if self.side_by_side else "never (only one at a time)"),
            f"the {len(self.old_targets)} old targets: " + ("each drained before its task stopped" if drained
                                                            else "not every one was seen draining"),
            f"the target group now: {healthy} healthy of {len(self.final_targets)} targets, the new tasks",
            f"requests through the ALB: {len(self.failed)} failed" + (
                "; the first answered by an old task, the last ones by new tasks" if first_old and last_new else ""),
        ]
        return "\n".join(lines)

    __repr__ = __str__


def _record_old_states(watched: Rollout, targets: dict[str, str]) -> None:
    for target, state in targets.items():
        # A static host port gives the new task the old one's instance:port: the same target.
        if target in watched.old_targets:
            watched.old_targets[target].add(state)


def watch_rollout(clients: Clients, stack, *, proxy: str | None, timeout: float = 60.0) -> Rollout:
    """Send requests to the stack's ALB one after another while the service rolls out, reading
    the service and the target group between them, until the rollout completed (then
    AFTER_REQUESTS more) or `timeout` seconds passed. Never raises on a stalled rollout: says so."""
    url = f"http://{stack.alb_dns_name}/"
    service = describe_service(clients, stack.cluster_name, stack.service_name)
    old_tasks = old_deployment_tasks(clients, stack, service)
    watched = Rollout(desired=service["desiredCount"], old_tasks=_task_ids(old_tasks), timeout=timeout)
    watched.old_targets = {target: set() for target in instance_targets(clients, stack.cluster_name, old_tasks)}
    deadline = time.monotonic() + timeout
    targets = _targets(clients, stack.target_group_arn)
    _record_old_states(watched, targets)
    while len(watched.outcomes) < MAX_REQUESTS and time.monotonic() < deadline:
        watched.outcomes.append(request(url, proxy=proxy, timeout=5.0))
        service = describe_service(clients, stack.cluster_name, stack.service_name)
        targets = _targets(clients, stack.target_group_arn)
        statuses = {d["status"] for d in service["deployments"]}
        watched.side_by_side |= {"PRIMARY", "ACTIVE"} <= statuses
        _record_old_states(watched, targets)
        if rollout_done(service, targets):
            watched.completed = True
            break
    if watched.completed:
        watched.outcomes += [request(url, proxy=proxy, timeout=5.0) for _ in range(AFTER_REQUESTS)]
        watched.new_tasks = _task_ids(_running_tasks(clients, stack))
    watched.final_targets = targets
    return watched


def wait_for_event(clients: Clients, stack, text: str, *, timeout: float = 30.0) -> str:
    """Wait for the newest service event whose message holds `text`, and return its message."""
    def newest() -> str:
        events = describe_service(clients, stack.cluster_name, stack.service_name).get("events", [])
        return next((e["message"] for e in events if text in e["message"]), "")

    return first_value(newest, what=f"a service event with {text!r}", timeout=timeout)
