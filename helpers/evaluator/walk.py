"""Walk a flow through the network hop by hop, in the order AWS applies each setting.

    evaluate(snap, Flow(alb_dns, 80))        -> Verdict   the whole path, every blocker on it
    evaluate_alb_to_target(snap, lb, i, p)  -> TargetLeg the ALB-to-target part alone
    route_request(snap, listener, path=...) -> RuleMatch which listener rule takes one request

Order for an internet client and an internet-facing ALB (Reachability Analyzer's forward and
return path components):
    internet gateway -> each ALB subnet: route back to the IGW, NACL in (+ NACL out for the
    reply) -> ALB security groups in -> listener -> rule -> target group(s) -> each target:
    ALB SG out, NACLs between the ALB's subnets and the target's, target SG in -> the ECS task
    bound to instance:port -> its container port.

Choices where AWS documents no single answer (say so to learners):
- An ALB has a node in each of its subnets and DNS hands out all of them, so a client may reach
  any node, and every node may send to every target (cross-zone load balancing is always on for
  ALBs). The walk checks each ALB subnet and reports a blocker found in any of them.
- Replies go to the peer's ephemeral ports. Clients and the ALB (which remaps source ports,
  FACTS.md) use 1024-65535, so a stateless NACL must admit all of 1024-65535 for replies; the
  explanation names the part that is missing.
- When no ENI of the ALB is visible (the sandbox), a node's address is "somewhere in its subnet",
  so a CIDR rule must cover the whole subnet to admit it.
"""

from __future__ import annotations

import re
from functools import lru_cache

from helpers.evaluator.checks import (
    Endpoint, FlowPath, alb_endpoint, alb_node, check_crossing, check_local_route, check_sgs, enter_from_internet,
    instance_endpoint, internet_client, leave_to_internet, memo, subnets_in_order,
)
from helpers.evaluator.model import INTERNET_CLIENT_IP, Explanation, Flow, Hop, RuleMatch, TargetLeg, Verdict
from helpers.evaluator.ports import addresses_text, cidr_range, ip_int, is_ipv4
from helpers.evaluator.snapshot import Instance, LoadBalancer, Snapshot
from helpers.facts import DYNAMIC_HOST_PORTS

# A registered target, in explanations that hold for every target alike (the digest's words).
_TARGET_ROLE, _TARGET_KIND = "the target's", "the target"


def _target_order(snap, target_id: str, port: int) -> tuple:
    """Targets by their instance's Name tag, then port: a stable order (instance ids are random)."""
    instance = snap.instance_by_id.get(target_id)
    return (instance.name if instance and instance.name else target_id, target_id, port)


# -- sources and destinations -------------------------------------------------------------------
def _source_endpoint(snap: Snapshot, source: str) -> tuple[Endpoint | None, str]:
    """The flow's source as an endpoint, and a sentence saying how it was read."""
    if source == "internet":
        return internet_client(), f"source: an internet client ({INTERNET_CLIENT_IP})"
    if source.startswith("i-"):
        inst = snap.instance_by_id.get(source)
        return (instance_endpoint(inst), f"source: {inst.id}") if inst and inst.private_ip else (None, f"no instance {source}")
    if source.startswith("sg-"):
        members = sorted(i.id for i in snap.instances if source in i.group_ids and i.private_ip and i.state == "running")
        if members:
            inst = snap.instance_by_id[members[0]]
            return instance_endpoint(inst), f"source: {inst.id}, a member of {source}"
        for lb in sorted(snap.load_balancers, key=lambda lb: lb.arn):
            if source in lb.group_ids and lb.subnet_ids:
                return alb_node(snap, lb, subnets_in_order(snap, lb.subnet_ids)[0]), f"source: ALB {lb.name}, a member of {source}"
        return None, f"{source} has no running member to start from"
    if is_ipv4(source):
        inst = snap.instance_by_private_ip.get(source)
        if inst is not None:
            return instance_endpoint(inst), f"source: {inst.id} (owns {source})"
        return internet_client(source), f"source: {source}, outside every VPC"
    return None, f"cannot read source {source!r}: use 'internet', an IPv4 address, i-... or sg-..."


def _unresolved(flow: Flow, resource: str, message: str) -> Verdict:
    return Verdict(flow, "unresolved", explanations=(Explanation(
        "LAB_UNRESOLVED", resource, message,
        "use an ALB DNS name, an EC2 public DNS name or IP, or a private IP from this region"),))


