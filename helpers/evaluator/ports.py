"""Set arithmetic on (IPv4 address x TCP port) for stateless and stateful filters.

A NACL or SG rule covers a rectangle: a CIDR (an interval of addresses) times a port range. A
flow we ask about is a rectangle too: one client address and one port, or every address an ALB
node may use (a whole subnet) times the ephemeral ports a reply goes to (1024-65535). So "which
part of the request does this rule let through, and which part is left for the next rule?" is
rectangle intersection and subtraction. That lets the evaluator say exactly which ports are
missing ("return traffic on 1024-32767 falls to rule *") instead of testing a sample port.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from helpers.facts import ALL_PORTS

# A rectangle: (first address, last address, first port, last port), all inclusive, addresses as ints.
Box = tuple[int, int, int, int]
# An inclusive range of addresses (as ints) or of ports.
Interval = tuple[int, int]

EVERY_ADDRESS: Interval = (0, 2**32 - 1)



@lru_cache(maxsize=8192)
def cidr_range(cidr: str) -> tuple[int, int]:
    """First and last address of a CIDR ("10.0.1.0/24" -> ints); a bare address is a /32."""
    net = ipaddress.IPv4Network(cidr, strict=False)
    return int(net.network_address), int(net.broadcast_address)


def ip_int(address: str) -> int:
    return int(ipaddress.IPv4Address(address))


def is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def box(addresses: tuple[int, int], ports: tuple[int, int]) -> Box:
    return (addresses[0], addresses[1], ports[0], ports[1])


def intersect(a: Box, b: Box) -> Box | None:
    lo_ip, hi_ip = max(a[0], b[0]), min(a[1], b[1])
    lo_port, hi_port = max(a[2], b[2]), min(a[3], b[3])
    if lo_ip > hi_ip or lo_port > hi_port:
        return None
    return (lo_ip, hi_ip, lo_port, hi_port)


def subtract(a: Box, b: Box) -> list[Box]:
    """a minus b, as at most four disjoint boxes."""
    cut = intersect(a, b)
    if cut is None:
        return [a]
    pieces = []
    if a[0] < cut[0]:  # addresses below the cut, every port
        pieces.append((a[0], cut[0] - 1, a[2], a[3]))
    if cut[1] < a[1]:  # addresses above the cut, every port
        pieces.append((cut[1] + 1, a[1], a[2], a[3]))
    if a[2] < cut[2]:  # the cut's addresses, ports below
        pieces.append((cut[0], cut[1], a[2], cut[2] - 1))
    if cut[3] < a[3]:  # the cut's addresses, ports above
        pieces.append((cut[0], cut[1], cut[3] + 1, a[3]))
    return pieces


def subtract_all(boxes: list[Box], b: Box) -> list[Box]:
    out: list[Box] = []
    for a in boxes:
        out.extend(subtract(a, b))
    return out


def merge_intervals(intervals) -> list[tuple[int, int]]:
    merged: list[list[int]] = []
    for lo, hi in sorted(intervals):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return [(lo, hi) for lo, hi in merged]


def intervals_minus(intervals, removed) -> list[Interval]:
    """The parts of `intervals` outside every interval of `removed`, merged and sorted (works for
    addresses and for ports alike)."""
    rest = merge_intervals(intervals)
    for lo, hi in merge_intervals(removed):
        rest = [piece for a, b in rest for piece in ((a, min(b, lo - 1)), (max(a, hi + 1), b)) if piece[0] <= piece[1]]
    return rest


def intervals_and(intervals, others) -> list[Interval]:
    """The parts of `intervals` inside some interval of `others`."""
    return intervals_minus(intervals, intervals_minus(intervals, others))


def clip(boxes: list[Box], intervals: list[Interval]) -> list[Box]:
    """The part of `boxes` whose addresses fall in `intervals` (every port kept)."""
    return [cut for b in boxes for lo, hi in intervals if (cut := intersect(b, (lo, hi, *ALL_PORTS))) is not None]


def address_intervals(boxes) -> list[Interval]:
    """The addresses a set of boxes touches, merged."""
    return merge_intervals((b[0], b[1]) for b in boxes)


def port_text(lo: int, hi: int) -> str:
    if (lo, hi) == ALL_PORTS:
        return "all ports"
    return str(lo) if lo == hi else f"{lo}-{hi}"


def ports_text(boxes: list[Box]) -> str:
    """The ports a set of boxes touches: "1024-32767, 61000-65535"."""
    intervals = merge_intervals((b[2], b[3]) for b in boxes)
    if intervals == [ALL_PORTS]:
        return "all ports"
    return ", ".join(port_text(lo, hi) for lo, hi in intervals)


def addresses_text(boxes: list[Box]) -> str:
    """The addresses a set of boxes touches, as CIDRs: "10.0.1.0/24"."""
    parts: list[str] = []
    for lo, hi in merge_intervals((b[0], b[1]) for b in boxes):
        nets = ipaddress.summarize_address_range(ipaddress.IPv4Address(lo), ipaddress.IPv4Address(hi))
        parts.extend(str(n) if n.prefixlen < 32 else str(n.network_address) for n in nets)
    return ", ".join(parts[:4]) + (f" (+{len(parts) - 4} more)" if len(parts) > 4 else "")


def covers(boxes: list[Box], target: Box) -> bool:
    """True when the union of boxes contains every point of target."""
    remaining = [target]
    for b in boxes:
        remaining = subtract_all(remaining, b)
        if not remaining:
            return True
    return not remaining
