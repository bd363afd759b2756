"""The report's Customers section: repeat purchases, sign-up cohorts, RFM segments.

Computed in SQL with the day's KPIs and stored with them (``daily_metrics.customers``),
over bounded windows, never the whole history:

- **repeat-purchase rate**: of the customers who bought in the :data:`REPEAT_DAYS` days
  ending on the day, the share who bought on two days or more;
- **cohorts**: the customers who signed up in each of the last :data:`COHORT_MONTHS`
  months (this one included, up to the day), and how many of them bought in the last
  REPEAT_DAYS days (found by the customers' created_at index: a month's sign-ups, not
  every customer);
- **RFM segments** of the customers who bought in the :data:`RFM_DAYS` days ending on the
  day, by recency (days since their last purchase: 0 = that day) and frequency (the days
  they bought on), first rule that matches: champions (recency < 14, 6+ days), loyal
  (recency < 30, 3+ days), new (signed up in the last 30 days), at risk (recency < 60,
  3+ days), lost (recency >= 60), occasional (the others); each with its customers and
  their sales over the window (monetary).

The window is read from :mod:`customer_pipeline.customer_days` (one row per customer and
day bought on), never from the lines, through a **window state** (``customer_windows``, a
partition per date: per customer of the window, their last day, days bought on in the
window and in its last REPEAT_DAYS days, and cents): the date's state is made from the
previous date's by adding the day's buyers and taking away those of the days leaving the
window (three partitions of a day's buyers, whatever the window's length), or, when the
previous date has no state or its state was made of other partitions than those in
place now (a day loaded or reloaded since: each load makes a new partition), from the
window's RFM_DAYS partitions. Either way it is the same state (integers, and float8 sums
of integer cents, exact): a function of the loaded days, whatever their order.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from customer_pipeline.customer_days import CUSTOMER_DAYS
from customer_pipeline.database import (
    attach_partition,
    constrain_for_day,
    drop_partition,
    for_day_scans,
    partition_days_query,
)

REPEAT_DAYS = 30
RFM_DAYS = 90
COHORT_MONTHS = 6
NEW_DAYS = 30
#: The segments, in the report's order.
SEGMENTS = ("champions", "loyal", "new", "at risk", "occasional", "lost")

WINDOWS = "customer_windows"
SOURCES = "customer_window_sources"
#: States kept: the one just made and the newest others (the next date's starting point).
KEEP_STATES = 3

#: The date's window state from the window's partitions of customer_days.
_STATE_FROM_WINDOW_SQL = """
CREATE TABLE {state} AS
SELECT %(day)s::date AS business_date, customer_id, max(business_date) AS last_day,
       count(*)::integer AS days,
       count(*) FILTER (WHERE business_date > %(day)s::date - %(repeat_days)s)::integer
           AS recent_days,
       -- float8: summed in place (a bigint's sum keeps a numeric state per customer), and
       -- exact: integers below 2^53
       sum(cents::float8) AS cents
FROM customer_days  -- one row per customer and day bought on
WHERE business_date > %(day)s::date - %(rfm_days)s AND business_date <= %(day)s
GROUP BY customer_id
"""

#: The date's window state from the previous date's: the day's buyers come in (days and
#: recent days + 1), those of the day leaving the window go (days - 1, their cents) and
#: those of the day leaving its last REPEAT_DAYS (recent days - 1); whoever has no day
#: left in the window goes. A last day stays right: one that leaves the window is a
#: customer's last day only if it was their only one.
_STATE_FROM_PREVIOUS_SQL = """
CREATE TABLE {state} AS
SELECT %(day)s::date AS business_date, customer_id, max(last_day) AS last_day,
       sum(days)::integer AS days, sum(recent_days)::integer AS recent_days,
       sum(cents) AS cents
FROM (
    SELECT customer_id, last_day, days, recent_days, cents FROM customer_windows
    WHERE business_date = %(day)s::date - 1
    UNION ALL
    SELECT customer_id, business_date, 1, 1, cents::float8 FROM customer_days
    WHERE business_date = %(day)s
    UNION ALL
    SELECT customer_id, NULL, -1, 0, -cents::float8 FROM customer_days
    WHERE business_date = %(day)s::date - %(rfm_days)s
    UNION ALL
    SELECT customer_id, NULL, 0, -1, 0 FROM customer_days
    WHERE business_date = %(day)s::date - %(repeat_days)s
) moves
GROUP BY customer_id
HAVING sum(days) > 0
"""

#: Per customer of the window: from the date's state, or (a short window) from the
#: window's partitions of customer_days.
_PER_CUSTOMER_FROM_STATE = """
    SELECT customer_id, %(day)s::date - last_day AS recency, days, recent_days, cents
    FROM customer_windows WHERE business_date = %(day)s
"""
_PER_CUSTOMER_FROM_WINDOW = """
    SELECT customer_id, %(day)s::date - max(business_date) AS recency, count(*) AS days,
           count(*) FILTER (WHERE business_date > %(day)s::date - %(repeat_days)s)
               AS recent_days,
           sum(cents::float8) AS cents
    FROM customer_days
    WHERE business_date > %(day)s::date - %(rfm_days)s AND business_date <= %(day)s
    GROUP BY customer_id
"""

#: Days of buyers in the window from which the section reads a window state: below, the
#: window's partitions are fewer rows than a state and the three days that update it,
#: and making the state (writing it) costs more than it saves (at --customers 100000, a
#: state from the previous one 0.9 s, the section from the state 0.35 s; the section
#: from the window about 0.1 s a day of it).
STATE_FROM_DAYS = 12

#: The window's buyers (per_customer), counted by (segment, sign-up month if in the
#: last COHORT_MONTHS months, days bought on in REPEAT_DAYS capped at 2): customers and
#: their cents; then the sign-ups of each of those months (segment and recent days NULL).
#: Python rolls the segments, the repeat buyers and the cohorts up from these few dozen
#: rows. The window's buyers meet the months' sign-ups (by the customers' created_at
#: index) in one hash join, one pass over the window's customers for every figure.
CUSTOMERS_SECTION_SQL = """
WITH per_customer AS ({per_customer}), signups AS MATERIALIZED (
    SELECT customer_id, created_at FROM customers
    WHERE created_at >= %(cohorts_from)s AND created_at < %(day_end)s
)
SELECT CASE
        WHEN recency < 14 AND days >= 6 THEN 'champions'
        WHEN recency < 30 AND days >= 3 THEN 'loyal'
        WHEN s.created_at >= %(new_from)s THEN 'new'
        WHEN recency < 60 AND days >= 3 THEN 'at risk'
        WHEN recency >= 60 THEN 'lost'
        ELSE 'occasional'
    END AS segment,
    to_char(s.created_at AT TIME ZONE 'UTC', 'YYYY-MM') AS month,
    least(recent_days, 2) AS recent_days, count(*) AS customers, sum(cents) AS cents
FROM per_customer p LEFT JOIN signups s USING (customer_id)
GROUP BY 1, 2, 3
UNION ALL
SELECT NULL, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM'), NULL, count(*), NULL
FROM signups GROUP BY 2
"""

#: Days of buyers in the window from which the window's aggregate (a state made from the
#: window) is planned for parallel workers. Below, one process is faster: the workers'
#: partial groups are nearly as many as the rows (each customer on few of the window's
#: days), and merging them is serial (1M scale: 2 days 1.8 s alone against 2.3-3.2 s
#: with workers, 30 days 5.0 against 7.4; at 90 days the workers win, 10.5-11.2 s against
#: 13.7-14.3).
PARALLEL_FROM_DAYS = 60


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def cohort_months(day: dt.date) -> list[str]:
    """'YYYY-MM' of the COHORT_MONTHS months ending with the day's, oldest first."""
    months, first = [], day.replace(day=1)
    for _ in range(COHORT_MONTHS):
        months.append(f"{first:%Y-%m}")
        first = (first - dt.timedelta(days=1)).replace(day=1)
    return months[::-1]


def state_name(day: dt.date) -> str:
    return f"{WINDOWS}_{day:%Y%m%d}"


def _window_partitions(conn: psycopg.Connection, day: dt.date) -> dict[dt.date, int]:
    """customer_days' partitions (OIDs) of the RFM_DAYS + 1 days ending on `day`."""
    query = sql.SQL("SELECT day, partition FROM ({}) p WHERE day > %s AND day <= %s").format(
        partition_days_query(CUSTOMER_DAYS)
    )
    start = day - dt.timedelta(days=RFM_DAYS + 1)
    return dict(conn.execute(query, [start, day]).fetchall())


def _of_window(partitions: dict[dt.date, int], day: dt.date) -> list[int]:
    """The partitions of the window ending on `day`, in order: what its state is made of."""
    first = day - dt.timedelta(days=RFM_DAYS)
    return [oid for when, oid in sorted(partitions.items()) if first < when <= day]


_STATE_COLUMNS = ("business_date", "customer_id", "last_day", "days", "recent_days", "cents")


def window_state(
    conn: psycopg.Connection, day: dt.date, partitions: dict[dt.date, int] | None = None
) -> str:
    """Make sure `day`'s window state is in place (in the caller's transaction) and say how:
    "kept" (made earlier, of the partitions in place now), "from previous" (the previous
    date's state, made of the partitions in place now, and the days entering and leaving
    the window) or "from window" (the window's partitions of customer_days). `partitions`:
    _window_partitions' answer, when the caller has it."""
    partitions = _window_partitions(conn, day) if partitions is None else partitions
    wanted = _of_window(partitions, day)
    previous = day - dt.timedelta(days=1)
    made = dict(
        conn.execute(
            sql.SQL(
                "SELECT business_date, partitions FROM {} WHERE business_date = ANY(%s) "
                "AND to_regclass(%s || to_char(business_date, 'YYYYMMDD')) IS NOT NULL"
            ).format(sql.Identifier(SOURCES)),
            [[day, previous], f"{WINDOWS}_"],
        ).fetchall()
    )
    if made.get(day) == wanted:
        return "kept"
    if made.get(previous) == _of_window(partitions, previous):
        _make_state(conn, day, wanted, _STATE_FROM_PREVIOUS_SQL, parallel=False)
        return "from previous"
    _make_state(
        conn, day, wanted, _STATE_FROM_WINDOW_SQL, parallel=len(wanted) >= PARALLEL_FROM_DAYS
    )
    return "from window"


def _make_state(
    conn: psycopg.Connection, day: dt.date, sources: list[int], query: str, *, parallel: bool
) -> None:
    """Replace `day`'s state by `query`'s, a partition of customer_windows, with its
    sources."""
    name = state_name(day)
    state, bound = sql.Identifier(name), f"{name}_bound"
    drop_partition(conn, WINDOWS, name)
    delete = sql.SQL("DELETE FROM {} WHERE business_date = %s").format(sql.Identifier(SOURCES))
    conn.execute(delete, [day])
    # a few partitions: workers' partial groups would be as many as the rows
    workers = "DEFAULT" if parallel else "0"
    conn.execute(f"SET LOCAL max_parallel_workers_per_gather = {workers}")
    params = {"day": day, "rfm_days": RFM_DAYS, "repeat_days": REPEAT_DAYS}
    conn.execute(sql.SQL(query).format(state=state), params)
    conn.execute("SET LOCAL max_parallel_workers_per_gather = 0")  # the section's scan
    constrain_for_day(conn, name, _STATE_COLUMNS, day, bound)
    next_day = day + dt.timedelta(days=1)
    attach_partition(conn, WINDOWS, name, sql.Literal(day), sql.Literal(next_day), bound)
    conn.execute(
        sql.SQL("INSERT INTO {} (business_date, partitions) VALUES (%s, %s)").format(
            sql.Identifier(SOURCES)
        ),
        [day, sources],
    )


def prune_window_states(conn: psycopg.Connection, day: dt.date) -> None:
    """Drop the window states but `day`'s and the newest others (KEEP_STATES in all), each
    in a transaction of its own that gives up at once on a lock held by someone else (a
    metrics run reading it: the next run prunes it)."""
    table = sql.Identifier(SOURCES)
    kept = conn.execute(
        sql.SQL("SELECT business_date FROM {} ORDER BY business_date DESC").format(table)
    ).fetchall()
    newest = [d for (d,) in kept if d != day][: KEEP_STATES - 1]
    for (old,) in kept:
        if old == day or old in newest:
            continue
        try:
            with conn.transaction():
                conn.execute("SET LOCAL lock_timeout = '100ms'")
                drop_partition(conn, WINDOWS, state_name(old))
                conn.execute(
                    sql.SQL("DELETE FROM {} WHERE business_date = %s").format(table), [old]
                )
        except psycopg.errors.LockNotAvailable:
            continue


def customers_section(conn: psycopg.Connection, day: dt.date) -> dict[str, Any]:
    """The Customers section of `day` (repeat rate, cohorts, segments), JSON-ready."""
    months = cohort_months(day)
    params = {
        "day": day,
        "rfm_days": RFM_DAYS,
        "repeat_days": REPEAT_DAYS,
        "cohorts_from": _midnight(dt.date.fromisoformat(f"{months[0]}-01")),
        "new_from": _midnight(day - dt.timedelta(days=NEW_DAYS - 1)),
        "day_end": _midnight(day + dt.timedelta(days=1)),
    }
    with conn.cursor(row_factory=dict_row) as cur:
        for_day_scans(conn)
        # customer_days as a whole has no statistics (autovacuum never analyzes a
        # partitioned table; ANALYZE of it reads every partition): the planner guesses 200
        # customers in the window and sorts them; a hash table is right for any window
        cur.execute("SET LOCAL enable_sort = off")
        cur.execute("SET LOCAL max_parallel_workers_per_gather = 0")  # see PARALLEL_FROM_DAYS
        partitions = _window_partitions(conn, day)
        if len(_of_window(partitions, day)) >= STATE_FROM_DAYS:
            window_state(conn, day, partitions)
            per_customer = _PER_CUSTOMER_FROM_STATE
        else:
            per_customer = _PER_CUSTOMER_FROM_WINDOW
        query = CUSTOMERS_SECTION_SQL.format(per_customer=per_customer)
        rows = cur.execute(query, params).fetchall()
    signed_up = {r["month"]: int(r["customers"]) for r in rows if r["segment"] is None}
    bought = [r for r in rows if r["segment"] is not None]
    buyers = sum(int(r["customers"]) for r in bought if r["recent_days"] >= 1)
    repeaters = sum(int(r["customers"]) for r in bought if r["recent_days"] >= 2)
    buying: dict[str, int] = {}
    segments = {name: [0, 0.0] for name in SEGMENTS}
    for r in bought:
        segments[r["segment"]][0] += int(r["customers"])
        segments[r["segment"]][1] += r["cents"]
        if r["month"] is not None and r["recent_days"] >= 1:
            buying[r["month"]] = buying.get(r["month"], 0) + int(r["customers"])
    return {
        "repeat_days": REPEAT_DAYS,
        "buyers": buyers,
        "repeat_buyers": repeaters,
        "repeat_rate": round(100 * repeaters / buyers, 2) if buyers else 0.0,
        "cohorts": [
            {
                "month": month,
                "signed_up": signed_up.get(month, 0),
                "buying": buying.get(month, 0),
            }
            for month in months
        ],
        "rfm_days": RFM_DAYS,
        "segments": [
            {
                "segment": name,
                "customers": customers,
                "sales": float(round(Decimal(cents) / 100, 2)),
            }
            for name, (customers, cents) in segments.items()
        ],
    }
