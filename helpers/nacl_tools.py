"""Network ACL printouts for notebooks 05-07 that read the same on every run (the boto3 chores
themselves are in `helpers.resources.network_acls`).

    print(acl_subnets_line(lab.clients, hosts_acl, stack))                # "used by 2 subnets: ..."
    print("\\n".join(dead_rules(lab.clients, hosts_acl)))                 # rules that never match
    print(sorted_blockers(lab.explain(url)))                              # blockers, in an order that never changes
    print(sorted_blockers(what_if(lab, url, acl_id, rule_number=90, action="deny", cidr="0.0.0.0/0", ports=None)))

Why `sorted_blockers` and not `Explained.blockers()`: the evaluator lists blockers in path order,
and with two ALB subnets that order follows the subnets' random ids. A notebook's output must be
the same on every run, so here the blockers are sorted by their text with the ids left out.
"""

from __future__ import annotations

import dataclasses

from botocore.exceptions import ClientError

from helpers.backend import Clients
from helpers.course import Explained
from helpers.evaluator import Flow, evaluate, read_snapshot
from helpers.evaluator.report import all_explanations, without_ids
from helpers.evaluator.nacl import entry_text, shadowed_entries
from helpers.evaluator.snapshot import NaclEntry
from helpers.explain import parse_url
from helpers.facts import DYNAMIC_HOST_PORTS
from helpers.resources.network_acls import describe_acl, entry_request


DYNAMIC_RANGE_TEXT = "{}-{}".format(*DYNAMIC_HOST_PORTS)


def acl_subnets_line(clients: Clients, acl_id: str, stack) -> str:
    """One line: how many of the stack's public and private subnets use this NACL."""
    acl = describe_acl(clients, acl_id)
    used = {a["SubnetId"] for a in acl.get("Associations", []) if a.get("SubnetId")}
    public = len(used & set(stack.public_subnet_ids))
    private = len(used & set(stack.private_subnet_ids))
    kind = "the VPC's default NACL" if acl["IsDefault"] else "a custom NACL"
    return f"{kind}, used by {len(used)} subnet(s): {public} public (the ALB's), {private} private (the ECS hosts')"


def _entry_words(entry) -> str:
    return f"rule {entry.label} ({entry.action} {entry_text(entry)})"


def dead_rules(clients: Clients, acl_id: str, *, egress: bool = False) -> list[str]:
    """Rules that can never match, because lower-numbered rules already decide all they cover
    ("first match wins"). One sentence each; [] when every rule can matter."""
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
    (`ports=None`: every port, as for protocol "-1".) The entry is checked as AWS would check it."""
    entry_request(rule_number, egress=egress, ports=ports, cidr=cidr, action=action, protocol=protocol)
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
