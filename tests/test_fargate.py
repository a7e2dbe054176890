"""Fargate, and the ENI limit of awsvpc on EC2, through plain boto3 against one sandbox region;
traffic through the ALB over the sandbox's SOCKS proxy."""

from __future__ import annotations

import ipaddress
import itertools

import pytest
from botocore.exceptions import ClientError

from helpers.stack import StackSpec, build_stack
from helpers.traffic import request
from helpers.waiters import first_value

from capacity_provider_setup import asg_provider

pytestmark = pytest.mark.slow
_names = itertools.count(1)
CONTAINER = {"name": "app", "image": "tomcat", "portMappings": [{"containerPort": 8081}]}


def fargate_family(clients, name, **overrides):
    arguments = dict(family=name, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256",
                     memory="512", containerDefinitions=[CONTAINER])
    clients.ecs.register_task_definition(**{**arguments, **overrides})
    return name


def task_sg(clients, stack, name):
    """The tasks' own SG: tcp 8081 from the ALB's SG only."""
    group = clients.ec2.create_security_group(GroupName=name, Description="tasks", VpcId=stack.vpc_id)["GroupId"]
    clients.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 8081, "ToPort": 8081, "UserIdGroupPairs": [{"GroupId": stack.alb_sg_id}]}])
    return group


