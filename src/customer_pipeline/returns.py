"""Late-arriving returns in the database: held until both their days are loaded.

Each sale day S generates the returns of its own lines, dated up to MAX_DELAY_DAYS later
(customer_pipeline.generate.returns). Its load swaps them in as S's partition of
``returns_scheduled`` (not published), beside S's partition of transactions, and in the
same transaction publishes in ``returns``:

- the returns processed on S of the sale days loaded already: S's partition of
  ``returns`` (``returns_YYYYMMDD``, by return day), built anew and attached, which
  checks its foreign keys in one query rather than row by row;
- the returns of S's lines whose return day is loaded already (none when the days are
  loaded in order; a backfill's), inserted into those days' partitions.

A day is loaded when its partition of transactions exists (a day without transactions
too). So ``returns`` holds exactly the scheduled returns whose sale day and return day are
both loaded: a function of the set of loaded days, whatever order they were loaded in;
nothing in it is dated after a loaded day; every row references its line (a foreign key).
After day D's load, D's partition of ``returns`` holds the returns processed on D of the
sale days loaded by then; the returns of a sale day not loaded wait, unpublished, until
it is.

A re-run of S replaces all of them atomically with its partition swap: withdraw() (before
the old partition of transactions goes: the foreign key would refuse to let it go), the
swap, publish(). Both return the other return days whose published returns they changed:
the swap restates those days' stored returns KPIs (metrics.restate_returns).
"""

from __future__ import annotations

import datetime as dt

import psycopg
from psycopg import sql

from customer_pipeline.database import attach_partition, drop_partition, partition_days_query
from customer_pipeline.tables import RETURNS

SCHEDULED = "returns_scheduled"
#: A return comes at most this many days after its sale (the generator's delays stay
#: within it; publishing and the KPIs look back this far).
MAX_DELAY_DAYS = 90
_COLUMNS = sql.SQL(", ").join(map(sql.Identifier, RETURNS.columns))


def _utc_midnight(day: dt.date) -> sql.Composable:
    """The start of `day` in UTC as a timestamptz literal (whatever the session's zone)."""
    return sql.SQL("{}::timestamptz").format(sql.Literal(f"{day.isoformat()} 00:00:00+00"))


#: The returns of S's lines (their foreign key holds S's partition of transactions); the
#: return days they leave.
WITHDRAW_SQL = """
WITH gone AS (
    DELETE FROM returns
    WHERE business_date = %(day)s
      AND return_date >= (%(day)s::date + 1)::timestamp AT TIME ZONE 'UTC'
      AND return_date < (%(day)s::date + 1 + %(max_delay)s)::timestamp AT TIME ZONE 'UTC'
    RETURNING return_date
)
SELECT DISTINCT (return_date AT TIME ZONE 'UTC')::date FROM gone
"""

#: The returns processed on S of the loaded sale days (those with a scheduled partition).
_DUE_ON_THE_DAY = """
INSERT INTO {partition} ({columns})
SELECT {columns} FROM returns_scheduled
WHERE business_date >= %(day)s::date - %(max_delay)s AND business_date < %(day)s
  AND return_date >= {start} AND return_date < {end}
"""

#: S's returns whose return day is loaded (the partitions of transactions, by name); the
#: return days after S they go to.
_OF_THE_DAY_S_LINES = """
WITH published AS (
    INSERT INTO returns ({columns})
    SELECT {columns} FROM returns_scheduled
    WHERE business_date = %(day)s
      AND (return_date AT TIME ZONE 'UTC')::date IN (SELECT day FROM ({loaded_days}) loaded)
    RETURNING return_date
)
SELECT DISTINCT (return_date AT TIME ZONE 'UTC')::date FROM published
WHERE return_date >= (%(day)s::date + 1)::timestamp AT TIME ZONE 'UTC'
"""


def scheduled_partition(day: dt.date) -> str:
    return f"{SCHEDULED}_{day:%Y%m%d}"


def published_partition(day: dt.date) -> str:
    return f"{RETURNS.name}_{day:%Y%m%d}"


def index_stage(session: psycopg.Connection, stage: str) -> None:
    """The return_date index of returns_scheduled, built on the keyed stage before the
    swap (attaching it then builds nothing)."""
    session.execute(sql.SQL("CREATE INDEX ON {} (return_date)").format(sql.Identifier(stage)))


def withdraw(session: psycopg.Connection, day: dt.date) -> set[dt.date]:
    """In the swap's transaction, before S's partitions are replaced: unpublish the
    returns of S's lines; return the return days (after S) they leave."""
    rows = session.execute(WITHDRAW_SQL, {"day": day, "max_delay": MAX_DELAY_DAYS}).fetchall()
    return {row[0] for row in rows}


def publish(session: psycopg.Connection, day: dt.date) -> set[dt.date]:
    """In the swap's transaction, after S's partitions are in: S's partition of returns
    (the returns processed on S), then S's returns whose return day is loaded; return the
    return days after S those go to (a backfill's: none when days load in order)."""
    params = {"day": day, "max_delay": MAX_DELAY_DAYS}
    name = published_partition(day)
    partition = sql.Identifier(name)
    names = {
        "partition": partition,
        "columns": _COLUMNS,
        "start": _utc_midnight(day),
        "end": _utc_midnight(day + dt.timedelta(days=1)),
        "bound": sql.Identifier(f"{name}_bound"),
        "loaded_days": partition_days_query("transactions"),
    }
    drop_partition(session, RETURNS.name, name)
    session.execute(
        sql.SQL(
            "CREATE TABLE {partition} (LIKE returns INCLUDING DEFAULTS INCLUDING CONSTRAINTS, "
            "CONSTRAINT {bound} CHECK (return_date >= {start} AND return_date < {end}))"
        ).format(**names)
    )
    session.execute(sql.SQL(_DUE_ON_THE_DAY).format(**names), params)
    # the keys after the rows, then attached: the foreign keys are checked in one query each
    session.execute(
        sql.SQL("ALTER TABLE {} ADD PRIMARY KEY (return_id, return_date)").format(partition)
    )
    session.execute(sql.SQL("CREATE INDEX ON {} (business_date)").format(partition))
    attach_partition(session, RETURNS.name, name, names["start"], names["end"], f"{name}_bound")
    rows = session.execute(sql.SQL(_OF_THE_DAY_S_LINES).format(**names), params).fetchall()
    return {row[0] for row in rows}
