"""ECS: the scheduler owns lastStatus; StopTask, ListTasks and container task ARNs as AWS has
them; AWS's task-definition and service load-balancer checks; service counts the scheduler keeps."""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.ecs.exceptions import EcsClientException, InvalidParameterException
from moto.ecs.models import EC2ContainerServiceBackend, Task
from moto.ecs.responses import EC2ContainerServiceResponse
from moto.elbv2.models import elbv2_backends
from moto.iam import models as iam_models
from moto.iam.exceptions import NotFoundException

from helpers.facts import AWSVPC_NEEDS_NETWORK_CONFIGURATION, ECS_SERVICE_LINKED_ROLE, ECS_SERVICE_LINKED_ROLE_MISSING

from helpers.sandbox import capacity_providers, deployments, fargate, standalone_tasks, target_health, unsupported
from helpers.sandbox.moto_fixes._patching import check_before, wrap


_context = None  # the newest sandbox: its scheduler runs RunTask's and StartTask's tasks


def use_context(ctx) -> None:
    global _context
    _context = ctx


def install() -> None:
    _install_task_fixes()
    _install_validations()
    _install_service_counts()


def _install_task_fixes() -> None:
    Task.last_status = property(_get_last_status, _set_last_status)
    wrap(Task, "__init__", _container_task_arns)
    EC2ContainerServiceBackend.stop_task = _stop_task
    wrap(EC2ContainerServiceBackend, "list_tasks", _list_tasks)
    EC2ContainerServiceResponse.list_tasks = _list_tasks_request
    wrap(EC2ContainerServiceResponse, "create_service", _keep_health_check_grace_period)
    wrap(EC2ContainerServiceResponse, "create_service", _capacity_provider_strategy)
    wrap(EC2ContainerServiceResponse, "run_task", _run_task)
    wrap(EC2ContainerServiceResponse, "start_task", _start_task)


def _get_last_status(self: Task) -> str:
    # Why: moto advances a task one state per describe_tasks call (ManagedState); on AWS only the
    # agent changes lastStatus - here, the sandbox's scheduler.
    return self._status


def _set_last_status(self: Task, value: str) -> None:
    self._status = value


def _container_task_arns(original, self: Task, *args, **kwargs) -> None:
    # Why: moto puts the task definition's ARN in each container's taskArn; AWS puts the task's
    # (ECS API Container.taskArn).
    original(self, *args, **kwargs)
    for container in self.containers:
        container.task_arn = self.task_arn


def _stop_task(self: EC2ContainerServiceBackend, cluster_str: str, task_str: str, reason: str | None) -> Task:
    # Why: StopTask asks the agent to stop the task: desiredStatus becomes STOPPED at once and
    # lastStatus follows when the containers have stopped (ECS API StopTask; the scheduler finishes
    # the stop). moto jumped to STOPPED and failed with HTTP 500 for an unknown task.
    cluster = self._get_cluster(cluster_str)
    task_id = task_str.split("/")[-1]
    for task_arn, task in self.tasks.get(cluster.name, {}).items():
        if task_arn.split("/")[-1] == task_id:
            if task.desired_status != "STOPPED":
                task.desired_status = "STOPPED"
                task.stopped_reason = reason or "Task stopped by user"
                task.stop_code = "UserInitiated"
            return task
    raise InvalidParameterException("The referenced task was not found.")


def _list_tasks(
    original,
    self,
    cluster_str=None,
    container_instance=None,
    family=None,
    started_by=None,
    service_name=None,
    desiredStatus=None,
):
    # Why: moto ignores serviceName; a service's tasks carry group "service:<name>" (ECS API
    # ListTasks; the sandbox's scheduler starts them with that group, as ECS does).
    tasks = original(self, cluster_str, container_instance, family, started_by, None, desiredStatus)
    if service_name:
        group = f"service:{service_name.split('/')[-1]}"
        tasks = [task for task in tasks if task.group == group]
    return tasks


def _keep_health_check_grace_period(original, self: EC2ContainerServiceResponse):
    # Why: moto's CreateService drops healthCheckGracePeriodSeconds, which the scheduler needs
    # before it acts on failed ELB health checks, and deploymentConfiguration, which bounds a
    # rolling update (ECS API CreateService). (UpdateService keeps both.)
    result = original(self)
    grace = self._get_int_param("healthCheckGracePeriodSeconds")
    configuration = self._get_param("deploymentConfiguration")
    service = _created_service(self)
    if grace is not None:
        service.health_check_grace_period_seconds = grace
    if configuration:
        service.deployment_configuration = configuration
    return result


