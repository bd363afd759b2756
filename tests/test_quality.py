"""The checks that read the day's customer summary or the catalog catch what they check."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg
import pytest

from conftest import expected_rows, generate_day
from customer_pipeline.errors import QualityError
from customer_pipeline.load import load_day
from customer_pipeline.quality import check_data_quality
from customer_pipeline.schema import create_tables
from customer_pipeline.settings import Settings

DAY = dt.date(2026, 6, 19)
SIZES = {"customers": 1000, "transactions": 1000, "products": 50, "stores": 10}


def test_lines_bought_before_their_customers_sign_up_fail_the_day(
    settings: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    small = settings.replace(**SIZES)
    create_tables(small)
    load_day(small, DAY, generate_day(small, tmp_path, DAY))
    results = {r.name: r for r in check_data_quality(small, DAY, expected_rows(small, DAY))}
    assert results["no purchase before the customer signed up"].value == 0
    # the day's busiest buyer (ties to the smaller id) signs up at the day's last second
    customer, lines = db.execute(
        "SELECT customer_id, count(*) FROM transactions WHERE business_date = %s "
        "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1",
        [DAY],
    ).fetchone()
    db.execute(
        "UPDATE customers SET created_at = %s WHERE customer_id = %s",
        [dt.datetime.combine(DAY, dt.time(23, 59, 59), tzinfo=dt.UTC), customer],
    )
    with pytest.raises(QualityError, match=rf"before the customer signed up: got {lines}\b"):
        check_data_quality(small, DAY, expected_rows(small, DAY))


def test_a_line_outside_its_day_fails_the_day_once_its_constraint_is_gone(
    settings: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    """The timestamp check reads the catalog while transactions' CHECK constraint holds
    every line to its day, and the day's lines once it is gone."""
    small = settings.replace(**SIZES)
    create_tables(small)
    load_day(small, DAY, generate_day(small, tmp_path, DAY))
    results = {r.name: r for r in check_data_quality(small, DAY, expected_rows(small, DAY))}
    assert results["transaction_date within business date (UTC)"].value == 0
    db.execute("ALTER TABLE transactions DROP CONSTRAINT transactions_date_within_business_date")
    db.execute(
        "UPDATE transactions SET transaction_date = transaction_date + interval '1 day' "
        "WHERE ctid = (SELECT min(ctid) FROM transactions WHERE business_date = %s)",
        [DAY],
    )
    with pytest.raises(QualityError, match=r"within business date \(UTC\): got 1\b"):
        check_data_quality(small, DAY, expected_rows(small, DAY))
