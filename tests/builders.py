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
        "customers_moved": 3,
        "customers_closed": 1,
    }
    doc.update(changes)
    return doc


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
