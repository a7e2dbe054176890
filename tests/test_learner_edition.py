"""The learner edition of every real notebook (answers replaced by placeholders) runs without an
error: an exercise left undone makes a self-check say "not yet", never a crash."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "notebooks" / "src").glob("*.py"))
TIMEOUT = 600  # one notebook with every exercise undone, on a loaded 2-core machine

pytestmark = [pytest.mark.slow, pytest.mark.timeout(TIMEOUT)]


# One test per notebook, each a group of its own: pytest-xdist spreads them over its workers
# (the root conftest.py).
@pytest.mark.parametrize("source", SOURCES, ids=[source.stem for source in SOURCES])
def test_learner_edition_runs(source):
    """`editions.py --check` executes the notebook in a kernel of its own, in a sandbox of its own."""
    checked = subprocess.run([sys.executable, str(ROOT / "tools" / "editions.py"), "--check", source.stem],
                             capture_output=True, text=True, timeout=TIMEOUT)
    assert checked.returncode == 0 and f"ok    {source.name}" in checked.stdout, \
        checked.stdout + checked.stderr[-3000:]
