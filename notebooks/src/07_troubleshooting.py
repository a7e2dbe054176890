# %% [markdown]
# # 07 · Capstone: troubleshoot a broken stack
#
# Time: at least 15 minutes, plus the exercises (reading 7 min, running 27 s) · needs: `01`-`06`
#
# Words you don't know: the [glossary](../docs/GLOSSARY.md). Stuck? The [cheat sheet](../docs/CHEATSHEET.md).
#
# Monday morning. Last week the stack was hardened exactly as in `06_hardening`: hosts in
# private subnets, tight NACLs, the hosts' security group open only to the ALB. Over the weekend
# several people "made small changes". Now the app is down.
#
# Your job: find **every** fault, fix each with plain boto3 calls, and prove the stack works end
# to end. Nobody will tell you what changed - the tools from the earlier notebooks will.
#
# **You will**
# - read the symptoms: what a client gets, the target health, the service's events;
# - ask `explain` for every blocker and look at the picture;
# - fix the faults one layer at a time (they hide behind each other, as real faults do);
# - run a self-check that sends real requests, asks `explain` and runs the audit.
#
# **Instructors:** the faults are injected by `helpers/faults.py` (spoilers in its docstring).
# Learners should not open it before they are done.

# %%
from helpers.course import Lab
from helpers.faults import break_stack
from helpers.hardening import harden
from helpers.lab_extras import answered_line, audit_text, picture_png
from helpers.nacl_tools import blocker_digest
from helpers.selfcheck.nb07 import stack_works
from helpers.tables import network_acl_table, security_group_table
from helpers.waiters import wait_until

lab = Lab.start()
stack = lab.build("nb07", hosts_in="private", quiet=True)
hardening = harden(lab.clients, stack)
injected = break_stack(lab.clients, stack)
settled = wait_until(lambda: (not lab.targets(stack).rows and not lab.tasks(stack).rows, "done"),
                     what="the weekend's changes", timeout=60)
alb_url = f"http://{stack.alb_dns_name}/"
print("the app:", alb_url)

# %% [markdown]
# ## First, confirm the outage
# The self-check you will run at the end, run now: it should fail, and how it fails is your
# first clue.

# %%
stack_works(lab, stack)

# %% [markdown]
# ## Symptom 1 - what does a client get?

# %%
print(lab.request(alb_url, timeout=10.0))

# %% [markdown]
# A **503** from the load balancer itself (`Server: awselb/2.0`). Not a timeout (`01`): the
# request reached the ALB, and a listener took it. Not a 504 (`05`): the ALB did not even try a
# target. Which targets does the target group have, and what is the service doing?
#
# *Console: EC2 > Target Groups (nb07-tg); the service: ECS > Clusters, then the cluster's page.*

# %%
print(lab.targets(stack))
print(lab.tasks(stack))
service = lab.clients.ecs.describe_services(cluster=stack.cluster_name, services=[stack.service_name])["services"][0]
print(f"service {service['serviceName']}: desired {service['desiredCount']}, running {service['runningCount']}")

# %% [markdown]
# ## Exercise 1 - bring the tasks back
# The stack was built for **3** tasks (`stack.spec.desired_count`). Set the service's desired
# count back with `lab.clients.ecs.update_service(cluster=..., service=..., desiredCount=...)`.

# %% jupyter={"source_hidden": true} tags=["solution"]
### BEGIN SOLUTION
scaled = lab.clients.ecs.update_service(cluster=stack.cluster_name, service=stack.service_name,
                                        desiredCount=stack.spec.desired_count)
### END SOLUTION

# %% [markdown]
# Wait for the tasks to start, then look again. (The wait ends when ECS reports that a target
# of the service failed its health checks - or after 30 seconds, if nothing like that happens; with
# no task running it says so at once.)

# %%
print(lab.wait_for_unhealthy_target(stack))

# %% [markdown]
# The tasks run and are registered, but their health checks time out ("Request timed out" is
# `Target.Timeout`), and ECS keeps replacing them - try `lab.request(alb_url)` a few times and
# you will mostly get 504s. Something between the ALB and the hosts drops packets. Time for `explain` - it checks every
# hop for every target, and lists **every** blocker at once (each kind once: the same setting
# blocks every target alike):

# %%
why = lab.explain(alb_url)
print(blocker_digest(why))

# %% [markdown]
# The picture draws the targets on each host as one node: ECS keeps replacing the failing
# tasks, so which targets are registered right now (draining, new) changes from second to
# second - the hosts, and what blocks the way to them, do not.

# %%
picture_png(why, targets="by-host")

# %% [markdown]
# Look at the two settings it names:
#
# *Console: EC2 > Security Groups (nb07-host-sg); VPC > Network ACLs (nb07-private-nacl).*

