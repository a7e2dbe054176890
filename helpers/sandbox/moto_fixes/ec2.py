"""EC2: security group rules found without their description; network ACLs with the `*` rule,
in rule order, with AWS's rule-number checks; an instance launched without a security group gets
its VPC's default group."""

from __future__ import annotations

from typing import Any

from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models.instances import InstanceBackend
from moto.ec2.models.network_acls import NetworkAcl, NetworkAclBackend, NetworkAclEntry
from moto.ec2.models.security_groups import SecurityGroupRule
from moto.ec2.responses.network_acls import NetworkACLs

from helpers.facts import NACL_RULE_MAX, NACL_RULE_MIN, NACL_STAR_RULE
from helpers.sandbox.moto_fixes._patching import check_before, wrap


def install() -> None:
    _install_security_group_rule_matching()
    _install_network_acl_fixes()
    wrap(InstanceBackend, "run_instances", _default_security_group)


def _install_security_group_rule_matching() -> None:
    # Why: RevokeSecurityGroupIngress/Egress find the rule by protocol, ports and source; a rule's
    # Description is not part of what identifies it (EC2 API RevokeSecurityGroupIngress: "you must
    # specify ... the protocol, port range and source"). moto compares a referenced group's whole
    # entry, description included, so revoking an SG-to-SG rule without its description failed.
    original = SecurityGroupRule.__eq__

    def same_rule(self, other) -> bool:
        if not isinstance(other, SecurityGroupRule):
            return NotImplemented
        if self.source_group and other.source_group:
            ids = (self.source_group.get("GroupId"), other.source_group.get("GroupId"))
            if ids[0] and ids[0] == ids[1]:
                return original(_without_description(self), _without_description(other))
        return original(self, other)

    SecurityGroupRule.__eq__ = same_rule


def _default_security_group(original, self, image_id, count, user_data, security_group_names, **kwargs):
    # Why: RunInstances into a subnet with no security group gives the instance its VPC's default
    # group (EC2 API RunInstances, SecurityGroupIds); moto left it with none, so its traffic (the
    # ECS agent's HTTPS, for one) had no outbound rule at all.
    if (not security_group_names and not kwargs.get("security_group_ids") and not kwargs.get("nics")
            and not kwargs.get("launch_template") and kwargs.get("subnet_id")):
        group = self.get_default_security_group(self.get_subnet(kwargs["subnet_id"]).vpc_id)
        if group is not None:
            kwargs["security_group_ids"] = [group.id]
    return original(self, image_id, count, user_data, security_group_names, **kwargs)


def _without_description(rule: SecurityGroupRule) -> SecurityGroupRule:
    copy = object.__new__(SecurityGroupRule)
    copy.__dict__.update(rule.__dict__)
    copy.source_group = {k: v for k, v in rule.source_group.items() if k != "Description"}
    return copy


def _install_network_acl_fixes() -> None:
    NetworkAcl.entries = property(_entries_with_star_rule)
    check_before(NetworkACLs, "create_network_acl_entry", _check_rule_number)
    check_before(NetworkACLs, "replace_network_acl_entry", _check_rule_number)
    check_before(NetworkACLs, "delete_network_acl_entry", _check_rule_number)
    check_before(NetworkAclBackend, "delete_network_acl_entry", _check_entry_exists)


def _entries_with_star_rule(self: NetworkAcl) -> list[NetworkAclEntry]:
    # Why: every NACL ends with the unchangeable `*` rule that denies the rest, both directions,
    # and AWS lists entries in rule order; moto shows neither for a new NACL (VPC User Guide).
    entries = list(self.network_acl_entries)
    for egress in (True, False):
        if not any(_same_rule(entry, NACL_STAR_RULE, egress) for entry in entries):
            entries.append(_star_rule(self, egress))
    return sorted(entries, key=lambda entry: (_is_true(entry.egress), int(entry.rule_number)))


def _star_rule(acl: NetworkAcl, egress: bool) -> NetworkAclEntry:
    return NetworkAclEntry(
        acl.ec2_backend,
        network_acl_id=acl.id,
        rule_number=NACL_STAR_RULE,
        protocol="-1",
        rule_action="deny",
        egress=egress,
        cidr_block="0.0.0.0/0",
        icmp_code=None,
        icmp_type=None,
        port_range_from=None,
        port_range_to=None,
        ipv6_cidr_block=None,
    )


def _is_true(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _same_rule(entry: NetworkAclEntry, rule_number: Any, egress: Any) -> bool:
    return int(entry.rule_number) == int(rule_number) and _is_true(entry.egress) == _is_true(egress)


def _check_rule_number(response: NetworkACLs, arguments: dict[str, Any]) -> None:
    # Why: rule numbers are 1-32766; 32767 is the `*` rule. AWS's message, as quoted from a real
    # deployment: "Value (32767) for parameter ruleNumber is invalid. Rulenumber must be in range
    # 1..32766" (EC2 API CreateNetworkAclEntry). The code is EC2's usual one for "Value (...) for
    # parameter ... is invalid" messages; applying it to DeleteNetworkAclEntry is our reading.
    rule_number = int(response._get_param("RuleNumber"))
    if not NACL_RULE_MIN <= rule_number <= NACL_RULE_MAX:
        raise EC2ClientError(
            "InvalidParameterValue",
            f"Value ({rule_number}) for parameter ruleNumber is invalid. "
            f"Rulenumber must be in range {NACL_RULE_MIN}..{NACL_RULE_MAX}",
        )


def _check_entry_exists(self: NetworkAclBackend, arguments: dict[str, Any]) -> None:
    # Why: moto fails with an HTTP 500 when the entry is missing (replace or delete); AWS answers
    # InvalidNetworkAclEntry.NotFound (EC2 API error codes). The message text is unconfirmed.
    acl = self.get_network_acl(arguments["network_acl_id"])
    if not any(_same_rule(entry, arguments["rule_number"], arguments["egress"]) for entry in acl.network_acl_entries):
        raise EC2ClientError(
            "InvalidNetworkAclEntry.NotFound",
            f"The network acl entry identified by {arguments['rule_number']} does not exist.",
        )

