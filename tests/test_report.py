"""The daily report: subject, HTML body, plain-text twin, charts and CSV, from a KPI document
and the day's insights.

The documents come from tests/builders.py: no database.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import re
import subprocess
import sys
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from builders import (
    DAY,
    STORE,
    empty_day,
    empty_insights,
    full_metrics_doc,
    history_day,
    insights_doc,
    metrics_doc,
)
from customer_pipeline.insights import Insights, Ranked, mask_email
from customer_pipeline.quality import CheckResult
from customer_pipeline.report import (
    CSV_NAME,
    TEXT_NAME,
    Change,
    RunFacts,
    build_report,
    relative_change,
    text_table,
)
from customer_pipeline.report.view import KPIS
from customer_pipeline.settings import Settings

KPI_LABELS = (
    "Total sales",
    "Transactions",
    "Total quantity sold",
    "Average transaction",
    "Unique customers",
    "Smallest transaction",
    "Largest transaction",
    "Baskets",
    "Average basket",
    "Items per basket",
    "New customers",
    "Returning customers",
)
NO_HISTORY = insights_doc(history=False)
REPRS = ("Decimal(", "{'", "['", "None", "datetime.", "<built-in", "object at 0x", "Undefined")


def line_of(text: str, label: str) -> str:
    """The one line of `text` that starts with `label` followed by padding."""
    found = [line for line in text.splitlines() if re.match(rf"{re.escape(label)}\s", line)]
    assert len(found) == 1, (label, found)
    return found[0]


class Cells(HTMLParser):
    """The text of every table row, as lists of unescaped cell strings (whitespace collapsed).

    A cell holding a nested table holds its text too; <br> reads as a space.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self._open_rows: list[list[str]] = []
        self._open_cells: list[list[str]] = []
        self.text: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, _attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self._open_rows.append([])
            self.rows.append(self._open_rows[-1])
        elif tag == "td":
            self._open_cells.append([])
        elif tag == "br":
            self.handle_data(" ")
        elif tag in ("title", "head"):
            self._hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._open_cells:
            self._open_rows[-1].append(" ".join("".join(self._open_cells.pop()).split()))
        elif tag == "tr" and self._open_rows:
            self._open_rows.pop()
        elif tag in ("title", "head"):
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        for cell in self._open_cells:
            cell.append(data)
        if not self._hidden:
            self.text.append(data)


def parse_html(html: str) -> Cells:
    parser = Cells()
    parser.feed(html)
    parser.close()
    return parser


def html_rows(html: str) -> list[list[str]]:
    return [row for row in parse_html(html).rows if row]


def visible_text(html: str) -> str:
    return " ".join(" ".join(parse_html(html).text).split())


def full_report(metrics: dict[str, Any] | None = None, **changes: Any):
    checks = [CheckResult("orphan stores", True, 0, "0"), CheckResult("row count", True, 5, "5")]
    arguments: dict[str, Any] = {
        "insights": insights_doc(),
        "run": RunFacts({"customers": 1000, "transactions": 12345}, 7, 12.5, "run-1"),
    }
    arguments.update(changes)
    return build_report(Settings(seed=7), metrics or metrics_doc(), checks, **arguments)


# -- subject -------------------------------------------------------------------------------------
def test_subject_leads_with_net_sales_their_change_and_the_unusual() -> None:
    # net sales: 1,234,567.50 of sales less 23,456.70 of refunds
    assert full_report().subject == "Daily sales Fri 15 Mar: $1.21M"
    # with the baselines: net sales' change vs the same weekday last week (total sales'
    # is +3.1%), and the KPIs flagged
    report = full_report(metrics=full_metrics_doc())
    assert report.subject == "Daily sales Fri 15 Mar: $1.21M (+2.4% vs last Fri) · 2 unusual"


def test_subject_without_history_or_without_sales() -> None:
    report = build_report(Settings(), metrics_doc(), insights=NO_HISTORY)
    assert report.subject == "Daily sales Fri 15 Mar: $1.21M"
    assert build_report(Settings(), empty_day(), insights=empty_insights()).subject == (
        "Daily sales Fri 15 Mar: $0.00 (no transactions)"
    )
    # refunds of earlier sales on a day without any: net sales below zero
    refunds_only = dict(empty_day(), returns_count=2, refund_total=120.0, net_sales=-120.0)
    assert build_report(Settings(), refunds_only, insights=empty_insights()).subject == (
        "Daily sales Fri 15 Mar: -$120.00 (no transactions)"
    )