def _capacity_provider_strategy(original, self: EC2ContainerServiceResponse):
    # Why: moto's CreateService drops capacityProviderStrategy and runs such a service as EC2. AWS
    # checks the strategy first (sandbox/capacity_providers.py): nothing is made when it fails; a
    # strategy of the Fargate providers needs a task definition that requires FARGATE (fargate.py);
    # the service shows the strategy and no launch type.
    cluster = self.ecs_backend._get_cluster(self._get_param("cluster", "default"))
    strategy = capacity_providers.effective_strategy(cluster, self._get_param("launchType"),
                                                     self._get_param("capacityProviderStrategy"))
    if capacity_providers.on_fargate(strategy) and self._get_param("taskDefinition"):
        fargate.check_launch_type(self.ecs_backend.describe_task_definition(self._get_param("taskDefinition")),
                                  fargate.FARGATE)
    result = original(self)
    service = _created_service(self)
    service.capacity_provider_strategy = strategy
    if strategy:
        service.launch_type = None
    return result


def _created_service(self: EC2ContainerServiceResponse):
    return self.ecs_backend.describe_services(self._get_param("cluster", "default"), [self._get_param("serviceName")])[0][0]


def _scheduler():
    return _context.components.get("scheduler") if _context is not None else None


def _run_task(original, self: EC2ContainerServiceResponse) -> ActionResult:
    # Why: moto's tasks were RUNNING at once with no container and no networkBindings, and a task
    # that fit nowhere was silently left out; ECS places them like service tasks and returns the
    # misfits in `failures` (ECS API RunTask; sandbox/standalone_tasks.py). Without a scheduler
    # (the control plane alone, as tests run it) moto's answer stands.
    scheduler = _scheduler()
    if scheduler is None:
        return original(self)
    cluster = self.ecs_backend._get_cluster(self._get_param("cluster", "default"))
    launch_type = self._get_param("launchType")
    strategy = capacity_providers.effective_strategy(cluster, launch_type, self._get_param("capacityProviderStrategy"))
    started = standalone_tasks.run_task(
        scheduler, cluster.name, self.ecs_backend.describe_task_definition(self._get_param("taskDefinition")),
        count=self._get_int_param("count", 1), group=self._get_param("group"),
        started_by=self._get_param("startedBy"), tags=self._get_param("tags"), launch_type=launch_type,
        capacity_provider_strategy=strategy, network_configuration=self._get_param("networkConfiguration"))
    return ActionResult({"tasks": started.tasks, "failures": started.failures})


def _start_task(original, self: EC2ContainerServiceResponse) -> ActionResult:
    # Why: as RunTask, on the container instances the caller names (ECS API StartTask).
    scheduler = _scheduler()
    if scheduler is None:
        return original(self)
    cluster = self.ecs_backend._get_cluster(self._get_param("cluster", "default"))
    started = standalone_tasks.start_task(
        scheduler, cluster.name, self.ecs_backend.describe_task_definition(self._get_param("taskDefinition")),
        container_instances=self._get_param("containerInstances") or [], group=self._get_param("group"),
        started_by=self._get_param("startedBy"), tags=self._get_param("tags"),
        network_configuration=self._get_param("networkConfiguration"))
    return ActionResult({"tasks": started.tasks, "failures": started.failures})


def _list_tasks_request(self: EC2ContainerServiceResponse) -> ActionResult:
    # Why: ListTasks shows tasks whose desiredStatus is RUNNING unless asked otherwise (ECS API
    # ListTasks, desiredStatus). Set here, not in the backend: moto's own lookups list every task.
    tasks = self.ecs_backend.list_tasks(
        self._get_param("cluster", "default"),
        self._get_param("containerInstance"),
        self._get_param("family"),
        self._get_param("startedBy"),
        self._get_param("serviceName"),
        self._get_param("desiredStatus") or "RUNNING",
    )
    return ActionResult({"taskArns": [task.task_arn for task in tasks]})


# -- validations AWS does and moto lacks ----------------------------------------------------------


def _install_validations() -> None:
    check_before(EC2ContainerServiceBackend, "register_task_definition", _fargate_task_definition)
    check_before(EC2ContainerServiceBackend, "register_task_definition", _host_ports_match_container_ports)
    check_before(EC2ContainerServiceBackend, "create_service", _launch_type_supported)
    check_before(EC2ContainerServiceBackend, "create_service", _service_load_balancers_usable)
    check_before(EC2ContainerServiceBackend, "create_service", _service_linked_role_exists)
    check_before(EC2ContainerServiceBackend, "create_service", _awsvpc_needs_network_configuration)


