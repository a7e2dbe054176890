"""helpers/widgets: the models driven as plain traitlets objects (no browser); the views only
constructed and checked to follow their model."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from traitlets import TraitError

from helpers.evaluator.model import Explanation, Flow, TargetLeg, Verdict
from helpers.widgets import (
    PortProbe, PortProbeView, RuleToggle, RuleToggleView, ServiceScaler, ServiceScalerView, verdict_summary,
)

DNS = "lab-alb-1.us-east-1.elb.amazonaws.com"


@dataclass
class FakeOutcome:
    """Stands for helpers.traffic.Outcome: it says itself in words."""

    text: str

    def summary(self) -> str:
        return self.text


def fake_request(url: str) -> FakeOutcome:
    return FakeOutcome("200 OK - answered by task 1a2b" if url.endswith(":80/") else "timed out after 3 s")


def blocked_verdict() -> Verdict:
    return Verdict(Flow(DNS, 8081), "dropped", explanations=(
        Explanation("ENI_SG_RULES_MISMATCH", "sg-0alb", "", ""), Explanation("ELBV2_LISTENERS_MISMATCH", "arn", "", "")))


def open_verdict(*legs: TargetLeg) -> Verdict:
    return Verdict(Flow(DNS, 80), "listener", target_group_arns=("tg",), targets=legs)


def leg(port: int, *codes: str) -> TargetLeg:
    return TargetLeg("tg", "i-0host1", port, "healthy", (), tuple(Explanation(c, "sg-0host", "", "") for c in codes))


# -- verdict_summary -----------------------------------------------------------------------------

def test_verdict_summary_names_every_blocker_and_the_blocked_targets():
    assert verdict_summary(blocked_verdict()) == "blocked: ENI_SG_RULES_MISMATCH, ELBV2_LISTENERS_MISMATCH"
    assert verdict_summary(open_verdict(leg(32768))) == "reachable"
    assert verdict_summary(open_verdict(leg(32768), leg(32769, "SUBNET_ACL_RESTRICTION"))) == (
        "reachable; 1 of 2 targets blocked: SUBNET_ACL_RESTRICTION")
    assert verdict_summary(open_verdict(leg(32768, "ENI_SG_RULES_MISMATCH"))) == (
        "blocked; 1 of 1 targets blocked: ENI_SG_RULES_MISMATCH")


def test_verdict_summary_says_where_each_blocker_is():
    nacl = Explanation("SUBNET_ACL_RESTRICTION", "acl-0host", "", "", role="the target's network ACL", direction="return")
    assert verdict_summary(open_verdict(TargetLeg("tg", "i-0host1", 32768, "healthy", (), (nacl,)))) == (
        "blocked; 1 of 1 targets blocked: SUBNET_ACL_RESTRICTION (the target's network ACL)")


# -- PortProbe -----------------------------------------------------------------------------------

def test_port_probe_sends_to_host_port_path_and_keeps_the_outcome_in_words():
    sent = []
    probe = PortProbe(request=lambda url: sent.append(url) or fake_request(url), host=DNS, port=8081)
    assert probe.probe() == "timed out after 3 s"
    probe.port = 80
    probe.probe()
    assert sent == [f"http://{DNS}:8081/", f"http://{DNS}:80/"]
    assert probe.outcome == "200 OK - answered by task 1a2b"
    assert isinstance(probe.result, FakeOutcome)
    assert probe.history == [(f"http://{DNS}:8081/", "timed out after 3 s"),
                             (f"http://{DNS}:80/", "200 OK - answered by task 1a2b")]
    assert probe.busy is False


def test_port_probe_turns_a_failing_request_into_words():
    def broken(url):
        raise ConnectionError("no sandbox")

    probe = PortProbe(request=broken, host=DNS)
    assert probe.probe() == "error: ConnectionError: no sandbox"
    assert probe.busy is False


def test_port_probe_without_a_host_asks_for_one_and_sends_nothing():
    probe = PortProbe(request=lambda url: pytest.fail("must not send"))
    assert probe.probe().startswith("enter a host name first")
    assert probe.history == []


def test_port_probe_validates_port_and_path():
    probe = PortProbe(request=fake_request)
    with pytest.raises(TraitError, match="port must be 1-65535, got 70000"):
        probe.port = 70000
    with pytest.raises(TraitError, match="path must start with '/'"):
        probe.path = "health"
    assert (probe.port, probe.path) == (80, "/")


def test_port_probe_notifies_observers():
    probe = PortProbe(request=fake_request, host=DNS)
    seen = []
    probe.observe(lambda change: seen.append(change.new), "outcome")
    probe.probe()
    assert seen == ["200 OK - answered by task 1a2b"]


# -- RuleToggle ----------------------------------------------------------------------------------

class FakeRules:
    """A security group with one optional rule; the flow is open exactly when the rule is there."""

    def __init__(self, present: bool = False, fail: bool = False) -> None:
        self.present, self.fail, self.calls = present, fail, []

    def add(self):
        self.calls.append("add")
        if self.fail:
            raise RuntimeError("InvalidPermission.Duplicate")
        self.present = True

    def remove(self):
        self.calls.append("remove")
        self.present = False

    def evaluate(self) -> Verdict:
        return open_verdict(leg(32768)) if self.present else open_verdict(leg(32768, "ENI_SG_RULES_MISMATCH"))


def toggle_for(rules: FakeRules) -> RuleToggle:
    return RuleToggle(rules.add, rules.remove, rules.evaluate, enabled=rules.present,
                      description="sg-0host: tcp 32768-65535 from sg-0alb")


def test_rule_toggle_starts_from_the_current_state_without_changing_anything():
    rules = FakeRules(present=False)
    toggle = toggle_for(rules)
    assert rules.calls == []
    assert toggle.summary == "blocked; 1 of 1 targets blocked: ENI_SG_RULES_MISMATCH"


def test_rule_toggle_adds_and_removes_the_rule_and_evaluates_again():
    rules = FakeRules(present=False)
    toggle = toggle_for(rules)
    toggle.enabled = True
    assert (rules.calls, toggle.summary, toggle.verdict.reachable) == (["add"], "reachable", True)
    toggle.enabled = False
    assert rules.calls == ["add", "remove"]
    assert toggle.summary.startswith("blocked")


def test_rule_toggle_goes_back_and_says_why_when_the_change_fails():
    rules = FakeRules(present=False, fail=True)
    toggle = toggle_for(rules)
    toggle.enabled = True
    assert toggle.enabled is False  # never shows a rule that is not there
    assert toggle.error == "RuntimeError: InvalidPermission.Duplicate"
    assert rules.calls == ["add"]  # going back did not call remove()
    rules.fail = False
    toggle.enabled = True
    assert (toggle.enabled, toggle.error, toggle.summary) == (True, "", "reachable")


# -- ServiceScaler -------------------------------------------------------------------------------

def test_service_scaler_calls_scale_with_each_new_count():
    counts = []
    scaler = ServiceScaler(lambda n: counts.append(n), desired=3, maximum=6)
    assert counts == []  # the starting value is not a change
    scaler.desired = 5
    scaler.desired = 0
    assert counts == [5, 0]
    assert scaler.status == "desired count 0"


def test_service_scaler_shows_what_scale_answers():
    scaler = ServiceScaler(lambda n: FakeOutcome(f"deployment: {n} desired, 1 running"), desired=1)
    scaler.desired = 2
    assert scaler.status == "deployment: 2 desired, 1 running"


def test_service_scaler_validates_and_goes_back_when_scaling_fails():
    def refuse(n):
        raise RuntimeError("service not found")

    scaler = ServiceScaler(refuse, desired=2, maximum=4)
    with pytest.raises(TraitError, match="desired count must be 0-4, got 5"):
        scaler.desired = 5
    scaler.desired = 3
    assert (scaler.desired, scaler.error) == (2, "RuntimeError: service not found")


# -- views: construct and follow the model --------------------------------------------------------

def test_port_probe_view_is_linked_both_ways():
    probe = PortProbe(request=fake_request, host=DNS, port=8081)
    view = PortProbeView(probe)
    assert (view.host.value, view.port.value, view.path.value) == (DNS, 8081, "/")
    view.port.value = 80  # the learner types
    assert probe.port == 80
    view.send.click()
    assert view.outcome.value == "200 OK - answered by task 1a2b"


def test_rule_toggle_view_switch_drives_the_model_and_shows_the_picture(monkeypatch):
    rules = FakeRules(present=False)
    toggle = toggle_for(rules)
    monkeypatch.setattr("helpers.widgets.views.FlowDiagram.to_svg", lambda self: f"<svg>{self.title}</svg>")
    view = RuleToggleView(toggle)
    assert view.switch.description == toggle.description
    assert "[blocked]" in view.picture.value
    view.switch.value = True
    assert rules.present and view.summary.value == "reachable"
    assert "[reachable]" in view.picture.value


def test_service_scaler_view_slider_follows_the_model():
    scaler = ServiceScaler(lambda n: None, desired=2, maximum=8)
    view = ServiceScalerView(scaler)
    assert (view.slider.value, view.slider.max) == (2, 8)
    view.slider.value = 4
    assert scaler.desired == 4 and view.status.value == "desired count 4"
