"""`python -m helpers audit`: hardening findings for a VPC, computed with the evaluator.

    report = run_audit(clients, vpc_id)      # reads only: the snapshot, IAM GetRole, ECS Describe*
    print(format_report(report))             # sorted by severity, then resource; deterministic
    findings = audit(snap, service_linked_role_present=True, services=[])   # pure, for tests

Each finding is computed over whole sets - every source address and every port at once, with the
evaluator's own NACL (first match), SG and route logic (`helpers.evaluator.exposure`) - not by
matching one rule's text at a time. So "all traffic from 0.0.0.0/0 at rule 100" and "tcp 0-65535
at 100 + udp ... at 110" are the same finding, and a host is "open" only when the route, its
public IP, the NACL (both ways) and its SG all let the same packets through.

Exit status of the command: 0 no finding at or above --fail-on (default high), 1 findings, 2 bad input.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass

from botocore.exceptions import ClientError

from helpers.backend import Clients
from helpers.evaluator import agent_reaches_ecs, read_snapshot
from helpers.evaluator.exposure import alb_leg_gaps, host_exposure, sg_grants
from helpers.evaluator.nacl import entry_text, evaluate_nacl, shadowed_entries
from helpers.evaluator.ports import ALL_PORTS, EVERY_ADDRESS, cidr_range, intervals_minus, merge_intervals, port_text
from helpers.evaluator.routes import internet_route
from helpers.evaluator.snapshot import Instance, LoadBalancer, NetworkAcl, Snapshot
from helpers.explain import BadInput, clients_for
from helpers.facts import DYNAMIC_HOST_PORTS

SEVERITIES = ("high", "medium", "low")
EXIT_OK, EXIT_FINDINGS, EXIT_BAD_INPUT = 0, 1, 2
SERVICE_LINKED_ROLE = "AWSServiceRoleForECS"
# The range the ECS agent picks dynamic host ports from by default (Linux ip_local_port_range,
# FACTS.md). A target that has not registered yet may get any of them, so the ALB leg is checked
# over the whole range, not over the ports in use today.
AGENT_PORT_RANGE = (32768, 60999)


@dataclass(frozen=True)
class Finding:
    code: str  # ours, so LAB_ (FACTS.md: AWS's codes are kept for AWS's meanings)
    severity: str  # "high" | "medium" | "low"
    resource_id: str
    title: str
    evidence: tuple[str, ...]  # the settings that make it true, in words
    fix: str


@dataclass(frozen=True)
class AuditReport:
    findings: tuple[Finding, ...]
    vpc_ids: tuple[str, ...]
    region: str = ""
    notes: tuple[str, ...] = ()  # what could not be checked, and why

    def at_or_above(self, severity: str) -> list[Finding]:
        worst = SEVERITIES.index(severity)
        return [f for f in self.findings if SEVERITIES.index(f.severity) <= worst]

    def summary(self) -> str:
        if not self.findings:
            return "no findings"
        counts = [f"{n} {s}" for s in SEVERITIES if (n := sum(f.severity == s for f in self.findings))]
        plural = "s" if len(self.findings) > 1 else ""
        return f"{len(self.findings)} finding{plural}: {', '.join(counts)}"


@dataclass(frozen=True)
class _Scope:
    vpc_ids: tuple[str, ...]
    hosts: tuple[Instance, ...]  # the ECS container instances in these VPCs
    albs: tuple[LoadBalancer, ...]


# -- the pure audit ---------------------------------------------------------------------------------
def audit(snapshot: Snapshot, *, service_linked_role_present: bool | None, services: list[dict] | None,
          vpc_id: str | None = None, ecs_host_ids=()) -> list[Finding]:
    """Every finding for one VPC (or every VPC in the snapshot), sorted by severity then resource.

    service_linked_role_present: None when IAM could not be read (the check is skipped).
    services: DescribeServices results (for roleArn and which target groups ECS feeds).
    ecs_host_ids: container instances' EC2 ids; hosts running tasks are found in the snapshot."""
    snap = snapshot
    scope = _scope(snap, vpc_id, ecs_host_ids)
    services = _services_in(snap, scope, services or [])
    findings = (_nacl_allow_all_first(snap, scope) + _hosts_open_to_internet(snap, scope)
                + _host_sg_ephemeral_not_from_alb(snap, scope) + _hosts_in_public_subnets(snap, scope)
                + _alb_sg_extra_ports(snap, scope) + _nacl_breaks_target_leg(snap, scope, services)
                + _hosts_cannot_reach_ecs(snap, scope)
                + _service_roles(service_linked_role_present, services))
    return sorted(findings, key=lambda f: (SEVERITIES.index(f.severity), f.resource_id, f.code))