def test_days_stored_before_net_sales_existed_count_for_nothing_in_the_headline() -> None:
    insights = insights_doc()
    *older, before = insights.history
    history = (*({**day, "net_sales": None} for day in older[:3]), *older[3:], before)
    report = full_report(insights=dataclasses.replace(insights, history=history))
    # the average of the 3 days with net sales: 1.01M, 1.00M and 1,164,804.89
    assert "+4.0% vs previous day ($1,164,804.89)" in report.text
    assert "vs the average of the 3 days before ($1,058,268.30)" in report.text
    previous_unknown = (*older, {**before, "net_sales": None})
    report = full_report(insights=dataclasses.replace(insights, history=previous_unknown))
    assert "vs previous day" not in report.text
    assert line_of(report.text, "Net sales (less refunds)").split()[-1] == "n/a"


def test_subject_falls_and_currency_follows_the_locale() -> None:
    insights = insights_doc()
    history = list(insights.history)
    history[-1] = history_day(DAY - dt.timedelta(days=1), 2469135.0)
    fall = Insights(**{**insights.__dict__, "history": tuple(history)})
    doc = full_metrics_doc()
    doc["baselines"]["net_sales"]["week_over_week"] = -50.0
    for key in ("transaction_count", "discount_total"):
        doc["baselines"][key]["flag"] = "normal"
    report = build_report(Settings(locale="de_DE"), doc, insights=fall)
    assert report.subject == "Daily sales Fri 15 Mar: €1.21M (-50.0% vs last Fri)"
    gb = build_report(Settings(locale="en_GB"), metrics_doc(), insights=NO_HISTORY)
    assert gb.subject.endswith("£1.21M")


def test_change_and_its_rendering() -> None:
    assert relative_change(110, 100) == Change(10.0)
    assert relative_change(1, 0) is None  # no base to compare with
    assert relative_change(1, None) is None
    assert Change(-3.14).text == "-3.1%"
    assert Change(4.25).text == "+4.2%"
    assert Change(0.04).text == Change(-0.04).text == "0.0%"
    assert (Change(5).tone, Change(-5).tone, Change(0).tone) == ("good", "bad", "neutral")
    assert Change(5, polarity=0).tone == "neutral"
    assert Change(-5).arrow == "\u25bc"


# -- the plain-text twin ---------------------------------------------------------------------
@pytest.mark.parametrize("numbers", [float, Decimal], ids=["floats", "decimals"])
def test_text_report_is_readable(numbers: type) -> None:
    doc = metrics_doc()
    for key in (
        "total_sales",
        "average_transaction_amount",
        "min_transaction_amount",
        "max_transaction_amount",
    ):
        doc[key] = numbers(str(doc[key]))
    text = build_report(Settings(seed=7), doc, insights=NO_HISTORY).text

    lines = text.splitlines()
    assert lines[0] == "Daily sales report: Friday, 15 March 2024"
    assert lines[1] == "=" * len(lines[0])
    expected = {
        "Total sales": "$1,234,567.50",
        "Transactions": "12,345",
        "Total quantity sold": "40,321",
        "Average transaction": "$100.01",
        "Unique customers": "1,000",
        "Smallest transaction": "$1.50",
        "Largest transaction": "$9,999.99",
        "Baskets": "4,321",
        "Average basket": "$285.71",
        "Items per basket": "9.33",
        "New customers": "12",
        "Returning customers": "988",
    }
    kpi_lines = [line_of(text, label) for label in KPI_LABELS]
    for line, (label, value) in zip(kpi_lines, expected.items(), strict=True):
        assert line.split() == [*label.split(), value]
    # values end in one column
    assert len({len(line) for line in kpi_lines}) == 1

    assert line_of(text, "1  Espresso Machine").split()[-1] == "$5,000.00"
    assert f"1  {STORE}  Dublin · Retail  120 transactions  $3,000.00" in text
    assert "1  Ann Lee    a***@example.org  3 purchases  $4,000.25" in text

    header = line_of(text, "Credit Card").split()
    assert header == ["Credit", "Card", "10,000", "$1,000,000.00", "81.0%"]
    assert line_of(text, "Cash").split() == ["Cash", "2,345", "$234,567.50", "19.0%"]
    assert text.index("Credit Card") < text.index("Cash  ")  # by sales, the largest first
    assert "Seed          7" in text
    assert text.endswith("\n")
    for marker in REPRS:
        assert marker not in text


