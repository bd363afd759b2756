"""The report's extra figures: every one equals an independent recomputation from the
generated files; they are stored with the KPIs; the history comes from daily_metrics.
Real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg import sql

from conftest import as_of, generate_day, read_csv
from customer_pipeline.database import connect
from customer_pipeline.errors import PipelineError
from customer_pipeline.insights import (
    HISTORY_DAYS,
    Group,
    collect_insights,
    from_document,
    mask_email,
    to_document,
)
from customer_pipeline.load import load_day
from customer_pipeline.metrics import (
    BREAKDOWNS_SQL,
    CUSTOMERS_SQL,
    calculate_metrics,
    compute_day,
)
from customer_pipeline.report import build_report
from customer_pipeline.report.formatting import Change
from customer_pipeline.schema import create_tables
from customer_pipeline.settings import Settings

DAY = dt.date(2026, 11, 20)


def rows_of(settings: Settings, files: list) -> dict[str, list[dict[str, str]]]:
    """The day's files, and every customer and product as the day ends."""
    rows: dict[str, list[dict[str, str]]] = defaultdict(list)
    for f in files:
        rows[f.table] += read_csv(f.path)
    rows.update(as_of(settings, DAY))
    return rows


def sums(transactions: list[dict[str, str]], key) -> dict:
    """key(row) -> [transactions, quantity, sales]"""
    out: dict = defaultdict(lambda: [0, 0, Decimal(0)])
    for r in transactions:
        entry = out[key(r)]
        entry[0] += 1
        entry[1] += int(r["quantity"])
        entry[2] += Decimal(r["transaction_amount"])
    return out


def groups(found: dict) -> list[Group]:
    """As the report orders them: by sales, the largest first, then by name."""
    made = [Group(str(k), v[0], v[1], float(v[2])) for k, v in found.items()]
    return sorted(made, key=lambda g: (-g.sales, g.name))


def top(found: dict) -> list[tuple]:
    """(id, transactions, quantity, sales) of the top 5, ties to the smaller id."""
    best = sorted(found, key=lambda k: (-found[k][2], k))[:5]
    return [(str(k), found[k][0], found[k][1], float(found[k][2])) for k in best]


@pytest.fixture(scope="module")
def loaded_day(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, dict]]:
    """DAY loaded and its KPIs calculated, in a schema of the module's: its tests read it
    (calculating the KPIs again stores the same)."""
    folder = tmp_path_factory.mktemp("insights")
    settings = Settings(
        database_url=database_url,
        db_schema=f"t_{uuid.uuid4().hex[:12]}",
        work_dir=folder / "work",
        outbox_dir=folder / "outbox",
    ).replace(transactions=20_000, customers=2_000, products=300, stores=30)
    settings.validate()
    create_tables(settings)
    files = generate_day(settings, folder, DAY)
    load_day(settings, DAY, files)
    calculate_metrics(settings, DAY)  # stores the figures with the KPIs
    yield settings, rows_of(settings, files)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(settings.db_schema)))


def test_every_figure_equals_an_independent_recomputation(
    loaded_day: tuple[Settings, dict],
) -> None:
    settings, rows = loaded_day
    tx = rows["transactions"]
    products = {r["product_id"]: r for r in rows["products"]}
    stores = {r["store_id"]: r for r in rows["stores"]}
    customers = {r["customer_id"]: r for r in rows["customers"]}
    insights = collect_insights(settings, DAY)

    assert insights.business_date == DAY
    by_category = sums(tx, lambda r: products[r["product_id"]]["category"])
    assert list(insights.by_category) == groups(by_category)
    by_type = sums(tx, lambda r: stores[r["store_id"]]["store_type"])
    assert list(insights.by_store_type) == groups(by_type)
    assert {g.name for g in insights.by_store_type} == {"Retail", "Online"}

    # hours of the timestamp in its store's time zone, all 24 of them, in order
    def local_hour(r: dict[str, str]) -> int:
        zone = ZoneInfo(stores[r["store_id"]]["timezone"])
        return dt.datetime.fromisoformat(r["transaction_date"]).astimezone(zone).hour

    assert len({r["timezone"] for r in stores.values()}) > 2  # the US: several zones
    by_hour = sums(tx, local_hour)
    assert [g.name for g in insights.by_hour] == [f"{h:02d}" for h in range(24)]
    for hour, group in enumerate(insights.by_hour):
        n, q, s = by_hour.get(hour, [0, 0, Decimal(0)])
        assert (group.transactions, group.quantity, group.sales) == (n, q, float(s))
    assert sum(g.transactions for g in insights.by_hour) == len(tx)

    expected_products = top(sums(tx, lambda r: int(r["product_id"])))
    assert [(p.id, p.transactions, p.quantity, p.sales) for p in insights.top_products] == [
        (str(k), n, q, s) for k, n, q, s in expected_products
    ]
    for rank, product in enumerate(insights.top_products, start=1):
        assert product.rank == rank
        assert product.name == products[product.id]["product_name"]
        assert product.detail == products[product.id]["category"]

    expected_stores = top(sums(tx, lambda r: int(r["store_id"])))
    assert [(s.id, s.transactions, s.quantity, s.sales) for s in insights.top_stores] == [
        (str(k), n, q, s) for k, n, q, s in expected_stores
    ]
    for store in insights.top_stores:
        row = stores[store.id]
        assert (store.name, store.detail) == (
            row["store_name"],
            f"{row['location']} · {row['store_type']}",
        )

    expected_customers = top(sums(tx, lambda r: r["customer_id"]))
    assert [(c.id, c.transactions, c.quantity, c.sales) for c in insights.top_customers] == (
        expected_customers
    )
    for rank, customer in enumerate(insights.top_customers, start=1):
        row = customers[customer.id]
        assert customer.rank == rank
        assert customer.name == f"{row['first_name']} {row['last_name']}"
        assert customer.detail == mask_email(row["email"])
        assert row["email"] not in customer.detail
        assert customer.detail.endswith("@" + row["email"].rpartition("@")[2])

    assert insights.history == ()
    assert insights.previous_day() is None


