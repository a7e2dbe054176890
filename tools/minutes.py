"""One source for the course's minutes, rendered everywhere a learner or instructor reads them.

    python tools/minutes.py            # print each notebook's figures
    python tools/minutes.py --write    # write them into the README, 00, the headers, instructors/
    python tools/minutes.py --check    # exit 1 and list every place that disagrees

A notebook's time is measured, not guessed: its machine time (`notebooks/timings.toml`) plus its
reading time (the words of its markdown cells at 150 a minute) plus 5 minutes of questions,
rounded up to 5. Exercise time comes on top: it has not been observed yet, and the text says so.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import jupytext

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "notebooks" / "src"
TIMINGS = ROOT / "notebooks" / "timings.toml"
README = ROOT / "README.md"
START_HERE = SOURCES / "00_start_here.py"
INSTRUCTORS = ROOT / "instructors" / "README.md"

WORDS_PER_MINUTE = 150  # slower than plain reading: the text is technical, and there are pictures
QUESTIONS_MINUTES = 5

HEADER = re.compile(r"^# (?:⏱ about|Time: at least) \d+ minutes[^·\n]*(?P<rest>(?: · .*)?)$", re.M)
# A course-map row: | `NN_name` | what you do | minutes |   (README and 00, where 00 prefixes "# ")
MAP_ROW = re.compile(r"^(?P<lead>(?:# )?\| `(?P<name>\d\d_\w+)` \|.*\| )(?P<minutes>\d+|at least \d+)(?P<end> \|)$", re.M)
INSTRUCTOR_ROW = re.compile(r"^\| (?P<nn>\d\d) \| `(?P<name>\d\d_\w+)` \|.*\|$", re.M)


@dataclass(frozen=True)
class Timing:
    name: str
    machine_seconds: int
    reading_minutes: int
    measured: str

    @property
    def total_minutes(self) -> int:
        """Reading + machine + questions, rounded up to 5: the least a learner needs."""
        raw = self.reading_minutes + self.machine_seconds / 60 + QUESTIONS_MINUTES
        return 5 * math.ceil(raw / 5)


def reading_minutes(source: Path) -> int:
    notebook = jupytext.read(source, fmt="py:percent")
    words = sum(len(cell.source.split()) for cell in notebook.cells if cell.cell_type == "markdown")
    return max(1, round(words / WORDS_PER_MINUTE))


def timings() -> dict[str, Timing]:
    measured = tomllib.loads(TIMINGS.read_text())
    found = {}
    for source in sorted(SOURCES.glob("[0-9][0-9]_*.py")):
        if source.stem not in measured:
            raise SystemExit(f"{TIMINGS.name} has no machine time for {source.stem}: measure it "
                             f"(instructors/README.md, 'How to measure') and add a [{source.stem}] table")
        entry = measured[source.stem]
        found[source.stem] = Timing(source.stem, int(entry["machine_seconds"]), reading_minutes(source),
                                    str(entry["measured"]))
    return found


def header_line(t: Timing) -> str:
    return (f"# Time: at least {t.total_minutes} minutes, plus the exercises "
            f"(reading {t.reading_minutes} min, running {t.machine_seconds} s)")


def instructor_row(t: Timing) -> str:
    nn = t.name[:2]
    return (f"| {nn} | `{t.name}` | {t.machine_seconds} | {t.reading_minutes} | not yet observed "
            f"| at least {t.total_minutes} | {t.measured} |")


def render_source(text: str, t: Timing) -> str:
    return HEADER.sub(lambda m: header_line(t) + m["rest"], text, count=1)


def render_map(text: str, found: dict[str, Timing]) -> str:
    def row(m: re.Match) -> str:
        t = found.get(m["name"])
        return m[0] if t is None else f"{m['lead']}at least {t.total_minutes}{m['end']}"
    return MAP_ROW.sub(row, text)


def render_instructors(text: str, found: dict[str, Timing]) -> str:
    def row(m: re.Match) -> str:
        t = found.get(m["name"])
        return m[0] if t is None else instructor_row(t)
    return INSTRUCTOR_ROW.sub(row, text)


def rendered_files() -> dict[Path, str]:
    """Every file that quotes minutes, as it should read."""
    found = timings()
    files = {}
    for name, t in found.items():
        path = SOURCES / f"{name}.py"
        files[path] = render_source(path.read_text(), t)
    files[START_HERE] = render_map(files[START_HERE], found)
    files[README] = render_map(README.read_text(), found)
    files[INSTRUCTORS] = render_instructors(INSTRUCTORS.read_text(), found)
    return files


def stale_files() -> list[Path]:
    return [path for path, text in rendered_files().items() if path.read_text() != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write the figures into every file")
    parser.add_argument("--check", action="store_true", help="exit 1 when a file disagrees")
    args = parser.parse_args(argv)
    if args.write:
        for path, text in rendered_files().items():
            if path.read_text() != text:
                path.write_text(text)
                print("updated", path.relative_to(ROOT))
        return 0
    if args.check:
        stale = stale_files()
        for path in stale:
            print(f"{path.relative_to(ROOT)} quotes other minutes than notebooks/timings.toml: "
                  "run `python tools/minutes.py --write`")
        return 1 if stale else 0
    for t in timings().values():
        print(f"{t.name:28} reading {t.reading_minutes:3} min  machine {t.machine_seconds:3} s  "
              f"at least {t.total_minutes} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
