"""Speed of the sandbox, measured side by side with a baseline in the same run, printed as ratios.

    make bench            (or: python bench/run.py [--quick])

Each line: what was measured, ours, the baseline, and ours/baseline. Tests never time things;
this script is where the speed targets live:

    sandbox start-to-ready vs a bare moto server        target: <= 3x
    API call latency through the sandbox vs bare moto   target: <= 1.5x
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

BARE_MOTO = """
import logging, sys
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
logging.getLogger("werkzeug").setLevel(logging.ERROR)
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
host, port = server.get_host_and_port()
print('{"endpoint_url": "http://%s:%d"}' % (host, port), flush=True)
sys.stdin.read()
"""

TARGETS = {"start-to-ready": 3.0, "api latency": 1.5}


def start_and_time(command: list[str]) -> tuple[float, subprocess.Popen, dict]:
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True)
    ready = json.loads(process.stdout.readline())
    return time.perf_counter() - started, process, ready


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=15)


def api_latency(endpoint_url: str, calls: int) -> float:
    """Median seconds per call, over a mix of the describe calls the course makes most."""
    from helpers.backend import Clients

    clients = Clients(endpoint_url=endpoint_url)
    clients.ec2.describe_vpcs()  # warm the client and moto's backend
    clients.ecs.list_clusters()
    samples = []
    for index in range(calls):
        call = (clients.ec2.describe_vpcs, clients.ecs.list_clusters, clients.elbv2.describe_load_balancers)[index % 3]
        began = time.perf_counter()
        call()
        samples.append(time.perf_counter() - began)
    return statistics.median(samples)


def report(name: str, ours: float, baseline: float, unit: str = "ms") -> None:
    ratio = ours / baseline if baseline else float("inf")
    target = TARGETS.get(name)
    verdict = "" if target is None else (" ok" if ratio <= target else f" ABOVE TARGET {target}x")
    print(f"{name:<28} ours {ours * 1000:8.1f} {unit}   baseline {baseline * 1000:8.1f} {unit}   ratio {ratio:5.2f}x{verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer samples")
    args = parser.parse_args()
    rounds, calls = (1, 60) if args.quick else (3, 300)

    ours_start, bare_start, ours_lat, bare_lat = [], [], [], []
    for _ in range(rounds):
        # Alternate the two so drift in machine load hits both alike.
        seconds, bare, bare_ready = start_and_time([sys.executable, "-c", BARE_MOTO])
        bare_start.append(seconds)
        seconds, ours, ours_ready = start_and_time([sys.executable, "-m", "helpers", "sandbox"])
        ours_start.append(seconds)
        try:
            bare_lat.append(api_latency(bare_ready["endpoint_url"], calls))
            ours_lat.append(api_latency(ours_ready["endpoint_url"], calls))
        finally:
            stop(bare)
            stop(ours)

    print(f"sandbox benchmarks ({rounds} round(s), {calls} API calls each; medians)")
    report("start-to-ready", statistics.median(ours_start), statistics.median(bare_start))
    report("api latency", statistics.median(ours_lat), statistics.median(bare_lat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