def ip_target_group(clients, stack, name):
    arn = clients.elbv2.create_target_group(Name=name, Protocol="HTTP", Port=8081, VpcId=stack.vpc_id,
                                            TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    clients.elbv2.modify_listener(ListenerArn=stack.listener_arn, DefaultActions=[{"Type": "forward", "TargetGroupArn": arn}])
    return arn


def tasks_of(clients, stack, **which):
    arns = clients.ecs.list_tasks(cluster=stack.cluster_name, **which)["taskArns"]
    return clients.ecs.describe_tasks(cluster=stack.cluster_name, tasks=arns)["tasks"] if arns else []


def eni_details(task) -> dict:
    (attachment,) = task["attachments"]
    assert attachment["type"] == "ElasticNetworkInterface"
    return {d["name"]: d["value"] for d in attachment["details"]}


def wait_for_no_interfaces(ec2, group, *, timeout, what):
    """Until no network interface carries `group` (the tasks' ENIs are deleted as they stop)."""
    first_value(lambda: not ec2.describe_network_interfaces(Filters=[{"Name": "group-id", "Values": [group]}])[
        "NetworkInterfaces"], timeout=timeout, what=what)


def events(clients, stack, service):
    return [e["message"] for e in clients.ecs.describe_services(cluster=stack.cluster_name, services=[service])[
        "services"][0]["events"]]


def test_a_fargate_service_runs_without_instances_and_answers_through_the_alb(region):
    clients, ec2 = region.clients(), region.clients().ec2
    stack = build_stack(clients, StackSpec(name=f"fg{next(_names)}", desired_count=0, instance_count=0))
    group, by_ip = task_sg(clients, stack, "fg-tasks"), ip_target_group(clients, stack, "fg-ip")
    family = fargate_family(clients, "fg-web")
    subnets = stack.private_subnet_ids
    clients.ecs.create_service(
        cluster=stack.cluster_name, serviceName="web", taskDefinition=family, desiredCount=2, launchType="FARGATE",
        loadBalancers=[{"targetGroupArn": by_ip, "containerName": "app", "containerPort": 8081}],
        networkConfiguration={"awsvpcConfiguration": {"subnets": subnets, "securityGroups": [group],
                                                      "assignPublicIp": "DISABLED"}})

    first_value(lambda: "(service web) has reached a steady state." in events(clients, stack, "web"),
                timeout=60, what="the Fargate service's steady state")
    tasks = tasks_of(clients, stack, serviceName="web")
    assert len(tasks) == 2 and {t["lastStatus"] for t in tasks} == {"RUNNING"}
    assert {t["launchType"] for t in tasks} == {"FARGATE"} and not any(t.get("containerInstanceArn") for t in tasks)
    enis = {eni_details(t)["networkInterfaceId"]: eni_details(t)["privateIPv4Address"] for t in tasks}
    assert {eni_details(t)["subnetId"] for t in tasks} == set(subnets)  # one task in each subnet (AZ)
    cidrs = {s["SubnetId"]: s["CidrBlock"] for s in ec2.describe_subnets(SubnetIds=subnets)["Subnets"]}
    for eni in ec2.describe_network_interfaces(NetworkInterfaceIds=list(enis))["NetworkInterfaces"]:
        assert [g["GroupId"] for g in eni["Groups"]] == [group]
        assert ipaddress.ip_address(eni["PrivateIpAddress"]) in ipaddress.ip_network(cidrs[eni["SubnetId"]])
        assert "Association" not in eni  # assignPublicIp DISABLED: no public IP
    health = clients.elbv2.describe_target_health(TargetGroupArn=by_ip)["TargetHealthDescriptions"]
    assert {(d["Target"]["Id"], d["Target"]["Port"], d["TargetHealth"]["State"]) for d in health} == {
        (ip, 8081, "healthy") for ip in enis.values()}

    answered = request(f"http://{stack.alb_dns_name}/", proxy=region.socks_proxy, timeout=5)
    assert answered.status == 200 and answered.task_id in {t["taskArn"].rsplit("/", 1)[-1] for t in tasks}

    # A container that dies is replaced, as on EC2: a new task, a new ENI, a new healthy target.
    killed = tasks[0]
    assert region.ctx.components["containers"].kill(killed["taskArn"])

    def replaced():
        running = [t for t in tasks_of(clients, stack, serviceName="web") if t["lastStatus"] == "RUNNING"]
        return running if len(running) == 2 and killed["taskArn"] not in {t["taskArn"] for t in running} else None

    replacement = next(t for t in first_value(replaced, timeout=60, what="a replacement task")
                       if t["taskArn"] not in {old["taskArn"] for old in tasks})
    new_ip = eni_details(replacement)["privateIPv4Address"]
    first_value(lambda: {(d["Target"]["Id"], d["TargetHealth"]["State"]) for d in clients.elbv2.describe_target_health(
        TargetGroupArn=by_ip)["TargetHealthDescriptions"]} == {(new_ip, "healthy"), (eni_details(tasks[1])[
            "privateIPv4Address"], "healthy")}, timeout=60, what="the replacement healthy, the dead task's target gone")
    stopped = clients.ecs.describe_tasks(cluster=stack.cluster_name, tasks=[killed["taskArn"]])["tasks"][0]
    assert stopped["stopCode"] == "EssentialContainerExited"

    clients.ecs.update_service(cluster=stack.cluster_name, service="web", desiredCount=0)
    wait_for_no_interfaces(ec2, group, timeout=30, what="the ENIs deleted with their tasks")


def test_run_task_on_fargate_gets_a_public_ip_only_when_asked_and_stop_task_deletes_its_eni(region):
    clients, ec2 = region.clients(), region.clients().ec2
    stack = build_stack(clients, StackSpec(name=f"fg{next(_names)}", desired_count=0, instance_count=0))
    family = fargate_family(clients, "fg-job")
    group = task_sg(clients, stack, "fg-job-tasks")
    answer = clients.ecs.run_task(
        cluster=stack.cluster_name, taskDefinition=family, launchType="FARGATE", count=1,
        networkConfiguration={"awsvpcConfiguration": {"subnets": stack.public_subnet_ids[:1], "securityGroups": [group],
                                                      "assignPublicIp": "ENABLED"}})
    assert answer["failures"] == []
    (task,) = answer["tasks"]
    assert (task["launchType"], task["group"], task["lastStatus"]) == ("FARGATE", "family:fg-job", "PROVISIONING")
    eni_id = eni_details(task)["networkInterfaceId"]
    (eni,) = ec2.describe_network_interfaces(NetworkInterfaceIds=[eni_id])["NetworkInterfaces"]
    assert eni["SubnetId"] == stack.public_subnet_ids[0] and ipaddress.ip_address(eni["Association"]["PublicIp"])

    first_value(lambda: tasks_of(clients, stack, family="fg-job")[0]["lastStatus"] == "RUNNING", timeout=30,
                what="the Fargate task RUNNING")
    clients.ecs.stop_task(cluster=stack.cluster_name, task=task["taskArn"])
    wait_for_no_interfaces(ec2, group, timeout=30, what="the ENI deleted with its task")
    stopped = clients.ecs.describe_tasks(cluster=stack.cluster_name, tasks=[task["taskArn"]])["tasks"][0]
    assert (stopped["lastStatus"], stopped["stopCode"]) == ("STOPPED", "UserInitiated")


@pytest.mark.parametrize("overrides, message", [
    (dict(networkMode="bridge"), "Fargate only supports network mode \u2018awsvpc\u2019."),
    (dict(cpu=None), "Fargate requires that 'cpu' be defined at the task level."),
    (dict(memory=None), "Fargate requires that 'memory' be defined at the task level."),
    (dict(cpu="300"), "Invalid 'cpu' setting for task."),
    (dict(cpu="256", memory="4096"), "No Fargate configuration exists for given values."),
])
def test_a_task_definition_fargate_cannot_run_is_refused_with_aws_message(region, overrides, message):
    clients = region.clients()
    family = f"fg-bad{next(_names)}"
    arguments = {**dict(family=family, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256",
                        memory="512", containerDefinitions=[CONTAINER]), **overrides}
    with pytest.raises(ClientError) as refused:
        clients.ecs.register_task_definition(**{k: v for k, v in arguments.items() if v is not None})
    assert refused.value.response["Error"]["Code"] == "ClientException"
    assert refused.value.response["Error"]["Message"] == message
    assert clients.ecs.list_task_definitions(familyPrefix=family)["taskDefinitionArns"] == []  # nothing registered


def test_fargate_cpu_and_memory_may_be_given_in_vcpu_and_gb(region):
    clients = region.clients()
    fargate_family(clients, "fg-units", cpu="1 vCPU", memory="2 GB")
    assert clients.ecs.list_task_definitions(familyPrefix="fg-units")["taskDefinitionArns"]


def test_fargate_refuses_a_task_definition_without_fargate_and_leaves_nothing_behind(region):
    clients, ec2 = region.clients(), region.clients().ec2
    stack = build_stack(clients, StackSpec(name=f"fg{next(_names)}", desired_count=0, instance_count=0))
    clients.ecs.register_task_definition(family="fg-ec2only", networkMode="awsvpc", containerDefinitions=[
        {**CONTAINER, "memory": 128}])
    network = {"awsvpcConfiguration": {"subnets": stack.private_subnet_ids, "securityGroups": [stack.alb_sg_id]}}
    # An interface a refused call made would carry the calls' security group (other tests' tasks
    # come and go region-wide meanwhile, so count only these).
    def call_enis():
        return ec2.describe_network_interfaces(Filters=[{"Name": "group-id", "Values": [stack.alb_sg_id]}])["NetworkInterfaces"]


    with pytest.raises(ClientError) as refused:
        clients.ecs.create_service(cluster=stack.cluster_name, serviceName="ec2only", taskDefinition="fg-ec2only",
                                   desiredCount=1, launchType="FARGATE", networkConfiguration=network)
    assert (refused.value.response["Error"]["Code"], refused.value.response["Error"]["Message"]) == (
        "InvalidParameterException", "Task definition does not support launch_type FARGATE.")
    assert not [arn for arn in clients.ecs.list_services(cluster=stack.cluster_name)["serviceArns"]
                if arn.endswith("/ec2only")]

    fargate_family(clients, "fg-ok")
    clients.ecs.create_service(cluster=stack.cluster_name, serviceName="ok", taskDefinition="fg-ok", desiredCount=0,
                               launchType="FARGATE", networkConfiguration=network)
    with pytest.raises(ClientError) as refused:
        clients.ecs.update_service(cluster=stack.cluster_name, service="ok", taskDefinition="fg-ec2only")
    assert refused.value.response["Error"]["Message"] == "Task definition does not support launch_type FARGATE."
    (kept,) = clients.ecs.describe_services(cluster=stack.cluster_name, services=["ok"])["services"]
    assert kept["taskDefinition"].endswith("/fg-ok:1") and len(kept["deployments"]) == 1  # no deployment started

    with pytest.raises(ClientError) as refused:
        clients.ecs.run_task(cluster=stack.cluster_name, taskDefinition="fg-ec2only", launchType="FARGATE",
                             networkConfiguration=network)
    assert refused.value.response["Error"]["Message"] == "Task definition does not support launch_type FARGATE."

    fargate_family(clients, "fg-nonet")
    with pytest.raises(ClientError) as refused:
        clients.ecs.run_task(cluster=stack.cluster_name, taskDefinition="fg-nonet", launchType="FARGATE")
    assert refused.value.response["Error"]["Code"] == "InvalidParameterException"
    assert "Network Configuration must be provided" in refused.value.response["Error"]["Message"]
    assert tasks_of(clients, stack) == [] and tasks_of(clients, stack, desiredStatus="STOPPED") == []
    assert call_enis() == []


def test_an_instance_runs_only_as_many_awsvpc_tasks_as_it_has_spare_enis(region):
    clients = region.clients()
    # One t3.small: 3 network interfaces, the primary one its own -> 2 awsvpc tasks (facts.py).
    stack = build_stack(clients, StackSpec(name=f"fg{next(_names)}", desired_count=0, instance_count=1,
                                           instance_type="t3.small"))
    first_value(lambda: clients.ecs.list_container_instances(cluster=stack.cluster_name)["containerInstanceArns"],
                timeout=15, what="the instance joined the cluster")
    clients.ecs.register_task_definition(family="fg-vpc", networkMode="awsvpc", containerDefinitions=[
        {**CONTAINER, "memory": 64}])
    clients.ecs.create_service(
        cluster=stack.cluster_name, serviceName="dense", taskDefinition="fg-vpc", desiredCount=3,
        networkConfiguration={"awsvpcConfiguration": {"subnets": stack.public_subnet_ids, "securityGroups": [stack.host_sg_id]}})

    failure = first_value(lambda: next((m for m in events(clients, stack, "dense") if "unable to place" in m), None),
                          timeout=30, what="the placement failure event")
    assert failure.startswith("(service dense) was unable to place a task because no container instance met all "
                              "of its requirements. The closest matching (container-instance ")
    assert 'encountered error "RESOURCE:ENI"' in failure
    first_value(lambda: len([t for t in tasks_of(clients, stack, serviceName="dense") if t["lastStatus"] == "RUNNING"]) == 2,
                timeout=30, what="two tasks RUNNING")
    assert len(tasks_of(clients, stack, serviceName="dense")) == 2  # the third was never made
    clients.ecs.delete_service(cluster=stack.cluster_name, service="dense", force=True)


def test_a_strategy_of_the_fargate_providers_is_checked_as_aws_checks_it_and_refusals_leave_nothing(region):
    clients, ec2 = region.clients(), region.clients().ec2
    stack = build_stack(clients, StackSpec(name=f"fg{next(_names)}", desired_count=0, instance_count=0))
    family = fargate_family(clients, "fg-cp-checked")
    network = {"awsvpcConfiguration": {"subnets": stack.private_subnet_ids, "securityGroups": [stack.alb_sg_id]}}
    spot = [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]
    # An interface a refused call made would carry the calls' security group (other tests' tasks
    # come and go region-wide meanwhile, so count only these).
    def call_enis():
        return ec2.describe_network_interfaces(Filters=[{"Name": "group-id", "Values": [stack.alb_sg_id]}])["NetworkInterfaces"]


    def refused(call, code="InvalidParameterException", **arguments):
        with pytest.raises(ClientError) as caught:
            call(cluster=stack.cluster_name, taskDefinition=family, networkConfiguration=network, **arguments)
        assert caught.value.response["Error"]["Code"] == code
        return caught.value.response["Error"]["Message"]

    not_associated = ("The specified capacity provider strategy cannot contain a capacity provider that is not "
                      "associated with the cluster. Associate the capacity provider with the cluster or specify a "
                      "valid capacity provider and try again.")
    assert refused(clients.ecs.run_task, capacityProviderStrategy=spot) == not_associated
    assert refused(clients.ecs.create_service, serviceName="spot", desiredCount=1,
                   capacityProviderStrategy=spot) == not_associated

    provider = asg_provider(clients, stack, f"{stack.spec.name}-asg")
    clients.ecs.put_cluster_capacity_providers(cluster=stack.cluster_name, capacityProviders=[
        "FARGATE", "FARGATE_SPOT", provider], defaultCapacityProviderStrategy=[])
    mixed = spot + [{"capacityProvider": provider, "weight": 1}]
    assert refused(clients.ecs.run_task, capacityProviderStrategy=mixed) == (
        "A capacity provider strategy cannot contain a mix of capacity providers using Auto Scaling groups and "
        "Fargate providers. Specify one or the other and try again.")
    assert refused(clients.ecs.create_service, serviceName="spot", desiredCount=1, launchType="FARGATE",
                   capacityProviderStrategy=spot) == (
        "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.")
    only_asg = [{"capacityProvider": provider, "weight": 1}]
    assert refused(clients.ecs.run_task, code="ClientException", capacityProviderStrategy=only_asg).startswith(
        "This sandbox does not run tasks placed through a capacity provider strategy with Auto Scaling group providers")

    assert not [arn for arn in clients.ecs.list_services(cluster=stack.cluster_name)["serviceArns"]
                if arn.endswith("/spot")]
    assert tasks_of(clients, stack) == [] and tasks_of(clients, stack, desiredStatus="STOPPED") == []
    assert call_enis() == []


def test_the_fargate_providers_run_fargate_tasks_shared_by_base_and_weight(region):
    clients, ec2 = region.clients(), region.clients().ec2
    stack = build_stack(clients, StackSpec(name=f"fg{next(_names)}", desired_count=0, instance_count=0))
    clients.ecs.put_cluster_capacity_providers(cluster=stack.cluster_name, capacityProviders=["FARGATE", "FARGATE_SPOT"],
                                               defaultCapacityProviderStrategy=[])
    family = fargate_family(clients, "fg-cp-job")
    group = task_sg(clients, stack, "fg-cp-tasks")
    network = {"awsvpcConfiguration": {"subnets": stack.private_subnet_ids, "securityGroups": [group]}}
    strategy = [{"capacityProvider": "FARGATE", "base": 1, "weight": 1},
                {"capacityProvider": "FARGATE_SPOT", "weight": 3}]
    answer = clients.ecs.run_task(cluster=stack.cluster_name, taskDefinition=family, count=5,
                                  networkConfiguration=network, capacityProviderStrategy=strategy)
    assert answer["failures"] == [] and len(answer["tasks"]) == 5
    # base 1 on FARGATE, the other four 1:3 (ECS API CapacityProviderStrategyItem)
    assert sorted(t["capacityProviderName"] for t in answer["tasks"]) == ["FARGATE"] * 2 + ["FARGATE_SPOT"] * 3
    assert {t["launchType"] for t in answer["tasks"]} == {"FARGATE"}
    assert not any(t.get("containerInstanceArn") for t in answer["tasks"])
    assert len(ec2.describe_network_interfaces(Filters=[{"Name": "group-id", "Values": [group]}])[
        "NetworkInterfaces"]) == 5
    for task in answer["tasks"]:
        clients.ecs.stop_task(cluster=stack.cluster_name, task=task["taskArn"])
    wait_for_no_interfaces(ec2, group, timeout=30, what="the ENIs deleted with their tasks")


def test_a_fargate_spot_service_runs_its_tasks_on_fargate(region):
    # (A Fargate task's way through the ALB is the launch type's, covered above: the same code path.)
    clients, ec2 = region.clients(), region.clients().ec2
    stack = build_stack(clients, StackSpec(name=f"fg{next(_names)}", desired_count=0, instance_count=0))
    clients.ecs.put_cluster_capacity_providers(cluster=stack.cluster_name, capacityProviders=["FARGATE_SPOT"],
                                               defaultCapacityProviderStrategy=[])
    group = task_sg(clients, stack, "fg-spot-tasks")
    family = fargate_family(clients, "fg-spot-web")
    strategy = [{"capacityProvider": "FARGATE_SPOT", "weight": 1, "base": 0}]
    clients.ecs.create_service(
        cluster=stack.cluster_name, serviceName="spot", taskDefinition=family, desiredCount=2,
        capacityProviderStrategy=strategy,
        networkConfiguration={"awsvpcConfiguration": {"subnets": stack.private_subnet_ids, "securityGroups": [group]}})
    (service,) = clients.ecs.describe_services(cluster=stack.cluster_name, services=["spot"])["services"]
    assert service["capacityProviderStrategy"] == strategy and "launchType" not in service

    first_value(lambda: "(service spot) has reached a steady state." in events(clients, stack, "spot"),
                timeout=60, what="the FARGATE_SPOT service's steady state")
    tasks = tasks_of(clients, stack, serviceName="spot")
    assert {(t["launchType"], t["capacityProviderName"], t["lastStatus"]) for t in tasks} == {
        ("FARGATE", "FARGATE_SPOT", "RUNNING")}
    assert {eni_details(t)["subnetId"] for t in tasks} == set(stack.private_subnet_ids)
    assert not any(t.get("containerInstanceArn") for t in tasks)

    fargate_family(clients, "fg-spot-ec2only", requiresCompatibilities=["EC2"])
    with pytest.raises(ClientError) as refused:  # the service runs on Fargate: AWS's launch type check applies
        clients.ecs.update_service(cluster=stack.cluster_name, service="spot", taskDefinition="fg-spot-ec2only")
    assert refused.value.response["Error"]["Message"] == "Task definition does not support launch_type FARGATE."
    clients.ecs.update_service(cluster=stack.cluster_name, service="spot", desiredCount=0)
    wait_for_no_interfaces(ec2, group, timeout=30, what="the ENIs deleted with their tasks")


def test_task_interfaces_never_share_an_address_and_avoid_the_subnets_reserved_ones(region):
    # AWS hands out each address of a subnet once, and never the first four or the last one
    # (VPC guide, "Subnet CIDR blocks"). A /28 holds 11 usable addresses: 10 tasks must fit.
    clients, ec2 = region.clients(), region.clients().ec2
    stack = build_stack(clients, StackSpec(name=f"fg{next(_names)}", desired_count=0, instance_count=0))
    small = ec2.create_subnet(VpcId=stack.vpc_id, CidrBlock="10.0.200.0/28")["Subnet"]["SubnetId"]
    family = fargate_family(clients, "fg-many")
    group = task_sg(clients, stack, "fg-many-tasks")
    answer = clients.ecs.run_task(
        cluster=stack.cluster_name, taskDefinition=family, launchType="FARGATE", count=10,
        networkConfiguration={"awsvpcConfiguration": {"subnets": [small], "securityGroups": [group]}})
    assert answer["failures"] == []
    addresses = [eni_details(task)["privateIPv4Address"] for task in answer["tasks"]]
    network = ipaddress.ip_network("10.0.200.0/28")
    reserved = {str(network[i]) for i in (0, 1, 2, 3)} | {str(network[-1])}
    assert len(set(addresses)) == 10 and not set(addresses) & reserved, addresses
    assert all(ipaddress.ip_address(a) in network for a in addresses)
    for task in answer["tasks"]:
        clients.ecs.stop_task(cluster=stack.cluster_name, task=task["taskArn"])
    wait_for_no_interfaces(ec2, group, timeout=60, what="the ENIs deleted with their tasks")


def test_changing_a_services_capacity_provider_strategy_is_refused_plainly_and_changes_nothing(region):
    # Off the course's path: the sandbox does not move a running service to other capacity. It
    # says so, rather than storing the strategy and running the old tasks on.
    clients = region.clients()
    stack = build_stack(clients, StackSpec(name=f"fg{next(_names)}", desired_count=1))
    clients.ecs.put_cluster_capacity_providers(cluster=stack.cluster_name, capacityProviders=["FARGATE"],
                                               defaultCapacityProviderStrategy=[])
    with pytest.raises(ClientError) as refused:
        clients.ecs.update_service(cluster=stack.cluster_name, service=stack.service_name, forceNewDeployment=True,
                                   capacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}])
    assert refused.value.response["Error"]["Code"] == "ClientException"
    assert refused.value.response["Error"]["Message"].startswith(
        "This sandbox does not run a change of a service's capacity provider strategy (UpdateService)")
    service = clients.ecs.describe_services(cluster=stack.cluster_name, services=[stack.service_name])["services"][0]
    assert not service.get("capacityProviderStrategy") and service["launchType"] == "EC2"
