"""`python -m helpers check` - the pre-flight a workshop asks every learner to run first.

Each check is a small function returning a `CheckResult`; a failure carries the one thing to do
about it. The start notebook calls `run_checks(include_sandbox=False)` (its kernel is already
proof of a working Jupyter) and prints `format_results(...)`.

    ok    python        3.11.9 (/home/me/lab/.venv/bin/python)
    FAIL  graphviz-dot  no `dot` on PATH
          fix: Debian/Ubuntu: sudo apt-get install graphviz | macOS: brew install graphviz | ...
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import importlib.util
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable
from urllib.parse import urlsplit

DIST_NAME = "ecs-alb-dynamic-ports-lab"
MIN_PYTHON = (3, 10)
SANDBOX_TIMEOUT = 60.0
REINSTALL = "run `make setup` (or `pip install -e .` in this environment)"
DOT_FIX = ("install Graphviz's `dot` binary - Debian/Ubuntu: sudo apt-get install graphviz | "
           "macOS: brew install graphviz | conda: conda install -c conda-forge graphviz")


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    fix: str = ""


# -- environment ------------------------------------------------------------------------------
def check_python(version_info: tuple = tuple(sys.version_info)) -> CheckResult:
    version = ".".join(str(part) for part in version_info[:3])
    if tuple(version_info[:2]) >= MIN_PYTHON:
        return CheckResult("python", True, f"{version} ({sys.executable})")
    wanted = ".".join(map(str, MIN_PYTHON))
    return CheckResult("python", False, f"{version} is too old (need >= {wanted})",
                       f"install Python {wanted} or newer and recreate the environment: rm -rf .venv && make setup")


def _fallback_requirements(requirements: Iterable[str], extra: str | None):
    """Without `packaging`: the plain `name[extras]OP version ; extra == "x"` forms metadata uses."""
    pattern = re.compile(r"^\s*([A-Za-z0-9._-]+)\s*(?:\[([^\]]*)\])?\s*\(?([^;)]*)\)?\s*(?:;\s*(.*))?$")
    for text in requirements:
        name, extras, specifier, marker = pattern.match(text).groups()
        wanted_extra = re.search(r"extra\s*==\s*[\"']([^\"']+)", marker or "")
        if (wanted_extra.group(1) if wanted_extra else None) != extra:
            continue
        yield (name, {e.strip() for e in (extras or "").split(",") if e.strip()}, specifier.strip(),
               lambda version, s=specifier: _satisfies_fallback(version, s))


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def _satisfies_fallback(version: str, specifier: str) -> bool:
    comparisons = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, "==": lambda a, b: a == b,
                   "!=": lambda a, b: a != b, ">": lambda a, b: a > b, "<": lambda a, b: a < b}
    for clause in filter(None, (c.strip() for c in specifier.split(","))):
        op = re.match(r"[<>=!]=?", clause).group()
        wanted = _version_tuple(clause[len(op):])
        have = _version_tuple(version)[:len(wanted)] if clause.endswith(".*") else _version_tuple(version)
        if not comparisons[op](have, wanted):
            return False
    return True


def parse_requirements(requirements: Iterable[str], extra: str | None = None):
    """Yield (name, extras, specifier, satisfies(version)) for the requirements that apply:
    the unconditional ones, or with `extra` only those that extra adds (httpx[socks] -> socksio)."""
    try:
        from packaging.requirements import Requirement  # optional: a fallback parser follows
    except ImportError:
        yield from _fallback_requirements(requirements, extra)
        return
    for text in requirements:
        requirement = Requirement(text)
        marker = requirement.marker
        if extra is None:
            applies = marker is None or marker.evaluate({"extra": ""})
        else:
            applies = marker is not None and marker.evaluate({"extra": extra}) and not marker.evaluate({"extra": ""})
        if applies:
            yield (requirement.name, requirement.extras, str(requirement.specifier),
                   lambda version, s=requirement.specifier: s.contains(version, prereleases=True))


@functools.lru_cache(maxsize=1)
def _modules_by_distribution() -> dict[str, list[str]]:
    provided: dict[str, list[str]] = {}
    for module, dists in importlib.metadata.packages_distributions().items():
        for dist in dists:
            provided.setdefault(_normal(dist), []).append(module)
    return provided


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _module_name(distribution: str) -> str:
    """The import name a distribution provides (moto -> moto, PyYAML -> yaml)."""
    normal = _normal(distribution)
    modules = sorted(m for m in _modules_by_distribution().get(normal, []) if not m.startswith("_"))
    return normal if normal in modules or not modules else modules[0]


def check_dependency(name: str, specifier: str, satisfies: Callable[[str], bool]) -> CheckResult:
    wanted = f"{name}{specifier}"
    try:
        version = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return CheckResult(name, False, f"not installed (need {wanted})", REINSTALL)
    if not satisfies(version):
        return CheckResult(name, False, f"{version} installed, need {wanted}",
                           f"pip install '{wanted}'  (or {REINSTALL})")
    # Found on this interpreter's path, not imported: importing jupyterlab alone takes seconds,
    # and the usual workshop failure is a package installed into another environment.
    module = _module_name(name)
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        return CheckResult(name, False, f"{version} has metadata but `import {module}` finds nothing",
                           f"pip install --force-reinstall '{wanted}'")
    return CheckResult(name, True, version)


def check_dependencies(requirements: list[str] | None = None) -> list[CheckResult]:
    """Every runtime requirement of the course, and what the extras it asks for add (httpx[socks])."""
    if requirements is None:
        try:
            requirements = importlib.metadata.requires(DIST_NAME) or []
        except importlib.metadata.PackageNotFoundError:
            return [CheckResult("course package", False, f"{DIST_NAME} is not installed in {sys.executable}",
                                REINSTALL)]
    results = []
    for name, extras, specifier, satisfies in parse_requirements(requirements):
        result = check_dependency(name, specifier, satisfies)
        added = [check_dependency(n, s, f) for extra in sorted(extras) if result.ok
                 for n, _, s, f in parse_requirements(importlib.metadata.requires(name) or [], extra)]
        if added and all(a.ok for a in added):
            # One line per requirement: the extras' packages show up only when one fails.
            result = CheckResult(name, True, f"{result.detail} (+{len(added)} for [{','.join(sorted(extras))}])")
        results += [result, *(a for a in added if not a.ok)]
    return results


def check_dot(path: str | None = None) -> CheckResult:
    """Graphviz's `dot` is on PATH and renders a two-node graph to SVG."""
    dot = shutil.which("dot", path=path)
    if dot is None:
        return CheckResult("graphviz-dot", False, "no `dot` on PATH", DOT_FIX)
    try:
        rendered = subprocess.run([dot, "-Tsvg"], input="digraph { alb -> task }", capture_output=True,
                                  text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as error:
        return CheckResult("graphviz-dot", False, f"{dot} did not run: {error}", DOT_FIX)
    if rendered.returncode != 0 or "<svg" not in rendered.stdout:
        return CheckResult("graphviz-dot", False, f"{dot} could not render SVG: {rendered.stderr.strip()[:200]}",
                           DOT_FIX)
    return CheckResult("graphviz-dot", True, dot)


# jupyter_client starts `python`, `python3` and `python3.X` kernels with its own interpreter.
def _runs_this_python(argv: list[str]) -> bool:
    if not argv:
        return False
    major, minor = sys.version_info[:2]
    if argv[0] in {"python", f"python{major}", f"python{major}.{minor}"}:
        return True
    return os.path.realpath(argv[0]) == os.path.realpath(sys.executable)


def check_kernel(specs: dict | None = None) -> CheckResult:
    """A Jupyter kernel that runs this environment's Python (so notebooks import `helpers`)."""
    fix = f'{sys.executable} -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (ecs-alb-lab)"'
    if specs is None:
        try:
            from jupyter_client.kernelspec import KernelSpecManager  # importing it is the check
        except ImportError:
            return CheckResult("jupyter-kernel", False, "jupyter_client is not installed", REINSTALL)
        specs = KernelSpecManager().get_all_specs()
    names = sorted(name for name, entry in specs.items() if _runs_this_python(entry["spec"].get("argv", [])))
    if not names:
        return CheckResult("jupyter-kernel", False, f"no kernel runs {sys.executable}", fix)
    return CheckResult("jupyter-kernel", True, ", ".join(names))


def check_widgets_extension() -> CheckResult:
    """ipywidgets' JupyterLab extension: without it widgets show as plain text."""
    fix = "pip install 'jupyterlab_widgets>=3' (comes with ipywidgets>=8), then restart JupyterLab"
    try:
        import jupyterlab_widgets  # importing it is the check
        from jupyter_core.paths import jupyter_path
    except ImportError as error:
        return CheckResult("widgets-extension", False, f"not importable: {error}", fix)
    for directory in jupyter_path("labextensions"):
        if (Path(directory) / "@jupyter-widgets" / "jupyterlab-manager" / "package.json").is_file():
            return CheckResult("widgets-extension", True, f"jupyterlab_widgets {jupyterlab_widgets.__version__}")
    return CheckResult("widgets-extension", False, "jupyterlab_widgets is installed but its lab extension is missing",
                       fix)


# -- the sandbox ------------------------------------------------------------------------------
def _read_line(stream, timeout: float) -> str:
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return line[0] if line else ""


def _other_local_address() -> str | None:
    """This machine's outward-facing address (no packet is sent), or None when offline."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if ipaddress.ip_address(address).is_loopback else address


def check_loopback(ready: dict) -> CheckResult:
    """The ready line names loopback endpoints, and nothing answers on another local address."""
    urls = [ready.get("endpoint_url") or "", ready.get("socks_proxy") or ""]
    parts = [urlsplit(url) for url in urls]
    if not all(part.hostname == "127.0.0.1" for part in parts):
        return CheckResult("loopback-only", False, f"sandbox endpoints are not on 127.0.0.1: {urls}",
                           "report this as a bug: the sandbox must bind 127.0.0.1 only")
    other = _other_local_address()
    for part in parts:
        if other and _connects(other, part.port):
            return CheckResult("loopback-only", False, f"port {part.port} also answers on {other}",
                               "report this as a bug: the sandbox must bind 127.0.0.1 only")
    return CheckResult("loopback-only", True, f"127.0.0.1 ports {parts[0].port}, {parts[1].port}")


def _connects(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=0.5).close()
        return True
    except OSError:
        return False


def check_sandbox(timeout: float = SANDBOX_TIMEOUT) -> list[CheckResult]:
    """Start a fresh sandbox in a private state dir (never the learner's), create a VPC, stop it."""
    fix = ("run `python -m helpers sandbox` in a terminal and read its error; behind an HTTP proxy "
           "set NO_PROXY=127.0.0.1,localhost")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ecs-alb-lab-check-") as state:
        env = {**os.environ, "ECS_ALB_LAB_STATE_DIR": state}
        process = subprocess.Popen([sys.executable, "-m", "helpers", "sandbox"], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env)
        try:
            line = _read_line(process.stdout, timeout)
            if not line:
                process.kill()
                error = process.stderr.read().strip().splitlines()[-1:] or [f"not ready within {timeout:.0f} s"]
                return [CheckResult("sandbox", False, f"did not start: {error[0]}", fix)]
            ready_seconds = time.monotonic() - started
            ready = json.loads(line)
            from helpers.backend import Clients  # here: a missing boto3 must not break the other checks

            ec2 = Clients(endpoint_url=ready["endpoint_url"], region=ready["region"]).ec2
            vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
            if [v["VpcId"] for v in ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"]] != [vpc_id]:
                return [CheckResult("sandbox", False, f"created {vpc_id} but could not read it back", fix)]
            loopback = check_loopback(ready)
        except Exception as error:
            return [CheckResult("sandbox", False, f"{type(error).__name__}: {error}", fix)]
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                code = process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                code = process.wait()
            process.stdout.close()
            process.stderr.close()
    total = time.monotonic() - started
    if code != 0:
        return [CheckResult("sandbox", False, f"did not stop cleanly (exit {code})", fix), loopback]
    return [CheckResult("sandbox", True, f"ready in {ready_seconds:.1f} s, VPC created, stopped; {total:.1f} s in all"),
            loopback]


# -- running them -----------------------------------------------------------------------------
def run_checks(include_sandbox: bool = True) -> list[CheckResult]:
    results = [check_python(), *check_dependencies(), check_dot(), check_kernel(), check_widgets_extension()]
    if include_sandbox:
        results += check_sandbox()
    return results


def format_results(results: list[CheckResult], *, details: bool = True) -> str:
    """One line per check. `details=False` leaves out what passing checks found (versions and
    paths differ from machine to machine); failures always say what is wrong and the fix."""
    width = max(len(result.name) for result in results)
    lines = []
    for result in results:
        detail = result.detail if details or not result.ok else ""
        lines.append(f"{'ok' if result.ok else 'FAIL':<5} {result.name:<{width}}  {detail}".rstrip())
        if not result.ok:
            lines.append(f"{'':<5} {'':<{width}}  fix: {result.fix}")
    failed = sum(not result.ok for result in results)
    lines.append("all checks passed" if not failed else f"{failed} check(s) failed - see the fix lines above")
    return "\n".join(lines)


def run_check(args) -> int:
    results = run_checks()
    if args.json:
        print(json.dumps({"ok": all(r.ok for r in results), "checks": [asdict(r) for r in results]}, indent=2))
    else:
        print(format_results(results))
    return 0 if all(result.ok for result in results) else 1
