"""awsvpc tasks on EC2 through plain boto3 against one sandbox region: each task its own ENI, an
`ip` target group, and traffic through the ALB over the sandbox's SOCKS proxy."""

from __future__ import annotations

import ipaddress

import pytest

from helpers.stack import StackSpec, build_stack
from helpers.traffic import request
from helpers.waiters import first_value

pytestmark = pytest.mark.slow


def test_awsvpc_service_gets_its_own_interfaces_and_serves_through_an_ip_target_group(region):
    clients, ec2 = region.clients(), region.clients().ec2
    stack = build_stack(clients, StackSpec(name="vpc1", desired_count=0))
    vpc_subnets = stack.public_subnet_ids
    task_sg = ec2.create_security_group(GroupName="vpc1-tasks", Description="awsvpc tasks", VpcId=stack.vpc_id)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=task_sg, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 8081, "ToPort": 8081, "UserIdGroupPairs": [{"GroupId": stack.alb_sg_id}]}])
    by_ip = clients.elbv2.create_target_group(Name="vpc1-ip", Protocol="HTTP", Port=8081, VpcId=stack.vpc_id,
                                              TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    clients.elbv2.modify_listener(ListenerArn=stack.listener_arn, DefaultActions=[{"Type": "forward", "TargetGroupArn": by_ip}])
    clients.ecs.register_task_definition(family="vpc1-web", networkMode="awsvpc", containerDefinitions=[
        {"name": "app", "image": "tomcat", "memory": 128, "portMappings": [{"containerPort": 8081}]}])
    clients.ecs.create_service(
        cluster=stack.cluster_name, serviceName="web", taskDefinition="vpc1-web", desiredCount=2,
        loadBalancers=[{"targetGroupArn": by_ip, "containerName": "app", "containerPort": 8081}],
        networkConfiguration={"awsvpcConfiguration": {"subnets": vpc_subnets, "securityGroups": [task_sg]}})

    def running():
        arns = clients.ecs.list_tasks(cluster=stack.cluster_name, serviceName="web")["taskArns"]
        tasks = clients.ecs.describe_tasks(cluster=stack.cluster_name, tasks=arns)["tasks"] if arns else []
        return tasks if len(tasks) == 2 and all(t["lastStatus"] == "RUNNING" for t in tasks) else None

    tasks = first_value(running, timeout=30, what="2 RUNNING awsvpc tasks")
    enis = {}
    for task in tasks:
        (attachment,) = task["attachments"]
        details = {d["name"]: d["value"] for d in attachment["details"]}
        assert attachment["type"] == "ElasticNetworkInterface" and details["subnetId"] in vpc_subnets
        enis[details["networkInterfaceId"]] = details["privateIPv4Address"]
        assert task["containers"][0].get("networkBindings", []) == []  # no host port in awsvpc mode
    described = ec2.describe_network_interfaces(NetworkInterfaceIds=list(enis))["NetworkInterfaces"]
    cidrs = {s["SubnetId"]: s["CidrBlock"] for s in ec2.describe_subnets(SubnetIds=vpc_subnets)["Subnets"]}
    for eni in described:
        assert [g["GroupId"] for g in eni["Groups"]] == [task_sg]
        assert ipaddress.ip_address(eni["PrivateIpAddress"]) in ipaddress.ip_network(cidrs[eni["SubnetId"]])
        assert enis[eni["NetworkInterfaceId"]] == eni["PrivateIpAddress"]

    def healthy():
        health = clients.elbv2.describe_target_health(TargetGroupArn=by_ip)["TargetHealthDescriptions"]
        found = {(d["Target"]["Id"], d["Target"]["Port"]): d["TargetHealth"]["State"] for d in health}
        return found if found == {(ip, 8081): "healthy" for ip in enis.values()} else None

    first_value(healthy, timeout=30, what="both task IPs healthy in the ip target group")
    answered = request(f"http://{stack.alb_dns_name}/", proxy=region.socks_proxy, timeout=5)
    assert answered.status == 200 and answered.task_id in {t["taskArn"].rsplit("/", 1)[-1] for t in tasks}

    clients.ecs.update_service(cluster=stack.cluster_name, service="web", desiredCount=0)
    first_value(lambda: not ec2.describe_network_interfaces(Filters=[{"Name": "group-id", "Values": [task_sg]}])[
        "NetworkInterfaces"], timeout=30, what="the ENIs deleted with their tasks")


@pytest.mark.parametrize("spec, constraint", [
    (dict(network_mode="nat"), "network_mode must be one of bridge, awsvpc"),
    (dict(network_mode="awsvpc", host_port=32768), "host_port must be 0 or 8081"),
])
def test_a_stack_spec_names_the_network_mode_constraint(spec, constraint):
    with pytest.raises(ValueError, match=constraint):
        StackSpec(**spec)

