"""Step 5, report: the daily report e-mail, as a BI tool's dashboard subscription sends it.

:func:`build_report` turns the day's KPI document, its data-quality results and, when
given, the :class:`~customer_pipeline.insights.Insights` of the day and the facts of the
run into a :class:`Report`: a subject with the headline figure, an HTML body (inline CSS,
tables for layout, no scripts, no external resources; charts referenced by Content-ID), a
plain-text twin with the same numbers (also attached as ``Daily_Report.txt``, the
original's name), the charts as PNGs and the KPIs as CSV. Every generated value is
HTML-escaped by the template engine.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import dataclasses
import datetime as dt
import io
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import (
    Environment,
    FileSystemBytecodeCache,
    PackageLoader,
    StrictUndefined,
    select_autoescape,
)

from customer_pipeline import __version__
from customer_pipeline.settings import Settings

if TYPE_CHECKING:
    from customer_pipeline.insights import Insights, Ranked

TEXT_NAME = "Daily_Report.txt"
HTML_NAME = "Daily_Report.html"
CSV_NAME = "Daily_Metrics.csv"

#: The currency symbol of each data locale (prices are generated in local units).
CURRENCIES = {"en_US": "$", "en_GB": "£"}
DEFAULT_CURRENCY = "€"

#: The width of the report's content column on a desktop, in CSS pixels (charts fill it).
CONTENT_WIDTH = 568


# -- what a report is --------------------------------------------------------------------------
@dataclass(frozen=True)
class InlineImage:
    """A picture shown in the HTML body, referenced there as ``cid:<cid>``."""

    cid: str
    filename: str
    data: bytes
    alt: str = ""
    subtype: str = "png"  # image/<subtype>

    @property
    def src(self) -> str:
        return f"cid:{self.cid}"

    def data_uri(self) -> str:
        return f"data:image/{self.subtype};base64,{base64.b64encode(self.data).decode('ascii')}"


@dataclass(frozen=True)
class Attachment:
    """A text file attached to the message (UTF-8)."""

    filename: str
    content: str
    subtype: str = "plain"  # text/<subtype>


@dataclass(frozen=True)
class Report:
    subject: str
    text: str
    html: str
    images: tuple[InlineImage, ...] = ()
    #: attached after Daily_Report.txt, which is always the text rendering
    attachments: tuple[Attachment, ...] = ()

    def files(self) -> tuple[Attachment, ...]:
        """Every attachment, Daily_Report.txt first."""
        return (Attachment(TEXT_NAME, self.text), *self.attachments)

    def browser_html(self) -> str:
        """The HTML with each ``cid:`` image replaced by a data: URI: opens in any browser."""
        html = self.html
        for image in self.images:
            html = html.replace(f'src="{image.src}"', f'src="{image.data_uri()}"')
        return html

    def write(self, folder: Path) -> dict[str, str]:
        """Write the text, the browser-ready HTML and the attachments into `folder`."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / HTML_NAME).write_text(self.browser_html(), encoding="utf-8")
        paths = {"html": str(folder / HTML_NAME)}
        for attachment in self.files():
            (folder / attachment.filename).write_text(attachment.content, encoding="utf-8")
            paths["text" if attachment.filename == TEXT_NAME else attachment.filename] = str(
                folder / attachment.filename
            )
        return paths


@dataclass(frozen=True)
class RunFacts:
    """What the caller knows of the run that made the report (all optional)."""

    row_counts: Mapping[str, int] = field(default_factory=dict)
    seed: int | None = None
    duration_seconds: float | None = None
    run_id: str | None = None


#: The headline KPIs, in report order: (label, key in the metrics document, kind,
#: polarity: 1 when more is better, 0 when a change is neither good nor bad).
KPIS: tuple[tuple[str, str, str, int], ...] = (
    ("Total sales", "total_sales", "money", 1),
    ("Transactions", "transaction_count", "count", 1),
    ("Total quantity sold", "total_quantity_sold", "count", 1),
    ("Average transaction", "average_transaction_amount", "money", 1),
    ("Unique customers", "unique_customers", "count", 1),
    ("Smallest transaction", "min_transaction_amount", "money", 0),
    ("Largest transaction", "max_transaction_amount", "money", 0),
)


