"""Small corrections to moto 5.2.5 so the sandbox's API answers as AWS does.

moto stores what you send and acts on little (`../shared/MOTO.md`). Each fix is one small, named
function installed on a moto class, with a one-line *why* and the AWS source it follows, in one
module per service, as moto lays out its own backends:

    elbv2   targets keyed by (Id, Port), run by the target state machine (sandbox/target_health.py);
            health-check timeout defaults; listener, target group and load balancer checks
    ecs     the scheduler owns lastStatus; StopTask, ListTasks, container task ARNs; task definition
            and service load-balancer checks; service counts
    ecs_placement  services keep placementStrategy / placementConstraints, checked
    ec2     security group rules matched without their description; network ACLs' `*` rule and checks
    iam     AWS's managed policies; the ECS service-linked role

`apply(ctx)` installs them once per process (moto's classes are shared by every sandbox) and
remembers the newest context's time scale.

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

from helpers.sandbox.moto_fixes import ec2, ecs, ecs_placement, elbv2, iam
from helpers.sandbox.moto_fixes.elbv2 import find_target_group, target_records

__all__ = ["apply", "find_target_group", "target_records"]

_installed = False


def apply(ctx) -> None:
    """Install every fix (once per process); later calls only switch to the newer context."""
    global _installed
    elbv2.use_timescale(ctx.timescale)
    ecs.use_context(ctx)
    iam.load_aws_managed_policies()
    if _installed:
        return
    elbv2.install()
    iam.install()  # before ecs: ECS's checks on CreateService run before the role is created
    ec2.install()
    ecs.install()
    ecs_placement.install()
    _installed = True
