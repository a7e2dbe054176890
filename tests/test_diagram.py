"""helpers/diagram.py: the data built from hand-made verdicts (and a hand-made snapshot), then one
real render through `dot`."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET

import pytest

from helpers import diagram as d
from helpers.evaluator import snapshot as s
from helpers.evaluator.model import Explanation, Flow, Hop, TargetLeg, Verdict

ACCOUNT = "arn:aws:elasticloadbalancing:us-east-1:123456789012"
LB = f"{ACCOUNT}:loadbalancer/app/lab-alb/50dc6c495c0c9188"
LISTENER = f"{ACCOUNT}:listener/app/lab-alb/50dc6c495c0c9188/f2f7dc8efc522ab2"
RULE = f"{ACCOUNT}:listener-rule/app/lab-alb/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee"
TG = f"{ACCOUNT}:targetgroup/web/73e2d6bc24d8a067"
DNS = "lab-alb-1234567890.us-east-1.elb.amazonaws.com"
INSTANCE = "i-0abc123456789def0"
TASK = "arn:aws:ecs:us-east-1:123456789012:task/lab/1f2e3d4c5b6a79880123456789abcdef"


def snapshot() -> s.Snapshot:
    """The seed's shape: an ALB in two public subnets, one ECS instance in a private subnet."""
    return s.Snapshot(
        vpcs=(s.Vpc("vpc-0aaa111122223333", ("10.0.0.0/16",)),),
        subnets=(s.Subnet("subnet-0pub1aaaa1111", "vpc-0aaa111122223333", "10.0.1.0/24", "us-east-1a", name="public-a"),
                 s.Subnet("subnet-0pub2bbbb2222", "vpc-0aaa111122223333", "10.0.2.0/24", "us-east-1b", name="public-b"),
                 s.Subnet("subnet-0prv1cccc3333", "vpc-0aaa111122223333", "10.0.11.0/24", "us-east-1a", name="private-a")),
        route_tables=(
            s.RouteTable("rtb-0pub", "vpc-0aaa111122223333",
                         (s.Route("10.0.0.0/16", "local"), s.Route("0.0.0.0/0", "igw-0ddd444455556666")),
                         ("subnet-0pub1aaaa1111", "subnet-0pub2bbbb2222")),
            s.RouteTable("rtb-0main", "vpc-0aaa111122223333", (s.Route("10.0.0.0/16", "local"),), main=True)),
        internet_gateways=(s.InternetGateway("igw-0ddd444455556666", ("vpc-0aaa111122223333",)),),
        network_acls=(s.NetworkAcl("acl-0eee777788889999", "vpc-0aaa111122223333", (),
                                   ("subnet-0pub1aaaa1111", "subnet-0pub2bbbb2222", "subnet-0prv1cccc3333"), True),),
        security_groups=(s.SecurityGroup("sg-0a1b000011112222", "alb-sg", "vpc-0aaa111122223333"),
                         s.SecurityGroup("sg-0c3d000033334444", "ecs-hosts", "vpc-0aaa111122223333")),
        instances=(s.Instance(INSTANCE, "running", "subnet-0prv1cccc3333", "vpc-0aaa111122223333", "10.0.11.5",
                              ("sg-0c3d000033334444",), name="ecs-host-1"),),
        load_balancers=(s.LoadBalancer(LB, "lab-alb", DNS, "internet-facing", "vpc-0aaa111122223333",
                                       ("subnet-0pub1aaaa1111", "subnet-0pub2bbbb2222"), ("sg-0a1b000011112222",)),),
        listeners=(s.Listener(LISTENER, LB, 80, "HTTP"),),
        rules=(s.ListenerRule(RULE, LISTENER, "default", (), ()),),
        target_groups=(s.TargetGroup(TG, "web", "HTTP", 80, "vpc-0aaa111122223333", "instance", (LB,)),),
        tasks=(s.Task(TASK, "lab", "RUNNING", "RUNNING", INSTANCE, (s.PortBinding("tomcat", 8081, 32768),)),),
    )


def hop(kind, resource, allowed=True, direction="forward"):
    return Hop(kind, resource, allowed, f"{kind} {resource} {'allows' if allowed else 'denies'}", direction)


