"""Build the source document's stack with plain boto3 - in the sandbox or (opt-in) in AWS.

The stack (names all start with the stack name, everything tagged `Project=ecs-alb-lab`):

    VPC 10.0.0.0/16, an internet gateway
      public subnets  10.0.1.0/24 (AZ a), 10.0.2.0/24 (AZ b)  route 0.0.0.0/0 -> IGW
      private subnets 10.0.11.0/24 (AZ a), 10.0.12.0/24 (AZ b) no route to the IGW
      with hosts_in="private" only (the hosts must reach ECS and the image registry; FACTS.md
      "The agent must reach ECS"): interface VPC endpoints for ecs, ecs-agent and ecs-telemetry
      in both private subnets (SG: tcp 443 from the host SG), and a NAT gateway (Elastic IP) in
      public subnet a with a private route table 0.0.0.0/0 -> NAT for the image pulls
    ALB (internet-facing, public subnets), SG: tcp 80 from anywhere
      listener HTTP:80 -> target group (HTTP, instance targets, health check `/`)
    IAM role `<name>-ecs-instance-role` (trusted by EC2, policy AmazonEC2ContainerServiceforEC2Role)
      in the instance profile `<name>-ecs-instance-profile`: what lets the ECS agent join the cluster
    ECS cluster, two EC2 container instances (public subnets, public IPs, as in the source)
      host SG: tcp 32768-65535 from the ALB's SG (dynamic ports); tcp 8081 from anywhere
      (the author had opened 8081 for the app before adding the ALB)
    task definition: bridge mode, container "tomcat" on 8081, hostPort 0 (dynamic)
    service: 3 tasks attached to the target group on container port 8081

With `network_mode="awsvpc"` (notebook 09) the front and the hosts stay the same, and:
    target group: `ip` targets on port 8081 (each task's own IP; no host port)
    task SG `<name>-task-sg`: tcp 8081 from the ALB's SG - each task's network interface carries it
    task definition: awsvpc mode, container port 8081 (no hostPort: in awsvpc it is the container port)
    service: its tasks' interfaces in the hosts' subnets, with the task SG (networkConfiguration)

Nothing here talks to moto directly: the same calls build the stack in AWS.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field

from botocore.exceptions import ClientError

from helpers.backend import Clients
from helpers.facts import (
    ANYWHERE, CONTAINER_PORT, DEFAULT_DEREGISTRATION_DELAY, DEREGISTRATION_DELAY_MAX, DYNAMIC_HOST_PORTS,
    ECS_AGENT_ENDPOINT_SERVICES, ECS_INSTANCE_POLICY_ARN, PORT_MAX)

PROJECT_TAG = {"Key": "Project", "Value": "ecs-alb-lab"}
ECS_AMI_PARAMETER = "/aws/service/ecs/optimized-ami/amazon-linux-2/recommended/image_id"
CONTAINER_NAME = "tomcat"
# The VPC's subnets, by index: one public and one private subnet per availability zone.
VPC_CIDR = "10.0.0.0/16"
PUBLIC_SUBNET_CIDRS = ("10.0.1.0/24", "10.0.2.0/24")
PRIVATE_SUBNET_CIDRS = ("10.0.11.0/24", "10.0.12.0/24")
# The official tomcat image listens on 8080 and ships an empty webapps/ (its default pages are in
# webapps.dist since docker-library/tomcat#181), so `/` would answer 404 and every health check would fail on AWS. Listen on 8081
# and serve the default ROOT page instead. (The sandbox runs its own "Tomcat" and ignores this.)
TOMCAT_IMAGE = "tomcat:9.0"
TOMCAT_ON_8081 = ["sh", "-c", "sed -i 's/port=\"8080\"/port=\"8081\"/' conf/server.xml"
                  " && cp -r webapps.dist/ROOT webapps/ && exec catalina.sh run"]

# The container instance role (ECS guide: "Amazon ECS container instance IAM role"): the agent
# on each host needs it to register with the cluster. IAM names are global to the account, so
# everything sits under one path that cleanup lists.
IAM_PATH = "/ecs-alb-lab/"
# ECS task definition networkMode values this stack builds: the source's bridge, and awsvpc.
NETWORK_MODES = ("bridge", "awsvpc")
EC2_TRUST_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


@dataclass
class StackSpec:
    name: str = "lab"
    host_port: int = 0  # 0 = dynamic (the source's setup); 8081 = static (its follow-up)
    desired_count: int = 3
    instance_count: int = 2
    hosts_in: str = "public"  # "public" as in the source; "private" as its section 6-2 advises
    instance_type: str = "t3.small"
    deregistration_delay: int = DEFAULT_DEREGISTRATION_DELAY  # in AWS seconds
    health_check_path: str = "/"
    network_mode: str = "bridge"  # "bridge" as in the source; "awsvpc": one network interface per task

    def __post_init__(self) -> None:
        if self.network_mode not in NETWORK_MODES:
            raise ValueError(f"network_mode must be one of {', '.join(NETWORK_MODES)}, got {self.network_mode!r}")
        if self.network_mode == "awsvpc" and self.host_port not in (0, CONTAINER_PORT):
            raise ValueError(f"in awsvpc mode there is no host port apart from the container port; "
                             f"host_port must be 0 or {CONTAINER_PORT}, got {self.host_port}")
        if not (0 <= self.host_port <= PORT_MAX):
            raise ValueError(f"host_port must be 0 (dynamic) or a port 1-{PORT_MAX}, got {self.host_port}")
        if self.hosts_in not in ("public", "private"):
            raise ValueError(f"hosts_in must be 'public' or 'private', got {self.hosts_in!r}")
        if not (0 <= self.deregistration_delay <= DEREGISTRATION_DELAY_MAX):
            raise ValueError(f"deregistration_delay must be 0-{DEREGISTRATION_DELAY_MAX} seconds, "
                             f"got {self.deregistration_delay}")


@dataclass
class Stack:
    """The ids of what `build_stack` made (what a notebook or `cleanup` needs)."""

    spec: StackSpec
    vpc_id: str = ""
    igw_id: str = ""
    public_subnet_ids: list[str] = field(default_factory=list)
    private_subnet_ids: list[str] = field(default_factory=list)
    public_route_table_id: str = ""
    nat_allocation_id: str = ""  # hosts_in="private": the NAT gateway's Elastic IP ...
    nat_gateway_id: str = ""  # ... the NAT gateway ...
    private_route_table_id: str = ""  # ... and the private subnets' route to it
    endpoint_sg_id: str = ""  # hosts_in="private": the interface endpoints' SG ...
    vpc_endpoint_ids: list[str] = field(default_factory=list)  # ... and the endpoints (ecs, ecs-agent, ecs-telemetry)
    alb_sg_id: str = ""
    host_sg_id: str = ""
    task_sg_id: str = ""  # awsvpc only: the security group on each task's network interface
    alb_arn: str = ""
    alb_dns_name: str = ""
    target_group_arn: str = ""
    listener_arn: str = ""
    instance_role_name: str = ""
    instance_profile_name: str = ""
    cluster_name: str = ""
    instance_ids: list[str] = field(default_factory=list)
    task_definition_arn: str = ""
    service_name: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def tags(name: str, stack: str) -> list[dict]:
    """The tags everything a stack makes carries: cleanup finds resources by them."""
    return [dict(PROJECT_TAG), {"Key": "Name", "Value": name}, {"Key": "lab:stack", "Value": stack}]


def tag_spec(resource_type: str, name: str, stack: str) -> list[dict]:
    """`tags` as EC2's TagSpecifications for one resource type."""
    return [{"ResourceType": resource_type, "Tags": tags(name, stack)}]


