# Two commands for a new user: `make run` and `make test`. Everything else is installed
# from the lock file into this folder on first use (uv in .tools/, the project in .venv/).
PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
RUN := $(UV) run --no-sync
export UV_PYTHON_DOWNLOADS := never
# compile every installed module once, at install: imports stay fast even where
# PYTHONDONTWRITEBYTECODE is set (each Airflow task is a new process)
export UV_COMPILE_BYTECODE := 1

.PHONY: install run test lint format bench clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --all-extras --python $(PYTHON)
	@touch $@

install: .venv/.synced

# `make run` and `make airflow`: Airflow configured by the environment below (no airflow.cfg),
# its home and SQLite metadata database in airflow-home/ (created on first use), this
# project's dags/, and the pipeline's defaults: embedded PostgreSQL, email to the outbox.
# Outside Airflow, the same pipeline: `uv run customer-pipeline run --help`.
AIRFLOW_HOME_DIR := $(CURDIR)/airflow-home
TODAY := $(shell date -u +%F)
RUN_LOG = $(AIRFLOW_HOME_DIR)/make-run-$(TODAY).log
run airflow: export AIRFLOW_HOME := $(AIRFLOW_HOME_DIR)
run airflow: export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
run airflow: export AIRFLOW__CORE__LOAD_EXAMPLES := False
run airflow: export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION := False
run airflow: export PIPELINE_WORK_DIR ?= $(CURDIR)/work
run airflow: export PIPELINE_OUTBOX_DIR ?= $(CURDIR)/outbox
run airflow: export PIPELINE_PGDATA ?= $(CURDIR)/.pgdata

# The DAG once, for today (UTC), in-process through Airflow; then the run's summary.
run: install
	@mkdir -p $(AIRFLOW_HOME)
	@test -f $(AIRFLOW_HOME)/airflow.db || { echo "Creating the Airflow metadata database in $(AIRFLOW_HOME)"; \
		$(RUN) airflow db migrate > $(AIRFLOW_HOME)/db-migrate.log 2>&1 \
		|| { cat $(AIRFLOW_HOME)/db-migrate.log; rm -f $(AIRFLOW_HOME)/airflow.db; exit 1; }; }
	@echo "airflow dags test customer_pipeline $(TODAY)  (log: $(RUN_LOG))"
	@$(RUN) airflow dags test customer_pipeline $(TODAY) > $(RUN_LOG) 2>&1 \
		|| { tail -n 40 $(RUN_LOG); echo "The run failed: see $(RUN_LOG)"; exit 1; }
	@$(RUN) customer-pipeline summary --date $(TODAY)

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

# Airflow's UI, scheduler, dag processor and triggerer in one process (LocalExecutor).
.PHONY: airflow
airflow: install
	@mkdir -p $(AIRFLOW_HOME)
	@echo "Airflow on http://localhost:8080 (user admin; password in" \
		"$(AIRFLOW_HOME)/simple_auth_manager_passwords.json.generated). Stop with Ctrl-C."
	$(RUN) airflow standalone

clean:
	rm -rf .venv $(TOOLS) work .pytest_cache .ruff_cache
