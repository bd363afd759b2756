"""The Airflow adapter: what the DAG needs that is about Airflow, not about retail data.

The only module of the library that imports Airflow. It turns a task's context (params,
connections, the run's dates and ids) into Settings and a business date, the library's
values into the dicts XCom holds and back (nowhere else converts them), and the
declarations of :mod:`customer_pipeline.settings` into the trigger form's params. The
DAG file imports it when it is parsed: it imports nothing heavy at module level (no
psycopg, numpy or Faker).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from airflow.sdk import Asset, BaseNotifier, ExceptionRetryPolicy, Param, RetryAction, RetryRule

from customer_pipeline.errors import ConfigError, DeliveryRefused, QualityError
from customer_pipeline.settings import DATE_PATTERN, HISTORY_START, OPTION, Settings, parse_date

DATABASE_CONN_ID = "customers_db"
SENDGRID_CONN_ID = "sendgrid_default"
SMTP_CONN_ID = "smtp_default"

#: The first logical date: the history start (any business date can be backfilled).
START_DATE = dt.datetime.combine(HISTORY_START, dt.time(), tzinfo=dt.UTC)

# -- connections -> settings, as data ------------------------------------------------------

#: customers_db (postgres) fields -> libpq keywords; extras that are libpq keywords
#: (sslmode, options, ...) pass through, and the extra `search_path` picks the schema.
DATABASE_FIELDS = {
    "host": "host",
    "port": "port",
    "login": "user",
    "password": "password",
    "schema": "dbname",
}
#: smtp_default fields -> settings (extras as the SMTP provider's SmtpHook reads them)
SMTP_FIELDS = {
    "host": "smtp_host",
    "port": "smtp_port",
    "login": "smtp_user",
    "password": "smtp_password",
}
#: sendgrid_default fields -> settings (the host, if set, replaces the API host)
SENDGRID_FIELDS = {"password": "sendgrid_api_key"}
#: extras of either mail connection -> settings
MAIL_EXTRAS = {"from_email": "email_from"}


def _fields(conn: Any, mapping: Mapping[str, str]) -> dict[str, object]:
    return {target: getattr(conn, name) for name, target in mapping.items()}


def database_settings(conn: Any) -> dict[str, object]:
    """database_url and db_schema from a customers_db Connection."""
    from psycopg import conninfo, pq

    libpq = {option.keyword.decode() for option in pq.Conninfo.get_defaults()}
    extra = conn.extra_dejson
    params = {key: value for key, value in extra.items() if key in libpq}
    params.update(
        {
            key: value
            for key, value in _fields(conn, DATABASE_FIELDS).items()
            if value not in ("", None)
        }
    )
    # the schema: our `search_path` extra, else the postgres provider's documented way,
    # the libpq `options` extra "-c search_path=<schema>"
    found = re.search(r"search_path\s*=\s*([A-Za-z0-9_]+)", str(extra.get("options", "")))
    return {
        "database_url": conninfo.make_conninfo("", **params),
        "db_schema": extra.get("search_path") or (found.group(1) if found else None),
    }


def smtp_settings(conn: Any) -> dict[str, object]:
    extra = conn.extra_dejson
    ssl = not extra.get("disable_ssl", False)
    return {
        **_fields(conn, SMTP_FIELDS),
        **{target: extra.get(name) for name, target in MAIL_EXTRAS.items()},
        "smtp_ssl": ssl,
        "smtp_starttls": not ssl and not extra.get("disable_tls", False),
        "smtp_timeout": float(extra["timeout"]) if "timeout" in extra else None,
    }


def sendgrid_settings(conn: Any) -> dict[str, object]:
    host = conn.host
    if host and "://" not in host:
        host = f"https://{host}" + (f":{conn.port}" if conn.port else "")
    return {
        **_fields(conn, SENDGRID_FIELDS),
        **{target: conn.extra_dejson.get(name) for name, target in MAIL_EXTRAS.items()},
        "sendgrid_host": host,
    }


#: backend -> (its connection, how that connection maps to settings)
MAIL_CONNECTIONS: dict[str, tuple[str, Callable[[Any], dict[str, object]]]] = {
    "smtp": (SMTP_CONN_ID, smtp_settings),
    "sendgrid": (SENDGRID_CONN_ID, sendgrid_settings),
}


def get_connection(conn_id: str) -> Any | None:
    """The connection, or None when it is not defined (customers_db as PostgresHook sees
    it, the mail connections as they are)."""
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        if conn_id == DATABASE_CONN_ID:
            from airflow.providers.postgres.hooks.postgres import PostgresHook

            return PostgresHook(postgres_conn_id=conn_id).connection
        return Connection.get(conn_id)
    except AirflowNotFoundException:
        return None


def build_settings(
    params: Mapping[str, Any],
    connection: Callable[[str], Any | None] = get_connection,
    env: Mapping[str, str] = os.environ,
) -> Settings:
    """Settings from the environment, then the run's params, then the connections."""
    settings = Settings.from_env(env).replace(
        _origin="param", **{name: params.get(name) for name in SETTING_PARAMS}
    )
    if database := connection(DATABASE_CONN_ID):
        settings = settings.replace(_origin=None, **database_settings(database))
    if settings.email_backend in MAIL_CONNECTIONS:
        conn_id, mapping = MAIL_CONNECTIONS[settings.email_backend]
        if mail := connection(conn_id):
            settings = settings.replace(_origin=None, **mapping(mail))
    return settings.validate()


