"""Set arithmetic on (IPv4 address x TCP port) for stateless and stateful filters.

A NACL or SG rule covers a rectangle: a CIDR (an interval of addresses) times a port range. A
flow we ask about is a rectangle too: one client address and one port, or every address an ALB
node may use (a whole subnet) times the ephemeral ports a reply goes to (1024-65535). So "which
part of the request does this rule let through, and which part is left for the next rule?" is
rectangle intersection and subtraction. That lets the evaluator say exactly which ports are
missing ("return traffic on 1024-32767 falls to rule *") instead of testing a sample port.
`BoxSet` holds a set of such rectangles so that taking hundreds of small rules out of it one by
one stays near linear; `sweep` reads a set of rectangles along one axis.
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
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
    addresses and for ports alike). One pass over both, sorted: linear, not one pass per removal."""
    rest: list[Interval] = []
    cuts = merge_intervals(removed)
    k = 0
    for lo, hi in merge_intervals(intervals):
        while k < len(cuts) and cuts[k][1] < lo:
            k += 1  # removals wholly below this interval can't touch any later one either
        j = k
        while j < len(cuts) and cuts[j][0] <= hi:
            if cuts[j][0] > lo:
                rest.append((lo, cuts[j][0] - 1))
            lo = max(lo, cuts[j][1] + 1)
            j += 1
        if lo <= hi:
            rest.append((lo, hi))
    return rest


def intervals_and(intervals, others) -> list[Interval]:
    """The parts of `intervals` inside some interval of `others`."""
    return intervals_minus(intervals, intervals_minus(intervals, others))


def clip(boxes: list[Box], intervals: list[Interval]) -> list[Box]:
    """The part of `boxes` whose addresses fall in `intervals` (every port kept)."""
    merged = merge_intervals(intervals)
    starts = [lo for lo, _ in merged]
    out = []
    for b in boxes:  # only the intervals a box overlaps, found by bisection
        for lo, hi in merged[max(bisect_right(starts, b[0]) - 1, 0):bisect_right(starts, b[1])]:
            if (cut := intersect(b, (lo, hi, *ALL_PORTS))) is not None:
                out.append(cut)
    return out


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
    remaining = BoxSet([target])
    for b in boxes:
        remaining.subtract(b)
        if remaining.empty:
            return True
    return remaining.empty


def sweep(boxes: Iterable[Box], along: str) -> Iterator[tuple[int, int, list[Interval]]]:
    """Cut one axis ("ports" or "addresses") wherever a box starts or ends; for each piece with a
    box over it, yield (first, last, the other axis's intervals over it, merged). Boxes enter and
    leave an active list as the sweep passes them, so each piece looks only at the boxes on it."""
    lo_i, hi_i, other = (2, 3, (0, 1)) if along == "ports" else (0, 1, (2, 3))
    boxes = list(boxes)
    starting = sorted(boxes, key=lambda b: b[lo_i])
    cuts = sorted({b[lo_i] for b in boxes} | {b[hi_i] + 1 for b in boxes})
    active: list[Box] = []
    k = 0
    for lo, nxt in zip(cuts, cuts[1:]):
        active = [b for b in active if b[hi_i] >= lo]
        while k < len(starting) and starting[k][lo_i] <= lo:
            active.append(starting[k])
            k += 1
        if active:
            yield lo, nxt - 1, merge_intervals((b[other[0]], b[other[1]]) for b in active)


class BoxSet:
    """A set of (address x port) points as disjoint address slabs, each with its merged port
    intervals. A box subtracted, cut out or tested touches only the slabs it overlaps (found by
    bisection), so a NACL or SG with hundreds of /32 rules costs a pass, not a pass per rule."""

    def __init__(self, boxes: Iterable[Box] = ()) -> None:
        self._lo: list[int] = []  # first address of each slab, ascending
        self._hi: list[int] = []  # last address of each slab
        self._ports: list[list[Interval]] = []  # each slab's port intervals, merged and sorted
        for b in boxes:
            self.add(b)

    @property
    def empty(self) -> bool:
        return not self._lo

    def boxes(self) -> list[Box]:
        return [(lo, hi, plo, phi) for lo, hi, ports in zip(self._lo, self._hi, self._ports) for plo, phi in ports]

    def add(self, b: Box) -> None:
        lo, hi, plo, phi = b
        self._split(lo)
        self._split(hi + 1)
        i = bisect_left(self._lo, lo)
        at = lo  # the next address not yet given the box's ports
        while at <= hi:
            if i < len(self._lo) and self._lo[i] == at:
                self._ports[i] = merge_intervals(self._ports[i] + [(plo, phi)])
                at = self._hi[i] + 1
            else:  # a gap before the next slab (or the end): a new slab with the box's ports
                end = min(hi, self._lo[i] - 1) if i < len(self._lo) else hi
                self._lo.insert(i, at)
                self._hi.insert(i, end)
                self._ports.insert(i, [(plo, phi)])
                at = end + 1
            i += 1

    def cut(self, b: Box) -> list[Box]:
        """The part of the set inside `b`, as boxes (the set is unchanged)."""
        lo, hi, plo, phi = b
        out = []
        for i in self._touching(lo, hi):
            for a, z in self._ports[i]:
                if a <= phi and z >= plo:
                    out.append((max(lo, self._lo[i]), min(hi, self._hi[i]), max(a, plo), min(z, phi)))
        return out

    def intersects(self, b: Box) -> bool:
        lo, hi, plo, phi = b
        return any(a <= phi and z >= plo for i in self._touching(lo, hi) for a, z in self._ports[i])

    def subtract(self, b: Box) -> bool:
        """Take `b` out of the set; whether anything was there to take."""
        if not self.intersects(b):
            return False
        lo, hi, plo, phi = b
        self._split(lo)
        self._split(hi + 1)
        i = bisect_left(self._lo, lo)
        while i < len(self._lo) and self._lo[i] <= hi:
            ports = intervals_minus(self._ports[i], [(plo, phi)])
            if ports:
                self._ports[i] = ports
                i += 1
            else:
                del self._lo[i], self._hi[i], self._ports[i]
        return True

    def _touching(self, lo: int, hi: int) -> range:
        """The indexes of the slabs that overlap addresses lo..hi."""
        return range(bisect_left(self._hi, lo), bisect_right(self._lo, hi))

    def _split(self, at: int) -> None:
        """Start a slab at address `at` if a slab runs across it."""
        i = bisect_right(self._lo, at) - 1
        if i >= 0 and self._lo[i] < at <= self._hi[i]:
            self._lo.insert(i + 1, at)
            self._hi.insert(i + 1, self._hi[i])
            self._ports.insert(i + 1, list(self._ports[i]))
            self._hi[i] = at - 1
