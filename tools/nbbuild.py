"""Build the course notebooks from their sources, executing them so they carry real outputs;
check that the stored notebooks still match their sources.

    python tools/nbbuild.py            # every notebooks/src/*.py -> notebooks/*.ipynb, executed
    python tools/nbbuild.py 01 03      # only those whose names start with 01 or 03
    python tools/nbbuild.py --check    # executes nothing: exit 1 if a notebook's cells differ from its source

Sources are plain Python in jupytext's "percent" format, easy to review in a diff:

    # %% [markdown]
    # # A heading

    # %%
    print("a code cell")

    # %% jupyter={"source_hidden": true} tags=["solution"]
    answer = 42          <- a solution cell: CI runs it; JupyterLab shows it collapsed

jupytext reads them (a cell's options after `# %%` are its notebook metadata) and writes them back
unchanged. Outputs are produced by running the notebook against a sandbox, never pasted. Volatile
metadata is dropped, so a rebuild changes only what really changed.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from itertools import zip_longest
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SOURCES = NOTEBOOKS / "src"
SOLUTION_TAG = "solution"
SOLUTION_MARKER = '# %% jupyter={"source_hidden": true} tags=["solution"]'
# The only cell metadata a source sets (solution cells); anything else is a mistake, such as the
# old `# %% solution`, which jupytext reads as a cell title.
CELL_METADATA = {"tags", "jupyter"}
# What jupytext records about the text's layout (blank lines, markers) so it can write it back:
# not the notebook's business.
LAYOUT_METADATA = {"lines_to_next_cell", "lines_to_end_of_cell_marker", "cell_marker"}
SHORT_DIFF_LINES = 12
# A live widget's output: a pointer to a model that exists only while the kernel runs. Saved, it
# shows "Loading widget..." / "model not found" (JupyterLab) or nothing (GitHub, nbviewer), so the
# saved notebook keeps the text the course puts beside it instead (helpers.course.Interactive,
# the final line of a helpers.waiters wait). nbval never compares this mimetype.
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def parse(source: str, where: str = "source") -> list[nbformat.NotebookNode]:
    """The cells of a percent-format source, as jupytext reads them, without layout metadata."""
    cells = jupytext.reads(source, fmt="py:percent").cells
    for index, cell in enumerate(cells):
        for key in LAYOUT_METADATA & set(cell.metadata):
            del cell.metadata[key]
        unknown = {key: value for key, value in cell.metadata.items() if key not in CELL_METADATA}
        if unknown:
            raise ValueError(f"{where} cell {index}: unexpected cell options {unknown} after `# %%` "
                             f"(only tags and jupyter are used); a solution cell starts with `{SOLUTION_MARKER}`")
    return cells


def is_solution(cell: nbformat.NotebookNode) -> bool:
    return SOLUTION_TAG in cell.metadata.get("tags", [])


def clean(notebook: nbformat.NotebookNode) -> None:
    notebook.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    # Execution counts stay: a fresh kernel numbers the cells 1..N, the same on every build,
    # and nbval takes a cell without one for a cell that never ran.
    for cell in notebook.cells:
        cell.pop("id", None)
        if "outputs" in cell:
            cell.outputs = without_widget_views(cell.outputs)


def without_widget_views(outputs: list) -> list:
    """`outputs` without widget views: an output that also has text keeps the text, one that was
    only a widget (a wait's live progress line) is left out."""
    kept = []
    for output in outputs:
        data = output.get("data")
        if data is not None and WIDGET_VIEW in data:
            del data[WIDGET_VIEW]
            if not data:
                continue
        kept.append(output)
    return kept


def notebook_path(source_path: Path, notebooks: Path = NOTEBOOKS) -> Path:
    return notebooks / (source_path.stem + ".ipynb")


def build(source_path: Path, timeout: int = 300) -> Path:
    notebook = nbformat.v4.new_notebook(cells=parse(source_path.read_text(), source_path.name))
    NotebookClient(notebook, timeout=timeout, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    clean(notebook)
    notebook.nbformat_minor = 4  # no cell ids: stable diffs
    target = notebook_path(source_path)
    nbformat.write(notebook, target)
    return target


def _build_command(stem: str) -> str:
    return f"python tools/nbbuild.py {stem.split('_')[0]}"


def _as_in_source(cell: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """What a source says of `cell`: its type, its text and its options after `# %%` (the
    solution tag), without what execution adds (outputs, counts, timings)."""
    options = {key: cell.metadata[key] for key in sorted(CELL_METADATA & set(cell.metadata))}
    return nbformat.from_dict({"cell_type": cell.cell_type, "source": cell.source, "metadata": options})


def _percent_lines(cells: list) -> list[str]:
    no_header = {"jupytext": {"notebook_metadata_filter": "-all"}}
    notebook = nbformat.from_dict({"cells": cells, "metadata": no_header, "nbformat": 4, "nbformat_minor": 4})
    return jupytext.writes(notebook, fmt="py:percent").splitlines()


def cell_differences(source_cells: list, stored_cells: list, name: str) -> list[str]:
    """How the stored notebook `name`'s cells differ from its source's: the first differing cell
    and a short diff in the source's format. Empty when they match."""
    source_cells = [_as_in_source(cell) for cell in source_cells]
    stored_cells = [_as_in_source(cell) for cell in stored_cells]
    differing = [index for index, (new, old) in enumerate(zip_longest(source_cells, stored_cells)) if new != old]
    if not differing:
        return []
    diff = list(difflib.unified_diff(_percent_lines(stored_cells), _percent_lines(source_cells),
                                     "notebook", "source", lineterm="", n=1))[2:]  # [2:]: no file names
    lines = [f"{name} cell {differing[0]} differs from its source"
             f" ({len(differing)} of {max(len(source_cells), len(stored_cells))} cells differ):"]
    lines += [f"    {line}" for line in diff[:SHORT_DIFF_LINES]]
    if len(diff) > SHORT_DIFF_LINES:
        lines.append(f"    ... ({len(diff) - SHORT_DIFF_LINES} more diff lines)")
    return lines


def stale_notebooks(sources: Path = SOURCES, notebooks: Path = NOTEBOOKS) -> list[str]:
    """One message per notebook that does not match its source (or has none, or is missing),
    each ending with how to fix it. Executes nothing."""
    messages = []
    source_paths = sorted(sources.glob("*.py"))
    for source_path in source_paths:
        stored = notebook_path(source_path, notebooks)
        if not stored.exists():
            messages.append(f"{source_path.name} has no notebook {stored.name}\n"
                            f"    fix: {_build_command(source_path.stem)}")
            continue
        lines = cell_differences(parse(source_path.read_text(), source_path.name),
                                 nbformat.read(stored, as_version=4).cells, stored.name)
        if lines:
            messages.append("\n".join(lines + [f"    fix: {_build_command(source_path.stem)}"]))
    for orphan in sorted({path.stem for path in notebooks.glob("*.ipynb")} - {path.stem for path in source_paths}):
        messages.append(f"{orphan}.ipynb has no source {orphan}.py in {sources.name}/\n"
                        f"    fix: write the source, or delete the notebook")
    return messages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true",
                        help="execute nothing; exit 1 if a stored notebook's cells differ from its source")
    parser.add_argument("prefixes", nargs="*", help="only sources whose names start with these")
    args = parser.parse_args(argv)
    try:
        if args.check:
            messages = stale_notebooks()
            print("\n\n".join(messages) if messages else "every notebook matches its source")
            return 1 if messages else 0
        sources = sorted(p for p in SOURCES.glob("*.py")
                         if not args.prefixes or p.name.startswith(tuple(args.prefixes)))
        if not sources:
            print(f"no notebook sources match {args.prefixes}", file=sys.stderr)
            return 2
        for source in sources:
            print(f"building {source.name} ...", flush=True)
            print(f"  wrote {build(source).relative_to(ROOT)}")
        return 0
    except ValueError as error:
        print(f"bad source: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
