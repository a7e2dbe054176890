"""Every notebook again, in the sandbox its first run used: the notebooks clean up after
themselves, so a second run in the same region gives the same outputs (nbval compares them again).

The root conftest.py runs the notebooks in two halves, each in a sandbox of its own, and puts this
test (once per half) after the half's last notebook: under pytest-xdist it runs on that half's
worker once its notebooks are through. (Run on its own, it is a first run: no pass came before.)"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 1800  # half of the notebooks, on a loaded 2-core machine (about 3 minutes when it is quiet)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(TIMEOUT)]


def test_every_notebook_again_in_the_same_sandbox(half_notebooks):
    notebooks, env = half_notebooks  # conftest.py: this half's notebooks and its sandbox's state dir
    # LAB_KEEP_SANDBOX: the inner run leaves the sandbox to this session, which stops it at its end.
    again = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            *(str(path.relative_to(ROOT)) for path in notebooks)],
                           cwd=ROOT, env={**env, "LAB_KEEP_SANDBOX": "1"}, capture_output=True, text=True,
                           timeout=TIMEOUT)
    assert again.returncode == 0, again.stdout[-8000:] + again.stderr[-2000:]