def test_text_report_with_history_and_insights() -> None:
    report = full_report()
    text = report.text
    assert "Net sales (less refunds): $1,211,110.80" in text
    assert "Total sales $1,234,567.50 less $23,456.70 refunds" in text
    # net sales of the day before: 1,184,804.89 less 20,000 of refunds
    assert "+4.0% vs previous day ($1,164,804.89)" in text
    # the 6 stored days of the 7 before: mean of 1.05M, 1.04M, 1.03M, 1.01M, 1.00M, 1,164,804.89
    assert "+15.4% vs the average of the 6 days before ($1,049,134.15)" in text
    assert line_of(text, "Total sales").split() == [
        "Total",
        "sales",
        "$1,234,567.50",
        "$1,184,804.89",
        "+4.2%",
    ]
    assert line_of(text, "Transactions").split() == ["Transactions", "12,345", "11,000", "+12.2%"]
    assert line_of(text, "Mon 2024-03-11").split() == ["Mon", "2024-03-11", "n/a", "n/a"]
    assert line_of(text, "Fri 2024-03-15").split() == [
        "Fri",
        "2024-03-15",
        "*",
        "12,345",
        "$1,234,567.50",
    ]
    assert "Peak: 14:00-15:00, $634,567.50 (51.4% of the day)" in text
    assert line_of(text, "14:00").split() == ["14:00", "$634,567.50"]
    assert line_of(text, "03:00").split() == ["03:00", "$0.00"]
    assert line_of(text, "Food & Drink").split() == [
        "Food",
        "&",
        "Drink",
        "7,345",
        "$500,000.00",
        "40.5%",
    ]
    assert line_of(text, "Online").split()[-2:] == ["$434,567.50", "35.2%"]
    assert "2  Tea <Pot>         Food & Drink  60 units  $2,500.00" in text
    assert "a***@example.org" in text
    assert "Dublin · Retail" in text
    assert "All 2 checks passed" in text
    assert "Rows loaded   customers 1,000, transactions 12,345" in text
    assert "Duration      12.5 s" in text
    assert "Run id        run-1" in text
    for marker in REPRS:
        assert marker not in text


def test_text_columns_stay_aligned_for_very_large_numbers() -> None:
    doc = metrics_doc(
        transaction_count=987_654_321,
        total_sales=123_456_789_012.34,
        payment_methods={
            "Cash": {"count": 987_654_321, "sales": 123_456_789_012.34},
            "Buy Now Pay Later Instalments": {"count": 1, "sales": 0.5},
        },
    )
    text = build_report(Settings(), doc, insights=NO_HISTORY).text
    kpi_lines = [line_of(text, label) for label in KPI_LABELS]
    assert len({len(line) for line in kpi_lines}) == 1
    assert line_of(text, "Total sales").split() == ["Total", "sales", "$123,456,789,012.34"]
    cash, later = line_of(text, "Cash"), line_of(text, "Buy Now Pay Later Instalments")
    assert cash.split() == ["Cash", "987,654,321", "$123,456,789,012.34", "100.0%"]
    assert later.split()[-3:] == ["1", "$0.50", "0.0%"]
    assert len(cash) == len(later)


def test_text_table() -> None:
    table = text_table(["", "Count", ""], [["a", 1, ""], ["bbb", "1,000", ""]], "lrl")
    assert table.splitlines() == ["     Count", "a        1", "bbb  1,000"]


