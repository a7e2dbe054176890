# %% [markdown]
# # 04 · Letting the ALB in: inbound rules for dynamic host ports
#
# Time: at least 20 minutes, plus the exercises (reading 12 min, running 15 s) · needs: `03_alb_to_ecs`
#
# Words you don't know: the [glossary](../docs/GLOSSARY.md). Stuck? The [cheat sheet](../docs/CHEATSHEET.md).
#
# The ALB reaches each task on a host port ECS picked from a wide range. The hosts' security
# group has to let those packets in - but *which* ports, and from *whom*? This notebook walks the
# source's sections 5-1 to 5-3 along one request, then makes the classic mistake on purpose:
# opening only the app's port 8081. You will watch the health checks fail, see what the ALB does
# when no target is healthy, and repair the rule.
#
# **You will**
# - follow a request: listener -> target group -> dynamic port mapping, as tables and a picture;
# - give the listener a rule that answers by itself, and register a target by hand and watch
#   its health checks;
# - replace the hosts' dynamic-range rule with "8081 from the ALB" and watch every target go
#   `unhealthy` with `Target.Timeout`;
# - see what requests get while all targets are unhealthy (the ALB *fails open*), and why;
# - write the right rule yourself and watch the targets recover.

# %%
from helpers.course import Lab
from helpers.tables import listeners_table, network_bindings_table, security_group_table
from helpers.waiters import WaitTimeout

lab = Lab.start()
stack = lab.build("nb04")
alb_url = f"http://{stack.alb_dns_name}/"

# %% [markdown]
# One setting first. When a target turns unhealthy, ECS does what it should in production: it
# stops that task and starts a replacement - which, with a broken rule, fails too, over and over.
# That churn would hide what this notebook wants to show, so the service gets a long **health
# check grace period**: for that long after a task starts, ECS ignores the ALB's verdict. (The
# ALB still checks and reports; only ECS's reaction waits.)

# %%
graced = lab.clients.ecs.update_service(cluster=stack.cluster_name, service=stack.service_name,
                                        healthCheckGracePeriodSeconds=86400)
print("grace period:", graced["service"]["healthCheckGracePeriodSeconds"], "seconds (one day)")

# %% [markdown]
# ## 5-1 · The listener: where clients come in
# The ALB accepts requests on port 80 and forwards them to the target group.

# %%
print(listeners_table(lab.clients, stack.alb_arn))

# %% [markdown]
# Forwarding is the listener's **default rule**. A listener can hold more rules, each with
# conditions (a path, a host name, a header...) and an action; the ALB tries them by priority,
# lowest number first, and the default rule last. An action need not forward: a rule can have the
# ALB answer by itself.
#
# ## Exercise A (section 5-1) - a rule that answers by itself
# Add a rule to the port-80 listener (`stack.listener_arn`) with priority 10: requests for the
# path `/hello` get a **fixed response** - status 200, content type `text/plain`, a message of
# your choice. Every other request should still reach a task. Use
# `lab.clients.elbv2.create_rule(ListenerArn=..., Priority=..., Conditions=[...], Actions=[...])`
# (a condition: `{"Field": "path-pattern", "PathPatternConfig": {"Values": [...]}}`; an action:
# `{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200", "ContentType":
# "text/plain", "MessageBody": "..."}}` - the status code is a string; the ELB API reference's
# `FixedResponseActionConfig` lists the fields).
#
# *Console: EC2 > Load Balancers > nb04-alb, tab "Listeners and rules"; a listener's own page
# has its rules.*

# %% jupyter={"source_hidden": true} tags=["solution"]
### BEGIN SOLUTION: a path-pattern condition and a fixed-response action, on stack.listener_arn
hello_rule = lab.clients.elbv2.create_rule(
    ListenerArn=stack.listener_arn, Priority=10,
    Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/hello"]}}],
    Actions=[{"Type": "fixed-response", "FixedResponseConfig": {
        "StatusCode": "200", "ContentType": "text/plain", "MessageBody": "hello from the listener"}}])
### END SOLUTION

# %%
from helpers.selfcheck.nb04 import listener_rule

print(lab.request(alb_url + "hello"))
print(lab.request(alb_url))
listener_rule(lab, stack)

