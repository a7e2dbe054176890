"""When a sandbox that a notebook started ends itself: nobody uses it any more.

`Lab.start()` starts the sandbox in the background (launcher.ensure_sandbox) and the user's other
notebooks share it. A killed kernel never says it is done, so a sandbox started that way watches
its use, and stops - exactly as SIGTERM stops it: every container process ends, every port is
freed - once, for `idle_minutes`:

- no process that asked for it is alive (`ensure_sandbox` registers its caller: a notebook's
  kernel, so a learner reading a notebook with a live kernel is never cut off),
- no API request came from outside (the sandbox's own snapshot reads do not count), and
- no data-plane (SOCKS) connection was opened, and none is open.

The next `Lab.start()` then starts a new, empty sandbox. The default is DEFAULT_IDLE_MINUTES; set
`ECS_ALB_LAB_IDLE_MINUTES` to change it (0: never end). `python -m helpers sandbox` started by hand
runs until it is stopped, unless given `--idle-minutes`.
"""

from __future__ import annotations

import os
import threading
import time

IDLE_MINUTES_ENV = "ECS_ALB_LAB_IDLE_MINUTES"
# Long enough for a kernel restart or a coffee break after the last kernel died; a live kernel
# keeps the sandbox anyway.
DEFAULT_IDLE_MINUTES = 15.0


def idle_minutes_setting() -> float | None:
    """The idle timeout an auto-started sandbox gets, in minutes (None: it never ends by itself)."""
    text = os.environ.get(IDLE_MINUTES_ENV, "").strip()
    if not text:
        return DEFAULT_IDLE_MINUTES
    try:
        minutes = float(text)
    except ValueError:
        raise ValueError(f"{IDLE_MINUTES_ENV} must be a number of minutes >= 0 (0: never), got {text!r}") from None
    if minutes < 0:
        raise ValueError(f"{IDLE_MINUTES_ENV} must be a number of minutes >= 0 (0: never), got {text!r}")
    return minutes or None


class Usage:
    """Who uses the sandbox and when it was last used. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_used = time.monotonic()
        self._clients: set[int] = set()

    def touch(self) -> None:
        with self._lock:
            self._last_used = time.monotonic()

    def register(self, pid: int) -> None:
        """A process that uses the sandbox: while it lives, the sandbox is in use."""
        with self._lock:
            self._clients.add(pid)
            self._last_used = time.monotonic()

    def idle_seconds(self, open_connections: int) -> float:
        """Seconds since the sandbox was last used; 0 while a client process lives or a connection is open."""
        with self._lock:
            gone = {pid for pid in self._clients if not process_alive(pid)}
            self._clients -= gone
            if gone:  # a client that just died was using it until now
                self._last_used = time.monotonic()
            if self._clients or open_connections:
                self._last_used = time.monotonic()
                return 0.0
            return time.monotonic() - self._last_used

    def describe(self, open_connections: int) -> dict:
        idle = self.idle_seconds(open_connections)
        with self._lock:
            return {"clients": sorted(self._clients), "open_connections": open_connections, "idle_seconds": idle}


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process under that id: alive
        return True
    return True
