"""The self-checks ask the evaluator ("does the hosts' SG admit the ALB's SG on the dynamic
range?") instead of reading IpPermissions themselves."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from helpers.evaluator.crossing import sg_admits
from helpers.evaluator.examples import ALB_SG, HOST_SG, VPC, replace_item, seed_snapshot
from helpers.evaluator.snapshot import SecurityGroup, SgRule
from helpers.facts import DYNAMIC_HOST_PORTS
from helpers.selfcheck.nb04 import listener_rule
from helpers.selfcheck.nb06 import only_the_alb

ALL_OUT = (SgRule("-1", cidrs=("0.0.0.0/0",)),)


def with_host_rules(*rules):
    return replace_item(seed_snapshot(), "security_groups", SecurityGroup(HOST_SG, "lab-host-sg", VPC, rules, ALL_OUT))


def test_sg_admits_tells_a_group_source_from_an_address_source():
    snap = seed_snapshot()  # hosts: 32768-65535 from the ALB's SG, 8081 from anywhere
    assert sg_admits(snap, (HOST_SG,), DYNAMIC_HOST_PORTS, peer_group=ALB_SG)
    assert not sg_admits(snap, (HOST_SG,), DYNAMIC_HOST_PORTS, peer_cidr="0.0.0.0/0")
    assert sg_admits(snap, (HOST_SG,), (8081, 8081), peer_cidr="0.0.0.0/0")
    assert not sg_admits(snap, (HOST_SG,), (8081, 8081), peer_group=ALB_SG)  # an address rule is not "from the ALB's SG"


def test_sg_admits_takes_the_union_of_rules():
    split = with_host_rules(SgRule("tcp", 32768, 50000, group_ids=(ALB_SG,)), SgRule("tcp", 50001, 65535, group_ids=(ALB_SG,)))
    assert sg_admits(split, (HOST_SG,), DYNAMIC_HOST_PORTS, peer_group=ALB_SG)
    halves = with_host_rules(SgRule("tcp", 8081, 8081, cidrs=("0.0.0.0/1", "128.0.0.0/1")))
    assert sg_admits(halves, (HOST_SG,), (8081, 8081), peer_cidr="0.0.0.0/0")


def test_sg_admits_names_exactly_one_peer():
    with pytest.raises(ValueError, match="exactly one peer"):
        sg_admits(seed_snapshot(), (HOST_SG,), (80, 80))
    with pytest.raises(ValueError, match="exactly one peer"):
        sg_admits(seed_snapshot(), (HOST_SG,), (80, 80), peer_cidr="0.0.0.0/0", peer_group=ALB_SG)


@dataclass
class _Outcome:
    kind: str

    def summary(self) -> str:
        return self.kind


class _FakeLab:
    def __init__(self, snap) -> None:
        self.snap = snap

    def snapshot(self):
        return self.snap

    def request(self, url: str, timeout: float = 3.0):
        return _Outcome("answered" if "alb" in url else "timed out")


@dataclass
class _Stack:
    host_sg_id: str = HOST_SG
    alb_sg_id: str = ALB_SG
    alb_dns_name: str = "lab-alb-1.us-east-1.elb.amazonaws.com"


def test_nb06_self_check_asks_the_evaluator():
    before = only_the_alb(_FakeLab(seed_snapshot()), _Stack(), "http://ec2-host:32768/")
    assert not before and "the host SG still admits 0.0.0.0/0" in str(before)
    done = only_the_alb(_FakeLab(with_host_rules(SgRule("tcp", 32768, 65535, group_ids=(ALB_SG,)))), _Stack(),
                        "http://ec2-host:32768/")
    assert done, str(done)
    other = only_the_alb(_FakeLab(with_host_rules(SgRule("tcp", 32768, 65535, group_ids=(ALB_SG,)),
                                                  SgRule("tcp", 22, 22, group_ids=(HOST_SG,)))), _Stack(),
                         "http://ec2-host:32768/")
    assert not other and "only the ALB's SG should be there" in str(other)


# -- 04's 5-1 exercise: a rule that answers by itself -----------------------------------------------

@dataclass
class _Answer:
    kind: str = "answered"
    from_load_balancer: bool = False
    task_id: str | None = None
    status: int = 200
    reason: str = "OK"

    def summary(self) -> str:
        return f"{self.status} {self.reason}"


class _Elbv2:
    def __init__(self, rules: list[dict]) -> None:
        self.rules = rules

    def describe_rules(self, ListenerArn: str) -> dict:  # noqa: N803 - boto3's parameter name
        return {"Rules": self.rules}


class _RuleLab:
    """The listener's rules as given; /hello answered by the ALB only when a fixed-response rule names it."""

    def __init__(self, rules: list[dict]) -> None:
        self.clients = type("Clients", (), {"elbv2": _Elbv2(rules)})()
        self.rules = rules

    def request(self, url: str, timeout: float = 5.0):
        if url.endswith("/hello") and any(not r["IsDefault"] for r in self.rules):
            return _Answer(from_load_balancer=True)
        return _Answer(task_id="1a2b3c4d")


DEFAULT_RULE = {"IsDefault": True, "Conditions": [], "Actions": [{"Type": "forward", "TargetGroupArn": "tg"}]}
HELLO_RULE = {"IsDefault": False, "Conditions": [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/hello"]}}],
              "Actions": [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}]}


@dataclass
class _ListenerStack:
    listener_arn: str = "listener"
    target_group_arn: str = "tg"
    alb_dns_name: str = "lab-alb-1.us-east-1.elb.amazonaws.com"


def test_nb04_listener_rule_says_not_yet_without_the_rule_and_passes_with_it():
    before = listener_rule(_RuleLab([DEFAULT_RULE]), _ListenerStack())
    assert not before and "no rule for /hello yet" in str(before)
    done = listener_rule(_RuleLab([HELLO_RULE, DEFAULT_RULE]), _ListenerStack())
    assert done, str(done)


def test_nb04_listener_rule_wants_a_fixed_response_not_a_forward():
    forwarding = {**HELLO_RULE, "Actions": [{"Type": "forward", "TargetGroupArn": "tg"}]}
    assert not listener_rule(_RuleLab([forwarding, DEFAULT_RULE]), _ListenerStack())
