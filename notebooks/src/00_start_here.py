# %% [markdown]
# # 00 · Start here
#
# Time: at least 15 minutes, plus the exercises (reading 7 min, running 13 s)
#
# Words you don't know: the [glossary](../docs/GLOSSARY.md). Stuck? The [cheat sheet](../docs/CHEATSHEET.md).
#
# Welcome! This course retraces one developer's puzzle, step by step, with real requests:
#
# > They deployed a Tomcat app on **Amazon ECS** (EC2 launch type) behind an **Application Load
# > Balancer**. The app listens on port 8081, so they opened `http://<ALB DNS>:8081/`: nothing.
# > They opened `http://<ALB DNS>/`: it worked. Why - and how do you keep such a setup secure?
#
# **In this notebook you will**
# - check that your set-up works;
# - start the **sandbox**, the small AWS region this course runs in;
# - build the developer's stack once, send it a request, and see the whole path in one picture.
#
# You do not need an AWS account. Everything runs on this machine: no cost, nothing sent out.

# %% [markdown]
# ## 0. The parts, on one picture
# If AWS is new to you, here is every part the course builds, where it sits, and what it does.
# Each has an entry in the [glossary](../docs/GLOSSARY.md), with where to find it in the AWS console.
#
# - A **VPC** is your private network; it is cut into **subnets**, each in one **Availability
#   Zone** (AZ). An **internet gateway** (IGW) is its door to the internet; a subnet with a route
#   to it is *public*.
# - **Security groups** (stateful) guard each network interface; **network ACLs** (stateless)
#   guard each subnet's edge. Both decide which packets get through.
# - The **Application Load Balancer** (ALB) accepts requests on its **listener** (port 80); a
#   **listener rule** forwards them to a **target group**, a list of `instance:port` **targets**
#   that the ALB health-checks.
# - **ECS** runs the app: a **cluster** of **container instances** (EC2 machines with the ECS
#   agent) runs **tasks** (copies of the app's container, listening on 8081); a **service** keeps
#   the right number running and registers each one in the target group.

# %%
from helpers.parts_map import parts_map

parts_map()

# %% [markdown]
# ## 1. Check the set-up
# Each line is one check; a failing check says how to fix it. (An instructor may ask you to run
# the same checks in a terminal: `python -m helpers check`.)

# %%
from helpers.check import format_results, run_checks

print(format_results(run_checks(include_sandbox=False), details=False))

# %% [markdown]
# ## 2. Sandbox or AWS?
# The course runs in the **sandbox** by default: a local region where moto answers the AWS API
# and the sandbox adds what AWS does behind it - the ECS agent and scheduler that start tasks and
# pick host ports, the load balancer's health checks, and an "internet" that carries real HTTP
# requests to the load balancer, dropping the ones a security group or network ACL would drop.
#
# The same code can build the stack in a real AWS account, but only when you opt in on purpose
# (see the README's "Real AWS" section): it costs money and needs cleaning up. Stay in the
# sandbox for this course.

# %%
from helpers.course import Lab

lab = Lab.start()

# %% [markdown]
# ## 3. The course map
#
# | notebook | what you do | minutes |
# |---|---|---|
# | `01_listener` | the ALB's listener on 80; request `:80` and `:8081` and see why only one answers | at least 15 |
# | `02_port_mapping` | host port 0: ECS picks a random host port per task; a static 8081 and its limits | at least 20 |
# | `03_alb_to_ecs` | ECS registers `instance:port` targets; health checks; round robin; scaling in | at least 15 |
# | `04_inbound_dynamic_ports` | listener -> target group -> random ports; break the hosts' security group, fix it | at least 20 |
# | `05_network_acls` | the "rule 100 allow all" NACL; first match wins; stateless return traffic; a 504 | at least 20 |
# | `06_hardening` | SG-to-SG rules, hosts in private subnets, the ECS service-linked role; the audit | at least 20 |
# | `07_troubleshooting` | capstone: a broken stack; diagnose with `explain`, fix, self-check | at least 15 |
# | `08_deployments` | beyond the post: roll out a new version; dynamic ports vs a static 8081 that stalls | at least 15 |
# | `09_awsvpc_and_fargate` | awsvpc: an interface per task, `ip` targets, a task security group; Fargate; which to choose | at least 20 |
#
# The story ends with the `07` capstone. The notebooks after it go beyond the post: what the same
# setup means on the day you ship a new version, and with a network interface per task.
#
# The minutes are measured: reading, running the cells, and a few minutes for questions. Add your
# own time for the exercises - try each one before you open its answer.
#
# ## 4. The whole path, once
# Build the developer's stack (about ten AWS API calls; the sandbox starts three Tomcat tasks
# and waits until the load balancer calls them healthy), then send one request from "the internet".

# %%
stack = lab.build("nb00")
print(lab.request(f"http://{stack.alb_dns_name}/"))

# %% [markdown]
# That answer travelled this path - the picture below is drawn from the same evaluation of the
# network that decides, in the sandbox, whether a request gets through:
#
# **client -> internet gateway -> ALB listener :80 -> rule -> target group -> instance:host port
# -> container :8081 (Tomcat)**
#
# The boxes are the network's boundaries: the VPC, the network ACL and subnet each instance sits
# in, and its security group. Every notebook draws this kind of picture; when something is
# blocked, the blocked hop turns red and carries the reason.

# %%
lab.explain(f"http://{stack.alb_dns_name}/").picture()

# %% [markdown]
# How to read these pictures - every notebook draws them the same way. Security groups and
# network ACLs are grey and blue boxes (boundaries, not verdicts); only a hop that is blocked
# turns red:

# %%
from helpers.diagram import legend

legend()

# %% [markdown]
# ## Try it yourself
# Press **Send** to request the ALB yourself; change the port to 8081 and send again. (Widgets
# need a running kernel; on a static page this shows one line of text.)

# %%
lab.port_probe(stack.alb_dns_name, port=80)

# %% [markdown]
# Notice the host ports (the numbers after each instance id): they are not 8081. Why, and how
# the load balancer still finds the tasks, is what the next notebooks are about.
#
# ## Key points
# - The sandbox is a local AWS region: the same API calls as AWS, no account, no cost.
# - `lab.build`, `lab.request`, `lab.explain` and `lab.cleanup` are the four calls you will use most.
# - Every notebook cleans up after itself. Next: `01_listener`.

# %%
lab.cleanup(stack)
