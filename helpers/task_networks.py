"""awsvpc tasks as tables: each task's own network interface, and the `ip` targets that point at
them (notebook 09). A task's private IP is any free address of its subnet, picked anew on every
run (as on AWS): the interfaces table says whether it lies in its subnet instead of printing it."""

from __future__ import annotations

import ipaddress

from helpers.backend import Clients
from helpers.resources.ecs import _container_instance_to_ec2, instance_names, service_tasks
from helpers.tables import Table
from helpers.traffic import Outcome

NO_HOST = "none (Fargate)"  # a Fargate task runs on no container instance


def _name_tags(resources: list[dict], id_key: str) -> dict[str, str]:
    return {r[id_key]: {t["Key"]: t["Value"] for t in r.get("Tags", [])}.get("Name", r[id_key]) for r in resources}


def task_interfaces(clients: Clients, cluster: str, service: str | None) -> list[dict]:
    """One entry per running task (of `service`, or of the whole cluster): its host's name
    (NO_HOST on Fargate) and its interface as EC2 describes it (the id comes from the task's
    `attachments`, type ElasticNetworkInterface)."""
    tasks = service_tasks(clients, cluster, service)
    hosts = _container_instance_to_ec2(clients, cluster, [t["containerInstanceArn"] for t in tasks if t.get("containerInstanceArn")])
    names = instance_names(clients, list(hosts.values()))
    found = []
    for task in tasks:
        details = {d["name"]: d["value"] for a in task.get("attachments", []) if a["type"] == "ElasticNetworkInterface"
                   for d in a["details"]}
        if "networkInterfaceId" not in details:
            continue  # not an awsvpc task: it has no interface of its own
        (eni,) = clients.ec2.describe_network_interfaces(NetworkInterfaceIds=[details["networkInterfaceId"]])["NetworkInterfaces"]
        host = names.get(hosts.get(task["containerInstanceArn"], ""), "-") if task.get("containerInstanceArn") else NO_HOST
        found.append({"host": host, "eni": eni,
                      "task_ip": details["privateIPv4Address"]})
    return found


def task_interfaces_table(clients: Clients, cluster: str, service: str) -> Table:
    """One row per running awsvpc task: the host it runs on, its interface, the subnet (name and
    CIDR), whether the task's IP is its interface's and lies in that subnet, and the interface's
    security groups (names)."""
    found = task_interfaces(clients, cluster, service)
    subnet_ids = sorted({f["eni"]["SubnetId"] for f in found})
    subnets = clients.ec2.describe_subnets(SubnetIds=subnet_ids)["Subnets"] if subnet_ids else []
    subnet_names, cidrs = _name_tags(subnets, "SubnetId"), {s["SubnetId"]: s["CidrBlock"] for s in subnets}
    group_ids = sorted({g["GroupId"] for f in found for g in f["eni"]["Groups"]})
    groups = clients.ec2.describe_security_groups(GroupIds=group_ids)["SecurityGroups"] if group_ids else []
    group_names = {g["GroupId"]: g["GroupName"] for g in groups}
    rows = []
    for f in found:
        eni, subnet_id = f["eni"], f["eni"]["SubnetId"]
        inside = ipaddress.ip_address(eni["PrivateIpAddress"]) in ipaddress.ip_network(cidrs[subnet_id])
        rows.append((f["host"], eni["NetworkInterfaceId"], f"{subnet_names[subnet_id]} ({cidrs[subnet_id]})",
                     "yes" if inside and eni["PrivateIpAddress"] == f["task_ip"] else "NO",
                     ", ".join(sorted(group_names.get(g["GroupId"], g["GroupId"]) for g in eni["Groups"]))))
    rows.sort(key=lambda r: (r[0], r[2], r[4]))
    return Table(("host", "interface", "subnet", "task IP in subnet", "security groups"), tuple(rows))


def ip_targets_table(clients: Clients, stack) -> Table:
    """One row per registered `ip` target: the host and subnet of the task whose IP it is (any
    service's in the stack's cluster; "-" for no running task's), its health with AWS's reason,
    and the target `IP:port` (last: its width varies)."""
    by_ip = {f["task_ip"]: f for f in task_interfaces(clients, stack.cluster_name, None)}  # every task of the cluster
    subnet_names = _name_tags(clients.ec2.describe_subnets(SubnetIds=sorted(
        {f["eni"]["SubnetId"] for f in by_ip.values()}))["Subnets"], "SubnetId") if by_ip else {}
    rows = []
    for d in clients.elbv2.describe_target_health(TargetGroupArn=stack.target_group_arn)["TargetHealthDescriptions"]:
        target, health = d["Target"], d["TargetHealth"]
        task = by_ip.get(target["Id"])
        rows.append((task["host"] if task else "-", subnet_names[task["eni"]["SubnetId"]] if task else "-",
                     health["State"], health.get("Reason") or "-", f"{target['Id']}:{target.get('Port', '-')}"))
    rows.sort(key=lambda r: r[:4])  # not by address: it is any free one, different on every run
    return Table(("task's host", "subnet", "state", "reason", "target (task IP:port)"), tuple(rows))


def answers_summary(outcomes: list[Outcome]) -> str:
    """How many requests were answered, by how many tasks and on which port; anything else counted."""
    answered = [o for o in outcomes if o.kind == "answered"]
    lines = []
    if answered:
        ports = sorted({str(o.host_port) for o in answered})
        lines.append(f"{len(answered)} of {len(outcomes)} requests answered ({', '.join(sorted({str(o.status) for o in answered}))}) "
                     f"by {len({o.task_id for o in answered})} different tasks, each at its own IP on port {', '.join(ports)}")
    others: dict[str, int] = {}
    for o in outcomes:
        if o.kind != "answered":
            others[o.summary()] = others.get(o.summary(), 0) + 1
    lines += [f"{text}: {count} of {len(outcomes)} requests" for text, count in sorted(others.items())]
    return "\n".join(lines)
