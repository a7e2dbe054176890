"""The target state machine (helpers/sandbox/target_health.py): every transition and reason, no threads."""

from __future__ import annotations

import pytest

from helpers.sandbox import target_health as th

THRESHOLDS = {"healthy_threshold": 5, "unhealthy_threshold": 2}  # AWS's defaults (FACTS.md)


def new_record(**fields) -> dict:
    record = {"Id": "i-0123456789abcdef0", "Port": 32768, "State": "initial",
              "Reason": "Elb.RegistrationInProgress", "Description": "Target registration is in progress",
              "RegisteredAt": 0.0, "DrainingUntil": None, "Passes": 0, "Failures": 0}
    record.update(fields)
    return record


def run(record: dict, *results: th.CheckResult, **thresholds) -> dict:
    """Send checks with the given results, as the health checker does, and return the record."""
    for result in results:
        record.update(th.begin_check(record))
        record.update(th.apply_result(record, result, **(thresholds or THRESHOLDS)))
    return record


def healthy_record() -> dict:
    return run(new_record(), th.passed())


def unhealthy_record(result: th.CheckResult | None = None) -> dict:
    result = result or th.timed_out()
    return run(new_record(), result, result)


# -- initial ---------------------------------------------------------------------------------

def test_begin_check_moves_a_new_target_to_initial_health_checking():
    record = new_record()
    record.update(th.begin_check(record))
    assert (record["State"], record["Reason"], record["Description"]) == (
        "initial", "Elb.InitialHealthChecking", "Initial health checks in progress")


def test_a_new_target_turns_healthy_after_one_pass_with_no_reason():
    record = run(new_record(), th.passed())
    assert (record["State"], record["Reason"], record["Description"]) == ("healthy", None, None)
    assert (record["Passes"], record["Failures"]) == (1, 0)


def test_a_new_target_stays_initial_below_the_unhealthy_threshold():
    record = run(new_record(), th.timed_out())
    assert (record["State"], record["Reason"]) == ("initial", "Elb.InitialHealthChecking")
    assert record["Failures"] == 1


def test_a_new_target_turns_unhealthy_at_the_unhealthy_threshold():
    record = run(new_record(), th.timed_out(), th.timed_out())
    assert (record["State"], record["Reason"], record["Description"]) == (
        "unhealthy", "Target.Timeout", "Request timed out")


def test_a_pass_after_one_failure_still_makes_a_new_target_healthy():
    record = run(new_record(), th.connection_failed(), th.passed())
    assert record["State"] == "healthy"


def test_unhealthy_threshold_is_honoured_for_a_new_target():
    record = run(new_record(), *[th.timed_out()] * 4, healthy_threshold=5, unhealthy_threshold=5)
    assert record["State"] == "initial"
    record = run(record, th.timed_out(), healthy_threshold=5, unhealthy_threshold=5)
    assert record["State"] == "unhealthy"


# -- healthy -> unhealthy -> healthy ---------------------------------------------------------------

def test_one_failure_does_not_make_a_healthy_target_unhealthy():
    record = run(healthy_record(), th.timed_out())
    assert (record["State"], record["Reason"], record["Failures"]) == ("healthy", None, 1)


def test_a_pass_resets_the_failure_count():
    record = run(healthy_record(), th.timed_out(), th.passed(), th.timed_out())
    assert record["State"] == "healthy"


@pytest.mark.parametrize("result, reason, description", [
    (th.timed_out(), "Target.Timeout", "Request timed out"),
    (th.connection_failed(), "Target.FailedHealthChecks", "Health checks failed"),
    (th.code_mismatch(404), "Target.ResponseCodeMismatch", "Health checks failed with these codes: [404]"),
])
def test_healthy_turns_unhealthy_after_the_threshold_with_the_reason(result, reason, description):
    record = run(healthy_record(), result, result)
    assert (record["State"], record["Reason"], record["Description"]) == ("unhealthy", reason, description)


