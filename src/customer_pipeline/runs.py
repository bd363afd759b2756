"""The runs table: what each run did, so that any run can be reproduced.

A run's status is 'running' until it ends as 'success' or 'failed'; 'abandoned' when its
process ended without saying (killed, its server lost), as the next run finds out
(customer_pipeline.leftovers). A CLI run (process_lock) holds its run lock on a connection
of its own for its whole life (hold_run); an Airflow run has no process between its tasks,
and its teardown task records its outcome.
"""

from __future__ import annotations

import datetime as dt
import platform
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib.metadata import version
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from customer_pipeline import __version__
from customer_pipeline.database import connect
from customer_pipeline.generate.pools import pools_version
from customer_pipeline.schema import hold_lock
from customer_pipeline.settings import Settings

#: What a run's rows depend on besides the dataset (numpy draws them; Faker no longer: the
#: pools are shipped, and recorded by their version)
LIBRARIES = ("numpy", "psycopg", "jinja2")


def library_versions() -> dict[str, str]:
    found = {"python": platform.python_version(), "customer-pipeline": __version__}
    found.update({name: version(name) for name in LIBRARIES})
    return found


def run_lock(run_id: str) -> str:
    """The lock that a CLI run's process holds for the run's whole life (schema.lock_key)."""
    return f"run:{run_id}"


@contextmanager
def hold_run(settings: Settings, run_id: str) -> Iterator[None]:
    """Keep the run alive in the database's eyes while the block runs: a connection of its
    own holds the run's lock (free: the run is dead) and the schema's "runs" lock shared (a
    reset waits until the run ends). However the process ends, closing the connection
    releases both. Take it before the run is recorded (start_run with process_lock)."""
    with connect(settings, autocommit=True) as conn:
        hold_lock(conn, settings, "runs", shared=True)
        hold_lock(conn, settings, run_lock(run_id))
        yield


def start_run(
    settings: Settings, day: dt.date, run_id: str | None = None, *, process_lock: bool = False
) -> str:
    """Record a run as 'running'; return its id (a new UUID unless given). process_lock:
    the caller holds the run's lock for the run's life (hold_run)."""
    run_id = run_id or str(uuid.uuid4())
    with connect(settings) as conn:
        server = conn.execute("SHOW server_version").fetchone()[0]
        conn.execute(
            "INSERT INTO pipeline_runs (run_id, business_date, seed, locale, sizes, versions, "
            "process_lock, status) VALUES (%s, %s, %s, %s, %s, %s, %s, 'running') "
            "ON CONFLICT (run_id) DO UPDATE SET business_date = EXCLUDED.business_date, "
            "seed = EXCLUDED.seed, locale = EXCLUDED.locale, sizes = EXCLUDED.sizes, "
            "versions = EXCLUDED.versions, process_lock = EXCLUDED.process_lock, "
            "status = 'running', row_counts = '{}', timings = '{}', error = NULL, "
            "delivered_to = NULL, finished_at = NULL, started_at = now()",
            [
                run_id,
                day,
                settings.seed,
                settings.locale,
                Jsonb(settings.sizes.as_dict()),
                Jsonb(
                    {
                        **library_versions(),
                        "pools": pools_version(settings.locale),
                        "postgresql": server,
                    }
                ),
                process_lock,
            ],
        )
    return run_id


def finish_run(
    settings: Settings,
    run_id: str,
    *,
    status: str,
    row_counts: Mapping[str, int] | None = None,
    timings: Mapping[str, float] | None = None,
    error: str | None = None,
    delivered_to: str | None = None,
) -> None:
    with connect(settings) as conn:
        conn.execute(
            "UPDATE pipeline_runs SET status = %s, row_counts = row_counts || %s, "
            "timings = timings || %s, error = %s, "
            "delivered_to = COALESCE(%s, delivered_to), finished_at = now() WHERE run_id = %s",
            [
                status,
                Jsonb(dict(row_counts or {})),
                Jsonb(dict(timings or {})),
                error,
                delivered_to,
                run_id,
            ],
        )


def latest_run(settings: Settings, day: dt.date) -> dict[str, Any] | None:
    """The most recently started run of a business date, as a dict, or None."""
    with connect(settings) as conn, conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT * FROM pipeline_runs WHERE business_date = %s ORDER BY started_at DESC LIMIT 1",
            [day],
        ).fetchone()
