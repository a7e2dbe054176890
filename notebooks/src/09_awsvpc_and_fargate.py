# %% [markdown]
# # 09 · The same app in awsvpc mode: a network interface per task (and Fargate)
#
# Time: at least 20 minutes, plus the exercises (reading 11 min, running 34 s) · needs: `04_inbound_dynamic_ports`
#
# Words you don't know: the [glossary](../docs/GLOSSARY.md). Stuck? The [cheat sheet](../docs/CHEATSHEET.md).
#
# So far every task shared its host's network: ECS gave it a host port, the ALB sent requests
# to `instance:host port`, and the hosts' security group had to admit the whole dynamic range.
# ECS has another **network mode**, `awsvpc`: each task gets its **own elastic network interface
# (ENI)** - its own private IP in a subnet and its own security groups, like a small EC2
# instance. The ALB then sends requests straight to `task IP:8081`. No host port at all.
# AWS recommends `awsvpc` on EC2 unless you need another mode, and Fargate only runs `awsvpc`.
# ([ECS guide: task networking options for EC2](https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-networking.html))
#
# **You will**
# - build the same app in awsvpc mode and see each task's interface, subnet and security group;
# - see the target group hold `ip` targets on port 8081 and the tasks hold no host port;
# - break the rule that lets the ALB reach the tasks, and write it back yourself;
# - meet the errors ECS gives when network mode and target type do not match;
# - run one task on Fargate behind the same ALB, and learn when to choose which.

# %%
from botocore.exceptions import ClientError

from helpers.course import Lab
from helpers.tables import network_bindings_table, port_mappings_table, security_group_table
from helpers.task_networks import answers_summary, ip_targets_table, task_interfaces_table
from helpers.traffic import request_many

lab = Lab.start()
stack = lab.build("nb09", network_mode="awsvpc")
alb_url = f"http://{stack.alb_dns_name}/"

# %% [markdown]
# The same ALB, listener and hosts as before. Three things are new:
# the task definition says `networkMode="awsvpc"`; the service says where the tasks'
# interfaces go (`networkConfiguration`: subnets and a security group); and the target group has
# `TargetType="ip"`. The task definition gives no host port: in awsvpc mode the host port, if
# given at all, must equal the container port, so ECS fills in 8081 for it (the table's host
# port). Nothing is mapped on the host: the port is the task's own interface's.
#
# *Console: ECS > Task definitions (nb09-web); the service: ECS > Clusters, then the cluster's page.*

# %%
print(port_mappings_table(lab.clients, stack.task_definition_arn))

# %% [markdown]
# ## One network interface per task
# Each running task lists its interface in its `attachments` (type `ElasticNetworkInterface`),
# and EC2 describes it like any other (`describe_network_interfaces`; in the console: EC2 ->
# Network interfaces). Two tasks on the same host still have two interfaces, two IPs. A task's
# IP is any free address of its subnet, different on every run, so the table says whether it
# lies in the subnet rather than print it:

# %%
print(task_interfaces_table(lab.clients, stack.cluster_name, stack.service_name))

# %% [markdown]
# Every interface carries `nb09-task-sg`, the **task security group** - not the hosts' group. In
# awsvpc mode a task's traffic goes through its own interface, not the instance's primary one,
# so the hosts' security group and its rules (the dynamic range from 04) do nothing for it.
#
# ## `ip` targets, no host ports
# ECS registers each task as `task IP:8081` - the container port, the same for every task:
#
# *Console: EC2 > Target Groups (nb09-tg).*

# %%
print(ip_targets_table(lab.clients, stack))

# %% [markdown]
# And the tasks have no `networkBindings`: nothing was mapped on a host.

# %%
print(network_bindings_table(lab.clients, stack.cluster_name, stack.service_name))

# %% [markdown]
# Requests through the ALB reach all three tasks, each on its own IP:

# %%
print(answers_summary(request_many(alb_url, 6, proxy=lab.socks_proxy, timeout=5)))

# %% [markdown]
# The path as a picture: the ALB's target legs now end at the tasks' interfaces, and the
# security group on each leg is the task's own.

# %%
healthy_path = lab.explain(alb_url)
print(healthy_path.outcome_line())
healthy_path.picture()

