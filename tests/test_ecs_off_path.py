"""ECS one step off the course's path, through plain boto3 against one sandbox region (issue 10):
Availability Zones the ALB is not enabled in, the agent's own settings, placement strategies
and constraints, instances that stop, terminate or drain.
"""

from __future__ import annotations

import itertools

import pytest
from botocore.exceptions import ClientError

from helpers.audit import run_audit
from helpers.evaluator import agent_reaches_ecs
from helpers.evaluator.report import format_ecs_reach
from helpers.explain import explain_agent
from helpers.sandbox.agent_config import agent_settings
from helpers.stack import StackSpec, availability_zones, build_stack, ecs_user_data
from helpers.traffic import request
from test_scheduler import (instance_of, messages, reconcile, region, running, sandbox,  # noqa: F401 (fixtures)
                            service, stopped, tasks, wait_until)

pytestmark = pytest.mark.slow
_names = itertools.count(1)


def build(sandbox, **spec):
    clients = sandbox.clients()
    stack = build_stack(clients, StackSpec(name=f"off{next(_names)}", **spec))
    clients.ecs.update_service(cluster=stack.cluster_name, service=stack.service_name, healthCheckGracePeriodSeconds=3600)
    return clients, stack


def target_health(clients, stack):
    health = clients.elbv2.describe_target_health(TargetGroupArn=stack.target_group_arn)["TargetHealthDescriptions"]
    return {(d["Target"]["Id"], d["Target"]["Port"]): d["TargetHealth"] for d in health}


def launch_host(clients, stack, subnet_id, user_data=None, instance_type="t3.small"):
    """One more ECS host for the stack's cluster, in `subnet_id`."""
    image_id = clients.ec2.describe_instances(InstanceIds=stack.instance_ids[:1])["Reservations"][0]["Instances"][0]["ImageId"] \
        if stack.instance_ids else clients.ssm.get_parameter(
            Name="/aws/service/ecs/optimized-ami/amazon-linux-2/recommended/image_id")["Parameter"]["Value"]
    return clients.ec2.run_instances(
        ImageId=image_id, InstanceType=instance_type, MinCount=1, MaxCount=1, SubnetId=subnet_id,
        SecurityGroupIds=[stack.host_sg_id], UserData=user_data or ecs_user_data(stack.cluster_name),
    )["Instances"][0]["InstanceId"]


def third_zone_subnet(clients, stack):
    """A public subnet in an AZ the stack's ALB is not enabled in."""
    zone = availability_zones(clients, 3)[2]
    subnet_id = clients.ec2.create_subnet(VpcId=stack.vpc_id, CidrBlock="10.0.3.0/24", AvailabilityZone=zone)["Subnet"]["SubnetId"]
    clients.ec2.associate_route_table(RouteTableId=stack.public_route_table_id, SubnetId=subnet_id)
    clients.ec2.modify_subnet_attribute(SubnetId=subnet_id, MapPublicIpOnLaunch={"Value": True})
    return subnet_id


# -- Availability Zones ---------------------------------------------------------------------------

def test_target_in_a_zone_the_alb_is_not_enabled_in_is_unused_and_not_replaced(sandbox):
    clients, stack = build(sandbox, desired_count=1, instance_count=0)
    host = launch_host(clients, stack, third_zone_subnet(clients, stack))
    task = wait_until(lambda: running(clients, stack, 1), what="a RUNNING task in the third AZ")[0]
    assert instance_of(clients, stack, task) == host
    port = task["containers"][0]["networkBindings"][0]["hostPort"]
    health = wait_until(lambda: target_health(clients, stack).get((host, port), {}).get("State") == "unused"
                        and target_health(clients, stack)[(host, port)], what="the target unused")
    assert health["Reason"] == "Target.NotInUse"
    assert health["Description"] == "Target is in an Availability Zone that is not enabled for the load balancer"
    reconcile(sandbox)
    # No checks are sent (a check would turn it `initial`), and ECS does not replace the task for it.
    assert target_health(clients, stack)[(host, port)]["State"] == "unused"
    assert [t["taskArn"] for t in tasks(clients, stack)] == [task["taskArn"]] and not stopped(clients, stack)
    # No traffic either: the ALB has no target it may use.
    assert request(f"http://{stack.alb_dns_name}/", proxy=sandbox.socks_proxy).status == 503
    clients.ec2.terminate_instances(InstanceIds=[host])


