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

The rules are `helpers.hardened_spec`'s with `nat=True` - the same specification, with the same
rule numbers, that helpers/hardening.py applies to a live stack (which has no NAT gateway, so it
leaves out the 300s and 400s). `print(spec_text())` lists them:

    ports   32768-65535 is the ECS dynamic host port range the hosts admit (Linux uses
            32768-60999; FACTS.md); 1024-65535 is the return range (ELB and NAT remap source
            ports into it; FACTS.md); 443 is the hosts' way to the ECS API and the registry
    SGs     ALB in tcp 80 from anywhere, out 32768-65535 to the host SG; host SG in 32768-65535
            from the ALB SG only, out tcp 443 to anywhere (via the NAT)
    NACLs   100s the tier's own traffic and its replies, 200s the targets' replies to the ALB,
            300s/400s the NAT path (every NACL ends in the implicit `*` deny; NACLs do not
            filter Amazon DNS or instance metadata)

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

import yaml

from helpers.facts import ANYWHERE, CONTAINER_PORT, ECS_INSTANCE_POLICY_ARN
from helpers.hardened_spec import ALB, HOSTS, GroupRule, private_acl_rules, public_acl_rules, security_group_rules
from helpers.hardened_spec import spec_text as _spec_text
from helpers.stack import (CONTAINER_NAME, EC2_TRUST_POLICY, ECS_AMI_PARAMETER, IAM_PATH, PRIVATE_SUBNET_CIDRS,
                           PUBLIC_SUBNET_CIDRS, TOMCAT_IMAGE, TOMCAT_ON_8081, VPC_CIDR, tags)

LISTENER_PORTS = (80,)
PUBLIC_NACL_RULES = tuple(public_acl_rules(list(LISTENER_PORTS), list(PRIVATE_SUBNET_CIDRS), nat=True))
PRIVATE_NACL_RULES = tuple(private_acl_rules(list(PUBLIC_SUBNET_CIDRS), nat=True))
SECURITY_GROUP_RULES = tuple(security_group_rules(list(LISTENER_PORTS), nat=True))

# Resource types moto 5.2.5's CloudFormation has no model for (it would skip them with a warning
# and still report CREATE_COMPLETE, which would hide the gap).
SANDBOX_UNSUPPORTED = frozenset({"AWS::EC2::NetworkAcl", "AWS::EC2::NetworkAclEntry",
                                 "AWS::EC2::SubnetNetworkAclAssociation"})


def spec_text() -> str:
    """The template's security group and NACL rules, one line each."""
    return _spec_text(list(LISTENER_PORTS), list(PUBLIC_SUBNET_CIDRS), list(PRIVATE_SUBNET_CIDRS), nat=True)


def _ref(logical_id: str) -> dict:
    return {"Ref": logical_id}


