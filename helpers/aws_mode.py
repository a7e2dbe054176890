"""AWS mode: build (and clean up) the lab stack in a real AWS account - only when asked twice.

Opt-in takes two steps, so a stray notebook cell cannot spend money:

1. the environment variable `LAB_ALLOW_AWS=1`; without it `connect_aws` refuses before making
   any AWS call at all (not even STS), and
2. a confirmation that names the account, the region and what the stack costs per hour: the
   user types the account id (a notebook or a test passes a `confirm` callback instead).

    from helpers.aws_mode import connect_aws, build_in_aws
    clients = connect_aws()                 # LAB_ALLOW_AWS=1, then type the account id
    stack = build_in_aws(clients)           # build, wait (with timeouts and progress), report
    # ... and afterwards, always:  python -m helpers cleanup --aws

What has been tried on real AWS: NOTHING. This project is developed without an AWS account;
every line here runs in the tests against the local sandbox standing in for "AWS" (moto's API
plus the sandbox's ECS/ELB behaviour). Expect the first real run to find something the sandbox
does not model (IAM propagation delays, AMI boot time, Docker Hub pull limits, quotas).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Callable, Mapping

from botocore.exceptions import NoCredentialsError, PartialCredentialsError, ProfileNotFound

from helpers.backend import DEFAULT_REGION, Clients
from helpers.cleanup import cleanup, remaining
from helpers.explain import AWS_OPT_IN_ENV, EXIT_BAD_INPUT, BadInput, clients_for
from helpers.facts import CONTAINER_PORT
from helpers.stack import Stack, StackSpec, build_stack
from helpers.waiters import WaitTimeout, wait_for_service, wait_until

# us-east-1 on-demand list prices in USD, never fetched live (the sandbox never goes online).
# Sources: aws.amazon.com/ec2/pricing/on-demand/ (t3.small, Linux), aws.amazon.com/elasticloadbalancing/pricing/
# (ALB-hour, LCU-hour; AWS Price List offer effective 2024-10-01), aws.amazon.com/vpc/pricing/
# (public IPv4, charged since 2024-02-01). Other regions and later dates differ.
PRICES_AS_OF = "2024-10"
PRICE_REGION = "us-east-1"
HOURLY_USD = {
    "t3.small": 0.0208,
    "alb": 0.0225,
    "lcu": 0.008,
    "public-ipv4": 0.005,
}
# A lab sends a few hundred requests: far below one LCU (25 new connections/s, 1 GB/h); count one.
LAB_LCUS = 1.0


class AwsOptInRequired(BadInput):
    """AWS mode was not switched on; the message says exactly how."""


class AwsNotConfirmed(BadInput):
    """The user did not confirm the account."""


class AwsCredentialsMissing(BadInput):
    """AWS mode is on, but boto3 found no (complete) credentials; the message says what to set."""


# What boto3's default credential chain reads, in the words a learner can act on.
CREDENTIALS_HELP = (
    "Give boto3 credentials for the account in one of these ways, then run again:\n"
    "  - a profile: `aws configure` (or `aws configure sso` and `aws sso login`), then "
    "`export AWS_PROFILE=<profile name>`;\n"
    "  - keys in the environment: `export AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=...` "
    "(and AWS_SESSION_TOKEN=... for temporary credentials);\n"
    "  - on an EC2 instance or in a container: an IAM role attached to it.\n"
    "`aws sts get-caller-identity` checks them: it prints the account id you will be asked to type.")


@dataclass(frozen=True)
class CostEstimate:
    lines: tuple[tuple[str, float], ...]  # (what, USD per hour)

    @property
    def per_hour(self) -> float:
        return sum(usd for _, usd in self.lines)

    def __str__(self) -> str:
        rows = [f"    {what:<44} ${usd:.4f}/h" for what, usd in self.lines]
        rows.append(f"    {'total, about':<44} ${self.per_hour:.4f}/h (${self.per_hour * 24:.2f} a day)")
        rows.append(f"    ({PRICE_REGION} on-demand list prices as of {PRICES_AS_OF}, from the table in "
                    "helpers/aws_mode.py; EBS volumes and data transfer not included)")
        return "\n".join(rows)


def hourly_cost(spec: StackSpec | None = None) -> CostEstimate:
    """What the stack `build_stack(spec)` costs per hour while it exists."""
    spec = spec or StackSpec()
    if spec.instance_type not in HOURLY_USD:
        raise ValueError(f"no price for {spec.instance_type} in the table (known: t3.small); add it with its source")
    instance_price = HOURLY_USD[spec.instance_type]
    # An internet-facing ALB has one public IPv4 address per AZ (2 here); hosts in public subnets one each.
    public_ips = 2 + (spec.instance_count if spec.hosts_in == "public" else 0)
    return CostEstimate((
        (f"{spec.instance_count} x {spec.instance_type} on-demand (${instance_price}/h each)", spec.instance_count * instance_price),
        (f"1 ALB (${HOURLY_USD['alb']}/h)", HOURLY_USD["alb"]),
        (f"ALB LCUs, lab traffic: {LAB_LCUS:g} LCU (${HOURLY_USD['lcu']}/LCU-h)", LAB_LCUS * HOURLY_USD["lcu"]),
        (f"{public_ips} public IPv4 addresses (${HOURLY_USD['public-ipv4']}/h each)", public_ips * HOURLY_USD["public-ipv4"]),
    ))


def _type_the_account_id(account_id: str) -> Callable[[str], bool]:
    def confirm(prompt: str) -> bool:
        return input(prompt).strip() == account_id
    return confirm


def connect_aws(*, confirm: Callable[[str], bool] | None = None, environ: Mapping[str, str] = os.environ,
                clients: Clients | None = None, action: str = "build the lab stack",
                spec: StackSpec | None = None) -> Clients:
    """Clients for a real AWS account, after the opt-in and the confirmation.

    `confirm(prompt)` returns True to go ahead; by default the user must type the account id.
    `clients` replaces the default credential chain (tests pass the sandbox's clients here).
    """
    if environ.get(AWS_OPT_IN_ENV) != "1":
        raise AwsOptInRequired(
            f"AWS mode is off. To {action} in your own AWS account (this costs money), set "
            f"{AWS_OPT_IN_ENV}=1 in the environment (e.g. `export {AWS_OPT_IN_ENV}=1`) and run again; "
            "you will then be asked to confirm the account id. Nothing was sent to AWS.")
    if clients is None:
        if environ.get("AWS_ENDPOINT_URL"):
            # boto3 would send "AWS" calls to that endpoint (usually the sandbox): say so, do not guess.
            raise AwsOptInRequired(f"AWS_ENDPOINT_URL is set ({environ['AWS_ENDPOINT_URL']}); unset it for AWS mode.")
        clients = Clients(region=environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION)
    try:
        account_id = clients.sts.get_caller_identity()["Account"]
    except (NoCredentialsError, PartialCredentialsError, ProfileNotFound) as error:
        # boto3's own message ("Unable to locate credentials") does not say what to set.
        raise AwsCredentialsMissing(f"AWS mode is on ({AWS_OPT_IN_ENV}=1), but {error}.\n{CREDENTIALS_HELP}\n"
                                    "Nothing was sent to AWS.") from None
    region_note = "" if clients.region == PRICE_REGION else f" (prices below are for {PRICE_REGION})"
    prompt = (f"About to {action} in a REAL AWS account.\n"
              f"  account  {account_id}\n"
              f"  region   {clients.region}{region_note}\n"
              f"  the stack costs, while it exists:\n{hourly_cost(spec)}\n"
              "  Delete it afterwards with: python -m helpers cleanup --aws\n"
              f"Type the account id ({account_id}) to continue: ")
    if not (confirm or _type_the_account_id(account_id))(prompt):
        raise AwsNotConfirmed(f"not confirmed: nothing was changed in account {account_id}")
    return clients


# Real hosts boot, start the ECS agent and register in a minute or two; new targets then need
# the healthy threshold (5) x interval (30 s) of passing checks (FACTS.md): minutes, not seconds.
JOIN_TIMEOUT = 600.0
SERVICE_TIMEOUT = 900.0


def wait_for_container_instances(clients: Clients, stack: Stack, *, timeout: float = JOIN_TIMEOUT,
                                 progress: bool = True) -> str:
    """Wait until every host's ECS agent has registered with the cluster (needs the instance
    role and, from a private subnet, a NAT gateway: the agent calls the ECS API)."""
    def check() -> tuple[bool, str]:
        joined = len(clients.ecs.list_container_instances(cluster=stack.cluster_name, status="ACTIVE")["containerInstanceArns"])
        return joined >= stack.spec.instance_count, f"{joined}/{stack.spec.instance_count} container instances joined"

    return wait_until(check, what=f"hosts joining {stack.cluster_name}", timeout=timeout,
                      interval=0.2 if clients.is_sandbox else 10, progress=progress)


def build_in_aws(clients: Clients, spec: StackSpec | None = None, *, join_timeout: float = JOIN_TIMEOUT,
                 service_timeout: float = SERVICE_TIMEOUT, progress: bool = True, out=sys.stdout) -> Stack:
    """Build the stack with the clients `connect_aws` returned, wait until it serves, report.

    On a timeout the partial stack stays (and costs money): the error says how to delete it."""
    spec = spec or StackSpec()
    if spec.hosts_in == "private":
        # The boto3 builder makes no NAT gateway, so private hosts could never reach the ECS API.
        raise ValueError("hosts_in='private' needs a NAT gateway, which build_stack does not make; "
                         "deploy helpers.cfn.hardened_template() with CloudFormation instead")
    stack = build_stack(clients, spec)
    print(f"built stack {spec.name!r}: ALB {stack.alb_dns_name}, instances {', '.join(stack.instance_ids)}", file=out)
    try:
        print(wait_for_container_instances(clients, stack, timeout=join_timeout, progress=progress), file=out)
        status = wait_for_service(clients, stack, timeout=service_timeout, progress=progress)
    except WaitTimeout as error:
        raise WaitTimeout(f"{error}. The stack still exists and costs money: "
                          f"python -m helpers cleanup --aws --stack {spec.name}") from None
    print(f"stack {spec.name!r} is up: {status}\n"
          f"  try: curl http://{stack.alb_dns_name}/   (and :{CONTAINER_PORT}/, which has no listener)\n"
          f"  cost while it exists: about ${hourly_cost(spec).per_hour:.2f}/h\n"
          f"  delete it: python -m helpers cleanup --aws --stack {spec.name}", file=out)
    return stack


def run_cleanup(args, *, environ: Mapping[str, str] = os.environ, confirm: Callable[[str], bool] | None = None) -> int:
    """`python -m helpers cleanup [--stack NAME] [--aws]`: exit 0 when nothing tagged remains,
    1 when something does, 2 on bad input (no sandbox running, AWS mode not switched on)."""
    try:
        if args.aws:
            clients = connect_aws(confirm=confirm, environ=environ, action="delete everything tagged Project=ecs-alb-lab"
                                  + (f" in stack {args.stack!r}" if args.stack else ""))
        else:
            clients = clients_for(None)
    except BadInput as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(cleanup(clients, args.stack).summary())
    left = remaining(clients, args.stack)
    for item in left:
        print(f"still there: {item}")
    return 1 if left else 0
