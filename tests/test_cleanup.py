"""Cleanup finds everything the project tagged and deletes it, even after a half-finished build."""

import pytest

from helpers.cleanup import cleanup, remaining
from helpers.stack import BUILD_STEPS, Stack, StackSpec, build_stack


def test_cleanup_deletes_one_stack_and_leaves_the_other(sandbox):
    clients = sandbox.clients()
    build_stack(clients, StackSpec(name="one"))
    build_stack(clients, StackSpec(name="two"))
    assert remaining(clients, "one")
    report = cleanup(clients, "one")
    assert report.failed == []
    assert remaining(clients, "one") == []
    assert any(item.startswith("vpc ") for item in remaining(clients, "two"))
    assert cleanup(clients, "one").deleted == []  # idempotent


@pytest.mark.parametrize("failing_step", range(1, len(BUILD_STEPS) + 1))
def test_cleanup_after_a_build_that_failed_half_way(sandbox, failing_step):
    """Build the first steps, fail, clean up: nothing tagged may remain."""
    clients = sandbox.clients()
    stack = Stack(spec=StackSpec(name="half"))
    for step in BUILD_STEPS[:failing_step]:
        step(clients, stack)
    assert remaining(clients), "the partial build should have left something to clean"
    report = cleanup(clients)
    assert report.failed == []
    assert remaining(clients) == []
