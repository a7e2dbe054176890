"""Real processes for the containers of running ECS tasks.

On AWS, the ECS agent asks Docker to run a task's container and publish `hostPort` on the
instance. Here every task's container is one process (`helpers.sandbox.container_app`), a real
HTTP server on a free loopback port that stands for `instance:hostPort -> container:8081`.
The ALB emulation asks `endpoint(instance_id, host_port)` where to connect.

The scheduler starts and stops these processes; `kill()` is a real fault (SIGKILL), which the
scheduler notices as "Essential container in task exited".
"""

from __future__ import annotations

import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("helpers.sandbox.containers")

# A process that has not said where it listens within this many seconds is broken.
START_TIMEOUT = 10.0
# How long a container gets to exit after SIGTERM before SIGKILL (Docker's `stop` does the same).
STOP_GRACE = 2.0
# The directory that holds the `helpers` package, so the child imports the same code.
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


class PortAlreadyAllocated(RuntimeError):
    """Two containers cannot publish the same host port on one instance (Docker refuses too)."""


@dataclass
class Container:
    task_arn: str
    task_id: str
    instance_id: str
    host_port: int
    container_port: int
    container_name: str
    host: str
    port: int
    process: subprocess.Popen
    interface_id: str = ""  # an awsvpc task's own ENI (its instance_id is then the task's IP)

    @property
    def reached_as(self) -> str:
        """What a connection names to reach it: the ENI of an awsvpc task (its IP is unique only
        within its VPC, sandbox/addresses.py), else the instance."""
        return self.interface_id or self.instance_id

    def alive(self) -> bool:
        return self.process.poll() is None  # poll() also reaps a process that died

    def describe(self) -> dict:
        return {
            "task_arn": self.task_arn,
            "task_id": self.task_id,
            "instance_id": self.instance_id,
            "host_port": self.host_port,
            "container_port": self.container_port,
            "container_name": self.container_name,
            "endpoint": f"{self.host}:{self.port}",
            "pid": self.process.pid,
            "alive": self.alive(),
        }


def docker_exit_code(returncode: int | None) -> int | None:
    """Docker reports a container killed by signal N as exit code 128+N (SIGKILL -> 137)."""
    if returncode is None:
        return None
    return 128 - returncode if returncode < 0 else returncode


