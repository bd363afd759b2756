"""Data-quality checks on a loaded day, each of severity "error" or "warning".

The checks, in the report's order:

- freshness: the day's transactions as generated; the day's sign-ups in customers (the
  calendar's count); products, stores and promotions as generated, at least;
- integrity: every line's customer, product, store and promotion exist: the validated
  foreign keys of transactions guarantee it (checked in the catalog, not by joining every
  customer); amounts = unit_price x quantity - discount; timestamps within the business
  date (UTC): transactions' validated CHECK constraints guarantee them (checked in the
  catalog; the day's lines are counted only when a constraint is gone); no purchase
  before the customer signed up;
- volume: the day's transactions, baskets, sales and new customers against the same
  weekday of the previous weeks (:mod:`customer_pipeline.baselines`): outside
  [0.5x, 2x] the expected value is an error, outside the KPI's usual band a warning.

Everything reads the day's partition of customer_days (the day's lines, sales and
baskets, summed when they were loaded; the lines themselves only for a new buyer who
bought before signing up, or a CHECK constraint gone), the catalog, the day's (and later)
sign-ups by the customers' created_at index, the small dimensions and a
few rows of daily_metrics: the cost follows the day, not the history. The results are
stored per day in ``quality_results`` (replaced when the checks run again); an error
raises QualityError, which stops the day before its KPIs are published; warnings go in
the report.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import psycopg
from psycopg.rows import dict_row

from customer_pipeline.baselines import NOT_ENOUGH, Band, band_of, load_history
from customer_pipeline.database import connect, for_day_scans
from customer_pipeline.errors import QualityError
from customer_pipeline.settings import Settings

#: The day's figures, without reading the day's lines in the ordinary case: its lines,
#: sales and baskets from the day's customer_days (the day's lines summed per customer,
#: written from them in the transaction that swapped them in: what was loaded); its
#: amounts and timestamps guaranteed by transactions' validated CHECK constraints (a
#: partition cannot be attached without them, nor a line written against them: checked in
#: the catalog, as the foreign keys are), the lines counted only when one of those is gone;
#: the day's buyers who signed up since the day's start (found by the customers_created_at
#: index: the day's new buyers, and the only ones who can have bought before signing up:
#: their lines are read only when one of them did), the day's sign-ups, the small
#: dimensions' counts and the catalog's validated foreign keys of transactions.
DAY_SQL = """
WITH lines AS (
    SELECT coalesce(sum(lines), 0) AS transactions,
           coalesce(sum(cents), 0) / 100.0 AS sales,
           coalesce(sum(baskets), 0) AS baskets
    FROM customer_days WHERE business_date = %(day)s
), guaranteed AS (
    SELECT count(*) FILTER (WHERE conname = ANY(%(amount_checks)s)) = %(amount_count)s
               AS amounts,
           count(*) FILTER (WHERE conname = ANY(%(date_checks)s)) = %(date_count)s AS dates
    FROM pg_constraint
    WHERE conrelid = 'transactions'::regclass AND contype = 'c' AND convalidated
), signed_up_buyers AS MATERIALIZED (
    -- bounded by the latest sign-up (the index's last entry): a range the planner reads
    -- by the index whatever its statistics of customers say (they lag the day's load)
    SELECT d.customer_id, d.first_purchase, c.created_at
    FROM customer_days d JOIN customers c USING (customer_id)
    WHERE d.business_date = %(day)s AND c.created_at >= %(start)s
      AND c.created_at <= (SELECT max(created_at) FROM customers)
)
SELECT lines.*,
       CASE WHEN (SELECT amounts FROM guaranteed) THEN 0 ELSE (
           SELECT count(*) FROM transactions
           WHERE business_date = %(day)s
             AND (transaction_amount <> unit_price * quantity - discount_amount
                  OR discount_amount < 0))
       END AS bad_amounts,
       CASE WHEN (SELECT dates FROM guaranteed) THEN 0 ELSE (
           SELECT count(*) FROM transactions
           WHERE business_date = %(day)s
             AND (transaction_date < %(start)s OR transaction_date >= %(end)s))
       END AS outside_the_day,
       (SELECT count(*) FROM transactions t JOIN signed_up_buyers s USING (customer_id)
        WHERE t.business_date = %(day)s AND s.first_purchase < s.created_at
          AND t.transaction_date < s.created_at) AS before_sign_up,
       (SELECT count(*) FROM customers
        WHERE created_at >= %(start)s AND created_at < %(end)s) AS signups,
       (SELECT count(*) FROM signed_up_buyers WHERE created_at < %(end)s) AS new_customers,
       (SELECT count(*) FROM products) AS products,
       (SELECT count(*) FROM stores) AS stores,
       (SELECT count(*) FROM promotions) AS promotions,
       (SELECT count(*) FROM pg_constraint
        WHERE conrelid = 'transactions'::regclass AND contype = 'f' AND convalidated
       ) AS foreign_keys
FROM lines
"""

#: transactions' CHECK constraints (schema.sql) that guarantee the amount check (amount =
#: unit_price x quantity - discount, discount >= 0) and the timestamp check (within the
#: business date): while all are there and validated, no line of any partition breaks them.
AMOUNT_CHECKS = (
    "transactions_amount_is_price_times_quantity_less_discount",
    "transactions_discount_amount_check",
)
DATE_CHECKS = ("transactions_date_within_business_date",)

#: transactions' foreign keys: customer, product, store, promotion.
FOREIGN_KEYS = 4

#: The volume checks: (what, the figure of DAY_SQL, the KPI of daily_metrics).
VOLUMES = (
    ("transactions", "transactions", "transaction_count"),
    ("baskets", "baskets", "basket_count"),
    ("sales", "sales", "total_sales"),
    ("new customers", "new_customers", "new_customers"),
)

STORE_SQL = """
INSERT INTO quality_results
    (business_date, check_name, severity, passed, value, expected, low, high)
VALUES (%(day)s, %(name)s, %(severity)s, %(passed)s, %(value)s, %(expected)s, %(low)s,
        %(high)s)
"""


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    value: float  # an int for counts
    expected: str  # the expectation as the report shows it
    severity: str = "error"  # or "warning": reported, the day goes on
    low: float | None = None  # the limits, when the check has a range
    high: float | None = None

    @property
    def problem(self) -> str:
        return "" if self.passed else f"got {_shown(self.value)}, expected {self.expected}"


def _shown(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"


def _equal(name: str, value: int, expected: int) -> CheckResult:
    return CheckResult(name, value == expected, value, f"{expected:,}")


def _at_least(name: str, value: int, expected: int) -> CheckResult:
    return CheckResult(name, value >= expected, value, f">= {expected:,}")


def _zero(name: str, value: int) -> CheckResult:
    return CheckResult(name, value == 0, value, "0")


def signups_on(settings: Settings, day: dt.date) -> int:
    """Customers who sign up on `day`, by the calendar."""
    from customer_pipeline.generate.calendar import customers_through

    if day < settings.history_start:
        return 0
    return customers_through(settings, day) - customers_through(
        settings, day - dt.timedelta(days=1)
    )


def _integrity(
    settings: Settings, day: dt.date, found: Mapping[str, int], generated: Mapping[str, int]
) -> list[CheckResult]:
    def rows(table: str) -> int:  # a table without files: none generated
        return int(generated.get(table, 0))

    return [
        _equal("transactions as generated", int(found["transactions"]), rows("transactions")),
        _equal("customers signed up on the day", int(found["signups"]), signups_on(settings, day)),
        _at_least("products present", int(found["products"]), rows("products")),
        _at_least("stores present", int(found["stores"]), rows("stores")),
        _at_least("promotions present", int(found["promotions"]), rows("promotions")),
        _equal(
            "no orphan customer, product, store, promotion (validated foreign keys)",
            int(found["foreign_keys"]),
            FOREIGN_KEYS,
        ),
        _zero("amount = unit_price x quantity - discount_amount", int(found["bad_amounts"])),
        _zero("transaction_date within business date (UTC)", int(found["outside_the_day"])),
        _zero("no purchase before the customer signed up", int(found["before_sign_up"])),
    ]


def _volume(what: str, value: float, band: Band, weekday: str) -> list[CheckResult]:
    """The error check (within [0.5x, 2x] expected) and the warning (within the band)."""
    checks = (
        (f"{what} within 0.5x-2x of a usual {weekday}", "error"),
        (f"{what} within the usual band of a {weekday}", "warning"),
    )
    count = isinstance(value, int)
    limits = band.error_limits(count=count)
    if limits is None:
        shown = f"{NOT_ENOUGH} ({band.weeks} weeks)"
        return [CheckResult(name, True, value, shown, severity) for name, severity in checks]
    results = []
    for (name, severity), (low, high) in zip(checks, (limits, (band.low, band.high)), strict=True):
        # a count passes between whole numbers: the limits as the counts that pass
        low, high = (math.ceil(low), math.floor(high)) if count else (round(low, 2), round(high, 2))
        low = max(low, 0)
        expected = f"{low:,} to {high:,}" if count else f"{low:,.2f} to {high:,.2f}"
        results.append(
            CheckResult(name, low <= value <= high, value, expected, severity, low, high)
        )
    return results


def run_checks(
    conn: psycopg.Connection, settings: Settings, day: dt.date, generated: Mapping[str, int]
) -> list[CheckResult]:
    """Every check of `day`, on `conn` (nothing stored)."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    params = {
        "day": day,
        "start": start,
        "end": start + dt.timedelta(days=1),
        "amount_checks": list(AMOUNT_CHECKS),
        "amount_count": len(AMOUNT_CHECKS),
        "date_checks": list(DATE_CHECKS),
        "date_count": len(DATE_CHECKS),
    }
    with conn.cursor(row_factory=dict_row) as cur:
        for_day_scans(conn)
        found = cur.execute(DAY_SQL, params).fetchone()
    history = load_history(conn, day)
    results = _integrity(settings, day, found, generated)
    for what, figure, kpi in VOLUMES:
        value = found[figure]
        value = int(value) if figure != "sales" else float(round(value, 2))
        results += _volume(what, value, band_of(history, day, kpi), f"{day:%A}")
    return results


def store_results(conn: psycopg.Connection, day: dt.date, results: Sequence[CheckResult]) -> None:
    """Replace the day's stored results with `results`."""
    conn.execute("DELETE FROM quality_results WHERE business_date = %s", [day])
    with conn.cursor() as cur:
        cur.executemany(
            STORE_SQL,
            [
                {
                    "day": day,
                    "name": r.name,
                    "severity": r.severity,
                    "passed": r.passed,
                    "value": r.value,
                    "expected": r.expected,
                    "low": r.low,
                    "high": r.high,
                }
                for r in results
            ],
        )


def check_data_quality(
    settings: Settings, day: dt.date, expected_counts: Mapping[str, int]
) -> list[CheckResult]:
    """Run every check for `day` and store the results; raise QualityError naming the
    failed checks of severity error, if any (warnings are returned with the others)."""
    with connect(settings) as conn:
        results = run_checks(conn, settings, day, expected_counts)
        store_results(conn, day, results)
    errors = [r for r in results if not r.passed and r.severity == "error"]
    if errors:
        raise QualityError(
            f"{len(errors)} data-quality check(s) failed for {day}: "
            + "; ".join(f"{r.name}: {r.problem}" for r in errors),
            details=tuple(f"{r.name}: {r.problem}" for r in errors),
        )
    return results


def failed_checks(settings: Settings, day: dt.date) -> list[str]:
    """The stored failed checks of severity error of `day`, as the incident shows them."""
    with connect(settings) as conn:
        rows = conn.execute(
            "SELECT check_name, value, expected FROM quality_results "
            "WHERE business_date = %s AND NOT passed AND severity = 'error' ORDER BY check_name",
            [day],
        ).fetchall()
    return [
        f"{name}: got {_shown(_number(value))}, expected {expected}"
        for name, value, expected in rows
    ]


def _number(value: object) -> float:
    """A stored NUMERIC as the check's value: an int when whole."""
    number = float(value)  # type: ignore[arg-type]
    return int(number) if number.is_integer() else number
