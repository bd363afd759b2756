"""
# customer_pipeline

Synthetic retail data for one **business date** → PostgreSQL → KPIs → the daily report
by email. Every task is one step of the `customer_pipeline` library (the same steps
`customer-pipeline run` calls outside Airflow); tasks pass paths and counts, never rows.

```
create_tables ┬ generate_customers_data ┐
              ├ generate_product_data   ┼ plan_transaction_chunks
              └ generate_stores_data    ┘   → generate_transaction_data[chunk] (mapped)
→ load_data → check_data_quality → calculate_metrics → send_email ⇢ delete_files (teardown)
```

**Business date**: the `business_date` param; else the run's logical date (a scheduled
run's is the start of the day it covers: it runs when that day is over); else, for a
manual run without a logical date, its `run_after` date (UTC). Re-running a date, clearing
any task, or a backfill gives the same data: the data is a function of (seed, date,
sizes) and the load replaces the day's partition atomically.

**Files**: the generators write into `<PIPELINE_WORK_DIR>/<date>/<run id>`, which every task
of the run must see (shared storage when tasks run on several machines). The generators
are the setups of `delete_files`, which removes the folder even when a task failed, and
records the run's outcome in `pipeline_runs`. Clearing a task re-runs the generators, so
the files it needs exist again.

**Connections**
- `customers_db` (postgres): the database; the extra `{"search_path": "schema"}` picks the
  schema (default `public`, or `DATABASE_SCHEMA`). Not defined: `DATABASE_URL`, else an
  embedded PostgreSQL in `PIPELINE_PGDATA` (default `.pgdata`).
- `sendgrid_default`: the API key as password; host (if set) replaces the API host;
  extra `from_email` sets the sender.
- `smtp_default`: host, port, login, password; extras as the SMTP provider reads them
  (`disable_ssl`, `disable_tls`, `from_email`, `timeout`).

Anything not set by a param or a connection comes from the environment (`EMAIL_FROM`,
`EMAIL_TO`, `EMAIL_BACKEND`, `PIPELINE_WORK_DIR`, `PIPELINE_OUTBOX_DIR`, ...).

**Retries**: tasks that use the database or the mail service retry with exponential
backoff (`PIPELINE_TASK_RETRIES`, default 3; first delay `PIPELINE_RETRY_DELAY_SECONDS`,
default 30; read when the file is parsed); a configuration error, a failed data-quality
check or a refused API key or message fails at once. Within one try, the mail backends
also retry transient errors themselves (`EMAIL_ATTEMPTS`).
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import (
    CronDataIntervalTimetable,
    Param,
    RetryDecision,
    RetryPolicy,
    chain,
    dag,
    get_current_context,
    task,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow.sdk import Context

    from customer_pipeline.settings import Settings

DATABASE_CONN_ID = "customers_db"
SENDGRID_CONN_ID = "sendgrid_default"
SMTP_CONN_ID = "smtp_default"

#: The dimension generators, by the original's task names (see customer_pipeline.pipeline).
DIMENSION_TASKS = ("generate_customers_data", "generate_product_data", "generate_stores_data")


class FailAtOnce(RetryPolicy):
    """No retry for the library's errors that retrying cannot cure; the default otherwise."""

    #: Bad settings, bad data, a mail service that refused the key or the message. Matched
    #: by name, so that parsing this file imports none of the library.
    ERRORS = frozenset(
        {
            "customer_pipeline.errors.ConfigError",
            "customer_pipeline.errors.QualityError",
            "customer_pipeline.errors.DeliveryRefused",
        }
    )

    def evaluate(
        self,
        exception: BaseException,
        try_number: int,
        max_tries: int,
        context: Context | None = None,
    ) -> RetryDecision:
        kinds = {f"{kind.__module__}.{kind.__qualname__}" for kind in type(exception).__mro__}
        if kinds & self.ERRORS:
            return RetryDecision.fail(f"{type(exception).__name__}: retrying cannot help")
        return RetryDecision.default()


