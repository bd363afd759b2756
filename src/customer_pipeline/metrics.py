"""Step 4, calculate_metrics: the day's KPIs, in SQL, stored in daily_metrics.

The report's breakdowns and top 5s (:mod:`customer_pipeline.insights`) come out of the
same queries and are stored beside the KPIs. They read the day's partitions alone: three
parallel scans of its lines (by store and payment method, by product and promotion, by
hour), its customer_days (:mod:`customer_pipeline.customer_days`: the
day's buyers, for the distinct, top and new customers and the receipts), the day's
returns and changed customers by their indexes, and the small dimensions.

Money is rounded to cents; "top" entities break ties by the smaller id. A day without
transactions gives zeros and nulls.

After the KPIs, the document carries their baselines and changes
(:mod:`customer_pipeline.baselines`, from the stored KPIs of earlier days) and the
Customers section (:mod:`customer_pipeline.customer_metrics`); both are also stored in
columns of their own, for SQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Json, Jsonb

from customer_pipeline.baselines import kpi_baselines, load_history
from customer_pipeline.customer_metrics import customers_section, prune_window_states
from customer_pipeline.database import (
    cancel_until_done,
    connect,
    for_day_scans,
    shared_snapshot,
)
from customer_pipeline.insights import TOP, Group, Insights, Ranked, mask_email, to_document
from customer_pipeline.returns import MAX_DELAY_DAYS
from customer_pipeline.schema import schema_lock
from customer_pipeline.settings import Settings

#: The day's KPIs and breakdowns, as uniform rows (kind, key, name, detail, figures): three
#: GROUP BYs (store and payment method, product and promotion, hour), each a small hash
#: table that PostgreSQL fills with parallel workers (GROUPING SETS would be one scan, but
#: never a parallel one: slower on two cores). Payment methods, stores and the day's totals
#: roll up from the first; products and the promotions' figures (kind "promotion", key its
#: id, '' for none: the lines, their sales and discounts) from the second; categories and
#: store types from the products and stores sold.
BREAKDOWNS_SQL = """
WITH by_store_method AS MATERIALIZED (
    SELECT store_id, payment_method, count(*) AS transactions, sum(quantity) AS quantity,
           sum(transaction_amount) AS sales, min(transaction_amount) AS smallest,
           max(transaction_amount) AS largest
    FROM transactions WHERE business_date = %(day)s GROUP BY store_id, payment_method
), by_method AS MATERIALIZED (
    SELECT payment_method, sum(transactions) AS transactions, sum(quantity) AS quantity,
           sum(sales) AS sales, min(smallest) AS smallest, max(largest) AS largest
    FROM by_store_method GROUP BY payment_method
), by_store AS MATERIALIZED (
    SELECT store_id, sum(transactions) AS transactions, sum(quantity) AS quantity,
           sum(sales) AS sales
    FROM by_store_method GROUP BY store_id
), by_product_promotion AS MATERIALIZED (
    SELECT product_id, promotion_id, count(*) AS transactions, sum(quantity) AS quantity,
           sum(transaction_amount) AS sales, sum(discount_amount) AS discounts
    FROM transactions WHERE business_date = %(day)s GROUP BY product_id, promotion_id
), by_product AS MATERIALIZED (
    SELECT product_id, sum(transactions) AS transactions, sum(quantity) AS quantity,
           sum(sales) AS sales
    FROM by_product_promotion GROUP BY product_id
), by_hour AS MATERIALIZED (
    -- the stores' local hours (what a sales manager reads: a chain across time zones
    -- peaks at noon everywhere, not at 17:00 UTC): each store's bins of absolute time from
    -- a UTC midnight (cheaper per row than converting every timestamp), each bin then
    -- named by its hour in the store's time zone (the zones' offsets are whole hours)
    SELECT date_part('hour', bins.hour_start AT TIME ZONE s.timezone)::int AS hour,
           sum(bins.transactions) AS transactions, sum(bins.quantity) AS quantity,
           sum(bins.sales) AS sales
    FROM (
        SELECT store_id,
               date_bin('1 hour', transaction_date, '2000-01-01 00:00:00+00') AS hour_start,
               count(*) AS transactions, sum(quantity) AS quantity,
               sum(transaction_amount) AS sales
        FROM transactions WHERE business_date = %(day)s GROUP BY 1, 2
    ) bins JOIN stores s USING (store_id)
    GROUP BY 1
), products_sold AS MATERIALIZED (
    SELECT b.*, p.product_name, p.category FROM by_product b JOIN products p USING (product_id)
), stores_sold AS MATERIALIZED (
    SELECT b.*, s.store_name, s.location, s.store_type
    FROM by_store b JOIN stores s USING (store_id)
)
SELECT 'total' AS kind, '' AS key, '' AS name, '' AS detail, sum(transactions) AS transactions,
       sum(quantity) AS quantity, sum(sales) AS sales, min(smallest) AS smallest,
       max(largest) AS largest, round(sum(sales) / sum(transactions), 2) AS average,
       NULL::numeric AS discounts
