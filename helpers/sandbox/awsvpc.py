"""awsvpc tasks on EC2: each task its own network interface.

An awsvpc task gets an ENI with a private IP in one of its service's subnets and the service's
security groups, shown in the task's `attachments` (type ElasticNetworkInterface) and in EC2's
DescribeNetworkInterfaces; it answers on `taskIP:containerPort` and registers in `ip` target
groups that way (ECS guide "Amazon ECS task networking options for the EC2 launch type"; "Use an
ALB"). The ENI is deleted when the task stops.

Choices (the sandbox's): the subnet is the first of the service's subnets in the instance's
Availability Zone (else its first subnet); the ENI is left unattached in EC2, so that the
evaluator reads the task's own security groups rather than the instance's (on AWS it is attached
to the instance as a secondary interface); ENI attachment limits per instance type are not
enforced. Called under `ctx.lock`.
"""

from __future__ import annotations

import uuid

ENI_DESCRIPTION = "ECS task {task_id}"  # the sandbox's; AWS writes its own description


def is_awsvpc(definition) -> bool:
    return (definition.network_mode or "bridge") == "awsvpc"


def subnet_for(ec2, subnet_ids: list[str], availability_zone: str) -> str:
    in_zone = [s for s in subnet_ids if ec2.get_subnet(s).availability_zone == availability_zone]
    return (in_zone or subnet_ids)[0]


def provision(ctx, task, network_configuration: dict, availability_zone: str) -> tuple[str, str]:
    """Give `task` its own ENI (replacing moto's, whose address lies outside the subnet): (ENI id, IP)."""
    ec2 = ctx.ec2()
    for attachment in task.attachments:  # moto's placeholder interface
        for detail in attachment.get("details", []):
            if detail["name"] == "networkInterfaceId" and detail["value"] in ec2.enis:
                ec2.delete_network_interface(detail["value"])
    vpc_config = network_configuration["awsvpcConfiguration"]
    subnet_id = subnet_for(ec2, vpc_config["subnets"], availability_zone)
    eni = ec2.create_network_interface(subnet=subnet_id, private_ip_address=None,
                                       group_ids=vpc_config.get("securityGroups") or [],
                                       description=ENI_DESCRIPTION.format(task_id=task.task_arn.rsplit("/", 1)[-1]))
    eni.status = "in-use"
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
    """The task stopped: its interface is detached and deleted."""
    ctx.ec2().enis.pop(eni_id, None)
    for attachment in task.attachments if task is not None else []:
        attachment["status"] = "DELETED"
    ctx.changed()
