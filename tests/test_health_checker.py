"""The health checker (helpers/sandbox/health.py): real HTTP checks, and the whole sandbox region.

The region tests build the source document's stack, watch the targets turn healthy, break the
host SG the way the lab does (only tcp 8081 left open) and watch the checks time out.
"""

from __future__ import annotations

import http.server
import socket
import threading
import time

import pytest

from helpers.sandbox import health
from helpers.sandbox.region import Sandbox
from helpers.facts import DYNAMIC_HOST_PORTS as EPHEMERAL_RANGE
from helpers.stack import StackSpec, build_stack

# -- http_check against a local server ---------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    seen_agents: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        type(self).seen_agents.append(self.headers.get("User-Agent"))
        if self.path == "/slow":
            time.sleep(0.5)
        code = int(self.path.rsplit("/", 1)[1]) if self.path.startswith("/status/") else 200
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address
    httpd.shutdown()
    httpd.server_close()


def test_http_check_passes_and_sends_the_elb_user_agent(server):
    _Handler.seen_agents.clear()
    assert health.http_check(socket.create_connection(server), "/", "200", timeout=2).kind == "pass"
    assert _Handler.seen_agents == ["ELB-HealthChecker/2.0"]


def test_http_check_response_code_mismatch(server):
    result = health.http_check(socket.create_connection(server), "/status/404", "200-299", timeout=2)
    assert (result.reason, result.description) == (
        "Target.ResponseCodeMismatch", "Health checks failed with these codes: [404]")
    assert health.http_check(socket.create_connection(server), "/status/404", "200,404", timeout=2).kind == "pass"


def test_http_check_timeout(server):
    result = health.http_check(socket.create_connection(server), "/slow", "200", timeout=0.1)
    assert (result.reason, result.description) == ("Target.Timeout", "Request timed out")


def test_http_check_of_a_connection_closed_without_an_answer_fails():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        listener.accept()[0].close()  # accepted, then closed: not HTTP
        result = health.http_check(client, "/", "200", timeout=1)
    assert (result.reason, result.description) == ("Target.FailedHealthChecks", "Health checks failed")


# -- the whole region --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def region():
    with Sandbox() as sandbox:
        clients = sandbox.clients()
        yield sandbox, clients, build_stack(clients, StackSpec())


def target_health(clients, target_group_arn) -> list[dict]:
    """Registered targets that are not draining (the service may replace tasks meanwhile)."""
    described = clients.elbv2.describe_target_health(TargetGroupArn=target_group_arn)["TargetHealthDescriptions"]
    return [d for d in described if d["TargetHealth"]["State"] != "draining"]


def wait_until(clients, target_group_arn, predicate, timeout=10.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        targets = target_health(clients, target_group_arn)
        if targets and predicate(targets):
            return targets
        if time.monotonic() > deadline:
            pytest.fail(f"targets did not reach the expected health within {timeout} s: {targets}")
        time.sleep(0.05)


def all_healthy(count):
    return lambda targets: len(targets) == count and all(t["TargetHealth"]["State"] == "healthy" for t in targets)


def failing(reason):
    """No target healthy any more, and the judged ones unhealthy for `reason`. (ECS replaces tasks
    that fail ELB health checks, so some targets may be new ones still in `initial`.)"""
    def check(targets):
        states = [t["TargetHealth"]["State"] for t in targets]
        unhealthy = [t["TargetHealth"] for t in targets if t["TargetHealth"]["State"] == "unhealthy"]
        return ("healthy" not in states and unhealthy != []
                and all(health.get("Reason") == reason for health in unhealthy))
    return check


def unhealthy_descriptions(targets) -> set[str]:
    return {t["TargetHealth"]["Description"] for t in targets if t["TargetHealth"]["State"] == "unhealthy"}


@pytest.mark.slow
def test_a_target_group_without_a_listener_is_not_in_use(region):
    sandbox, clients, stack = region
    tg_arn = clients.elbv2.create_target_group(Name="spare-tg", Protocol="HTTP", Port=80, VpcId=stack.vpc_id,
                                               TargetType="instance")["TargetGroups"][0]["TargetGroupArn"]
    clients.elbv2.register_targets(TargetGroupArn=tg_arn, Targets=[{"Id": stack.instance_ids[0], "Port": 32768}])
    (target,) = wait_until(clients, tg_arn, lambda targets: targets[0]["TargetHealth"]["State"] == "unused", timeout=5)
    assert target["TargetHealth"] == {
        "State": "unused", "Reason": "Target.NotInUse",
        "Description": "Target group is not configured to receive traffic from the load balancer"}


@pytest.mark.slow
def test_blocking_the_dynamic_ports_times_the_checks_out_and_restoring_heals(region):
    sandbox, clients, stack = region
    count = stack.spec.desired_count
    targets = wait_until(clients, stack.target_group_arn, all_healthy(count), timeout=15)
    low, high = sandbox.ctx.options.host_port_range
    for target in targets:
        assert low <= target["Target"]["Port"] <= high  # registered on its dynamic host port
        assert "Reason" not in target["TargetHealth"] and "Description" not in target["TargetHealth"]

    # The lab's break: the host SG keeps only "tcp 8081 from anywhere"; the ALB's health checks
    # to the dynamic host ports are dropped, so they time out.
    rules = clients.ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [stack.host_sg_id]}])["SecurityGroupRules"]
    (ephemeral_rule_id,) = [r["SecurityGroupRuleId"] for r in rules
                            if not r["IsEgress"] and r["FromPort"] == EPHEMERAL_RANGE[0]]
    clients.ec2.revoke_security_group_ingress(GroupId=stack.host_sg_id, SecurityGroupRuleIds=[ephemeral_rule_id])
    targets = wait_until(clients, stack.target_group_arn, failing("Target.Timeout"))
    assert unhealthy_descriptions(targets) == {"Request timed out"}

    clients.ec2.authorize_security_group_ingress(GroupId=stack.host_sg_id, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": EPHEMERAL_RANGE[0], "ToPort": EPHEMERAL_RANGE[1],
         "UserIdGroupPairs": [{"GroupId": stack.alb_sg_id}]}])
    wait_until(clients, stack.target_group_arn, all_healthy(count), timeout=15)


@pytest.mark.slow
def test_a_path_that_answers_404_is_a_response_code_mismatch(region):
    sandbox, clients, stack = region
    wait_until(clients, stack.target_group_arn, all_healthy(stack.spec.desired_count), timeout=15)
    clients.elbv2.modify_target_group(TargetGroupArn=stack.target_group_arn, HealthCheckPath="/status/404")
    try:
        targets = wait_until(clients, stack.target_group_arn, failing("Target.ResponseCodeMismatch"))
        assert unhealthy_descriptions(targets) == {"Health checks failed with these codes: [404]"}
    finally:
        clients.elbv2.modify_target_group(TargetGroupArn=stack.target_group_arn, HealthCheckPath="/")


@pytest.mark.slow
def test_stop_is_prompt(region):
    sandbox, clients, stack = region
    stopper = threading.Thread(target=sandbox.ctx.components["health"].stop)
    stopper.start()
    stopper.join(timeout=5)  # checks under way are cut short, not waited out
    assert not stopper.is_alive()