FROM by_method
UNION ALL
SELECT 'payment_method', payment_method, payment_method, '', transactions, quantity, sales,
       NULL, NULL, NULL, NULL
FROM by_method
UNION ALL
SELECT 'category', category, category, '', sum(transactions), sum(quantity), sum(sales),
       NULL, NULL, NULL, NULL
FROM products_sold GROUP BY category
UNION ALL
SELECT 'store_type', store_type, store_type, '', sum(transactions), sum(quantity), sum(sales),
       NULL, NULL, NULL, NULL
FROM stores_sold GROUP BY store_type
UNION ALL
SELECT 'hour', lpad(hour::text, 2, '0'), lpad(hour::text, 2, '0'), '', transactions, quantity,
       sales, NULL, NULL, NULL, NULL
FROM by_hour
UNION ALL
SELECT 'promotion', coalesce(promotion_id::text, ''), '', '', sum(transactions),
       sum(quantity), sum(sales), NULL, NULL, NULL, sum(discounts)
FROM by_product_promotion GROUP BY promotion_id
UNION ALL
(SELECT 'product', product_id::text, product_name, category, transactions, quantity, sales,
        NULL, NULL, NULL, NULL
 FROM products_sold ORDER BY sales DESC, product_id LIMIT %(top)s)
UNION ALL
(SELECT 'store', store_id::text, store_name, location || ' · ' || store_type, transactions,
        quantity, sales, NULL, NULL, NULL, NULL
 FROM stores_sold ORDER BY sales DESC, store_id LIMIT %(top)s)
"""

#: Distinct customers, and the top ones (ties to the smaller id) with what the report shows
#: of them: from the day's partition of customer_days (its lines summed per customer).
CUSTOMERS_SQL = """
WITH top AS (
    SELECT customer_id, lines AS transactions, quantity, cents FROM customer_days
    WHERE business_date = %(day)s
    ORDER BY cents DESC, customer_id LIMIT %(top)s
)
SELECT (SELECT count(*) FROM customer_days WHERE business_date = %(day)s) AS customers,
       top.customer_id::text AS customer_id, c.first_name, c.last_name, c.email,
       top.transactions, top.quantity, top.cents
FROM top JOIN customers c USING (customer_id)
ORDER BY top.cents DESC, top.customer_id
"""

#: The basket KPIs' two counts: receipts (the day's customer_days' baskets summed: a basket
#: has one customer, so this is the distinct basket_id of the day's lines, without reading
#: them) and the day's buyers who signed up that day (an account is made at its first
#: purchase, the same day: these are the day's first purchases; generate/transactions
#: first_purchases): the day's sign-ups, found by the created_at index (a
#: handful of rows, not a join with every customer), among the day's customer_days. The
#: averages divide the day's totals by the receipts. A function of the day's lines and the
#: customers alone: a day loaded alone gives the same figures.
BASKETS_SQL = """
SELECT (SELECT coalesce(sum(baskets), 0) FROM customer_days WHERE business_date = %(day)s
       ) AS baskets,
       (SELECT count(*) FROM customer_days
        WHERE business_date = %(day)s AND customer_id IN (
            SELECT customer_id FROM customers
            WHERE created_at >= %(day)s::timestamp AT TIME ZONE 'UTC'
              AND created_at < (%(day)s::date + 1)::timestamp AT TIME ZONE 'UTC')
       ) AS new
