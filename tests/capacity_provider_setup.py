"""An Auto Scaling group capacity provider, built through plain boto3 for the tests that check
the sandbox refuses to run it (test_fargate.py, test_standalone_tasks.py)."""

from __future__ import annotations

from helpers.stack import ECS_AMI_PARAMETER


def asg_provider(clients, stack, name):
    """A capacity provider backed by an Auto Scaling group (the sandbox does not run these)."""
    autoscaling = clients.client("autoscaling")
    image_id = clients.ssm.get_parameter(Name=ECS_AMI_PARAMETER)["Parameter"]["Value"]
    autoscaling.create_launch_configuration(LaunchConfigurationName=name, ImageId=image_id, InstanceType="t3.small")
    autoscaling.create_auto_scaling_group(AutoScalingGroupName=name, LaunchConfigurationName=name, MinSize=0,
                                          MaxSize=0, VPCZoneIdentifier=stack.private_subnet_ids[0])
    (group,) = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
    clients.ecs.create_capacity_provider(name=name, autoScalingGroupProvider={
        "autoScalingGroupArn": group["AutoScalingGroupARN"]})
    return name