def leg(port, health="healthy", blocked_by_sg=False, task=TASK):
    explanations = (Explanation("ENI_SG_RULES_MISMATCH", "sg-0c3d000033334444", "ecs-hosts admits nothing from alb-sg",
                                "allow 32768-60999 from alb-sg"),) if blocked_by_sg else ()
    hops = (hop("sg-out", "sg-0a1b000011112222"), hop("nacl-out", "acl-0eee777788889999"),
            hop("nacl-in", "acl-0eee777788889999"), hop("sg-in", "sg-0c3d000033334444", not blocked_by_sg),
            hop("nacl-out", "acl-0eee777788889999", direction="return"), hop("binding", f"{INSTANCE}:{port}"))
    return TargetLeg(TG, INSTANCE, port, health, hops, explanations, task, "tomcat", 8081)


def alb_verdict(*legs):
    """GET http://<ALB>/ : through the IGW, the ALB's subnet NACL and SG, listener 80, the default rule."""
    return Verdict(
        Flow(DNS, 80), "listener",
        hops=(hop("igw", "igw-0ddd444455556666"), hop("nacl-in", "acl-0eee777788889999"),
              hop("sg-in", "sg-0a1b000011112222"), hop("nacl-out", "acl-0eee777788889999", direction="return"),
              hop("listener", LISTENER), hop("rule", RULE), hop("target-group", TG)),
        load_balancer_arn=LB, listener_arn=LISTENER, rule_arn=RULE, target_group_arns=(TG,), targets=legs)


def port_8081_verdict():
    """GET http://<ALB>:8081/ : the ALB's SG has no rule for 8081, and no listener is there either."""
    return Verdict(
        Flow(DNS, 8081), "dropped",
        hops=(hop("igw", "igw-0ddd444455556666"), hop("nacl-in", "acl-0eee777788889999"),
              hop("sg-in", "sg-0a1b000011112222", allowed=False)),
        explanations=(Explanation("ENI_SG_RULES_MISMATCH", "sg-0a1b000011112222", "alb-sg admits 80 only", "..."),
                      Explanation("ELBV2_LISTENERS_MISMATCH", LB, "no listener on 8081", "...")))


ALB_NODE, TARGET_GROUP = f"alb:{LB}", f"tg:{TG}"
TARGET_OK, TARGET_BAD = f"target:{INSTANCE}:32768", f"target:{INSTANCE}:32769"


# -- the path ------------------------------------------------------------------------------------

def test_an_open_path_runs_client_igw_alb_listener_rule_target_group_target_container_in_green():
    pic = d.FlowDiagram.from_verdict(alb_verdict(leg(32768)))
    chain = ["client", "igw:igw-0ddd444455556666", ALB_NODE, f"listener:{LISTENER}", f"rule:{RULE}", TARGET_GROUP,
             TARGET_OK, f"container:{INSTANCE}:32768"]
    for tail, head in zip(chain, chain[1:]):
        assert pic.edge(tail, head).status == "allowed", (tail, head)
    assert len(pic.edges) == len(chain) - 1
    assert pic.blocked_edges == ()
    assert "[reachable]" in pic.title


def test_labels_are_short_and_readable():
    pic = d.FlowDiagram.from_verdict(alb_verdict(leg(32768)))
    assert pic.node(ALB_NODE).label == "ALB\nlab-alb"
    assert pic.node(TARGET_GROUP).label == "target group\nweb"
    assert pic.node(TARGET_OK).label == "i-0abc12:32768\nhealthy"
    assert pic.node(f"container:{INSTANCE}:32768").label == "tomcat:8081\ntask 1f2e3d4c"
    assert pic.node(f"listener:{LISTENER}").label == "listener\n:80"
    assert pic.edge("igw:igw-0ddd444455556666", ALB_NODE).label == ":80"
    assert pic.edge(TARGET_GROUP, TARGET_OK).label == ":32768"
    assert pic.edge(TARGET_OK, f"container:{INSTANCE}:32768").label == ":8081"


def test_network_checks_sit_on_the_edge_into_the_alb_with_their_words_on_hover():
    edge = d.FlowDiagram.from_verdict(alb_verdict()).edge("igw:igw-0ddd444455556666", ALB_NODE)
    assert edge.tooltip.splitlines() == [
        "ok NACL in: nacl-in acl-0eee777788889999 allows",
        "ok SG in: sg-in sg-0a1b000011112222 allows",
        "ok NACL out (return): nacl-out acl-0eee777788889999 allows",
    ]


