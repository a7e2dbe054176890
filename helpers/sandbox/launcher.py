"""Start the sandbox in the background for a notebook, or reuse the one already running.

A learner opens several notebooks; they all share one sandbox process, found through a small
state file. Thirty learners on one JupyterHub host each get their own: the state file lives
in the user's own cache directory and every port is picked free by the OS.

    info = ensure_sandbox()      # start or reuse; returns endpoint_url, socks_proxy, ...
    info.clients().ecs.list_clusters()
    stop_sandbox()
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from helpers.backend import Clients
from helpers.sandbox.idle import idle_minutes_setting, process_alive

STATE_DIR_ENV = "ECS_ALB_LAB_STATE_DIR"
START_TIMEOUT = 60.0


@dataclass(frozen=True)
class SandboxInfo:
    """How to reach a running sandbox (what its ready line said)."""

    endpoint_url: str
    socks_proxy: str
    region: str
    account_id: str
    time_scale: float
    pid: int
    extra: dict = field(default_factory=dict, compare=False)

    @classmethod
    def from_ready_line(cls, data: dict, pid: int) -> "SandboxInfo":
        known = {"endpoint_url", "socks_proxy", "region", "account_id", "time_scale"}
        return cls(pid=pid, extra={k: v for k, v in data.items() if k not in known},
                   **{k: data[k] for k in known})

    def clients(self) -> Clients:
        return Clients(endpoint_url=self.endpoint_url, region=self.region)


def state_dir() -> Path:
    path = Path(os.environ.get(STATE_DIR_ENV) or Path.home() / ".cache" / "ecs-alb-lab")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _answers(endpoint_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint_url}/_sandbox/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def running_sandbox() -> SandboxInfo | None:
    """The sandbox this user already runs, if it is alive and answering."""
    path = state_dir() / "sandbox.json"
    try:
        data = json.loads(path.read_text())
        info = SandboxInfo.from_ready_line(data["ready"], data["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if process_alive(info.pid) and _answers(info.endpoint_url):
        return info
    return None


@contextlib.contextmanager
def _state_lock():
    # Two notebooks starting at the same moment must not start two sandboxes.
    with open(state_dir() / "sandbox.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_sandbox(*, time_scale: float | None = None, timeout: float = START_TIMEOUT) -> SandboxInfo:
    """Reuse the running sandbox, or start one in the background and wait until it is ready.
    Either way this process is registered as a user of it: while it lives, the sandbox stays;
    once every user is gone it ends after its idle timeout (idle.py)."""
    with _state_lock():
        info = running_sandbox()
        if info is None:
            info = _start_background(time_scale=time_scale, timeout=timeout)
        _register_client(info, os.getpid())
        return info


def _register_client(info: SandboxInfo, pid: int) -> None:
    request = urllib.request.Request(f"{info.endpoint_url}/_sandbox/clients", data=json.dumps({"pid": pid}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


def _start_background(*, time_scale: float | None, timeout: float) -> SandboxInfo:
    directory = state_dir()
    ready_path, log_path = directory / "sandbox.ready", directory / "sandbox.log"
    ready_path.unlink(missing_ok=True)
    command = [sys.executable, "-m", "helpers", "sandbox"]
    if time_scale is not None:
        command += ["--time-scale", str(time_scale)]
    idle_minutes = idle_minutes_setting()
    if idle_minutes is not None:  # started for notebooks: it ends once no one uses it (idle.py)
        command += ["--idle-minutes", str(idle_minutes)]
    with open(ready_path, "w") as stdout, open(log_path, "w") as stderr:
        # A new session: the sandbox outlives the kernel that started it, and is reused.
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = ready_path.read_text().strip()
        if line:
            ready = json.loads(line.splitlines()[0])
            (directory / "sandbox.json").write_text(json.dumps({"pid": process.pid, "ready": ready}))
            return SandboxInfo.from_ready_line(ready, process.pid)
        if process.poll() is not None:
            raise RuntimeError(f"the sandbox exited during start-up (code {process.returncode}); "
                               f"its log says:\n{log_path.read_text()[-2000:]}")
        time.sleep(0.05)
    process.terminate()
    raise TimeoutError(f"the sandbox was not ready within {timeout:.0f} s; see {log_path}")


def stop_sandbox(timeout: float = 10.0) -> bool:
    """Stop this user's background sandbox. Returns False when none was running."""
    path = state_dir() / "sandbox.json"
    try:
        pid = json.loads(path.read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return False
    path.unlink(missing_ok=True)
    if not process_alive(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process_alive(pid):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    if process_alive(pid):
        os.kill(pid, signal.SIGKILL)
    return True
