"""A private IP means an address in one VPC (helpers/sandbox/addresses.py).

Two VPCs with the same CIDR (the course builds several stacks alike): the same address is an
instance in one and an awsvpc task's interface in the other. Every by-IP lookup - the health
checker's and the wire's (which container answers) - must find the holder in its own VPC.
"""

from __future__ import annotations

import dataclasses
import http.client
import json

import pytest

from helpers.evaluator import evaluate_alb_to_target
from helpers.evaluator.examples import ALB_ARN, CLUSTER, HOST_1, HOST_SG, PUBLIC_A, TG_ARN, VPC, host, replace_fields, seed_snapshot
from helpers.evaluator.snapshot import NetworkInterface, Subnet, TargetRecord, Task, Vpc
from helpers.sandbox import health
from helpers.sandbox.addresses import holder_of_address
from helpers.sandbox.wire import Connected, sandbox_wire

SHARED_IP = "10.0.1.10"
PORT = 8081
TASK_IP, TWIN_VPC = "10.0.1.99", "vpc-0twin"


@pytest.fixture(scope="module")
def twins(region):
    """Two VPCs, both 10.0.0.0/16 with subnet 10.0.1.0/24: an instance holds SHARED_IP in the
    first, an awsvpc task's interface in the second; each has a container answering on PORT."""
    ec2 = region.clients().ec2
    found = {}
    for name in ("first", "second"):
        vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        found[name] = {"vpc": vpc_id, "subnet": subnet_id}
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=found["first"]["subnet"],
                                 PrivateIpAddress=SHARED_IP)["Instances"][0]
    eni_id = ec2.create_network_interface(SubnetId=found["second"]["subnet"], PrivateIpAddress=SHARED_IP)[
        "NetworkInterface"]["NetworkInterfaceId"]
    with region.ctx.lock:
        region.ctx.ec2().enis[eni_id].status = "in-use"  # as sandbox/awsvpc.py marks a task's interface
    found["first"]["holder"], found["second"]["holder"] = instance["InstanceId"], eni_id
    containers = region.ctx.components["containers"]
    # A bridge-mode task publishing PORT on the instance, and an awsvpc task on its own interface.
    containers.start("arn:task/first", task_id="first", instance_id=instance["InstanceId"], host_port=PORT,
                     container_port=PORT)
    containers.start("arn:task/second", task_id="second", instance_id=SHARED_IP, host_port=PORT,
                     container_port=PORT, interface_id=eni_id)
    yield found
    containers.stop("arn:task/first")
    containers.stop("arn:task/second")


@pytest.mark.parametrize("name", ["first", "second"])
def test_an_address_is_held_in_its_own_vpc(region, twins, name):
    with region.ctx.lock:
        holder = holder_of_address(region.ctx.ec2(), twins[name]["vpc"], SHARED_IP)
    assert holder is not None and holder.id == twins[name]["holder"]


def test_the_health_checker_finds_the_target_in_its_target_groups_vpc(region, twins):
    with region.ctx.lock:
        ec2 = region.ctx.ec2()
        in_first = health._instance(ec2, SHARED_IP, twins["first"]["vpc"])
        in_second = health._instance(ec2, SHARED_IP, twins["second"]["vpc"])
    assert in_first.id == twins["first"]["holder"]
    assert isinstance(in_second, health._TaskInterface) and in_second.zone is not None


@pytest.mark.parametrize("name", ["first", "second"])
def test_the_wire_reaches_the_container_in_the_targets_vpc(region, twins, name):
    connection = sandbox_wire(region.ctx).connect(SHARED_IP, PORT, vpc_id=twins[name]["vpc"], path_open=True, timeout=5)
    assert isinstance(connection, Connected)
    http_connection = http.client.HTTPConnection("sandbox", timeout=5)
    http_connection.sock = connection.sock
    http_connection.request("GET", "/", headers={"Accept": "application/json"})
    page = json.loads(http_connection.getresponse().read())
    http_connection.close()
    assert page["task_id"] == name


def test_an_address_without_its_vpc_is_refused(region, twins):
    with region.ctx.lock, pytest.raises(ValueError, match="unique only within a VPC"):
        holder_of_address(region.ctx.ec2(), None, SHARED_IP)


def test_the_evaluator_reaches_an_ip_target_in_the_load_balancers_vpc():
    """The seed VPC with an awsvpc task at TASK_IP, and a twin VPC (same CIDR) whose instance has
    that address too: the ALB's ip target is the task in its own VPC, reachable."""
    seed = seed_snapshot()
    twin_subnet = Subnet("subnet-0twin", TWIN_VPC, "10.0.1.0/24", "us-east-1a")
    twin_host = dataclasses.replace(host("i-0twin", twin_subnet.id, TASK_IP, None), vpc_id=TWIN_VPC)
    task = Task(f"{CLUSTER.replace(':cluster/', ':task/')}/awsvpc1", CLUSTER, "RUNNING", "RUNNING", HOST_1,
                private_ip=TASK_IP, group="service:lab-svc")
    interface = NetworkInterface("eni-0task", PUBLIC_A, VPC, (TASK_IP,), (HOST_SG,))
    snap = replace_fields(
        seed, vpcs=seed.vpcs + (Vpc(TWIN_VPC, ("10.0.0.0/16",)),), subnets=seed.subnets + (twin_subnet,),
        instances=seed.instances + (twin_host,), tasks=seed.tasks + (task,), network_interfaces=(interface,),
        target_groups=tuple(dataclasses.replace(tg, target_type="ip") for tg in seed.target_groups),
        targets=(TargetRecord(TG_ARN, TASK_IP, PORT, "healthy"),))
    leg = evaluate_alb_to_target(snap, ALB_ARN, TASK_IP, PORT)
    assert leg.reachable, leg
    assert leg.task_arn == task.arn
