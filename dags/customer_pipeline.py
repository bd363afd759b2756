"""
# customer_pipeline

Synthetic retail data for one **business date** → PostgreSQL → KPIs → the daily report
by email. Every task is one step of the `customer_pipeline` library (the same steps
`customer-pipeline run` calls outside Airflow); tasks pass paths and counts, never rows.

The flow (the Graph view shows it; the generators form the group `generate`):

1. `check_dataset`: settings, date, database, the schema's dataset: before any write
2. `create_tables`: the tables (created, or reset), what dead runs left removed
3. `generate_customers_data`, `generate_product_data`, `generate_stores_data`,
   `generate_promotions_data` in parallel,
   then `plan_transaction_chunks`, `generate_transaction_data` and
   `generate_return_data` (one mapped task a chunk each: its lines, their later returns)
4. `load_data`: the day replaced atomically; publishes the tables' assets
5. `check_data_quality` (freshness, integrity, volume; an error stops the day, a warning
   goes in the report), then `calculate_metrics`: the KPIs, their baselines, the
   Customers section (publishes the `daily_metrics` asset)
6. `send_email`: the daily report (with `alert_only`: only when something is unusual)
7. `delete_files`: the teardown, even after a failure; a failed run also sends the
   incident e-mail (the DAG's failure notifier)

### Dataset

The first task, `check_dataset` (never retried), refuses a run whose
dataset (seed, locale, initial sizes) is not the one the schema holds, and any other bad
input, before anything is written.

### Business date

The `business_date` param; else the run's logical date (a scheduled
run's is the start of the day it covers: it runs when that day is over); else, for a
manual run without a logical date, its `run_after` date (UTC). Re-running a date, clearing
any task, or a backfill gives the same data: the data is a function of (seed, date,
sizes) and the load replaces the day's partition atomically.

### Files

The generators write into `<PIPELINE_WORK_DIR>/<date>/<run id>`, which every task
of the run must see (shared storage when tasks run on several machines). The generators
are the setups of `delete_files`, which removes the folder even when a task failed, and
records the run's outcome in `pipeline_runs`. Clearing a task re-runs the generators, so
the files it needs exist again.

### Connections

- `customers_db` (postgres): the database; the extra `{"search_path": "schema"}` (or the
  provider's `{"options": "-c search_path=schema"}`) picks the schema (default `public`, or
  `DATABASE_SCHEMA`). Not defined: `DATABASE_URL`, else an
  embedded PostgreSQL in `PIPELINE_PGDATA` (default `.pgdata`).
- `sendgrid_default`: the API key as password; host (if set) replaces the API host;
  extra `from_email` sets the sender.
- `smtp_default`: host, port, login, password; extras as the SMTP provider reads them
  (`disable_ssl`, `disable_tls`, `from_email`, `timeout`).

Anything not set by a param or a connection comes from the environment (`EMAIL_FROM`,
`EMAIL_TO`, `EMAIL_BACKEND`, `PIPELINE_WORK_DIR`, `PIPELINE_OUTBOX_DIR`, ...).

### Retries

Tasks that use the database or the mail service retry with exponential
backoff (`PIPELINE_TASK_RETRIES`, default 3; first delay `PIPELINE_RETRY_DELAY_SECONDS`,
default 30; read when the file is parsed); a configuration error, a failed data-quality
check or a refused API key or message fails at once. Within one try, the mail backends
also retry transient errors themselves (`EMAIL_ATTEMPTS`).
"""

from __future__ import annotations

from airflow.sdk import (
    CronDataIntervalTimetable,
    TaskGroup,
    chain,
    dag,
    get_current_context,
    task,
)

from customer_pipeline.airflow_adapter import (
    START_DATE,
    IncidentNotifier,
    Run,
    as_xcom,
    checks_from_xcom,
    chunk_indexes,
    dag_params,
    files_from_xcom,
    publish,
    retried,
    table_asset,
    tear_down,
)
from customer_pipeline.tables import DIMENSIONS, GENERATED, PUBLISHED, published_rows

RETRIED = retried()
TABLE_ASSETS = [table_asset(name) for name in PUBLISHED]
KPI_ASSET = table_asset("daily_metrics")


@task(retries=0)
def check_dataset() -> None:
    """Settings, date, database, the schema's dataset, folders: before any write."""
    from customer_pipeline.pipeline import prepare

    run = Run.current()
    prepare(run.settings, run.day)


