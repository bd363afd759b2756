"""The runs table: what each run did, so that any run can be reproduced."""

from __future__ import annotations

import datetime as dt
import platform
import uuid
from collections.abc import Mapping
from importlib.metadata import version
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from customer_pipeline import __version__
from customer_pipeline.database import connect
from customer_pipeline.settings import Settings

LIBRARIES = ("faker", "numpy", "psycopg", "jinja2")


def library_versions() -> dict[str, str]:
    found = {"python": platform.python_version(), "customer-pipeline": __version__}
    found.update({name: version(name) for name in LIBRARIES})
    return found


def start_run(settings: Settings, day: dt.date, run_id: str | None = None) -> str:
    """Record a run as 'running'; return its id (a new UUID unless given)."""
    run_id = run_id or str(uuid.uuid4())
    with connect(settings) as conn:
        server = conn.execute("SHOW server_version").fetchone()[0]
        conn.execute(
            "INSERT INTO pipeline_runs (run_id, business_date, seed, locale, sizes, versions, "
            "status) VALUES (%s, %s, %s, %s, %s, %s, 'running') "
            "ON CONFLICT (run_id) DO UPDATE SET business_date = EXCLUDED.business_date, "
            "seed = EXCLUDED.seed, locale = EXCLUDED.locale, sizes = EXCLUDED.sizes, "
            "versions = EXCLUDED.versions, status = 'running', row_counts = '{}', "
            "timings = '{}', error = NULL, delivered_to = NULL, finished_at = NULL, "
            "started_at = now()",
            [
                run_id,
                day,
                settings.seed,
                settings.locale,
                Jsonb(settings.sizes.as_dict()),
                Jsonb({**library_versions(), "postgresql": server}),
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
