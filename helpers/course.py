"""What a notebook calls: one object, `Lab`, that reaches the sandbox (or, opted in, AWS) and
prints compact, deterministic results instead of raw API responses.

    from helpers.course import Lab
    lab = Lab.start()                       # reuse or start this user's sandbox
    stack = lab.build("nb01")               # the source document's stack, waited for
    print(lab.request(f"http://{stack.alb_dns_name}/"))
    lab.explain(f"http://{stack.alb_dns_name}:8081/")
    lab.cleanup(stack)
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass

from helpers.backend import Clients
from helpers.stack import Stack, StackSpec, build_stack
from helpers.tables import Table, service_events, targets_table, tasks_table


@dataclass(frozen=True)
class Explained:
    """A flow's verdict: prints as the hop-by-hop path; `.picture()` draws it."""

    verdict: object
    snapshot: object

    @property
    def reachable(self) -> bool:
        return self.verdict.reachable

    @property
    def codes(self) -> list[str]:
        """Every blocker's explanation code, sorted (front of the path and every target leg)."""
        codes = {e.code for e in self.verdict.explanations}
        codes |= {e.code for leg in self.verdict.targets for e in leg.explanations}
        return sorted(codes)

    def __str__(self) -> str:
        from helpers.evaluator.report import format_verdict

        return format_verdict(self.verdict)

    __repr__ = __str__

    def picture(self, detail: str = "compact"):
        from helpers.diagram import FlowDiagram

        return FlowDiagram.from_verdict(self.verdict, self.snapshot, detail=detail)


class Lab:
    """The learner's handle on one region: the sandbox by default."""

    def __init__(self, clients: Clients, socks_proxy: str | None, *, endpoint_url: str | None = None) -> None:
        self.clients = clients
        self.socks_proxy = socks_proxy
        self.endpoint_url = endpoint_url

    @classmethod
    def start(cls, *, quiet: bool = False) -> "Lab":
        """Reuse this user's running sandbox, or start one (a few seconds, once)."""
        from helpers.sandbox.launcher import ensure_sandbox

        info = ensure_sandbox()
        if not quiet:
            print(f"Sandbox region {info.region} is ready: everything runs on this machine - "
                  "no AWS account, no cost, no network.")
        return cls(info.clients(), info.socks_proxy, endpoint_url=info.endpoint_url)

    # -- building ------------------------------------------------------------------------------
    def build(self, name: str, *, wait: bool = True, quiet: bool = False, **spec) -> Stack:
        """Build the source document's stack as `name` (replacing a leftover one), then wait
        until its service runs and every target is healthy."""
        from helpers.cleanup import cleanup
        from helpers.waiters import wait_for_service

        cleanup(self.clients, name)
        stack = build_stack(self.clients, StackSpec(name=name, **spec))
        if wait:
            status = wait_for_service(self.clients, stack)
            if not quiet:
                print(f"stack {name!r} is up: {status}")
        return stack

    def cleanup(self, stack_or_name: Stack | str) -> None:
        from helpers.cleanup import cleanup

        name = stack_or_name if isinstance(stack_or_name, str) else stack_or_name.spec.name
        report = cleanup(self.clients, name)
        print(f"cleaned up stack {name!r}: {report.summary()}")

    # -- traffic -------------------------------------------------------------------------------
    def request(self, url: str, *, timeout: float = 2.0):
        """One HTTP request from "the internet" (the sandbox's SOCKS proxy). Prints as one line."""
        from helpers.traffic import request

        return request(url, proxy=self.socks_proxy, timeout=timeout)

    def requests(self, url: str, n: int = 30, *, timeout: float = 2.0) -> str:
        """`n` requests in a row; a summary of who answered (sorted, counted)."""
        from helpers.traffic import request_many, summarize

        return summarize(request_many(url, n, proxy=self.socks_proxy, timeout=timeout))

    # -- looking -------------------------------------------------------------------------------
    def snapshot(self):
        from helpers.evaluator import read_snapshot

        return read_snapshot(self.clients)

    def explain(self, url: str, *, source: str = "internet") -> Explained:
        """Evaluate who can reach `url`, hop by hop, with every blocker (reads; changes nothing)."""
        from helpers.evaluator import Flow, evaluate
        from helpers.explain import parse_url

        host, port, path = parse_url(url)
        snapshot = self.snapshot()
        return Explained(evaluate(snapshot, Flow(destination=host, port=port, path=path, source=source)), snapshot)

    def tasks(self, stack: Stack) -> Table:
        return tasks_table(self.clients, stack.cluster_name, stack.service_name)

    def targets(self, stack: Stack, target_group_arn: str | None = None) -> Table:
        return targets_table(self.clients, target_group_arn or stack.target_group_arn)

    def events(self, stack: Stack, limit: int = 5) -> str:
        return "\n".join(service_events(self.clients, stack.cluster_name, stack.service_name, limit))

    # -- faults --------------------------------------------------------------------------------
    def kill_container(self, task_id: str) -> str:
        """SIGKILL one task's container process - a real crash, as `docker kill` on the host."""
        if self.endpoint_url is None:
            raise RuntimeError("killing a container is a sandbox exercise; on AWS use ECS's StopTask")
        short = task_id.rsplit("/", 1)[-1]
        request = urllib.request.Request(f"{self.endpoint_url}/_sandbox/containers/{short}/kill", method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())["killed"]
