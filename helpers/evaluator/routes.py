"""Routing, the way a VPC route table decides: the most specific route that covers the
destination wins (longest-prefix match; VPC guide "Route priority").

The one place that decides which route a packet takes; `walk.py` (one flow), `exposure.py`
(every address at once), the audit and the pictures all ask here.

    route_for(snap, subnet_id, (lo, hi))   -> (table, route)   the route every address in lo-hi takes
    routed_addresses(snap, subnet_id)      -> [(route, intervals)]  what each route wins
    internet_route(snap, subnet_id)        -> InternetRoute | None  what leaves through the IGW
    is_public_subnet(snap, subnet_id)      -> bool                  has a route to an attached IGW

Which routes count: IPv4 CIDR destinations. A prefix-list destination ("pl-...") is not resolved,
so it never matches an address here; IPv6 routes are not read into the snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from helpers.evaluator.ports import (
    EVERY_ADDRESS, Interval, cidr_range, intervals_and, intervals_minus, is_ipv4, merge_intervals,
)
from helpers.evaluator.snapshot import Route, RouteTable, Snapshot


def counted_routes(table: RouteTable) -> tuple[tuple[Route, Interval, int], ...]:
    """The routes that can match an IPv4 address, each with its addresses and prefix length,
    most specific first."""
    return _counted(table.routes)


@lru_cache(maxsize=4096)
def _counted(routes: tuple[Route, ...]) -> tuple[tuple[Route, Interval, int], ...]:
    found = []
    for route in routes:
        network = route.destination.split("/")[0]
        if not is_ipv4(network):
            continue  # a prefix list: not resolved
        length = int(route.destination.split("/")[1]) if "/" in route.destination else 32
        found.append((route, cidr_range(route.destination), length))
    return tuple(sorted(found, key=lambda item: -item[2]))


def route_for(snap: Snapshot, subnet_id: str, addresses: Interval) -> tuple[RouteTable | None, Route | None]:
    """The subnet's route table and the most specific route covering every address in `addresses`
    (for one address: longest-prefix match). (None, None) when the subnet has no table."""
    table = snap.route_table_by_subnet.get(subnet_id)
    if table is None:
        return None, None
    for route, (lo, hi), _ in counted_routes(table):
        if lo <= addresses[0] and addresses[1] <= hi:
            return table, route
    return table, None


def routed_addresses(snap: Snapshot, subnet_id: str) -> list[tuple[Route, list[Interval]]]:
    """Longest-prefix match over every address at once: each route with the addresses it wins
    (the most specific routes claim theirs first). Routes that win nothing are left out."""
    table = snap.route_table_by_subnet.get(subnet_id)
    if table is None:
        return []
    unclaimed, won = [EVERY_ADDRESS], []
    for route, span, _ in counted_routes(table):
        claimed = intervals_and(unclaimed, [span])
        if claimed:
            unclaimed = intervals_minus(unclaimed, claimed)
            won.append((route, claimed))
    return won


@dataclass(frozen=True)
class InternetRoute:
    """The addresses a subnet's route table sends to an attached internet gateway."""

    table_id: str
    igw_id: str
    destinations: tuple[str, ...]  # the routes that do it, e.g. ("0.0.0.0/0",)
    addresses: tuple[Interval, ...]  # what longest-prefix match leaves them (the VPC's own range goes "local")


def internet_route(snap: Snapshot, subnet_id: str) -> InternetRoute | None:
    """What an active route to the VPC's attached IGW keeps after longest-prefix match: "the
    internet" for this subnet. None when no address leaves through an IGW (a private subnet)."""
    subnet = snap.subnet_by_id.get(subnet_id)
    table = snap.route_table_by_subnet.get(subnet_id)
    igw = snap.igw_by_vpc.get(subnet.vpc_id) if subnet else None
    if table is None or igw is None:
        return None
    kept, destinations = [], []
    for route, claimed in routed_addresses(snap, subnet_id):
        if route.target == igw.id and route.state == "active":
            kept += claimed
            destinations.append(route.destination)
    if not kept:
        return None
    return InternetRoute(table.id, igw.id, tuple(destinations), tuple(merge_intervals(kept)))


def is_public_subnet(snap: Snapshot, subnet_id: str) -> bool:
    """A public subnet: some address leaves through an attached internet gateway."""
    return internet_route(snap, subnet_id) is not None
