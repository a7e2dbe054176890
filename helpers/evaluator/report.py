"""A verdict in words (`python -m helpers explain URL`) and as JSON (`--json`).

Deterministic: hops in path order, targets sorted, no timestamps - the same snapshot and flow
always print the same text.
"""

from __future__ import annotations

import html
import re

from helpers.evaluator.model import Explanation, Hop, TargetLeg, Verdict

# The random part of an EC2 id ("sg-0ce11351a52711154"): left out where an order must not depend
# on it (sorting blockers and audit findings). The one copy of this pattern.
RANDOM_ID = re.compile(r"\b(i|sg|vpc|subnet|acl|rtb|igw|eni|nat)-[0-9a-f]{8,17}\b")


def without_ids(text: str) -> str:
    """`text` with every EC2 id's random part removed, for sort keys (never for display)."""
    return RANDOM_ID.sub(r"\1-", text)


def _short(resource_id: str) -> str:
    """ARNs are long: drop the "arn:aws:service:region:account:" prefix on screen."""
    return resource_id.split(":", 5)[-1] if resource_id.startswith("arn:") else resource_id


def _explanation_head(e: Explanation) -> str:
    """`[CODE] message`; the resource is named in the message, or put in front when it is not."""
    return f"[{e.code}] {e.message}" if "{resource}" in e.problem else f"[{e.code}] {_short(e.resource_id)}: {e.message}"


def _explanation_lines(e: Explanation, indent: str) -> list[str]:
    return [f"{indent}{_explanation_head(e)}", f"{indent}    fix: {e.fix}"]


def all_explanations(verdict: Verdict) -> list[Explanation]:
    """The front of the path's blockers, then every target leg's, each once, in path order."""
    found = list(verdict.explanations) + [e for leg in verdict.targets for e in leg.explanations]
    return list(dict.fromkeys(found))


def format_leg(leg: TargetLeg, *, verbose: bool = False) -> list[str]:
    """One target: its line, its hops (all of them, or only the admitting SG and the failures),
    and its blockers."""
    answer = f" -> task {leg.task_arn.rsplit('/', 1)[-1]} container {leg.container_name}:{leg.container_port}" \
        if leg.task_arn else ""
    state = "reachable" if leg.reachable else "BLOCKED"
    lines = [f"{leg.target_id}:{leg.port} [{leg.health}] {state}{answer}"]
    if verbose or not leg.reachable:
        lines += [f"  {h}" for h in leg.hops]
    else:
        admitted = next((h for h in leg.hops if h.kind == "sg-in"), None)
        lines += [f"  {h}" for h in leg.hops if h is admitted or not h.allowed]
    for e in leg.explanations:
        lines += _explanation_lines(e, "  ")
    return lines


def format_ecs_reach(reach) -> str:
    """`explain i-...`: can this instance's ECS agent reach ECS (an `ecs_reach.EcsReach`), hop by hop."""
    lines = [f"ECS agent on {reach.instance_id}: " + ("reaches ECS" if reach.reachable else "CANNOT reach ECS")]
    lines += [f"  {service}: via {via}" for service, via in sorted(reach.via.items())]
    lines += [f"  {h}" for h in reach.hops]
    for e in reach.explanations:
        lines += _explanation_lines(e, "  ")
    return "\n".join(lines)


def format_verdict(verdict: Verdict, *, verbose: bool = False) -> str:
    """The path hop by hop, then each target, then every blocker with its fix. A reachable
    target prints on one line with the rule that admitted it (all its hops with verbose=True);
    a blocked target prints every hop so the failing one shows in place."""
    flow = verdict.flow
    lines = [f"{flow.source} -> {flow.destination}:{flow.port} ({flow.protocol}, {flow.method} {flow.path})"]
    status = "REACHABLE" if verdict.reachable else "BLOCKED"
    lines.append(f"outcome: {verdict.outcome} - {status}")
    lines.append("path:")
    lines += [f"  {h}" for h in verdict.hops]
    legs = verdict.targets  # the walk's order: by instance name, then port
    if legs:
        lines.append("targets:")
    for leg in legs:
        lines += [f"  {line}" for line in format_leg(leg, verbose=verbose)]
    if verdict.explanations:
        lines.append("blocked because:")
        for e in verdict.explanations:
            lines += _explanation_lines(e, "  ")
    return "\n".join(lines)


