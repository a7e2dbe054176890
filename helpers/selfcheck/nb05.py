"""Self-check for 05_network_acls: a tight NACL on the ECS hosts' (private) subnets.

Everything is read back through the API and judged with the evaluator's own NACL logic
(`helpers.evaluator.nacl.evaluate_nacl`: first match wins, `*` denies the rest), so a learner's
rules pass whatever numbers or variable names they chose, as long as they do the job.
"""

from __future__ import annotations

from helpers.evaluator import read_snapshot
from helpers.evaluator.nacl import evaluate_nacl
from helpers.evaluator.ports import cidr_range
from helpers.facts import DYNAMIC_HOST_PORTS, INTERNET_CLIENT_IP, RETURN_PORTS
from helpers.selfcheck import CheckResult, Report, expect, report


def _acl_of(snap, subnet_id):
    return snap.nacl_by_subnet.get(subnet_id)


def tight_hosts_acl(lab, stack) -> Report:
    """Exercise 1 (and 2): the private subnets share a custom NACL that admits the dynamic host
    ports only from the ALB's subnets, lets the replies back out on 1024-65535, keeps the rest
    of the internet out - and a real request through the ALB is answered."""
    snap = read_snapshot(lab.clients)
    acls = {s: _acl_of(snap, s) for s in stack.private_subnet_ids}
    custom = [a for a in acls.values() if a is not None and not a.is_default]
    alb_cidrs = sorted(snap.subnet_by_id[s].cidr for s in stack.public_subnet_ids)
    results: list[CheckResult] = [
        expect(len(custom) == len(acls), "both private subnets use a NACL of their own (not the default one)",
               "the private subnets still use the VPC's default NACL - create one and move them to it "
               "(replace_network_acl_association)"),
    ]
    if len(custom) == len(acls):
        inbound_ok = all(evaluate_nacl(snap, a, False, cidr_range(c), DYNAMIC_HOST_PORTS).ok for a in custom for c in alb_cidrs)
        outbound_ok = all(evaluate_nacl(snap, a, True, cidr_range(c), RETURN_PORTS).ok for a in custom for c in alb_cidrs)
        # The internet: any address outside the VPC, here the course's documentation address.
        internet = cidr_range(INTERNET_CLIENT_IP)
        closed = all(not evaluate_nacl(snap, a, False, internet, DYNAMIC_HOST_PORTS).allowed
                     and not evaluate_nacl(snap, a, False, internet, (8081, 8081)).allowed for a in custom)
        results += [
            expect(inbound_ok, f"inbound: tcp 32768-65535 is allowed from the ALB's subnets ({', '.join(alb_cidrs)})",
                   f"inbound: allow tcp 32768-65535 from each ALB subnet ({', '.join(alb_cidrs)}) - "
                   "the tasks' dynamic host ports"),
            expect(outbound_ok, "outbound: replies on tcp 1024-65535 may go back to the ALB's subnets",
                   "outbound: allow tcp 1024-65535 to each ALB subnet - NACLs are stateless, the replies "
                   "need their own rule"),
            expect(closed, "the internet cannot reach the hosts' subnets (no allow-all rule)",
                   "some rule still admits the internet (e.g. 'all traffic from 0.0.0.0/0') - allow only the ALB's subnets"),
        ]
    explained = lab.explain(f"http://{stack.alb_dns_name}/")
    legs = explained.verdict.targets
    results.append(expect(explained.reachable and legs and all(leg.reachable for leg in legs),
                          "explain: every target is reachable through the ALB",
                          f"explain still finds blockers: {', '.join(explained.codes) or 'no targets'}"))
    outcome = lab.request(f"http://{stack.alb_dns_name}/", timeout=10.0)
    results.append(expect(outcome.kind == "answered", f"a request through the ALB is answered: {outcome.status} {outcome.reason}",
                          f"a request through the ALB fails: {outcome.summary()}"))
    return report(results)
