"""The day's figures as CSV (Daily_Metrics.csv): long form, one row per metric and
dimension, for a spreadsheet or another tool."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping
from typing import Any

from customer_pipeline.report.formatting import Change
from customer_pipeline.report.view import ReportView

HEADER = (
    "business_date",
    "metric",
    "dimension",
    "value",
    "previous_day",
    "change_percent",
    # the KPIs' baselines (baselines.py): the same weekday of the weeks before
    "expected",
    "usual_low",
    "usual_high",
    "flag",
    "baseline_weeks",
    "week_over_week_percent",
    "year_over_year_percent",
)

#: The KPI document's top entities: (metric, key in the document, the entity's name).
TOP_ENTITIES: tuple[tuple[str, str, Callable[[Mapping[str, Any]], str]], ...] = (
    ("top_product_sales", "top_product", lambda p: f"#{p['product_id']} {p['product_name']}"),
    (
        "top_customer_sales",
        "top_customer",
        lambda c: f"{c.get('first_name', '')} {c.get('last_name', '')}".strip(),
    ),
    ("top_store_sales", "top_store", lambda s: f"#{s['store_id']} {s['store_name']}"),
)


def _text_cell(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula is quoted with a leading apostrophe."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _figure_cell(value: Any) -> Any:
    """Counts as they are, amounts with two decimals, nothing as an empty cell."""
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return f"{float(value):.2f}"


def _baseline_cells(baseline: Mapping[str, Any], value: Any) -> list[Any]:
    """expected, usual_low, usual_high, flag, baseline_weeks, week_over_week_percent,
    year_over_year_percent (empty cells where there is none); figures as the value's."""
    if not baseline:
        return [""] * 7
    integer = isinstance(value, int) and not isinstance(value, bool)

    def figure(key: str) -> Any:
        found = baseline.get(key)
        return "" if found is None else (f"{found:.2f}" if not integer else f"{found:g}")

    def percent(key: str) -> str:
        found = baseline.get(key)
        return "" if found is None else f"{found:.1f}"

    return [
        figure("expected"),
        figure("low"),
        figure("high"),
        baseline.get("flag") or "",
        baseline.get("weeks", ""),
        percent("week_over_week"),
        percent("year_over_year"),
    ]


def kpi_csv(view: ReportView) -> str:
    """The day's figures in long form: one row per metric (and dimension)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    day = str(view.day)

    def row(
        metric: str,
        dimension: str,
        value: Any,
        previous: Any = None,
        delta: Change | None = None,
        baseline: Mapping[str, Any] | None = None,
    ) -> None:
        percent = "" if delta is None else f"{delta.percent:.1f}"
        writer.writerow(
            [
                day,
                metric,
                _text_cell(dimension),
                _figure_cell(value),
                _figure_cell(previous),
                percent,
                *_baseline_cells(baseline or {}, value),
            ]
        )

    for kpi in view.all_kpis:
        row(kpi.key, "", kpi.today, kpi.previous_day, kpi.change, kpi.baseline)
    metrics = view.metrics
    for metric, key, name in TOP_ENTITIES:
        if top := metrics.get(key):
            row(metric, name(top), top["sales"])
    for method, figures in sorted((metrics.get("payment_methods") or {}).items()):
        row("payment_method_transactions", str(method), int(figures["count"]))
        row("payment_method_sales", str(method), figures["sales"])
    for campaign in view.campaigns:
        row("campaign_sales", campaign.name, campaign.amount)
    for metric, groups in (
        ("category_sales", view.insights.by_category),
        ("store_type_sales", view.insights.by_store_type),
        ("hour_sales", view.insights.by_hour),
    ):
        for group in groups:
            row(metric, group.name, group.sales)
    return buffer.getvalue()
