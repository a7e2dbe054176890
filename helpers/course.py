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

import html
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from helpers.aws_mode import build_in_aws, connect_aws
from helpers.backend import Clients
from helpers.cleanup import cleanup, remaining
from helpers.evaluator import Flow, evaluate, read_snapshot
from helpers.explain import parse_url
from helpers.facts import ANYWHERE, check_port
from helpers.resources import ecs, security_groups
from helpers.sandbox.launcher import ensure_sandbox
from helpers.diagram import FlowDiagram
from helpers.evaluator.report import all_explanations
from helpers.rollouts import Rollout, wait_for_event, watch_rollout
from helpers.stack import Stack, StackSpec, build_stack
from helpers.tables import Table, deployments_table, instances_table, service_events, targets_table, tasks_table
from helpers.lab_extras import answered_line
from helpers.resources.ecs import wait_for_unhealthy_event
from helpers.traffic import DIRECT, request, request_many, summarize
from helpers.waiters import WaitTimeout, target_states, wait_for_service, wait_until

NEEDS_KERNEL = "needs a running kernel"


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
        return str(self.verdict)

    def _repr_html_(self) -> str:
        return self.verdict._repr_html_()

    def outcome_line(self) -> str:
        """One line: the flow, reachable or blocked, and how many targets it reaches."""
        flow = self.verdict.flow
        head = f"{flow.source} -> {flow.destination}:{flow.port}: {'REACHABLE' if self.reachable else 'BLOCKED'}"
        if self.reachable and any(h.kind == "binding" and not h.allowed for h in self.verdict.hops):
            # The network lets it through; the instance itself refuses (no task bound there).
            return head + f" by the network, but nothing listens on port {flow.port} there (connection refused)"
        legs = self.verdict.targets
        if legs:
            head += f" ({sum(leg.reachable for leg in legs)} of {len(legs)} targets reachable)"
        return head

    def blockers(self) -> str:
        """The outcome line, then every blocker with its code and fix (nothing when reachable)."""
        explanations = all_explanations(self.verdict)
        lines = [self.outcome_line()]
        if 0 < len(explanations) < sum(not leg.reachable for leg in self.verdict.targets):
            lines[0] += "; a blocker shared by several targets is listed once"
        for e in explanations:
            lines += [f"  [{e.code}] {e.message}", f"      fix: {e.fix}"]
        return "\n".join(lines)

    __repr__ = __str__

    def picture(self, detail: str = "compact", targets: str = "each"):
        """The flow's picture; `targets="by-host"` draws one node per host instead of one per
        target (helpers.diagram.TARGET_VIEWS)."""
        return FlowDiagram.from_verdict(self.verdict, self.snapshot, detail=detail, targets=targets)


class Interactive:
    """Shows a widget live in JupyterLab; everywhere else (a static page, a text console, the
    saved notebook) one line saying what the widget is and its state when the cell ran:

        [service scaler: nb07-svc, desired 3 - needs a running kernel]

    The saved notebook keeps only this line (tools/nbbuild.py drops the widget view, which no
    viewer can show without a kernel), so the text must read the same on every run."""

    def __init__(self, view, kind: str, state: str = "") -> None:
        self.view, self.kind, self.state = view, kind, state

    @classmethod
    def switch(cls, toggle) -> "Interactive":
        """A RuleToggle (helpers.widgets) as a switch with its verdict line and picture."""
        from helpers.widgets import RuleToggleView  # ipywidgets: a quarter second, only for widget cells

        position = "on" if toggle.enabled else "off"
        return cls(RuleToggleView(toggle), "rule switch", f"{toggle.description} - {position}; now: {toggle.summary}")

    @property
    def text(self) -> str:
        return f"[{self.kind}: {self.state} - {NEEDS_KERNEL}]" if self.state else f"[{self.kind} - {NEEDS_KERNEL}]"

    def _repr_html_(self) -> str:
        return (f"<p><code>[{html.escape(self.kind)}]</code> {html.escape(self.state)} "
                f"<em>({NEEDS_KERNEL}: run the cell to use it)</em></p>")

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = self.view._repr_mimebundle_(include=include, exclude=exclude) or {}
        bundle["text/plain"] = self.text
        bundle["text/html"] = self._repr_html_()
        return bundle

    def __repr__(self) -> str:
        return self.text


