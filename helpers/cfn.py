"""The HARDENED stack (section 6 of the source) as a CloudFormation template.

    from helpers.cfn import hardened_template, to_yaml
    print(to_yaml(hardened_template("lab")))
    # aws cloudformation deploy --stack-name lab --template-file lab.yaml --capabilities CAPABILITY_IAM

What changes from the source's stack (helpers/stack.py):
- 6-2: the ECS hosts sit in PRIVATE subnets (no public IP, no route from the internet); only the
  ALB is in the public subnets.
- 6-1: security groups chain: the ALB's SG admits tcp 80 from anywhere and sends only to the
  hosts' dynamic port range; the hosts' SG admits only that range, and only from the ALB's SG.
  Nothing opens 8081 any more: the ALB reaches the container through the dynamic host port.
- Tight network ACLs instead of the source's "rule 100: all traffic from 0.0.0.0/0" (its 5-4).
- A NAT gateway: hosts in a private subnet still have to call the ECS API (the agent registers
  and polls for tasks over HTTPS) and pull the image; with no route to the internet they never
  join the cluster. The NAT gateway (plus its Elastic IP) gives them outbound-only access. It
  costs money: about $0.045/h plus $0.045/GB processed in us-east-1 (aws.amazon.com/vpc/pricing/),
  more than the ALB itself. VPC interface endpoints for ecs/ecs-agent/ecs-telemetry/ecr are the
  alternative (also hourly, per AZ).

The rules, in one place (helpers/hardening.py applies the same ones to a live stack):

    ports                      32768-65535 is the ECS dynamic host port range the hosts admit
                               (Linux uses 32768-60999; FACTS.md); 1024-65535 is the return range
                               (ELB and NAT remap source ports into it; FACTS.md)
    ALB SG      in   tcp 80           from 0.0.0.0/0
                out  tcp 32768-65535  to the host SG
    host SG     in   tcp 32768-65535  from the ALB SG
                out  tcp 443          to 0.0.0.0/0       (ECS API, image registry, via the NAT)
    public NACL (ALB, NAT gateway)
                in   100 tcp 80           0.0.0.0/0      clients -> listener
                in   110 tcp 1024-65535   0.0.0.0/0      return traffic (hosts -> ALB, internet -> NAT)
                in   120 tcp 443          10.0.11.0/24   private hosts -> NAT
                in   130 tcp 443          10.0.12.0/24
                out  100 tcp 32768-65535  10.0.11.0/24   ALB -> dynamic host ports (and health checks)
                out  110 tcp 32768-65535  10.0.12.0/24
                out  120 tcp 1024-65535   0.0.0.0/0      return traffic to clients
                out  130 tcp 443          0.0.0.0/0      NAT -> internet
    private NACL (ECS hosts)
                in   100 tcp 32768-65535  10.0.1.0/24    ALB -> dynamic host ports
                in   110 tcp 32768-65535  10.0.2.0/24
                in   120 tcp 1024-65535   0.0.0.0/0      replies to the hosts' HTTPS via the NAT
                out  100 tcp 1024-65535   10.0.1.0/24    return traffic to the ALB
                out  110 tcp 1024-65535   10.0.2.0/24
                out  120 tcp 443          0.0.0.0/0      hosts -> NAT -> ECS API, registry
    (every NACL ends in the implicit `*` deny; NACLs do not filter Amazon DNS or instance metadata)

Rules 120/130 of the public NACL and 120 of both private directions exist only for the NAT path.
Private inbound 120 admits 1024-65535 from anywhere because NAT replies carry the internet
server's address; the private subnets have no route from the internet, and the host SG still
admits only the ALB.

`sandbox_compatible=True` leaves out what moto 5.2.5's CloudFormation cannot create
(`SANDBOX_UNSUPPORTED`: the network ACLs and their entries and associations); everything else
deploys into the sandbox. Also known from moto's source: it ignores a security group's
`SecurityGroupEgress` property (the groups keep the default allow-all egress) and an ECS
service's `LoadBalancers` (no target registration). tests/test_cfn.py shows the rest deploys.

What has been tried on real AWS: NOTHING (no account here). cfn-lint passes and the
sandbox-compatible subset reaches CREATE_COMPLETE in the sandbox; a real deployment is untested.
"""

from __future__ import annotations

import json

from helpers.stack import (CONTAINER_NAME, CONTAINER_PORT, EC2_TRUST_POLICY, ECS_AMI_PARAMETER, ECS_INSTANCE_POLICY_ARN,
                           EPHEMERAL_RANGE, IAM_PATH, PROJECT_TAG, TOMCAT_IMAGE, TOMCAT_ON_8081)

RETURN_RANGE = (1024, 65535)
PUBLIC_CIDRS = ("10.0.1.0/24", "10.0.2.0/24")
PRIVATE_CIDRS = ("10.0.11.0/24", "10.0.12.0/24")
ANYWHERE = "0.0.0.0/0"
HTTPS = (443, 443)

