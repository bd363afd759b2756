"""Step 3, load: COPY a day's files into PostgreSQL, atomically.

The day's transactions and the returns of its lines are COPYed into staging tables (in
parallel connections), keyed, then swapped in as the day's partitions
``transactions_YYYYMMDD`` and ``returns_scheduled_YYYYMMDD`` in one transaction that also
upserts the dimension tables (customers' and products' files are versions: merged into
their history and current tables, see _merge_versions; a schema without the previous day
first gets the versions in force at the day's start, see _catch_up) and publishes the
returns both of whose days are loaded (customer_pipeline.returns). Either the whole day
is replaced or nothing changes: a failure at any point leaves the previous state of that
day intact. A session advisory
lock per (schema, date) keeps two loads of the same date from interleaving; loads of
different dates overlap except for the short swap. A load that dies (killed, its server
lost) leaves its staging tables, with its date's lock free: the next run drops them
(customer_pipeline.leftovers), as does the next load of that date.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import import_module
from pathlib import Path

import psycopg
from psycopg import sql

from customer_pipeline import customer_days, returns
from customer_pipeline.database import (
    attach_partition,
    connect,
    drop_partition,
    partition_days,
)
from customer_pipeline.errors import ConfigError
from customer_pipeline.generate import csvfile
from customer_pipeline.generate.csvfile import GeneratedFile
from customer_pipeline.metrics import restate_returns
from customer_pipeline.schema import hold_lock, schema_lock
from customer_pipeline.settings import Settings
from customer_pipeline.tables import (
    DIMENSIONS,
    GENERATED,
    RETURNS,
    TRANSACTIONS,
    VERSIONED,
    Table,
)

log = logging.getLogger(__name__)

COPY_CONNECTIONS = 2
_COPY_BUFFER = 1 << 20


def partition_name(day: dt.date) -> str:
    return f"transactions_{day:%Y%m%d}"


#: The generated tables whose day's rows become a partition (keyed on (key, business_date)):
#: the file's table -> the partitioned table, and the name of the day's partition.
DAY_PARTITIONED = {
    TRANSACTIONS.name: (TRANSACTIONS.name, partition_name),
    RETURNS.name: (returns.SCHEDULED, returns.scheduled_partition),
}


def _check_files(files: Sequence[GeneratedFile]) -> None:
    missing = [f.path for f in files if not Path(f.path).is_file()]
    if missing:
        raise ConfigError(f"generated file missing: {missing[0]}")
    unknown = {f.table for f in files} - set(GENERATED)
    if unknown:
        raise ConfigError(f"unknown table in generated files: {sorted(unknown)[0]}")


def copy_file(conn: psycopg.Connection, table: str, columns: Sequence[str], path: str) -> int:
    """COPY one CSV file (with a header naming `columns`) into `table`; return its rows."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv, HEADER MATCH)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with conn.cursor() as cur, open(path, "rb") as handle:
        with cur.copy(statement) as copy:
            while data := handle.read(_COPY_BUFFER):
                copy.write(data)
        return cur.rowcount


def _stage_name(table: str, day: dt.date) -> str:
    return f"{table}_{day:%Y%m%d}_stage"


def _summed_name(day: dt.date) -> str:
    """The day's customer_days made from the stage of its lines, before the swap."""
    return _stage_name(customer_days.CUSTOMER_DAYS, day)


def staged_day(table_name: str) -> dt.date | None:
    """The date whose load made the staging table `table_name`; None when it is not one."""
    tables = "|".join((*GENERATED, customer_days.CUSTOMER_DAYS))
    if not (found := re.fullmatch(rf"(?:{tables})_(\d{{8}})_stage", table_name)):
        return None
    try:
        return dt.datetime.strptime(found[1], "%Y%m%d").date()
    except ValueError:
        return None


def load_lock(day: dt.date) -> str:
    """The lock a load of `day` holds while its staging tables exist (see schema.lock_key)."""
    return f"load:{day}"


