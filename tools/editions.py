"""Learner and solution editions of the notebooks, from one source.

    python tools/editions.py --learner OUT_DIR     # learner notebooks: no answers, no outputs
    python tools/editions.py --check               # execute every learner notebook; exit 1 if a cell raises
    python tools/editions.py --check 01 03         # only sources whose names start with 01 or 03
    (--source DIR reads other percent-format sources than notebooks/src)

The solution edition is what `tools/nbbuild.py` builds (notebooks/*.ipynb): solution cells run and
are shown collapsed. The learner edition changes only the solution cells (tagged "solution": in a
source, `# %% jupyter={"source_hidden": true} tags=["solution"]`). In them, the lines between the
markers (nbgrader's) are the answer:

    ### BEGIN SOLUTION: create the listener on port 80        <- the hint is optional
    listener = course.create_listener(alb, port=80)
    ### END SOLUTION

and become a placeholder that still runs (the holoviz tutorial's `x = ...  # use hvplot here`):

    listener = ...  # your turn: create the listener on port 80

Every name the answer binds that later code uses stays bound, to `...`, so the cells after it
run and a self-check can say "not yet" instead of raising (names nothing reads, like a loop's
variable, are left out). Imports in the answer are kept as they are, for the same reason. A
solution cell without markers is all answer, as in nbgrader. The learner cell is shown expanded.
jupytext reads the sources (`nbbuild.parse`); nbgrader's own tool would replace an answer with
`raise NotImplementedError`, which stops the cells after it, hence this module.
"""

from __future__ import annotations

import argparse
import ast
import copy
import os
import re
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from nbbuild import ROOT, SOLUTION_MARKER, SOURCES, clean, is_solution, parse

BEGIN = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION(?::[ \t]*(?P<hint>.*?))?[ \t]*$")
END = re.compile(r"^[ \t]*### END SOLUTION[ \t]*$")
IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
CELL_TIMEOUT = 300