def test_an_unhealthy_target_needs_healthy_threshold_passes_in_a_row():
    record = run(unhealthy_record(), *[th.passed()] * 4)
    assert (record["State"], record["Reason"], record["Passes"]) == ("unhealthy", "Target.Timeout", 4)
    record = run(record, th.passed())
    assert (record["State"], record["Reason"], record["Description"]) == ("healthy", None, None)


def test_a_failure_restarts_the_count_back_to_healthy():
    record = run(unhealthy_record(), *[th.passed()] * 4, th.timed_out(), *[th.passed()] * 4)
    assert record["State"] == "unhealthy"


def test_healthy_threshold_two():
    record = run(unhealthy_record(), th.passed(), th.passed(), healthy_threshold=2, unhealthy_threshold=2)
    assert record["State"] == "healthy"


def test_an_unhealthy_target_shows_the_latest_failure():
    record = run(unhealthy_record(th.timed_out()), th.code_mismatch(503))
    assert (record["State"], record["Reason"], record["Description"]) == (
        "unhealthy", "Target.ResponseCodeMismatch", "Health checks failed with these codes: [503]")


def test_begin_check_leaves_judged_targets_alone():
    assert th.begin_check(healthy_record()) == {}
    assert th.begin_check(unhealthy_record()) == {}


# -- unused ------------------------------------------------------------------------------------

def test_not_in_use():
    record = run(healthy_record(), th.not_in_use())
    assert (record["State"], record["Reason"], record["Description"]) == (
        "unused", "Target.NotInUse", "Target group is not configured to receive traffic from the load balancer")
    assert (record["Passes"], record["Failures"]) == (0, 0)


@pytest.mark.parametrize("instance_state, description", [
    ("stopped", "Target is in the stopped state"),
    ("terminated", "Target is in the terminated state"),
    ("stopping", "Target is in an invalid state"),
])
def test_invalid_state(instance_state, description):
    record = run(new_record(), th.invalid_state(instance_state))
    assert (record["State"], record["Reason"], record["Description"]) == ("unused", "Target.InvalidState", description)


def test_an_unused_target_is_judged_afresh_when_checks_resume():
    record = run(unhealthy_record(), th.not_in_use())
    record.update(th.begin_check(record))
    assert (record["State"], record["Reason"]) == ("initial", "Elb.InitialHealthChecking")
    record = run(record, th.passed())
    assert record["State"] == "healthy"  # one pass, like a new target


# -- draining ----------------------------------------------------------------------------------

def test_draining_targets_are_not_changed_by_results():
    record = new_record(State="draining", Reason="Target.DeregistrationInProgress", DrainingUntil=10.0)
    assert th.apply_result(record, th.passed(), **THRESHOLDS) == {}
    assert th.apply_result(record, th.not_in_use(), **THRESHOLDS) == {}
    assert th.begin_check(record) == {}


def test_drained_only_after_the_deadline():
    record = new_record(State="draining", Reason="Target.DeregistrationInProgress", DrainingUntil=10.0)
    assert not th.drained(record, 9.99)
    assert th.drained(record, 10.0)
    assert not th.drained(healthy_record(), 1e9)


# -- determinism and the matcher -----------------------------------------------------------------

def test_same_results_same_states():
    results = [th.timed_out(), th.passed(), th.code_mismatch(500), th.code_mismatch(500), th.passed(),
               th.not_in_use(), th.connection_failed(), th.connection_failed()]

    def states():
        record, seen = new_record(), []
        for result in results:
            run(record, result)
            seen.append((record["State"], record["Reason"]))
        return seen

    assert states() == states()
    assert states()[-1] == ("unhealthy", "Target.FailedHealthChecks")


@pytest.mark.parametrize("matcher, status, expected", [
    ("200", 200, True), ("200", 204, False),
    ("200-299", 204, True), ("200-299", 300, False),
    ("200,302", 302, True), ("200,302", 301, False),
    ("200-204,302", 203, True), ("200-204,302", 404, False),
])
def test_matcher(matcher, status, expected):
    assert th.matches(matcher, status) is expected


def test_check_result_rejects_nonsense():
    with pytest.raises(ValueError):
        th.CheckResult("maybe")
    with pytest.raises(ValueError):
        th.CheckResult("fail")  # a failure needs a reason