# %% [markdown]
# The rule answered `/hello` without asking any target; `/` still took the default rule to the
# target group. The rest of this notebook needs only the default rule, so remove yours:

# %%
for rule in lab.clients.elbv2.describe_rules(ListenerArn=stack.listener_arn)["Rules"]:
    if not rule["IsDefault"]:
        lab.clients.elbv2.delete_rule(RuleArn=rule["RuleArn"])
print(listeners_table(lab.clients, stack.alb_arn))

# %% [markdown]
# ## 5-2 · The target group: where requests go next
# Its targets are `instance:port` pairs - the same instance may appear more than once, on
# different ports.

# %%
print(lab.targets(stack))

# %% [markdown]
# ECS registered each of these when it started a task. Nothing stops you from registering a
# target yourself - the target group health-checks whatever `instance:port` it is given.
#
# ## Exercise B (section 5-2) - a target by hand
# Register the first host on port **8081**, the container's port, as a target:
# `by_hand` below, with `lab.clients.elbv2.register_targets(TargetGroupArn=..., Targets=[...])`.
# Then watch its health. What do you expect on 8081 of a host whose tasks use dynamic ports?
#
# *Console: EC2 > Target Groups (nb04-tg): its page lists the targets and their health.*

# %%
by_hand = {"Id": stack.instance_ids[0], "Port": 8081}

# %% jupyter={"source_hidden": true} tags=["solution"]
### BEGIN SOLUTION: register_targets with Targets=[by_hand]
registered = lab.clients.elbv2.register_targets(TargetGroupArn=stack.target_group_arn, Targets=[by_hand])
### END SOLUTION

# %% [markdown]
# A new target starts `initial` (`Elb.RegistrationInProgress`) and turns `unhealthy` after 2
# failed checks in a row:

# %%
from helpers.selfcheck.nb04 import target_by_hand

try:
    lab.watch_targets(stack, {"healthy": 3, "unhealthy": 1}, timeout=15)
except WaitTimeout as stuck:
    print("not there yet:", stuck)
print(lab.targets(stack))
target_by_hand(lab, stack, by_hand)

# %% [markdown]
# `Target.FailedHealthChecks`: the check reached the host - its security group still has the
# rule for 8081 the post's author added (the table below shows it) - and was refused, because nothing listens on the host's 8081: with
# dynamic mapping the container's 8081 is reached only through its host port. The ALB sends an
# unhealthy target no requests while healthy ones remain. A fixed host port (`02`) would make
# `instance:8081` a real target. ECS registers a service's targets itself whatever the ports;
# with dynamic ports you could not even know in advance which port to register.
#
# Now take it out again: `deregister_targets` with the same `Targets`. It drains first
# (`draining`, `Target.DeregistrationInProgress`) for the target group's deregistration delay
# (300 seconds by default on AWS; the sandbox's clock runs faster), then it is gone.

# %% jupyter={"source_hidden": true} tags=["solution"]
### BEGIN SOLUTION: deregister_targets with Targets=[by_hand]
deregistered = lab.clients.elbv2.deregister_targets(TargetGroupArn=stack.target_group_arn, Targets=[by_hand])
### END SOLUTION

# %%
try:
    lab.watch_targets(stack, {"healthy": 3}, timeout=15)
except WaitTimeout as stuck:
    print("not gone yet:", stuck)
print(lab.targets(stack))

# %% [markdown]
# ## 5-3 · Dynamic port mapping: how those ports came to be
# Each target's port is the host port ECS gave a task (`hostPort: 0`), which leads to the
# container's 8081. ECS told the target group about each one when the task started.
#
# > **The post says** that with dynamic port mapping no inbound rule for the host ports is
# > needed. **AWS says otherwise**: the ECS API reference for `LoadBalancer` states that the
# > container instance's security group must allow ingress on the host port, and the dynamic
# > ports are host ports like any other. The ALB guide's advice is a rule on the hosts' group
# > whose source is the load balancer's security group - which is what this stack has, and what
# > you will break and repair below.
# > ([ECS API: LoadBalancer](https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_LoadBalancer.html),
# > [ALB guide: security groups](https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-update-security-groups.html))

