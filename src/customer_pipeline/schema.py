"""Step 1, create_tables: the schema, created idempotently or reset.

The pipeline marks each table it creates (its comment, ``customer-pipeline schema N``)
and touches no other: a table or view of the same name that is not marked is refused,
by name, and ``reset`` drops only marked tables (never with CASCADE, so a user's view over
one of them stops the reset instead of disappearing).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files

import psycopg
from psycopg import sql

from customer_pipeline.customer_days import CUSTOMER_DAYS
from customer_pipeline.database import connect
from customer_pipeline.dataset import record_dataset
from customer_pipeline.errors import ConfigError
from customer_pipeline.settings import Settings
from customer_pipeline.tables import DIMENSIONS, RETURNS, TRANSACTIONS, VERSIONED

#: Every table the pipeline owns, dependents first: the generated ones and the records.
TABLES = (
    RETURNS.name,  # references transactions and stores
    "returns_scheduled",
    TRANSACTIONS.name,
    CUSTOMER_DAYS,
    "customer_windows",
    "customer_window_sources",
    "daily_metrics",
    "quality_results",
    "pipeline_runs",
    *(table.history for table in VERSIONED),
    *(table.name for table in reversed(DIMENSIONS)),  # promotions reference products
    "pipeline_dataset",
)

SCHEMA_SQL = files("customer_pipeline").joinpath("sql/schema.sql").read_text()
#: Bumped whenever schema.sql changes a table that exists already, or what the tables
#: hold (3: every table marked; one dataset per schema; 4: promotions, the products' brand
#: and tier, the transactions' promotion and discount; 5: returns and returns_scheduled;
#: 6: the KPIs' baselines and Customers section, quality_results, the customers'
#: created_at index; 7: customers' and products' histories, closed_at, discontinued_at;
#: 8: customer_days, the per-day customer summary; 9: customer_days.baskets).
SCHEMA_VERSION = 9
_PREFIX = "customer-pipeline schema "
_MARK = f"{_PREFIX}{SCHEMA_VERSION}"
#: Version 2 marked only its transactions table; these were its other tables.
_V2_TABLES = frozenset(TABLES) - {
    "pipeline_dataset",
    "promotions",
    "returns",
    "returns_scheduled",
    "quality_results",
    CUSTOMER_DAYS,
    "customer_windows",
    "customer_window_sources",
    *(table.history for table in VERSIONED),
}


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
    Record the schema's dataset, or refuse a run of another one.

    Returns the names of the tables. Safe to call concurrently.
    """
    reset = settings.reset if reset is None else reset
    with connect(settings) as conn:
        schema_lock(conn, settings, "ddl")
        # only when missing: CREATE SCHEMA IF NOT EXISTS still needs CREATE on the database,
        # which a role that merely owns its schema does not have
        if conn.execute("SELECT to_regnamespace(%s) IS NULL", [settings.db_schema]).fetchone()[0]:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(settings.db_schema)))
        found = _owned_tables(conn, settings)
        if reset:
            wait_for_work_in_progress(conn, settings)  # a reset serializes with runs and loads
            _drop(conn, settings, found)
        elif found.other_versions:
            raise ConfigError(
                f"the tables in schema {settings.db_schema!r} were made by another version of "
                f"customer-pipeline ({found.other_versions[0]}, this is schema "
                f"{SCHEMA_VERSION}): run once with --reset to recreate them (this deletes "
                "their data)"
            )
        conn.execute(SCHEMA_SQL)
        for table in _unmarked(conn, settings):  # (a comment locks the table: only when due)
            conn.execute(
                sql.SQL("COMMENT ON TABLE {} IS {}").format(
                    sql.Identifier(table), sql.Literal(_MARK)
                )
            )
        record_dataset(conn, settings)
    return list(TABLES)


def _unmarked(conn: psycopg.Connection, settings: Settings) -> list[str]:
    """The pipeline's tables that do not bear this version's mark yet."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c WHERE c.relnamespace = to_regnamespace(%s) "
        "AND c.relname = ANY(%s) AND obj_description(c.oid, 'pg_class') IS DISTINCT FROM %s",
        [settings.db_schema, list(TABLES), _MARK],
    ).fetchall()
    return [name for (name,) in rows]


@dataclass(frozen=True)
class _Found:
    """The schema's objects that bear one of the pipeline's table names."""

    ours: list[str]  # made by customer-pipeline (this version or another)
    other_versions: list[str]  # the marks of those made by another version
    foreign: tuple[str, str] | None  # (name, relkind) of the first that is not ours


def _classify(relations: dict[str, tuple[str, str | None]]) -> _Found:
    """relations: name -> (relkind, comment)."""
    legacy = (relations.get("transactions", ("", None))[1] or "") == f"{_PREFIX}2"
    ours, other_versions = [], []
    for name, (kind, comment) in relations.items():
        mark = comment or ""
        if mark == _MARK:
            ours.append(name)
        elif mark.startswith(_PREFIX) or (legacy and kind in "rp" and name in _V2_TABLES):
            ours.append(name)
            other_versions.append(mark or f"{_PREFIX}2")
        else:
            return _Found(ours, other_versions, (name, kind))
    return _Found(ours, other_versions, None)


def _owned_tables(conn: psycopg.Connection, settings: Settings) -> _Found:
    """The pipeline's names in the schema; refuse, by name, one that is not the pipeline's."""
    rows = conn.execute(
        "SELECT c.relname, c.relkind, obj_description(c.oid, 'pg_class') FROM pg_class c "
        "WHERE c.relnamespace = to_regnamespace(%s) AND c.relname = ANY(%s) "
        "AND c.relkind IN ('r', 'p', 'v', 'm', 'f')",
        [settings.db_schema, list(TABLES)],
    ).fetchall()
    found = _classify({name: (kind, comment) for name, kind, comment in rows})
    if found.foreign:
        name, relkind = found.foreign
        where = f"{settings.db_schema}.{name}"
        kind = "view" if relkind in "vm" else "table"
        raise ConfigError(
            f"{kind} {where} is not one of customer-pipeline's (it bears no mark of ours): "
            "rename or remove it, or use another DATABASE_SCHEMA; customer-pipeline "
            "never drops or writes into it"
        )
    return found


def _drop(conn: psycopg.Connection, settings: Settings, found: _Found) -> None:
    """Drop the pipeline's tables (dependents first); refuse if anything else needs one."""
    for table in (t for t in TABLES if t in found.ours):
        try:
            with conn.transaction():
                conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(table)))
        except psycopg.errors.DependentObjectsStillExist as exc:
            detail = (exc.diag.message_detail or str(exc)).splitlines()[0]
            raise ConfigError(
                f"--reset refused: {detail} (in schema {settings.db_schema!r}); drop or move "
                "it first, or use another DATABASE_SCHEMA: nothing was dropped"
            ) from None
