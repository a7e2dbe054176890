"""helpers/resources and the hardened specification: bad input is refused with the constraint
named, and `harden` run twice changes nothing the second time."""

from __future__ import annotations

import pytest

from helpers.hardened_spec import AclRule, private_acl_rules, public_acl_rules
from helpers.hardening import harden
from helpers.resources import network_acls, security_groups
from helpers.stack import StackSpec, build_stack


@pytest.mark.parametrize("number, words", [(0, "from 1 to 32766"), (True, "from 1 to 32766"),
                                           (32767, r"the `\*` rule, 32767, cannot be changed")])
def test_rule_numbers_outside_1_to_32766_are_refused(number, words):
    with pytest.raises(ValueError, match=words):
        network_acls.entry_request(number, egress=False, ports=(80, 80), cidr="0.0.0.0/0")
    with pytest.raises(ValueError, match=words):
        AclRule(number, False, (80, 80), "0.0.0.0/0", "test")


@pytest.mark.parametrize("ports, words", [((0, 80), "from 1 to 65535"), ((80, 65536), "from 1 to 65535"),
                                          ((90, 80), "from low to high")])
def test_bad_port_ranges_are_refused(ports, words):
    with pytest.raises(ValueError, match=words):
        network_acls.entry_request(100, egress=False, ports=ports, cidr="0.0.0.0/0")
    with pytest.raises(ValueError, match=words):
        security_groups.group_permission(ports, "sg-0123456789abcdef0")


def test_an_action_other_than_allow_or_deny_is_refused():
    with pytest.raises(ValueError, match="'allow' or 'deny'"):
        network_acls.entry_request(100, egress=False, ports=None, cidr="0.0.0.0/0", action="permit")


def test_rule_numbers_are_unique_per_direction_and_tier():
    public, private = ["10.0.1.0/24", "10.0.2.0/24"], ["10.0.11.0/24", "10.0.12.0/24"]
    for rules in (public_acl_rules([80, 8080], private, nat=True), private_acl_rules(public, nat=True)):
        keys = [(r.egress, r.number) for r in rules]
        assert len(keys) == len(set(keys))
    with pytest.raises(ValueError, match="at most 10 rules per purpose"):
        public_acl_rules(list(range(80, 91)), private)


@pytest.mark.slow
def test_harden_twice_changes_nothing_and_restores_a_lost_rule(sandbox):
    clients = sandbox.clients()
    stack = build_stack(clients, StackSpec(name="twice", hosts_in="private", desired_count=1, instance_count=1))
    first = harden(clients, stack)
    assert any("twice-private-nacl" in line for line in first)
    acls = clients.ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [stack.vpc_id]}])["NetworkAcls"]
    assert harden(clients, stack) == []
    again = clients.ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [stack.vpc_id]}])["NetworkAcls"]
    assert sorted(a["NetworkAclId"] for a in again) == sorted(a["NetworkAclId"] for a in acls)

    hosts_acl = network_acls.subnet_acl_id(clients, stack.private_subnet_ids[0])
    assert network_acls.delete_entries(clients, hosts_acl, egress=True, rule_numbers=[110]) == [110]
    assert harden(clients, stack) == [
        "twice-private-nacl for 2 subnets: 110 outbound allow tcp 1024-65535 to 10.0.2.0/24 (replies to the ALB)"]
