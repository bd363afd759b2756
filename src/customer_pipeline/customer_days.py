"""customer_days: the day's lines summed per customer, one partition per business date.

One row per customer and business date they bought on (lines, quantity, cents, first
purchase, baskets), the GROUP BY customer_id of that day's transactions. The day's load
writes it in the transaction that swaps in the day's transactions partition
(:func:`replace_day`): it always equals the loaded lines, whatever the order the days
were loaded in, and a re-run or a reload of a day replaces it with the day's lines.

The readers get a day's buyers instead of its lines: the day's per-customer KPIs (distinct,
top and new customers) and its receipts (the sum of the customers' baskets: a basket has one
customer), the checks of the day's baskets, new buyers and sign-ups, and the
Customers section, whose window of RFM_DAYS days is RFM_DAYS partitions of buyers.
"""

from __future__ import annotations

import datetime as dt

import psycopg
from psycopg import sql

from customer_pipeline.database import (
    attach_partition,
    constrain_for_day,
    drop_partition,
    for_day_scans,
)

CUSTOMER_DAYS = "customer_days"

#: The day's lines per customer, through its baskets: the lines summed per basket (a
#: basket has one customer: issue 11's receipt), then per customer, so that the count of
#: the customer's baskets comes with the sums (a COUNT(DISTINCT) per customer would sort
#: the day's lines). The per-basket sums are integers, so that the second pass sums
#: integers, not numerics (dearer per row). Created as a query result (CREATE TABLE AS:
#: read by parallel workers; INSERT ... SELECT never is).
_SUMMARY_SQL = """
CREATE TABLE {partition} AS
SELECT {day}::date AS business_date, customer_id, sum(lines)::integer AS lines,
       sum(quantity)::bigint AS quantity, sum(cents)::bigint AS cents,
       min(first_purchase) AS first_purchase, count(*)::integer AS baskets
FROM (
    SELECT customer_id, basket_id, count(*)::integer AS lines,
           sum(quantity)::integer AS quantity,
           sum((transaction_amount * 100)::bigint)::bigint AS cents,
           min(transaction_date) AS first_purchase
    FROM {source} WHERE business_date = {day}
    GROUP BY customer_id, basket_id
) per_basket
GROUP BY customer_id
"""

_COLUMNS = (
    "business_date",
    "customer_id",
    "lines",
    "quantity",
    "cents",
    "first_purchase",
    "baskets",
)


def partition_name(day: dt.date) -> str:
    return f"{CUSTOMER_DAYS}_{day:%Y%m%d}"


def replace_day(conn: psycopg.Connection, day: dt.date, *, summed: str | None = None) -> None:
    """Replace the day's partition of customer_days by the sums of the day's lines (no
    lines: an empty partition), atomically. The load calls it in its swap transaction,
    once the day's transactions partition is in; whoever changes a day's lines by other
    means (by hand, in SQL) calls it after them. `summed`: a table that sum_day made
    already from the same lines (the load's, beside its merge), put in place as it is."""
    name = partition_name(day)
    partition, bound = sql.Identifier(name), f"{name}_bound"
    with conn.transaction():
        drop_partition(conn, CUSTOMER_DAYS, name)
        if summed is None:
            sum_day(conn, day, name, "transactions")
        else:
            conn.execute(
                sql.SQL("ALTER TABLE {} RENAME TO {}").format(sql.Identifier(summed), partition)
            )
        next_day = sql.Literal(day + dt.timedelta(days=1))
        attach_partition(conn, CUSTOMER_DAYS, name, sql.Literal(day), next_day, bound)


def sum_day(conn: psycopg.Connection, day: dt.date, name: str, source: str) -> None:
    """Create table `name`, ready to be attached as `day`'s partition of customer_days (the
    bound named after partition_name(day)) and analyzed: the sums of `source`'s lines of
    `day`."""
    table, bound = sql.Identifier(name), f"{partition_name(day)}_bound"
    with conn.transaction():
        # hashed: the partitioned transactions has no statistics of its own, so the planner
        # guesses 200 customers (and would sort them)
        for_day_scans(conn)
        conn.execute("SET LOCAL enable_sort = off")
        # one process: the per-basket groups are nearly as many as the lines, so workers'
        # partial groups would only add a serial merge of as many (the same time, on three
        # cores instead of one: the load builds the lines' key beside it)
        conn.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        conn.execute(
            sql.SQL(_SUMMARY_SQL).format(
                partition=table, source=sql.Identifier(source), day=sql.Literal(day)
            )
        )
        # the caller's own, from here on
        for setting in ("work_mem", "jit", "enable_sort", "max_parallel_workers_per_gather"):
            conn.execute(f"SET LOCAL {setting} = DEFAULT")
        constrain_for_day(conn, name, _COLUMNS, day, bound)
        conn.execute(sql.SQL("ANALYZE {}").format(table))  # its readers come next
