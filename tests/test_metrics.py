"""KPIs: every figure equals an independent recomputation from the generated files."""

from __future__ import annotations

import csv
import datetime as dt
import json
import threading
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from conftest import as_of, generate_day
from customer_pipeline.customer_days import replace_day
from customer_pipeline.database import connect, shared_snapshot
from customer_pipeline.load import load_day
from customer_pipeline.metrics import calculate_metrics, stored_metrics
from customer_pipeline.schema import create_tables
from customer_pipeline.settings import Settings

DAY = dt.date(2026, 11, 20)
CENT = Decimal("0.01")


def read(path: str) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def expected_metrics(settings: Settings, files: list) -> dict:
    """The KPI document computed in Python from the CSV files alone (and the customers and
    products as the day ends, computed from the generators: the files hold versions)."""
    rows: dict[str, list[dict[str, str]]] = defaultdict(list)
    for f in files:
        rows[f.table] += read(f.path)
    versions = rows["customers"]  # the day's
    rows.update(as_of(settings, DAY))
    tx = rows["transactions"]
    amounts = [Decimal(r["transaction_amount"]) for r in tx]

    def top(key: str, cast) -> tuple:
        sales: dict = defaultdict(Decimal)
        for r in tx:
            sales[cast(r[key])] += Decimal(r["transaction_amount"])
        best = min(sales, key=lambda k: (-sales[k], k))
        return best, float(sales[best])

    product, product_sales = top("product_id", int)
    customer, customer_sales = top("customer_id", str)
    store, store_sales = top("store_id", int)
    products = {int(r["product_id"]): r for r in rows["products"]}
    customers = {r["customer_id"]: r for r in rows["customers"]}
    stores = {int(r["store_id"]): r for r in rows["stores"]}
    methods: dict = defaultdict(lambda: {"count": 0, "sales": Decimal(0)})
    for r in tx:
        methods[r["payment_method"]]["count"] += 1
        methods[r["payment_method"]]["sales"] += Decimal(r["transaction_amount"])
    return {
        "business_date": DAY.isoformat(),
        "transaction_count": len(tx),
        "total_sales": float(sum(amounts)),
        "total_quantity_sold": sum(int(r["quantity"]) for r in tx),
        "average_transaction_amount": float((sum(amounts) / len(tx)).quantize(CENT)),
        "min_transaction_amount": float(min(amounts)),
        "max_transaction_amount": float(max(amounts)),
        "unique_customers": len({r["customer_id"] for r in tx}),
        "top_product": {
            "product_id": product,
            "product_name": products[product]["product_name"],
            "sales": product_sales,
        },
        "top_customer": {
            "customer_id": customer,
            "first_name": customers[customer]["first_name"],
            "last_name": customers[customer]["last_name"],
            "sales": customer_sales,
        },
        "top_store": {
            "store_id": store,
            "store_name": stores[store]["store_name"],
            "sales": store_sales,
        },
        "payment_methods": {
            m: {"count": v["count"], "sales": float(v["sales"])} for m, v in sorted(methods.items())
        },
        "discount_total": float(sum(Decimal(r["discount_amount"]) for r in tx)),
        "promotion_sales": float(
            sum(a for a, r in zip(amounts, tx, strict=True) if r["promotion_id"])
        ),
        "promotion_transactions": sum(1 for r in tx if r["promotion_id"]),
        "promotions": expected_promotions(tx, rows["promotions"], products),
        **expected_basket_kpis(tx, customers),
        # a day loaded alone: no earlier sale day, so no return processed on it
        "returns_count": 0,
        "refund_total": 0.0,
        "net_sales": float(sum(amounts)),
        "return_rate_by_category": {
            category: 0.0
            for category in sorted({products[int(r["product_id"])]["category"] for r in tx})
        },
        **expected_change_kpis(settings, versions),
    }