def _scope(snap: Snapshot, vpc_id: str | None, ecs_host_ids) -> _Scope:
    vpc_ids = (vpc_id,) if vpc_id else tuple(sorted(snap.vpc_by_id))
    ids = {t.instance_id for t in snap.tasks if t.instance_id} | set(ecs_host_ids)
    hosts = tuple(sorted((snap.instance_by_id[i] for i in ids if i in snap.instance_by_id
                          and snap.instance_by_id[i].vpc_id in vpc_ids), key=lambda i: i.id))
    albs = tuple(sorted((lb for lb in snap.load_balancers if lb.vpc_id in vpc_ids), key=lambda lb: lb.arn))
    return _Scope(vpc_ids, hosts, albs)


def _services_in(snap: Snapshot, scope: _Scope, services: list[dict]) -> list[dict]:
    """Services behind a target group in scope (or, auditing everything, every service)."""
    if len(scope.vpc_ids) == len(snap.vpcs):
        return services
    return [s for s in services if any(snap.tg_by_arn.get(lb.get("targetGroupArn", "")) is not None
                                       and snap.tg_by_arn[lb["targetGroupArn"]].vpc_id in scope.vpc_ids
                                       for lb in s.get("loadBalancers", []))]


def _vpc_addresses(snap: Snapshot, vpc_id: str | None) -> list[tuple[int, int]]:
    vpc = snap.vpc_by_id.get(vpc_id or "")
    return merge_intervals(cidr_range(c) for c in vpc.cidr_blocks) if vpc else []


# -- 5-4: an allow-all NACL rule ahead of any deny ------------------------------------------------------
def _path_nacls(snap: Snapshot, scope: _Scope) -> list[tuple[NetworkAcl, list[str]]]:
    """The NACLs of the subnets on the path (the ALBs' and the ECS hosts'), with those subnets."""
    subnets = {h.subnet_id for h in scope.hosts if h.subnet_id} | {s for lb in scope.albs for s in lb.subnet_ids}
    by_acl: dict[str, tuple[NetworkAcl, list[str]]] = {}
    for subnet_id in sorted(subnets):
        acl = snap.nacl_by_subnet.get(subnet_id)
        if acl is not None:
            by_acl.setdefault(acl.id, (acl, []))[1].append(subnet_id)
    return [by_acl[k] for k in sorted(by_acl)]


def _nacl_allow_all_first(snap: Snapshot, scope: _Scope) -> list[Finding]:
    findings = []
    for acl, subnets in _path_nacls(snap, scope):
        # Every inbound (address x port) asked at once: if no part of it reaches a deny, the
        # NACL filters nothing and the SGs are the only filter left (FACTS.md).
        result = evaluate_nacl(snap, acl, False, EVERY_ADDRESS, ALL_PORTS)
        if not result.ok:
            continue
        evidence = [f"inbound rule {e.label} allows {entry_text(e)}" for e, _ in result.allowed]
        evidence.append("it decides every inbound packet before any deny is reached"
                        + "".join(f"; rule {e.label} ({entry_text(e)}) can never match" for e, _ in shadowed_entries(acl, False)))
        evidence.append(f"associated with {', '.join(subnets)}")
        findings.append(Finding(
            "LAB_NACL_ALLOW_ALL_FIRST", "medium", acl.id,
            f"NACL {acl.id} admits all inbound traffic from anywhere ahead of any deny (the source's 5-4)",
            tuple(evidence),
            "give these subnets a NACL that admits only what they serve - ALB subnets: the listener ports from "
            "0.0.0.0/0 and the targets' replies on 1024-65535; host subnets: tcp 32768-65535 from the ALB subnets' "
            "CIDRs and replies on 1024-65535 to them (helpers.hardening.harden does this)"))
    return findings


# -- ECS hosts reachable from the internet ---------------------------------------------------------------
def _hosts_open_to_internet(snap: Snapshot, scope: _Scope) -> list[Finding]:
    findings = []
    for host in scope.hosts:
        exposure = host_exposure(snap, host)
        if not exposure.reachable:
            continue
        reach = exposure.lines()
        more = f" (+{len(reach) - 1} more)" if len(reach) > 1 else ""
        findings.append(Finding(
            "LAB_HOST_OPEN_TO_INTERNET", "high", host.id,
            f"ECS host {host.id} is reachable from the internet: {reach[0]}{more}",
            tuple(f"reachable: {line}" for line in reach) + exposure.evidence,
            "let the ALB be the only way in: remove the SG rules that admit internet sources, and run the hosts in "
            "private subnets without public IPs (the source's 6-1 and 6-2)"))
    return findings


