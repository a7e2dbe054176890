"""Small corrections to moto 5.2.5 so the sandbox's API answers as AWS does.

moto stores what you send and acts on little (`../shared/MOTO.md`). Each fix here is one small,
named function installed on a moto class, with a one-line *why* and the AWS source it follows.
`apply(ctx)` installs them once per process (moto's classes are shared by every sandbox) and
remembers the newest context for its time scale.

The fixes run inside moto's request handling, so they run under `ctx.lock`. A sandbox thread
that reads or changes target records directly holds the lock too:

    with ctx.lock:
        tg = find_target_group(ctx, arn)
        for record in target_records(tg):
            ...

Errors are moto's own exception classes (`ServiceException` subclasses), so a client gets
AWS's error code and a 400, never an HTTP 500.
"""

from __future__ import annotations

import functools
import inspect
import time
from typing import Any, Callable

from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError, InvalidSubnetIdError
from moto.ec2.models.network_acls import NetworkAcl, NetworkAclBackend, NetworkAclEntry
from moto.ec2.models.security_groups import SecurityGroupRule
from moto.ec2.responses.network_acls import NetworkACLs
from moto.ecs.exceptions import EcsClientException, InvalidParameterException
from moto.ecs.models import EC2ContainerServiceBackend, Task
from moto.ecs.responses import EC2ContainerServiceResponse
from moto.elbv2.exceptions import (
    DuplicateListenerError,
    InvalidConfigurationRequest,
    InvalidTargetError,
    SubnetNotFoundError,
    TargetGroupNotFoundError,
    TargetNotRunning,
    ValidationError,
)
from moto.elbv2.models import ELBv2Backend, FakeTargetGroup, elbv2_backends
from moto.iam import models as iam_models
from moto.iam.exceptions import NotFoundException

_installed = False
_ctx = None  # the newest sandbox's context: its time scale converts AWS delays

ECS_SERVICE_PRINCIPAL = "ecs.amazonaws.com"
ECS_SERVICE_LINKED_ROLE = "AWSServiceRoleForECS"
ECS_SERVICE_ROLE_POLICY_ARN = "arn:aws:iam::aws:policy/aws-service-role/AmazonECSServiceRolePolicy"

# Target health (state, reason, description) - ELBv2 API reference, TargetHealth.
REGISTRATION_IN_PROGRESS = ("initial", "Elb.RegistrationInProgress", "Target registration is in progress")
DEREGISTRATION_IN_PROGRESS = ("draining", "Target.DeregistrationInProgress", "Target deregistration is in progress")
NOT_REGISTERED = ("unused", "Target.NotRegistered", "Target is not registered to the target group")
DEFAULT_DEREGISTRATION_DELAY = 300  # seconds - ELBv2 target group attribute deregistration_delay

# The `*` rule every network ACL ends with (VPC User Guide, "Network ACLs").
NACL_STAR_RULE = 32767


def apply(ctx) -> None:
    """Install every fix (once per process); later calls only switch to the newer context."""
    global _installed, _ctx
    _ctx = ctx
    _load_aws_managed_policies()
    if _installed:
        return
    _install_target_records()
    _install_ecs_service_linked_role()
    _install_network_acl_fixes()
    _install_security_group_rule_matching()
    _install_ecs_task_fixes()
    _install_validations()
    _install_service_counts()
    _installed = True


def _load_aws_managed_policies() -> None:
    # Why: every AWS account has AWS's managed policies (AmazonEC2ContainerServiceforEC2Role for
    # the ECS hosts' role, AmazonECSServiceRolePolicy for the service-linked role); moto loads
    # them only when asked. Read when IAM's backend is created, so set before the sandbox resets moto.
    from moto import settings

    settings.default_user_config.setdefault("iam", {})["load_aws_managed_policies"] = True


# -- public helpers (hold ctx.lock) ------------------------------------------------------------


def find_target_group(ctx, arn: str) -> FakeTargetGroup | None:
    """The target group with this ARN in the sandbox's region, or None. Hold `ctx.lock`."""
    return ctx.elbv2().target_groups.get(arn)


