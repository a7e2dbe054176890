"""RunTask and StartTask through plain boto3 against one sandbox region: real tasks, real ports,
AWS's failures; traffic through the sandbox's SOCKS proxy."""

from __future__ import annotations

import itertools

import pytest
from botocore.exceptions import ClientError

from helpers.stack import StackSpec, build_stack
from helpers.traffic import request
from helpers.waiters import first_value

from capacity_provider_setup import asg_provider

pytestmark = pytest.mark.slow
_names = itertools.count(1)


def build(region, **spec):
    """The seed stack with no service tasks: the cluster's instances are free for standalone tasks."""
    clients = region.clients()
    stack = build_stack(clients, StackSpec(name=f"t{next(_names)}", desired_count=0, **spec))
    first_value(lambda: len(clients.ecs.list_container_instances(cluster=stack.cluster_name)["containerInstanceArns"])
               == stack.spec.instance_count, timeout=15, what="the instances joined the cluster")
    return clients, stack


def family(clients, name, *, host_port=0, memory=128):
    mapping = {"containerPort": 8081, **({"hostPort": host_port} if host_port else {})}
    clients.ecs.register_task_definition(family=name, containerDefinitions=[
        {"name": "app", "image": "tomcat", "memory": memory, "portMappings": [mapping]}])
    return name


def described(clients, stack, arn):
    return clients.ecs.describe_tasks(cluster=stack.cluster_name, tasks=[arn])["tasks"][0]


def public_ip(clients, container_instance_arn, stack):
    ci = clients.ecs.describe_container_instances(cluster=stack.cluster_name, containerInstances=[container_instance_arn])
    instance_id = ci["containerInstances"][0]["ec2InstanceId"]
    reservations = clients.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    return reservations[0]["Instances"][0]["PublicIpAddress"]


