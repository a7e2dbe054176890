"""RunTask and StartTask through plain boto3 against one sandbox region: real tasks, real ports,
AWS's failures; traffic through the sandbox's SOCKS proxy."""

from __future__ import annotations

import itertools

import pytest
from botocore.exceptions import ClientError

from helpers.stack import StackSpec, build_stack
from helpers.traffic import request
from helpers.waiters import first_value

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


def test_what_the_sandbox_does_not_run_is_refused_in_plain_words(region):
    clients, stack = build(region, instance_count=1)
    clients.ecs.register_task_definition(
        family=f"{stack.spec.name}-vpc", networkMode="awsvpc",
        containerDefinitions=[{"name": "app", "image": "tomcat", "memory": 128, "portMappings": [{"containerPort": 8081}]}])
    with pytest.raises(ClientError) as caught:
        clients.ecs.run_task(cluster=stack.cluster_name, taskDefinition=f"{stack.spec.name}-vpc")
    assert "This sandbox does not run standalone tasks in awsvpc network mode" in caught.value.response["Error"]["Message"]


def test_a_service_the_sandbox_does_not_run_says_so_in_an_event(region):
    clients, stack = build(region, instance_count=1)
    clients.ecs.register_task_definition(
        family=f"{stack.spec.name}-vpc", networkMode="awsvpc",
        containerDefinitions=[{"name": "app", "image": "tomcat", "memory": 128, "portMappings": [{"containerPort": 8081}]}])
    network = {"awsvpcConfiguration": {"subnets": stack.public_subnet_ids[:1], "securityGroups": [stack.host_sg_id]}}
    clients.ecs.create_service(cluster=stack.cluster_name, serviceName="vpc", taskDefinition=f"{stack.spec.name}-vpc",
                               desiredCount=1, networkConfiguration=network,
                               capacityProviderStrategy=[{"capacityProvider": "FARGATE_SPOT", "weight": 1}])
    clients.ecs.create_service(cluster=stack.cluster_name, serviceName="bluegreen", taskDefinition=stack.task_definition_arn,
                               desiredCount=1, deploymentController={"type": "CODE_DEPLOY"})

    def events(name):
        return [e["message"] for e in clients.ecs.describe_services(
            cluster=stack.cluster_name, services=[name])["services"][0]["events"]]

    first_value(lambda: "(service vpc) This sandbox does not run tasks placed through a capacity provider strategy"
               in " ".join(events("vpc")), what="the capacity provider service's event")
    first_value(lambda: "(service bluegreen) This sandbox does not run services with the CODE_DEPLOY deployment "
               "controller" in " ".join(events("bluegreen")), what="the blue/green service's event")
    for name in ("vpc", "bluegreen"):
        clients.ecs.delete_service(cluster=stack.cluster_name, service=name, force=True)
