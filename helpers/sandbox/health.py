"""The ELB health checker: sends every registered target real HTTP health checks, as an ALB does.

One background thread looks at every target group a few dozen times a second. A target is due
for a check every HealthCheckIntervalSeconds (AWS time, scaled by `ctx.timescale`); due checks
run in a small thread pool so one slow target does not hold up the others. What a check
observes becomes a `CheckResult` and the pure state machine in `target_health.py` turns it into
the record's new State / Reason / Description, which `describe_target_health` shows.

What one check observes, in this order (the reasons AWS reports, FACTS.md):
  1. no listener or rule forwards to the target group -> unused, Target.NotInUse (nothing sent)
  2. the target's AZ is not enabled for the ALB     -> unused, Target.NotInUse (nothing sent)
  3. the instance is not running                     -> unused, Target.InvalidState (nothing sent)
  then over the wire (wire.py):
  4. an SG or NACL drops the ALB's packets (the evaluator's ALB-to-target leg is blocked)
                                                     -> no answer within the timeout: Target.Timeout
  5. nothing listens on that instance port           -> connection refused: Target.FailedHealthChecks
  6. a real `GET <path>` to the container            -> the status code against the Matcher
Settings are read afresh for every check, so a change made through the API (a new path, a
revoked SG rule) shows at the next check.
"""

from __future__ import annotations

import http.client
import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from helpers import evaluator
from helpers.sandbox import target_health as th
from helpers.sandbox.addresses import holder_of_address
from helpers.sandbox.moto_fixes import target_records
from helpers.sandbox.wire import Dropped, Refused, sandbox_wire

log = logging.getLogger("helpers.sandbox.health")

# What an ALB's health checks send (ALB User Guide, "Health checks for your target groups").
USER_AGENT = "ELB-HealthChecker/2.0"
# Real seconds between looks at the schedule: well below the shortest interval (5 s AWS = 0.1 s at 0.02).
TICK = 0.02
POOL_SIZE = 8
# A real HTTP check never gets less than this (real seconds): at the default time scale AWS's 6 s
# timeout is 120 ms, and a busy laptop can take longer to answer - a false "unhealthy" would teach
# the wrong lesson. Dropped packets still wait only the scaled timeout (nothing would ever answer).
MIN_REAL_HTTP_TIMEOUT = 1.0


@dataclass(frozen=True)
class _Check:
    """One health check to send, with the settings it was planned with."""

    key: tuple  # (target group ARN, target id, port, RegisteredAt): one registration of a target
    record: dict  # the target record itself; the result applies only if it is still registered
    load_balancer_arn: str
    target_id: str  # as registered: an instance id, or an IP for ip targets
    instance_id: str
    vpc_id: str  # the target group's: an IP target's address means an address in it
    port: int  # the health-check port: the target's port ("traffic-port") or a fixed one
    path: str
    matcher: str
    timeout: float  # real seconds


