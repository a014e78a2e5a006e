# Two commands do all the set-up on a fresh machine with python3 and make:
#   make serve   venv, install, demo data if missing, dashboards on http://localhost:5006
#   make test    venv, install with the test extras, the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5006

.PHONY: serve test data notebooks lab clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-base: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,regions]'
	touch $@ $(VENV)/.installed-base

data: $(VENV)/.installed-base
	$(BIN)/safetyviz demo --if-missing
	@test -d data/cube/cube.zarr || $(BIN)/safetyviz cube

serve: data
	$(BIN)/safetyviz serve --port $(PORT)

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

clean:
	rm -rf data/store data/cube data/catalog.yaml build .pytest_cache
