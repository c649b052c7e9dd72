# Two commands on a fresh machine (see README.md):
#   make lab    set everything up, then start JupyterLab on the chapters
#   make test   set everything up, then run the whole test suite (what CI runs)
# Both install the exact versions in requirements/lock.txt (what CI tests). Two more installs, each in its own venv,
# show what the ranges in pyproject.toml let in besides:
#   make test-newest   the highest versions the ranges allow (an upstream release that breaks us shows here)
#   make test-oldest   the floors of the ranges (a floor set too low shows here)
# make lock            re-resolves requirements/lock.txt with uv (keeps its pins; `make lock LOCK_FLAGS=--upgrade`)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements/lock.txt
# torch's build: auto (the CPU build on Linux without an NVIDIA GPU, else pip's index), cpu or default (pip's index).
TORCH_BUILD ?= auto
LOCK_TORCH := $(shell sed -n 's/^\(torch==[^ ;]*\).*/\1/p' $(LOCK))
# The torch of each extra mode. The floor's CPU wheel (2.5.0) is only on PyTorch's CPU index (PyPI's Linux 2.5.0 is
# an 864 MB CUDA build); where that index cannot be reached, name a torch that can be had, e.g.
# `make test-oldest OLDEST_TORCH=torch==2.13.0 TORCH_BUILD=default`: then only the other packages are at their floors.
NEWEST_TORCH ?= torch>=2.5,<3
OLDEST_TORCH ?= torch==2.5.0
LOCK_FLAGS ?=
# JupyterLab refuses to run as root (containers, cloud notebooks) unless told it may.
USER_ID ?= $(shell id -u)
LAB_FLAGS := $(if $(filter 0,$(USER_ID)),--allow-root)

.PHONY: lab test test-fast exercises book lock install-newest install-oldest test-newest test-oldest clean

$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python requirements/torch_build.py "$(LOCK_TORCH)" --build $(TORCH_BUILD)
	$(BIN)/python -m pip install --quiet --constraint $(LOCK) -e ".[dev]"
	touch $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab --ServerApp.root_dir=chapters $(LAB_FLAGS)

test: $(STAMP)
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || echo "make test: Chromium is \
	not on PATH, so the browser test will fail: install it (sudo apt-get install chromium on Debian/Ubuntu)"
	$(BIN)/python -m llmcourse doctor  # this machine first, its numerics check included; stops here if it fails
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" tests

# uv resolves for every platform and Python >= 3.10 at once (--universal); its command heads the file.
lock: $(STAMP)
	$(BIN)/python -m pip install --quiet "uv>=0.5"
	$(BIN)/python -m uv pip compile pyproject.toml --extra dev --universal --python-version 3.10 \
	--constraint requirements/pins.txt --output-file $(LOCK) $(LOCK_FLAGS)

# A fresh venv each time (so "newest" is today's newest): pip, then torch's build as above, then uv resolves the
# rest around that torch (uv keeps an installed torch that fits, so no CUDA build comes in behind it).
install-newest install-oldest: install-%:
	rm -rf $(VENV)-$*
	$(PYTHON) -m venv $(VENV)-$*
	$(VENV)-$*/bin/python -m pip install --quiet --upgrade pip "uv>=0.5"
	$(VENV)-$*/bin/python requirements/torch_build.py "$(if $(filter newest,$*),$(NEWEST_TORCH),$(OLDEST_TORCH))" \
	--build $(TORCH_BUILD)
	$(VENV)-$*/bin/python -m uv pip install --quiet --python $(VENV)-$*/bin/python \
	--resolution $(if $(filter newest,$*),highest,lowest-direct) -e ".[dev]"

# UNIT_TESTS: what runs in that venv (CI runs the tests that meet the libraries the course checks itself against)
UNIT_TESTS ?= tests
test-newest test-oldest: test-%: install-%
	$(VENV)-$*/bin/python -m pytest -m "not slow" $(UNIT_TESTS)

exercises: $(STAMP)
	$(BIN)/python -m llmcourse exercises build

book: $(STAMP)
	$(BIN)/python -m llmcourse book

clean:
	rm -rf book/_build .pytest_cache