def ecs_user_data(cluster_name: str) -> str:
    """What the ECS-optimized AMI reads to join a cluster (ECS guide: 'Bootstrapping container instances')."""
    return f"#!/bin/bash\necho ECS_CLUSTER={cluster_name} >> /etc/ecs/ecs.config\n"


def availability_zones(clients: Clients, count: int = 2) -> list[str]:
    zones = clients.ec2.describe_availability_zones()["AvailabilityZones"]
    names = sorted(z["ZoneName"] for z in zones if z.get("State", "available") == "available")
    if len(names) < count:
        raise RuntimeError(f"region {clients.region} has {len(names)} availability zones; the ALB needs {count}")
    return names[:count]


def build_network(clients: Clients, stack: Stack) -> None:
    ec2, name = clients.ec2, stack.spec.name
    stack.vpc_id = ec2.create_vpc(CidrBlock=VPC_CIDR, TagSpecifications=tag_spec("vpc", f"{name}-vpc", name))["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=stack.vpc_id, EnableDnsHostnames={"Value": True})
    stack.igw_id = ec2.create_internet_gateway(TagSpecifications=tag_spec("internet-gateway", f"{name}-igw", name))["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=stack.igw_id, VpcId=stack.vpc_id)

    zones = availability_zones(clients)
    for index, zone in enumerate(zones):
        suffix = "ab"[index]
        public = ec2.create_subnet(VpcId=stack.vpc_id, CidrBlock=PUBLIC_SUBNET_CIDRS[index], AvailabilityZone=zone,
                                   TagSpecifications=tag_spec("subnet", f"{name}-public-{suffix}", name))["Subnet"]["SubnetId"]
        ec2.modify_subnet_attribute(SubnetId=public, MapPublicIpOnLaunch={"Value": True})
        private = ec2.create_subnet(VpcId=stack.vpc_id, CidrBlock=PRIVATE_SUBNET_CIDRS[index], AvailabilityZone=zone,
                                    TagSpecifications=tag_spec("subnet", f"{name}-private-{suffix}", name))["Subnet"]["SubnetId"]
        stack.public_subnet_ids.append(public)
        stack.private_subnet_ids.append(private)

    stack.public_route_table_id = ec2.create_route_table(
        VpcId=stack.vpc_id, TagSpecifications=tag_spec("route-table", f"{name}-public-rt", name))["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=stack.public_route_table_id, DestinationCidrBlock=ANYWHERE, GatewayId=stack.igw_id)
    for subnet_id in stack.public_subnet_ids:
        ec2.associate_route_table(RouteTableId=stack.public_route_table_id, SubnetId=subnet_id)


def build_egress(clients: Clients, stack: Stack) -> None:
    """Hosts in private subnets still have to reach the ECS endpoints (the agent registers and keeps
    a connection over HTTPS) and pull their image from the registry: without a way out they never
    join the cluster (ECS guide "Container instance networking"). The course builds both ways AWS
    offers, each for its own traffic:

    - interface VPC endpoints for ecs, ecs-agent and ecs-telemetry, with private DNS, in each
      private subnet (ECS guide "Amazon ECS interface VPC endpoints"): the agent's traffic stays
      inside the VPC and inside its own subnet, so the NACL exercises of 05-07 never cut it off;
    - a NAT gateway in public subnet a with an Elastic IP, the private subnets' 0.0.0.0/0 routed to
      it: the image (tomcat from Docker Hub) is on the internet, which no endpoint reaches.

    Cost on AWS (see the pages for the numbers of your region): a NAT gateway is billed per hour
    and per GB it processes, and its Elastic IP as a public IPv4 address (Amazon VPC pricing, "NAT
    gateway pricing"; VPC user guide "NAT gateways", Pricing); an interface endpoint per hour in each
    AZ it serves and per GB (AWS PrivateLink pricing) - here 3 endpoints x 2 AZs. One NAT gateway in
    one AZ is the cheapest choice, not the most available (the VPC guide advises one per AZ)."""
    if stack.spec.hosts_in != "private":
        return
    ec2, name = clients.ec2, stack.spec.name
    stack.endpoint_sg_id = ec2.create_security_group(
        GroupName=f"{name}-vpce-sg", Description="ECS interface endpoints: HTTPS from the ECS hosts", VpcId=stack.vpc_id,
        TagSpecifications=tag_spec("security-group", f"{name}-vpce-sg", name))["GroupId"]
    for service in ECS_AGENT_ENDPOINT_SERVICES:
        stack.vpc_endpoint_ids.append(ec2.create_vpc_endpoint(
            VpcId=stack.vpc_id, VpcEndpointType="Interface", ServiceName=f"com.amazonaws.{clients.region}.{service}",
            SubnetIds=stack.private_subnet_ids, SecurityGroupIds=[stack.endpoint_sg_id], PrivateDnsEnabled=True,
            TagSpecifications=tag_spec("vpc-endpoint", f"{name}-{service}-vpce", name))["VpcEndpoint"]["VpcEndpointId"])
    stack.nat_allocation_id = ec2.allocate_address(
        Domain="vpc", TagSpecifications=tag_spec("elastic-ip", f"{name}-nat-eip", name))["AllocationId"]
    stack.nat_gateway_id = ec2.create_nat_gateway(
        SubnetId=stack.public_subnet_ids[0], AllocationId=stack.nat_allocation_id,
        TagSpecifications=tag_spec("natgateway", f"{name}-nat", name))["NatGateway"]["NatGatewayId"]
    # A route to a pending NAT gateway is refused on AWS; the sandbox's is available at once.
    ec2.get_waiter("nat_gateway_available").wait(NatGatewayIds=[stack.nat_gateway_id],
                                                 WaiterConfig={"Delay": 1 if clients.is_sandbox else 15, "MaxAttempts": 40})
    stack.private_route_table_id = ec2.create_route_table(
        VpcId=stack.vpc_id, TagSpecifications=tag_spec("route-table", f"{name}-private-rt", name))["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=stack.private_route_table_id, DestinationCidrBlock=ANYWHERE, NatGatewayId=stack.nat_gateway_id)
    for subnet_id in stack.private_subnet_ids:
        ec2.associate_route_table(RouteTableId=stack.private_route_table_id, SubnetId=subnet_id)


def build_security_groups(clients: Clients, stack: Stack) -> None:
    ec2, name = clients.ec2, stack.spec.name
    stack.alb_sg_id = ec2.create_security_group(
        GroupName=f"{name}-alb-sg", Description="ALB: HTTP from the internet", VpcId=stack.vpc_id,
        TagSpecifications=tag_spec("security-group", f"{name}-alb-sg", name))["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=stack.alb_sg_id, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": ANYWHERE, "Description": "HTTP from anywhere"}]},
    ])
    stack.host_sg_id = ec2.create_security_group(
        GroupName=f"{name}-host-sg", Description="ECS hosts", VpcId=stack.vpc_id,
        TagSpecifications=tag_spec("security-group", f"{name}-host-sg", name))["GroupId"]
    low, high = DYNAMIC_HOST_PORTS
    ec2.authorize_security_group_ingress(GroupId=stack.host_sg_id, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": low, "ToPort": high,
         "UserIdGroupPairs": [{"GroupId": stack.alb_sg_id, "Description": "dynamic host ports, from the ALB only"}]},
        {"IpProtocol": "tcp", "FromPort": CONTAINER_PORT, "ToPort": CONTAINER_PORT,
         "IpRanges": [{"CidrIp": ANYWHERE, "Description": "the app's port, opened before the ALB existed"}]},
    ])
    if stack.spec.network_mode == "awsvpc":
        stack.task_sg_id = ec2.create_security_group(
            GroupName=f"{name}-task-sg", Description="ECS tasks (awsvpc): one per task interface", VpcId=stack.vpc_id,
            TagSpecifications=tag_spec("security-group", f"{name}-task-sg", name))["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=stack.task_sg_id, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": CONTAINER_PORT, "ToPort": CONTAINER_PORT,
             "UserIdGroupPairs": [{"GroupId": stack.alb_sg_id, "Description": "the container port, from the ALB only"}]},
        ])
    _admit_hosts_to_endpoints(clients, stack)


