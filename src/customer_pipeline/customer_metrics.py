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

from customer_pipeline.database import for_day_scans

REPEAT_DAYS = 30
RFM_DAYS = 90
COHORT_MONTHS = 6
NEW_DAYS = 30
#: The segments, in the report's order.
SEGMENTS = ("champions", "loyal", "new", "at risk", "occasional", "lost")

#: Uniform rows (kind, key, customers, buyers, cents): the segments, the repeat buyers
#: (customers: who bought in REPEAT_DAYS days; buyers: on 2+ days), the cohorts
#: (customers: signed up; buyers: of them, bought in REPEAT_DAYS days). The sign-ups (of
#: NEW_DAYS days, of COHORT_MONTHS months, by the customers' created_at index) meet the
#: window's buyers in hashed subplans: one hash table of the smaller side, whatever the
#: planner estimates of the window (it has no statistics of customer_days as a whole).
CUSTOMERS_SECTION_SQL = """
WITH per_customer AS MATERIALIZED (
    SELECT customer_id, %(day)s::date - max(business_date) AS recency, count(*) AS days,
           count(*) FILTER (WHERE business_date > %(day)s::date - %(repeat_days)s)
               AS recent_days,
           -- float8: summed in place (a bigint's sum keeps a numeric state per customer,
           -- serialized between the parallel workers), and exact: integers below 2^53
           sum(cents::float8) AS cents
    FROM customer_days  -- one row per customer and day bought on
    WHERE business_date > %(day)s::date - %(rfm_days)s AND business_date <= %(day)s
    GROUP BY customer_id
), segmented AS (
    SELECT recent_days, cents, CASE
        WHEN recency < 14 AND days >= 6 THEN 'champions'
        WHEN recency < 30 AND days >= 3 THEN 'loyal'
        WHEN customer_id IN (
            SELECT customer_id FROM customers
            WHERE created_at >= %(new_from)s AND created_at < %(day_end)s) THEN 'new'
        WHEN recency < 60 AND days >= 3 THEN 'at risk'
        WHEN recency >= 60 THEN 'lost'
        ELSE 'occasional'
    END AS segment
    FROM per_customer
)
SELECT 'segment' AS kind, segment AS key, count(*) AS customers, NULL::bigint AS buyers,
       sum(cents) AS cents
FROM segmented GROUP BY segment
UNION ALL
SELECT 'repeat', '', count(*) FILTER (WHERE recent_days >= 1),
       count(*) FILTER (WHERE recent_days >= 2), NULL
FROM per_customer
UNION ALL
SELECT 'cohort', to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM'), count(*),
       count(*) FILTER (WHERE customer_id IN (
           SELECT customer_id FROM per_customer WHERE recent_days >= 1)), NULL
FROM customers
WHERE created_at >= %(cohorts_from)s AND created_at < %(day_end)s
GROUP BY 2
"""


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
        rows = cur.execute(CUSTOMERS_SECTION_SQL, params).fetchall()
    segments = {r["key"]: r for r in rows if r["kind"] == "segment"}
    cohorts = {r["key"]: r for r in rows if r["kind"] == "cohort"}
    repeat = next(r for r in rows if r["kind"] == "repeat")
    buyers, repeaters = int(repeat["customers"]), int(repeat["buyers"])
    return {
        "repeat_days": REPEAT_DAYS,
        "buyers": buyers,
        "repeat_buyers": repeaters,
        "repeat_rate": round(100 * repeaters / buyers, 2) if buyers else 0.0,
        "cohorts": [
            {
                "month": month,
                "signed_up": int(cohorts[month]["customers"]) if month in cohorts else 0,
                "buying": int(cohorts[month]["buyers"]) if month in cohorts else 0,
            }
            for month in months
        ],
        "rfm_days": RFM_DAYS,
        "segments": [
            {
                "segment": name,
                "customers": int(segments[name]["customers"]) if name in segments else 0,
                "sales": float(round(Decimal(segments[name]["cents"]) / 100, 2))
                if name in segments
                else 0.0,
            }
            for name in SEGMENTS
        ],
    }