def evaluate(snapshot: Snapshot, flow: Flow) -> Verdict:
    """The whole path of one flow, with every blocker on it."""
    return memo(snapshot, ("flow", flow), lambda: _evaluate(snapshot, flow))


def _evaluate(snap: Snapshot, flow: Flow) -> Verdict:
    dest = snap.resolve(flow.destination)
    if dest is None:
        return _unresolved(flow, flow.destination, f"{flow.destination} is not an ALB, instance or address in this region")
    source, how = _source_endpoint(snap, flow.source)
    if source is None:
        return _unresolved(flow, flow.source, how)
    path = FlowPath()
    path.hop("source", source.resource_id, True, how)
    if dest.kind == "load_balancer":
        return _to_load_balancer(snap, flow, source, snap.lb_by_arn[dest.resource_id], path)
    return _to_instance(snap, flow, source, snap.instance_by_id[dest.resource_id], dest.via, path)


def _to_instance(snap: Snapshot, flow: Flow, source: Endpoint, inst: Instance, via: str, path: FlowPath) -> Verdict:
    port = flow.port
    dest = instance_endpoint(inst)
    public = via in ("public_ip", "public_dns")
    address = inst.public_ip if public else inst.private_ip
    path.hop("resolve", inst.id, True, f"{flow.destination} is {'the public' if public else 'the private'} address {address} of {inst.id}")
    if inst.state != "running":
        path.hop("instance", inst.id, False, f"{inst.id} is {inst.state}")
        path.block("BAD_STATE", inst.id, f"instance {inst.id} is {inst.state}", f"start {inst.id}")
    if public:
        client = source
        if not source.on_internet:
            client = leave_to_internet(path, snap, source, port, f"{inst.public_ip} ({inst.id})")
        if client is not None:
            enter_from_internet(path, snap, client, dest, port)
            check_sgs(path, snap, dest, egress=False, peer=client, ports=(port, port))
    elif source.on_internet:
        path.hop("igw", inst.id, False, f"{address} is a private address: the internet cannot route to it")
        path.block("IGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS", inst.id,
                   f"{address} is a private IP of {inst.id}; an internet gateway only forwards to public IPs",
                   f"connect to {inst.id}'s public IP or DNS name (give it one), or go through the ALB")
    elif source.vpc_id != inst.vpc_id:
        path.block("NO_ROUTE_TO_DESTINATION", inst.vpc_id or inst.id,
                   f"{source.label} is in {source.vpc_id}, {inst.id} in {inst.vpc_id}: no route between them",
                   "peer the VPCs, or connect to a public address")
    else:
        check_sgs(path, snap, source, egress=True, peer=dest, ports=(port, port))
        check_local_route(path, snap, source, dest)
        check_crossing(path, snap, source, dest, port)
        check_sgs(path, snap, dest, egress=False, peer=source, ports=(port, port))
    if path.explanations:
        return Verdict(flow, "dropped", tuple(path.hops), tuple(path.explanations), instance_id=inst.id, instance_port=port)
    _binding_hops(path, snap, inst.id, port, inst.vpc_id or "")
    return Verdict(flow, "instance", tuple(path.hops), (), instance_id=inst.id, instance_port=port)