def test_full_detail_writes_each_check_on_its_edge():
    edge = d.FlowDiagram.from_verdict(alb_verdict(), detail="full").edge("igw:igw-0ddd444455556666", ALB_NODE)
    assert edge.label.splitlines() == [":80", "✓ NACL in acl-0eee77", "✓ SG in sg-0a1b00", "✓ NACL out acl-0eee77"]


def test_the_blocked_hop_is_red_with_every_code_that_belongs_there():
    pic = d.FlowDiagram.from_verdict(port_8081_verdict(), snapshot())  # the snapshot knows the DNS name's ALB
    (blocked,) = pic.blocked_edges
    assert (blocked.tail, blocked.head) == ("igw:igw-0ddd444455556666", ALB_NODE)
    assert blocked.codes == ("ENI_SG_RULES_MISMATCH", "ELBV2_LISTENERS_MISMATCH")
    assert blocked.label.splitlines() == [":8081", "ENI_SG_RULES_MISMATCH", "ELBV2_LISTENERS_MISMATCH"]
    assert pic.edge("client", "igw:igw-0ddd444455556666").status == "allowed"
    assert "[blocked]" in pic.title


def test_with_blockers_on_several_hops_each_is_red_and_what_lies_after_the_first_is_not_reached():
    verdict = Verdict(
        Flow("54.1.2.3", 32768), "dropped",
        hops=(hop("igw", "igw-0ddd444455556666", allowed=False), hop("sg-in", "sg-0c3d000033334444", allowed=False),
              hop("binding", f"{INSTANCE}:32768")),
        explanations=(Explanation("IGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS", "igw-0ddd444455556666", "no public IP", "..."),
                      Explanation("ENI_SG_RULES_MISMATCH", "sg-0c3d000033334444", "host ports closed", "...")),
        instance_id=INSTANCE, instance_port=32768)
    pic = d.FlowDiagram.from_verdict(verdict, snapshot())
    instance, container = f"instance:{INSTANCE}:32768", f"container:{INSTANCE}:32768"
    assert pic.edge("client", "igw:igw-0ddd444455556666").codes == ("IGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS",)
    assert pic.edge("igw:igw-0ddd444455556666", instance).codes == ("ENI_SG_RULES_MISMATCH",)
    assert pic.edge(instance, container).status == "not-reached"
    assert pic.node(container).label == "tomcat:8081\ntask 1f2e3d4c"  # who listens there, from the snapshot


def test_a_blocked_target_leg_is_red_and_its_sibling_stays_green():
    pic = d.FlowDiagram.from_verdict(alb_verdict(leg(32768), leg(32769, "unhealthy", blocked_by_sg=True)))
    assert pic.edge(TARGET_GROUP, TARGET_OK).status == "allowed"
    bad = pic.edge(TARGET_GROUP, TARGET_BAD)
    assert (bad.status, bad.codes) == ("blocked", ("ENI_SG_RULES_MISMATCH",))
    assert pic.edge(TARGET_BAD, f"container:{INSTANCE}:32769").status == "not-reached"


def test_unhealthy_targets_are_marked_and_the_alb_sends_them_nothing():
    pic = d.FlowDiagram.from_verdict(alb_verdict(leg(32768), leg(32769, "unhealthy")))
    assert pic.node(TARGET_BAD).health == "unhealthy"
    assert "unhealthy" in pic.node(TARGET_BAD).label
    assert pic.edge(TARGET_GROUP, TARGET_BAD).dashed and not pic.edge(TARGET_GROUP, TARGET_OK).dashed
    attrs = d.FlowDiagram._node_attrs(pic.node(TARGET_BAD), d.THEMES["light"])
    assert attrs["color"] == d.THEMES["light"].blocked and attrs["fillcolor"] == d.THEMES["light"].health_fills["unhealthy"]


