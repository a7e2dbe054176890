"""The classic mistakes behave as on AWS, each seen through a real HTTP client (httpx over the
sandbox's SOCKS proxy), in one sandbox region shared by this module."""

import threading

import pytest

from helpers.stack import CONTAINER_NAME, CONTAINER_PORT, StackSpec, build_stack
from helpers.traffic import request
from helpers.waiters import wait_for_service, wait_for_targets, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def region():
    from helpers.sandbox.region import Sandbox

    with Sandbox() as sandbox:
        yield sandbox


def build(region, name, **spec):
    clients = region.clients()
    stack = build_stack(clients, StackSpec(name=name, deregistration_delay=5, **spec))
    wait_for_service(clients, stack, progress=False)
    return clients, stack


def get(region, url, timeout=5.0):
    return request(url, proxy=region.socks_proxy, timeout=timeout)


def test_killing_a_container_mid_traffic_fails_only_its_requests_and_traffic_recovers(region):
    clients, stack = build(region, "kill")
    url = f"http://{stack.alb_dns_name}/"
    victim = get(region, url).task_id
    outcomes, stop = [], threading.Event()

    def traffic():
        while not stop.is_set():
            outcomes.append(get(region, url))

    sender = threading.Thread(target=traffic)
    sender.start()
    wait_until(lambda: (len(outcomes) >= 3, f"{len(outcomes)} requests"), what="traffic to flow", timeout=30,
               interval=0.05, progress=False)
    region.ctx.components["containers"].kill_task_id(victim)
    # The scheduler sees the container exit, stops the task and starts a replacement.
    wait_until(lambda: (victim not in {o.task_id for o in [get(region, url) for _ in range(6)]}
                        and get(region, url).kind == "answered", "recovered"),
               what="traffic to recover", timeout=30, progress=False)
    wait_for_service(clients, stack, progress=False)
    stop.set()
    sender.join()
    failed = [o for o in outcomes if o.kind != "answered"]
    assert len(outcomes) > 10
    assert len(failed) <= len(outcomes) // 3, [o.summary() for o in failed]
    assert {o.task_id for o in [get(region, url) for _ in range(9)]}.isdisjoint({victim})


def test_a_path_rule_sends_api_requests_to_a_second_service(region):
    clients, stack = build(region, "rules")
    tg2 = clients.elbv2.create_target_group(Name="rules-api-tg", Protocol="HTTP", Port=80, VpcId=stack.vpc_id,
                                           TargetType="instance")["TargetGroups"][0]["TargetGroupArn"]
    clients.elbv2.create_rule(ListenerArn=stack.listener_arn, Priority=10,
                              Conditions=[{"Field": "path-pattern", "Values": ["/api/*"]}],
                              Actions=[{"Type": "forward", "TargetGroupArn": tg2}])
    clients.ecs.create_service(cluster=stack.cluster_name, serviceName="rules-api", taskDefinition=stack.task_definition_arn,
                               desiredCount=2, launchType="EC2",
                               loadBalancers=[{"targetGroupArn": tg2, "containerName": CONTAINER_NAME,
                                               "containerPort": CONTAINER_PORT}])
    wait_for_targets(clients, tg2, {"healthy": 2}, progress=False)
    api_tasks = {t.rsplit("/", 1)[-1] for t in clients.ecs.list_tasks(cluster=stack.cluster_name, serviceName="rules-api")["taskArns"]}
    web_tasks = {t.rsplit("/", 1)[-1] for t in clients.ecs.list_tasks(cluster=stack.cluster_name, serviceName=stack.service_name)["taskArns"]}
    api = {get(region, f"http://{stack.alb_dns_name}/api/orders").task_id for _ in range(6)}
    web = {get(region, f"http://{stack.alb_dns_name}/index.html").task_id for _ in range(6)}
    assert api == api_tasks
    assert web <= web_tasks and web


def test_no_route_to_the_internet_gateway_times_out(region):
    clients, stack = build(region, "noroute")
    url = f"http://{stack.alb_dns_name}/"
    assert get(region, url).kind == "answered"
    clients.ec2.delete_route(RouteTableId=stack.public_route_table_id, DestinationCidrBlock="0.0.0.0/0")
    assert get(region, url, timeout=2.0).kind == "timeout"
    clients.ec2.create_route(RouteTableId=stack.public_route_table_id, DestinationCidrBlock="0.0.0.0/0", GatewayId=stack.igw_id)
    assert get(region, url).kind == "answered"