def expected_promotions(tx: list[dict[str, str]], promotions: list, products: dict) -> list:
    """Each campaign running on DAY or sold on it, with its lines, sales and discounts."""
    day = DAY.isoformat()
    sold: dict = defaultdict(lambda: [0, Decimal(0), Decimal(0)])
    for r in tx:
        if r["promotion_id"]:
            entry = sold[int(r["promotion_id"])]
            entry[0] += 1
            entry[1] += Decimal(r["transaction_amount"])
            entry[2] += Decimal(r["discount_amount"])
    listed = {
        int(p["promotion_id"]): p
        for p in promotions
        if p["start_date"] <= day <= p["end_date"] or int(p["promotion_id"]) in sold
    }
    assert listed and sold  # the test's day has campaigns, and sells on them
    found = [
        {
            "promotion_id": key,
            "name": p["name"],
            "applies_to": p["category"] or products[int(p["product_id"])]["product_name"],
            "discount_percent": int(p["discount_percent"]),
            "start_date": p["start_date"],
            "end_date": p["end_date"],
            "transactions": sold[key][0],
            "sales": float(sold[key][1]),
            "discount": float(sold[key][2]),
        }
        for key, p in listed.items()
    ]
    return sorted(found, key=lambda f: (-f["sales"], f["promotion_id"]))


def expected_change_kpis(
    settings: Settings, versions: list[dict[str, str]], day: dt.date = DAY
) -> dict:
    """Moves and closed accounts: the day's versions against the customers the day before."""
    before = {c["customer_id"]: c for c in as_of(settings, day - dt.timedelta(days=1))["customers"]}
    where = ("address", "city", "state", "postal_code")
    changed = [(v, before[v["customer_id"]]) for v in versions if v["customer_id"] in before]
    return {
        "customers_moved": sum(any(v[f] != b[f] for f in where) for v, b in changed),
        "customers_closed": sum(bool(v["closed_at"]) and not b["closed_at"] for v, b in changed),
    }


def expected_basket_kpis(tx: list[dict[str, str]], customers: dict) -> dict:
    """The basket KPIs computed in Python from the CSV rows."""
    baskets: dict = defaultdict(lambda: [Decimal(0), 0])
    for r in tx:
        baskets[r["basket_id"]][0] += Decimal(r["transaction_amount"])
        baskets[r["basket_id"]][1] += int(r["quantity"])
    buyers = {r["customer_id"] for r in tx}
    new = {c for c in buyers if customers[c]["created_at"].startswith(DAY.isoformat())}
    return {
        "basket_count": len(baskets),
        "average_basket_value": float(
            (sum(v for v, _ in baskets.values()) / len(baskets)).quantize(CENT)
        ),
        "items_per_basket": float(
            (Decimal(sum(u for _, u in baskets.values())) / len(baskets)).quantize(CENT)
        ),
        "new_customers": len(new),
        "returning_customers": len(buyers - new),
    }


def test_every_kpi_equals_an_independent_recomputation(settings: Settings, tmp_path: Path) -> None:
    settings = settings.replace(transactions=20_000, customers=2_000)
    create_tables(settings)
    files = generate_day(settings, tmp_path, DAY)
    load_day(settings, DAY, files)
    document = calculate_metrics(settings, DAY)
    assert kpis(document) == expected_metrics(settings, files)
    assert list(document)[-2:] == ["baselines", "customers"]  # after the KPIs


#: a day on which accounts close at the default sizes (DAY has moves but no closure)
CLOSING_DAY = dt.date(2026, 1, 17)


def test_moves_and_closed_accounts_equal_the_day_s_versions_against_the_day_before(
    settings: Settings, tmp_path: Path, db: psycopg.Connection
) -> None:
    create_tables(settings)
    files = generate_day(settings, tmp_path, CLOSING_DAY)
    load_day(settings, CLOSING_DAY, files)
    document = calculate_metrics(settings, CLOSING_DAY)
    versions = next(read(f.path) for f in files if f.table == "customers")
    expected = expected_change_kpis(settings, versions, CLOSING_DAY)
    assert expected["customers_closed"] >= 1 and expected["customers_moved"] >= 1
    assert {name: document[name] for name in expected} == expected
    # and in SQL: the accounts whose closed_at falls on the day
    (closed,) = db.execute(
        "SELECT count(*) FROM customers WHERE (closed_at AT TIME ZONE 'UTC')::date = %s",
        [CLOSING_DAY],
    ).fetchone()
    assert closed == expected["customers_closed"]


def kpis(document: dict) -> dict:
    """The KPI document without what follows the KPIs (their baselines, the Customers
    section: tested in test_baselines)."""
    return {k: v for k, v in document.items() if k not in ("baselines", "customers")}