# -- the agent's own settings -----------------------------------------------------------------------

def agent_script(cluster, *lines):
    return ecs_user_data(cluster) + "".join(f"echo {line} >> /etc/ecs/ecs.config\n" for line in lines)


def test_agent_settings_are_read_from_user_data():
    settings = agent_settings(agent_script("web", "ECS_DYNAMIC_HOST_PORT_RANGE=40000-40100", "'ECS_RESERVED_PORTS=[22, 80]'"))
    assert (settings.cluster, settings.host_port_range) == ("web", (40000, 40100))
    # The agent's own ports stay reserved even when the list leaves them out (our choice, said in agent_config).
    assert settings.reserved_ports == {22, 80, 51678, 51679, 51680}
    assert agent_settings("").reserved_ports == {22, 2375, 2376, 51678, 51679, 51680}
    assert (agent_settings("").cluster, agent_settings("").cluster_given) == ("default", False)


def test_unreadable_agent_settings_fall_back_to_the_defaults_and_say_why():
    settings = agent_settings(agent_script("web", "ECS_DYNAMIC_HOST_PORT_RANGE=9000", "ECS_RESERVED_PORTS=22,80"))
    assert settings.host_port_range is None and settings.reserved_ports == agent_settings("").reserved_ports
    assert [p.split("=")[0] for p in settings.problems] == ["ECS_DYNAMIC_HOST_PORT_RANGE", "ECS_RESERVED_PORTS"]


def test_dynamic_host_port_range_and_reserved_ports_from_user_data_are_honoured(sandbox):
    clients, stack = build(sandbox, desired_count=2, instance_count=0)
    script = agent_script(stack.cluster_name, "ECS_DYNAMIC_HOST_PORT_RANGE=40000-40100", "'ECS_RESERVED_PORTS=[22, 40000]'")
    host = launch_host(clients, stack, stack.public_subnet_ids[0], user_data=script)
    found = wait_until(lambda: running(clients, stack, 2), what="2 RUNNING tasks")
    ports = sorted(task["containers"][0]["networkBindings"][0]["hostPort"] for task in found)
    assert ports == [40001, 40002]  # in the agent's range, past its reserved 40000
    arn = found[0]["containerInstanceArn"]
    described = clients.ecs.describe_container_instances(cluster=stack.cluster_name, containerInstances=[arn])
    registered = {r["name"]: r for r in described["containerInstances"][0]["registeredResources"]}
    assert set(registered["PORTS"]["stringSetValue"]) == {"22", "40000", "51678", "51679", "51680"}
    clients.ec2.terminate_instances(InstanceIds=[host])


# -- placement strategies and constraints -------------------------------------------------------------

def zones_of(clients, stack, found):
    arns = [task["containerInstanceArn"] for task in found]
    described = clients.ecs.describe_container_instances(cluster=stack.cluster_name, containerInstances=arns)
    zone = {ci["containerInstanceArn"]: next(a["value"] for a in ci["attributes"] if a["name"] == "ecs.availability-zone")
            for ci in described["containerInstances"]}
    return sorted(zone[arn] for arn in arns)


def test_default_placement_spreads_across_zones_first(sandbox):
    clients, stack = build(sandbox, desired_count=0, instance_count=0)
    zone_a, zone_b = stack.public_subnet_ids
    hosts = [launch_host(clients, stack, subnet) for subnet in (zone_a, zone_a, zone_b)]
    wait_until(lambda: len(clients.ecs.list_container_instances(cluster=stack.cluster_name)["containerInstanceArns"]) == 3,
               what="3 hosts joining")
    clients.ecs.update_service(cluster=stack.cluster_name, service=stack.service_name, desiredCount=2)
    found = wait_until(lambda: running(clients, stack, 2), what="2 RUNNING tasks")
    assert zones_of(clients, stack, found) == sorted(availability_zones(clients, 2))
    clients.ec2.terminate_instances(InstanceIds=hosts)


