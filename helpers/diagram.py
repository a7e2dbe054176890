"""Pictures of an evaluated flow: data first, rendered second.

    verdict = evaluate(snapshot, Flow(alb_dns_name, 8081))
    FlowDiagram.from_verdict(verdict, snapshot)      # a bare expression draws it in the notebook
    legend()                                         # what the colours and boxes mean

`FlowDiagram` is plain data - nodes, edges and boundary clusters - built from a `Verdict` (and,
when given, the snapshot, for subnets, NACLs and security groups). Tests and learners can read
it like any dataclass; only `to_graphviz()` / `to_svg()` turn it into a picture, through the
`dot` program, in memory: nothing is written to disk and no viewer opens.

The path is drawn as stations (places a packet arrives at) joined by edges (the checks on the
way there):

    client -> IGW -> ALB -> listener -> rule -> target group -> instance:hostPort -> container:port

The network checks of a stretch (route, NACL in/out incl. the return path, SG) sit on the edge
that enters the ALB (or the instance, for a direct flow) and, for each target, on the edge from
the target group to `instance:hostPort`. An edge is red when a check on it blocks, labelled
with every explanation code that belongs there; green when the flow gets through it; black
when its own checks pass but something earlier already stops the flow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace, field

import graphviz

from helpers.evaluator.model import Explanation, Hop, TargetLeg, Verdict
from helpers.evaluator.report import RANDOM_ID
from helpers.evaluator.routes import is_public_subnet

# -- the data ---------------------------------------------------------------------------------
EDGE_STATUSES = ("allowed", "blocked", "not-reached")
DETAILS = ("compact", "full")
# How targets are drawn: "each" registered target (instance:hostPort), or "by-host": the targets
# of a target group on one host as one node - the same picture however many tasks ECS is
# replacing at that moment (draining and new targets come and go; the hosts and blockers stay).
TARGET_VIEWS = ("each", "by-host")


@dataclass(frozen=True)
class Node:
    id: str  # stable and unique: "client", "alb:<arn>", "target:i-0abc...:32768", ...
    label: str  # lines separated by "\n", short ids only
    kind: str  # client, igw, alb, instance, listener, rule, target-group, target, container, unknown, note
    cluster: str | None = None  # the innermost boundary the node sits in
    health: str | None = None  # targets: the DescribeTargetHealth state ("healthy", "unhealthy", ...)
    missing: bool = False  # the hop that arrives here is blocked (e.g. no listener on that port)
    tooltip: str = ""
    order: str = ""  # the display order: the id with random resource ids replaced by stable names


@dataclass(frozen=True)
class Edge:
    tail: str
    head: str
    status: str  # one of EDGE_STATUSES
    label: str = ""
    codes: tuple[str, ...] = ()  # explanation codes of the blockers on this edge
    dashed: bool = False  # the ALB sends no requests this way (target not healthy)
    tooltip: str = ""  # every check on the edge, in words (shown on hover)


@dataclass(frozen=True)
class Cluster:
    id: str
    label: str
    kind: str  # vpc, nacl, subnet, sg (an instance's groups), alb (the ALB's groups and subnets), instance
    parent: str | None = None
    order: str = ""  # as Node.order


@dataclass(frozen=True)
class Theme:
    background: str
    text: str
    allowed: str
    blocked: str
    not_reached: str
    cluster_lines: dict  # cluster kind -> border colour
    health_fills: dict  # target health state -> fill colour
    node_fill: str


# Not Helvetica: with it, Graphviz's PNG output loses the underscores of small labels
# (ENI_SG_RULES_MISMATCH read as "ENI SG RULES MISMATCH"); DejaVu Sans is on most Linux machines,
# and elsewhere Graphviz falls back to a sans-serif font.
FONT = "DejaVu Sans"

THEMES = {
    "light": Theme(
        background="white", text="#1f2328", allowed="#1a7f37", blocked="#cf222e", not_reached="#1f2328",
        cluster_lines={"vpc": "#8250df", "nacl": "#0969da", "subnet": "#57606a", "sg": "#6e7781",
                       "alb": "#6e7781", "instance": "#9a6700"},
        health_fills={"healthy": "#dafbe1", "unhealthy": "#ffebe9", "initial": "#fff8c5"},
        node_fill="#f6f8fa",
    ),
    "dark": Theme(
        background="#0d1117", text="#e6edf3", allowed="#3fb950", blocked="#f85149", not_reached="#e6edf3",
        cluster_lines={"vpc": "#a371f7", "nacl": "#58a6ff", "subnet": "#8b949e", "sg": "#8b949e",
                       "alb": "#8b949e", "instance": "#d29922"},
        health_fills={"healthy": "#033a16", "unhealthy": "#67060c", "initial": "#4b2900"},
        node_fill="#161b22",
    ),
}


def _choose(name: str, value: str, choices) -> str:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(map(repr, choices))}")
    return value


@dataclass(frozen=True, repr=False)
class FlowDiagram:
    """One evaluated flow as nodes, edges and boundaries. Build it with `from_verdict`."""

    title: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    clusters: tuple[Cluster, ...] = ()
    theme: str = "light"

    def __post_init__(self) -> None:
        _choose("theme", self.theme, THEMES)
        node_ids = {n.id for n in self.nodes}
        cluster_ids = {c.id for c in self.clusters}
        for e in self.edges:
            _choose("edge status", e.status, EDGE_STATUSES)
            if e.tail not in node_ids or e.head not in node_ids:
                raise ValueError(f"edge {e.tail!r} -> {e.head!r} names a node the diagram does not have")
        for item in (*self.nodes, *self.clusters):
            parent = item.cluster if isinstance(item, Node) else item.parent
            if parent is not None and parent not in cluster_ids:
                raise ValueError(f"{item.id!r} sits in cluster {parent!r}, which the diagram does not have")

    @classmethod
    def from_verdict(cls, verdict: Verdict, snapshot=None, *, theme: str = "light",
                     detail: str = "compact", targets: str = "each") -> "FlowDiagram":
        """The picture of `verdict`. With the evaluator's `snapshot`, subnets, NACLs and security
        groups are drawn as boxes around what they contain. `detail="full"` writes every check
        on the edges instead of only on hover. `targets="by-host"` draws one node per host
        instead of one per target (see TARGET_VIEWS)."""
        _choose("theme", theme, THEMES)
        _choose("detail", detail, DETAILS)
        _choose("targets", targets, TARGET_VIEWS)
        return _Builder(verdict, snapshot, detail, targets).build(theme)

    def with_theme(self, theme: str) -> "FlowDiagram":
        return FlowDiagram(self.title, self.nodes, self.edges, self.clusters, theme)

    # -- questions a test or a learner asks of the data ---------------------------------------
    def node(self, node_id: str) -> Node:
        return next(n for n in self.nodes if n.id == node_id)

    def edge(self, tail: str, head: str) -> Edge:
        return next(e for e in self.edges if (e.tail, e.head) == (tail, head))

    @property
    def blocked_edges(self) -> tuple[Edge, ...]:
        return tuple(e for e in self.edges if e.status == "blocked")

    # -- rendering ----------------------------------------------------------------------------
    def to_graphviz(self) -> graphviz.Digraph:
        """The diagram as a graphviz.Digraph (in memory). Nodes, edges and clusters are emitted
        in sorted order with generated names, so equal data gives byte-identical output."""
        t = THEMES[self.theme]
        font = {"fontname": FONT, "fontsize": "10", "fontcolor": t.text}
        g = graphviz.Digraph(
            "flow",
            graph_attr={"rankdir": "LR", "bgcolor": t.background, "label": _dot(self.title), "labelloc": "t",
                        "nodesep": "0.2", "ranksep": "0.35", "pad": "0.1", **font, "fontsize": "11"},
            node_attr={"shape": "box", "style": "rounded,filled", "fillcolor": t.node_fill, "color": t.text,
                       "margin": "0.08,0.03", "height": "0.3", **font},
            edge_attr={"arrowsize": "0.6", "color": t.text, **font, "fontsize": "9"},
        )
        # Generated names: ARNs contain ':' which DOT would read as a node port.
        # Ordered by `order`, not by id: ids hold random resource ids, and the same stack built
        # twice must draw the same picture (host-1 above host-2, subnet a above b).
        by_order = lambda item: (item.order or item.id, item.id)  # noqa: E731
        names = {n.id: f"n{i}" for i, n in enumerate(sorted(self.nodes, key=by_order))}
        order_of = {n.id: n.order or n.id for n in self.nodes}
        # Reverse order: with rankdir LR, dot stacks what shares a rank bottom-up in the order it
        # meets it, so this reads top-down in id order (port 32768 above 32769, subnet a above b).
        children: dict[str | None, list[Cluster]] = {}
        for c in sorted(self.clusters, key=by_order, reverse=True):
            children.setdefault(c.parent, []).append(c)
        members: dict[str | None, list[Node]] = {}
        for n in sorted(self.nodes, key=by_order, reverse=True):
            members.setdefault(n.cluster, []).append(n)
        counter = iter(range(len(self.clusters)))

        def fill(graph, cluster_id: str | None) -> None:
            for n in members.get(cluster_id, []):
                graph.node(names[n.id], **self._node_attrs(n, t))
            for c in children.get(cluster_id, []):
                with graph.subgraph(name=f"cluster_{next(counter)}") as sub:  # "cluster_" makes it a box
                    sub.attr(label=_dot(c.label), color=t.cluster_lines.get(c.kind, t.text),
                             style="rounded,dashed" if c.kind in ("sg", "alb") else "rounded",
                             labeljust="l", fontsize="9", margin="6")
                    fill(sub, c.id)

        fill(g, None)
        for e in sorted(self.edges, key=lambda e: (order_of[e.tail], order_of[e.head])):
            g.edge(names[e.tail], names[e.head], **self._edge_attrs(e, t))
        return g

    def to_svg(self) -> str:
        return self.to_graphviz().pipe(format="svg", encoding="utf-8")

    def __repr__(self) -> str:
        # What a static page or a text console shows instead of the picture: one line.
        codes = sorted({code for edge in self.blocked_edges for code in edge.codes})
        blocked = f"; blocked: {', '.join(codes)}" if codes else ""
        return f"<picture: {self.title.strip()} - {len(self.nodes)} nodes, {len(self.edges)} edges{blocked}>"

    def _repr_svg_(self) -> str:
        return self.to_svg()

    def _repr_png_(self) -> bytes:
        # Beside the SVG: JupyterLab does not render SVG from an untrusted notebook (a fresh
        # clone's are), and falls back to a safe format when the output has one - PNG here. So the
        # picture shows the moment a notebook is opened, in JupyterLab and on a forge alike.
        return self.to_graphviz().pipe(format="png")

    @staticmethod
    def _node_attrs(n: Node, t: Theme) -> dict:
        attrs = {"label": _dot(n.label)}
        if n.tooltip:
            attrs["tooltip"] = _dot(n.tooltip)
        if n.kind == "note":
            attrs.update(shape="plaintext", style="")
        elif n.kind == "client":
            attrs.update(shape="ellipse", style="filled")
        if n.health is not None:
            attrs["fillcolor"] = t.health_fills.get(n.health, t.node_fill)
            if n.health != "healthy":
                attrs.update(color=t.blocked if n.health == "unhealthy" else t.text, penwidth="2",
                             style="rounded,filled" if n.health == "unhealthy" else "rounded,filled,dashed")
        if n.missing:
            attrs.update(color=t.blocked, penwidth="2", style="rounded,dashed")
        return attrs

    @staticmethod
    def _edge_attrs(e: Edge, t: Theme) -> dict:
        colour = {"allowed": t.allowed, "blocked": t.blocked, "not-reached": t.not_reached}[e.status]
        attrs = {"color": colour, "fontcolor": colour}
        if e.label:
            attrs["label"] = _dot(e.label)
        if e.tooltip:
            attrs["tooltip"] = _dot(e.tooltip)
        if e.status == "blocked":
            attrs["penwidth"] = "2.2"
            attrs["fontsize"] = "10"  # at 9, a red label's underscores vanish in small renderings
        elif e.status == "allowed":
            attrs["penwidth"] = "1.6"
        if e.dashed:
            attrs["style"] = "dashed"
        return attrs


def _dot(text: str) -> str:
    """Text as a DOT escString: a literal backslash stays one; a newline becomes a line break."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


