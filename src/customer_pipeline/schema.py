"""Step 1, create_tables: the schema, created idempotently or reset."""

from __future__ import annotations

from importlib.resources import files

import psycopg
from psycopg import sql

from customer_pipeline.database import connect
from customer_pipeline.settings import Settings

#: Every table the pipeline owns, dependents first.
TABLES = ("transactions", "daily_metrics", "pipeline_runs", "customers", "products", "stores")

SCHEMA_SQL = files("customer_pipeline").joinpath("sql/schema.sql").read_text()


def schema_lock(conn: psycopg.Connection, settings: Settings, name: str) -> None:
    """Take a transaction-scoped advisory lock named `name` within the pipeline's schema."""
    conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
        [f"customer_pipeline:{settings.db_schema}:{name}"],
    )


def create_tables(settings: Settings, *, reset: bool | None = None) -> list[str]:
    """Create the pipeline's schema and tables when missing; with reset, drop them first.

    Returns the names of the tables. Safe to call concurrently.
    """
    reset = settings.reset if reset is None else reset
    with connect(settings) as conn:
        schema_lock(conn, settings, "ddl")
        conn.execute(
            sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(settings.db_schema))
        )
        if reset:
            conn.execute(
                sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(
                    sql.SQL(", ").join(sql.Identifier(settings.db_schema, t) for t in TABLES)
                )
            )
        conn.execute(SCHEMA_SQL)
    return list(TABLES)
