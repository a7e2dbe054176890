"""Compact, sorted, deterministic summaries of AWS resources - what a notebook prints instead of
raw boto3 dicts. Instances are named by their `Name` tag (lab-ecs-host-1) so a table reads the
same on every run; what is random by nature (ids, host ports) is shown as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from helpers.backend import Clients
from helpers.facts import NACL_STAR_RULE
# service_tasks is read here by the notebooks' self-checks.
from helpers.resources.ecs import instance_names, service_tasks, task_bindings  # noqa: F401


@dataclass(frozen=True)
class Table:
    """Rows of text cells with a header; prints as an aligned plain-text table."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    title: str = ""

    def __str__(self) -> str:
        widths = [max(len(str(c)) for c in column) for column in zip(self.header, *self.rows)]
        line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
        out = [self.title] if self.title else []
        out += [line(self.header), line("-" * w for w in widths)]
        out += [line(row) for row in self.rows] or ["(none)"]
        return "\n".join(out)

    __repr__ = __str__

    def column(self, name: str) -> list[str]:
        index = self.header.index(name)
        return [row[index] for row in self.rows]


def tasks_table(clients: Clients, cluster: str, service: str | None = None) -> Table:
    """One row per running task: where it runs and which host port ECS gave its container port."""
    rows = [(b.host_name, b.instance_id, b.task_id, b.host_port, b.container_port, b.status)
            for b in task_bindings(clients, cluster, service)]
    return Table(("host", "instance", "task", "host port", "container port", "status"), tuple(rows))


def targets_table(clients: Clients, target_group_arn: str) -> Table:
    """One row per registered target: instance:port and its health, with AWS's reason."""
    descriptions = clients.elbv2.describe_target_health(TargetGroupArn=target_group_arn)["TargetHealthDescriptions"]
    names = instance_names(clients, [d["Target"]["Id"] for d in descriptions if d["Target"]["Id"].startswith("i-")])
    rows = []
    for d in descriptions:
        target, health = d["Target"], d["TargetHealth"]
        rows.append((names.get(target["Id"], target["Id"]), f"{target['Id']}:{target.get('Port', '-')}",
                     health["State"], health.get("Reason") or ""))
    rows.sort(key=lambda r: (r[0], int(r[1].rsplit(":", 1)[1]) if r[1].rsplit(":", 1)[1].isdigit() else 0))
    return Table(("host", "target (instance:port)", "state", "reason"), tuple(rows))


def service_events(clients: Clients, cluster: str, service: str, limit: int = 5) -> list[str]:
    """The newest service events' messages, oldest of them first (as a story reads)."""
    described = clients.ecs.describe_services(cluster=cluster, services=[service])["services"]
    if not described:
        return []
    events = described[0].get("events", [])[:limit]
    return [event["message"] for event in reversed(events)]


def listeners_table(clients: Clients, load_balancer_arn: str) -> Table:
    """One row per listener: the port clients use, and where its default action sends them."""
    listeners = clients.elbv2.describe_listeners(LoadBalancerArn=load_balancer_arn)["Listeners"]
    rows = []
    for listener in listeners:
        action = listener["DefaultActions"][0]
        if action["Type"] == "forward":
            groups = action.get("ForwardConfig", {}).get("TargetGroups") or [{"TargetGroupArn": action["TargetGroupArn"]}]
            where = "forward to " + ", ".join(g["TargetGroupArn"].split("/")[-2] for g in groups)
        else:
            where = action["Type"]
        rows.append((listener["Protocol"], str(listener["Port"]), where))
    rows.sort(key=lambda r: int(r[1]))
    return Table(("protocol", "port", "default action"), tuple(rows))


def security_group_table(clients: Clients, group_id: str) -> Table:
    """A security group's inbound rules, one row per source (sorted)."""
    group = clients.ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    names = {g["GroupId"]: g["GroupName"] for g in clients.ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [group["VpcId"]]}])["SecurityGroups"]}
    rows = []
    for permission in group["IpPermissions"]:
        protocol = {"-1": "all"}.get(permission["IpProtocol"], permission["IpProtocol"])
        low, high = permission.get("FromPort"), permission.get("ToPort")
        ports = "all" if low in (None, -1) else str(low) if low == high else f"{low}-{high}"
        for r in permission.get("IpRanges", []):
            rows.append((protocol, ports, r["CidrIp"], r.get("Description", "")))
        for pair in permission.get("UserIdGroupPairs", []):
            rows.append((protocol, ports, f"{names.get(pair['GroupId'], pair['GroupId'])} (a security group)", pair.get("Description", "")))
    rows.sort()
    return Table(("protocol", "ports", "source", "description"), tuple(rows), title=f"{group['GroupName']} inbound:")