# -- short, readable names --------------------------------------------------------------------
_AWS_ID = re.compile(r"^([a-z]+)-([0-9a-f]{8,})$")


def shorten(resource: str) -> str:
    """The readable part of an ARN, id or DNS name, for labels:

    target group ARN -> its name, load balancer ARN -> its name, ECS task ARN -> 8 characters of
    the task id, `i-0abc123456789def0` -> `i-0abc12`, `i-0abc123456789def0:32768` -> `i-0abc12:32768`,
    `lab-alb-1.us-east-1.elb.amazonaws.com` -> `lab-alb-1`.
    """
    if resource.startswith("arn:"):
        path = resource.split(":", 5)[-1]
        kind, _, rest = path.partition("/")
        parts = rest.split("/")
        if kind == "targetgroup":
            return parts[0]
        if kind == "loadbalancer":
            return parts[1] if len(parts) > 1 else parts[0]
        if kind == "listener":
            return f"listener {parts[-1][:6]}"
        if kind == "listener-rule":
            return f"rule {parts[-1][:6]}"
        if kind == "task":
            return parts[-1][:8]
        return parts[-1] or path
    if resource.endswith(".amazonaws.com"):
        return resource.split(".", 1)[0]
    if ":" in resource:
        return ":".join(shorten(part) for part in resource.split(":"))
    match = _AWS_ID.match(resource)
    return f"{match[1]}-{match[2][:6]}" if match else resource


