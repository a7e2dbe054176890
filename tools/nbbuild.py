"""Build the course notebooks from their sources, executing them so they carry real outputs.

    python tools/nbbuild.py            # every notebooks/src/*.py -> notebooks/*.ipynb, executed
    python tools/nbbuild.py 01 03      # only those whose names start with 01 or 03

Sources are plain Python in "percent" format, easy to review in a diff:

    # %% [markdown]
    # # A heading
    # %%
    print("a code cell")
    # %% solution          <- a solution cell: CI runs it; JupyterLab shows it collapsed

Outputs are produced by running the notebook against a sandbox, never pasted. Volatile
metadata is dropped, so a rebuild changes only what really changed.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "notebooks" / "src"
CELL_MARK = re.compile(r"^# %%(?P<kind>.*)$")


def parse(source: str) -> list[nbformat.NotebookNode]:
    cells, kind, lines = [], None, []

    def flush():
        if kind is None:
            return
        text = "\n".join(lines).strip("\n")
        if kind == "markdown":
            text = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in text.splitlines())
            cells.append(nbformat.v4.new_markdown_cell(text))
            return
        cell = nbformat.v4.new_code_cell(text)
        if kind == "solution":
            cell.metadata = {"tags": ["solution"], "jupyter": {"source_hidden": True}}
        cells.append(cell)

    for line in source.splitlines():
        match = CELL_MARK.match(line)
        if match:
            flush()
            marker = match["kind"].strip()
            kind = "markdown" if marker == "[markdown]" else "solution" if marker == "solution" else "code"
            lines = []
        else:
            lines.append(line)
    flush()
    return cells


def clean(notebook: nbformat.NotebookNode) -> None:
    notebook.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    # Execution counts stay: a fresh kernel numbers the cells 1..N, the same on every build,
    # and nbval takes a cell without one for a cell that never ran.
    for cell in notebook.cells:
        cell.pop("id", None)


def build(source_path: Path, timeout: int = 300) -> Path:
    notebook = nbformat.v4.new_notebook(cells=parse(source_path.read_text()))
    NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    clean(notebook)
    notebook.nbformat_minor = 4  # no cell ids: stable diffs
    target = ROOT / "notebooks" / (source_path.stem + ".ipynb")
    nbformat.write(notebook, target)
    return target


def main(prefixes: list[str]) -> int:
    sources = sorted(p for p in SOURCES.glob("*.py") if not prefixes or p.name.startswith(tuple(prefixes)))
    if not sources:
        print(f"no notebook sources match {prefixes}", file=sys.stderr)
        return 2
    for source in sources:
        print(f"building {source.name} ...", flush=True)
        print(f"  wrote {build(source).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
