# themeassist: two commands do everything: `make demo` and `make test`.
# Both create .venv when it is missing, install the package with its dependencies, and are
# safe to run again (the install step re-runs only when pyproject.toml changes).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= demo-output
PYTEST_ARGS ?=

.PHONY: setup demo test test-all lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch==2.13.0 is pinned in pyproject.toml: pip takes the CPU build for that pin.
	$(BIN)/python -m pip install --quiet --progress-bar off -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(BIN)/themeassist demo --out $(OUT) --force
	@echo "outputs are in $(abspath $(OUT)); open $(abspath $(OUT))/report.html"

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-all: setup
	$(BIN)/python -m pytest -m "slow or not slow" $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check src tests scripts

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache build *.egg-info src/*.egg-info
