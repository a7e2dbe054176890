"""Network ACL chores for notebooks 05-07, in plain boto3, with deterministic printouts.

    hosts_acl = subnet_acl_id(lab.clients, stack.private_subnet_ids[0])   # the NACL a subnet uses
    print(acl_subnets_line(lab.clients, hosts_acl, stack))                # "used by 2 subnets: ..."
    print("\\n".join(dead_rules(lab.clients, hosts_acl)))                 # rules that never match
    acl_id = create_acl(lab.clients, stack, "nb05-hosts-acl")             # tagged, so cleanup finds it
    associate(lab.clients, acl_id, stack.private_subnet_ids)              # as the console's "Edit subnet associations"
    print(sorted_blockers(lab.explain(url)))                              # blockers, in an order that never changes

Why `sorted_blockers` and not `Explained.blockers()`: the evaluator lists blockers in path order,
and with two ALB subnets that order follows the subnets' random ids. A notebook's output must be
the same on every run, so here the blockers are sorted by their text with the ids left out.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from helpers.backend import Clients
from helpers.evaluator.report import all_explanations, without_ids
from helpers.facts import DYNAMIC_HOST_PORTS
from helpers.stack import PROJECT_TAG

DYNAMIC_RANGE_TEXT = "{}-{}".format(*DYNAMIC_HOST_PORTS)
STAR_RULE = 32767  # AWS shows the unchangeable `*` rule with this number


def subnet_acl_id(clients: Clients, subnet_id: str) -> str:
    """The id of the network ACL a subnet uses (every subnet has exactly one)."""
    acls = clients.ec2.describe_network_acls(
        Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}])["NetworkAcls"]
    return acls[0]["NetworkAclId"]


def default_acl_id(clients: Clients, vpc_id: str) -> str:
    """The VPC's default network ACL (what a new subnet gets)."""
    acls = clients.ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                                      {"Name": "default", "Values": ["true"]}])["NetworkAcls"]
    return acls[0]["NetworkAclId"]


def acl_subnets_line(clients: Clients, acl_id: str, stack) -> str:
    """One line: how many of the stack's public and private subnets use this NACL."""
    acl = clients.ec2.describe_network_acls(NetworkAclIds=[acl_id])["NetworkAcls"][0]
    used = {a["SubnetId"] for a in acl.get("Associations", []) if a.get("SubnetId")}
    public = len(used & set(stack.public_subnet_ids))
    private = len(used & set(stack.private_subnet_ids))
    kind = "the VPC's default NACL" if acl["IsDefault"] else "a custom NACL"
    return f"{kind}, used by {len(used)} subnet(s): {public} public (the ALB's), {private} private (the ECS hosts')"


def subnet_cidrs(clients: Clients, subnet_ids: list[str]) -> list[str]:
    """The subnets' IPv4 CIDRs, sorted (10.0.1.0/24 before 10.0.2.0/24)."""
    subnets = clients.ec2.describe_subnets(SubnetIds=list(subnet_ids))["Subnets"]
    return sorted((s["CidrBlock"] for s in subnets), key=lambda c: tuple(int(p) for p in c.split("/")[0].split(".")))


def create_acl(clients: Clients, stack, name: str) -> str:
    """A new NACL in the stack's VPC, tagged like the rest of the stack (cleanup removes it).
    A new NACL holds only the `*` rules: it denies everything until you add rules."""
    tags = [PROJECT_TAG, {"Key": "Name", "Value": name}, {"Key": "lab:stack", "Value": stack.spec.name}]
    acl = clients.ec2.create_network_acl(VpcId=stack.vpc_id, TagSpecifications=[{"ResourceType": "network-acl", "Tags": tags}])
    return acl["NetworkAcl"]["NetworkAclId"]


def associate(clients: Clients, acl_id: str, subnet_ids: list[str]) -> None:
    """Move each subnet to `acl_id` (a subnet always has one NACL, so this replaces its current one)."""
    ec2 = clients.ec2
    for subnet_id in subnet_ids:
        current = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}])["NetworkAcls"][0]
        association = next(a for a in current["Associations"] if a["SubnetId"] == subnet_id)
        if current["NetworkAclId"] != acl_id:
            ec2.replace_network_acl_association(AssociationId=association["NetworkAclAssociationId"], NetworkAclId=acl_id)


def entries(clients: Clients, acl_id: str, *, egress: bool) -> list[dict]:
    """The NACL's numbered entries in one direction (the `*` rule left out), lowest number first."""
    acl = clients.ec2.describe_network_acls(NetworkAclIds=[acl_id])["NetworkAcls"][0]
    return sorted((e for e in acl["Entries"] if e["Egress"] == egress and e["RuleNumber"] < STAR_RULE),
                  key=lambda e: e["RuleNumber"])


def delete_entries(clients: Clients, acl_id: str, *, egress: bool, rule_numbers: list[int] | None = None) -> list[int]:
    """Delete numbered entries in one direction (all of them, or only `rule_numbers`); returns
    the numbers deleted. The `*` rule cannot be deleted and is left alone."""
    deleted = []
    for entry in entries(clients, acl_id, egress=egress):
        if rule_numbers is None or entry["RuleNumber"] in rule_numbers:
            clients.ec2.delete_network_acl_entry(NetworkAclId=acl_id, RuleNumber=entry["RuleNumber"], Egress=egress)
            deleted.append(entry["RuleNumber"])
    return deleted


def _entry_words(entry) -> str:
    from helpers.evaluator.nacl import entry_text

    return f"rule {entry.label} ({entry.action} {entry_text(entry)})"


