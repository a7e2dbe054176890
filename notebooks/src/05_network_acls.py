# %% [markdown]
# # 05 · Network ACLs: the subnet's own firewall
#
# Time: at least 20 minutes, plus the exercises (reading 11 min, running 21 s) · needs: `01_listener` (and ideally `03`-`04`)
#
# Words you don't know: the [glossary](../docs/GLOSSARY.md). Stuck? The [cheat sheet](../docs/CHEATSHEET.md).
#
# In the source post the developer also looked at the **network ACL** (NACL) of their VPC and
# found a single inbound rule: number 100, *all traffic*, source `0.0.0.0/0` - followed by a
# warning that this is a security risk. This notebook opens that NACL, learns the two rules of
# the game that make NACLs different from security groups, writes a tight NACL for the ECS
# hosts, and then breaks it on purpose to see what a forgotten *return* rule costs.
#
# **You will**
# - read a NACL's rules in evaluation order, including the hidden `*` rule;
# - see that a deny placed *after* "allow all" changes nothing (first match wins);
# - understand why replies need rules of their own (NACLs are stateless);
# - write a NACL that admits only the ALB, on the dynamic host ports;
# - remove its return rule, get a **504** from the ALB, and read `explain`'s diagnosis;
# - see what AWS answers to a rule number it does not accept.
#
# Everything runs in the **sandbox**: no account, no cost.

# %%
from botocore.exceptions import ClientError

from helpers.course import Lab
from helpers.lab_extras import picture_png
from helpers.nacl_tools import acl_subnets_line, blockers_summary, client_error_line, dead_rules, sorted_blockers, what_if
from helpers.resources.ecs import wait_for_unhealthy_event
from helpers.resources.network_acls import default_acl_id, delete_entries, subnet_acl_id
from helpers.resources.subnets import subnet_cidrs
from helpers.tables import network_acl_table

lab = Lab.start()

# %% [markdown]
# ## The stack - with the hosts in private subnets
# A NACL belongs to a **subnet** and checks packets only where they cross the subnet's edge.
# Two machines in the same subnet talk past it. In `01`-`04` the ALB and the ECS hosts shared
# the public subnets, so a NACL could never come between them. Here the hosts go into the
# **private** subnets (the advice of section 6-2, which `06_hardening` covers), so every packet
# between the ALB and a task crosses two subnet edges.
#
# *Console: VPC > Subnets (nb05-public-a/b, nb05-private-a/b).*

# %%
stack = lab.build("nb05", hosts_in="private")
alb_url = f"http://{stack.alb_dns_name}/"
print("ALB subnets (public): ", ", ".join(subnet_cidrs(lab.clients, stack.public_subnet_ids)))
print("host subnets (private):", ", ".join(subnet_cidrs(lab.clients, stack.private_subnet_ids)))
print(lab.request(alb_url, timeout=10.0))

# %% [markdown]
# ## The NACL the author saw (section 5-4)
# Every VPC comes with a **default NACL**, and every subnet you do not assign elsewhere uses it.
# Here it is, both directions:
#
# *Console: VPC > Network ACLs (the one marked default for the VPC).*

# %%
default_acl = default_acl_id(lab.clients, stack.vpc_id)
print(acl_subnets_line(lab.clients, default_acl, stack))
print(network_acl_table(lab.clients, default_acl))
print(network_acl_table(lab.clients, default_acl, egress=True))

# %% [markdown]
# Read it top to bottom, as AWS does:
#
# - **rule 100** allows *all traffic* from (and to) `0.0.0.0/0` - every protocol, every port,
#   every address. This is the rule from the screenshot in the source post.
# - **rule `*`** is the last line of every NACL. You cannot edit or delete it; it denies whatever
#   no numbered rule decided. Here it never gets a chance: rule 100 matches everything first.
#
# So this NACL filters nothing. The source post's warning is right, with one nuance: the security
# groups still filter, so the stack is not open - but they are now the **only** filter.
#
# ## Rule 1: the first rule that matches decides
# Rules are checked in order of their number, lowest first (numbers go from 1 to 32766), and the
# first rule that matches a packet decides - allow or deny. Nothing after it is read.
#
# Suppose someone wants to keep the internet away from the hosts' dynamic ports and adds a
# *deny* rule to this NACL as number **110**. Before you run the cell: what will it change?