# -- building the data from a verdict ---------------------------------------------------------
_CHECK_WORDS = {"route": "route", "nacl-in": "NACL in", "nacl-out": "NACL out", "sg-in": "SG in",
                "sg-out": "SG out", "igw": "IGW"}
# Hops that arrive somewhere (a new node); every other hop is a check on the way.
_STATIONS = ("igw", "listener", "rule", "target-group", "binding", "container")


@dataclass
class _Draft:
    """An edge while it is being built: the hops checked on it and the codes assigned to it."""

    tail: str
    head: str
    label: str
    hops: list[Hop] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    blockers: list[Explanation] = field(default_factory=list)
    reached: bool = False
    dashed: bool = False

    @property
    def blocked(self) -> bool:
        return bool(self.codes) or any(not h.allowed for h in self.hops)


def _blocker_label(e: Explanation) -> str:
    """A blocker on an edge, from its fields: the code, and whose setting it is ("the target's
    network ACL, return"). No id and no port: the label reads the same on every run."""
    where = ", ".join(part for part in (e.role, "return" if e.direction == "return" else "") if part)
    return f"{e.code}\n({where})" if where else e.code


_PORT_SUFFIX = re.compile(r":\d+$")  # "i-0abc:32768" -> "i-0abc"


def _union(explanation_lists) -> tuple[Explanation, ...]:
    """Every blocker of several targets once: two targets blocked by the same setting the same way
    are one blocker (their ports differ, the blocker label has none)."""
    seen: dict[tuple, Explanation] = {}
    for explanations in explanation_lists:
        for e in explanations:
            seen.setdefault((e.code, e.resource_id, e.role, e.direction), e)
    return tuple(seen.values())


