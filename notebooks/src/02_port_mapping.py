# %% [markdown]
# # 02 · Port mapping: host port 0 and the ports ECS picks
#
# Time: at least 20 minutes, plus the exercises (reading 10 min, running 21 s) · needs: `01_listener`
#
# Words you don't know: the [glossary](../docs/GLOSSARY.md). Stuck? The [cheat sheet](../docs/CHEATSHEET.md).
#
# In `01_listener` the ALB answered on port 80 and reached each task on some *host port* that
# nobody typed in. This notebook looks at where those ports come from. The task definition says
# **host port 0** for the container's port 8081, and that zero means "ECS, pick one for me".
#
# **You will**
# - register the task definition yourself, with `hostPort: 0`, and start the service's tasks;
# - read the host port each task got from `networkBindings`, and see why they differ;
# - try a **static** host port (8081:8081) instead and watch the third task fail to find a place;
# - reach the static port directly on an instance's public DNS name, and see why a dynamic one
#   cannot be reached that way (the follow-up the source document points to).
#
# Everything runs in the sandbox: no AWS account, no cost.

# %%
from helpers.course import Lab
from helpers.tables import network_bindings_table, port_mappings_table, security_group_table

lab = Lab.start()

# %% [markdown]
# ## The stack, without tasks yet
# `lab.build` makes the same stack as in `01_listener` (VPC, ALB with a listener on 80, two EC2
# container instances, an ECS cluster and service), but this time the service asks for **0**
# tasks. You will give it its task definition and its tasks yourself. There is nothing to wait
# for yet, so `wait=False`.
#
# *Console: ECS > Clusters, then the cluster's page for its service.*

# %%
stack = lab.build("nb02-dynamic", desired_count=0, wait=False)
print("the service:", stack.service_name, "in cluster", stack.cluster_name)

# %% [markdown]
# ## Section 2 of the source: the task definition
# A **task definition** describes the containers of a task. In `bridge` network mode (the
# default for the EC2 launch type) each container has its own network inside the instance, and
# a **port mapping** joins a port of the instance (the *host port*) to a port of the container.
#
# The app listens on **8081** in its container. The mapping below sets `hostPort` to **0**: ECS
# chooses a free host port when each task starts. This is the call, as you would make it
# against AWS:
#
# *Console: ECS > Task definitions (family nb02-dynamic-web).*

# %%
registered = lab.clients.ecs.register_task_definition(
    family=f"{stack.spec.name}-web",
    networkMode="bridge",
    requiresCompatibilities=["EC2"],
    containerDefinitions=[{
        "name": "tomcat", "image": "tomcat:9.0", "cpu": 256, "memory": 256, "essential": True,
        "portMappings": [{"containerPort": 8081, "hostPort": 0, "protocol": "tcp"}],
    }],
    tags=[{"key": "Project", "value": "ecs-alb-lab"}],
)
task_definition = registered["taskDefinition"]["taskDefinitionArn"]
print(port_mappings_table(lab.clients, task_definition))

# %% [markdown]
# This is a new *revision* of the family: `lab.build` had already registered one with the same
# mapping. A task definition is never edited in place - every change is a new revision, and
# the service is told which revision to run.
#
# Now tell the service to run three tasks of this revision. ECS places them on the two
# instances, starts the containers, and picks a host port for each.

# %%
updated = lab.clients.ecs.update_service(
    cluster=stack.cluster_name, service=stack.service_name, taskDefinition=task_definition, desiredCount=3,
)
print(lab.wait_for_running(stack, 3))

# %% [markdown]
# ## Where did the tasks land, and on which ports?
# Once a task is `RUNNING`, `ecs.describe_tasks` shows what ECS chose in each container's
# `networkBindings`: the host port and the container port it leads to. The table gathers them:
#
# *Console: the cluster's page in ECS > Clusters lists its tasks.*

# %%
print(network_bindings_table(lab.clients, stack.cluster_name, stack.service_name))