def test_the_first_of_each_top_5_is_the_kpi(loaded_day: tuple[Settings, dict]) -> None:
    settings, _ = loaded_day
    metrics = calculate_metrics(settings, DAY)
    insights = collect_insights(settings, DAY)
    assert insights.top_products[0].id == str(metrics["top_product"]["product_id"])
    assert insights.top_products[0].sales == metrics["top_product"]["sales"]
    assert insights.top_customers[0].id == metrics["top_customer"]["customer_id"]
    assert insights.top_stores[0].id == str(metrics["top_store"]["store_id"])
    assert sum(g.sales for g in insights.by_category) == pytest.approx(metrics["total_sales"])


def test_history_comes_from_daily_metrics(settings: Settings, tmp_path: Path) -> None:
    create_tables(settings)
    stored = {}
    # KPIs of 9 dates before DAY, one missing, and one after it (a backfill): only the
    # 7 dates before DAY count
    for offset in (9, 8, 7, 6, 5, 3, 2, 1, -1):
        day = DAY - dt.timedelta(days=offset)
        load_day(settings, day, generate_day(settings, tmp_path / str(day), day))
        stored[day] = calculate_metrics(settings, day)
    load_day(settings, DAY, generate_day(settings, tmp_path / str(DAY), DAY))
    metrics = calculate_metrics(settings, DAY)

    insights = collect_insights(settings, DAY)
    days = [row["business_date"] for row in insights.history]
    assert days == [DAY - dt.timedelta(days=o) for o in (7, 6, 5, 3, 2, 1)]
    assert len(days) < HISTORY_DAYS  # one date has no KPIs
    for row in insights.history:
        kpis = stored[row["business_date"]]
        for key in ("transaction_count", "total_sales", "unique_customers"):
            assert row[key] == kpis[key]
        assert isinstance(row["total_sales"], float)
    previous = insights.previous_day()
    assert previous is not None
    assert previous["total_sales"] == stored[DAY - dt.timedelta(days=1)]["total_sales"]

    report = build_report(settings, metrics, insights=insights)  # it leads with net sales
    change = Change(100 * (metrics["net_sales"] / previous["net_sales"] - 1)).text
    assert f"{change} vs previous day" in report.text  # '+4.2%', or '0.0%' when it rounds to 0
    week = stored[DAY - dt.timedelta(days=7)]["net_sales"]
    assert f"({Change(100 * (metrics['net_sales'] / week - 1)).text} vs last Fri)" in report.subject
    assert [i.filename for i in report.images] == ["hourly-sales.png", "sales-trend.png"]
    assert "n/a" in report.text  # DAY - 4 in the 7-day trend


def test_a_day_without_transactions(settings: Settings) -> None:
    create_tables(settings)
    with pytest.raises(PipelineError, match="no metrics stored for 2026-11-20"):
        collect_insights(settings, DAY)
    calculate_metrics(settings, DAY)
    insights = collect_insights(settings, DAY)
    assert insights.by_category == insights.by_store_type == ()
    assert insights.top_products == insights.top_customers == insights.top_stores == ()
    assert [g.sales for g in insights.by_hour] == [0.0] * 24
    report = build_report(settings, calculate_metrics(settings, DAY), insights=insights)
    assert report.subject == "Daily sales Fri 20 Nov: $0.00 (no transactions)"


def test_hours_are_the_stores_local_ones_whatever_the_session_time_zone(
    loaded_day: tuple[Settings, dict], database_url: str
) -> None:
    settings, _ = loaded_day
    utc = collect_insights(settings, DAY).by_hour
    with psycopg.connect(database_url, options="-c timezone=Asia/Kolkata") as conn:
        conn.execute(f"SET search_path TO {settings.db_schema}")
        assert compute_day(conn, DAY)[1].by_hour == utc


def test_the_queries_read_the_day_and_nothing_else(loaded_day: tuple[Settings, dict]) -> None:
    """Three scans of the day's lines for the breakdowns; the customers from the day's
    customer summary alone; no other partition."""
    settings, _ = loaded_day
    lines, buyers = f"transactions_{DAY:%Y%m%d}", f"customer_days_{DAY:%Y%m%d}"

    def scanned(plan: dict) -> list[str]:
        name = plan.get("Relation Name", "")
        found = [name] if name.startswith(("transactions", "customer_days")) else []
        for child in plan.get("Plans", []):
            found += scanned(child)
        return found

    with connect(settings) as conn:
        for query, scans in ((BREAKDOWNS_SQL, [lines] * 3), (CUSTOMERS_SQL, [buyers] * 2)):
            (plan,) = conn.execute(
                "EXPLAIN (FORMAT JSON) " + query, {"day": DAY, "top": 5, "days": 7}
            ).fetchone()[0]
            assert sorted(scanned(plan["Plan"])) == scans


def test_stored_figures_read_back_unchanged(loaded_day: tuple[Settings, dict]) -> None:
    settings, _ = loaded_day
    with connect(settings) as conn:
        computed = compute_day(conn, DAY)[1]
    assert collect_insights(settings, DAY) == computed
    assert from_document(DAY, to_document(computed)) == computed
