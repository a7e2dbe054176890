"""What a notebook shows without a kernel (GitHub, nbviewer, JupyterLab on open): every widget
leaves a line of text saying what it is and its state, every wait leaves one final line, and the
saved notebook keeps only those (tools/nbbuild.py drops the widget views)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from IPython.core.formatters import DisplayFormatter

from helpers import waiters
from helpers.course import Interactive
from helpers.evaluator.model import Explanation, Flow, Verdict
from helpers.widgets import RuleToggle, ServiceScaler, ServiceScalerView

TOOLS = Path(__file__).resolve().parents[1] / "tools"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
DNS = "lab-alb-1.us-east-1.elb.amazonaws.com"


def shown(obj) -> dict:
    """The display data IPython publishes for `obj` (what a notebook stores)."""
    data, _metadata = DisplayFormatter().format(obj)
    return data


def scaler_widget(desired: int = 2) -> Interactive:
    model = ServiceScaler(lambda count: None, desired=desired, maximum=6)
    return Interactive(ServiceScalerView(model), "service scaler", f"nb07-svc, desired {model.desired}")


def test_a_widget_says_what_it_is_and_its_state_as_text():
    data = shown(scaler_widget(2))
    assert data["text/plain"] == "[service scaler: nb07-svc, desired 2 - needs a running kernel]"
    assert "nb07-svc, desired 2" in data["text/html"] and "needs a running kernel" in data["text/html"]
    assert WIDGET_VIEW in data  # live in JupyterLab: the widget itself


def test_the_state_in_the_text_is_the_one_shown():
    assert "desired 5" in shown(scaler_widget(5))["text/plain"]


def test_the_html_fallback_escapes_what_it_shows():
    widget = Interactive(ServiceScalerView(ServiceScaler(lambda count: None)), "rule switch", "<b>x</b> & y")
    assert "&lt;b&gt;x&lt;/b&gt; &amp; y" in shown(widget)["text/html"]


def test_a_rule_switch_says_its_rule_its_position_and_the_verdict():
    blocked = Verdict(Flow(DNS, 8081), "dropped", explanations=(Explanation("ENI_SG_RULES_MISMATCH", "sg-0alb", "", ""),))
    toggle = RuleToggle(lambda: None, lambda: None, lambda: blocked, enabled=False, description="listener + SG rule on 8081")
    text = shown(Interactive.switch(toggle))["text/plain"]
    assert text == ("[rule switch: listener + SG rule on 8081 - off; now: blocked: ENI_SG_RULES_MISMATCH"
                    " - needs a running kernel]")


@pytest.mark.parametrize(("ended", "expected"), [
    ("done", "waited for target health: 3 healthy"),
    ("timeout", "gave up waiting for target health after 30 s: 3 healthy"),
    ("stopped", "stopped waiting for target health: 3 healthy"),
])
def test_a_wait_ends_in_one_line_without_timings(ended, expected):
    assert waiters.final_line("target health", "3 healthy", ended, 30.0) == expected


class RecordingBar:
    def __init__(self, what: str) -> None:
        self.statuses: list[str] = []
        self.final: str | None = None

    def update(self, status: str) -> None:
        self.statuses.append(status)

    def close(self, final: str) -> None:
        self.final = final


@pytest.fixture
def bars(monkeypatch) -> list[RecordingBar]:
    made: list[RecordingBar] = []

    def progress_line(what: str) -> RecordingBar:
        made.append(RecordingBar(what))
        return made[-1]

    monkeypatch.setattr(waiters, "progress_line", progress_line)
    return made


def test_wait_until_leaves_the_final_status_on_its_bar(bars):
    answers = iter([(False, "1 initial"), (True, "1 healthy")])
    assert waiters.wait_until(lambda: next(answers), what="target health", interval=0) == "1 healthy"
    assert bars[0].statuses == ["1 initial", "1 healthy"]
    assert bars[0].final == "waited for target health: 1 healthy"


def test_wait_until_says_it_gave_up_on_its_bar(bars):
    with pytest.raises(waiters.WaitTimeout):
        waiters.wait_until(lambda: (False, "0 healthy"), what="target health", timeout=0, interval=0)
    assert bars[0].final == "gave up waiting for target health after 0 s: 0 healthy"


def test_wait_until_says_it_stopped_when_the_check_fails(bars):
    def broken():
        raise RuntimeError("no such target group")

    with pytest.raises(RuntimeError):
        waiters.wait_until(broken, what="target health", interval=0)
    assert bars[0].final == "stopped waiting for target health: starting"


def test_the_terminal_bar_leaves_its_final_line_on_stderr(capsys):
    bar = waiters._TerminalProgress("target health")
    bar.update("2 healthy")
    bar.close("waited for target health: 2 healthy")
    assert capsys.readouterr().err.rstrip().endswith("waited for target health: 2 healthy")


@pytest.fixture
def nbbuild(monkeypatch):
    monkeypatch.syspath_prepend(str(TOOLS))  # tools/ are scripts, not a package
    import nbbuild

    return nbbuild


def test_the_saved_notebook_keeps_the_text_and_drops_widget_views(nbbuild):
    widget_only = nbformat.v4.new_output("display_data", data={WIDGET_VIEW: {"model_id": "abc"}})
    with_text = nbformat.v4.new_output("execute_result", data={WIDGET_VIEW: {"model_id": "def"}, "text/plain": "[x]"},
                                       execution_count=1)
    final_line = nbformat.v4.new_output("display_data", data={"text/plain": "waited for target health: 3 healthy"})
    printed = nbformat.v4.new_output("stream", name="stdout", text="hello\n")
    kept = nbbuild.without_widget_views([widget_only, with_text, final_line, printed])
    assert [output.get("data", {}).get("text/plain", output.get("text")) for output in kept] == [
        "[x]", "waited for target health: 3 healthy", "hello\n"]
    assert all(WIDGET_VIEW not in output.get("data", {}) for output in kept)


def test_clean_drops_widget_views_from_every_cell(nbbuild):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("lab.service_scaler(stack)", outputs=[
        nbformat.v4.new_output("display_data", data={WIDGET_VIEW: {"model_id": "abc"}})])])
    nbbuild.clean(notebook)
    assert notebook.cells[0].outputs == []


def test_a_widget_without_a_state_still_says_it_needs_a_kernel():
    widget = Interactive(ServiceScalerView(ServiceScaler(lambda count: None)), "service scaler")
    assert shown(widget)["text/plain"] == "[service scaler - needs a running kernel]"
