"""Delete what the course made, in dependency order, found by its tags - in the sandbox or in AWS.

Everything the stack builder makes is tagged `Project=ecs-alb-lab` and `lab:stack=<name>`
(ECS resources: `Project` only, so they are matched by the stack's name prefix). Deleting
finds resources by tag, not from a list kept somewhere, so it also cleans up after a build
that failed half-way, and running it twice is harmless.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from helpers.backend import Clients
from helpers.resources import network_acls, security_groups
from helpers.stack import IAM_PATH, PROJECT_TAG


@dataclass
class CleanupReport:
    deleted: list[str] = field(default_factory=list)  # "kind id", in the order deleted
    failed: list[str] = field(default_factory=list)

    def summary(self) -> str:
        kinds: dict[str, int] = {}
        for item in self.deleted:
            kind = item.split(" ", 1)[0]
            kinds[kind] = kinds.get(kind, 0) + 1
        lines = [f"deleted {len(self.deleted)} resources" + (": " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) if kinds else "")]
        lines += [f"could not delete {item}" for item in self.failed]
        return "\n".join(lines)


def _filters(stack_name: str | None) -> list[dict]:
    filters = [{"Name": f"tag:{PROJECT_TAG['Key']}", "Values": [PROJECT_TAG["Value"]]}]
    if stack_name:
        filters.append({"Name": "tag:lab:stack", "Values": [stack_name]})
    return filters


def _tagged_elbv2(clients: Clients, arns: list[str], stack_name: str | None) -> list[str]:
    """The ARNs among `arns` that carry the project's tags (DescribeTags takes 20 at a time)."""
    wanted = []
    for start in range(0, len(arns), 20):
        for description in clients.elbv2.describe_tags(ResourceArns=arns[start:start + 20])["TagDescriptions"]:
            tags = {t["Key"]: t["Value"] for t in description.get("Tags", [])}
            if tags.get(PROJECT_TAG["Key"]) == PROJECT_TAG["Value"] and (stack_name is None or tags.get("lab:stack") == stack_name):
                wanted.append(description["ResourceArn"])
    return wanted


def _ecs_name_matches(name: str, stack_name: str | None) -> bool:
    return stack_name is None or name.startswith(f"{stack_name}-")


class _Deleter:
    def __init__(self, clients: Clients, report: CleanupReport) -> None:
        self.clients, self.report = clients, report

    def __call__(self, kind: str, resource_id: str, call, **kwargs) -> None:
        try:
            call(**kwargs)
            self.report.deleted.append(f"{kind} {resource_id}")
        except ClientError as error:
            code = error.response["Error"]["Code"]
            if "NotFound" in code or code in ("ClusterNotFoundException", "ServiceNotFoundException", "NoSuchEntity"):
                return  # already gone: cleanup is idempotent
            self.report.failed.append(f"{kind} {resource_id}: {code}: {error.response['Error'].get('Message', '')}")


def delete_ecs(clients: Clients, stack_name: str | None, delete) -> None:
    ecs = clients.ecs
    for cluster_arn in ecs.list_clusters()["clusterArns"]:
        cluster = ecs.describe_clusters(clusters=[cluster_arn], include=["TAGS"])["clusters"][0]
        tags = {t["key"]: t["value"] for t in cluster.get("tags", [])}
        if (cluster["status"] != "ACTIVE" or tags.get("Project") != PROJECT_TAG["Value"]
                or not _ecs_name_matches(cluster["clusterName"], stack_name)):
            continue  # deleted clusters stay listed as INACTIVE for a while
        service_arns = ecs.list_services(cluster=cluster_arn)["serviceArns"]
        services = ecs.describe_services(cluster=cluster_arn, services=service_arns)["services"] if service_arns else []
        for service in services:
            if service["status"] == "ACTIVE":
                delete("ecs-service", service["serviceName"], ecs.delete_service, cluster=cluster_arn,
                       service=service["serviceArn"], force=True)
        for task_arn in ecs.list_tasks(cluster=cluster_arn)["taskArns"]:
            delete("ecs-task", task_arn.rsplit("/", 1)[-1], ecs.stop_task, cluster=cluster_arn, task=task_arn, reason="lab cleanup")
        for instance_arn in ecs.list_container_instances(cluster=cluster_arn, status="ACTIVE")["containerInstanceArns"]:
            delete("ecs-container-instance", instance_arn.rsplit("/", 1)[-1], ecs.deregister_container_instance,
                   cluster=cluster_arn, containerInstance=instance_arn, force=True)
        delete("ecs-cluster", cluster["clusterName"], ecs.delete_cluster, cluster=cluster_arn)
    for family in ecs.list_task_definition_families(status="ACTIVE")["families"]:
        if not _ecs_name_matches(family, stack_name):
            continue
        for arn in ecs.list_task_definitions(familyPrefix=family, status="ACTIVE")["taskDefinitionArns"]:
            tags = {t["key"]: t["value"] for t in ecs.list_tags_for_resource(resourceArn=arn).get("tags", [])}
            if tags.get("Project") == PROJECT_TAG["Value"]:
                delete("ecs-task-definition", arn.rsplit("/", 1)[-1], ecs.deregister_task_definition, taskDefinition=arn)


