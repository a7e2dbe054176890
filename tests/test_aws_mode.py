"""AWS mode: opt-in before any AWS call, a confirmation naming account, region and cost; every
resource tagged; cleanup (also from the command line) after a failure in the IAM step.

"AWS" here is the sandbox, injected as `clients`: this machine has no AWS account.
"""

import io
from types import SimpleNamespace

import pytest
from botocore.client import BaseClient
from botocore.endpoint import Endpoint
from botocore.exceptions import ClientError

from helpers import aws_mode
from helpers.aws_mode import AwsCredentialsMissing, AwsNotConfirmed, AwsOptInRequired, build_in_aws, connect_aws, hourly_cost, run_cleanup
from helpers.backend import SANDBOX_ACCOUNT_ID, Clients
from helpers.cleanup import cleanup, remaining
from helpers.stack import BUILD_STEPS, PROJECT_TAG, Stack, StackSpec, _run_instance, build_instance_profile, build_stack

OPTED_IN = {"LAB_ALLOW_AWS": "1"}


class Untouchable(Clients):
    """Clients that fail the test if anything asks them for a boto3 client."""

    def client(self, service: str):
        raise AssertionError(f"an AWS call was about to be made ({service})")


@pytest.fixture
def no_aws_calls(monkeypatch):
    def refuse(self, operation, params):
        raise AssertionError(f"AWS call {operation} made without the opt-in")
    monkeypatch.setattr(BaseClient, "_make_api_call", refuse)


@pytest.fixture(scope="module")
def region():
    """One sandbox for this module (each test uses its own stack name)."""
    from helpers.sandbox.region import Sandbox

    with Sandbox() as sandbox:
        yield sandbox


