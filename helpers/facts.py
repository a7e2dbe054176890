"""AWS constants the course relies on, each with where it comes from.

One place for every number AWS defines and the course uses: the sandbox, the evaluator, the audit,
the hardened stack and the notebooks read them from here. The sources are AWS's API references and
user guides (and the botocore service models installed with boto3); `FACTS.md` beside the repo
keeps the longer notes.
"""

from __future__ import annotations

import ipaddress

# --- Ports -----------------------------------------------------------------------------------
# A TCP port is 1-65535 (EC2 API IpPermission / CreateNetworkAclEntry PortRange; ELBv2 CreateListener).
PORT_MIN, PORT_MAX = 1, 65535
ALL_PORTS = (0, 65535)  # "all ports" as the evaluator's intervals see it (protocol -1 rules)

# The ECS agent picks a dynamic host port from the kernel's ip_local_port_range; Linux's default is
# 32768-60999 (ECS API PortMapping; ECS agent README, ECS_DYNAMIC_HOST_PORT_RANGE).
AGENT_HOST_PORT_RANGE = (32768, 60999)
# What the course opens from the ALB's SG: common practice, wider than the agent's range. The ECS
# guide gives 32768-61000 only as an example; 32768-65535 is what most guides use.
DYNAMIC_HOST_PORTS = (32768, 65535)
# Host ports the ECS agent never hands out by default (ECS API PortMapping: 22, 2375, 2376 and
# 51678-51680).
RESERVED_HOST_PORTS = frozenset({22, 2375, 2376, 51678, 51679, 51680})

# ELB and NAT remap source ports into 1024-65535, so return traffic through a stateless NACL needs
# that whole range open (VPC guide "Network ACLs", ephemeral ports).
RETURN_PORTS = (1024, 65535)

# The course's container listens here ("Tomcat on 8081", the source post's task definition).
CONTAINER_PORT = 8081

# The port an HTTPS client calls: the ECS agent reaches the ECS API and the image registry on it
# (ECS guide "Amazon ECS interface VPC endpoints": the agent's endpoints are HTTPS).
HTTPS_PORT = 443

# --- Network ACLs ----------------------------------------------------------------------------
# Rule numbers 1-32766; the unchangeable `*` rule that denies the rest is shown as 32767
# (EC2 API CreateNetworkAclEntry RuleNumber; DescribeNetworkAcls).
NACL_RULE_MIN, NACL_RULE_MAX = 1, 32766
NACL_STAR_RULE = 32767
# AWS advises numbering rules in steps (e.g. 10 or 100) so a rule can be slipped in later
# (VPC guide "Network ACL rules").
NACL_RULE_STEP = 10

# --- Addresses -------------------------------------------------------------------------------
# The learner's laptop "on the internet": an address from TEST-NET-3 (RFC 5737), reserved for
# documentation, so it can never be anybody's real address.
INTERNET_CLIENT_IP = "203.0.113.10"
# Every IPv4 address: the destination of a default route and the source "anywhere" of a rule
# (VPC guide "Route tables", "Security group rules").
ANYWHERE = "0.0.0.0/0"

# --- ELB target groups -----------------------------------------------------------------------
# Health checks over HTTP: timeout 6 s (HTTPS 10 s) in the current ELBv2 API model
# (CreateTargetGroup HealthCheckTimeoutSeconds; older guide text says 5 s).
HEALTH_CHECK_TIMEOUT_DEFAULTS = {"HTTP": 6, "HTTPS": 10}
# Deregistration delay: 0-3600 s, default 300 (ALB guide "Target groups", deregistration_delay).
DEFAULT_DEREGISTRATION_DELAY = 300
DEREGISTRATION_DELAY_MAX = 3600
# The ALB gives up on a target that does not accept within 10 s (ALB guide "Troubleshoot": 504).
ALB_CONNECT_TIMEOUT = 10
# Load balancer attribute idle_timeout.timeout_seconds, default 60 (ALB guide "Load balancers").
ALB_DEFAULT_IDLE_TIMEOUT = 60

# --- The ECS agent's way to ECS ----------------------------------------------------------------
# The endpoints the agent calls over HTTPS: the API (registration), the agent's own connection
# (agentConnected, task assignments) and telemetry (ECS guide "Amazon ECS interface VPC endpoints
# (AWS PrivateLink)": com.amazonaws.<region>.ecs, .ecs-agent, .ecs-telemetry).
ECS_AGENT_ENDPOINT_SERVICES = ("ecs", "ecs-agent", "ecs-telemetry")

# --- ECS service-linked role -----------------------------------------------------------------
# (ECS guide "Using service-linked roles for Amazon ECS")
ECS_SERVICE_PRINCIPAL = "ecs.amazonaws.com"
ECS_SERVICE_LINKED_ROLE = "AWSServiceRoleForECS"
ECS_SERVICE_ROLE_POLICY_ARN = "arn:aws:iam::aws:policy/aws-service-role/AmazonECSServiceRolePolicy"
# CreateService with a load balancer when the role does not exist: InvalidParameterException with
# this text (widely quoted, e.g. aws-samples/baseline-environment-on-aws issue 238).
ECS_SERVICE_LINKED_ROLE_MISSING = (
    "Unable to assume the service linked role. Please verify that the ECS service linked role exists."
)
# The managed policy an EC2 container instance's role needs to join a cluster (ECS guide
# "Amazon ECS container instance IAM role").
ECS_INSTANCE_POLICY_ARN = "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"