Copy = tuple[int, str, Sequence[str], str]  # (file index, stage, columns, path)


def _copy_all(settings: Settings, copies: Sequence[Copy], connections: int) -> dict[int, int]:
    """COPY every file over `connections` connections; {file index: rows}.

    The connections take the next file from one queue (largest first) as soon as they are
    free, so both cores stay busy to the end whatever the files' sizes and costs; after a
    failure (or an interruption of the caller: a signal) no connection starts another file
    and the COPYs under way are cancelled.
    """
    queue = deque(copies)
    lock = threading.Lock()
    failed = threading.Event()
    copied: dict[int, int] = {}
    working: list[psycopg.Connection] = []

    def next_copy() -> Copy | None:
        with lock:
            return queue.popleft() if queue and not failed.is_set() else None

    def worker() -> None:
        try:
            with connect(settings) as conn:
                working.append(conn)
                while (job := next_copy()) is not None:
                    index, stage, columns, path = job
                    copied[index] = copy_file(conn, stage, columns, path)
        except BaseException:
            failed.set()
            raise

    with ThreadPoolExecutor(connections) as pool:
        futures = [pool.submit(worker) for _ in range(min(connections, len(copies)))]
        try:
            for future in futures:
                future.result()
        except BaseException:
            failed.set()
            for conn in working:
                with contextlib.suppress(psycopg.Error):  # it may have ended meanwhile
                    conn.cancel_safe(timeout=5)
            raise
    return copied


def _upsert(
    conn: psycopg.Connection,
    target: str,
    keys: Sequence[str],
    columns: Sequence[str],
    source: sql.Composable,
) -> None:
    """Update the rows of `target` that differ from `source`'s (same `keys`), insert the
    new ones, leave identical ones alone.

    Two set-based statements (a join, then an anti-join) rather than INSERT ... ON
    CONFLICT, which probes the key row by row. Safe because the caller holds the swap
    lock: no other load writes into the dimensions meanwhile.
    """
    others = [c for c in columns if c not in keys]
    names = {
        "table": sql.Identifier(target),
        "source": source,
        "match": sql.SQL(" AND ").join(
            sql.SQL("t.{0} = s.{0}").format(sql.Identifier(key)) for key in keys
        ),
        "cols": sql.SQL(", ").join(map(sql.Identifier, columns)),
        "keys": sql.SQL(", ").join(map(sql.Identifier, keys)),  # inserted in index order
        "others": sql.SQL(", ").join(map(sql.Identifier, others)),
        "new": sql.SQL(", ").join(sql.Identifier("s", c) for c in others),
        "old": sql.SQL(", ").join(sql.Identifier("t", c) for c in others),
    }
    conn.execute(
        sql.SQL(
            "UPDATE {table} t SET ({others}) = ROW({new}) FROM {source} s "
            "WHERE {match} AND ({old}) IS DISTINCT FROM ({new})"
        ).format(**names)
    )
    conn.execute(
        sql.SQL(
            "INSERT INTO {table} ({cols}) SELECT {cols} FROM {source} s "
            "WHERE NOT EXISTS (SELECT FROM {table} t WHERE {match}) ORDER BY {keys}"
        ).format(**names)
    )


def _upsert_dimension(conn: psycopg.Connection, table: Table, stage: str) -> None:
    """A dimension without history: its rows are the stage's (see _upsert)."""
    _upsert(conn, table.name, [table.key], table.columns, sql.Identifier(stage))
    _follow_serial(conn, table)


def _follow_serial(conn: psycopg.Connection, table: Table) -> None:
    if table.serial_key:  # keep the serial's sequence past the explicit ids
        conn.execute(
            sql.SQL(
                "SELECT setval(pg_get_serial_sequence(%s, %s), "
                "GREATEST(COALESCE((SELECT max({key}) FROM {table}), 0), 1))"
            ).format(key=sql.Identifier(table.key), table=sql.Identifier(table.name)),
            [table.name, table.key],
        )


