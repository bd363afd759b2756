"""The Airflow DAG (dags/customer_pipeline.py): it parses cleanly, has the designed shape,
and runs whole business days in-process with dag.test() on a real PostgreSQL.

Airflow is configured by environment variables set before it is first imported (a
throwaway AIRFLOW_HOME with a SQLite metadata database). Tasks retry once, after a second.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.util
import json
import subprocess
import sys
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from conftest import free_port
from customer_pipeline.tables import PUBLISHED

pytestmark = [
    pytest.mark.airflow,
    pytest.mark.skipif(importlib.util.find_spec("airflow") is None, reason="needs apache-airflow"),
    # Airflow's in-process execution API (dag.test) uses starlette's TestClient
    pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`"),
]

DAGS = Path(__file__).resolve().parents[1] / "dags"
DAG_FILE = DAGS / "customer_pipeline.py"
DIMENSIONS = {
    "generate_customers_data",
    "generate_product_data",
    "generate_stores_data",
    "generate_promotions_data",
}
DATABASE_TASKS = {"create_tables", "load_data", "check_data_quality", "calculate_metrics"}
SMALL_DAY = {"customers": 60, "products": 30, "stores": 8, "transactions": 25_000}
SMALL_CHUNKS = {"chunk_size": 10_000}  # three mapped chunks: 10,000 + 10,000 + 5,000
RECIPIENT = "analytics@example.org"


def utc(day: str, hour: int = 0) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=dt.UTC)


# -- Airflow, configured for the session ---------------------------------------------------


def parse_dag_folder() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(str(DAGS))


@pytest.fixture
def dag(airflow_home: Path) -> Any:  # noqa: ARG001 (Airflow configured before it is imported)
    """Parsed for each test: an in-process dag.test() writes a run's conf into dag.params."""
    return parse_dag_folder().get_dag("customer_pipeline")


def set_pipeline_env(env: pytest.MonkeyPatch, database_url: str, schema: str, folder: Path) -> Path:
    """customers_db on the test database and schema; work and outbox folders in `folder`."""
    info = psycopg.conninfo.conninfo_to_dict(database_url)
    connection = {
        "conn_type": "postgres",
        "host": info.get("host"),
        "port": int(info["port"]) if info.get("port") else None,
        "login": info.get("user"),
        "password": info.get("password"),
        "schema": info.get("dbname"),
        "extra": {"search_path": schema},
    }
    env.setenv("AIRFLOW_CONN_CUSTOMERS_DB", json.dumps(connection))
    env.setenv("PIPELINE_WORK_DIR", str(folder / "work"))
    env.setenv("PIPELINE_OUTBOX_DIR", str(folder / "outbox"))
    for name in ("DATABASE_URL", "DATABASE_SCHEMA", "EMAIL_BACKEND", "EMAIL_TO", "EMAIL_FROM"):
        env.delenv(name, raising=False)
    env.delenv("AIRFLOW_CONN_SMTP_DEFAULT", raising=False)
    return folder


@pytest.fixture
def pipeline_env(
    monkeypatch: pytest.MonkeyPatch, database_url: str, schema: str, tmp_path: Path
) -> Path:
    """customers_db on the test database and schema; work and outbox folders in tmp_path."""
    return set_pipeline_env(monkeypatch, database_url, schema, tmp_path)


def task_states(run: Any) -> dict[str, tuple[str, int]]:
    """task_id (with [map index] when mapped) -> (state, try number)."""
    from airflow.utils.session import create_session

    with create_session() as session:
        return {
            ti.task_id + (f"[{ti.map_index}]" if ti.map_index >= 0 else ""): (
                ti.state,
                ti.try_number,
            )
            for ti in run.get_task_instances(session=session)
        }