def test_when_the_front_is_blocked_the_target_legs_are_not_reached():
    verdict = alb_verdict(leg(32768))
    blocked_front = Verdict(verdict.flow, "dropped", hops=(hop("igw", "igw-0ddd444455556666"),
                                                           hop("nacl-in", "acl-0eee777788889999", allowed=False)),
                            explanations=(Explanation("SUBNET_ACL_RESTRICTION", "acl-0eee777788889999", "", ""),),
                            load_balancer_arn=LB, target_group_arns=(TG,), targets=verdict.targets)
    pic = d.FlowDiagram.from_verdict(blocked_front)
    assert pic.edge(ALB_NODE, TARGET_GROUP).status == "not-reached"  # no rule hop: straight to the group
    assert pic.edge(TARGET_GROUP, TARGET_OK).status == "not-reached"


def test_an_unresolved_destination_is_named_as_not_in_the_region():
    pic = d.FlowDiagram.from_verdict(Verdict(Flow("nowhere.example.com", 80), "unresolved"))
    assert pic.node("unknown:nowhere.example.com").label == "nowhere.example.com\n(not in this region)"
    assert "[not found]" in pic.title


# -- boundaries from the snapshot ---------------------------------------------------------------

def test_the_snapshot_draws_vpc_nacl_subnet_sg_and_instance_boxes():
    pic = d.FlowDiagram.from_verdict(alb_verdict(leg(32768)), snapshot())
    clusters = {c.id: c for c in pic.clusters}
    instance = clusters[f"instance:{INSTANCE}"]
    sg = clusters[instance.parent]
    subnet = clusters[sg.parent]
    nacl = clusters[subnet.parent]
    assert (instance.label, sg.label, subnet.label, nacl.label) == (
        "instance i-0abc12 ecs-host-1", "SG ecs-hosts", "private-a (private, us-east-1a)", "NACL acl-0eee77")
    assert clusters[nacl.parent].label == "VPC vpc-0aaa11 10.0.0.0/16"
    alb_box = clusters[pic.node(ALB_NODE).cluster]
    assert alb_box.label == "SG alb-sg\n2 public subnets: public-a, public-b\nNACL acl-0eee77"
    assert pic.node(f"listener:{LISTENER}").cluster == alb_box.id
    assert pic.node(f"rule:{RULE}").label == "rule\ndefault"
    assert pic.node(TARGET_OK).cluster == pic.node(f"container:{INSTANCE}:32768").cluster == instance.id
    assert pic.node("client").cluster is None and pic.node("igw:igw-0ddd444455556666").cluster is None


def test_a_dropped_flow_finds_its_alb_through_the_snapshot():
    pic = d.FlowDiagram.from_verdict(port_8081_verdict(), snapshot())
    assert pic.node(ALB_NODE).cluster == f"alb:{LB}"


def test_without_a_snapshot_there_are_no_boxes():
    assert d.FlowDiagram.from_verdict(alb_verdict(leg(32768))).clusters == ()


# -- names, options, validation ------------------------------------------------------------------

@pytest.mark.parametrize("resource, short", [
    (TG, "web"), (LB, "lab-alb"), (TASK, "1f2e3d4c"), (INSTANCE, "i-0abc12"), (f"{INSTANCE}:32768", "i-0abc12:32768"),
    (DNS, "lab-alb-1234567890"), (LISTENER, "listener f2f7dc"), (RULE, "rule 9683b2"), ("10.0.1.5", "10.0.1.5"),
])
def test_shorten(resource, short):
    assert d.shorten(resource) == short


def test_bad_options_say_what_to_choose():
    with pytest.raises(ValueError, match=r"unknown theme 'x'; choose one of 'light', 'dark'"):
        d.FlowDiagram.from_verdict(alb_verdict(), theme="x")
    with pytest.raises(ValueError, match=r"unknown detail 'all'; choose one of 'compact', 'full'"):
        d.FlowDiagram.from_verdict(alb_verdict(), detail="all")
    with pytest.raises(ValueError, match="unknown theme"):
        d.legend("neon")


def test_edges_and_clusters_must_name_what_exists():
    with pytest.raises(ValueError, match="names a node the diagram does not have"):
        d.FlowDiagram("t", (d.Node("a", "a", "client"),), (d.Edge("a", "b", "allowed"),))
    with pytest.raises(ValueError, match="sits in cluster 'nope'"):
        d.FlowDiagram("t", (d.Node("a", "a", "client", cluster="nope"),), ())


