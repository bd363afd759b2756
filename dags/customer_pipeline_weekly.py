"""
# customer_pipeline_weekly

The week's sales up to the day that `customer_pipeline` has just published. Scheduled on
the `daily_metrics` asset, it runs after every daily run (scheduled, triggered or
backfilled) that stored a day's KPIs, never on a clock. Its business date is the latest
one in the triggering asset events (their `extra`), else the `business_date` param, else
the run's logical date. The summary (days, transactions, sales, best day) is the task's
return value: see its XCom.
"""

from __future__ import annotations

from airflow.sdk import dag, get_current_context, task

from customer_pipeline.airflow_adapter import (
    START_DATE,
    build_settings,
    business_date_param,
    day_published,
    table_asset,
)

KPI_ASSET = table_asset("daily_metrics")


@task(inlets=[KPI_ASSET])
def summarize_week() -> dict:
    """The seven days' KPIs up to the published day."""
    from customer_pipeline.weekly import week_summary

    context = get_current_context()
    return week_summary(build_settings(context["params"]), day_published(context))


@dag(
    dag_id="customer_pipeline_weekly",
    schedule=[KPI_ASSET],
    start_date=START_DATE,
    catchup=False,
    doc_md=__doc__,
    params={
        "business_date": business_date_param(
            "The week's last day; empty: the published day (or the logical date)."
        )
    },
    tags=["customer-pipeline"],
)
def customer_pipeline_weekly() -> None:
    summarize_week()


customer_pipeline_weekly()
