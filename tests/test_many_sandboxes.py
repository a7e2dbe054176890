"""A workshop on one shared host: 20 sandboxes at once work independently.

Each learner's sandbox is its own process with its own state dir and HOME; every port is picked
free by the OS, and each region holds only what its own learner made. SIGTERM stops a sandbox
and everything it started.
"""

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest

from helpers.backend import SANDBOX_CREDENTIALS, Clients

SANDBOXES = 20
WAVE = 5  # started in waves: 20 interpreters importing moto at once on 2 cores mostly wait for each other
READY_TIMEOUT = 90

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")]


def _process_groups() -> dict[int, int]:
    """pid -> process group of every process on the machine."""
    groups = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it ended while we looked
        groups[int(stat.parent.name)] = int(fields[2])
    return groups


def _start(home: Path) -> subprocess.Popen:
    (home / "state").mkdir(parents=True)
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(HOME=str(home), ECS_ALB_LAB_STATE_DIR=str(home / "state"))
    # A session of its own: the sandbox and everything it starts share one process group to look for.
    return subprocess.Popen([sys.executable, "-m", "helpers", "sandbox"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env, start_new_session=True)


def _ready_lines(processes: list[subprocess.Popen], timeout: float) -> dict[int, dict]:
    selector, ready = selectors.DefaultSelector(), {}
    for process in processes:
        selector.register(process.stdout, selectors.EVENT_READ, process)
    deadline = time.monotonic() + timeout
    while len(ready) < len(processes) and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=1):
            process = key.data
            line = process.stdout.readline()
            assert line, f"sandbox {process.pid} exited during start-up (code {process.wait()})"
            ready[process.pid] = json.loads(line)
            selector.unregister(process.stdout)
    selector.close()
    assert len(ready) == len(processes), f"only {len(ready)} of {len(processes)} sandboxes were ready in {timeout} s"
    return ready


def _ec2(session: boto3.session.Session, info: dict):
    return Clients(endpoint_url=info["endpoint_url"], region=info["region"], _session=session).ec2


def _create_vpc(ec2, name: str) -> None:
    ec2.create_vpc(CidrBlock="10.0.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": name}]}])


def _vpc_names(ec2) -> set[str]:
    return {tag["Value"] for vpc in ec2.describe_vpcs()["Vpcs"] for tag in vpc.get("Tags", []) if tag["Key"] == "Name"}


def test_twenty_sandboxes_at_once_share_no_ports_and_no_state(tmp_path):
    # One boto3 session for all: building 20 sessions costs the test seconds of CPU the sandboxes need.
    session = boto3.session.Session(region_name="us-east-1", **SANDBOX_CREDENTIALS)
    started, processes, clients, ready_after = time.monotonic(), [], [], []
    pool = ThreadPoolExecutor(max_workers=WAVE)
    try:
        for first in range(0, SANDBOXES, WAVE):
            wave_started = time.monotonic()
            wave = [_start(tmp_path / f"learner{n:02}") for n in range(first, first + WAVE)]
            processes += wave
            infos = _ready_lines(wave, READY_TIMEOUT)
            ready_after.append(time.monotonic() - wave_started)
            wave_clients = [_ec2(session, infos[process.pid]) for process in wave]
            list(pool.map(_create_vpc, wave_clients, [f"learner{n:02}-vpc" for n in range(first, first + WAVE)]))
            clients += [(process, infos[process.pid], ec2) for process, ec2 in zip(wave, wave_clients)]
        all_ready = time.monotonic() - started

        # All 20 run now: each answers, on ports of its own, with only its own VPC.
        assert all(process.poll() is None for process in processes), "a sandbox ended early"
        urls = [urlsplit(info[key]) for _, info, _ in clients for key in ("endpoint_url", "socks_proxy")]
        assert len({url.port for url in urls}) == 2 * SANDBOXES, "two sandboxes share a port"
        assert {url.hostname for url in urls} == {"127.0.0.1"}
        seen = list(pool.map(_vpc_names, [ec2 for _, _, ec2 in clients]))
        checked = time.monotonic() - started
        assert seen == [{f"learner{n:02}-vpc"} for n in range(SANDBOXES)], "a sandbox sees another learner's VPC"

        ours = {process.pid for process in processes}
        for process in processes:
            process.send_signal(signal.SIGTERM)
        assert [process.wait(timeout=30) for process in processes] == [0] * SANDBOXES
        stopped = time.monotonic() - started
        leftovers = [pid for pid, group in _process_groups().items() if group in ours]
        assert leftovers == [], f"processes outlived their sandbox: {leftovers}"
        print(f"\n{SANDBOXES} sandboxes in waves of {WAVE}: each wave ready in "
              f"{', '.join(f'{t:.1f}' for t in ready_after)} s; all running with a VPC at {all_ready:.1f} s, "
              f"isolation checked at {checked:.1f} s, all stopped at {stopped:.1f} s")
    finally:
        pool.shutdown()
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stdout.close()