#: The stage's versions into the history, each with its valid_to (the valid_from of the
#: key's next version, in the history or in the stage: one forward probe of the key's
#: index), a re-run's replacing what it loaded before; then the current row of each key
#: whose latest version is among them (one probe of the current table). Versions older
#: than their key's latest (a backfill) leave its current row as it is.
_VERSIONS_AND_CURRENT = """
WITH versions AS (
    INSERT INTO {history} AS h ({file_cols}, valid_to)
    SELECT {file_cols}, LEAST(next_staged, (
        SELECT min(x.valid_from) FROM {history} x
        WHERE x.{key} = s.{key} AND x.valid_from > s.valid_from))
    FROM (SELECT *, lead(valid_from) OVER (PARTITION BY {key} ORDER BY valid_from) AS next_staged
          FROM {stage}) s
    ORDER BY {key}, valid_from
    ON CONFLICT ({key}, valid_from)
    DO UPDATE SET ({others}, valid_to) = ROW({new}, excluded.valid_to)
    WHERE ({old}, h.valid_to) IS DISTINCT FROM ({new}, excluded.valid_to)
    RETURNING {cols}, valid_to
)
INSERT INTO {table} AS t ({cols})
SELECT {cols} FROM versions WHERE valid_to IS NULL ORDER BY {key}
ON CONFLICT ({key}) DO UPDATE SET ({others}) = ROW({new})
WHERE ({old_current}) IS DISTINCT FROM ({new})
"""
#: The version before each key's earliest staged version now ends where that one starts
#: (one backward probe of the key's index; the staged versions after it got theirs above).
_PREVIOUS_VALID_TO = """
UPDATE {history} h SET valid_to = p.next
FROM (SELECT DISTINCT ON ({key}) {key}, valid_from AS next FROM {stage}
      ORDER BY {key}, valid_from) s
CROSS JOIN LATERAL (
    SELECT x.valid_from, s.next FROM {history} x
    WHERE x.{key} = s.{key} AND x.valid_from < s.next
    ORDER BY x.valid_from DESC LIMIT 1) p
WHERE h.{key} = s.{key} AND h.valid_from = p.valid_from AND h.valid_to IS DISTINCT FROM p.next
"""
#: An empty history (a first catch-up): every version with the next one's valid_from, in
#: key order, and each key's latest as its current row, in one pass over the sorted stage.
_BULK = """
WITH versions AS (
    INSERT INTO {history} ({file_cols}, valid_to)
    SELECT {file_cols}, lead(valid_from) OVER (PARTITION BY {key} ORDER BY valid_from)
    FROM {stage} ORDER BY {key}, valid_from
    RETURNING {cols}, valid_to
)
INSERT INTO {table} ({cols}) SELECT {cols} FROM versions WHERE valid_to IS NULL
"""

#: A table's indexes that a bulk load may drop and build again afterwards (far faster than
#: maintaining them row by row): every one but those a foreign key relies on. Each with
#: the statement that drops it and the one that builds it again, under the same name.
_REBUILDABLE = """
SELECT format('ALTER TABLE %%I DROP CONSTRAINT %%I', t.relname, c.conname),
       format('ALTER TABLE %%I ADD CONSTRAINT %%I %%s', t.relname, c.conname,
              pg_get_constraintdef(c.oid))
FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
WHERE c.conrelid = %(table)s::regclass AND c.contype IN ('p', 'u')
  AND NOT EXISTS (SELECT FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = c.conindid)
UNION ALL
SELECT format('DROP INDEX %%I', i.relname), pg_get_indexdef(i.oid)
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
WHERE x.indrelid = %(table)s::regclass
  AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = x.indexrelid)
"""