#: For the tasks that use the database or the mail service.
RETRIED = {
    "retries": int(os.environ.get("PIPELINE_TASK_RETRIES", "3")),
    "retry_delay": dt.timedelta(
        seconds=float(os.environ.get("PIPELINE_RETRY_DELAY_SECONDS", "30"))
    ),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": dt.timedelta(minutes=10),
    "retry_policy": FailAtOnce(),
}

MAX_ROWS = 1_000_000_000  # customer_pipeline.settings._MAX_SIZE
BLOCK_ROWS = 10_000  # customer_pipeline.settings.BLOCK_ROWS


def _number(what: str, **bounds: int) -> Param:
    """An optional integer: empty means the environment (PIPELINE_*) or the library's default."""
    return Param(None, type=["null", "integer"], description=what, **bounds)


#: Validated when a run is created; `None` means "from the environment or the library".
PARAMS = {
    "business_date": Param(
        None,
        type=["null", "string"],
        format="date",
        pattern=r"^\d{4}-\d{2}-\d{2}$",
        description="YYYY-MM-DD; empty: the run's logical date (or run_after date).",
    ),
    "customers": _number(
        "Customers at the history start (default 100); sign-ups add more every day.",
        minimum=0,
        maximum=MAX_ROWS,
    ),
    "products": _number("Products (default 50).", minimum=0, maximum=MAX_ROWS),
    "stores": _number("Stores (default 20).", minimum=0, maximum=MAX_ROWS),
    "transactions": _number(
        "A typical day's transactions (default 1000; weekday, season and growth vary it).",
        minimum=0,
        maximum=MAX_ROWS,
    ),
    "seed": _number("Random seed (default 42).", minimum=0, maximum=2**63 - 1),
    "chunk_size": _number(
        "Transactions per generated file, one mapped task each (default 100000).",
        minimum=BLOCK_ROWS,
        maximum=MAX_ROWS,
        multipleOf=BLOCK_ROWS,
    ),
    "reset": Param(
        False,
        type="boolean",
        description="Drop and recreate every pipeline table first (deletes all history).",
    ),
    "email_backend": Param(
        None,
        type=["null", "string"],
        enum=[None, "outbox", "smtp", "sendgrid"],
        description="Empty: EMAIL_BACKEND, else outbox (a .eml file in PIPELINE_OUTBOX_DIR).",
    ),
    "email_to": Param(
        None,
        type=["null", "array"],
        items={"type": "string", "format": "email"},
        minItems=1,
        description="Recipients; empty: EMAIL_TO.",
    ),
}

#: Params that are Settings fields of the same name.
SETTING_PARAMS = ("customers", "products", "stores", "transactions", "seed", "chunk_size")
SETTING_PARAMS += ("reset", "email_backend", "email_to")


# -- one place that turns params, connections and the environment into Settings ------------


def _connection(conn_id: str) -> Any | None:
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return Connection.get(conn_id)
    except AirflowNotFoundException:
        return None


def _database(conn: Any | None) -> dict[str, object]:
    """database_url and db_schema from the customers_db connection (none: keep defaults)."""
    if conn is None:
        return {}
    from psycopg import conninfo, pq

    extra = conn.extra_dejson
    libpq = {option.keyword.decode() for option in pq.Conninfo.get_defaults()}
    fields = {
        "host": conn.host,
        "port": conn.port,
        "user": conn.login,
        "password": conn.password,
        "dbname": conn.schema,
    }
    params = {key: value for key, value in extra.items() if key in libpq}
    params.update({key: value for key, value in fields.items() if value not in (None, "")})
    return {
        "database_url": conninfo.make_conninfo("", **params),
        "db_schema": extra.get("search_path"),
    }