def _fargate_task_definition(self, arguments: dict[str, Any]) -> None:
    # Why: a task definition that requires FARGATE must be awsvpc with task-level cpu and memory in
    # one of Fargate's combinations (sandbox/fargate.py); moto accepted any and rewrote the mode.
    fargate.check_task_definition(arguments["network_mode"], arguments["requires_compatibilities"],
                                  arguments["cpu"], arguments["memory"])


def _launch_type_supported(self: EC2ContainerServiceBackend, arguments: dict[str, Any]) -> None:
    # Why: a FARGATE service needs a task definition that requires FARGATE (sandbox/fargate.py).
    definition_str = arguments["task_definition_str"]
    definition = self.describe_task_definition(definition_str) if definition_str else None
    fargate.check_launch_type(definition, arguments["launch_type"])


def _host_ports_match_container_ports(self, arguments: dict[str, Any]) -> None:
    # Why: with awsvpc or host networking the host port is the container port; a different one is
    # rejected (ECS API PortMapping). The awsvpc message is AWS's (FACTS.md; amazon-ecs-cli issue
    # 1014); the host-mode text is the same sentence with host - unconfirmed.
    mode = arguments["network_mode"] or "bridge"  # the default (ECS API RegisterTaskDefinition)
    if mode not in ("awsvpc", "host"):
        return
    for container in arguments["container_definitions"] or []:
        for mapping in container.get("portMappings") or []:
            if "hostPort" in mapping and mapping["hostPort"] != mapping.get("containerPort"):
                raise EcsClientException(
                    f"When networkMode={mode}, the host ports and container ports in port mappings must match."
                )


def _service_load_balancers_usable(self: EC2ContainerServiceBackend, arguments: dict[str, Any]) -> None:
    _check_load_balancers(self, arguments["task_definition_str"], arguments["load_balancers"])


def ecs_service_linked_role_exists(account_id: str) -> bool:
    try:
        iam_models.iam_backends[account_id]["global"].get_role(ECS_SERVICE_LINKED_ROLE)
    except NotFoundException:
        return False
    return True


def _awsvpc_needs_network_configuration(self: EC2ContainerServiceBackend, arguments: dict[str, Any]) -> None:
    # Why: an awsvpc task gets an ENI in the subnets the service names; without them AWS refuses
    # (message as in Terraform's output of the API error, e.g. ECS CreateService via aws_ecs_service).
    # moto failed with HTTP 500 on an empty configuration.
    definition_str = arguments["task_definition_str"]
    definition = self.describe_task_definition(definition_str) if definition_str else None
    configuration = (arguments["network_configuration"] or {}).get("awsvpcConfiguration") or {}
    if definition is not None and definition.network_mode == "awsvpc" and not configuration.get("subnets"):
        raise InvalidParameterException(AWSVPC_NEEDS_NETWORK_CONFIGURATION)


def _service_linked_role_exists(self: EC2ContainerServiceBackend, arguments: dict[str, Any]) -> None:
    # Why: ECS registers a service's targets with AWSServiceRoleForECS; without it (and without a
    # legacy per-service `role`) CreateService with a load balancer fails, and no service is made
    # (FACTS.md; ECS guide "Using service-linked roles for Amazon ECS").
    if arguments["load_balancers"] and not arguments["role_arn"] and not ecs_service_linked_role_exists(self.account_id):
        raise InvalidParameterException(ECS_SERVICE_LINKED_ROLE_MISSING)


def _uses_dynamic_host_port(task_definition, container_name: str, container_port: int) -> bool:
    # bridge mode with hostPort 0 or omitted = a dynamic host port (ECS API PortMapping).
    if task_definition.network_mode != "bridge":
        return False
    for container in task_definition.container_definitions:
        if container.get("name") != container_name:
            continue
        for mapping in container.get("portMappings") or []:
            if mapping.get("containerPort") == container_port and not mapping.get("hostPort"):
                return True
    return False