# (rule number, egress?, CIDR, (from port, to port)) - all tcp, all allow; see the module docstring.
PUBLIC_NACL_RULES = (
    (100, False, ANYWHERE, (80, 80)),
    (110, False, ANYWHERE, RETURN_RANGE),
    (120, False, PRIVATE_CIDRS[0], HTTPS),
    (130, False, PRIVATE_CIDRS[1], HTTPS),
    (100, True, PRIVATE_CIDRS[0], EPHEMERAL_RANGE),
    (110, True, PRIVATE_CIDRS[1], EPHEMERAL_RANGE),
    (120, True, ANYWHERE, RETURN_RANGE),
    (130, True, ANYWHERE, HTTPS),
)
PRIVATE_NACL_RULES = (
    (100, False, PUBLIC_CIDRS[0], EPHEMERAL_RANGE),
    (110, False, PUBLIC_CIDRS[1], EPHEMERAL_RANGE),
    (120, False, ANYWHERE, RETURN_RANGE),
    (100, True, PUBLIC_CIDRS[0], RETURN_RANGE),
    (110, True, PUBLIC_CIDRS[1], RETURN_RANGE),
    (120, True, ANYWHERE, HTTPS),
)

# Resource types moto 5.2.5's CloudFormation has no model for (it would skip them with a warning
# and still report CREATE_COMPLETE, which would hide the gap).
SANDBOX_UNSUPPORTED = frozenset({"AWS::EC2::NetworkAcl", "AWS::EC2::NetworkAclEntry",
                                 "AWS::EC2::SubnetNetworkAclAssociation"})


def _tags(name: str, stack: str) -> list[dict]:
    return [dict(PROJECT_TAG), {"Key": "Name", "Value": name}, {"Key": "lab:stack", "Value": stack}]


def _ref(logical_id: str) -> dict:
    return {"Ref": logical_id}


def _network(name: str) -> dict:
    resources = {
        "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {
            "CidrBlock": "10.0.0.0/16", "EnableDnsSupport": True, "EnableDnsHostnames": True, "Tags": _tags(f"{name}-vpc", name)}},
        "InternetGateway": {"Type": "AWS::EC2::InternetGateway", "Properties": {"Tags": _tags(f"{name}-igw", name)}},
        "GatewayAttachment": {"Type": "AWS::EC2::VPCGatewayAttachment", "Properties": {
            "VpcId": _ref("Vpc"), "InternetGatewayId": _ref("InternetGateway")}},
        "PublicRouteTable": {"Type": "AWS::EC2::RouteTable", "Properties": {
            "VpcId": _ref("Vpc"), "Tags": _tags(f"{name}-public-rt", name)}},
        "PublicDefaultRoute": {"Type": "AWS::EC2::Route", "DependsOn": "GatewayAttachment", "Properties": {
            "RouteTableId": _ref("PublicRouteTable"), "DestinationCidrBlock": ANYWHERE, "GatewayId": _ref("InternetGateway")}},
        # Outbound-only internet for the private hosts (see the module docstring: it costs money).
        "NatAddress": {"Type": "AWS::EC2::EIP", "DependsOn": "GatewayAttachment", "Properties": {
            "Domain": "vpc", "Tags": _tags(f"{name}-nat-eip", name)}},
        "NatGateway": {"Type": "AWS::EC2::NatGateway", "Properties": {
            "SubnetId": _ref("PublicSubnetA"), "AllocationId": {"Fn::GetAtt": ["NatAddress", "AllocationId"]},
            "Tags": _tags(f"{name}-nat", name)}},
        "PrivateRouteTable": {"Type": "AWS::EC2::RouteTable", "Properties": {
            "VpcId": _ref("Vpc"), "Tags": _tags(f"{name}-private-rt", name)}},
        "PrivateDefaultRoute": {"Type": "AWS::EC2::Route", "Properties": {
            "RouteTableId": _ref("PrivateRouteTable"), "DestinationCidrBlock": ANYWHERE, "NatGatewayId": _ref("NatGateway")}},
    }
    for index, suffix in enumerate("AB"):
        zone = {"Fn::Select": [index, {"Fn::GetAZs": ""}]}
        for kind, cidrs, public in (("Public", PUBLIC_CIDRS, True), ("Private", PRIVATE_CIDRS, False)):
            subnet = f"{kind}Subnet{suffix}"
            resources[subnet] = {"Type": "AWS::EC2::Subnet", "Properties": {
                "VpcId": _ref("Vpc"), "CidrBlock": cidrs[index], "AvailabilityZone": zone, "MapPublicIpOnLaunch": public,
                "Tags": _tags(f"{name}-{kind.lower()}-{suffix.lower()}", name)}}
            resources[f"{subnet}Routes"] = {"Type": "AWS::EC2::SubnetRouteTableAssociation", "Properties": {
                "SubnetId": _ref(subnet), "RouteTableId": _ref(f"{kind}RouteTable")}}
    return resources