def target_records(tg: FakeTargetGroup) -> list[dict[str, Any]]:
    """The target group's target records (the live dicts: change them only under `ctx.lock`)."""
    return list(tg.targets.values())


# -- patching tools ------------------------------------------------------------------------------


def _wrap(cls: type, name: str, fix: Callable) -> None:
    """Replace cls.<name> by `fix(original, self, *args, **kwargs)`."""
    original = getattr(cls, name)

    @functools.wraps(original)
    def patched(self, *args, **kwargs):
        return fix(original, self, *args, **kwargs)

    setattr(cls, name, patched)


def _check_before(cls: type, name: str, check: Callable[[Any, dict[str, Any]], None]) -> None:
    """Run `check(self, arguments)` before cls.<name>; `arguments` maps every parameter name
    (defaults included) to its value, however moto's caller passed it."""
    signature = inspect.signature(getattr(cls, name))

    def checked(original, self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        check(self, bound.arguments)
        return original(self, *args, **kwargs)

    _wrap(cls, name, checked)


# -- 1. ELBv2 targets keyed by (Id, Port), with the target state machine's records -----------------


def _install_target_records() -> None:
    FakeTargetGroup.register = _register_targets
    FakeTargetGroup.deregister = _deregister_targets
    FakeTargetGroup.deregister_terminated_instances = _drain_terminated_instances
    ELBv2Backend.describe_target_health = _describe_target_health
    _wrap(ELBv2Backend, "create_target_group", _health_check_timeout_defaults)


# Why: the current API model's defaults for HealthCheckTimeoutSeconds are HTTP 6 s, HTTPS 10 s
# (ELBv2 API CreateTargetGroup); moto uses the older guide's 5 s for both.
_TIMEOUT_DEFAULTS = {"HTTP": 6, "HTTPS": 10}


def _health_check_timeout_defaults(original, self, name, **kwargs):
    if kwargs.get("healthcheck_timeout_seconds") is None and kwargs.get("target_type") in (None, "instance", "ip"):
        protocol = kwargs.get("healthcheck_protocol") or kwargs.get("protocol")
        if protocol in _TIMEOUT_DEFAULTS:
            kwargs["healthcheck_timeout_seconds"] = _TIMEOUT_DEFAULTS[protocol]
    return original(self, name, **kwargs)


def _target_key(tg: FakeTargetGroup, target: dict[str, Any]) -> tuple[str, int]:
    # A target is (Id, Port); Port defaults to the target group's port (ELBv2 API TargetDescription).
    return target["Id"], int(target.get("Port", tg.port))


def _set_health(record: dict[str, Any], health: tuple[str, str | None, str | None]) -> None:
    record["State"], record["Reason"], record["Description"] = health


def _new_record(target_id: str, port: int, availability_zone: str | None) -> dict[str, Any]:
    record = {
        "Id": target_id,
        "Port": port,
        "AvailabilityZone": availability_zone,
        "RegisteredAt": time.monotonic(),
        "DrainingUntil": None,
        "Passes": 0,
        "Failures": 0,
    }
    _set_health(record, REGISTRATION_IN_PROGRESS)
    return record


def _register_targets(self: FakeTargetGroup, targets: list[dict[str, Any]]) -> None:
    # Why: moto keys targets by Id (i-1:32769 replaced i-1:32768) and makes them healthy at once;
    # AWS keeps one registration per Id+Port, starting in `initial` (ELBv2 API RegisterTargets).
    for target in targets:  # moto's own check, kept: only running instances register
        instance = self.ec2_backend.get_instance_by_id(target["Id"])
        if instance is not None and instance.state != "running":
            raise TargetNotRunning(instance_id=target["Id"])
    for target in targets:
        key = _target_key(self, target)
        record = self.targets.get(key)
        if record is None:
            self.targets[key] = _new_record(key[0], key[1], target.get("AvailabilityZone"))
        elif record["State"] == "draining":  # registering again cancels the deregistration
            self.targets[key] = _new_record(
                key[0], key[1], target.get("AvailabilityZone") or record["AvailabilityZone"]
            )
        # any other registered target is left as it is (registering is idempotent)


def _start_draining(tg: FakeTargetGroup, key: tuple[str, int]) -> None:
    # Why: AWS drains a deregistered target for deregistration_delay.timeout_seconds (default 300,
    # 0 removes it at once) before it is gone (ALB User Guide, "Deregistration delay").
    record = tg.targets[key]
    if record["State"] == "draining":
        return
    delay = int(tg.attributes.get("deregistration_delay.timeout_seconds", DEFAULT_DEREGISTRATION_DELAY))
    if delay <= 0:
        del tg.targets[key]
        return
    _set_health(record, DEREGISTRATION_IN_PROGRESS)
    record["DrainingUntil"] = time.monotonic() + _ctx.timescale.real(delay)


def _deregister_targets(self: FakeTargetGroup, targets: list[dict[str, Any]]) -> None:
    # Why: a deregistered target drains first; an unknown one is AWS's InvalidTarget (ELBv2 API
    # DeregisterTargets). Checked for all targets before any changes, so a bad call changes nothing.
    keys = [_target_key(self, target) for target in targets]
    if any(key not in self.targets for key in keys):
        raise InvalidTargetError()
    for key in keys:
        _start_draining(self, key)


def _drain_terminated_instances(self: FakeTargetGroup, instance_ids: list[str]) -> None:
    # Why: a terminated instance's registrations drain like a deregistration (moto kept a side list).
    for key in [key for key in self.targets if key[0] in instance_ids]:
        _start_draining(self, key)


def _health_check_port(tg: FakeTargetGroup, port: int) -> str:
    # "traffic-port" means each target's own port, which DescribeTargetHealth reports.
    if tg.health_check_port in (None, "traffic-port"):
        return str(port)
    return str(tg.health_check_port)


def _health_description(tg: FakeTargetGroup, record: dict[str, Any]) -> dict[str, Any]:
    target = {"Id": record["Id"], "Port": record["Port"]}
    if record.get("AvailabilityZone"):
        target["AvailabilityZone"] = record["AvailabilityZone"]
    return {
        "Target": target,
        "HealthCheckPort": _health_check_port(tg, record["Port"]),
        "TargetHealth": {"State": record["State"], "Reason": record["Reason"], "Description": record["Description"]},
    }


def _unregistered(tg: FakeTargetGroup, target_id: str, port: int) -> dict[str, Any]:
    record = {"Id": target_id, "Port": port}
    _set_health(record, NOT_REGISTERED)
    return _health_description(tg, record)


def _describe_target_health(self: ELBv2Backend, target_group_arn: str, targets: list[dict[str, Any]]):
    # Why: render the target records; a target asked for by name that is not registered is
    # `unused` / Target.NotRegistered (ELBv2 API DescribeTargetHealth, TargetHealth).
    tg = self.target_groups.get(target_group_arn)
    if tg is None:
        raise TargetGroupNotFoundError()
    if not targets:
        return [_health_description(tg, record) for record in tg.targets.values()]
    descriptions = []
    for target in targets:
        if "Port" in target:
            record = tg.targets.get(_target_key(tg, target))
            descriptions.append(
                _health_description(tg, record) if record else _unregistered(tg, target["Id"], int(target["Port"]))
            )
            continue
        # Without a Port: every registration of that Id (AWS's exact answer here is unconfirmed).
        records = [record for (target_id, _), record in tg.targets.items() if target_id == target["Id"]]
        descriptions += [_health_description(tg, record) for record in records] or [
            _unregistered(tg, target["Id"], int(tg.port))
        ]
    return descriptions


# -- 2. The ECS service-linked role -------------------------------------------------------------------


def _install_ecs_service_linked_role() -> None:
    # Why: moto names the role AWSServiceRoleForecs; AWS's is AWSServiceRoleForECS (ECS Developer
    # Guide, "Using service-linked roles for Amazon ECS"). moto derives the name from this table.
    iam_models.SERVICE_NAME_CONVERSION["ecs"] = "ECS"
    _wrap(iam_models.IAMBackend, "create_service_linked_role", _attach_ecs_service_role_policy)
    _wrap(EC2ContainerServiceBackend, "create_cluster", _with_ecs_service_linked_role)
    _wrap(EC2ContainerServiceBackend, "create_service", _with_ecs_service_linked_role)


def _attach_ecs_service_role_policy(original, self, service_name, *args, **kwargs):
    # Why: AWS's role carries AmazonECSServiceRolePolicy. moto knows that managed policy only when
    # MOTO_IAM_LOAD_MANAGED_POLICIES=true; otherwise attaching it would fail, so the role goes without.
    role = original(self, service_name, *args, **kwargs)
    if service_name == ECS_SERVICE_PRINCIPAL and ECS_SERVICE_ROLE_POLICY_ARN in self.managed_policies:
        self.attach_role_policy(ECS_SERVICE_ROLE_POLICY_ARN, role.name)
    return role


def _with_ecs_service_linked_role(original, self, *args, **kwargs):
    # Why: AWS creates AWSServiceRoleForECS on the first cluster or service when it does not exist
    # (ECS Developer Guide, "Service-linked role for Amazon ECS").
    result = original(self, *args, **kwargs)
    iam = iam_models.iam_backends[self.account_id]["global"]
    try:
        iam.get_role(ECS_SERVICE_LINKED_ROLE)
    except NotFoundException:
        iam.create_service_linked_role(ECS_SERVICE_PRINCIPAL, description=None, suffix=None)
    return result


# -- 3. Network ACLs: the `*` rule, ordering, rule-number checks ---------------------------------


def _install_security_group_rule_matching() -> None:
    # Why: RevokeSecurityGroupIngress/Egress find the rule by protocol, ports and source; a rule's
    # Description is not part of what identifies it (EC2 API RevokeSecurityGroupIngress: "you must
    # specify ... the protocol, port range and source"). moto compares a referenced group's whole
    # entry, description included, so revoking an SG-to-SG rule without its description failed.
    original = SecurityGroupRule.__eq__

    def same_rule(self, other) -> bool:
        if not isinstance(other, SecurityGroupRule):
            return NotImplemented
        if self.source_group and other.source_group:
            ids = (self.source_group.get("GroupId"), other.source_group.get("GroupId"))
            if ids[0] and ids[0] == ids[1]:
                return original(_without_description(self), _without_description(other))
        return original(self, other)

    SecurityGroupRule.__eq__ = same_rule


def _without_description(rule: SecurityGroupRule) -> SecurityGroupRule:
    copy = object.__new__(SecurityGroupRule)
    copy.__dict__.update(rule.__dict__)
    copy.source_group = {k: v for k, v in rule.source_group.items() if k != "Description"}
    return copy


def _install_network_acl_fixes() -> None:
    NetworkAcl.entries = property(_entries_with_star_rule)
    _check_before(NetworkACLs, "create_network_acl_entry", _check_rule_number)
    _check_before(NetworkACLs, "replace_network_acl_entry", _check_rule_number)
    _check_before(NetworkACLs, "delete_network_acl_entry", _check_rule_number)
    _check_before(NetworkAclBackend, "delete_network_acl_entry", _check_entry_exists)


def _entries_with_star_rule(self: NetworkAcl) -> list[NetworkAclEntry]:
    # Why: every NACL ends with the unchangeable `*` rule that denies the rest, both directions,
    # and AWS lists entries in rule order; moto shows neither for a new NACL (VPC User Guide).
    entries = list(self.network_acl_entries)
    for egress in (True, False):
        if not any(_same_rule(entry, NACL_STAR_RULE, egress) for entry in entries):
            entries.append(_star_rule(self, egress))
    return sorted(entries, key=lambda entry: (_is_true(entry.egress), int(entry.rule_number)))


def _star_rule(acl: NetworkAcl, egress: bool) -> NetworkAclEntry:
    return NetworkAclEntry(
        acl.ec2_backend,
        network_acl_id=acl.id,
        rule_number=NACL_STAR_RULE,
        protocol="-1",
        rule_action="deny",
        egress=egress,
        cidr_block="0.0.0.0/0",
        icmp_code=None,
        icmp_type=None,
        port_range_from=None,
        port_range_to=None,
        ipv6_cidr_block=None,
    )


def _is_true(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _same_rule(entry: NetworkAclEntry, rule_number: Any, egress: Any) -> bool:
    return int(entry.rule_number) == int(rule_number) and _is_true(entry.egress) == _is_true(egress)


def _check_rule_number(response: NetworkACLs, arguments: dict[str, Any]) -> None:
    # Why: rule numbers are 1-32766; 32767 is the `*` rule. AWS's message, as quoted from a real
    # deployment: "Value (32767) for parameter ruleNumber is invalid. Rulenumber must be in range
    # 1..32766" (EC2 API CreateNetworkAclEntry). The code is EC2's usual one for "Value (...) for
    # parameter ... is invalid" messages; applying it to DeleteNetworkAclEntry is our reading.
    rule_number = int(response._get_param("RuleNumber"))
    if not 1 <= rule_number <= 32766:
        raise EC2ClientError(
            "InvalidParameterValue",
            f"Value ({rule_number}) for parameter ruleNumber is invalid. Rulenumber must be in range 1..32766",
        )


def _check_entry_exists(self: NetworkAclBackend, arguments: dict[str, Any]) -> None:
    # Why: moto fails with an HTTP 500 when the entry is missing (replace or delete); AWS answers
    # InvalidNetworkAclEntry.NotFound (EC2 API error codes). The message text is unconfirmed.
    acl = self.get_network_acl(arguments["network_acl_id"])
    if not any(_same_rule(entry, arguments["rule_number"], arguments["egress"]) for entry in acl.network_acl_entries):
        raise EC2ClientError(
            "InvalidNetworkAclEntry.NotFound",
            f"The network acl entry identified by {arguments['rule_number']} does not exist.",
        )


# -- 4. ECS tasks: the scheduler owns lastStatus; stop_task, containers, list_tasks -----------------------


def _install_ecs_task_fixes() -> None:
    Task.last_status = property(_get_last_status, _set_last_status)
    _wrap(Task, "__init__", _container_task_arns)
    EC2ContainerServiceBackend.stop_task = _stop_task
    _wrap(EC2ContainerServiceBackend, "list_tasks", _list_tasks)
    EC2ContainerServiceResponse.list_tasks = _list_tasks_request
    _wrap(EC2ContainerServiceResponse, "create_service", _keep_health_check_grace_period)


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
    # before it acts on failed ELB health checks (ECS API CreateService).
    result = original(self)
    grace = self._get_int_param("healthCheckGracePeriodSeconds")
    if grace is not None:
        service = self.ecs_backend.describe_services(self._get_param("cluster", "default"), [self._get_param("serviceName")])[0][0]
        service.health_check_grace_period_seconds = grace
    return result


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


# -- 5. Validations AWS does and moto lacks -----------------------------------------------------------


def _install_validations() -> None:
    _check_before(ELBv2Backend, "create_listener", _listener_port_is_free)
    _check_before(ELBv2Backend, "modify_listener", _listener_port_is_free)
    _check_before(ELBv2Backend, "create_target_group", _target_group_port_in_range)
    _check_before(ELBv2Backend, "create_load_balancer", _alb_spans_two_zones)
    _check_before(EC2ContainerServiceBackend, "register_task_definition", _host_ports_match_container_ports)
    _check_before(EC2ContainerServiceBackend, "create_service", _service_load_balancers_usable)


def _check_port(port: Any) -> None:
    # Why: ports are 1-65535 (botocore elbv2 model, shape Port); boto3 checks only the minimum.
    # The text follows AWS's generic model-constraint message; its exact wording for Port is unconfirmed.
    if port is not None and not 1 <= int(port) <= 65535:
        raise ValidationError(
            f"1 validation error detected: Value '{port}' at 'port' failed to satisfy constraint: "
            f"Member must have value {'greater than or equal to 1' if int(port) < 1 else 'less than or equal to 65535'}"
        )


def _listener_port_is_free(self: ELBv2Backend, arguments: dict[str, Any]) -> None:
    # Why: one listener per port per load balancer - DuplicateListener, "A listener with the
    # specified port already exists." (ELBv2 API CreateListener, ModifyListener). moto compares
    # the port with listener ARNs, so it never fires.
    port = arguments["port"]
    _check_port(port)
    if port is None:
        return
    if "arn" in arguments:  # modify_listener: find the listener's load balancer
        listener_arn = arguments["arn"]
        balancer = next((lb for lb in self.load_balancers.values() if listener_arn in lb.listeners), None)
    else:
        listener_arn = None
        balancer = self.load_balancers.get(arguments["load_balancer_arn"])
    if balancer is None:
        return  # moto reports the missing load balancer or listener
    for listener in balancer.listeners.values():
        if listener.arn != listener_arn and listener.port is not None and int(listener.port) == int(port):
            raise DuplicateListenerError()


def _target_group_port_in_range(self: ELBv2Backend, arguments: dict[str, Any]) -> None:
    _check_port(arguments["kwargs"].get("port"))


def _alb_spans_two_zones(self: ELBv2Backend, arguments: dict[str, Any]) -> None:
    # Why: an Application Load Balancer needs subnets in at least two AZs, one subnet per AZ
    # (ELBv2 API CreateLoadBalancer, Subnets). Messages as AWS returns them (ValidationError and
    # InvalidConfigurationRequest, quoted in Terraform/CloudFormation reports); an unknown subnet
    # is ELBv2's SubnetNotFound.
    if (arguments.get("loadbalancer_type") or "application") != "application":
        return
    subnet_ids = list(arguments.get("subnet_ids") or [])
    subnet_ids += [mapping["SubnetId"] for mapping in arguments.get("subnet_mappings") or []]
    try:
        zones = [self.ec2_backend.get_subnet(subnet_id).availability_zone for subnet_id in subnet_ids]
    except InvalidSubnetIdError:  # moto would leak EC2's error code here
        raise SubnetNotFoundError()
    if len(set(zones)) < len(zones):
        raise InvalidConfigurationRequest(
            "A load balancer cannot be attached to multiple subnets in the same Availability Zone"
        )
    if len(zones) < 2:
        raise ValidationError("At least two subnets in two different Availability Zones must be specified")


def _network_mode(network_mode: str | None, requires_compatibilities: list[str] | None) -> str:
    # The default is bridge on EC2; Fargate is always awsvpc (ECS API RegisterTaskDefinition).
    if network_mode:
        return network_mode
    return "awsvpc" if "FARGATE" in (requires_compatibilities or []) else "bridge"


def _host_ports_match_container_ports(self, arguments: dict[str, Any]) -> None:
    # Why: with awsvpc or host networking the host port is the container port; a different one is
    # rejected (ECS API PortMapping). The awsvpc message is AWS's (FACTS.md; amazon-ecs-cli issue
    # 1014); the host-mode text is the same sentence with host - unconfirmed.
    mode = _network_mode(arguments["network_mode"], arguments["requires_compatibilities"])
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
        fixed_health_check_port = tg.health_check_port not in (None, "traffic-port")
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


# -- 6. ECS service counts: the scheduler's numbers, as services_stable reads them --------------------------


def _install_service_counts() -> None:
    _wrap(EC2ContainerServiceBackend, "update_service", _update_service)
    _wrap(EC2ContainerServiceBackend, "describe_services", _describe_services)


def _update_service(original, self: EC2ContainerServiceBackend, service_properties: dict[str, Any]):
    # Why: moto sets runningCount = desiredCount on update, so services_stable would pass before a
    # task runs; on AWS the counts are what the scheduler achieved. Also checks the load balancers
    # as create_service does (ECS API UpdateService).
    service = self._get_service(
        service_properties.get("cluster", "default"), service_properties["service"].split("/")[-1]
    )
    new_load_balancers = service_properties.get("load_balancers")
    new_task_definition = service_properties.get("task_definition")
    if new_load_balancers is not None or new_task_definition is not None:
        _check_load_balancers(
            self,
            new_task_definition or service.task_definition,
            new_load_balancers if new_load_balancers is not None else service.load_balancers,
        )
    running, pending = service.running_count, service.pending_count
    service = original(self, service_properties)
    service.running_count, service.pending_count = running, pending
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