# -- the run --------------------------------------------------------------------------------


def business_date(context: Mapping[str, Any]) -> dt.date:
    """The `business_date` param, else the logical date, else the run_after date (UTC)."""
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
        """The run of the task being executed."""
        from airflow.sdk import get_current_context

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


def as_xcom(value: Any) -> dict[str, Any]:
    """A library value (a frozen dataclass: a generated file, a check's result) as the dict
    a task returns; the *_from_xcom functions turn them back into the library's types."""
    return asdict(value)


def files_from_xcom(*groups: Sequence[Mapping[str, Any]]) -> list[Any]:  # GeneratedFile
    """The generated files that tasks passed as dicts; a mapped task's lazy output is read in
    one request (a slice)."""
    from customer_pipeline.generate.csvfile import GeneratedFile

    return [GeneratedFile(**file) for group in groups for file in group[:]]


def checks_from_xcom(checks: Sequence[Mapping[str, Any]]) -> list[Any]:  # CheckResult
    """The data-quality results that check_data_quality passed as dicts."""
    from customer_pipeline.quality import CheckResult

    return [CheckResult(**check) for check in checks]


def chunk_indexes(run: Run) -> list[int]:
    """One index per chunk of the run's transactions: at least one (maybe an empty file),
    at most [core] max_map_length."""
    from airflow.sdk import conf

    from customer_pipeline.generate.transactions import transaction_chunks

    chunks = max(1, len(transaction_chunks(run.settings, run.day)))
    limit = conf.getint("core", "max_map_length")
    if chunks > limit:
        raise ConfigError(f"{chunks} chunks exceed [core] max_map_length {limit}: raise chunk_size")
    return list(range(chunks))


def tear_down(run: Run, ti: Any) -> bool:
    """The DAG's teardown: delete the run's working folder (even after a failure), then
    record the run's outcome: the tasks that failed, the rows loaded, where the report
    went. True when there was a folder to delete."""
    from customer_pipeline.cleanup import delete_files
    from customer_pipeline.runs import finish_run

    try:
        return delete_files(run.settings, run.folder)
    finally:
        failed = failed_tasks(ti)
        finish_run(
            run.settings,
            run.run_id,
            status="failed" if failed else "success",
            row_counts=ti.xcom_pull(task_ids="load_data") or {},
            error=f"failed tasks: {', '.join(failed)}" if failed else None,
            delivered_to=ti.xcom_pull(task_ids="send_email"),
        )


