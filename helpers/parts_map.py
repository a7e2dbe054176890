"""The parts of the course's stack on one picture, for a newcomer's first look (notebook 00).

Unlike the flow pictures (helpers.diagram), this one is not drawn from an evaluation: it is the
same map every time, naming each AWS part once, where it sits. Shown as PNG, which every viewer
renders, with a one-line text fallback.
"""

from __future__ import annotations

import graphviz

from helpers.diagram import FONT

NEUTRAL = "#555555"
# (cluster id, label, fill colour) - boundaries drawn as neutral boxes, never red
_BOXES = {
    "vpc": ("VPC 10.0.0.0/16 - your private network", "#f4f8fc"),
    "public_a": ("public subnet, AZ a\n(route 0.0.0.0/0 -> IGW; its NACL at the edge)", "#eef6ee"),
    "public_b": ("public subnet, AZ b\n(route 0.0.0.0/0 -> IGW; its NACL at the edge)", "#eef6ee"),
}


class PartsMap:
    """The picture: `_repr_png_` for notebooks, `str()` for a terminal or a static page."""

    def __init__(self, graph: graphviz.Digraph, parts: tuple[str, ...]) -> None:
        self.graph = graph
        self.parts = parts

    def _repr_png_(self) -> bytes:
        return self.graph.pipe(format="png")

    def __repr__(self) -> str:
        return f"<picture: the parts of the stack - {', '.join(self.parts)}>"

    __str__ = __repr__


def parts_map() -> PartsMap:
    """Client -> IGW -> ALB (listener, rule, target group) -> container instances -> tasks."""
    g = graphviz.Digraph("parts", graph_attr={"rankdir": "LR", "fontname": FONT, "fontsize": "11",
                                             "nodesep": "0.25", "ranksep": "0.45"},
                         node_attr={"fontname": FONT, "fontsize": "10", "shape": "box", "style": "rounded",
                                    "color": NEUTRAL},
                         edge_attr={"color": NEUTRAL, "fontname": FONT, "fontsize": "9"})
    g.node("client", "you, on the internet\n203.0.113.10", shape="ellipse")
    g.node("igw", "internet gateway (IGW)\nthe VPC's door")
    with g.subgraph(name="cluster_vpc") as vpc:
        vpc.attr(label=_BOXES["vpc"][0], style="rounded,filled", fillcolor=_BOXES["vpc"][1], color=NEUTRAL)
        vpc.node("alb_sg", "security group of the ALB\n(stateful firewall: admits :80)", shape="note")
        vpc.node("listener", "ALB listener :80\n(Application Load Balancer)")
        vpc.node("rule", "listener rule\n(default: forward)")
        vpc.node("tg", "target group\ninstance:host port targets\n+ health checks")
        for zone in ("a", "b"):
            with vpc.subgraph(name=f"cluster_public_{zone}") as subnet:
                label, fill = _BOXES[f"public_{zone}"]
                subnet.attr(label=label, style="rounded,filled", fillcolor=fill, color=NEUTRAL)
                subnet.node(f"host_{zone}", f"container instance {zone}\n(EC2 + ECS agent)\nits security group")
                subnet.node(f"task_{zone}", f"ECS task {zone}\ncontainer :8081 (Tomcat)\non host port 327xx",
                            shape="component")
                subnet.edge(f"host_{zone}", f"task_{zone}", label="host port -> 8081")
    g.node("ecs", "ECS cluster + service\n(keeps N tasks running,\nregisters each in the target group\nwith the service-linked role)",
           shape="folder")
    g.edge("client", "igw", label="http://<ALB DNS>/")
    g.edge("igw", "alb_sg")
    g.edge("alb_sg", "listener")
    g.edge("listener", "rule")
    g.edge("rule", "tg")
    g.edge("tg", "host_a", label="instance:32768")
    g.edge("tg", "host_b", label="instance:32771")
    g.edge("ecs", "tg", style="dashed", label="RegisterTargets")
    g.edge("ecs", "task_a", style="dashed", label="places tasks")
    parts = ("internet gateway", "VPC", "subnets", "network ACLs", "security groups", "ALB", "listener",
             "listener rule", "target group", "ECS cluster", "service", "tasks", "container instances")
    return PartsMap(g, parts)
