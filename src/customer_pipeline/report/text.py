"""The plain-text rendering's tables, laid out in columns (the HTML lays out its own)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from customer_pipeline.report.formatting import Change, format_count
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
        """Each KPI: today, its usual band on this weekday and flag, the changes."""
        view = self.view

        def change(delta: Change | None) -> str:
            return delta.text if delta else "n/a"

        history, baselines = view.has_history, bool(view.baselines)
        rows = [
            [
                k.label,
                k.value,
                (k.previous or "n/a") if history else "",
                change(k.change) if history else "",
                k.usual,
                k.flag.upper(),
                change(k.week_over_week) if baselines else "",
            ]
            for k in view.all_kpis
        ]
        headers = ["", "Today", "Previous day", "Change"] if history else ["", "Today", "", ""]
        usual = f"Usual {view.day:%a} ({view.weeks} wk)" if baselines else ""
        return text_table(
            [*headers, usual, "", "vs last week" if baselines else ""], rows, "lrrrrlr"
        )

    @property
    def comparisons(self) -> str:
        """The headline KPI's week over week, month to date and year over year."""
        kpi = self.view.headline_kpi
        rows = []
        if kpi.week_over_week:
            rows.append([f"vs last {self.view.day:%A}", kpi.week_over_week.text, ""])
        if mtd := kpi.month_to_date:
            rows.append(["Month to date", mtd[0], f"{mtd[1].text} vs last month" if mtd[1] else ""])
        if kpi.year_over_year:
            rows.append(["vs a year ago (same weekday)", kpi.year_over_year.text, ""])
        return text_table(["", "", ""], rows, "lrl").split("\n", 1)[1] if rows else ""

    @property
    def customers(self) -> str:
        section = self.view.customers
        if section is None:
            return ""
        lines = [
            f"New buyers today: {format_count(section.new)}; returning: "
            f"{format_count(section.returning)}",
            f"Repeat purchases ({section.repeat_days} days): {section.repeat_rate} "
            f"({section.repeat_buyers} of {section.buyers} buyers bought on 2+ days)",
            "",
            text_table(
                ["Signed up", "Customers", f"Bought in {section.repeat_days} days", "Share"],
                [
                    [c.label, format_count(c.signed_up), format_count(c.buying), c.share]
                    for c in section.cohorts
                ],
                "lrrr",
            ),
            "",
            text_table(
                [f"Segment ({section.rfm_days} days)", "Customers", "Share", "Sales"],
                [[g.label, g.count, g.share, g.sales] for g in section.segments],
                "lrrr",
            ),
        ]
        return "\n".join(lines)

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
    def campaigns(self) -> str:
        return (
            text_table(
                ["Promotion", "", "Lines", "Sales"],
                [
                    [c.name, c.detail, format_count(c.transactions), c.sales]
                    for c in self.view.campaigns
                ],
                "llrr",
            )
            if self.view.campaigns
            else ""
        )

    @property
    def checks(self) -> str:
        return text_table(
            ["Check", "Result", ""],
            [[c.name, c.result, c.problem] for c in self.view.checks],
            "lll",
        )

    @property
    def run(self) -> str:
        """The run's facts, label and value (a table without its header line)."""
        return text_table(["", ""], self.view.run_facts, "ll").split("\n", 1)[1]
