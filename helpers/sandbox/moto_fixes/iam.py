"""IAM: AWS's managed policies, and the ECS service-linked role as AWS names and creates it."""

from __future__ import annotations

from moto import settings
from moto.ecs.models import EC2ContainerServiceBackend
from moto.iam import models as iam_models
from moto.iam.exceptions import NotFoundException

from helpers.facts import ECS_SERVICE_LINKED_ROLE, ECS_SERVICE_PRINCIPAL, ECS_SERVICE_ROLE_POLICY_ARN
from helpers.sandbox.moto_fixes._patching import wrap


def load_aws_managed_policies() -> None:
    # Why: every AWS account has AWS's managed policies (AmazonEC2ContainerServiceforEC2Role for
    # the ECS hosts' role, AmazonECSServiceRolePolicy for the service-linked role); moto loads
    # them only when asked. Read when IAM's backend is created, so set before the sandbox resets moto.
    settings.default_user_config.setdefault("iam", {})["load_aws_managed_policies"] = True


def install() -> None:
    # Why: moto names the role AWSServiceRoleForecs; AWS's is AWSServiceRoleForECS (ECS Developer
    # Guide, "Using service-linked roles for Amazon ECS"). moto derives the name from this table.
    iam_models.SERVICE_NAME_CONVERSION["ecs"] = "ECS"
    wrap(iam_models.IAMBackend, "create_service_linked_role", _attach_ecs_service_role_policy)
    wrap(iam_models.IAMBackend, "delete_service_linked_role", _with_its_managed_policies)
    wrap(EC2ContainerServiceBackend, "create_cluster", _with_ecs_service_linked_role)


def _attach_ecs_service_role_policy(original, self, service_name, *args, **kwargs):
    # Why: AWS's role carries AmazonECSServiceRolePolicy. moto knows that managed policy only when
    # MOTO_IAM_LOAD_MANAGED_POLICIES=true; otherwise attaching it would fail, so the role goes without.
    role = original(self, service_name, *args, **kwargs)
    if service_name == ECS_SERVICE_PRINCIPAL and ECS_SERVICE_ROLE_POLICY_ARN in self.managed_policies:
        self.attach_role_policy(ECS_SERVICE_ROLE_POLICY_ARN, role.name)
    return role


def _with_its_managed_policies(original, self, role_name, *args, **kwargs):
    # Why: a service-linked role's policies are the linked service's; IAM refuses to detach them
    # (UnmodifiableEntity) and DeleteServiceLinkedRole removes the role with them (IAM API
    # DeleteServiceLinkedRole). moto refused with DeleteConflict. On AWS the deletion task fails
    # while the service still uses the role; the sandbox deletes at once (docs/ARCHITECTURE.md).
    role = self.get_role(role_name)
    for policy_arn in list(role.managed_policies):
        self.detach_role_policy(policy_arn, role_name)
    return original(self, role_name, *args, **kwargs)


def _with_ecs_service_linked_role(original, self, *args, **kwargs):
    # Why: "When you call the CreateCluster API operation, Amazon ECS attempts to create the Amazon
    # ECS service-linked role for your account" (ECS API CreateCluster). CreateService makes no such
    # promise: without the role it fails when the service has a load balancer (moto_fixes/ecs.py).
    result = original(self, *args, **kwargs)
    iam = iam_models.iam_backends[self.account_id]["global"]
    try:
        iam.get_role(ECS_SERVICE_LINKED_ROLE)
    except NotFoundException:
        iam.create_service_linked_role(ECS_SERVICE_PRINCIPAL, description=None, suffix=None)
    return result