# -- the HTML body ---------------------------------------------------------------------------------
def test_html_holds_every_kpi() -> None:
    report = build_report(Settings(seed=7), metrics_doc(), insights=NO_HISTORY)
    html = report.html
    assert html.lstrip().startswith("<!DOCTYPE html>")
    assert "<title>Daily sales Fri 15 Mar: $1.21M</title>" in html
    rows = html_rows(html)
    for label, value in [
        ("Transactions", "12,345"),
        ("Total sales", "$1,234,567.50"),
        ("Total quantity sold", "40,321"),
        ("Average transaction", "$100.01"),
        ("Smallest transaction", "$1.50"),
        ("Largest transaction", "$9,999.99"),
        ("Unique customers", "1,000"),
        ("Sales on promotion", "$234,567.80"),
        ("Discounts given", "$12,345.60"),
    ]:
        assert [label, value] in rows
    assert ["1", "Espresso Machine Electronics · 25 units", "$5,000.00"] in rows
    assert ["1", "Ann Lee a***@example.org · 3 purchases", "$4,000.25"] in rows
    assert ["1", f"{STORE} Dublin · Retail · 120 transactions", "$3,000.00"] in rows
    assert ["Cash", "$234,567.50"] in rows
    assert ["19.0% · 2,345 tx"] in [row[1:] for row in rows]
    assert "seed 7" not in html  # in the run facts instead
    assert ["Seed", "7"] in rows
    for marker in REPRS:
        assert marker not in visible_text(html)


def test_html_with_insights_holds_comparisons_breakdowns_and_tops() -> None:
    html = full_report().html
    rows = html_rows(html)
    text = visible_text(html)
    assert (
        "Net sales (less refunds) $1,211,110.80 Total sales $1,234,567.50 less $23,456.70" in text
    )
    assert "+4.0% vs previous day ($1,164,804.89)" in text
    assert "+15.4% vs 6-day average ($1,049,134.15)" in text
    assert ["Total sales", "$1,234,567.50 ▲ +4.2% from $1,184,804.89"] in rows
    assert ["Smallest transaction", "$1.50 ● 0.0% from $1.50"] in rows
    assert ["Mon 2024-03-11", "n/a", "n/a"] in rows
    assert ["Fri 2024-03-15", "12,345", "$1,234,567.50"] in rows
    assert ["09:00", "$400,000.00", "21:00", "$0.00"] in rows
    assert "Busiest hour 14:00\u201315:00" in text
    assert ": $634,567.50 (51.4% of the day)" in text
    assert ["Food & Drink", "$500,000.00"] in rows
    assert ["1", "Espresso Machine Electronics · 25 units", "$5,000.00"] in rows
    assert ["2", "Jo O'Hara j***@example.net · 1 purchase", "$3,999.00"] in rows
    assert ["1", f"{STORE} Dublin · Retail · 120 transactions", "$3,000.00"] in rows
    assert "All 2 checks passed" in text
    assert ["Rows loaded", "customers 1,000, transactions 12,345"] in rows
    assert ["Duration", "12.5 s"] in rows
    # the inbox preview line, net sales first
    assert text.startswith(
        "Net sales (less refunds) $1,211,110.80 (+4.0% vs previous day), 12,345 transactions; "
    )


def test_text_and_html_hold_the_same_numbers() -> None:
    report = full_report()
    figure = re.compile(r"[-+]?[$€£]?\d[\d,]*(?:\.\d+)?%?")

    def figures(text: str) -> set[str]:
        return {f for f in figure.findall(text) if "$" in f or "%" in f}

    html_text = visible_text(report.html)
    from_text, from_html = figures(report.text), figures(html_text)
    assert from_text == from_html
    assert len(from_text) > 40


def test_html_is_for_mail_clients() -> None:
    html = full_report().html
    lowered = html.lower()
    for banned in ("<script", "<link", "<style", "@import", "url(", "javascript:", "<iframe"):
        assert banned not in lowered
    # no external resources: every image comes with the message
    sources = re.findall(r'src="([^"]*)"', html)
    assert sources and all(src.startswith("cid:") for src in sources)
    assert not re.search(r'(?:src|href|background)="(?:https?:)?//', lowered)
    assert "<table" in lowered and 'role="presentation"' in html
    assert 'name="viewport"' in html
    assert len(html.encode()) < 60_000  # Gmail clips messages above ~100 KB


def test_day_without_transactions() -> None:
    report = build_report(Settings(), empty_day(), insights=empty_insights())
    for rendering in (report.text, visible_text(report.html)):
        assert "No transactions" in rendering
        assert "Top product" not in rendering
        for marker in REPRS:
            assert marker not in rendering
    assert line_of(report.text, "Transactions").split() == ["Transactions", "0"]
    assert line_of(report.text, "Total sales").split() == ["Total", "sales", "$0.00"]
    assert "(none)" in report.text
    assert ["(none)"] in html_rows(report.html)
    assert report.images == ()