def test_member_of_and_distinct_instance_are_honoured(sandbox):
    clients, stack = build(sandbox, desired_count=0, instance_count=2)
    zone_b = availability_zones(clients, 2)[1]
    clients.ecs.update_service(
        cluster=stack.cluster_name, service=stack.service_name, desiredCount=2,
        placementConstraints=[{"type": "distinctInstance"},
                              {"type": "memberOf", "expression": f"attribute:ecs.availability-zone == {zone_b}"}])
    found = wait_until(lambda: running(clients, stack, 1), what="the one task that may run")
    assert zones_of(clients, stack, found) == [zone_b]
    reconcile(sandbox)
    assert len(tasks(clients, stack)) == 1
    wait_until(lambda: any("was unable to place a task" in m and 'placement constraint unsatisfied."' in m
                           for m in messages(clients, stack)), what="the placement failure event")
    assert service(clients, stack)["placementConstraints"][0] == {"type": "distinctInstance"}


def test_placement_ecs_does_not_know_is_refused(sandbox):
    clients, stack = build(sandbox, desired_count=0, instance_count=0)
    with pytest.raises(ClientError) as refused:
        clients.ecs.update_service(cluster=stack.cluster_name, service=stack.service_name,
                                   placementStrategy=[{"type": "binpack", "field": "disk"}])
    assert refused.value.response["Error"]["Code"] == "InvalidParameterException"
    assert "binpack placement strategy field must be cpu or memory" in refused.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as refused:
        clients.ecs.create_service(cluster=stack.cluster_name, serviceName="odd", taskDefinition=stack.task_definition_arn,
                                   desiredCount=1, placementConstraints=[{"type": "memberOf", "expression": "task:group == x"}])
    assert "cannot evaluate" in refused.value.response["Error"]["Message"]


# -- instances that come and go ----------------------------------------------------------------------

def container_instance_arn(clients, stack, instance_id):
    arns = clients.ecs.list_container_instances(cluster=stack.cluster_name)["containerInstanceArns"]
    described = clients.ecs.describe_container_instances(cluster=stack.cluster_name, containerInstances=arns)
    return next(ci["containerInstanceArn"] for ci in described["containerInstances"] if ci["ec2InstanceId"] == instance_id)


def healthy_targets(clients, stack):
    return sorted(key for key, health in target_health(clients, stack).items() if health["State"] == "healthy")


def test_stopped_instance_stops_its_tasks_deregisters_them_and_they_are_replaced(sandbox):
    clients, stack = build(sandbox, desired_count=2, deregistration_delay=0)
    wait_until(lambda: running(clients, stack, 2), what="2 RUNNING tasks")
    doomed, survivor = stack.instance_ids
    clients.ec2.stop_instances(InstanceIds=[doomed])
    gone = wait_until(lambda: stopped(clients, stack), what="the task on the stopped instance")[0]
    assert (gone["stoppedReason"], gone["stopCode"]) == (f"Host EC2 (instance {doomed}) stopped.", "TerminationNotice")
    after = wait_until(lambda: running(clients, stack, 2), what="a replacement")
    assert {instance_of(clients, stack, task) for task in after} == {survivor}
    wait_until(lambda: {target for target, _ in target_health(clients, stack)} == {survivor}, what="only the survivor's targets")
    described = clients.ecs.describe_container_instances(
        cluster=stack.cluster_name, containerInstances=[container_instance_arn(clients, stack, doomed)])["containerInstances"][0]
    assert (described["status"], described["agentConnected"]) == ("ACTIVE", False)


def test_draining_instance_moves_its_service_tasks_replacement_first(sandbox):
    clients, stack = build(sandbox, desired_count=2, deregistration_delay=0)
    first = wait_until(lambda: running(clients, stack, 2), what="2 RUNNING tasks")
    wait_until(lambda: len(healthy_targets(clients, stack)) == 2, what="2 healthy targets")
    spare = launch_host(clients, stack, stack.public_subnet_ids[0])
    wait_until(lambda: len(clients.ecs.list_container_instances(cluster=stack.cluster_name)["containerInstanceArns"]) == 3,
               what="the spare host joining")
    drained = stack.instance_ids[0]
    clients.ecs.update_container_instances_state(cluster=stack.cluster_name, status="DRAINING",
                                                 containerInstances=[container_instance_arn(clients, stack, drained)])
    old = next(task for task in first if instance_of(clients, stack, task) == drained)
    gone = wait_until(lambda: [t for t in stopped(clients, stack) if t["taskArn"] == old["taskArn"]], what="the drained task")[0]
    assert gone["stopCode"] == "ServiceSchedulerInitiated" and "DRAINING" in gone["stoppedReason"]
    after = wait_until(lambda: running(clients, stack, 2), what="2 RUNNING tasks again")
    assert drained not in {instance_of(clients, stack, task) for task in after}
    # The replacement started before the old task stopped (minimumHealthyPercent 100, maximumPercent 200).
    events = list(reversed(messages(clients, stack)))
    started = max(i for i, m in enumerate(events) if "has started 1 tasks" in m)
    stopped_at = next(i for i, m in enumerate(events) if "has stopped 1 running tasks" in m and old["taskArn"].rsplit("/", 1)[-1] in m)
    assert started < stopped_at
    clients.ec2.terminate_instances(InstanceIds=[spare])