def _to_load_balancer(snap: Snapshot, flow: Flow, source: Endpoint, lb: LoadBalancer, path: FlowPath) -> Verdict:
    port = flow.port
    subnets = subnets_in_order(snap, lb.subnet_ids)
    path.hop("resolve", lb.arn, True, f"{flow.destination} is ALB {lb.name} ({lb.scheme}) with nodes in {', '.join(subnets)}")
    client = source
    if lb.scheme == "internal" and source.on_internet:
        path.hop("igw", lb.arn, False, f"ALB {lb.name} is internal: its nodes have private addresses only")
        path.block("LAB_INTERNAL_LOAD_BALANCER", lb.arn,
                   f"ALB {lb.name} is internal; {source.label} on the internet cannot reach it",
                   "use an internet-facing ALB in public subnets, or connect from inside the VPC")
    elif lb.scheme == "internal":
        if source.vpc_id != lb.vpc_id:
            path.block("NO_ROUTE_TO_DESTINATION", lb.vpc_id, f"{source.label} is not in {lb.vpc_id}",
                       "connect from inside the ALB's VPC (or a peered one)")
        for subnet_id in subnets:
            node = alb_node(snap, lb, subnet_id)
            check_sgs(path, snap, source, egress=True, peer=node, ports=(port, port))
            check_local_route(path, snap, source, node)
            check_crossing(path, snap, source, node, port)
    else:
        if not source.on_internet:
            client = leave_to_internet(path, snap, source, port, f"ALB {lb.name}'s public addresses")
        if client is not None:
            for subnet_id in subnets:
                enter_from_internet(path, snap, client, alb_node(snap, lb, subnet_id), port)
    if client is not None:
        # The SGs see the client, not the node: check once for the ALB's ENIs.
        check_sgs(path, snap, alb_endpoint(lb), egress=False, peer=client, ports=(port, port))
    network_blocked = bool(path.explanations)

    listener = next((li for li in snap.listeners_by_lb.get(lb.arn, ()) if li.port == port), None)
    if listener is None:
        ports = ", ".join(str(li.port) for li in snap.listeners_by_lb.get(lb.arn, ())) or "none"
        path.hop("listener", lb.arn, False, f"ALB {lb.name} has no listener on port {port} (listeners: {ports})")
        # What a client sees at a port the SG admits but no listener serves is not documented by
        # AWS (FACTS.md, "Unconfirmed"); the sandbox lets it time out, and says so.
        unconfirmed = "" if network_blocked else (
            "; AWS does not document whether a client then sees a timeout or a refusal - the sandbox lets it time out")
        path.block("ELBV2_LISTENERS_MISMATCH", lb.arn,
                   f"ALB {lb.name} has no listener on port {port} (it listens on: {ports}){unconfirmed}",
                   f"connect to a listener port ({ports}): the ALB forwards from there to the tasks' host ports; "
                   f"or create a listener on {port} (and allow tcp {port} in {', '.join(lb.group_ids)})",
                   resource_name=lb.name, role="the ALB", ports=((port, port),))
        outcome = "dropped" if network_blocked else "no_listener"
        return Verdict(flow, outcome, tuple(path.hops), tuple(path.explanations), load_balancer_arn=lb.arn)
    path.hop("listener", listener.arn, True, f"listener {listener.protocol}:{listener.port} on ALB {lb.name}")
    if network_blocked:
        return Verdict(flow, "dropped", tuple(path.hops), tuple(path.explanations),
                       load_balancer_arn=lb.arn, listener_arn=listener.arn)

    match = route_request(snap, listener.arn, path=flow.path, host=flow.host or flow.destination, method=flow.method,
                          source_ip=None if client is None else addresses_text([(*client.addresses, 0, 0)]))
    for h in match.hops:
        path.hop(h.kind, h.resource_id, h.allowed, h.detail, h.direction)
    groups = tuple(arn for arn, weight in match.target_groups if weight > 0)
    legs = []
    if match.action_type == "forward" and not groups:
        path.block("ELBV2_LISTENER_HAS_NO_TG", match.rule_arn,
                   f"rule {match.priority} forwards to no target group with a weight above 0",
                   "give at least one target group of the forward action a weight of 1 or more")
    for tg_arn in groups:
        tg = snap.tg_by_arn.get(tg_arn)
        records = snap.targets_by_group.get(tg_arn, ())
        states = ", ".join(f"{n} {s}" for s, n in sorted(_count(r.state for r in records).items())) or "none"
        name = tg.name if tg else tg_arn
        path.hop("target-group", tg_arn, bool(records), f"target group {name}: {len(records)} registered target(s) ({states})")
        if not records:
            path.block("LAB_NO_REGISTERED_TARGETS", tg_arn, f"target group {name} has no registered targets: the ALB answers 503",
                       f"register targets in {name} (for ECS: run the service's tasks)",
                       resource_name=tg.name if tg else "", role="the listener rule's target group")
        for record in sorted(records, key=lambda r: _target_order(snap, r.id, r.port)):
            legs.append(evaluate_alb_to_target(snap, lb.arn, record.id, record.port, target_group_arn=tg_arn))
    return Verdict(flow, "listener", tuple(path.hops), tuple(path.explanations), load_balancer_arn=lb.arn,
                   listener_arn=listener.arn, rule_arn=match.rule_arn, target_group_arns=groups, targets=tuple(legs))


