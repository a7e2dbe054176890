"""Every place that quotes a notebook's minutes agrees with notebooks/timings.toml."""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import minutes  # noqa: E402  (tools/ is not a package)


def test_every_file_quotes_the_measured_minutes():
    stale = minutes.stale_files()
    assert not stale, f"run `python tools/minutes.py --write`; stale: {[str(p.relative_to(ROOT)) for p in stale]}"


def test_a_hand_edited_figure_is_caught(tmp_path, monkeypatch):
    readme = tmp_path / "README.md"
    edited, count = re.subn(r"\| at least \d+ \|", "| 12 |", minutes.README.read_text(), count=1)
    assert count == 1
    readme.write_text(edited)
    monkeypatch.setattr(minutes, "README", readme)
    assert minutes.stale_files() == [readme]


def test_total_is_reading_machine_and_questions_rounded_up_to_five():
    t = minutes.Timing("99_x", machine_seconds=61, reading_minutes=8, measured="-")
    assert t.total_minutes == 15  # 8 + 1.02 + 5 = 14.02 -> 15
    assert minutes.header_line(t).startswith("# Time: at least 15 minutes")