# -- opt-in -----------------------------------------------------------------------------------
@pytest.mark.parametrize("environ", [{}, {"LAB_ALLOW_AWS": "yes"}, {"LAB_ALLOW_AWS": "0"}])
def test_without_the_opt_in_nothing_is_called(no_aws_calls, environ):
    with pytest.raises(AwsOptInRequired, match="LAB_ALLOW_AWS=1") as raised:
        connect_aws(environ=environ, clients=Untouchable(), confirm=lambda prompt: True)
    assert "Nothing was sent to AWS" in str(raised.value)
    with pytest.raises(AwsOptInRequired):  # the default credential chain is not even built
        connect_aws(environ=environ, confirm=lambda prompt: True)


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    """boto3's default chain finds nothing: no keys, no profile files, no instance or container role."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_DEFAULT_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
                 "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    def refuse(self, request, *args, **kwargs):  # boto3 signs before it sends: nothing may be sent
        raise AssertionError(f"a request to {request.url} was about to be sent")
    monkeypatch.setattr(Endpoint, "_send", refuse)


def test_without_credentials_aws_mode_says_what_to_set(no_credentials):
    with pytest.raises(AwsCredentialsMissing) as raised:
        connect_aws(environ=OPTED_IN, confirm=lambda prompt: True)
    message = str(raised.value)
    assert "Unable to locate credentials" in message  # boto3's reason, kept
    for what_to_set in ("AWS_PROFILE", "aws configure", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert what_to_set in message
    assert "Nothing was sent to AWS" in message


def test_a_profile_that_does_not_exist_is_named(no_credentials, monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "lab-typo")
    with pytest.raises(AwsCredentialsMissing, match="lab-typo"):
        connect_aws(environ=OPTED_IN, confirm=lambda prompt: True)


def test_an_endpoint_override_is_refused_in_aws_mode(no_aws_calls):
    with pytest.raises(AwsOptInRequired, match="AWS_ENDPOINT_URL"):
        connect_aws(environ={**OPTED_IN, "AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}, confirm=lambda prompt: True)


def test_the_confirmation_names_account_region_and_cost(region):
    prompts = []
    with pytest.raises(AwsNotConfirmed, match=SANDBOX_ACCOUNT_ID):
        connect_aws(environ=OPTED_IN, clients=region.clients(), confirm=lambda p: prompts.append(p) or False)
    prompt = prompts[0]
    assert f"account  {SANDBOX_ACCOUNT_ID}" in prompt and "region   us-east-1" in prompt
    assert "2 x t3.small" in prompt and "$0.0208" in prompt and "$0.0225" in prompt and "LCU" in prompt
    assert "us-east-1 on-demand list prices as of 2024-10" in prompt
    assert "python -m helpers cleanup --aws" in prompt


def test_typing_the_account_id_confirms(region, monkeypatch):
    monkeypatch.setattr("builtins.input", lambda prompt: f" {SANDBOX_ACCOUNT_ID}\n")
    assert connect_aws(environ=OPTED_IN, clients=region.clients()) is region.clients()
    monkeypatch.setattr("builtins.input", lambda prompt: "yes")
    with pytest.raises(AwsNotConfirmed):
        connect_aws(environ=OPTED_IN, clients=region.clients())


def test_hourly_cost_from_the_price_table():
    estimate = hourly_cost(StackSpec())
    # 2 x t3.small + ALB + 1 LCU + 4 public IPv4 (2 hosts, 2 ALB nodes)
    assert estimate.per_hour == pytest.approx(2 * 0.0208 + 0.0225 + 0.008 + 4 * 0.005)
    assert hourly_cost(StackSpec(hosts_in="private")).per_hour == pytest.approx(estimate.per_hour - 2 * 0.005)
    with pytest.raises(ValueError, match="no price for m5.large"):
        hourly_cost(StackSpec(instance_type="m5.large"))


# -- building --------------------------------------------------------------------------------
def test_build_in_aws_waits_and_reports(region):
    out = io.StringIO()
    stack = build_in_aws(region.clients(), StackSpec(name="awsbuild"), join_timeout=60, service_timeout=60,
                         progress=False, out=out)
    report = out.getvalue()
    assert "2/2 container instances joined" in report
    assert f"curl http://{stack.alb_dns_name}/" in report
    assert "python -m helpers cleanup --aws --stack awsbuild" in report
    assert cleanup(region.clients(), "awsbuild").failed == []
    assert remaining(region.clients(), "awsbuild") == []


def test_build_in_aws_refuses_private_hosts_without_a_nat(no_aws_calls):
    with pytest.raises(ValueError, match="NAT gateway"):
        build_in_aws(Untouchable(), StackSpec(hosts_in="private"))


def _project_tagged(tags: list[dict], key: str = "Key", value: str = "Value") -> bool:
    return any(t[key] == PROJECT_TAG["Key"] and t[value] == PROJECT_TAG["Value"] for t in tags)


def test_every_resource_the_builder_creates_carries_the_project_tag(region):
    clients = region.clients()
    stack = build_stack(clients, StackSpec(name="tagged"))
    ec2, elbv2, ecs, iam = clients.ec2, clients.elbv2, clients.ecs, clients.iam
    in_vpc = [{"Name": "vpc-id", "Values": [stack.vpc_id]}]
    found = {}
    found[stack.vpc_id] = ec2.describe_vpcs(VpcIds=[stack.vpc_id])["Vpcs"][0].get("Tags", [])
    for igw in ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [stack.vpc_id]}])["InternetGateways"]:
        found[igw["InternetGatewayId"]] = igw.get("Tags", [])
    for subnet in ec2.describe_subnets(Filters=in_vpc)["Subnets"]:
        found[subnet["SubnetId"]] = subnet.get("Tags", [])
    # The VPC's main route table and default SG/NACL come with the VPC itself and go with it.
    for table in ec2.describe_route_tables(Filters=in_vpc)["RouteTables"]:
        if not any(a.get("Main") for a in table.get("Associations", [])):
            found[table["RouteTableId"]] = table.get("Tags", [])
    for group in ec2.describe_security_groups(Filters=in_vpc)["SecurityGroups"]:
        if group["GroupName"] != "default":
            found[group["GroupId"]] = group.get("Tags", [])
    for reservation in ec2.describe_instances(Filters=in_vpc)["Reservations"]:
        for instance in reservation["Instances"]:
            found[instance["InstanceId"]] = instance.get("Tags", [])
    elb_arns = [stack.alb_arn, stack.target_group_arn, stack.listener_arn]
    for description in elbv2.describe_tags(ResourceArns=elb_arns)["TagDescriptions"]:
        found[description["ResourceArn"]] = description["Tags"]
    cluster = ecs.describe_clusters(clusters=[stack.cluster_name], include=["TAGS"])["clusters"][0]
    service = ecs.describe_services(cluster=stack.cluster_name, services=[stack.service_name])["services"][0]
    ecs_tags = {cluster["clusterArn"]: cluster.get("tags", [])}
    for arn in (stack.task_definition_arn, service["serviceArn"]):
        ecs_tags[arn] = ecs.list_tags_for_resource(resourceArn=arn)["tags"]
    found[stack.instance_role_name] = iam.list_role_tags(RoleName=stack.instance_role_name)["Tags"]
    found[stack.instance_profile_name] = iam.get_instance_profile(
        InstanceProfileName=stack.instance_profile_name)["InstanceProfile"]["Tags"]

    assert len(found) == 1 + 1 + 4 + 1 + 2 + 2 + 3 + 2  # vpc igw subnets rt sgs instances elbv2 iam
    assert [r for r, tags in found.items() if not _project_tagged(tags)] == []
    assert [r for r, tags in ecs_tags.items() if not _project_tagged(tags, "key", "value")] == []
    instance_profiles = {i["IamInstanceProfile"]["Arn"].rsplit("/", 1)[-1]
                         for r in ec2.describe_instances(InstanceIds=stack.instance_ids)["Reservations"] for i in r["Instances"]}
    assert instance_profiles == {stack.instance_profile_name}
    assert cleanup(clients, "tagged").failed == []
    assert remaining(clients, "tagged") == []


# -- cleanup after a failure in the IAM step ---------------------------------------------------
@pytest.mark.parametrize("failing_call", ["attach_role_policy", "create_instance_profile", "add_role_to_instance_profile"])
def test_cleanup_after_a_failure_inside_the_iam_step(region, monkeypatch, failing_call):
    clients = region.clients()
    name = f"iam-{failing_call.split('_')[0]}"
    stack = Stack(spec=StackSpec(name=name))
    steps = BUILD_STEPS[:BUILD_STEPS.index(build_instance_profile)]
    for step in steps:
        step(clients, stack)

    def fail(**kwargs):
        raise ClientError({"Error": {"Code": "InjectedFailure", "Message": failing_call}}, failing_call)
    with monkeypatch.context() as patch:
        patch.setattr(clients.iam, failing_call, fail)
        with pytest.raises(ClientError, match="InjectedFailure"):
            build_instance_profile(clients, stack)
    assert any(item.startswith("iam-role ") for item in remaining(clients, name))
    report = cleanup(clients, name)
    assert report.failed == []
    assert remaining(clients, name) == []


def test_run_instance_waits_for_a_new_instance_profile(monkeypatch):
    monkeypatch.setattr("helpers.stack.time.sleep", lambda seconds: None)
    calls = []

    def run_instances(**kwargs):
        calls.append(kwargs)
        if len(calls) < 3:
            raise ClientError({"Error": {"Code": "InvalidParameterValue",
                                         "Message": "Value (lab-ecs-instance-profile) for parameter iamInstanceProfile.name "
                                                    "is invalid. Invalid IAM Instance Profile name"}}, "RunInstances")
        return {"Instances": [{"InstanceId": "i-1"}]}
    clients = SimpleNamespace(ec2=SimpleNamespace(run_instances=run_instances))
    assert _run_instance(clients, ImageId="ami-1")["Instances"][0]["InstanceId"] == "i-1"
    assert len(calls) == 3


# -- the command line --------------------------------------------------------------------------
def test_cli_cleanup_in_the_sandbox(region, monkeypatch, capsys):
    from helpers.cli import main

    monkeypatch.setenv("AWS_ENDPOINT_URL", region.endpoint_url)
    build_stack(region.clients(), StackSpec(name="clidel"))
    assert main(["cleanup", "--stack", "clidel"]) == 0
    out = capsys.readouterr().out
    assert "deleted" in out and "iam-role" in out and "still there" not in out
    assert remaining(region.clients(), "clidel") == []


def test_cli_cleanup_exits_1_when_something_remains(region, monkeypatch, capsys):
    monkeypatch.setenv("AWS_ENDPOINT_URL", region.endpoint_url)
    stack = Stack(spec=StackSpec(name="stays"))
    BUILD_STEPS[0](region.clients(), stack)
    monkeypatch.setattr("helpers.aws_mode.cleanup", lambda clients, name: SimpleNamespace(summary=lambda: "deleted 0 resources"))
    assert run_cleanup(SimpleNamespace(aws=False, stack="stays")) == 1
    assert f"still there: vpc {stack.vpc_id}" in capsys.readouterr().out
    monkeypatch.undo()
    cleanup(region.clients(), "stays")


def test_cli_cleanup_aws_needs_the_opt_in(no_aws_calls, capsys):
    assert run_cleanup(SimpleNamespace(aws=True, stack=None), environ={}) == 2
    assert "LAB_ALLOW_AWS=1" in capsys.readouterr().err


def test_cli_cleanup_aws_goes_through_the_confirmation(region, monkeypatch, capsys):
    monkeypatch.setattr(aws_mode, "Clients", lambda region: region_clients)
    region_clients = region.clients()
    prompts = []
    code = run_cleanup(SimpleNamespace(aws=True, stack="nothing"), environ=OPTED_IN,
                       confirm=lambda p: prompts.append(p) or True)
    assert code == 0 and "delete everything tagged Project=ecs-alb-lab in stack 'nothing'" in prompts[0]
    assert "deleted 0 resources" in capsys.readouterr().out
