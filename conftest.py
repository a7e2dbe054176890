"""How a test run is set up (at the repository root, so it covers tests/ and notebooks/ alike).

The notebooks (run by nbval in their own kernels) share one background sandbox per test run,
kept in a private state directory so a learner's own sandbox is never touched or reused.

`make test` runs the suite on three pytest-xdist workers (`-n 3`). Most of a test's time is spent
waiting on the sandbox's clocks (health-check intervals, deregistration delays), not computing, so
three workers fit on two cores. `group_of` says what must run together on one worker:

- every notebook, in order, then tests/test_notebooks_run_twice.py (they share the session's sandbox);
- each learner edition alone (tests/test_learner_edition.py: a notebook and a sandbox of its own);
- any other test module whole (its module-scoped sandbox is built once).

(pytest-xdist's own `--dist loadgroup` marks cannot do this here: it renames test ids in a way
pytest 9.2 no longer honours, so the groups were silently ignored.)
"""

import os
import tempfile

import pytest

# One sandbox directory for the session; pytest-xdist's workers and nbval's kernels inherit it.
os.environ.setdefault("ECS_ALB_LAB_STATE_DIR", tempfile.mkdtemp(prefix="ecs-alb-lab-tests-"))

NOTEBOOKS = "notebooks"
SECOND_PASS = "tests/test_notebooks_run_twice.py"
ONE_GROUP_PER_TEST = {"tests/test_learner_edition.py"}

# The longest groups start first, so no worker is left alone with one of them at the end
# (seconds in a serial run on the 2-core CI machine; a group not named here comes after these).
LONGEST_FIRST = [
    NOTEBOOKS,  # ~540 s: the notebooks, then all of them again
    "tests/test_browser.py",  # ~135 s
    # The learner editions: 20-100 s each.
    *(f"tests/test_learner_edition.py::test_learner_edition_runs[{name}]" for name in (
        "08_deployments", "06_hardening", "02_port_mapping", "05_network_acls", "04_inbound_dynamic_ports",
        "09_awsvpc_and_fargate", "01_listener", "07_troubleshooting", "03_alb_to_ecs", "00_start_here")),
    "tests/test_many_sandboxes.py", "tests/test_load.py", "tests/test_faults_under_load.py", "tests/test_faults.py",
    "tests/test_ecs_off_path.py",
]


def group_of(nodeid: str) -> str:
    """The group a test belongs to: one worker runs a whole group, in collection order."""
    path = nodeid.split("::", 1)[0]
    if path.startswith(NOTEBOOKS + "/") or path == SECOND_PASS:
        return NOTEBOOKS
    if path in ONE_GROUP_PER_TEST:
        return nodeid
    return path


def pytest_collection_modifyitems(config, items):
    rank = {group: place for place, group in enumerate(LONGEST_FIRST)}
    # Stable, so the order inside a group is kept; in the notebooks' group the notebooks come
    # before the test that runs them all a second time.
    items.sort(key=lambda item: (rank.get(group_of(item.nodeid), len(rank)), item.nodeid.startswith(SECOND_PASS)))


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: without pytest-xdist it is never called
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling  # only under pytest-xdist

    class GroupScheduling(LoadScopeScheduling):
        """pytest-xdist's "loadscope", with `group_of` as the scope, in collection order."""

        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    config.option.loadscopereorder = False  # keep LONGEST_FIRST's order (loadscope would sort by size)
    return GroupScheduling(config, log)


def pytest_sessionfinish(session, exitstatus):
    from helpers.sandbox.launcher import stop_sandbox

    # Only the main process stops the session's sandbox: a worker that finishes early must not stop
    # it under the notebooks still running on another. LAB_KEEP_SANDBOX=1: an inner run (the
    # notebooks' second pass) leaves it to the session that started it.
    if os.environ.get("LAB_KEEP_SANDBOX") != "1" and not os.environ.get("PYTEST_XDIST_WORKER"):
        stop_sandbox()


def sandbox_log_tail(chars: int = 4000) -> str:
    """What the session's sandbox logged (its warnings and errors): the other half of a failure."""
    from helpers.sandbox.launcher import state_dir

    try:
        text = (state_dir() / "sandbox.log").read_text()
    except OSError as exc:
        return f"(no sandbox log: {exc})"
    return text[-chars:] or "(the sandbox logged nothing)"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    # A failed notebook cell (or the second pass) shows what the notebooks' sandbox logged.
    if report.failed and call.when == "call" and group_of(item.nodeid) == NOTEBOOKS:
        report.sections.append(("the notebooks' sandbox log", sandbox_log_tail()))
    return report
