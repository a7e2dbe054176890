"""Network ACLs, the way the VPC applies them.

Stateless: a reply is a new packet with its own check. Entries are evaluated lowest rule number
first and the first entry that matches decides; an unchangeable `*` rule denies whatever is left
(VPC guide, "Network ACLs"; FACTS.md). Only IPv4 TCP is modelled: an entry for another protocol
never matches a TCP packet, and an IPv6 entry never matches an IPv4 address.
"""

from __future__ import annotations

from dataclasses import dataclass

from helpers.evaluator.ports import ALL_PORTS, Box, BoxSet, box, cidr_range, covers, intersect, port_text
from helpers.evaluator.snapshot import NaclEntry, NetworkAcl, Snapshot

TCP_PROTOCOLS = {"-1", "6", "tcp", "all"}


def entry_box(entry: NaclEntry) -> Box:
    ports = ALL_PORTS if entry.protocol == "-1" or entry.port_from is None else (entry.port_from, entry.port_to)
    return box(cidr_range(entry.cidr), ports)


def entry_text(entry: NaclEntry) -> str:
    """ "all traffic from 0.0.0.0/0", "tcp 1024-65535 to 10.0.0.0/16" """
    way = "to" if entry.egress else "from"
    if entry.protocol == "-1":
        return f"all traffic {way} {entry.cidr}"
    proto = "tcp" if entry.protocol in ("6", "tcp") else f"protocol {entry.protocol}"
    ports = "" if entry.port_from is None else " " + port_text(entry.port_from, entry.port_to)
    return f"{proto}{ports} {way} {entry.cidr}"


def tcp_entries(snap: Snapshot, acl: NetworkAcl, egress: bool) -> tuple[tuple[NaclEntry, Box], ...]:
    """The entries that can match an IPv4 TCP packet, in evaluation order (cached per snapshot)."""
    key = ("nacl-entries", acl.id, egress)
    found = snap.memo.get(key)
    if found is None:
        found = tuple(
            (e, entry_box(e))
            for e in sorted(acl.entries, key=lambda e: e.rule_number)
            if e.egress == egress and e.cidr is not None and str(e.protocol).lower() in TCP_PROTOCOLS)
        snap.memo[key] = found
    return found


@dataclass(frozen=True)
class NaclResult:
    acl_id: str
    egress: bool
    allowed: tuple[tuple[NaclEntry, tuple[Box, ...]], ...]  # each deciding allow entry and the part it let through
    denied: tuple[tuple[NaclEntry | None, tuple[Box, ...]], ...]  # None: nothing matched, the implicit `*`

    @property
    def ok(self) -> bool:
        return not self.denied


def evaluate_nacl(snap: Snapshot, acl: NetworkAcl, egress: bool, addresses: tuple[int, int],
                  ports: tuple[int, int]) -> NaclResult:
    """Which entry decides each part of (addresses x ports). Walks the entries in order, handing
    the part an entry matches to its action and the rest on to the next entry. Memoized per
    snapshot: every target behind the same subnets asks the same questions."""
    key = ("nacl", acl.id, egress, addresses, ports)
    found = snap.memo.get(key)
    if found is None:
        found = snap.memo[key] = _evaluate(tcp_entries(snap, acl, egress), acl.id, egress, box(addresses, ports))
    return found


def _evaluate(entries, acl_id: str, egress: bool, wanted: Box) -> NaclResult:
    remaining = BoxSet([wanted])
    allowed, denied = [], []
    w_lo, w_hi, w_plo, w_phi = wanted
    for entry, ebox in entries:
        lo, hi, plo, phi = ebox
        if lo > w_hi or hi < w_lo or plo > w_phi or phi < w_plo:
            continue  # cheap test first: most entries miss the whole request (thousands of rules stay fast)
        hit = remaining.cut(ebox)
        if not hit:
            continue  # this entry matches nothing that is still undecided
        remaining.subtract(ebox)
        (allowed if entry.action == "allow" else denied).append((entry, tuple(hit)))
        if remaining.empty:
            break
    if not remaining.empty:  # no entry matched (a snapshot without the `*` entries): `*` denies it anyway
        denied.append((None, tuple(remaining.boxes())))
    return NaclResult(acl_id, egress, tuple(allowed), tuple(denied))


def shadowed_entries(acl: NetworkAcl, egress: bool) -> list[tuple[NaclEntry, tuple[NaclEntry, ...]]]:
    """Entries that can never match because earlier entries already decide everything they cover
    ("deny 110 after allow-all 100 is dead"), each with the earlier entries that hide it.
    The `*` rule is left out: it always exists and is hidden by any allow-all."""
    ordered = sorted((e for e in acl.entries if e.egress == egress and e.cidr is not None),
                     key=lambda e: e.rule_number)
    dead = []
    for index, entry in enumerate(ordered):
        if entry.label == "*":
            continue
        # An earlier entry hides a later one only for protocols it covers itself.
        earlier = [e for e in ordered[:index] if e.protocol == "-1" or e.protocol == entry.protocol]
        overlapping = [e for e in earlier if intersect(entry_box(e), entry_box(entry)) is not None]
        if overlapping and covers([entry_box(e) for e in overlapping], entry_box(entry)):
            dead.append((entry, tuple(overlapping)))
    return dead
