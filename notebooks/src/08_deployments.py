# %% [markdown]
# # 08 · Deployments: what dynamic host ports buy you on release day
#
# Time: at least 15 minutes, plus the exercises (reading 9 min, running 55 s) · needs: `03_alb_to_ecs`
#
# Words you don't know: the [glossary](../docs/GLOSSARY.md). Stuck? The [cheat sheet](../docs/CHEATSHEET.md).
#
# Beyond the post: the source explains *how* the ALB reaches tasks on dynamic host ports, not
# *why* you would want them. AWS's reason, which `02_port_mapping` showed, is that several tasks of
# one service can run on the same instance (the ECS developer guide's page "Use an Application
# Load Balancer for Amazon ECS"). The day you ship a new version shows what that buys you: ECS **rolls out** a new
# task definition by starting new tasks **beside** the old ones, and only then stopping the old.
# With dynamic ports the new tasks get free ports on the same instances; with a static host port
# they cannot start.
#
# **You will**
# - register a new revision of the task definition and update the service with it;
# - watch the rollout while requests run through the ALB: two deployments side by side, targets
#   swapping, and no failed request;
# - do the same with a static host port (8081:8081) and watch the rollout stall on the port;
# - unblock it with the deployment's `minimumHealthyPercent` and `maximumPercent`.

# %%
from helpers.course import Lab
from helpers.tables import port_mappings_table

lab = Lab.start()

# %% [markdown]
# ## The stack: dynamic host ports, two tasks
# The course's stack with the service at **2** tasks, host port 0 (dynamic), as in `03`.

# %%
stack = lab.build("nb08", desired_count=2)
print(lab.wait_for_event(stack, "has reached a steady state"))
print(lab.deployments(stack))

# %% [markdown]
# A service has **deployments**: each is one task definition and the tasks that run it. Right
# now there is one, `PRIMARY`; once its tasks run and their targets are healthy ECS says the
# service "has reached a steady state", and the rollout is `COMPLETED`. The title shows the service's
# **deployment configuration**, AWS's defaults here: during a rollout at least
# `minimumHealthyPercent` (100 %: 2 tasks) must stay running and healthy, and at most
# `maximumPercent` (200 %: 4 tasks) may run at once.
#
# ## A new revision
# A task definition is never edited: every change is a new **revision** of its family. Here the
# change is an environment variable, as a new version of an app often is. Read the current
# revision, change its container, register it (`register_task_definition`). The cell copies only
# the fields this course's task definition uses, and replaces the container's environment: for
# your own, copy every field you set (roles, cpu, memory, volumes...) and keep the variables you had.
# In the console: ECS > Task definitions > the family > the revision (the ECS guide's "Updating an
# Amazon ECS task definition using the console" creates one there with "Create new revision").

# %%
current = lab.clients.ecs.describe_task_definition(taskDefinition=stack.task_definition_arn)["taskDefinition"]
container = dict(current["containerDefinitions"][0], environment=[{"name": "APP_VERSION", "value": "2"}])
registered = lab.clients.ecs.register_task_definition(
    family=current["family"], networkMode=current["networkMode"], requiresCompatibilities=["EC2"],
    containerDefinitions=[container],
)
revision = registered["taskDefinition"]["taskDefinitionArn"]
print(port_mappings_table(lab.clients, revision))

# %% [markdown]
# ## Roll it out, with traffic running
# One call starts the rollout: `update_service` with the new `taskDefinition`. Right after it,
# `lab.watch_rollout` sends requests through the ALB one after another until the rollout has
# completed, reading the service and the target group between them, and sums up what it saw.
#
# In the console: ECS > Clusters > the cluster > Services > the service > **Deployments** (the
# deployments `update_service` starts) and **Events** (the messages `describe_services` returns as
# `events`); the targets: EC2 > Load Balancing > Target Groups > the target group > **Targets** tab
# (what `describe_target_health` returns).

# %%
updated = lab.clients.ecs.update_service(cluster=stack.cluster_name, service=stack.service_name, taskDefinition=revision)
print(lab.watch_rollout(stack))

# %% [markdown]
# What happened, step by step:
#
# 1. `update_service` made a **new deployment**, `PRIMARY`, for the new revision; the old one
#    became `ACTIVE`, still with its two tasks.
# 2. With 200 % allowed, ECS started **two new tasks at once**, on the same two instances. Each
#    got a free host port (dynamic), so nothing stood in their way: four tasks ran at once.
# 3. ECS registered the new tasks in the target group. Once they passed their health checks,
#    it deregistered the old ones: they were **draining** (no new requests, the ones in flight
#    finish), then gone, and the old tasks stopped.
# 4. At every moment at least two healthy targets answered: no request failed. That holds
#    because this app answers quickly: a request still running when an old target's
#    **deregistration delay** ends is cut off (the ALB guide, "Deregistration delay"). AWS's
#    default delay is 300 seconds, so a real rollout takes minutes; the sandbox runs on a faster
#    clock.
#
# The end state: one deployment again, the new one.

# %%
print(lab.deployments(stack))
print(lab.events(stack, limit=1))

# %% [markdown]
# The path through the ALB is the same as before - only the tasks behind it, and their host
# ports, are new:

# %%
path = lab.explain(f"http://{stack.alb_dns_name}/")
print(path.outcome_line())
path.picture()