# -- registration, draining, removal, DescribeTargetHealth -----------------------------------------

def test_register_starts_initial_and_keys_by_id_and_port():
    records: dict = {}
    th.register(records, {"Id": "i-1", "Port": 32768}, default_port=80, now=1.0)
    th.register(records, {"Id": "i-1"}, default_port=80, now=1.0)  # Port omitted: the group's port
    assert sorted(records) == [("i-1", 80), ("i-1", 32768)]
    record = records[("i-1", 32768)]
    assert (record["State"], record["Reason"], record["Description"]) == (
        "initial", "Elb.RegistrationInProgress", "Target registration is in progress")
    assert (record["RegisteredAt"], record["DrainingUntil"], record["Passes"], record["Failures"]) == (1.0, None, 0, 0)


def test_registering_again_is_idempotent_but_cancels_draining():
    records: dict = {}
    th.register(records, {"Id": "i-1", "Port": 32768}, default_port=80, now=1.0)
    records[("i-1", 32768)].update(State="healthy", Reason=None, Description=None)
    th.register(records, {"Id": "i-1", "Port": 32768}, default_port=80, now=2.0)
    assert records[("i-1", 32768)]["State"] == "healthy"
    th.start_draining(records, ("i-1", 32768), real_delay=6.0, now=3.0)
    th.register(records, {"Id": "i-1", "Port": 32768}, default_port=80, now=4.0)
    assert (records[("i-1", 32768)]["State"], records[("i-1", 32768)]["RegisteredAt"]) == ("initial", 4.0)


def test_draining_lasts_the_delay_then_the_target_is_removed():
    records: dict = {}
    th.register(records, {"Id": "i-1", "Port": 32768}, default_port=80, now=0.0)
    th.start_draining(records, ("i-1", 32768), real_delay=6.0, now=1.0)
    record = records[("i-1", 32768)]
    assert (record["State"], record["Reason"], record["DrainingUntil"]) == (
        "draining", "Target.DeregistrationInProgress", 7.0)
    th.start_draining(records, ("i-1", 32768), real_delay=6.0, now=5.0)  # already draining: same deadline
    assert record["DrainingUntil"] == 7.0
    assert th.still_draining(record, 6.9) and not th.drained(record, 6.9)
    assert th.apply_result(record, th.passed(), **THRESHOLDS) == {}  # draining targets are not judged
    th.remove_drained(records, 6.9)
    assert ("i-1", 32768) in records
    assert th.drained(record, 7.0) and not th.still_draining(record, 7.0)
    th.remove_drained(records, 7.0)
    assert records == {}


def test_a_zero_deregistration_delay_removes_at_once():
    records: dict = {}
    th.register(records, {"Id": "i-1", "Port": 32768}, default_port=80, now=0.0)
    th.start_draining(records, ("i-1", 32768), real_delay=0, now=1.0)
    assert records == {}


def test_deregistration_delay_defaults_to_300_seconds():
    assert th.deregistration_delay({}) == 300
    assert th.deregistration_delay({"deregistration_delay.timeout_seconds": "5"}) == 5


def test_health_check_port_is_the_targets_own_unless_fixed():
    assert th.health_check_port(None, 32768) == 32768
    assert th.health_check_port("traffic-port", 32768) == 32768
    assert th.health_check_port("8080", 32768) == 8080


def test_describe_renders_a_record_as_describe_target_health_does():
    described = th.describe(new_record(AvailabilityZone="us-east-1a"), 32768)
    assert described == {
        "Target": {"Id": "i-0123456789abcdef0", "Port": 32768, "AvailabilityZone": "us-east-1a"},
        "HealthCheckPort": "32768",
        "TargetHealth": {"State": "initial", "Reason": "Elb.RegistrationInProgress",
                         "Description": "Target registration is in progress"},
    }
    assert th.describe_unregistered("i-1", 40000, 40000)["TargetHealth"] == {
        "State": "unused", "Reason": "Target.NotRegistered",
        "Description": "Target is not registered to the target group"}