# %%
dynamic_ports = {"From": 32768, "To": 65535}
lab.clients.ec2.create_network_acl_entry(
    NetworkAclId=default_acl, RuleNumber=110, Egress=False, Protocol="6", RuleAction="deny",
    CidrBlock="0.0.0.0/0", PortRange=dynamic_ports)
print(network_acl_table(lab.clients, default_acl))
print()
print("\n".join(dead_rules(lab.clients, default_acl)) or "every rule can match")
print(sorted_blockers(lab.explain(alb_url)))

# %% [markdown]
# Nothing. Rule 100 already allowed every packet that rule 110 describes, so 110 is **dead**:
# it can never match. `explain` agrees - all three targets are still reachable.
#
# Now give the very same rule the number **90**, so that it comes first. Rather than change the
# live NACL (the ALB's health checks would notice within seconds), ask `what_if`: it evaluates
# the configuration as `explain` does, on a copy with one rule added - nothing in the region
# changes.

# %%
at_90 = what_if(lab, alb_url, default_acl, rule_number=90, action="deny", cidr="0.0.0.0/0", ports=(32768, 65535))
print(blockers_summary(at_90))

# %% [markdown]
# Now it bites - and too hard. `0.0.0.0/0` includes the ALB's own addresses, so the ALB's
# connections to the hosts' dynamic ports would be denied (the first blockers above). And because
# this default NACL also guards the ALB's subnets, the hosts' *replies* would be denied as well:
# they go back to the ALB's own source ports, which can be anywhere in 1024-65535 - so many of
# them fall in 32768-65535 too. `explain` finds
# the same rule in the way at every crossing, which is why it lists so many blockers.
# Same rule, other number, other outcome: **order is the whole meaning of a NACL.**
#
# Remove the dead rule 110 from the live NACL again:

# %%
delete_entries(lab.clients, default_acl, egress=False, rule_numbers=[110])
print(network_acl_table(lab.clients, default_acl))

# %% [markdown]
# ## Rule 2: NACLs are stateless - replies need their own rule
# A security group remembers a connection it let in and lets its replies out without asking.
# A NACL remembers nothing: the reply is just another packet, checked against the *outbound*
# rules like any other.
#
# What does a reply look like? When the ALB connects to a task it picks a **source port** of its
# own, somewhere in **1024-65535** (ELB remaps source ports into that range; AWS's ALB guide says
# return traffic there must be allowed). The task's reply goes *to* that port. So for one request
# the hosts' subnets must let through:
#
# | direction | what | ports | peer |
# |---|---|---|---|
# | inbound | the ALB's connection | the task's host port (dynamic: 32768-65535) | the ALB's subnets |
# | outbound | the task's reply | the ALB's source port: **1024-65535** | the ALB's subnets |
#
# The health checks travel the same way. With "allow all" in both directions nobody notices -
# which is exactly why the return rule is the one people forget when they tighten a NACL.
#
# ## Exercise 1 - a tight NACL for the hosts
# Give the two **private** subnets a NACL of their own that admits only the ALB:
#
# 1. create a NACL in the VPC: `lab.clients.ec2.create_network_acl(VpcId=stack.vpc_id)` (a new
#    NACL denies everything: it has only the `*` rules);
# 2. inbound: allow tcp 32768-65535 from each ALB subnet (`10.0.1.0/24`, `10.0.2.0/24`), e.g.
#    rules 100 and 110 - `create_network_acl_entry(..., Egress=False, Protocol="6", ...)`;
# 3. outbound: allow tcp **1024-65535** to each ALB subnet, rules 100 and 110 (`Egress=True`);
# 4. move both private subnets to it: find each subnet's current association with
#    `describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}])`
#    and call `replace_network_acl_association(AssociationId=..., NetworkAclId=...)`.
#
# (`helpers.resources.network_acls` has `create_acl` and `associate` that do steps 1 and 4 with tags, if
# you would rather focus on the rules.)

