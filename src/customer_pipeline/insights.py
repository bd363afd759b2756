"""What the daily report shows beyond the stored KPIs, computed in SQL over the loaded rows.

- sales by product category, by store type and by hour of the day (UTC);
- the top 5 products, customers (e-mail addresses masked) and stores;
- the KPIs of the 7 business dates before the day, from ``daily_metrics``.

Two scans of the day's partition: one for every small grouping (category, store type,
hour, product, store: one hash table each, in a single pass), one for the per-customer
totals (the largest hash table, summed in integer cents). Ties go to the smaller id, as
in :mod:`customer_pipeline.metrics`, so the first of each top 5 is the KPI's top entity.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import dict_row

from customer_pipeline.database import connect
from customer_pipeline.settings import Settings

TOP = 5
HISTORY_DAYS = 7

#: Sales per category, store type, hour, product and store in one pass, with the
#: dimension attributes joined in (small tables: hash joins); all categories, store
#: types and hours, and the top products and stores.
GROUPED_SQL = """
WITH grouped AS (
    SELECT GROUPING(p.category, s.store_type, h.hour, t.product_id, t.store_id) AS grouping_set,
           p.category, s.store_type, h.hour, t.product_id, t.store_id,
           count(*) AS transactions,
           sum(t.quantity) AS quantity,
           sum((t.transaction_amount * 100)::bigint) AS cents
    FROM transactions t
    JOIN products p ON p.product_id = t.product_id
    JOIN stores s ON s.store_id = t.store_id
    CROSS JOIN LATERAL (
        SELECT extract(hour FROM t.transaction_date AT TIME ZONE 'UTC')::int AS hour
    ) h
    WHERE t.business_date = %(day)s
    GROUP BY GROUPING SETS ((p.category), (s.store_type), (h.hour), (t.product_id), (t.store_id))
), ranked AS (
    SELECT grouped.*, row_number() OVER (
        PARTITION BY grouping_set ORDER BY cents DESC, product_id, store_id) AS rank
    FROM grouped
)
SELECT ranked.grouping_set, ranked.category, ranked.store_type, ranked.hour,
       ranked.product_id, ranked.store_id, ranked.transactions, ranked.quantity, ranked.cents,
       ranked.rank, p.product_name, p.category AS product_category,
       s.store_name, s.location, s.store_type AS type_of_store
FROM ranked
LEFT JOIN products p ON p.product_id = ranked.product_id
LEFT JOIN stores s ON s.store_id = ranked.store_id
WHERE (ranked.product_id IS NULL AND ranked.store_id IS NULL) OR ranked.rank <= %(top)s
ORDER BY ranked.grouping_set, ranked.rank
"""

#: GROUPING() of GROUPED_SQL's sets: a bit per column not grouped (category is the MSB).
_BY_CATEGORY, _BY_STORE_TYPE, _BY_HOUR, _BY_PRODUCT, _BY_STORE = 15, 23, 27, 29, 30

#: The top customers, with what the report shows of them (names and e-mail).
TOP_CUSTOMERS_SQL = """
WITH per_customer AS MATERIALIZED (
    SELECT customer_id, count(*) AS transactions, sum(quantity) AS quantity,
           sum((transaction_amount * 100)::bigint) AS cents
    FROM transactions
    WHERE business_date = %(day)s
    GROUP BY customer_id
), top AS (
    SELECT * FROM per_customer ORDER BY cents DESC, customer_id LIMIT %(top)s
)
SELECT top.customer_id::text AS customer_id, c.first_name, c.last_name, c.email,
       top.transactions, top.quantity, top.cents
FROM top
JOIN customers c ON c.customer_id = top.customer_id
ORDER BY top.cents DESC, top.customer_id
"""

#: The KPIs of the days before, oldest first.
HISTORY_SQL = """
SELECT business_date, transaction_count, total_sales, total_quantity_sold,
       average_transaction_amount, min_transaction_amount, max_transaction_amount,
       unique_customers
