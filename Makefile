# Two commands on a fresh machine (see README.md):
#   make lab    set everything up, then start JupyterLab on the chapters
#   make test   set everything up, then run the whole test suite (what CI runs)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: lab test test-fast exercises book lock clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab --ServerApp.root_dir=chapters

test: $(STAMP)
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" tests

exercises: $(STAMP)
	$(BIN)/python -m llmcourse exercises build

book: $(STAMP)
	$(BIN)/python -m llmcourse book

clean:
	rm -rf book/_build .pytest_cache
