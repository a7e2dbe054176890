# The two commands a learner needs: `make lab` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: lab test setup graphviz browser bench clean

setup: $(STAMP) graphviz

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (ecs-alb-lab)" >/dev/null
	@touch $(STAMP)

# apt_install(packages, done-check, why): install Debian packages unless `done-check` succeeds;
# as root with apt-get, else with sudo apt-get, else say what to install and stop.
define apt_install
@$(2) && exit 0; \
if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then SUDO=; \
elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1; then SUDO=sudo; \
else \
  echo "$(3) Install these packages, then run make again:"; \
  echo "  Debian/Ubuntu: sudo apt-get install $(1)"; \
  $(4) \
  exit 1; \
fi; \
echo "Installing $(1) with $${SUDO:+sudo }apt-get..."; \
$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1) >/dev/null
endef

# Diagrams need Graphviz's `dot` binary; pip cannot provide it.
graphviz:
	$(call apt_install,graphviz,command -v dot >/dev/null 2>&1,Graphviz's 'dot' binary is missing.,\
	  echo "  macOS:         brew install graphviz"; echo "  conda:         conda install -c conda-forge graphviz";)

# The browser test (tests/test_browser.py) drives Debian's Chromium; Playwright cannot download a
# browser here. The CJK fonts let the screenshots show every character a notebook prints.
browser:
	$(call apt_install,chromium fonts-noto-cjk,test -x /usr/bin/chromium && dpkg -s fonts-noto-cjk >/dev/null 2>&1,The browser test needs Debian's Chromium at /usr/bin/chromium and CJK fonts.,)

# The learner's own copy: exercises to write, answers folded until asked for. Made once, in
# learner/; a notebook already there is the learner's work and is never overwritten.
# JupyterLab refuses to run as root unless told; containers and workshop VMs often run as root.
lab: setup
	@$(BIN)/python tools/editions.py --learner learner --keep-existing
	$(BIN)/jupyter lab $$([ "$$(id -u)" = 0 ] && echo --allow-root) learner/00_start_here.ipynb

# Every test, and every notebook twice in the same sandbox (a second run must give the same
# outputs: the notebooks clean up after themselves; tests/test_notebooks_run_twice.py). On WORKERS
# pytest-xdist workers: the tests mostly wait on the sandbox's clocks, so three fit on two cores
# (conftest.py says how the suite is split). `make test WORKERS=0` runs it in one process.
WORKERS ?= 3
test: setup browser
	$(BIN)/python -m pytest -n $(WORKERS) --durations=30

# Not part of `make test`: the numbers, side by side with their baselines, into bench/RESULTS.md
# (about half an hour: it also runs `make test` on a fresh clone; `bench/run.py --help`).
bench: setup
	$(BIN)/python bench/run.py --write bench/RESULTS.md

clean:
	rm -rf $(VENV) .pytest_cache
