"""The ELB target state machine: every state, reason and transition of a registered target, as
pure functions on target records - no threads, no network, no moto.

A target record is a dict (docs/ARCHITECTURE.md, "target record"); a target group keeps them in a
dict keyed by (Id, Port). `moto_fixes.elbv2` installs this module behind RegisterTargets,
DeregisterTargets and DescribeTargetHealth; `HealthChecker` (health.py) does the I/O and feeds
what one health check observed to `begin_check` / `apply_result`:

    records = {}
    register(records, {"Id": "i-1", "Port": 32768}, default_port=80, now=0.0)   # initial
    record = records[("i-1", 32768)]
    record.update(begin_check(record))                                          # a check is on its way
    record.update(apply_result(record, timed_out(), healthy_threshold=5, unhealthy_threshold=2))
    start_draining(records, ("i-1", 32768), real_delay=6.0, now=1.0)          # deregistered
    remove_drained(records, now=7.0)                                            # gone
    describe(record, health_check_port(None, 32768))                            # DescribeTargetHealth

The check transitions return the fields to change, so the same record and the same sequence of
results always give the same states.

AWS's rules (ALB User Guide, "Health checks for your target groups"; ELBv2 API, TargetHealth):
- A newly registered target starts `initial` and turns healthy after ONE passing check.
- UnhealthyThresholdCount consecutive failures make a target unhealthy (a new one, too).
- HealthyThresholdCount consecutive passes bring an unhealthy target back.
- A healthy target has no Reason and no Description.
- A deregistered target drains for deregistration_delay.timeout_seconds (0: removed at once),
  and registering it again cancels that (ALB User Guide, "Deregistration delay").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, MutableMapping

from helpers.facts import DEFAULT_DEREGISTRATION_DELAY

# TargetHealth.State (ELBv2 API reference).
INITIAL, HEALTHY, UNHEALTHY, UNUSED, DRAINING, UNAVAILABLE = (
    "initial", "healthy", "unhealthy", "unused", "draining", "unavailable")
# States that take no new requests, even when the ALB fails open.
NOT_ROUTABLE = frozenset({DRAINING, UNUSED})

# Reason codes and their Description texts, from the ALB User Guide's table "Health check reason
# codes" (awsdocs/elb-application-load-balancers-user-guide, target-group-health-checks.md).
REGISTRATION_IN_PROGRESS = ("Elb.RegistrationInProgress", "Target registration is in progress")
INITIAL_HEALTH_CHECKING = ("Elb.InitialHealthChecking", "Initial health checks in progress")
FAILED_HEALTH_CHECKS = ("Target.FailedHealthChecks", "Health checks failed")
TIMEOUT = ("Target.Timeout", "Request timed out")
NOT_REGISTERED = ("Target.NotRegistered", "Target is not registered to the target group")
NOT_IN_USE = ("Target.NotInUse", "Target group is not configured to receive traffic from the load balancer")
# Same reason code, other cause: the target's Availability Zone is not enabled for the load balancer.
# It gets no health checks and no traffic (same table; FACTS.md "Availability Zones").
ZONE_NOT_ENABLED = ("Target.NotInUse", "Target is in an Availability Zone that is not enabled for the load balancer")
DEREGISTRATION_IN_PROGRESS = ("Target.DeregistrationInProgress", "Target deregistration is in progress")
HEALTH_CHECK_DISABLED = ("Target.HealthCheckDisabled", "Health checks are disabled")
RESPONSE_CODE_MISMATCH = "Target.ResponseCodeMismatch"  # "Health checks failed with these codes: [code]"
INVALID_STATE = "Target.InvalidState"  # "Target is in the stopped state" / "... terminated state" / ...

# The health-check port that means "each target's own port" (ELBv2 API CreateTargetGroup).
TRAFFIC_PORT = "traffic-port"


@dataclass(frozen=True)
class CheckResult:
    """What one health check found.

    kind: "pass", "fail" (the check ran and failed) or "unused" (no check is sent at all:
          the target group has no listener, the target's AZ is not enabled for the load
          balancer, or the instance is not running).
    """

    kind: str
    reason: str | None = None
    description: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("pass", "fail", "unused"):
            raise ValueError(f"kind must be 'pass', 'fail' or 'unused', got {self.kind!r}")
        if (self.kind == "pass") != (self.reason is None):
            raise ValueError("a passing check has no reason; a failing or unused one has one")


def passed() -> CheckResult:
    return CheckResult("pass")


def timed_out() -> CheckResult:
    """No answer within HealthCheckTimeoutSeconds - also what a dropped packet looks like."""
    return CheckResult("fail", *TIMEOUT)


def connection_failed() -> CheckResult:
    """Connection refused or reset, or a malformed response."""
    return CheckResult("fail", *FAILED_HEALTH_CHECKS)


def code_mismatch(status: int) -> CheckResult:
    return CheckResult("fail", RESPONSE_CODE_MISMATCH, f"Health checks failed with these codes: [{status}]")


def not_in_use() -> CheckResult:
    return CheckResult("unused", *NOT_IN_USE)


def zone_not_enabled() -> CheckResult:
    """The target is in an AZ the load balancer is not enabled in: no check is sent."""
    return CheckResult("unused", *ZONE_NOT_ENABLED)


def invalid_state(instance_state: str) -> CheckResult:
    if instance_state in ("stopped", "terminated"):
        description = f"Target is in the {instance_state} state"
    else:
        description = "Target is in an invalid state"
    return CheckResult("unused", INVALID_STATE, description)


def matches(matcher: str, status: int) -> bool:
    """Does `status` satisfy a Matcher HttpCode: "200", "200,302", "200-299" or a mix ("200-204,302")."""
    for part in matcher.replace(" ", "").split(","):
        if not part:
            continue
        low, _, high = part.partition("-")
        if int(low) <= status <= int(high or low):
            return True
    return False


def begin_check(record: Mapping[str, Any]) -> dict[str, Any]:
    """A check is being sent. A target not yet judged (new, or back from `unused`) is now in its
    initial health checks."""
    if record["State"] in (INITIAL, UNUSED):
        return {"State": INITIAL, "Reason": INITIAL_HEALTH_CHECKING[0], "Description": INITIAL_HEALTH_CHECKING[1]}
    return {}


def apply_result(record: Mapping[str, Any], result: CheckResult, *,
                 healthy_threshold: int, unhealthy_threshold: int) -> dict[str, Any]:
    """The fields of `record` to change after `result`. Draining targets are never checked."""
    state = record["State"]
    if state == DRAINING:
        return {}
    if result.kind == "unused":
        # Not checked: the counters start again when checks resume.
        return {"State": UNUSED, "Reason": result.reason, "Description": result.description,
                "Passes": 0, "Failures": 0}

    judged = state in (HEALTHY, UNHEALTHY)  # initial / unused targets have not been judged yet
    if result.kind == "pass":
        passes = record.get("Passes", 0) + 1
        changes: dict[str, Any] = {"Passes": passes, "Failures": 0}
        # A new target needs one pass; an unhealthy one needs HealthyThresholdCount in a row.
        if not judged or state == HEALTHY or passes >= healthy_threshold:
            changes.update(State=HEALTHY, Reason=None, Description=None)
        return changes

    failures = record.get("Failures", 0) + 1
    changes = {"Passes": 0, "Failures": failures}
    if failures >= unhealthy_threshold or state == UNHEALTHY:
        # Unhealthy shows the latest failure's reason.
        changes.update(State=UNHEALTHY, Reason=result.reason, Description=result.description)
    elif not judged:
        changes.update(State=INITIAL, Reason=INITIAL_HEALTH_CHECKING[0], Description=INITIAL_HEALTH_CHECKING[1])
    # A healthy target below the threshold stays healthy: one failure is not enough.
    return changes


def drained(record: Mapping[str, Any], now: float) -> bool:
    """A draining target whose deregistration delay is over: its record is to be removed."""
    until = record.get("DrainingUntil")
    return record["State"] == DRAINING and until is not None and now >= until


def still_draining(record: Mapping[str, Any] | None, now: float) -> bool:
    """Draining, and its deregistration delay not over yet (a task's container waits for this)."""
    return record is not None and record["State"] == DRAINING and not drained(record, now)


# -- registration: the target group's records, keyed by (Id, Port) -----------------------------------

def target_key(target: Mapping[str, Any], default_port: int) -> tuple[str, int]:
    """A target is (Id, Port); Port defaults to the target group's port (ELBv2 API TargetDescription)."""
    return target["Id"], int(target.get("Port", default_port))


def new_record(target_id: str, port: int, availability_zone: str | None, now: float) -> dict[str, Any]:
    """A just-registered target: `initial`, Elb.RegistrationInProgress."""
    record = {"Id": target_id, "Port": port, "AvailabilityZone": availability_zone, "RegisteredAt": now,
              "DrainingUntil": None, "Passes": 0, "Failures": 0}
    record["State"], (record["Reason"], record["Description"]) = INITIAL, REGISTRATION_IN_PROGRESS
    return record


def register(records: MutableMapping[tuple, dict], target: Mapping[str, Any], *, default_port: int,
             now: float) -> None:
    """RegisterTargets for one target: AWS keeps one registration per Id+Port, starting `initial`.
    Registering a draining target again cancels the deregistration; any other registered target
    is left as it is (registering is idempotent)."""
    key = target_key(target, default_port)
    record = records.get(key)
    if record is None:
        records[key] = new_record(*key, target.get("AvailabilityZone"), now)
    elif record["State"] == DRAINING:
        records[key] = new_record(*key, target.get("AvailabilityZone") or record["AvailabilityZone"], now)


def deregistration_delay(attributes: Mapping[str, str]) -> int:
    """The target group's deregistration delay in AWS seconds (attribute default 300)."""
    return int(attributes.get("deregistration_delay.timeout_seconds", DEFAULT_DEREGISTRATION_DELAY))


def start_draining(records: MutableMapping[tuple, dict], key: tuple[str, int], *, real_delay: float,
                   now: float) -> None:
    """DeregisterTargets for one registered target: draining until `now + real_delay`; a delay
    of 0 removes it at once. A target already draining keeps its deadline."""
    record = records[key]
    if record["State"] == DRAINING:
        return
    if real_delay <= 0:
        del records[key]
        return
    record["State"], (record["Reason"], record["Description"]) = DRAINING, DEREGISTRATION_IN_PROGRESS
    record["DrainingUntil"] = now + real_delay


def remove_drained(records: MutableMapping[tuple, dict], now: float) -> None:
    """Forget every target whose deregistration delay is over."""
    for key in [key for key, record in records.items() if drained(record, now)]:
        del records[key]


# -- DescribeTargetHealth --------------------------------------------------------------------------

def health_check_port(configured: str | int | None, target_port: int) -> int:
    """The port a target's health checks go to: its own port for "traffic-port" (the default),
    else the target group's fixed HealthCheckPort."""
    if configured in (None, TRAFFIC_PORT):
        return int(target_port)
    return int(configured)


def describe(record: Mapping[str, Any], check_port: int) -> dict[str, Any]:
    """One TargetHealthDescription, as DescribeTargetHealth answers it."""
    target = {"Id": record["Id"], "Port": record["Port"]}
    if record.get("AvailabilityZone"):
        target["AvailabilityZone"] = record["AvailabilityZone"]
    return {"Target": target, "HealthCheckPort": str(check_port),
            "TargetHealth": {"State": record["State"], "Reason": record["Reason"],
                             "Description": record["Description"]}}


def describe_unregistered(target_id: str, port: int, check_port: int) -> dict[str, Any]:
    """A target asked about by Id+Port that is not registered: unused, Target.NotRegistered."""
    reason, description = NOT_REGISTERED
    return describe({"Id": target_id, "Port": port, "State": UNUSED, "Reason": reason, "Description": description},
                    check_port)
