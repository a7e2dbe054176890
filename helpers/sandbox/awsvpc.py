"""awsvpc tasks on EC2: each task its own network interface.

An awsvpc task (a service's, or RunTask's / StartTask's) gets an ENI with a private IP in one of
the subnets of its `networkConfiguration` and its security groups, shown in the task's
`attachments` (type ElasticNetworkInterface) and in EC2's DescribeNetworkInterfaces; it answers
on `taskIP:containerPort` and registers in `ip` target groups that way (ECS guide "Amazon ECS
task networking options for the EC2 launch type"; "Use an ALB"). The ENI is deleted when the task stops.

Choices (the sandbox's): the subnet is the first of the service's subnets in the instance's
Availability Zone (else its first subnet); the ENI is left unattached in EC2, so that the
evaluator reads the task's own security groups rather than the instance's (on AWS it is attached
to the instance as a secondary interface). Called under `ctx.lock`.

The instance's ENIs are counted all the same: its type allows so many network interfaces and
its own primary one counts, so it runs that many minus one awsvpc tasks (`task_enis`; ENI
trunking is not modelled). A task that finds none left is not placed: the service event ends
'encountered error "RESOURCE:ENI"', RunTask's failure reason is RESOURCE:ENI (placement.py).
Fargate tasks (fargate.py) get their ENI here too, with no instance.
"""

from __future__ import annotations

import uuid

from moto.ec2.models.instance_types import INSTANCE_TYPES
from moto.ec2.utils import random_public_ip

from helpers.facts import PRIMARY_NETWORK_INTERFACES

ENI_DESCRIPTION = "ECS task {task_id}"  # the sandbox's; AWS writes its own description


def is_awsvpc(definition) -> bool:
    return (definition.network_mode or "bridge") == "awsvpc"


def task_enis(instance_type: str) -> int:
    """How many awsvpc tasks an instance type runs: its network interfaces but the primary one
    (facts.PRIMARY_NETWORK_INTERFACES; the figure is EC2's DescribeInstanceTypes data, which moto ships)."""
    info = INSTANCE_TYPES.get(instance_type) or INSTANCE_TYPES["t3.small"]
    return info["NetworkInfo"]["MaximumNetworkInterfaces"] - PRIMARY_NETWORK_INTERFACES


def subnet_for(ec2, subnet_ids: list[str], availability_zone: str) -> str:
    in_zone = [s for s in subnet_ids if ec2.get_subnet(s).availability_zone == availability_zone]
    return (in_zone or subnet_ids)[0]


def provision(ctx, task, network_configuration: dict, availability_zone: str, *, subnet_id: str | None = None,
              public_ip: bool = False) -> tuple[str, str]:
    """Give `task` its own ENI (replacing moto's, whose address lies outside the subnet): (ENI id, IP).
    `subnet_id` chosen by the caller (Fargate), else one of the configuration's in `availability_zone`;
    `public_ip`: the ENI gets a public IPv4 address too (Fargate's assignPublicIp ENABLED)."""
    ec2 = ctx.ec2()
    for attachment in task.attachments:  # moto's placeholder interface
        for detail in attachment.get("details", []):
            if detail["name"] == "networkInterfaceId" and detail["value"] in ec2.enis:
                ec2.delete_network_interface(detail["value"])
    vpc_config = network_configuration["awsvpcConfiguration"]
    subnet_id = subnet_id or subnet_for(ec2, vpc_config["subnets"], availability_zone)
    # moto gives a new ENI a random address of its subnet, which can be one already in use; AWS
    # never hands out an address twice. Take it from the subnet's own allocator, which also knows
    # the instances' addresses, and give it back in release().
    try:
        address = ec2.get_subnet(subnet_id).get_available_subnet_ip(task)
    except StopIteration:
        # What AWS reports here is not confirmed; the sandbox says it plainly.
        raise RuntimeError(f"subnet {subnet_id} has no free IPv4 address left for the task's network interface") from None
    eni = ec2.create_network_interface(subnet=subnet_id, private_ip_address=address,
                                       group_ids=vpc_config.get("securityGroups") or [],
                                       description=ENI_DESCRIPTION.format(task_id=task.task_arn.rsplit("/", 1)[-1]))
    eni.status = "in-use"
    if public_ip:
        eni.public_ip = random_public_ip()
    task.attachments = [{
        "id": str(uuid.uuid4()), "type": "ElasticNetworkInterface", "status": "ATTACHED",
        "details": [
            {"name": "subnetId", "value": subnet_id},
            {"name": "networkInterfaceId", "value": eni.id},
            {"name": "macAddress", "value": eni.mac_address},
            {"name": "privateDnsName", "value": eni.private_dns_name},
            {"name": "privateIPv4Address", "value": eni.private_ip_address},
        ],
    }]
    ctx.changed()  # the evaluator reads ENIs through the API: a new one is a change to the region
    return eni.id, eni.private_ip_address


def release(ctx, task, eni_id: str) -> None:
    """The task stopped: its interface is detached and deleted, and its address is free again."""
    eni = ctx.ec2().enis.pop(eni_id, None)
    if eni is not None and eni.private_ip_address:
        eni.subnet.del_subnet_ip(eni.private_ip_address)
    for attachment in task.attachments if task is not None else []:
        attachment["status"] = "DELETED"
    ctx.changed()