def _network_acls(name: str) -> dict:
    resources = {}
    for kind, rules in (("Public", PUBLIC_NACL_RULES), ("Private", PRIVATE_NACL_RULES)):
        acl = f"{kind}NetworkAcl"
        resources[acl] = {"Type": "AWS::EC2::NetworkAcl", "Properties": {
            "VpcId": _ref("Vpc"), "Tags": _tags(f"{name}-{kind.lower()}-nacl", name)}}
        for number, egress, cidr, (low, high) in rules:
            resources[f"{acl}{'Out' if egress else 'In'}{number}"] = {"Type": "AWS::EC2::NetworkAclEntry", "Properties": {
                "NetworkAclId": _ref(acl), "RuleNumber": number, "Egress": egress, "Protocol": 6,  # 6 = tcp
                "RuleAction": "allow", "CidrBlock": cidr, "PortRange": {"From": low, "To": high}}}
        for suffix in "AB":
            resources[f"{kind}Subnet{suffix}Acl"] = {"Type": "AWS::EC2::SubnetNetworkAclAssociation", "Properties": {
                "SubnetId": _ref(f"{kind}Subnet{suffix}"), "NetworkAclId": _ref(acl)}}
    return resources


def _security_groups(name: str) -> dict:
    low, high = EPHEMERAL_RANGE
    return {
        "HostSecurityGroup": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
            "GroupDescription": "ECS hosts: dynamic host ports from the ALB only", "VpcId": _ref("Vpc"),
            "SecurityGroupEgress": [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": ANYWHERE,
                                     "Description": "ECS API and image registry, through the NAT gateway"}],
            "Tags": _tags(f"{name}-host-sg", name)}},
        "AlbSecurityGroup": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
            "GroupDescription": "ALB: HTTP from the internet", "VpcId": _ref("Vpc"),
            "SecurityGroupIngress": [{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "CidrIp": ANYWHERE,
                                      "Description": "HTTP from anywhere"}],
            "SecurityGroupEgress": [{"IpProtocol": "tcp", "FromPort": low, "ToPort": high,
                                     "DestinationSecurityGroupId": _ref("HostSecurityGroup"),
                                     "Description": "dynamic host ports and health checks"}],
            "Tags": _tags(f"{name}-alb-sg", name)}},
        # A separate resource: inline, the two groups would name each other (a circular dependency).
        "HostIngressFromAlb": {"Type": "AWS::EC2::SecurityGroupIngress", "Properties": {
            "GroupId": _ref("HostSecurityGroup"), "IpProtocol": "tcp", "FromPort": low, "ToPort": high,
            "SourceSecurityGroupId": _ref("AlbSecurityGroup"), "Description": "dynamic host ports, from the ALB only"}},
    }


def _hosts(name: str) -> dict:
    resources = {
        "InstanceRole": {"Type": "AWS::IAM::Role", "Properties": {
            "Path": IAM_PATH, "AssumeRolePolicyDocument": EC2_TRUST_POLICY,
            "ManagedPolicyArns": [ECS_INSTANCE_POLICY_ARN], "Tags": _tags(f"{name}-ecs-instance-role", name)}},
        "InstanceProfile": {"Type": "AWS::IAM::InstanceProfile", "Properties": {
            "Path": IAM_PATH, "Roles": [_ref("InstanceRole")]}},
        "Cluster": {"Type": "AWS::ECS::Cluster", "Properties": {
            "ClusterName": f"{name}-cluster", "Tags": _tags(f"{name}-cluster", name)}},
    }
    for index, suffix in enumerate("AB"):
        resources[f"Host{suffix}"] = {
            "Type": "AWS::EC2::Instance",
            # The agent calls the ECS API as soon as it starts: let the NAT route exist first.
            "DependsOn": "PrivateDefaultRoute",
            "Properties": {
                "ImageId": _ref("EcsAmiId"), "InstanceType": "t3.small", "SubnetId": _ref(f"PrivateSubnet{suffix}"),
                "SecurityGroupIds": [_ref("HostSecurityGroup")], "IamInstanceProfile": _ref("InstanceProfile"),
                # ECS guide, "Bootstrapping container instances": join the cluster by name.
                "UserData": {"Fn::Base64": {"Fn::Sub": "#!/bin/bash\necho ECS_CLUSTER=${Cluster} >> /etc/ecs/ecs.config\n"}},
                "Tags": _tags(f"{name}-ecs-host-{index + 1}", name)}}
    return resources


