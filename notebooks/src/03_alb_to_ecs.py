# %% [markdown]
# # 03 · From the ALB to the tasks: targets that register themselves
#
# Time: at least 15 minutes, plus the exercises (reading 7 min, running 11 s) · needs: `02_port_mapping`
#
# Words you don't know: the [glossary](../docs/GLOSSARY.md). Stuck? The [cheat sheet](../docs/CHEATSHEET.md).
#
# `02_port_mapping` showed that every task gets a host port nobody chose. So how does the ALB,
# listening on port 80, know where to send a request? The answer is the source's section 3:
# the ECS service is **attached to the ALB's target group**, and ECS registers every task there
# as `instance:host port` - and removes it again when the task stops.
#
# **You will**
# - read how the service was attached (`loadBalancers` in `create_service`);
# - start tasks and watch their targets appear, pass their health checks and turn healthy;
# - send 30 requests and see the ALB take turns across the tasks (round robin);
# - shorten the deregistration delay, scale in, and watch targets drain and disappear.

# %%
from helpers.course import Lab
from helpers.tables import listeners_table

lab = Lab.start()

# %% [markdown]
# ## The stack, with no tasks yet
# The same stack as before, with the service at **0** tasks: the target group starts empty.
#
# *Console: EC2 > Target Groups (nb03-tg).*

# %%
stack = lab.build("nb03", desired_count=0, wait=False)
print(listeners_table(lab.clients, stack.alb_arn))
print(lab.targets(stack))

# %% [markdown]
# ## How the service is attached
# `lab.build` created the service with this call (from `helpers/stack.py`); the part that
# matters here is `loadBalancers`:
#
# ```python
# ecs.create_service(
#     cluster=..., serviceName=..., taskDefinition=..., desiredCount=..., launchType="EC2",
#     loadBalancers=[{
#         "targetGroupArn": stack.target_group_arn,  # where ECS registers each task
#         "containerName": "tomcat",                 # which container of the task ...
#         "containerPort": 8081,                     # ... and which of its ports receives traffic
#     }],
# )
# ```
#
# Notice what is **not** there: no host port. ECS knows the host port of each task only once it
# runs (`networkBindings`, notebook 02), and then registers that task in the target group as
# *this instance, on that port*. Registering and deregistering targets is done by ECS on your
# behalf, through the **ECS service-linked role** `AWSServiceRoleForECS` (the source's 6-3),
# which AWS creates the first time you use ECS. The service as ECS describes it:
#
# *Console: ECS > Clusters, then the cluster's page for its service.*

# %%
service = lab.clients.ecs.describe_services(cluster=stack.cluster_name, services=[stack.service_name])["services"][0]
for attachment in service["loadBalancers"]:
    print(f"target group {attachment['targetGroupArn'].split('/')[-2]} <- container "
          f"{attachment['containerName']}, port {attachment['containerPort']}")
print("desired tasks:", service["desiredCount"])

# %% [markdown]
# ## Health checks, and the sandbox's clock
# Before the ALB sends a target traffic, the target must pass a **health check**: the ALB
# itself sends `GET /` to the target's own port and expects `200`. The target group's settings:

# %%
group = lab.clients.elbv2.describe_target_groups(TargetGroupArns=[stack.target_group_arn])["TargetGroups"][0]
for key in ("HealthCheckProtocol", "HealthCheckPort", "HealthCheckPath", "HealthCheckIntervalSeconds",
            "HealthCheckTimeoutSeconds", "HealthyThresholdCount", "UnhealthyThresholdCount"):
    print(f"{key:28} {group[key]}")
print(f"{'Matcher':28} {group['Matcher']['HttpCode']}")

# %% [markdown]
# - `HealthCheckPort: traffic-port` - check each target on **its own** port, the host port ECS
#   registered. (A fixed health-check port could not work with dynamic ports: each task has
#   another one. ECS refuses such a target group.)
# - every **30 s** a check; a new target turns `healthy` after its first passing check; **2**
#   failed checks in a row make a target `unhealthy`, and after that **5** passes in a row make
#   it healthy again.
#
# The API shows AWS's numbers. The sandbox runs its clock **50 times faster** (a time scale of
# 0.02): a 30 s interval takes 0.6 s of real time here, so you do not wait minutes for what
# takes minutes on AWS.
#
# ## Start three tasks and watch their targets
# Ask for three tasks, then watch the target group until three targets are healthy. The line
# says which other states the targets passed through on the way.

# %%
scaled_up = lab.clients.ecs.update_service(cluster=stack.cluster_name, service=stack.service_name, desiredCount=3)
print(lab.watch_targets(stack, {"healthy": 3}))
print(lab.targets(stack))