def test_a_day_without_sales_renders_every_part() -> None:
    """Zeros and nulls, as calculate_metrics gives them, after a week with sales."""
    report = build_report(Settings(), empty_day(), insights=empty_insights(history=True))
    assert report.subject == "Daily sales Fri 15 Mar: $0.00 (no transactions)"
    for rendering in (report.text, visible_text(report.html)):
        assert "No transactions on this date." in rendering
    assert line_of(report.text, "Transactions").split() == [
        "Transactions",
        "0",
        "11,000",
        "-100.0%",
    ]
    assert line_of(report.text, "Fri 2024-03-15").split() == [
        "Fri",
        "2024-03-15",
        "*",
        "0",
        "$0.00",
    ]
    assert [image.filename for image in report.images] == ["sales-trend.png"]
    rows = list(csv.DictReader(io.StringIO(report.attachments[0].content)))
    assert {r["metric"] for r in rows} == {key for _, key, *_ in KPIS} | {"hour_sales"}
    assert {r["value"] for r in rows} == {"0", "0.00"}


# -- escaping --------------------------------------------------------------------------------------
def test_html_escapes_names_and_text_keeps_them_verbatim() -> None:
    for report in (build_report(Settings(), metrics_doc(), insights=NO_HISTORY), full_report()):
        assert "O&#39;Brien &amp; &lt;Sons&gt;" in report.html
        assert STORE not in report.html
        assert "<Sons>" not in report.html
        assert STORE in visible_text(report.html)  # the escaped HTML reads as the real name
        assert STORE in report.text
        assert "&amp;" not in report.text
        assert "&lt;" not in report.text
        assert "&#39;" not in report.text
    html = full_report().html
    assert "Food &amp; Drink" in html
    assert "Tea &lt;Pot&gt;" in html
    assert "Jo O&#39;Hara" in html


def test_html_escapes_every_name() -> None:
    doc = metrics_doc(payment_methods={"<img src=x>": {"count": 1, "sales": 1.0}})
    insights = dataclasses.replace(
        insights_doc(),
        top_products=(Ranked(1, "1", "<b>Bold</b>", "", 1, 1, 1.0),),
        top_customers=(Ranked(1, "c1", "<script> alert(1)</script>", "", 1, 1, 1.0),),
    )
    checks = [CheckResult('"><svg onload=alert(1)>', False, 1, "<0>")]
    html = build_report(Settings(), doc, checks, insights=insights).html
    for raw in ("<b>", "<script>", "<img src=x", "<svg", "<0>"):  # the charts are <img>s
        assert raw not in html
    assert "&lt;b&gt;Bold&lt;/b&gt;" in html
    assert "&lt;script&gt;" in html
    assert "&lt;img src=x&gt;" in html
    assert "&#34;&gt;&lt;svg onload=alert(1)&gt;" in html


# -- data quality and run facts -------------------------------------------------------------------
def test_data_quality_section() -> None:
    checks = [
        CheckResult("orphan stores", True, 0, "0"),
        CheckResult("transactions row count", False, 999, "1000"),
    ]
    report = build_report(Settings(), metrics_doc(), checks, insights=insights_doc())
    assert "1 of 2 checks FAILED" in report.text
    assert line_of(report.text, "orphan stores").split()[-1] == "passed"
    assert line_of(report.text, "transactions row count").split()[-5:] == [
        "FAILED",
        "got",
        "999,",
        "expected",
        "1000",
    ]
    rows = html_rows(report.html)
    assert ["orphan stores", "passed"] in rows
    assert ["transactions row count got 999, expected 1000", "FAILED"] in rows
    assert visible_text(report.html).count("1 of 2 checks FAILED") == 2  # and the preview


def test_no_quality_section_without_checks() -> None:
    report = build_report(Settings(), metrics_doc(), insights=insights_doc())
    assert "Data quality" not in report.text
    assert "Data quality" not in report.html


def test_run_facts() -> None:
    run = RunFacts(row_counts={"transactions": 5}, seed=9, duration_seconds=125.2)
    report = build_report(Settings(seed=1), metrics_doc(), insights=insights_doc(), run=run)
    assert "Seed          9" in report.text
    assert "Duration      2 min 05 s" in report.text
    assert ["Rows loaded", "transactions 5"] in html_rows(report.html)


