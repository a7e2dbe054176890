"""tools/editions.py: one source, a learner edition whose placeholders still run."""

import contextlib
import io
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

TOOLS = Path(__file__).resolve().parents[1] / "tools"

SOURCE = '''\
# %% [markdown]
# # Open the hosts to the ALB
# %%
rules = []
# %% jupyter={"source_hidden": true} tags=["solution"]
import json
### BEGIN SOLUTION: allow port 80 from the ALB's security group
from math import floor
rule = {"port": 80, "source": "sg-alb"}
rules = rules + [rule]
def describe(r):
    return json.dumps(r, sort_keys=True)
### END SOLUTION
print("rules:", len(rules) if rules is not ... else "?")
# %% jupyter={"source_hidden": true} tags=["solution"]
for port in [80]:
    ### BEGIN SOLUTION
    print("opening", port)
    ### END SOLUTION
# %% jupyter={"source_hidden": true} tags=["solution"]
answer = 6 * 7
# %%
if rule is ... or answer is ...:
    print("not yet: fill in the cells above")
else:
    print("ok:", describe(rule), answer)
'''

SOLUTION_CELL = '# %% jupyter={"source_hidden": true} tags=["solution"]\n'  # a solution cell's first line

LEARNER_CELL = '''\
import json
from math import floor
rule = ...  # your turn: allow port 80 from the ALB's security group
rules = ...
describe = ...
print("rules:", len(rules) if rules is not ... else "?")'''


@pytest.fixture
def editions(monkeypatch):
    monkeypatch.syspath_prepend(str(TOOLS))  # tools/ are scripts, not a package
    import editions

    return editions


def _run(cells) -> str:
    """Execute code cells in one namespace, as a kernel would; return what they printed."""
    namespace, printed = {}, io.StringIO()
    with contextlib.redirect_stdout(printed):
        for cell in cells:
            if cell.cell_type == "code":
                exec(cell.source, namespace)
    return printed.getvalue()


def test_answers_become_placeholders_and_markers_go(editions):
    cells = [c for c in editions.learner_edition(editions.parse(SOURCE)) if c.cell_type == "code"]
    assert cells[1].source == LEARNER_CELL
    assert cells[2].source == "for port in [80]:\n    pass  # your turn"
    assert cells[3].source == "answer = ...  # your turn"  # no markers: the whole cell is the answer
    assert all(cell.metadata == {} for cell in cells)  # un-hidden
    text = "\n".join(cell.source for cell in cells)
    for gone in ("SOLUTION", "sg-alb", "6 * 7", "opening"):
        assert gone not in text


def test_each_answer_follows_its_cell_folded_until_asked_for(editions):
    cells = editions.learner_edition(editions.parse(SOURCE))
    learner = next(i for i, c in enumerate(cells) if c.source == LEARNER_CELL)
    answer = cells[learner + 1]
    assert answer.cell_type == "markdown"
    assert answer.source.startswith("<details><summary>") and answer.source.endswith("</details>")
    assert "sg-alb" in answer.source and "SOLUTION" not in answer.source  # the answer, without markers
    assert sum(c.cell_type == "markdown" and c.source.startswith("<details>") for c in cells) == 3


def test_a_learners_own_notebook_is_never_overwritten(editions, tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "10_rules.py").write_text(SOURCE)
    out = tmp_path / "out"
    out.mkdir()
    (out / "10_rules.ipynb").write_text("my work")
    assert editions.main(["--learner", str(out), "--source", str(tmp_path / "src"), "--keep-existing"]) == 0
    assert (out / "10_rules.ipynb").read_text() == "my work"


def test_only_names_that_later_code_reads_stay_bound(editions):
    source = (SOLUTION_CELL + "### BEGIN SOLUTION\nfor n in range(3):\n    total = n\nunused = 1\n### END SOLUTION\n"
              "# %%\nprint(total)\n")
    cells = editions.learner_edition(editions.parse(source))
    assert cells[0].source == "total = ...  # your turn"
    assert cells[1].cell_type == "markdown"  # its folded answer


def test_the_learner_edition_runs_and_the_self_check_says_not_yet(editions):
    printed = _run(editions.learner_edition(editions.parse(SOURCE)))
    assert printed == "rules: ?\nnot yet: fill in the cells above\n"


def test_the_solution_edition_is_unchanged(editions):
    cells = editions.parse(SOURCE)
    before = [dict(cell) for cell in cells]
    editions.learner_edition(cells)
    assert [dict(cell) for cell in cells] == before
    assert "### BEGIN SOLUTION" in cells[2].source and cells[2].metadata["jupyter"]["source_hidden"]
    assert _run(cells).endswith('ok: {"port": 80, "source": "sg-alb"} 42\n')


@pytest.mark.parametrize("source, message", [
    ("# %%\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n", "outside a solution cell"),
    (SOLUTION_CELL + "### BEGIN SOLUTION\nx = 1\n", "never closed"),
    (SOLUTION_CELL + "x = 1\n### END SOLUTION\n", "END SOLUTION without BEGIN"),
    (SOLUTION_CELL + "### BEGIN SOLUTION\n!curl http://alb/\n### END SOLUTION\n", "plain Python"),
])
def test_bad_markers_are_named(editions, source, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        editions.learner_edition(editions.parse(source), "x.py")


def test_learner_notebooks_are_written_without_outputs(editions, tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "10_rules.py").write_text(SOURCE)
    assert editions.main(["--learner", str(tmp_path / "out"), "--source", str(tmp_path / "src")]) == 0
    notebook = nbformat.read(tmp_path / "out" / "10_rules.ipynb", as_version=4)
    nbformat.validate(notebook)
    assert [c.source for c in notebook.cells if c.cell_type == "code"][1] == LEARNER_CELL
    assert all(c.outputs == [] and c.execution_count is None for c in notebook.cells if c.cell_type == "code")


@pytest.mark.slow
def test_check_executes_learner_editions_and_fails_on_a_cell_that_raises(tmp_path):
    (tmp_path / "10_good.py").write_text(SOURCE)
    # This self-check forgets the placeholder: `...["port"]` raises in the learner edition.
    (tmp_path / "20_bad.py").write_text(SOURCE.replace("if rule is ... or answer is ...:", "if rule['port'] != 80:"))
    done = subprocess.run([sys.executable, str(TOOLS / "editions.py"), "--check", "--source", str(tmp_path)],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 1, done.stderr
    assert "ok    10_good.py" in done.stdout
    assert "FAIL  20_bad.py cell 8: TypeError" in done.stdout  # cell 8 of the learner notebook: folded answers come in between
    assert "      | if rule['port'] != 80:" in done.stdout  # the learner's cell that raised
