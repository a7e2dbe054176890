"""ELBv2: targets keyed by (Id, Port) and driven by the target state machine (target_health.py);
health-check timeout defaults; AWS's listener, target group and load balancer checks."""

from __future__ import annotations

import time
from typing import Any

from moto.ec2.exceptions import InvalidSubnetIdError
from moto.elbv2.exceptions import (
    DuplicateListenerError,
    InvalidConfigurationRequest,
    InvalidTargetError,
    SubnetNotFoundError,
    TargetGroupNotFoundError,
    TargetNotRunning,
    ValidationError,
)
from moto.elbv2.models import ELBv2Backend, FakeTargetGroup

from helpers.facts import HEALTH_CHECK_TIMEOUT_DEFAULTS, PORT_MAX, PORT_MIN
from helpers.sandbox import target_health
from helpers.sandbox.moto_fixes._patching import check_before, wrap

_timescale = None  # the newest sandbox's time scale: it converts the deregistration delay


def use_timescale(timescale) -> None:
    global _timescale
    _timescale = timescale


def install() -> None:
    FakeTargetGroup.register = _register_targets
    FakeTargetGroup.deregister = _deregister_targets
    FakeTargetGroup.deregister_terminated_instances = _drain_terminated_instances
    ELBv2Backend.describe_target_health = _describe_target_health
    wrap(ELBv2Backend, "create_target_group", _health_check_timeout_defaults)
    check_before(ELBv2Backend, "create_listener", _listener_port_is_free)
    check_before(ELBv2Backend, "modify_listener", _listener_port_is_free)
    check_before(ELBv2Backend, "create_target_group", _target_group_port_in_range)
    check_before(ELBv2Backend, "create_load_balancer", _alb_spans_two_zones)


# -- targets: the records of target_health.py, keyed by (Id, Port) ----------------------------------


def find_target_group(ctx, arn: str) -> FakeTargetGroup | None:
    """The target group with this ARN in the sandbox's region, or None. Hold `ctx.lock`."""
    return ctx.elbv2().target_groups.get(arn)


def target_records(tg: FakeTargetGroup) -> list[dict[str, Any]]:
    """The target group's target records (the live dicts: change them only under `ctx.lock`)."""
    return list(tg.targets.values())


def _health_check_timeout_defaults(original, self, name, **kwargs):
    # Why: the current API model's defaults for HealthCheckTimeoutSeconds are HTTP 6 s, HTTPS 10 s
    # (ELBv2 API CreateTargetGroup); moto uses the older guide's 5 s for both.
    if kwargs.get("healthcheck_timeout_seconds") is None and kwargs.get("target_type") in (None, "instance", "ip"):
        protocol = kwargs.get("healthcheck_protocol") or kwargs.get("protocol")
        if protocol in HEALTH_CHECK_TIMEOUT_DEFAULTS:
            kwargs["healthcheck_timeout_seconds"] = HEALTH_CHECK_TIMEOUT_DEFAULTS[protocol]
    return original(self, name, **kwargs)


def _register_targets(self: FakeTargetGroup, targets: list[dict[str, Any]]) -> None:
    # Why: moto keys targets by Id (i-1:32769 replaced i-1:32768) and makes them healthy at once;
    # AWS keeps one registration per Id+Port, starting in `initial` (ELBv2 API RegisterTargets).
    for target in targets:  # moto's own check, kept: only running instances register
        instance = self.ec2_backend.get_instance_by_id(target["Id"])
        if instance is not None and instance.state != "running":
            raise TargetNotRunning(instance_id=target["Id"])
    now = time.monotonic()
    for target in targets:
        target_health.register(self.targets, target, default_port=self.port, now=now)


def _start_draining(tg: FakeTargetGroup, key: tuple[str, int]) -> None:
    real_delay = _timescale.real(target_health.deregistration_delay(tg.attributes))
    target_health.start_draining(tg.targets, key, real_delay=real_delay, now=time.monotonic())


def _deregister_targets(self: FakeTargetGroup, targets: list[dict[str, Any]]) -> None:
    # Why: a deregistered target drains first; an unknown one is AWS's InvalidTarget (ELBv2 API
    # DeregisterTargets). Checked for all targets before any changes, so a bad call changes nothing.
    keys = [target_health.target_key(target, self.port) for target in targets]
    if any(key not in self.targets for key in keys):
        raise InvalidTargetError()
    for key in keys:
        _start_draining(self, key)


def _drain_terminated_instances(self: FakeTargetGroup, instance_ids: list[str]) -> None:
    # Why: a terminated instance's registrations drain like a deregistration (moto kept a side list).
    for key in [key for key in self.targets if key[0] in instance_ids]:
        _start_draining(self, key)


def _describe(tg: FakeTargetGroup, record: dict[str, Any]) -> dict[str, Any]:
    return target_health.describe(record, target_health.health_check_port(tg.health_check_port, record["Port"]))


def _describe_unregistered(tg: FakeTargetGroup, target_id: str, port: int) -> dict[str, Any]:
    return target_health.describe_unregistered(
        target_id, port, target_health.health_check_port(tg.health_check_port, port))


def _describe_target_health(self: ELBv2Backend, target_group_arn: str, targets: list[dict[str, Any]]):
    # Why: render the target records; a target asked for by name that is not registered is
    # `unused` / Target.NotRegistered (ELBv2 API DescribeTargetHealth, TargetHealth).
    tg = self.target_groups.get(target_group_arn)
    if tg is None:
        raise TargetGroupNotFoundError()
    if not targets:
        return [_describe(tg, record) for record in tg.targets.values()]
    descriptions = []
    for target in targets:
        if "Port" in target:
            record = tg.targets.get(target_health.target_key(target, tg.port))
            descriptions.append(
                _describe(tg, record) if record else _describe_unregistered(tg, target["Id"], int(target["Port"])))
            continue
        # Without a Port: every registration of that Id (AWS's exact answer here is unconfirmed).
        records = [record for (target_id, _), record in tg.targets.items() if target_id == target["Id"]]
        descriptions += [_describe(tg, record) for record in records] or [
            _describe_unregistered(tg, target["Id"], int(tg.port))
        ]
    return descriptions

# -- validations AWS does and moto lacks ----------------------------------------------------------


def _check_port(port: Any) -> None:
    # Why: ports are 1-65535 (botocore elbv2 model, shape Port); boto3 checks only the minimum.
    # The text follows AWS's generic model-constraint message; its exact wording for Port is unconfirmed.
    if port is not None and not PORT_MIN <= int(port) <= PORT_MAX:
        bound = f"greater than or equal to {PORT_MIN}" if int(port) < PORT_MIN else f"less than or equal to {PORT_MAX}"
        raise ValidationError(
            f"1 validation error detected: Value '{port}' at 'port' failed to satisfy constraint: "
            f"Member must have value {bound}"
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