def network_acl_table(clients: Clients, acl_id: str, *, egress: bool = False) -> Table:
    """A network ACL's entries in one direction, in evaluation order (lowest rule number first)."""
    acl = clients.ec2.describe_network_acls(NetworkAclIds=[acl_id])["NetworkAcls"][0]
    rows = []
    for entry in sorted((e for e in acl["Entries"] if e["Egress"] == egress), key=lambda e: e["RuleNumber"]):
        number = "*" if entry["RuleNumber"] == NACL_STAR_RULE else str(entry["RuleNumber"])
        protocol = {"-1": "all", "6": "tcp", "17": "udp"}.get(entry["Protocol"], entry["Protocol"])
        port_range = entry.get("PortRange")
        ports = "all" if protocol == "all" or not port_range else (
            str(port_range["From"]) if port_range["From"] == port_range["To"] else f"{port_range['From']}-{port_range['To']}")
        rows.append((number, protocol, ports, entry.get("CidrBlock", ""), entry["RuleAction"]))
    direction = "outbound" if egress else "inbound"
    return Table(("rule", "protocol", "ports", "cidr" if not egress else "destination", "action"), tuple(rows),
                 title=f"{direction} rules (first match wins):")


def instances_table(clients: Clients, instance_ids: list[str]) -> Table:
    """One row per EC2 instance: its Name tag, id, the public DNS name a browser would use, and
    the private IP the ALB sends traffic to (sorted by name)."""
    if not instance_ids:
        return Table(("host", "instance", "public DNS name", "private IP"), ())
    rows = []
    for reservation in clients.ec2.describe_instances(InstanceIds=sorted(set(instance_ids)))["Reservations"]:
        for instance in reservation["Instances"]:
            tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
            rows.append((tags.get("Name", instance["InstanceId"]), instance["InstanceId"],
                         instance.get("PublicDnsName") or "(none)", instance.get("PrivateIpAddress", "")))
    rows.sort()
    return Table(("host", "instance", "public DNS name", "private IP"), tuple(rows))


def port_mappings_table(clients: Clients, task_definition: str) -> Table:
    """A task definition's port mappings as registered: network mode, container, both ports
    (host port 0 shown as "0 (dynamic)"), protocol. `task_definition`: an ARN or family[:revision].
    In awsvpc and host mode a missing host port is the container port (ECS API: PortMapping)."""
    definition = clients.ecs.describe_task_definition(taskDefinition=task_definition)["taskDefinition"]
    mode = definition.get("networkMode", "bridge")
    rows = []
    for container in definition["containerDefinitions"]:
        for mapping in container.get("portMappings", []):
            host = mapping.get("hostPort", mapping["containerPort"] if mode in ("awsvpc", "host") else 0)
            rows.append((mode, container["name"], str(mapping["containerPort"]),
                         "0 (dynamic)" if not host else str(host), mapping.get("protocol", "tcp")))
    rows.sort()
    # The family, not the revision: revisions keep counting up, even across deregistrations.
    return Table(("network mode", "container", "container port", "host port", "protocol"), tuple(rows),
                 title=f"task definition family {definition['family']}:")


def network_bindings_table(clients: Clients, cluster: str, service: str | None = None) -> Table:
    """One row per running task's network binding: the host it runs on and which host port ECS
    mapped to the container port (the task's `containers[].networkBindings`). Unlike
    `tasks_table` it leaves out task ids, so the rows read the same on every run."""
    tasks = tasks_table(clients, cluster, service)
    keep = [tasks.header.index(name) for name in ("host", "instance", "host port", "container port", "status")]
    return Table(tuple(tasks.header[i] for i in keep), tuple(tuple(row[i] for i in keep) for row in tasks.rows))


def deployments_table(clients: Clients, cluster: str, service: str) -> Table:
    """A service's deployments as `describe_services` lists them (PRIMARY first), with their task
    counts and rollout state. The task definition is named "current" when there is one deployment,
    else "new" or "old" (its revision number keeps counting up from run to run), and the service's deployment configuration is the title."""
    described = clients.ecs.describe_services(cluster=cluster, services=[service])["services"][0]
    deployments = described["deployments"]
    newest = max(int(d["taskDefinition"].rsplit(":", 1)[1]) for d in deployments)
    def label(deployment: dict) -> str:
        if len(deployments) == 1:
            return "current"
        return "new" if int(deployment["taskDefinition"].rsplit(":", 1)[1]) == newest else "old"

    rows = tuple((d["status"], label(d),
                  str(d["desiredCount"]), str(d["pendingCount"]), str(d["runningCount"]), d.get("rolloutState", "-"))
                 for d in deployments)
    configuration = described.get("deploymentConfiguration", {})
    title = (f"deployments of {service} (minimumHealthyPercent {configuration.get('minimumHealthyPercent', 100)}, "
             f"maximumPercent {configuration.get('maximumPercent', 200)}):")
    return Table(("status", "task definition", "desired", "pending", "running", "rollout state"), rows, title=title)