# %% jupyter={"source_hidden": true} tags=["solution"]
### BEGIN SOLUTION
from helpers.resources.network_acls import associate, create_acl

hosts_acl = create_acl(lab.clients, stack.vpc_id, "nb05-hosts-acl", stack.spec.name)
alb_cidrs = subnet_cidrs(lab.clients, stack.public_subnet_ids)
for number, cidr in zip((100, 110), alb_cidrs):
    lab.clients.ec2.create_network_acl_entry(NetworkAclId=hosts_acl, RuleNumber=number, Egress=False, Protocol="6",
                                             RuleAction="allow", CidrBlock=cidr, PortRange={"From": 32768, "To": 65535})
    lab.clients.ec2.create_network_acl_entry(NetworkAclId=hosts_acl, RuleNumber=number, Egress=True, Protocol="6",
                                             RuleAction="allow", CidrBlock=cidr, PortRange={"From": 1024, "To": 65535})
associate(lab.clients, hosts_acl, stack.private_subnet_ids)
### END SOLUTION

# %% [markdown]
# The hosts' NACL now, read back from the API (whatever you called your variables):

# %%
hosts_acl_id = subnet_acl_id(lab.clients, stack.private_subnet_ids[0])
print(acl_subnets_line(lab.clients, hosts_acl_id, stack))
print(network_acl_table(lab.clients, hosts_acl_id))
print(network_acl_table(lab.clients, hosts_acl_id, egress=True))

# %%
from helpers.selfcheck.nb05 import tight_hosts_acl

tight_hosts_acl(lab, stack)

# %% [markdown]
# The internet can no longer reach the hosts' subnets at all - not even if someone opened a
# security group by mistake - while the ALB still reaches every task. Two filters now guard the
# hosts: the NACL at the subnet's edge, the security group at each instance.
#
# ## Break it: forget the return rule
# Delete the hosts' outbound rules - the mistake of someone who thinks "it is a firewall for
# *incoming* traffic, outbound can stay closed". The ALB can still *send* to the tasks; the
# tasks' replies no longer get out of their subnet.

# %%
print("before:", lab.wait_for_service(stack))
print("deleted outbound rules:", delete_entries(lab.clients, hosts_acl_id, egress=True))
print(lab.request(alb_url, timeout=10.0))
why = lab.explain(alb_url)
print(network_acl_table(lab.clients, hosts_acl_id, egress=True))

# %% [markdown]
# A **504 Gateway Time-out**, and it comes from the ALB itself (`Server: awselb/2.0`): the ALB
# accepted your request, forwarded it to a task, and waited in vain for an answer. That is the
# signature of blocked *return* traffic - AWS's troubleshooting guide names exactly this case: a
# NACL that does not allow the targets' replies on ports 1024-65535. Compare `01`, where the
# client itself timed out: there nothing reached the ALB at all.
#
# `explain` (its verdict was taken right after the change, in the cell above) reads the
# configuration and says precisely which rule is missing:

# %%
print(sorted_blockers(why))

# %% [markdown]
# `SUBNET_ACL_RESTRICTION` - Reachability Analyzer's code for a NACL in the way - on **the return
# direction**, with the ports and the peer: once per ALB subnet, because the ALB has a node in
# each. The picture puts it on the hops from the target group to each task (red):

# %%
picture_png(why)

# %% [markdown]
# The health checks travel the same road, so they fail too. After two missed checks the ALB marks
# a target unhealthy, and ECS - which watches the target group - stops that task and starts a
# replacement, which fails the same way. The service's event log says so:

# %%
print(wait_for_unhealthy_event(lab.clients, stack))

# %% [markdown]
# "Request timed out" is the text AWS gives with the reason code `Target.Timeout`. (Were *every*
# target unhealthy at once, the ALB would "fail open" and keep sending to all of them - you would
# still get 504s, not 503s.) Replacing tasks cannot help here: the fault is in the network, not in
# the tasks. That endless replace-and-fail loop is a typical sign of a blocked health check.

