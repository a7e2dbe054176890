"""A verdict in words (`python -m helpers explain URL`) and as JSON (`--json`).

Deterministic: hops in path order, targets sorted, no timestamps - the same snapshot and flow
always print the same text.
"""

from __future__ import annotations

from helpers.evaluator.model import Explanation, Hop, Verdict


def _short(resource_id: str) -> str:
    """ARNs are long: drop the "arn:aws:service:region:account:" prefix on screen."""
    return resource_id.split(":", 5)[-1] if resource_id.startswith("arn:") else resource_id


def _hop_line(hop: Hop) -> str:
    mark = "ok " if hop.allowed else "XX "
    back = " (return)" if hop.direction == "return" else ""
    return f"{mark}{hop.kind:<12} {hop.detail}{back}"


def _explanation_lines(e: Explanation, indent: str) -> list[str]:
    return [f"{indent}[{e.code}] {_short(e.resource_id)}: {e.message}", f"{indent}    fix: {e.fix}"]


def format_verdict(verdict: Verdict, *, verbose: bool = False) -> str:
    """The path hop by hop, then each target, then every blocker with its fix. A reachable
    target prints on one line with the rule that admitted it (all its hops with verbose=True);
    a blocked target prints every hop so the failing one shows in place."""
    flow = verdict.flow
    lines = [f"{flow.source} -> {flow.destination}:{flow.port} ({flow.protocol}, {flow.method} {flow.path})"]
    status = "REACHABLE" if verdict.reachable else "BLOCKED"
    lines.append(f"outcome: {verdict.outcome} - {status}")
    lines.append("path:")
    lines += [f"  {_hop_line(h)}" for h in verdict.hops]
    legs = verdict.targets  # the walk's order: by instance name, then port
    if legs:
        lines.append("targets:")
    for leg in legs:
        answer = f" -> task {leg.task_arn.rsplit('/', 1)[-1]} container {leg.container_name}:{leg.container_port}" \
            if leg.task_arn else ""
        state = "reachable" if leg.reachable else "BLOCKED"
        lines.append(f"  {leg.target_id}:{leg.port} [{leg.health}] {state}{answer}")
        if verbose or not leg.reachable:
            lines += [f"    {_hop_line(h)}" for h in leg.hops]
        else:
            admitted = next((h for h in leg.hops if h.kind == "sg-in"), None)
            lines += [f"    {_hop_line(h)}" for h in leg.hops if h is admitted or not h.allowed]
        for e in leg.explanations:
            lines += _explanation_lines(e, "    ")
    if verdict.explanations:
        lines.append("blocked because:")
        for e in verdict.explanations:
            lines += _explanation_lines(e, "  ")
    return "\n".join(lines)


def _hop_json(h: Hop) -> dict:
    return {"kind": h.kind, "resource_id": h.resource_id, "allowed": h.allowed, "detail": h.detail, "direction": h.direction}


def _explanation_json(e: Explanation) -> dict:
    return {"code": e.code, "resource_id": e.resource_id, "message": e.message, "fix": e.fix}


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
