"""The ECS agent and the ECS service scheduler - what AWS does behind the ECS API, and moto does not.

One reconcile loop, every `ctx.options.reconcile_interval` real seconds:

1. **The agent joins instances.** A running EC2 instance whose user data says `ECS_CLUSTER=<name>`
   registers as a container instance of that cluster, with the CPU and memory of its type
   (an instance without the setting joins `default`, if that cluster exists - as the agent
   does) - if its agent can reach ECS (agent_link.py; else it never joins, and a joined one shows
   agentConnected false). Its user data also sets the agent's host port range and reserved ports
   (agent_config.py). A stopped or terminated instance's tasks stop; a terminated one's container
   instance goes INACTIVE; a DRAINING one's service tasks move to other instances.
2. **Stops are noticed.** StopTask (desiredStatus STOPPED), a container process that died, a
   target the load balancer found unhealthy, a deleted service. A task with load balancer
   targets is deregistered first and stays DEACTIVATING until its targets have drained; then
   its container is stopped and the task is STOPPED.
3. **Each service is kept at its desired count.** Missing tasks are placed (placement.py:
   spread across instances, CPU, memory, host ports, ENIs) and get dynamic host ports the way the
   agent picks them - or, on Fargate (launch type FARGATE, or the FARGATE / FARGATE_SPOT capacity
   providers: capacity_providers.py), no instance, only their own ENI (fargate.py); extra tasks
   are stopped. While a rolling update runs (more than one deployment), deployments.py decides
   how many new tasks start and old ones stop.
4. **New tasks run** - the service's, and RunTask's / StartTask's (standalone_tasks.py). Each gets a real container process (containers.py); once it serves, the
   task is RUNNING with its networkBindings, and is registered in the service's target groups
   as `instance:hostPort`.
5. **Services report.** runningCount/pendingCount, the deployment's rollout state, and the
   service events AWS writes (quoted from AWS output; sources beside each message below).

State lives on moto's objects (docs/ARCHITECTURE.md). Everything here that reads or changes
them holds `ctx.lock`; container processes start and stop outside it.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from moto.core.utils import utcnow
from moto.ec2.models.instance_types import INSTANCE_TYPES
from moto.ecs.models import Task

from helpers.evaluator.snapshot import ECS_PART
from helpers.facts import ECS_SERVICE_LINKED_ROLE, ECS_SERVICE_LINKED_ROLE_MISSING
from helpers.sandbox import (agent_config, awsvpc, capacity_providers, deployments, fargate, placement, target_health,
                             unsupported)
from helpers.sandbox.agent_link import AgentLinks

log = logging.getLogger("helpers.sandbox.scheduler")

DEFAULT_CLUSTER = agent_config.DEFAULT_CLUSTER
# The console keeps the 100 newest events; a repeated event is omitted "until either the cause is
# resolved or six hours passes" (ECS guide, "Service event messages").
MAX_EVENTS = 100
EVENT_REPEAT_AFTER = 6 * 3600  # AWS seconds
LIVE_STATES = ("PROVISIONING", "PENDING", "ACTIVATING", "RUNNING", "DEACTIVATING", "STOPPING")

# Stop codes (ECS API TaskStopCode) and reasons. Reasons as AWS shows them in DescribeTasks:
# - "Essential container in task exited": ECS guide "Stopped tasks error codes", ECS events examples.
# - "Task failed ELB health checks in (target-group <arn>)": seen in ECS/Copilot output.
# - "Scaling activity initiated by (deployment <id>)": seen in DescribeTasks output (stopCode
#   ServiceSchedulerInitiated). Also used for a deleted service's tasks: that reason is unconfirmed.
# - "Host EC2 (instance <id>) terminated." / "stopped.": seen in ECS and Batch output.
USER_INITIATED, SCHEDULER_INITIATED = "UserInitiated", "ServiceSchedulerInitiated"
CONTAINER_EXITED, FAILED_TO_START, TERMINATION = "EssentialContainerExited", "TaskFailedToStart", "TerminationNotice"
ESSENTIAL_CONTAINER_EXITED = "Essential container in task exited"
DRAINED_REASON = "Container instance is DRAINING: the service scheduler moved this task to another instance"  # ours


def _now():
    return utcnow()  # moto's own clock for timestamps (naive UTC)


# -- service event messages ------------------------------------------------------------------------
# All observed in `aws ecs describe-services` output (public logs and the ECS API examples);
# the prefix "(service <name>)" is the scheduler's (ECS guide, "Service event messages").

def started_message(service: str, task_ids: list[str]) -> str:
    return f"(service {service}) has started {len(task_ids)} tasks: {' '.join(f'(task {t})' for t in task_ids)}."


def stopped_message(service: str, task_ids: list[str]) -> str:
    return f"(service {service}) has stopped {len(task_ids)} running tasks: {' '.join(f'(task {t})' for t in task_ids)}."


def registered_message(service: str, count: int, target_group_arn: str) -> str:
    return f"(service {service}) registered {count} targets in (target-group {target_group_arn})"


def deregistered_message(service: str, count: int, target_group_arn: str) -> str:
    return f"(service {service}) deregistered {count} targets in (target-group {target_group_arn})"


def draining_message(service: str, deployment_id: str, count: int) -> str:
    return f"(service {service}, taskSet {deployment_id}) has begun draining connections on {count} tasks."


def unhealthy_message(service: str, instance_id: str, port: int, target_group_arn: str, reason: str) -> str:
    # A Fargate task has no instance: the part is left out (the form seen in Fargate services'
    # events; unconfirmed).
    where = f"(instance {instance_id}) " if instance_id else ""
    return (f"(service {service}) {where}(port {port}) is unhealthy in "
            f"(target-group {target_group_arn}) due to (reason {reason}).")


def registration_failed_message(service: str, target_group_arn: str, error: str) -> str:
    return f"(service {service}) failed to register targets in (target-group {target_group_arn}) with (error {error})"


# The form "failed to register targets in (target-group ...) with (error ...)" is AWS's. A role deleted
# after the service was created: CreateService's error text (FACTS.md) in that form - unconfirmed.
MISSING_ROLE_ERROR = ECS_SERVICE_LINKED_ROLE_MISSING


def deployment_completed_message(service: str, deployment_id: str) -> str:
    return f"(service {service}) (deployment {deployment_id}) deployment completed."


def steady_state_message(service: str) -> str:
    return f"(service {service}) has reached a steady state."


# -- what the agent and the scheduler remember (moto holds the rest) ---------------------------------

@dataclass
class Agent:
    """The ECS agent on one EC2 instance, once it has joined a cluster."""

    instance_id: str
    cluster_name: str
    container_instance_arn: str
    cpu: int  # registered CPU units
    memory: int  # registered MiB
    last_assigned_port: int = 0  # the agent's dynamic host port tracker
    # From user data (agent_config.py): the agent's dynamic host port range (None = the region's) and reserved ports.
    host_port_range: tuple[int, int] | None = None
    reserved_ports: frozenset[int] = placement.RESERVED_PORTS

    @property
    def container_instance_id(self) -> str:
        return self.container_instance_arn.rsplit("/", 1)[-1]


@dataclass
class TaskRun:
    """One service task this scheduler started: where it runs and what it holds."""

    task_arn: str
    service_arn: str
    service_name: str
    cluster_name: str
    instance_id: str
    needs: placement.TaskNeeds
    container_name: str
    container_port: int  # the port the container process stands for
    network_bindings: list[dict]
    sequence: int
    started_monotonic: float | None = None  # when it became RUNNING
    targets: list[tuple[str, int]] = field(default_factory=list)  # (target group ARN, port) registered
    stopping: bool = False
    wait_for_draining: bool = True  # False when the container is already gone
    task_ip: str = ""  # awsvpc: the task's own ENI address (awsvpc.py)
    eni_id: str = ""
    subnet_id: str = ""  # awsvpc: its ENI's subnet
    group: str = ""  # service:NAME or family:NAME (Fargate spreads a group over its subnets)
    capacity_provider: str = ""  # FARGATE / FARGATE_SPOT when a strategy placed it (capacity_providers.py)

    @property
    def target(self) -> str:
        """What a load balancer registers and reaches: the instance, or an awsvpc task's own IP."""
        return self.task_ip or self.instance_id

    @property
    def task_id(self) -> str:
        return self.task_arn.rsplit("/", 1)[-1]

    @property
    def host_port(self) -> int:
        binding = next((b for b in self.network_bindings if b["containerPort"] == self.container_port), None)
        return binding["hostPort"] if binding else 0

    @property
    def ports(self) -> set[int]:
        return {binding["hostPort"] for binding in self.network_bindings}


