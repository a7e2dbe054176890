"""The evaluator's vocabulary: a flow to evaluate, and the verdict with its hops and explanations.

Pure data. The snapshot (what the network looks like) lives in `snapshot.py`; the walk that
turns a snapshot and a flow into a verdict lives in `walk.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from helpers.evaluator.ports import port_text
from helpers.facts import INTERNET_CLIENT_IP  # noqa: F401  (imported from here by the evaluator's callers)

# Where a flow ends up. The data plane acts on this; `explain` prints it.
Outcome = Literal[
    "listener",  # reached an ALB listener: the ALB emulation takes over (rules -> target group -> target)
    "instance",  # reached an instance's port through SGs and NACLs: deliver to what listens there, if anything
    "dropped",   # a route, NACL or SG drops it: the client sees a connect timeout
    "no_listener",  # admitted by the ALB's SG but no listener on that port (AWS's behaviour unconfirmed)
    "unresolved",  # the name or address is not in this region
]


@dataclass(frozen=True)
class Flow:
    """One TCP flow to evaluate.

    source: "internet" (a client with a public IP), an IPv4 address, an instance id (i-...),
            or a security group id (sg-...: any member of that group)
    destination: an ALB DNS name, an EC2 public DNS name or public IP, or a private IP
    """

    destination: str
    port: int
    source: str = "internet"
    protocol: str = "tcp"
    # HTTP details, used for listener rules when the flow reaches an ALB.
    path: str = "/"
    host: str | None = None
    method: str = "GET"

    def __post_init__(self) -> None:
        if not isinstance(self.port, int) or not 1 <= self.port <= 65535:
            raise ValueError(f"port must be an integer 1-65535, got {self.port!r}")
        if self.protocol not in ("tcp",):
            raise ValueError(f"only tcp flows are modelled, got protocol {self.protocol!r}")
        if not self.path.startswith("/"):
            raise ValueError(f"path must start with '/', got {self.path!r}")


@dataclass(frozen=True)
class Hop:
    """One step of a path, with the setting that let the flow through (or stopped it)."""

    kind: str  # "igw", "route", "nacl-in", "nacl-out", "sg-in", "sg-out", "listener", "rule", "target-group", "target", "binding", "container", ...
    resource_id: str  # acl-..., sg-..., rtb-..., the listener/rule/target-group ARN, i-...:port
    allowed: bool
    detail: str  # human words: "NACL acl-0ab inbound rule 100 allows all traffic from 0.0.0.0/0"
    direction: Literal["forward", "return"] = "forward"

    def __str__(self) -> str:
        back = " (return)" if self.direction == "return" else ""
        return f"{'ok ' if self.allowed else 'XX '}{self.kind:<12} {self.detail}{back}"


# Placeholders an explanation's sentences may hold; each is filled from the explanation's fields.
_RESOURCE, _PORTS, _PEER = "{resource}", "{ports}", "{peer}"


@dataclass(frozen=True)
class Explanation:
    """Why a flow is blocked, in Reachability Analyzer's terms where AWS has a code for it.

    Codes AWS does not have start with `LAB_` so nobody mistakes them for AWS's. The sentences
    (`problem`, `remedy`) hold the placeholders {resource}, {ports} and {peer}, filled from the
    fields: `message` and `fix` are the sentences for this one flow, `digest_message` and
    `digest_fix` the same sentences for "any target" (the peer's kind instead of the peer, and
    "<host port>" for a single dynamic host port), so no port is ever edited inside a text.
    """

    code: str  # e.g. "ENI_SG_RULES_MISMATCH", "SUBNET_ACL_RESTRICTION", "ELBV2_LISTENERS_MISMATCH"
    resource_id: str
    problem: str  # what is wrong
    remedy: str  # what to change
    resource_name: str = ""  # the resource's Name tag (a group's name), as learners see it in the tables
    role: str = ""  # what the resource is to this flow: "the ALB's security group", "the target's network ACL"
    direction: Literal["forward", "return"] = "forward"  # "return": the reply of the connection
    ports: tuple[tuple[int, int], ...] = ()  # the TCP port ranges that are blocked
    peer: str = ""  # who is on the other side: "ALB lab-alb", "instance i-0abc (10.0.1.4)"
    peer_kind: str = ""  # the same for any target: "the target" (empty: as `peer`)
    host_port: bool = False  # `ports` is one target's host port: the digest says "<host port>"

    @property
    def resource(self) -> str:
        """The id with the name beside it: "sg-0abc (lab-hosts-sg)"."""
        return f"{self.resource_id} ({self.resource_name})" if self.resource_name else self.resource_id

    def _fill(self, sentence: str, *, digest: bool) -> str:
        ports = "<host port>" if digest and self.host_port else ", ".join(port_text(*p) for p in self.ports)
        peer = (self.peer_kind or self.peer) if digest else self.peer
        return sentence.replace(_RESOURCE, self.resource).replace(_PORTS, ports).replace(_PEER, peer)

    @property
    def message(self) -> str:
        return self._fill(self.problem, digest=False)

    @property
    def fix(self) -> str:
        return self._fill(self.remedy, digest=False)

    @property
    def digest_message(self) -> str:
        return self._fill(self.problem, digest=True)

    @property
    def digest_fix(self) -> str:
        return self._fill(self.remedy, digest=True)

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}\n    fix: {self.fix}"

    def _repr_html_(self) -> str:
        # helpers.evaluator.report renders this module's types: importing it at the top would be a cycle.
        from helpers.evaluator.report import explanation_html

        return explanation_html(self)


@dataclass(frozen=True)
class TargetLeg:
    """The ALB-to-target part of a path: one registered target of the chosen target group."""

    target_group_arn: str
    target_id: str  # instance id (instance targets) or IP (ip targets)
    port: int
    health: str  # the target's health state as DescribeTargetHealth reports it
    hops: tuple[Hop, ...]
    explanations: tuple[Explanation, ...]
    # Filled when an ECS task is bound to target_id:port - who finally answers.
    task_arn: str | None = None
    container_name: str | None = None
    container_port: int | None = None

    @property
    def reachable(self) -> bool:
        return not self.explanations

    def __str__(self) -> str:
        from helpers.evaluator.report import format_leg  # a cycle at module level (report renders model)

        return "\n".join(format_leg(self, verbose=True))

    def _repr_html_(self) -> str:
        from helpers.evaluator.report import leg_html  # a cycle at module level (report renders model)

        return leg_html(self)


@dataclass(frozen=True)
class Verdict:
    flow: Flow
    outcome: Outcome
    hops: tuple[Hop, ...] = ()
    explanations: tuple[Explanation, ...] = ()  # every blocker on the path, not only the first
    # Set when outcome == "listener".
    load_balancer_arn: str | None = None
    listener_arn: str | None = None
    rule_arn: str | None = None
    target_group_arns: tuple[str, ...] = ()
    targets: tuple[TargetLeg, ...] = ()
    # Set when outcome == "instance".
    instance_id: str | None = None
    instance_port: int | None = None

    @property
    def reachable(self) -> bool:
        """The flow reaches something that can answer: a listener whose rule leads to at least one
        reachable target (or a fixed-response/redirect action), or a bound port on an instance."""
        if self.outcome == "listener":
            if self.explanations:
                return False
            return not self.target_group_arns or any(t.reachable for t in self.targets)
        return self.outcome == "instance" and not self.explanations

    def __str__(self) -> str:
        from helpers.evaluator.report import format_verdict  # a cycle at module level (report renders model)

        return format_verdict(self)

    def _repr_html_(self) -> str:
        from helpers.evaluator.report import verdict_html  # a cycle at module level (report renders model)

        return verdict_html(self)


@dataclass(frozen=True)
class RuleMatch:
    """What a listener does with one HTTP request (see walk.route_request)."""

    listener_arn: str
    rule_arn: str
    priority: str  # "1".."50000" or "default"
    action_type: str  # "forward", "fixed-response", "redirect"
    # forward: (target group ARN, weight) pairs; weight 0 never receives traffic.
    target_groups: tuple[tuple[str, int], ...] = ()
    fixed_response: dict | None = None  # {"StatusCode": "404", "ContentType": ..., "MessageBody": ...}
    redirect: dict | None = None
    hops: tuple[Hop, ...] = field(default=())
