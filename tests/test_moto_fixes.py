"""moto_fixes against moto's real server: each test asserts the AWS answer the fix exists for."""

from __future__ import annotations

import json
import threading
import time
import urllib.request

import pytest
from botocore.exceptions import ClientError, WaiterError

from helpers.backend import Clients
from helpers.sandbox import moto_fixes
from helpers.sandbox.region import SandboxContext, SandboxOptions, _locked_app

AMI = "ami-12c6146b"


@pytest.fixture(scope="module")
def ctx():
    """What Sandbox.start does for the control plane, without the other components."""
    import logging

    from moto.moto_server.threaded_moto_server import MotoRequestHandler
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    context = SandboxContext(SandboxOptions())
    moto_fixes.apply(context)
    moto_fixes.apply(context)  # idempotent: a second sandbox start must not patch twice
    app = _locked_app(DomainDispatcherApplication(create_backend_app), context)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
    host, port = server.server_address[:2]
    context.endpoint_url = f"http://{host}:{port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield context
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def clients(ctx) -> Clients:
    return ctx.clients()  # built once: creating boto3 clients is the slow part


@pytest.fixture
def aws(ctx, clients) -> Clients:
    """The sandbox's clients, after moto's reset (every test starts from an empty region)."""
    request = urllib.request.Request(f"{ctx.endpoint_url}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=60).read()  # a hang guard: reset reloads every backend, slow on a busy machine
    return clients


def error_of(call, *args, **kwargs) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


# -- building blocks ---------------------------------------------------------------------------------


def network(aws: Clients) -> dict:
    vpc = aws.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        aws.ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{zone}")["Subnet"][
            "SubnetId"
        ]
        for i, zone in enumerate("ab")
    ]
    return {"vpc": vpc, "subnets": subnets}


def instance(aws: Clients, subnet: str) -> str:
    return aws.ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet)["Instances"][0]["InstanceId"]


def target_group(aws: Clients, vpc: str, name: str = "web", **extra) -> str:
    return aws.elbv2.create_target_group(Name=name, Protocol="HTTP", Port=8081, VpcId=vpc, **extra)["TargetGroups"][0][
        "TargetGroupArn"
    ]


def alb(aws: Clients, subnets: list[str]) -> str:
    return aws.elbv2.create_load_balancer(Name="lab", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]


def forward(aws: Clients, lb: str, tg: str, port: int = 80) -> str:
    return aws.elbv2.create_listener(
        LoadBalancerArn=lb, Protocol="HTTP", Port=port, DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}]
    )["Listeners"][0]["ListenerArn"]


def health(aws: Clients, tg: str, targets=None) -> list[tuple]:
    kwargs = {"Targets": targets} if targets else {}
    descriptions = aws.elbv2.describe_target_health(TargetGroupArn=tg, **kwargs)["TargetHealthDescriptions"]
    return sorted(
        (
            d["Target"]["Id"],
            d["Target"]["Port"],
            d["HealthCheckPort"],
            d["TargetHealth"]["State"],
            d["TargetHealth"].get("Reason"),
        )
        for d in descriptions
    )


def container_definition(**port_mapping) -> dict:
    return {"name": "app", "image": "tomcat", "memory": 128, "portMappings": [{"containerPort": 8081, **port_mapping}]}


def cluster_with_instance(aws: Clients, subnet: str) -> str:
    aws.ecs.create_cluster(clusterName="lab")
    document = json.dumps({"instanceId": instance(aws, subnet)})
    return aws.ecs.register_container_instance(cluster="lab", instanceIdentityDocument=document)["containerInstance"][
        "containerInstanceArn"
    ]


# -- 1. targets keyed by (Id, Port) ----------------------------------------------------------------------


def test_one_instance_registers_on_several_ports_starting_initial(ctx, aws):
    net = network(aws)
    i1 = instance(aws, net["subnets"][0])
    tg = target_group(aws, net["vpc"])
    aws.elbv2.register_targets(
        TargetGroupArn=tg, Targets=[{"Id": i1, "Port": 32768}, {"Id": i1, "Port": 32769}, {"Id": i1}]
    )
    assert health(aws, tg) == [
        (i1, 8081, "8081", "initial", "Elb.RegistrationInProgress"),  # Port omitted: the group's port
        (i1, 32768, "32768", "initial", "Elb.RegistrationInProgress"),
        (i1, 32769, "32769", "initial", "Elb.RegistrationInProgress"),
    ]

    with ctx.lock:  # what the health checker does
        group = moto_fixes.find_target_group(ctx, tg)
        records = {r["Port"]: r for r in moto_fixes.target_records(group)}
        assert records[32768]["Passes"] == 0 and records[32768]["DrainingUntil"] is None
        records[32768].update(State="healthy", Reason=None, Description=None)
    aws.elbv2.register_targets(TargetGroupArn=tg, Targets=[{"Id": i1, "Port": 32768}])  # no-op when registered
    assert (i1, 32768, "32768", "healthy", None) in health(aws, tg)
    assert health(aws, tg, [{"Id": i1, "Port": 40000}]) == [(i1, 40000, "40000", "unused", "Target.NotRegistered")]