FROM daily_metrics
WHERE business_date >= %(day)s::date - %(days)s AND business_date < %(day)s
ORDER BY business_date
"""


@dataclass(frozen=True)
class Group:
    """One row of a breakdown: sales of a category, a store type, an hour."""

    name: str
    transactions: int
    quantity: int
    sales: float


@dataclass(frozen=True)
class Ranked:
    """One of a top 5: an id, a name, what to show under the name, and the figures."""

    rank: int
    id: str
    name: str
    detail: str
    transactions: int
    quantity: int
    sales: float


@dataclass(frozen=True)
class Insights:
    """Everything the report needs besides the KPI document, for one business date."""

    business_date: dt.date
    by_category: tuple[Group, ...] = ()
    by_store_type: tuple[Group, ...] = ()
    by_hour: tuple[Group, ...] = ()  # 24 rows, "00" to "23" (UTC), zeros included
    top_products: tuple[Ranked, ...] = ()
    top_customers: tuple[Ranked, ...] = ()
    top_stores: tuple[Ranked, ...] = ()
    #: KPIs of up to HISTORY_DAYS dates before business_date (oldest first), as stored in
    #: daily_metrics: business_date (a date) and the KPI keys of the metrics document.
    history: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)

    def previous_day(self) -> Mapping[str, Any] | None:
        """The KPIs of the date before, when they were calculated."""
        before = self.business_date - dt.timedelta(days=1)
        return next((day for day in self.history if day["business_date"] == before), None)


def mask_email(address: str | None) -> str:
    """``jane.doe@gmail.com`` -> ``j***@gmail.com``: enough to recognise, not to use."""
    if not address:
        return ""
    local, at, domain = address.strip().rpartition("@")
    if not at:  # not an address: show nothing of it
        return "***"
    return f"{local[:1]}***@{domain}"


def _money(cents: int | Decimal | None) -> float:
    return float(round(Decimal(cents or 0) / 100, 2))


def _number(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def compute_insights(conn: psycopg.Connection, day: dt.date, *, top: int = TOP) -> Insights:
    """The day's breakdowns, top lists and history, from the loaded rows."""
    params = {"day": day, "top": top, "days": HISTORY_DAYS}
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SET LOCAL work_mem = '256MB'")  # the hash tables stay in memory
        grouped = cur.execute(GROUPED_SQL, params).fetchall()
        customers = cur.execute(TOP_CUSTOMERS_SQL, params).fetchall()
        history = cur.execute(HISTORY_SQL, params).fetchall()

    def rows(grouping: int) -> list[dict[str, Any]]:
        return [row for row in grouped if row["grouping_set"] == grouping]

    def groups(grouping: int, key: str) -> tuple[Group, ...]:
        return tuple(
            Group(
                str(row[key]), int(row["transactions"]), int(row["quantity"]), _money(row["cents"])
            )
            for row in rows(grouping)
        )

    hours = {int(row["hour"]): row for row in rows(_BY_HOUR)}
    by_hour = tuple(
        Group(
            f"{hour:02d}",
            int(hours[hour]["transactions"]) if hour in hours else 0,
            int(hours[hour]["quantity"]) if hour in hours else 0,
            _money(hours[hour]["cents"]) if hour in hours else 0.0,
        )
        for hour in range(24)
    )
    products = tuple(
        Ranked(
            int(row["rank"]),
            str(row["product_id"]),
            row["product_name"],
            row["product_category"],
            int(row["transactions"]),
            int(row["quantity"]),
            _money(row["cents"]),
        )
        for row in rows(_BY_PRODUCT)
    )
    stores = tuple(
        Ranked(
            int(row["rank"]),
            str(row["store_id"]),
            row["store_name"],
            f"{row['location']} · {row['type_of_store']}",
            int(row["transactions"]),
            int(row["quantity"]),
            _money(row["cents"]),
        )
        for row in rows(_BY_STORE)
    )
    top_customers = tuple(
        Ranked(
            rank,
            row["customer_id"],
            f"{row['first_name']} {row['last_name']}",
            mask_email(row["email"]),
            int(row["transactions"]),
            int(row["quantity"]),
            _money(row["cents"]),
        )
        for rank, row in enumerate(customers, start=1)
    )
    return Insights(
        business_date=day,
        by_category=tuple(sorted(groups(_BY_CATEGORY, "category"), key=_by_sales)),
        by_store_type=tuple(sorted(groups(_BY_STORE_TYPE, "store_type"), key=_by_sales)),
        by_hour=by_hour,
        top_products=products,
        top_customers=top_customers,
        top_stores=stores,
        history=tuple({key: _number(value) for key, value in row.items()} for row in history),
    )


def _by_sales(group: Group) -> tuple[float, str]:
    return (-group.sales, group.name)


def collect_insights(settings: Settings, day: dt.date) -> Insights:
    """The report's extra figures for `day` (read only: nothing is stored)."""
    with connect(settings) as conn:
        return compute_insights(conn, day)
