"""Faults, each struck at a known point of a real `customer-pipeline run` process: killed
(-9) or stopped (SIGTERM) during the COPY and during the swap, its server stopped there, a
reset arriving while it loads. Afterwards the previous day is intact, a re-run is
identical, and after the next run nothing is left: no staging table, no run folder, no
'running' record.

The runs use a PostgreSQL cluster of this module's own, made from the embedded server's
binaries, on a free loopback port (the faults stop it), never the machine's server. A run
reaches the point of the fault and waits there because the test holds a lock it needs
there; the test sees it waiting in pg_stat_activity, then strikes: no fixed sleeps.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from conftest import day_fingerprint, expected_rows, free_port
from customer_pipeline.load import COPY_CONNECTIONS, partition_name
from customer_pipeline.pipeline import run_day
from customer_pipeline.settings import Settings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # platformdirs, when XDG_RUNTIME_DIR is unset
    import pgserver
    from pgserver.utils import ensure_user_exists

DAY = dt.date(2026, 11, 20)
PG_BIN = Path(pgserver.__file__).parent / "pginstall" / "bin"
CLI = Path(sys.executable).with_name("customer-pipeline")
HOLD = 7_400_001  # while the test holds this advisory lock, COPYs into a transactions stage wait

#: A BEFORE INSERT trigger on every transactions stage as it is created: each row takes the
#: HOLD lock shared, so that a COPY waits at its first row while the test holds it.
HOLD_COPIES = r"""
CREATE FUNCTION public.hold_copy() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_advisory_xact_lock_shared(HOLD); RETURN NEW; END $$;
CREATE FUNCTION public.hold_stage_copies() RETURNS event_trigger LANGUAGE plpgsql AS $$
DECLARE created record;
BEGIN
    FOR created IN SELECT object_identity FROM pg_event_trigger_ddl_commands()
                   WHERE object_type = 'table'
                   AND object_identity ~ '\.transactions_\d{8}_stage$' LOOP
        EXECUTE format('CREATE OR REPLACE TRIGGER hold_copy BEFORE INSERT ON %s '
                       'FOR EACH ROW EXECUTE FUNCTION public.hold_copy()',
                       created.object_identity);
    END LOOP;
END $$;
CREATE EVENT TRIGGER hold_stage_copies ON ddl_command_end WHEN TAG IN ('CREATE TABLE')
    EXECUTE FUNCTION public.hold_stage_copies();