#: The basket KPIs recomputed in SQL another way: per customer, not per basket.
BASKETS_AGAIN_SQL = """
SELECT count(DISTINCT basket_id) AS basket_count,
       round(sum(transaction_amount) / count(DISTINCT basket_id), 2) AS average_basket_value,
       round(sum(quantity)::numeric / count(DISTINCT basket_id), 2) AS items_per_basket,
       count(DISTINCT customer_id) FILTER (
           WHERE (c.created_at AT TIME ZONE 'UTC')::date = t.business_date) AS new_customers,
       count(DISTINCT customer_id) FILTER (
           WHERE (c.created_at AT TIME ZONE 'UTC')::date < t.business_date) AS returning_customers
FROM transactions t JOIN customers c USING (customer_id)
WHERE t.business_date = %s GROUP BY t.business_date
"""


def test_basket_kpis_equal_an_independent_sql_recomputation(
    settings: Settings, tmp_path: Path, db: psycopg.Connection
) -> None:
    create_tables(settings)
    load_day(settings, DAY, generate_day(settings.replace(transactions=5_000), tmp_path, DAY))
    metrics = calculate_metrics(settings, DAY)
    again = db.execute(BASKETS_AGAIN_SQL, [DAY]).fetchone()
    names = ("basket_count", "average_basket_value", "items_per_basket")
    names += ("new_customers", "returning_customers")
    assert [metrics[name] for name in names] == [float(v) for v in again]
    assert metrics["new_customers"] > 0 and metrics["basket_count"] < 5_000 / 2


def test_kpis_are_stored_once_per_date(
    settings: Settings, tmp_path: Path, db: psycopg.Connection
) -> None:
    create_tables(settings)
    load_day(settings, DAY, generate_day(settings, tmp_path, DAY))
    first = calculate_metrics(settings, DAY)
    calculate_metrics(settings, DAY)
    assert db.execute("SELECT count(*) FROM daily_metrics").fetchone()[0] == 1
    stored = stored_metrics(settings, DAY)
    assert stored == json.loads(json.dumps(first))
    row = db.execute(
        "SELECT transaction_count, total_sales, top_product_id, top_store_id "
        "FROM daily_metrics WHERE business_date = %s",
        [DAY],
    ).fetchone()
    assert row == (
        first["transaction_count"],
        Decimal(str(first["total_sales"])),
        first["top_product"]["product_id"],
        first["top_store"]["store_id"],
    )


def test_a_day_without_transactions_gives_zeros_and_nulls(settings: Settings) -> None:
    create_tables(settings)
    metrics = calculate_metrics(settings, DAY)
    assert {b["flag"] for b in metrics["baselines"].values()} == {"not enough history"}
    assert metrics["customers"]["buyers"] == 0
    assert {s["customers"] for s in metrics["customers"]["segments"]} == {0}
    assert kpis(metrics) == {
        "business_date": "2026-11-20",
        "transaction_count": 0,
        "total_sales": 0.0,
        "total_quantity_sold": 0,
        "average_transaction_amount": 0.0,
        "min_transaction_amount": 0.0,
        "max_transaction_amount": 0.0,
        "unique_customers": 0,
        "top_product": None,
        "top_customer": None,
        "top_store": None,
        "payment_methods": {},
        "basket_count": 0,
        "average_basket_value": 0.0,
        "items_per_basket": 0.0,
        "new_customers": 0,
        "returning_customers": 0,
        "discount_total": 0.0,
        "promotion_sales": 0.0,
        "promotion_transactions": 0,
        "promotions": [],
        "returns_count": 0,
        "refund_total": 0.0,
        "net_sales": 0.0,
        "return_rate_by_category": {},
        "customers_moved": 0,
        "customers_closed": 0,
    }
    assert stored_metrics(settings, DAY) == metrics


