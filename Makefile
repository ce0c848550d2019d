# Flow Orchestrator: every target sets itself up on a fresh machine (.venv + pinned requirements).
PLUGIN_ID := $(shell python3 -c "import json;print(json.load(open('plugin.json'))['id'])")
PLUGIN_VERSION := $(shell python3 -c "import json;print(json.load(open('plugin.json'))['version'])")
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PYTHONPATH := $(CURDIR)/python-lib:$(CURDIR)
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: test demo bench lint format plugin integration-tests browser clean

$(STAMP): requirements-dev.txt code-env/python/spec/requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

# Headless Chromium for the report tests (Debian package; skipped quietly when apt is unavailable).
browser:
	@command -v chromium >/dev/null 2>&1 || (command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq >/dev/null 2>&1; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1) || \
	  echo "chromium not installed: browser tests will be skipped")

test: $(STAMP) browser
	$(PY) -m ruff check python-lib dss_emulator tests bench python-runnables python-steps resource
	$(PY) -m pytest

demo: $(STAMP)
	$(PY) -m dss_emulator.demo examples/flows/clinical.json

bench: $(STAMP)
	$(PY) -m bench

lint: $(STAMP)
	$(PY) -m ruff check python-lib dss_emulator tests bench python-runnables python-steps resource

format: $(STAMP)
	$(PY) -m ruff format python-lib dss_emulator tests bench python-runnables python-steps resource

clean:
	rm -rf dist build .pytest_cache .ruff_cache
