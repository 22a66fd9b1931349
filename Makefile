# The README's commands. Each one sets up what it needs on its own, so a fresh clone needs only
# Python 3.11+ and Node 20 (and, for the browser tests, Debian's chromium, installed as root).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXT := extensions
LABEXT := $(EXT)/cozy_jupyterlab/labextension
LABEXT_LINK := $(VENV)/share/jupyter/labextensions/cozy-jupyterlab
NPM_STAMP := $(EXT)/node_modules/.package-lock.json
HUB_STAMP := tests/hub/node_modules/.package-lock.json

.PHONY: lab test test-ui lint labextension bench clean

# uv installs the same packages as pip, four times faster (15 s against 61 s here): the
# two-minute promise of `make lab` on a fresh clone depends on it.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[test]'
	touch $(STAMP)

$(NPM_STAMP): $(EXT)/package.json $(EXT)/package-lock.json
	cd $(EXT) && npm ci --no-audit --no-fund

# configurable-http-proxy, which the JupyterHub test runs beside the hub.
$(HUB_STAMP): tests/hub/package.json tests/hub/package-lock.json
	cd tests/hub && npm ci --no-audit --no-fund

# The JupyterLab frontend, built clean every time (an old bundle left in place can ship stale)
# and copied into the venv's labextensions folder.
labextension: $(STAMP) $(NPM_STAMP)
	rm -rf $(LABEXT) $(EXT)/lib $(EXT)/tsconfig.tsbuildinfo
	cd $(EXT) && PATH=$(CURDIR)/$(BIN):$$PATH npm run --silent build
	mkdir -p $(dir $(LABEXT_LINK)) $(VENV)/share/jupyter/lab/settings
	# A copy, as pip installs it (a link would let a reinstall write into the build folder).
	rm -rf $(LABEXT_LINK)
	cp -r $(LABEXT) $(LABEXT_LINK)
	# No telemetry: JupyterLab never asks to fetch news or check for updates.
	cp jupyter-config/lab-settings/overrides.json $(VENV)/share/jupyter/lab/settings/

lab: labextension
	$(BIN)/cozy lab

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Browser tests run in a pytest run of their own (pytest-jupyter and Playwright clash).
test-ui: labextension
	test -x /usr/bin/chromium || (apt-get update && apt-get install -y --no-install-recommends chromium)
	$(BIN)/uv pip install --quiet --python $(BIN)/python playwright
	$(BIN)/python -m pytest tests/ui

test: lint labextension $(HUB_STAMP)
	$(BIN)/python -m pytest
	$(MAKE) test-ui

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache $(EXT)/node_modules \
		$(EXT)/lib $(LABEXT) tests/hub/node_modules
