# %% [markdown]
# # 01 · The listener: why `:80` answers and `:8081` does not
#
# Time: at least 15 minutes, plus the exercises (reading 6 min, running 20 s) · needs: `00_start_here`
#
# Words you don't know: the [glossary](../docs/GLOSSARY.md). Stuck? The [cheat sheet](../docs/CHEATSHEET.md).
#
# A developer deployed a Tomcat app on Amazon ECS behind an Application Load Balancer (ALB). The
# app listens on port **8081** inside its container, so they opened `http://<ALB DNS>:8081/` -
# and nothing came back. `http://<ALB DNS>/` worked. This notebook rebuilds that moment and
# finds out why.
#
# **You will**
# - build the stack and find the ALB's **listener** - the one port the ALB accepts requests on;
# - send real requests to `:80` and `:8081` and read what happens;
# - ask `explain` for *every* reason a request is blocked, and see it as a picture;
# - add a listener on 8081 yourself, and take it away again.
#
# Everything runs in the **sandbox**, a small AWS region on this machine: no account, no cost.

# %%
from helpers.course import Lab
from helpers.tables import listeners_table, security_group_table

lab = Lab.start()

# %% [markdown]
# ## The stack
# `lab.build` creates what the developer had, with the same AWS API calls you would use
# (`helpers/stack.py` lists them): a VPC with public subnets in two availability zones, an
# internet-facing ALB, two EC2 instances running the ECS agent, and an ECS service of three
# Tomcat tasks. It waits until every task runs and the ALB considers it healthy.
#
# Where each part shows in the AWS console (names start with `nb01-`):
# - *the VPC and its subnets: VPC > Your VPCs, VPC > Subnets*
# - *the ALB: EC2 > Load Balancers; its target group: EC2 > Target Groups*
# - *the ECS cluster: ECS > Clusters; the service and its tasks: on the cluster's page*

# %%
stack = lab.build("nb01")
alb = stack.alb_dns_name
print("the ALB's DNS name:", alb)

# %% [markdown]
# ## Where does the ALB listen?
# A **listener** is a port (and protocol) on which the ALB accepts connections. Each listener has
# rules that say where a request goes - here, one default rule: *forward to the target group*, the
# list of tasks that serve the app.
#
# *Console: EC2 > Load Balancers > nb01-alb, tab "Listeners and rules".*

# %%
print(listeners_table(lab.clients, stack.alb_arn))

# %% [markdown]
# One listener, on **80**. Now send the two requests the developer sent. `lab.request` goes out
# through the sandbox's "internet" (a SOCKS proxy), exactly as a browser on the internet would,
# and tells you in one line what happened.

# %%
print(lab.request(f"http://{alb}/"))

# %%
print(lab.request(f"http://{alb}:8081/"))

# %% [markdown]
# Port 80 is answered by one of the three tasks (the page says which). Port 8081 gets **no answer
# at all**: the connection attempt simply times out. That is what AWS does when something on the
# way drops the packets - it does not send "no" back.
#
# ## Why? Ask `explain`
# `lab.explain(url)` reads the current configuration and walks the path hop by hop - internet
# gateway, route table, network ACL, security group, listener - the way AWS's Reachability
# Analyzer does. When the path is blocked it lists **every** blocker, each with a fix.

# %%
why = lab.explain(f"http://{alb}:8081/")
print(why.blockers())

# %% [markdown]
# Two things stand in the way, and either alone would be enough:
#
# 1. the ALB's **security group** only admits tcp 80 from the internet (`ENI_SG_RULES_MISMATCH`);
# 2. the ALB has **no listener on 8081** (`ELBV2_LISTENERS_MISMATCH`).
#
# The same verdict as a picture - the red edges are the blocked hops, labelled with their codes:

# %%
why.picture()

# %% [markdown]
# And the path that works. Follow it from the internet to the ALB's listener on 80, through the
# target group, to each task: `instance:host port`, then the container's port 8081. The host
# ports are the subject of the next notebook.

# %%
works = lab.explain(f"http://{alb}/")
print(works.outcome_line())
works.picture()

# %% [markdown]
# ## Exercise 1 - give the ALB a listener on 8081
# Create a listener on port 8081 that forwards to the same target group
# (`stack.target_group_arn`). Use `lab.clients.elbv2.create_listener` with `LoadBalancerArn`,
# `Protocol="HTTP"`, `Port=8081` and a `DefaultActions` list holding one `forward` action.
#
# Before you run the request below: will `:8081` answer now?

# %% jupyter={"source_hidden": true} tags=["solution"]
### BEGIN SOLUTION
listener_8081 = lab.clients.elbv2.create_listener(
    LoadBalancerArn=stack.alb_arn, Protocol="HTTP", Port=8081,
    DefaultActions=[{"Type": "forward", "TargetGroupArn": stack.target_group_arn}],
)
### END SOLUTION

# %%
print(lab.request(f"http://{alb}:8081/"))
print(lab.explain(f"http://{alb}:8081/").blockers())

# %% [markdown]
# Still a timeout: the listener exists, but the security group drops the packets before they
# reach it. That is why `explain` lists every blocker - fixing one at a time hides the next.
#
# ## Exercise 2 - let 8081 through the ALB's security group
# Authorize inbound tcp 8081 from `0.0.0.0/0` on the ALB's security group (`stack.alb_sg_id`)
# with `lab.clients.ec2.authorize_security_group_ingress`.
#
# *Console: EC2 > Security Groups (nb01-alb-sg).*

# %% jupyter={"source_hidden": true} tags=["solution"]
### BEGIN SOLUTION
rule_8081 = lab.clients.ec2.authorize_security_group_ingress(
    GroupId=stack.alb_sg_id,
    IpPermissions=[{"IpProtocol": "tcp", "FromPort": 8081, "ToPort": 8081, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
)
### END SOLUTION

# %%
from helpers.selfcheck.nb01 import listener_on_8081

listener_on_8081(lab, stack)

# %% [markdown]
# Now `:8081` answers - and look at *who* answers: the same tasks, on the same random host ports,
# behind the same target group. The new listener is just a second door into the ALB. The
# container's 8081 never appears on the ALB; the ALB reaches it through each task's host port.
#
# The developer never needed this door: the listener on 80 already leads to the app. So close it
# again - the stack goes back to the way the source describes it.

# %%
print(lab.close_port(stack, 8081))  # delete_listener + revoke_security_group_ingress, for port 8081
print(listeners_table(lab.clients, stack.alb_arn))
print(security_group_table(lab.clients, stack.alb_sg_id))

# %% [markdown]
# ## Try it yourself
# Type a port and press **Send**: the request goes out through the sandbox's internet, as above.
# Below it, switch the 8081 door on and off and watch `explain`'s verdict change. (The widgets
# need a running kernel; on a static page they show nothing.)

# %%
lab.port_probe(alb, port=8081)

# %%
lab.listener_switch(stack, port=8081)

# %% [markdown]
# ## Key points
# - Clients talk to the ALB's **listener** port (80 here), never to the container's port.
# - A listener's rules forward to a **target group**; the ALB then reaches each task on its own
#   host port - the subject of `02_port_mapping`.
# - A dropped packet gets no answer: the client **times out**. `explain` tells you which setting
#   dropped it, and lists every blocker at once.
#
# ## Clean up
# Every notebook removes what it built, so you can run it again from the top.

# %%
lab.cleanup(stack)