# -- 6-1: the host SG admits the dynamic host ports only from the ALB's SG ----------------------------------
def _host_sg_ephemeral_not_from_alb(snap: Snapshot, scope: _Scope) -> list[Finding]:
    findings = []
    low, high = DYNAMIC_HOST_PORTS
    for group_id in sorted({g for h in scope.hosts for g in h.group_ids}):
        group = snap.sg_by_id.get(group_id)
        if group is None:
            continue
        alb_groups = {g for lb in scope.albs if lb.vpc_id == group.vpc_id for g in lb.group_ids}
        grants = [g for g in sg_grants(group) if g.ports[0] <= high and g.ports[1] >= low
                  and g.source_group not in alb_groups]
        if not grants:
            continue
        inside = _vpc_addresses(snap, group.vpc_id)
        # Anyone outside the VPC is worse than a neighbour inside it.
        outside = any(g.cidr and not any(lo <= a and b <= hi for lo, hi in inside for a, b in [cidr_range(g.cidr)])
                      for g in grants)
        albs = ", ".join(sorted(alb_groups)) or "the ALB's SG"
        findings.append(Finding(
            "LAB_HOST_SG_EPHEMERAL_NOT_FROM_ALB", "high" if outside else "medium", group.id,
            f"host SG {group.id} admits dynamic host ports ({low}-{high}) from sources other than the ALB's SG",
            tuple(g.words for g in grants),
            f"remove these rules; keep tcp {low}-{high} from {albs} only (the ALB guide: targets admit the load "
            f"balancer's SG)"))
    return findings


# -- the agent must reach ECS ---------------------------------------------------------------------------------
def _hosts_cannot_reach_ecs(snap: Snapshot, scope: _Scope) -> list[Finding]:
    """ECS hosts whose agent has no way to the ECS endpoints (FACTS.md "The agent must reach ECS"):
    they show agentConnected false and get no new tasks. (An instance that never registered is not
    known as an ECS host here: `explain i-...` asks about any instance.)"""
    findings = []
    for host in scope.hosts:
        if host.state != "running":
            continue
        reach = agent_reaches_ecs(snap, host.id)
        if reach.reachable:
            continue
        findings.append(Finding(
            "LAB_HOST_CANNOT_REACH_ECS", "high", host.id,
            f"the ECS agent on {host.id} cannot reach ECS over HTTPS: no new tasks will be placed on it",
            tuple(e.message for e in reach.explanations),
            "; ".join(dict.fromkeys(e.fix for e in reach.explanations))
            + " (or give its subnets a NAT gateway or interface endpoints for ecs, ecs-agent and ecs-telemetry)"))
    return findings


# -- 6-2: ECS hosts in public subnets while the ALB is internet-facing ---------------------------------------
def _hosts_in_public_subnets(snap: Snapshot, scope: _Scope) -> list[Finding]:
    findings = []
    for host in scope.hosts:
        facing = [lb.name for lb in scope.albs if lb.vpc_id == host.vpc_id and lb.scheme == "internet-facing"]
        route = internet_route(snap, host.subnet_id) if host.subnet_id else None
        if not facing or route is None:
            continue
        findings.append(Finding(
            "LAB_HOST_IN_PUBLIC_SUBNET", "medium", host.id,
            f"ECS host {host.id} runs in a public subnet although ALB {', '.join(facing)} is internet-facing (the source's 6-2)",
            (f"{host.subnet_id}: route table {route.table_id} sends {', '.join(route.destinations)} to {route.igw_id}",
             f"public IP: {host.public_ip or 'none'}"),
            f"run the hosts in private subnets (no route to {route.igw_id}, no public IP) and keep only the ALB in public "
            f"subnets; with StackSpec(hosts_in='private') the stack is built that way"))
    return findings