def test_hosts_security_group_open_only_on_8081_makes_targets_unhealthy_and_requests_fail(region):
    clients, stack = build(region, "only8081")
    clients.ecs.update_service(cluster=stack.cluster_name, service=stack.service_name, healthCheckGracePeriodSeconds=86400)
    group = clients.ec2.describe_security_groups(GroupIds=[stack.host_sg_id])["SecurityGroups"][0]
    clients.ec2.revoke_security_group_ingress(GroupId=stack.host_sg_id, IpPermissions=[
        p for p in group["IpPermissions"] if p.get("FromPort") == 32768])
    wait_for_targets(clients, stack.target_group_arn, {"unhealthy": 3}, progress=False)
    outcome = get(region, f"http://{stack.alb_dns_name}/")
    # Every target unhealthy: the ALB fails open and tries them anyway - and times out on the way.
    assert (outcome.kind, outcome.status, outcome.server) == ("alb_error", 504, "awselb/2.0")


def test_a_private_subnet_nacl_without_the_return_rule_gives_504(region):
    clients, stack = build(region, "nacl", hosts_in="private")
    clients.ecs.update_service(cluster=stack.cluster_name, service=stack.service_name, healthCheckGracePeriodSeconds=86400)
    ec2 = clients.ec2
    acl = ec2.create_network_acl(VpcId=stack.vpc_id)["NetworkAcl"]["NetworkAclId"]
    ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Protocol="6", RuleAction="allow", Egress=False,
                                 CidrBlock="10.0.0.0/16", PortRange={"From": 32768, "To": 65535})
    # The mistake: no outbound rule, so the hosts' replies (to the ALB's ports 1024-65535) are dropped.
    associations = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": stack.private_subnet_ids}])
    for entry in associations["NetworkAcls"]:
        for association in entry["Associations"]:
            if association["SubnetId"] in stack.private_subnet_ids:
                ec2.replace_network_acl_association(AssociationId=association["NetworkAclAssociationId"], NetworkAclId=acl)
    wait_for_targets(clients, stack.target_group_arn, {"unhealthy": 3}, progress=False)
    outcome = get(region, f"http://{stack.alb_dns_name}/")
    assert (outcome.kind, outcome.status) == ("alb_error", 504)
    ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Protocol="6", RuleAction="allow", Egress=True,
                                 CidrBlock="10.0.0.0/16", PortRange={"From": 1024, "To": 65535})
    wait_for_targets(clients, stack.target_group_arn, {"healthy": 3}, progress=False)
    assert get(region, f"http://{stack.alb_dns_name}/").kind == "answered"


def test_a_static_host_port_answers_on_the_instance_dns_name_and_a_dynamic_one_does_not(region):
    clients, static = build(region, "static", host_port=8081, desired_count=2)
    _, dynamic = build(region, "dynamic")
    described = clients.ec2.describe_instances(InstanceIds=static.instance_ids + dynamic.instance_ids)
    public_dns = {i["InstanceId"]: i["PublicDnsName"] for r in described["Reservations"] for i in r["Instances"]}
    static_answer = get(region, f"http://{public_dns[static.instance_ids[0]]}:8081/", timeout=10)
    assert static_answer.kind == "answered" and static_answer.container_port == 8081
    task = clients.ecs.describe_tasks(cluster=dynamic.cluster_name, tasks=clients.ecs.list_tasks(
        cluster=dynamic.cluster_name, serviceName=dynamic.service_name)["taskArns"][:1])["tasks"][0]
    binding = task["containers"][0]["networkBindings"][0]
    instance_id = clients.ecs.describe_container_instances(
        cluster=dynamic.cluster_name, containerInstances=[task["containerInstanceArn"]])["containerInstances"][0]["ec2InstanceId"]
    # The dynamic host port is open to the ALB's security group only: from the internet, a drop.
    assert get(region, f"http://{public_dns[instance_id]}:{binding['hostPort']}/", timeout=2.0).kind == "timeout"