# -- charts ----------------------------------------------------------------------------------------
def test_charts_are_small_pngs_referenced_by_content_id() -> None:
    report = full_report()
    assert [image.filename for image in report.images] == ["hourly-sales.png", "sales-trend.png"]
    for image in report.images:
        assert image.data.startswith(b"\x89PNG\r\n\x1a\n")
        assert 2_000 < len(image.data) < 60_000
        assert b"Software" not in image.data[:200]  # no metadata that changes by version
        assert re.fullmatch(r"[a-z-]+\.\d{8}@customer-pipeline", image.cid)
        assert report.html.count(f'src="cid:{image.cid}"') == 1
        assert image.alt and f'alt="{image.alt}"' in report.html
    assert report.images[0].alt == "Sales by hour (local time): peak 14:00-15:00, $634,567.50"
    # the bars are total sales: so is the day's figure it names (not the net headline)
    assert report.images[1].alt == "Total sales of the last 7 days, 2024-03-15 last: $1,234,567.50"
    # deterministic: the same data gives the same bytes
    assert [i.data for i in full_report().images] == [i.data for i in report.images]
    # the browser version embeds them
    browser = report.browser_html()
    assert "cid:" not in browser
    assert browser.count("data:image/png;base64,") == 2


def test_the_trend_chart_needs_history() -> None:
    report = build_report(Settings(), metrics_doc(), insights=NO_HISTORY)
    assert [image.filename for image in report.images] == ["hourly-sales.png"]
    assert "Last 7 days" not in report.text


