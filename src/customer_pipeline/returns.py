"""Late-arriving returns in the database: held until both their days are loaded.

Each sale day S generates the returns of its own lines, dated up to 90 days later
(customer_pipeline.generate.returns). Its load swaps them in as S's partition of
``returns_scheduled`` (not published), beside S's partition of transactions, and in the
same transaction publishes in ``returns``:

- the scheduled returns of S whose return day is loaded already, and
- the scheduled returns dated on S of the sale days loaded already.

A day is loaded when its partition of transactions exists (a day without transactions
too). So ``returns`` holds exactly the scheduled returns whose sale day and return day are
both loaded: a function of the set of loaded days, whatever order they were loaded in;
nothing in it is dated after a loaded day; every row references its line (a foreign key).
After day D's load, ``returns`` WHERE the return_date's UTC day is D holds the returns
processed on D, of the sale days loaded by then; the returns of a sale day not loaded
wait, unpublished, until it is.

A re-run of S replaces them atomically with its partition swap: withdraw() (before the
old partition goes: the foreign key would refuse to let it go), the swap, publish().
"""

from __future__ import annotations

import datetime as dt

import psycopg
from psycopg import sql

from customer_pipeline.tables import RETURNS

SCHEDULED = "returns_scheduled"
#: A return comes at most this many days after its sale (the generator's delays stay
#: within it; publishing and the KPIs look back this far).
MAX_DELAY_DAYS = 90
_COLUMNS = sql.SQL(", ").join(map(sql.Identifier, RETURNS.columns))
_DAY_START = "%(day)s::timestamp AT TIME ZONE 'UTC'"
_DAY_END = "(%(day)s::date + 1)::timestamp AT TIME ZONE 'UTC'"

#: S's published returns (their foreign key holds S's partition of transactions), and the
#: returns dated on S (published again by publish(): a re-run replaces them too).
WITHDRAW_SQL = f"""
DELETE FROM returns
WHERE business_date = %(day)s OR (return_date >= {_DAY_START} AND return_date < {_DAY_END})
"""

#: The days loaded among S's return days: the partitions of transactions, by name.
_LOADED_RETURN_DAYS = """
SELECT to_date(right(c.relname, 8), 'YYYYMMDD') AS day
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'transactions'::regclass
"""

PUBLISH_SQL = sql.SQL(
    f"""
INSERT INTO returns ({{columns}})
SELECT {{columns}} FROM returns_scheduled
WHERE business_date = %(day)s
  AND (return_date AT TIME ZONE 'UTC')::date IN ({_LOADED_RETURN_DAYS})
UNION ALL
SELECT {{columns}} FROM returns_scheduled
WHERE business_date >= %(day)s::date - %(max_delay)s AND business_date < %(day)s
  AND return_date >= {_DAY_START} AND return_date < {_DAY_END}
"""
).format(columns=_COLUMNS)


def scheduled_partition(day: dt.date) -> str:
    return f"{SCHEDULED}_{day:%Y%m%d}"


def index_stage(session: psycopg.Connection, stage: str) -> None:
    """The return_date index of returns_scheduled, built on the keyed stage before the
    swap (attaching it then builds nothing)."""
    session.execute(sql.SQL("CREATE INDEX ON {} (return_date)").format(sql.Identifier(stage)))


def withdraw(session: psycopg.Connection, day: dt.date) -> None:
    """In the swap's transaction, before S's partitions are replaced: unpublish the
    returns of S's lines and those dated on S."""
    session.execute(WITHDRAW_SQL, {"day": day})


def publish(session: psycopg.Connection, day: dt.date) -> int:
    """In the swap's transaction, after S's partitions are in: publish S's returns whose
    return day is loaded and the returns dated on S of loaded sale days; return how many."""
    return session.execute(PUBLISH_SQL, {"day": day, "max_delay": MAX_DELAY_DAYS}).rowcount