"""

#: Every campaign running on the day, with what it applies to (its category, or its
#: product's name); its figures come from BREAKDOWNS_SQL's (:func:`_promotion_rows`).
RUNNING_PROMOTIONS_SQL = """
SELECT p.promotion_id, p.name, p.start_date, p.end_date, p.discount_percent,
       coalesce(p.category, pr.product_name) AS applies_to
FROM promotions p LEFT JOIN products pr USING (product_id)
WHERE p.start_date <= %(day)s AND p.end_date >= %(day)s
"""

#: The returns processed on the day (published: of sale days loaded; see
#: customer_pipeline.returns), by the returned product's category: how many, the refunds
#: in integer cents. Each return's line is looked up by its key (LATERAL ... LIMIT 1: an
#: index probe per return, into its sale day's partition only): a join would hash every
#: line of the MAX_DELAY_DAYS sale days the returns may come from, a cost that grows with
#: the history where the probes grow with the day's returns. The bounds on business_date
#: leave the other partitions out of the plan.
RETURNS_SQL = """
SELECT p.category, count(*) AS returns, sum((r.refund_amount * 100)::bigint) AS refund_cents
FROM returns r
CROSS JOIN LATERAL (
    SELECT t.product_id FROM transactions t
    WHERE t.transaction_id = r.transaction_id AND t.business_date = r.business_date
      AND t.business_date >= %(day)s::date - %(max_delay)s AND t.business_date < %(day)s
    LIMIT 1
) t
JOIN products p USING (product_id)
WHERE r.return_date >= %(day)s::timestamp AT TIME ZONE 'UTC'
  AND r.return_date < (%(day)s::date + 1)::timestamp AT TIME ZONE 'UTC'
  AND r.business_date >= %(day)s::date - %(max_delay)s AND r.business_date < %(day)s
GROUP BY p.category
"""

#: The customers who moved and who closed their account on the day: the day's versions
#: (valid_from on the day) against each one's version before (a sign-up has none). The
#: previous version is always loaded: the day's load brings it (see load._catch_up).
CHANGES_SQL = """
SELECT count(*) FILTER (
           WHERE (h.address, h.city, h.state, h.postal_code)
                 IS DISTINCT FROM (p.address, p.city, p.state, p.postal_code)) AS moved,
       count(*) FILTER (WHERE h.closed_at IS NOT NULL AND p.closed_at IS NULL) AS closed
FROM customers_history h
CROSS JOIN LATERAL (
    SELECT address, city, state, postal_code, closed_at FROM customers_history p
    WHERE p.customer_id = h.customer_id AND p.valid_from < h.valid_from
    ORDER BY p.valid_from DESC LIMIT 1
) p
WHERE h.valid_from >= %(day)s::timestamp AT TIME ZONE 'UTC'
  AND h.valid_from < (%(day)s::date + 1)::timestamp AT TIME ZONE 'UTC'
"""

UPSERT_SQL = """
INSERT INTO daily_metrics (
    business_date, transaction_count, total_sales, total_quantity_sold,
    average_transaction_amount, min_transaction_amount, max_transaction_amount,
    unique_customers, top_product_id, top_customer_id, top_store_id, payment_methods, metrics,
    insights, baselines, customers)
