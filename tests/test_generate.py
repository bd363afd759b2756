"""Generators: deterministic, referentially sound, money exact. No database needed."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import itertools
import subprocess
import sys
import uuid
import zoneinfo
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from conftest import expected_rows, generate_day, read_csv
from customer_pipeline.generate import customer_changes, product_changes
from customer_pipeline.generate.calendar import customers_through, transaction_count
from customer_pipeline.generate.catalog import HOURLY, PAYMENT_METHODS, PAYMENT_MIX, STORE_TYPES
from customer_pipeline.generate.csvfile import format_rows, quote
from customer_pipeline.generate.transactions import (
    block_lines,
    day_plan,
    generate_transactions,
    transaction_chunks,
)
from customer_pipeline.settings import BLOCK_ROWS, Settings
from customer_pipeline.tables import CUSTOMERS, DIMENSIONS, PRODUCTS, STORES

DAY = dt.date(2026, 11, 20)


def digest(files: list) -> dict[str, str]:
    return {Path(f.path).name: hashlib.sha256(Path(f.path).read_bytes()).hexdigest() for f in files}


def transaction_lines(settings: Settings, folder: Path, day: dt.date = DAY) -> list[str]:
    folder.mkdir(parents=True)
    lines: list[str] = []
    for chunk in range(len(transaction_chunks(settings, day))):
        lines += (
            Path(generate_transactions(settings, folder, day, chunk).path)
            .read_text()
            .splitlines()[1:]
        )
    return lines


@pytest.fixture
def small() -> Settings:
    return Settings().replace(
        customers=300, products=40, stores=12, transactions=25_000, chunk_size=BLOCK_ROWS
    )


def test_same_inputs_give_byte_identical_files(small: Settings, tmp_path: Path) -> None:
    first = digest(generate_day(small, tmp_path / "a", DAY))
    second = digest(generate_day(small, tmp_path / "b", DAY))
    assert first == second
    chunks = len(transaction_chunks(small, DAY))
    assert chunks >= 3
    assert len(first) == len(DIMENSIONS) + 2 * chunks  # a file per dimension, two per chunk


def test_order_and_process_do_not_matter(small: Settings, tmp_path: Path) -> None:
    """A chunk made first, alone, in a fresh process equals the same chunk made in order."""
    expected = digest(generate_day(small, tmp_path / "in-order", DAY))
    script = (
        "import datetime as dt, sys; from pathlib import Path;"
        "from customer_pipeline.settings import Settings;"
        "from customer_pipeline.generate.transactions import generate_transactions;"
        "s = Settings().replace(customers=300, products=40, stores=12, transactions=25_000,"
        " chunk_size=10_000);"
        "generate_transactions(s, Path(sys.argv[1]), dt.date(2026, 11, 20), 2)"
    )
    alone = tmp_path / "alone"
    alone.mkdir()
    subprocess.run([sys.executable, "-c", script, str(alone)], check=True)
    name = "transactions-00002.csv"
    assert hashlib.sha256((alone / name).read_bytes()).hexdigest() == expected[name]


def test_chunk_size_and_threads_do_not_change_the_data(
    small: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from customer_pipeline.generate import csvfile

    one = transaction_lines(small.replace(chunk_size=100_000), tmp_path / "one")
    monkeypatch.setattr(csvfile, "THREADS", 1)
    several = transaction_lines(small, tmp_path / "several")
    assert len(one) == expected_rows(small, DAY)["transactions"]
    assert one == several


def test_another_date_gives_other_transactions(small: Settings, tmp_path: Path) -> None:
    today = transaction_lines(small, tmp_path / "a")
    tomorrow = transaction_lines(small, tmp_path / "b", DAY + dt.timedelta(days=1))
    assert not set(today) & set(tomorrow)


def test_stores_are_stable_and_versions_are_the_day_s(small: Settings, tmp_path: Path) -> None:
    """Stores never change; the customers' and products' files hold the day's versions only:
    the day's sign-ups and the customers and products that change that day."""
    earlier = {f.table: f for f in generate_day(small, tmp_path / "a", DAY)}
    later_day = DAY + dt.timedelta(days=40)
    later = {f.table: f for f in generate_day(small, tmp_path / "b", later_day)}
    assert Path(earlier["stores"].path).read_bytes() == Path(later["stores"].path).read_bytes()
    for table in ("customers", "products"):
        for day, files in ((DAY, earlier), (later_day, later)):
            starts = {row["valid_from"][:10] for row in read_csv(files[table].path)}
            assert starts <= {day.isoformat()}, table
    signups = customers_through(small, DAY) - customers_through(small, DAY - dt.timedelta(days=1))
    assert earlier["customers"].rows > signups  # and the changes