def _mail(backend: str) -> dict[str, object]:
    """The chosen backend's settings from its Airflow connection (none: keep defaults)."""
    if backend == "sendgrid" and (conn := _connection(SENDGRID_CONN_ID)):
        host = conn.host
        if host and "://" not in host:
            host = f"https://{host}" + (f":{conn.port}" if conn.port else "")
        return {
            "sendgrid_api_key": conn.password,
            "sendgrid_host": host,
            "email_from": conn.extra_dejson.get("from_email"),
        }
    if backend == "smtp" and (conn := _connection(SMTP_CONN_ID)):
        extra = conn.extra_dejson  # read as the SMTP provider's SmtpHook reads it
        ssl = not extra.get("disable_ssl", False)
        return {
            "smtp_host": conn.host,
            "smtp_port": conn.port,
            "smtp_user": conn.login,
            "smtp_password": conn.password,
            "smtp_ssl": ssl,
            "smtp_starttls": not ssl and not extra.get("disable_tls", False),
            "smtp_timeout": float(extra["timeout"]) if "timeout" in extra else None,
            "email_from": extra.get("from_email"),
        }
    return {}


def build_settings(params: Mapping[str, Any]) -> Settings:
    """Settings from the environment, then the run's params, then the connections."""
    from customer_pipeline.settings import Settings

    settings = Settings.from_env(os.environ).replace(**{k: params[k] for k in SETTING_PARAMS})
    settings = settings.replace(**_database(_connection(DATABASE_CONN_ID)))
    return settings.replace(**_mail(settings.email_backend)).validate()


def business_date(context: Mapping[str, Any]) -> dt.date:
    """The `business_date` param, else the logical date, else the run_after date (UTC)."""
    from customer_pipeline.settings import parse_date

    if chosen := context["params"].get("business_date"):
        return parse_date(chosen)
    moment = context.get("logical_date") or context["dag_run"].run_after
    return moment.astimezone(dt.UTC).date()


@dataclass(frozen=True)
class Run:
    """What every task of one DAG run shares."""

    settings: Settings
    day: dt.date
    folder: Path  # the run's working folder
    run_id: str  # its id in the pipeline_runs table

    @classmethod
    def current(cls) -> Run:
        from customer_pipeline.cleanup import run_folder

        context = get_current_context()
        settings = build_settings(context["params"])
        day = settings.check_business_date(business_date(context))
        dag_run = context["dag_run"]
        run_id = uuid.uuid5(uuid.NAMESPACE_URL, f"airflow:{dag_run.dag_id}/{dag_run.run_id}")
        return cls(settings, day, run_folder(settings, day, dag_run.run_id), str(run_id))

    def work_folder(self) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.folder


