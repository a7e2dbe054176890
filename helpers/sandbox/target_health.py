"""The ELB target state machine, as pure functions: no threads, no network, no moto.

`HealthChecker` (health.py) does the I/O - it decides what one health check observed - and this
module decides what that observation does to a target record (docs/ARCHITECTURE.md):

    record = {"State": "initial", "Reason": "Elb.RegistrationInProgress", ..., "Passes": 0, "Failures": 0}
    record.update(begin_check(record))                      # a check is on its way
    record.update(apply_result(record, timed_out(), healthy_threshold=5, unhealthy_threshold=2))

Every function returns the fields to change, so the same record and the same sequence of
results always give the same states.

AWS's rules (ALB User Guide, "Health checks for your target groups"; ELBv2 API, TargetHealth):
- A newly registered target turns healthy after ONE passing check.
- UnhealthyThresholdCount consecutive failures make a target unhealthy (a new one, too).
- HealthyThresholdCount consecutive passes bring an unhealthy target back.
- A healthy target has no Reason and no Description.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

INITIAL, HEALTHY, UNHEALTHY, UNUSED, DRAINING = "initial", "healthy", "unhealthy", "unused", "draining"

# Reason codes and their Description texts, from the ALB User Guide's table "Health check reason
# codes" (awsdocs/elb-application-load-balancers-user-guide, target-group-health-checks.md).
REGISTRATION_IN_PROGRESS = ("Elb.RegistrationInProgress", "Target registration is in progress")
INITIAL_HEALTH_CHECKING = ("Elb.InitialHealthChecking", "Initial health checks in progress")
FAILED_HEALTH_CHECKS = ("Target.FailedHealthChecks", "Health checks failed")
TIMEOUT = ("Target.Timeout", "Request timed out")
NOT_IN_USE = ("Target.NotInUse", "Target group is not configured to receive traffic from the load balancer")
RESPONSE_CODE_MISMATCH = "Target.ResponseCodeMismatch"  # "Health checks failed with these codes: [code]"
INVALID_STATE = "Target.InvalidState"  # "Target is in the stopped state" / "... terminated state" / ...


@dataclass(frozen=True)
class CheckResult:
    """What one health check found.

    kind: "pass", "fail" (the check ran and failed) or "unused" (no check is sent at all:
          the target group has no listener, or the instance is not running).
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
    """A draining target whose deregistration delay is over: remove its record."""
    until = record.get("DrainingUntil")
    return record["State"] == DRAINING and until is not None and now >= until
