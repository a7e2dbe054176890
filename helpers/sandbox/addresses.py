"""Who holds a private IP address - inside one VPC.

A private address is unique only within its VPC: two VPCs may use the same CIDR (the course
builds several stacks with the same CIDRs), so `10.0.1.5` can be an instance in one and a task's
interface in another. An `ip` target means an address in its target group's VPC ("the IP
addresses ... from the subnets of the target group's VPC", ALB guide "Target groups for your
Application Load Balancers", Target type). So every by-IP lookup of the sandbox names its VPC,
and this is the one function that does it. Call it under `ctx.lock` (it reads moto's models).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Holder:
    """What holds an address: an EC2 instance (whatever its state), or else an in-use network
    interface of an awsvpc task (sandbox/awsvpc.py). moto's objects."""

    instance: Any = None
    interface: Any = None

    @property
    def id(self) -> str:
        """The instance id or the interface id: unique in the region, unlike the address."""
        return self.instance.id if self.instance is not None else self.interface.id


def holder_of_address(ec2: Any, vpc_id: str | None, address: str) -> Holder | None:
    """Who holds the private IP `address` in `vpc_id`, or None."""
    if not vpc_id:
        raise ValueError(f"a private address is unique only within a VPC: name the VPC to look up {address}")
    for reservation in ec2.all_reservations():
        for instance in reservation.instances:
            if instance.private_ip_address == address and _vpc_of_instance(instance) == vpc_id:
                return Holder(instance=instance)
    for eni in ec2.enis.values():
        if eni.private_ip_address == address and eni.status == "in-use" and _vpc_of_interface(eni) == vpc_id:
            return Holder(interface=eni)
    return None


def _vpc_of_instance(instance: Any) -> str | None:
    subnet = getattr(instance, "subnet", None)
    return getattr(subnet, "vpc_id", None) or getattr(instance, "vpc_id", None)


def _vpc_of_interface(eni: Any) -> str | None:
    return getattr(getattr(eni, "subnet", None), "vpc_id", None)