def test_deregistration_drains_for_the_delay_and_reregistration_restores(ctx, aws):
    net = network(aws)
    i1 = instance(aws, net["subnets"][0])
    tg = target_group(aws, net["vpc"])
    aws.elbv2.register_targets(TargetGroupArn=tg, Targets=[{"Id": i1, "Port": 32768}, {"Id": i1, "Port": 32769}])
    before = time.monotonic()
    aws.elbv2.deregister_targets(TargetGroupArn=tg, Targets=[{"Id": i1, "Port": 32768}])
    assert health(aws, tg)[0] == (i1, 32768, "32768", "draining", "Target.DeregistrationInProgress")
    with ctx.lock:
        record = next(r for r in moto_fixes.target_records(moto_fixes.find_target_group(ctx, tg)) if r["Port"] == 32768)
        # 300 AWS seconds at the sandbox's time scale
        assert record["DrainingUntil"] == pytest.approx(before + ctx.timescale.real(300), abs=1.0)

    aws.elbv2.register_targets(TargetGroupArn=tg, Targets=[{"Id": i1, "Port": 32768}])
    assert health(aws, tg)[0] == (i1, 32768, "32768", "initial", "Elb.RegistrationInProgress")

    assert (
        error_of(aws.elbv2.deregister_targets, TargetGroupArn=tg, Targets=[{"Id": i1, "Port": 1234}])[0]
        == "InvalidTarget"
    )

    aws.elbv2.modify_target_group_attributes(
        TargetGroupArn=tg, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "0"}]
    )
    aws.elbv2.deregister_targets(TargetGroupArn=tg, Targets=[{"Id": i1, "Port": 32768}])
    assert [t[1] for t in health(aws, tg)] == [32769]


def test_terminated_instance_targets_drain(aws):
    net = network(aws)
    i1 = instance(aws, net["subnets"][0])
    tg = target_group(aws, net["vpc"])
    aws.elbv2.register_targets(TargetGroupArn=tg, Targets=[{"Id": i1, "Port": 32768}])
    aws.ec2.terminate_instances(InstanceIds=[i1])
    assert health(aws, tg) == [(i1, 32768, "32768", "draining", "Target.DeregistrationInProgress")]


# -- 2. the ECS service-linked role -------------------------------------------------------------------------


def test_service_linked_role_has_aws_name_and_path(aws):
    role = aws.iam.create_service_linked_role(AWSServiceName="ecs.amazonaws.com")["Role"]
    assert role["RoleName"] == "AWSServiceRoleForECS"
    assert role["Path"] == "/aws-service-role/ecs.amazonaws.com/"
    principal = role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"]
    assert principal in ("ecs.amazonaws.com", ["ecs.amazonaws.com"])


def test_first_cluster_creates_the_service_linked_role(aws):
    assert error_of(aws.iam.get_role, RoleName="AWSServiceRoleForECS")[0] == "NoSuchEntity"
    aws.ecs.create_cluster(clusterName="lab")
    aws.ecs.create_cluster(clusterName="lab2")  # once only
    assert aws.iam.get_role(RoleName="AWSServiceRoleForECS")["Role"]["Path"] == "/aws-service-role/ecs.amazonaws.com/"