# -- the ALB's SG admits more than its listener ports -----------------------------------------------------
def _alb_sg_extra_ports(snap: Snapshot, scope: _Scope) -> list[Finding]:
    findings = []
    for lb in scope.albs:
        listening = merge_intervals((li.port, li.port) for li in snap.listeners_by_lb.get(lb.arn, ()))
        names = ", ".join(str(lo) for lo, _ in listening) or "no port"
        for group_id in sorted(lb.group_ids):
            group = snap.sg_by_id.get(group_id)
            if group is None:
                continue
            extra = []
            for grant in sg_grants(group):
                rest = intervals_minus([grant.ports], listening)
                if rest:
                    extra.append((grant, rest))
            if not extra:
                continue
            ports = ", ".join(port_text(lo, hi) for lo, hi in merge_intervals(iv for _, rest in extra for iv in rest))
            findings.append(Finding(
                "LAB_ALB_SG_EXTRA_PORTS", "medium", group_id,
                f"SG {group_id} of ALB {lb.name} admits tcp {ports}, but the ALB listens only on {names}",
                tuple(f"{g.words} (beyond the listeners: {', '.join(port_text(*iv) for iv in rest)})" for g, rest in extra),
                f"admit only the listener port(s) {names} inbound; a port with no listener serves nobody"))
    return findings


# -- NACLs that break the ALB-to-target leg (504s) ---------------------------------------------------------
def _nacl_breaks_target_leg(snap: Snapshot, scope: _Scope, services: list[dict]) -> list[Finding]:
    gaps_by_acl: dict[str, list] = {}
    fed_by_ecs = {lb.get("targetGroupArn") for s in services for lb in s.get("loadBalancers", [])}
    for lb in scope.albs:
        ports_of: dict[str, set] = {}
        for tg in snap.target_groups_of(lb.arn):
            for record in snap.targets_by_group.get(tg.arn, ()):
                ports_of.setdefault(record.id, set()).add((record.port, record.port))
                if (record.id, record.port) in snap.binding_index:
                    ports_of[record.id].add(AGENT_PORT_RANGE)
            if tg.arn in fed_by_ecs:  # ECS may place the next task on any host, on any port of the range
                for host in (h for h in scope.hosts if h.vpc_id == lb.vpc_id):
                    ports_of.setdefault(host.id, set()).add(AGENT_PORT_RANGE)
        for target_id in sorted(ports_of):
            inst = snap.instance_by_id.get(target_id)
            if inst is None:  # ip targets (awsvpc tasks) are not audited here
                continue
            for gap in alb_leg_gaps(snap, lb, inst, merge_intervals(ports_of[target_id])):
                if gap not in gaps_by_acl.setdefault(gap.acl_id, []):
                    gaps_by_acl[gap.acl_id].append(gap)
    findings = []
    for acl_id in sorted(gaps_by_acl):
        gaps = gaps_by_acl[acl_id]
        returns = any(g.reply for g in gaps)
        fixes = sorted({f"{'outbound' if g.egress else 'inbound'} allow tcp {g.ports} {'to' if g.egress else 'from'} "
                        f"{g.peer_cidr}" for g in gaps})
        findings.append(Finding(
            "LAB_NACL_BREAKS_TARGET_LEG", "high", acl_id,
            f"NACL {acl_id} blocks {'the return path of ' if returns else ''}the ALB-to-target leg: "
            f"requests would end in 504 Gateway Timeout",
            tuple(sorted(g.text() for g in gaps)),
            f"add to {acl_id}, numbered below the rules that deny them: {'; '.join(fixes)} "
            f"(NACLs are stateless: replies go to the ALB's ephemeral ports 1024-65535)"))
    return findings


# -- 6-3: the ECS service-linked role ------------------------------------------------------------------------
def _service_roles(present: bool | None, services: list[dict]) -> list[Finding]:
    findings = []
    if present is False:
        findings.append(Finding(
            "LAB_NO_ECS_SERVICE_LINKED_ROLE", "high", SERVICE_LINKED_ROLE,
            f"the ECS service-linked role {SERVICE_LINKED_ROLE} does not exist: ECS cannot register tasks with the "
            f"ALB (the source's 6-3)",
            (f"iam:GetRole {SERVICE_LINKED_ROLE}: NoSuchEntity",),
            "aws iam create-service-linked-role --aws-service-name ecs.amazonaws.com (ECS also creates it with the "
            "first cluster or service, if the caller may)"))
    for service in sorted(services, key=lambda s: s.get("serviceArn", "")):
        if service.get("roleArn"):
            findings.append(Finding(
                "LAB_ECS_LEGACY_SERVICE_ROLE", "low", service.get("serviceArn", service.get("serviceName", "?")),
                f"service {service.get('serviceName', '?')} uses a legacy per-service role instead of {SERVICE_LINKED_ROLE}",
                (f"roleArn: {service['roleArn']}",),
                # ECS guide, "Phased out AWS managed IAM policies": AmazonEC2ContainerServiceRole
                # is replaced by the ECS service-linked role. UpdateService cannot drop `role`.
                f"recreate the service without `role`; ECS then uses {SERVICE_LINKED_ROLE} (the AmazonEC2ContainerServiceRole "
                f"policy behind per-service roles is phased out)"))
    return findings