def _count(values) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


# -- the ALB-to-target leg -------------------------------------------------------------------------
def evaluate_alb_to_target(snapshot: Snapshot, load_balancer_arn: str, target_id: str, port: int, *,
                           target_group_arn: str | None = None) -> TargetLeg:
    """The ALB-to-target leg for one target (instance id or IP) and port. `target_group_arn`
    picks whose health to report; by default the first of the ALB's groups that has the target."""
    snap = snapshot
    if target_group_arn is None:
        target_group_arn = next((tg.arn for tg in snap.target_groups_of(load_balancer_arn)
                                 if any(r.id == target_id and r.port == port for r in snap.targets_by_group.get(tg.arn, ()))), "")
    record = next((r for r in snap.targets_by_group.get(target_group_arn, ()) if r.id == target_id and r.port == port), None)
    hops, explanations, binding = memo(snap, ("leg", load_balancer_arn, target_id, port),
                                        lambda: _alb_to_target(snap, load_balancer_arn, target_id, port))
    task, container_name, container_port = binding
    return TargetLeg(target_group_arn, target_id, port, record.state if record else "unused", hops, explanations,
                     task, container_name, container_port)


def _alb_to_target(snap: Snapshot, lb_arn: str, target_id: str, port: int):
    path = FlowPath()
    lb = snap.lb_by_arn.get(lb_arn)
    no_binding = (None, None, None)
    if lb is None:
        path.block("LAB_UNRESOLVED", lb_arn, f"no load balancer {lb_arn} in this region", "check the ARN")
        return tuple(path.hops), tuple(path.explanations), no_binding
    if is_ipv4(target_id):  # ip targets (awsvpc tasks): whoever holds the address in the ALB's VPC
        inst, eni, task = snap.holders_by_address.get((lb.vpc_id, target_id), (None, None, None))
        subnet = snap.subnet_for_ip(target_id, lb.vpc_id)
        if inst is not None:
            dest = Endpoint(f"target {target_id} ({inst.id})", target_id, (ip_int(target_id),) * 2, inst.subnet_id,
                             inst.vpc_id, inst.group_ids, inst, role=_TARGET_ROLE, kind=_TARGET_KIND)
        elif subnet is not None:
            groups = eni.group_ids if eni else ()
            dest = Endpoint(f"target {target_id}" + (f" (task {task.arn.rsplit('/', 1)[-1]})" if task else ""), target_id,
                             (ip_int(target_id),) * 2, subnet.id, subnet.vpc_id, groups, role=_TARGET_ROLE, kind=_TARGET_KIND)
        else:
            path.block("BAD_STATE", target_id, f"target {target_id} is in no subnet of this region", f"deregister {target_id}")
            return tuple(path.hops), tuple(path.explanations), no_binding
    else:
        inst = snap.instance_by_id.get(target_id)
        if inst is None or inst.private_ip is None:
            path.block("BAD_STATE", target_id, f"target {target_id} is not an instance in this region (terminated?)",
                       f"deregister {target_id}")
            return tuple(path.hops), tuple(path.explanations), no_binding
        dest = instance_endpoint(inst, _TARGET_ROLE, _TARGET_KIND)
    if inst is not None and inst.state != "running":
        path.hop("target", target_id, False, f"{inst.id} is {inst.state}")
        path.block("BAD_STATE", inst.id, f"target instance {inst.id} is {inst.state}", f"start {inst.id} or deregister it")

    lb_zones = {snap.subnet_by_id[s].availability_zone for s in lb.subnet_ids if s in snap.subnet_by_id}
    dest_subnet = snap.subnet_by_id.get(dest.subnet_id or "")
    if dest_subnet is not None and lb_zones and dest_subnet.availability_zone not in lb_zones:
        path.block("ELB_INSTALLED_AZ_RESTRICTION", target_id,
                   f"{target_id} is in {dest_subnet.availability_zone}, where ALB {lb.name} has no subnet: it receives no traffic",
                   f"add a subnet in {dest_subnet.availability_zone} to ALB {lb.name}")
    if dest.vpc_id != lb.vpc_id:
        path.block("NO_ROUTE_TO_DESTINATION", target_id, f"{target_id} is in {dest.vpc_id}, ALB {lb.name} in {lb.vpc_id}",
                   "register targets from the ALB's VPC")
        return tuple(path.hops), tuple(path.explanations), no_binding

    subnets = subnets_in_order(snap, lb.subnet_ids)
    # An ECS task on a dynamic host port: suggest the range every later task may use, not this one port.
    bound = snap.binding_index.get((target_id, port))
    in_range = DYNAMIC_HOST_PORTS[0] <= port <= DYNAMIC_HOST_PORTS[1]
    dynamic = bound is not None and in_range
    # SG egress depends only on the target, so one check serves every node (FACTS: ALB SG egress counts).
    check_sgs(path, snap, alb_endpoint(lb), egress=True, peer=dest, ports=(port, port), host_port=in_range)
    for subnet_id in subnets:
        node = alb_node(snap, lb, subnet_id)
        check_local_route(path, snap, node, dest)
        check_crossing(path, snap, node, dest, port, host_port=in_range)
        check_sgs(path, snap, dest, egress=False, peer=node, ports=(port, port),
                   fix_ports=DYNAMIC_HOST_PORTS if dynamic else None, host_port=in_range)
    binding = no_binding
    if not path.explanations:
        binding = _binding_hops(path, snap, target_id, port, lb.vpc_id)
    return tuple(path.hops), tuple(path.explanations), binding