def fingerprint(db: psycopg.Connection, day: str) -> tuple:
    """Counts, sums and a digest of every row of the day's data."""
    return db.execute(
        "SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM products),"
        " (SELECT count(*) FROM stores), count(*), sum(transaction_amount), sum(quantity),"
        " md5(string_agg(t::text, ',' ORDER BY transaction_id)),"
        " (SELECT metrics FROM daily_metrics WHERE business_date = %(day)s)"
        " FROM transactions t WHERE business_date = %(day)s",
        {"day": day},
    ).fetchone()


def day_versions(db: psycopg.Connection, day: str) -> dict[str, int]:
    """The customers' and products' versions valid from the day (what its files hold)."""
    return {
        table: db.execute(
            f"SELECT count(*) FROM {table}_history "
            "WHERE (valid_from AT TIME ZONE 'UTC')::date = %s",
            [day],
        ).fetchone()[0]
        for table in ("customers", "products")
    }


# -- parsing and shape ------------------------------------------------------------------------


@pytest.mark.usefixtures("airflow_home")
def test_dag_folder_imports_without_errors_or_deprecation_warnings() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bag = parse_dag_folder()
    assert bag.import_errors == {}
    assert bag.captured_warnings == {}
    assert [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)] == []
    assert sorted(bag.dag_ids) == ["customer_pipeline", "customer_pipeline_weekly"]


@pytest.mark.usefixtures("airflow_home")
def test_parsing_imports_nothing_heavy() -> None:
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('dag_file', {str(DAG_FILE)!r})\n"
        "module = sys.modules['dag_file'] = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "heavy = ('numpy', 'faker', 'psycopg', 'pgserver', 'email_validator')\n"
        "print([name for name in heavy if name in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_daily_schedule_from_a_fixed_date_without_catchup(dag: Any) -> None:
    from airflow.sdk import CronDataIntervalTimetable

    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.timetable.expression == "0 0 * * *"  # @daily: the logical date is the day
    assert dag.start_date == utc("2020-01-01")  # = Settings.history_start: all can be backfilled
    assert dag.catchup is False
    assert dag.doc_md.strip().startswith("# customer_pipeline")


def test_params_default_to_the_environment_then_the_library(dag: Any) -> None:
    from customer_pipeline.airflow_adapter import build_settings
    from customer_pipeline.settings import Settings

    params = {name: dag.params.get_param(name).value for name in dag.params}
    assert params == dict.fromkeys(params) | {"reset": False}  # empty: not decided here
    build = functools.partial(build_settings, connection=lambda _conn_id: None)
    assert build(params, env={}).sizes == Settings().sizes
    chosen = build(params, env={"PIPELINE_SEED": "7", "PIPELINE_TRANSACTIONS": "5000"})
    assert (chosen.seed, chosen.sizes.transactions) == (7, 5000)
    assert build({**params, "seed": 9}, env={"PIPELINE_SEED": "7"}).seed == 9  # a param wins


def test_every_param_has_a_title_a_section_and_a_description(dag: Any) -> None:
    for name in dag.params:
        param = dag.params.get_param(name)
        assert param.schema["title"] and param.schema["section"] and param.description, name


def test_the_form_requires_nothing(dag: Any) -> None:
    """The trigger form marks a field required (*) when its type does not admit null: every
    field has a default or means "the environment" when empty, the reset switch included."""
    for name in dag.params:
        assert "null" in dag.params.get_param(name).schema["type"], name


def test_task_ids_keep_the_original_names(dag: Any) -> None:
    original = {
        "create_tables",
        *DIMENSIONS,
        "generate_transaction_data",
        "calculate_metrics",
        "send_email",
        "delete_files",
    }
    added = {
        "check_dataset",
        "plan_transaction_chunks",
        "generate_return_data",
        "load_data",
        "check_data_quality",
    }
    assert set(dag.task_ids) == original | added


