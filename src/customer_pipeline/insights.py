"""What the daily report shows beyond the KPIs: breakdowns, top 5s and the days before.

- sales by product category, by store type, by hour of the day (each store's local time)
  and by payment method;
- the top 5 products, customers (e-mail addresses masked) and stores;
- the KPIs of the 7 business dates before the day, from ``daily_metrics``.

The day's figures are computed with the KPIs, in the same scans, by
:func:`customer_pipeline.metrics.calculate_metrics`, and stored as JSON beside them in
``daily_metrics``; building the report reads them back (:func:`collect_insights`) and
never scans the day's rows again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from psycopg.rows import dict_row

from customer_pipeline.database import connect
from customer_pipeline.errors import PipelineError
from customer_pipeline.settings import Settings

TOP = 5
HISTORY_DAYS = 7

#: The KPIs of the days before, oldest first.
HISTORY_SQL = """
SELECT business_date, transaction_count, total_sales, total_quantity_sold,
       average_transaction_amount, min_transaction_amount, max_transaction_amount,
       unique_customers, (metrics->>'basket_count')::bigint AS basket_count,
       (metrics->>'average_basket_value')::numeric AS average_basket_value,
       (metrics->>'items_per_basket')::numeric AS items_per_basket,
       (metrics->>'new_customers')::bigint AS new_customers,
       (metrics->>'returning_customers')::bigint AS returning_customers,
       (metrics->>'discount_total')::numeric AS discount_total,
       (metrics->>'promotion_sales')::numeric AS promotion_sales,
       (metrics->>'net_sales')::numeric AS net_sales
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
    by_hour: tuple[Group, ...] = ()  # 24 rows, "00" to "23" (stores' local time), zeros included
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


def to_document(insights: Insights) -> dict[str, Any]:
    """The day's figures as JSON-ready data (the history is not part of them)."""
    document = dataclasses.asdict(insights)
    del document["business_date"], document["history"]
    return document


def from_document(day: dt.date, document: Mapping[str, Any], history: Any = ()) -> Insights:
    """Insights from to_document's output, with the given history."""
    return Insights(
        business_date=day,
        **{
            name: tuple((Group if name.startswith("by_") else Ranked)(**item) for item in items)
            for name, items in document.items()
        },
        history=tuple(history),
    )


def _decimal_as_float(value: Any) -> Any:
    """NUMERIC values as floats, as in the stored documents; other values as they are."""
    return float(value) if isinstance(value, Decimal) else value


def collect_insights(settings: Settings, day: dt.date) -> Insights:
    """The day's stored figures and the KPIs of the days before (read only, no scan)."""
    params = {"day": day, "days": HISTORY_DAYS}
    with connect(settings) as conn, conn.cursor(row_factory=dict_row) as cur:
        stored = cur.execute(
            "SELECT insights FROM daily_metrics WHERE business_date = %(day)s", params
        ).fetchone()
        history = cur.execute(HISTORY_SQL, params).fetchall()
    if stored is None:
        raise PipelineError(f"no metrics stored for {day}: calculate them first")
    return from_document(
        day,
        stored["insights"],
        ({key: _decimal_as_float(value) for key, value in row.items()} for row in history),
    )