@task(**RETRIED)
def create_tables() -> None:
    """Create the tables when missing (reset: drop them first); record the run."""
    from customer_pipeline.pipeline import begin_day

    run = Run.current()
    begin_day(run.settings, run.day, run.run_id)


@task(multiple_outputs=False)
def generate_dimension(table: str) -> dict[str, object]:
    run = Run.current()
    return as_xcom(GENERATED[table].generate(run.settings, run.work_folder(), run.day))


@task
def plan_transaction_chunks() -> list[int]:
    """One index per chunk of the day's transactions (at least one, maybe empty, file)."""
    return chunk_indexes(Run.current())


@task(multiple_outputs=False)
def generate_transaction_data(chunk: int) -> dict[str, object]:
    from customer_pipeline.generate.transactions import generate_transactions

    run = Run.current()
    return as_xcom(generate_transactions(run.settings, run.work_folder(), run.day, chunk))


@task(multiple_outputs=False)
def generate_return_data(chunk: int) -> dict[str, object]:
    from customer_pipeline.generate.returns import generate_returns

    run = Run.current()
    return as_xcom(generate_returns(run.settings, run.work_folder(), run.day, chunk))


@task(multiple_outputs=False, outlets=TABLE_ASSETS, **RETRIED)
def load_data(
    dimensions: list[dict], transactions: list[dict], returns: list[dict]
) -> dict[str, int]:
    """Replace the day's transactions and upsert the dimensions, atomically; publish the
    returns whose sale day and return day are both loaded."""
    from customer_pipeline.load import load_day

    run = Run.current()
    files = files_from_xcom(dimensions, transactions, returns)
    loaded = load_day(run.settings, run.day, files)
    publish(TABLE_ASSETS, run.day, published_rows(loaded))
    return loaded


@task(inlets=TABLE_ASSETS, **RETRIED)
def check_data_quality(dimensions: list[dict], transactions: list[dict]) -> list[dict]:
    """Freshness, integrity and volume checks, stored in quality_results; an error fails."""
    from customer_pipeline.generate.day import rows_per_table
    from customer_pipeline.quality import check_data_quality

    run, files = Run.current(), files_from_xcom(dimensions, transactions)
    return [as_xcom(c) for c in check_data_quality(run.settings, run.day, rows_per_table(files))]


@task(multiple_outputs=False, inlets=TABLE_ASSETS, outlets=[KPI_ASSET], **RETRIED)
def calculate_metrics() -> dict:
    """The day's KPIs, stored in daily_metrics; returns the KPI document."""
    from customer_pipeline.metrics import calculate_metrics

    run = Run.current()
    document = calculate_metrics(run.settings, run.day)
    publish([KPI_ASSET], run.day)
    return document


@task(inlets=[KPI_ASSET], **RETRIED)
def send_email(metrics: dict, checks: list[dict], loaded: dict[str, int]) -> str:
    """Render the report (with the day's insights and charts), deliver it; say where."""
    from customer_pipeline.delivery import send_report
    from customer_pipeline.report import RunFacts, daily_report

    run = Run.current()
    facts = RunFacts(row_counts=loaded, seed=run.settings.seed, run_id=run.run_id)
    report = daily_report(run.settings, run.day, metrics, checks_from_xcom(checks), run=facts)
    return send_report(run.settings, run.day, report)


@task(**RETRIED)
def delete_files() -> bool:
    """Delete the run's working folder, even after a failure; record the run's outcome."""
    return tear_down(Run.current(), get_current_context()["ti"])


@dag(
    dag_id="customer_pipeline",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=START_DATE,  # the history start: any business date can be backfilled
    catchup=False,
    doc_md=__doc__,
    params=dag_params(),
    on_failure_callback=IncidentNotifier(),
    tags=["customer-pipeline"],
)
def customer_pipeline() -> None:
    with TaskGroup("generate", prefix_group_id=False, tooltip="the day's files"):
        dimensions = [generate_dimension.override(task_id=t.task)(t.name) for t in DIMENSIONS]
        chunks = plan_transaction_chunks()
        transactions = generate_transaction_data.expand(chunk=chunks)
        returns = generate_return_data.expand(chunk=chunks)
    loaded = load_data(dimensions, transactions, returns)
    checks = check_data_quality(dimensions, transactions)
    metrics = calculate_metrics()
    sent = send_email(metrics, checks, loaded)

    chain(check_dataset(), create_tables(), dimensions, chunks)
    chain(loaded, checks, metrics)
    sent >> delete_files().as_teardown(setups=[*dimensions, transactions, returns])


customer_pipeline()