def _network(name: str) -> dict:
    resources = {
        "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {
            "CidrBlock": VPC_CIDR, "EnableDnsSupport": True, "EnableDnsHostnames": True, "Tags": tags(f"{name}-vpc", name)}},
        "InternetGateway": {"Type": "AWS::EC2::InternetGateway", "Properties": {"Tags": tags(f"{name}-igw", name)}},
        "GatewayAttachment": {"Type": "AWS::EC2::VPCGatewayAttachment", "Properties": {
            "VpcId": _ref("Vpc"), "InternetGatewayId": _ref("InternetGateway")}},
        "PublicRouteTable": {"Type": "AWS::EC2::RouteTable", "Properties": {
            "VpcId": _ref("Vpc"), "Tags": tags(f"{name}-public-rt", name)}},
        "PublicDefaultRoute": {"Type": "AWS::EC2::Route", "DependsOn": "GatewayAttachment", "Properties": {
            "RouteTableId": _ref("PublicRouteTable"), "DestinationCidrBlock": ANYWHERE, "GatewayId": _ref("InternetGateway")}},
        # Outbound-only internet for the private hosts (see the module docstring: it costs money).
        "NatAddress": {"Type": "AWS::EC2::EIP", "DependsOn": "GatewayAttachment", "Properties": {
            "Domain": "vpc", "Tags": tags(f"{name}-nat-eip", name)}},
        "NatGateway": {"Type": "AWS::EC2::NatGateway", "Properties": {
            "SubnetId": _ref("PublicSubnetA"), "AllocationId": {"Fn::GetAtt": ["NatAddress", "AllocationId"]},
            "Tags": tags(f"{name}-nat", name)}},
        "PrivateRouteTable": {"Type": "AWS::EC2::RouteTable", "Properties": {
            "VpcId": _ref("Vpc"), "Tags": tags(f"{name}-private-rt", name)}},
        "PrivateDefaultRoute": {"Type": "AWS::EC2::Route", "Properties": {
            "RouteTableId": _ref("PrivateRouteTable"), "DestinationCidrBlock": ANYWHERE, "NatGatewayId": _ref("NatGateway")}},
    }
    for index, suffix in enumerate("AB"):
        zone = {"Fn::Select": [index, {"Fn::GetAZs": ""}]}
        for kind, cidrs, public in (("Public", PUBLIC_SUBNET_CIDRS, True), ("Private", PRIVATE_SUBNET_CIDRS, False)):
            subnet = f"{kind}Subnet{suffix}"
            resources[subnet] = {"Type": "AWS::EC2::Subnet", "Properties": {
                "VpcId": _ref("Vpc"), "CidrBlock": cidrs[index], "AvailabilityZone": zone, "MapPublicIpOnLaunch": public,
                "Tags": tags(f"{name}-{kind.lower()}-{suffix.lower()}", name)}}
            resources[f"{subnet}Routes"] = {"Type": "AWS::EC2::SubnetRouteTableAssociation", "Properties": {
                "SubnetId": _ref(subnet), "RouteTableId": _ref(f"{kind}RouteTable")}}
    return resources


def _network_acls(name: str) -> dict:
    resources = {}
    for kind, rules in (("Public", PUBLIC_NACL_RULES), ("Private", PRIVATE_NACL_RULES)):
        acl = f"{kind}NetworkAcl"
        resources[acl] = {"Type": "AWS::EC2::NetworkAcl", "Properties": {
            "VpcId": _ref("Vpc"), "Tags": tags(f"{name}-{kind.lower()}-nacl", name)}}
        for rule in rules:
            resources[f"{acl}{'Out' if rule.egress else 'In'}{rule.number}"] = {"Type": "AWS::EC2::NetworkAclEntry", "Properties": {
                "NetworkAclId": _ref(acl), "RuleNumber": rule.number, "Egress": rule.egress, "Protocol": 6,  # 6 = tcp
                "RuleAction": "allow", "CidrBlock": rule.cidr, "PortRange": {"From": rule.ports[0], "To": rule.ports[1]}}}
        for suffix in "AB":
            resources[f"{kind}Subnet{suffix}Acl"] = {"Type": "AWS::EC2::SubnetNetworkAclAssociation", "Properties": {
                "SubnetId": _ref(f"{kind}Subnet{suffix}"), "NetworkAclId": _ref(acl)}}
    return resources


_GROUP_IDS = {ALB: "AlbSecurityGroup", HOSTS: "HostSecurityGroup"}


def _sg_rule(rule: GroupRule) -> dict:
    """One rule as an entry of SecurityGroupIngress/-Egress (or the properties of a separate rule)."""
    entry = {"IpProtocol": "tcp", "FromPort": rule.ports[0], "ToPort": rule.ports[1]}
    if rule.peer_is_group:
        key = "DestinationSecurityGroupId" if rule.egress else "SourceSecurityGroupId"
        entry[key] = _ref(_GROUP_IDS[rule.peer])
    else:
        entry["CidrIp"] = rule.peer
    entry["Description"] = rule.why
    return entry