VALUES (%(business_date)s, %(transaction_count)s, %(total_sales)s, %(total_quantity_sold)s,
        %(average_transaction_amount)s, %(min_transaction_amount)s, %(max_transaction_amount)s,
        %(unique_customers)s, %(top_product_id)s, %(top_customer_id)s, %(top_store_id)s,
        %(payment_methods)s, %(metrics)s, %(insights)s, %(baselines)s, %(customers)s)
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
    insights = EXCLUDED.insights,
    baselines = EXCLUDED.baselines,
    customers = EXCLUDED.customers,
    calculated_at = now()
"""


def _amount(value: Decimal | None) -> float:
    """A NUMERIC sum of money as the KPI document's float, to the cent (NULL: 0)."""
    return float(round(value or Decimal(0), 2))


def _amount_from_cents(cents: Any) -> float:
    """An integer sum of cents as the KPI document's float, in currency units (NULL: 0)."""
    return float(round(Decimal(cents or 0) / 100, 2))


def returned_by_category(conn: psycopg.Connection, day: dt.date) -> list[dict[str, Any]]:
    """RETURNS_SQL's rows: the returns processed on the day, by category."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(RETURNS_SQL, {"day": day, "max_delay": MAX_DELAY_DAYS}).fetchall()


def compute_day(
    conn: psycopg.Connection,
    day: dt.date,
    returned: Callable[[], list[dict[str, Any]]] | None = None,
) -> tuple[dict[str, Any], Insights]:
    """The KPI document of one business date and the report's figures. `returned` gives
    the day's returns by category (returned_by_category's, read elsewhere in the same
    snapshot); by default they are read on `conn`, after the rest."""
    params = {"day": day, "top": TOP, "max_delay": MAX_DELAY_DAYS}
    with conn.cursor(row_factory=dict_row) as cur:
        for_day_scans(conn)
        grouped = cur.execute(BREAKDOWNS_SQL, params).fetchall()
        customers = cur.execute(CUSTOMERS_SQL, params).fetchall()
        running = cur.execute(RUNNING_PROMOTIONS_SQL, params).fetchall()
        baskets = cur.execute(BASKETS_SQL, params).fetchone()
        changes = cur.execute(CHANGES_SQL, params).fetchone()
    returned = returned() if returned else returned_by_category(conn, day)
    totals = next((row for row in grouped if row["kind"] == "total"), {})
    promotions = _promotion_rows([row for row in grouped if row["kind"] == "promotion"], running)

    def rows(kind: str) -> list[dict[str, Any]]:
        return [row for row in grouped if row["kind"] == kind]

    def figures(row: dict[str, Any]) -> tuple[int, int, float]:
        if "cents" in row:  # the per-customer sums are in integer cents
            return int(row["transactions"]), int(row["quantity"]), _amount_from_cents(row["cents"])
        return int(row["transactions"]), int(row["quantity"]), _amount(row["sales"])

    def group(row: dict[str, Any]) -> Group:
        return Group(row["name"], *figures(row))

    def ranked(rank: int, row: dict[str, Any], key: str, name: str, detail: str) -> Ranked:
        return Ranked(rank, str(row[key]), name, detail, *figures(row))

    hours = {row["key"]: group(row) for row in rows("hour")}
    insights = Insights(
        business_date=day,
        by_category=tuple(sorted(map(group, rows("category")), key=_by_sales)),
        by_store_type=tuple(sorted(map(group, rows("store_type")), key=_by_sales)),
        by_hour=tuple(hours.get(f"{h:02d}", Group(f"{h:02d}", 0, 0, 0.0)) for h in range(24)),
        top_products=tuple(
            ranked(i, row, "key", row["name"], row["detail"])
            for i, row in enumerate(rows("product"), start=1)
        ),
        top_customers=tuple(
            ranked(
                i,
                row,
                "customer_id",
                f"{row['first_name']} {row['last_name']}",
                mask_email(row["email"]),
            )
            for i, row in enumerate(customers, start=1)
        ),
        top_stores=tuple(
            ranked(i, row, "key", row["name"], row["detail"])
            for i, row in enumerate(rows("store"), start=1)
        ),
    )
    best = customers[0] if customers else None
    metrics = {
        "business_date": day.isoformat(),
        "transaction_count": int(totals.get("transactions") or 0),
        "total_sales": _amount(totals.get("sales")),
        "total_quantity_sold": int(totals.get("quantity") or 0),
        "average_transaction_amount": _amount(totals.get("average")),
        "min_transaction_amount": _amount(totals.get("smallest")),
        "max_transaction_amount": _amount(totals.get("largest")),
        "unique_customers": int(best["customers"]) if best else 0,
        "top_product": _top(insights.top_products, "product_id", "product_name"),
        "top_customer": None
        if best is None
        else {
            "customer_id": best["customer_id"],
            "first_name": best["first_name"],
            "last_name": best["last_name"],
            "sales": _amount_from_cents(best["cents"]),
        },
        "top_store": _top(insights.top_stores, "store_id", "store_name"),
        "payment_methods": {
            row["key"]: {"count": int(row["transactions"]), "sales": _amount(row["sales"])}
            for row in sorted(rows("payment_method"), key=lambda r: r["key"])
        },
        **_basket_kpis(baskets, totals, int(best["customers"]) if best else 0),
        **_promotion_kpis(promotions),
        **_return_kpis(returned, rows("category"), totals.get("sales")),
        **_customer_change_kpis(changes),
    }
    return metrics, insights


def _return_kpis(
    returned: list[dict[str, Any]], sold: list[dict[str, Any]], sales: Decimal | None
) -> dict[str, Any]:
    """returns_count, refund_total, net_sales (total_sales - refund_total, exactly) and
    return_rate_by_category: the category's returns processed on the day per line of it
    sold on the day (null when none was sold), for every category sold or returned."""
    refunds = Decimal(sum(int(row["refund_cents"]) for row in returned)) / 100
    lines = {row["key"]: int(row["transactions"]) for row in sold}
    count = {row["category"]: int(row["returns"]) for row in returned}
    return {
        "returns_count": sum(count.values()),
        "refund_total": float(refunds),
        "net_sales": float(round((sales or Decimal(0)) - refunds, 2)),
        "return_rate_by_category": {
            category: round(count.get(category, 0) / lines[category], 4)
            if lines.get(category)
            else None
            for category in sorted(lines.keys() | count.keys())
        },
    }


def _promotion_rows(
    sold: list[dict[str, Any]], running: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Per promotion sold or running on the day (promotion_id None: the lines on none): its
    description (None when not running), lines, sales and discounts in integer cents; the
    largest sales first, then by id (None first)."""
    figures = {int(row["key"]) if row["key"] else None: row for row in sold}
    described = {row["promotion_id"]: row for row in running}
    rows = []
    for promotion in figures.keys() | described.keys():
        about, sold_on = described.get(promotion, {}), figures.get(promotion)
        fields = ("name", "start_date", "end_date", "discount_percent", "applies_to")
        rows.append(
            {
                "promotion_id": promotion,
                **{field: about.get(field) for field in fields},
                "transactions": int(sold_on["transactions"]) if sold_on else 0,
                "cents": _cents(sold_on["sales"]) if sold_on else 0,
                "discount_cents": _cents(sold_on["discounts"]) if sold_on else 0,
            }
        )
    rows.sort(
        key=lambda row: (-row["cents"], row["promotion_id"] is not None, row["promotion_id"] or 0)
    )
    return rows


