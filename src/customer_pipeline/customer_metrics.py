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
day bought on), never from the lines: RFM_DAYS partitions of a day's buyers each.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import dict_row

from customer_pipeline.customer_days import CUSTOMER_DAYS
from customer_pipeline.database import for_day_scans, partition_days

REPEAT_DAYS = 30
RFM_DAYS = 90
COHORT_MONTHS = 6
NEW_DAYS = 30
#: The segments, in the report's order.
SEGMENTS = ("champions", "loyal", "new", "at risk", "occasional", "lost")

#: The window's buyers, counted by (segment, sign-up month if in the last COHORT_MONTHS
#: months, days bought on in REPEAT_DAYS capped at 2): customers and their cents; then the
#: sign-ups of each of those months (segment and recent days NULL). Python rolls the
#: segments, the repeat buyers and the cohorts up from these few dozen rows. The window's
#: buyers meet the months' sign-ups (by the customers' created_at index) in one hash join,
#: one pass over the window's customers for every figure.
CUSTOMERS_SECTION_SQL = """
WITH per_customer AS (
    SELECT customer_id, %(day)s::date - max(business_date) AS recency, count(*) AS days,
           count(*) FILTER (WHERE business_date > %(day)s::date - %(repeat_days)s)
               AS recent_days,
           -- float8: summed in place (a bigint's sum keeps a numeric state per customer),
           -- and exact: integers below 2^53
           sum(cents::float8) AS cents
    FROM customer_days  -- one row per customer and day bought on
    WHERE business_date > %(day)s::date - %(rfm_days)s AND business_date <= %(day)s
    GROUP BY customer_id
), signups AS MATERIALIZED (
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

#: Days of buyers in the window from which the window's aggregate is planned for parallel
#: workers. Below, one process is faster: the workers' partial groups are nearly as many
#: as the rows (each customer on few of the window's days), and merging them is serial
#: (1M scale: 2 days 1.8 s alone against 2.3-3.2 s with workers, 30 days 5.0 against 7.4;
#: at 90 days the workers win, 10.5-11.2 s against 13.7-14.3).
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
        window = partition_days(conn, CUSTOMER_DAYS, day - dt.timedelta(days=RFM_DAYS), day)
        if len(window) < PARALLEL_FROM_DAYS:
            cur.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        rows = cur.execute(CUSTOMERS_SECTION_SQL, params).fetchall()
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