def delete_load_balancing(clients: Clients, stack_name: str | None, delete) -> None:
    elbv2 = clients.elbv2
    lb_arns = _tagged_elbv2(clients, [lb["LoadBalancerArn"] for lb in elbv2.describe_load_balancers()["LoadBalancers"]], stack_name)
    for lb_arn in lb_arns:
        for listener in elbv2.describe_listeners(LoadBalancerArn=lb_arn)["Listeners"]:
            delete("listener", f"{listener['Protocol']}:{listener['Port']}", elbv2.delete_listener, ListenerArn=listener["ListenerArn"])
        delete("load-balancer", lb_arn.split("/")[-2], elbv2.delete_load_balancer, LoadBalancerArn=lb_arn)
    tg_arns = _tagged_elbv2(clients, [tg["TargetGroupArn"] for tg in elbv2.describe_target_groups()["TargetGroups"]], stack_name)
    for tg_arn in tg_arns:
        delete("target-group", tg_arn.split("/")[-2], elbv2.delete_target_group, TargetGroupArn=tg_arn)


def delete_instances(clients: Clients, stack_name: str | None, delete, timeout: float = 120) -> None:
    ec2 = clients.ec2
    reservations = ec2.describe_instances(Filters=_filters(stack_name) + [
        {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}])["Reservations"]
    ids = sorted(i["InstanceId"] for r in reservations for i in r["Instances"])
    if not ids:
        return
    for instance_id in ids:
        delete("instance", instance_id, ec2.terminate_instances, InstanceIds=[instance_id])
    # Security groups and subnets stay "in use" until the instances are gone.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = {i["State"]["Name"] for r in ec2.describe_instances(InstanceIds=ids)["Reservations"] for i in r["Instances"]}
        if states <= {"terminated"}:
            return
        time.sleep(0.5 if clients.is_sandbox else 5)


def _is_ours(tags: list[dict], name: str, stack_name: str | None) -> bool:
    tags_by_key = {t["Key"]: t["Value"] for t in tags}
    if tags_by_key.get(PROJECT_TAG["Key"]) != PROJECT_TAG["Value"]:
        return False
    return stack_name is None or (tags_by_key.get("lab:stack") == stack_name and name.startswith(f"{stack_name}-"))


def _tags_or_none(read) -> list | None:
    """The tags `read()` returns, or None when the resource was deleted meanwhile (another
    cleanup - say a second notebook - may be removing its own stack at the same moment)."""
    try:
        return read()
    except ClientError as error:
        if error.response["Error"]["Code"] == "NoSuchEntity":
            return None
        raise


def tagged_iam(clients: Clients, stack_name: str | None) -> tuple[list[str], list[str]]:
    """(role names, instance profile names) the project made: under its IAM path, named after
    the stack, tagged. IAM is global, so the path keeps the listing short in a busy account."""
    iam = clients.iam
    roles = []
    for page in iam.get_paginator("list_roles").paginate(PathPrefix=IAM_PATH):
        for role in page["Roles"]:
            tags = _tags_or_none(lambda: iam.list_role_tags(RoleName=role["RoleName"])["Tags"])
            if tags is not None and _is_ours(tags, role["RoleName"], stack_name):
                roles.append(role["RoleName"])
    profiles = []
    for page in iam.get_paginator("list_instance_profiles").paginate(PathPrefix=IAM_PATH):
        for p in page["InstanceProfiles"]:
            # Listings leave tags out (IAM API ListInstanceProfiles); GetInstanceProfile has them.
            tags = _tags_or_none(lambda: iam.get_instance_profile(
                InstanceProfileName=p["InstanceProfileName"])["InstanceProfile"].get("Tags", []))
            if tags is not None and _is_ours(tags, p["InstanceProfileName"], stack_name):
                profiles.append(p["InstanceProfileName"])
    return sorted(roles), sorted(profiles)


def delete_iam(clients: Clients, stack_name: str | None, delete) -> None:
    """The instance profile first (after its instances are gone), then the role it held."""
    iam = clients.iam
    roles, profiles = tagged_iam(clients, stack_name)
    for name in profiles:
        delete("instance-profile", name, _delete_instance_profile, iam=iam, name=name)
    for name in roles:
        delete("iam-role", name, _delete_role, iam=iam, name=name)


