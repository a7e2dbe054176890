"""Listener rules: priority order, every condition type, actions, and the walk following them."""

from __future__ import annotations

import pytest

from helpers.evaluator import Flow, evaluate, route_request
from helpers.evaluator.examples import (
    ALB_ARN, ALB_DNS, HOST_2, LISTENER_80, TG_ARN, VPC, replace_fields, seed_snapshot,
)
from helpers.evaluator.snapshot import ListenerRule, TargetGroup, TargetRecord

TG_API = TG_ARN.replace("lab-tg/73e2d6bc24d8a067", "lab-api/0a1b2c3d4e5f6a7b")


def rule(priority: int, *conditions, action=None) -> ListenerRule:
    arn = f"{LISTENER_80.replace(':listener/', ':listener-rule/')}/r{priority}"
    return ListenerRule(arn, LISTENER_80, str(priority), tuple(conditions),
                        (action or {"Type": "forward", "TargetGroupArn": TG_API},))


def with_rules(*rules):
    snap = seed_snapshot()
    return replace_fields(
        snap, rules=snap.rules + rules,
        target_groups=snap.target_groups + (TargetGroup(TG_API, "lab-api", "HTTP", 80, VPC, "instance", (ALB_ARN,)),),
        targets=snap.targets + (TargetRecord(TG_API, HOST_2, 32768, "healthy"),))


def match(snap, path="/", host=ALB_DNS, **kw):
    return route_request(snap, LISTENER_80, path=path, host=host, **kw)


def test_api_path_goes_to_a_second_target_group():
    snap = with_rules(rule(10, {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*"]}}))
    assert match(snap, "/api/users").target_groups == ((TG_API, 1),)
    assert match(snap, "/api/users?x=1").priority == "10"  # the query string is not part of the path
    assert match(snap, "/API/users").priority == "default"  # path patterns are case-sensitive
    assert match(snap, "/apix").priority == "default"
    verdict = evaluate(snap, Flow(ALB_DNS, 80, path="/api/orders"))
    assert verdict.reachable and verdict.target_group_arns == (TG_API,)
    assert [(t.target_id, t.port) for t in verdict.targets] == [(HOST_2, 32768)]
    assert evaluate(snap, Flow(ALB_DNS, 80)).target_group_arns == (TG_ARN,)


def test_lowest_priority_number_wins_and_default_is_last():
    snap = with_rules(
        rule(20, {"Field": "path-pattern", "Values": ["/a*"]}, action={"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "418"}}),
        rule(5, {"Field": "path-pattern", "Values": ["/a?c"]}, action={"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}),
    )
    assert match(snap, "/abc").fixed_response["StatusCode"] == "200"
    assert match(snap, "/abcd").fixed_response["StatusCode"] == "418"
    assert match(snap, "/b").priority == "default"


@pytest.mark.parametrize("condition, request_kw, expected", [
    ({"Field": "host-header", "HostHeaderConfig": {"Values": ["*.Example.com"]}}, {"host": "API.example.COM:80"}, True),
    ({"Field": "host-header", "HostHeaderConfig": {"Values": ["*.example.com"]}}, {"host": "example.com"}, False),
    ({"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["POST", "PUT"]}}, {"method": "POST"}, True),
    ({"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["POST"]}}, {"method": "post"}, False),
    ({"Field": "source-ip", "SourceIpConfig": {"Values": ["203.0.113.0/24"]}}, {"source_ip": "203.0.113.10"}, True),
    ({"Field": "source-ip", "SourceIpConfig": {"Values": ["10.0.0.0/8"]}}, {"source_ip": "203.0.113.10"}, False),
    ({"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X-Env", "Values": ["stag?"]}}, {"headers": {"x-env": "STAGE"}}, True),
    ({"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X-Env", "Values": ["prod"]}}, {"headers": {"X-Env": ["dev", "prod"]}}, True),
    ({"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X-Env", "Values": ["prod"]}}, {"headers": {}}, False),
    ({"Field": "query-string", "QueryStringConfig": {"Values": [{"Key": "version", "Value": "v*"}]}}, {"query": {"Version": "V2"}}, True),
    ({"Field": "query-string", "QueryStringConfig": {"Values": [{"Value": "beta"}]}}, {"query": {"channel": "beta"}}, True),
    ({"Field": "query-string", "QueryStringConfig": {"Values": [{"Key": "version", "Value": "v1"}]}}, {"query": {"version": "v2"}}, False),
])
def test_condition_types(condition, request_kw, expected):
    snap = with_rules(rule(1, condition))
    result = match(snap, **request_kw)
    assert (result.priority == "1") is expected


def test_every_condition_of_a_rule_must_match():
    snap = with_rules(rule(1, {"Field": "path-pattern", "Values": ["/api/*"]},
                           {"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["GET"]}}))
    assert match(snap, "/api/x", method="GET").priority == "1"
    assert match(snap, "/api/x", method="DELETE").priority == "default"


def test_weighted_forward_and_weight_zero():
    forward = {"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": TG_ARN, "Weight": 0}, {"TargetGroupArn": TG_API, "Weight": 3}]}}
    snap = with_rules(rule(1, {"Field": "path-pattern", "Values": ["/*"]}, action=forward))
    assert match(snap).target_groups == ((TG_ARN, 0), (TG_API, 3))
    verdict = evaluate(snap, Flow(ALB_DNS, 80))
    assert verdict.target_group_arns == (TG_API,)  # weight 0 never receives traffic


def test_fixed_response_and_redirect_need_no_targets():
    snap = with_rules(
        rule(1, {"Field": "path-pattern", "Values": ["/old"]}, action={"Type": "redirect", "RedirectConfig": {"Path": "/new", "StatusCode": "HTTP_301"}}),
        rule(2, {"Field": "path-pattern", "Values": ["/health"]}, action={"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}))
    assert match(snap, "/old").redirect["StatusCode"] == "HTTP_301"
    verdict = evaluate(snap, Flow(ALB_DNS, 80, path="/health"))
    assert verdict.reachable and verdict.target_group_arns == () and verdict.rule_arn.endswith("/r2")


def test_unknown_listener_raises():
    with pytest.raises(LookupError):
        route_request(seed_snapshot(), "arn:aws:elasticloadbalancing:nowhere", path="/", host=None)