class HealthChecker:
    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self.wire = sandbox_wire(ctx)  # how a check reaches a target
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._mutex = threading.Lock()  # guards the two schedules below (not moto's models)
        self._last_sent: dict[tuple, float] = {}  # check key -> monotonic time the last check was sent
        self._in_flight: set[tuple] = set()

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        self._stop.clear()
        self._pool = ThreadPoolExecutor(max_workers=POOL_SIZE, thread_name_prefix="health-check")
        self._thread = threading.Thread(target=self._run, name="health-checker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()  # also wakes checks that are waiting out a timeout
        if self._thread is not None:
            self._thread.join(timeout=1)
            self._thread = None
        if self._pool is not None:
            # Wait for checks under way (each bounded by its timeout), so none outlives the API.
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def reset(self) -> None:
        """Forget every schedule (moto's reset has dropped the records themselves)."""
        with self._mutex:
            self._last_sent.clear()
            self._in_flight.clear()

    # -- the loop --------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.wait(TICK):
            try:
                self._tick()
            except Exception:  # keep checking; one bad tick must not end health checks
                if not self._stop.is_set():  # (while stopping, the pool may already be shut down)
                    log.exception("health check round failed")

    def _tick(self) -> None:
        with self.ctx.lock:
            checks = self._plan(time.monotonic())
        pool = self._pool
        if pool is None or self._stop.is_set():
            return
        for check in checks:
            pool.submit(self._run_check, check)

    def _plan(self, now: float) -> list[_Check]:
        """Under ctx.lock: drop drained targets, mark unused ones, and pick the checks now due."""
        elbv2, ec2 = self.ctx.elbv2(), self.ctx.ec2()
        in_use = _load_balancer_by_target_group(elbv2)
        enabled_zones = {lb.arn: {subnet.availability_zone for subnet in lb.subnets} for lb in elbv2.load_balancers.values()}
        timescale = self.ctx.timescale
        checks: list[_Check] = []
        live: set[tuple] = set()
        with self._mutex:
            for tg in list(elbv2.target_groups.values()):
                th.remove_drained(tg.targets, now)
                for record in target_records(tg):
                    if record["State"] == th.DRAINING:
                        continue  # draining targets are not checked
                    key = (tg.arn, record["Id"], record["Port"], record["RegisteredAt"])
                    live.add(key)
                    if key in self._in_flight:
                        continue
                    load_balancer_arn = in_use.get(tg.arn)
                    instance = _instance(ec2, record["Id"], tg.vpc_id)
                    if load_balancer_arn is None:
                        self._apply(tg, record, th.not_in_use())
                    elif instance is not None and _zone(instance) not in (enabled_zones[load_balancer_arn] | {None}):
                        self._apply(tg, record, th.zone_not_enabled())
                    elif instance is None or instance.state != "running":
                        self._apply(tg, record, th.invalid_state(instance.state if instance else "unknown"))
                    elif self._due(key, tg, now, timescale):
                        record.update(th.begin_check(record))
                        self._last_sent[key] = now
                        self._in_flight.add(key)
                        checks.append(_Check(
                            key=key, record=record, load_balancer_arn=load_balancer_arn,
                            target_id=record["Id"], instance_id=instance.id, vpc_id=tg.vpc_id,
                            port=th.health_check_port(tg.health_check_port, record["Port"]),
                            path=tg.health_check_path or "/",
                            matcher=(getattr(tg, "matcher", None) or {}).get("HttpCode", "200"),
                            timeout=timescale.real(int(tg.health_check_timeout_seconds)),
                        ))
            # Forget targets that are gone, so the schedule does not grow forever.
            self._last_sent = {key: sent for key, sent in self._last_sent.items() if key in live}
        return checks

    def _due(self, key: tuple, tg: Any, now: float, timescale) -> bool:
        # Read the interval every time: a modified interval applies from the next check.
        # The first check comes one interval after registration (key[3], RegisteredAt): AWS does not
        # document when it starts, only that a new target shows `initial` meanwhile - our choice,
        # which also lets a learner see `initial` on every run instead of by chance.
        last = self._last_sent.get(key, key[3])
        return now - last >= timescale.real(int(tg.health_check_interval_seconds))

    # -- one check, in the pool ----------------------------------------------------------------
    def _run_check(self, check: _Check) -> None:
        try:
            result = self._observe(check, self.ctx.snapshot())
            if not self._stop.is_set():
                with self.ctx.lock:
                    tg = self.ctx.elbv2().target_groups.get(check.key[0])
                    # Deregistered (or deregistered and registered again) meanwhile: drop the result.
                    if tg is not None and tg.targets.get((check.target_id, check.record["Port"])) is check.record:
                        self._apply(tg, check.record, result)
        except Exception:
            if not self._stop.is_set():  # (while stopping, the API may already be gone)
                log.exception("health check of %s:%s failed", check.instance_id, check.port)
        finally:
            with self._mutex:
                self._in_flight.discard(check.key)

    def _observe(self, check: _Check, snapshot) -> th.CheckResult:
        """Send one health check; no locks held (network I/O and the evaluator)."""
        leg = evaluator.evaluate_alb_to_target(snapshot, check.load_balancer_arn, check.target_id, check.port)
        http_timeout = max(check.timeout, MIN_REAL_HTTP_TIMEOUT)
        # Dropped packets get no answer at all: the load balancer waits out the (scaled) timeout.
        connection = self.wire.connect(check.instance_id, check.port, vpc_id=check.vpc_id, path_open=leg.reachable, timeout=http_timeout,
                                       dropped_wait=check.timeout, cancel=self._stop)
        if isinstance(connection, Dropped):
            return th.timed_out()
        if isinstance(connection, Refused):
            return th.connection_failed()  # nothing listens on that port: the host answers with a reset
        return http_check(connection.sock, check.path, check.matcher, http_timeout)

    @staticmethod
    def _apply(tg: Any, record: dict, result: th.CheckResult) -> None:
        """Under ctx.lock. Thresholds are read now, so a modified threshold counts at once."""
        record.update(th.apply_result(record, result,
                                      healthy_threshold=int(tg.healthy_threshold_count),
                                      unhealthy_threshold=int(tg.unhealthy_threshold_count)))


def http_check(sock: socket.socket, path: str, matcher: str, timeout: float) -> th.CheckResult:
    """One HTTP health check on a connected socket (closed afterwards): GET `path`, and compare the
    status code with the Matcher."""
    # The timeout bounds each step (send, wait for the status line); the sandbox's containers
    # answer at once, so in practice it bounds the whole check.
    host, port = sock.getpeername()[:2]  # for the Host header
    sock.settimeout(timeout)
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    connection.sock = sock
    try:
        connection.request("GET", path, headers={"User-Agent": USER_AGENT})
        status = connection.getresponse().status
    except TimeoutError:
        return th.timed_out()
    except (OSError, http.client.HTTPException):  # refused, reset, or not HTTP
        return th.connection_failed()
    finally:
        connection.close()
    return th.passed() if th.matches(matcher, status) else th.code_mismatch(status)


@dataclass(frozen=True)
class _TaskInterface:
    """An awsvpc task's own ENI behind an ip target (sandbox/awsvpc.py); the wire knows its
    container by the IP."""

    id: str
    state: str = "running"
    zone: str | None = None  # its subnet's Availability Zone


def _instance(ec2: Any, target_id: str, vpc_id: str):
    """The EC2 instance behind a target: an instance id, or (ip targets) a private IP in the target
    group's VPC - an instance's, or an awsvpc task's interface."""
    if target_id.startswith("i-"):
        return ec2.get_instance_by_id(target_id)
    holder = holder_of_address(ec2, vpc_id, target_id)
    if holder is None or holder.interface is None:
        return holder.instance if holder else None
    return _TaskInterface(target_id, zone=getattr(getattr(holder.interface, "subnet", None), "availability_zone", None))


def _zone(instance) -> str | None:
    """The Availability Zone of an instance, or of an awsvpc task's interface."""
    placement = getattr(instance, "placement", None)
    return placement.zone if placement is not None else getattr(instance, "zone", None)


def _load_balancer_by_target_group(elbv2: Any) -> dict[str, str]:
    """Target group ARN -> the load balancer whose listener (default action or rule) forwards to it.
    A target group belongs to at most one load balancer (FACTS.md)."""
    found: dict[str, str] = {}
    for lb in elbv2.load_balancers.values():
        for listener in lb.listeners.values():
            for rule in listener.rules.values():
                for action in rule.actions:
                    if action.type != "forward":
                        continue
                    data = action.data
                    arns = [data["TargetGroupArn"]] if data.get("TargetGroupArn") else [
                        tg["TargetGroupArn"] for tg in data.get("ForwardConfig", {}).get("TargetGroups", [])]
                    for arn in arns:
                        found.setdefault(arn, lb.arn)
    return found
