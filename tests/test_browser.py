"""The notebooks as a learner meets them: JupyterLab in a real browser, every cell run, the
pictures drawn, the widgets used.

The browser is Debian's Chromium (`make browser` installs it; Playwright cannot download its own
here), driven by Playwright. JupyterLab serves a temporary copy of notebooks/, so nothing in the
repository changes, and its kernels start a sandbox of their own (a private ECS_ALB_LAB_STATE_DIR):
under pytest-xdist the notebooks run on another worker at the same time, in the session's sandbox.
Screenshots go to the temp directory; their paths are printed (`pytest -s` shows them).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from sandbox_process import terminate

from helpers.sandbox import launcher

try:  # an optional test dependency: without it the test says how to get it
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("LAB_CHROMIUM", "/usr/bin/chromium"))
# A headless browser that asks nothing of the network or of the machine's GPU and sandboxing.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]
SCREENSHOTS = Path(tempfile.gettempdir()) / "ecs-alb-lab-browser"
NOTEBOOK_TIMEOUT_MS = 600_000  # every cell of a notebook, on a loaded 2-core machine
WIDGET_TIMEOUT_MS = 60_000  # one widget action (a request, an API change and a new verdict)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]


def _missing() -> str | None:
    if sync_playwright is None:
        return "Playwright for Python is not installed (pip install -e '.[test]')"
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (make browser installs Debian's)"
    return None


@pytest.fixture(scope="module", autouse=True)
def browser_available():
    reason = _missing()
    if reason and os.environ.get("CI"):
        pytest.fail(reason)  # CI installs both: a missing one is a broken set-up, not a skip
    if reason:
        pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _write_settings(directory: Path) -> None:
    """JupyterLab user settings for the test: every cell in the page (JupyterLab 4 otherwise only
    renders the cells in view), and no news or update checks (there is no network)."""
    settings = {
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                             "checkForUpdates": False},
    }
    for name, values in settings.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """The URL of a JupyterLab server (no token) on a copy of notebooks/."""
    home = tmp_path_factory.mktemp("jupyterlab")
    root_dir = home / "notebooks"
    shutil.copytree(ROOT / "notebooks", root_dir, ignore=shutil.ignore_patterns("src", ".ipynb_checkpoints"))
    _write_settings(home / "settings")
    port = _free_port()
    jupyter = Path(sys.executable).parent / "jupyter"
    command = [str(jupyter), "lab", f"--port={port}", "--ip=127.0.0.1", "--no-browser",
               "--ServerApp.token=", "--ServerApp.password=", "--LabApp.expose_app_in_browser=True",
               f"--ServerApp.root_dir={root_dir}", "--LabApp.extension_manager=readonly"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    state = home / "sandbox-state"
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"), "JUPYTER_CONFIG_DIR": str(home / "config"),
           launcher.STATE_DIR_ENV: str(state)}
    log_path = home / "jupyterlab.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(url, server, log_path)
        yield url
    finally:
        terminate(server)
        with pytest.MonkeyPatch.context() as patch:  # the kernels' sandbox, started in `state`
            patch.setenv(launcher.STATE_DIR_ENV, str(state))
            launcher.stop_sandbox()


def _wait_until_serving(url: str, server: subprocess.Popen, log_path: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"JupyterLab exited with {server.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/api/status", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)  # polling a condition, with the deadline above
    pytest.fail(f"JupyterLab did not answer within {timeout} s:\n{log_path.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 1000})
        yield context
        context.close()


def screenshot(target, name: str) -> Path:
    """Save a screenshot of a page or an element; print where."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    target.screenshot(path=str(path))
    print(f"screenshot: {path}")
    return path


# -- JupyterLab, through its application object (--LabApp.expose_app_in_browser) -----------------
NOTEBOOK_READY = """() => {
    const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const kernel = panel && panel.sessionContext && panel.sessionContext.session
        && panel.sessionContext.session.kernel;
    return !!(kernel && kernel.status === 'idle' && panel.content.model && panel.content.widgets.length);
}"""

# Make cell `index` the active one and run an app command - 'notebook:run-all-above' (the menu's
# Run > Run All Above Selected Cell) or 'notebook:run-cell'. Not awaited: the wait below watches
# the cells, with a timeout.
RUN_COMMAND = """([command, index]) => {
    const app = window.jupyterapp;
    const notebook = app.shell.currentWidget.content;
    notebook.activeCellIndex = index;
    notebook.deselectAll();
    void app.commands.execute(command);
}"""