def _distinct_hops(hops) -> list[Hop]:
    """Hops of several targets, one per check (kind, resource without a target's port, direction,
    outcome)."""
    seen: dict[tuple, Hop] = {}
    for h in hops:
        seen.setdefault((h.kind, _PORT_SUFFIX.sub("", h.resource_id), h.direction, h.allowed), h)
    return list(seen.values())


class _StableNames:
    """Rewrites ids for ordering: each random resource id becomes a name that is the same every
    time the same stack is built (an instance's Name tag, a subnet's CIDR, a group's name...)."""

    _ID = re.compile(r"arn:aws:[^\s]+|" + RANDOM_ID.pattern)

    def __init__(self, snap) -> None:
        self.names: dict[str, str] = {}
        if snap is None:
            return
        names = self.names
        names |= {v.id: "vpc " + ",".join(v.cidr_blocks) for v in snap.vpc_by_id.values()}
        names |= {s.id: "subnet " + s.cidr for s in snap.subnet_by_id.values()}
        names |= {g.id: "sg " + g.name for g in snap.sg_by_id.values()}
        names |= {i.id: "instance " + (i.name or i.id) for i in snap.instance_by_id.values()}
        names |= {lb.arn: "alb " + lb.name for lb in snap.lb_by_arn.values()}
        names |= {tg.arn: "tg " + tg.name for tg in snap.tg_by_arn.values()}
        names |= {listener.arn: f"listener {listener.port:05d}" for listener in snap.listener_by_arn.values()}
        for subnet_id, acl in snap.nacl_by_subnet.items():  # a NACL by its first subnet's CIDR
            cidr = snap.subnet_by_id[subnet_id].cidr if subnet_id in snap.subnet_by_id else subnet_id
            names[acl.id] = min(names.get(acl.id, "nacl " + cidr), "nacl " + cidr)

    def __call__(self, text: str) -> str:
        return self._ID.sub(lambda m: self.names.get(m.group(0), m.group(0)), text)


