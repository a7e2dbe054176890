"""Load: 10,000 requests, 100 at a time, through the sandbox's SOCKS proxy to the ALB of the seed
stack (three healthy tasks, no fault). Every one must be a 200 from a container: none lost, none
hanging, none turned into an error by a busy machine.

The sandbox runs as learners start it (`python -m helpers sandbox --stack seed`), in its own
process, so its peak memory is its own. Loopback only; the request count is bounded and every
request has a timeout. Prints the outcomes, p50/p99 latency and the sandbox's peak RSS
(`pytest -s` shows them).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from helpers.backend import Clients
from helpers.waiters import wait_until
from sandbox_process import seed_sandbox

REQUESTS = 10_000
CONCURRENCY = 100
REQUEST_TIMEOUT = 30.0  # seconds; generous: this checks that nothing is lost, not speed

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def seed(tmp_path_factory):
    """A background sandbox with the seed stack: (its ready line, its pid)."""
    with seed_sandbox(tmp_path_factory.mktemp("load-sandbox")) as (process, ready):
        yield ready, process.pid


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set size (VmHWM in /proc/<pid>/status), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for pid {pid}")


def _healthy_targets(ready: dict) -> tuple[bool, str]:
    elbv2 = Clients(endpoint_url=ready["endpoint_url"], region=ready["region"]).elbv2
    group = elbv2.describe_target_groups()["TargetGroups"][0]
    states = [t["TargetHealth"]["State"] for t in
              elbv2.describe_target_health(TargetGroupArn=group["TargetGroupArn"])["TargetHealthDescriptions"]]
    return states == ["healthy"] * 3, f"target states {states}"


def test_10000_requests_100_at_a_time_all_answered_by_containers(seed):
    ready, pid = seed
    wait_until(lambda: _healthy_targets(ready), what="three healthy targets", timeout=60, progress=False)
    url = f"http://{ready['alb_dns_name']}/"
    local = threading.local()

    def one_request(_: int) -> tuple[str, float]:
        # One client per worker; a new connection per request (Connection: close), so every request
        # goes the whole way: SOCKS CONNECT, the route decision, the ALB, a container.
        if not hasattr(local, "http"):
            local.http = httpx.Client(proxy=ready["socks_proxy"], timeout=REQUEST_TIMEOUT,
                                      headers={"Accept": "application/json", "Connection": "close"})
        started = time.monotonic()
        try:
            response = local.http.get(url)
        except httpx.TimeoutException as error:
            return f"timeout ({type(error).__name__})", time.monotonic() - started
        except httpx.HTTPError as error:
            return f"error ({type(error).__name__}: {error})", time.monotonic() - started
        elapsed = time.monotonic() - started
        if response.status_code != 200:
            return f"{response.status_code} from {response.headers.get('server', '?')}", elapsed
        task_id = response.json().get("task_id")
        return ("200 from a container" if task_id else "200 without a task id"), elapsed

    started = time.monotonic()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        results = list(pool.map(one_request, range(REQUESTS)))
    took = time.monotonic() - started

    outcomes = Counter(outcome for outcome, _ in results)
    latencies = sorted(elapsed for _, elapsed in results)
    p50, p99 = statistics.quantiles(latencies, n=100)[49], statistics.quantiles(latencies, n=100)[98]
    print(f"\n{REQUESTS} requests, {CONCURRENCY} at a time, in {took:.1f} s ({REQUESTS / took:.0f} per second)")
    for outcome, count in outcomes.most_common():
        print(f"  {outcome}: {count}")
    print(f"latency p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms")
    print(f"sandbox process (pid {pid}) peak RSS: {peak_rss_mib(pid):.0f} MiB")

    assert len(results) == REQUESTS  # none lost
    assert outcomes == {"200 from a container": REQUESTS}, dict(outcomes)