# The state of the cells [first, end): how many code cells still wait, and the error outputs.
CELL_STATE = """([first, end]) => {
    const panel = window.jupyterapp.shell.currentWidget;
    const cells = panel.content.model.cells;
    const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
    const state = {pending: 0, errors: [], idle: !!kernel && kernel.status === 'idle'};
    for (let i = first; i < end; i++) {
        const cell = cells.get(i);
        if (cell.type !== 'code') continue;
        if (cell.executionCount === null) state.pending++;
        for (let j = 0; j < cell.outputs.length; j++) {
            const output = cell.outputs.get(j).toJSON();
            if (output.output_type === 'error') state.errors.push(`cell ${i}: ${output.ename}: ${output.evalue}`);
        }
    }
    return state;
}"""


class NotebookPage:
    """One notebook open in JupyterLab."""

    def __init__(self, page, base_url: str, name: str) -> None:
        self.page, self.name = page, name
        page.goto(f"{base_url}/lab/tree/{name}.ipynb?reset")  # ?reset: only this notebook, no restored tabs
        page.wait_for_function(NOTEBOOK_READY, timeout=120_000)
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
        self.cell_count = page.evaluate("() => window.jupyterapp.shell.currentWidget.content.model.cells.length")
        assert self.state(0, self.cell_count)["pending"] == self.code_cell_count(), "outputs were not cleared"

    def code_cell_count(self) -> int:
        return self.page.evaluate("""() => {
            const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
            let count = 0;
            for (let i = 0; i < cells.length; i++) count += cells.get(i).type === 'code' ? 1 : 0;
            return count;
        }""")

    def state(self, first: int, end: int) -> dict:
        return self.page.evaluate(CELL_STATE, [first, end])

    def run_all_above(self, index: int) -> None:
        """Run every cell above cell `index`, as a learner working down to it would."""
        self._run("notebook:run-all-above", index, 0, index)

    def run_cell(self, index: int) -> None:
        self._run("notebook:run-cell", index, index, index + 1)

    def _run(self, command: str, index: int, first: int, end: int) -> None:
        """Run `command` at cell `index`; wait until every code cell in [first, end) has run and the
        kernel is idle, or one failed."""
        self.page.evaluate(RUN_COMMAND, [command, index])
        try:
            self.page.wait_for_function(
                f"""() => {{ const s = ({CELL_STATE})([{first}, {end}]);
                           return s.idle && (s.pending === 0 || s.errors.length > 0); }}""",
                timeout=NOTEBOOK_TIMEOUT_MS, polling=500)
        except Exception:
            screenshot(self.page, f"{self.name}_stuck")
            raise
        state = self.state(first, end)
        assert not state["errors"], f"{self.name}: {state['errors']}"
        assert state["pending"] == 0, f"{self.name}: {state['pending']} code cells did not run"

    def outputs(self, selector: str = ""):
        return self.page.locator(f".jp-OutputArea-output{selector}")

    def assert_no_tracebacks(self) -> None:
        stderr = self.outputs('[data-mime-type="application/vnd.jupyter.stderr"]')
        tracebacks = [text for text in stderr.all_inner_texts() if "Traceback" in text]
        assert not tracebacks, f"{self.name}: tracebacks on stderr: {tracebacks}"
        failed_widgets = self.page.get_by_text("Error displaying widget")
        assert failed_widgets.count() == 0, f"{self.name}: a widget failed to display"

    def assert_pictures_drawn(self) -> None:
        # JupyterLab shows an SVG output as an <img> of it (or inline <svg>, by version).
        pictures = self.outputs('[data-mime-type="image/svg+xml"] :is(img, svg), '
                                '.jp-OutputArea-output[data-mime-type="image/png"] img')
        kinds = self.outputs().evaluate_all("outputs => outputs.map(o => o.dataset.mimeType)")
        assert pictures.count() > 0, f"{self.name}: no picture in the outputs, only {sorted(set(kinds))}"
        box = pictures.first.bounding_box()
        assert box and box["width"] > 100 and box["height"] > 50, f"{self.name}: the picture is not drawn: {box}"
        screenshot(pictures.first, f"{self.name}_first_picture")

    def widget(self, has: str):
        """The ipywidgets view (a VBox in an output) that contains `has`."""
        view = self.outputs().locator(".widget-vbox").filter(has=self.page.locator(has)).first
        expect(view).to_be_visible(timeout=WIDGET_TIMEOUT_MS)
        view.scroll_into_view_if_needed()
        return view


