"""`python -m helpers COMMAND` - the course's one command-line entry point.

    sandbox   start a local region; print one JSON line when ready; run until Ctrl-C / SIGTERM
    explain   evaluate one flow (who can reach URL, hop by hop) and say why not
    audit     hardening findings for a VPC (severity, resource, evidence, fix)
    cleanup   delete everything the project tagged (the sandbox; --aws: your account, opt-in)
    check     pre-flight for a workshop: every check on one line, with the fix when it fails
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading

EXIT_OK, EXIT_BAD_INPUT, EXIT_BLOCKED = 0, 2, 3
log = logging.getLogger("helpers.sandbox")


def _port_range(text: str) -> tuple[int, int]:
    try:
        low, high = (int(part) for part in text.split("-", 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW-HIGH, e.g. 32768-60999, got {text!r}") from None
    if not 1 <= low <= high <= 65535:
        raise argparse.ArgumentTypeError(f"ports must be 1-65535 with LOW <= HIGH, got {text!r}")
    return low, high


def _time_scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"time scale must be in (0, 1] (0.02 = 50x faster than AWS), got {text!r}")
    return value


def _idle_minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of minutes > 0, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"idle minutes must be > 0 (leave the option out to run until stopped), got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m helpers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    sandbox = commands.add_parser("sandbox", help="start a local AWS region (no account, no network)")
    sandbox.add_argument("--stack", choices=["seed"], help="also build the source document's stack and wait for it")
    sandbox.add_argument("--env", action="store_true", help="print shell exports instead of the JSON line")
    sandbox.add_argument("--time-scale", type=_time_scale, default=None,
                         help="real seconds per AWS second for health checks and delays (default 0.02)")
    sandbox.add_argument("--host-port-range", type=_port_range, default=None,
                         help="dynamic host port range, like ECS_DYNAMIC_HOST_PORT_RANGE (default 32768-60999)")
    sandbox.add_argument("--idle-minutes", type=_idle_minutes, default=None,
                         help="end by itself after this many minutes without a user (helpers/sandbox/idle.py); "
                              "default: run until stopped")

    explain = commands.add_parser("explain", help="evaluate one flow and explain the path")
    explain.add_argument("url", help="e.g. http://lab-alb-1.us-east-1.elb.amazonaws.com:8081/, or an instance id "
                                     "(i-...): can its ECS agent reach ECS")
    explain.add_argument("--source", default="internet",
                         help="who asks: 'internet' (default), an IP, an instance id or a security group id")
    explain.add_argument("--json", action="store_true", help="machine-readable output")
    explain.add_argument("--endpoint-url", default=None,
                         help="the sandbox's endpoint (default: the running sandbox; 'aws' for your AWS account, read-only)")

    check = commands.add_parser("check", help="workshop pre-flight: versions, `dot`, a kernel, a sandbox start")
    check.add_argument("--json", action="store_true", help="machine-readable output")

    cleanup = commands.add_parser("cleanup", help="delete everything the project tagged; exit 0 when nothing remains")
    cleanup.add_argument("--stack", default=None, help="only this stack (default: every stack the project made)")
    cleanup.add_argument("--aws", action="store_true",
                         help="your AWS account instead of the sandbox (needs LAB_ALLOW_AWS=1 and a confirmation)")

    audit = commands.add_parser("audit", help="hardening findings for a VPC (read-only)")
    audit.add_argument("--json", action="store_true", help="machine-readable output")
    audit.add_argument("--vpc", default=None, help="the VPC to audit (default: every VPC in the region)")
    audit.add_argument("--fail-on", choices=["high", "medium", "low"], default="high",
                       help="exit 1 when a finding has this severity or worse (default high)")
    audit.add_argument("--endpoint-url", default=None,
                       help="the sandbox's endpoint (default: the running sandbox; 'aws' for your AWS account, read-only)")
    return parser


def main(argv: list[str] | None = None) -> int:
    # Each command imports only what it runs: `check` must work when another dependency is
    # broken, and `--help` stays instant (moto and boto3 take seconds to import).
    args = build_parser().parse_args(argv)
    if args.command == "sandbox":
        return run_sandbox(args)
    if args.command == "explain":
        from helpers.explain import run_explain

        return run_explain(args)
    if args.command == "check":
        from helpers.check import run_check

        return run_check(args)
    if args.command == "cleanup":
        from helpers.aws_mode import run_cleanup

        return run_cleanup(args)
    if args.command == "audit":
        from helpers.audit import run_audit_command

        return run_audit_command(args)
    raise AssertionError(args.command)


def _exports(info: dict) -> str:
    lines = {
        "AWS_ENDPOINT_URL": info["endpoint_url"],
        "AWS_ACCESS_KEY_ID": "sandbox",
        "AWS_SECRET_ACCESS_KEY": "sandbox",
        "AWS_DEFAULT_REGION": info["region"],
        "AWS_REGION": info["region"],
        "LAB_SOCKS_PROXY": info["socks_proxy"],
    }
    if info.get("alb_dns_name"):
        lines["LAB_ALB_DNS_NAME"] = info["alb_dns_name"]
    return "\n".join(f"export {key}={value}" for key, value in lines.items())


def run_sandbox(args) -> int:
    from helpers.sandbox.region import Sandbox, SandboxOptions

    options = SandboxOptions()
    if args.time_scale is not None:
        options.time_scale = args.time_scale
    if args.host_port_range is not None:
        options.host_port_range = args.host_port_range

    stop_requested = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop_requested.set())

    sandbox = Sandbox(options)
    try:
        sandbox.start()
        info = sandbox.info()
        if args.stack == "seed":
            from helpers.stack import build_stack
            from helpers.waiters import wait_for_service

            stack = build_stack(sandbox.clients())
            wait_for_service(sandbox.clients(), stack, progress=False)
            info["alb_dns_name"] = stack.alb_dns_name
        print(_exports(info) if args.env else json.dumps(info, sort_keys=True), flush=True)
        # Wait with a timeout: the kernel may hand SIGTERM to one of the sandbox's threads, and then
        # Python runs the handler only when the main thread wakes up - which wait() alone never does.
        while not stop_requested.wait(timeout=0.5):
            if args.idle_minutes is not None and sandbox.idle_seconds() >= args.idle_minutes * 60:
                sandbox.closing = True  # launchers stop reusing it now; the next one starts a new sandbox
                log.warning("no one has used the sandbox for %g minutes: stopping", args.idle_minutes)
                break
    finally:
        sandbox.stop()
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
