"""The AWS CLI, unchanged, works against the sandbox and sees what boto3 sees."""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path


def test_aws_cli_sees_what_boto3_sees():
    """Pointed at the sandbox by `sandbox --env`'s exports, it reads the tasks' host ports and targets."""
    aws = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")
    assert aws, "the AWS CLI (awscli, a test extra) is not installed"
    process = subprocess.Popen([sys.executable, "-m", "helpers", "sandbox", "--stack", "seed", "--env"],
                               stdout=subprocess.PIPE, text=True)
    try:
        exports = dict(process.stdout.readline().strip().removeprefix("export ").split("=", 1) for _ in range(7))
        env = {**os.environ, **exports}

        def cli(*args):
            return json.loads(subprocess.run([aws, *args, "--output", "json"], env=env, capture_output=True,
                                             text=True, check=True, timeout=60).stdout)

        arns = cli("ecs", "list-tasks", "--cluster", "lab-cluster")["taskArns"]
        tasks = cli("ecs", "describe-tasks", "--cluster", "lab-cluster", "--tasks", *arns)["tasks"]
        ports = sorted(b["hostPort"] for t in tasks for c in t["containers"] for b in c["networkBindings"])
        assert len(ports) == 3 and all(32768 <= p <= 60999 for p in ports)
        group = cli("elbv2", "describe-target-groups", "--names", "lab-tg")["TargetGroups"][0]["TargetGroupArn"]
        health = cli("elbv2", "describe-target-health", "--target-group-arn", group)["TargetHealthDescriptions"]
        assert sorted(h["Target"]["Port"] for h in health) == ports
        assert {h["TargetHealth"]["State"] for h in health} == {"healthy"}
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