def test_matplotlib_is_not_imported_with_the_package() -> None:
    import subprocess
    import sys

    code = (
        "import sys, customer_pipeline.report, customer_pipeline.delivery, "
        "customer_pipeline.insights, customer_pipeline.report.charts; "
        "print('matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- the CSV and the files -------------------------------------------------------------------------
def test_kpis_as_csv() -> None:
    report = full_report()
    (attachment,) = report.attachments
    assert (attachment.filename, attachment.subtype) == (CSV_NAME, "csv")
    rows = list(csv.DictReader(io.StringIO(attachment.content)))
    by_metric = {(r["metric"], r["dimension"]): r for r in rows}
    assert {r["business_date"] for r in rows} == {"2024-03-15"}
    total = by_metric[("total_sales", "")]
    assert (total["value"], total["previous_day"], total["change_percent"]) == (
        "1234567.50",
        "1184804.89",
        "4.2",
    )
    assert by_metric[("transaction_count", "")]["value"] == "12345"
    for _, key, *_ in [(0, "average_transaction_amount"), (0, "unique_customers")]:
        assert (key, "") in by_metric
    assert by_metric[("top_store_sales", f"#3 {STORE}")]["value"] == "3000.00"
    assert by_metric[("payment_method_transactions", "Cash")]["value"] == "2345"
    assert by_metric[("category_sales", "Food & Drink")]["value"] == "500000.00"
    assert by_metric[("hour_sales", "14")]["value"] == "634567.50"
    assert len([r for r in rows if r["metric"] == "hour_sales"]) == 24


def test_csv_cells_never_start_a_formula() -> None:
    doc = metrics_doc(payment_methods={"=HYPERLINK(1)": {"count": 1, "sales": 1.0}})
    content = build_report(Settings(), doc, insights=insights_doc()).attachments[0].content
    assert "'=HYPERLINK(1)" in content


def test_files() -> None:
    report = full_report()
    assert [f.filename for f in report.files()] == [TEXT_NAME, CSV_NAME]
    assert report.files()[0].content == report.text


# -- masking ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("jane.doe@gmail.com", "j***@gmail.com"),
        ("j@x.org", "j***@x.org"),
        ("Élodie@exemple.fr", "É***@exemple.fr"),
        ("not-an-address", "***"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_email(address: str | None, masked: str) -> None:
    assert mask_email(address) == masked


def test_insights_must_be_of_the_same_date() -> None:
    other = Insights(business_date=DAY - dt.timedelta(days=1))
    with pytest.raises(
        ValueError, match="insights of 2024-03-14 given for the report of 2024-03-15"
    ):
        build_report(Settings(), metrics_doc(), insights=other)


def test_compiled_templates_are_cached_and_change_nothing(tmp_path: Path) -> None:
    settings = Settings(seed=7, cache_dir=tmp_path)
    first = build_report(settings, metrics_doc(), insights=insights_doc())
    assert len(list((tmp_path / "jinja").iterdir())) == 2  # the text and the HTML template
    second = build_report(settings, metrics_doc(), insights=insights_doc())
    uncached = build_report(
        Settings(seed=7, cache_dir=None), metrics_doc(), insights=insights_doc()
    )
    assert (first.text, first.html) == (second.text, second.html) == (uncached.text, uncached.html)


def test_an_unusable_template_cache_only_costs_the_compiling(tmp_path: Path) -> None:
    (tmp_path / "jinja").write_text("a file where the cache folder should be")
    report = build_report(Settings(seed=7, cache_dir=tmp_path), metrics_doc(), insights=NO_HISTORY)
    uncached = build_report(Settings(seed=7, cache_dir=None), metrics_doc(), insights=NO_HISTORY)
    assert report.html == uncached.html
    assert (tmp_path / "jinja").read_text() == "a file where the cache folder should be"


def test_chart_imports_can_be_made_ahead_in_a_thread() -> None:
    """A fresh interpreter: nothing of matplotlib until preload(), all of it after."""
    script = (
        "import sys; from customer_pipeline.report import preload_charts as preload;"
        "assert 'matplotlib.figure' not in sys.modules;"
        "preload().join();"
        "assert {'matplotlib.figure', 'matplotlib.backends.backend_agg'} <= set(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", script], check=True)


# -- baselines, flags, warnings, the Customers section ---------------------------------------------
def baseline_report(checks: list[CheckResult] | None = None):
    return (
        full_report(metrics=full_metrics_doc())
        if checks is None
        else build_report(Settings(seed=7), full_metrics_doc(), checks, insights=insights_doc())
    )


def test_flags_and_comparisons_in_text_and_html() -> None:
    report = baseline_report()
    assert report.alerts == 2
    for rendering in (report.text, visible_text(report.html)):
        assert "2 unusual" in rendering or "Unusual today (2)" in rendering
        assert "Transactions" in rendering and "9,000 to 11,000" in rendering
        # net sales' month to date and year over year; total sales' are not shown
        assert "$18,150,000.00" in rendering and "+6.0% vs" in rendering
        assert "+6.8%" in rendering
        assert "$18,500,000.00" not in rendering and "+7.5%" not in rendering
    assert "Transactions 12,345 (above usual: 9,000 to 11,000)" in report.text
    assert "Transactions above usual (12,345; usual 9,000 to 11,000)" in visible_text(report.html)
    row = line_of(report.text, "Discounts given")
    assert "$6,400.00 to $9,600.00" in row and "ABOVE USUAL" in row
    assert "ABOVE" not in line_of(report.text, "Total sales ")
    rows = html_rows(report.html)
    assert any(r[0] == "Transactions above usual" for r in rows)
    assert any(r[0] == "Total sales" and "usual $960,000.00 to $1,440,000.00" in r[1] for r in rows)


def test_nothing_unusual_is_said_too() -> None:
    doc = full_metrics_doc()
    for found in doc["baselines"].values():
        found["flag"] = "normal"
    report = build_report(Settings(), doc, insights=insights_doc())
    assert report.alerts == 0
    assert "unusual" not in report.subject
    assert "Nothing unusual: every KPI is within its usual band for a Friday." in report.text


def test_warnings_are_reported_and_count_as_alerts() -> None:
    checks = [
        CheckResult("orphan stores", True, 0, "0"),
        CheckResult("sales within the usual band of a Friday", False, 5.5, "10 to 20", "warning"),
    ]
    report = baseline_report(checks)
    assert report.alerts == 3
    assert "1 of 2 checks passed, 1 warning" in report.text
    assert line_of(report.text, "sales within").split()[-7:] == [
        "WARNING",
        "got",
        "5.50,",
        "expected",
        "10",
        "to",
        "20",
    ]
    assert ["sales within the usual band of a Friday got 5.50, expected 10 to 20", "WARNING"] in (
        html_rows(report.html)
    )


def test_the_customers_section() -> None:
    report = baseline_report()
    text = report.text
    assert "Repeat purchases (30 days): 62.0% (3,100 of 5,000 buyers bought on 2+ days)" in text
    assert line_of(text, "Mar 2024").split() == ["Mar", "2024", "93", "83", "89.2%"]
    assert line_of(text, "Champions").split() == ["Champions", "900", "16.3%", "$2,500,000.00"]
    assert line_of(text, "At risk").split() == ["At", "risk", "300", "5.4%", "$90,000.00"]
    rows = html_rows(report.html)
    assert ["Champions", "900 (16.3%)", "$2,500,000.00"] in rows
    assert ["Mar 2024", "93", "83 (89.2%)"] in rows
    assert "New buyers today 12 , returning 988 ." in visible_text(report.html)  # <strong>s


def test_the_csv_carries_the_baselines_and_flags() -> None:
    rows = list(csv.DictReader(io.StringIO(baseline_report().attachments[0].content)))
    by_metric = {(r["metric"], r["dimension"]): r for r in rows}
    count = by_metric[("transaction_count", "")]
    assert (count["expected"], count["usual_low"], count["usual_high"], count["flag"]) == (
        "10000",
        "9000",
        "11000",
        "above",
    )
    sales = by_metric[("total_sales", "")]
    assert (sales["expected"], sales["baseline_weeks"], sales["week_over_week_percent"]) == (
        "1200000.00",
        "8",
        "3.1",
    )
    assert sales["year_over_year_percent"] == "7.5"
    assert ("promotion_transactions", "") in by_metric  # a KPI beyond the headline ones


def test_text_and_html_hold_the_same_numbers_with_baselines() -> None:
    report = baseline_report()
    figure = re.compile(r"[-+]?[$€£]?\d[\d,]*(?:\.\d+)?%?")

    def figures(text: str) -> set[str]:
        return {f for f in figure.findall(text) if "$" in f or "%" in f}

    assert figures(report.text) == figures(visible_text(report.html))


def test_every_new_value_is_escaped() -> None:
    doc = full_metrics_doc()
    doc["customers"]["segments"][0]["segment"] = "<b>champions</b>"
    doc["baselines"]["<i>net</i>"] = dict(doc["baselines"]["total_sales"], flag="above")
    doc["<i>net</i>"] = 5.0
    checks = [CheckResult("<script>x</script>", False, 1, "<0 to 1>", "warning")]
    html = build_report(Settings(), doc, checks, insights=insights_doc()).html
    for raw in ("<b>champions", "<i>net", "<script>", "<0 to 1>"):
        assert raw not in html
    assert "&lt;b&gt;champions&lt;/b&gt;" in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html


def test_net_sales_stand_beside_gross_sales() -> None:
    report = build_report(Settings(), metrics_doc(), insights=NO_HISTORY)
    lines = report.text.splitlines()
    gross = next(i for i, line in enumerate(lines) if line.startswith("Total sales "))
    assert lines[gross + 1].split() == ["Net", "sales", "(less", "refunds)", "$1,211,110.80"]
    labels = [row[0] for row in html_rows(report.html)]
    assert labels.index("Net sales (less refunds)") == labels.index("Total sales") + 1


def test_the_promotions_running_explain_the_flags() -> None:
    report = baseline_report()
    text, html = report.text, visible_text(report.html)
    for rendering in (text, html):
        assert "Promotions running" in rendering
        assert "Running today: Black Friday, Reading week." in rendering  # beside the flags
        assert "25% off Electronics, 27 Nov to 30 Nov" in rendering
    assert line_of(text, "Black Friday").split()[-3:] == ["Nov", "1,800", "$200,000.00"]
    assert ["Black Friday 25% off Electronics, 27 Nov to 30 Nov · 1,800 lines", "$200,000.00"] in (
        html_rows(report.html)
    )
    rows = list(csv.DictReader(io.StringIO(report.attachments[0].content)))
    assert {(r["dimension"], r["value"]) for r in rows if r["metric"] == "campaign_sales"} == {
        ("Black Friday", "200000.00"),
        ("Reading week", "34567.80"),
    }


def test_no_promotion_no_section() -> None:
    doc = full_metrics_doc(promotions=[])
    report = build_report(Settings(), doc, insights=insights_doc())
    assert "Promotions running" not in report.text and "Running today" not in report.text
    assert "Promotions running" not in visible_text(report.html)


def test_a_campaign_name_is_escaped() -> None:
    doc = full_metrics_doc()
    doc["promotions"][0]["name"] = "<b>Black</b> Friday"
    html = build_report(Settings(), doc, insights=insights_doc()).html
    assert "<b>Black" not in html and "&lt;b&gt;Black&lt;/b&gt; Friday" in html
