"""The week's summary: the seven days' KPIs up to a business date, from daily_metrics.

What the asset-scheduled `customer_pipeline_weekly` DAG computes each time the daily DAG
publishes a day's KPIs; a plain function like every step.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from customer_pipeline.database import connect
from customer_pipeline.settings import Settings

WEEK_SQL = """
SELECT count(*) AS days, coalesce(sum(transaction_count), 0) AS transactions,
       coalesce(sum(total_sales), 0) AS sales,
       (array_agg(business_date ORDER BY total_sales DESC, business_date))[1] AS best_day
FROM daily_metrics
WHERE business_date > %(day)s::date - 7 AND business_date <= %(day)s
"""


def week_summary(settings: Settings, day: dt.date) -> dict[str, Any]:
    """Days with KPIs, transactions, sales (to the cent) and the best day of the seven days
    ending on `day`."""
    with connect(settings) as conn:
        days, transactions, sales, best = conn.execute(WEEK_SQL, {"day": day}).fetchone()
    return {
        "week_ending": day.isoformat(),
        "days": int(days),
        "transactions": int(transactions),
        "sales": float(round(sales, 2)),
        "best_day": best.isoformat() if best else None,
    }