def test_edges(dag: Any) -> None:
    def upstream(task_id: str) -> set[str]:
        return set(dag.get_task(task_id).upstream_task_ids)

    assert upstream("create_tables") == {"check_dataset"}
    for dimension in DIMENSIONS:
        assert upstream(dimension) == {"create_tables"}
    assert upstream("plan_transaction_chunks") == DIMENSIONS  # no race with the dimensions
    assert upstream("generate_transaction_data") == {"plan_transaction_chunks"}
    assert upstream("generate_return_data") == {"plan_transaction_chunks"}
    assert upstream("load_data") == DIMENSIONS | {
        "generate_transaction_data",
        "generate_return_data",
    }
    assert "load_data" in upstream("check_data_quality")
    assert upstream("calculate_metrics") == {"check_data_quality"}
    assert upstream("send_email") == {"calculate_metrics", "check_data_quality", "load_data"}
    assert dag.get_task("generate_transaction_data").is_mapped
    assert dag.get_task("generate_return_data").is_mapped


def test_delete_files_is_the_teardown_of_the_generators(dag: Any) -> None:
    generators = DIMENSIONS | {"generate_transaction_data", "generate_return_data"}
    cleanup = dag.get_task("delete_files")
    assert cleanup.is_teardown
    assert cleanup.trigger_rule == "all_done_setup_success"
    assert {t.task_id for t in dag.tasks if t.is_setup} == generators
    assert set(cleanup.upstream_task_ids) == generators | {"send_email"}
    # clearing a task that reads the files re-runs the generators, so the files exist again
    cleared = dag.partial_subset(["load_data"], include_downstream=True, include_upstream=False)
    assert generators | {"load_data", "send_email", "delete_files"} <= set(cleared.task_ids)
    assert "create_tables" not in cleared.task_ids  # a reset is never repeated by a clear


def test_retries_with_backoff_only_where_the_database_or_mail_is_used(dag: Any) -> None:
    for task in dag.tasks:
        retried = task.task_id in DATABASE_TASKS | {"send_email", "delete_files"}
        assert (task.retries > 0) is retried, task.task_id
        if retried:
            assert task.retry_exponential_backoff == 2.0
            assert task.retry_policy is not None


def test_errors_that_no_retry_can_cure_fail_at_once(dag: Any) -> None:
    from airflow.sdk import RetryAction

    from customer_pipeline.errors import ConfigError, DeliveryError, DeliveryRefused, QualityError

    policy = dag.get_task("send_email").retry_policy
    for error in (ConfigError("bad"), QualityError("orphans"), DeliveryRefused("bad key")):
        assert policy.evaluate(error, 1, 3).action == RetryAction.FAIL, error
    for error in (DeliveryError("timeout"), OSError("reset"), psycopg.OperationalError("gone")):
        assert policy.evaluate(error, 1, 3).action == RetryAction.DEFAULT, error


# -- whole runs --------------------------------------------------------------------------------