def _files(
    dimensions: Sequence[dict[str, Any]], transactions: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """All generated files; the mapped task's lazy output is read in one request (a slice)."""
    return [*dimensions, *transactions[:]]


# -- the DAG -----------------------------------------------------------------------------------


@dag(
    dag_id="customer_pipeline",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    # the library's history start: no task instance exists for a logical date before it,
    # so any business date can be backfilled; catchup stays off
    start_date=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    doc_md=__doc__,
    params=PARAMS,
    tags=["customer-pipeline"],
)
def customer_pipeline() -> None:
    @task(**RETRIED)
    def create_tables() -> None:
        """Create the tables when missing (reset: drop them first); record the run."""
        from customer_pipeline.pipeline import begin_day

        run = Run.current()
        begin_day(run.settings, run.day, run.run_id)

    @task(multiple_outputs=False)
    def generate_dimension(name: str) -> dict[str, object]:
        from customer_pipeline.pipeline import DIMENSION_GENERATORS

        run = Run.current()
        return DIMENSION_GENERATORS[name](run.settings, run.work_folder(), run.day).as_dict()

    @task
    def plan_transaction_chunks() -> list[int]:
        """One index per chunk of the day's transactions (at least one, maybe empty, file)."""
        from airflow.sdk import conf

        from customer_pipeline.errors import ConfigError
        from customer_pipeline.generate.transactions import transaction_chunks

        run = Run.current()
        chunks = max(1, len(transaction_chunks(run.settings, run.day)))
        limit = conf.getint("core", "max_map_length")
        if chunks > limit:
            raise ConfigError(
                f"{chunks} chunks exceed [core] max_map_length {limit}: raise chunk_size"
            )
        return list(range(chunks))

    @task(multiple_outputs=False)
    def generate_transaction_data(chunk: int) -> dict[str, object]:
        from customer_pipeline.generate.transactions import generate_transactions

        run = Run.current()
        return generate_transactions(run.settings, run.work_folder(), run.day, chunk).as_dict()

    @task(multiple_outputs=False, **RETRIED)
    def load_data(
        dimensions: list[dict[str, Any]], transactions: Sequence[dict[str, Any]]
    ) -> dict[str, int]:
        """Replace the day's transactions and upsert the dimensions, atomically."""
        from customer_pipeline.load import load_day

        run = Run.current()
        return load_day(run.settings, run.day, _files(dimensions, transactions))

    @task(**RETRIED)
    def check_data_quality(
        dimensions: list[dict[str, Any]], transactions: Sequence[dict[str, Any]]
    ) -> list[dict[str, object]]:
        """Row counts as generated, no orphans, amounts = price x quantity, ..."""
        from customer_pipeline.generate.csvfile import rows_per_table
        from customer_pipeline.quality import check_data_quality

        generated = rows_per_table(_files(dimensions, transactions))
        run = Run.current()
        return [c.as_dict() for c in check_data_quality(run.settings, run.day, generated)]

    @task(multiple_outputs=False, **RETRIED)
    def calculate_metrics() -> dict[str, Any]:
        """The day's KPIs, stored in daily_metrics; returns the KPI document."""
        from customer_pipeline.metrics import calculate_metrics

        run = Run.current()
        return calculate_metrics(run.settings, run.day)

    @task(**RETRIED)
    def send_email(
        metrics: dict[str, Any], checks: list[dict[str, Any]], loaded: dict[str, int]
    ) -> str:
        """Render the report (with the day's insights and charts), deliver it; say where."""
        from customer_pipeline.delivery import send_report
        from customer_pipeline.report import RunFacts, daily_report

        run = Run.current()
        facts = RunFacts(row_counts=loaded, seed=run.settings.seed, run_id=run.run_id)
        report = daily_report(run.settings, run.day, metrics, checks, run=facts)
        return send_report(run.settings, run.day, report)

    @task(**RETRIED)
    def delete_files() -> bool:
        """Delete the run's working folder, even after a failure; record the run's outcome."""
        from customer_pipeline.cleanup import delete_files
        from customer_pipeline.runs import finish_run

        run = Run.current()
        ti = get_current_context()["ti"]
        try:
            return delete_files(run.settings, run.folder)
        finally:
            states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id])[ti.run_id]
            failed = sorted(t for t, s in states.items() if s in {"failed", "upstream_failed"})
            finish_run(
                run.settings,
                run.run_id,
                status="failed" if failed else "success",
                row_counts=ti.xcom_pull(task_ids="load_data") or {},
                error=f"failed tasks: {', '.join(failed)}" if failed else None,
                delivered_to=ti.xcom_pull(task_ids="send_email"),
            )

    dimensions = [generate_dimension.override(task_id=name)(name) for name in DIMENSION_TASKS]
    chunks = plan_transaction_chunks()
    transactions = generate_transaction_data.expand(chunk=chunks)
    loaded = load_data(dimensions, transactions)
    checks = check_data_quality(dimensions, transactions)
    metrics = calculate_metrics()
    sent = send_email(metrics, checks, loaded)

    chain(create_tables(), dimensions, chunks)
    chain(loaded, checks, metrics)
    sent >> delete_files().as_teardown(setups=[*dimensions, transactions])


customer_pipeline()
