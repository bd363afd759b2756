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
SELECT count(*)                                    AS transaction_count,
       COALESCE(sum(transaction_amount), 0)        AS total_sales,
       COALESCE(sum(quantity), 0)                  AS total_quantity_sold,
       COALESCE(round(avg(transaction_amount), 2), 0) AS average_transaction_amount,
       COALESCE(min(transaction_amount), 0)        AS min_transaction_amount,
       COALESCE(max(transaction_amount), 0)        AS max_transaction_amount,
       count(DISTINCT customer_id)                 AS unique_customers
FROM transactions
WHERE business_date = %(day)s
"""

TOP_PRODUCT_SQL = """
SELECT t.product_id, p.product_name, sum(t.transaction_amount) AS sales
FROM transactions t JOIN products p USING (product_id)
WHERE t.business_date = %(day)s
GROUP BY t.product_id, p.product_name
ORDER BY sales DESC, t.product_id
LIMIT 1
"""

TOP_CUSTOMER_SQL = """
SELECT t.customer_id::text AS customer_id, c.first_name, c.last_name,
       sum(t.transaction_amount) AS sales
FROM transactions t JOIN customers c USING (customer_id)
WHERE t.business_date = %(day)s
GROUP BY t.customer_id, c.first_name, c.last_name
ORDER BY sales DESC, t.customer_id
LIMIT 1
"""

TOP_STORE_SQL = """
SELECT t.store_id, s.store_name, sum(t.transaction_amount) AS sales
FROM transactions t JOIN stores s USING (store_id)
WHERE t.business_date = %(day)s
GROUP BY t.store_id, s.store_name
ORDER BY sales DESC, t.store_id
LIMIT 1
"""

PAYMENT_METHODS_SQL = """
SELECT payment_method, count(*) AS count, sum(transaction_amount) AS sales
FROM transactions
WHERE business_date = %(day)s
GROUP BY payment_method
ORDER BY payment_method
"""

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

MONEY_KEYS = (
    "total_sales",
    "average_transaction_amount",
    "min_transaction_amount",
    "max_transaction_amount",
    "sales",
)


def _plain(row: dict[str, Any] | None) -> dict[str, Any] | None:
    """Decimals to numbers rounded to cents, counts to ints: JSON-ready."""
    if row is None:
        return None
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, Decimal):
            value = float(round(value, 2)) if key in MONEY_KEYS else int(value)
        out[key] = value
    return out


def compute_metrics(conn: psycopg.Connection, day: dt.date) -> dict[str, Any]:
    """The KPI document of one business date, from the loaded rows."""
    params = {"day": day}
    with conn.cursor(row_factory=dict_row) as cur:
        totals = _plain(cur.execute(TOTALS_SQL, params).fetchone())
        top_product = _plain(cur.execute(TOP_PRODUCT_SQL, params).fetchone())
        top_customer = _plain(cur.execute(TOP_CUSTOMER_SQL, params).fetchone())
        top_store = _plain(cur.execute(TOP_STORE_SQL, params).fetchone())
        methods = cur.execute(PAYMENT_METHODS_SQL, params).fetchall()
    assert totals is not None
    return {
        "business_date": day.isoformat(),
        **totals,
        "top_product": top_product,
        "top_customer": top_customer,
        "top_store": top_store,
        "payment_methods": {
            row["payment_method"]: {"count": row["count"], "sales": float(round(row["sales"], 2))}
            for row in methods
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