def lineage(airflow_home: Path, run: Any) -> dict[str, tuple[set[str], set[str]]]:
    """The OpenLineage COMPLETE events of a run's tasks: task_id -> (inputs, outputs), each
    dataset as namespace/name."""
    tasks: dict[str, tuple[set[str], set[str]]] = {}
    for line in (airflow_home / "openlineage" / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        airflow = event["run"]["facets"].get("airflow", {})
        if (
            event["eventType"] != "COMPLETE"
            or airflow.get("dagRun", {}).get("run_id") != run.run_id
        ):
            continue
        datasets = [
            {f"{d['namespace']}/{d['name']}" for d in event[kind]} for kind in ("inputs", "outputs")
        ]
        tasks[airflow["task"]["task_id"]] = (datasets[0], datasets[1])
    return tasks


# -- two days that the tests of a whole day, of reruns and of the week share ---------------


@dataclass(frozen=True)
class Ended:
    """A run as it ended: a later run of the DAG may change its task instances."""

    run_id: str
    state: str
    tasks: dict[str, tuple[str, int]]  # task_states

    @classmethod
    def of(cls, run: Any) -> Ended:
        return cls(run.run_id, run.state, task_states(run))


@dataclass(frozen=True)
class TwoDays:
    """2024-03-10 and 2024-03-11 loaded by the DAG in a schema of the module's, the folder
    of their files and emails in pipeline_env."""

    database_url: str
    schema: str
    folder: Path  # pipeline_env's
    last: Ended  # the manual run of 2024-03-11

    def connect(self) -> psycopg.Connection:
        conn = psycopg.connect(self.database_url, autocommit=True)
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
        return conn


LAST_DAY_CONF = {**SMALL_DAY, **SMALL_CHUNKS}


@pytest.fixture(scope="module")
def two_days(
    airflow_home: Path,  # noqa: ARG001 (Airflow configured before it is imported)
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[TwoDays]:
    """2024-03-10 by a scheduled run, then 2024-03-11 by a manual run without a logical
    date (its business date: its run_after date) in chunks, pipeline_env pointing at their
    schema and folder while the module runs. Its tests rerun the last day, or try to, which
    changes no row."""
    schema, folder = f"t_{uuid.uuid4().hex[:12]}", tmp_path_factory.mktemp("two-days")
    with pytest.MonkeyPatch.context() as env:
        set_pipeline_env(env, database_url, schema, folder)
        daily = parse_dag_folder().get_dag("customer_pipeline")
        scheduled = daily.test(logical_date=utc("2024-03-10"), run_conf=SMALL_DAY)
        assert scheduled.state == "success", task_states(scheduled)
        daily = parse_dag_folder().get_dag("customer_pipeline")  # without the first run's conf
        manual = Ended.of(
            daily.test(logical_date=None, run_after=utc("2024-03-11", 15), run_conf=LAST_DAY_CONF)
        )
        assert manual.state == "success", manual.tasks
        yield TwoDays(database_url, schema, folder, manual)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def test_a_whole_day(two_days: TwoDays, airflow_home: Path) -> None:
    run, day, folder = two_days.last, "2024-03-11", two_days.folder
    states = run.tasks
    assert run.state == "success", states
    assert {state for state, _ in states.values()} == {"success"}
    with two_days.connect() as db:
        status, loaded, delivered_to = db.execute(
            "SELECT status, row_counts, delivered_to FROM pipeline_runs"
            " WHERE business_date = %s ORDER BY started_at LIMIT 1",  # not a rerun's
            [day],
        ).fetchone()
        assert status == "success"
        assert delivered_to.endswith(f"{day}-daily-report.eml")
        _, _, stores, transactions, *_ = fingerprint(db, day)
        assert loaded == {
            **day_versions(db, day),  # the dimensions' files hold the day's versions
            "stores": stores,
            "promotions": db.execute("SELECT count(*) FROM promotions").fetchone()[0],
            "transactions": transactions,
            "returns": db.execute(
                "SELECT count(*) FROM returns_scheduled WHERE business_date = %s", [day]
            ).fetchone()[0],
        }
        kpis = db.execute(
            "SELECT transaction_count, total_sales FROM daily_metrics WHERE business_date = %s",
            [day],
        ).fetchone()
    assert min(loaded[table] for table in ("stores", "promotions", "transactions", "returns")) > 0
    chunks = -(-transactions // SMALL_CHUNKS["chunk_size"])
    assert chunks > 1
    assert sorted(key for key in states if key.startswith("generate_transaction_data")) == [
        f"generate_transaction_data[{chunk}]" for chunk in range(chunks)
    ]
    assert kpis[0] == transactions and kpis[1] > 0
    email = message_from_bytes((folder / "outbox" / f"{day}-daily-report.eml").read_bytes())
    assert email["Subject"].startswith("Daily sales Mon 11 Mar: $")
    assert not (folder / "work").exists()

    # lineage: every task's event; the tables each one reads and writes, named as assets
    from customer_pipeline.airflow_adapter import data_location

    host, port, database, schema = data_location()  # the assets' server, as parsed
    assert schema == two_days.schema
    namespace, prefix = f"postgres://{host}:{port}", f"{database}.{schema}"
    assert set(PUBLISHED) == {*loaded, "customers_history", "products_history"}
    tables = {f"{namespace}/{prefix}.{table}" for table in PUBLISHED}
    kpis = {f"{namespace}/{prefix}.daily_metrics"}
    events = lineage(airflow_home, run)
    assert set(events) == {key.split("[")[0] for key in states}
    assert events["load_data"] == (set(), tables)
    assert events["check_data_quality"] == (tables, set())
    assert events["calculate_metrics"] == (tables, kpis)
    assert events["send_email"] == (kpis, set())


def test_a_failed_email_still_deletes_the_files_and_keeps_the_day(
    dag: Any, pipeline_env: Path, db: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    smtp = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": free_port(),
        "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "pipeline@example.org"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps(smtp))
    monkeypatch.setenv("EMAIL_ATTEMPTS", "1")  # no retries inside a try: Airflow's only

    run = dag.test(
        logical_date=utc("2024-03-02"),
        run_conf={**SMALL_DAY, "email_backend": "smtp", "email_to": [RECIPIENT]},
    )

    states = task_states(run)
    assert run.state == "failed"
    assert states["send_email"] == ("failed", 2)  # a delivery error is retried
    assert states["delete_files"][0] == "success"
    assert not (pipeline_env / "work").exists()
    status, error, loaded = db.execute(
        "SELECT status, error, row_counts FROM pipeline_runs"
    ).fetchone()
    assert status == "failed" and "send_email" in error
    assert fingerprint(db, "2024-03-02")[3] == loaded["transactions"] > 0
    incident = message_from_bytes(
        (pipeline_env / "outbox" / "2024-03-02-incident.eml").read_bytes()
    )  # the failure notifier's mail, kept by the outbox when the SMTP server is down
    assert incident["Subject"] == "Daily sales report FAILED for 2024-03-02: send_email"
    assert db.execute("SELECT count(*) FROM daily_metrics").fetchone()[0] == 1


def test_a_volume_drop_fails_the_checks_and_the_incident_lists_them(
    dag: Any, pipeline_env: Path, db: psycopg.Connection, settings: Any, tmp_path: Path
) -> None:
    from conftest import generate_day
    from customer_pipeline.load import load_day
    from customer_pipeline.metrics import calculate_metrics
    from customer_pipeline.schema import create_tables

    usual = settings.replace(**SMALL_DAY)  # three Fridays of history, the library's way
    create_tables(usual)
    for weeks in (3, 2, 1):
        day = dt.date(2024, 3, 1) - dt.timedelta(weeks=weeks)
        load_day(usual, day, generate_day(usual, tmp_path / str(day), day))
        calculate_metrics(usual, day)

    run = dag.test(logical_date=utc("2024-03-01"), run_conf={**SMALL_DAY, "transactions": 5_000})

    states = task_states(run)
    assert run.state == "failed"
    assert states["check_data_quality"] == ("failed", 1)  # a failed check is not retried
    assert states["calculate_metrics"][0] == "upstream_failed"
    assert db.execute(
        "SELECT count(*) FROM daily_metrics WHERE business_date = '2024-03-01'"
    ).fetchone() == (0,)
    incident = message_from_bytes(
        (pipeline_env / "outbox" / "2024-03-01-incident.eml").read_bytes(), policy=default
    )
    assert incident["Subject"] == "Daily sales report FAILED for 2024-03-01: check_data_quality"
    text = incident.get_body(("plain",)).get_content()
    assert "transactions within 0.5x-2x of a usual Friday: got 5,0" in text


@pytest.mark.usefixtures("pipeline_env")
def test_a_configuration_error_fails_at_once_without_retrying(dag: Any) -> None:
    run = dag.test(logical_date=utc("2024-03-04"), run_conf={"customers": 0})

    states = task_states(run)
    assert run.state == "failed"
    assert states["check_dataset"] == ("failed", 1)  # the first task, never retried
    assert states["create_tables"][0] == "upstream_failed"  # nothing was written


@pytest.mark.parametrize(
    "conf",
    [
        {"customers": -1},
        {"transactions": 2_000_000_000},
        {"business_date": "2024-02-30"},
        {"business_date": "03/01/2024"},
        {"chunk_size": 12_345},
        {"email_backend": "fax"},
        {"email_to": []},
        {"email_to": ["boss@example.org\r\nBcc: everyone@example.org"]},
        {"business_date": "2019-12-31"},
        {"business_date": "3000-01-01"},
        {"locale": "xx_XX"},
        {"reset": "yes"},
    ],
)
@pytest.mark.usefixtures("pipeline_env")
def test_bad_params_are_rejected_when_the_run_is_created(dag: Any, conf: dict) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError):
        dag.test(logical_date=utc("2024-03-05"), run_conf=conf)


def test_the_same_date_twice_gives_the_same_data(two_days: TwoDays, dag: Any) -> None:
    with two_days.connect() as db:
        # the manual run, without a logical date: the business date is its run_after date
        once = fingerprint(db, "2024-03-11")
        assert once[3] > 0
        rows = fingerprint(db, "2024-03-10")[3] + once[3]  # no other day's
        assert db.execute("SELECT count(*) FROM transactions").fetchone()[0] == rows

        # another logical date, but the business_date param overrides it
        conf = {**LAST_DAY_CONF, "business_date": "2024-03-11"}
        second = dag.test(logical_date=utc("2024-03-09"), run_conf=conf)
        assert second.state == "success", task_states(second)
        assert fingerprint(db, "2024-03-11") == once
        assert db.execute("SELECT count(*) FROM transactions").fetchone()[0] == rows


def test_a_run_of_another_dataset_is_refused_by_the_first_task(two_days: TwoDays, dag: Any) -> None:
    with two_days.connect() as db:
        before = fingerprint(db, "2024-03-11")
        assert before[3] > 0
        run = dag.test(logical_date=utc("2024-03-11"), run_conf={**SMALL_DAY, "seed": 5})
        assert run.state == "failed"
        assert task_states(run)["check_dataset"] == ("failed", 1)
        assert fingerprint(db, "2024-03-11") == before


def test_a_day_publishes_its_assets_and_the_weekly_dag_sums_the_week(two_days: TwoDays) -> None:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        events = [
            (model.uri.rpartition("/")[2], event.extra.get("business_date"))
            for event, model in session.query(AssetEvent, AssetModel).join(
                AssetModel, AssetEvent.asset_id == AssetModel.id
            )
        ]
    published = ("customers", "customers_history", "products_history", "transactions")
    for table in (*published, "stores", "returns", "daily_metrics"):
        assert (table, "2024-03-11") in events, table
    with create_session() as session:  # a history's event counts the day's versions
        rows = {
            model.uri.rpartition("/")[2]: event.extra.get("rows")
            for event, model in session.query(AssetEvent, AssetModel).join(
                AssetModel, AssetEvent.asset_id == AssetModel.id
            )
            if event.extra.get("business_date") == "2024-03-11"
        }
    assert rows["customers_history"] == rows["customers"] > 0
    assert rows["products_history"] == rows["products"]

    weekly = parse_dag_folder().get_dag("customer_pipeline_weekly")
    run = weekly.test(logical_date=utc("2024-03-11", 1), run_conf={"business_date": "2024-03-11"})
    assert run.state == "success"
    with create_session() as session:
        summary = run.get_task_instance("summarize_week", session=session).xcom_pull()
    with two_days.connect() as db:
        sales = db.execute("SELECT sum(total_sales) FROM daily_metrics").fetchone()[0]
    assert summary["days"] == 2 and summary["sales"] == float(sales)


def test_the_forms_empty_choice_says_what_it_means(dag: Any) -> None:
    schema = dag.params.get_param("email_backend").schema
    assert schema["values_display"][None].startswith("(unset: EMAIL_BACKEND")
    assert set(schema["values_display"]) == set(schema["enum"])
