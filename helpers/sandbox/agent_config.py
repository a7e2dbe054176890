"""The ECS agent's own settings, read from an instance's user data as the ECS-optimized AMI reads
/etc/ecs/ecs.config (ECS guide, "Amazon ECS container agent configuration"; agent README,
"Environment Variables"). Pure: text in, settings out.

    settings = agent_settings("echo ECS_CLUSTER=web >> /etc/ecs/ecs.config\\n"
                              "echo ECS_DYNAMIC_HOST_PORT_RANGE=40000-40100 >> /etc/ecs/ecs.config\\n",
                              default_port_range=(32768, 60999))
    settings.cluster, settings.host_port_range, settings.reserved_ports

What the sandbox honours:
- `ECS_CLUSTER=<name>`: the cluster to join (default `default`).
- `ECS_DYNAMIC_HOST_PORT_RANGE=<start>-<end>` (agent >= 1.70.0, README example `100-200`): where
  the agent picks dynamic host ports. Default: the kernel's ip_local_port_range.
- `ECS_RESERVED_PORTS=[22, 80, 5000, 8080]` (README's example, a JSON array): host ports no task
  may take. The README's default is `[22, 2375, 2376, 51678, 51679]`; the ECS API's PortMapping adds
  51680 (facts.RESERVED_HOST_PORTS).

Our choices where AWS does not document the behaviour (said to the learner in `problems`):
- The agent's own ports 51678-51680 stay reserved even when ECS_RESERVED_PORTS leaves them out:
  the agent listens on them itself, so no container could bind them.
- A value the agent cannot read is ignored (the default applies) and named in `problems`; the
  real agent writes such complaints only to its own log on the instance.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from helpers.facts import PORT_MAX, PORT_MIN, RESERVED_HOST_PORTS

DEFAULT_CLUSTER = "default"
# The ports the agent itself listens on (introspection 51678, credentials 51679, 51680).
AGENT_OWN_PORTS = frozenset({51678, 51679, 51680})

# `KEY=value` as a line of ecs.config, or inside `echo KEY=value >> /etc/ecs/ecs.config`.
_SETTING = re.compile(r"\b(ECS_[A-Z_]+)=[\"']?([^\"'\n>]*)")
_CLUSTER_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")
_PORT_RANGE = re.compile(r"(\d+)-(\d+)")


@dataclass(frozen=True)
class AgentSettings:
    cluster: str = DEFAULT_CLUSTER
    cluster_given: bool = False  # False: no ECS_CLUSTER, the agent joins `default`
    host_port_range: tuple[int, int] | None = None  # None: the region's default range
    reserved_ports: frozenset[int] = RESERVED_HOST_PORTS
    problems: tuple[str, ...] = ()  # settings the agent could not read, in words


def raw_settings(user_data: str) -> dict[str, str]:
    """Every ECS_* setting in the script; a later line wins, as in a config file."""
    return {key: value.strip() for key, value in _SETTING.findall(user_data)}


def agent_settings(user_data: str) -> AgentSettings:
    raw = raw_settings(user_data)
    problems: list[str] = []
    cluster, cluster_given = DEFAULT_CLUSTER, False
    if "ECS_CLUSTER" in raw:
        match = _CLUSTER_NAME.match(raw["ECS_CLUSTER"])
        if match:
            cluster, cluster_given = match.group(0), True
        else:
            problems.append(f"ECS_CLUSTER={raw['ECS_CLUSTER']!r} is not a cluster name (1-255 letters, digits, - and _)")
    port_range = None
    if "ECS_DYNAMIC_HOST_PORT_RANGE" in raw:
        port_range = _port_range(raw["ECS_DYNAMIC_HOST_PORT_RANGE"], problems)
    reserved = RESERVED_HOST_PORTS
    if "ECS_RESERVED_PORTS" in raw:
        reserved = _reserved_ports(raw["ECS_RESERVED_PORTS"], problems)
    return AgentSettings(cluster, cluster_given, port_range, reserved, tuple(problems))


def _port_range(value: str, problems: list[str]) -> tuple[int, int] | None:
    match = _PORT_RANGE.fullmatch(value)
    if match:
        low, high = int(match.group(1)), int(match.group(2))
        if PORT_MIN <= low < high <= PORT_MAX:
            return low, high
    problems.append(f"ECS_DYNAMIC_HOST_PORT_RANGE={value!r} is not <start>-<end> with "
                    f"{PORT_MIN} <= start < end <= {PORT_MAX}; the default range applies")
    return None


def _reserved_ports(value: str, problems: list[str]) -> frozenset[int]:
    try:
        ports = json.loads(value)
    except ValueError:
        ports = None
    if (not isinstance(ports, list)
            or not all(isinstance(p, int) and not isinstance(p, bool) and PORT_MIN <= p <= PORT_MAX for p in ports)):
        problems.append(f"ECS_RESERVED_PORTS={value!r} is not a JSON list of ports such as [22, 80]; "
                        "the default reserved ports apply")
        return RESERVED_HOST_PORTS
    return frozenset(ports) | AGENT_OWN_PORTS