# %% [markdown]
# ## The task security group
# It has one inbound rule: tcp 8081 from the ALB's security group. One port, not a range - the
# task listens on 8081 at its own address.
#
# *Console: EC2 > Security Groups (nb09-task-sg).*

# %%
print(security_group_table(lab.clients, stack.task_sg_id))

# %% [markdown]
# As in 04, give the service a long health check grace period first, so that ECS does not
# replace the tasks while the rule is missing - the churn would hide what there is to see.

# %%
graced = lab.clients.ecs.update_service(cluster=stack.cluster_name, service=stack.service_name,
                                        healthCheckGracePeriodSeconds=86400)
print("grace period:", graced["service"]["healthCheckGracePeriodSeconds"], "seconds (one day)")

# %% [markdown]
# Now remove the rule. `revoke_security_group_ingress` with the same `IpPermissions` as the rule
# removes exactly that rule:

# %%
task_rule = {"IpProtocol": "tcp", "FromPort": 8081, "ToPort": 8081, "UserIdGroupPairs": [{"GroupId": stack.alb_sg_id}]}
revoked = lab.clients.ec2.revoke_security_group_ingress(GroupId=stack.task_sg_id, IpPermissions=[task_rule])
print(security_group_table(lab.clients, stack.task_sg_id))

# %% [markdown]
# The health checks to `task IP:8081` are dropped now; after 2 failures in a row each target is
# `unhealthy` with `Target.Timeout`, and clients get **504** from the ALB (it fails open and
# cannot connect either) - the same signature as in 04, on a different security group:

# %%
print(lab.watch_targets(stack, {"unhealthy": 3}))
print(ip_targets_table(lab.clients, stack))
print(answers_summary(request_many(alb_url, 3, proxy=lab.socks_proxy, timeout=10)))

# %%
blocked = lab.explain(alb_url)
print(blocked.outcome_line())
blocked.picture()

# %% [markdown]
# `SG_HAS_NO_RULES`: the task security group admits nothing at all, so every target leg is red.
# The front of the path (internet -> ALB -> listener -> target group) is unchanged.
#
# ## Exercise - let the ALB reach the tasks again
# Authorize, on the **task** security group (`stack.task_sg_id`), inbound tcp **8081** whose
# source is the ALB's security group (`stack.alb_sg_id`, in `UserIdGroupPairs`) - not
# `0.0.0.0/0`. Use `lab.clients.ec2.authorize_security_group_ingress`.

# %% jupyter={"source_hidden": true} tags=["solution"]
### BEGIN SOLUTION: admit tcp 8081 on the task SG from the ALB's SG
opened = lab.clients.ec2.authorize_security_group_ingress(GroupId=stack.task_sg_id, IpPermissions=[{
    "IpProtocol": "tcp", "FromPort": 8081, "ToPort": 8081,
    "UserIdGroupPairs": [{"GroupId": stack.alb_sg_id, "Description": "the container port, from the ALB only"}],
}])
### END SOLUTION

# %% [markdown]
# An unhealthy target needs 5 passing checks in a row to be healthy again (a few seconds here).
# Should `explain` still find the path blocked, the cell below says what blocks it at once instead
# of waiting for checks that cannot pass.

# %%
print(lab.watch_targets(stack, {"healthy": 3}, url=alb_url))
print(ip_targets_table(lab.clients, stack))

# %%
from helpers.resources.security_groups import has_group_rule
from helpers.selfcheck.nb09 import task_sg_admits_the_alb

task_sg_admits_the_alb(lab, stack)

# %% [markdown]
# The rest of the notebook needs the ALB to reach the tasks. If your answer is not in yet, this
# cell adds the rule for you; when it is there, the cell changes nothing:

# %%
if not has_group_rule(lab.clients, stack.task_sg_id, (8081, 8081), stack.alb_sg_id):
    lab.clients.ec2.authorize_security_group_ingress(GroupId=stack.task_sg_id, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 8081, "ToPort": 8081, "UserIdGroupPairs": [{"GroupId": stack.alb_sg_id}]}])
print(lab.watch_targets(stack, {"healthy": 3}))

