"""Small helpers for notebooks 05-07: printouts that read the same on every run.

    print(audit_text(lab.clients, stack.vpc_id))          # the audit, in an order ids cannot change
    print(hosts_table(lab.clients, stack))                # where each ECS host runs, public IP or not
    picture_png(lab.explain(url))                         # the flow's picture, as a PNG

Why `audit_text` and not `format_report(run_audit(...))`: the audit sorts findings by severity
and resource id, and ids are random, so two findings of the same kind on two hosts could swap
places from one run to the next. Here ties are broken by the finding's text with ids left out.
"""

from __future__ import annotations

from collections import Counter

from helpers.audit import SEVERITIES, AuditReport, format_report, run_audit
from helpers.backend import Clients
from helpers.evaluator.report import without_ids
from helpers.tables import Table
from helpers.traffic import request_many


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


def picture_png(explained, detail: str = "compact", targets: str = "each") -> PicturePng:
    """`explained.picture(detail, targets)` as a PNG (see PicturePng for why)."""
    return PicturePng(explained.picture(detail, targets))


def answered_line(lab, url: str, n: int = 12, *, timeout: float = 10.0) -> str:
    """Send `n` requests; one line: how many were answered, and what the others got. (Which
    task answered which request is left out: it depends on timing, not on configuration.)"""
    outcomes = request_many(url, n, proxy=lab.socks_proxy, timeout=timeout)
    answered = [o for o in outcomes if o.kind == "answered"]
    statuses = ", ".join(f"{s}" for s in sorted({f"{o.status} {o.reason}".strip() for o in answered}))
    line = f"{len(answered)} of {n} requests answered" + (f" ({statuses})" if answered else "")
    others = Counter(o.summary() for o in outcomes if o.kind != "answered")
    return "\n".join([line] + [f"{count} of {n}: {text}" for text, count in sorted(others.items())])
