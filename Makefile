# Two commands for a new user: `make run` and `make test`. Everything else is installed
# from the lock file into this folder on first use (uv in .tools/, the project in .venv/).
PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
RUN := $(UV) run --no-sync
export UV_PYTHON_DOWNLOADS := never

.PHONY: install run test lint format bench clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --all-extras --python $(PYTHON)
	@touch $@

install: .venv/.synced

run: install
	$(RUN) customer-pipeline run

test: install
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) pytest

lint: install
	$(RUN) ruff check .

bench: install
	$(RUN) python bench/bench.py $(BENCH_ARGS)

format: install
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

clean:
	rm -rf .venv $(TOOLS) work .pytest_cache .ruff_cache
