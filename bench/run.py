"""Speed and memory of the course, each measured side by side with a baseline in the same run and
given as a ratio (ours / baseline): on a shared or slow machine the absolute numbers move, the
ratios much less.

    make bench                                   (python bench/run.py --write bench/RESULTS.md)
    python bench/run.py [--quick] [--notebooks 03 07] [--write FILE]

What it measures:

    nbval over the notebooks            vs the same number of empty notebooks under nbval
    sandbox start-to-ready              vs a bare moto server             target: <= 3x
    API call latency through the sandbox vs bare moto                     target: <= 1.5x
    the source's stack, built and healthy (python -m helpers sandbox --stack seed) vs a bare moto server
    data plane requests/s, p50 and p99 through SOCKS + the ALB emulation vs straight to a container,
        at 1 and at 100 concurrent
    memory per learner: the sandbox with the source's stack and its container processes, RSS and
        PSS (/proc/PID/smaps_rollup), vs a bare moto server
    the evaluator (one new flow) and the audit on synthetic VPCs of growing size: the growth curve
    `make test` on a fresh clone of the last commit: set-up and test wall time, pytest's slowest
        tests (no baseline: the aim is under 15 minutes on a 2-core machine). `--no-make-test` skips it.

Tests never time things; this script is where the speed figures live. It is not part of `make test`.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from helpers.audit import audit
from helpers.backend import Clients
from helpers.evaluator import Flow, evaluate
from helpers.evaluator.examples import ALB_DNS, HOST_SG, IGW, TG_ARN, VPC, host, replace_fields, seed_snapshot
from helpers.evaluator.snapshot import NaclEntry, Route, SgRule, Subnet, TargetRecord

REPO = Path(__file__).resolve().parent.parent

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
SANDBOX = [sys.executable, "-m", "helpers", "sandbox"]
SEED_SANDBOX = SANDBOX + ["--stack", "seed"]

TARGETS = {"sandbox start-to-ready": 3.0, "API call latency (median)": 1.5}
GROWTH = (1, 4, 16, 32)  # synthetic VPC sizes (see `synthetic_vpc`); the audit grows faster than the VPC


@dataclasses.dataclass
class Row:
    section: str
    name: str
    ours: float
    baseline: float | None
    unit: str
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return self.ours / self.baseline if self.baseline else None

    def text(self) -> str:
        target = TARGETS.get(self.name)
        verdict = "" if target is None or self.ratio is None else (" ok" if self.ratio <= target else f" ABOVE TARGET {target}x")
        baseline = "" if self.baseline is None else f"  baseline {self.baseline:10.2f} {self.unit:<6} ratio {self.ratio:7.2f}x"
        return f"  {self.name:<44} ours {self.ours:10.2f} {self.unit:<6}{baseline}{verdict}{'  ' + self.note if self.note else ''}"


class Results:
    def __init__(self) -> None:
        self.rows: list[Row] = []

    def add(self, section: str, name: str, ours: float, baseline: float | None, unit: str, note: str = "") -> None:
        row = Row(section, name, ours, baseline, unit, note)
        if not any(r.section == section for r in self.rows):
            print(f"\n{section}", flush=True)
        self.rows.append(row)
        print(row.text(), flush=True)


class LoadSampler:
    """The machine's 1-minute load average every few seconds while the bench runs (others share it)."""

    def __init__(self, every: float = 2.0) -> None:
        self.samples: list[float] = [os.getloadavg()[0]]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every,), daemon=True)

    def _run(self, every: float) -> None:
        while not self._stop.wait(every):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> "LoadSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> str:
        return (f"min {min(self.samples):.2f}, median {statistics.median(self.samples):.2f}, "
                f"max {max(self.samples):.2f} ({len(self.samples)} samples)")


# -- processes --------------------------------------------------------------------------------------

def start_and_time(command: list[str], env: dict | None = None) -> tuple[float, subprocess.Popen, dict]:
    """Start `command`, wait for its one-line JSON ready line; (seconds it took, the process, the line)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True, env=env)
    line = process.stdout.readline()
    if not line:
        raise RuntimeError(f"{shlex.join(command)} printed no ready line (exit {process.wait()})")
    return time.perf_counter() - started, process, json.loads(line)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def isolated_env() -> dict:
    """The sandboxes started here never meet the user's own (their state lives elsewhere)."""
    return {**os.environ, "ECS_ALB_LAB_STATE_DIR": tempfile.mkdtemp(prefix="ecs-alb-lab-bench-")}