# %% [markdown]
# ## When network mode and target type disagree
# The target type must match the network mode: `ip` for awsvpc, `instance` for bridge and host.
# Attach a **bridge** task definition to this `ip` target group, and `create_service` refuses
# with AWS's message:

# %%
bridge_web = lab.clients.ecs.register_task_definition(
    family="nb09-bridge-web", networkMode="bridge", requiresCompatibilities=["EC2"],
    containerDefinitions=[{"name": "tomcat", "image": "tomcat:9.0", "memory": 256, "essential": True,
                           "portMappings": [{"containerPort": 8081, "hostPort": 0}]}],
    tags=[{"key": "Project", "value": "ecs-alb-lab"}])["taskDefinition"]["taskDefinitionArn"]
try:
    lab.clients.ecs.create_service(
        cluster=stack.cluster_name, serviceName="nb09-bridge-svc", taskDefinition=bridge_web, desiredCount=1,
        loadBalancers=[{"targetGroupArn": stack.target_group_arn, "containerName": "tomcat", "containerPort": 8081}])
except ClientError as refused:
    print(refused.response["Error"]["Code"] + ":", refused.response["Error"]["Message"])

# %% [markdown]
# And a host port that differs from the container port has no meaning in awsvpc mode (there is
# no host side to map): `register_task_definition` refuses it.

# %%
try:
    lab.clients.ecs.register_task_definition(
        family="nb09-mismatch", networkMode="awsvpc",
        containerDefinitions=[{"name": "tomcat", "image": "tomcat:9.0", "memory": 256,
                               "portMappings": [{"containerPort": 8081, "hostPort": 32768}]}])
except ClientError as refused:
    print(refused.response["Error"]["Code"] + ":", refused.response["Error"]["Message"])

# %% [markdown]
# ## Fargate: the same task definition, without instances
# On Fargate, AWS runs each task on capacity you never see: no container instances, no hosts'
# security group, no AMI to patch. Fargate tasks always use awsvpc - each gets its own ENI, as
# above - so the same task definition, registered with `requiresCompatibilities=["FARGATE"]` and
# task-level `cpu` and `memory`, runs there with the same `ip` target group and task security
# group. ([ECS guide: task networking options for Fargate](https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-task-networking.html))
#
# The sandbox runs Fargate too. Register the Fargate flavour of the task definition - Fargate
# insists on `networkMode="awsvpc"` and a task-level `cpu`/`memory` pair from its table (256 CPU
# units with 512 MiB is the smallest) - and start one task as a second service on the **same**
# `ip` target group and task security group, with `launchType="FARGATE"`. It goes in the public
# subnets with `assignPublicIp="ENABLED"`: a Fargate task pulls its image over its own interface,
# and this stack has no NAT gateway. (The sandbox does not check that route; AWS would fail the
# task with `CannotPullContainerError` without one.) The task security group still admits only
# the ALB on 8081, so the public IP opens nothing else.

# %%
fargate_web = lab.clients.ecs.register_task_definition(
    family="nb09-fargate-web", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
    containerDefinitions=[{"name": "tomcat", "image": "tomcat:9.0", "essential": True,
                           "portMappings": [{"containerPort": 8081}]}],
    tags=[{"key": "Project", "value": "ecs-alb-lab"}])["taskDefinition"]["taskDefinitionArn"]
lab.clients.ecs.create_service(
    cluster=stack.cluster_name, serviceName="nb09-fargate-svc", taskDefinition=fargate_web, desiredCount=1,
    launchType="FARGATE",
    loadBalancers=[{"targetGroupArn": stack.target_group_arn, "containerName": "tomcat", "containerPort": 8081}],
    networkConfiguration={"awsvpcConfiguration": {"subnets": stack.public_subnet_ids,
                                                  "securityGroups": [stack.task_sg_id], "assignPublicIp": "ENABLED"}})
print(lab.watch_targets(stack, {"healthy": 4}))

# %% [markdown]
# The Fargate task has an interface like the others - its own IP in a subnet, the task security
# group - but no host: no container instance, no EC2 instance to see in the console.