def _cents(amount: Decimal) -> int:
    """An exact NUMERIC sum of money (two decimals) in integer cents."""
    return int(amount * 100)


def _promotion_kpis(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """discount_total, promotion_sales (net of the discounts), promotion_transactions, and
    `promotions`: each campaign running on the day (or sold on it), the largest sales first,
    with its figures."""
    on = [row for row in rows if row["promotion_id"] is not None]
    return {
        "discount_total": _amount_from_cents(sum(int(row["discount_cents"]) for row in rows)),
        "promotion_sales": _amount_from_cents(sum(int(row["cents"]) for row in on)),
        "promotion_transactions": sum(int(row["transactions"]) for row in on),
        "promotions": [
            {
                "promotion_id": row["promotion_id"],
                "name": row["name"],
                "applies_to": row["applies_to"],
                "discount_percent": row["discount_percent"],
                "start_date": row["start_date"] and row["start_date"].isoformat(),
                "end_date": row["end_date"] and row["end_date"].isoformat(),
                "transactions": int(row["transactions"]),
                "sales": _amount_from_cents(row["cents"]),
                "discount": _amount_from_cents(row["discount_cents"]),
            }
            for row in on
        ],
    }


def _customer_change_kpis(row: dict[str, Any]) -> dict[str, Any]:
    """customers_moved (a new address), customers_closed (their account) on the day."""
    return {"customers_moved": int(row["moved"]), "customers_closed": int(row["closed"])}


def _basket_kpis(row: dict[str, Any], totals: dict[str, Any], buyers: int) -> dict[str, Any]:
    """The basket KPIs of the document, from BASKETS_SQL's row and the day's totals."""
    baskets = int(row["baskets"])

    def per_basket(total: Any) -> float:
        # rounded like PostgreSQL's round(): half away from zero
        exact = Decimal(total) / baskets if baskets else Decimal(0)
        return float(exact.quantize(Decimal("0.01"), ROUND_HALF_UP))

    return {
        "basket_count": baskets,
        "average_basket_value": per_basket(totals.get("sales")),
        "items_per_basket": per_basket(totals.get("quantity")),
        "new_customers": int(row["new"]),
        "returning_customers": buyers - int(row["new"]),
    }


def _top(top: tuple[Ranked, ...], key: str, name: str) -> dict[str, Any] | None:
    """The KPI document's top entity, {key: id, name: its name, sales}, from a top 5."""
    if not top:
        return None
    return {key: int(top[0].id), name: top[0].name, "sales": top[0].sales}


def _by_sales(group: Group) -> tuple[float, str]:
    return (-group.sales, group.name)


def compute_metrics(conn: psycopg.Connection, day: dt.date) -> dict[str, Any]:
    """The KPI document of one business date, from the loaded rows."""
    return compute_day(conn, day)[0]


def calculate_metrics(settings: Settings, day: dt.date) -> dict[str, Any]:
    """Compute the day's KPIs (and the report's figures), their baselines and the
    Customers section, and store them in daily_metrics, replacing earlier ones; return
    the KPI document (the KPIs, then "baselines" and "customers").

    Every figure is read from one snapshot of the database (a load of the same day
    publishing meanwhile changes none of them): the KPIs on one connection, the Customers
    section (customer_days and its window state) and the day's returns (index probes into
    the lines of up to MAX_DELAY_DAYS sale days, mostly waiting for pages) each on another
    at the same time (:func:`.database.shared_snapshot`); then the document is stored."""
    with connect(settings) as conn, connect(settings) as beside, connect(settings) as third:
        shared_snapshot(conn, beside, third)
        with ThreadPoolExecutor(2) as helper:
            section = helper.submit(customers_section, beside, day)
            returned = helper.submit(returned_by_category, third, day)
            try:
                metrics, insights = compute_day(conn, day, returned.result)
                metrics["baselines"] = kpi_baselines(metrics, load_history(conn, day), day)
            except BaseException:
                cancel_until_done(section, beside)
                cancel_until_done(returned, third)
                raise
            metrics["customers"] = section.result()
        conn.commit()  # the snapshot's transaction ends; the UPSERT is one of its own
        conn.isolation_level = None
        conn.execute(
            UPSERT_SQL,
            {
                **_daily_metrics_row(metrics),
                "insights": Jsonb(to_document(insights)),
                "baselines": Jsonb(metrics["baselines"]),
                "customers": Jsonb(metrics["customers"]),
            },
        )
    with connect(settings, autocommit=True) as conn:  # once the document is committed
        settle_returns(conn, settings, day, metrics)
        prune_window_states(conn, day)
    return metrics


#: The returns published on the day: how many, their refunds (its partition of returns).
_RETURNS_TOTAL_SQL = """
SELECT count(*), coalesce(sum(refund_amount), 0) FROM returns
WHERE return_date >= %(day)s::timestamp AT TIME ZONE 'UTC'
  AND return_date < (%(day)s::date + 1)::timestamp AT TIME ZONE 'UTC'
"""


def settle_returns(
    conn: psycopg.Connection, settings: Settings, day: dt.date, metrics: dict[str, Any]
) -> bool:
    """Once the day's document is stored: if a sale day's load published returns on this
    day after the document's snapshot was taken (a backfill running beside), restate its
    returns KPIs now (restate_returns). The swaps' lock is taken first, so a load that is
    publishing meanwhile has committed (and restated what it saw) before the check.
    Returns whether the document was restated. In a transaction of its own on `conn`
    (autocommit)."""
    with conn.transaction():
        schema_lock(conn, settings, "swap")
        count, refunds = conn.execute(_RETURNS_TOTAL_SQL, {"day": day}).fetchone()
        stored = (metrics["returns_count"], Decimal(str(metrics["refund_total"])))
        if (count, refunds) == stored:
            return False
        restate_returns(conn, {day})
        return True


#: The stored documents of the days whose returns a load changed (restate_returns).
_STORED_SQL = """
SELECT business_date, metrics, insights->'by_category' FROM daily_metrics
WHERE business_date = ANY(%s) ORDER BY business_date FOR UPDATE
"""


def restate_returns(session: psycopg.Connection, days: set[dt.date]) -> list[dt.date]:
    """In the caller's transaction (a load's swap, which changed the returns published on
    these days): the returns KPIs of each of these days that has stored KPIs, recomputed
    from the returns published now, and its baselines with them (from the stored history);
    the rest of its document is what it was. Returns the days restated.

    So every stored document's returns KPIs agree with the published returns whatever
    order the days were loaded in: sales - refunds = net sales, always."""
    if not days:
        return []
    restated = []
    stored = session.execute(_STORED_SQL, [sorted(days)]).fetchall()
    for day, document, by_category in stored:
        returned = returned_by_category(session, day)
        sold = [
            {"key": group["name"], "transactions": group["transactions"]}
            for group in by_category or ()
        ]
        sales = Decimal(str(document["total_sales"]))
        document |= _return_kpis(returned, sold, sales)
        document["baselines"] = kpi_baselines(document, load_history(session, day), day)
        session.execute(
            "UPDATE daily_metrics SET metrics = %s, baselines = %s, calculated_at = now() "
            "WHERE business_date = %s",
            [Json(document), Jsonb(document["baselines"]), day],
        )
        restated.append(day)
    return restated


def _daily_metrics_row(metrics: dict[str, Any]) -> dict[str, Any]:
    """UPSERT_SQL's parameters (but insights) from the KPI document."""

    def key(name: str, field: str) -> Any:
        return (metrics[name] or {}).get(field)

    return {
        **{k: v for k, v in metrics.items() if not isinstance(v, dict | None)},
        "top_product_id": key("top_product", "product_id"),
        "top_customer_id": key("top_customer", "customer_id"),
        "top_store_id": key("top_store", "store_id"),
        "payment_methods": Jsonb(metrics["payment_methods"]),
        "metrics": Json(metrics),
    }


def stored_metrics(settings: Settings, day: dt.date) -> dict[str, Any] | None:
    """The KPI document stored for a date, or None when it was never calculated."""
    with connect(settings) as conn:
        row = conn.execute(
            "SELECT metrics FROM daily_metrics WHERE business_date = %s", [day]
        ).fetchone()
    return None if row is None else row[0]
