# Two commands do all the set-up on a fresh machine with python3 and make:
#   make serve   venv, install, demo data if missing, dashboards on http://localhost:5006
#   make test    venv, install with the test extras, the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5006

.PHONY: serve test data notebooks lab system clean

# Debian packages of the tests and the PDF bulletin: Chromium (browser tests), a CJK font
# (Chinese in screenshots and PDFs), Pango (WeasyPrint lays out PDFs with it), poppler-utils
# (pdftotext reads the PDFs back), Redis and nginx (several servers behind a proxy sharing
# their logins). Installed when missing if we may; else say which.
SYSTEM_PACKAGES := chromium fonts-noto-cjk libpango-1.0-0 libpangoft2-1.0-0 poppler-utils \
                   redis-server nginx

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

test: system $(VENV)/.installed-test
	$(BIN)/python -m pytest

system:
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "apt-get install$$missing"; export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; \
	else \
	  echo "missing Debian packages:$$missing (sudo apt-get install$$missing);" \
	       "tests that need them are skipped"; \
	fi

$(VENV)/.installed-notebooks: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[notebooks]'
	touch $@ $(VENV)/.installed-base

# Every notebook executed by papermill into build/notebooks/ (outputs never committed);
# another period or county: make notebooks PERIOD=2021Q2 COUNTY=411002; a province's
# data: UNIT=411000 (any level)
PERIOD ?= 2020Q1
COUNTY ?=
UNIT ?=
notebooks: data $(VENV)/.installed-notebooks
	mkdir -p build/notebooks
	cd notebooks && for nb in 0[2-9]_*.ipynb; do \
	  ../$(BIN)/papermill --no-progress-bar $$nb ../build/notebooks/$$nb -p period $(PERIOD) \
	    $(if $(COUNTY),-p county $(COUNTY)) $(if $(UNIT),-p unit $(UNIT)) || exit 1; done
	cd notebooks && ../$(BIN)/papermill --no-progress-bar 01_q1_2020_bulletin.ipynb \
	  ../build/notebooks/01_q1_2020_bulletin.ipynb

# JupyterLab on http://localhost:$(LAB_PORT) (the URL with its token is printed); the
# dashboards inside it at /panel/overview, /panel/county, …
LAB_PORT ?= 8888
lab: data $(VENV)/.installed-notebooks
	$(BIN)/safetyviz lab --port $(LAB_PORT)

clean:
	rm -rf data/store data/cube data/catalog.yaml build .pytest_cache