def test_another_seed_gives_other_data(small: Settings, tmp_path: Path) -> None:
    base = digest(generate_day(small, tmp_path / "a", DAY))
    other = digest(generate_day(small.replace(seed=7), tmp_path / "b", DAY))
    assert all(base[name] != other.get(name) for name in base)


def test_transactions_reference_existing_rows_and_amounts_are_exact(
    small: Settings, tmp_path: Path
) -> None:
    files = generate_day(small, tmp_path, DAY)
    tables: dict[str, list[dict[str, str]]] = {f.table: [] for f in files}
    for f in files:
        rows = read_csv(f.path)
        assert len(rows) == f.rows
        tables[f.table] += rows
    assert {t: len(rows) for t, rows in tables.items()} == expected_rows(small, DAY)
    # every customer and product as the day ends (the versions of the day and before)
    header = [*CUSTOMERS.file_columns]
    customers = {
        row["customer_id"]: row
        for columns in customer_changes.versions_before(small, DAY + dt.timedelta(days=1))
        for row in csv.DictReader(io.StringIO(format_rows(columns).tobytes().decode()), header)
    }
    ((columns),) = product_changes.versions_before(small, DAY + dt.timedelta(days=1))
    products = list(
        csv.DictReader(io.StringIO(format_rows(columns).tobytes().decode()), PRODUCTS.file_columns)
    )
    prices = {
        row["product_id"]: Decimal(row["price"]) for row in products if not row["discontinued_at"]
    }
    stores = {row["store_id"]: row for row in tables["stores"]}
    assert len(customers) == customers_through(small, DAY)
    assert 40 < len(products) == product_changes.products_through(small, DAY) > len(prices)
    day_start = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
    ids = set()
    for row in tables["transactions"]:
        customer = customers[row["customer_id"]]
        store = stores[row["store_id"]]
        price = prices[row["product_id"]]
        assert Decimal(row["unit_price"]) == price
        discount = Decimal(row["discount_amount"])
        assert Decimal(row["transaction_amount"]) == price * int(row["quantity"]) - discount
        assert (discount > 0) == (row["promotion_id"] != "")
        assert 1 <= int(row["quantity"]) <= 50
        moment = dt.datetime.fromisoformat(row["transaction_date"])
        assert day_start <= moment < day_start + dt.timedelta(days=1)
        assert dt.datetime.fromisoformat(customer["created_at"]) <= moment
        assert not customer["closed_at"]
        local = moment.astimezone(zoneinfo.ZoneInfo(store["timezone"]))
        assert int(store["open_hour"]) <= local.hour < int(store["close_hour"])
        assert row["business_date"] == "2026-11-20"
        assert uuid.UUID(row["transaction_id"]).version == 4
        ids.add(row["transaction_id"])
    assert len(ids) == len(tables["transactions"])


def test_zero_transactions_gives_an_empty_file(tmp_path: Path) -> None:
    settings = Settings().replace(transactions=0)
    generated = generate_transactions(settings, tmp_path, DAY)
    assert generated.rows == 0
    assert Path(generated.path).read_text().count("\n") == 1  # header only


