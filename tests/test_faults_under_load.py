"""Faults during load: while a few clients keep sending requests through the SOCKS proxy to the
stack's ALB, a container is killed, a task stopped, the service scaled in and out, and an instance
stopped, and a rolling deployment. As on AWS:

- only requests sent to a target that died fail, and they fail as the ALB fails them (ALB guide,
  "Troubleshoot your Application Load Balancers"): 502 when nothing listens any more (a killed
  container); for a stopped instance, which answers nothing, also 504 (the connect timeout);
- draining loses nothing: StopTask, scale-in and a deployment's old tasks deregister the target first and stop the task
  only after the deregistration delay (ECS guide, "Task lifecycle": DEACTIVATING), so no request
  fails;
- the service recovers on its own, in the same sandbox: afterwards every request is a 200 from a
  running task.

Loopback only; every phase is bounded in requests and time. Prints the outcomes per fault
(`pytest -s` shows them).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass

import pytest

from helpers.stack import StackSpec, build_stack
from helpers.traffic import Outcome, request
from helpers.waiters import wait_for_service, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

CLIENTS = 4  # concurrent senders: enough to have requests in flight at every moment
REQUEST_TIMEOUT = 10.0  # seconds; a lost request would show as a timeout, not hang the test
MAX_REQUESTS_PER_FAULT = 4000  # the bound, should recovery never come
AFTER_RECOVERY = 20  # requests sent once the service is whole again: every one must be a 200
# 150 AWS seconds of deregistration delay (3 s here at the default time scale): far longer than a
# request in flight takes even on a busy machine, so draining has every reason to lose nothing.
DEREGISTRATION_DELAY = 150


@dataclass(frozen=True)
class Sent:
    outcome: Outcome
    ended: float  # time.monotonic() when request() returned (its outcome's `elapsed` leaves out the client's set-up)


def label(outcome: Outcome) -> str:
    if outcome.kind == "answered" and outcome.status == 200 and outcome.task_id:
        return "200 from a container"
    if outcome.kind == "alb_error":
        return f"{outcome.status} from the ALB"
    return outcome.summary()


class Load:
    """`CLIENTS` threads sending requests one after another until stopped (or the bound is reached)."""

    def __init__(self, url: str, proxy: str) -> None:
        self.url, self.proxy = url, proxy
        self.sent: list[Sent] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._send, daemon=True) for _ in range(CLIENTS)]

    def _send(self) -> None:
        while not self._stop.is_set() and len(self.sent) < MAX_REQUESTS_PER_FAULT:
            outcome = request(self.url, proxy=self.proxy, timeout=REQUEST_TIMEOUT)
            self.sent.append(Sent(outcome, time.monotonic()))

    def __enter__(self) -> "Load":
        for thread in self._threads:
            thread.start()
        wait_until(lambda: (len(self.sent) >= 2 * CLIENTS, f"{len(self.sent)} requests"), what="traffic to flow",
                   timeout=30, interval=0.05, progress=False)
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(REQUEST_TIMEOUT + 5)


@pytest.fixture(scope="module")
def lab(region):
    clients = region.clients()
    stack = build_stack(clients, StackSpec(name="faults", deregistration_delay=DEREGISTRATION_DELAY))
    wait_for_service(clients, stack, progress=False)
    return region, clients, stack


def running_task_ids(clients, stack) -> set[str]:
    arns = clients.ecs.list_tasks(cluster=stack.cluster_name, serviceName=stack.service_name,
                                  desiredStatus="RUNNING")["taskArns"]
    return {arn.rsplit("/", 1)[-1] for arn in arns}


def under_load(lab, name: str, fault, *, settle=None) -> tuple[Counter, list[Sent], float]:
    """Run `fault()` while the load runs; wait until the service is whole again (and `settle()`);
    then check that the next requests are all 200s from running tasks. Returns the outcomes
    counted, everything sent, and when the fault struck."""
    region, clients, stack = lab
    url = f"http://{stack.alb_dns_name}/"
    with Load(url, region.socks_proxy) as load:
        struck = time.monotonic()
        fault()
        if settle is not None:
            settle()
        wait_for_service(clients, stack, timeout=60, progress=False)
    counts = Counter(label(sent.outcome) for sent in load.sent)
    print(f"\n{name}: {len(load.sent)} requests, {CLIENTS} at a time")
    for outcome, count in counts.most_common():
        print(f"  {outcome}: {count}")

    after = [request(url, proxy=region.socks_proxy, timeout=REQUEST_TIMEOUT) for _ in range(AFTER_RECOVERY)]
    serving = running_task_ids(clients, stack)
    assert [label(o) for o in after] == ["200 from a container"] * AFTER_RECOVERY, [o.summary() for o in after]
    assert {o.task_id for o in after} <= serving, "an answer came from a task that no longer runs"
    assert len(load.sent) < MAX_REQUESTS_PER_FAULT, "the service did not recover within the request bound"
    return counts, load.sent, struck


def assert_only_failures_after(sent: list[Sent], struck: float, allowed: set[str]) -> None:
    failed = [s for s in sent if label(s.outcome) != "200 from a container"]
    assert {label(s.outcome) for s in failed} <= allowed, [s.outcome.summary() for s in failed]
    assert all(s.ended >= struck for s in failed), "a request failed before the fault"


def test_a_killed_container_fails_only_requests_sent_to_it(lab):
    region, clients, stack = lab
    victim = sorted(running_task_ids(clients, stack))[0]
    containers = region.ctx.components["containers"]
    counts, sent, struck = under_load(
        lab, "container killed", lambda: containers.kill_task_id(victim),
        settle=lambda: wait_until(lambda: (victim not in running_task_ids(clients, stack), "victim still running"),
                                  what="the killed task to stop", timeout=30, progress=False))
    assert_only_failures_after(sent, struck, {"502 from the ALB"})  # nothing listens: the SYN gets a reset


def test_stopping_a_task_drains_it_and_loses_nothing(lab):
    _, clients, stack = lab
    victim = sorted(running_task_ids(clients, stack))[0]
    counts, _, _ = under_load(
        lab, "task stopped (StopTask)",
        lambda: clients.ecs.stop_task(cluster=stack.cluster_name, task=victim, reason="fault test"),
        settle=lambda: wait_until(lambda: (victim not in running_task_ids(clients, stack), "victim still running"),
                                  what="the stopped task to go", timeout=30, progress=False))
    assert set(counts) == {"200 from a container"}, dict(counts)


def test_scaling_in_and_out_loses_nothing(lab):
    _, clients, stack = lab

    def scale(count: int) -> None:
        clients.ecs.update_service(cluster=stack.cluster_name, service=stack.service_name, desiredCount=count)
        wait_for_service(clients, stack, timeout=60, progress=False)

    def scale_in_then_out() -> None:
        scale(1)  # two targets drain, then their tasks stop
        scale(3)

    counts, _, _ = under_load(lab, "service scaled in (3 -> 1) and out (1 -> 3)", scale_in_then_out)
    assert set(counts) == {"200 from a container"}, dict(counts)


def test_a_rolling_deployment_loses_nothing(lab):
    # ECS starts the new deployment's tasks, waits for their targets to be healthy, then drains the
    # old ones (ECS guide, "Deploy Amazon ECS services by replacing tasks").
    _, clients, stack = lab
    before = running_task_ids(clients, stack)

    def rolled_out() -> tuple[bool, str]:
        deployments = clients.ecs.describe_services(cluster=stack.cluster_name,
                                                    services=[stack.service_name])["services"][0]["deployments"]
        old = before & running_task_ids(clients, stack)
        return not old and len(deployments) == 1, f"{len(old)} old tasks, {len(deployments)} deployments"

    counts, _, _ = under_load(
        lab, "rolling deployment (forceNewDeployment)",
        lambda: clients.ecs.update_service(cluster=stack.cluster_name, service=stack.service_name,
                                           forceNewDeployment=True),
        settle=lambda: wait_until(rolled_out, what="the new deployment everywhere", timeout=60, progress=False))
    assert set(counts) == {"200 from a container"}, dict(counts)


def test_a_stopped_instance_fails_only_requests_sent_to_its_tasks(lab):
    # Last: the service carries on with one instance. The scheduler stops a stopped instance's tasks
    # at once (nothing left to drain them) and places their replacements on the other instance.
    _, clients, stack = lab
    doomed = stack.instance_ids[0]
    counts, sent, struck = under_load(lab, "instance stopped", lambda: clients.ec2.stop_instances(InstanceIds=[doomed]))
    # A stopped host answers nothing: a request the ALB sent there before the target left waits out
    # the connect timeout (ALB guide, "Troubleshoot": 504); one cut mid-way is a 502.
    assert_only_failures_after(sent, struck, {"502 from the ALB", "504 from the ALB"})
    tasks = clients.ecs.describe_tasks(cluster=stack.cluster_name,
                                       tasks=sorted(running_task_ids(clients, stack)))["tasks"]
    arns = {task["containerInstanceArn"] for task in tasks}
    instances = clients.ecs.describe_container_instances(cluster=stack.cluster_name, containerInstances=sorted(arns))
    assert {ci["ec2InstanceId"] for ci in instances["containerInstances"]} == {stack.instance_ids[1]}
