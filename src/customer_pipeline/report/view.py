"""What the report shows, as small values: the templates read their attributes (and escape
them), the text tables, the charts and the CSV read them too.

Each value keeps its raw figures; what a reader sees (money with the day's currency, counts
with separators, shares, changes) is derived from them in properties, so both renderings
show the same strings.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from customer_pipeline import __version__
from customer_pipeline.insights import Group, Insights, Ranked
from customer_pipeline.report.formatting import (
    Change,
    currency_of,
    format_compact_money,
    format_count,
    format_duration,
    format_money,
    format_share,
    relative_change,
)
from customer_pipeline.settings import Settings

if TYPE_CHECKING:
    from customer_pipeline.quality import CheckResult

#: The headline KPIs, in report order: (label, key in the metrics document, is money,
#: polarity: 1 when more is better, 0 when a change is neither good nor bad).
KPIS: tuple[tuple[str, str, bool, int], ...] = (
    ("Total sales", "total_sales", True, 1),
    ("Net sales (less refunds)", "net_sales", True, 1),
    ("Transactions", "transaction_count", False, 1),
    ("Total quantity sold", "total_quantity_sold", False, 1),
    ("Average transaction", "average_transaction_amount", True, 1),
    ("Unique customers", "unique_customers", False, 1),
    ("Smallest transaction", "min_transaction_amount", True, 0),
    ("Largest transaction", "max_transaction_amount", True, 0),
    ("Baskets", "basket_count", False, 1),
    ("Average basket", "average_basket_value", True, 1),
    ("Items per basket", "items_per_basket", False, 1),
    ("New customers", "new_customers", False, 1),
    ("Returning customers", "returning_customers", False, 1),
    ("Sales on promotion", "promotion_sales", True, 1),
    ("Discounts given", "discount_total", True, 0),
)

#: The KPI the subject, the preheader and the headline lead with: net sales, the day's
#: sales less the refunds of the returns processed that day; total sales stand next to it.
HEADLINE_KPI = "net_sales"

#: The flags of a KPI outside its band (baselines.Band.flag), as the report says them.
UNUSUAL = {"above": "above usual", "below": "below usual"}

#: What each top 5 shows beside a name, by noun.
TOP_FIGURES: dict[str, Callable[[Ranked], str]] = {
    "product": lambda r: f"{r.quantity:,} units",
    "customer": lambda r: f"{r.transactions:,} purchase{'s' if r.transactions != 1 else ''}",
    "store": lambda r: f"{r.transactions:,} transactions",
}


def _is_money(key: str) -> bool:
    """A KPI not in KPIS is money when its name says so."""
    return key.endswith(("_sales", "_total", "_amount", "_value"))


@dataclass(frozen=True)
class Cohort:
    month: str  # YYYY-MM
    signed_up: int
    buying: int

    @property
    def label(self) -> str:
        return dt.date.fromisoformat(f"{self.month}-01").strftime("%b %Y")

    @property
    def share(self) -> str:
        return format_share(self.buying, self.signed_up)


@dataclass(frozen=True)
class Segment:
    name: str
    customers: int
    amount: float
    all_customers: int
    currency: str

    @property
    def label(self) -> str:
        return self.name.capitalize()

    @property
    def count(self) -> str:
        return format_count(self.customers)

    @property
    def sales(self) -> str:
        return format_money(self.amount, self.currency)

    @property
    def share(self) -> str:
        return format_share(self.customers, self.all_customers)


@dataclass(frozen=True)
class CustomersView:
    """The Customers section (customer_metrics.customers_section) and the day's new and
    returning buyers."""

    section: Mapping[str, Any]
    new: int
    returning: int
    currency: str

    @property
    def repeat_rate(self) -> str:
        return f"{float(self.section['repeat_rate']):.1f}%"

    @property
    def repeat_days(self) -> int:
        return int(self.section["repeat_days"])

    @property
    def rfm_days(self) -> int:
        return int(self.section["rfm_days"])

    @property
    def buyers(self) -> str:
        return format_count(self.section["buyers"])

    @property
    def repeat_buyers(self) -> str:
        return format_count(self.section["repeat_buyers"])

    @property
    def cohorts(self) -> tuple[Cohort, ...]:
        return tuple(
            Cohort(c["month"], c["signed_up"], c["buying"]) for c in self.section["cohorts"]
        )

    @property
    def segments(self) -> tuple[Segment, ...]:
        found = self.section["segments"]
        total = sum(int(s["customers"]) for s in found)
        return tuple(
            Segment(s["segment"], int(s["customers"]), float(s["sales"]), total, self.currency)
            for s in found
        )


@dataclass(frozen=True)
class RunFacts:
    """What the caller knows of the run that made the report (all optional)."""

    row_counts: Mapping[str, int] = field(default_factory=dict)
    seed: int | None = None
    duration_seconds: float | None = None
    run_id: str | None = None


@dataclass(frozen=True)
class Check:
    """One data-quality result, as the report shows it."""

    name: str
    passed: bool
    value: Any = None
    expected: Any = None
    severity: str = "error"

    @classmethod
    def of(cls, check: CheckResult) -> Check:
        return cls(check.name, check.passed, check.value, check.expected, check.severity)

    @property
    def problem(self) -> str:
        return "" if self.passed else f"got {format_count(self.value)}, expected {self.expected}"

    @property
    def result(self) -> str:
        """passed, WARNING or FAILED."""
        if self.passed:
            return "passed"
        return "WARNING" if self.severity == "warning" else "FAILED"


@dataclass(frozen=True)
class Kpi:
    """One headline figure of the day, and of the day before when it is known."""

    label: str
    key: str
    is_money: bool
    polarity: int
    today: Any
    previous_day: Any  # None without the KPIs of the day before
    currency: str
    #: its entry of the document's baselines (expected, low, high, flag, weeks, changes)
    baseline: Mapping[str, Any] = field(default_factory=dict)

    def _format(self, value: Any) -> str:
        return format_money(value, self.currency) if self.is_money else format_count(value)

    @property
    def flag(self) -> str:
        """above usual, below usual, or '' (normal, or no baseline)."""
        return UNUSUAL.get(self.baseline.get("flag") or "", "")

    @property
    def usual(self) -> str:
        """'1,000 to 1,200' (its band), or 'not enough history'."""
        low, high = self.baseline.get("low"), self.baseline.get("high")
        if low is None or high is None:
            return "not enough history" if self.baseline else ""
        if self.today is None or self.today >= 0:  # a band never goes below what can be
            low = max(low, 0)
        if not self.is_money and isinstance(self.today, int):  # the counts within the band
            low, high = math.ceil(low), math.floor(high)
        return f"{self._format(low)} to {self._format(high)}"

    def _change(self, key: str) -> Change | None:
        percent = self.baseline.get(key)
        return None if percent is None else Change(percent, self.polarity)

    @property
    def week_over_week(self) -> Change | None:
        return self._change("week_over_week")

    @property
    def year_over_year(self) -> Change | None:
        return self._change("year_over_year")

    @property
    def month_to_date(self) -> tuple[str, Change | None] | None:
        """(the month's total so far, its change vs the same days of last month)."""
        found = self.baseline.get("month_to_date")
        if not found:
            return None
        change = found.get("change")
        return self._format(found["value"]), None if change is None else Change(
            change, self.polarity
        )

    @property
    def value(self) -> str:
        return self._format(self.today)

    @property
    def previous(self) -> str | None:
        return None if self.previous_day is None else self._format(self.previous_day)

    @property
    def change(self) -> Change | None:
        return relative_change(self.today, self.previous_day, self.polarity)


@dataclass(frozen=True)
class Headline:
    """The day's HEADLINE_KPI against the day before and the average of the days before
    (the days whose stored KPIs have it)."""

    amount: float
    previous_amount: Any  # None without the KPI of the day before
    earlier_amounts: tuple[float, ...]
    currency: str

    @property
    def value(self) -> str:
        return format_money(self.amount, self.currency)

    @property
    def change(self) -> Change | None:
        return relative_change(self.amount, self.previous_amount)

    @property
    def previous(self) -> str | None:
        return (
            None
            if self.previous_amount is None
            else format_money(self.previous_amount, self.currency)
        )

    @property
    def average_days(self) -> int:
        return len(self.earlier_amounts)

    @property
    def average_amount(self) -> float | None:
        earlier = self.earlier_amounts
        return sum(earlier) / len(earlier) if earlier else None

    @property
    def average(self) -> str | None:
        return (
            None
            if self.average_amount is None
            else format_money(self.average_amount, self.currency)
        )

    @property
    def average_change(self) -> Change | None:
        return relative_change(self.amount, self.average_amount)


@dataclass(frozen=True)
class Share:
    """A part of the day's sales: a category, a store type, a payment method, an hour."""

    name: str
    transaction_count: int
    amount: float
    day_total: float
    currency: str

    @property
    def transactions(self) -> str:
        return format_count(self.transaction_count)

    @property
    def sales(self) -> str:
        return format_money(self.amount, self.currency)

    @property
    def share(self) -> str:
        return format_share(self.amount, self.day_total)

    @property
    def bar(self) -> int:
        """The bar's width in percent: at least 1 for any sales, 0 without."""
        percent = 100 * self.amount / self.day_total if self.day_total else 0.0
        return max(1, min(100, round(percent))) if self.amount > 0 else 0


@dataclass(frozen=True)
class Hour(Share):
    """An hour of the day (the stores' local time), named "00" to "23"."""

    @property
    def hour(self) -> str:
        return f"{self.name}:00"

    @property
    def until(self) -> str:
        return f"{int(self.name) + 1:02d}:00"


@dataclass(frozen=True)
class Breakdown:
    title: str
    rows: tuple[Share, ...]


@dataclass(frozen=True)
class TrendDay:
    """One of the last 7 dates, with its KPIs when they were calculated."""

    date: dt.date
    kpis: Mapping[str, Any] | None
    today: bool
    currency: str

    @property
    def label(self) -> str:
        return f"{self.date:%a} {self.date}"

    @property
    def transactions(self) -> str | None:
        return None if self.kpis is None else format_count(self.kpis["transaction_count"])

    @property
    def sales(self) -> str | None:
        return None if self.kpis is None else format_money(self.kpis["total_sales"], self.currency)

    @property
    def total_sales(self) -> float | None:
        return None if self.kpis is None else float(self.kpis["total_sales"])


@dataclass(frozen=True)
class TopRow:
    rank: int
    name: str
    detail: str
    figure: str
    amount: float
    currency: str

    @property
    def sales(self) -> str:
        return format_money(self.amount, self.currency)


@dataclass(frozen=True)
class Campaign:
    """A promotion running on the day, as the report names it, with its lines and sales."""

    name: str
    applies_to: str
    discount_percent: int
    start: dt.date | None
    end: dt.date | None
    transactions: int
    amount: float
    currency: str

    @classmethod
    def of(cls, entry: Mapping[str, Any], currency: str) -> Campaign:
        def day(value: Any) -> dt.date | None:
            return dt.date.fromisoformat(value) if value else None

        return cls(
            str(entry.get("name") or f"Promotion {entry.get('promotion_id')}"),
            str(entry.get("applies_to") or ""),
            int(entry.get("discount_percent") or 0),
            day(entry.get("start_date")),
            day(entry.get("end_date")),
            int(entry.get("transactions") or 0),
            float(entry.get("sales") or 0),
            currency,
        )

    @property
    def detail(self) -> str:
        """'25% off Electronics, 27 Nov to 30 Nov'."""
        dates = ""
        if self.start and self.end:
            dates = f", {self.start.day} {self.start:%b} to {self.end.day} {self.end:%b}"
        return f"{self.discount_percent}% off {self.applies_to}{dates}"

    @property
    def lines(self) -> str:
        return f"{format_count(self.transactions)} line{'s' * (self.transactions != 1)}"

    @property
    def sales(self) -> str:
        return format_money(self.amount, self.currency)


@dataclass(frozen=True)
class Top:
    """A top 5: products, customers or stores."""

    noun: str
    ranked: tuple[Ranked, ...]
    currency: str

    @property
    def title(self) -> str:
        count = len(self.ranked)
        return f"Top {count} {self.noun}s" if count > 1 else f"Top {self.noun}"

    @property
    def rows(self) -> tuple[TopRow, ...]:
        figure = TOP_FIGURES[self.noun]
        return tuple(
            TopRow(r.rank, r.name, r.detail, figure(r), r.sales, self.currency) for r in self.ranked
        )


@dataclass(frozen=True)
class ReportView:
    """Everything the report shows of one business date."""

    day: dt.date
    currency: str
    metrics: Mapping[str, Any]
    insights: Insights
    checks: tuple[Check, ...]
    run: RunFacts

    @classmethod
    def of(
        cls,
        settings: Settings,
        metrics: Mapping[str, Any],
        checks: Iterable[CheckResult],
        insights: Insights,
        run: RunFacts,
    ) -> ReportView:
        day = dt.date.fromisoformat(str(metrics["business_date"]))
        if insights.business_date != day:
            raise ValueError(f"insights of {insights.business_date} given for the report of {day}")
        if run.seed is None:
            run = dataclasses.replace(run, seed=settings.seed)
        checked = tuple(map(Check.of, checks))
        return cls(day, currency_of(settings.locale), metrics, insights, checked, run)

    @property
    def total(self) -> float:
        return float(self.metrics["total_sales"] or 0)

    @property
    def has_sales(self) -> bool:
        return int(self.metrics["transaction_count"] or 0) > 0

    @cached_property
    def previous(self) -> Mapping[str, Any] | None:
        """The KPIs of the date before, when they were calculated."""
        return self.insights.previous_day()

    @property
    def has_history(self) -> bool:
        return self.previous is not None

    @property
    def date_long(self) -> str:
        return f"{self.day:%A}, {self.day.day} {self.day:%B %Y}"

    @property
    def subject(self) -> str:
        """'Daily sales Sat 21 Nov: $6.45M (+3.1% vs last Sat) · 2 unusual'."""
        kpi = self.headline_kpi
        amount = format_compact_money(kpi.today, self.currency)
        headline = f"Daily sales {self.day:%a} {self.day.day} {self.day:%b}: {amount}"
        if not self.has_sales:
            return f"{headline} (no transactions)"
        if delta := kpi.week_over_week:
            headline += f" ({delta.text} vs last {self.day:%a})"
        return headline + (f" · {len(self.unusual)} unusual" if self.unusual else "")

    @property
    def baselines(self) -> Mapping[str, Mapping[str, Any]]:
        return self.metrics.get("baselines") or {}

    @cached_property
    def headline_kpi(self) -> Kpi:
        return next(kpi for kpi in self.all_kpis if kpi.key == HEADLINE_KPI)

    @cached_property
    def headline(self) -> Headline:
        # days stored before their document had the KPI (e.g. net sales before returns)
        # hold null: no change from them, and not in the average
        previous = self.previous.get(HEADLINE_KPI) if self.previous else None
        earlier = tuple(
            float(value)
            for day in self.insights.history
            if (value := day.get(HEADLINE_KPI)) is not None
        )
        return Headline(float(self.metrics[HEADLINE_KPI] or 0), previous, earlier, self.currency)

    @property
    def sales_and_refunds(self) -> tuple[str, str] | None:
        """(total sales, refunds) beside a net headline; None when the headline is total
        sales or the document has no refunds."""
        refunds = self.metrics.get("refund_total")
        if HEADLINE_KPI == "total_sales" or refunds is None:
            return None
        return format_money(self.total, self.currency), format_money(refunds, self.currency)

    @cached_property
    def unusual(self) -> tuple[Kpi, ...]:
        """The KPIs outside their band."""
        return tuple(kpi for kpi in self.all_kpis if kpi.flag)

    @cached_property
    def campaigns(self) -> tuple[Campaign, ...]:
        """The promotions running on the day, the largest sales first: what explains a
        flag on the promotion KPIs (and often on the volumes) while they run."""
        return tuple(
            Campaign.of(entry, self.currency) for entry in self.metrics.get("promotions") or ()
        )

    @property
    def warnings(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.passed and c.severity == "warning")

    @property
    def alerts(self) -> int:
        """What alert-only sends the report for: KPIs flagged, checks warning."""
        return len(self.unusual) + len(self.warnings)

    @property
    def weeks(self) -> int:
        """The weeks the baselines are based on (the most of any KPI)."""
        return max((int(b.get("weeks") or 0) for b in self.baselines.values()), default=0)

    @cached_property
    def customers(self) -> CustomersView | None:
        section = self.metrics.get("customers")
        if not section:
            return None
        return CustomersView(
            section,
            int(self.metrics.get("new_customers") or 0),
            int(self.metrics.get("returning_customers") or 0),
            self.currency,
        )

    @cached_property
    def kpis(self) -> tuple[Kpi, ...]:
        """The headline KPIs, in KPIS' order."""
        shown = {key for _, key, _, _ in KPIS}
        return tuple(kpi for kpi in self.all_kpis if kpi.key in shown)

    @cached_property
    def all_kpis(self) -> tuple[Kpi, ...]:
        """KPIS, then any other KPI the baselines cover (e.g. a KPI added since)."""
        before = self.previous
        known = [(label, key, money, polarity) for label, key, money, polarity in KPIS]
        named = {key for _, key, _, _ in KPIS}
        known += [
            (key.replace("_", " ").capitalize(), key, _is_money(key), 0)
            for key in self.baselines
            if key not in named and key in self.metrics
        ]
        return tuple(
            Kpi(
                label,
                key,
                is_money,
                polarity,
                self.metrics[key],
                before.get(key) if before else None,
                self.currency,
                self.baselines.get(key) or {},
            )
            for label, key, is_money, polarity in known
        )

    def _shares(self, groups: Iterable[Group]) -> tuple[Share, ...]:
        return tuple(
            Share(g.name, g.transactions, g.sales, self.total, self.currency) for g in groups
        )

    @cached_property
    def breakdowns(self) -> tuple[Breakdown, ...]:
        methods = sorted(
            (self.metrics.get("payment_methods") or {}).items(),
            key=lambda item: (-float(item[1]["sales"]), item[0]),
        )
        by_method = tuple(
            Share(str(m), int(row["count"]), float(row["sales"]), self.total, self.currency)
            for m, row in methods
        )
        return (
            Breakdown("Sales by category", self._shares(self.insights.by_category)),
            Breakdown("Sales by store type", self._shares(self.insights.by_store_type)),
            Breakdown("Sales by payment method", by_method),
        )

    @cached_property
    def hours(self) -> tuple[Hour, ...]:
        return tuple(
            Hour(g.name, g.transactions, g.sales, self.total, self.currency)
            for g in self.insights.by_hour
        )

    @cached_property
    def peak(self) -> Hour | None:
        """The busiest hour (the first of equals); None on a day without sales."""
        if not self.hours or not self.has_sales:
            return None
        return max(self.hours, key=lambda hour: hour.amount)

    @cached_property
    def trend(self) -> tuple[TrendDay, ...]:
        """The last 7 dates (the business date last) when any earlier one has KPIs."""
        if not self.insights.history:
            return ()
        stored = {day["business_date"]: day for day in self.insights.history}
        stored[self.day] = self.metrics
        dates = (self.day - dt.timedelta(days=offset) for offset in range(6, -1, -1))
        return tuple(
            TrendDay(day, stored.get(day), day == self.day, self.currency) for day in dates
        )

    @cached_property
    def tops(self) -> tuple[Top, ...]:
        ins = self.insights
        tops = {"product": ins.top_products, "customer": ins.top_customers, "store": ins.top_stores}
        return tuple(Top(noun, ranked, self.currency) for noun, ranked in tops.items() if ranked)

    @property
    def failed_checks(self) -> tuple[Check, ...]:
        """The checks of severity error that failed."""
        return tuple(c for c in self.checks if not c.passed and c.severity != "warning")

    @property
    def checks_summary(self) -> str:
        total, failed, warned = len(self.checks), len(self.failed_checks), len(self.warnings)
        if failed:
            return f"{failed} of {total} checks FAILED"
        if warned:
            return (
                f"{total - warned} of {total} checks passed, {warned} warning{'s' * (warned > 1)}"
            )
        return f"All {total} checks passed"

    @cached_property
    def run_facts(self) -> tuple[tuple[str, str], ...]:
        run, facts = self.run, []
        if run.row_counts:
            counts = ", ".join(f"{table} {format_count(n)}" for table, n in run.row_counts.items())
            facts.append(("Rows loaded", counts))
        facts.append(("Seed", str(run.seed)))
        if run.duration_seconds is not None:
            facts.append(("Duration", format_duration(run.duration_seconds)))
        if run.run_id:
            facts.append(("Run id", str(run.run_id)))
        facts.append(("Generated by", f"customer-pipeline {__version__}"))
        return tuple(facts)
