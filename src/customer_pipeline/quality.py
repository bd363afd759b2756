"""Data-quality checks on a loaded day, independent of the constraints that should ensure them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass

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
       count(*) FILTER (WHERE t.transaction_amount <> t.unit_price * t.quantity) AS bad_amounts,
       count(*) FILTER (
           WHERE t.transaction_date < %(day)s::timestamp AT TIME ZONE 'UTC'
              OR t.transaction_date >= (%(day)s::date + 1)::timestamp AT TIME ZONE 'UTC'
       ) AS outside_the_day,
       count(*) FILTER (WHERE t.transaction_date < c.created_at) AS before_sign_up,
       (SELECT count(*) FROM customers) AS customers,
       (SELECT count(*) FROM products) AS products,
       (SELECT count(*) FROM stores) AS stores
FROM transactions t
LEFT JOIN customers c USING (customer_id)
LEFT JOIN products p USING (product_id)
LEFT JOIN stores s USING (store_id)
WHERE t.business_date = %(day)s
"""

#: check name -> (column of DAY_SQL, rule): 'zero', 'expected:<table>' or 'at_least:<table>'
CHECKS: dict[str, tuple[str, str]] = {
    "transactions row count": ("transactions", "expected:transactions"),
    "customers present": ("customers", "at_least:customers"),
    "products present": ("products", "at_least:products"),
    "stores present": ("stores", "at_least:stores"),
    "orphan customers": ("orphan_customers", "zero"),
    "orphan products": ("orphan_products", "zero"),
    "orphan stores": ("orphan_stores", "zero"),
    "amount = unit_price x quantity": ("bad_amounts", "zero"),
    "transaction_date within business date (UTC)": ("outside_the_day", "zero"),
    "no purchase before the customer signed up": ("before_sign_up", "zero"),
}


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    value: int
    expected: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _judge(rule: str, value: int, counts: Mapping[str, int]) -> tuple[bool, str]:
    kind, _, table = rule.partition(":")
    if kind == "zero":
        return value == 0, "0"
    expected = int(counts.get(table, 0))  # a table without files: none generated
    if kind == "expected":
        return value == expected, str(expected)
    return value >= expected, f">= {expected}"


def check_data_quality(
    settings: Settings, day: dt.date, expected_counts: Mapping[str, int]
) -> list[CheckResult]:
    """Run every check for `day`; raise QualityError naming the failures, if any."""
    with connect(settings) as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SET LOCAL work_mem = '256MB'")
        found = cur.execute(DAY_SQL, {"day": day}).fetchone()
    results = []
    for name, (column, rule) in CHECKS.items():
        value = int(found[column])
        passed, expected = _judge(rule, value, expected_counts)
        results.append(CheckResult(name, passed, value, expected))
    failed = [r for r in results if not r.passed]
    if failed:
        raise QualityError(
            f"{len(failed)} data-quality check(s) failed for {day}: "
            + "; ".join(f"{r.name}: got {r.value}, expected {r.expected}" for r in failed)
        )
    return results