# %% [markdown]
# Each task became a target `instance:host port` - two on one instance, on two different
# ports; one on the other. Each started in `initial` (registered, first health check pending),
# then turned `healthy`. Nobody called `register_targets`: ECS did, for each task, once it
# knew the task's host port.
#
# ## Many requests, three tasks
# The ALB takes its healthy targets **in turn** (the default algorithm, `round_robin`). Send 30
# requests to the ALB's port 80 and count who answered:

# %%
print(lab.requests(f"http://{stack.alb_dns_name}/", 30, timeout=10))

# %% [markdown]
# An even split: ten each here, because the sandbox plays a single ALB node. A real ALB has a node
# in each Availability Zone, each taking turns on its own, so on AWS the split is roughly even,
# not exact. This is the source's section 4 in action: client -> ALB:80 -> one instance's host
# port -> the container's 8081. The client only ever used the ALB's name and port 80. (The
# order of the answers is not shown: it depends on where the rotation stood, and says nothing.)
#
# The complete path, as `explain` sees it - one leg per target:

# %%
path = lab.explain(f"http://{stack.alb_dns_name}/")
print(path.outcome_line())
path.picture()

# %% [markdown]
# ## Scaling in: draining, then gone
# When a task stops, ECS first **deregisters** its target. The ALB stops sending it *new*
# requests but lets the ones in flight finish: the target is `draining` for the target group's
# **deregistration delay**, then it is removed and the task stops. The default delay is
# **300 s** - five minutes for every task you stop or replace. Apps that answer quickly rarely
# need that long, so a short delay makes deployments and scale-ins much faster.
#
# ## Exercise 1 - a short deregistration delay
# Set the target group's attribute `deregistration_delay.timeout_seconds` to `"30"` with
# `lab.clients.elbv2.modify_target_group_attributes(TargetGroupArn=..., Attributes=[...])`
# (each attribute is a `{"Key": ..., "Value": ...}` with a *string* value).

# %% jupyter={"source_hidden": true} tags=["solution"]
### BEGIN SOLUTION: set deregistration_delay.timeout_seconds to "30"
modified = lab.clients.elbv2.modify_target_group_attributes(
    TargetGroupArn=stack.target_group_arn,
    Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "30"}],
)
### END SOLUTION

# %%
attributes = lab.clients.elbv2.describe_target_group_attributes(TargetGroupArn=stack.target_group_arn)["Attributes"]
print("deregistration delay:", {a["Key"]: a["Value"] for a in attributes}["deregistration_delay.timeout_seconds"], "seconds")

# %% [markdown]
# ## Exercise 2 - scale in to one task
# Set the service's desired count to **1** with `lab.clients.ecs.update_service`.

# %% jupyter={"source_hidden": true} tags=["solution"]
### BEGIN SOLUTION: scale the service to 1 task
scale_in = lab.clients.ecs.update_service(cluster=stack.cluster_name, service=stack.service_name, desiredCount=1)
### END SOLUTION

# %% [markdown]
# Now watch the target group settle at the service's desired count (read back from ECS, so this
# cell works whatever you did above):

# %%
desired = lab.clients.ecs.describe_services(cluster=stack.cluster_name, services=[stack.service_name])["services"][0]["desiredCount"]
print(lab.watch_targets(stack, {"healthy": desired}))
print(lab.targets(stack))

# %% [markdown]
# The two stopped tasks' targets went `draining` (reason `Target.DeregistrationInProgress`) for
# the 30 s delay - 0.6 s in the sandbox - and then vanished from the target group. ECS wrote
# the story into the service's events:

# %%
service = lab.clients.ecs.describe_services(cluster=stack.cluster_name, services=[stack.service_name])["services"][0]
steps = ("has stopped", "deregistered", "has begun draining")
for step in steps:
    print(f"{sum(step in e['message'] for e in service['events'])} events '... {step} ...'")

# %%
from helpers.selfcheck.nb03 import scaled_in

scaled_in(lab, stack, to=1)

# %% [markdown]
# ## Try it yourself
# Move the slider to change the service's desired count, then look at `lab.targets(stack)` in a
# new cell: new tasks appear as `initial` and turn healthy, removed ones drain. (The widget needs
# a running kernel.)

# %%
lab.service_scaler(stack)

# %% [markdown]
# ## Key points
# - The service is attached to the target group with `loadBalancers` (target group, container
#   name, container port) - no host port. ECS registers each task as `instance:host port` once
#   it runs, and deregisters it when it stops, through its service-linked role.
# - A new target is `initial` until its first health check passes; health checks use the
#   **traffic port**, the target's own host port.
# - The ALB spreads requests across the healthy targets in turn (round robin).
# - A stopping task's target is `draining` for the deregistration delay (default 300 s), then
#   removed: set it to what your app really needs.
#
# ## Clean up

# %%
lab.cleanup(stack)
