"""A notebook starts the sandbox in the background once and every later notebook reuses it."""

import pytest

from helpers.sandbox import launcher


@pytest.fixture
def own_state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(launcher.STATE_DIR_ENV, str(tmp_path))
    yield tmp_path
    launcher.stop_sandbox()


def test_ensure_sandbox_starts_once_and_is_reused(own_state_dir):
    first = launcher.ensure_sandbox()
    again = launcher.ensure_sandbox()
    assert again.pid == first.pid and again.endpoint_url == first.endpoint_url
    assert first.clients().ecs.list_clusters()["clusterArns"] == []
    assert launcher.stop_sandbox() is True
    assert launcher.running_sandbox() is None


def test_a_dead_sandbox_is_replaced(own_state_dir):
    first = launcher.ensure_sandbox()
    launcher.stop_sandbox()
    second = launcher.ensure_sandbox()
    assert second.pid != first.pid
