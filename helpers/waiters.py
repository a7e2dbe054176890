"""Bounded waits with a progress bar: every wait in the course has a timeout and says what it waits for."""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, TypeVar

from helpers.backend import Clients

T = TypeVar("T")


class WaitTimeout(TimeoutError):
    pass


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython  # optional: outside Jupyter this module still works
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


def final_line(what: str, status: str, ended: str, timeout: float) -> str:
    """The one line a wait leaves behind: what it waited for and how it `ended` ("done",
    "timeout", or "stopped" by an error or an interrupt). No elapsed time (notebook outputs are
    compared run to run); the timeout is a fixed number."""
    if ended == "done":
        return f"waited for {what}: {status}"
    if ended == "timeout":
        return f"gave up waiting for {what} after {timeout:.0f} s: {status}"
    return f"stopped waiting for {what}: {status}"


class _NotebookProgress:
    """A live status line in a notebook; when the wait ends it disappears and `final_line`
    stays, as plain text.

    The live line is published with the widget mimetype only: nbval never compares widget views,
    and tools/nbbuild.py drops them from the saved notebook (no viewer can show one without a
    kernel), so only the final line is saved and compared."""

    def __init__(self, what: str) -> None:
        import ipywidgets  # a quarter second to import: only when a notebook waits
        from IPython.display import display  # (with ipywidgets, above)

        self.what, self._display = what, display
        self.started = time.monotonic()
        self.widget = ipywidgets.HTML(value=f"<code>waiting for {what}: starting</code>")
        display({"application/vnd.jupyter.widget-view+json": {
            "version_major": 2, "version_minor": 0, "model_id": self.widget.model_id}}, raw=True)

    def update(self, status: str) -> None:
        elapsed = time.monotonic() - self.started
        self.widget.value = f"<code>waiting for {self.what}: {status} [{elapsed:.0f} s]</code>"

    def close(self, final: str) -> None:
        self.widget.close()
        self._display({"text/plain": final}, raw=True)


class _TerminalProgress:
    def __init__(self, what: str) -> None:
        from tqdm import tqdm  # only in a terminal

        self._tqdm = tqdm
        self.what = what
        # The status goes into the description: tqdm writes a postfix after ", ".
        self.bar = tqdm(total=None, desc=what, bar_format="{desc} [{elapsed}]", leave=False)

    def update(self, status: str) -> None:
        self.bar.set_description_str(f"{self.what}: {status}", refresh=True)

    def close(self, final: str) -> None:
        self.bar.close()
        self._tqdm.write(final, file=sys.stderr)  # where the bar was, so stdout stays the command's output


def progress_line(what: str):
    """A live status line for a wait: `update(status)` while it runs, `close(final_line)` at its end."""
    return _NotebookProgress(what) if _in_notebook() else _TerminalProgress(what)


def wait_until(check: Callable[[], tuple[bool, str]], *, what: str, timeout: float = 60.0,
               interval: float = 0.2, progress: bool = True) -> str:
    """Call `check()` until it returns (True, status). Shows `status` on a progress bar, which
    leaves one line when the wait ends (`final_line`).

    Raises WaitTimeout naming `what` and the last status when `timeout` seconds pass.
    """
    bar = progress_line(what) if progress else None
    deadline = time.monotonic() + timeout
    status, ended = "starting", "stopped"
    try:
        while True:
            done, status = check()
            if bar is not None:
                bar.update(status)
            if done:
                ended = "done"
                return status
            if time.monotonic() >= deadline:
                ended = "timeout"
                raise WaitTimeout(f"gave up waiting for {what} after {timeout:.0f} s; last status: {status}")
            time.sleep(interval)
    finally:
        if bar is not None:
            bar.close(final_line(what, status, ended, timeout))


def first_value(check: Callable[[], Any], *, what: str, timeout: float = 15.0, interval: float = 0.05) -> Any:
    """Call `check()` until it returns something truthy, and return that (no progress bar).

    Raises WaitTimeout naming `what` when `timeout` seconds pass.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"gave up waiting for {what} after {timeout:.0f} s")
        time.sleep(interval)


def target_states(clients: Clients, target_group_arn: str) -> dict[str, int]:
    """How many targets are in each health state, e.g. {"healthy": 3}."""
    counts: dict[str, int] = {}
    for description in clients.elbv2.describe_target_health(TargetGroupArn=target_group_arn)["TargetHealthDescriptions"]:
        state = description["TargetHealth"]["State"]
        counts[state] = counts.get(state, 0) + 1
    return dict(sorted(counts.items()))


def _describe_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {state}" for state, n in counts.items()) or "no targets"


def wait_for_service(clients: Clients, stack, *, timeout: float = 60.0, progress: bool = True) -> str:
    """Wait until the stack's service runs its desired count and every target is healthy."""

    def check() -> tuple[bool, str]:
        service = clients.ecs.describe_services(cluster=stack.cluster_name, services=[stack.service_name])["services"][0]
        desired, running = service["desiredCount"], service["runningCount"]
        counts = target_states(clients, stack.target_group_arn)
        done = running == desired and counts.get("healthy", 0) == desired and len(counts) == 1
        return done, f"{running}/{desired} tasks running; targets: {_describe_counts(counts)}"

    return wait_until(check, what=f"service {stack.service_name}", timeout=timeout, progress=progress)


def wait_for_targets(clients: Clients, target_group_arn: str, expected: dict[str, int], *,
                     timeout: float = 30.0, progress: bool = True) -> str:
    """Wait until the target group's health states are exactly `expected`, e.g. {"unhealthy": 3}."""

    def check() -> tuple[bool, str]:
        counts = target_states(clients, target_group_arn)
        return counts == dict(sorted(expected.items())), f"targets: {_describe_counts(counts)}"

    return wait_until(check, what="target health", timeout=timeout, progress=progress)
