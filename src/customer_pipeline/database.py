"""Connections: DATABASE_URL, or an embedded PostgreSQL (pgserver) when it is unset."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, wait
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import psycopg
from psycopg import sql

from customer_pipeline.errors import ConnectionLost, DatabaseUnavailable
from customer_pipeline.settings import Settings

log = logging.getLogger(__name__)


@cache
def _embedded_server(pgdata: Path):  # -> pgserver.PostgresServer
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI): harmless here
        warnings.simplefilter("ignore")
        import pgserver  # heavy: only when the embedded server is wanted

        pgdata.mkdir(parents=True, exist_ok=True)
        log.info("starting embedded PostgreSQL in %s", pgdata)
        # 'stop': the server stops when the last process using it exits
        return pgserver.get_server(pgdata, cleanup_mode="stop")


def database_url(settings: Settings) -> str:
    """The URL to connect to; starts the embedded server when DATABASE_URL is unset."""
    if settings.database_url:
        return settings.database_url
    try:
        return _embedded_server(settings.embedded_pgdata.resolve()).get_uri()
    except Exception as exc:  # pgserver raises plain exceptions with long messages
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatabaseUnavailable(f"cannot start the embedded PostgreSQL: {first}") from exc


def describe(url: str) -> str:
    """The URL without its password, for messages and summaries: one that psql and BI tools
    accept as it is (a socket folder as the `host` parameter)."""
    from urllib.parse import quote

    info = psycopg.conninfo.conninfo_to_dict(url)
    user, dbname = quote(info.get("user") or ""), quote(info.get("dbname") or "")
    host = info.get("host") or "localhost"
    if host.startswith("/"):
        return f"postgresql://{user}@/{dbname}?host={quote(host)}"
    return f"postgresql://{user}@{host}:{info.get('port') or 5432}/{dbname}"


def psql_command(settings: Settings) -> list[str]:
    """psql on the pipeline's database (the one pgserver ships, else the PATH's), its
    search_path the pipeline's schema."""
    import shutil

    from pgserver._commands import POSTGRES_BIN_PATH

    bundled = POSTGRES_BIN_PATH / "psql"
    psql = str(bundled) if bundled.exists() else shutil.which("psql")
    if psql is None:
        raise DatabaseUnavailable("no psql found: install PostgreSQL's client")
    url = psycopg.conninfo.make_conninfo(
        database_url(settings), options=f"-c search_path={settings.db_schema}"
    )
    return [psql, url]


@contextmanager
def connect(settings: Settings, *, autocommit: bool = False) -> Iterator[psycopg.Connection]:
    """A connection whose search_path is the pipeline's schema (and nothing else, so that no
    name falls through to another schema).

    Commits when the block succeeds, rolls back when it raises. A connection that breaks
    in the block (server stopped, network lost) raises ConnectionLost, naming the server.
    """
    url = database_url(settings)
    try:
        conn = psycopg.connect(url, autocommit=autocommit, connect_timeout=settings.connect_timeout)
    except psycopg.OperationalError as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise DatabaseUnavailable(f"cannot connect to {describe(url)}: {reason}") from None
    try:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(settings.db_schema)))
        if not autocommit:
            conn.commit()  # the caller's work starts a transaction of its own
        yield conn
        if not autocommit:
            conn.commit()
    except BaseException as exc:
        if not autocommit and not conn.closed:
            # a rollback that fails leaves the connection unusable: closing it below rolls
            # back on the server just the same, and the block's own error is the one to see
            with contextlib.suppress(psycopg.Error):
                conn.rollback()
        if isinstance(exc, psycopg.OperationalError) and conn.broken:
            reason = next(iter(str(exc).strip().splitlines()), "") or type(exc).__name__
            raise ConnectionLost(f"lost the connection to {describe(url)}: {reason}") from exc
        raise
    finally:
        conn.close()


#: COPY ... (HEADER MATCH) needs PostgreSQL 15.
MINIMUM_SERVER = 150000


def drop_partition(conn: psycopg.Connection, parent: str, name: str) -> None:
    """Drop partition `name` of `parent` if it exists, detached first (a partition that a
    foreign key references cannot be dropped attached)."""
    if conn.execute("SELECT to_regclass(%s) IS NOT NULL", [name]).fetchone()[0]:
        partition = sql.Identifier(name)
        conn.execute(
            sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(sql.Identifier(parent), partition)
        )
        conn.execute(sql.SQL("DROP TABLE {}").format(partition))