@contextlib.contextmanager
def _indexes_rebuilt(conn: psycopg.Connection, tables: Sequence[str]) -> Iterator[None]:
    """In the caller's transaction: the tables' rebuildable indexes dropped while the block
    runs, then built again from the rows (a failure rolls the drop back with the rest)."""
    rebuilds = []
    for table in tables:
        for drop, build in conn.execute(_REBUILDABLE, {"table": table}).fetchall():
            conn.execute(drop)
            rebuilds.append(build)
    yield
    for build in rebuilds:
        conn.execute(build)


#: what a merge by key turns off: the joins that read a whole table (a nested loop then
#: takes the stage's few rows to the tables' indexes)
_BY_KEY = ("enable_hashjoin", "enable_mergejoin")


def _merge_versions(conn: psycopg.Connection, table: Table, stage: str) -> None:
    """Merge the stage's versions into the history (a version is its key and valid_from:
    a re-run replaces it) and the current table (each key's latest version). The result
    is a function of the set of versions ever loaded, whatever their order.

    Into an empty history (the first catch-up): in bulk, one sorted pass. Otherwise two
    statements that go to the keys' indexes, each key of the stage once: they cost what
    the stage holds, not what the history does (a day's few versions; by its default
    costs the planner would scan the whole history and current table).
    """
    names = _names(table, stage)
    empty = sql.SQL("SELECT NOT EXISTS (SELECT FROM {history})").format(**names)
    if conn.execute(empty).fetchone()[0]:
        with _indexes_rebuilt(conn, [table.history, table.name]):
            conn.execute(sql.SQL(_BULK).format(**names))
    else:
        for setting in _BY_KEY:
            conn.execute(f"SET LOCAL {setting} = off")
        conn.execute(sql.SQL(_VERSIONS_AND_CURRENT).format(**names))
        conn.execute(sql.SQL(_PREVIOUS_VALID_TO).format(**names))
        for setting in _BY_KEY:
            conn.execute(f"SET LOCAL {setting} = DEFAULT")
    _follow_serial(conn, table)


def _catch_up(
    session: psycopg.Connection, settings: Settings, day: dt.date, stages: Mapping[str, str]
) -> None:
    """Unless the schema holds the previous day, add to the stages the version in force at
    the start of `day` of every row that exists by then and may differ from what the
    history holds (streamed, no file).

    A day in sequence needs none: the previous day's load brought them (by induction:
    its versions and, in force at its start, every older row's). A day loaded into an
    empty schema, or after a gap, gets them once: its lines reference customers and
    products that only older days' files hold, and its KPIs compare versions with those
    before. After a gap (a loaded day before it, at most MAX_GAP_DAYS back) only the
    rows created or changed in the gap: the others' are that day's, in the history by the
    same induction. Before any loaded day, every row's, less those the history holds
    already. Every version is the true one (its valid_from the change's), so the history
    is a function of the set of days loaded.
    """
    since = _loaded_before(session, day)
    if since == day - dt.timedelta(days=1):
        return
    started = time.perf_counter()
    rows = 0
    for table in VERSIONED:
        module, function = (table.versions_before or "").split(":")
        blocks = getattr(import_module(module), function)(settings, day, since)
        statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
            sql.Identifier(stages[table.name]),
            sql.SQL(", ").join(map(sql.Identifier, table.file_columns)),
        )
        with session.cursor() as cur:
            with cur.copy(statement) as copy:
                for columns in blocks:
                    copy.write(csvfile.format_rows(columns).tobytes())
            rows += cur.rowcount
        if since is None:  # of a history of later days, most are in it: dropped in one pass
            with session.transaction():
                session.execute("SET LOCAL work_mem = '256MB'")  # one hash table of them
                session.execute(
                    sql.SQL(_KNOWN_VERSIONS).format(**_names(table, stages[table.name]))
                )
    log.info(
        "catch-up for %s (after %s): %d versions in %.2f s",
        day,
        since or "nothing",
        rows,
        time.perf_counter() - started,
    )