def test_run_task_runs_a_real_container_and_stop_task_closes_its_port(region):
    clients, stack = build(region, instance_count=1)
    name = family(clients, f"{stack.spec.name}-job")
    answer = clients.ecs.run_task(cluster=stack.cluster_name, taskDefinition=name, count=1)
    assert answer["failures"] == []
    (task,) = answer["tasks"]
    assert (task["lastStatus"], task["desiredStatus"], task["group"]) == ("PENDING", "RUNNING", f"family:{name}")

    running = first_value(lambda: (lambda t: t if t["lastStatus"] == "RUNNING" else None)(
        described(clients, stack, task["taskArn"])), timeout=15, what="RUNNING")
    (binding,) = running["containers"][0]["networkBindings"]
    low, high = region.ctx.options.host_port_range
    assert binding["containerPort"] == 8081 and low <= binding["hostPort"] <= high

    # Let the internet reach that one port, as an operator would for a standalone task.
    clients.ec2.authorize_security_group_ingress(GroupId=stack.host_sg_id, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": binding["hostPort"], "ToPort": binding["hostPort"],
        "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    url = f"http://{public_ip(clients, running['containerInstanceArn'], stack)}:{binding['hostPort']}/"
    answered = request(url, proxy=region.socks_proxy, timeout=5)
    assert answered.status == 200 and answered.task_id == task["taskArn"].rsplit("/", 1)[-1]

    clients.ecs.stop_task(cluster=stack.cluster_name, task=task["taskArn"])
    stopped = first_value(lambda: (lambda t: t if t["lastStatus"] == "STOPPED" else None)(
        described(clients, stack, task["taskArn"])), timeout=15, what="STOPPED")
    assert stopped["stopCode"] == "UserInitiated"
    refused = request(url, proxy=region.socks_proxy, timeout=5)
    assert refused.status is None and "refused" in refused.summary()


def test_tasks_that_fit_nowhere_come_back_in_failures_with_aws_reasons(region):
    clients, stack = build(region, instance_count=2)
    static = family(clients, f"{stack.spec.name}-static", host_port=8080)
    answer = clients.ecs.run_task(cluster=stack.cluster_name, taskDefinition=static, count=3)
    assert len(answer["tasks"]) == 2  # one per instance: the static port is taken after that
    instances = {t["containerInstanceArn"] for t in answer["tasks"]}
    assert len(instances) == 2
    assert sorted((f["arn"], f["reason"]) for f in answer["failures"]) == sorted(
        (arn, "RESOURCE:PORTS") for arn in instances)

    huge = family(clients, f"{stack.spec.name}-huge", memory=100_000)
    answer = clients.ecs.run_task(cluster=stack.cluster_name, taskDefinition=huge)
    assert answer["tasks"] == [] and {f["reason"] for f in answer["failures"]} == {"RESOURCE:MEMORY"}

    (one,) = list(instances)[:1]
    answer = clients.ecs.start_task(cluster=stack.cluster_name, taskDefinition=static, containerInstances=[one])
    assert answer["tasks"] == [] and answer["failures"] == [{"arn": one, "reason": "RESOURCE:PORTS"}]
    for task_arn in clients.ecs.list_tasks(cluster=stack.cluster_name)["taskArns"]:
        clients.ecs.stop_task(cluster=stack.cluster_name, task=task_arn)


def test_start_task_places_on_the_named_instance(region):
    clients, stack = build(region, instance_count=2)
    name = family(clients, f"{stack.spec.name}-job")
    arns = sorted(clients.ecs.list_container_instances(cluster=stack.cluster_name)["containerInstanceArns"])
    answer = clients.ecs.start_task(cluster=stack.cluster_name, taskDefinition=name, containerInstances=[arns[1]],
                                    group="batch")
    (task,) = answer["tasks"]
    assert (task["containerInstanceArn"], task["group"]) == (arns[1], "batch")
    clients.ecs.stop_task(cluster=stack.cluster_name, task=task["taskArn"])


def awsvpc_family(clients, name):
    clients.ecs.register_task_definition(family=name, networkMode="awsvpc", containerDefinitions=[
        {"name": "app", "image": "tomcat", "memory": 64, "portMappings": [{"containerPort": 8081}]}])
    return name


def own_sg(clients, stack, name):
    return clients.ec2.create_security_group(GroupName=name, Description="tasks", VpcId=stack.vpc_id)["GroupId"]


def enis_in(clients, group_id):
    return clients.ec2.describe_network_interfaces(Filters=[{"Name": "group-id", "Values": [group_id]}])["NetworkInterfaces"]


def eni_of(task) -> dict:
    (attachment,) = task["attachments"]
    assert attachment["type"] == "ElasticNetworkInterface"
    return {d["name"]: d["value"] for d in attachment["details"]}


def test_awsvpc_run_task_on_ec2_needs_a_network_configuration_and_leaves_nothing_when_refused(region):
    clients, stack = build(region, instance_count=1)
    name = awsvpc_family(clients, f"{stack.spec.name}-vpc")
    enis_before = len(clients.ec2.describe_network_interfaces(Filters=[{"Name": "vpc-id", "Values": [stack.vpc_id]}])["NetworkInterfaces"])
    for call in (lambda: clients.ecs.run_task(cluster=stack.cluster_name, taskDefinition=name),
                 lambda: clients.ecs.start_task(cluster=stack.cluster_name, taskDefinition=name, containerInstances=
                                                clients.ecs.list_container_instances(cluster=stack.cluster_name)[
                                                    "containerInstanceArns"])):
        with pytest.raises(ClientError) as refused:
            call()
        assert (refused.value.response["Error"]["Code"], refused.value.response["Error"]["Message"]) == (
            "InvalidParameterException", "Network Configuration must be provided when networkMode 'awsvpc' is specified.")
    assert clients.ecs.list_tasks(cluster=stack.cluster_name, desiredStatus="RUNNING")["taskArns"] == []
    assert clients.ecs.list_tasks(cluster=stack.cluster_name, desiredStatus="STOPPED")["taskArns"] == []
    assert len(clients.ec2.describe_network_interfaces(Filters=[{"Name": "vpc-id", "Values": [stack.vpc_id]}])["NetworkInterfaces"]) == enis_before


def test_awsvpc_run_task_on_ec2_gets_an_eni_per_task_up_to_the_instance_limit(region):
    # One t3.small: 3 network interfaces, the primary one its own -> 2 awsvpc tasks (facts.py).
    clients, stack = build(region, instance_count=1, instance_type="t3.small")
    name = awsvpc_family(clients, f"{stack.spec.name}-vpc")
    group = own_sg(clients, stack, f"{stack.spec.name}-tasks")
    network = {"awsvpcConfiguration": {"subnets": stack.public_subnet_ids, "securityGroups": [group]}}
    (instance_arn,) = clients.ecs.list_container_instances(cluster=stack.cluster_name)["containerInstanceArns"]

    answer = clients.ecs.run_task(cluster=stack.cluster_name, taskDefinition=name, count=3, networkConfiguration=network)
    assert len(answer["tasks"]) == 2
    assert answer["failures"] == [{"arn": instance_arn, "reason": "RESOURCE:ENI"}]
    zone = answer["tasks"][0]["availabilityZone"]
    for task in answer["tasks"]:
        assert (task["launchType"], task["containerInstanceArn"], task["lastStatus"]) == ("EC2", instance_arn, "PROVISIONING")
        details = eni_of(task)
        (eni,) = clients.ec2.describe_network_interfaces(NetworkInterfaceIds=[details["networkInterfaceId"]])[
            "NetworkInterfaces"]
        assert eni["SubnetId"] == details["subnetId"] and eni["SubnetId"] in stack.public_subnet_ids
        assert eni["AvailabilityZone"] == zone  # the subnet in the instance's Availability Zone
        assert [g["GroupId"] for g in eni["Groups"]] == [group]
        assert eni["PrivateIpAddress"] == details["privateIPv4Address"]
    assert len(enis_in(clients, group)) == 2

    arns = [task["taskArn"] for task in answer["tasks"]]
    first_value(lambda: all(t["lastStatus"] == "RUNNING" for t in clients.ecs.describe_tasks(
        cluster=stack.cluster_name, tasks=arns)["tasks"]), timeout=30, what="both awsvpc tasks RUNNING")
    answer = clients.ecs.start_task(cluster=stack.cluster_name, taskDefinition=name, containerInstances=[instance_arn],
                                    networkConfiguration=network)
    assert answer["tasks"] == [] and answer["failures"] == [{"arn": instance_arn, "reason": "RESOURCE:ENI"}]

    for arn in arns:
        clients.ecs.stop_task(cluster=stack.cluster_name, task=arn)
    first_value(lambda: not enis_in(clients, group), timeout=30, what="the ENIs deleted with their tasks")
    stopped = clients.ecs.describe_tasks(cluster=stack.cluster_name, tasks=arns)["tasks"]
    assert {(t["lastStatus"], t["stopCode"]) for t in stopped} == {("STOPPED", "UserInitiated")}

    answer = clients.ecs.start_task(cluster=stack.cluster_name, taskDefinition=name, containerInstances=[instance_arn],
                                    networkConfiguration=network)  # the ENIs are free again
    (task,) = answer["tasks"]
    assert eni_of(task)["subnetId"] in stack.public_subnet_ids
    clients.ecs.stop_task(cluster=stack.cluster_name, task=task["taskArn"])
    first_value(lambda: not enis_in(clients, group), timeout=30, what="the StartTask ENI deleted")


def test_a_service_the_sandbox_does_not_run_says_so_in_an_event(region):
    clients, stack = build(region, instance_count=1)
    clients.ecs.register_task_definition(
        family=f"{stack.spec.name}-vpc", networkMode="awsvpc",
        containerDefinitions=[{"name": "app", "image": "tomcat", "memory": 128, "portMappings": [{"containerPort": 8081}]}])
    network = {"awsvpcConfiguration": {"subnets": stack.public_subnet_ids[:1], "securityGroups": [stack.host_sg_id]}}
    provider = asg_provider(clients, stack, f"{stack.spec.name}-asg")
    clients.ecs.put_cluster_capacity_providers(cluster=stack.cluster_name, capacityProviders=[provider],
                                               defaultCapacityProviderStrategy=[])
    clients.ecs.create_service(cluster=stack.cluster_name, serviceName="vpc", taskDefinition=f"{stack.spec.name}-vpc",
                               desiredCount=1, networkConfiguration=network,
                               capacityProviderStrategy=[{"capacityProvider": provider, "weight": 1}])
    clients.ecs.create_service(cluster=stack.cluster_name, serviceName="bluegreen", taskDefinition=stack.task_definition_arn,
                               desiredCount=1, deploymentController={"type": "CODE_DEPLOY"})

    def events(name):
        return [e["message"] for e in clients.ecs.describe_services(
            cluster=stack.cluster_name, services=[name])["services"][0]["events"]]

    first_value(lambda: "(service vpc) This sandbox does not run tasks placed through a capacity provider strategy "
               "with Auto Scaling group providers" in " ".join(events("vpc")), what="the capacity provider service's event")
    first_value(lambda: "(service bluegreen) This sandbox does not run services with the CODE_DEPLOY deployment "
               "controller" in " ".join(events("bluegreen")), what="the blue/green service's event")
    for name in ("vpc", "bluegreen"):
        clients.ecs.delete_service(cluster=stack.cluster_name, service=name, force=True)
