"""Baselines: what each KPI usually is on the day's weekday, and how the day compares.

Every numeric KPI of the day's document gets:

- a **baseline** from the same weekday of the previous :data:`WEEKS` weeks (those whose
  KPIs are stored; fewer than :data:`MIN_WEEKS`: "not enough history"): the expected
  value is their median, the band is expected ± the widest of
  :data:`MAD_MULTIPLIER` x 1.4826 x their median absolute deviation (1.4826 MAD estimates
  a standard deviation, robustly: one odd week does not move it),
  :data:`MIN_RELATIVE_WIDTH` of the expected value (an ordinary week's spread, which 4 to
  8 points underestimate); a count's band also holds its Poisson noise (the
  :data:`COUNT_TAIL` and 1 - COUNT_TAIL quantiles of a Poisson count whose mean is the
  largest of the median, the mean and 1: a small count's median is a poor mean, 0 0 1 2
  has a median of 0.5), and an extreme's (``min_``/``max_``: one line of the day, heavy
  tailed) the range of the weeks' values. Outside the band, the KPI is flagged "above"
  or "below";
- its **changes**, in percent: day over day, week over week (the same weekday a week
  before), year over year (the same weekday 52 weeks before) and, for the additive KPIs,
  month to date (the month's days through this one against the same days of the previous
  month, when every one of them has KPIs).

Only the days these need are read from daily_metrics (at most 8 + 2 + 62 rows), whatever
the history's length. Comparisons never leave the schema, which holds one dataset.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

WEEKS = 8
MIN_WEEKS = 3
MAD_MULTIPLIER = 4.0
MIN_RELATIVE_WIDTH = 0.2
COUNT_TAIL = 0.001
#: Above this mean a Poisson count's quantiles are the normal approximation's.
POISSON_EXACT_BELOW = 100.0
#: The volume checks' error limits: below half or above double the expected value (a
#: count also keeps ERROR_COUNT_NOISE x √expected either side).
ERROR_LOW, ERROR_HIGH, ERROR_COUNT_NOISE = 0.5, 2.0, 5.0
NOT_ENOUGH = "not enough history"

#: KPIs that add up over days: the ones month to date compares (others are averages,
#: extremes or distinct counts).
ADDITIVE = (
    "transaction_count",
    "total_sales",
    "total_quantity_sold",
    "basket_count",
    "new_customers",
    "discount_total",
    "promotion_sales",
    "promotion_transactions",
    "net_sales",
    "refund_total",
    "returns_count",
    "customers_moved",
    "customers_closed",
)

#: The stored KPI documents of some dates (only the `metrics` column: one row a date).
HISTORY_SQL = "SELECT business_date, metrics FROM daily_metrics WHERE business_date = ANY(%s)"


@dataclass(frozen=True)
class Band:
    """A KPI's baseline: the expected value and the band around it, from `weeks` weeks."""

    expected: float | None
    low: float | None
    high: float | None
    weeks: int

    @classmethod
    def of(cls, values: Sequence[float], *, count: bool = False, extreme: bool = False) -> Band:
        if len(values) < MIN_WEEKS:
            return cls(None, None, None, len(values))
        expected = statistics.median(values)
        deviation = statistics.median(abs(value - expected) for value in values)
        half = max(MAD_MULTIPLIER * 1.4826 * deviation, MIN_RELATIVE_WIDTH * abs(expected))
        low, high = expected - half, expected + half
        if count:
            mean = max(expected, statistics.fmean(values), 1.0)
            low = min(low, poisson_quantile(mean, COUNT_TAIL))
            high = max(high, poisson_quantile(mean, 1 - COUNT_TAIL))
        if extreme:
            low, high = min(low, min(values)), max(high, max(values))
        return cls(expected, low, high, len(values))

    def flag(self, value: float) -> str:
        """'above', 'below', 'normal', or NOT_ENOUGH without a baseline."""
        if self.expected is None:
            return NOT_ENOUGH
        if value > self.high:
            return "above"
        return "below" if value < self.low else "normal"

    def error_limits(self, *, count: bool = False) -> tuple[float, float] | None:
        """The volume checks' wide band: [ERROR_LOW x, ERROR_HIGH x] expected."""
        if self.expected is None:
            return None
        expected = self.expected
        noise = ERROR_COUNT_NOISE * math.sqrt(max(abs(expected), 1)) if count else 0.0
        return min(ERROR_LOW * expected, expected - noise), max(
            ERROR_HIGH * expected, expected + noise
        )


def poisson_quantile(mean: float, p: float) -> int:
    """The smallest k with P(X <= k) >= p for a Poisson count X of this mean (above
    POISSON_EXACT_BELOW, the normal approximation's, rounded)."""
    if mean >= POISSON_EXACT_BELOW:
        return max(0, round(mean + statistics.NormalDist().inv_cdf(p) * math.sqrt(mean)))
    k, term = 0, math.exp(-mean)
    total = term
    while total < p:
        k += 1
        term *= mean / k
        total += term
    return k