def test_without_the_service_linked_role_a_load_balanced_service_is_refused(aws):
    net = network(aws)
    aws.ecs.create_cluster(clusterName="lab")
    aws.ecs.register_task_definition(family="web", containerDefinitions=[container_definition()])
    tg = target_group(aws, net["vpc"])
    forward(aws, alb(aws, net["subnets"]), tg)
    # Deleted the AWS way, with its policy (IAM refuses to detach a service-linked role's policies).
    aws.iam.delete_service_linked_role(RoleName="AWSServiceRoleForECS")
    assert error_of(aws.iam.get_role, RoleName="AWSServiceRoleForECS")[0] == "NoSuchEntity"
    balanced = {"loadBalancers": [{"targetGroupArn": tg, "containerName": "app", "containerPort": 8081}]}

    def service(name, **extra):
        return aws.ecs.create_service(cluster="lab", serviceName=name, taskDefinition="web", desiredCount=1, **extra)

    assert error_of(service, "web", **balanced) == (
        "InvalidParameterException",
        "Unable to assume the service linked role. Please verify that the ECS service linked role exists.",
    )
    assert aws.ecs.describe_services(cluster="lab", services=["web"])["services"] == []  # nothing half-made
    service("plain")  # no load balancer: ECS needs no role to run it
    aws.iam.create_service_linked_role(AWSServiceName="ecs.amazonaws.com")
    assert service("web", **balanced)["service"]["status"] == "ACTIVE"


# -- 3. network ACLs ----------------------------------------------------------------------------------------------


def entries_of(aws: Clients, acl: str) -> list[tuple]:
    acl_data = aws.ec2.describe_network_acls(NetworkAclIds=[acl])["NetworkAcls"][0]
    return [(e["Egress"], e["RuleNumber"], e["RuleAction"], e["Protocol"], e["CidrBlock"]) for e in acl_data["Entries"]]


def test_custom_nacl_shows_star_rules_in_rule_order(aws):
    vpc = network(aws)["vpc"]
    acl = aws.ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    for rule, egress in ((200, False), (100, False), (100, True)):
        aws.ec2.create_network_acl_entry(
            NetworkAclId=acl,
            RuleNumber=rule,
            Protocol="6",
            RuleAction="allow",
            Egress=egress,
            CidrBlock="0.0.0.0/0",
            PortRange={"From": 80, "To": 80},
        )
    assert entries_of(aws, acl) == [
        (False, 100, "allow", "6", "0.0.0.0/0"),
        (False, 200, "allow", "6", "0.0.0.0/0"),
        (False, 32767, "deny", "-1", "0.0.0.0/0"),
        (True, 100, "allow", "6", "0.0.0.0/0"),
        (True, 32767, "deny", "-1", "0.0.0.0/0"),
    ]
    default = aws.ec2.describe_network_acls(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "default", "Values": ["true"]}]
    )
    default_acl = default["NetworkAcls"][0]["NetworkAclId"]
    assert [(e[0], e[1], e[2]) for e in entries_of(aws, default_acl)] == [
        (False, 100, "allow"),
        (False, 32767, "deny"),
        (True, 100, "allow"),
        (True, 32767, "deny"),
    ]


def test_nacl_rule_numbers_are_checked(aws):
    vpc = network(aws)["vpc"]
    acl = aws.ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    entry = dict(NetworkAclId=acl, Protocol="-1", RuleAction="allow", Egress=False, CidrBlock="0.0.0.0/0")
    for bad in (0, 32767, 40000):
        assert error_of(aws.ec2.create_network_acl_entry, RuleNumber=bad, **entry) == (
            "InvalidParameterValue",
            f"Value ({bad}) for parameter ruleNumber is invalid. Rulenumber must be in range 1..32766",
        )
    assert error_of(aws.ec2.replace_network_acl_entry, RuleNumber=40000, **entry)[0] == "InvalidParameterValue"
    assert (
        error_of(aws.ec2.delete_network_acl_entry, NetworkAclId=acl, RuleNumber=32767, Egress=False)[0]
        == "InvalidParameterValue"
    )
    assert error_of(aws.ec2.replace_network_acl_entry, RuleNumber=300, **entry)[0] == "InvalidNetworkAclEntry.NotFound"

    aws.ec2.create_network_acl_entry(RuleNumber=100, **entry)
    assert error_of(aws.ec2.create_network_acl_entry, RuleNumber=100, **entry) == (
        "NetworkAclEntryAlreadyExists",
        "The network acl entry identified by 100 already exists.",
    )
    aws.ec2.create_network_acl_entry(RuleNumber=100, **{**entry, "Egress": True})  # the other direction is free
    aws.ec2.replace_network_acl_entry(RuleNumber=100, **{**entry, "RuleAction": "deny"})
    assert (False, 100, "deny", "-1", "0.0.0.0/0") in entries_of(aws, acl)


# -- 4. ECS tasks -------------------------------------------------------------------------------------------------------


