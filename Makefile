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

.PHONY: install run airflow celery test lint format bench clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --all-extras --python $(PYTHON)
	@touch $@

install: .venv/.synced

# `make run` and `make airflow` run bin/airflow: this project's Airflow from any shell, its
# whole configuration in the environment that script sets (no airflow.cfg), its home in
# airflow-home/, its metadata on the embedded PostgreSQL, this project's dags/, processes
# sized to the machine, the UI and APIs on 127.0.0.1:$(AIRFLOW_PORT), and the pipeline's
# defaults: embedded PostgreSQL, email to the outbox. Outside Airflow, the same pipeline: `.venv/bin/customer-pipeline run --help`.
AIRFLOW := bin/airflow
export PIPELINE_AIRFLOW_HOME ?= $(CURDIR)/airflow-home
export AIRFLOW_PORT ?= 8080
TODAY := $(shell date -u +%F)
RUN_LOG = $(PIPELINE_AIRFLOW_HOME)/make-run-$(TODAY).log

# The DAG once, for today (UTC), in-process through Airflow; then the run's summary. Its
# metadata database is its own, not the UI's: a `dags test` run shown in the UI's history
# has a wrong duration (apache/airflow#66127), and the UI keeps the runs it made.
RUN_DB := $(PIPELINE_AIRFLOW_HOME)/make-run.db
run: export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN := sqlite:///$(RUN_DB)
run: install
	@test -f $(RUN_DB) || { echo "Creating the metadata database of \`make run\` ($(RUN_DB))"; \
		mkdir -p $(PIPELINE_AIRFLOW_HOME); \
		$(AIRFLOW) db migrate > $(PIPELINE_AIRFLOW_HOME)/make-run-db-migrate.log 2>&1 \
		|| { cat $(PIPELINE_AIRFLOW_HOME)/make-run-db-migrate.log; rm -f $(RUN_DB); exit 1; }; }
	@echo "bin/airflow dags test customer_pipeline $(TODAY)  (log: $(RUN_LOG))"
	@$(AIRFLOW) dags test customer_pipeline $(TODAY) > $(RUN_LOG) 2>&1 \
		|| { tail -n 40 $(RUN_LOG); echo "The run failed: see $(RUN_LOG)"; exit 1; }
	@$(RUN) customer-pipeline summary --date $(TODAY)

# Airflow's UI, scheduler, dag processor and triggerer (`airflow standalone`, LocalExecutor).
airflow: install
	@echo "Airflow on http://127.0.0.1:$(AIRFLOW_PORT) (user admin; password in" \
		"$(PIPELINE_AIRFLOW_HOME)/simple_auth_manager_passwords.json.generated). Stop with Ctrl-C."
	@$(AIRFLOW) standalone

# `make celery`: the same DAG on Airflow's CeleryExecutor, every process on this machine
# (Procfile.celery, run by honcho: api-server, scheduler, dag-processor and WORKERS Celery
# workers of CELERY_CONCURRENCY slots). It needs a PostgreSQL (Airflow's metadata, the
# pipeline's data) and a Redis broker; the defaults below are the usual local ones, the
# environment overrides them. More machines: README, "Scaling out with Celery".
CELERY_HOME_DIR := $(CURDIR)/airflow-home-celery
WORKERS ?= 2
celery: export AIRFLOW_HOME := $(CELERY_HOME_DIR)
celery: export AIRFLOW_CONFIG := /dev/null
celery: export AIRFLOW__CORE__EXECUTOR := CeleryExecutor
celery: export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
celery: export AIRFLOW__CORE__LOAD_EXAMPLES := False
celery: export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION ?= False
celery: export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN ?= postgresql+psycopg://postgres@127.0.0.1:5432/postgres
celery: export AIRFLOW__CELERY__BROKER_URL ?= redis://127.0.0.1:6379/0
celery: export AIRFLOW__CELERY__RESULT_BACKEND ?= db+$(AIRFLOW__DATABASE__SQL_ALCHEMY_CONN)
celery: export AIRFLOW__API__HOST ?= 127.0.0.1
celery: export AIRFLOW__API__PORT := $(AIRFLOW_PORT)
celery: export AIRFLOW__CORE__EXECUTION_API_SERVER_URL ?= http://$(AIRFLOW__API__HOST):$(AIRFLOW_PORT)/execution/
celery: export CELERY_CONCURRENCY ?= 2
celery: export DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/postgres
celery: export DATABASE_SCHEMA ?= customer_pipeline
celery: export PIPELINE_WORK_DIR ?= $(CURDIR)/work
celery: export PIPELINE_OUTBOX_DIR ?= $(CURDIR)/outbox
celery: export AIRFLOW__OPENLINEAGE__TRANSPORT ?= {"type": "file", "log_file_path": "$(CELERY_HOME_DIR)/openlineage/events.jsonl", "append": true}
celery: export AIRFLOW__OPENLINEAGE__NAMESPACE ?= customer-pipeline
celery: install
	@mkdir -p $(AIRFLOW_HOME)/openlineage
	@# one JWT secret, API key and Fernet key for every process (and every machine)
	@bin/airflow-secrets $(AIRFLOW_HOME)/secrets.env
	@$(RUN) airflow db migrate > $(AIRFLOW_HOME)/db-migrate.log 2>&1 \
		|| { tail -n 20 $(AIRFLOW_HOME)/db-migrate.log; echo "airflow db migrate failed: is PostgreSQL at $$AIRFLOW__DATABASE__SQL_ALCHEMY_CONN?"; exit 1; }
	$(RUN) honcho -f Procfile.celery -e $(AIRFLOW_HOME)/secrets.env start -c worker=$(WORKERS)

# The suite in TEST_WORKERS processes (pytest-xdist): each module's tests in one of them,
# sharing its fixtures (tests/conftest.py's scheduler); with 1, in this process.
TEST_WORKERS ?= $(shell $(PYTHON) -c 'import os; print(min(4, os.cpu_count() or 1))')
test: install
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) pytest $(if $(filter-out 0 1,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadscope)

lint: install
	$(RUN) ruff check .

bench: install
	$(RUN) python bench/bench.py $(BENCH_ARGS)

format: install
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

clean:
	rm -rf .venv $(TOOLS) work .pytest_cache .ruff_cache