# --- Fargate ------------------------------------------------------------------------------------
# The task CPU (units) and memory (MiB) Fargate runs: each CPU value with the memory values it
# allows (ECS guide "Troubleshoot Amazon ECS task definition invalid CPU or memory errors"; ECS API
# TaskDefinition `memory`). 8 and 16 vCPU need Linux platform version 1.4.0 or later.
FARGATE_CPU_MEMORY = {
    256: (512, 1024, 2048),
    512: (1024, 2048, 3072, 4096),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}
# RegisterTaskDefinition's ClientException texts for a Fargate task definition: the invalid-CPU
# and no-configuration texts are quoted on the troubleshooting page above; the network-mode and
# "defined at the task level" texts are quoted from AWS output in many public templates
# (e.g. terraform comments) - widely seen, not on an AWS page.
FARGATE_INVALID_CPU = "Invalid 'cpu' setting for task."
FARGATE_NO_CONFIGURATION = "No Fargate configuration exists for given values."
FARGATE_NETWORK_MODE_ONLY_AWSVPC = "Fargate only supports network mode \u2018awsvpc\u2019."
FARGATE_NEEDS_TASK_LEVEL = "Fargate requires that '{what}' be defined at the task level."
# CreateService / UpdateService / RunTask with a task definition whose requiresCompatibilities lacks
# the launch type: InvalidParameterException (quoted in aws/aws-cli issue 3983 and many CI logs).
LAUNCH_TYPE_NOT_SUPPORTED = "Task definition does not support launch_type {launch_type}."
# An awsvpc service (or RunTask) without subnets: InvalidParameterException (Terraform's output of the
# API error for aws_ecs_service; for RunTask the same text is assumed - unconfirmed).
AWSVPC_NEEDS_NETWORK_CONFIGURATION = "Network Configuration must be provided when networkMode 'awsvpc' is specified."

# --- capacity provider strategies (sandbox/capacity_providers.py) -----------------------------------
# A provider must be associated with the cluster before a strategy names it (ECS API
# CapacityProviderStrategyItem; ECS guide "Amazon ECS capacity providers"). RunTask's
# InvalidParameterException text is quoted from AWS output in dask/dask-cloudprovider issue 328;
# CreateService is assumed to answer the same (unconfirmed).
CAPACITY_PROVIDER_NOT_ASSOCIATED = (
    "The specified capacity provider strategy cannot contain a capacity provider that is not associated with "
    "the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again.")
# A strategy beside a launch type: "If a capacityProviderStrategy is specified, the launchType parameter
# must be omitted" (ECS API RunTask, CreateService); the InvalidParameterException text is quoted
# from AWS output in terraform-linters/tflint-ruleset-aws issue 349.
LAUNCH_TYPE_AND_CAPACITY_PROVIDERS = (
    "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.")
# "A capacity provider strategy can only contain Auto Scaling group capacity providers or Fargate
# capacity providers" (ECS guide "Amazon ECS clusters for Fargate"). The text is the one the AWS CDK
# raises for such a strategy (aws-cdk, aws-ecs Cluster); that the API answers with it is unconfirmed.
CAPACITY_PROVIDERS_MIXED = (
    "A capacity provider strategy cannot contain a mix of capacity providers using Auto Scaling groups and "
    "Fargate providers. Specify one or the other and try again.")

# --- ENIs on a container instance (awsvpc on EC2) -------------------------------------------------
# Each awsvpc task's ENI is attached to its container instance; the instance type caps the ENIs it
# can have and "the primary network interface counts as one", so without ENI trunking an instance
# runs (maximum network interfaces - 1) awsvpc tasks: a c5.large (3) runs two (ECS guide
# "Increasing Amazon ECS Linux container instance network interfaces"). The maximum per type is
# EC2's DescribeInstanceTypes NetworkInfo.MaximumNetworkInterfaces (t3.small: 3).
PRIMARY_NETWORK_INTERFACES = 1


def check_port(port: object, what: str = "port") -> int:
    """`port` as an int, or a ValueError that names the constraint."""
    if isinstance(port, bool) or not isinstance(port, int) or not PORT_MIN <= port <= PORT_MAX:
        raise ValueError(f"{what} must be a whole number from {PORT_MIN} to {PORT_MAX}, not {port!r}")
    return port


def check_rule_number(number: object) -> int:
    """A NACL rule number as an int, or a ValueError that names the constraint."""
    if isinstance(number, bool) or not isinstance(number, int) or not NACL_RULE_MIN <= number <= NACL_RULE_MAX:
        raise ValueError(f"a network ACL rule number must be from {NACL_RULE_MIN} to {NACL_RULE_MAX} "
                         f"(the `*` rule, {NACL_STAR_RULE}, cannot be changed), not {number!r}")
    return number


def check_cidr(cidr: object) -> str:
    """An IPv4 CIDR block as given, or a ValueError that names the constraint. Host bits may be set:
    EC2 turns 100.68.0.18/18 into 100.68.0.0/18 itself (EC2 API CreateNetworkAclEntry, CidrBlock)."""
    try:
        ipaddress.IPv4Network(cidr, strict=False)
        if not isinstance(cidr, str) or "/" not in cidr:
            raise ValueError
    except (ValueError, TypeError):
        raise ValueError(f"a CIDR must be an IPv4 CIDR block such as 10.0.0.0/16 or 0.0.0.0/0, not {cidr!r}") from None
    return cidr