class Lab:
    """The learner's handle on one region: the sandbox by default."""

    def __init__(self, clients: Clients, socks_proxy: str | None, *, endpoint_url: str | None = None) -> None:
        self.clients = clients
        self.socks_proxy = socks_proxy
        self.endpoint_url = endpoint_url
        # Target group ARN -> the health states this lab last saw there (a wait or a watch): where
        # the next watch starts from, however quickly the targets change after the learner's change.
        self._last_seen: dict[str, dict[str, int]] = {}

    @classmethod
    def start(cls, *, quiet: bool = False) -> "Lab":
        """Reuse this user's running sandbox, or start one (a few seconds, once)."""
        info = ensure_sandbox()
        if not quiet:
            print(f"Sandbox region {info.region} is ready: everything runs on this machine - "
                  "no AWS account, no cost, no network.")
        return cls(info.clients(), info.socks_proxy, endpoint_url=info.endpoint_url)

    @classmethod
    def aws(cls, *, confirm=None) -> "Lab":
        """A real AWS account instead of the sandbox - only with LAB_ALLOW_AWS=1 and a typed
        confirmation of the account (see helpers/aws_mode.py). It costs money: clean up."""
        return cls(connect_aws(confirm=confirm), DIRECT)

    @property
    def is_sandbox(self) -> bool:
        return self.endpoint_url is not None

    # -- building ------------------------------------------------------------------------------
    def build(self, name: str, *, wait: bool = True, quiet: bool = False, **spec) -> Stack:
        """Build the source document's stack as `name` (replacing a leftover one), then wait
        until its service runs and every target is healthy."""
        cleanup(self.clients, name)
        if not self.is_sandbox:
            return build_in_aws(self.clients, StackSpec(name=name, **spec))
        stack = build_stack(self.clients, StackSpec(name=name, **spec))
        if wait:
            status = wait_for_service(self.clients, stack)
            self._last_seen[stack.target_group_arn] = target_states(self.clients, stack.target_group_arn)
            if not quiet:
                print(f"stack {name!r} is up: {status}")
        return stack

    def cleanup(self, stack_or_name: Stack | str) -> None:
        """Delete everything the stack made; say so, or say what could not be deleted."""
        name = stack_or_name if isinstance(stack_or_name, str) else stack_or_name.spec.name
        report = cleanup(self.clients, name)
        left = remaining(self.clients, name)
        if not left and not report.failed:
            print(f"cleaned up stack {name!r}: nothing it made remains")
            return
        print(f"cleaning up stack {name!r} left something behind ({report.summary()}):")
        print("\n".join(f"  {item}" for item in left))

    # -- traffic -------------------------------------------------------------------------------
    def request(self, url: str, *, timeout: float = 5.0):
        """One HTTP request from "the internet" (the sandbox's SOCKS proxy). Prints as one line."""
        return request(url, proxy=self.socks_proxy, timeout=timeout)

    def requests(self, url: str, n: int = 30, *, timeout: float = 5.0) -> str:
        """`n` requests in a row; a summary of who answered (sorted, counted)."""
        return summarize(request_many(url, n, proxy=self.socks_proxy, timeout=timeout))

    # -- looking -------------------------------------------------------------------------------
    def snapshot(self):
        return read_snapshot(self.clients)

    def explain(self, url: str, *, source: str = "internet") -> Explained:
        """Evaluate who can reach `url`, hop by hop, with every blocker (reads; changes nothing)."""
        host, port, path = parse_url(url)
        snapshot = self.snapshot()
        return Explained(evaluate(snapshot, Flow(destination=host, port=port, path=path, source=source)), snapshot)

    def tasks(self, stack: Stack) -> Table:
        return tasks_table(self.clients, stack.cluster_name, stack.service_name)

    def targets(self, stack: Stack, target_group_arn: str | None = None) -> Table:
        return targets_table(self.clients, target_group_arn or stack.target_group_arn)

    def events(self, stack: Stack, limit: int = 5) -> str:
        return "\n".join(service_events(self.clients, stack.cluster_name, stack.service_name, limit))

    # -- deployments (08) ----------------------------------------------------------------------
    def deployments(self, stack: Stack) -> Table:
        """The service's deployments (PRIMARY first): task definition new/old, counts, rollout state."""
        return deployments_table(self.clients, stack.cluster_name, stack.service_name)

    def watch_rollout(self, stack: Stack, *, timeout: float = 60.0) -> Rollout:
        """Requests through the ALB while the service rolls out, until it completed (or `timeout`):
        a summary of what was seen - side by side deployments, targets swapping, failed requests."""
        return watch_rollout(self.clients, stack, proxy=self.socks_proxy, timeout=timeout)

    def wait_for_event(self, stack: Stack, text: str, *, timeout: float = 30.0) -> str:
        """The newest service event holding `text`, once ECS wrote one."""
        return wait_for_event(self.clients, stack, text, timeout=timeout)

    # -- widgets -------------------------------------------------------------------------------
    def port_probe(self, host: str, *, port: int = 80, path: str = "/") -> Interactive:
        """Type a port, press Send: one request through the sandbox's internet."""
        from helpers.widgets import PortProbe, PortProbeView  # ipywidgets: a quarter second, only for widget cells

        model = PortProbe(request=lambda url: self.request(url), host=host, port=port, path=path)
        return Interactive(PortProbeView(model), "port probe", f"requests to {host}, port {port}, path {path}")

    def open_port(self, stack: Stack, port: int) -> str:
        """A second door on the ALB: an HTTP listener on `port` forwarding to the stack's target
        group, and an inbound rule for `port` from anywhere on the ALB's security group."""
        check_port(port, "the listener port")  # before anything is made, so a bad port leaves nothing behind
        self.clients.elbv2.create_listener(
            LoadBalancerArn=stack.alb_arn, Protocol="HTTP", Port=port,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": stack.target_group_arn}])
        security_groups.authorize(self.clients, stack.alb_sg_id, [security_groups.cidr_permission((port, port), ANYWHERE)])
        return f"opened port {port}: a listener on the ALB and an inbound rule on its security group"

    def close_port(self, stack: Stack, port: int) -> str:
        """Undo `open_port`: delete the ALB's listeners on `port` and the ALB security group's
        inbound rules for it. Says what it removed (nothing, when the port was closed already)."""
        listeners = self._listeners_on_port(stack, check_port(port, "the listener port"))
        for listener in listeners:
            self.clients.elbv2.delete_listener(ListenerArn=listener["ListenerArn"])
        rules = security_groups.inbound_on_ports(self.clients, stack.alb_sg_id, (port, port))
        if rules:
            security_groups.revoke(self.clients, stack.alb_sg_id, rules)
        return f"closed port {port}: {len(listeners)} listener(s) deleted, {len(rules)} security group rule(s) revoked"

    def _listeners_on_port(self, stack: Stack, port: int) -> list[dict]:
        listeners = self.clients.elbv2.describe_listeners(LoadBalancerArn=stack.alb_arn)["Listeners"]
        return [listener for listener in listeners if listener["Port"] == port]

    def listener_switch(self, stack: Stack, *, port: int) -> Interactive:
        """A switch that opens or closes a second port on the ALB (`open_port` / `close_port`),
        and shows `explain`'s verdict for that port after every change."""
        from helpers.widgets import RuleToggle  # ipywidgets: a quarter second, only for widget cells

        url = f"http://{stack.alb_dns_name}:{port}/"
        model = RuleToggle(lambda: self.open_port(stack, port), lambda: self.close_port(stack, port),
                           lambda: self.explain(url).verdict, enabled=bool(self._listeners_on_port(stack, port)),
                           description=f"listener + SG rule on {port}")
        return Interactive.switch(model)

    # -- services, instances and single rules (02-04) ---------------------------------------------
    def instances(self, stack: Stack) -> Table:
        """The stack's EC2 instances: name, id, public DNS name, private IP."""
        return instances_table(self.clients, stack.instance_ids)

    def public_dns(self, instance_id: str) -> str:
        """An instance's public DNS name ("" when it has none, e.g. in a private subnet)."""
        reservations = self.clients.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        return reservations[0]["Instances"][0].get("PublicDnsName", "")

    def wait_for_running(self, stack: Stack, count: int, *, timeout: float = 60.0) -> str:
        """Wait until `count` of the service's tasks run and `count` targets are healthy. For a
        service that cannot reach its desired count (e.g. a static host port on too few instances),
        where `build`'s wait would never end. Returns the last status line."""
        def check() -> tuple[bool, str]:
            service = ecs.describe_service(self.clients, stack.cluster_name, stack.service_name)
            counts = target_states(self.clients, stack.target_group_arn)
            self._last_seen[stack.target_group_arn] = counts
            done = service["runningCount"] == count and counts == {"healthy": count}
            states = ", ".join(f"{n} {state}" for state, n in counts.items()) or "no targets"
            return done, f"{service['runningCount']}/{service['desiredCount']} tasks running; targets: {states}"

        return wait_until(check, what=f"{count} running tasks of {stack.service_name}", timeout=timeout)

    def watch_targets(self, stack: Stack, until: dict[str, int], *, url: str | None = None,
                      target_group_arn: str | None = None, timeout: float = 30.0) -> str:
        """Watch the target group (with a progress line) until its health states are exactly
        `until`, e.g. {"healthy": 1}. Returns one line: the other states the targets were in since
        this lab last looked at them (its previous wait or watch; in the order first seen) and the
        end state - no timings, so it reads the same on every run, even when the targets changed
        before the watch began. Raises helpers.waiters.WaitTimeout after `timeout` seconds.

        With `url`, the watch follows an exercise that repairs the path to `url`: while `explain`
        still finds that path blocked it says so at once instead of waiting for checks that cannot
        pass, and a timeout returns a "not there yet" line instead of raising (an exercise not
        finished yet is not an error)."""
        arn = target_group_arn or stack.target_group_arn
        wanted = dict(sorted(until.items()))
        passed: list[str] = []

        def saw(counts: dict[str, int]) -> None:
            passed.extend(state for state in counts if state not in wanted and state not in passed)
            self._last_seen[arn] = counts

        def check() -> tuple[bool, str]:
            counts = target_states(self.clients, arn)
            saw(counts)
            return counts == wanted, ", ".join(f"{n} {state}" for state, n in counts.items()) or "no targets"

        saw(self._last_seen.get(arn, {}))
        # The first look comes before anything slow (`explain` reads the whole region).
        check()
        if url is not None and (blocked := self._still_blocked(url)):
            return blocked
        try:
            end = wait_until(check, what="target health", timeout=timeout, interval=0.05)
        except WaitTimeout as error:
            if url is None:
                raise
            return f"not there yet: {error}"
        return f"on the way: {', '.join(passed) or 'nothing else'}; now: {end}"

    def wait_for_service(self, stack: Stack, *, url: str | None = None, requests: int = 0,
                         timeout: float = 60.0) -> str:
        """Wait until the service runs its desired count and every target is healthy; one line.
        Never raises on a timeout: the line says how far the service got.

        With `url`, the wait follows a repair of the path to `url`, as in `watch_targets`: while
        it is still blocked, say so at once. With `requests`, then send that many requests to
        `url`: one more line on how they were answered."""
        if url is not None and (blocked := self._still_blocked(url)):
            return blocked
        try:
            lines = [wait_for_service(self.clients, stack, timeout=timeout)]
        except WaitTimeout as error:
            return f"not settled yet: {error}"
        self._last_seen[stack.target_group_arn] = target_states(self.clients, stack.target_group_arn)
        if url is not None and requests:
            lines.append(answered_line(self, url, n=requests))
        return "\n".join(lines)

    def _still_blocked(self, url: str) -> str | None:
        """A line saying why waiting is pointless while `explain` finds every ALB -> target leg behind
        `url` blocked (the way health checks travel); else None. A blocked front (the client's way
        to the ALB) does not stop health checks, and without target legs there is nothing to judge."""
        legs = self.explain(url).verdict.targets
        if not legs or any(leg.reachable for leg in legs):
            return None
        codes = sorted({e.code for leg in legs for e in leg.explanations})
        return (f"not waiting: explain still finds the ALB's way to every target behind {url} BLOCKED "
                f"({', '.join(codes)}), so no health check can pass yet. Fix that, then run this cell again.")

    def wait_for_unhealthy_target(self, stack: Stack, *, timeout: float = 30.0) -> str:
        """ECS's event for the first target of the service that failed its health checks; or, at
        once, why none can fail (the service runs no task); or, after `timeout`, that none did."""
        service = ecs.describe_service(self.clients, stack.cluster_name, stack.service_name)
        if service["desiredCount"] == 0 and service["runningCount"] == 0:
            return "the service runs no task (desired count 0): no target to check, so none can fail"
        try:
            return wait_for_unhealthy_event(self.clients, stack, timeout=timeout)
        except WaitTimeout:
            return f"no target of the service failed a health check within {timeout:.0f} s"

    def service_scaler(self, stack: Stack, *, maximum: int = 6) -> Interactive:
        """A slider for the service's desired count (UpdateService on release)."""
        from helpers.widgets import ServiceScaler, ServiceScalerView  # ipywidgets: a quarter second, only for widget cells

        def scale(count: int) -> str:
            ecs.set_desired_count(self.clients, stack, count)
            return f"desired count {count}: ECS starts or stops tasks; see lab.tasks(stack) and lab.targets(stack)"

        desired = ecs.describe_service(self.clients, stack.cluster_name, stack.service_name)["desiredCount"]
        model = ServiceScaler(scale, desired=desired, maximum=max(maximum, desired))
        return Interactive(ServiceScalerView(model), "service scaler", f"{stack.service_name}, desired {desired}")

    def rule_switch(self, group_id: str, permission: dict, *, url: str, description: str) -> Interactive:
        """A switch for one inbound security group rule (an IpPermissions entry with one source),
        showing `explain(url)`'s verdict after every change."""
        from helpers.widgets import RuleToggle  # ipywidgets: a quarter second, only for widget cells

        def add():
            security_groups.authorize(self.clients, group_id, [permission])

        def remove():
            security_groups.revoke_rule_ids(self.clients, group_id, security_groups.matching_rule_ids(self.clients, group_id, permission))

        model = RuleToggle(add, remove, lambda: self.explain(url).verdict,
                           enabled=bool(security_groups.matching_rule_ids(self.clients, group_id, permission)),
                           description=description)
        return Interactive.switch(model)

    # -- faults --------------------------------------------------------------------------------
    def kill_container(self, task_id: str) -> str:
        """SIGKILL one task's container process - a real crash, as `docker kill` on the host."""
        if self.endpoint_url is None:
            raise RuntimeError("killing a container is a sandbox exercise; on AWS use ECS's StopTask")
        short = task_id.rsplit("/", 1)[-1]
        url = f"{self.endpoint_url}/_sandbox/containers/{urllib.parse.quote(short, safe='')}/kill"
        try:
            with urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=5) as response:
                return json.loads(response.read())["killed"]
        except urllib.error.HTTPError as error:
            if error.code == 404:  # the sandbox says which task it has no container for
                raise LookupError(json.loads(error.read())["error"]) from None
            raise
