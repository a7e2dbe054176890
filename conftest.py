"""How a test run is set up (at the repository root, so it covers tests/ and notebooks/ alike).

The notebooks (run by nbval in their own kernels) run in sandboxes of the test run's own, kept in
a private state directory so a learner's own sandbox is never touched or reused.

`make test` runs the suite on three pytest-xdist workers (`-n 3`). Most of a test's time is spent
waiting on the sandbox's clocks (health-check intervals, deregistration delays), not computing, so
three workers fit on two cores. `group_of` says what must run together on one worker:

- the notebooks in two halves (NOTEBOOK_HALVES): each half in order, in a sandbox of its own,
  then all of its notebooks again in that sandbox (tests/test_notebooks_run_twice.py). One
  sandbox for all ten took longer than the whole rest of the suite;
- each learner edition alone (tests/test_learner_edition.py: a notebook and a sandbox of its own);
- any other test module whole (its module-scoped sandbox is built once).

(pytest-xdist's own `--dist loadgroup` marks cannot do this here: it renames test ids in a way
pytest 9.2 no longer honours, so the groups were silently ignored.)
"""

import os
import tempfile
from pathlib import Path

import pytest

STATE_DIR_ENV = "ECS_ALB_LAB_STATE_DIR"  # as in helpers.sandbox.launcher (importing it takes boto3: 0.3 s)
# The session's directory; pytest-xdist's workers inherit it, each notebook half has a sandbox below it.
SESSION_DIR = os.environ.setdefault(STATE_DIR_ENV, tempfile.mkdtemp(prefix="ecs-alb-lab-tests-"))

NOTEBOOKS = "notebooks"
SECOND_PASS = "tests/test_notebooks_run_twice.py"
ONE_GROUP_PER_TEST = {"tests/test_learner_edition.py"}
# About the same running time each (a notebook's number not listed goes to the last half).
NOTEBOOK_HALVES = {"notebooks-1": ("00", "01", "02", "03", "04", "06"), "notebooks-2": ("05", "07", "08", "09")}

# The longest groups start first, so no worker is left alone with one of them at the end
# (seconds in a serial run on the 2-core CI machine; a group not named here comes after these).
LONGEST_FIRST = [
    *NOTEBOOK_HALVES,  # ~300 s each: the notebooks, then all of them again
    "tests/test_browser.py",  # ~135 s
    # The learner editions: 20-100 s each.
    *(f"tests/test_learner_edition.py::test_learner_edition_runs[{name}]" for name in (
        "08_deployments", "06_hardening", "02_port_mapping", "05_network_acls", "04_inbound_dynamic_ports",
        "09_awsvpc_and_fargate", "01_listener", "07_troubleshooting", "03_alb_to_ecs", "00_start_here")),
    "tests/test_many_sandboxes.py", "tests/test_load.py", "tests/test_faults_under_load.py", "tests/test_faults.py",
    "tests/test_ecs_off_path.py",
]


def notebook_half(filename: str) -> str:
    """"05_network_acls.ipynb" -> "notebooks-2"."""
    return next((half for half, numbers in NOTEBOOK_HALVES.items() if filename[:2] in numbers), [*NOTEBOOK_HALVES][-1])


def half_state_dir(half: str) -> str:
    return os.path.join(SESSION_DIR, half)


def group_of(nodeid: str) -> str:
    """The group a test belongs to: one worker runs a whole group, in collection order."""
    path = nodeid.split("::", 1)[0]
    if path.startswith(NOTEBOOKS + "/"):
        return notebook_half(path.rsplit("/", 1)[-1])
    if path == SECOND_PASS:
        return nodeid.rsplit("[", 1)[-1].rstrip("]")  # parametrized by half
    if path in ONE_GROUP_PER_TEST:
        return nodeid
    return path


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    """A notebook's kernel (started by nbval as its first cell is set up) gets its half's sandbox."""
    if item.path.suffix != ".ipynb":
        return (yield)
    os.environ[STATE_DIR_ENV] = half_state_dir(notebook_half(item.path.name))
    try:
        return (yield)
    finally:
        os.environ[STATE_DIR_ENV] = SESSION_DIR


def pytest_generate_tests(metafunc):
    if "notebook_half" in metafunc.fixturenames:
        metafunc.parametrize("notebook_half", list(NOTEBOOK_HALVES))


@pytest.fixture
def half_notebooks(notebook_half) -> tuple[list, dict]:
    """The notebooks of one half, and an environment whose sandbox is that half's."""
    paths = sorted(p for p in (Path(__file__).parent / NOTEBOOKS).glob("*.ipynb") if notebook_half(p.name) == notebook_half)
    return paths, {**os.environ, STATE_DIR_ENV: half_state_dir(notebook_half)}


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

    # Only the main process stops the sandboxes: a worker that finishes early must not stop one
    # under the notebooks still running on another. LAB_KEEP_SANDBOX=1: an inner run (the
    # notebooks' second pass) leaves them to the session that started it.
    if os.environ.get("LAB_KEEP_SANDBOX") == "1" or os.environ.get("PYTEST_XDIST_WORKER"):
        return
    for state_dir in (SESSION_DIR, *map(half_state_dir, NOTEBOOK_HALVES)):
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(STATE_DIR_ENV, state_dir)
            stop_sandbox()