def test_task_status_belongs_to_the_scheduler_and_stop_task_only_asks(ctx, aws):
    net = network(aws)
    container_instance = cluster_with_instance(aws, net["subnets"][0])
    aws.ecs.register_task_definition(family="web", containerDefinitions=[container_definition()])
    task = aws.ecs.start_task(cluster="lab", taskDefinition="web", containerInstances=[container_instance])["tasks"][0]
    arn = task["taskArn"]
    assert task["containers"][0]["taskArn"] == arn
    for _ in range(6):  # moto would walk RUNNING -> ... -> STOPPED here
        described = aws.ecs.describe_tasks(cluster="lab", tasks=[arn])["tasks"][0]
    assert described["lastStatus"] == "RUNNING"
    with ctx.lock:
        ctx.ecs().tasks["lab"][arn].last_status = "PENDING"
    assert aws.ecs.describe_tasks(cluster="lab", tasks=[arn])["tasks"][0]["lastStatus"] == "PENDING"

    stopped = aws.ecs.stop_task(cluster="lab", task=arn)["task"]
    assert (stopped["desiredStatus"], stopped["lastStatus"], stopped["stoppedReason"], stopped["stopCode"]) == (
        "STOPPED",
        "PENDING",
        "Task stopped by user",
        "UserInitiated",
    )
    assert aws.ecs.list_tasks(cluster="lab")["taskArns"] == []  # desiredStatus defaults to RUNNING
    assert aws.ecs.list_tasks(cluster="lab", desiredStatus="STOPPED")["taskArns"] == [arn]
    assert aws.ecs.list_tags_for_resource(resourceArn=arn)["tags"] == []  # moto's own lookup still finds it
    assert error_of(aws.ecs.stop_task, cluster="lab", task="0123456789abcdef") == (
        "InvalidParameterException",
        "The referenced task was not found.",
    )


def test_stop_task_keeps_the_callers_reason_and_list_tasks_filters_by_service(aws):
    net = network(aws)
    container_instance = cluster_with_instance(aws, net["subnets"][0])
    aws.ecs.register_task_definition(family="web", containerDefinitions=[container_definition()])
    start = dict(cluster="lab", taskDefinition="web", containerInstances=[container_instance])
    web = aws.ecs.start_task(group="service:web", **start)["tasks"][0]["taskArn"]
    other = aws.ecs.start_task(group="service:other", **start)["tasks"][0]["taskArn"]
    assert aws.ecs.list_tasks(cluster="lab", serviceName="web")["taskArns"] == [web]
    assert sorted(aws.ecs.list_tasks(cluster="lab")["taskArns"]) == sorted([web, other])
    assert aws.ecs.stop_task(cluster="lab", task=web, reason="scale in")["task"]["stoppedReason"] == "scale in"
    assert aws.ecs.list_tasks(cluster="lab", serviceName="web", desiredStatus="STOPPED")["taskArns"] == [web]


# -- 5. validations -----------------------------------------------------------------------------------------------


def test_elbv2_validations(aws):
    net = network(aws)
    tg = target_group(aws, net["vpc"])
    lb = alb(aws, net["subnets"])
    forward(aws, lb, tg, 80)
    assert error_of(forward, aws, lb, tg, 80) == (
        "DuplicateListener",
        "A listener with the specified port already exists.",
    )
    listener_8080 = forward(aws, lb, tg, 8080)
    assert error_of(aws.elbv2.modify_listener, ListenerArn=listener_8080, Port=80)[0] == "DuplicateListener"
    assert error_of(forward, aws, lb, tg, 70000)[0] == "ValidationError"
    assert (
        error_of(aws.elbv2.create_target_group, Name="bad", Protocol="HTTP", Port=70000, VpcId=net["vpc"])[0]
        == "ValidationError"
    )

    assert error_of(aws.elbv2.create_load_balancer, Name="one", Subnets=net["subnets"][:1]) == (
        "ValidationError",
        "At least two subnets in two different Availability Zones must be specified",
    )
    same_zone = aws.ec2.create_subnet(VpcId=net["vpc"], CidrBlock="10.0.9.0/24", AvailabilityZone="us-east-1a")[
        "Subnet"
    ]["SubnetId"]
    assert (
        error_of(aws.elbv2.create_load_balancer, Name="two", Subnets=[net["subnets"][0], same_zone])[0]
        == "InvalidConfigurationRequest"
    )
    assert error_of(aws.elbv2.create_load_balancer, Name="ghost", Subnets=[net["subnets"][0], "subnet-0ghost"]) == (
        "SubnetNotFound",
        "The specified subnet does not exist.",
    )
    aws.elbv2.create_load_balancer(Name="nlb", Subnets=net["subnets"][:1], Type="network")  # one AZ is fine for an NLB


