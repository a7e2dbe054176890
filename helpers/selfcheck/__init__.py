"""Self-checks for the exercises: each check says what it found, in words, and what to try next.

    from helpers.selfcheck import expect, report
    report([      # a cell's last value: prints one line per check
        expect(80 in ports, "the listener on 80 is there", "create a listener on port 80 first"),
    ])

A check never raises: an exercise left undone prints "not yet" and the notebook runs on.
Per-notebook checks live in `nbNN.py` modules beside this one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CheckResult:
    passed: bool
    message: str

    def __str__(self) -> str:
        # ✓ and ✗ (not emoji): the fonts of a plain Linux browser have them.
        return f"✓ {self.message}" if self.passed else f"✗ not yet: {self.message}"


def expect(condition: bool, success: str, hint: str) -> CheckResult:
    """`success` when `condition` holds, else `hint` (what is missing and how to get there)."""
    return CheckResult(bool(condition), success if condition else hint)


@dataclass(frozen=True)
class Report:
    """Every check's line and a last one. True when all passed (`assert report` works)."""

    results: tuple[CheckResult, ...]

    def __bool__(self) -> bool:
        return all(r.passed for r in self.results)

    def __str__(self) -> str:
        lines = [str(r) for r in self.results]
        passed = sum(r.passed for r in self.results)
        if passed == len(self.results):
            lines.append(f"All {len(self.results)} checks pass. Well done!")
        else:
            lines.append(f"{passed} of {len(self.results)} checks pass - read the hints above and try again.")
        return "\n".join(lines)

    __repr__ = __str__


def report(results: list[CheckResult]) -> Report:
    """The results as one report that prints a line each (show it as a cell's last value)."""
    return Report(tuple(results))