# %% [markdown]
# ## The same with a static host port (8081:8081)
# Now a second stack whose task definition maps the instance's port **8081** to the
# container's 8081, with **one task per instance**: two tasks on two instances. Everything else
# is the same, the deployment configuration too (100 / 200).

# %%
static = lab.build("nb08-static", host_port=8081, desired_count=2)
print(lab.wait_for_event(static, "has reached a steady state"))
print(port_mappings_table(lab.clients, static.task_definition_arn))

# %% [markdown]
# Ship a new version the same way: a new revision, then `update_service`.

# %%
current = lab.clients.ecs.describe_task_definition(taskDefinition=static.task_definition_arn)["taskDefinition"]
container = dict(current["containerDefinitions"][0], environment=[{"name": "APP_VERSION", "value": "2"}])
static_revision = lab.clients.ecs.register_task_definition(
    family=current["family"], networkMode=current["networkMode"], requiresCompatibilities=["EC2"],
    containerDefinitions=[container],
)["taskDefinition"]["taskDefinitionArn"]
updated = lab.clients.ecs.update_service(cluster=static.cluster_name, service=static.service_name, taskDefinition=static_revision)
print(lab.wait_for_event(static, "already using a port"))

# %% [markdown]
# The rollout **stalls**. ECS wants to start the new tasks beside the old ones (100 % must stay
# healthy, so no old task may stop first), but each instance's port 8081 is taken by its old
# task: "already using a port required by your task". The deployments show it - the new one
# `PRIMARY` with nothing running, the old one `ACTIVE` with both its tasks:

# %%
print(lab.deployments(static))
print(lab.requests(f"http://{static.alb_dns_name}/", 10, timeout=10))

# %% [markdown]
# Nothing is broken: the old tasks keep serving. But the new version never arrives: ECS keeps
# trying, and the new deployment stays `IN_PROGRESS` until you change something. (This service
# has the **deployment circuit breaker** off, the API's default. With it on, ECS marks a deployment
# that cannot reach a steady state `FAILED`, and can roll it back - the ECS API reference,
# `DeploymentCircuitBreaker`; when a stall on a port counts as failure, AWS does not say.)
#
# ## Exercise - the way out
# Let ECS stop an old task **before** it starts a new one: update the static service's
# `deploymentConfiguration` to `{"minimumHealthyPercent": 50, "maximumPercent": 100}` with
# `lab.clients.ecs.update_service(cluster=..., service=..., deploymentConfiguration=...)`.
# 50 % of 2 tasks is 1: one task may be down while its instance's port is handed over.

# %% jupyter={"source_hidden": true} tags=["solution"]
### BEGIN SOLUTION: update_service with deploymentConfiguration 50 / 100
unblocked = lab.clients.ecs.update_service(
    cluster=static.cluster_name, service=static.service_name,
    deploymentConfiguration={"minimumHealthyPercent": 50, "maximumPercent": 100},
)
### END SOLUTION

# %% [markdown]
# Watch the rollout go on (it gives up after 60 s when it does not complete), then check:

# %%
print(lab.watch_rollout(static))

# %%
from helpers.selfcheck.nb08 import static_rollout_completed

static_rollout_completed(lab, static)

# %% [markdown]
# It worked, one instance at a time: ECS drained and stopped one old task, started a new one on
# the port it freed, waited for it to turn healthy, then did the same on the other instance.
# Still no failed request - but **half the capacity** was gone during each step. With two tasks
# that is one task carrying all the traffic; under real load, that is the outage you were trying
# to avoid. With dynamic host ports new tasks start beside the old ones at full capacity - as long
# as `maximumPercent` leaves room above 100 % and the instances have CPU and memory to spare
# (the ECS API reference, `DeploymentConfiguration`).

# %%
print(lab.deployments(static))

# %% [markdown]
# ## Try it yourself
# Scale the dynamic stack's service with the slider, then roll out again: a new revision as
# above, or `update_service(..., forceNewDeployment=True)` (same task definition, new tasks),
# and `print(lab.watch_rollout(stack))`. Try `deploymentConfiguration` values too: with 100 / 150
# ECS starts one extra task at a time (150 % of 2 tasks is 3). (The widget needs a running kernel.)

# %%
lab.service_scaler(stack)

# %% [markdown]
# ## Key points
# - Every change to a task definition is a new **revision**; `update_service(taskDefinition=...)`
#   starts a **deployment**: a new `PRIMARY`, the old one `ACTIVE` until its tasks are gone.
# - A rolling update keeps at least `minimumHealthyPercent` of the desired tasks healthy and at
#   most `maximumPercent` alive (defaults 100 / 200): new tasks start **beside** the old ones.
#   Old targets drain before their tasks stop, so requests shorter than the deregistration
#   delay do not fail.
# - With a **static** host port, the new tasks need the port the old ones hold: at 100 / 200 the
#   rollout stalls ("already using a port required by your task"). Lowering the minimum
#   (50 / 100) lets it through at the cost of capacity - or use more instances than tasks.
# - With **dynamic** host ports, new tasks start beside the old ones on the same instances, at
#   full capacity, given room in `maximumPercent` and spare CPU and memory.
#
# ## Clean up

# %%
lab.cleanup(stack)
lab.cleanup(static)
