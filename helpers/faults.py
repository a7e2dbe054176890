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
from helpers.stack import CONTAINER_PORT, Stack

HOST_PORTS = (32768, 65535)
RETURN_PORTS = (1024, 65535)
FAULTS = ("service-scaled-to-zero", "host-sg-container-port", "nacl-no-return-rule")


def _hosts_acl(clients: Clients, stack: Stack) -> dict:
    return clients.ec2.describe_network_acls(
        Filters=[{"Name": "association.subnet-id", "Values": [stack.private_subnet_ids[0]]}])["NetworkAcls"][0]


def _alb_cidrs(clients: Clients, stack: Stack) -> list[str]:
    subnets = clients.ec2.describe_subnets(SubnetIds=stack.public_subnet_ids)["Subnets"]
    return sorted(s["CidrBlock"] for s in subnets)


def _group_rule(low: int, high: int, group_id: str) -> dict:
    return {"IpProtocol": "tcp", "FromPort": low, "ToPort": high, "UserIdGroupPairs": [{"GroupId": group_id}]}


def _revoke_group_rule(clients: Clients, group_id: str, ports: tuple[int, int], source_group_id: str) -> None:
    from helpers.lab_extras import revoke_group_rule  # passes the rule's description along (moto needs it)

    revoke_group_rule(clients, group_id, ports, source_group_id)


def break_stack(clients: Clients, stack: Stack) -> list[str]:
    """Inject the three faults into a hardened stack (hosts in private subnets, custom NACLs).
    Returns the names of the faults injected, in `FAULTS` order."""
    if stack.spec.hosts_in != "private":
        raise ValueError("break_stack needs the hardened stack: build it with hosts_in='private' and run harden()")
    ec2 = clients.ec2
    clients.ecs.update_service(cluster=stack.cluster_name, service=stack.service_name, desiredCount=0)

    ec2.authorize_security_group_ingress(GroupId=stack.host_sg_id,
                                         IpPermissions=[_group_rule(CONTAINER_PORT, CONTAINER_PORT, stack.alb_sg_id)])
    _revoke_group_rule(clients, stack.host_sg_id, HOST_PORTS, stack.alb_sg_id)

    acl = _hosts_acl(clients, stack)
    if acl["IsDefault"]:
        raise ValueError("the hosts' subnets still use the default NACL: run harden() first")
    for entry in acl["Entries"]:
        if entry["Egress"] and entry["RuleNumber"] < 32767:
            ec2.delete_network_acl_entry(NetworkAclId=acl["NetworkAclId"], RuleNumber=entry["RuleNumber"], Egress=True)
    return list(FAULTS)


def repair_stack(clients: Clients, stack: Stack, desired_count: int | None = None) -> list[str]:
    """Undo `break_stack` (what the capstone's solution cells do). Returns what was changed."""
    ec2 = clients.ec2
    count = stack.spec.desired_count if desired_count is None else desired_count
    clients.ecs.update_service(cluster=stack.cluster_name, service=stack.service_name, desiredCount=count)
    done = [f"service desired count -> {count}"]

    group = ec2.describe_security_groups(GroupIds=[stack.host_sg_id])["SecurityGroups"][0]
    has_range = any(p.get("FromPort") == HOST_PORTS[0] and p.get("ToPort") == HOST_PORTS[1]
                    and any(g["GroupId"] == stack.alb_sg_id for g in p.get("UserIdGroupPairs", []))
                    for p in group["IpPermissions"])
    if not has_range:
        ec2.authorize_security_group_ingress(GroupId=stack.host_sg_id, IpPermissions=[_group_rule(*HOST_PORTS, stack.alb_sg_id)])
        done.append("host SG: added tcp 32768-65535 from the ALB's SG")
    if any(p.get("FromPort") == CONTAINER_PORT for p in group["IpPermissions"]):
        _revoke_group_rule(clients, stack.host_sg_id, (CONTAINER_PORT, CONTAINER_PORT), stack.alb_sg_id)
        done.append("host SG: removed tcp 8081 from the ALB's SG")

    acl = _hosts_acl(clients, stack)
    numbers = {e["RuleNumber"] for e in acl["Entries"] if e["Egress"]}
    for number, cidr in zip((100, 110), _alb_cidrs(clients, stack)):
        if number not in numbers:
            ec2.create_network_acl_entry(NetworkAclId=acl["NetworkAclId"], RuleNumber=number, Egress=True, Protocol="6",
                                         RuleAction="allow", CidrBlock=cidr,
                                         PortRange={"From": RETURN_PORTS[0], "To": RETURN_PORTS[1]})
            done.append(f"hosts' NACL: added outbound rule {number} tcp 1024-65535 to {cidr}")
    return done