def quantiles(samples: list[float]) -> tuple[float, float]:
    """(p50, p99) of `samples`."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49], cuts[98]


# -- the control plane ------------------------------------------------------------------------------

def api_latency(endpoint_url: str, calls: int) -> float:
    """Median seconds per call, over a mix of the describe calls the course makes most."""
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


def control_plane(results: Results, rounds: int, calls: int) -> float:
    """Start-to-ready and API latency, sandbox vs bare moto, alternating so drift hits both alike.
    Returns bare moto's median start-to-ready (the baseline for the stack)."""
    ours_start, bare_start, ours_lat, bare_lat = [], [], [], []
    for _ in range(rounds):
        seconds, bare, bare_ready = start_and_time([sys.executable, "-c", BARE_MOTO])
        bare_start.append(seconds)
        seconds, ours, ours_ready = start_and_time(SANDBOX, env=isolated_env())
        ours_start.append(seconds)
        try:
            bare_lat.append(api_latency(bare_ready["endpoint_url"], calls))
            ours_lat.append(api_latency(ours_ready["endpoint_url"], calls))
        finally:
            stop(bare)
            stop(ours)
    section = f"control plane ({rounds} round(s), {calls} API calls each; medians)"
    bare = statistics.median(bare_start)
    results.add(section, "sandbox start-to-ready", statistics.median(ours_start), bare, "s")
    results.add(section, "API call latency (median)", statistics.median(ours_lat) * 1000,
                statistics.median(bare_lat) * 1000, "ms")
    return bare


# -- the data plane ---------------------------------------------------------------------------------

def first_container(endpoint_url: str) -> str:
    with urllib.request.urlopen(f"{endpoint_url}/_sandbox/containers", timeout=10) as response:
        return json.loads(response.read())[0]["endpoint"]


def load(make_client, url: str, requests: int, concurrency: int) -> tuple[float, float, float]:
    """(requests/s, p50 s, p99 s) for `requests` GETs, `concurrency` at a time, one kept-alive client
    per worker. Every answer must be a 200."""
    local = threading.local()

    def one(_: int) -> float:
        if not hasattr(local, "client"):
            local.client = make_client()
            local.client.get(url).raise_for_status()  # warm: the connection (and the snapshot)
        began = time.perf_counter()
        local.client.get(url).raise_for_status()
        return time.perf_counter() - began

    began = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        samples = list(pool.map(one, range(requests)))
    took = time.perf_counter() - began
    return (requests / took, *quantiles(samples))


def data_plane(results: Results, ready: dict, requests: dict[int, int]) -> None:
    through_url, direct_url = f"http://{ready['alb_dns_name']}/", f"http://{first_container(ready['endpoint_url'])}/"
    for concurrency, count in requests.items():
        section = f"data plane, {count} requests {concurrency} at a time (kept-alive clients): through SOCKS + the ALB vs straight to a container"
        through = load(lambda: httpx.Client(proxy=ready["socks_proxy"], timeout=30), through_url, count, concurrency)
        direct = load(lambda: httpx.Client(timeout=30), direct_url, count, concurrency)
        results.add(section, f"requests/s at {concurrency} concurrent", through[0], direct[0], "req/s",
                    "(higher is better)")
        results.add(section, f"p50 latency at {concurrency} concurrent", through[1] * 1000, direct[1] * 1000, "ms")
        results.add(section, f"p99 latency at {concurrency} concurrent", through[2] * 1000, direct[2] * 1000, "ms")


# -- memory -----------------------------------------------------------------------------------------