def _binding_hops(path: FlowPath, snap: Snapshot, target_id: str, port: int, vpc_id: str):
    """Who answers on target:port: the ECS task whose networkBindings use it (bridge/host mode),
    or the awsvpc task owning the address. Nothing bound is not a network blocker: the connection
    is refused (the ALB answers 502), so it is a failed hop without an explanation."""
    bound = snap.binding_index.get((target_id, port))
    if bound is not None:
        task, b = bound
        task_id = task.arn.rsplit("/", 1)[-1]
        path.hop("binding", f"{target_id}:{port}", True, f"{target_id}:{port} is host port {b.host_port} of task {task_id} ({task.last_status})")
        path.hop("container", task.arn, True, f"container {b.container_name} listens on {b.container_port}")
        return task.arn, b.container_name, b.container_port
    task = snap.holders_by_address.get((vpc_id, target_id), (None, None, None))[2]
    if task is not None:  # awsvpc: the task's own ENI, host port = container port (FACTS.md)
        name = next((b.container_name for b in task.bindings if b.container_port == port), None)
        path.hop("binding", f"{target_id}:{port}", True, f"{target_id} is task {task.arn.rsplit('/', 1)[-1]}'s own ENI (awsvpc)")
        return task.arn, name, port
    path.hop("binding", f"{target_id}:{port}", False, f"no running task is bound to {target_id}:{port}: nothing listens there (connection refused)")
    return None, None, None


