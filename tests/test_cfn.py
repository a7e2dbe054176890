"""The hardened stack as CloudFormation: cfn-lint passes, and what moto can create deploys into the sandbox."""

import ipaddress
import json
import subprocess
import sys
import warnings

import pytest

from helpers.cfn import (PRIVATE_NACL_RULES, PUBLIC_NACL_RULES, SANDBOX_UNSUPPORTED, hardened_template, to_json,
                         to_yaml)
from helpers.facts import DYNAMIC_HOST_PORTS as EPHEMERAL_RANGE
from helpers.hardened_spec import private_acl_rules, public_acl_rules
from helpers.stack import PROJECT_TAG


def _types(template: dict) -> set[str]:
    return {resource["Type"] for resource in template["Resources"].values()}


def test_cfn_lint_passes_on_both_templates(tmp_path):
    full, compatible = tmp_path / "hardened.yaml", tmp_path / "hardened-sandbox.json"
    full.write_text(to_yaml(hardened_template("lab")))
    compatible.write_text(to_json(hardened_template("lab", sandbox_compatible=True)))
    # cfn-lint's console entry point, run with this interpreter (the package has no __main__).
    lint = "import sys; from cfnlint.runner import main; sys.exit(main())"
    result = subprocess.run([sys.executable, "-c", lint, str(full), str(compatible)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr  # 0: no errors, warnings or notes


def test_sandbox_unsupported_is_exactly_what_moto_lacks():
    from moto.cloudformation.parsing import get_model_map

    template = hardened_template()
    assert _types(template) - set(get_model_map()) == SANDBOX_UNSUPPORTED
    compatible = hardened_template(sandbox_compatible=True)
    assert _types(compatible) == _types(template) - SANDBOX_UNSUPPORTED
    left_out = set(template["Resources"]) - set(compatible["Resources"])
    assert {template["Resources"][key]["Type"] for key in left_out} == SANDBOX_UNSUPPORTED


def test_hosts_admit_only_the_dynamic_range_from_the_alb():
    resources = hardened_template()["Resources"]
    low, high = EPHEMERAL_RANGE
    ingress = resources["HostIngressFromAlb"]["Properties"]
    assert (ingress["FromPort"], ingress["ToPort"]) == (low, high)
    assert ingress["SourceSecurityGroupId"] == {"Ref": "AlbSecurityGroup"}
    assert "SecurityGroupIngress" not in resources["HostSecurityGroup"]["Properties"]
    alb = resources["AlbSecurityGroup"]["Properties"]
    assert [(r["FromPort"], r["ToPort"]) for r in alb["SecurityGroupIngress"]] == [(80, 80)]
    assert [(r["FromPort"], r["ToPort"], r["DestinationSecurityGroupId"]) for r in alb["SecurityGroupEgress"]] == [
        (low, high, {"Ref": "HostSecurityGroup"})]
    assert "8081" not in json.dumps({k: v for k, v in resources.items() if "SecurityGroup" in v["Type"]})
    for suffix in "AB":
        host = resources[f"Host{suffix}"]["Properties"]
        assert host["SubnetId"] == {"Ref": f"PrivateSubnet{suffix}"}
        assert host["IamInstanceProfile"] == {"Ref": "InstanceProfile"}
        assert resources[f"PrivateSubnet{suffix}"]["Properties"]["MapPublicIpOnLaunch"] is False


def test_nacl_rules_carry_the_alb_to_host_path_both_ways():
    """ALB (public) -> host (private) on the dynamic range, and the replies back on 1024-65535."""
    def allows(rules, egress, cidr, low, high):
        return any(r.egress == egress and ipaddress.ip_network(cidr).subnet_of(ipaddress.ip_network(r.cidr))
                   and r.ports[0] <= low and high <= r.ports[1] for r in rules)

    low, high = EPHEMERAL_RANGE
    for private in ("10.0.11.0/24", "10.0.12.0/24"):
        assert allows(PUBLIC_NACL_RULES, True, private, low, high)
    for public in ("10.0.1.0/24", "10.0.2.0/24"):
        assert allows(PRIVATE_NACL_RULES, False, public, low, high)
        assert allows(PRIVATE_NACL_RULES, True, public, 1024, 65535)
    assert allows(PUBLIC_NACL_RULES, False, "0.0.0.0/0", 80, 80)
    assert allows(PUBLIC_NACL_RULES, False, "0.0.0.0/0", 1024, 65535)
    for rules in (PUBLIC_NACL_RULES, PRIVATE_NACL_RULES):
        numbers = [(r.egress, r.number) for r in rules]
        assert len(numbers) == len(set(numbers)), "rule numbers must be unique per direction"


def test_template_and_harden_share_one_specification():
    """The boto3 hardening's rules are the template's minus the NAT path, with the same numbers."""
    public, private = ["10.0.1.0/24", "10.0.2.0/24"], ["10.0.11.0/24", "10.0.12.0/24"]
    assert set(public_acl_rules([80], private)) < set(PUBLIC_NACL_RULES)
    assert set(private_acl_rules(public)) < set(PRIVATE_NACL_RULES)
    resources = hardened_template()["Resources"]
    for rule in PUBLIC_NACL_RULES:
        entry = resources[f"PublicNetworkAcl{'Out' if rule.egress else 'In'}{rule.number}"]["Properties"]
        assert (entry["CidrBlock"], entry["PortRange"]) == (rule.cidr, {"From": rule.ports[0], "To": rule.ports[1]})
    acl_entries = [v for v in resources.values() if v["Type"] == "AWS::EC2::NetworkAclEntry"]
    assert len(acl_entries) == len(PUBLIC_NACL_RULES) + len(PRIVATE_NACL_RULES)


@pytest.mark.slow
def test_sandbox_compatible_template_deploys_to_create_complete(sandbox):
    clients = sandbox.clients()
    cloudformation = clients.client("cloudformation")
    template = hardened_template("hard", sandbox_compatible=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # moto warns when it skips a resource type: there must be none
        cloudformation.create_stack(StackName="hard", TemplateBody=to_json(template), Capabilities=["CAPABILITY_IAM"])
    stack = cloudformation.describe_stacks(StackName="hard")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs["Url"] == f"http://{outputs['AlbDnsName']}/"

    summaries = cloudformation.list_stack_resources(StackName="hard")["StackResourceSummaries"]
    assert {s["LogicalResourceId"] for s in summaries} == set(template["Resources"])
    assert all(s["ResourceStatus"] == "CREATE_COMPLETE" for s in summaries)

    vpc = clients.ec2.describe_vpcs(Filters=[{"Name": "tag:lab:stack", "Values": ["hard"]}])["Vpcs"]
    assert len(vpc) == 1 and PROJECT_TAG in vpc[0]["Tags"]
    hosts = [i for r in clients.ec2.describe_instances(Filters=[{"Name": "vpc-id", "Values": [vpc[0]["VpcId"]]}])["Reservations"]
             for i in r["Instances"]]
    assert len(hosts) == 2 and not any(h.get("PublicIpAddress") for h in hosts)
    assert clients.ecs.describe_services(cluster="hard-cluster", services=["hard-svc"])["services"][0]["status"] == "ACTIVE"