@dataclass
class ServiceMemory:
    """Which repeatable events a service has shown, so they are not written every tick."""

    reported: dict[str, tuple[str, float]] = field(default_factory=dict)  # kind -> (message, when)


@dataclass
class Tick:
    """Work one reconcile hands from the locked phase to the unlocked one and back."""

    to_launch: list[TaskRun] = field(default_factory=list)
    to_stop: list[TaskRun] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)  # task ARNs whose moto task vanished
    launched: dict[str, tuple[str, int] | Exception] = field(default_factory=dict)
    exit_codes: dict[str, int | None] = field(default_factory=dict)


class EcsScheduler:
    """The ECS agent on every instance plus the service scheduler, as one reconcile loop."""

    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._tick_lock = threading.Lock()  # one reconcile at a time
        self._links = AgentLinks(ctx)  # can each agent reach ECS (agent_link.py)
        self._forget_everything()

    def _forget_everything(self) -> None:
        self._agents: dict[str, Agent] = {}  # EC2 instance id -> agent
        self._runs: dict[str, TaskRun] = {}  # task ARN -> run
        self._services: dict[str, ServiceMemory] = {}  # service ARN -> memory
        self._unlaunched: list[TaskRun] = []  # tasks RunTask/StartTask created since the last tick
        self._sequence = 0

    # -- component lifecycle --------------------------------------------------------------------
    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="ecs-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._stop_all_containers()

    def reset(self) -> None:
        """Forget everything (after moto's reset): stop this scheduler's containers."""
        with self._tick_lock:
            self._stop_all_containers()
            self._forget_everything()
            self._links.reset()

    def _stop_all_containers(self) -> None:
        containers = self._containers()
        for task_arn in list(self._runs):
            containers.stop(task_arn)

    def _loop(self) -> None:
        while not self._stopping.wait(self.ctx.options.reconcile_interval):
            try:
                self.reconcile_once()
            except Exception:  # keep the region alive; the next tick tries again
                log.exception("ECS reconcile failed")

    def _containers(self):
        return self.ctx.components["containers"]

    # -- one reconcile ----------------------------------------------------------------------------
    def reconcile_once(self) -> None:
        """One pass: join instances, notice stops, scale services, run and stop containers, report."""
        with self._tick_lock:
            tick = Tick()
            connected = self._links.reachable()  # outside ctx.lock: it may wait for a fresh snapshot
            with self.ctx.lock:
                unknown = self._join_instances(connected)
                tick.orphans = self._forget_vanished_tasks()
                self._notice_stops()
                if not unknown:  # else wait a tick: a host launched during the snapshot's read may join
                    self._scale_services(tick)
                tick.to_stop = self._drained_runs()
                tick.to_launch += self._created_between_ticks()
            self._run_containers(tick)  # outside the lock: processes start and stop here
            with self.ctx.lock:
                self._finish_stops(tick)
                self._finish_launches(tick)
                self._register_targets()
                self._report_services()

    def adopt(self, run: TaskRun) -> None:
        """A task created outside the reconcile (RunTask, StartTask): launch it at the next tick."""
        self._unlaunched.append(run)

    def _created_between_ticks(self) -> list[TaskRun]:
        runs = [run for run in self._unlaunched if run.task_arn in self._runs]
        self._unlaunched.clear()
        return runs

    def _run_containers(self, tick: Tick) -> None:
        containers = self._containers()
        for task_arn in tick.orphans:
            containers.stop(task_arn)
        for run in tick.to_stop:
            tick.exit_codes[run.task_arn] = containers.stop(run.task_arn)
        for run in tick.to_launch:
            try:
                tick.launched[run.task_arn] = containers.start(
                    run.task_arn, task_id=run.task_id, instance_id=run.target, host_port=run.host_port,
                    container_port=run.container_port, container_name=run.container_name, interface_id=run.eni_id)
            except Exception as error:  # the task fails to start, as a broken image would
                tick.launched[run.task_arn] = error

    # -- 1. the agent: instances join clusters --------------------------------------------------
    def _join_instances(self, connected: dict[str, bool]) -> bool:
        """`connected`: whose agent can reach ECS now (agent_link.py). One that cannot never
        registers; a registered one shows agentConnected false and keeps its tasks running.
        Returns whether a running instance is too new for the snapshot to say."""
        ec2, ecs = self.ctx.ec2(), self.ctx.ecs()
        unknown = False
        for instance_id in [i for i, agent in self._agents.items() if self._container_instance(agent) is None]:
            del self._agents[instance_id]  # moto was reset, or the container instance deregistered
        for instance in ec2.all_instances():
            agent = self._agents.get(instance.id)
            if agent is None:
                unknown = unknown or (instance.state == "running" and instance.id not in connected)
                if instance.state == "running" and connected.get(instance.id, False):
                    self._register_instance(ecs, instance)
            elif instance.state in ("stopping", "stopped", "shutting-down", "terminated"):
                self._instance_gone(agent, instance.state)
            elif instance.state == "running":  # (also: started again after a stop)
                self._container_instance(agent).agent_connected = connected.get(instance.id, False)
        return unknown

    def _register_instance(self, ecs, instance) -> None:
        settings = agent_config.agent_settings(user_data_text(instance.user_data))
        cluster_name = settings.cluster
        cluster = ecs.clusters.get(cluster_name)
        if cluster is None or cluster.status != "ACTIVE":
            return  # the agent keeps retrying until the cluster exists
        container_instance = next(
            (ci for ci in ecs.container_instances.get(cluster_name, {}).values()
             if ci.ec2_instance_id == instance.id and ci.status != "INACTIVE"), None)
        if container_instance is None:  # (it may have been registered through the API already)
            container_instance = ecs.register_container_instance(cluster_name, instance.id)
        cpu, memory = instance_resources(instance.instance_type)
        self._agents[instance.id] = Agent(instance.id, cluster_name, container_instance.container_instance_arn, cpu, memory,
                                          host_port_range=settings.host_port_range, reserved_ports=settings.reserved_ports)
        for problem in settings.problems:  # the real agent writes these to its log on the instance
            log.warning("instance %s: %s", instance.id, problem)
        container_instance.registered_resources = resources(cpu, memory, settings.reserved_ports)
        container_instance.remaining_resources = resources(cpu, memory, settings.reserved_ports)
        log.info("instance %s joined cluster %s", instance.id, cluster_name)

    def _instance_gone(self, agent: Agent, state: str) -> None:
        word = "terminated" if state in ("shutting-down", "terminated") else "stopped"
        for run in self._runs.values():
            if run.instance_id == agent.instance_id and not run.stopping:
                self._begin_stop(run, f"Host EC2 (instance {agent.instance_id}) {word}.", TERMINATION, drain=False)
        container_instance = self._container_instance(agent)
        container_instance.agent_connected = False
        if word == "terminated":  # AWS deregisters a terminated instance: INACTIVE
            container_instance.status = "INACTIVE"
            cluster = self.ctx.ecs().clusters.get(agent.cluster_name)
            if cluster is not None:
                cluster.registered_container_instances_count -= 1
            del self._agents[agent.instance_id]

    def container_instance_arn(self, instance_id: str) -> str:
        return self._agents[instance_id].container_instance_arn

    def _container_instance(self, agent: Agent):
        return self.ctx.ecs().container_instances.get(agent.cluster_name, {}).get(agent.container_instance_id)

    # -- 2. stops: StopTask, dead containers, unhealthy targets, deleted services -------------------
    def _forget_vanished_tasks(self) -> list[str]:
        vanished = [arn for arn, run in self._runs.items() if self._task(run) is None]
        for arn in vanished:
            del self._runs[arn]
        return vanished

    def _notice_stops(self) -> None:
        containers = self._containers()
        for run in list(self._runs.values()):
            if run.stopping:
                continue
            task = self._task(run)
            service = self.ctx.ecs().services.get(f"{run.cluster_name}:{run.service_name}")
            if task.desired_status == "STOPPED":  # StopTask (moto_fixes sets reason and stop code)
                self._begin_stop(run, task.stopped_reason or "Task stopped by user",
                                 getattr(task, "stop_code", None) or USER_INITIATED)
            elif task.last_status == "RUNNING" and not containers.is_alive(run.task_arn):
                self._count_failure(run)
                self._begin_stop(run, ESSENTIAL_CONTAINER_EXITED, CONTAINER_EXITED, drain=False)
            elif run.service_arn and (service is None or service.status != "ACTIVE"):
                self._scale_in_stop(run, service)  # (a standalone task, RunTask's, has no service)
            elif task.last_status == "RUNNING":
                self._stop_if_unhealthy(run, service)

    def _stop_if_unhealthy(self, run: TaskRun, service) -> None:
        # ECS ignores the load balancer's verdict during the grace period (ECS API CreateService,
        # healthCheckGracePeriodSeconds); moto keeps the value only when set by UpdateService.
        grace = self.ctx.timescale.real(getattr(service, "health_check_grace_period_seconds", None) or 0)
        if time.monotonic() - run.started_monotonic < grace:
            return
        for target_group_arn, port in run.targets:
            record = self._target_record(target_group_arn, run.target, port)
            if record is not None and record["State"] == target_health.UNHEALTHY:
                reason = record.get("Description") or record.get("Reason") or "Health checks failed"
                self._event(service, unhealthy_message(service.name, run.instance_id, port, target_group_arn, reason))
                self._count_failure(run)
                self._begin_stop(run, f"Task failed ELB health checks in (target-group {target_group_arn})",
                                 SCHEDULER_INITIATED, announce=True)
                return

    def _scale_in_stop(self, run: TaskRun, service) -> None:
        deployment_id = service.deployments[0]["id"] if service is not None and service.deployments else ""
        self._begin_stop(run, f"Scaling activity initiated by (deployment {deployment_id})", SCHEDULER_INITIATED,
                         announce=service is not None)

    def _begin_stop(self, run: TaskRun, reason: str, stop_code: str, *, drain: bool = True, announce: bool = False) -> None:
        """Start stopping a task: deregister its targets, and (if it still serves) let them drain."""
        task = self._task(run)
        service = self.ctx.ecs().services.get(f"{run.cluster_name}:{run.service_name}")
        run.stopping = True
        run.wait_for_draining = drain
        task.desired_status = "STOPPED"
        task.stopped_reason = task.stopped_reason or reason
        task.stop_code = getattr(task, "stop_code", None) or stop_code
        task.stopping_at = _now()
        if announce:
            self._event(service, stopped_message(run.service_name, [run.task_id]))
        if not run.targets:
            return
        for target_group_arn, port in run.targets:
            try:
                self.ctx.elbv2().deregister_targets(target_group_arn, [{"Id": run.target, "Port": port}])
            except Exception as error:  # the target group or the registration is gone already
                log.info("deregistering %s:%s from %s: %s", run.instance_id, port, target_group_arn, error)
                continue
            self._event(service, deregistered_message(run.service_name, 1, target_group_arn))
        if drain:
            # While its targets drain the task is DEACTIVATING (ECS guide, "Task lifecycle").
            task.last_status = "DEACTIVATING"
            deployment_id = service.deployments[0]["id"] if service is not None and service.deployments else ""
            self._event(service, draining_message(run.service_name, deployment_id, 1))

    def _drained_runs(self) -> list[TaskRun]:
        """Stopping tasks whose targets have left `draining`: their containers can stop now."""
        now = time.monotonic()
        ready = []
        for run in self._runs.values():
            if not run.stopping:
                continue
            if run.wait_for_draining and any(self._still_draining(tg, run.target, port, now) for tg, port in run.targets):
                continue
            self._task(run).last_status = "STOPPING"
            ready.append(run)
        return ready

    def _still_draining(self, target_group_arn: str, instance_id: str, port: int, now: float) -> bool:
        return target_health.still_draining(self._target_record(target_group_arn, instance_id, port), now)

    def _finish_stops(self, tick: Tick) -> None:
        for run in tick.to_stop:
            self._runs.pop(run.task_arn, None)
            task = self._task(run)
            if task is None:
                continue
            now = _now()
            task.last_status = "STOPPED"
            task.stopped_at = task.execution_stopped_at = now
            container = task.containers[0]
            container.last_status = "STOPPED"
            if run.eni_id:
                awsvpc.release(self.ctx, task, run.eni_id)
            exit_code = tick.exit_codes.get(run.task_arn)
            if exit_code is not None:
                container.exit_code = exit_code

    # -- 3. services: keep the desired count ------------------------------------------------------
    def _scale_services(self, tick: Tick) -> None:
        ecs = self.ctx.ecs()
        for service in list(ecs.services.values()):
            if service.status != "ACTIVE" or service.scheduling_strategy != "REPLICA":
                continue  # a deleted service's tasks were stopped above; DAEMON is not emulated
            runs = [run for run in self._runs.values() if run.service_arn == service.arn and not run.stopping]
            if len(service.deployments) > 1:  # a rolling update in progress
                tick.to_launch += self._roll_out(ecs, service, runs)
                continue
            leaving = self._on_draining_instances(runs)
            if leaving:  # replaced like a rolling update (below)
                tick.to_launch += self._move_off_draining(ecs, service, runs, leaving)
                continue
            missing = service.desired_count - len(runs)
            if missing > 0:
                tick.to_launch += self._place_tasks(ecs, service, missing)
            elif missing < 0:
                candidates = [placement.RunningTask(run.task_arn, run.instance_id, run.started_monotonic is not None,
                                                    run.sequence) for run in runs]
                for task_arn in placement.tasks_to_stop(candidates, -missing):
                    self._scale_in_stop(self._runs[task_arn], service)

    # -- draining container instances -------------------------------------------------------------
    # AWS (ECS guide "Draining Amazon ECS container instances"; ECS API UpdateContainerInstancesState):
    # a DRAINING instance gets no new tasks (rooms_in skips it); its PENDING service tasks stop at
    # once; its RUNNING ones are replaced within minimumHealthyPercent / maximumPercent - the same
    # arithmetic as a rolling update (deployments.plan: replacements start first at 100/200);
    # tasks not started by a service keep running. The stopped reason AWS shows is not documented:
    # DRAINED_REASON is ours (stop code ServiceSchedulerInitiated).
    def _on_draining_instances(self, runs: list[TaskRun]) -> list[TaskRun]:
        draining = {agent.instance_id for agent in self._agents.values()
                    if (ci := self._container_instance(agent)) is not None and ci.status == "DRAINING"}
        return [run for run in runs if run.instance_id in draining]

    def _move_off_draining(self, ecs, service, runs: list[TaskRun], leaving: list[TaskRun]) -> list[TaskRun]:
        staying = [run for run in runs if run not in leaving]
        pending = [run for run in leaving if self._task(run).last_status != "RUNNING"]
        running = [run for run in leaving if run not in pending]
        step = deployments.plan(service.desired_count, *deployments.percents(service), new_live=len(staying),
                                new_healthy=sum(self._healthy(run, service) for run in staying), old_live=len(running))
        for run in pending + running[:step.stop_old]:
            self._begin_stop(run, DRAINED_REASON, SCHEDULER_INITIATED, announce=True)
        return self._place_tasks(ecs, service, step.start) if step.start else []

    def _roll_out(self, ecs, service, runs: list[TaskRun]) -> list[TaskRun]:
        """One step of a rolling update: deployments.plan decides how many to start and stop."""
        if deployments.tripped(service):
            self._circuit_breaker_trips(service)
        if service.deployments[0].get("rolloutState") == "FAILED":
            return []  # a failed deployment launches nothing more (ECS API DeploymentCircuitBreaker)
        primary = service.deployments[0]["id"]
        new = [run for run in runs if self._task(run).started_by == primary]
        old = [run for run in runs if self._task(run).started_by != primary]
        step = deployments.plan(service.desired_count, *deployments.percents(service), new_live=len(new),
                                new_healthy=sum(self._healthy(run, service) for run in new), old_live=len(old))
        candidates = [placement.RunningTask(run.task_arn, run.instance_id, run.started_monotonic is not None,
                                            run.sequence) for run in old]
        for task_arn in placement.tasks_to_stop(candidates, step.stop_old):
            self._scale_in_stop(self._runs[task_arn], service)
        draining_old = any(run.service_arn == service.arn and run.stopping and self._task(run).started_by != primary
                           for run in self._runs.values())
        if not old and not draining_old:
            deployments.finish_old(service)
        return self._place_tasks(ecs, service, step.start) if step.start else []

    def _circuit_breaker_trips(self, service) -> None:
        failed = service.deployments[0]
        self._event(service, deployments.failed_message(service.name, failed["id"]))
        rollback = deployments.fail(service)
        if rollback is not None:
            self._event(service, deployments.rolling_back_message(service.name, failed["id"], rollback["taskDefinition"]))

    def _count_failure(self, run: TaskRun) -> None:
        service = self.ctx.ecs().services.get(f"{run.cluster_name}:{run.service_name}")
        if service is not None:
            deployments.count_failure(service, self._task(run).started_by)

    def _healthy(self, run: TaskRun, service) -> bool:
        """RUNNING, registered and healthy in each of the service's target groups."""
        if self._task(run).last_status != "RUNNING":
            return False
        wanted = self._wanted_targets(run, service)
        if set(wanted) - set(run.targets):
            return False
        return all((self._target_record(tg, run.target, port) or {}).get("State") == target_health.HEALTHY
                   for tg, port in wanted)

    def _place_tasks(self, ecs, service, count: int) -> list[TaskRun]:
        definition = self._task_definition(ecs, service) if count > 0 else None
        if definition is None:
            return []
        container_def = main_container(definition, service.load_balancers)
        needs = task_needs(definition, container_def)
        strategy = getattr(service, "capacity_provider_strategy", None)
        if capacity_providers.on_fargate(strategy):  # the FARGATE / FARGATE_SPOT providers: on Fargate
            placed = []
            for _ in range(count):
                providers = [run.capacity_provider for run in self._runs.values()
                             if run.service_arn == service.arn and not run.stopping]
                placed.append(self._create_task(ecs, service, definition, container_def, needs, None,
                                                capacity_provider=capacity_providers.provider_for(strategy, providers)))
        elif fargate.runs_on_fargate(service.launch_type):  # no instances to place on (fargate.py)
            placed = [self._create_task(ecs, service, definition, container_def, needs, None) for _ in range(count)]
        else:
            placed = self._place_on_instances(ecs, service, definition, container_def, needs, count)
        if placed:
            self._event(service, started_message(service.name, [run.task_id for run in placed]))
        return placed

    def _place_on_instances(self, ecs, service, definition, container_def, needs, count: int) -> list[TaskRun]:
        rooms = self._rooms(service)
        host_port_range = self.ctx.options.host_port_range
        placed: list[TaskRun] = []
        for _ in range(count):
            where = placement.place(rooms, needs, host_port_range, *service_placement(service))
            if where.room is None:
                self._report(service, "placement", placement.placement_failure_message(service.name, where))
                break
            self._resolved(service, "placement")  # (if the next task fails, that is a new event)
            placed.append(self._create_task(ecs, service, definition, container_def, needs, where.room))
        return placed

    def _rooms(self, service) -> list[placement.InstanceRoom]:
        return self.rooms_in(service.cluster_name, service.arn)

    def rooms_in(self, cluster_name: str, service_arn: str = "") -> list[placement.InstanceRoom]:
        """The cluster's usable container instances, with what this scheduler's tasks hold on them
        (`service_tasks` counts the tasks of `service_arn`, for spreading)."""
        ec2 = self.ctx.ec2()
        rooms = []
        for agent in self._agents.values():
            container_instance = self._container_instance(agent)
            instance = ec2.get_instance_by_id(agent.instance_id)
            if (agent.cluster_name != cluster_name or container_instance is None
                    or container_instance.status != "ACTIVE" or instance is None or instance.state != "running"):
                continue
            on_instance = [run for run in self._runs.values() if run.instance_id == agent.instance_id]
            enis_in_use = sum(run.needs.enis for run in on_instance)
            rooms.append(placement.InstanceRoom(
                container_instance_id=agent.container_instance_id,
                instance_id=agent.instance_id,
                cpu_free=agent.cpu - sum(run.needs.cpu for run in on_instance),
                memory_free=agent.memory - sum(run.needs.memory for run in on_instance),
                ports_in_use=set().union(*(run.ports for run in on_instance)),
                service_tasks=sum(1 for run in on_instance if run.service_arn == service_arn and not run.stopping),
                all_tasks=len(on_instance),
                last_assigned_port=agent.last_assigned_port,
                port_range=agent.host_port_range,
                reserved_ports=agent.reserved_ports,
                attributes=dict(getattr(container_instance, "attributes", None) or {}),
                agent_connected=container_instance.agent_connected,  # placement says so when it is not
                enis_free=awsvpc.task_enis(instance.instance_type) - enis_in_use,
            ))
        return rooms

    def _create_task(self, ecs, service, definition, container_def: dict, needs: placement.TaskNeeds,
                     room: placement.InstanceRoom | None, *, capacity_provider: str = "") -> TaskRun:
        deployment_id = service.deployments[0]["id"] if service.deployments else ""
        return self.create_task(
            service.cluster_name, definition, container_def, needs, room, group=f"service:{service.name}",
            started_by=deployment_id, tags=list(service.tags) if service.propagate_tags == "SERVICE" else [],
            load_balancers=service.load_balancers, service_arn=service.arn, service_name=service.name,
            network_configuration=getattr(service, "network_configuration", None), capacity_provider=capacity_provider)

    def create_task(self, cluster_name: str, definition, container_def: dict, needs: placement.TaskNeeds,
                    room: placement.InstanceRoom | None, *, group: str, started_by: str, tags: list,
                    load_balancers=(), service_arn: str = "", service_name: str = "", network_configuration=None,
                    capacity_provider: str = ""):
        """A new task on `room` (its resources booked, dynamic host ports picked as the agent picks
        them), or on Fargate when `room` is None (`capacity_provider`: the Fargate provider a strategy
        chose, shown as capacityProviderName); its container starts at the next reconcile. Hold ctx.lock."""
        ecs, ec2 = self.ctx.ecs(), self.ctx.ec2()
        dynamic_ports: list[int] = []
        if room is None:  # Fargate: no container instance; the task's subnet decides its AZ (fargate.py)
            instance_id, container_instance_arn = "", None
            subnet_id = fargate.subnet_for(network_configuration["awsvpcConfiguration"]["subnets"],
                                           [run.subnet_id for run in self._runs.values()
                                            if run.group == group and not run.stopping])
            availability_zone = fargate.availability_zone(ec2, subnet_id)
        else:
            instance_id, subnet_id = room.instance_id, None
            dynamic_ports = room.dynamic_ports_for(needs, self.ctx.options.host_port_range)  # the agent's own range
            room.take(needs, dynamic_ports)
            agent = self._agents[instance_id]
            agent.last_assigned_port = room.last_assigned_port
            container_instance_arn = agent.container_instance_arn
            availability_zone = ec2.get_instance_by_id(instance_id).placement.zone
        cluster = ecs.clusters[cluster_name]
        task = Task(cluster, definition, container_instance_arn,
                    {"CPU": needs.cpu, "MEMORY": needs.memory, "PORTS": list(needs.static_host_ports), "PORTS_UDP": []},
                    backend=ecs, group=group, launch_type="EC2" if room else fargate.FARGATE, started_by=started_by,
                    tags=tags, platform_version=None if room else fargate.LINUX_PLATFORM,
                    networking_configuration=network_configuration if awsvpc.is_awsvpc(definition) else None,
                    capacity_provider_name=capacity_provider or None)
        # A bridge-mode task has no network interface to provision: it starts PENDING; an awsvpc
        # task starts PROVISIONING while its ENI is made (ECS guide, "Task lifecycle").
        task.last_status = "PROVISIONING" if awsvpc.is_awsvpc(definition) else "PENDING"
        task.created_at = _now()
        task.availability_zone = availability_zone
        eni_id, task_ip = "", ""
        if awsvpc.is_awsvpc(definition):
            public_ip = room is None and network_configuration["awsvpcConfiguration"].get("assignPublicIp") == "ENABLED"
            eni_id, task_ip = awsvpc.provision(self.ctx, task, network_configuration, availability_zone,
                                               subnet_id=subnet_id, public_ip=public_ip)
            subnet_id = ec2.enis[eni_id].subnet.id
        task.cpu, task.memory = str(needs.cpu), str(needs.memory)
        task.stop_code = None
        container = task.containers[0]  # moto models one container: the one serving traffic
        container.name, container.image = container_def.get("name"), container_def.get("image")
        container.__dict__.pop("exitCode", None)  # moto's placeholder 0: AWS shows exitCode once it exited
        ecs.tasks.setdefault(cluster.name, {})[task.task_arn] = task

        bindings = network_bindings(definition, container_def, iter(dynamic_ports))
        lb_port = next((lb.get("containerPort") for lb in load_balancers
                        if lb.get("containerName") == container_def.get("name")), None)
        container_port = lb_port or (bindings[0]["containerPort"] if bindings else 0)
        self._sequence += 1
        run = TaskRun(task.task_arn, service_arn, service_name, cluster.name, instance_id, needs,
                      container_def.get("name") or "app", container_port, bindings, self._sequence,
                      task_ip=task_ip, eni_id=eni_id, subnet_id=subnet_id or "", group=group,
                      capacity_provider=capacity_provider)
        self._runs[run.task_arn] = run
        return run

    def _task_definition(self, ecs, service):
        """The service's task definition, if the sandbox can run it (unsupported.py). Otherwise the
        service stays at 0 tasks and an event says why."""
        try:
            definition = ecs.describe_task_definition(service.task_definition)
        except Exception:
            return None  # (a deleted revision: moto refuses such services at CreateService)
        what = unsupported.not_run(definition, launch_type=service.launch_type,
                                   capacity_provider_strategy=getattr(service, "capacity_provider_strategy", None),
                                   deployment_controller=service.deployment_controller)
        if what is not None:
            self._report(service, "unsupported", unsupported.service_event(service.name, what))
            return None
        return definition

    # -- 4. new tasks run and register ------------------------------------------------------------
    def _finish_launches(self, tick: Tick) -> None:
        for run in tick.to_launch:
            task = self._task(run)
            outcome = tick.launched.get(run.task_arn)
            if task is None or run.task_arn not in self._runs:
                continue
            if isinstance(outcome, Exception):
                self._count_failure(run)
                task.desired_status = task.last_status = task.containers[0].last_status = "STOPPED"
                task.stop_code, task.stopped_reason = FAILED_TO_START, f"CannotStartContainerError: {outcome}"
                task.stopped_at = _now()
                del self._runs[run.task_arn]
                continue
            now = _now()
            task.last_status = "RUNNING"
            task.pull_started_at = task.pull_stopped_at = task.started_at = now
            task.connectivity, task.connectivity_at = "CONNECTED", now
            container = task.containers[0]
            container.last_status = "RUNNING"
            if run.task_ip:  # awsvpc: no host port; the container is reached on the task's own IP
                container.network_bindings = []
                container.network_interfaces = [{"attachmentId": task.attachments[0]["id"], "privateIpv4Address": run.task_ip}]
                self.ctx.changed([ECS_PART])  # the evaluator finds an ip target's task among RUNNING tasks
            else:
                # No change signalled: what a bridge task's binding tells the evaluator (which task
                # answers on a host port) only explains, it decides no connection; a signal would make
                # every new connection during a rollout wait for a re-read.
                container.network_bindings = run.network_bindings
            run.started_monotonic = time.monotonic()

    def _register_targets(self) -> None:
        """Register every RUNNING task in its service's target groups, as instance:hostPort."""
        ecs = self.ctx.ecs()
        for run in self._runs.values():
            task = self._task(run)
            service = ecs.services.get(f"{run.cluster_name}:{run.service_name}")
            if run.stopping or task.last_status != "RUNNING" or service is None:
                continue
            for target_group_arn, port in self._wanted_targets(run, service):
                if (target_group_arn, port) in run.targets:
                    continue
                if not self._may_register(service):
                    self._report(service, f"register:{target_group_arn}",
                                 registration_failed_message(service.name, target_group_arn, MISSING_ROLE_ERROR))
                    continue
                try:
                    self.ctx.elbv2().register_targets(target_group_arn, [{"Id": run.target, "Port": port}])
                except Exception as error:  # e.g. the target group was deleted
                    message = getattr(error, "message", None) or str(error)
                    self._report(service, f"register:{target_group_arn}",
                                 registration_failed_message(service.name, target_group_arn, message))
                    continue
                run.targets.append((target_group_arn, port))
                self._resolved(service, f"register:{target_group_arn}")
                self._event(service, registered_message(service.name, 1, target_group_arn))

    @staticmethod
    def _wanted_targets(run: TaskRun, service) -> list[tuple[str, int]]:
        wanted = []
        for lb in service.load_balancers:
            if not lb.get("targetGroupArn") or lb.get("containerName") != run.container_name:
                continue
            binding = next((b for b in run.network_bindings if b["containerPort"] == lb.get("containerPort")), None)
            if binding is not None:
                wanted.append((lb["targetGroupArn"], binding["hostPort"]))
        return wanted

    def _may_register(self, service) -> bool:
        # Without AWSServiceRoleForECS (or a legacy per-service role) ECS may not call ELB (FACTS.md).
        if service.role_arn:
            return True
        try:
            self.ctx.iam().get_role(ECS_SERVICE_LINKED_ROLE)
        except Exception:
            return False
        return True

    # -- 5. services report -----------------------------------------------------------------------
    def _report_services(self) -> None:
        ecs = self.ctx.ecs()
        for service in list(ecs.services.values()):
            runs = [run for run in self._runs.values() if run.service_arn == service.arn]
            statuses = [self._task(run).last_status for run in runs]
            service.running_count = statuses.count("RUNNING")
            service.pending_count = statuses.count("PENDING") + statuses.count("PROVISIONING")
            for index, deployment in enumerate(service.deployments):
                mine = [self._task(run).last_status for run in runs if self._task(run).started_by == deployment["id"]]
                if index == 0:  # (an ACTIVE deployment keeps the desiredCount it had)
                    deployment["desiredCount"] = service.desired_count
                deployment.update(runningCount=mine.count("RUNNING"), updatedAt=_now(),
                                  pendingCount=mine.count("PENDING") + mine.count("PROVISIONING"))
            if service.status == "ACTIVE" and self._steady(service, runs):
                self._complete_deployment(service)
                self._report(service, "steady", steady_state_message(service.name))
            else:
                self._resolved(service, "steady")
        for cluster in ecs.clusters.values():
            statuses = [self._task(run).last_status for run in self._runs.values() if run.cluster_name == cluster.name]
            cluster.running_tasks_count = statuses.count("RUNNING")
            cluster.pending_tasks_count = statuses.count("PENDING") + statuses.count("PROVISIONING")
        self._report_container_instances()

    def _steady(self, service, runs: list[TaskRun]) -> bool:
        # Steady: the desired number of tasks running, none pending or draining, and every target
        # healthy in its load balancer (ECS API TaskSet.stabilityStatus).
        if service.running_count != service.desired_count or len(runs) != service.desired_count:
            return False
        # A rollout is steady only once every task is the PRIMARY deployment's: a stalled one
        # (old tasks still serving, the new ones unplaceable) stays IN_PROGRESS.
        primary = service.deployments[0]["id"] if service.deployments else None
        if primary is not None and any(self._task(run).started_by != primary for run in runs):
            return False
        return all(not run.stopping and self._healthy(run, service) for run in runs)

    def _complete_deployment(self, service) -> None:
        deployment = service.deployments[0] if service.deployments else None
        if deployment is None or deployment.get("rolloutState") == "COMPLETED":
            return
        deployment["rolloutState"] = "COMPLETED"
        deployment["rolloutStateReason"] = f"ECS deployment {deployment['id']} completed."
        self._event(service, deployment_completed_message(service.name, deployment["id"]))

    def _report_container_instances(self) -> None:
        for agent in self._agents.values():
            container_instance = self._container_instance(agent)
            if container_instance is None:
                continue
            on_instance = [run for run in self._runs.values() if run.instance_id == agent.instance_id]
            # PORTS lists the reserved and static host ports; dynamic ones are not counted
            # (ECS API PortMapping: they "do not count toward the 100 reserved ports limit").
            static = set().union(*(run.needs.static_host_ports for run in on_instance))
            container_instance.remaining_resources = resources(
                agent.cpu - sum(run.needs.cpu for run in on_instance),
                agent.memory - sum(run.needs.memory for run in on_instance),
                agent.reserved_ports | static)
            statuses = [self._task(run).last_status for run in on_instance]
            container_instance.running_tasks_count = statuses.count("RUNNING")
            container_instance.pending_tasks_count = statuses.count("PENDING")

    # -- events -------------------------------------------------------------------------------------
    def _event(self, service, message: str) -> None:
        if service is None:
            return
        service.events.insert(0, {"id": str(uuid.uuid4()), "createdAt": _now(), "message": message})
        del service.events[MAX_EVENTS:]

    def _report(self, service, kind: str, message: str) -> None:
        """An event AWS does not repeat while its cause lasts (it repeats it every six hours)."""
        memory = self._services.setdefault(service.arn, ServiceMemory())
        last = memory.reported.get(kind)
        now = time.monotonic()
        if last is not None and last[0] == message and now - last[1] < self.ctx.timescale.real(EVENT_REPEAT_AFTER):
            return
        memory.reported[kind] = (message, now)
        self._event(service, message)

    def _resolved(self, service, kind: str) -> None:
        self._services.setdefault(service.arn, ServiceMemory()).reported.pop(kind, None)

    # -- moto lookups (hold ctx.lock) ----------------------------------------------------------------
    def _task(self, run: TaskRun):
        return self.ctx.ecs().tasks.get(run.cluster_name, {}).get(run.task_arn)

    def _target_record(self, target_group_arn: str, instance_id: str, port: int) -> dict | None:
        target_group = self.ctx.elbv2().target_groups.get(target_group_arn)
        if target_group is None:
            return None
        return next((record for record in target_group.targets.values()
                     if record.get("Id") == instance_id and int(record.get("Port") or 0) == port), None)