def _delete_instance_profile(iam, name: str) -> None:
    for role in iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Roles"]:
        iam.remove_role_from_instance_profile(InstanceProfileName=name, RoleName=role["RoleName"])
    iam.delete_instance_profile(InstanceProfileName=name)


def _delete_role(iam, name: str) -> None:
    # A role still attached to a policy or held by a profile cannot be deleted (DeleteConflict).
    for profile in iam.list_instance_profiles_for_role(RoleName=name)["InstanceProfiles"]:
        iam.remove_role_from_instance_profile(InstanceProfileName=profile["InstanceProfileName"], RoleName=name)
    for policy in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
        iam.detach_role_policy(RoleName=name, PolicyArn=policy["PolicyArn"])
    iam.delete_role(RoleName=name)


def delete_network(clients: Clients, stack_name: str | None, delete) -> None:
    ec2 = clients.ec2
    vpcs = ec2.describe_vpcs(Filters=_filters(stack_name))["Vpcs"]
    for vpc in sorted(vpcs, key=lambda v: v["VpcId"]):
        vpc_id = vpc["VpcId"]
        in_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
        _delete_vpc_endpoints(clients, in_vpc, delete)  # their network interfaces hold SGs and subnets
        groups = [g for g in ec2.describe_security_groups(Filters=in_vpc)["SecurityGroups"] if g["GroupName"] != "default"]
        # Rules that name another group must go first, or the groups cannot be deleted.
        for group in groups:
            if group["IpPermissions"]:
                security_groups.revoke(clients, group["GroupId"], group["IpPermissions"])
        for group in groups:
            delete("security-group", group["GroupId"], ec2.delete_security_group, GroupId=group["GroupId"])
        _delete_nat_gateways(clients, in_vpc, delete)
        for acl in ec2.describe_network_acls(Filters=in_vpc)["NetworkAcls"]:
            if not acl["IsDefault"]:
                # Hand its subnets back to the default NACL first, as the console does.
                delete("network-acl", acl["NetworkAclId"], _delete_nacl, clients=clients, acl=acl)
        for subnet in ec2.describe_subnets(Filters=in_vpc)["Subnets"]:
            delete("subnet", subnet["SubnetId"], ec2.delete_subnet, SubnetId=subnet["SubnetId"])
        for table in ec2.describe_route_tables(Filters=in_vpc)["RouteTables"]:
            if any(a.get("Main") for a in table.get("Associations", [])):
                continue
            for association in table.get("Associations", []):
                ec2.disassociate_route_table(AssociationId=association["RouteTableAssociationId"])
            delete("route-table", table["RouteTableId"], ec2.delete_route_table, RouteTableId=table["RouteTableId"])
        for igw in ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}])["InternetGateways"]:
            ec2.detach_internet_gateway(InternetGatewayId=igw["InternetGatewayId"], VpcId=vpc_id)
            delete("internet-gateway", igw["InternetGatewayId"], ec2.delete_internet_gateway, InternetGatewayId=igw["InternetGatewayId"])
        delete("vpc", vpc_id, ec2.delete_vpc, VpcId=vpc_id)


def _delete_nat_gateways(clients: Clients, in_vpc: list[dict], delete, timeout: float = 300) -> None:
    """NAT gateways before their subnets: a subnet (and the Elastic IP) stays in use until its NAT
    gateway is `deleted`, which takes a minute or so on AWS."""
    ec2 = clients.ec2
    nats = [n for n in ec2.describe_nat_gateways(Filter=in_vpc)["NatGateways"] if n["State"] not in ("deleting", "deleted")]
    for nat in nats:
        delete("nat-gateway", nat["NatGatewayId"], ec2.delete_nat_gateway, NatGatewayId=nat["NatGatewayId"])
    ids = [n["NatGatewayId"] for n in nats]
    deadline = time.monotonic() + timeout
    while ids and time.monotonic() < deadline:
        states = {n["State"] for n in ec2.describe_nat_gateways(NatGatewayIds=ids)["NatGateways"]}
        if states <= {"deleted"}:
            break
        time.sleep(0.5 if clients.is_sandbox else 10)