# -- formatting --------------------------------------------------------------------------------
def money(value: Any, currency: str = "") -> str:
    number = float(value or 0)
    sign = "-" if number < 0 else ""
    return f"{sign}{currency}{abs(number):,.2f}"


def count_fmt(value: Any) -> str:
    return f"{int(value or 0):,}"


def share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "0.0%"


@dataclass(frozen=True)
class Change:
    """A relative change, as a report shows it: '+4.2%', an arrow, a colour."""

    percent: float
    polarity: int = 1

    @property
    def direction(self) -> int:
        rounded = round(self.percent, 1)
        return 0 if rounded == 0 else (1 if rounded > 0 else -1)

    @property
    def text(self) -> str:
        return "0.0%" if self.direction == 0 else f"{self.percent:+.1f}%"

    @property
    def arrow(self) -> str:
        return {1: "\u25b2", -1: "\u25bc", 0: "\u25cf"}[self.direction]

    @property
    def tone(self) -> str:
        """good, bad or neutral: the colour of the badge."""
        if self.direction == 0 or self.polarity == 0:
            return "neutral"
        return "good" if self.direction == self.polarity else "bad"


def change(current: Any, previous: Any, polarity: int = 1) -> Change | None:
    """The change from `previous` to `current`; None without a (non-zero) previous value."""
    if previous is None or current is None:
        return None
    before, now = float(previous), float(current)
    if before == 0 or math.isnan(before) or math.isnan(now):
        return None
    return Change(100 * (now - before) / abs(before), polarity)