@pytest.fixture
def open_notebook(browser, jupyterlab):
    pages = []

    def open_(name: str) -> NotebookPage:
        page = browser.new_page()
        pages.append(page)
        return NotebookPage(page, jupyterlab, name)

    yield open_
    for page in pages:
        page.close()


def _changed(locator, before: str, timeout_ms: int = WIDGET_TIMEOUT_MS, *, prop: str = "innerText") -> str:
    """Wait until the element's `prop` differs from `before` (and is not empty); return it."""
    locator.page.wait_for_function("([element, prop, before]) => element[prop] && element[prop] !== before",
                                   arg=[locator.element_handle(), prop, before], timeout=timeout_ms)
    return locator.evaluate(f"element => element.{prop}")


def test_01_runs_in_the_browser_and_its_widgets_answer(open_notebook):
    notebook = open_notebook("01_listener")
    cleanup = notebook.cell_count - 1  # the last cell removes the stack: use the widgets before it
    notebook.run_all_above(cleanup)
    notebook.assert_no_tracebacks()
    notebook.assert_pictures_drawn()
    screenshot(notebook.page, "01_after_run")

    # The port probe: type a port, press Send, read the outcome.
    probe = notebook.widget("button:has-text('Send')")
    port = probe.locator(".widget-text:has(label:text-is('port')) input")
    outcome = probe.locator("textarea")
    expect(port).to_have_value("8081")
    probe.locator("button:has-text('Send')").click()
    dropped = _changed(outcome, "", prop="value")
    assert dropped.startswith("timed out"), dropped
    port.fill("80")
    port.press("Enter")
    probe.locator("button:has-text('Send')").click()
    answered = _changed(outcome, dropped, prop="value")
    assert answered.startswith("200 OK - answered by task"), answered
    screenshot(probe, "01_port_probe_after_send")

    # The listener switch: open 8081 on the ALB, see explain's verdict change, close it again.
    switch = notebook.widget(".widget-toggle-button")
    button, verdict = switch.locator(".widget-toggle-button"), switch.locator(".widget-hbox > .widget-label")
    picture = switch.locator(".widget-html svg").first
    closed_verdict, closed_picture = verdict.inner_text(), picture.inner_html()
    assert closed_verdict.startswith("blocked"), closed_verdict
    screenshot(switch, "01_listener_switch_closed")
    button.click()
    open_verdict = _changed(verdict, closed_verdict)
    assert open_verdict.startswith("reachable"), open_verdict
    assert picture.inner_html() != closed_picture, "the verdict changed but the picture did not"
    screenshot(switch, "01_listener_switch_open")
    screenshot(notebook.page, "01_listener_switch_open_page")  # the whole window: a picture may overflow its widget
    # With the door open, the probe reaches a task on 8081 too.
    port.fill("8081")
    port.press("Enter")
    probe.locator("button:has-text('Send')").click()
    assert _changed(outcome, answered, prop="value").startswith("200 OK - answered by task")
    button.click()
    assert _changed(verdict, open_verdict) == closed_verdict

    notebook.run_cell(cleanup)
    notebook.assert_no_tracebacks()


def test_07_capstone_runs_in_the_browser_and_its_scaler_scales(open_notebook):
    notebook = open_notebook("07_troubleshooting")
    cleanup = notebook.cell_count - 1
    notebook.run_all_above(cleanup)
    notebook.assert_no_tracebacks()
    notebook.assert_pictures_drawn()
    screenshot(notebook.page, "07_after_run")

    scaler = notebook.widget(".widget-slider")
    readout, status = scaler.locator(".widget-readout"), scaler.locator(".widget-hbox > .widget-label")
    expect(readout).to_have_text("3")
    screenshot(scaler, "07_scaler_before")
    handle = scaler.locator(".noUi-handle")
    handle.focus()
    handle.press("ArrowRight")
    expect(readout).to_have_text("4")
    assert _changed(status, "").startswith("desired count 4"), status.inner_text()
    screenshot(scaler, "07_scaler_after")
    before = status.inner_text()  # read before the key: the answer may come before a later read
    handle.press("ArrowLeft")  # back to 3, as the notebook asks
    assert _changed(status, before).startswith("desired count 3")

    notebook.run_cell(cleanup)
    notebook.assert_no_tracebacks()