def dead_rules(clients: Clients, acl_id: str, *, egress: bool = False) -> list[str]:
    """Rules that can never match, because lower-numbered rules already decide all they cover
    ("first match wins"). One sentence each; [] when every rule can matter."""
    from helpers.evaluator import read_snapshot
    from helpers.evaluator.nacl import shadowed_entries

    acl = next(a for a in read_snapshot(clients).network_acls if a.id == acl_id)
    return [f"{_entry_words(entry)} never matches: {', '.join(_entry_words(e) for e in earlier)} decides it first"
            for entry, earlier in shadowed_entries(acl, egress)]


def outcome_words(explained) -> str:
    """Like `Explained.outcome_line()`, but says "every target" / "no target" / "some targets"
    instead of counting them: how many targets a target group holds at one instant depends on
    ECS replacing tasks, which is timing, not configuration."""
    flow, verdict = explained.verdict.flow, explained.verdict
    head = f"{flow.source} -> {flow.destination}:{flow.port}: {'REACHABLE' if verdict.reachable else 'BLOCKED'}"
    legs = verdict.targets
    if legs:
        reached = sum(leg.reachable for leg in legs)
        head += " (" + ("every target reachable" if reached == len(legs) else "no target reachable" if not reached
                        else "some targets reachable, some not") + ")"
    return head


def sorted_blockers(explained) -> str:
    """`Explained.blockers()` in a stable order: the outcome line (`outcome_words`), then each
    distinct blocker (code, message, fix) sorted by its text with resource ids ignored."""
    found = {}
    for e in all_explanations(explained.verdict):
        found.setdefault((e.code, e.message, e.fix), None)
    ordered = sorted(found, key=lambda item: tuple(without_ids(part) for part in item))
    lines = [outcome_words(explained)]
    for code, message, fix in ordered:
        lines += [f"  [{code}] {message}", f"      fix: {fix}"]
    return "\n".join(lines)


def client_error_line(error: ClientError) -> str:
    """What AWS said, in one line: its error code and message."""
    return f"{error.response['Error']['Code']}: {error.response['Error'].get('Message', '')}"


def wait_for_unhealthy_event(clients: Clients, stack, *, timeout: float = 30.0) -> str:
    """Wait until ECS logs that a target of the stack's service turned unhealthy; return that
    event's message (the first one, as ECS wrote it). Its ids and port vary from run to run,
    its shape does not: "(service ...) (instance ...) (port ...) is unhealthy in (target-group
    ...) due to (reason ...)."."""
    from helpers.waiters import wait_until

    found: list[str] = []

    def check() -> tuple[bool, str]:
        service = clients.ecs.describe_services(cluster=stack.cluster_name, services=[stack.service_name])["services"][0]
        hits = [e["message"] for e in reversed(service.get("events", [])) if " is unhealthy in " in e["message"]]
        found[:] = hits[:1]
        return bool(hits), "no unhealthy target yet" if not hits else "ECS noticed an unhealthy target"

    wait_until(check, what="an unhealthy target in the service's events", timeout=timeout)
    return found[0]


def blockers_summary(explained, *, show: int = 2) -> str:
    """Like `sorted_blockers`, but only the first `show` blockers in full, then how many more:
    for verdicts where one rule blocks many hops alike."""
    text = sorted_blockers(explained).splitlines()
    head, pairs = text[0], [text[i:i + 2] for i in range(1, len(text), 2)]
    lines = [head] + [line for pair in pairs[:show] for line in pair]
    if len(pairs) > show:
        codes = sorted({pair[0].split("]")[0].strip(" [") for pair in pairs[show:]})
        lines.append(f"  ... and {len(pairs) - show} more blockers like these ({', '.join(codes)})")
    return "\n".join(lines)


def what_if(lab, url: str, acl_id: str, *, rule_number: int, action: str, cidr: str,
            ports: tuple[int, int] | None, egress: bool = False, protocol: str = "6"):
    """`lab.explain(url)` as if NACL `acl_id` had one more entry. Evaluated on a copy of the
    configuration read just now: nothing in the region changes, no health check notices.
    (`ports=None`: every port, as for protocol "-1".)"""
    import dataclasses

    from helpers.course import Explained
    from helpers.evaluator import Flow, evaluate
    from helpers.evaluator.snapshot import NaclEntry
    from helpers.explain import parse_url

    snapshot = lab.snapshot()
    entry = NaclEntry(rule_number, egress, protocol, action, cidr, *(ports or (None, None)))
    acls = tuple(dataclasses.replace(a, entries=a.entries + (entry,)) if a.id == acl_id else a
                 for a in snapshot.network_acls)
    changed = dataclasses.replace(snapshot, network_acls=acls, memo={})
    host, port, path = parse_url(url)
    return Explained(evaluate(changed, Flow(destination=host, port=port, path=path)), changed)


def blocker_digest(explained) -> str:
    """Every *kind* of blocker once: like `sorted_blockers`, but a blocker that repeats for each
    target (same setting, another host port or host) is shown once, in the explanation's digest
    words: the target's host port as <host port>, the target as "the target". For stacks whose
    tasks come and go: the kinds of blockers depend on the configuration only, their number on timing."""
    found: dict[tuple[str, str], set[str]] = {}
    for e in all_explanations(explained.verdict):
        found.setdefault((e.code, e.digest_message), set()).add(e.digest_fix)
    lines = [outcome_words(explained)]
    for (code, message), fixes in sorted(found.items(), key=lambda item: tuple(without_ids(p) for p in item[0])):
        # Several fixes for one kind of blocker (e.g. "this port" for a target no task is bound
        # to yet, "the whole range" for a task's): show the widest, the one that serves them all.
        fix = sorted(fixes, key=lambda f: (DYNAMIC_RANGE_TEXT not in f, without_ids(f), f))[0]
        lines += [f"  [{code}] {message}", f"      fix: {fix}"]
    return "\n".join(lines)