# %%
print(security_group_table(lab.clients, stack.host_sg_id))
hosts_acl = lab.snapshot().nacl_by_subnet[stack.private_subnet_ids[0]].id
print(network_acl_table(lab.clients, hosts_acl))
print(network_acl_table(lab.clients, hosts_acl, egress=True))

# %% [markdown]
# Think before you fix:
#
# - Which port does the ALB connect to on a host - the container's port, or the task's host
#   port? (`02_port_mapping`, and `lab.tasks(stack)`.)
# - A NACL is stateless. Which way do the *replies* go, and to which ports? (`05_network_acls`)
#
# ## Exercise 2 - the security group
# Make the hosts' SG (`stack.host_sg_id`) admit what the ALB really sends - tcp 32768-65535 from
# the ALB's SG (`stack.alb_sg_id`) - and remove the rule that does not help.

# %% jupyter={"source_hidden": true} tags=["solution"]
### BEGIN SOLUTION
from helpers.resources.security_groups import revoke_group_rule

sg_added = lab.clients.ec2.authorize_security_group_ingress(GroupId=stack.host_sg_id, IpPermissions=[
    {"IpProtocol": "tcp", "FromPort": 32768, "ToPort": 65535, "UserIdGroupPairs": [{"GroupId": stack.alb_sg_id}]}])
sg_removed = revoke_group_rule(lab.clients, stack.host_sg_id, (8081, 8081), stack.alb_sg_id)
### END SOLUTION

# %% [markdown]
# ## Exercise 3 - the network ACL
# Give the hosts' NACL (`hosts_acl`) its outbound return rules back: allow tcp 1024-65535 to each
# of the ALB's subnets (`10.0.1.0/24`, `10.0.2.0/24`).

# %% jupyter={"source_hidden": true} tags=["solution"]
### BEGIN SOLUTION
for number, cidr in ((100, "10.0.1.0/24"), (110, "10.0.2.0/24")):
    lab.clients.ec2.create_network_acl_entry(NetworkAclId=hosts_acl, RuleNumber=number, Egress=True, Protocol="6",
                                             RuleAction="allow", CidrBlock=cidr, PortRange={"From": 1024, "To": 65535})
### END SOLUTION

# %% [markdown]
# ## Did it work?
# First what `explain` thinks of the configuration now, then - once ECS has replaced the tasks
# that failed their checks and every target is healthy - the self-check: real requests answered
# by every task, no blocker, and a clean audit.

# %%
print(blocker_digest(lab.explain(alb_url)))
print(lab.wait_for_service(stack, url=alb_url))

# %%
stack_works(lab, stack)

# %% [markdown]
# The audit's own report, for the record:

# %%
print(audit_text(lab.clients, stack.vpc_id))
print(answered_line(lab, alb_url, n=12))

# %% [markdown]
# ## Try it yourself: scale the service
# Move the slider and watch the target group follow: 0 tasks is the 503 you started with. (Needs a
# running kernel. Leave it at **3** when you are done.)

# %%
lab.service_scaler(stack)  # a slider; on release: ecs.update_service(..., desiredCount=N)

# %% [markdown]
# ## One more error from the ALB: 502
# You have now met 503 (no target) and 504 (no answer in time). The third error the ALB answers
# itself is **502 Bad Gateway**: a target took the connection and then broke it - reset it, or
# sent something that is not HTTP. On AWS that is an app crashing mid-request, or one that closes
# connections the ALB still uses. The sandbox's container resets the connection on purpose when
# asked for the path `/reset`, so you can see it without breaking anything:

# %%
print(lab.request(alb_url + "reset"))
print(lab.request(alb_url))

# %% [markdown]
# Only that one request failed: the next one is answered as usual. A 502 points at the target
# (its logs, its stopped reason), not at the network.
#
# ## What you found
# Three faults, three lessons, each with its own symptom:
#
# | fault | symptom | lesson |
# |---|---|---|
# | the service scaled to 0 | **503** from the ALB, no targets | `03`: ECS registers a target per running task |
# | host SG open on 8081 (the container port) instead of the host ports | health checks `Request timed out`, **504** | `04`: the ALB connects to the task's **host** port |
# | the hosts' NACL without outbound return rules | the same **504** | `05`: NACLs are stateless; replies go to 1024-65535 |
#
# The second and third hide behind the first, and behind each other: fix only one and the
# symptom stays the same. That is why `explain` lists every blocker at once.
#
# ## Key points
# - Read the **status code** first: timeout (nothing reached the ALB), 503 (no targets),
#   504 (targets unreachable or silent), 502 (a target refused or broke the connection).
# - Then the **target health** and the service's **events**, then `explain` for the exact
#   settings - every blocker at once.
# - Fix, then **prove** it: real requests, `explain`, and an audit.
#
# ## Clean up

# %%
lab.cleanup(stack)
