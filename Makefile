# Flow Orchestrator: every target sets itself up on a fresh machine (.venv + pinned requirements).
PLUGIN_ID := $(shell python3 -c "import json;print(json.load(open('plugin.json'))['id'])")
PLUGIN_VERSION := $(shell python3 -c "import json;print(json.load(open('plugin.json'))['version'])")
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PYTHONPATH := $(CURDIR)/python-lib:$(CURDIR)
export PYTHONDONTWRITEBYTECODE := 1

# make plugin: the zip DSS installs, from committed files only (PLUGIN_REF=<rev> packs another revision).
PLUGIN_REF ?= HEAD
DIST_DIR := dist
# make integration-tests DSS_URL=... DSS_API_KEY=... DSS_PROJECT=...: the integration suite on a real DSS
# (default: on the emulator). DSS_CONNECTION: connection for the test datasets; DSS_VERIFY_TLS=0 for self-signed TLS.
DSS_URL ?=
DSS_API_KEY ?=
DSS_PROJECT ?=
DSS_CONNECTION ?= filesystem_managed
DSS_VERIFY_TLS ?= 1

# The dataikuapi clients of older DSS releases (DSS runs the plugin with the client it bundles): `make test` runs the
# compat_smoke tests with COMPAT_SMOKE, `make compat` the whole integration suite with COMPAT_ALL. Environments are
# cached under .venv-compat/ (tools/compat_venv.py). 13.3.1 is the last 13.3 client taking insecure_tls, 12.0.1 one
# with no certificate option at all.
COMPAT_SMOKE := 12.5.2 13.3.1
COMPAT_ALL := 12.0.1 12.5.2 12.6.4 13.3.1 14.7.5 15.2.0

.PHONY: test demo bench lint format plugin wheel integration-tests browser clean compat compat-smoke

$(STAMP): requirements-dev.txt code-env/python/spec/requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

# Headless Chromium for the report tests (Debian package; skipped quietly when apt is unavailable).
browser:
	@command -v chromium >/dev/null 2>&1 || (command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq >/dev/null 2>&1; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1) || \
	  echo "chromium not installed: browser tests will be skipped")

LINTED := python-lib dss_emulator tests bench tools examples python-runnables python-steps resource

test: $(STAMP) browser
	$(PY) -m ruff check $(LINTED)
	$(PY) -m ruff format --check $(LINTED)
	env -u DSS_URL -u DSS_API_KEY -u DSS_PROJECT $(PY) -m pytest  # always the emulator: see integration-tests
	$(MAKE) --no-print-directory compat-smoke

compat-smoke: $(STAMP)
	@for version in $(COMPAT_SMOKE); do \
	  python=$$($(PY) tools/compat_venv.py $$version 2>/dev/null) || exit 1; \
	  echo "compat smoke set with dataiku-api-client $$version"; \
	  env -u DSS_URL -u DSS_API_KEY -u DSS_PROJECT $$python -m pytest -m compat_smoke tests/integration || exit 1; \
	done

compat: $(STAMP)
	@for version in $(COMPAT_ALL); do \
	  python=$$($(PY) tools/compat_venv.py $$version 2>/dev/null) || exit 1; \
	  echo "integration suite with dataiku-api-client $$version"; \
	  env -u DSS_URL -u DSS_API_KEY -u DSS_PROJECT $$python -m pytest tests/integration || exit 1; \
	done

demo: $(STAMP)
	$(PY) examples/demo.py

bench: $(STAMP)
	$(PY) -m bench

lint: $(STAMP)
	$(PY) -m ruff check $(LINTED)
	$(PY) -m ruff format --check $(LINTED)

format: $(STAMP)
	$(PY) -m ruff format $(LINTED)

plugin:
	python3 tools/build_plugin_zip.py --ref $(PLUGIN_REF) --output-dir $(DIST_DIR)

# make wheel: the command-line package (dist/flow_orchestrator-<version>-py3-none-any.whl, JSON Schemas included);
# `pip install .` and `python -m build` give the same.
wheel: $(STAMP)
	$(PY) -m pip wheel --quiet --no-deps --wheel-dir $(DIST_DIR) .
	rm -rf build python-lib/*.egg-info

# The variables reach pytest through the environment only: the API key never appears in the echoed command.
integration-tests: export DSS_URL := $(DSS_URL)
integration-tests: export DSS_API_KEY := $(DSS_API_KEY)
integration-tests: export DSS_PROJECT := $(DSS_PROJECT)
integration-tests: export DSS_CONNECTION := $(DSS_CONNECTION)
integration-tests: export DSS_VERIFY_TLS := $(DSS_VERIFY_TLS)
integration-tests: $(STAMP)
	$(PY) -m pytest tests/integration

clean:
	rm -rf dist build .pytest_cache .ruff_cache python-lib/*.egg-info
