"""Fixtures shared by the tests. How a run is set up (the session's sandbox, the pytest-xdist
groups) is in the repository's root conftest.py: it covers the notebooks too."""

import pytest


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