#: A gap after which the catch-up takes every row's version (finding the rows changed in
#: the gap costs a pass over the catalog a day)
MAX_GAP_DAYS = 366


def _loaded_before(session: psycopg.Connection, day: dt.date) -> dt.date | None:
    """The latest day before `day`, and at most MAX_GAP_DAYS back, that the schema holds."""
    before = day - dt.timedelta(days=1)
    held = partition_days(session, TRANSACTIONS.name, day - dt.timedelta(MAX_GAP_DAYS + 1), before)
    return held[-1] if held else None


#: The stage's versions that the history holds already, exactly (its key, valid_from and
#: every column; valid_to aside: the merge sets it), deleted.
_KNOWN_VERSIONS = """
DELETE FROM {stage} s USING {history} h
WHERE h.{key} = s.{key} AND h.valid_from = s.valid_from
  AND ROW({old}) IS NOT DISTINCT FROM ROW({staged})
"""


def _names(table: Table, stage: str) -> dict[str, sql.Composable]:
    assert table.history is not None
    others = [c for c in table.columns if c != table.key]
    return {
        "history": sql.Identifier(table.history),
        "table": sql.Identifier(table.name),
        "stage": sql.Identifier(stage),
        "key": sql.Identifier(table.key),
        "cols": sql.SQL(", ").join(map(sql.Identifier, table.columns)),
        "file_cols": sql.SQL(", ").join(map(sql.Identifier, table.file_columns)),
        "others": sql.SQL(", ").join(map(sql.Identifier, others)),
        "new": sql.SQL(", ").join(sql.Identifier("excluded", c) for c in others),
        "old": sql.SQL(", ").join(sql.Identifier("h", c) for c in others),
        "staged": sql.SQL(", ").join(sql.Identifier("s", c) for c in others),
        "old_current": sql.SQL(", ").join(sql.Identifier("t", c) for c in others),
    }


def load_day(settings: Settings, day: dt.date, files: Sequence[GeneratedFile]) -> dict[str, int]:
    """Load a day's generated files; replace that day's transactions; return rows per table."""
    _check_files(files)
    stages = {table: _stage_name(table, day) for table in GENERATED}
    # largest first, over COPY_CONNECTIONS connections: both cores parse CSV
    copies: list[Copy] = sorted(
        (
            (index, stages[file.table], GENERATED[file.table].file_columns, file.path)
            for index, file in enumerate(files)
        ),
        key=lambda copy: -Path(copy[3]).stat().st_size,
    )

    # the session's locks last until it closes, however the load ends
    with connect(settings, autocommit=True) as session:
        hold_lock(session, settings, "write", shared=True)  # a reset waits for the load
        hold_lock(session, settings, load_lock(day))
        try:
            _prepare_stages(session, stages, day)
            copied = _copy_all(settings, copies, COPY_CONNECTIONS)
            _catch_up(session, settings, day, stages)
            with _beside_merge(settings, day, stages[TRANSACTIONS.name]) as summed:
                key = _key_stages(session, stages)
                _swap(session, settings, day, stages, summed, key)
        except BaseException:
            # the connection may be lost too: then the next run drops them (the load lock
            # went with the connection); the load's own error is the one to report
            with contextlib.suppress(psycopg.Error):
                _drop_stages(session, stages, day)
            raise
        _drop_stages(session, stages, day)
    counts = dict.fromkeys(GENERATED, 0)
    for index, rows in copied.items():
        counts[files[index].table] += rows
    log.info("loaded %s for %s", counts, day)
    return counts


def _drop_stages(session: psycopg.Connection, stages: Mapping[str, str], day: dt.date) -> None:
    for stage in (*stages.values(), _summed_name(day)):
        session.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(stage)))


