"""Data-quality checks on a loaded day, independent of the constraints that should ensure them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from psycopg.rows import dict_row

from customer_pipeline.database import connect
from customer_pipeline.errors import QualityError
from customer_pipeline.settings import Settings

#: One pass over the day's rows (three hash joins) and a look at each dimension.
DAY_SQL = """
SELECT count(*) AS transactions,
       count(*) FILTER (WHERE c.customer_id IS NULL) AS orphan_customers,
       count(*) FILTER (WHERE p.product_id IS NULL) AS orphan_products,
       count(*) FILTER (WHERE s.store_id IS NULL) AS orphan_stores,
       count(*) FILTER (
           WHERE t.transaction_amount <> t.unit_price * t.quantity - t.discount_amount
              OR t.discount_amount < 0
       ) AS bad_amounts,
       count(*) FILTER (
           WHERE t.transaction_date < %(day)s::timestamp AT TIME ZONE 'UTC'
              OR t.transaction_date >= (%(day)s::date + 1)::timestamp AT TIME ZONE 'UTC'
       ) AS outside_the_day,
       count(*) FILTER (WHERE t.transaction_date < c.created_at) AS before_sign_up,
       (SELECT count(*) FROM customers) AS customers,
       (SELECT count(*) FROM products) AS products,
       (SELECT count(*) FROM stores) AS stores,
       (SELECT count(*) FROM promotions) AS promotions
FROM transactions t
LEFT JOIN customers c USING (customer_id)
LEFT JOIN products p USING (product_id)
LEFT JOIN stores s USING (store_id)
WHERE t.business_date = %(day)s
"""


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    value: int
    expected: str


@dataclass(frozen=True)
class Check:
    """A named rule on one figure of DAY_SQL: the figure must be 0."""

    name: str
    column: str

    def expected(
        self,
        generated: Mapping[str, int],  # noqa: ARG002 (the checks' interface: AsGenerated uses it)
    ) -> tuple[Callable[[int], bool], str]:
        """(does a value pass?, the expectation as the report shows it)"""
        return (lambda value: value == 0), "0"

    def judge(self, found: Mapping[str, int], generated: Mapping[str, int]) -> CheckResult:
        passes, shown = self.expected(generated)
        value = int(found[self.column])
        return CheckResult(self.name, passes(value), value, shown)


@dataclass(frozen=True)
class AsGenerated(Check):
    """The figure equals the rows generated for `table` (at_least: or exceeds them)."""

    table: str = ""
    at_least: bool = False

    def expected(self, generated: Mapping[str, int]) -> tuple[Callable[[int], bool], str]:
        rows = int(generated.get(self.table, 0))  # a table without files: none generated
        if self.at_least:
            return (lambda value: value >= rows), f">= {rows}"
        return (lambda value: value == rows), str(rows)


CHECKS: tuple[Check, ...] = (
    AsGenerated("transactions row count", "transactions", "transactions"),
    AsGenerated("customers present", "customers", "customers", at_least=True),
    AsGenerated("products present", "products", "products", at_least=True),
    AsGenerated("stores present", "stores", "stores", at_least=True),
    AsGenerated("promotions present", "promotions", "promotions", at_least=True),
    Check("orphan customers", "orphan_customers"),
    Check("orphan products", "orphan_products"),
    Check("orphan stores", "orphan_stores"),
    Check("amount = unit_price x quantity - discount_amount", "bad_amounts"),
    Check("transaction_date within business date (UTC)", "outside_the_day"),
    Check("no purchase before the customer signed up", "before_sign_up"),
)


def check_data_quality(
    settings: Settings, day: dt.date, expected_counts: Mapping[str, int]
) -> list[CheckResult]:
    """Run every check for `day`; raise QualityError naming the failures, if any."""
    with connect(settings) as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SET LOCAL work_mem = '256MB'")
        found = cur.execute(DAY_SQL, {"day": day}).fetchone()
    results = [check.judge(found, expected_counts) for check in CHECKS]
    failed = [r for r in results if not r.passed]
    if failed:
        raise QualityError(
            f"{len(failed)} data-quality check(s) failed for {day}: "
            + "; ".join(f"{r.name}: got {r.value}, expected {r.expected}" for r in failed)
        )
    return results
