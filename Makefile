# `make demo` runs flexbill on its embedded default; `make test` runs every check CI runs.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SOURCES := src tests benchmarks

.PHONY: demo test browser lint typecheck unit bench lock clean

$(STAMP): pyproject.toml constraints.txt scripts/setup-venv
	@scripts/setup-venv

demo: $(STAMP)
	$(BIN)/flexbill demo

test: $(STAMP) browser lint typecheck unit

# The browser tests (tests/e2e) drive Debian's Chromium; checking for it each time costs nothing.
browser:
	@scripts/setup-browser

lint: $(STAMP)
	$(BIN)/ruff check $(SOURCES)
	$(BIN)/ruff format --check $(SOURCES)

typecheck: $(STAMP)
	$(BIN)/mypy

# The suite runs in one process per CPU, four at most (pytest-xdist; TEST_PROCESSES=0 runs it in this one). The
# browser tests keep to one process between them (--dist loadgroup).
TEST_PROCESSES ?= auto

unit: $(STAMP)
	$(BIN)/pytest -n $(TEST_PROCESSES) --maxprocesses 4 --dist loadgroup --cov --cov-report=term $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/bill_run.py

# Re-pin the dependencies after changing pyproject.toml: constraints.txt is what every machine installs.
lock: $(STAMP)
	$(BIN)/pip freeze --exclude-editable | grep -v '^flexbill' > constraints.txt

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .coverage htmlcov