def _prepare_stages(session: psycopg.Connection, stages: Mapping[str, str], day: dt.date) -> None:
    """Fresh staging tables: the day's partitions (with the parent's checks and the
    partition's bound, all checked during the COPY; keyed later), unlogged dimensions."""
    _drop_stages(session, stages, day)  # what a dead load of this date left
    for table, stage in stages.items():
        if table not in DAY_PARTITIONED:
            like = GENERATED[table].history or table  # versions: like their history
            session.execute(
                sql.SQL("CREATE UNLOGGED TABLE {} (LIKE {})").format(
                    sql.Identifier(stage), sql.Identifier(like)
                )
            )
            continue
        session.execute(
            sql.SQL(
                "CREATE TABLE {stage} (LIKE {parent} INCLUDING DEFAULTS INCLUDING CONSTRAINTS, "
                "CONSTRAINT {bound} CHECK (business_date >= {day} AND business_date < {next}))"
            ).format(
                stage=sql.Identifier(stage),
                parent=sql.Identifier(DAY_PARTITIONED[table][0]),
                bound=sql.Identifier(_bound_name(stage)),
                day=sql.Literal(day),
                next=sql.Literal(day + dt.timedelta(days=1)),
            )
        )


def _bound_name(stage: str) -> str:
    return f"{stage}_bound"


def _key_stages(session: psycopg.Connection, stages: Mapping[str, str]) -> str:
    """Build the primary keys (and the returns' index) after the bulk COPY (much faster
    than maintaining them during it); then give the session room for the swap's
    foreign-key checks (hash joins). The day's lines get their key's unique index only,
    whose name this returns: building it lets the lines be read meanwhile (the sums
    beside, see _beside_merge), where ADD PRIMARY KEY would lock them for its whole
    build; the swap makes it the primary key once the sums are done."""
    session.execute("SET maintenance_work_mem = '256MB'")  # sort the index in memory
    lines = stages[TRANSACTIONS.name]
    for table in DAY_PARTITIONED:
        if table == TRANSACTIONS.name:
            session.execute(
                sql.SQL("CREATE UNIQUE INDEX ON {} ({}, business_date)").format(
                    sql.Identifier(lines), sql.Identifier(TRANSACTIONS.key)
                )
            )
            continue
        session.execute(
            sql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({}, business_date)").format(
                sql.Identifier(stages[table]), sql.Identifier(GENERATED[table].key)
            )
        )
    returns.index_stage(session, stages[RETURNS.name])
    session.execute("SET work_mem = '256MB'")
    return session.execute(_UNIQUE_INDEX, [lines]).fetchone()[0]


#: the name of the (only) unique index of a stage of lines
_UNIQUE_INDEX = """
SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid = %s::regclass AND i.indisunique
"""


@contextlib.contextmanager
def _beside_merge(settings: Settings, day: dt.date, stage: str) -> Iterator[Callable[[], str]]:
    """On a second connection while the block runs (the keys, the dimensions' merges, the
    lines' statistics and foreign keys): sum the stage of the day's lines per customer into
    the day's customer_days (customer_days.sum_day; the lines are the stage's, and the swap
    publishes exactly those). The block calls what this yields to wait for them; it
    returns the summed table's name. The sums cost a GROUP BY of the day's lines that the
    swap would otherwise run alone."""
    summed = _summed_name(day)

    def work() -> str:
        with connect(settings, autocommit=True) as conn:
            customer_days.sum_day(conn, day, summed, stage)
        return summed

    with ThreadPoolExecutor(1) as helper:
        done = helper.submit(work)
        try:
            yield done.result
        except BaseException:
            done.cancel()
            with contextlib.suppress(BaseException):
                done.result()  # its own error is not the one to report
            raise


