"""Documents for the report and delivery tests, built by hand in the shapes that
metrics.calculate_metrics and insights.collect_insights return: no database."""

from __future__ import annotations

import datetime as dt
from typing import Any

from customer_pipeline.insights import Group, Insights, Ranked

DAY = dt.date(2024, 3, 15)  # a Friday
STORE = "O'Brien & <Sons>"


def metrics_doc(**changes: Any) -> dict[str, Any]:
    """A KPI document shaped like calculate_metrics' result."""
    doc: dict[str, Any] = {
        "business_date": DAY.isoformat(),
        "transaction_count": 12345,
        "total_sales": 1234567.5,
        "total_quantity_sold": 40321,
        "average_transaction_amount": 100.01,
        "min_transaction_amount": 1.5,
        "max_transaction_amount": 9999.99,
        "unique_customers": 1000,
        "top_product": {"product_id": 7, "product_name": "Espresso Machine", "sales": 5000.0},
        "top_customer": {
            "customer_id": "3f2b8c1e-0000-4000-8000-000000000001",
            "first_name": "Ann",
            "last_name": "Lee",
            "sales": 4000.25,
        },
        "top_store": {"store_id": 3, "store_name": STORE, "sales": 3000.0},
        "payment_methods": {
            "Credit Card": {"count": 10000, "sales": 1000000.0},
            "Cash": {"count": 2345, "sales": 234567.5},
        },
        "basket_count": 4321,
        "average_basket_value": 285.71,
        "items_per_basket": 9.33,
        "new_customers": 12,
        "returning_customers": 988,
        "discount_total": 12345.6,
        "promotion_sales": 234567.8,
        "promotion_transactions": 2100,
        "promotions": [
            {
                "promotion_id": 1234,
                "name": "Black Friday",
                "applies_to": "Electronics",
                "discount_percent": 25,
                "start_date": "2026-11-27",
                "end_date": "2026-11-30",
                "transactions": 1800,
                "sales": 200000.0,
                "discount": 11000.0,
            },
            {
                "promotion_id": 1235,
                "name": "Reading week",
                "applies_to": "Maison Verre Parka Coat",
                "discount_percent": 10,
                "start_date": "2026-11-16",
                "end_date": "2026-11-22",
                "transactions": 300,
                "sales": 34567.8,
                "discount": 1345.6,
            },
        ],
        "returns_count": 321,
        "refund_total": 23456.7,
        "net_sales": 1211110.8,
        "return_rate_by_category": {"Electronics": 0.025, "Food & Drink": 0.0012},
        "customers_moved": 3,
        "customers_closed": 1,
    }
    doc.update(changes)
    return doc


def baselines_doc() -> dict[str, dict[str, Any]]:
    """Baselines of metrics_doc()'s KPIs as baselines.kpi_baselines gives them: two KPIs
    flagged (transactions above, discounts above), the others normal; total and net sales
    with their changes."""

    def entry(expected: float, half: float, flag: str = "normal", **changes: Any) -> dict:
        return {
            "expected": expected,
            "low": expected - half,
            "high": expected + half,
            "flag": flag,
            "weeks": 8,
            "day_over_day": changes.get("day_over_day"),
            "week_over_week": changes.get("week_over_week"),
            "year_over_year": changes.get("year_over_year"),
            "month_to_date": changes.get("month_to_date"),
        }

    doc = metrics_doc()
    found = {
        key: entry(float(value), abs(value) * 0.2 + 1)
        for key, value in doc.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }
    found["total_sales"] = entry(
        1200000.0,
        240000.0,
        day_over_day=4.2,
        week_over_week=3.1,
        year_over_year=7.5,
        month_to_date={"value": 18500000.0, "previous": 17400000.0, "change": 6.32},
    )
    # the headline's: other changes than total sales', so a test tells which one leads
    found["net_sales"] = entry(
        1180000.0,
        236000.0,
        day_over_day=3.98,
        week_over_week=2.4,
        year_over_year=6.8,
        month_to_date={"value": 18150000.0, "previous": 17120000.0, "change": 6.02},
    )
    found["transaction_count"] = entry(10000.0, 1000.0, "above", week_over_week=12.0)
    found["discount_total"] = entry(8000.0, 1600.0, "above")
    return found