def test_the_legend_is_a_diagram_with_every_edge_status():
    key = d.legend()
    assert {e.status for e in key.edges} == set(d.EDGE_STATUSES)
    assert any(e.dashed for e in key.edges)
    assert {c.kind for c in key.clusters} >= {"nacl", "subnet", "sg"}


# -- rendering ---------------------------------------------------------------------------------------

def test_dot_source_is_deterministic_and_uses_safe_names():
    first = d.FlowDiagram.from_verdict(alb_verdict(leg(32768), leg(32769, "unhealthy")), snapshot())
    second = d.FlowDiagram.from_verdict(alb_verdict(leg(32769, "unhealthy"), leg(32768)), snapshot())
    assert first.to_graphviz().source == second.to_graphviz().source
    statements = re.findall(r"^\t*(\S+) (?:-> (\S+) )?\[", first.to_graphviz().source, re.M)
    names = {name for pair in statements for name in pair if name} - {"graph", "node", "edge"}
    assert names and all(re.fullmatch(r"n\d+", name) for name in names)  # ARNs (with ':') never name a node
    assert "rankdir=LR" in first.to_graphviz().source
    assert "bgcolor=\"#0d1117\"" in first.with_theme("dark").to_graphviz().source


@pytest.mark.skipif(shutil.which("dot") is None, reason="the graphviz `dot` program is not installed")
def test_svg_renders_through_dot_parses_as_xml_and_shows_the_blocked_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pic = d.FlowDiagram.from_verdict(port_8081_verdict(), snapshot())
    svg = pic._repr_svg_()
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    assert "ENI_SG_RULES_MISMATCH" in svg and "ELBV2_LISTENERS_MISMATCH" in svg
    assert svg == pic.to_svg()  # byte-identical renders
    assert list(tmp_path.iterdir()) == []  # nothing written to the working directory
    ET.fromstring(d.legend("dark").to_svg())


def test_the_seed_stack_through_the_real_evaluator():
    from helpers.evaluator import evaluate
    from helpers.evaluator import examples as ex

    snap = ex.seed_snapshot(hosts_in="private")
    wrong_port = d.FlowDiagram.from_verdict(evaluate(snap, Flow(ex.ALB_DNS, 8081)), snap)
    assert sorted(code for e in wrong_port.blocked_edges for code in e.codes) == [
        "ELBV2_LISTENERS_MISMATCH", "ENI_SG_RULES_MISMATCH"]
    assert any(n.kind == "listener" and n.missing for n in wrong_port.nodes)
    listener_port = d.FlowDiagram.from_verdict(evaluate(snap, Flow(ex.ALB_DNS, 80)), snap)
    assert listener_port.blocked_edges == ()
    assert sorted(n.label for n in listener_port.nodes if n.kind == "target") == [
        "i-0host1:32768\nhealthy", "i-0host1:32769\nhealthy", "i-0host2:32768\nhealthy"]


def test_a_blocked_edge_says_whose_setting_blocks_and_which_way_from_the_explanation():
    from helpers.evaluator import evaluate
    from helpers.evaluator import examples as ex

    snap = ex.seed_snapshot(hosts_in="private")
    wrong_port = d.FlowDiagram.from_verdict(evaluate(snap, Flow(ex.ALB_DNS, 8081)), snap)
    (sg_edge,) = [e for e in wrong_port.blocked_edges if "ENI_SG_RULES_MISMATCH" in e.codes]
    assert "ENI_SG_RULES_MISMATCH\n(the ALB's security group)" in sg_edge.label
    assert "sg-0alb (lab-alb-sg) does not allow inbound tcp 8081" in sg_edge.tooltip
    return_blocker = Explanation("SUBNET_ACL_RESTRICTION", "acl-0x", "", "", role="the target's network ACL",
                                 direction="return")
    assert d._blocker_label(return_blocker) == "SUBNET_ACL_RESTRICTION\n(the target's network ACL, return)"