# %%
print(task_interfaces_table(lab.clients, stack.cluster_name, "nb09-fargate-svc"))
print(ip_targets_table(lab.clients, stack))

# %% [markdown]
# The ALB does not know or care: it spreads requests over the four `ip` targets, three tasks on
# the hosts and one on Fargate.

# %%
print(answers_summary(request_many(alb_url, 8, proxy=lab.socks_proxy, timeout=5)))

# %% [markdown]
# A definition Fargate cannot run is refused when it is registered - here a task-level memory
# that the smallest CPU size does not offer (AWS's message):

# %%
try:
    lab.clients.ecs.register_task_definition(
        family="nb09-fargate-too-big", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256",
        memory="4096", containerDefinitions=[{"name": "tomcat", "image": "tomcat:9.0"}])
except ClientError as refused:
    print(refused.response["Error"]["Code"] + ":", refused.response["Error"]["Message"])

# %% [markdown]
# Remove the Fargate service again (the rest of the notebook uses the three tasks on the hosts):
# its target drains and its interface is deleted with the task.

# %%
lab.clients.ecs.delete_service(cluster=stack.cluster_name, service="nb09-fargate-svc", force=True)
print(lab.watch_targets(stack, {"healthy": 3}))

# %% [markdown]
# ## When to choose which
#
# | | bridge + dynamic host ports (01-08) | awsvpc on EC2 (this notebook) | awsvpc on Fargate |
# |---|---|---|---|
# | target type | `instance` (instance:host port) | `ip` (task IP:container port) | `ip` |
# | who the ALB must be let in by | the **hosts'** SG, whole dynamic range | the **task** SG, the container port | the task SG |
# | rules per task | shared by every task on a host | each service its own SG | each service its own SG |
# | addresses used | one per host | one per task, from the subnet | one per task |
# | tasks per host | limited by CPU and memory (a static host port: one per host) | limited by the instance type's ENIs (trunking raises it) | no hosts |
# | you run | instances, AMI, agent | instances, AMI, agent | nothing below the task |
#
# - **bridge** packs many tasks on few addresses and works everywhere - but every task on a host
#   shares its security group, and the ALB's rule must open a wide range.
# - **awsvpc on EC2** gives each task its own security group and address (its traffic can be logged
#   per task with VPC flow logs, tight rules); each task uses one of the instance's network interfaces, so an
#   instance runs fewer tasks unless ENI trunking (an AWS setting that lets one interface carry several tasks' interfaces) is on, and each task takes an address from the
#   subnet. AWS recommends it on EC2 unless you need another mode.
# - **Fargate** is awsvpc without instances: choose it when you would rather not run hosts.
#   To pull its image a task in a private subnet needs a NAT gateway (for a public registry such
#   as Docker Hub) or, for an image in Amazon ECR, VPC endpoints; in a public subnet it needs a
#   public IP.
#   ([ECS guide: task networking options for Fargate](https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-task-networking.html))
#
# ## Try it yourself
# Switch the task SG's 8081 rule off and on and read `explain`'s verdict after each change; the
# targets' health follows a few checks later (`print(ip_targets_table(lab.clients, stack))` in a
# new cell). Leave it **on** when you are done. (The widget needs a running kernel.)

# %%
lab.rule_switch(stack.task_sg_id, task_rule, url=alb_url, description="task SG: tcp 8081 from the ALB's SG")

# %% [markdown]
# ## Key points
# - In **awsvpc** mode each task has its own network interface: a private IP from the service's
#   subnets and the service's security groups. There is no host port; the container port is
#   the port.
# - The target group must use target type **`ip`**; ECS registers `task IP:container port`.
#   A bridge task definition on an `ip` target group is refused (`InvalidParameterException`).
# - The rule that matters is on the **task** security group: the container port from the ALB's
#   security group. The hosts' dynamic-range rule does nothing for awsvpc tasks.
# - Blocked, it looks as in 04: `Target.Timeout`, then 504 from the ALB.
# - **Fargate** runs the same awsvpc task definition (with `requiresCompatibilities=["FARGATE"]`
#   and a task-level cpu/memory pair) without instances: an `ip` target like any awsvpc task.
#
# ## Clean up

# %%
lab.cleanup(stack)
