"""Shared test set-up.

The notebooks (run by nbval in their own kernels) share one background sandbox per test run,
kept in a private state directory so a learner's own sandbox is never touched or reused.
"""

import os
import tempfile

import pytest

# `make test` passes its own directory so its second pass over the notebooks reuses the sandbox
# of the first (LAB_KEEP_SANDBOX=1 keeps it running between the two).
os.environ.setdefault("ECS_ALB_LAB_STATE_DIR", tempfile.mkdtemp(prefix="ecs-alb-lab-tests-"))  # inherited by nbval's kernels


def pytest_sessionfinish(session, exitstatus):
    from helpers.sandbox.launcher import stop_sandbox

    if os.environ.get("LAB_KEEP_SANDBOX") != "1":
        stop_sandbox()


@pytest.fixture
def sandbox():
    """A fresh in-process sandbox region for one test."""
    from helpers.sandbox.region import Sandbox

    with Sandbox() as region:
        yield region


@pytest.fixture(scope="module")
def region():
    """One in-process sandbox region shared by a test module's tests."""
    from helpers.sandbox.region import Sandbox

    with Sandbox() as shared:
        yield shared