# %% [markdown]
# ## Exercise 2 - put the return rule back
# Add the outbound rules again: allow tcp 1024-65535 to each ALB subnet on the hosts' NACL
# (`hosts_acl_id`). The cell after first asks `explain` whether the path is open again (if not, it
# says what still blocks it, at once); then it waits for every target to turn healthy, and sends
# 12 requests.

# %% jupyter={"source_hidden": true} tags=["solution"]
### BEGIN SOLUTION
for number, cidr in zip((100, 110), subnet_cidrs(lab.clients, stack.public_subnet_ids)):
    lab.clients.ec2.create_network_acl_entry(NetworkAclId=hosts_acl_id, RuleNumber=number, Egress=True, Protocol="6",
                                             RuleAction="allow", CidrBlock=cidr, PortRange={"From": 1024, "To": 65535})
### END SOLUTION

# %%
print(lab.wait_for_service(stack, url=alb_url, requests=12))
tight_hosts_acl(lab, stack)

# %% [markdown]
# ## Try it yourself: switch the return rule
# The switch below removes and restores the hosts' outbound return rules; after each change the
# line next to it shows `explain`'s verdict for `http://<ALB>/`. (The widget needs a running
# kernel; on a static page it shows its state as one line of text. Leave it switched **on** when you are done.)

# %%
from helpers.course import Interactive
from helpers.widgets import RuleToggle


def return_rules_present() -> bool:
    return any(e["RuleAction"] == "allow" for e in
               lab.clients.ec2.describe_network_acls(NetworkAclIds=[hosts_acl_id])["NetworkAcls"][0]["Entries"]
               if e["Egress"] and e["RuleNumber"] < 32767)


def add_return_rules() -> None:
    for number, cidr in zip((100, 110), subnet_cidrs(lab.clients, stack.public_subnet_ids)):
        lab.clients.ec2.create_network_acl_entry(NetworkAclId=hosts_acl_id, RuleNumber=number, Egress=True, Protocol="6",
                                                 RuleAction="allow", CidrBlock=cidr, PortRange={"From": 1024, "To": 65535})


toggle = RuleToggle(add_return_rules, lambda: delete_entries(lab.clients, hosts_acl_id, egress=True),
                    lambda: lab.explain(alb_url).verdict, enabled=return_rules_present(),
                    description="hosts' NACL: outbound tcp 1024-65535 to the ALB subnets")
Interactive.switch(toggle)

# %% [markdown]
# ## What AWS does with a rule number it does not accept
# Rule numbers run from 1 to 32766 (32767 is the `*` rule). Ask for 40000 and the API refuses -
# the error code and AWS's message, caught and printed:

# %%
try:
    lab.clients.ec2.create_network_acl_entry(
        NetworkAclId=hosts_acl_id, RuleNumber=40000, Egress=False, Protocol="6", RuleAction="allow",
        CidrBlock="10.0.1.0/24", PortRange={"From": 32768, "To": 65535})
except ClientError as error:
    print(client_error_line(error))

# %% [markdown]
# Leave gaps between your numbers (100, 110, 120 ...): then a rule that must come first can
# later be slotted in between, without renumbering everything.
#
# ## Key points
# - A NACL guards a **subnet's edge**; traffic inside one subnet never meets it. Put the ALB and
#   the hosts in different subnets if a NACL is to sit between them.
# - Rules run lowest number first and the **first match decides**; the `*` rule denies the rest.
#   A deny after "allow all" (rule 100, `0.0.0.0/0`) is dead.
# - NACLs are **stateless**: the hosts' replies to the ALB need an outbound rule for
#   **1024-65535**. Forget it and the ALB answers **504** while health checks report
#   `Target.Timeout`; `explain` shows `SUBNET_ACL_RESTRICTION` on the return direction.
# - The default NACL's "allow all" leaves the security groups as the only filter - `06_hardening`
#   tightens those.
#
# ## Clean up

# %%
lab.cleanup(stack)
