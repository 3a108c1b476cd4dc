# Two commands, each sets up what it needs: `make demo` runs the main job on the built-in demo data,
# `make test` runs the whole test suite. torch is pinned here, and only here, and installed first so
# that pip never picks another (multi-GB) build for fastai's sake.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH  := torch==2.14.1 torchvision==0.29.1
FLAGS  ?=

.PHONY: demo test install clean-venv

install: $(VENV)/.installed

# (pyproject.toml is left out: nbdev-export rewrites it on every run)
$(VENV)/.installed: setup.py settings.ini
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

demo: install
	$(BIN)/cervix-fastai run

test: install
	$(BIN)/python tools/run_tests.py $(if $(FLAGS),--flags "$(FLAGS)")

clean-venv:
	rm -rf $(VENV)
