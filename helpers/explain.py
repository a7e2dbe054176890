"""`python -m helpers explain URL`: who can reach URL, hop by hop, and why not.
`python -m helpers explain i-0abc...`: can that instance's ECS agent reach ECS (the same evaluator).

Exit status: 0 reachable, 3 blocked, 2 bad input (a malformed URL, no sandbox running, ...).
"""

from __future__ import annotations

import json
import os
import sys
from urllib.parse import urlsplit

from helpers.backend import Clients
from helpers.evaluator import Flow, agent_reaches_ecs, evaluate, read_snapshot
from helpers.evaluator.report import format_ecs_reach, format_verdict, verdict_to_json
from helpers.sandbox.launcher import running_sandbox

EXIT_OK, EXIT_BAD_INPUT, EXIT_BLOCKED = 0, 2, 3
AWS_OPT_IN_ENV = "LAB_ALLOW_AWS"


class BadInput(ValueError):
    """Input the user can fix; the message says how."""


def parse_url(url: str):
    """(host, port, path) of an http(s) URL; the port defaults to the scheme's (80 / 443)."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", "https"):
        raise BadInput(f"only http:// and https:// URLs can be explained, got {parts.scheme}://")
    if not parts.hostname:
        raise BadInput(f"no host name in {url!r}; expected e.g. http://lab-alb-1.us-east-1.elb.amazonaws.com/")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise BadInput(f"the port in {url!r} is not a number 1-65535") from None
    if not 1 <= port <= 65535:
        raise BadInput(f"port must be 1-65535, got {port}")
    return parts.hostname, port, parts.path or "/"


def clients_for(endpoint_url: str | None) -> Clients:
    """The sandbox (default: the running one), or real AWS read-only when asked and opted in."""
    if endpoint_url == "aws":
        if os.environ.get(AWS_OPT_IN_ENV) != "1":
            raise BadInput(f"reading a real AWS account needs the opt-in: set {AWS_OPT_IN_ENV}=1 "
                           "(explain only reads; it never changes anything)")
        return Clients()
    if endpoint_url:
        return Clients(endpoint_url=endpoint_url)
    if os.environ.get("AWS_ENDPOINT_URL"):
        return Clients(endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    info = running_sandbox()
    if info is None:
        raise BadInput("no sandbox is running: start one with `python -m helpers sandbox` "
                       "(or open a notebook), or pass --endpoint-url")
    return info.clients()


def explain(url: str, *, source: str = "internet", clients: Clients):
    host, port, path = parse_url(url)
    try:
        flow = Flow(destination=host, port=port, path=path, source=source)
    except ValueError as error:
        raise BadInput(str(error)) from None
    return evaluate(read_snapshot(clients), flow)


def explain_agent(instance_id: str, *, clients: Clients):
    """Can the ECS agent on `instance_id` reach the ECS endpoints (HTTPS)? An `EcsReach`."""
    snapshot = read_snapshot(clients)
    if instance_id not in snapshot.instance_by_id:
        raise BadInput(f"no instance {instance_id} in this region")
    return agent_reaches_ecs(snapshot, instance_id)


def run_explain(args) -> int:
    if args.url.startswith("i-"):
        try:
            reach = explain_agent(args.url, clients=clients_for(args.endpoint_url))
        except BadInput as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_BAD_INPUT
        print(format_ecs_reach(reach))
        return EXIT_OK if reach.reachable else EXIT_BLOCKED
    try:
        verdict = explain(args.url, source=args.source, clients=clients_for(args.endpoint_url))
    except BadInput as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.json:
        print(json.dumps(verdict_to_json(verdict), indent=2, sort_keys=True))
    else:
        print(format_verdict(verdict))
    return EXIT_OK if verdict.reachable else EXIT_BLOCKED