def text_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], align: str) -> str:
    """A plain-text table: columns as wide as their widest cell, two spaces apart.

    `align` has one letter per column: 'l' (left) or 'r' (right). Columns without any
    text are left out; trailing spaces are cut.
    """
    cells = [[str(c) for c in headers], *([str(c) for c in row] for row in rows)]
    keep = [i for i in range(len(headers)) if any(row[i] for row in cells)]
    cells = [[row[i] for i in keep] for row in cells]
    headers, align = cells[0], "".join(align[i] for i in keep)
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        parts = [
            cell.rjust(width) if how == "r" else cell.ljust(width)
            for cell, width, how in zip(row, widths, align, strict=True)
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def _environment(cache_dir: Path | None = None) -> Environment:
    """The templates' environment; compiled templates kept in cache_dir/jinja (compiling
    them takes longer than rendering; Jinja recompiles a template whose source changed)."""
    bytecode_cache = None
    if cache_dir is not None:
        folder = cache_dir / "jinja"
        with contextlib.suppress(OSError):  # no cache folder: compile each time
            folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK | os.X_OK):  # Jinja fails on a read-only folder
            bytecode_cache = FileSystemBytecodeCache(str(folder))
    env = Environment(
        loader=PackageLoader("customer_pipeline", "templates"),
        bytecode_cache=bytecode_cache,
        # the templates are named *.html.j2: select_autoescape(["html"]) alone would
        # match only *.html and leave the HTML report unescaped
        autoescape=select_autoescape(("html", "html.j2")),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["table"] = text_table
    return env


def _checks(checks: Iterable[Any]) -> list[dict[str, Any]]:
    """Data-quality results as dicts, whether given as CheckResult or as dicts."""
    out = []
    for check in checks:
        item = check if isinstance(check, Mapping) else dataclasses.asdict(check)
        out.append(
            {
                "name": str(item["name"]),
                "passed": bool(item["passed"]),
                "value": item.get("value"),
                "expected": item.get("expected"),
            }
        )
    return out


def _row(name: str, detail: str, figure: str, sales: str, rank: int = 1) -> dict[str, Any]:
    return {"rank": rank, "name": name, "detail": detail, "figure": figure, "sales": sales}


# -- the report's content, formatted once for both renderings -----------------------------------
class _View:
    """Everything the templates show, as strings (formatted here, escaped there)."""

    def __init__(
        self,
        settings: Settings,
        metrics: Mapping[str, Any],
        checks: list[dict[str, Any]],
        insights: Insights | None,
        run: RunFacts,
    ) -> None:
        self.currency = CURRENCIES.get(settings.locale, DEFAULT_CURRENCY)
        self.metrics = metrics
        self.insights = insights
        self.day = dt.date.fromisoformat(str(metrics["business_date"]))
        if insights is not None and insights.business_date != self.day:
            raise ValueError(
                f"insights of {insights.business_date} given for the report of {self.day}"
            )
        self.total = float(metrics["total_sales"] or 0)
        self.has_sales = int(metrics["transaction_count"] or 0) > 0
        self.previous = insights.previous_day() if insights else None
        self.history = list(insights.history) if insights else []
        self.checks = checks
        self.run = run
        self.seed = settings.seed if run.seed is None else run.seed

    def money(self, value: Any) -> str:
        return money(value, self.currency)

    # headline and KPIs ------------------------------------------------------------------
    def headline(self) -> dict[str, Any]:
        previous = self.previous["total_sales"] if self.previous else None
        earlier = [float(day["total_sales"]) for day in self.history]
        average = sum(earlier) / len(earlier) if earlier else None
        return {
            "value": self.money(self.total),
            "change": change(self.total, previous),
            "previous": None if previous is None else self.money(previous),
            "average": None if average is None else self.money(average),
            "average_days": len(earlier),
            "average_change": change(self.total, average),
        }

    @cached_property
    def kpis(self) -> list[dict[str, Any]]:
        rows = []
        for label, key, kind, polarity in KPIS:
            fmt = self.money if kind == "money" else count_fmt
            before = self.previous[key] if self.previous else None
            rows.append(
                {
                    "label": label,
                    "key": key,
                    "raw": self.metrics[key],
                    "value": fmt(self.metrics[key]),
                    "previous_raw": before,
                    "previous": None if before is None else fmt(before),
                    "change": change(self.metrics[key], before, polarity),
                }
            )
        return rows

    def subject(self) -> str:
        headline = f"Daily sales {self.day}: {self.money(self.total)}"
        if not self.has_sales:
            return f"{headline} (no transactions)"
        delta = self.headline()["change"]
        return f"{headline} ({delta.text} vs previous day)" if delta else headline

    # breakdowns -------------------------------------------------------------------------
    def _breakdown(self, title: str, groups: Iterable[tuple[str, int, float]]) -> dict[str, Any]:
        rows = []
        for name, transactions, sales in groups:
            percent = 100 * sales / self.total if self.total else 0.0
            rows.append(
                {
                    "name": name,
                    "transactions": count_fmt(transactions),
                    "sales": self.money(sales),
                    "share": share(sales, self.total),
                    "bar": max(1, min(100, round(percent))) if sales > 0 else 0,
                }
            )
        return {"title": title, "rows": rows}

    @cached_property
    def breakdowns(self) -> list[dict[str, Any]]:
        methods = sorted(
            (self.metrics.get("payment_methods") or {}).items(),
            key=lambda item: (-float(item[1]["sales"]), item[0]),
        )
        out = []
        if self.insights:
            for title, groups in (
                ("Sales by category", self.insights.by_category),
                ("Sales by store type", self.insights.by_store_type),
            ):
                out.append(
                    self._breakdown(title, ((g.name, g.transactions, g.sales) for g in groups))
                )
        out.append(
            self._breakdown(
                "Sales by payment method",
                ((str(m), int(row["count"]), float(row["sales"])) for m, row in methods),
            )
        )
        return out

    @cached_property
    def hours(self) -> list[dict[str, Any]]:
        if not self.insights:
            return []
        return [
            {
                "hour": f"{group.name}:00",
                "transactions": count_fmt(group.transactions),
                "sales": self.money(group.sales),
                "share": share(group.sales, self.total),
                "raw": group.sales,
            }
            for group in self.insights.by_hour
        ]

    def peak(self) -> dict[str, Any] | None:
        hours = self.hours
        if not hours or not self.has_sales:
            return None
        best = max(hours, key=lambda h: h["raw"])
        end = int(best["hour"][:2]) + 1
        return {**best, "until": f"{end:02d}:00"}

    @cached_property
    def trend(self) -> list[dict[str, Any]]:
        """The last 7 dates (the business date last) when any earlier one has KPIs."""
        if not self.history:
            return []
        stored = {day["business_date"]: day for day in self.history}
        stored[self.day] = self.metrics
        rows = []
        for offset in range(6, -1, -1):
            day = self.day - dt.timedelta(days=offset)
            found = stored.get(day)
            rows.append(
                {
                    "date": day,
                    "label": f"{day:%a} {day}",
                    "transactions": None
                    if found is None
                    else count_fmt(found["transaction_count"]),
                    "sales": None if found is None else self.money(found["total_sales"]),
                    "raw": None if found is None else float(found["total_sales"]),
                    "today": offset == 0,
                }
            )
        return rows

    # the top 5s ---------------------------------------------------------------------------
    @cached_property
    def tops(self) -> list[dict[str, Any]]:
        if not self.has_sales:
            return []
        if self.insights and self.insights.top_products:
            ins = self.insights
            figures: tuple[tuple[str, tuple[Ranked, ...], Callable[[Ranked], str]], ...] = (
                ("product", ins.top_products, lambda r: f"{r.quantity:,} units"),
                (
                    "customer",
                    ins.top_customers,
                    lambda r: f"{r.transactions:,} purchase{'s' if r.transactions != 1 else ''}",
                ),
                ("store", ins.top_stores, lambda r: f"{r.transactions:,} transactions"),
            )
            return [
                {
                    "title": _top_title(len(ranked), noun),
                    "rows": [
                        _row(r.name, r.detail, figure(r), self.money(r.sales), r.rank)
                        for r in ranked
                    ],
                }
                for noun, ranked, figure in figures
            ]
        # the KPI document alone: its top product, customer and store
        m = self.metrics
        product, customer, store = m["top_product"], m["top_customer"], m["top_store"]
        tops = []
        if product:
            name = f"#{product['product_id']} {product['product_name']}"
            tops.append(
                {"title": "Top product", "rows": [_row(name, "", "", self.money(product["sales"]))]}
            )
        if customer:
            name = f"{customer.get('first_name', '')} {customer.get('last_name', '')}".strip()
            tops.append(
                {
                    "title": "Top customer",
                    "rows": [_row(name, "", "", self.money(customer["sales"]))],
                }
            )
        if store:
            name = f"#{store['store_id']} {store['store_name']}"
            tops.append(
                {"title": "Top store", "rows": [_row(name, "", "", self.money(store["sales"]))]}
            )
        return tops

    # run facts ------------------------------------------------------------------------------
    @cached_property
    def run_facts(self) -> list[tuple[str, str]]:
        facts = []
        if self.run.row_counts:
            facts.append(
                (
                    "Rows loaded",
                    ", ".join(
                        f"{table} {count_fmt(n)}" for table, n in self.run.row_counts.items()
                    ),
                )
            )
        facts.append(("Seed", str(self.seed)))
        if self.run.duration_seconds is not None:
            facts.append(("Duration", _duration(self.run.duration_seconds)))
        if self.run.run_id:
            facts.append(("Run id", str(self.run.run_id)))
        facts.append(("Generated by", f"customer-pipeline {__version__}"))
        return facts


def _top_title(count: int, noun: str) -> str:
    return f"Top {count} {noun}s" if count > 1 else f"Top {noun}"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _text_tables(view: _View) -> dict[str, Any]:
    """The plain-text rendering's tables, laid out (the HTML lays out its own)."""
    kpis = view.kpis
    if view.previous is not None:
        kpi_table = text_table(
            ["", "Today", "Previous day", "Change"],
            [
                [k["label"], k["value"], k["previous"], k["change"].text if k["change"] else "n/a"]
                for k in kpis
            ],
            "lrrr",
        )
    else:
        kpi_table = text_table(["", "Today"], [[k["label"], k["value"]] for k in kpis], "lr")
    trend = view.trend
    tables: dict[str, Any] = {
        "kpis": kpi_table,
        "trend": trend
        and text_table(
            ["Date", "Transactions", "Sales"],
            [
                [
                    row["label"] + (" *" if row["today"] else ""),
                    row["transactions"] or "n/a",
                    row["sales"] or "n/a",
                ]
                for row in trend
            ],
            "lrr",
        ),
        "hours": view.has_sales
        and view.hours
        and text_table(
            ["Hour", "Sales"],
            [[h["hour"], h["sales"]] for h in view.hours],
            "lr",
        ),
        "breakdowns": [
            {
                "title": b["title"],
                "table": text_table(
                    ["", "Transactions", "Sales", "Share"],
                    [[r["name"], r["transactions"], r["sales"], r["share"]] for r in b["rows"]],
                    "lrrr",
                )
                if b["rows"]
                else "(none)",
            }
            for b in view.breakdowns
        ],
        "tops": [
            {
                "title": top["title"],
                "table": text_table(
                    ["#", "Name", "", "", "Sales"],
                    [
                        [r["rank"], r["name"], r["detail"], r["figure"], r["sales"]]
                        for r in top["rows"]
                    ],
                    "rlllr",
                ),
            }
            for top in view.tops
        ],
        "checks": text_table(
            ["Check", "Result", ""],
            [
                [
                    c["name"],
                    "passed" if c["passed"] else "FAILED",
                    "" if c["passed"] else f"got {c['value']}, expected {c['expected']}",
                ]
                for c in view.checks
            ],
            "lll",
        ),
        "run": text_table(["", ""], view.run_facts, "ll").split("\n", 1)[1],
    }
    return tables


# -- charts and CSV ------------------------------------------------------------------------------
def _charts(view: _View) -> tuple[InlineImage, ...]:
    from customer_pipeline import charts

    images = []
    stamp = view.day.strftime("%Y%m%d")
    if view.insights and view.has_sales:
        peak = view.peak()
        images.append(
            InlineImage(
                cid=f"hourly-sales.{stamp}@customer-pipeline",
                filename="hourly-sales.png",
                data=charts.hourly_sales_png(
                    [(int(g.name), g.sales) for g in view.insights.by_hour], view.currency
                ),
                alt=(
                    f"Sales by hour (UTC): peak {peak['hour']}-{peak['until']}, {peak['sales']}"
                    if peak
                    else "Sales by hour (UTC)"
                ),
            )
        )
    trend = view.trend
    if trend:
        images.append(
            InlineImage(
                cid=f"sales-trend.{stamp}@customer-pipeline",
                filename="sales-trend.png",
                data=charts.trend_png([(row["date"], row["raw"]) for row in trend], view.currency),
                alt=f"Total sales of the last 7 days, {view.day} last: {view.money(view.total)}",
            )
        )
    return tuple(images)


def _csv_cell(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula is quoted with a leading apostrophe."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _number(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return f"{float(value):.2f}"


def kpi_csv(view: _View) -> str:
    """The day's figures in long form: one row per metric (and dimension)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(
        ["business_date", "metric", "dimension", "value", "previous_day", "change_percent"]
    )
    day = str(view.day)

    def row(metric: str, dimension: str, value: Any, previous: Any = None, delta: Any = None):
        percent = "" if delta is None else f"{delta.percent:.1f}"
        writer.writerow(
            [day, metric, _csv_cell(dimension), _number(value), _number(previous), percent]
        )

    for kpi in view.kpis:
        row(kpi["key"], "", kpi["raw"], kpi["previous_raw"], kpi["change"])
    m = view.metrics
    if m.get("top_product"):
        p = m["top_product"]
        row("top_product_sales", f"#{p['product_id']} {p['product_name']}", p["sales"])
    if m.get("top_customer"):
        c = m["top_customer"]
        row(
            "top_customer_sales",
            f"{c.get('first_name', '')} {c.get('last_name', '')}".strip(),
            c["sales"],
        )
    if m.get("top_store"):
        s = m["top_store"]
        row("top_store_sales", f"#{s['store_id']} {s['store_name']}", s["sales"])
    for method, figures in sorted((m.get("payment_methods") or {}).items()):
        row("payment_method_transactions", str(method), int(figures["count"]))
        row("payment_method_sales", str(method), figures["sales"])
    if view.insights:
        for metric, groups in (
            ("category_sales", view.insights.by_category),
            ("store_type_sales", view.insights.by_store_type),
            ("hour_sales", view.insights.by_hour),
        ):
            for group in groups:
                row(metric, group.name, group.sales)
    return buffer.getvalue()


# -- the step ------------------------------------------------------------------------------
def build_report(
    settings: Settings,
    metrics: Mapping[str, Any],
    checks: Sequence[Any] = (),
    *,
    insights: Insights | None = None,
    run: RunFacts | Mapping[str, Any] | None = None,
) -> Report:
    """Render the day's report.

    `metrics` is the KPI document (metrics.calculate_metrics), `checks` the data-quality
    results (CheckResult or their dicts). `insights` (insights.collect_insights) adds the
    comparisons, breakdowns, top 5s and charts; without it the report shows the KPI
    document alone. `run` adds the run's facts (row counts, seed, duration).
    """
    if run is None:
        run = RunFacts()
    elif not isinstance(run, RunFacts):
        run = RunFacts(**run)
    view = _View(settings, metrics, _checks(checks), insights, run)
    images = _charts(view)
    context = {
        "subject": view.subject(),
        "day": view.day,
        "date_long": f"{view.day:%A}, {view.day.day} {view.day:%B %Y}",
        "currency": view.currency,
        "has_sales": view.has_sales,
        "headline": view.headline(),
        "kpis": view.kpis,
        "has_history": view.previous is not None,
        "breakdowns": view.breakdowns,
        "hours": view.hours,
        "peak": view.peak(),
        "trend": view.trend,
        "tops": view.tops,
        "checks": view.checks,
        "failed_checks": [c for c in view.checks if not c["passed"]],
        "run_facts": view.run_facts,
        "tables": _text_tables(view),
        "images": {image.filename.removesuffix(".png"): image for image in images},
        "content_width": CONTENT_WIDTH,
        "attachment_names": [TEXT_NAME, CSV_NAME],
        "version": __version__,
        "seed": view.seed,
    }
    env = _environment(settings.cache_dir)
    return Report(
        subject=context["subject"],
        text=env.get_template("daily_report.txt.j2").render(context),
        html=env.get_template("daily_report.html.j2").render(context),
        images=images,
        attachments=(Attachment(CSV_NAME, kpi_csv(view), "csv"),),
    )


def daily_report(
    settings: Settings,
    day: dt.date,
    metrics: Mapping[str, Any],
    checks: Sequence[Any] = (),
    *,
    run: RunFacts | None = None,
) -> Report:
    """Step 5 in one call: the day's insights from the database, then the rendered report."""
    from customer_pipeline.insights import collect_insights

    return build_report(
        settings, metrics, checks, insights=collect_insights(settings, day), run=run
    )