def _security_groups(name: str) -> dict:
    def inline(group: str, egress: bool) -> list[dict]:
        # The hosts' inbound rule names the ALB's SG, whose outbound rule names the hosts' SG:
        # inline, the two groups would name each other (a circular dependency).
        return [_sg_rule(r) for r in SECURITY_GROUP_RULES if r.group == group and r.egress == egress
                and not (group == HOSTS and not egress)]

    resources = {
        "HostSecurityGroup": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
            "GroupDescription": "ECS hosts: dynamic host ports from the ALB only", "VpcId": _ref("Vpc"),
            "SecurityGroupEgress": inline(HOSTS, True), "Tags": tags(f"{name}-host-sg", name)}},
        "AlbSecurityGroup": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
            "GroupDescription": "ALB: HTTP from the internet", "VpcId": _ref("Vpc"),
            "SecurityGroupIngress": inline(ALB, False), "SecurityGroupEgress": inline(ALB, True),
            "Tags": tags(f"{name}-alb-sg", name)}},
    }
    # ... so the hosts' inbound rules are separate resources.
    host_ingress = [r for r in SECURITY_GROUP_RULES if r.group == HOSTS and not r.egress]
    for index, rule in enumerate(host_ingress):
        logical_id = "HostIngressFromAlb" if index == 0 else f"HostIngressFromAlb{index + 1}"
        resources[logical_id] = {"Type": "AWS::EC2::SecurityGroupIngress", "Properties": {
            "GroupId": _ref("HostSecurityGroup"), **_sg_rule(rule)}}
    return resources


def _hosts(name: str) -> dict:
    resources = {
        "InstanceRole": {"Type": "AWS::IAM::Role", "Properties": {
            "Path": IAM_PATH, "AssumeRolePolicyDocument": EC2_TRUST_POLICY,
            "ManagedPolicyArns": [ECS_INSTANCE_POLICY_ARN], "Tags": tags(f"{name}-ecs-instance-role", name)}},
        "InstanceProfile": {"Type": "AWS::IAM::InstanceProfile", "Properties": {
            "Path": IAM_PATH, "Roles": [_ref("InstanceRole")]}},
        "Cluster": {"Type": "AWS::ECS::Cluster", "Properties": {
            "ClusterName": f"{name}-cluster", "Tags": tags(f"{name}-cluster", name)}},
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
                "Tags": tags(f"{name}-ecs-host-{index + 1}", name)}}
    return resources


def _load_balancer(name: str) -> dict:
    return {
        "LoadBalancer": {"Type": "AWS::ElasticLoadBalancingV2::LoadBalancer", "DependsOn": "GatewayAttachment", "Properties": {
            "Name": f"{name}-alb", "Type": "application", "Scheme": "internet-facing", "IpAddressType": "ipv4",
            "Subnets": [_ref("PublicSubnetA"), _ref("PublicSubnetB")], "SecurityGroups": [_ref("AlbSecurityGroup")],
            "Tags": tags(f"{name}-alb", name)}},
        # ECS registers instance:hostPort targets itself; the health check must follow the target's
        # port (traffic-port): a fixed port cannot match dynamic host ports (FACTS.md).
        "TargetGroup": {"Type": "AWS::ElasticLoadBalancingV2::TargetGroup", "Properties": {
            "Name": f"{name}-tg", "Protocol": "HTTP", "Port": 80, "VpcId": _ref("Vpc"), "TargetType": "instance",
            "HealthCheckProtocol": "HTTP", "HealthCheckPort": "traffic-port", "HealthCheckPath": "/",
            "Matcher": {"HttpCode": "200"}, "Tags": tags(f"{name}-tg", name)}},
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
            "Tags": tags(f"{name}-web", name)}},
        # A target group must belong to a load balancer before a service can use it, and nothing
        # here refers to the listener - hence the explicit DependsOn.
        "Service": {"Type": "AWS::ECS::Service", "DependsOn": "Listener", "Properties": {
            "ServiceName": f"{name}-svc", "Cluster": _ref("Cluster"), "TaskDefinition": _ref("TaskDefinition"),
            "LaunchType": "EC2", "DesiredCount": 3,
            "LoadBalancers": [{"ContainerName": CONTAINER_NAME, "ContainerPort": CONTAINER_PORT,
                               "TargetGroupArn": _ref("TargetGroup")}],
            "Tags": tags(f"{name}-svc", name)}},
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

    class NoAliases(yaml.SafeDumper):
        # Objects shared inside the dict would become YAML aliases, which CloudFormation rejects.
        def ignore_aliases(self, data) -> bool:
            return True

    return yaml.dump(template or hardened_template(), Dumper=NoAliases, sort_keys=False, width=120)