#: The days of a partitioned table's partitions (each named <table>_YYYYMMDD) and the
#: partitions (`day`, `partition`: its OID). The partitions' names are fenced off first
#: (MATERIALIZED): else the planner may test the date against every name in pg_class
#: before the join keeps the parent's partitions, and a name like `transactions` fails
#: to_date.
_PARTITION_DAYS = """
WITH partitions AS MATERIALIZED (
    SELECT c.oid, c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = {parent}::regclass
)
SELECT to_date(right(relname, 8), 'YYYYMMDD') AS day, oid AS partition FROM partitions
"""


def partition_days_query(parent: str) -> sql.Composed:
    """A query of the days `parent` (partitioned by day, a partition <parent>_YYYYMMDD
    each) holds a partition of, and those partitions (columns `day`, `partition`): a
    catalog look-up, for a subquery."""
    return sql.SQL(_PARTITION_DAYS).format(parent=sql.Literal(parent))


def partition_days(
    conn: psycopg.Connection, parent: str, after: dt.date, upto: dt.date
) -> list[dt.date]:
    """The days after `after`, up to `upto`, that `parent` holds a partition of, in order
    (see partition_days_query)."""
    query = sql.SQL("SELECT day FROM ({}) days WHERE day > %s AND day <= %s ORDER BY day")
    return [
        row[0] for row in conn.execute(query.format(partition_days_query(parent)), [after, upto])
    ]


def constrain_for_day(
    conn: psycopg.Connection, name: str, columns: Sequence[str], day: dt.date, bound: str
) -> None:
    """Ready table `name` to be attached as `day`'s partition: its `columns` NOT NULL (as
    the parent's) and a CHECK constraint `bound` of the day's range, checked in one pass,
    so that attach_partition reads no row."""
    conn.execute(
        sql.SQL("ALTER TABLE {} {}, ADD CONSTRAINT {} CHECK ({})").format(
            sql.Identifier(name),
            sql.SQL(", ").join(
                sql.SQL("ALTER {} SET NOT NULL").format(sql.Identifier(column))
                for column in columns
            ),
            sql.Identifier(bound),
            sql.SQL("business_date >= {} AND business_date < {}").format(
                sql.Literal(day), sql.Literal(day + dt.timedelta(days=1))
            ),
        )
    )


def attach_partition(
    conn: psycopg.Connection,
    parent: str,
    name: str,
    start: sql.Composable,
    end: sql.Composable,
    bound: str,
) -> None:
    """Attach table `name` as `parent`'s partition [start, end), then drop its CHECK
    constraint `bound`: the bound already checked, attaching reads no row."""
    partition = sql.Identifier(name)
    conn.execute(
        sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES FROM ({}) TO ({})").format(
            sql.Identifier(parent), partition, start, end
        )
    )
    conn.execute(
        sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(partition, sql.Identifier(bound))
    )


def for_day_scans(conn: psycopg.Connection) -> None:
    """For the rest of the caller's transaction: room for the hash tables of a day's
    aggregates (a day's lines or customers), and no JIT compilation, which costs more than
    it saves on queries of a few seconds (and up to seconds when the planner's estimates
    of the partitioned tables, which have no statistics of their own, are far off)."""
    conn.execute("SET LOCAL work_mem = '256MB'")
    conn.execute("SET LOCAL jit = off")


def check_connection(settings: Settings) -> str:
    """Raise DatabaseUnavailable unless the database answers and is recent enough; return
    its version."""
    with connect(settings, autocommit=True) as conn:
        number, version = conn.execute(
            "SELECT current_setting('server_version_num')::int, current_setting('server_version')"
        ).fetchone()
    if number < MINIMUM_SERVER:
        raise DatabaseUnavailable(f"PostgreSQL {version} is too old: version 15 or later is needed")
    return str(version)


def shared_snapshot(conn: psycopg.Connection, *others: psycopg.Connection) -> None:
    """Start a REPEATABLE READ transaction on `conn` and on each of `others` that all see
    the same snapshot (PostgreSQL's exported snapshots, as pg_dump's parallel workers):
    queries spread over the connections read one state of the database. The connections
    must be idle (no transaction open)."""
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
    for other in others:
        other.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        other.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))


def cancel_until_done(work: Future[object], conn: psycopg.Connection) -> None:
    """Cancel what `work` (a thread's) runs on `conn` until it has ended (its error, a
    cancellation, is not the one to report): a cancel that comes between two of its
    statements cancels nothing, so it is sent again until the work is done."""
    while not work.done():
        with contextlib.suppress(psycopg.Error):
            conn.cancel_safe(timeout=5)
        wait([work], timeout=0.1)