""".replace("HOLD", str(HOLD))


class Cluster:
    """A throwaway PostgreSQL cluster on 127.0.0.1: a data folder and a free port of its own."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.user = "pgserver" if os.geteuid() == 0 else None  # initdb refuses root
        if self.user:
            # the user pgserver itself runs as under root, made here when no embedded
            # server has run on this machine yet (TEST_DATABASE_URL, or this module alone)
            ensure_user_exists(self.user)
            shutil.chown(folder, self.user, self.user)
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._tool("initdb", "--auth=trust", "-U", "postgres", "--no-sync", "--encoding=utf8")

    def _tool(self, name: str, *args: str) -> None:
        # no pipes: the server that pg_ctl starts would inherit them
        subprocess.run(
            [PG_BIN / name, "-D", self.folder / "data", *args],
            user=self.user,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off"
        self._tool("pg_ctl", "-w", "-l", str(self.folder / "log"), "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        """fast: every connection is terminated, as when a server is shut down or restarts."""
        self._tool("pg_ctl", "-w", "-m", mode, "stop")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    folder = Path(tempfile.mkdtemp(prefix="customer-pipeline-faults-"))
    server = Cluster(folder)
    server.start()
    try:
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute(HOLD_COPIES)
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def database_url(cluster: Cluster) -> str:
    """This module's tests (settings, db) use the cluster."""
    return cluster.url


@pytest.fixture
def small(settings: Settings) -> Settings:
    """A small day in two transaction files; its previous state loaded."""
    small = settings.replace(transactions=20_000, chunk_size=10_000)
    run_day(small, DAY)
    return small


def cli_run(settings: Settings, name: str, *args: str) -> subprocess.Popen:
    """`customer-pipeline run` for DAY in a process of its own, its connections named `name`."""
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "DATABASE_SCHEMA": settings.db_schema,
        "PIPELINE_WORK_DIR": str(settings.work_dir),
        "PIPELINE_OUTBOX_DIR": str(settings.outbox_dir),
        "PIPELINE_TRANSACTIONS": str(settings.sizes.transactions),
        "PIPELINE_CHUNK_SIZE": str(settings.chunk_size),
        "PGAPPNAME": name,
    }
    command = [CLI, "run", "--date", DAY.isoformat(), *args]
    return subprocess.Popen(
        command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


#: What a run waits for at each point: (wait event, the statement waiting, connections).
POINTS = {
    "copy": ("advisory", "COPY %", COPY_CONNECTIONS),  # every COPY, at its first row (HOLD)
    # the day's partition, that it replaces (detached, then dropped)
    "swap": ("relation", "ALTER TABLE % DETACH PARTITION %", 1),
    "reset": ("advisory", "SELECT pg_advisory_xact_lock%", 1),  # the runs in progress
}


def wait_until_waiting(url: str, name: str, point: str, run: subprocess.Popen) -> None:
    """Poll pg_stat_activity until the connections of `name` wait at `point`."""
    event, statement, connections = POINTS[point]
    deadline = time.monotonic() + 60
    query = (
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
        "AND wait_event_type = 'Lock' AND wait_event = %s AND query LIKE %s"
    )
    with psycopg.connect(url, autocommit=True) as conn:
        while conn.execute(query, [name, event, statement]).fetchone()[0] < connections:
            assert run.poll() is None, f"the run ended first: {run.communicate()}"
            assert time.monotonic() < deadline, f"{name} never waited at {point}"
            time.sleep(0.02)


def wait_until_gone(url: str, name: str) -> None:
    """Poll until the server has ended every connection of `name` (a killed process's)."""
    deadline = time.monotonic() + 60
    with psycopg.connect(url, autocommit=True) as conn:
        query = "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = %s)"
        while conn.execute(query, [name]).fetchone()[0]:
            assert time.monotonic() < deadline, f"{name}'s connections outlived it"
            time.sleep(0.02)


@contextmanager
def held(settings: Settings, point: str) -> Iterator[None]:
    """Runs reaching `point` wait there until the block ends (or the server stops)."""
    conn = psycopg.connect(settings.database_url, autocommit=True)
    try:
        if point == "copy":
            conn.execute("SELECT pg_advisory_lock(%s)", [HOLD])
        else:
            conn.execute("BEGIN")
            conn.execute(
                f"LOCK TABLE {settings.db_schema}.{partition_name(DAY)} IN ACCESS SHARE MODE"
            )
        yield
    finally:
        conn.close()


def leftovers(db: psycopg.Connection, settings: Settings) -> tuple:
    """Staging tables, run folders and 'running' records of the test's schema."""
    stages = db.execute(
        "SELECT array_agg(tablename) FROM pg_tables "
        "WHERE schemaname = current_schema() AND tablename LIKE '%\\_stage'"
    ).fetchone()[0]
    folders = list(settings.work_dir.glob("*/*"))
    running = db.execute("SELECT count(*) FROM pipeline_runs WHERE status = 'running'").fetchone()
    return stages, folders, running[0]


def statuses(db: psycopg.Connection) -> list[str]:
    return [r[0] for r in db.execute("SELECT status FROM pipeline_runs ORDER BY started_at")]


@pytest.mark.parametrize("point", ["copy", "swap"])
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["kill -9", "SIGTERM"])
def test_a_killed_run_keeps_the_previous_day_and_the_next_run_leaves_nothing_behind(
    small: Settings, db: psycopg.Connection, point: str, signum: int
) -> None:
    before = day_fingerprint(db, DAY)
    with held(small, point):
        run = cli_run(small.replace(transactions=30_000), "victim")  # another day, if it landed
        wait_until_waiting(small.database_url, "victim", point, run)
        run.send_signal(signum)
        _, err = run.communicate(timeout=60)  # SIGTERM: cleaned up while the lock is held
    wait_until_gone(small.database_url, "victim")
    assert day_fingerprint(db, DAY) == before
    if signum == signal.SIGTERM:
        assert (run.returncode, err.decode()) == (143, "Error: stopped by SIGTERM\n")
        assert leftovers(db, small) == (None, [], 0)
    else:
        assert run.returncode == -signal.SIGKILL
        assert all(leftovers(db, small))  # stages, folder and record: what the sweep is for

    run_day(small, DAY)  # the next run
    assert day_fingerprint(db, DAY) == before
    assert leftovers(db, small) == (None, [], 0)
    victim = "abandoned" if signum == signal.SIGKILL else "failed"
    assert statuses(db) == ["success", victim, "success"]


@pytest.mark.parametrize("point", ["copy", "swap"])
def test_a_lost_server_is_one_line_naming_the_step_and_a_rerun_is_identical(
    cluster: Cluster, small: Settings, db: psycopg.Connection, point: str
) -> None:
    before = day_fingerprint(db, DAY)
    with held(small, point):
        run = cli_run(small, "victim")
        wait_until_waiting(small.database_url, "victim", point, run)
        cluster.stop()
        try:
            _, err = run.communicate(timeout=60)
        finally:
            cluster.start()
    lost = (
        r"Error: load_data: lost the connection to postgresql://postgres@127\.0\.0\.1:\d+/postgres"
    )
    assert run.returncode == 1
    assert re.fullmatch(
        lost + r": terminating connection due to administrator command\n", err.decode()
    )
    with psycopg.connect(small.database_url, autocommit=True) as again:
        again.execute(f"SET search_path TO {small.db_schema}")
        run_day(small, DAY)
        assert day_fingerprint(again, DAY) == before
        assert leftovers(again, small) == (None, [], 0)


def test_a_reset_waits_for_the_run_in_progress(small: Settings, db: psycopg.Connection) -> None:
    with held(small, "copy"):
        loading = cli_run(small, "loading")
        wait_until_waiting(small.database_url, "loading", "copy", loading)
        reset = cli_run(small, "reset", "--reset", "--yes")
        wait_until_waiting(small.database_url, "reset", "reset", reset)
    assert loading.wait(timeout=60) == 0  # no missing table or constraint under its feet
    assert reset.wait(timeout=60) == 0
    assert statuses(db) == ["success"]  # the reset's own; it deleted the history before it
    assert day_fingerprint(db, DAY)[0] == expected_rows(small, DAY)["transactions"]
    assert leftovers(db, small) == (None, [], 0)