# -- listener rules -------------------------------------------------------------------------------
@lru_cache(maxsize=4096)
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern:
    """ALB patterns: `*` is 0 or more characters, `?` exactly one, everything else literal."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _matches(pattern: str, value: str, ignore_case: bool) -> bool:
    return _wildcard(pattern, ignore_case).fullmatch(value) is not None


def _values(condition: dict, config: str) -> list:
    return list((condition.get(config) or {}).get("Values") or condition.get("Values") or [])


def _condition_matches(condition: dict, request: dict) -> tuple[bool, str]:
    """One rule condition against one request; returns (matched, words).
    Case rules (ALB guide "Listener rules" / ELBv2 API RuleCondition): path-pattern and
    http-request-method are case-sensitive; host-header, http-header values and query strings are not."""
    field_name = condition.get("Field", "")
    if field_name == "path-pattern":
        values = _values(condition, "PathPatternConfig")
        return any(_matches(v, request["path"], False) for v in values), f"path-pattern {' | '.join(values)}"
    if field_name == "host-header":
        values = _values(condition, "HostHeaderConfig")
        host = (request["host"] or "").split(":")[0]
        return bool(host) and any(_matches(v, host, True) for v in values), f"host-header {' | '.join(values)}"
    if field_name == "http-request-method":
        values = _values(condition, "HttpRequestMethodConfig")
        return request["method"] in values, f"http-request-method {' | '.join(values)}"
    if field_name == "source-ip":
        values = _values(condition, "SourceIpConfig")
        ip = request["source_ip"]
        hit = ip is not None and is_ipv4(ip) and any(
            lo <= ip_int(ip) <= hi for lo, hi in (cidr_range(v) for v in values if is_ipv4(v.split("/")[0])))
        return hit, f"source-ip {' | '.join(values)}"
    if field_name == "http-header":
        config = condition.get("HttpHeaderConfig") or {}
        name = config.get("HttpHeaderName", "")
        values = config.get("Values") or []
        got = [v for k, vs in request["headers"].items() if k.lower() == name.lower()
               for v in (vs if isinstance(vs, (list, tuple)) else [vs])]
        return any(_matches(p, g, True) for p in values for g in got), f"http-header {name}: {' | '.join(values)}"
    if field_name == "query-string":
        pairs = (condition.get("QueryStringConfig") or {}).get("Values") or []
        got = [(k, v) for k, vs in request["query"].items() for v in (vs if isinstance(vs, (list, tuple)) else [vs])]
        hit = any((p.get("Key") is None or _matches(p["Key"], k, True)) and _matches(p.get("Value", ""), v, True)
                  for p in pairs for k, v in got)
        words = " | ".join(f"{p['Key']}={p.get('Value', '')}" if p.get("Key") else p.get("Value", "") for p in pairs)
        return hit, f"query-string {words}"
    return False, f"{field_name} (not modelled: treated as no match)"


def route_request(snapshot: Snapshot, listener_arn: str, *, path: str, host: str | None, method: str = "GET",
                  headers: dict | None = None, query: dict | None = None, source_ip: str | None = None) -> RuleMatch:
    """Which rule of a listener handles one HTTP request: rules by priority, lowest first, every
    condition of a rule must match (one of its values each); the default rule last.
    Raises LookupError for a listener the snapshot does not have."""
    request = {"path": path.split("?", 1)[0], "host": host, "method": method, "headers": headers or {},
               "query": query or {}, "source_ip": source_ip}
    rules = snapshot.rules_by_listener.get(listener_arn)
    if not rules:
        raise LookupError(f"listener {listener_arn} has no rules in this snapshot")
    skipped = []
    for rule in rules:
        results = [_condition_matches(c, request) for c in rule.conditions]
        if all(ok for ok, _ in results):
            why = "default rule (no other rule matched)" if rule.is_default else \
                f"rule {rule.priority} matches ({'; '.join(words for _, words in results)})"
            if skipped:
                why += f"; rules {', '.join(skipped)} did not"
            return _action(listener_arn, rule, why)
        skipped.append(rule.priority)
    raise LookupError(f"listener {listener_arn} has no default rule in this snapshot")


def _action(listener_arn: str, rule, why: str) -> RuleMatch:
    # Authentication actions come first in Order and are not modelled; the terminal action decides.
    actions = sorted(rule.actions, key=lambda a: a.get("Order", 50001))
    action = next((a for a in actions if a.get("Type") in ("forward", "redirect", "fixed-response")), {"Type": "none"})
    kind = action["Type"]
    hop = Hop("rule", rule.arn, True, why)
    if kind == "forward":
        groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or []
        if groups:  # ForwardConfig (weighted) wins over the single TargetGroupArn form
            pairs = tuple((g["TargetGroupArn"], int(g.get("Weight", 1))) for g in groups)
        else:
            pairs = ((action["TargetGroupArn"], 1),) if action.get("TargetGroupArn") else ()
        detail = ", ".join(f"{arn.split('/')[-2] if '/' in arn else arn} (weight {w})" for arn, w in pairs)
        return RuleMatch(listener_arn, rule.arn, rule.priority, kind, pairs,
                         hops=(hop, Hop("action", rule.arn, True, f"forward to {detail or 'nothing'}")))
    if kind == "fixed-response":
        config = dict(action.get("FixedResponseConfig") or {})
        return RuleMatch(listener_arn, rule.arn, rule.priority, kind, fixed_response=config,
                         hops=(hop, Hop("action", rule.arn, True, f"fixed-response {config.get('StatusCode', '?')}")))
    if kind == "redirect":
        config = dict(action.get("RedirectConfig") or {})
        return RuleMatch(listener_arn, rule.arn, rule.priority, kind, redirect=config,
                         hops=(hop, Hop("action", rule.arn, True, f"redirect {config.get('StatusCode', '')}")))
    return RuleMatch(listener_arn, rule.arn, rule.priority, kind,
                     hops=(hop, Hop("action", rule.arn, False, "no forward, redirect or fixed-response action")))