# %% [markdown]
# Read the **host port** column:
#
# - Every port comes from the **ephemeral range**. The ECS agent on each instance takes the
#   range the Linux kernel uses for outgoing connections (`/proc/sys/net/ipv4/ip_local_port_range`,
#   **32768-60999** by default) and gives each new task a port from it that is free on that
#   instance. (Ports 22, 2375, 2376 and 51678-51680 are reserved and never handed out: the ECS
#   API reference, `PortMapping`.)
# - **On one instance, never the same port twice**: a port can be bound only once per host.
#   The two tasks that share an instance got two different ports.
# - **On different instances, the same number is fine**: they are different machines with
#   different IP addresses, so `host-1:32768` and `host-2:32768` do not collide.
# - The container port is **8081** for every task: the app does not know or care which host
#   port leads to it.
#
# The numbers are not something to remember or to configure anywhere. When a task is replaced,
# the new one gets whatever port is free at that moment - maybe another one, maybe the one just
# freed. Section 3 of the source (the next notebook) is about how the
# ALB keeps up anyway.
#
# ## Exercise 1 - read the host ports yourself
# Build a list `host_ports` with the host port of every running task of the service, straight
# from the API. You need `lab.clients.ecs.list_tasks(cluster=..., serviceName=...)` for the task
# ARNs, then `lab.clients.ecs.describe_tasks(cluster=..., tasks=...)`; each task has
# `containers`, each container `networkBindings`, each binding a `hostPort`.

# %% jupyter={"source_hidden": true} tags=["solution"]
### BEGIN SOLUTION: collect every running task's hostPort from describe_tasks
task_arns = lab.clients.ecs.list_tasks(cluster=stack.cluster_name, serviceName=stack.service_name)["taskArns"]
described = lab.clients.ecs.describe_tasks(cluster=stack.cluster_name, tasks=task_arns)
host_ports = [binding["hostPort"]
              for task in described["tasks"]
              for container in task["containers"]
              for binding in container["networkBindings"]]
### END SOLUTION

# %%
from helpers.selfcheck.nb02 import host_ports_found, static_port_answers

host_ports_found(lab, stack, host_ports)

# %% [markdown]
# ## The hosts' security group
# Which of these ports can anyone reach? The instances' security group says. It admits the
# **whole dynamic range only from the ALB's security group** (the source's section 6-1), and the
# app's port **8081 from anywhere**. (The post does not say how that rule got there; our guess,
# for this course's story, is that it was opened for testing before the ALB existed.)
#
# *Console: EC2 > Security Groups (nb02-dynamic-host-sg).*

# %%
print(security_group_table(lab.clients, stack.host_sg_id))

# %% [markdown]
# Keep both rules in mind; they decide the follow-up below.
#
# ## The other choice: a static host port (8081:8081)
# What if the task definition said `hostPort: 8081` instead of 0? Then every task wants port
# 8081 *of its instance*. A second stack shows it: the same service of **3 tasks on 2
# instances**, with the mapping 8081:8081. (`build` would wait for all three tasks - here it
# cannot, so `wait=False`, then wait for the two that can run.)

# %%
static = lab.build("nb02-static", host_port=8081, wait=False)
print(port_mappings_table(lab.clients, static.task_definition_arn))
print(lab.wait_for_running(static, 2))

# %% [markdown]
# Two of three. Where are they, and what does ECS say about the third?

# %%
print(network_bindings_table(lab.clients, static.cluster_name, static.service_name))

service = lab.clients.ecs.describe_services(cluster=static.cluster_name, services=[static.service_name])["services"][0]
print("desired:", service["desiredCount"], " running:", service["runningCount"])
for event in service["events"]:
    if "unable to place" in event["message"]:
        print(event["message"])
        break

# %% [markdown]
# Each instance can hold **one** copy of the task: its port 8081 is taken by the first. The
# service scheduler keeps trying and writes this *service event*: no container instance met the
# task's requirements, because the closest one "is already using a port required by your task".
# To run a third copy you would need a third instance. With `hostPort: 0` the same two instances
# hold as many copies as CPU and memory allow - that is the first reason to use dynamic ports.
#
# ## The source's follow-up: the instance's own public DNS name
# The instances sit in public subnets with public IP addresses, as in the source. So a browser
# could also skip the ALB and talk to an instance directly:
# `http://<instance public DNS name>:<port>/`. Here are the static stack's instances
# (`lab.instances(static)` reads them with `ec2.describe_instances`):

# %%
for host, instance_id, public_dns, private_ip in lab.instances(static).rows:
    print(f"{host} ({instance_id}): public DNS name {public_dns}, private IP {private_ip}")

# %% [markdown]
# ## Exercise 2 - the static port on an instance's public DNS name
# Set `static_dns` to the public DNS name of the static stack's **first** instance
# (`static.instance_ids[0]`). Read it with `lab.clients.ec2.describe_instances(InstanceIds=[...])`:
# the answer holds `Reservations`, each with `Instances`, each with a `PublicDnsName`.