class _Builder:
    def __init__(self, verdict: Verdict, snapshot, detail: str, targets: str = "each") -> None:
        self.verdict, self.snap, self.detail, self.targets = verdict, snapshot, detail, targets
        self.nodes: dict[str, Node] = {}
        self.clusters: dict[str, Cluster] = {}
        self.drafts: dict[tuple[str, str], _Draft] = {}
        self.alb_cluster: str | None = None

    def build(self, theme: str) -> FlowDiagram:
        front = self._front()
        open_front = self._settle(front, self.verdict.explanations, upstream_open=True)
        legs = sorted(self.verdict.targets, key=lambda leg: (leg.target_group_arn, leg.target_id, leg.port))
        if self.targets == "by-host":
            hosts: dict[tuple[str, str], list[TargetLeg]] = {}
            for leg in legs:
                hosts.setdefault((leg.target_group_arn, leg.target_id), []).append(leg)
            for on_host in hosts.values():
                self._settle(self._host_lane(on_host), _union(leg.explanations for leg in on_host), open_front)
        else:
            for leg in legs:
                self._settle(self._leg(leg), leg.explanations, upstream_open=open_front)
        edges = tuple(self._freeze(d) for d in self.drafts.values())
        stable = _StableNames(self.snap)
        nodes = tuple(replace(n, order=stable(n.id)) for n in self.nodes.values())
        clusters = tuple(replace(c, order=stable(c.id)) for c in self.clusters.values())
        return FlowDiagram(self._title(), nodes, edges, clusters, theme)

    # -- stations and edges -------------------------------------------------------------------
    def _node(self, node: Node) -> str:
        self.nodes.setdefault(node.id, node)
        return node.id

    def _edge(self, tail: str, head: str, label: str = "") -> _Draft:
        # The same stretch reached twice (one target in two target groups) is one edge.
        return self.drafts.setdefault((tail, head), _Draft(tail, head, label))

    def _front(self) -> list[_Draft]:
        """client -> [IGW] -> destination -> listener -> rule -> target group(s)."""
        v = self.verdict
        source = "client\n(internet)" if v.flow.source == "internet" else f"source\n{shorten(v.flow.source)}"
        at = self._node(Node("client", source, "client"))
        lane: list[_Draft] = []
        # The walk checks the IGW once per ALB subnet: one IGW node, every IGW hop on its edge.
        for hop in (h for h in v.hops if h.kind == "igw"):
            igw = self._igw(hop)
            if igw != at:
                lane.append(self._edge(at, igw))
                at = igw
            lane[-1].hops.append(hop)
        destination = self._destination()
        self.alb_cluster = self.nodes[destination].cluster  # listener and rule are part of the ALB
        lane.append(self._edge(at, destination, f":{v.flow.port}"))
        at = before_target_groups = destination
        for hop in (h for h in v.hops if h.kind != "igw"):
            if hop.kind not in _STATIONS:  # a check on the way to the latest station
                lane[-1].hops.append(hop)
                continue
            tail = before_target_groups if hop.kind == "target-group" else at
            head = self._station(hop)
            if head == tail:  # a second hop at the same place belongs to the edge that got here
                lane[-1].hops.append(hop)
                continue
            lane.append(self._edge(tail, head))
            lane[-1].hops.append(hop)
            at = head
            if hop.kind != "target-group":
                before_target_groups = head
        # Target groups the verdict names without a hop of their own still get a node.
        for arn in v.target_group_arns:
            node_id = self._target_group(arn)
            if not any(d.head == node_id for d in lane):
                lane.append(self._edge(before_target_groups, node_id))
        return lane

    def _igw(self, hop: Hop) -> str:
        """The IGW node. A blocked IGW hop may name what it cannot reach instead (a private
        instance, an internal ALB, a VPC without an IGW): then the node is a plain "IGW"."""
        if hop.resource_id.startswith("igw-"):
            return self._node(Node(f"igw:{hop.resource_id}", f"IGW\n{shorten(hop.resource_id)}", "igw",
                                   tooltip=hop.resource_id))
        return self._node(Node("igw", "IGW", "igw", missing=not hop.allowed, tooltip=hop.detail))

    def _leg(self, leg: TargetLeg) -> list[_Draft]:
        """target group -> instance:hostPort (the ALB-to-target checks) -> container:port."""
        cluster = self._place_instance(leg.target_id)
        target = self._node(Node(
            f"target:{leg.target_id}:{leg.port}", f"{shorten(leg.target_id)}:{leg.port}\n{leg.health}", "target",
            cluster, health=leg.health, tooltip=f"{leg.target_id}:{leg.port} ({leg.health})"))
        lane = [self._edge(self._target_group(leg.target_group_arn), target, f":{leg.port}")]
        lane[0].dashed = leg.health != "healthy"  # the ALB routes requests to healthy targets only
        lane[0].hops.extend(h for h in leg.hops if h.kind not in _STATIONS)
        landing = [h for h in leg.hops if h.kind in ("binding", "container")]
        if landing or leg.container_port is not None:
            container = self._node(self._container_node(leg.target_id, leg.port, leg.task_arn,
                                                        leg.container_name, leg.container_port, cluster,
                                                        missing=any(not h.allowed for h in landing)))
            lane.append(self._edge(target, container, f":{leg.container_port}" if leg.container_port else ""))
            lane[-1].hops.extend(landing)
        return lane

    def _host_lane(self, legs: list[TargetLeg]) -> list[_Draft]:
        """target group -> every target on one host (one node) -> its containers (one node). The
        label says whether none, some or all are healthy, never how many or on which port."""
        first = legs[0]
        cluster = self._place_instance(first.target_id)
        healthy = sum(leg.health == "healthy" for leg in legs)
        state = "all healthy" if healthy == len(legs) else "none healthy" if not healthy else "some healthy"
        # awsvpc / static ports: the target's port is the container's, the same on every run.
        fixed = all(leg.port == leg.container_port for leg in legs) and len({leg.port for leg in legs}) == 1
        port = f":{first.port}" if fixed else ":host ports"
        target = self._node(Node(
            f"targets:{first.target_id}", f"targets on {shorten(first.target_id)}{port}\n{state}", "target", cluster,
            health="healthy" if healthy == len(legs) else None,
            tooltip="\n".join(f"{leg.target_id}:{leg.port} ({leg.health})" for leg in legs)))
        lane = [self._edge(self._target_group(first.target_group_arn), target, port)]
        lane[0].dashed = not healthy  # the ALB routes requests to healthy targets only
        lane[0].hops.extend(_distinct_hops(h for leg in legs for h in leg.hops if h.kind not in _STATIONS))
        landing = _distinct_hops(h for leg in legs for h in leg.hops if h.kind in ("binding", "container"))
        container_ports = sorted({leg.container_port for leg in legs if leg.container_port is not None})
        if landing or container_ports:
            names = sorted({leg.container_name or "container" for leg in legs if leg.container_port is not None})
            label = (f"{', '.join(names)}:{', '.join(map(str, container_ports))}" if container_ports
                     else "nothing bound")
            # Missing only when no target on the host has a container behind it.
            missing = all(any(not h.allowed for h in leg.hops if h.kind in ("binding", "container")) for leg in legs)
            container = self._node(Node(f"containers:{first.target_id}", label, "container", cluster, missing=missing))
            lane.append(self._edge(target, container, f":{', '.join(map(str, container_ports))}" if container_ports else ""))
            lane[-1].hops.extend(landing)
        return lane

    def _destination(self) -> str:
        v, snap = self.verdict, self.snap
        lb_arn, instance_id = v.load_balancer_arn, v.instance_id
        resolved = snap.resolve(v.flow.destination) if snap is not None else None
        if lb_arn is None and resolved is not None and resolved.kind == "load_balancer":
            lb_arn = resolved.resource_id
        if instance_id is None and resolved is not None and resolved.kind == "instance":
            instance_id = resolved.resource_id
        if lb_arn is not None:
            return self._node(Node(f"alb:{lb_arn}", f"ALB\n{shorten(lb_arn)}", "alb", self._place_alb(lb_arn),
                                   tooltip=v.flow.destination))
        if instance_id is not None:
            port = v.instance_port or v.flow.port
            return self._node(Node(f"instance:{instance_id}:{port}", f"{shorten(instance_id)}:{port}", "instance",
                                   self._place_instance(instance_id), tooltip=f"{instance_id}:{port}"))
        name = shorten(v.flow.destination)
        return self._node(Node(f"unknown:{v.flow.destination}", f"{name}\n(not in this region)"
                               if v.outcome == "unresolved" else name, "unknown", tooltip=v.flow.destination))

    def _station(self, hop: Hop) -> str:
        """The node a station hop arrives at."""
        v, missing, lb_cluster = self.verdict, not hop.allowed, self.alb_cluster
        if hop.kind == "listener":
            port = self._listener_port(hop.resource_id)
            return self._node(Node(f"listener:{hop.resource_id}", f"listener\n:{port}", "listener", lb_cluster,
                                   missing=missing, tooltip=hop.detail))
        if hop.kind == "rule":
            return self._node(Node(f"rule:{hop.resource_id}", self._rule_label(hop.resource_id), "rule", lb_cluster,
                                   missing=missing, tooltip=hop.detail))
        if hop.kind == "target-group":
            return self._target_group(hop.resource_id)
        # binding / container: what answers on the instance port of a direct flow
        instance_id, port = v.instance_id or "", v.instance_port or v.flow.port
        task = self._task_on(instance_id, port)
        return self._node(self._container_node(
            instance_id, port, task[0].arn if task else None, task[1].container_name if task else None,
            task[1].container_port if task else None, self._place_instance(instance_id), missing))

    def _target_group(self, arn: str) -> str:
        tg = self.snap.tg_by_arn.get(arn) if self.snap is not None else None
        cluster = self._place_vpc(tg.vpc_id) if tg is not None and tg.vpc_id else None
        return self._node(Node(f"tg:{arn}", f"target group\n{shorten(arn)}", "target-group", cluster, tooltip=arn))

    @staticmethod
    def _container_node(instance_id, port, task_arn, name, container_port, cluster, missing=False) -> Node:
        if container_port is None:
            label = f"nothing bound\nto :{port}"
        else:
            label = f"{name or 'container'}:{container_port}" + (f"\ntask {shorten(task_arn)}" if task_arn else "")
        return Node(f"container:{instance_id}:{port}", label, "container", cluster, missing=missing,
                    tooltip=task_arn or "")

    # -- what each edge shows, and whether the flow gets there ---------------------------------
    def _settle(self, lane: list[_Draft], explanations: tuple[Explanation, ...], upstream_open: bool) -> bool:
        """Give every explanation an edge of this lane, then mark what the flow reaches.
        Returns whether the flow gets through the whole lane."""
        for exp in explanations:
            home = self._home(lane, exp)
            home.codes.append(exp.code)
            home.blockers.append(exp)
        is_open = upstream_open
        for draft in lane:
            draft.reached = draft.reached or is_open
            is_open = is_open and not draft.blocked
        return is_open

    @staticmethod
    def _home(lane: list[_Draft], exp: Explanation) -> _Draft:
        """The edge an explanation belongs on: where its resource blocks, else where its resource
        is checked, else the first blocked edge without a code, else the end of the lane."""
        tests = (
            lambda d: any(h.resource_id == exp.resource_id and not h.allowed for h in d.hops),
            lambda d: any(h.resource_id == exp.resource_id for h in d.hops),
            lambda d: d.blocked and not d.codes,
        )
        for test in tests:
            for draft in lane:
                if test(draft):
                    return draft
        return lane[-1]

    def _freeze(self, d: _Draft) -> Edge:
        status = "blocked" if d.blocked else "allowed" if d.reached else "not-reached"
        codes = tuple(dict.fromkeys(d.codes))  # once each, in the order found
        checks = [f"{'ok' if h.allowed else 'BLOCKED'} {_CHECK_WORDS.get(h.kind, h.kind)}"
                  f"{' (return)' if h.direction == 'return' else ''}: {h.detail}" for h in d.hops]
        lines = [d.label] if d.label else []
        if self.detail == "full":
            lines += [f"{'✓' if h.allowed else '✗'} {_CHECK_WORDS.get(h.kind, h.kind)} {shorten(h.resource_id)}"
                      for h in d.hops]
        lines += list(dict.fromkeys(_blocker_label(e) for e in d.blockers)) \
            or [f"✗ {_CHECK_WORDS.get(h.kind, h.kind)}" for h in d.hops if not h.allowed]
        checks += [f"{e.code}: {e.message}" for e in dict.fromkeys(d.blockers)]
        return Edge(d.tail, d.head, status, "\n".join(lines), codes, d.dashed, "\n".join(checks))

    def _title(self) -> str:
        v = self.verdict
        source = "internet" if v.flow.source == "internet" else shorten(v.flow.source)
        state = "reachable" if v.reachable else "blocked" if v.outcome != "unresolved" else "not found"
        return f"{source} -> {shorten(v.flow.destination)}:{v.flow.port}{v.flow.path}   [{state}]"

    # -- boundaries from the snapshot ------------------------------------------------------------
    def _cluster(self, cluster: Cluster) -> str:
        self.clusters.setdefault(cluster.id, cluster)
        return cluster.id

    def _place_vpc(self, vpc_id: str | None) -> str | None:
        vpc = self.snap.vpc_by_id.get(vpc_id) if self.snap is not None and vpc_id else None
        if vpc is None:
            return None
        return self._cluster(Cluster(f"vpc:{vpc.id}", f"VPC {shorten(vpc.id)} {' '.join(vpc.cidr_blocks)}", "vpc"))

    def _is_public(self, subnet_id: str) -> bool:
        """Public subnet: the route primitive finds addresses that leave through an attached IGW."""
        return is_public_subnet(self.snap, subnet_id)

    def _sg_names(self, group_ids) -> str:
        return " + ".join(sorted(self.snap.sg_by_id[g].name if g in self.snap.sg_by_id else shorten(g)
                                 for g in group_ids))

    def _place_instance(self, instance_id: str) -> str | None:
        """VPC > NACL > subnet > security group(s) > instance: the boxes a packet crosses to reach it."""
        snap = self.snap
        instance = snap.instance_by_id.get(instance_id) if snap is not None else None
        if instance is None:
            return None
        parent = self._place_vpc(instance.vpc_id)
        subnet = snap.subnet_by_id.get(instance.subnet_id or "")
        if subnet is not None:
            acl = snap.nacl_by_subnet.get(subnet.id)
            if acl is not None:
                name = f" {acl.name}" if acl.name else ""
                parent = self._cluster(Cluster(f"nacl:{acl.id}", f"NACL {shorten(acl.id)}{name}", "nacl", parent))
            kind = "public" if self._is_public(subnet.id) else "private"
            parent = self._cluster(Cluster(f"subnet:{subnet.id}", f"{subnet.name or shorten(subnet.id)} ({kind}, "
                                           f"{subnet.availability_zone})", "subnet", parent))
        if instance.group_ids:
            groups = "+".join(sorted(instance.group_ids))
            parent = self._cluster(Cluster(f"sg:{instance.subnet_id}:{groups}", f"SG {self._sg_names(instance.group_ids)}",
                                           "sg", parent))
        label = f"instance {shorten(instance.id)}" + (f" {instance.name}" if instance.name not in ("", instance.id) else "")
        return self._cluster(Cluster(f"instance:{instance.id}", label, "instance", parent))

    def _place_alb(self, lb_arn: str) -> str | None:
        """The ALB spans subnets in several AZs, so its box is its security group, inside the VPC,
        with its subnets (and their NACLs) named in the label."""
        lb = self.snap.lb_by_arn.get(lb_arn) if self.snap is not None else None
        if lb is None:
            return None
        subnets = sorted((self.snap.subnet_by_id[s] for s in lb.subnet_ids if s in self.snap.subnet_by_id),
                         key=lambda subnet: (subnet.name, subnet.cidr))
        kinds = sorted({"public" if self._is_public(s.id) else "private" for s in subnets})
        acls = list(dict.fromkeys(shorten(self.snap.nacl_by_subnet[s.id].id) for s in subnets if s.id in self.snap.nacl_by_subnet))
        label = (f"SG {self._sg_names(lb.group_ids)}\n{len(subnets)} {'/'.join(kinds)} subnets: "
                 f"{', '.join(s.name or shorten(s.id) for s in subnets)}" + (f"\nNACL {', '.join(acls)}" if acls else ""))
        return self._cluster(Cluster(f"alb:{lb.arn}", label, "alb", self._place_vpc(lb.vpc_id)))

    # -- small lookups ------------------------------------------------------------------------------
    def _listener_port(self, listener_arn: str) -> int:
        listener = self.snap.listener_by_arn.get(listener_arn) if self.snap is not None else None
        return listener.port if listener is not None else self.verdict.flow.port

    def _rule_label(self, rule_arn: str) -> str:
        rule = next((r for r in self.snap.rules if r.arn == rule_arn), None) if self.snap is not None else None
        if rule is None:
            return f"rule\n{shorten(rule_arn).removeprefix('rule ')}"
        return "rule\ndefault" if rule.is_default else f"rule\npriority {rule.priority}"

    def _task_on(self, instance_id: str, port: int):
        return self.snap.binding_index.get((instance_id, port)) if self.snap is not None else None