# -- pure helpers ------------------------------------------------------------------------------------

def user_data_text(user_data: Any) -> str:
    """moto keeps user data base64-encoded (boto3 encodes the script it is given)."""
    if user_data is None:
        return ""
    encoded = user_data.decode() if hasattr(user_data, "decode") and not isinstance(user_data, bytes) else None
    if encoded is not None:
        return encoded
    try:
        return base64.b64decode(user_data).decode(errors="replace")
    except Exception:
        return str(user_data)


def cluster_from_user_data(text: str) -> str | None:
    settings = agent_config.agent_settings(text)
    return settings.cluster if settings.cluster_given else None


def service_placement(service) -> tuple[tuple[placement.Strategy, ...], tuple[placement.Constraint, ...]]:
    """The service's placement strategies and constraints (checked by CreateService/UpdateService:
    moto_fixes/ecs_placement.py keeps them on the service)."""
    return (placement.parse_strategies(getattr(service, "placement_strategy", None)),
            placement.parse_constraints(getattr(service, "placement_constraints", None)))


def instance_resources(instance_type: str) -> tuple[int, int]:
    """(CPU units, MiB) the agent registers for an instance type (see placement.registered_resources)."""
    info = INSTANCE_TYPES.get(instance_type) or INSTANCE_TYPES["t3.small"]
    return placement.registered_resources(info["VCpuInfo"]["DefaultVCpus"], info["MemoryInfo"]["SizeInMiB"])


