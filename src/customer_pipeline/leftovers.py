"""What dead runs left behind, found and removed at the start of every run.

A run is dead when nothing holds its lock:

- A CLI run holds its run lock for its whole life, on a connection of its own
  (runs.hold_run): a record still 'running' whose lock is free belongs to a process that
  was killed or lost its server. The record becomes 'abandoned'.
- A load holds its date's lock from its staging tables' creation to their drop: staging
  tables (`<table>_YYYYMMDD_stage`) of a date whose lock is free are a dead load's.
- A run folder (`<work_dir>/<date>/<run id>`) whose record is not 'running' is a leftover.

An Airflow run has no process between its tasks, so no lock says it is alive: its record
and its folder (named after the DAG run) are finished by its teardown task, which Airflow
runs even after a failed or killed task; a killed task's staging tables go as above.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from customer_pipeline.cleanup import delete_files
from customer_pipeline.database import connect
from customer_pipeline.load import load_lock, staged_day
from customer_pipeline.runs import run_lock
from customer_pipeline.schema import lock_key
from customer_pipeline.settings import Settings

log = logging.getLogger(__name__)

ABANDONED = "abandoned: the run's process ended before the run did (killed, or its server lost)"


@dataclass(frozen=True)
class Leftovers:
    """What one sweep removed."""

    runs: tuple[str, ...] = ()  # ids of the runs now recorded as abandoned
    stages: tuple[str, ...] = ()  # staging tables dropped
    folders: tuple[Path, ...] = ()  # run folders deleted


def sweep_dead_runs(settings: Settings) -> Leftovers:
    """Record dead runs as abandoned; drop their staging tables; delete their folders."""
    with connect(settings, autocommit=True) as conn:
        swept = Leftovers(
            runs=_abandon_dead_runs(conn, settings),
            stages=_drop_dead_stages(conn, settings),
            folders=_delete_dead_folders(conn, settings),
        )
    if swept != Leftovers():
        log.info("removed what dead runs left: %s", swept)
    return swept


@contextmanager
def _unless_held(conn: psycopg.Connection, settings: Settings, name: str) -> Iterator[bool]:
    """Take the lock `name` if nobody holds it (True), for the block; never wait for it."""
    key = lock_key(settings, name)
    free = conn.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [key]).fetchone()
    try:
        yield free[0]
    finally:
        if free[0]:
            conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [key])


def _abandon_dead_runs(conn: psycopg.Connection, settings: Settings) -> tuple[str, ...]:
    running = conn.execute(
        "SELECT run_id::text FROM pipeline_runs WHERE status = 'running' AND process_lock"
    ).fetchall()
    abandoned = []
    for (run_id,) in running:
        with _unless_held(conn, settings, run_lock(run_id)) as dead:
            if dead and _abandon(conn, run_id):
                abandoned.append(run_id)
    return tuple(abandoned)


def _abandon(conn: psycopg.Connection, run_id: str) -> bool:
    """Record a run as abandoned unless it ended meanwhile."""
    return bool(
        conn.execute(
            "UPDATE pipeline_runs SET status = 'abandoned', error = %s, finished_at = now() "
            "WHERE run_id = %s AND status = 'running'",
            [ABANDONED, run_id],
        ).rowcount
    )


def _drop_dead_stages(conn: psycopg.Connection, settings: Settings) -> tuple[str, ...]:
    tables = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename",
        [settings.db_schema],
    ).fetchall()
    by_day: dict[dt.date, list[str]] = {}
    for (name,) in tables:
        if day := staged_day(name):
            by_day.setdefault(day, []).append(name)
    dropped = []
    for day, stages in by_day.items():
        with _unless_held(conn, settings, load_lock(day)) as dead:
            for stage in stages if dead else ():
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(stage)))
                dropped.append(stage)
    return tuple(dropped)


def _delete_dead_folders(conn: psycopg.Connection, settings: Settings) -> tuple[Path, ...]:
    """Run folders named after a run whose record is not 'running'. Folders of Airflow runs
    (named after the DAG run, not a run id) are their teardown's."""
    if not settings.work_dir.is_dir():
        return ()
    by_run: dict[str, list[Path]] = {}
    for folder in settings.work_dir.glob("*/*"):
        if folder.is_dir() and _is_run_id(folder.name):
            by_run.setdefault(folder.name, []).append(folder)
    if not by_run:
        return ()
    ended = conn.execute(
        "SELECT run_id::text FROM pipeline_runs "
        "WHERE run_id = ANY(%s::uuid[]) AND status <> 'running'",
        [list(by_run)],
    ).fetchall()
    deleted = [folder for (run_id,) in ended for folder in by_run[run_id]]
    for folder in deleted:
        delete_files(settings, folder)
    return tuple(deleted)


def _is_run_id(name: str) -> bool:
    try:
        return str(uuid.UUID(name)) == name
    except ValueError:
        return False