def test_task_definition_host_ports_must_match_in_awsvpc_and_host_mode(aws):
    for mode in ("awsvpc", "host"):
        code, message = error_of(
            aws.ecs.register_task_definition,
            family="web",
            networkMode=mode,
            containerDefinitions=[container_definition(hostPort=80)],
        )
        assert (code, message) == (
            "ClientException",
            f"When networkMode={mode}, the host ports and container ports in port mappings must match.",
        )
        aws.ecs.register_task_definition(family="web", networkMode=mode, containerDefinitions=[container_definition()])
        aws.ecs.register_task_definition(
            family="web", networkMode=mode, containerDefinitions=[container_definition(hostPort=8081)]
        )
    assert (
        error_of(
            aws.ecs.register_task_definition,
            family="web",
            networkMode="awsvpc",
            containerDefinitions=[container_definition(hostPort=0)],
        )[0]
        == "ClientException"
    )
    aws.ecs.register_task_definition(
        family="web", containerDefinitions=[container_definition(hostPort=0)]
    )  # bridge: dynamic


def test_service_load_balancer_checks(aws):
    net = network(aws)
    aws.ecs.create_cluster(clusterName="lab")
    aws.ecs.register_task_definition(family="web", containerDefinitions=[container_definition()])  # dynamic host port
    lonely = target_group(aws, net["vpc"], name="lonely")
    fixed = target_group(aws, net["vpc"], name="fixed", HealthCheckPort="8081")
    good = target_group(aws, net["vpc"], name="good")
    lb = alb(aws, net["subnets"])
    forward(aws, lb, fixed, 80)
    forward(aws, lb, good, 81)

    def service(tg, name="web"):
        return aws.ecs.create_service(
            cluster="lab",
            serviceName=name,
            taskDefinition="web",
            desiredCount=1,
            loadBalancers=[{"targetGroupArn": tg, "containerName": "app", "containerPort": 8081}],
        )

    assert error_of(service, lonely) == (
        "InvalidParameterException",
        f"The target group with targetGroupArn {lonely} does not have an associated load balancer.",
    )
    assert error_of(service, fixed) == (
        "InvalidParameterException",
        f"The task definition is configured to use a dynamic host port, but the target group with targetGroupArn {fixed} has a health check port specified.",
    )
    service(good)
    assert (
        error_of(
            aws.ecs.update_service,
            cluster="lab",
            service="web",
            loadBalancers=[{"targetGroupArn": fixed, "containerName": "app", "containerPort": 8081}],
        )[0]
        == "InvalidParameterException"
    )
    assert aws.iam.get_role(RoleName="AWSServiceRoleForECS")["Role"]["RoleName"] == "AWSServiceRoleForECS"


def test_target_type_must_match_the_network_mode(aws):
    net = network(aws)
    aws.ecs.create_cluster(clusterName="lab")
    aws.ecs.register_task_definition(family="bridge", containerDefinitions=[container_definition()])
    aws.ecs.register_task_definition(family="vpc", networkMode="awsvpc", containerDefinitions=[container_definition()])
    by_ip = target_group(aws, net["vpc"], name="by-ip", TargetType="ip")
    by_instance = target_group(aws, net["vpc"], name="by-instance")
    lb = alb(aws, net["subnets"])
    forward(aws, lb, by_ip, 80)
    forward(aws, lb, by_instance, 81)
    sg = aws.ec2.create_security_group(GroupName="tasks", Description="tasks", VpcId=net["vpc"])["GroupId"]

    def service(family, tg, name, **network):
        if family == "vpc" and not network:
            network = {"networkConfiguration": {"awsvpcConfiguration": {"subnets": net["subnets"], "securityGroups": [sg]}}}
        return aws.ecs.create_service(
            cluster="lab", serviceName=name, taskDefinition=family, desiredCount=0,
            loadBalancers=[{"targetGroupArn": tg, "containerName": "app", "containerPort": 8081}], **network)

    assert error_of(service, "bridge", by_ip, "a") == (
        "InvalidParameterException",
        f"The provided target group {by_ip} has target type ip, which is incompatible with the bridge network mode "
        "specified in the task definition.",
    )
    assert error_of(service, "vpc", by_instance, "b") == (
        "InvalidParameterException",
        f"The provided target group {by_instance} has target type instance, which is incompatible with the awsvpc "
        "network mode specified in the task definition.",
    )
    no_subnets = {"networkConfiguration": {"awsvpcConfiguration": {"subnets": []}}}
    assert error_of(service, "vpc", by_ip, "e", **no_subnets) == (
        "InvalidParameterException", "Network Configuration must be provided when networkMode 'awsvpc' is specified.")
    service("bridge", by_instance, "c")
    service("vpc", by_ip, "d")


