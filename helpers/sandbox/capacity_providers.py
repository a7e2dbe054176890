"""Capacity provider strategies: the FARGATE and FARGATE_SPOT providers run tasks on Fargate.

On AWS the two Fargate capacity providers exist in every account and "only need to be
associated with a cluster to be used" - by CreateCluster's `capacityProviders` or
PutClusterCapacityProviders (ECS API CapacityProviderStrategyItem; ECS guide "Amazon ECS clusters
for Fargate", fargate-capacity-providers.html). A service or RunTask whose strategy names only
them runs Fargate tasks (fargate.py); each task shows the provider it ran on in
`capacityProviderName` (ECS API Task) and, as DescribeTasks output shows, launch type FARGATE.
The tasks are shared out as the strategy says: first `base` tasks on the provider that has one,
then the rest in proportion to the `weight`s (ECS API CapacityProviderStrategyItem).

AWS's checks, before anything is made (texts in `helpers/facts.py`):
- a strategy and a launch type are not given together (ECS API RunTask, CreateService);
  given neither, the cluster's default strategy applies (same pages);
- every provider named must be associated with the cluster (InvalidParameterException);
- "A capacity provider strategy can only contain Auto Scaling group capacity providers or Fargate
  capacity providers" (ECS guide "Amazon ECS clusters for Fargate") - a mix is refused.

What the sandbox does not model, said plainly: FARGATE_SPOT tasks are never interrupted (on AWS
they may be, with a two-minute warning, when AWS needs the capacity back) and Fargate capacity is
never short. Capacity providers backed by an Auto Scaling group are not run (unsupported.py).
Which provider the next task goes to when weights tie is the sandbox's choice: the first named.
"""

from __future__ import annotations

from moto.ecs.exceptions import InvalidParameterException

from helpers.facts import (CAPACITY_PROVIDER_NOT_ASSOCIATED, CAPACITY_PROVIDERS_MIXED,
                           LAUNCH_TYPE_AND_CAPACITY_PROVIDERS)

FARGATE_PROVIDERS = ("FARGATE", "FARGATE_SPOT")


def names(strategy) -> list[str]:
    return [item["capacityProvider"] for item in strategy or []]


def on_fargate(strategy) -> bool:
    """Whether a strategy names only the Fargate providers (so its tasks run on Fargate)."""
    return bool(strategy) and all(name in FARGATE_PROVIDERS for name in names(strategy))


def effective_strategy(cluster, launch_type: str | None, strategy) -> list:
    """The strategy a RunTask / CreateService call uses on `cluster` (a moto Cluster), checked as
    AWS checks it (InvalidParameterException); [] when it names a launch type."""
    if launch_type and strategy:
        raise InvalidParameterException(LAUNCH_TYPE_AND_CAPACITY_PROVIDERS)
    if not launch_type and not strategy:
        strategy = cluster.default_capacity_provider_strategy
    check(cluster, strategy)
    return list(strategy or [])


def check(cluster, strategy) -> None:
    """AWS's checks of a strategy on `cluster`: InvalidParameterException."""
    if not strategy:
        return
    associated = set(cluster.capacity_providers or [])
    if any(name not in associated for name in names(strategy)):
        raise InvalidParameterException(CAPACITY_PROVIDER_NOT_ASSOCIATED)
    fargate = [name in FARGATE_PROVIDERS for name in names(strategy)]
    if any(fargate) and not all(fargate):
        raise InvalidParameterException(CAPACITY_PROVIDERS_MIXED)


def provider_for(strategy, placed: list[str]) -> str:
    """The provider for one more task, given the providers of the tasks already `placed`:
    a provider still short of its `base` first; beyond the bases, the one furthest below its
    `weight`'s share (ties: the first named)."""
    bases = {item["capacityProvider"]: int(item.get("base") or 0) for item in strategy}
    for name, base in bases.items():
        if placed.count(name) < base:
            return name
    weighted = [item for item in strategy if int(item.get("weight") or 0) > 0] or list(strategy)[:1]
    total = sum(int(item.get("weight") or 0) for item in weighted) or 1
    beyond = {name: placed.count(name) - base for name, base in bases.items()}
    next_count = sum(beyond.values()) + 1

    def shortfall(item) -> float:
        return beyond[item["capacityProvider"]] - next_count * int(item.get("weight") or 0) / total

    return min(weighted, key=shortfall)["capacityProvider"]
