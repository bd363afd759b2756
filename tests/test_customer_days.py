"""customer_days: the day's lines summed per customer, whatever loaded them last."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg
import pytest

from conftest import generate_day
from customer_pipeline.database import partition_days
from customer_pipeline.load import load_day
from customer_pipeline.schema import create_tables
from customer_pipeline.settings import Settings

DAY = dt.date(2026, 6, 19)
SIZES = {"customers": 1000, "transactions": 1000, "products": 50, "stores": 10}

#: The summary recomputed from the lines, in numeric (not integer cents), the baskets by
#: COUNT(DISTINCT) (not through a per-basket grouping).
RECOMPUTED_SQL = """
SELECT business_date, customer_id, count(*), sum(quantity), sum(transaction_amount) * 100,
       min(transaction_date), count(DISTINCT basket_id)
FROM transactions WHERE business_date = %s GROUP BY 1, 2 ORDER BY 1, 2
"""
SUMMARY_SQL = "SELECT * FROM customer_days WHERE business_date = %s ORDER BY 1, 2"


@pytest.fixture
def small(settings: Settings) -> Settings:
    small = settings.replace(**SIZES)
    create_tables(small)
    return small


def load(settings: Settings, folder: Path, day: dt.date = DAY) -> None:
    load_day(settings, day, generate_day(settings, folder, day))


def test_a_loaded_day_is_its_lines_summed_per_customer(
    small: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    load(small, tmp_path)
    found = db.execute(SUMMARY_SQL, [DAY]).fetchall()
    assert len(found) > 100
    assert found == db.execute(RECOMPUTED_SQL, [DAY]).fetchall()


def test_a_reload_of_the_day_replaces_its_summary(
    small: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    load(small, tmp_path / "first")
    load(small.replace(transactions=300), tmp_path / "fewer")  # other lines, same customers
    found = db.execute(SUMMARY_SQL, [DAY]).fetchall()
    assert found == db.execute(RECOMPUTED_SQL, [DAY]).fetchall()
    assert sum(row[2] for row in found) < 500


def test_each_loaded_day_has_its_own_partition(
    small: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    before = DAY - dt.timedelta(days=1)
    load(small, tmp_path / "day")
    load(small, tmp_path / "before", before)  # out of order
    partitions = db.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'customer_days'::regclass ORDER BY 1"
    ).fetchall()
    assert partitions == [(f"customer_days_{before:%Y%m%d}",), (f"customer_days_{DAY:%Y%m%d}",)]
    assert (
        db.execute(SUMMARY_SQL, [before]).fetchall()
        == db.execute(RECOMPUTED_SQL, [before]).fetchall()
    )


@pytest.mark.parametrize("parent", ["customer_days", "transactions"])
def test_the_days_loaded_are_read_whatever_the_catalog_s_plan(
    small: Settings, db: psycopg.Connection, tmp_path: Path, parent: str
) -> None:
    """The days a partitioned table holds, read from its partitions' names, even when the
    planner reads pg_class whole (hash joins only, no index): the date is never
    parsed from another table's name (`customers_history` is no date)."""
    load(small, tmp_path)
    with db.transaction():
        for method in ("indexscan", "bitmapscan", "nestloop", "mergejoin"):
            db.execute(f"SET LOCAL enable_{method} = off")
        days = partition_days(db, parent, DAY - dt.timedelta(days=1), DAY)
    assert days == [DAY]