# -- the legend -----------------------------------------------------------------------------------
def legend(theme: str = "light") -> FlowDiagram:
    """What the colours, line styles and boxes of a flow diagram mean - itself a small FlowDiagram."""
    _choose("theme", theme, THEMES)
    rows = [
        ("allowed", False, "", "green: the flow gets through"),
        ("blocked", False, "ENI_SG_RULES_MISMATCH", "red: blocked here, with the explanation code\n"
                                                    "(\"return\" when it is the reply that is blocked)"),
        ("not-reached", False, "", "plain: allowed here, but stopped earlier"),
        ("allowed", True, "", "dashed: the ALB sends no requests here (target not healthy)"),
    ]
    nodes, edges = [], []
    for i, (status, dashed, code, words) in enumerate(rows):
        nodes += [Node(f"{i}a", "", "note"), Node(f"{i}b", words, "note")]
        edges.append(Edge(f"{i}a", f"{i}b", status, code, (code,) if code else (), dashed))
    boxes = [Cluster("box:vpc", "VPC", "vpc"), Cluster("box:nacl", "NACL (its subnets)", "nacl", "box:vpc"),
             Cluster("box:subnet", "subnet (public/private, AZ)", "subnet", "box:nacl"),
             Cluster("box:sg", "security group", "sg", "box:subnet"),
             Cluster("box:instance", "instance", "instance", "box:sg")]
    nodes += [
        Node("t1", "i-0abc12:32768\nhealthy", "target", "box:instance", health="healthy"),
        Node("t2", "i-0abc12:32769\nunhealthy", "target", "box:instance", health="unhealthy"),
        Node("t3", "i-0abc12:32770\ndraining", "target", "box:instance", health="draining"),
        Node("t4", "listener\n:8081", "listener", "box:vpc", missing=True),
        Node("t5", "red dashed node: a part the flow\nneeds is missing (no listener on :8081)", "note", "box:vpc"),
    ]
    return FlowDiagram("legend", tuple(nodes), tuple(edges), tuple(boxes), theme)
