# %% [markdown]
# # 06 · Hardening: only the ALB may reach the tasks
#
# Time: at least 20 minutes, plus the exercises (reading 10 min, running 28 s) · needs: `05_network_acls`
#
# Words you don't know: the [glossary](../docs/GLOSSARY.md). Stuck? The [cheat sheet](../docs/CHEATSHEET.md).
#
# The source post ends with three pieces of advice for running dynamic host ports safely:
#
# - **6-1** security groups: the ALB's group admits HTTP from the internet; the ECS hosts' group
#   admits traffic **only from the ALB's group**;
# - **6-2** private subnets: the ECS hosts in private subnets, only the ALB in public ones;
# - **6-3** the ECS **service-linked role**, which lets ECS register each task with the ALB.
#
# This notebook applies all three to the stack as the author had it, and uses an **audit** to
# prove the difference: a list of findings before, none after.
#
# **You will**
# - run the audit on the author's stack and read its findings;
# - reach a task *around* the ALB, then close that door with a security-group-to-security-group
#   rule (your exercise);
# - move the hosts into private subnets and see why the internet cannot even address them;
# - look inside `AWSServiceRoleForECS`: who may use it, and what it allows - and what ECS says
#   without it;
# - run the audit again and get a clean report.
#
# Everything runs in the **sandbox**: no account, no cost.

# %%
from helpers.course import Interactive, Lab
from helpers.evaluator.report import format_ecs_reach
from helpers.explain import explain_agent
from helpers.hardening import harden
from helpers.lab_extras import answered_line, audit_text, hosts_table, picture_png
from helpers.nacl_tools import outcome_words, sorted_blockers
from helpers.resources.ecs import direct_task_url
from helpers.resources.security_groups import revoke_group_rule
from helpers.tables import network_acl_table, security_group_table

lab = Lab.start()

# %% [markdown]
# ## The author's stack, audited
# First the stack as the source describes it: the ECS hosts in **public** subnets with public IPs,
# the default NACL (rule 100, all traffic), and a host security group that - besides the dynamic
# host ports from the ALB - still admits **8081 from anywhere**. (Why it is there is our story,
# not the post's: a rule opened for the app before the ALB existed, and never closed.)

# %%
stack = lab.build("nb06")
alb_url = f"http://{stack.alb_dns_name}/"
print(hosts_table(lab.clients, stack))
print(security_group_table(lab.clients, stack.host_sg_id))

# %% [markdown]
# The **audit** (`python -m helpers audit`, or `helpers.audit.run_audit` from Python) reads the
# whole configuration - routes, NACLs, security groups, listeners, the ECS services and IAM - and
# reports each weakness with the evidence behind it and a fix. It only reads; it changes
# nothing. Here is the "before":

# %%
print(audit_text(lab.clients, stack.vpc_id))

# %% [markdown]
# How to read it:
#
# - `LAB_HOST_OPEN_TO_INTERNET` (high): each host can be reached from the internet - its public IP,
#   the route to the internet gateway, the NACL's "allow all" and the SG rule for 8081 all let
#   the same packets through.
# - `LAB_HOST_IN_PUBLIC_SUBNET`: the hosts sit where the internet can address them (6-2).
# - `LAB_NACL_ALLOW_ALL_FIRST`: the NACL of section 5-4 (`05_network_acls`): rule 100 decides
#   everything, the security groups are the only filter.
#
# The codes start with `LAB_` because they are this course's own checks, not AWS's.
#
# ## 6-1 · Security groups: who may reach the hosts?
# Many guides open the hosts' dynamic port range to **everyone** - it is the quickest way to make
# the health checks pass. Let us make that mistake on purpose, to see what it costs: replace the
# rule "32768-65535 from the ALB's SG" by "32768-65535 from `0.0.0.0/0`".
#
# *Console: EC2 > Security Groups (nb06-host-sg).*

