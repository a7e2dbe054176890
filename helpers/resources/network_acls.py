"""Network ACLs in plain boto3: find, create and associate one; write, replace and delete its entries.

    acl_id = subnet_acl_id(clients, subnet_id)                 # the NACL a subnet uses
    acl_id = create_acl(clients, vpc_id, "lab-hosts-nacl", "lab")   # tagged, so cleanup finds it
    associate(clients, acl_id, private_subnet_ids)             # as the console's "Edit subnet associations"
    add_entry(clients, acl_id, 100, egress=True, ports=(1024, 65535), cidr="10.0.1.0/24")

Rule numbers and ports are checked before AWS sees them, with an error that names the constraint
(`helpers.facts.check_rule_number`, `check_port`). The `*` rule (32767) is never listed, changed
or deleted here: AWS does not allow it.
"""

from __future__ import annotations

from helpers.backend import Clients
from helpers.facts import NACL_STAR_RULE, check_port, check_rule_number
from helpers.stack import tag_spec

TCP = "6"  # NACL entries name the protocol by its IANA number


def subnet_acl(clients: Clients, subnet_id: str) -> dict:
    """The network ACL a subnet uses, as DescribeNetworkAcls shows it (every subnet has exactly one)."""
    return clients.ec2.describe_network_acls(
        Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}])["NetworkAcls"][0]


def subnet_acl_id(clients: Clients, subnet_id: str) -> str:
    """The id of the network ACL a subnet uses."""
    return subnet_acl(clients, subnet_id)["NetworkAclId"]


def default_acl_id(clients: Clients, vpc_id: str) -> str:
    """The VPC's default network ACL (what a new subnet gets)."""
    acls = clients.ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                                      {"Name": "default", "Values": ["true"]}])["NetworkAcls"]
    return acls[0]["NetworkAclId"]


def describe_acl(clients: Clients, acl_id: str) -> dict:
    return clients.ec2.describe_network_acls(NetworkAclIds=[acl_id])["NetworkAcls"][0]


def find_acl(clients: Clients, vpc_id: str, name: str) -> str | None:
    """The id of the VPC's NACL whose Name tag is `name`, or None."""
    acls = clients.ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                                      {"Name": "tag:Name", "Values": [name]}])["NetworkAcls"]
    return min(a["NetworkAclId"] for a in acls) if acls else None


def create_acl(clients: Clients, vpc_id: str, name: str, stack_name: str) -> str:
    """A new NACL in the VPC, tagged like the rest of the stack (cleanup removes it).
    A new NACL holds only the `*` rules: it denies everything until you add rules."""
    acl = clients.ec2.create_network_acl(VpcId=vpc_id, TagSpecifications=tag_spec("network-acl", name, stack_name))
    return acl["NetworkAcl"]["NetworkAclId"]


def associate(clients: Clients, acl_id: str, subnet_ids: list[str]) -> None:
    """Move each subnet to `acl_id` (a subnet always has one NACL, so this replaces its current one)."""
    for subnet_id in subnet_ids:
        current = subnet_acl(clients, subnet_id)
        if current["NetworkAclId"] == acl_id:
            continue
        association = next(a for a in current["Associations"] if a["SubnetId"] == subnet_id)
        clients.ec2.replace_network_acl_association(AssociationId=association["NetworkAclAssociationId"], NetworkAclId=acl_id)


def entries(clients: Clients, acl_id: str, *, egress: bool) -> list[dict]:
    """The NACL's numbered entries in one direction (the `*` rule left out), lowest number first."""
    acl = describe_acl(clients, acl_id)
    return sorted((e for e in acl["Entries"] if e["Egress"] == egress and e["RuleNumber"] < NACL_STAR_RULE),
                  key=lambda e: e["RuleNumber"])


def entry_request(number: int, *, egress: bool, ports: tuple[int, int] | None, cidr: str,
                  action: str = "allow", protocol: str = TCP) -> dict:
    """The arguments of CreateNetworkAclEntry / ReplaceNetworkAclEntry (without the NACL's id),
    checked: a rule number 1-32766, ports 1-65535 low to high (`ports=None`: every port, for
    protocol "-1"), action allow or deny."""
    if action not in ("allow", "deny"):
        raise ValueError(f"a network ACL rule's action must be 'allow' or 'deny', not {action!r}")
    request = {"RuleNumber": check_rule_number(number), "Egress": egress, "Protocol": protocol,
               "RuleAction": action, "CidrBlock": cidr}
    if ports is not None:
        low, high = check_port(ports[0], "the first port"), check_port(ports[1], "the last port")
        if low > high:
            raise ValueError(f"a port range must run from low to high, not {low}-{high}")
        request["PortRange"] = {"From": low, "To": high}
    return request


def add_entry(clients: Clients, acl_id: str, number: int, *, egress: bool, ports: tuple[int, int] | None, cidr: str,
              action: str = "allow", protocol: str = TCP) -> None:
    """CreateNetworkAclEntry, checked first (see `entry_request`)."""
    request = entry_request(number, egress=egress, ports=ports, cidr=cidr, action=action, protocol=protocol)
    clients.ec2.create_network_acl_entry(NetworkAclId=acl_id, **request)


def delete_entries(clients: Clients, acl_id: str, *, egress: bool, rule_numbers: list[int] | None = None) -> list[int]:
    """Delete numbered entries in one direction (all of them, or only `rule_numbers`); returns
    the numbers deleted. The `*` rule cannot be deleted and is left alone."""
    deleted = []
    for entry in entries(clients, acl_id, egress=egress):
        if rule_numbers is None or entry["RuleNumber"] in rule_numbers:
            clients.ec2.delete_network_acl_entry(NetworkAclId=acl_id, RuleNumber=entry["RuleNumber"], Egress=egress)
            deleted.append(entry["RuleNumber"])
    return deleted


def _same_entry(current: dict, wanted: dict) -> bool:
    return (current["Protocol"] == wanted["Protocol"] and current["RuleAction"] == wanted["RuleAction"]
            and current.get("CidrBlock") == wanted["CidrBlock"] and current.get("PortRange") == wanted.get("PortRange"))


def set_entries(clients: Clients, acl_id: str, wanted: list[dict]) -> tuple[list[dict], list[tuple[bool, int]]]:
    """Make the NACL's numbered entries exactly `wanted` (requests from `entry_request`): create
    the missing ones, replace the ones that differ, delete the rest. Returns (the wanted entries
    written, in their order; (egress, number) of each entry deleted). Running it twice changes
    nothing the second time."""
    current = {(e["Egress"], e["RuleNumber"]): e for egress in (False, True) for e in entries(clients, acl_id, egress=egress)}
    written = []
    for request in wanted:
        existing = current.pop((request["Egress"], request["RuleNumber"]), None)
        if existing is None:
            clients.ec2.create_network_acl_entry(NetworkAclId=acl_id, **request)
        elif not _same_entry(existing, request):
            clients.ec2.replace_network_acl_entry(NetworkAclId=acl_id, **request)
        else:
            continue
        written.append(request)
    for egress, number in sorted(current):
        clients.ec2.delete_network_acl_entry(NetworkAclId=acl_id, RuleNumber=number, Egress=egress)
    return written, sorted(current)
