"""Speed of the sandbox, measured side by side with a baseline in the same run, printed as ratios.

    make bench            (or: python bench/run.py [--quick])

Each line: what was measured, ours, the baseline, and ours/baseline. Tests never time things;
this script is where the speed targets live:

    sandbox start-to-ready vs a bare moto server        target: <= 3x
    API call latency through the sandbox vs bare moto   target: <= 1.5x
    data plane: requests/s through SOCKS + ALB emulation vs straight to a container
    data plane: median request latency, same comparison
    evaluator: one new flow on a VPC with thousands of NACL/SG rules vs the seed VPC
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

TARGETS = {"start-to-ready": 3.0, "api latency": 1.5, "data plane latency": 10.0, "evaluator, 4000 rules": 100.0}


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


def report(name: str, ours: float, baseline: float, unit: str = "ms", scale: float = 1000.0) -> None:
    ratio = ours / baseline if baseline else float("inf")
    target = TARGETS.get(name)
    verdict = "" if target is None else (" ok" if ratio <= target else f" ABOVE TARGET {target}x")
    print(f"{name:<28} ours {ours * scale:9.2f} {unit:<5} baseline {baseline * scale:9.2f} {unit:<5} ratio {ratio:6.2f}x{verdict}")


def data_plane(requests: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """(requests/s, median s) through the sandbox's internet to the ALB, and straight to a container."""
    import httpx

    process = subprocess.Popen([sys.executable, "-m", "helpers", "sandbox", "--stack", "seed"],
                               stdout=subprocess.PIPE, text=True)
    try:
        ready = json.loads(process.stdout.readline())
        with urllib_request(f"{ready['endpoint_url']}/_sandbox/containers") as response:
            container = json.loads(response.read())[0]["endpoint"]
        through = _measure(httpx.Client(proxy=ready["socks_proxy"], timeout=10), f"http://{ready['alb_dns_name']}/", requests)
        direct = _measure(httpx.Client(timeout=10), f"http://{container}/", requests)
        return through, direct
    finally:
        stop(process)


def urllib_request(url: str):
    import urllib.request

    return urllib.request.urlopen(url, timeout=10)


def _measure(client, url: str, requests: int) -> tuple[float, float]:
    with client:
        client.get(url)  # warm: connection, snapshot
        samples = []
        began = time.perf_counter()
        for _ in range(requests):
            start = time.perf_counter()
            client.get(url).raise_for_status()
            samples.append(time.perf_counter() - start)
        return requests / (time.perf_counter() - began), statistics.median(samples)


def evaluator(rules: int) -> tuple[float, float]:
    """Median seconds for one new flow (a fresh snapshot each time, so nothing is cached) on a
    VPC with `rules` NACL entries and SG rules, and on the plain seed VPC."""
    import dataclasses

    from helpers.evaluator import Flow, evaluate
    from helpers.evaluator.examples import ALB_DNS, replace_fields, seed_snapshot
    from helpers.evaluator.snapshot import NaclEntry, SgRule

    seed = seed_snapshot()
    half = rules // 2
    # Deny rules for addresses nobody uses, ahead of the allow-all: every packet walks past them.
    denies = tuple(NaclEntry(10 + n, egress, "6", "deny", f"198.18.{n // 256 % 256}.{n % 256}/32", 1, 65535)
                   for n in range(half // 2) for egress in (False, True))
    acl = seed.network_acls[0]
    busy_acl = dataclasses.replace(acl, entries=denies + acl.entries)
    busy_groups = tuple(dataclasses.replace(group, ingress=group.ingress + tuple(
        SgRule("tcp", 1000 + n % 20000, 1000 + n % 20000, cidrs=(f"198.19.{n // 256 % 256}.{n % 256}/32",))
        for n in range(half // len(seed.security_groups)))) for group in seed.security_groups)

    def timed(make_snapshot) -> float:
        samples = []
        for _ in range(7):
            snapshot = make_snapshot()
            began = time.perf_counter()
            verdict = evaluate(snapshot, Flow(ALB_DNS, 80))
            samples.append(time.perf_counter() - began)
            assert verdict.reachable
        return statistics.median(samples)

    busy = timed(lambda: replace_fields(seed, network_acls=(busy_acl,), security_groups=busy_groups))
    plain = timed(lambda: replace_fields(seed))
    return busy, plain


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

    requests = 100 if args.quick else 500
    (through_rps, through_latency), (direct_rps, direct_latency) = data_plane(requests)
    print(f"data plane ({requests} requests on one keep-alive connection each way)")
    report("data plane requests/s", through_rps, direct_rps, unit="req/s", scale=1.0)
    report("data plane latency", through_latency, direct_latency)

    busy, plain = evaluator(4000)
    print("evaluator (one new flow, nothing cached; 4000 = NACL entries + SG rules)")
    report("evaluator, 4000 rules", busy, plain)
    return 0


if __name__ == "__main__":
    sys.exit(main())