# %%
dynamic = {"IpProtocol": "tcp", "FromPort": 32768, "ToPort": 65535}
lab.clients.ec2.authorize_security_group_ingress(
    GroupId=stack.host_sg_id, IpPermissions=[{**dynamic, "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "quick fix"}]}])
revoke_group_rule(lab.clients, stack.host_sg_id, (32768, 65535), stack.alb_sg_id)
print(security_group_table(lab.clients, stack.host_sg_id))

# %% [markdown]
# The ALB still works. But now anyone can skip it: send a request straight to a host's public
# DNS name, on a task's host port (`lab.tasks(stack)` shows the ports; nothing secret about them).

# %%
direct = direct_task_url(lab.clients, stack)
print(lab.request(alb_url, timeout=5.0))
print(lab.request(direct, timeout=5.0))

# %% [markdown]
# The task answers directly - no ALB, no listener rules, no health checks, nothing you put in
# front of the app. The host ports are random, but scanning 32768-65535 takes seconds.
#
# ## Exercise 1 - admit only the ALB
# Change the host security group (`stack.host_sg_id`) so that:
#
# 1. tcp 32768-65535 is allowed **from the ALB's security group** (`stack.alb_sg_id`) - a rule
#    whose source is another group: `IpPermissions=[{"IpProtocol": "tcp", "FromPort": 32768,
#    "ToPort": 65535, "UserIdGroupPairs": [{"GroupId": stack.alb_sg_id}]}]`;
# 2. the rules that admit `0.0.0.0/0` are gone - the 32768-65535 one you just saw, and the old
#    8081 one (`revoke_security_group_ingress` with the same port range and `IpRanges`).
#
# A group as the source means "any network interface that carries that group" - here, the ALB's
# nodes, whatever addresses they get. No CIDR to keep up to date.

# %% jupyter={"source_hidden": true} tags=["solution"]
### BEGIN SOLUTION
ec2 = lab.clients.ec2
ec2.authorize_security_group_ingress(GroupId=stack.host_sg_id, IpPermissions=[
    {"IpProtocol": "tcp", "FromPort": 32768, "ToPort": 65535, "UserIdGroupPairs": [{"GroupId": stack.alb_sg_id}]}])
revoked = ec2.revoke_security_group_ingress(GroupId=stack.host_sg_id, IpPermissions=[
    {"IpProtocol": "tcp", "FromPort": 32768, "ToPort": 65535, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
    {"IpProtocol": "tcp", "FromPort": 8081, "ToPort": 8081, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
### END SOLUTION

# %%
from helpers.selfcheck.nb06 import only_the_alb

print(security_group_table(lab.clients, stack.host_sg_id))
only_the_alb(lab, stack, direct)

# %% [markdown]
# The direct request now times out: the host's security group drops it. `explain` names the
# blocker and, as always, the rule that would let the request through - read that "fix" as a
# warning here: it is exactly the rule that must never come back.

# %%
direct_why = lab.explain(direct)
print(sorted_blockers(direct_why))
picture_png(direct_why)

# %% [markdown]
# ## 6-2 · Private subnets
# The hosts still have public IPs in public subnets: one careless SG rule and they are exposed
# again. Section 6-2 removes the possibility. A **private subnet** has no route to the internet
# gateway, and an instance there gets no public IP - so the internet cannot even *address* it.
# The ALB stays in the public subnets and is the only way in.
#
# An instance cannot move to another subnet: you replace it. Here that means rebuilding the
# stack with `hosts_in="private"`. Then `helpers.hardening.harden` applies 6-1 (what you just did
# by hand, and it also narrows the ALB's own outbound rules to the hosts' SG) and replaces the
# allow-all NACL with tight ones for both tiers (what you built in `05`). It prints every change.
#
# *Console: VPC > Subnets (nb06-private-a/b); the tight NACLs: VPC > Network ACLs.*

# %%
stack = lab.build("nb06", hosts_in="private")
changes = harden(lab.clients, stack)
print("\n".join(sorted(changes)))

# %% [markdown]
# Where the hosts are now:

# %%
print(hosts_table(lab.clients, stack))
private_ip = hosts_table(lab.clients, stack).column("private IP")[0]
print(sorted_blockers(lab.explain(f"http://{private_ip}:8081/")))

# %% [markdown]
# No public IP, so there is no public name to try either. A request to the private address from
# the internet fails before any rule is read: `IGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS` - an
# internet gateway only forwards to public IPs.
#
# Private hosts still need a way *out*: the ECS agent on each host registers it and keeps a
# connection to ECS over HTTPS (443), and the host pulls the image. With no way out the instance
# runs, but never joins the cluster - no task ever lands on it. So `hosts_in="private"` also
# built **interface VPC endpoints** for `ecs`, `ecs-agent` and `ecs-telemetry` in the private
# subnets (the agent's HTTPS stays inside the VPC) and a **NAT gateway** in a public subnet (for
# the image, which is on Docker Hub). Both cost money on AWS, unlike the rest of this stack when
# idle: a NAT gateway is billed per hour and per GB it handles (plus its public IPv4 address),
# an interface endpoint per hour in each AZ and per GB - see the Amazon VPC and AWS PrivateLink
# pricing pages for your region. Ask the evaluator whether a host's agent gets through:

# %%
print(format_ecs_reach(explain_agent(stack.instance_ids[0], clients=lab.clients)).splitlines()[0])

# %% [markdown]
# The ALB, meanwhile, reaches every task as before:

# %%
print(outcome_words(lab.explain(alb_url)))
print(answered_line(lab, alb_url, n=6))
print(network_acl_table(lab.clients, lab.snapshot().nacl_by_subnet[stack.private_subnet_ids[0]].id))

# %% [markdown]
# ## 6-3 · The ECS service-linked role
# Who registers each new task - `instance:host port` - in the target group? Not you, not the
# task: **ECS** does, with the **service-linked role** `AWSServiceRoleForECS`. AWS creates it in
# your account the first time you create a cluster (the sandbox does the same). Without it, ECS
# may not call Elastic Load Balancing on your behalf: `CreateService` with a load balancer fails -
# you will see it below.
#
# > **The post says** the role lets ECS register *target groups*. **AWS does** something
# > narrower: the target group is yours; the role lets ECS register and deregister *targets*
# > (`instance:host port`) in it (`elasticloadbalancing:RegisterTargets` / `DeregisterTargets`,
# > below). ([ECS guide: service-linked roles](https://docs.aws.amazon.com/AmazonECS/latest/developerguide/using-service-linked-roles.html))

# %%
iam = lab.clients.iam
role = iam.get_role(RoleName="AWSServiceRoleForECS")["Role"]
principals = [s["Principal"]["Service"] for s in role["AssumeRolePolicyDocument"]["Statement"]]
trusted = sorted({p for found in principals for p in ([found] if isinstance(found, str) else found)})
attached = iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"]
print("role:       ", role["RoleName"], "at path", role["Path"])
print("trusted by: ", ", ".join(trusted), "(only this service can assume it)")
print("policies:   ", ", ".join(sorted(p["PolicyName"] for p in attached)))

# %% [markdown]
# What the policy lets ECS do with load balancers:

# %%
policy_arn = next(p["PolicyArn"] for p in attached if p["PolicyName"] == "AmazonECSServiceRolePolicy")
version = iam.get_policy(PolicyArn=policy_arn)["Policy"]["DefaultVersionId"]
document = iam.get_policy_version(PolicyArn=policy_arn, VersionId=version)["PolicyVersion"]["Document"]
actions = sorted({a for s in document["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])})
print("\n".join(a for a in actions if a.startswith("elasticloadbalancing:")))
print(f"... and {sum(not a.startswith('elasticloadbalancing:') for a in actions)} more actions "
      "(network interfaces for awsvpc tasks, Cloud Map, CloudWatch, ...)")

# %% [markdown]
# `RegisterTargets` and `DeregisterTargets` are the calls behind dynamic host ports: each time a
# task starts on some random port, ECS registers that `instance:port`; when it stops, ECS
# deregisters it. The service's event log records it, and the target group matches the tasks
# one for one:

# %%
events = lab.clients.ecs.describe_services(cluster=stack.cluster_name, services=[stack.service_name])["services"][0]["events"]
print("ECS logged target registrations:", any(" registered " in e["message"] for e in events))
bound = {(row[1], row[3]) for row in lab.tasks(stack).rows}
targets = {tuple(row[1].rsplit(":", 1)) for row in lab.targets(stack).rows}
print("every running task's instance:host port is a registered target:", bound <= targets)

# %% [markdown]
# ### Without the role
# Take the role away and ask for a second service behind the same target group. (On AWS, IAM's
# `DeleteServiceLinkedRole` only *starts* a deletion, which fails while ECS still uses the role -
# [IAM API](https://docs.aws.amazon.com/IAM/latest/APIReference/API_DeleteServiceLinkedRole.html).
# The sandbox deletes it at once, so you can see what ECS answers without it. Don't try this in
# an account you care about.)

# %%
from botocore.exceptions import ClientError

ecs = lab.clients.ecs
first = ecs.describe_services(cluster=stack.cluster_name, services=[stack.service_name])["services"][0]
second = {"cluster": stack.cluster_name, "serviceName": "second", "taskDefinition": first["taskDefinition"],
          "desiredCount": 0, "loadBalancers": first["loadBalancers"]}
iam.delete_service_linked_role(RoleName="AWSServiceRoleForECS")
try:
    ecs.create_service(**second)
except ClientError as error:
    print(f"{error.response['Error']['Code']}: {error.response['Error']['Message']}")
found = ecs.describe_services(cluster=stack.cluster_name, services=["second"])["services"]
print("active services named 'second':", sum(s["status"] == "ACTIVE" for s in found))

# %% [markdown]
# Nothing was created: not half a service, not a service without traffic. Create the role again
# (`aws iam create-service-linked-role --aws-service-name ecs.amazonaws.com`), and the same call
# works:

# %%
role = iam.create_service_linked_role(AWSServiceName="ecs.amazonaws.com")["Role"]
created = ecs.create_service(**second)["service"]
ecs.delete_service(cluster=stack.cluster_name, service="second", force=True)  # it was only a test
print("role:", role["RoleName"])
print("second service:", created["serviceName"], created["status"])

# %% [markdown]
# ## The audit, after

# %%
print(audit_text(lab.clients, stack.vpc_id))

# %%
from helpers.selfcheck.nb06 import hardened

hardened(lab, stack)

# %% [markdown]
# ## Try it yourself: the SG-to-SG rule
# Switch the host SG's rule "tcp 32768-65535 from the ALB's SG" off and on, and watch `explain`'s
# verdict: without it, no target can be reached - the security group is the one thing that
# lets the ALB in. (Needs a running kernel. Leave it **on** when you are done.)

# %%
from helpers.widgets import RuleToggle

from_alb = [{"IpProtocol": "tcp", "FromPort": 32768, "ToPort": 65535, "UserIdGroupPairs": [{"GroupId": stack.alb_sg_id}]}]
toggle = RuleToggle(
    lambda: lab.clients.ec2.authorize_security_group_ingress(GroupId=stack.host_sg_id, IpPermissions=from_alb),
    lambda: revoke_group_rule(lab.clients, stack.host_sg_id, (32768, 65535), stack.alb_sg_id),
    lambda: lab.explain(alb_url).verdict, enabled=True, description="host SG: tcp 32768-65535 from the ALB's SG")
Interactive.switch(toggle)

# %% [markdown]
# ## Key points
# - **6-1**: the hosts' security group admits the dynamic host ports **only from the ALB's
#   security group**. Any `0.0.0.0/0` rule on the hosts lets the internet skip the ALB.
# - **6-2**: hosts in **private subnets** have no public IP; the internet cannot address them at
#   all, whatever a security group says. Only the ALB sits in public subnets.
# - **6-3**: ECS registers and deregisters `instance:host port` targets with the service-linked
#   role `AWSServiceRoleForECS`, created with your first cluster.
# - An **audit** that reads the whole configuration turns "is it secure?" into a list you can
#   empty - and check again after every change.
#
# ## Clean up

# %%
lab.cleanup(stack)