# -- 6. services_stable -------------------------------------------------------------------------------------------


def test_services_stable_follows_the_schedulers_counts(ctx, aws):
    aws.ecs.create_cluster(clusterName="lab")
    aws.ecs.register_task_definition(family="web", containerDefinitions=[container_definition()])
    aws.ecs.create_service(cluster="lab", serviceName="web", taskDefinition="web", desiredCount=1)
    waiter = aws.ecs.get_waiter("services_stable")

    def stable() -> bool:
        try:
            waiter.wait(cluster="lab", services=["web"], WaiterConfig={"Delay": 0, "MaxAttempts": 1})
            return True
        except WaiterError:
            return False

    assert not stable()
    with ctx.lock:  # what the scheduler does once the task runs
        service = ctx.ecs().services["lab:web"]
        service.running_count, service.pending_count = 1, 0
        service.events.insert(
            0, {"id": "e1", "createdAt": time.time(), "message": "(service web) has reached a steady state."}
        )
    assert stable()
    described = aws.ecs.describe_services(cluster="lab", services=["web"])["services"][0]
    assert (described["runningCount"], described["pendingCount"]) == (1, 0)
    assert (described["deployments"][0]["runningCount"], described["deployments"][0]["desiredCount"]) == (1, 1)
    assert described["events"][0]["message"] == "(service web) has reached a steady state."

    aws.ecs.update_service(cluster="lab", service="web", desiredCount=2)  # moto would claim 2 running
    described = aws.ecs.describe_services(cluster="lab", services=["web"])["services"][0]
    assert (described["desiredCount"], described["runningCount"]) == (2, 1)
    assert not stable()


def test_http_target_group_health_check_timeout_defaults_to_6_seconds(clients):
    vpc_id = clients.ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    http = clients.elbv2.create_target_group(Name="http-tg", Protocol="HTTP", Port=80, VpcId=vpc_id)["TargetGroups"][0]
    assert http["HealthCheckTimeoutSeconds"] == 6
    assert http["HealthCheckIntervalSeconds"] == 30
    assert (http["HealthyThresholdCount"], http["UnhealthyThresholdCount"]) == (5, 2)
    chosen = clients.elbv2.create_target_group(Name="chosen-tg", Protocol="HTTP", Port=80, VpcId=vpc_id,
                                               HealthCheckTimeoutSeconds=9)["TargetGroups"][0]
    assert chosen["HealthCheckTimeoutSeconds"] == 9


def test_create_service_keeps_the_health_check_grace_period(aws):
    aws.ecs.create_cluster(clusterName="lab")
    aws.ecs.register_task_definition(family="web", containerDefinitions=[container_definition()])
    aws.ecs.create_service(cluster="lab", serviceName="graceful", taskDefinition="web", desiredCount=0,
                           healthCheckGracePeriodSeconds=45)
    service = aws.ecs.describe_services(cluster="lab", services=["graceful"])["services"][0]
    assert service["healthCheckGracePeriodSeconds"] == 45


def test_revoking_a_group_rule_does_not_need_its_description(aws):
    vpc_id = aws.ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    alb = aws.ec2.create_security_group(GroupName="alb", Description="alb", VpcId=vpc_id)["GroupId"]
    hosts = aws.ec2.create_security_group(GroupName="hosts", Description="hosts", VpcId=vpc_id)["GroupId"]
    aws.ec2.authorize_security_group_ingress(GroupId=hosts, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 32768, "ToPort": 65535,
        "UserIdGroupPairs": [{"GroupId": alb, "Description": "from the ALB"}]}])
    aws.ec2.revoke_security_group_ingress(GroupId=hosts, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 32768, "ToPort": 65535, "UserIdGroupPairs": [{"GroupId": alb}]}])
    assert aws.ec2.describe_security_groups(GroupIds=[hosts])["SecurityGroups"][0]["IpPermissions"] == []
    with pytest.raises(ClientError, match="InvalidPermission.NotFound"):  # a rule that is not there
        aws.ec2.revoke_security_group_ingress(GroupId=hosts, IpPermissions=[{
            "IpProtocol": "tcp", "FromPort": 32768, "ToPort": 65535, "UserIdGroupPairs": [{"GroupId": alb}]}])