def _swap(
    session: psycopg.Connection,
    settings: Settings,
    day: dt.date,
    stages: Mapping[str, str],
    summed: Callable[[], str],
    key: str,
) -> None:
    """In one transaction: upsert the dimensions, then replace the day's partitions by the
    keyed stages (the lines' unique index `key` made their primary key once summed() has
    given their sums per customer and their statistics, see _beside_merge), the day's
    customer_days by those sums, and publish the returns due; the other days whose
    published returns that changed get their stored returns KPIs restated."""
    stage = stages[TRANSACTIONS.name]
    with session.transaction():
        schema_lock(session, settings, "swap")  # one swap at a time: no lock-order deadlocks
        for table in DIMENSIONS:
            if table.history:
                _merge_versions(session, table, stages[table.name])
            else:
                _upsert_dimension(session, table, stages[table.name])
        # while the sums read the lines (neither lock blocks a reader): their statistics
        # (without them the checks and KPIs that follow are planned for a handful of rows)
        # and their foreign keys, against the dimensions as just merged. The statistics
        # from a tenth of PostgreSQL's default sample, which reads nearly every page of a
        # day of 1M lines (0.25-0.67 s against 0.02 s; the KPIs' plans keep their shapes)
        session.execute("SET LOCAL default_statistics_target = 10")
        session.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(stage)))
        session.execute("SET LOCAL default_statistics_target = DEFAULT")
        _check_foreign_keys(session, stage)
        # raises what the sums raised; before the stage is locked below and renamed
        day_sums = summed()
        session.execute(
            sql.SQL("ALTER TABLE {} ADD PRIMARY KEY USING INDEX {}").format(
                sql.Identifier(stage), sql.Identifier(key)
            )
        )
        # their foreign key would hold the old partition
        changed = returns.withdraw(session, day)
        for table in DAY_PARTITIONED:
            _attach(session, table, day, stages[table])
        customer_days.replace_day(session, day, summed=day_sums)
        changed |= returns.publish(session, day)
        restate_returns(session, changed)


def _attach(session: psycopg.Connection, table: str, day: dt.date, stage: str) -> None:
    """In the caller's transaction: the keyed stage replaces the day's partition of the
    table that `table`'s files go to."""
    parent, name = DAY_PARTITIONED[table]
    drop_partition(session, parent, name(day))
    session.execute(
        sql.SQL("ALTER TABLE {} RENAME TO {}").format(
            sql.Identifier(stage), sql.Identifier(name(day))
        )
    )
    next_day = sql.Literal(day + dt.timedelta(days=1))
    attach_partition(session, parent, name(day), sql.Literal(day), next_day, _bound_name(stage))


#: The lines' foreign key to customers is checked by a merge join while the day's lines
#: sort in memory (up to this many): sorting them and reading customers' key in order
#: costs about half what PostgreSQL's own choice, a hash of every customer, does (1M
#: scale: 1.36 against 2.31 s for 1.3M lines and 2.6M customers); beyond, the sort would
#: spill to disk and the hash is cheaper.
MERGE_CHECK_LINES = 3_000_000

_FOREIGN_KEYS = """
SELECT conname, pg_get_constraintdef(oid), confrelid = 'customers'::regclass
FROM pg_constraint WHERE conrelid = 'transactions'::regclass AND contype = 'f' ORDER BY conname
"""


def _check_foreign_keys(session: psycopg.Connection, lines: str) -> None:
    """Add and check, on the stage of the day's lines, each of the partitioned table's
    foreign keys (the one to customers by a merge join when the lines are few enough, see
    MERGE_CHECK_LINES): the attach then takes them as the partition's (validated equal
    constraints) and checks nothing. Run in the swap while the sums read the stage: adding
    a foreign key locks out writers, not readers, where the attach's checks lock out
    everyone."""
    count = session.execute(
        "SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [lines]
    ).fetchone()[0]
    for constraint, definition, to_customers in session.execute(_FOREIGN_KEYS).fetchall():
        if to_customers and count > MERGE_CHECK_LINES:
            continue  # the attach's own check: a hash of the customers
        if to_customers:
            session.execute("SET LOCAL enable_hashjoin = off")
        session.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                sql.Identifier(lines), sql.Identifier(constraint), sql.SQL(definition)
            )
        )
        session.execute("SET LOCAL enable_hashjoin = DEFAULT")