def test_row_i_does_not_depend_on_the_table_size(tmp_path: Path) -> None:
    small = Settings().replace(customers=30, products=7, stores=3)
    large = Settings().replace(customers=25_000, products=12_000, stores=11_000)
    (tmp_path / "small").mkdir()
    (tmp_path / "large").mkdir()
    few = Path(STORES.generate(small, tmp_path / "small", DAY).path).read_text().splitlines()
    many = Path(STORES.generate(large, tmp_path / "large", DAY).path).read_text().splitlines()
    assert few == many[: len(few)]
    at = DAY.toordinal() - dt.date(1970, 1, 1).toordinal()
    for versions, rows in ((customer_changes.versions, 30), (product_changes.versions, 7)):
        index = np.arange(rows)  # the initial rows of both, as they are on DAY
        assert (
            format_rows(versions(small, index, at)).tobytes()
            == format_rows(versions(large, index, at)).tobytes()
        )


@pytest.mark.parametrize(
    "value",
    [
        "plain",
        "",
        "a,b",
        'say "hi"',
        "two\nlines",
        "cr\rhere",
        " spaced ",
        "O'Brien & <Sons>",
        "Zoë",
    ],
)
def test_quoting_is_the_csv_modules(value: str) -> None:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow([value])  # quotes \r and \n alike
    assert quote([value])[0].decode() == out.getvalue().removesuffix("\r\n")


def test_chunks_made_together_equal_chunks_made_one_by_one(small: Settings, tmp_path: Path) -> None:
    from customer_pipeline.generate.transactions import generate_transaction_chunks

    chunks = range(len(transaction_chunks(small, DAY)))
    (tmp_path / "alone").mkdir()
    alone = [generate_transactions(small, tmp_path / "alone", DAY, c) for c in chunks]
    (tmp_path / "together").mkdir()
    together = list(generate_transaction_chunks(small, tmp_path / "together", DAY, chunks))
    assert [f.rows for f in together] == [f.rows for f in alone]
    assert digest(together) == digest(alone)
    some = list(generate_transaction_chunks(small, tmp_path / "together", DAY, [2, 0]))
    assert [Path(f.path).name for f in some] == ["transactions-00002.csv", "transactions-00000.csv"]


def test_the_catalog_file_has_a_profile_per_hour_and_a_share_per_method() -> None:
    assert set(HOURLY) == {(store, day) for store in STORE_TYPES for day in ("weekday", "weekend")}
    assert {len(profile) for profile in HOURLY.values()} == {24}
    assert [len(mix) for mix in PAYMENT_MIX] == [len(PAYMENT_METHODS)] * len(STORE_TYPES)
    assert [sum(mix) for mix in PAYMENT_MIX] == pytest.approx([1.0] * len(STORE_TYPES))


def test_chunks_cover_the_day_exactly() -> None:
    day = dt.date(2026, 11, 20)
    settings = Settings(chunk_size=2 * BLOCK_ROWS).replace(transactions=45_000)
    chunks = transaction_chunks(settings, day)
    total = transaction_count(settings, day)
    assert chunks[0] == (0, 20_000)
    assert all(stop - start == 20_000 for start, stop in chunks[:-1])
    assert chunks[-1][1] == total
    assert all(a[1] == b[0] for a, b in itertools.pairwise(chunks))
    assert transaction_chunks(Settings().replace(transactions=0), day) == []


def test_a_tiny_population_buys_on_quiet_days_too() -> None:
    """Three customers whose expected visits all round down: each of them may come."""
    settings = Settings().replace(customers=3, products=1, stores=1, transactions=5)
    for offset in range(0, 2500, 23):
        day = settings.history_start + dt.timedelta(days=offset)
        lines = block_lines(settings, day, day_plan(settings, day), 0)
        assert lines.customer.min() >= 0 and lines.customer.max() < customers_through(settings, day)
