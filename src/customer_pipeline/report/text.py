"""The plain-text rendering's tables, laid out in columns (the HTML lays out its own)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from customer_pipeline.report.view import Breakdown, ReportView, Top


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


@dataclass(frozen=True)
class TextTables:
    """The text template's tables, each from the view; '' for a section not shown."""

    view: ReportView

    @property
    def kpis(self) -> str:
        kpis = self.view.kpis
        if not self.view.has_history:
            return text_table(["", "Today"], [[k.label, k.value] for k in kpis], "lr")
        return text_table(
            ["", "Today", "Previous day", "Change"],
            [[k.label, k.value, k.previous, k.change.text if k.change else "n/a"] for k in kpis],
            "lrrr",
        )

    @property
    def trend(self) -> str:
        if not self.view.trend:
            return ""
        rows = [
            [day.label + (" *" if day.today else ""), day.transactions or "n/a", day.sales or "n/a"]
            for day in self.view.trend
        ]
        return text_table(["Date", "Transactions", "Sales"], rows, "lrr")

    @property
    def hours(self) -> str:
        if not (self.view.has_sales and self.view.hours):
            return ""
        return text_table(["Hour", "Sales"], [[h.hour, h.sales] for h in self.view.hours], "lr")

    @staticmethod
    def breakdown(breakdown: Breakdown) -> str:
        if not breakdown.rows:
            return "(none)"
        return text_table(
            ["", "Transactions", "Sales", "Share"],
            [[r.name, r.transactions, r.sales, r.share] for r in breakdown.rows],
            "lrrr",
        )

    @staticmethod
    def top(top: Top) -> str:
        return text_table(
            ["#", "Name", "", "", "Sales"],
            [[r.rank, r.name, r.detail, r.figure, r.sales] for r in top.rows],
            "rlllr",
        )

    @property
    def checks(self) -> str:
        return text_table(
            ["Check", "Result", ""],
            [[c.name, "passed" if c.passed else "FAILED", c.problem] for c in self.view.checks],
            "lll",
        )

    @property
    def run(self) -> str:
        """The run's facts, label and value (a table without its header line)."""
        return text_table(["", ""], self.view.run_facts, "ll").split("\n", 1)[1]