def _admit_hosts_to_endpoints(clients: Clients, stack: Stack) -> None:
    """The interface endpoints' SG admits HTTPS from the hosts' SG (ECS guide: the endpoint's
    security group must allow 443 from the container instances)."""
    if stack.endpoint_sg_id:
        clients.ec2.authorize_security_group_ingress(GroupId=stack.endpoint_sg_id, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
             "UserIdGroupPairs": [{"GroupId": stack.host_sg_id, "Description": "the ECS agent on the hosts"}]}])


def build_load_balancer(clients: Clients, stack: Stack) -> None:
    elbv2, name = clients.elbv2, stack.spec.name
    lb = elbv2.create_load_balancer(Name=f"{name}-alb", Subnets=stack.public_subnet_ids, SecurityGroups=[stack.alb_sg_id],
                                    Scheme="internet-facing", Type="application", IpAddressType="ipv4",
                                    Tags=tags(f"{name}-alb", name))["LoadBalancers"][0]
    stack.alb_arn, stack.alb_dns_name = lb["LoadBalancerArn"], lb["DNSName"]
    # awsvpc: targets are task IPs on the container port (ELB guide: target type `ip`); the port
    # here is only the default for targets registered without one.
    by_ip = stack.spec.network_mode == "awsvpc"
    tg = elbv2.create_target_group(Name=f"{name}-tg", Protocol="HTTP", Port=CONTAINER_PORT if by_ip else 80,
                                   VpcId=stack.vpc_id, TargetType="ip" if by_ip else "instance",
                                   HealthCheckProtocol="HTTP", HealthCheckPort="traffic-port",
                                   HealthCheckPath=stack.spec.health_check_path, Matcher={"HttpCode": "200"},
                                   Tags=tags(f"{name}-tg", name))["TargetGroups"][0]
    stack.target_group_arn = tg["TargetGroupArn"]
    elbv2.modify_target_group_attributes(TargetGroupArn=stack.target_group_arn, Attributes=[
        {"Key": "deregistration_delay.timeout_seconds", "Value": str(stack.spec.deregistration_delay)}])
    stack.listener_arn = elbv2.create_listener(
        LoadBalancerArn=stack.alb_arn, Protocol="HTTP", Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": stack.target_group_arn}],
        Tags=tags(f"{name}-listener-80", name))["Listeners"][0]["ListenerArn"]