def _delete_vpc_endpoints(clients: Clients, in_vpc: list[dict], delete, timeout: float = 300) -> None:
    ec2 = clients.ec2
    endpoints = [e["VpcEndpointId"] for e in ec2.describe_vpc_endpoints(Filters=in_vpc)["VpcEndpoints"]
                 if str(e.get("State", "")).lower() not in ("deleting", "deleted")]
    for endpoint_id in endpoints:
        delete("vpc-endpoint", endpoint_id, ec2.delete_vpc_endpoints, VpcEndpointIds=[endpoint_id])
    deadline = time.monotonic() + timeout
    while endpoints and time.monotonic() < deadline:
        left = [e for e in ec2.describe_vpc_endpoints(Filters=in_vpc)["VpcEndpoints"]
                if str(e.get("State", "")).lower() != "deleted"]
        if not left:
            break
        time.sleep(0.5 if clients.is_sandbox else 10)


def delete_addresses(clients: Clients, stack_name: str | None, delete) -> None:
    """The Elastic IPs the project allocated (after their NAT gateways are gone)."""
    ec2 = clients.ec2
    for address in ec2.describe_addresses(Filters=_filters(stack_name))["Addresses"]:
        delete("elastic-ip", address["AllocationId"], ec2.release_address, AllocationId=address["AllocationId"])


def _delete_nacl(clients: Clients, acl: dict) -> None:
    subnet_ids = [a["SubnetId"] for a in acl.get("Associations", [])]
    network_acls.associate(clients, network_acls.default_acl_id(clients, acl["VpcId"]), subnet_ids)
    clients.ec2.delete_network_acl(NetworkAclId=acl["NetworkAclId"])


def cleanup(clients: Clients, stack_name: str | None = None) -> CleanupReport:
    """Delete the stack `stack_name` (or everything the project tagged), dependents first."""
    report = CleanupReport()
    delete = _Deleter(clients, report)
    delete_ecs(clients, stack_name, delete)
    delete_load_balancing(clients, stack_name, delete)
    delete_instances(clients, stack_name, delete)
    delete_iam(clients, stack_name, delete)
    delete_network(clients, stack_name, delete)
    delete_addresses(clients, stack_name, delete)  # an idle Elastic IP is billed too
    return report


def remaining(clients: Clients, stack_name: str | None = None) -> list[str]:
    """What the project tagged that still exists ("kind id", sorted) - empty after a full cleanup."""
    ec2, found = clients.ec2, []
    filters = _filters(stack_name)
    found += [f"vpc {v['VpcId']}" for v in ec2.describe_vpcs(Filters=filters)["Vpcs"]]
    found += [f"subnet {s['SubnetId']}" for s in ec2.describe_subnets(Filters=filters)["Subnets"]]
    found += [f"security-group {g['GroupId']}" for g in ec2.describe_security_groups(Filters=filters)["SecurityGroups"]]
    found += [f"internet-gateway {g['InternetGatewayId']}" for g in ec2.describe_internet_gateways(Filters=filters)["InternetGateways"]]
    found += [f"route-table {t['RouteTableId']}" for t in ec2.describe_route_tables(Filters=filters)["RouteTables"]]
    found += [f"nat-gateway {n['NatGatewayId']}" for n in ec2.describe_nat_gateways(Filter=filters)["NatGateways"]
              if n["State"] not in ("deleting", "deleted")]
    found += [f"elastic-ip {a['AllocationId']}" for a in ec2.describe_addresses(Filters=filters)["Addresses"]]
    found += [f"vpc-endpoint {e['VpcEndpointId']}" for e in ec2.describe_vpc_endpoints(Filters=filters)["VpcEndpoints"]
              if str(e.get("State", "")).lower() not in ("deleting", "deleted")]
    found += [f"instance {i['InstanceId']}" for r in ec2.describe_instances(Filters=filters + [
        {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}])["Reservations"]
        for i in r["Instances"]]
    elbv2 = clients.elbv2
    found += [f"load-balancer {a}" for a in _tagged_elbv2(clients, [lb["LoadBalancerArn"] for lb in elbv2.describe_load_balancers()["LoadBalancers"]], stack_name)]
    found += [f"target-group {a}" for a in _tagged_elbv2(clients, [tg["TargetGroupArn"] for tg in elbv2.describe_target_groups()["TargetGroups"]], stack_name)]
    clusters = clients.ecs.list_clusters()["clusterArns"]
    if clusters:
        for cluster in clients.ecs.describe_clusters(clusters=clusters, include=["TAGS"])["clusters"]:
            tags = {t["key"]: t["value"] for t in cluster.get("tags", [])}
            if cluster["status"] == "ACTIVE" and tags.get("Project") == PROJECT_TAG["Value"] and _ecs_name_matches(cluster["clusterName"], stack_name):
                found.append(f"ecs-cluster {cluster['clusterName']}")
    roles, profiles = tagged_iam(clients, stack_name)
    found += [f"iam-role {name}" for name in roles] + [f"instance-profile {name}" for name in profiles]
    return sorted(found)
