"""The capstone's broken stack (07_troubleshooting) - SPOILERS for learners: solve it first.

    stack = lab.build("nb07", hosts_in="private"); harden(lab.clients, stack)
    break_stack(lab.clients, stack)      # -> ["fault injected", ...] (not shown to learners)
    repair_stack(lab.clients, stack)     # the fixes, for tests and instructors (the notebook's
                                         # solution cells do the same in plain boto3)

Each fault is one of the course's lessons turned into a mistake people really make, injected with
plain boto3 calls - the same calls would break a stack in AWS:

1. `service-scaled-to-zero`: someone set the service's desired count to 0 "to save money over
   the weekend". The ALB has no registered targets: 503 (ALB guide, "Troubleshoot").
2. `host-sg-container-port`: the host SG admits the *container* port 8081 from the ALB's SG
   instead of the dynamic host ports 32768-65535 (the confusion of the source post, sections
   2-3: the ALB reaches a task on its random host port, never on 8081). Health checks time out.
3. `nacl-no-return-rule`: the hosts' NACL lost its outbound return rules (tcp 1024-65535 to the
   ALB's subnets): NACLs are stateless, the replies die at the subnet edge (504).

The faults hide behind one another, as real ones do: with no tasks there is nothing for the SG
or the NACL to block, so the learner finds them one layer at a time - or all at once with
`explain` once the tasks are back.
"""

from __future__ import annotations

from helpers.backend import Clients
from helpers.facts import CONTAINER_PORT, DYNAMIC_HOST_PORTS
from helpers.hardened_spec import private_acl_rules
from helpers.resources import ecs, network_acls, security_groups
from helpers.resources.subnets import subnet_cidrs
from helpers.stack import Stack

FAULTS = ("service-scaled-to-zero", "host-sg-container-port", "nacl-no-return-rule")
CONTAINER_PORTS = (CONTAINER_PORT, CONTAINER_PORT)


def break_stack(clients: Clients, stack: Stack) -> list[str]:
    """Inject the three faults into a hardened stack (hosts in private subnets, custom NACLs).
    Returns the names of the faults injected, in `FAULTS` order."""
    if stack.spec.hosts_in != "private":
        raise ValueError("break_stack needs the hardened stack: build it with hosts_in='private' and run harden()")
    ecs.set_desired_count(clients, stack, 0)

    security_groups.authorize(clients, stack.host_sg_id, [security_groups.group_permission(CONTAINER_PORTS, stack.alb_sg_id)])
    security_groups.revoke_group_rule(clients, stack.host_sg_id, DYNAMIC_HOST_PORTS, stack.alb_sg_id)

    acl = network_acls.subnet_acl(clients, stack.private_subnet_ids[0])
    if acl["IsDefault"]:
        raise ValueError("the hosts' subnets still use the default NACL: run harden() first")
    # Only the replies to the ALB go: the hosts' HTTPS out through the NAT gateway stays, or their
    # agents could not reach ECS and no task would start at all (FACTS.md "The agent must reach ECS").
    replies = [r.number for r in private_acl_rules(subnet_cidrs(clients, stack.public_subnet_ids)) if r.egress]
    network_acls.delete_entries(clients, acl["NetworkAclId"], egress=True, rule_numbers=replies)
    return list(FAULTS)


def repair_stack(clients: Clients, stack: Stack, desired_count: int | None = None) -> list[str]:
    """Undo `break_stack` (what the capstone's solution cells do). Returns what was changed."""
    count = stack.spec.desired_count if desired_count is None else desired_count
    ecs.set_desired_count(clients, stack, count)
    done = [f"service desired count -> {count}"]

    if not security_groups.has_group_rule(clients, stack.host_sg_id, DYNAMIC_HOST_PORTS, stack.alb_sg_id):
        security_groups.authorize(clients, stack.host_sg_id,
                                  [security_groups.group_permission(DYNAMIC_HOST_PORTS, stack.alb_sg_id)])
        done.append("host SG: added tcp {}-{} from the ALB's SG".format(*DYNAMIC_HOST_PORTS))
    if security_groups.revoke_group_rule(clients, stack.host_sg_id, CONTAINER_PORTS, stack.alb_sg_id):
        done.append(f"host SG: removed tcp {CONTAINER_PORT} from the ALB's SG")

    # The hardened stack's outbound return rules (helpers.hardened_spec), where they are missing.
    acl_id = network_acls.subnet_acl_id(clients, stack.private_subnet_ids[0])
    numbers = {e["RuleNumber"] for e in network_acls.entries(clients, acl_id, egress=True)}
    for rule in private_acl_rules(subnet_cidrs(clients, stack.public_subnet_ids)):
        if rule.egress and rule.number not in numbers:
            network_acls.add_entry(clients, acl_id, rule.number, egress=True, ports=rule.ports, cidr=rule.cidr)
            done.append(f"hosts' NACL: added outbound rule {rule.number} tcp {rule.ports[0]}-{rule.ports[1]} to {rule.cidr}")
    return done
