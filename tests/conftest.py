"""Shared test set-up.

The notebooks (run by nbval in their own kernels) share one background sandbox per test run,
kept in a private state directory so a learner's own sandbox is never touched or reused.

`make test` runs the suite on several pytest-xdist workers (`-n 3 --dist loadgroup`). Most of a
test's time is spent waiting on the sandbox's clocks (health-check intervals, deregistration
delays), not computing, so three workers fit on two cores. Each test module runs whole on one
worker (its module-scoped sandbox is built once), every notebook runs on one worker in order (they
share the session's sandbox), and a test may name a group of its own (`xdist_group`).
"""

import os
import tempfile

import pytest

# One sandbox directory for the session; pytest-xdist's workers and nbval's kernels inherit it.
os.environ.setdefault("ECS_ALB_LAB_STATE_DIR", tempfile.mkdtemp(prefix="ecs-alb-lab-tests-"))  # inherited by nbval's kernels

NOTEBOOKS = "notebooks"
# The longest groups start first, so no worker is left alone with one of them at the end
# (seconds in a serial run on the 2-core CI machine; a group not named here comes after these).
LONGEST_FIRST = [
    NOTEBOOKS,  # ~540 s, one group: the notebooks share the session's sandbox, and then run again
    "test_browser",  # ~135 s
    # Each learner edition is a group of its own (tests/test_learner_edition.py): 40-100 s each.
    "learner-08_deployments", "learner-06_hardening", "learner-09_awsvpc_and_fargate",
    "learner-04_inbound_dynamic_ports", "learner-07_troubleshooting", "learner-05_network_acls",
    "test_many_sandboxes", "test_load", "test_faults_under_load", "test_faults", "test_ecs_off_path",
]


def _group(item: pytest.Item) -> str:
    marked = item.get_closest_marker("xdist_group")
    if marked:
        return marked.args[0]
    return NOTEBOOKS if item.path.suffix == ".ipynb" else item.path.stem


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config, items):
    for item in items:
        if not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(_group(item)))
    rank = {group: place for place, group in enumerate(LONGEST_FIRST)}
    # Stable, so the order inside a group is kept; in the notebooks' group the notebooks come
    # before the test that runs them all a second time (tests/test_notebooks_run_twice.py).
    items.sort(key=lambda item: (rank.get(_group(item), len(rank)), item.path.suffix != ".ipynb"))


def pytest_sessionfinish(session, exitstatus):
    from helpers.sandbox.launcher import stop_sandbox

    # Only the main process stops the session's sandbox: a worker that finishes early must not stop
    # it under the notebooks still running on another. LAB_KEEP_SANDBOX=1: an inner run (the
    # notebooks' second pass) leaves it to the session that started it.
    if os.environ.get("LAB_KEEP_SANDBOX") != "1" and not os.environ.get("PYTEST_XDIST_WORKER"):
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