def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (the sandbox's container processes)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while we looked
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def rss_pss_mib(pid: int) -> tuple[float, float]:
    """(Rss, Pss) of one process from /proc/PID/smaps_rollup, in MiB."""
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("Rss", "Pss"):
            values[key] = int(rest.split()[0]) / 1024
    return values["Rss"], values["Pss"]


def memory(results: Results, sandbox_pid: int) -> None:
    processes = descendants(sandbox_pid)
    sandbox_rss, sandbox_pss = rss_pss_mib(sandbox_pid)
    total = [rss_pss_mib(pid) for pid in processes]
    _, bare, _ = start_and_time([sys.executable, "-c", BARE_MOTO])
    try:
        bare_rss, bare_pss = rss_pss_mib(bare.pid)
    finally:
        stop(bare)
    section = "memory per learner (after the data plane runs; baseline: a bare moto server at rest)"
    results.add(section, "sandbox process RSS", sandbox_rss, bare_rss, "MiB")
    results.add(section, "sandbox process PSS", sandbox_pss, bare_pss, "MiB")
    note = f"({len(processes) - 1} container processes)"
    results.add(section, "sandbox + containers RSS", sum(r for r, _ in total), bare_rss, "MiB", note)
    results.add(section, "sandbox + containers PSS", sum(p for _, p in total), bare_pss, "MiB", note)


def stack_and_data_plane(results: Results, bare_start: float, requests: dict[int, int]) -> None:
    seconds, process, ready = start_and_time(SEED_SANDBOX, env=isolated_env())
    try:
        results.add("the source's stack (python -m helpers sandbox --stack seed: built, tasks running, targets healthy)",
                    "stack built end to end", seconds, bare_start, "s", "(baseline: a bare moto server starting)")
        data_plane(results, ready, requests)
        memory(results, process.pid)
    finally:
        stop(process)


# -- the evaluator and the audit --------------------------------------------------------------------

def synthetic_vpc(size: int):
    """The seed VPC grown `size` times: 2*size more public subnets with a host each (three targets
    per host), 40*size NACL deny entries ahead of the allow-all (every packet walks past them),
    and 20*size more SG rules on the hosts' group."""
    seed = seed_snapshot()
    subnets = tuple(Subnet(f"subnet-0grow{n:04d}", VPC, f"10.0.{100 + n}.0/24", ("us-east-1a", "us-east-1b")[n % 2], True,
                           f"grow-{n}") for n in range(2 * size))
    hosts = tuple(host(f"i-0grow{n:04d}", subnet.id, f"10.0.{100 + n}.10", f"54.211.{n // 250}.{n % 250 + 1}")
                  for n, subnet in enumerate(subnets))
    targets = tuple(TargetRecord(TG_ARN, instance.id, 32768 + port, "healthy") for instance in hosts for port in range(3))
    denies = tuple(NaclEntry(1 + n, egress, "6", "deny", f"198.18.{n // 256 % 256}.{n % 256}/32", 1, 65535)
                   for n in range(20 * size) for egress in (False, True))
    acl = seed.network_acls[0]
    acl = dataclasses.replace(acl, entries=denies + tuple(dataclasses.replace(e, rule_number=e.rule_number + 20 * size)
                                                          if e.rule_number < 32767 else e for e in acl.entries),
                              subnet_ids=acl.subnet_ids + tuple(s.id for s in subnets))
    groups = tuple(dataclasses.replace(group, ingress=group.ingress + tuple(
        SgRule("tcp", 1000 + n, 1000 + n, cidrs=(f"198.19.{n // 256 % 256}.{n % 256}/32",)) for n in range(20 * size)))
        if group.id == HOST_SG else group for group in seed.security_groups)
    tables = tuple(dataclasses.replace(table, subnet_ids=table.subnet_ids + tuple(s.id for s in subnets))
                   if Route("0.0.0.0/0", IGW) in table.routes else table for table in seed.route_tables)
    snap = replace_fields(seed, subnets=seed.subnets + subnets, instances=seed.instances + hosts,
                          targets=seed.targets + targets, network_acls=(acl,), security_groups=groups, route_tables=tables)
    shape = (f"{len(snap.subnets)} subnets, {len(snap.targets)} targets, {len(acl.entries)} NACL entries, "
             f"{sum(len(g.ingress) + len(g.egress) for g in groups)} SG rules")
    return snap, shape


def timed(work, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        work()
        samples.append(time.perf_counter() - began)
    return statistics.median(samples)


def evaluator_growth(results: Results, repeat: int) -> None:
    section = (f"evaluator and audit on synthetic VPCs of growing size (medians of {repeat} and {min(repeat, 3)}; "
               "baseline: size 1)")
    base_evaluate = base_audit = None
    for size in GROWTH:
        snap, shape = synthetic_vpc(size)

        def one_flow():  # a fresh copy each time: nothing memoized from the last run
            verdict = evaluate(replace_fields(snap), Flow(ALB_DNS, 80))
            assert verdict.reachable and len(verdict.targets) == len(snap.targets), verdict

        def one_audit():
            audit(replace_fields(snap), service_linked_role_present=True, services=[])

        evaluate_seconds, audit_seconds = timed(one_flow, repeat), timed(one_audit, min(repeat, 3))
        base_evaluate, base_audit = base_evaluate or evaluate_seconds, base_audit or audit_seconds
        results.add(section, f"evaluate one flow, size {size}", evaluate_seconds * 1000, base_evaluate * 1000, "ms", shape)
        results.add(section, f"audit the VPC, size {size}", audit_seconds * 1000, base_audit * 1000, "ms")


# -- nbval --------------------------------------------------------------------------------------------

EMPTY_NOTEBOOK = {"cells": [{"cell_type": "code", "execution_count": None, "id": "empty", "metadata": {},
                             "outputs": [], "source": "pass"}],
                  "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
                  "nbformat": 4, "nbformat_minor": 5}


def nbval(results: Results, names: list[str]) -> list[str]:
    """Wall time of pytest --nbval over the notebooks vs over as many one-cell notebooks (the floor:
    pytest, nbval and one kernel per notebook). Both with the repo's pytest configuration."""
    notebooks = sorted(p for p in (REPO / "notebooks").glob("*.ipynb") if not names or p.name[:2] in names)
    empty_dir = Path(tempfile.mkdtemp(prefix="ecs-alb-lab-empty-notebooks-"))
    for notebook in notebooks:
        (empty_dir / notebook.name).write_text(json.dumps(EMPTY_NOTEBOOK))
    commands, failed = [], []

    def run(paths: list[Path]) -> float:
        env = isolated_env()
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", str(REPO / "pyproject.toml"),
                   "--rootdir", str(REPO), *map(str, paths)]
        shown = shlex.join(["python", *command[1:]])  # as typed in the repo: no machine paths in the report
        commands.append(shown.replace(str(empty_dir), "$TMPDIR/empty-notebooks").replace(f"{REPO}/", "")
                        .replace(str(REPO), "."))
        began = time.perf_counter()
        finished = subprocess.run(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seconds = time.perf_counter() - began
        subprocess.run([sys.executable, "-c", "from helpers.sandbox.launcher import stop_sandbox; stop_sandbox()"],
                       cwd=REPO, env=env, check=False)
        if finished.returncode != 0:  # timed all the same; the report says so
            failed.append(f"exit {finished.returncode}")
        return seconds

    floor = run(sorted(empty_dir.glob("*.ipynb")))
    ours = run(notebooks)
    which = ", ".join(p.stem for p in notebooks)
    results.add(f"nbval over {len(notebooks)} notebook(s) ({which}) vs {len(notebooks)} one-cell notebooks",
                "nbval wall time", ours, floor, "s", f"(nbval failed: {', '.join(failed)})" if failed else "")
    return commands


# -- make test on a fresh clone ------------------------------------------------------------------------

MAKE_TEST_COMMAND = "git clone <this repository> $TMPDIR/... && make setup browser && make test"


def make_test(results: Results) -> list[str]:
    """`make setup browser`, then `make test`, in a fresh clone of the last commit (uncommitted
    changes are not in it). Returns pytest's "slowest durations" lines."""
    clone = Path(tempfile.mkdtemp(prefix="ecs-alb-lab-bench-clone-")) / "repo"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=clone, capture_output=True, text=True).stdout
    env = {key: value for key, value in os.environ.items() if key != "ECS_ALB_LAB_STATE_DIR"}
    section = f"make test on a fresh clone (commit {commit.strip()})"
    timings, log = {}, clone / "make-test.log"
    for target in ("setup browser", "test"):
        print(f"make {target} in a fresh clone ...", flush=True)
        began = time.perf_counter()
        with open(log, "a") as out:
            finished = subprocess.run(["make", *target.split()], cwd=clone, env=env, stdout=out, stderr=subprocess.STDOUT)
        timings[target] = (time.perf_counter() - began, finished.returncode)
    lines = log.read_text().splitlines()
    start = next((i for i, line in enumerate(lines) if "slowest" in line and "durations" in line), None)
    slowest = []
    if start is not None:
        slowest = [line for line in lines[start + 1:] if line.strip() and not line.startswith("(")]
        slowest = slowest[:next((i for i, line in enumerate(slowest) if line.startswith("=")), len(slowest))]
    summary = next((line.strip("= ") for line in reversed(lines) if " passed" in line or " failed" in line), "")
    for target, (seconds, code) in timings.items():
        note = summary if target == "test" else "venv, packages, Graphviz, Chromium (already installed ones are kept)"
        if code:
            note += f" (exit {code}: see the log)"
        results.add(section, f"make {target}", seconds / 60, None, "min", note)
    return slowest


# -- the report -----------------------------------------------------------------------------------------

def machine() -> dict:
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    return {"nproc": len(os.sched_getaffinity(0)), "memory": f"{int(meminfo['MemTotal'].split()[0]) // 1024} MiB",
            "python": platform.python_version(), "system": f"{platform.system()} {platform.machine()}",
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def markdown(results: Results, info: dict, command: str, nbval_commands: list[str], load: str,
             slowest: list[str]) -> str:
    lines = ["# Benchmark results", "",
             "Written by `bench/run.py` (`make bench`); every ratio is ours / baseline, both measured in the same run.",
             "",
             f"- date: {info['date']}",
             f"- machine: {info['nproc']} cores, {info['memory']} memory; {info['system']}; Python {info['python']}",
             f"- command: `{command}`",
             f"- load average (1 min) during the run: {load}.",
             "  Absolute figures depend on that load; the side-by-side ratios are what to compare between runs.",
             ]
    if any(row.section.startswith("make test") for row in results.rows):
        lines.append(f"- make test: `{MAKE_TEST_COMMAND}`")
    lines += [f"- nbval command: `{c}`" for c in nbval_commands]
    if "--notebooks" in command:
        lines.append("- nbval ran over the notebooks `--notebooks` names only (`make bench` runs them all).")
    section = None
    for row in results.rows:
        if row.section != section:
            section = row.section
            lines += ["", f"## {section}", "", "| measure | ours | baseline | ratio | |", "|---|---:|---:|---:|---|"]
        baseline = "" if row.baseline is None else f"{row.baseline:.2f} {row.unit}"
        ratio = "" if row.ratio is None else f"{row.ratio:.2f}x"
        lines.append(f"| {row.name} | {row.ours:.2f} {row.unit} | {baseline} | {ratio} | {row.note} |")
    if slowest:
        lines += ["", "pytest's slowest tests in that `make test` (`--durations=30`; a test's time includes waiting",
                  "for its turn on a busy machine):", "", "```", *slowest, "```"]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer samples")
    parser.add_argument("--notebooks", nargs="*", default=None, metavar="NN",
                        help="nbval over these notebooks only (e.g. 03 07); none given: skip nbval; default: all")
    parser.add_argument("--write", type=Path, help="also write the figures as Markdown to this file")
    parser.add_argument("--no-make-test", dest="make_test", action="store_false",
                        help="skip `make test` on a fresh clone (the longest part: about 15 minutes)")
    args = parser.parse_args()
    rounds, calls, repeat = (1, 60, 3) if args.quick else (3, 300, 5)
    requests = {1: 200, 100: 1000} if args.quick else {1: 500, 100: 3000}
    info, results, nbval_commands, slowest = machine(), Results(), [], []
    print(f"{info['nproc']} cores, {info['memory']}, Python {info['python']}, {info['date']}; load {os.getloadavg()}")
    with LoadSampler() as sampler:
        if args.notebooks is None or args.notebooks:
            nbval_commands = nbval(results, args.notebooks or [])
        bare_start = control_plane(results, rounds, calls)
        stack_and_data_plane(results, bare_start, requests)
        evaluator_growth(results, repeat)
        if args.make_test:  # last: its load would stay in the figures measured after it
            slowest = make_test(results)
    print(f"\nload average (1 min) during the run: {sampler.summary()}")
    if args.write:
        command = shlex.join(["python", "bench/run.py", *sys.argv[1:]])
        args.write.write_text(markdown(results, info, command, nbval_commands, sampler.summary(), slowest))
        print(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