# %% jupyter={"source_hidden": true} tags=["solution"]
### BEGIN SOLUTION: the public DNS name of static.instance_ids[0]
reservations = lab.clients.ec2.describe_instances(InstanceIds=[static.instance_ids[0]])["Reservations"]
static_dns = reservations[0]["Instances"][0]["PublicDnsName"]
### END SOLUTION

# %%
print(lab.request(f"http://{static_dns}:8081/", timeout=10))
static_port_answers(lab, static, static_dns)

# %% [markdown]
# The app answers on the instance's own name at `:8081`: the instance's port 8081 *is* the
# container's 8081, and the hosts' security group admits 8081 from anywhere. `explain` agrees:

# %%
direct_static = lab.explain(f"http://{lab.public_dns(static.instance_ids[0])}:8081/")
print(direct_static.outcome_line())

# %% [markdown]
# ## And with dynamic ports?
# Now the same on the **dynamic** stack: take its first instance and the host port of a task
# running there, and send the request straight to `http://<public DNS name>:<host port>/`.

# %%
first = stack.instance_ids[0]
bindings = network_bindings_table(lab.clients, stack.cluster_name, stack.service_name)
first_port = min(int(row[2]) for row in bindings.rows if row[1] == first)
dynamic_dns = lab.public_dns(first)
print(lab.request(f"http://{dynamic_dns}:{first_port}/"))

# %% [markdown]
# No answer: the connection times out. The task is running and the port is right - something
# drops the packets. Ask `explain`:

# %%
direct_dynamic = lab.explain(f"http://{dynamic_dns}:{first_port}/")
print(direct_dynamic.blockers())

# %% [markdown]
# The hosts' security group admits the dynamic range **only from the ALB's security group**;
# a browser on the internet is not a member of it, so its packets are dropped
# (`ENI_SG_RULES_MISMATCH`). That is deliberate and it is good: the tasks are reachable through
# the ALB and nowhere else. The "fix" `explain` prints is what it *would* take to open the
# path - do not apply it; opening the dynamic range to `0.0.0.0/0` lets anyone bypass the ALB.
#
# The same host ports seen from the ALB: each target leg passes the hosts' security group,
# because the ALB *is* a member of the ALB's security group. Green edges all the way to each
# `instance:host port`:

# %%
through_alb = lab.explain(f"http://{stack.alb_dns_name}/")
print(through_alb.outcome_line())
through_alb.picture()

# %% [markdown]
# And `:8081` on the dynamic stack's instance? The security group lets it in (8081 from
# anywhere), but nothing listens there any more: with `hostPort: 0` the container's 8081 is
# not published on the host.

# %%
print(lab.request(f"http://{dynamic_dns}:8081/", timeout=10))
print(lab.explain(f"http://{dynamic_dns}:8081/").outcome_line())

# %% [markdown]
# "Connection refused": the instance itself answered "nothing here". `explain` agrees: the
# network - routes, NACLs, security groups - lets the packet in, but no task is bound to that
# port any more. A refusal is an answer; a drop (the timeout above) is silence. The rule "8081 from
# anywhere" is now useless, and a port opened for nothing is worth closing (`04` and the
# security notebooks come back to it).
#
# ## Try it yourself
# Send requests to the static stack's first instance on any port: 8081 answers; 80 (the ALB's
# listener port, not the instance's) and a port in the dynamic range are dropped by the
# instance's security group, whose only rule open to the internet is 8081. (The widget needs a running
# kernel.)

# %%
lab.port_probe(lab.public_dns(static.instance_ids[0]), port=8081)

# %% [markdown]
# ## Key points
# - `hostPort: 0` (or no host port) in bridge mode means **dynamic**: the ECS agent gives each
#   task a free port of the instance from the ephemeral range (32768-60999 on Linux by default),
#   never one already taken on that instance. `describe_tasks` shows it in `networkBindings`.
# - A **static** host port (8081:8081) allows one copy of the task per instance; the scheduler
#   reports the others as "unable to place ... already using a port required by your task".
# - With a static port and a security group open to the world, the app answers on the
#   instance's own public DNS name. With dynamic ports and the hosts admitting them only from the
#   ALB's security group, it answers only through the ALB - which is what you want.
#
# ## Clean up
# Both stacks go, so the notebook can run again from the top.

# %%
lab.cleanup(stack)
lab.cleanup(static)
