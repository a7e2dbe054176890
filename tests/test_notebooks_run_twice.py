"""Every notebook again, in the sandbox the first pass used: the notebooks clean up after
themselves, so a second run in the same region gives the same outputs (nbval compares them again).

The root conftest.py puts this test in the notebooks' group, after the last notebook: under
pytest-xdist it runs on the notebooks' worker once they are through, while the other workers go on
with the rest.
(Run on its own, it is a first run: there was no pass before it.)"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TIMEOUT = 1800  # every notebook, on a loaded 2-core machine (about 5 minutes when it is quiet)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(TIMEOUT)]


def test_every_notebook_again_in_the_same_sandbox():
    # LAB_KEEP_SANDBOX: the inner run leaves the sandbox to this session, which stops it at its end.
    env = {**os.environ, "LAB_KEEP_SANDBOX": "1"}
    again = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            *(str(path.relative_to(ROOT)) for path in NOTEBOOKS)],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert again.returncode == 0, again.stdout[-8000:] + again.stderr[-2000:]