def customers_doc() -> dict[str, Any]:
    """A Customers section as customer_metrics.customers_section gives it."""
    return {
        "repeat_days": 30,
        "buyers": 5000,
        "repeat_buyers": 3100,
        "repeat_rate": 62.0,
        "cohorts": [
            {"month": f"2023-{m:02d}", "signed_up": 100 + m, "buying": 50 + m} for m in (10, 11, 12)
        ]
        + [{"month": f"2024-{m:02d}", "signed_up": 90 + m, "buying": 80 + m} for m in (1, 2, 3)],
        "rfm_days": 90,
        "segments": [
            {"segment": "champions", "customers": 900, "sales": 2500000.0},
            {"segment": "loyal", "customers": 1500, "sales": 1800000.0},
            {"segment": "new", "customers": 120, "sales": 20000.0},
            {"segment": "at risk", "customers": 300, "sales": 90000.0},
            {"segment": "occasional", "customers": 2000, "sales": 400000.0},
            {"segment": "lost", "customers": 700, "sales": 60000.0},
        ],
    }


def full_metrics_doc(**changes: Any) -> dict[str, Any]:
    """metrics_doc() with its baselines and Customers section, as calculate_metrics
    returns it."""
    return {**metrics_doc(**changes), "baselines": baselines_doc(), "customers": customers_doc()}


def empty_day() -> dict[str, Any]:
    """The KPI document of a day without transactions, as calculate_metrics returns it."""
    return metrics_doc(
        transaction_count=0,
        total_sales=0.0,
        total_quantity_sold=0,
        average_transaction_amount=0.0,
        min_transaction_amount=0.0,
        max_transaction_amount=0.0,
        unique_customers=0,
        top_product=None,
        top_customer=None,
        top_store=None,
        payment_methods={},
        basket_count=0,
        average_basket_value=0.0,
        items_per_basket=0.0,
        new_customers=0,
        returning_customers=0,
        discount_total=0.0,
        promotion_sales=0.0,
        promotion_transactions=0,
        promotions=[],
        returns_count=0,
        refund_total=0.0,
        net_sales=0.0,
        return_rate_by_category={},
        customers_moved=0,
        customers_closed=0,
    )


def history_day(day: dt.date, sales: float, count: int = 10000) -> dict[str, Any]:
    """A daily_metrics row as insights.collect_insights returns it."""
    return {
        "business_date": day,
        "transaction_count": count,
        "total_sales": sales,
        "total_quantity_sold": 39000,
        "average_transaction_amount": 95.0,
        "min_transaction_amount": 1.5,
        "max_transaction_amount": 8000.0,
        "unique_customers": 950,
        "basket_count": 4000,
        "average_basket_value": 280.0,
        "items_per_basket": 9.5,
        "new_customers": 10,
        "returning_customers": 940,
        "discount_total": 11000.0,
        "promotion_sales": 200000.0,
        "net_sales": sales - 20000.0,
    }


def week() -> tuple[dict[str, Any], ...]:
    """KPIs of 6 of the 7 dates before DAY (none for DAY - 4); 1,184,804.89 the day before."""
    days = [history_day(DAY - dt.timedelta(days=d), 1000000.0 + 10000 * d) for d in (7, 6, 5, 3, 2)]
    return (*days, history_day(DAY - dt.timedelta(days=1), 1184804.89, 11000))


def insights_doc(*, history: bool = True) -> Insights:
    """Insights consistent with metrics_doc(): the figures add up to its totals."""
    hours = [Group(f"{h:02d}", 0, 0, 0.0) for h in range(24)]
    hours[9] = Group("09", 4000, 13000, 400000.0)
    hours[14] = Group("14", 6000, 20000, 634567.5)
    hours[20] = Group("20", 2345, 7321, 200000.0)
    return Insights(
        business_date=DAY,
        by_category=(
            Group("Electronics", 5000, 9000, 734567.5),
            Group("Food & Drink", 7345, 31321, 500000.0),
        ),
        by_store_type=(
            Group("Retail", 8000, 30000, 800000.0),
            Group("Online", 4345, 10321, 434567.5),
        ),
        by_hour=tuple(hours),
        top_products=(
            Ranked(1, "7", "Espresso Machine", "Electronics", 20, 25, 5000.0),
            Ranked(2, "9", "Tea <Pot>", "Food & Drink", 30, 60, 2500.0),
        ),
        top_customers=(
            Ranked(1, "c1", "Ann Lee", "a***@example.org", 3, 4, 4000.25),
            Ranked(2, "c2", "Jo O'Hara", "j***@example.net", 1, 1, 3999.0),
        ),
        top_stores=(
            Ranked(1, "3", STORE, "Dublin · Retail", 120, 300, 3000.0),
            Ranked(2, "4", "Smith & Co", "Online · Online", 80, 100, 2000.0),
        ),
        history=week() if history else (),
    )


def empty_insights(*, history: bool = False) -> Insights:
    """The insights of a day without transactions, as collect_insights returns them."""
    hours = tuple(Group(f"{h:02d}", 0, 0, 0.0) for h in range(24))
    return Insights(business_date=DAY, by_hour=hours, history=week() if history else ())
