# Two commands on a fresh machine: `make test` and `make demo`. Everything else is set-up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
RUNTIME := $(VENV)/.runtime-stamp

.PHONY: test lint typecheck pytest demo bench bench-quick bench-micro clean

# Editable installs are not byte-compiled, and with PYTHONDONTWRITEBYTECODE set (as on CI) every
# fth process would compile them again (~0.15 s of CPU per start): compileall does it, after
# install and again before measuring (sources edited since are compiled afresh, the rest kept).
COMPILE := $(BIN)/python -m compileall -q fth_core plugins/fth_motive/fth_motive plugins/fth_samsara/fth_samsara plugins/fth_geotab/fth_geotab

PACKAGES := -e ".[query]" -e plugins/fth_motive -e plugins/fth_samsara -e plugins/fth_geotab
PROJECTS := pyproject.toml plugins/fth_motive/pyproject.toml plugins/fth_samsara/pyproject.toml plugins/fth_geotab/pyproject.toml constraints.txt

# The runtime: fth (with DuckDB for `fth query`) and the three plugins, enough for `make demo`.
$(RUNTIME): $(PROJECTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt $(PACKAGES)
	$(COMPILE)
	touch $(RUNTIME)

# The runtime plus the dev tools (pytest, ruff, mypy, ...), for `make test` and the benchmarks.
$(STAMP): $(RUNTIME)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest -n 2 -q

test: lint typecheck pytest bench-quick

demo: $(RUNTIME)
	$(BIN)/fth demo

# The four scenarios of bench/scenarios.py (A: at the rate limit, B: CPU per row, C: incremental
# cost against history, D: memory against backfill length), PASS/FAIL against their targets.
bench: $(STAMP)
	$(COMPILE)
	$(BIN)/python bench/scenarios.py --results bench/results.json

# The same scenarios shrunk to a smoke run: they complete and store exactly the ground truth.
bench-quick: $(STAMP)
	$(COMPILE)
	$(BIN)/python bench/scenarios.py --quick

# Component benchmarks: fleet generation, fetch, decode, Samsara's join.
bench-micro: $(STAMP)
	for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV)