def failed_tasks(ti: Any) -> list[str]:
    """The tasks of the current DAG run that failed (or could not run because one did)."""
    states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id])[ti.run_id]
    return sorted(task for task, state in states.items() if state in {"failed", "upstream_failed"})


# -- assets: what the DAG publishes ---------------------------------------------------------


def data_location(env: Mapping[str, str] = os.environ) -> tuple[str, int, str, str]:
    """(host, port, database, schema) of the pipeline's tables as far as parsing the DAG can
    tell without Airflow's metadata database: the customers_db connection when it is
    defined in the environment, else DATABASE_URL, else the embedded server. A server on
    a Unix socket (the embedded one) is "localhost"."""
    import json
    from urllib.parse import urlsplit

    schema = env.get("DATABASE_SCHEMA") or "public"
    conn = env.get(f"AIRFLOW_CONN_{DATABASE_CONN_ID.upper()}", "")
    if conn.startswith("{"):
        fields = json.loads(conn)
        extra = fields.get("extra") or {}
        extra = json.loads(extra) if isinstance(extra, str) else extra
        host, port, database = fields.get("host"), fields.get("port"), fields.get("schema")
        schema = extra.get("search_path") or schema
    else:
        url = urlsplit(conn or env.get("DATABASE_URL") or "postgresql://localhost/postgres")
        host, port, database = url.hostname, url.port, url.path.strip("/")
    if not host or host.startswith("/"):
        host = "localhost"
    return host, int(port or 5432), database or "postgres", schema


def table_asset(table: str, env: Mapping[str, str] = os.environ) -> Asset:
    """The Asset of one published table: postgres://host:port/database/schema/table (also
    its name: an asset's name is unique, and two schemas hold two datasets)."""
    host, port, database, schema = data_location(env)
    return Asset(uri=f"postgres://{host}:{port}/{database}/{schema}/{table}")


def publish(assets: Sequence[Asset], day: dt.date, rows: Mapping[str, int] | None = None) -> None:
    """Give the running task's asset events their business date (and rows, per table):
    consumers learn which day changed."""
    from airflow.sdk import get_current_context

    events = get_current_context()["outlet_events"]
    for asset in assets:
        table = asset.uri.rpartition("/")[2]
        events[asset].extra = {"business_date": day.isoformat()} | (
            {"rows": rows[table]} if rows and table in rows else {}
        )


def day_published(context: Mapping[str, Any]) -> dt.date:
    """The latest business date in the assets' events that triggered this run, else the
    run's business date (its param, logical date or run_after date)."""
    events = context.get("triggering_asset_events") or {}
    days = [
        event.extra["business_date"]
        for asset_events in events.values()
        for event in asset_events
        if (event.extra or {}).get("business_date")
    ]
    return parse_date(max(days)) if days else business_date(context)


# -- when a run fails ----------------------------------------------------------------------


class IncidentNotifier(BaseNotifier):
    """The DAG's failure notifier: the incident e-mail of the run's business date
    (customer_pipeline.incident), to the report's recipients through the same backend."""

    template_fields = ()

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        """Nothing to render. (The base class would ask the DAG for a Jinja environment,
        which the serialized DAG of `dag.test` does not have.)"""

    def notify(self, context: Any) -> None:
        from customer_pipeline.incident import Failure, send_incident

        if "dag_run" not in context:  # a minimal context: no run to tell about
            self.log.warning("no run in the failure callback's context: no incident e-mail")
            return
        day = business_date(context)
        ti = context.get("ti")
        step = ti.task_id if ti is not None else "run"
        rerun = (
            f"clear the failed tasks of run {context['dag_run'].run_id}, or trigger "
            f'customer_pipeline with {{"business_date": "{day}"}}'
        )
        reason = str(context.get("reason") or "")
        settings = build_settings(context["params"])
        details = (reason,) if reason else ()
        if step == "check_data_quality":  # the failed checks with their figures, as stored
            from customer_pipeline.quality import failed_checks

            try:
                details += tuple(failed_checks(settings, day))
            except Exception as exc:  # the incident goes out all the same
                self.log.warning("the failed checks of %s could not be read: %s", day, exc)
        failure = Failure(day, step, details, rerun=rerun)
        self.log.info("incident sent to %s", send_incident(settings, failure))