def build_instance_profile(clients: Clients, stack: Stack) -> None:
    iam, name = clients.iam, stack.spec.name
    stack.instance_role_name = f"{name}-ecs-instance-role"
    iam.create_role(RoleName=stack.instance_role_name, Path=IAM_PATH, AssumeRolePolicyDocument=json.dumps(EC2_TRUST_POLICY),
                    Description="ECS container instances of the ecs-alb-lab stack", Tags=tags(stack.instance_role_name, name))
    iam.attach_role_policy(RoleName=stack.instance_role_name, PolicyArn=ECS_INSTANCE_POLICY_ARN)
    stack.instance_profile_name = f"{name}-ecs-instance-profile"
    iam.create_instance_profile(InstanceProfileName=stack.instance_profile_name, Path=IAM_PATH,
                                Tags=tags(stack.instance_profile_name, name))
    iam.add_role_to_instance_profile(InstanceProfileName=stack.instance_profile_name, RoleName=stack.instance_role_name)


def _run_instance(clients: Clients, *, timeout: float = 60, **kwargs) -> dict:
    """run_instances, retried while EC2 does not yet see a new instance profile: IAM is
    eventually consistent, so a profile made seconds ago can be "invalid" to EC2 (IAM guide,
    "Changes that I make are not always immediately visible")."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return clients.ec2.run_instances(**kwargs)
        except ClientError as error:
            propagating = (error.response["Error"]["Code"] == "InvalidParameterValue"
                           and "iam instance profile" in error.response["Error"].get("Message", "").lower())
            if not propagating or time.monotonic() >= deadline:
                raise
            time.sleep(2)


def build_cluster(clients: Clients, stack: Stack) -> None:
    spec, name = stack.spec, stack.spec.name
    stack.cluster_name = f"{name}-cluster"
    clients.ecs.create_cluster(clusterName=stack.cluster_name, tags=[{"key": "Project", "value": "ecs-alb-lab"}])
    image_id = clients.ssm.get_parameter(Name=ECS_AMI_PARAMETER)["Parameter"]["Value"]
    subnets = stack.public_subnet_ids if spec.hosts_in == "public" else stack.private_subnet_ids
    for index in range(spec.instance_count):
        subnet_id = subnets[index % len(subnets)]
        reservation = _run_instance(
            clients, ImageId=image_id, InstanceType=spec.instance_type, MinCount=1, MaxCount=1,
            SubnetId=subnet_id, SecurityGroupIds=[stack.host_sg_id],
            IamInstanceProfile={"Name": stack.instance_profile_name},
            UserData=ecs_user_data(stack.cluster_name),
            TagSpecifications=tag_spec("instance", f"{name}-ecs-host-{index + 1}", name))
        stack.instance_ids.append(reservation["Instances"][0]["InstanceId"])


def build_service(clients: Clients, stack: Stack) -> None:
    spec, name = stack.spec, stack.spec.name
    port_mapping = {"containerPort": CONTAINER_PORT, "protocol": "tcp"}
    awsvpc = spec.network_mode == "awsvpc"
    if not awsvpc:  # in awsvpc the host port is the container port; leaving it out says so
        port_mapping["hostPort"] = spec.host_port
    stack.task_definition_arn = clients.ecs.register_task_definition(
        family=f"{name}-web", networkMode=spec.network_mode, requiresCompatibilities=["EC2"],
        containerDefinitions=[{"name": CONTAINER_NAME, "image": TOMCAT_IMAGE, "command": TOMCAT_ON_8081,
                               "memory": 256, "cpu": 256, "essential": True, "portMappings": [port_mapping]}],
        tags=[{"key": "Project", "value": "ecs-alb-lab"}])["taskDefinition"]["taskDefinitionArn"]
    stack.service_name = f"{name}-svc"
    placement = {}
    if awsvpc:  # each task's interface: in the hosts' subnets, with the task SG
        subnets = stack.public_subnet_ids if spec.hosts_in == "public" else stack.private_subnet_ids
        placement["networkConfiguration"] = {"awsvpcConfiguration": {
            "subnets": subnets, "securityGroups": [stack.task_sg_id]}}
    clients.ecs.create_service(
        cluster=stack.cluster_name, serviceName=stack.service_name, taskDefinition=stack.task_definition_arn,
        desiredCount=spec.desired_count, launchType="EC2",
        loadBalancers=[{"targetGroupArn": stack.target_group_arn, "containerName": CONTAINER_NAME, "containerPort": CONTAINER_PORT}],
        tags=[{"key": "Project", "value": "ecs-alb-lab"}], **placement)


BUILD_STEPS = (build_network, build_egress, build_security_groups, build_load_balancer, build_instance_profile, build_cluster, build_service)


def build_stack(clients: Clients, spec: StackSpec | None = None) -> Stack:
    """Build the whole stack, step by step. Returns the ids; does not wait for the service."""
    stack = Stack(spec=spec or StackSpec())
    for step in BUILD_STEPS:
        step(clients, stack)
    return stack
