"""Subnets in plain boto3: their CIDRs."""

from __future__ import annotations

from helpers.backend import Clients


def cidrs_by_subnet(clients: Clients, subnet_ids: list[str]) -> dict[str, str]:
    """subnet id -> its IPv4 CIDR."""
    return {s["SubnetId"]: s["CidrBlock"] for s in clients.ec2.describe_subnets(SubnetIds=list(subnet_ids))["Subnets"]}


def subnet_cidrs(clients: Clients, subnet_ids: list[str]) -> list[str]:
    """The subnets' IPv4 CIDRs, sorted by address (10.0.2.0/24 before 10.0.11.0/24)."""
    return sorted(cidrs_by_subnet(clients, subnet_ids).values(),
                  key=lambda c: tuple(int(p) for p in c.split("/")[0].split(".")))