# %%
print(network_bindings_table(lab.clients, stack.cluster_name, stack.service_name))

# %% [markdown]
# The whole path as a picture: internet -> ALB:80 -> listener -> target group -> each
# `instance:host port` -> container port 8081. Every edge is green: each hop is allowed.

# %%
healthy_path = lab.explain(alb_url)
print(healthy_path.outcome_line())
healthy_path.picture()

# %% [markdown]
# The hop that decides whether the ALB may reach a target is the hosts' **security group**.
# Today it admits the dynamic range from the ALB's security group:
#
# *Console: EC2 > Security Groups (nb04-host-sg).*

# %%
print(security_group_table(lab.clients, stack.host_sg_id))

# %% [markdown]
# ## The classic mistake
# "The app listens on 8081, so the hosts should admit 8081 from the ALB" - that sounds right,
# and it is how the rule looks with a *static* mapping. Make that change: remove the
# dynamic-range rule and add 8081 from the ALB's security group. Rules have ids
# (`describe_security_group_rules`), and revoking by id is the simplest way to remove one.

# %%
rules = lab.clients.ec2.describe_security_group_rules(
    Filters=[{"Name": "group-id", "Values": [stack.host_sg_id]}])["SecurityGroupRules"]
dynamic_range_rules = [r["SecurityGroupRuleId"] for r in rules
                       if not r["IsEgress"] and r["FromPort"] == 32768 and r["ToPort"] == 65535]
revoked = lab.clients.ec2.revoke_security_group_ingress(GroupId=stack.host_sg_id, SecurityGroupRuleIds=dynamic_range_rules)
added = lab.clients.ec2.authorize_security_group_ingress(GroupId=stack.host_sg_id, IpPermissions=[{
    "IpProtocol": "tcp", "FromPort": 8081, "ToPort": 8081,
    "UserIdGroupPairs": [{"GroupId": stack.alb_sg_id, "Description": "the container port, from the ALB"}],
}])
print(security_group_table(lab.clients, stack.host_sg_id))

# %% [markdown]
# Nothing changes for clients at once: the targets were healthy a moment ago. But the next health
# checks go to the targets' ports in the 32768+ range, and no rule admits those any more. The
# packets are dropped, each check times out, and after 2 failures in a row a target is
# `unhealthy` (about a minute on AWS; about a second here). (On AWS, connections already open
# when a rule goes may keep working for a while - security groups track connections, the EC2
# guide's "Security group connection tracking"; the sandbox judges each new connection.)

# %%
print(lab.watch_targets(stack, {"unhealthy": 3}))
print(lab.targets(stack))

# %% [markdown]
# `Target.Timeout`: the ALB sent its check and heard nothing back - the signature of a security
# group (or network ACL) dropping packets. A target that *answered* with the wrong code would say
# `Target.ResponseCodeMismatch` instead.
#
# ## What do clients get now?
# With every target unhealthy, the ALB does not give up: it **fails open** and sends requests to
# all registered targets anyway, on the chance that the health check is what is wrong. Here the
# health check is right - the path really is blocked - so the ALB cannot connect either:

# %%
print(lab.requests(alb_url, 6, timeout=10))

# %% [markdown]
# **504 Gateway Timeout**, from the ALB itself (`Server: awselb/2.0`): it tried a target, could
# not connect within its 10 s connect timeout (0.2 s here), and said so. Compare `01_listener`:
# a client that is dropped *before* the ALB gets no answer at all; here the ALB is reached and
# reports that *its* next hop failed. (Had the target group no registered targets at all, the
# ALB would answer **503**.)
#
# `explain` shows where, for every target:

# %%
blocked = lab.explain(alb_url)
print(blocked.blockers())
blocked.picture()

