"""Start the sandbox as learners do (`python -m helpers sandbox --stack seed`), in its own process,
for the tests that watch that process from outside (test_load.py, test_shutdown.py); and stop a
process a test started (test_browser.py's JupyterLab too)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

START_TIMEOUT = 120.0  # seconds: the seed stack, built and healthy, on a loaded 2-core machine


@contextmanager
def seed_sandbox(state_dir: Path):
    """Yield (the process, its ready line as a dict); stop it with SIGTERM afterwards if it still runs."""
    env = {**os.environ, "ECS_ALB_LAB_STATE_DIR": str(state_dir)}  # never the session's shared sandbox
    log_path = state_dir / "sandbox.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "helpers", "sandbox", "--stack", "seed"], env=env,
                                   stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, text=True)
    try:
        yield process, _ready_line(process, log_path)
    finally:
        terminate(process)
        process.stdout.close()


def terminate(process: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGTERM, then SIGKILL if it is still there after `timeout` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _ready_line(process: subprocess.Popen, log_path: Path) -> dict:
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(START_TIMEOUT)
    if not lines or not lines[0].strip():
        process.kill()
        pytest.fail(f"the sandbox printed no ready line within {START_TIMEOUT} s:\n{log_path.read_text()[-3000:]}")
    return json.loads(lines[0])
