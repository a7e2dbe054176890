"""Which parts of the evaluator's snapshot an API call may change, so the sandbox re-reads only those.

The data plane decides every new connection on a snapshot of the region that includes the latest
change (a learner adds a rule, then sends a request: the rule must count). A whole snapshot is about
twenty Describe calls; on a busy machine that took up to 10 s, longer than a client's timeout, so a
request looked dropped when the sandbox was only reading. A security-group change needs one call
(DescribeSecurityGroups), a listener rule five.

Erring is cheap one way only: a part named here that did not change costs one more read; a part
left out would leave the data plane deciding on stale state. So an action that is not known to
touch only some parts touches all of them.
"""

from __future__ import annotations

from helpers.evaluator.snapshot import EC2_PARTS, ECS_PART, ELBV2_PART, PARTS

ALL = frozenset(PARTS)
NONE: frozenset[str] = frozenset()

# EC2 actions by the resource they name, first match wins (CreateRoute, ReplaceRouteTableAssociation,
# ReplaceNetworkAclAssociation, AuthorizeSecurityGroupIngress, ...). Anything else, tags included
# (names show in explanations), may touch any EC2 part.
_EC2_BY_NOUN = (
    ("SecurityGroup", frozenset({"security_groups"})),
    ("NetworkAcl", frozenset({"network_acls"})),
    ("Route", frozenset({"route_tables"})),
)
# ELBv2 actions that also change EC2 parts: a load balancer's nodes are network interfaces in its
# subnets, with its security groups.
_ELBV2_WITH_EC2 = ("CreateLoadBalancer", "DeleteLoadBalancer", "SetSubnets", "SetSecurityGroups", "SetIpAddressType")


def parts_changed(service: str, action: str) -> frozenset[str]:
    """The snapshot parts an API call may change. `service` as in the request's signature scope
    ("ec2", "elasticloadbalancing", "ecs", "iam", ...); unknown services and actions: all parts."""
    if service == "ec2":
        return next((parts for noun, parts in _EC2_BY_NOUN if noun in action), frozenset(EC2_PARTS))
    if service == "elasticloadbalancing":
        return ALL - {ECS_PART} if action in _ELBV2_WITH_EC2 else frozenset({ELBV2_PART})
    if service == "ecs":
        # A task's network interface (awsvpc) is made by the sandbox's scheduler, which says so itself.
        return frozenset({ECS_PART})
    if service in ("iam", "ssm", "sts"):
        return NONE  # nothing the snapshot reads
    return ALL


def service_of(environ) -> str:
    """The AWS service a request is signed for: its SigV4 credential scope
    (Credential=KEY/DATE/REGION/SERVICE/aws4_request), or "" when unsigned."""
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    _, _, credential = authorization.partition("Credential=")
    scope = credential.split(",", 1)[0].split("/")
    return scope[3] if len(scope) >= 5 else ""