# -- HTML (what Jupyter shows) ---------------------------------------------------------------------
def _cells(tag: str, values) -> str:
    return "<tr>" + "".join(f"<{tag}>{html.escape(str(v))}</{tag}>" for v in values) + "</tr>"


_EXPLANATION_COLUMNS = ("code", "role", "resource", "direction", "ports", "peer", "problem", "fix")


def _explanation_row(e: Explanation) -> str:
    ports = ", ".join(f"{lo}" if lo == hi else f"{lo}-{hi}" for lo, hi in e.ports)
    return _cells("td", (e.code, e.role, e.resource, e.direction, ports, e.peer, e.message, e.fix))


def _explanations_table(explanations) -> str:
    if not explanations:
        return ""
    return ("<table>" + _cells("th", _EXPLANATION_COLUMNS) + "".join(_explanation_row(e) for e in explanations)
            + "</table>")


def _hops_table(hops) -> str:
    rows = "".join(_cells("td", ("ok" if h.allowed else "blocked", h.kind, h.direction, h.detail)) for h in hops)
    return f"<table>{_cells('th', ('', 'check', 'direction', 'detail'))}{rows}</table>" if hops else ""


def explanation_html(e: Explanation) -> str:
    return _explanations_table([e])


def leg_html(leg: TargetLeg) -> str:
    head = html.escape(format_leg(leg)[0])
    return f"<div><b>{head}</b>{_hops_table(leg.hops)}{_explanations_table(leg.explanations)}</div>"


def verdict_html(verdict: Verdict) -> str:
    """The same content as `format_verdict`, as tables: the path, each target, every blocker."""
    flow = verdict.flow
    status = "REACHABLE" if verdict.reachable else "BLOCKED"
    head = html.escape(f"{flow.source} -> {flow.destination}:{flow.port}: {verdict.outcome} - {status}")
    parts = [f"<div><p><b>{head}</b></p>", _hops_table(verdict.hops)]
    parts += [leg_html(leg) for leg in verdict.targets]
    if verdict.explanations:
        parts += ["<p>blocked because:</p>", _explanations_table(verdict.explanations)]
    return "".join(parts) + "</div>"


def _hop_json(h: Hop) -> dict:
    return {"kind": h.kind, "resource_id": h.resource_id, "allowed": h.allowed, "detail": h.detail, "direction": h.direction}


def _explanation_json(e: Explanation) -> dict:
    return {"code": e.code, "resource_id": e.resource_id, "resource_name": e.resource_name, "role": e.role,
            "direction": e.direction, "ports": [list(p) for p in e.ports], "peer": e.peer,
            "message": e.message, "fix": e.fix}


def verdict_to_json(verdict: Verdict) -> dict:
    flow = verdict.flow
    return {
        "reachable": verdict.reachable,
        "outcome": verdict.outcome,
        "flow": {"source": flow.source, "destination": flow.destination, "port": flow.port, "protocol": flow.protocol,
                 "path": flow.path, "host": flow.host, "method": flow.method},
        "hops": [_hop_json(h) for h in verdict.hops],
        "explanations": [_explanation_json(e) for e in verdict.explanations],
        "load_balancer_arn": verdict.load_balancer_arn,
        "listener_arn": verdict.listener_arn,
        "rule_arn": verdict.rule_arn,
        "target_group_arns": list(verdict.target_group_arns),
        "targets": [
            {"target_group_arn": leg.target_group_arn, "target_id": leg.target_id, "port": leg.port,
             "health": leg.health, "reachable": leg.reachable, "task_arn": leg.task_arn,
             "container_name": leg.container_name, "container_port": leg.container_port,
             "hops": [_hop_json(h) for h in leg.hops],
             "explanations": [_explanation_json(e) for e in leg.explanations]}
            for leg in verdict.targets
        ],
        "instance_id": verdict.instance_id,
        "instance_port": verdict.instance_port,
    }