def test_a_subnet_is_public_when_the_route_primitive_says_so():
    # Two halves of the address space to the IGW make a public subnet as surely as 0.0.0.0/0 does.
    from helpers.evaluator import evaluate
    from helpers.evaluator import examples as ex

    snap = ex.seed_snapshot()
    halves = (s.Route("10.0.0.0/16", "local"), s.Route("0.0.0.0/1", ex.IGW), s.Route("128.0.0.0/1", ex.IGW))
    snap = ex.replace_item(snap, "route_tables", s.RouteTable(ex.PUBLIC_RTB, ex.VPC, halves, (ex.PUBLIC_A, ex.PUBLIC_B)))
    host = snap.instance_by_id[ex.HOST_1]
    pic = d.FlowDiagram.from_verdict(evaluate(snap, Flow(host.public_ip, 8081)), snap)
    assert any(c.kind == "subnet" and "(public," in c.label for c in pic.clusters)
    private = ex.replace_item(snap, "route_tables", s.RouteTable(ex.PUBLIC_RTB, ex.VPC, halves[:1], (ex.PUBLIC_A, ex.PUBLIC_B)))
    pic = d.FlowDiagram.from_verdict(evaluate(private, Flow(host.public_ip, 8081)), private)
    assert all("(public," not in c.label for c in pic.clusters if c.kind == "subnet")


# -- targets by host (07: ECS replaces failing tasks while the picture is taken) -------------------

def _drawn(pic) -> tuple:
    """What a picture shows: node labels and edges with their state, without ids."""
    nodes = sorted((n.kind, n.label, n.health, n.missing) for n in pic.nodes)
    edges = sorted((pic.node(e.tail).label, pic.node(e.head).label, e.status, e.label, e.codes, e.dashed)
                   for e in pic.edges)
    return nodes, edges


def test_by_host_draws_one_node_per_host_whatever_targets_come_and_go():
    settled = alb_verdict(leg(32768, "unhealthy", blocked_by_sg=True), leg(32769, "unhealthy", blocked_by_sg=True))
    churning = alb_verdict(leg(32768, "draining", blocked_by_sg=True), leg(32770, "initial", blocked_by_sg=True),
                           leg(32771, "unhealthy", blocked_by_sg=True))
    pictures = [d.FlowDiagram.from_verdict(v, snapshot(), targets="by-host") for v in (settled, churning)]
    assert _drawn(pictures[0]) == _drawn(pictures[1])
    each = [d.FlowDiagram.from_verdict(v, snapshot()) for v in (settled, churning)]
    assert _drawn(each[0]) != _drawn(each[1])  # what by-host is for


def test_by_host_keeps_the_blockers_the_health_and_the_boxes():
    pic = d.FlowDiagram.from_verdict(alb_verdict(leg(32768, "unhealthy", blocked_by_sg=True),
                                                 leg(32769, "draining", blocked_by_sg=True)), snapshot(), targets="by-host")
    host = pic.node(f"targets:{INSTANCE}")
    assert host.label == "targets on i-0abc12:host ports\nnone healthy" and host.cluster == f"instance:{INSTANCE}"
    edge = pic.edge(TARGET_GROUP, host.id)
    assert (edge.status, edge.codes, edge.dashed, edge.label.splitlines()[0]) == (
        "blocked", ("ENI_SG_RULES_MISMATCH",), True, ":host ports")
    assert pic.edge(host.id, f"containers:{INSTANCE}").status == "not-reached"
    assert pic.node(f"containers:{INSTANCE}").label == "tomcat:8081"


def test_by_host_says_all_or_some_healthy():
    all_healthy = d.FlowDiagram.from_verdict(alb_verdict(leg(32768), leg(32769)), targets="by-host")
    assert all_healthy.node(f"targets:{INSTANCE}").label.endswith("all healthy")
    assert all_healthy.edge(TARGET_GROUP, f"targets:{INSTANCE}").status == "allowed"
    some = d.FlowDiagram.from_verdict(alb_verdict(leg(32768), leg(32769, "initial")), targets="by-host")
    assert some.node(f"targets:{INSTANCE}").label.endswith("some healthy")
    assert not some.edge(TARGET_GROUP, f"targets:{INSTANCE}").dashed


def test_by_host_is_a_named_choice():
    with pytest.raises(ValueError, match=r"unknown targets 'hosts'; choose one of 'each', 'by-host'"):
        d.FlowDiagram.from_verdict(alb_verdict(), targets="hosts")