class ContainerRuntime:
    """One HTTP server process per task. Thread-safe; processes are spawned outside the lock."""

    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self._lock = threading.Lock()
        self._containers: dict[str, Container] = {}

    # `start()`/`stop()` without arguments are the component lifecycle (see region.py); with a
    # task ARN they start/stop that task's container (docs/ARCHITECTURE.md, "Containers").
    def start(self, task_arn: str | None = None, *, task_id: str = "", instance_id: str = "",
              host_port: int = 0, container_port: int = 0, container_name: str = "app",
              interface_id: str = "") -> tuple[str, int] | None:
        """Run the task's container; return the loopback (host, port) that serves `instance:host_port`.
        An awsvpc task names its own ENI as `interface_id` and its IP as `instance_id`."""
        if task_arn is None:
            return None  # the component: nothing runs until the scheduler starts a task
        with self._lock:
            if task_arn in self._containers:
                raise ValueError(f"task {task_id} already has a container")
            self._check_port_free(interface_id or instance_id, host_port)
        process = subprocess.Popen(
            [sys.executable, "-m", "helpers.sandbox.container_app", "--task-id", task_id,
             "--instance-id", instance_id, "--host-port", str(host_port),
             "--container-port", str(container_port), "--container-name", container_name],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=PACKAGE_ROOT, env=self._child_env(), close_fds=True,
        )
        try:
            port = self._read_listening_port(process)
        except BaseException:
            self._end(process)
            raise
        container = Container(task_arn, task_id, instance_id, host_port, container_port, container_name,
                              "127.0.0.1", port, process, interface_id)
        with self._lock:
            try:
                self._check_port_free(container.reached_as, host_port)
            except PortAlreadyAllocated:
                self._end(process)
                raise
            self._containers[task_arn] = container
        return container.host, container.port

    def stop(self, task_arn: str | None = None) -> int | None:
        """Stop the task's container (SIGTERM, then SIGKILL after a grace period), reap and forget it;
        return its exit code as Docker reports it (None if there was no such container).
        Without a task ARN (the component stopping): stop every container."""
        if task_arn is None:
            self.stop_all()
            return None
        with self._lock:
            container = self._containers.pop(task_arn, None)
        if container is None:
            return None
        self._end(container.process)
        return docker_exit_code(container.process.returncode)

    def kill(self, task_arn: str) -> bool:
        """SIGKILL the container and reap it, but remember it: the scheduler must notice the death."""
        with self._lock:
            container = self._containers.get(task_arn)
        if container is None:
            return False
        if container.alive():
            container.process.send_signal(signal.SIGKILL)
            container.process.wait()
        return True

    def kill_task_id(self, task_id: str) -> bool:
        """`kill()` by the short task id (what a learner copies from the console)."""
        with self._lock:
            arn = next((c.task_arn for c in self._containers.values() if c.task_id == task_id), None)
        return arn is not None and self.kill(arn)

    def is_alive(self, task_arn: str) -> bool:
        with self._lock:
            container = self._containers.get(task_arn)
        return container is not None and container.alive()

    def exit_code(self, task_arn: str) -> int | None:
        """The container's exit code as Docker reports it, or None while it runs (or is unknown)."""
        with self._lock:
            container = self._containers.get(task_arn)
        if container is None or container.alive():
            return None
        return docker_exit_code(container.process.returncode)

    def endpoint(self, holder_id: str, host_port: int) -> tuple[str, int] | None:
        """What listens on `holder_id:host_port` - an instance id, or an awsvpc task's ENI id - or
        None (a connection there would be refused)."""
        with self._lock:
            for container in self._containers.values():
                if container.reached_as == holder_id and container.host_port == host_port and container.alive():
                    return container.host, container.port
        return None

    def describe(self) -> list[dict]:
        with self._lock:
            containers = list(self._containers.values())
        return [c.describe() for c in sorted(containers, key=lambda c: (c.instance_id, c.host_port))]

    def reset(self) -> None:
        self.stop_all()

    def stop_all(self) -> None:
        with self._lock:
            containers = list(self._containers.values())
            self._containers.clear()
        for container in containers:
            self._end(container.process)

    # -- helpers ---------------------------------------------------------------------------------
    def _check_port_free(self, holder_id: str, host_port: int) -> None:
        for other in self._containers.values():
            if other.reached_as == holder_id and other.host_port == host_port and other.alive():
                raise PortAlreadyAllocated(f"{other.instance_id}:{host_port} is already published by task {other.task_id}")

    @staticmethod
    def _child_env() -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    @staticmethod
    def _read_listening_port(process: subprocess.Popen) -> int:
        deadline = time.monotonic() + START_TIMEOUT
        line = b""
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(f"container process {process.pid} did not report its port within {START_TIMEOUT} s")
            ready, _, _ = select.select([process.stdout], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(process.stdout.fileno(), 256)
            if not chunk:  # EOF: the process exited before it served
                process.wait()
                error = process.stderr.read().decode(errors="replace").strip()
                raise RuntimeError(f"container process exited with code {process.returncode}: {error[-500:]}")
            line += chunk
        word, _, port = line.decode().strip().partition(" ")
        if word != "LISTENING" or not port.isdigit():
            raise RuntimeError(f"container process said {line!r}, expected 'LISTENING <port>'")
        # The child writes nothing more; close our reading ends so no pipe can fill up.
        process.stdout.close()
        process.stderr.close()
        return int(port)

    @staticmethod
    def _end(process: subprocess.Popen) -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None and not stream.closed:
                stream.close()
