"""The notebook facade: AWS mode stays off without the opt-in; direct requests for AWS mode."""

import http.server
import threading

import pytest

from helpers.aws_mode import AwsOptInRequired
from helpers.course import Lab
from helpers.traffic import DIRECT, request


def test_lab_aws_refuses_without_the_opt_in(monkeypatch):
    monkeypatch.delenv("LAB_ALLOW_AWS", raising=False)
    with pytest.raises(AwsOptInRequired, match="LAB_ALLOW_AWS=1"):
        Lab.aws(confirm=lambda text: True)


def test_direct_requests_need_no_sandbox():
    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"hi")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        outcome = request(f"http://127.0.0.1:{server.server_address[1]}/", proxy=DIRECT)
    finally:
        server.shutdown()
    assert (outcome.kind, outcome.status) == ("answered", 200)
    assert outcome.summary().startswith("200 OK - answered by")


@pytest.mark.slow
def test_open_port_then_close_port_leaves_the_alb_as_it_was(sandbox):
    from helpers.stack import StackSpec, build_stack
    from helpers.tables import listeners_table, security_group_table

    clients = sandbox.clients()
    stack = build_stack(clients, StackSpec(name="ports"))
    lab = Lab(clients, sandbox.socks_proxy)
    before = (str(listeners_table(clients, stack.alb_arn)), str(security_group_table(clients, stack.alb_sg_id)))

    assert lab.open_port(stack, 8081).startswith("opened port 8081")
    assert "8081" in str(listeners_table(clients, stack.alb_arn))
    assert lab.close_port(stack, 8081) == "closed port 8081: 1 listener(s) deleted, 1 security group rule(s) revoked"
    assert (str(listeners_table(clients, stack.alb_arn)), str(security_group_table(clients, stack.alb_sg_id))) == before
    assert lab.close_port(stack, 8081) == "closed port 8081: 0 listener(s) deleted, 0 security group rule(s) revoked"