# -- retries and params --------------------------------------------------------------------

#: Bad settings, bad data, a mail service that refused the key or the message: no retry can
#: cure them. Anything else gets the task's retries.
RETRY_POLICY = ExceptionRetryPolicy(
    rules=[
        RetryRule(
            exception=[ConfigError, QualityError, DeliveryRefused],
            action=RetryAction.FAIL,
            reason="retrying cannot help",
        )
    ]
)


def retried(env: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """The retry arguments of the tasks that use the database or the mail service."""
    return {
        "retries": int(env.get("PIPELINE_TASK_RETRIES", "3")),
        "retry_delay": dt.timedelta(seconds=float(env.get("PIPELINE_RETRY_DELAY_SECONDS", "30"))),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": dt.timedelta(minutes=10),
        "retry_policy": RETRY_POLICY,
    }


#: Params that are settings of the same name, by section of the trigger form.
SECTIONS = {
    "Dataset (fixed once a schema holds data)": (
        "seed",
        "locale",
        "customers",
        "products",
        "stores",
    ),
    "The day": ("transactions", "chunk_size"),
    "Delivery": ("email_backend", "email_to", "alert_only", "email_bcc"),
}
SETTING_PARAMS = (*(name for names in SECTIONS.values() for name in names), "reset")


def _setting_param(name: str, section: str) -> Param:
    """An optional param for a setting: empty means the environment, else the default."""
    option = OPTION[name]
    default = Settings().value(name)
    kinds = {int: "integer", bool: "boolean"}
    schema: dict[str, Any] = {"type": ["null", kinds.get(option.kind, "string")]}
    bounds = {"minimum": option.minimum, "maximum": option.maximum}
    schema |= {key: value for key, value in bounds.items() if value is not None}
    if option.multiple_of:
        schema["multipleOf"] = option.multiple_of
    if option.choices:
        schema["enum"] = [None, *option.choices]
        # the form's labels: the empty choice says what it means instead of "null" (a None
        # key is "null" in the serialized DAG, which is how the form looks the label up)
        schema["values_display"] = {None: f"(unset: {option.env}, else {default})"} | {
            choice: choice for choice in option.choices
        }
    if option.kind is tuple:  # recipients: addresses without spaces or line breaks
        address = {"type": "string", "format": "email", "pattern": r"^[^\s,;<>]+@[^\s,;<>]+$"}
        schema |= {"type": ["null", "array"], "items": address, "minItems": 1}
        default = ", ".join(default)
    return Param(
        None,
        title=name.replace("_", " ").capitalize(),
        description=f"{option.help} Empty: {option.env}, else {default}.",
        section=section,
        **schema,
    )


def business_date_param(
    description: str = "YYYY-MM-DD, 2020-2099; empty: the run's logical date (or run_after).",
) -> Param:
    """The optional business date of a run, bounded like Settings.check_business_date."""
    return Param(
        None,
        type=["null", "string"],
        format="date",
        pattern=DATE_PATTERN,
        title="Business date",
        description=description,
        section="The day",
    )


def dag_params() -> dict[str, Param]:
    """The trigger form: the business date, the settings by section, the reset."""
    params = {"business_date": business_date_param()}
    for section, names in SECTIONS.items():
        params |= {name: _setting_param(name, section) for name in names}
    params["reset"] = Param(
        False,
        type=["boolean", "null"],  # admits null: else the form marks the switch required (*)
        title="Reset",
        description="Drop and recreate every pipeline table first: deletes all history. "
        "Checking it is the confirmation.",
        section="Danger zone",
    )
    return params
