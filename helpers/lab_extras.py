"""Small helpers for notebooks 06-07: security group chores and printouts that read the same on
every run.

    print(audit_text(lab.clients, stack.vpc_id))          # the audit, in an order ids cannot change
    url = direct_task_url(lab.clients, stack)             # http://<host's public DNS>:<host port>/
    revoke_group_rule(lab.clients, sg_id, (32768, 65535), alb_sg_id)
    print(hosts_table(lab.clients, stack))                # where each ECS host runs, public IP or not
    picture_png(lab.explain(url))                         # the flow's picture, as a PNG

Why `audit_text` and not `format_report(run_audit(...))`: the audit sorts findings by severity
and resource id, and ids are random, so two findings of the same kind on two hosts could swap
places from one run to the next. Here ties are broken by the finding's text with ids left out.
"""

from __future__ import annotations

from helpers.audit import SEVERITIES, AuditReport, format_report, run_audit
from helpers.backend import Clients
from helpers.evaluator.report import without_ids
from helpers.tables import Table, tasks_table


def stable_report(report):
    """The same AuditReport with its findings in an order that does not depend on ids."""
    ordered = sorted(report.findings, key=lambda f: (SEVERITIES.index(f.severity), f.code, without_ids(f.title),
                                                      tuple(without_ids(e) for e in f.evidence)))
    return AuditReport(tuple(ordered), report.vpc_ids, report.region, report.notes)


def audit_text(clients: Clients, vpc_id: str) -> str:
    """`python -m helpers audit --vpc <vpc_id>`, as text, in a stable order."""
    return format_report(stable_report(run_audit(clients, vpc_id)))


def audit_codes(clients: Clients, vpc_id: str) -> list[str]:
    """The audit's finding codes, sorted (one per finding)."""
    return sorted(f.code for f in run_audit(clients, vpc_id).findings)


def direct_task_url(clients: Clients, stack) -> str:
    """A URL that skips the ALB: the first task's host (by the `tasks_table` order) at its public
    DNS name and the task's host port. Raises LookupError when no host has a public name."""
    table = tasks_table(clients, stack.cluster_name, stack.service_name)
    if not table.rows:
        raise LookupError("the service runs no task")
    instance_id, port = table.rows[0][1], table.rows[0][3]
    instance = clients.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    name = instance.get("PublicDnsName")
    if not name:
        raise LookupError(f"{instance_id} has no public DNS name: it is in a private subnet or has no public IP")
    return f"http://{name}:{port}/"


def revoke_group_rule(clients: Clients, group_id: str, ports: tuple[int, int], source_group_id: str) -> bool:
    """Revoke the inbound rule "tcp `ports` from `source_group_id`" from `group_id`; False if it
    is not there. The rule is passed back exactly as DescribeSecurityGroups shows it, with its
    description: AWS would match it without, the sandbox (moto) only with it."""
    group = clients.ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    for permission in group["IpPermissions"]:
        if (permission.get("FromPort"), permission.get("ToPort")) != tuple(ports):
            continue
        pairs = [p for p in permission.get("UserIdGroupPairs", []) if p["GroupId"] == source_group_id]
        if pairs:
            clients.ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=[{
                "IpProtocol": permission["IpProtocol"], "FromPort": ports[0], "ToPort": ports[1], "UserIdGroupPairs": pairs}])
            return True
    return False


def hosts_table(clients: Clients, stack) -> Table:
    """One row per ECS host: its name, subnet kind and CIDR, private IP, and whether it has a public
    IP ("yes"/"none": the address itself is random, and its length would change the table's width)."""
    reservations = clients.ec2.describe_instances(InstanceIds=stack.instance_ids)["Reservations"]
    subnets = {s["SubnetId"]: s["CidrBlock"] for s in clients.ec2.describe_subnets(
        SubnetIds=stack.public_subnet_ids + stack.private_subnet_ids)["Subnets"]}
    rows = []
    for instance in (i for r in reservations for i in r["Instances"]):
        tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
        kind = "public" if instance["SubnetId"] in stack.public_subnet_ids else "private"
        rows.append((tags.get("Name", instance["InstanceId"]), f"{kind} {subnets.get(instance['SubnetId'], '?')}",
                     instance.get("PrivateIpAddress", "-"), "yes" if instance.get("PublicIpAddress") else "none"))
    rows.sort()
    return Table(("host", "subnet", "private IP", "public IP"), tuple(rows))


class PicturePng:
    """A flow picture shown as PNG, with the picture's one-line summary as its text.

    Why not the SVG that `Explained.picture()` shows: Graphviz writes nodes in the order of
    their ids, and ids (instances, subnets) are random, so with targets on two hosts the SVG's
    element order changes from run to run, and nbval compares SVG text. nbval does not compare
    PNG images; it does compare this object's text line (nodes, edges, blocking codes)."""

    def __init__(self, diagram) -> None:
        self.diagram = diagram

    def _repr_png_(self) -> bytes:
        return self.diagram.to_graphviz().pipe(format="png")

    def __repr__(self) -> str:
        # The diagram's own line minus its node and edge counts (they follow the number of
        # registered targets, which changes while ECS replaces tasks).
        codes = sorted({code for edge in self.diagram.blocked_edges for code in edge.codes})
        return f"<picture: {self.diagram.title.strip()}" + (f"; blocked: {', '.join(codes)}>" if codes else ">")


def picture_png(explained, detail: str = "compact") -> PicturePng:
    """`explained.picture(detail)` as a PNG (see PicturePng for why)."""
    return PicturePng(explained.picture(detail))


def answered_line(lab, url: str, n: int = 12, *, timeout: float = 10.0) -> str:
    """Send `n` requests; one line: how many were answered, and what the others got. (Which
    task answered which request is left out: it depends on timing, not on configuration.)"""
    from collections import Counter

    from helpers.traffic import request_many

    outcomes = request_many(url, n, proxy=lab.socks_proxy, timeout=timeout)
    answered = [o for o in outcomes if o.kind == "answered"]
    statuses = ", ".join(f"{s}" for s in sorted({f"{o.status} {o.reason}".strip() for o in answered}))
    line = f"{len(answered)} of {n} requests answered" + (f" ({statuses})" if answered else "")
    others = Counter(o.summary() for o in outcomes if o.kind != "answered")
    return "\n".join([line] + [f"{count} of {n}: {text}" for text, count in sorted(others.items())])
