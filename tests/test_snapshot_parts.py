"""The sandbox re-reads only the snapshot parts a change may touch, and the snapshot it assembles
is the one a full read gives."""

from __future__ import annotations

import dataclasses

import pytest

from helpers.evaluator import read_snapshot
from helpers.evaluator.snapshot import EC2_PARTS, ECS_PART, ELBV2_PART, PARTS
from helpers.sandbox.snapshot_parts import ALL, parts_changed, service_of
from helpers.stack import StackSpec, build_stack

# What the scheduler and the health checker change on their own clocks, so two reads a moment apart
# may differ there without either being wrong.
MOVING = {"targets", "tasks", "taken_at", "memo", "region"}


@pytest.mark.parametrize("service, action, expected", [
    ("ec2", "AuthorizeSecurityGroupIngress", {"security_groups"}),
    ("ec2", "RevokeSecurityGroupEgress", {"security_groups"}),
    ("ec2", "CreateNetworkAclEntry", {"network_acls"}),
    ("ec2", "ReplaceNetworkAclAssociation", {"network_acls"}),
    ("ec2", "CreateRoute", {"route_tables"}),
    ("ec2", "AssociateRouteTable", {"route_tables"}),
    ("ec2", "CreateTags", set(EC2_PARTS)),  # names show in explanations
    ("ec2", "RunInstances", set(EC2_PARTS)),
    ("elasticloadbalancing", "CreateRule", {ELBV2_PART}),
    ("elasticloadbalancing", "CreateLoadBalancer", set(EC2_PARTS) | {ELBV2_PART}),
    ("ecs", "UpdateService", {ECS_PART}),
    ("iam", "CreateServiceLinkedRole", set()),
    ("", "Anything", set(PARTS)),  # unsigned or unknown: everything
])
def test_which_parts_an_action_changes(service, action, expected):
    assert parts_changed(service, action) == expected


def test_the_service_comes_from_the_signature_scope():
    header = ("AWS4-HMAC-SHA256 Credential=testing/20261201/us-east-1/elasticloadbalancing/aws4_request, "
              "SignedHeaders=host;x-amz-date, Signature=abc")
    assert service_of({"HTTP_AUTHORIZATION": header}) == "elasticloadbalancing"
    assert service_of({}) == ""
    assert parts_changed(service_of({}), "CreateRule") == ALL


def comparable(snapshot) -> dict:
    return {f.name: getattr(snapshot, f.name) for f in dataclasses.fields(snapshot) if f.name not in MOVING}


@pytest.fixture
def stack(sandbox):
    try:
        yield build_stack(sandbox.clients(), StackSpec(name="parts", desired_count=0))
    finally:
        sandbox.reset()


def test_a_change_rereads_only_its_parts_and_the_result_is_a_full_read(sandbox, stack):
    ctx, clients = sandbox.ctx, sandbox.clients()
    calls: list[str] = []
    reader = ctx.clients(purpose="snapshot")
    for client in (reader.ec2, reader.elbv2, reader.ecs):
        client.meta.events.register("before-call", lambda model, **_: calls.append(model.name))
    ctx.snapshot()  # every part, once

    def after(change) -> set[str]:
        calls.clear()
        change()
        snapshot = ctx.snapshot()
        assert comparable(snapshot) == comparable(read_snapshot(clients))
        return set(calls)

    rule = {"IpProtocol": "tcp", "FromPort": 8081, "ToPort": 8081, "IpRanges": [{"CidrIp": "203.0.113.0/24"}]}
    assert after(lambda: clients.ec2.authorize_security_group_ingress(
        GroupId=stack.alb_sg_id, IpPermissions=[rule])) == {"DescribeSecurityGroups"}
    assert any(r.from_port == 8081 for r in ctx.snapshot().sg_by_id[stack.alb_sg_id].ingress)

    acl_id = ctx.snapshot().network_acls[0].id
    assert after(lambda: clients.ec2.create_network_acl_entry(
        NetworkAclId=acl_id, RuleNumber=42, Protocol="6", RuleAction="deny", Egress=False,
        CidrBlock="198.51.100.0/24", PortRange={"From": 22, "To": 22})) == {"DescribeNetworkAcls"}

    assert after(lambda: clients.elbv2.create_rule(
        ListenerArn=stack.listener_arn, Priority=10,
        Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/hello"]}}],
        Actions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}])) <= {
        "DescribeLoadBalancers", "DescribeListeners", "DescribeRules", "DescribeTargetGroups", "DescribeTargetHealth"}
    assert any(r.priority == "10" for r in ctx.snapshot().rules)

    ec2_calls = after(lambda: clients.ec2.create_tags(Resources=[stack.alb_sg_id], Tags=[{"Key": "Name", "Value": "renamed"}]))
    assert "DescribeSecurityGroups" in ec2_calls and not ec2_calls & {"DescribeLoadBalancers", "ListTasks"}
    assert after(lambda: None) == set()  # nothing changed: nothing read


def test_a_target_group_deleted_during_a_read_is_left_out_not_an_error(sandbox, stack):
    from helpers.evaluator import snapshot as snapshot_module

    clients = sandbox.clients()
    described = clients.elbv2.describe_target_groups

    def then_deleted(**kwargs):  # the group is listed, then deleted before its health is read
        groups = described(**kwargs)
        clients.elbv2.delete_listener(ListenerArn=stack.listener_arn)
        clients.elbv2.delete_target_group(TargetGroupArn=stack.target_group_arn)
        return groups

    clients.elbv2.describe_target_groups = then_deleted
    try:
        fields = snapshot_module._read_elbv2(clients.elbv2)
    finally:
        del clients.elbv2.describe_target_groups
    assert [tg.arn for tg in fields["target_groups"]] == [stack.target_group_arn]
    assert fields["targets"] == ()
