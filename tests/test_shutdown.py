"""Stopping the sandbox (`python -m helpers sandbox`) with SIGTERM (what `stop_sandbox` and
service managers send) or SIGINT (Ctrl+C in its terminal) leaves nothing behind: no container
process, no open port."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from helpers.waiters import wait_until
from sandbox_process import seed_sandbox

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def descendants(pid: int) -> set[int]:
    """Every living process below `pid` (from /proc; zombies count as gone)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "(command name)"
        except OSError:  # the process ended while we read
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def started_in(state_dir: Path) -> set[int]:
    """Living processes whose environment names `state_dir` as their sandbox's: the sandbox and
    everything it started (containers inherit its environment), recorded or not."""
    marker = f"ECS_ALB_LAB_STATE_DIR={state_dir}".encode()
    found = set()
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker in environ.read_bytes().split(b"\0") and alive(int(environ.parent.name)):
                found.add(int(environ.parent.name))
        except OSError:  # ended while we read, or not ours to read
            continue
    return found


def listening_ports(pids: set[int]) -> set[int]:
    """The TCP ports these processes listen on (/proc/net/tcp: state 0A is LISTEN)."""
    inodes = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":
                inodes[fields[9]] = int(fields[1].rsplit(":", 1)[1], 16)
    ports = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").glob("*"):
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                ports.add(inodes[target[8:-1]])
    return ports


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_sandbox_and_everything_it_started(tmp_path, signum):
    with seed_sandbox(tmp_path) as (process, ready):
        containers = httpx.get(f"{ready['endpoint_url']}/_sandbox/containers", timeout=10).json()
        assert len(containers) == 3, containers  # the seed stack's three tasks
        ports = {urlsplit(ready["endpoint_url"]).port, urlsplit(ready["socks_proxy"]).port}
        ports |= {int(container["endpoint"].rsplit(":", 1)[1]) for container in containers}
        children = descendants(process.pid)
        assert {container["pid"] for container in containers} <= children
        assert all(accepts(port) for port in ports)
        ours = started_in(tmp_path)
        assert {process.pid} | {container["pid"] for container in containers} <= ours, \
            "the sandbox and its containers carry its state dir"
        assert ports <= listening_ports(ours)

        process.send_signal(signum)
        assert process.wait(timeout=60) == 0  # a clean stop, not a traceback or a kill

    # Ports are checked by who holds them, not by whether they accept: another test running at the
    # same time (pytest-xdist) may get a port number just given back.
    def nothing_left() -> tuple[bool, str]:
        running = sorted(started_in(tmp_path) | {pid for pid in children if alive(pid)})
        listening = sorted(listening_ports(set(running)))
        return not running and not listening, f"processes {running}, ports {listening}"

    wait_until(nothing_left, what="the sandbox's processes and ports to go", timeout=10, progress=False)