def resources(cpu: int, memory: int, ports) -> list[dict]:
    """A container instance's resources in the ECS API's shape (Resource)."""
    return [
        {"name": "CPU", "type": "INTEGER", "integerValue": cpu, "doubleValue": 0.0, "longValue": 0},
        {"name": "MEMORY", "type": "INTEGER", "integerValue": memory, "doubleValue": 0.0, "longValue": 0},
        {"name": "PORTS", "type": "STRINGSET", "stringSetValue": [str(p) for p in sorted(ports)],
         "integerValue": 0, "doubleValue": 0.0, "longValue": 0},
        {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": [], "integerValue": 0, "doubleValue": 0.0, "longValue": 0},
    ]


def main_container(definition, load_balancers: list[dict]) -> dict:
    """The container that serves traffic: the one the load balancer names, else the first with ports."""
    containers = definition.container_definitions
    named = {lb.get("containerName") for lb in load_balancers}
    return (next((c for c in containers if c.get("name") in named), None)
            or next((c for c in containers if c.get("portMappings")), None)
            or containers[0])


def task_needs(definition, container_def: dict) -> placement.TaskNeeds:
    """CPU, memory and host ports one task reserves (task-level sizes win over container sums;
    memoryReservation over memory - ECS API ContainerDefinition)."""
    containers = definition.container_definitions
    cpu = int(definition.cpu) if definition.cpu else sum(int(c.get("cpu") or 0) for c in containers)
    memory = (int(definition.memory) if definition.memory
              else sum(int(c.get("memoryReservation") or c.get("memory") or 0) for c in containers))
    static, dynamic = [], 0
    host_mode = definition.network_mode == "host"
    if awsvpc.is_awsvpc(definition):  # the task's own ENI, attached to the instance: no host port taken
        return placement.TaskNeeds(cpu, memory, (), 0, enis=1)
    for mapping in container_def.get("portMappings") or []:
        host_port = mapping.get("containerPort") if host_mode else mapping.get("hostPort")
        if host_port:
            static.append(int(host_port))
        else:
            dynamic += 1
    return placement.TaskNeeds(cpu, memory, tuple(static), dynamic)


def network_bindings(definition, container_def: dict, dynamic_ports) -> list[dict]:
    """containers[].networkBindings once RUNNING (ECS API NetworkBinding). In awsvpc mode these
    are the sandbox's own record (host port = container port on the task's IP); AWS shows none."""
    host_mode = definition.network_mode in ("host", "awsvpc")
    bindings = []
    for mapping in container_def.get("portMappings") or []:
        container_port = int(mapping["containerPort"])
        host_port = container_port if host_mode else (mapping.get("hostPort") or next(dynamic_ports))
        bindings.append({"bindIP": "0.0.0.0", "containerPort": container_port, "hostPort": int(host_port),
                         "protocol": mapping.get("protocol") or "tcp"})
    return bindings
