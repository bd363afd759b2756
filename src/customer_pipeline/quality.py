"""Data-quality checks on a loaded day, independent of the constraints that should ensure them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from customer_pipeline.database import connect
from customer_pipeline.errors import QualityError
from customer_pipeline.settings import Settings

#: name -> (SQL returning one number, what the number must be: 'zero' or 'expected')
CHECKS: dict[str, tuple[str, str]] = {
    "transactions row count": (
        "SELECT count(*) FROM transactions WHERE business_date = %(day)s",
        "expected:transactions",
    ),
    "customers present": ("SELECT count(*) FROM customers", "at_least:customers"),
    "products present": ("SELECT count(*) FROM products", "at_least:products"),
    "stores present": ("SELECT count(*) FROM stores", "at_least:stores"),
    "orphan customers": (
        "SELECT count(*) FROM transactions t WHERE t.business_date = %(day)s "
        "AND NOT EXISTS (SELECT 1 FROM customers c WHERE c.customer_id = t.customer_id)",
        "zero",
    ),
    "orphan products": (
        "SELECT count(*) FROM transactions t WHERE t.business_date = %(day)s "
        "AND NOT EXISTS (SELECT 1 FROM products p WHERE p.product_id = t.product_id)",
        "zero",
    ),
    "orphan stores": (
        "SELECT count(*) FROM transactions t WHERE t.business_date = %(day)s "
        "AND NOT EXISTS (SELECT 1 FROM stores s WHERE s.store_id = t.store_id)",
        "zero",
    ),
    "amount = unit_price x quantity": (
        "SELECT count(*) FROM transactions WHERE business_date = %(day)s "
        "AND transaction_amount <> unit_price * quantity",
        "zero",
    ),
    "transaction_date within business date (UTC)": (
        "SELECT count(*) FROM transactions WHERE business_date = %(day)s "
        "AND (transaction_date < %(day)s::timestamp AT TIME ZONE 'UTC' "
        "OR transaction_date >= (%(day)s::date + 1)::timestamp AT TIME ZONE 'UTC')",
        "zero",
    ),
    "duplicate transaction ids": (
        "SELECT count(*) - count(DISTINCT transaction_id) FROM transactions "
        "WHERE business_date = %(day)s",
        "zero",
    ),
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
    expected = int(counts[table])
    if kind == "expected":
        return value == expected, str(expected)
    return value >= expected, f">= {expected}"


def check_data_quality(
    settings: Settings, day: dt.date, expected_counts: Mapping[str, int], *, strict: bool = True
) -> list[CheckResult]:
    """Run every check for `day`; with strict, raise QualityError naming the failures."""
    results = []
    with connect(settings) as conn:
        for name, (query, rule) in CHECKS.items():
            value = int(conn.execute(query, {"day": day}).fetchone()[0])
            passed, expected = _judge(rule, value, expected_counts)
            results.append(CheckResult(name, passed, value, expected))
    failed = [r for r in results if not r.passed]
    if strict and failed:
        raise QualityError(
            f"{len(failed)} data-quality check(s) failed for {day}: "
            + "; ".join(f"{r.name}: got {r.value}, expected {r.expected}" for r in failed)
        )
    return results
