"""Every stored notebook matches its source in notebooks/src, as jupytext reads it (cell types,
texts, solution tags), and the sources are in jupytext's own percent format. Executes nothing.
When the first test fails, rebuild the notebook it names: `python tools/nbbuild.py NN`."""

import shutil
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "tools"
SOURCES = sorted((ROOT / "notebooks" / "src").glob("*.py"))
SOLUTION_CELL = '# %% jupyter={"source_hidden": true} tags=["solution"]'


@pytest.fixture
def nbbuild(monkeypatch):
    monkeypatch.syspath_prepend(str(TOOLS))  # tools/ are scripts, not a package
    import nbbuild

    return nbbuild


@pytest.fixture
def copies(tmp_path):
    """A copy of the sources and their stored notebooks: (sources dir, notebooks dir)."""
    notebooks = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", notebooks, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return notebooks / "src", notebooks


def test_every_stored_notebook_matches_its_source(nbbuild):
    problems = nbbuild.stale_notebooks()
    assert not problems, "stored notebooks differ from their sources:\n\n" + "\n\n".join(problems)


@pytest.mark.parametrize("source", SOURCES, ids=[s.stem for s in SOURCES])
def test_a_source_is_written_back_by_jupytext_unchanged(source):
    text = source.read_text()
    assert jupytext.writes(jupytext.reads(text, fmt="py:percent"), fmt="py:percent") == text


def test_solution_cells_are_tagged_and_collapsed_and_no_other_cell_has_metadata(nbbuild):
    cells = [cell for source in SOURCES for cell in nbbuild.parse(source.read_text())]
    solutions = [cell for cell in cells if nbbuild.is_solution(cell)]
    assert solutions and all(cell.metadata == {"jupyter": {"source_hidden": True}, "tags": ["solution"]}
                             for cell in solutions)
    assert all(cell.metadata == {} for cell in cells if not nbbuild.is_solution(cell))


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} is not in {path.name}"
    path.write_text(text.replace(old, new, 1))


def test_an_edited_cell_is_named_with_a_diff_and_the_fix(nbbuild, copies):
    sources, notebooks = copies
    source = sources / "01_listener.py"
    cells = nbbuild.parse(source.read_text())
    index = next(i for i, cell in enumerate(cells) if cell.source == 'print(lab.request(f"http://{alb}:8081/"))')
    _edit(source, 'print(lab.request(f"http://{alb}:8081/"))', 'print(lab.request(f"http://{alb}:8082/"))')

    [problem] = nbbuild.stale_notebooks(sources, notebooks)
    assert problem.startswith(f"01_listener.ipynb cell {index} differs from its source (1 of {len(cells)} cells differ):\n")
    assert '-print(lab.request(f"http://{alb}:8081/"))' in problem
    assert '+print(lab.request(f"http://{alb}:8082/"))' in problem
    assert problem.endswith("fix: python tools/nbbuild.py 01")


def test_a_lost_solution_tag_is_reported(nbbuild, copies):
    sources, notebooks = copies
    _edit(sources / "02_port_mapping.py", SOLUTION_CELL + "\n", "# %%\n")
    [problem] = nbbuild.stale_notebooks(sources, notebooks)
    assert problem.startswith("02_port_mapping.ipynb cell ")
    assert f"    -{SOLUTION_CELL}\n    +# %%\n" in problem


def test_an_inserted_cell_is_reported_at_its_place(nbbuild, copies):
    sources, notebooks = copies
    _edit(sources / "03_alb_to_ecs.py", "# %% [markdown]\n", "# %%\nprint('new')\n\n# %% [markdown]\n")
    [problem] = nbbuild.stale_notebooks(sources, notebooks)
    assert problem.startswith("03_alb_to_ecs.ipynb cell 0 differs from its source")
    assert "    +# %%\n    +print('new')\n" in problem
    assert problem.endswith("fix: python tools/nbbuild.py 03")


def test_a_source_without_notebook_and_a_notebook_without_source_are_reported(nbbuild, copies):
    sources, notebooks = copies
    (sources / "04_inbound_dynamic_ports.py").rename(sources / "04_renamed.py")
    problems = nbbuild.stale_notebooks(sources, notebooks)
    assert problems == [
        "04_renamed.py has no notebook 04_renamed.ipynb\n    fix: python tools/nbbuild.py 04",
        "04_inbound_dynamic_ports.ipynb has no source 04_inbound_dynamic_ports.py in src/\n"
        "    fix: write the source, or delete the notebook",
    ]


def test_the_old_solution_marker_is_refused_with_the_new_one_named(nbbuild):
    with pytest.raises(ValueError, match=r"x\.py cell 0: unexpected cell options {'title': 'solution'}.*tags=\[\"solution\"\]"):
        nbbuild.parse("# %% solution\nanswer = 42\n", "x.py")


def test_layout_metadata_stays_out_of_the_notebook(nbbuild):
    cells = nbbuild.parse("# %%\nx = 1\n# %% [markdown]\n# text\n")  # no blank line between cells
    assert [cell.metadata for cell in cells] == [{}, {}]
    assert [cell.source for cell in cells] == ["x = 1", "text"]