# -- reading through boto3 --------------------------------------------------------------------------------------
def _service_linked_role(clients: Clients) -> tuple[bool | None, str | None]:
    """(present?, a note when IAM could not be read)."""
    try:
        clients.iam.get_role(RoleName=SERVICE_LINKED_ROLE)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code == "NoSuchEntity":
            return False, None
        return None, f"could not read IAM role {SERVICE_LINKED_ROLE} ({code}): the service-linked role was not checked"
    return True, None


def _ecs_reads(clients: Clients) -> tuple[list[dict], list[str]]:
    """Every service (DescribeServices) and every container instance's EC2 id, in every cluster."""
    ecs = clients.ecs
    services, hosts = [], []
    for cluster in ecs.get_paginator("list_clusters").paginate().build_full_result().get("clusterArns", []):
        arns = ecs.get_paginator("list_services").paginate(cluster=cluster).build_full_result().get("serviceArns", [])
        for start in range(0, len(arns), 10):  # DescribeServices takes up to 10
            services += ecs.describe_services(cluster=cluster, services=arns[start:start + 10]).get("services", [])
        cis = ecs.get_paginator("list_container_instances").paginate(cluster=cluster).build_full_result().get(
            "containerInstanceArns", [])
        for start in range(0, len(cis), 100):  # DescribeContainerInstances takes up to 100
            described = ecs.describe_container_instances(cluster=cluster, containerInstances=cis[start:start + 100])
            hosts += [ci["ec2InstanceId"] for ci in described.get("containerInstances", []) if ci.get("ec2InstanceId")]
    return services, hosts


def run_audit(clients: Clients, vpc_id: str | None = None) -> AuditReport:
    """Read the region (read-only: works with a read-only role on AWS) and audit it.
    Raises helpers.explain.BadInput for a VPC that is not there."""
    snap = read_snapshot(clients)
    if vpc_id is not None and vpc_id not in snap.vpc_by_id:
        known = ", ".join(sorted(snap.vpc_by_id)) or "none"
        raise BadInput(f"no VPC {vpc_id} in {clients.region} (VPCs: {known})")
    present, note = _service_linked_role(clients)
    services, hosts = _ecs_reads(clients)
    findings = audit(snap, service_linked_role_present=present, services=services, vpc_id=vpc_id, ecs_host_ids=hosts)
    vpc_ids = (vpc_id,) if vpc_id else tuple(sorted(snap.vpc_by_id))
    return AuditReport(tuple(findings), vpc_ids, clients.region, (note,) if note else ())


# -- output ------------------------------------------------------------------------------------------------------
def _short(resource_id: str) -> str:
    return resource_id.split(":", 5)[-1] if resource_id.startswith("arn:") else resource_id


def format_report(report: AuditReport) -> str:
    """One block per finding (severity, code, resource, what, evidence, fix), then the summary."""
    lines = [f"audit of {', '.join(report.vpc_ids) or 'no VPC'}" + (f" ({report.region})" if report.region else "")]
    for f in report.findings:
        lines += ["", f"[{f.severity.upper()}] {f.code}  {_short(f.resource_id)}", f"  {f.title}"]
        lines += [f"  - {e}" for e in f.evidence]
        lines.append(f"  fix: {f.fix}")
    if report.notes:
        lines += [""] + [f"note: {n}" for n in report.notes]
    lines += ["", report.summary()]
    return "\n".join(lines)


def report_to_json(report: AuditReport) -> dict:
    counts = {s: sum(f.severity == s for f in report.findings) for s in SEVERITIES}
    return {"vpc_ids": list(report.vpc_ids), "region": report.region, "summary": report.summary(),
            "counts": counts, "notes": list(report.notes),
            "findings": [{**asdict(f), "evidence": list(f.evidence)} for f in report.findings]}


def run_audit_command(args) -> int:
    try:
        report = run_audit(clients_for(args.endpoint_url), args.vpc)
    except BadInput as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.json:
        print(json.dumps(report_to_json(report), indent=2, sort_keys=True))
    else:
        print(format_report(report))
    return EXIT_FINDINGS if report.at_or_above(args.fail_on) else EXIT_OK
