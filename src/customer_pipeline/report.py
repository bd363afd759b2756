"""Step 5, report: Daily_Report.txt (the original's attachment, readable) and an HTML twin."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from customer_pipeline import __version__
from customer_pipeline.settings import Settings

TEXT_NAME = "Daily_Report.txt"
HTML_NAME = "Daily_Report.html"


@dataclass(frozen=True)
class Report:
    subject: str
    text: str
    html: str

    def write(self, folder: Path) -> dict[str, str]:
        """Write both renderings into `folder`; return their paths."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / TEXT_NAME).write_text(self.text, encoding="utf-8")
        (folder / HTML_NAME).write_text(self.html, encoding="utf-8")
        return {"text": str(folder / TEXT_NAME), "html": str(folder / HTML_NAME)}


#: The headline KPIs, in report order: (label, key in the metrics document, kind).
KPIS: tuple[tuple[str, str, str], ...] = (
    ("Transactions", "transaction_count", "count"),
    ("Total sales", "total_sales", "money"),
    ("Total quantity sold", "total_quantity_sold", "count"),
    ("Average transaction", "average_transaction_amount", "money"),
    ("Smallest transaction", "min_transaction_amount", "money"),
    ("Largest transaction", "max_transaction_amount", "money"),
    ("Unique customers", "unique_customers", "count"),
)


def money(value: Any) -> str:
    return f"{value:,.2f}"


def count_fmt(value: Any) -> str:
    return f"{int(value):,}"


_FORMATS = {"money": money, "count": count_fmt}


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("customer_pipeline", "templates"),
        # the templates are named *.html.j2: select_autoescape(["html"]) alone would
        # match only *.html and leave the HTML report unescaped
        autoescape=select_autoescape(("html", "html.j2")),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["money"] = money
    env.filters["count_fmt"] = count_fmt
    return env


def _layout(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The KPI rows, formatted once for both renderings, and text column widths that fit."""
    kpis = [(label, _FORMATS[kind](metrics[key])) for label, key, kind in KPIS]
    methods = metrics["payment_methods"] or {}
    counts = [count_fmt(row["count"]) for row in methods.values()]
    sales = [money(row["sales"]) for row in methods.values()]
    return {
        "kpis": kpis,
        "value_width": max([16, *(len(value) for _, value in kpis)]),
        "method_width": max([22, *(len(str(method)) + 2 for method in methods)]),
        "count_width": max([8, *(len(value) + 2 for value in counts)]),
        "sales_width": max([16, *(len(value) + 2 for value in sales)]),
    }


def build_report(
    settings: Settings, metrics: Mapping[str, Any], checks: Sequence[Mapping[str, Any]] = ()
) -> Report:
    """Render the day's report from its KPI document and data-quality results."""
    env = _environment()
    context = {
        **_layout(metrics),
        "metrics": metrics,
        "checks": list(checks),
        "version": __version__,
        "seed": settings.seed,
    }
    return Report(
        subject=f"Daily Metrics Report {metrics['business_date']}",
        text=env.get_template("daily_report.txt.j2").render(context),
        html=env.get_template("daily_report.html.j2").render(context),
    )
