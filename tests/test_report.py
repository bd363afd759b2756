"""The daily report: a readable Daily_Report.txt and its HTML twin, from a KPI document.

The documents are built by hand in the shape of metrics.compute_metrics: no database.
"""

from __future__ import annotations

import re
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from customer_pipeline.quality import CheckResult
from customer_pipeline.report import HTML_NAME, TEXT_NAME, build_report
from customer_pipeline.settings import Settings

STORE = "O'Brien & <Sons>"
KPI_LABELS = (
    "Transactions",
    "Total sales",
    "Total quantity sold",
    "Average transaction",
    "Smallest transaction",
    "Largest transaction",
    "Unique customers",
)
REPRS = ("Decimal(", "{'", "['", "None", "datetime.", "<built-in", "object at 0x")


def metrics_doc(**changes: Any) -> dict[str, Any]:
    """A KPI document shaped like compute_metrics' result."""
    doc: dict[str, Any] = {
        "business_date": "2024-03-15",
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
    }
    doc.update(changes)
    return doc


def empty_day() -> dict[str, Any]:
    return metrics_doc(
        transaction_count=0,
        total_sales=0,
        total_quantity_sold=0,
        average_transaction_amount=0,
        min_transaction_amount=0,
        max_transaction_amount=0,
        unique_customers=0,
        top_product=None,
        top_customer=None,
        top_store=None,
        payment_methods={},
    )


def line_of(text: str, label: str) -> str:
    """The one line of `text` that starts with `label` followed by padding."""
    found = [line for line in text.splitlines() if re.match(rf"{re.escape(label)}\s", line)]
    assert len(found) == 1, (label, found)
    return found[0]