def _load_balancer(name: str) -> dict:
    return {
        "LoadBalancer": {"Type": "AWS::ElasticLoadBalancingV2::LoadBalancer", "DependsOn": "GatewayAttachment", "Properties": {
            "Name": f"{name}-alb", "Type": "application", "Scheme": "internet-facing", "IpAddressType": "ipv4",
            "Subnets": [_ref("PublicSubnetA"), _ref("PublicSubnetB")], "SecurityGroups": [_ref("AlbSecurityGroup")],
            "Tags": _tags(f"{name}-alb", name)}},
        # ECS registers instance:hostPort targets itself; the health check must follow the target's
        # port (traffic-port): a fixed port cannot match dynamic host ports (FACTS.md).
        "TargetGroup": {"Type": "AWS::ElasticLoadBalancingV2::TargetGroup", "Properties": {
            "Name": f"{name}-tg", "Protocol": "HTTP", "Port": 80, "VpcId": _ref("Vpc"), "TargetType": "instance",
            "HealthCheckProtocol": "HTTP", "HealthCheckPort": "traffic-port", "HealthCheckPath": "/",
            "Matcher": {"HttpCode": "200"}, "Tags": _tags(f"{name}-tg", name)}},
        "Listener": {"Type": "AWS::ElasticLoadBalancingV2::Listener", "Properties": {
            "LoadBalancerArn": _ref("LoadBalancer"), "Protocol": "HTTP", "Port": 80,
            "DefaultActions": [{"Type": "forward", "TargetGroupArn": _ref("TargetGroup")}]}},
    }


def _service(name: str) -> dict:
    return {
        "TaskDefinition": {"Type": "AWS::ECS::TaskDefinition", "Properties": {
            "Family": f"{name}-web", "NetworkMode": "bridge", "RequiresCompatibilities": ["EC2"],
            "ContainerDefinitions": [{
                "Name": CONTAINER_NAME, "Image": TOMCAT_IMAGE, "Command": TOMCAT_ON_8081, "Memory": 256, "Cpu": 256,
                "Essential": True,
                # hostPort 0: the agent picks a free port from the host's ephemeral range.
                "PortMappings": [{"ContainerPort": CONTAINER_PORT, "HostPort": 0, "Protocol": "tcp"}]}],
            "Tags": _tags(f"{name}-web", name)}},
        # A target group must belong to a load balancer before a service can use it, and nothing
        # here refers to the listener - hence the explicit DependsOn.
        "Service": {"Type": "AWS::ECS::Service", "DependsOn": "Listener", "Properties": {
            "ServiceName": f"{name}-svc", "Cluster": _ref("Cluster"), "TaskDefinition": _ref("TaskDefinition"),
            "LaunchType": "EC2", "DesiredCount": 3,
            "LoadBalancers": [{"ContainerName": CONTAINER_NAME, "ContainerPort": CONTAINER_PORT,
                               "TargetGroupArn": _ref("TargetGroup")}],
            "Tags": _tags(f"{name}-svc", name)}},
    }


def hardened_template(name: str = "lab", *, sandbox_compatible: bool = False) -> dict:
    """The hardened stack as a CloudFormation template (a dict; see `to_yaml`/`to_json`).

    `sandbox_compatible=True` omits exactly the resource types in `SANDBOX_UNSUPPORTED`."""
    resources = {**_network(name), **_network_acls(name), **_security_groups(name), **_hosts(name),
                 **_load_balancer(name), **_service(name)}
    if sandbox_compatible:
        resources = {key: value for key, value in resources.items() if value["Type"] not in SANDBOX_UNSUPPORTED}
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"ecs-alb-lab {name}: ECS hosts in private subnets behind an ALB on dynamic host ports (hardened)",
        "Parameters": {
            # Resolved by CloudFormation from AWS's public SSM parameter at deploy time.
            "EcsAmiId": {"Type": "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>", "Default": ECS_AMI_PARAMETER,
                         "Description": "the current ECS-optimized Amazon Linux 2 AMI"},
        },
        "Resources": resources,
        "Outputs": {
            "AlbDnsName": {"Value": {"Fn::GetAtt": ["LoadBalancer", "DNSName"]}},
            "Url": {"Value": {"Fn::Sub": "http://${LoadBalancer.DNSName}/"}},
        },
    }


def to_json(template: dict | None = None) -> str:
    return json.dumps(template or hardened_template(), indent=2)


def to_yaml(template: dict | None = None) -> str:
    """Plain YAML with long-form intrinsics ({"Ref": ...}), which CloudFormation reads as is."""
    import yaml

    class NoAliases(yaml.SafeDumper):
        # Objects shared inside the dict would become YAML aliases, which CloudFormation rejects.
        def ignore_aliases(self, data) -> bool:
            return True

    return yaml.dump(template or hardened_template(), Dumper=NoAliases, sort_keys=False, width=120)
