"""What dead runs left, removed by the next run of any date. Real PostgreSQL.

The processes killed for real are in test_faults.py; here the dead runs are made directly:
a record whose lock nobody holds, a staging table whose date's lock nobody holds.
"""

from __future__ import annotations

import datetime as dt
import uuid

import psycopg

from customer_pipeline.cleanup import run_folder
from customer_pipeline.database import connect
from customer_pipeline.leftovers import Leftovers, sweep_dead_runs
from customer_pipeline.load import load_lock
from customer_pipeline.pipeline import begin_day
from customer_pipeline.runs import hold_run, start_run
from customer_pipeline.schema import create_tables, hold_lock
from customer_pipeline.settings import Settings

DAY = dt.date(2026, 11, 20)


def statuses(db: psycopg.Connection) -> dict[str, str]:
    return dict(db.execute("SELECT run_id::text, status FROM pipeline_runs").fetchall())


def test_a_dead_cli_run_is_abandoned_and_its_folder_deleted(
    settings: Settings, db: psycopg.Connection
) -> None:
    create_tables(settings)
    dead = start_run(settings, DAY, process_lock=True)  # and nobody holds its lock
    run_folder(settings, DAY, dead).mkdir(parents=True)
    swept = sweep_dead_runs(settings)
    assert swept == Leftovers(runs=(dead,), folders=(run_folder(settings, DAY, dead),))
    assert statuses(db) == {dead: "abandoned"}
    assert not settings.work_dir.exists()


def test_live_cli_runs_and_airflow_runs_are_left_alone(
    settings: Settings, db: psycopg.Connection
) -> None:
    create_tables(settings)
    airflow = start_run(settings, DAY)  # no process between its tasks: its teardown ends it
    live = str(uuid.uuid4())
    with hold_run(settings, live):
        start_run(settings, DAY, live, process_lock=True)
        run_folder(settings, DAY, live).mkdir(parents=True)
        assert sweep_dead_runs(settings) == Leftovers()
    assert statuses(db) == {airflow: "running", live: "running"}


def test_the_folder_of_a_finished_run_is_a_leftover(
    settings: Settings, db: psycopg.Connection
) -> None:
    create_tables(settings)
    run_id = start_run(settings, DAY)
    db.execute("UPDATE pipeline_runs SET status = 'failed'")  # its clean-up never happened
    run_folder(settings, DAY, run_id).mkdir(parents=True)
    assert sweep_dead_runs(settings).folders == (run_folder(settings, DAY, run_id),)


def test_staging_tables_of_dead_loads_are_dropped_whatever_their_date(
    settings: Settings, db: psycopg.Connection
) -> None:
    create_tables(settings)
    names = ["transactions_20261120_stage", "customers_20261121_stage", "notes_20261121_stage"]
    for name in names:
        db.execute(f"CREATE TABLE {name} ()")
    with connect(settings, autocommit=True) as loading:
        hold_lock(loading, settings, load_lock(DAY))  # a load of DAY in progress
        assert sweep_dead_runs(settings).stages == ("customers_20261121_stage",)
    found = db.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    tables = {name for (name,) in found if name.endswith("_stage")}
    assert tables == {"transactions_20261120_stage", "notes_20261121_stage"}  # notes: not ours


def test_every_run_sweeps_first_in_the_dag_too(settings: Settings, db: psycopg.Connection) -> None:
    create_tables(settings)
    dead = start_run(settings, DAY, process_lock=True)
    begin_day(settings, DAY + dt.timedelta(days=3))  # the DAG's first task, another date
    assert statuses(db)[dead] == "abandoned"
