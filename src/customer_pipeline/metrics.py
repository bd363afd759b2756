"""Step 4, calculate_metrics: the day's KPIs, in SQL, stored in daily_metrics.

Money is rounded to cents; "top" entities break ties by the smaller id. A day without
transactions gives zeros and nulls.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from customer_pipeline.database import connect
from customer_pipeline.settings import Settings

TOTALS_SQL = """
SELECT count(*) AS transactions, sum(transaction_amount) AS sales, sum(quantity) AS quantity,
       round(avg(transaction_amount), 2) AS average,
       min(transaction_amount) AS smallest, max(transaction_amount) AS largest
FROM transactions
WHERE business_date = %(day)s
"""

#: Sales per product, per store and per payment method in one pass (small hash tables);
#: the top product and store (ties to the smaller id) and every payment method.
BY_PRODUCT_STORE_METHOD_SQL = """
WITH grouped AS (
    SELECT GROUPING(product_id, store_id, payment_method) AS grouping_set,
           product_id, store_id, payment_method,
           count(*) AS transactions, sum(transaction_amount) AS sales
    FROM transactions
    WHERE business_date = %(day)s
    GROUP BY GROUPING SETS ((product_id), (store_id), (payment_method))
)
SELECT * FROM (
    SELECT grouped.*, row_number() OVER (
        PARTITION BY grouping_set ORDER BY sales DESC, product_id, store_id) AS rank
    FROM grouped
) ranked
WHERE rank = 1 OR payment_method IS NOT NULL
ORDER BY grouping_set, payment_method
"""

#: The number of distinct customers and the top one (ties to the smaller id). Summed in
#: integer cents: the per-customer hash table is the largest, and bigint adds are cheap.
BY_CUSTOMER_SQL = """
WITH per_customer AS MATERIALIZED (
    SELECT customer_id, sum((transaction_amount * 100)::bigint) AS cents
    FROM transactions
    WHERE business_date = %(day)s
    GROUP BY customer_id
)
SELECT (SELECT count(*) FROM per_customer) AS customers,
       customer_id::text AS customer_id, cents / 100.0 AS sales
FROM per_customer
ORDER BY cents DESC, customer_id
LIMIT 1
"""

#: GROUPING() of BY_PRODUCT_STORE_METHOD_SQL's sets: the bit of each column not grouped.
_BY_PRODUCT, _BY_STORE, _BY_METHOD = 3, 5, 6

NAMES_SQL = {
    "product": "SELECT product_name FROM products WHERE product_id = %s",
    "customer": "SELECT first_name, last_name FROM customers WHERE customer_id = %s",
    "store": "SELECT store_name FROM stores WHERE store_id = %s",
}

UPSERT_SQL = """
INSERT INTO daily_metrics (
    business_date, transaction_count, total_sales, total_quantity_sold,
    average_transaction_amount, min_transaction_amount, max_transaction_amount,
    unique_customers, top_product_id, top_customer_id, top_store_id, payment_methods, metrics)
VALUES (%(business_date)s, %(transaction_count)s, %(total_sales)s, %(total_quantity_sold)s,
        %(average_transaction_amount)s, %(min_transaction_amount)s, %(max_transaction_amount)s,
        %(unique_customers)s, %(top_product_id)s, %(top_customer_id)s, %(top_store_id)s,
        %(payment_methods)s, %(metrics)s)
ON CONFLICT (business_date) DO UPDATE SET
    transaction_count = EXCLUDED.transaction_count,
    total_sales = EXCLUDED.total_sales,
    total_quantity_sold = EXCLUDED.total_quantity_sold,
    average_transaction_amount = EXCLUDED.average_transaction_amount,
    min_transaction_amount = EXCLUDED.min_transaction_amount,
    max_transaction_amount = EXCLUDED.max_transaction_amount,
    unique_customers = EXCLUDED.unique_customers,
    top_product_id = EXCLUDED.top_product_id,
    top_customer_id = EXCLUDED.top_customer_id,
    top_store_id = EXCLUDED.top_store_id,
    payment_methods = EXCLUDED.payment_methods,
    metrics = EXCLUDED.metrics,
    calculated_at = now()
"""


def _money(value: Decimal | None) -> float:
    return float(round(value or Decimal(0), 2))


def compute_metrics(conn: psycopg.Connection, day: dt.date) -> dict[str, Any]:
    """The KPI document of one business date, from the loaded rows."""
    params = {"day": day}
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SET LOCAL work_mem = '256MB'")  # the per-customer hash stays in memory
        totals = cur.execute(TOTALS_SQL, params).fetchone() or {}
        grouped = cur.execute(BY_PRODUCT_STORE_METHOD_SQL, params).fetchall()
        customers = cur.execute(BY_CUSTOMER_SQL, params).fetchone()
    sets = {row["grouping_set"]: row for row in grouped}

    def top(row: dict[str, Any] | None, kind: str, key: str) -> dict[str, Any] | None:
        if row is None:
            return None
        names = conn.cursor(row_factory=dict_row).execute(NAMES_SQL[kind], [row[key]]).fetchone()
        return {key: row[key], **(names or {}), "sales": _money(row["sales"])}

    return {
        "business_date": day.isoformat(),
        "transaction_count": int(totals.get("transactions") or 0),
        "total_sales": _money(totals.get("sales")),
        "total_quantity_sold": int(totals.get("quantity") or 0),
        "average_transaction_amount": _money(totals.get("average")),
        "min_transaction_amount": _money(totals.get("smallest")),
        "max_transaction_amount": _money(totals.get("largest")),
        "unique_customers": int(customers["customers"]) if customers else 0,
        "top_product": top(sets.get(_BY_PRODUCT), "product", "product_id"),
        "top_customer": top(customers, "customer", "customer_id"),
        "top_store": top(sets.get(_BY_STORE), "store", "store_id"),
        "payment_methods": {
            row["payment_method"]: {
                "count": int(row["transactions"]),
                "sales": _money(row["sales"]),
            }
            for row in grouped
            if row["grouping_set"] == _BY_METHOD
        },
    }


def calculate_metrics(settings: Settings, day: dt.date) -> dict[str, Any]:
    """Compute the day's KPIs and store them in daily_metrics (replacing earlier ones)."""
    with connect(settings) as conn:
        metrics = compute_metrics(conn, day)
        conn.execute(UPSERT_SQL, _row(metrics))
    return metrics


def _row(metrics: dict[str, Any]) -> dict[str, Any]:
    def key(name: str, field: str) -> Any:
        return (metrics[name] or {}).get(field)

    return {
        **{k: v for k, v in metrics.items() if not isinstance(v, dict | None)},
        "top_product_id": key("top_product", "product_id"),
        "top_customer_id": key("top_customer", "customer_id"),
        "top_store_id": key("top_store", "store_id"),
        "payment_methods": Jsonb(metrics["payment_methods"]),
        "metrics": Jsonb(metrics),
    }


def stored_metrics(settings: Settings, day: dt.date) -> dict[str, Any] | None:
    """The KPI document stored for a date, or None when it was never calculated."""
    with connect(settings) as conn:
        row = conn.execute(
            "SELECT metrics FROM daily_metrics WHERE business_date = %s", [day]
        ).fetchone()
    return None if row is None else row[0]


def to_json(metrics: dict[str, Any]) -> str:
    return json.dumps(metrics, indent=2)
