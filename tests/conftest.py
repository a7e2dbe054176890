"""Shared test set-up.

The notebooks (run by nbval in their own kernels) share one background sandbox per test run,
kept in a private state directory so a learner's own sandbox is never touched or reused.
"""

import os
import tempfile

import pytest

_state_dir = tempfile.mkdtemp(prefix="ecs-alb-lab-tests-")
os.environ["ECS_ALB_LAB_STATE_DIR"] = _state_dir  # inherited by nbval's kernels


def pytest_sessionfinish(session, exitstatus):
    from helpers.sandbox.launcher import stop_sandbox

    stop_sandbox()


@pytest.fixture
def sandbox():
    """A fresh in-process sandbox region for one test."""
    from helpers.sandbox.region import Sandbox

    with Sandbox() as region:
        yield region