# -- hosts must reach ECS ----------------------------------------------------------------------------

def registered(clients, stack):
    arns = clients.ecs.list_container_instances(cluster=stack.cluster_name)["containerInstanceArns"]
    if not arns:
        return {}
    described = clients.ecs.describe_container_instances(cluster=stack.cluster_name, containerInstances=arns)
    return {ci["ec2InstanceId"]: ci["agentConnected"] for ci in described["containerInstances"]}


def cut_off(clients, stack):
    """Take away the private hosts' ways to ECS that build_stack made: the endpoints and the NAT route."""
    clients.ec2.delete_vpc_endpoints(VpcEndpointIds=stack.vpc_endpoint_ids)
    clients.ec2.delete_route(RouteTableId=stack.private_route_table_id, DestinationCidrBlock="0.0.0.0/0")


def test_private_hosts_of_the_course_stack_reach_ecs_through_its_endpoints(sandbox):
    clients, stack = build(sandbox, desired_count=1, instance_count=1, hosts_in="private")
    wait_until(lambda: running(clients, stack, 1), what="a RUNNING task")
    reach = agent_reaches_ecs(sandbox.ctx.snapshot(), stack.instance_ids[0])
    assert reach.reachable and sorted(reach.via.values()) == sorted(stack.vpc_endpoint_ids)


def test_instance_without_a_way_to_ecs_never_joins_until_the_path_is_restored(sandbox):
    clients, stack = build(sandbox, desired_count=1, instance_count=0, hosts_in="private")
    cut_off(clients, stack)
    host = launch_host(clients, stack, stack.private_subnet_ids[0])
    wait_until(lambda: any("Reason: No Container Instances were found in your cluster." in m for m in messages(clients, stack)),
               what="the service saying no container instance is registered")
    reconcile(sandbox)
    assert registered(clients, stack) == {}
    state = clients.ec2.describe_instances(InstanceIds=[host])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state == "running"  # it runs in EC2; its agent just cannot reach ECS
    reach = agent_reaches_ecs(sandbox.ctx.snapshot(), host)
    assert not reach.reachable and {e.code for e in reach.explanations} == {"NO_ROUTE_TO_DESTINATION"}

    clients.ec2.create_route(RouteTableId=stack.private_route_table_id, DestinationCidrBlock="0.0.0.0/0",
                             NatGatewayId=stack.nat_gateway_id)
    assert wait_until(lambda: registered(clients, stack) == {host: True}, timeout=5, what="the agent connecting")
    wait_until(lambda: running(clients, stack, 1), what="its task running")
    clients.ec2.terminate_instances(InstanceIds=[host])


