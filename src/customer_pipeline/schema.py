"""Step 1, create_tables: the schema, created idempotently or reset."""

from __future__ import annotations

from importlib.resources import files

import psycopg
from psycopg import sql

from customer_pipeline.database import connect
from customer_pipeline.errors import ConfigError
from customer_pipeline.settings import Settings

#: Every table the pipeline owns, dependents first.
TABLES = ("transactions", "daily_metrics", "pipeline_runs", "customers", "products", "stores")

SCHEMA_SQL = files("customer_pipeline").joinpath("sql/schema.sql").read_text()
#: Bumped whenever schema.sql changes a table that exists already; kept as the comment of
#: the transactions table, so tables made by another version are recognised.
SCHEMA_VERSION = 2
_MARK = f"customer-pipeline schema {SCHEMA_VERSION}"


def lock_key(settings: Settings, name: str) -> str:
    """The advisory lock named `name` within the pipeline's schema (hashed into its key)."""
    return f"customer_pipeline:{settings.db_schema}:{name}"


def schema_lock(conn: psycopg.Connection, settings: Settings, name: str) -> None:
    """Take a transaction-scoped advisory lock named `name` within the pipeline's schema."""
    conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [lock_key(settings, name)]
    )


def hold_lock(
    conn: psycopg.Connection, settings: Settings, name: str, *, shared: bool = False
) -> None:
    """Wait for the advisory lock `name`, then hold it until `conn` closes (session-level).

    The connection may sit idle meanwhile: a server's idle_session_timeout must not end it.
    """
    conn.execute("SET idle_session_timeout = 0")
    function = "pg_advisory_lock_shared" if shared else "pg_advisory_lock"
    conn.execute(f"SELECT {function}(hashtextextended(%s, 0))", [lock_key(settings, name)])


#: Work in progress holds these shared, on one connection each (one run never takes one
#: twice: its second request would queue behind a waiting reset, which waits for its
#: first): a CLI run holds "runs" for its whole life (its record must survive), a load
#: holds "write" from its staging tables' creation to their drop (they copy the tables).
#: A reset takes them exclusively, in this order: a run takes "runs" before its load.
IN_PROGRESS = ("runs", "write")


def wait_for_work_in_progress(conn: psycopg.Connection, settings: Settings) -> None:
    """In the caller's transaction: wait until no run or load is in progress, and keep new
    ones waiting until the transaction ends."""
    for name in IN_PROGRESS:
        schema_lock(conn, settings, name)


def create_tables(settings: Settings, *, reset: bool | None = None) -> list[str]:
    """Create the pipeline's schema and tables when missing; with reset, drop them first.

    Returns the names of the tables. Safe to call concurrently.
    """
    reset = settings.reset if reset is None else reset
    with connect(settings) as conn:
        schema_lock(conn, settings, "ddl")
        # only when missing: CREATE SCHEMA IF NOT EXISTS still needs CREATE on the database,
        # which a role that merely owns its schema does not have
        if conn.execute("SELECT to_regnamespace(%s) IS NULL", [settings.db_schema]).fetchone()[0]:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(settings.db_schema)))
        if reset:
            wait_for_work_in_progress(conn, settings)  # a reset serializes with runs and loads
            conn.execute(
                sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(
                    sql.SQL(", ").join(sql.Identifier(settings.db_schema, t) for t in TABLES)
                )
            )
        else:
            _refuse_other_versions(conn, settings)
        conn.execute(SCHEMA_SQL)
        conn.execute(sql.SQL("COMMENT ON TABLE transactions IS {}").format(sql.Literal(_MARK)))
    return list(TABLES)


def _refuse_other_versions(conn: psycopg.Connection, settings: Settings) -> None:
    found = conn.execute(
        "SELECT c.oid IS NOT NULL, obj_description(c.oid, 'pg_class') "
        "FROM (SELECT to_regclass(%s) AS oid) c",
        [f"{settings.db_schema}.transactions"],
    ).fetchone()
    exists, mark = found if found else (False, None)
    if exists and mark != _MARK:
        raise ConfigError(
            f"the tables in schema {settings.db_schema!r} were made by another version of "
            f"customer-pipeline ({mark or 'schema 1'}, this is schema {SCHEMA_VERSION}): "
            "run once with --reset to recreate them (this deletes their data)"
        )