@pytest.fixture
def tied_day(settings: Settings, db: psycopg.Connection) -> None:
    """Two of everything, each with exactly the same sales (inserted by hand: the day's
    customer summary made after them)."""
    create_tables(settings)
    db.execute(
        "INSERT INTO customers VALUES "
        "('00000000-0000-4000-8000-000000000002','Zoe','Z','z@shop.test','1 St','C','S','X',"
        "'1','1990-01-01',0,'2019-01-01'),"
        "('00000000-0000-4000-8000-000000000001','Al','A','a@shop.test','2 St','C','S','X',"
        "'1','1990-01-01',0,'2019-01-01')"
    )
    db.execute(
        "INSERT INTO products VALUES "
        "(2,'B','Books',5,1,'P','budget'),(1,'A','Books',5,1,'P','budget')"
    )
    db.execute(
        "INSERT INTO stores VALUES "
        "(2,'S2','L','Retail',9,18,'UTC'),(1,'S1','L','Retail',9,18,'UTC')"
    )
    db.execute(
        "CREATE TABLE transactions_20261120 PARTITION OF transactions "
        "FOR VALUES FROM ('2026-11-20') TO ('2026-11-21')"
    )
    db.execute(
        "INSERT INTO transactions VALUES "
        "(gen_random_uuid(),gen_random_uuid(),'2026-11-20','00000000-0000-4000-8000-000000000002',"
        "'2026-11-20 10:00+00',10,2,2,2,5,'Cash',NULL,0),"
        "(gen_random_uuid(),gen_random_uuid(),'2026-11-20','00000000-0000-4000-8000-000000000001',"
        "'2026-11-20 11:00+00',10,1,1,2,5,'PayPal',NULL,0)"
    )
    replace_day(db, DAY)


@pytest.mark.usefixtures("tied_day")
def test_ties_go_to_the_smaller_id(settings: Settings) -> None:
    metrics = calculate_metrics(settings, DAY)
    assert metrics["top_product"] == {"product_id": 1, "product_name": "A", "sales": 10.0}
    assert metrics["top_store"] == {"store_id": 1, "store_name": "S1", "sales": 10.0}
    assert metrics["top_customer"]["customer_id"] == "00000000-0000-4000-8000-000000000001"
    assert metrics["payment_methods"] == {
        "Cash": {"count": 1, "sales": 10.0},
        "PayPal": {"count": 1, "sales": 10.0},
    }


def test_connections_sharing_a_snapshot_read_one_state(
    settings: Settings, db: psycopg.Connection
) -> None:
    """calculate_metrics reads the KPIs and the Customers section on two connections: both
    see the database as it was when the first began, whatever commits meanwhile (a load
    of the same day publishing), where a connection of its own would see the commit."""
    db.execute(f"CREATE SCHEMA IF NOT EXISTS {settings.db_schema}")
    db.execute("CREATE TABLE facts (n integer)")
    db.execute("INSERT INTO facts VALUES (1)")
    with connect(settings) as first, connect(settings) as second, connect(settings) as alone:
        shared_snapshot(first, second)
        assert first.execute("SELECT count(*) FROM facts").fetchone()[0] == 1
        db.execute("INSERT INTO facts VALUES (2)")  # commits after the snapshot was taken
        assert second.execute("SELECT count(*) FROM facts").fetchone()[0] == 1
        assert first.execute("SELECT count(*) FROM facts").fetchone()[0] == 1
        assert alone.execute("SELECT count(*) FROM facts").fetchone()[0] == 2


def test_a_failed_kpi_query_cancels_the_customers_section(
    settings: Settings, tmp_path: Path, db: psycopg.Connection, database_url: str
) -> None:
    """When the KPIs' queries fail, the Customers section running beside them is cancelled,
    not waited for: here it waits for a lock held until calculate_metrics has ended (or,
    should the cancel never come, until a minute has passed: then the test fails)."""
    create_tables(settings)
    load_day(settings, DAY, generate_day(settings, tmp_path, DAY))
    db.execute("ALTER TABLE transactions RENAME TO transactions_elsewhere")  # KPIs fail
    rescued = threading.Event()

    def rescue() -> None:  # the safety net: end the section's wait
        rescued.set()
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_cancel_backend(pid) FROM pg_locks WHERE NOT granted AND relation = "
                "%s::regclass",
                [f"{settings.db_schema}.customer_days"],
            )

    with psycopg.connect(database_url) as holder:
        holder.execute(f"SET search_path TO {settings.db_schema}")
        holder.execute("LOCK TABLE customer_days IN ACCESS EXCLUSIVE MODE")  # section waits
        timer = threading.Timer(60, rescue)
        timer.start()
        try:
            with pytest.raises(psycopg.errors.UndefinedTable):
                calculate_metrics(settings, DAY)
        finally:
            timer.cancel()
        holder.rollback()
    assert not rescued.is_set()