def test_agent_that_loses_its_way_disconnects_keeps_its_tasks_and_gets_no_new_ones(sandbox):
    clients, stack = build(sandbox, desired_count=1, instance_count=1, hosts_in="private")
    first = wait_until(lambda: running(clients, stack, 1), what="a RUNNING task")[0]
    host = stack.instance_ids[0]
    https_out = [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    clients.ec2.revoke_security_group_egress(GroupId=stack.host_sg_id, IpPermissions=https_out)
    wait_until(lambda: registered(clients, stack) == {host: False}, timeout=5, what="agentConnected false")
    clients.ecs.update_service(cluster=stack.cluster_name, service=stack.service_name, desiredCount=2)
    wait_until(lambda: any("doesn't have the agent connected" in m for m in messages(clients, stack)),
               what="the placement event naming the disconnected agent")
    reconcile(sandbox)
    assert [t["taskArn"] for t in tasks(clients, stack)] == [first["taskArn"]]  # still running, nothing new
    assert tasks(clients, stack)[0]["lastStatus"] == "RUNNING"

    clients.ec2.authorize_security_group_egress(GroupId=stack.host_sg_id, IpPermissions=https_out)
    wait_until(lambda: registered(clients, stack) == {host: True}, timeout=5, what="the agent reconnecting")
    wait_until(lambda: running(clients, stack, 2), what="the second task")


def interface_endpoints(clients, stack, group_id):
    region = clients.ec2.meta.region_name
    return [clients.ec2.create_vpc_endpoint(
        VpcId=stack.vpc_id, ServiceName=f"com.amazonaws.{region}.{service}", VpcEndpointType="Interface",
        SubnetIds=stack.private_subnet_ids, SecurityGroupIds=[group_id], PrivateDnsEnabled=True)["VpcEndpoint"]["VpcEndpointId"]
        for service in ("ecs", "ecs-agent", "ecs-telemetry")]


def test_interface_endpoints_are_a_way_to_ecs_when_their_sg_admits_the_hosts(sandbox):
    clients, stack = build(sandbox, desired_count=1, instance_count=0, hosts_in="private")
    cut_off(clients, stack)
    endpoint_sg = clients.ec2.create_security_group(GroupName=f"{stack.spec.name}-vpce", Description="endpoints",
                                                    VpcId=stack.vpc_id)["GroupId"]
    interface_endpoints(clients, stack, endpoint_sg)
    host = launch_host(clients, stack, stack.private_subnet_ids[1])
    wait_until(lambda: any("No Container Instances were found" in m for m in messages(clients, stack)),
               what="no registration while the endpoints' SG admits nothing")
    reach = agent_reaches_ecs(sandbox.ctx.snapshot(), host)
    assert any(e.resource_id == endpoint_sg and "inbound tcp 443" in e.message for e in reach.explanations)

    clients.ec2.authorize_security_group_ingress(GroupId=endpoint_sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "UserIdGroupPairs": [{"GroupId": stack.host_sg_id}]}])
    assert wait_until(lambda: registered(clients, stack) == {host: True}, timeout=5, what="the agent connecting")
    assert all(via.startswith("vpce-") for via in agent_reaches_ecs(sandbox.ctx.snapshot(), host).via.values())
    clients.ec2.terminate_instances(InstanceIds=[host])


def test_a_nat_gateway_in_a_private_subnet_is_no_way_out(sandbox):
    clients, stack = build(sandbox, desired_count=0, instance_count=0, hosts_in="private")
    clients.ec2.delete_vpc_endpoints(VpcEndpointIds=stack.vpc_endpoint_ids)
    allocation = clients.ec2.allocate_address(Domain="vpc")["AllocationId"]
    misplaced = clients.ec2.create_nat_gateway(SubnetId=stack.private_subnet_ids[1], AllocationId=allocation)["NatGateway"]["NatGatewayId"]
    clients.ec2.replace_route(RouteTableId=stack.private_route_table_id, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=misplaced)
    host = launch_host(clients, stack, stack.private_subnet_ids[0])
    reach = agent_reaches_ecs(sandbox.ctx.snapshot(), host)
    assert not reach.reachable
    assert any("must be in a public subnet" in e.message for e in reach.explanations)
    clients.ec2.terminate_instances(InstanceIds=[host])


def test_explain_and_audit_say_a_host_cannot_reach_ecs(sandbox):
    clients, stack = build(sandbox, desired_count=1, instance_count=1, hosts_in="private")
    wait_until(lambda: running(clients, stack, 1), what="a RUNNING task")
    host = stack.instance_ids[0]
    assert explain_agent(host, clients=clients).reachable
    assert not [f for f in run_audit(clients, stack.vpc_id).findings if f.code == "LAB_HOST_CANNOT_REACH_ECS"]
    clients.ec2.revoke_security_group_egress(GroupId=stack.host_sg_id,
                                             IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    reach = explain_agent(host, clients=clients)
    text = format_ecs_reach(reach)
    assert text.startswith(f"ECS agent on {host}: CANNOT reach ECS") and "outbound tcp 443" in text
    found = [f for f in run_audit(clients, stack.vpc_id).findings if f.code == "LAB_HOST_CANNOT_REACH_ECS"]
    assert [(f.resource_id, f.severity) for f in found] == [(host, "high")]
