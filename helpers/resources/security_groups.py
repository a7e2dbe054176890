"""Security group rules in plain boto3: build, find, authorize and revoke them.

    permission = group_permission((32768, 65535), alb_sg_id)     # tcp 32768-65535 from the ALB's SG
    authorize(clients, host_sg_id, [permission])
    revoke_group_rule(clients, host_sg_id, (32768, 65535), alb_sg_id)   # False when it is not there

A rule here is also written as a tuple `(protocol, from port, to port, kind, source)` with one
source each ("cidr", "group", ...): two sets of them compare as sets (`single_rules`).
"""

from __future__ import annotations

from helpers.backend import Clients
from helpers.facts import check_port

# (IpPermissions field, key inside it) for each kind of source a rule can name.
_SOURCE_FIELDS = {"cidr": ("IpRanges", "CidrIp"), "cidr6": ("Ipv6Ranges", "CidrIpv6"),
                  "group": ("UserIdGroupPairs", "GroupId"), "prefix-list": ("PrefixListIds", "PrefixListId")}


def _ports(ports: tuple[int, int]) -> tuple[int, int]:
    low, high = check_port(ports[0], "the first port"), check_port(ports[1], "the last port")
    if low > high:
        raise ValueError(f"a port range must run from low to high, not {low}-{high}")
    return low, high


def group_permission(ports: tuple[int, int], group_id: str) -> dict:
    """An IpPermissions entry: tcp `ports` from (or to) the security group `group_id`."""
    low, high = _ports(ports)
    return {"IpProtocol": "tcp", "FromPort": low, "ToPort": high, "UserIdGroupPairs": [{"GroupId": group_id}]}


def cidr_permission(ports: tuple[int, int], cidr: str) -> dict:
    """An IpPermissions entry: tcp `ports` from (or to) the addresses in `cidr`."""
    low, high = _ports(ports)
    return {"IpProtocol": "tcp", "FromPort": low, "ToPort": high, "IpRanges": [{"CidrIp": cidr}]}


def describe_group(clients: Clients, group_id: str) -> dict:
    return clients.ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]


def permissions(clients: Clients, group_id: str, *, egress: bool = False) -> list[dict]:
    """The group's rules in one direction, as DescribeSecurityGroups shows them (with descriptions)."""
    return describe_group(clients, group_id)["IpPermissionsEgress" if egress else "IpPermissions"]


def authorize(clients: Clients, group_id: str, rules: list[dict], *, egress: bool = False) -> None:
    call = clients.ec2.authorize_security_group_egress if egress else clients.ec2.authorize_security_group_ingress
    call(GroupId=group_id, IpPermissions=rules)


def revoke(clients: Clients, group_id: str, rules: list[dict], *, egress: bool = False) -> None:
    call = clients.ec2.revoke_security_group_egress if egress else clients.ec2.revoke_security_group_ingress
    call(GroupId=group_id, IpPermissions=rules)


def inbound_on_ports(clients: Clients, group_id: str, ports: tuple[int, int]) -> list[dict]:
    """The group's inbound IpPermissions entries for exactly `ports`, as described."""
    return [p for p in permissions(clients, group_id) if (p.get("FromPort"), p.get("ToPort")) == tuple(ports)]


def has_group_rule(clients: Clients, group_id: str, ports: tuple[int, int], source_group_id: str) -> bool:
    """Whether `group_id` admits tcp `ports` from the security group `source_group_id`."""
    return any(pair["GroupId"] == source_group_id
               for p in inbound_on_ports(clients, group_id, ports) for pair in p.get("UserIdGroupPairs", []))


def revoke_group_rule(clients: Clients, group_id: str, ports: tuple[int, int], source_group_id: str) -> bool:
    """Revoke the inbound rule "tcp `ports` from `source_group_id`" from `group_id`; False if it
    is not there. The rule is passed back exactly as DescribeSecurityGroups shows it, with its
    description: AWS would match it without, the sandbox (moto) only with it."""
    for permission in inbound_on_ports(clients, group_id, ports):
        pairs = [p for p in permission.get("UserIdGroupPairs", []) if p["GroupId"] == source_group_id]
        if pairs:
            revoke(clients, group_id, [{"IpProtocol": permission["IpProtocol"], "FromPort": ports[0],
                                        "ToPort": ports[1], "UserIdGroupPairs": pairs}])
            return True
    return False


def matching_rule_ids(clients: Clients, group_id: str, permission: dict) -> list[str]:
    """Ids of `group_id`'s inbound rules that are exactly `permission` (protocol, ports, source)."""
    sources = {r["CidrIp"] for r in permission.get("IpRanges", [])}
    groups = {p["GroupId"] for p in permission.get("UserIdGroupPairs", [])}
    rules = clients.ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [group_id]}])["SecurityGroupRules"]
    return sorted(r["SecurityGroupRuleId"] for r in rules if not r["IsEgress"]
                  and r["IpProtocol"] == permission["IpProtocol"]
                  and r.get("FromPort") == permission.get("FromPort") and r.get("ToPort") == permission.get("ToPort")
                  and (r.get("CidrIpv4") in sources or r.get("ReferencedGroupInfo", {}).get("GroupId") in groups))


def revoke_rule_ids(clients: Clients, group_id: str, rule_ids: list[str]) -> None:
    clients.ec2.revoke_security_group_ingress(GroupId=group_id, SecurityGroupRuleIds=rule_ids)


# -- rules as sets of single rules ------------------------------------------------------------------
def single_rules(rules: list[dict]) -> set[tuple]:
    """IpPermissions split into (protocol, from, to, kind, source) - one source each, so two
    rule sets compare as sets."""
    out = set()
    for p in rules:
        key = (p["IpProtocol"], p.get("FromPort"), p.get("ToPort"))
        for kind, (field, source_key) in _SOURCE_FIELDS.items():
            out |= {(*key, kind, source[source_key]) for source in p.get(field, [])}
    return out


def single_permission(rule: tuple) -> dict:
    """One (protocol, from, to, kind, source) tuple as an IpPermissions entry."""
    protocol, low, high, kind, source = rule
    permission = {"IpProtocol": protocol}
    if low is not None:
        permission.update(FromPort=low, ToPort=high)
    field, key = _SOURCE_FIELDS[kind]
    permission[field] = [{key: source}]
    return permission


def set_rules(clients: Clients, group_id: str, wanted: set[tuple], *, egress: bool) -> tuple[list[tuple], list[tuple]]:
    """Make a group's inbound (or outbound) rules exactly `wanted`: add the missing ones first,
    then remove the rest, so traffic that stays allowed is never cut off in between.
    Returns (added, removed), each sorted."""
    current = single_rules(permissions(clients, group_id, egress=egress))
    added, removed = sorted(wanted - current, key=str), sorted(current - wanted, key=str)
    if added:
        authorize(clients, group_id, [single_permission(r) for r in added], egress=egress)
    if removed:
        revoke(clients, group_id, [single_permission(r) for r in removed], egress=egress)
    return added, removed