def _check_load_balancers(self: EC2ContainerServiceBackend, task_definition_str: str | None, load_balancers) -> None:
    # Why: ECS checks a service's target groups when the service is created or updated:
    # - the target group must be attached to a load balancer (a listener or rule forwards to it):
    #   InvalidParameterException "The target group with targetGroupArn ... does not have an
    #   associated load balancer." (quoted in Terraform provider workarounds);
    # - a dynamic host port cannot be health-checked on a fixed port: InvalidParameterException
    #   "The task definition is configured to use a dynamic host port, but the target group with
    #   targetGroupArn ... has a health check port specified." (quoted in cfn-lint issue 817).
    elbv2 = elbv2_backends[self.account_id][self.region_name]
    task_definition = self.describe_task_definition(task_definition_str) if task_definition_str else None
    for load_balancer in load_balancers or []:
        arn = load_balancer.get("targetGroupArn")
        tg = elbv2.target_groups.get(arn) if arn else None
        if tg is None:
            continue  # a classic load balancer, or an ARN moto does not know: not checked here
        if not tg.load_balancer_arns and not elbv2._any_listener_using(arn):
            raise InvalidParameterException(
                f"The target group with targetGroupArn {arn} does not have an associated load balancer."
            )
        _check_target_type(arn, tg, task_definition)
        fixed_health_check_port = tg.health_check_port not in (None, target_health.TRAFFIC_PORT)
        if (
            fixed_health_check_port
            and task_definition is not None
            and _uses_dynamic_host_port(
                task_definition, load_balancer.get("containerName"), load_balancer.get("containerPort")
            )
        ):
            raise InvalidParameterException(
                "The task definition is configured to use a dynamic host port, but the target group "
                f"with targetGroupArn {arn} has a health check port specified."
            )


def _check_target_type(arn: str, tg, task_definition) -> None:
    # Why: an awsvpc task is its own ENI and registers as an `ip` target; bridge and host tasks
    # register their instance (ECS guide "Use an ALB"; FACTS.md). moto registered instance ids as
    # IPs. The message is AWS's (quoted in terraform-provider-aws issue 12252).
    if task_definition is None or tg.target_type not in ("ip", "instance"):
        return
    mode = task_definition.network_mode or "bridge"
    if tg.target_type != ("ip" if mode == "awsvpc" else "instance"):
        raise InvalidParameterException(
            f"The provided target group {arn} has target type {tg.target_type}, which is incompatible "
            f"with the {mode} network mode specified in the task definition."
        )


# -- service counts: the scheduler's numbers, as services_stable reads them -------------------------


def _install_service_counts() -> None:
    wrap(EC2ContainerServiceBackend, "update_service", _update_service)
    wrap(EC2ContainerServiceBackend, "describe_services", _describe_services)


def _update_service(original, self: EC2ContainerServiceBackend, service_properties: dict[str, Any]):
    # Why: moto sets runningCount = desiredCount on update, so services_stable would pass before a
    # task runs; on AWS the counts are what the scheduler achieved. Also checks the load balancers
    # as create_service does (ECS API UpdateService).
    service = self._get_service(
        service_properties.get("cluster", "default"), service_properties["service"].split("/")[-1]
    )
    new_strategy = service_properties.get("capacity_provider_strategy")
    if new_strategy is not None and new_strategy != (getattr(service, "capacity_provider_strategy", None) or []):
        # moto would store the new strategy and keep running the old tasks: refuse, plainly.
        raise EcsClientException(unsupported.refusal("a change of a service's capacity provider strategy (UpdateService)"))
    new_load_balancers = service_properties.get("load_balancers")
    new_task_definition = service_properties.get("task_definition")
    if new_task_definition is not None:
        strategy = getattr(service, "capacity_provider_strategy", None)  # a Fargate strategy runs as FARGATE
        runs_as = fargate.FARGATE if capacity_providers.on_fargate(strategy) else service.launch_type
        fargate.check_launch_type(self.describe_task_definition(new_task_definition), runs_as)
    if new_load_balancers is not None or new_task_definition is not None:
        _check_load_balancers(
            self,
            new_task_definition or service.task_definition,
            new_load_balancers if new_load_balancers is not None else service.load_balancers,
        )
    running, pending = service.running_count, service.pending_count
    before = deployments.watched(service)
    # moto's forceNewDeployment renamed the current deployment; a new one is started here instead
    force = bool(service_properties.pop("force_new_deployment", False))
    service = original(self, service_properties)
    service.running_count, service.pending_count = running, pending
    if service.deployment_controller.get("type", "ECS") == "ECS" and deployments.needs_new_deployment(before, service, force):
        deployments.begin(service)  # a rolling update (sandbox/deployments.py), run by the scheduler
    return service


def _describe_services(original, self: EC2ContainerServiceBackend, *args, **kwargs):
    # Why: the services_stable waiter wants one deployment and runningCount == desiredCount
    # (botocore ecs waiters-2.json). With a single deployment its counts are the service's,
    # which the scheduler keeps; moto froze them at creation.
    services, failures = original(self, *args, **kwargs)
    for service in services:
        if len(service.deployments) == 1:
            service.deployments[0].update(
                desiredCount=service.desired_count,
                runningCount=service.running_count,
                pendingCount=service.pending_count,
            )
    return services, failures