def history_dates(day: dt.date) -> list[dt.date]:
    """Every date the comparisons of `day` read: the weeks, the day and the year before,
    and the month to date of this month and the previous one."""
    weeks = [day - dt.timedelta(weeks=k) for k in range(1, WEEKS + 1)]
    before = [day - dt.timedelta(days=1), day - dt.timedelta(weeks=52)]
    return sorted({*weeks, *before, *month_to_date(day)[0], *month_to_date(day)[1]} - {day})


def month_to_date(day: dt.date) -> tuple[list[dt.date], list[dt.date]]:
    """The month's dates through `day`, and the same days of the previous month (as many
    as it has)."""
    this = [day.replace(day=d) for d in range(1, day.day + 1)]
    last_month = (day.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    length = calendar.monthrange(last_month.year, last_month.month)[1]
    return this, [last_month.replace(day=d) for d in range(1, min(day.day, length) + 1)]


def load_history(conn: psycopg.Connection, day: dt.date) -> dict[dt.date, Mapping[str, Any]]:
    """The stored KPI documents of the dates the comparisons of `day` read."""
    rows = conn.execute(HISTORY_SQL, [history_dates(day)]).fetchall()
    return {date: document for date, document in rows}


def kpi_names(document: Mapping[str, Any]) -> list[str]:
    """The document's numeric KPIs, in its order."""
    return [key for key, value in document.items() if _number(value)]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def same_weekdays(history: Mapping[dt.date, Mapping[str, Any]], day: dt.date, key: str) -> list:
    """The KPI's values on the same weekday of the previous WEEKS weeks, where stored."""
    found = (history.get(day - dt.timedelta(weeks=k)) for k in range(1, WEEKS + 1))
    return [doc[key] for doc in found if doc is not None and _number(doc.get(key))]


def band_of(history: Mapping[dt.date, Mapping[str, Any]], day: dt.date, key: str) -> Band:
    values = same_weekdays(history, day, key)
    count = bool(values) and all(isinstance(v, int) for v in values)
    return Band.of(values, count=count, extreme=key.startswith(("min_", "max_")))


def percent_change(now: Any, before: Any) -> float | None:
    """The change from `before` to `now` in percent (2 decimals); None without a non-zero
    `before`."""
    if not (_number(now) and _number(before)) or before == 0:
        return None
    return round(100 * (now - before) / abs(before), 2)


def _value(history: Mapping[dt.date, Mapping[str, Any]], day: dt.date, key: str) -> Any:
    return (history.get(day) or {}).get(key)


def _month_to_date(
    history: Mapping[dt.date, Mapping[str, Any]],
    document: Mapping[str, Any],
    day: dt.date,
    key: str,
) -> dict[str, Any] | None:
    """{value, previous, change} of an additive KPI; None when a day of either is missing."""
    if key not in ADDITIVE:
        return None
    this, last = month_to_date(day)
    known = {**history, day: document}

    def total(dates: Iterable[dt.date]) -> float | None:
        values = [_value(known, date, key) for date in dates]
        return None if not all(map(_number, values)) else sum(values)

    now, before = total(this), total(last)
    if now is None or before is None:
        return None
    rounded = (lambda v: v) if isinstance(document[key], int) else (lambda v: round(v, 2))
    return {
        "value": rounded(now),
        "previous": rounded(before),
        "change": percent_change(now, before),
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def kpi_baselines(
    document: Mapping[str, Any], history: Mapping[dt.date, Mapping[str, Any]], day: dt.date
) -> dict[str, dict[str, Any]]:
    """Per numeric KPI of the day's `document`: expected, low, high, flag, weeks, and the
    changes (day_over_day, week_over_week, year_over_year, month_to_date)."""
    out = {}
    for key in kpi_names(document):
        value, band = document[key], band_of(history, day, key)
        out[key] = {
            "expected": _rounded(band.expected),
            "low": _rounded(band.low),
            "high": _rounded(band.high),
            "flag": band.flag(value),
            "weeks": band.weeks,
            "day_over_day": percent_change(value, _value(history, day - dt.timedelta(1), key)),
            "week_over_week": percent_change(value, _value(history, day - dt.timedelta(7), key)),
            "year_over_year": percent_change(
                value, _value(history, day - dt.timedelta(weeks=52), key)
            ),
            "month_to_date": _month_to_date(history, document, day, key),
        }
    return out


def flagged(baselines: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The KPIs outside their band."""
    return [key for key, found in baselines.items() if found["flag"] in ("above", "below")]