class Cells(HTMLParser):
    """The text of every table row, as lists of unescaped cell strings."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag == "td":
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def html_rows(html: str) -> list[list[str]]:
    parser = Cells()
    parser.feed(html)
    parser.close()
    return [row for row in parser.rows if row]


def test_subject_names_the_business_date() -> None:
    report = build_report(Settings(), metrics_doc())
    assert report.subject == "Daily Metrics Report 2024-03-15"


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
    text = build_report(Settings(seed=7), doc).text

    lines = text.splitlines()
    assert lines[0] == "Daily Metrics Report: 2024-03-15"
    assert lines[1] == "=" * len(lines[0])
    expected = {
        "Transactions": "12,345",
        "Total sales": "1,234,567.50",
        "Total quantity sold": "40,321",
        "Average transaction": "100.01",
        "Smallest transaction": "1.50",
        "Largest transaction": "9,999.99",
        "Unique customers": "1,000",
    }
    kpi_lines = [line_of(text, label) for label in KPI_LABELS]
    for line, (label, value) in zip(kpi_lines, expected.items(), strict=True):
        assert line.split() == [*label.split(), value]
        assert line.endswith(value)
    # values start in one column and end in one column
    assert len({len(line) for line in kpi_lines}) == 1
    value_starts = {len(line) - len(line.split()[-1]) for line in kpi_lines}
    assert min(value_starts) > max(len(label) for label in KPI_LABELS)

    assert "#7 Espresso Machine (5,000.00)" in line_of(text, "Top product")
    assert "Ann Lee (4,000.25" in line_of(text, "Top customer")
    assert f"#3 {STORE} (3,000.00)" in line_of(text, "Top store")

    header = line_of(text, "Method")
    cash, card = line_of(text, "Cash"), line_of(text, "Credit Card")
    assert header.split() == ["Method", "Count", "Sales"]
    assert cash.split() == ["Cash", "2,345", "234,567.50"]
    assert card.split() == ["Credit", "Card", "10,000", "1,000,000.00"]
    assert len(header) == len(cash) == len(card)
    assert header.index("Count") + len("Count") == cash.index("2,345") + len("2,345")
    assert text.index("Cash") < text.index("Credit Card")  # sorted by method

    assert "seed 7" in lines[-1]
    assert text.endswith("\n")
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
    text = build_report(Settings(), doc).text
    kpi_lines = [line_of(text, label) for label in KPI_LABELS]
    assert len({len(line) for line in kpi_lines}) == 1
    assert line_of(text, "Total sales").split() == ["Total", "sales", "123,456,789,012.34"]
    header, cash = line_of(text, "Method"), line_of(text, "Cash")
    assert cash.split() == ["Cash", "987,654,321", "123,456,789,012.34"]
    assert len(header) == len(cash)
    assert header.index("Count") + len("Count") == cash.index("987,654,321") + len("987,654,321")
    later = line_of(text, "Buy Now Pay Later Instalments")
    assert later.split()[-2:] == ["1", "0.50"]
    assert len(later) == len(header)


def test_html_twin_holds_the_same_figures() -> None:
    report = build_report(Settings(seed=7), metrics_doc())
    html = report.html
    assert html.lstrip().startswith("<!DOCTYPE html>")
    assert "<title>Daily Metrics Report: 2024-03-15</title>" in html
    rows = html_rows(html)
    assert ["Transactions", "12,345"] in rows
    assert ["Total sales", "1,234,567.50"] in rows
    assert ["Total quantity sold", "40,321"] in rows
    assert ["Average transaction", "100.01"] in rows
    assert ["Smallest transaction", "1.50"] in rows
    assert ["Largest transaction", "9,999.99"] in rows
    assert ["Unique customers", "1,000"] in rows
    assert ["Top product", "#7 Espresso Machine", "5,000.00"] in rows
    assert ["Top customer", "Ann Lee", "4,000.25"] in rows
    assert ["Method", "Count", "Sales"] in rows
    assert ["Cash", "2,345", "234,567.50"] in rows
    assert ["Credit Card", "10,000", "1,000,000.00"] in rows
    assert "seed 7" in html
    for marker in REPRS:
        assert marker not in html


def test_day_without_transactions() -> None:
    report = build_report(Settings(), empty_day())
    for rendering in (report.text, report.html):
        assert "No transactions" in rendering
        assert "Top product" not in rendering
        for marker in REPRS:
            assert marker not in rendering
    assert line_of(report.text, "Transactions").split() == ["Transactions", "0"]
    assert line_of(report.text, "Total sales").split() == ["Total", "sales", "0.00"]
    assert "(none)" in report.text
    assert ["(none)"] in html_rows(report.html)


def test_html_escapes_names_and_text_keeps_them_verbatim() -> None:
    report = build_report(Settings(), metrics_doc())
    assert "&amp;" in report.html
    assert "&lt;Sons&gt;" in report.html
    assert "<Sons>" not in report.html
    assert "O&#39;Brien" in report.html
    # the escaped HTML still reads as the real name
    assert ["Top store", f"#3 {STORE}", "3,000.00"] in html_rows(report.html)
    assert f"#3 {STORE} (3,000.00)" in report.text
    assert "&amp;" not in report.text
    assert "&lt;" not in report.text


def test_html_escapes_every_name() -> None:
    doc = metrics_doc(
        top_product={"product_id": 1, "product_name": "<b>Bold</b>", "sales": 1.0},
        top_customer={
            "customer_id": "c1",
            "first_name": "<script>",
            "last_name": "alert(1)</script>",
            "sales": 1.0,
        },
        payment_methods={"<img src=x>": {"count": 1, "sales": 1.0}},
    )
    html = build_report(Settings(), doc).html
    for raw in ("<b>", "<script>", "<img"):
        assert raw not in html
    assert "&lt;b&gt;Bold&lt;/b&gt;" in html
    assert "&lt;script&gt;" in html
    assert "&lt;img src=x&gt;" in html


@pytest.mark.parametrize("as_dicts", [True, False], ids=["dicts", "check-results"])
def test_data_quality_section(as_dicts: bool) -> None:
    checks = [
        CheckResult("orphan stores", True, 0, "0"),
        CheckResult("transactions row count", False, 999, "1000"),
    ]
    report = build_report(
        Settings(), metrics_doc(), [c.as_dict() for c in checks] if as_dicts else checks
    )
    assert line_of(report.text, "orphan stores").split()[-1] == "passed"
    assert line_of(report.text, "transactions row count").split()[-1] == "FAILED"
    assert ["orphan stores", "passed"] in html_rows(report.html)
    assert ["transactions row count", "FAILED"] in html_rows(report.html)


def test_no_quality_section_without_checks() -> None:
    report = build_report(Settings(), metrics_doc())
    assert "Data quality" not in report.text
    assert "Data quality" not in report.html


def test_write_puts_both_renderings_in_the_folder(tmp_path: Path) -> None:
    report = build_report(Settings(), metrics_doc())
    paths = report.write(tmp_path / "day")
    assert paths == {
        "text": str(tmp_path / "day" / TEXT_NAME),
        "html": str(tmp_path / "day" / HTML_NAME),
    }
    assert (tmp_path / "day" / "Daily_Report.txt").read_text(encoding="utf-8") == report.text
    assert (tmp_path / "day" / "Daily_Report.html").read_text(encoding="utf-8") == report.html