# %% [markdown]
# The front of the path is fine (internet -> ALB:80 -> listener -> target group). Each red
# edge is a target leg: the hosts' security group admits 8081 from the ALB, but the ALB talks to
# the **host port**, never to 8081 (`ENI_SG_RULES_MISMATCH`). The fix it proposes is the whole
# dynamic range from the ALB's security group, because the next task may get any port in it.
#
# ## Exercise - let the ALB reach the dynamic host ports
# Authorize, on the hosts' security group (`stack.host_sg_id`), inbound tcp **32768-65535** whose
# source is the **ALB's security group** (`stack.alb_sg_id`, in `UserIdGroupPairs`) - not
# `0.0.0.0/0`. Use `lab.clients.ec2.authorize_security_group_ingress`.
#
# Why that range? The agent takes host ports from Linux's ephemeral range, 32768-60999 by
# default. The ECS guide shows 32768-61000 only as an example; 32768-65535 is what most templates
# open (common practice, not an AWS rule), and it also covers older kernels (up to 61000) and a
# raised upper limit. If you change the agent's range
# (`ECS_DYNAMIC_HOST_PORT_RANGE`), change this rule with it.

# %% jupyter={"source_hidden": true} tags=["solution"]
### BEGIN SOLUTION: admit tcp 32768-65535 from the ALB's security group
opened = lab.clients.ec2.authorize_security_group_ingress(GroupId=stack.host_sg_id, IpPermissions=[{
    "IpProtocol": "tcp", "FromPort": 32768, "ToPort": 65535,
    "UserIdGroupPairs": [{"GroupId": stack.alb_sg_id, "Description": "dynamic host ports, from the ALB only"}],
}])
### END SOLUTION

# %% [markdown]
# The health checks get through again. An unhealthy target needs **5** passing checks in a row to
# be healthy again (two and a half minutes on AWS, a few seconds here).
# Should `explain` still find the path blocked, the cell below says what blocks it at once instead
# of waiting for checks that cannot pass.

# %%
print(lab.watch_targets(stack, {"healthy": 3}, url=alb_url))
print(lab.targets(stack))

# %%
from helpers.selfcheck.nb04 import ephemeral_range_from_alb

ephemeral_range_from_alb(lab, stack)

# %% [markdown]
# The rule "8081 from the ALB" is still there and does nothing: no host listens on 8081 with
# dynamic mapping. Unused rules are worth removing - each one is a question the next reader has
# to answer. Take it out:

# %%
unused = [r["SecurityGroupRuleId"] for r in lab.clients.ec2.describe_security_group_rules(
    Filters=[{"Name": "group-id", "Values": [stack.host_sg_id]}])["SecurityGroupRules"]
    if not r["IsEgress"] and r["FromPort"] == 8081 and r.get("ReferencedGroupInfo", {}).get("GroupId") == stack.alb_sg_id]
removed = lab.clients.ec2.revoke_security_group_ingress(GroupId=stack.host_sg_id, SecurityGroupRuleIds=unused)
print(security_group_table(lab.clients, stack.host_sg_id))

# %% [markdown]
# (The other 8081 rule, from `0.0.0.0/0`, is the author's old opening from before the ALB. With
# dynamic ports nothing listens there either - the security notebooks deal with it.)
#
# ## Try it yourself
# Switch the dynamic-range rule off and on, and read `explain`'s verdict after each change. The
# verdict follows the rule at once; the targets' health follows a few checks later - look at
# `lab.targets(stack)` in a new cell. Leave it **on** when you are done. (The widget needs a
# running kernel.)

# %%
lab.rule_switch(stack.host_sg_id, {
    "IpProtocol": "tcp", "FromPort": 32768, "ToPort": 65535, "UserIdGroupPairs": [{"GroupId": stack.alb_sg_id}],
}, url=alb_url, description="hosts' SG: tcp 32768-65535 from the ALB's SG")

# %% [markdown]
# ## Key points
# - A request's way in: **listener** (the port clients use) -> **target group** (the targets,
#   `instance:port`) -> **dynamic port mapping** (each task's host port -> container port 8081).
# - The hosts' security group must admit the **host ports** - the whole dynamic range - from the
#   **ALB's security group**. Admitting the container port (8081) does nothing for the ALB.
# - Blocked health checks show as `unhealthy` / `Target.Timeout`. When every target is
#   unhealthy the ALB fails open, and with the path blocked clients get **504** from the ALB.
# - In production ECS replaces tasks that fail their health checks; a broken rule then shows as
#   tasks that keep restarting.
#
# ## Clean up

# %%
lab.cleanup(stack)
