"""Security groups, the way an ENI applies them.

Allow rules only; every rule of every group on the ENI counts (their union); stateful, so a reply
to an admitted connection is never checked. A rule's source is a CIDR, a prefix list, or another
group - meaning the private IPs of that group's members (VPC guide "Security group rules";
FACTS.md). Prefix lists are not resolved here, so a prefix-list rule admits nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from helpers.evaluator.ports import ALL_PORTS, Box, BoxSet, box, cidr_range, port_text
from helpers.evaluator.snapshot import SgRule, Snapshot


def rule_ports(rule: SgRule) -> tuple[int, int] | None:
    """The TCP ports a rule covers, or None when it is for another protocol."""
    proto = str(rule.protocol).lower()
    if proto in ("-1", "all"):
        return ALL_PORTS
    if proto not in ("tcp", "6"):
        return None
    if rule.from_port is None or rule.from_port < 0:
        return ALL_PORTS
    return (rule.from_port, rule.to_port if rule.to_port is not None else rule.from_port)


def _proto_ports(rule: SgRule) -> str:
    ports = rule_ports(rule)
    if str(rule.protocol) in ("-1", "all"):
        return "all traffic"
    if ports is None:
        return f"protocol {rule.protocol}"
    return f"tcp {port_text(*ports)}"


@dataclass(frozen=True)
class SgResult:
    group_ids: tuple[str, ...]
    egress: bool
    used: tuple[str, ...]  # the rules that admitted the flow, in words: "sg-1 allows tcp 80 from 0.0.0.0/0"
    missing: tuple[Box, ...]  # the part no rule admits
    no_rules: bool  # none of the groups has a rule in this direction

    @property
    def ok(self) -> bool:
        return not self.missing


def _prepared(snap: Snapshot, group_id: str, egress: bool):
    """A group's TCP-relevant rules as (ports, [(cidr, first, last)], referenced groups, words),
    computed once per snapshot."""
    key = ("sg-rules", group_id, egress)
    found = snap.memo.get(key)
    if found is None:
        group = snap.sg_by_id.get(group_id)
        rules = () if group is None else (group.egress if egress else group.ingress)
        found = []
        for rule in rules:
            ports = rule_ports(rule)
            if ports is not None:
                found.append((ports, [(c, *cidr_range(c)) for c in rule.cidrs], rule.group_ids, _proto_ports(rule)))
        found = snap.memo[key] = (tuple(found), bool(rules))
    return found


def evaluate_sgs(snap: Snapshot, group_ids: tuple[str, ...], egress: bool, peer_addresses: tuple[int, int] | None,
                 peer_groups: tuple[str, ...], ports: tuple[int, int]) -> SgResult:
    """Does the union of these groups' rules admit every (peer address x port) asked about?

    peer_groups: the groups the peer is a member of - a rule naming one of them admits the peer
    (that is what "source: sg-..." means, as long as the peer is seen by its private IP).
    peer_addresses None: the peer is known by its groups only (no CIDR rule can match it).
    Memoized per snapshot."""
    key = ("sg", tuple(sorted(group_ids)), egress, peer_addresses, tuple(peer_groups), ports)
    found = snap.memo.get(key)
    if found is None:
        found = snap.memo[key] = _evaluate(snap, key[1], egress, peer_addresses, peer_groups, ports)
    return found


def _evaluate(snap, group_ids, egress, peer_addresses, peer_groups, ports) -> SgResult:
    by_group_only = peer_addresses is None
    if by_group_only:
        peer_addresses = (0, 0)  # one stand-in address: only group rules are tried
    missing = BoxSet([box(peer_addresses, ports)])
    used: list[str] = []
    no_rules = True
    way = "to" if egress else "from"
    for gid in group_ids:
        rules, has_rules = _prepared(snap, gid, egress)
        no_rules = no_rules and not has_rules
        for (plo, phi), cidrs, refs, words in rules:
            if missing.empty:
                break
            if plo > ports[1] or phi < ports[0]:
                continue  # cheap test first: most rules are for other ports
            sources = [] if by_group_only else [
                (cidr, (lo, hi)) for cidr, lo, hi in cidrs if lo <= peer_addresses[1] and hi >= peer_addresses[0]]
            sources += [(ref, peer_addresses) for ref in refs if ref in peer_groups]
            for source, addresses in sources:
                if missing.subtract(box(addresses, (plo, phi))):  # it admitted part of what was still missing
                    used.append(f"SG {gid} allows {words} {way} {source}")
    return SgResult(group_ids, egress, tuple(used), tuple(missing.boxes()), no_rules)