def _bound_names(node: ast.AST):
    """Names a statement binds in the cell's own scope (not inside functions or comprehensions)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        yield node.name
        return
    if isinstance(node, (ast.Import, ast.ImportFrom, ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp,
                         ast.GeneratorExp)):
        return  # imports are kept verbatim; comprehensions have their own scope
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
        yield node.id
    for child in ast.iter_child_nodes(node):
        yield from _bound_names(child)


def placeholder(answer: str, indent: str = "", hint: str | None = None, needed: set[str] | None = None) -> list[str]:
    """The lines that replace an answer: its imports, then each name it binds (that `needed`
    holds, when given) set to `...`."""
    tree = ast.parse(textwrap.dedent(answer))
    imports = [ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    names = [name for name in dict.fromkeys(name for node in tree.body for name in _bound_names(node))
             if needed is None or name in needed]
    lines = [f"{name} = ..." for name in names] or ["pass"]
    lines[0] += f"  # your turn: {hint}" if hint else "  # your turn"
    return [indent + line for line in imports + lines]


def learner_source(code: str, where: str = "", later: set[str] | None = None) -> str:
    """A solution cell's code with every marked answer replaced by its placeholder; `later` are
    the identifiers the cells after it use (None: keep every name the answer binds)."""
    try:
        return _replace_answers(code, where, later)
    except SyntaxError as error:
        raise ValueError(f"{where}: an answer must be plain Python ({error.msg}, line {error.lineno})") from None


def _has_markers(code: str) -> bool:
    return any(BEGIN.match(line) or END.match(line) for line in code.splitlines())


def _replace_answers(code: str, where: str, later: set[str] | None) -> str:
    if not _has_markers(code):
        return "\n".join(placeholder(code, needed=later))
    lines, out, answer, opened = code.splitlines(), [], None, None
    for number, line in enumerate(lines, 1):
        begin, end = BEGIN.match(line), END.match(line)
        if begin:
            if answer is not None:
                raise ValueError(f"{where} line {number}: BEGIN SOLUTION inside another solution block")
            answer, opened = [], begin
        elif end:
            if answer is None:
                raise ValueError(f"{where} line {number}: END SOLUTION without BEGIN SOLUTION")
            needed = None if later is None else later | set(IDENTIFIER.findall("\n".join(lines[number:])))
            out += placeholder("\n".join(answer), opened["indent"], opened["hint"], needed)
            answer = None
        elif answer is not None:
            answer.append(line)
        else:
            out.append(line)
    if answer is not None:
        raise ValueError(f"{where}: BEGIN SOLUTION is never closed by END SOLUTION")
    return "\n".join(out)


def answer_cell(solution_code: str) -> nbformat.NotebookNode:
    """A markdown cell that keeps the answer folded away until the learner opens it: try first."""
    code = "\n".join(line for line in solution_code.splitlines() if not (BEGIN.match(line) or END.match(line)))
    return nbformat.v4.new_markdown_cell(
        "<details><summary><b>Show the answer</b> (try it yourself first; the check below tells you "
        "when you have it)</summary>\n\n```python\n" + code.strip("\n") + "\n```\n\n</details>")


def learner_edition(cells: list, where: str = "") -> list:
    """Copies of `cells` (nbbuild's `parse`) with the answers replaced, each followed by a folded
    answer the learner opens on request; `cells` is left unchanged."""
    edition = []
    for index, cell in enumerate(cells):
        cell = copy.deepcopy(cell)
        if cell.cell_type == "code" and is_solution(cell):
            later = {name for after in cells[index + 1:] if after.cell_type == "code"
                     for name in IDENTIFIER.findall(after.source)}
            solution = cell.source
            cell.source = learner_source(cell.source, f"{where} cell {index}", later)
            cell.metadata = {}  # shown expanded: it is the learner's cell now
            edition += [cell, answer_cell(solution)]
            continue
        elif cell.cell_type == "code" and _has_markers(cell.source):
            # The learner edition would show this answer: markers belong in solution cells.
            raise ValueError(f"{where} cell {index}: solution markers outside a solution cell "
                             f"(one tagged \"solution\": `{SOLUTION_MARKER}`)")
        edition.append(cell)
    return edition


def learner_notebook(source_path: Path) -> nbformat.NotebookNode:
    cells = learner_edition(parse(source_path.read_text(), source_path.name), source_path.name)
    notebook = nbformat.v4.new_notebook(cells=cells)
    clean(notebook)
    notebook.nbformat_minor = 4  # no cell ids, as nbbuild writes them
    return notebook


def write_learner(sources: list[Path], out_dir: Path, *, keep_existing: bool = False) -> list[Path]:
    """Write each source's learner notebook into `out_dir`; with `keep_existing`, a notebook that is
    already there (the learner's own work) is left as it is."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for source in sources:
        target = out_dir / (source.stem + ".ipynb")
        if keep_existing and target.exists():
            continue
        nbformat.write(learner_notebook(source), target)
        written.append(target)
    return written


def check(sources: list[Path]) -> int:
    """Execute each learner notebook; a self-check may say "not yet", but no cell may raise."""
    from helpers.sandbox.launcher import STATE_DIR_ENV, stop_sandbox

    failed, before = 0, os.environ.get(STATE_DIR_ENV)
    # The kernels start their sandbox in a private state dir: a learner's own is never reused or stopped.
    state = tempfile.TemporaryDirectory(prefix="ecs-alb-lab-editions-")
    os.environ[STATE_DIR_ENV] = state.name
    try:
        for source in sources:
            started, failing = time.monotonic(), []
            try:
                NotebookClient(learner_notebook(source), timeout=CELL_TIMEOUT, kernel_name="python3",
                               resources={"metadata": {"path": str(ROOT / "notebooks")}},
                               on_cell_error=lambda cell, cell_index, **_: failing.append((cell_index, cell.source))
                               ).execute()
            except CellExecutionError as error:
                failed += 1
                index, code = failing[-1] if failing else ("?", "")
                print(f"FAIL  {source.name} cell {index}: {error.ename}: {error.evalue}\n"
                      f"{textwrap.indent(code, '      | ')}", flush=True)
                continue
            print(f"ok    {source.name} ({time.monotonic() - started:.0f} s)", flush=True)
    finally:
        stop_sandbox()
        if before is None:
            os.environ.pop(STATE_DIR_ENV)
        else:
            os.environ[STATE_DIR_ENV] = before
        state.cleanup()
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--learner", metavar="OUT_DIR", type=Path, help="write the learner notebooks there")
    action.add_argument("--check", action="store_true", help="execute every learner notebook; fail if a cell raises")
    parser.add_argument("--source", type=Path, default=SOURCES, help="directory of percent-format sources")
    parser.add_argument("--keep-existing", action="store_true",
                        help="with --learner: leave notebooks already in OUT_DIR alone (a learner's work)")
    parser.add_argument("prefixes", nargs="*", help="only sources whose names start with these")
    args = parser.parse_args(argv)

    sources = sorted(p for p in args.source.glob("*.py")
                     if not args.prefixes or p.name.startswith(tuple(args.prefixes)))
    if not sources:
        print(f"no notebook sources in {args.source} match {args.prefixes}", file=sys.stderr)
        return 2
    try:
        if args.learner:
            for path in write_learner(sources, args.learner, keep_existing=args.keep_existing):
                print(f"wrote {path}")
            return 0
        return check(sources)
    except ValueError as error:
        print(f"bad source: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
