"""A sandbox that a notebook started ends itself once no one uses it (helpers/sandbox/idle.py):
a killed kernel does not leave it running for ever. It ends as SIGTERM ends it - no container
process, no open port left - and the next start gets a new sandbox."""

from __future__ import annotations

import subprocess
import sys
from urllib.parse import urlsplit

import httpx
import pytest

from helpers.sandbox import launcher
from helpers.sandbox.idle import DEFAULT_IDLE_MINUTES, IDLE_MINUTES_ENV, idle_minutes_setting
from helpers.stack import StackSpec, build_stack
from helpers.waiters import first_value, wait_until
from sandbox_process import terminate
from test_shutdown import accepts, alive, descendants

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

IDLE_MINUTES = 0.05  # 3 s, so the test does not wait for long

# A notebook kernel: it starts (or reuses) the background sandbox as Lab.start() does, then works
# until it is killed.
KERNEL = """
import sys
from helpers.sandbox.launcher import ensure_sandbox
info = ensure_sandbox()
print(info.pid, info.endpoint_url, info.socks_proxy, flush=True)
sys.stdin.read()
"""


def test_a_killed_kernels_sandbox_ends_itself_and_the_next_start_gets_a_new_one(tmp_path, monkeypatch):
    monkeypatch.setenv(launcher.STATE_DIR_ENV, str(tmp_path))
    monkeypatch.setenv(IDLE_MINUTES_ENV, str(IDLE_MINUTES))
    kernel = subprocess.Popen([sys.executable, "-c", KERNEL], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        sandbox_pid, endpoint_url, socks_proxy = kernel.stdout.readline().split()
        sandbox_pid = int(sandbox_pid)
        info = launcher.running_sandbox()
        assert info is not None and info.pid == sandbox_pid
        build_stack(info.clients(), StackSpec(name="idle", desired_count=1))
        containers = first_value(lambda: httpx.get(f"{endpoint_url}/_sandbox/containers", timeout=10).json() or None,
                                 timeout=60, what="the task's container")
        ports = {urlsplit(endpoint_url).port, urlsplit(socks_proxy).port}
        ports |= {int(container["endpoint"].rsplit(":", 1)[1]) for container in containers}
        children = descendants(sandbox_pid)
        assert {container["pid"] for container in containers} <= children

        # While the kernel lives, the sandbox is in use, however long the learner reads.
        usage = httpx.get(f"{endpoint_url}/_sandbox/usage", timeout=10).json()
        assert usage["clients"] == [kernel.pid] and usage["idle_seconds"] == 0

        kernel.kill()  # the kernel dies without a word
        kernel.wait()
        wait_until(lambda: (not alive(sandbox_pid), "running"), what="the idle sandbox to end", timeout=120,
                   progress=False)
    finally:
        terminate(kernel)
        kernel.stdout.close()

    def nothing_left() -> tuple[bool, str]:
        running = sorted(pid for pid in children if alive(pid))
        listening = sorted(port for port in ports if accepts(port))
        return not running and not listening, f"processes {running}, ports {listening}"

    wait_until(nothing_left, what="the sandbox's processes and ports to go", timeout=10, progress=False)
    assert "no one has used the sandbox" in (tmp_path / "sandbox.log").read_text()

    again = launcher.ensure_sandbox()  # the next Lab.start(): a new sandbox, transparently
    try:
        assert again.pid != sandbox_pid and again.clients().ecs.list_clusters()["clusterArns"] == []
    finally:
        launcher.stop_sandbox()


def test_the_idle_timeout_setting_and_bad_values_named(monkeypatch):
    monkeypatch.delenv(IDLE_MINUTES_ENV, raising=False)
    assert idle_minutes_setting() == DEFAULT_IDLE_MINUTES
    monkeypatch.setenv(IDLE_MINUTES_ENV, "2.5")
    assert idle_minutes_setting() == 2.5
    monkeypatch.setenv(IDLE_MINUTES_ENV, "0")
    assert idle_minutes_setting() is None  # 0: never end by itself
    for bad in ("soon", "-1"):
        monkeypatch.setenv(IDLE_MINUTES_ENV, bad)
        with pytest.raises(ValueError, match="minutes >= 0"):
            idle_minutes_setting()
