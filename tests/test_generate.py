"""Generators: deterministic, referentially sound, money exact. No database needed."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import subprocess
import sys
import uuid
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from conftest import generate_day
from customer_pipeline.generate.transactions import generate_transactions
from customer_pipeline.settings import BLOCK_ROWS, Settings

DAY = dt.date(2026, 11, 20)


def read(path: str | Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def digest(files: list) -> dict[str, str]:
    return {Path(f.path).name: hashlib.sha256(Path(f.path).read_bytes()).hexdigest() for f in files}


@pytest.fixture
def small() -> Settings:
    return Settings().replace(
        customers=300, products=40, stores=12, transactions=25_000, chunk_size=BLOCK_ROWS
    )


def test_same_inputs_give_byte_identical_files(small: Settings, tmp_path: Path) -> None:
    first = digest(generate_day(small, tmp_path / "a", DAY))
    second = digest(generate_day(small, tmp_path / "b", DAY))
    assert first == second
    assert len(first) == 3 + 3  # three dimension files, three chunks


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


def test_chunking_does_not_change_the_data(small: Settings, tmp_path: Path) -> None:
    def rows(settings: Settings, folder: Path) -> list[str]:
        folder.mkdir()
        lines: list[str] = []
        for chunk in range(len(settings.chunks())):
            text = Path(generate_transactions(settings, folder, DAY, chunk).path).read_text()
            lines += text.splitlines()[1:]
        return lines

    one = rows(small.replace(chunk_size=30_000), tmp_path / "one")
    three = rows(small, tmp_path / "three")
    assert len(one) == 25_000
    assert one == three


def test_another_date_gives_other_transactions_same_dimensions(
    small: Settings, tmp_path: Path
) -> None:
    today = digest(generate_day(small, tmp_path / "a", DAY))
    tomorrow = digest(generate_day(small, tmp_path / "b", DAY + dt.timedelta(days=1)))
    for name in today:
        if name.startswith("transactions"):
            assert today[name] != tomorrow[name]
        else:
            assert today[name] == tomorrow[name]


def test_another_seed_gives_other_data(small: Settings, tmp_path: Path) -> None:
    base = digest(generate_day(small, tmp_path / "a", DAY))
    other = digest(generate_day(small.replace(seed=7), tmp_path / "b", DAY))
    assert all(base[name] != other[name] for name in base)


def test_transactions_reference_existing_rows_and_amounts_are_exact(
    small: Settings, tmp_path: Path
) -> None:
    files = generate_day(small, tmp_path, DAY)
    tables = {f.table: [] for f in files}
    for f in files:
        rows = read(f.path)
        assert len(rows) == f.rows
        tables[f.table] += rows
    customer_ids = {row["customer_id"] for row in tables["customers"]}
    prices = {row["product_id"]: Decimal(row["price"]) for row in tables["products"]}
    stores = {row["store_id"]: row["store_type"] for row in tables["stores"]}
    assert len(customer_ids) == 300
    assert sorted(map(int, prices)) == list(range(1, 41))
    day_start = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
    ids = set()
    for row in tables["transactions"]:
        assert row["customer_id"] in customer_ids
        assert row["store_id"] in stores
        price = prices[row["product_id"]]
        assert Decimal(row["unit_price"]) == price
        assert Decimal(row["transaction_amount"]) == price * int(row["quantity"])
        assert 1 <= int(row["quantity"]) <= 50
        moment = dt.datetime.fromisoformat(row["transaction_date"])
        assert day_start <= moment < day_start + dt.timedelta(days=1)
        assert row["business_date"] == "2026-11-20"
        assert uuid.UUID(row["transaction_id"]).version == 4
        ids.add(row["transaction_id"])
        if stores[row["store_id"]] == "Online":
            assert row["payment_method"] != "Cash"
    assert len(ids) == 25_000


def test_dimension_values_follow_the_original(small: Settings, tmp_path: Path) -> None:
    files = {f.table: read(f.path) for f in generate_day(small, tmp_path, DAY)}
    categories = Counter(row["category"] for row in files["products"])
    assert set(categories) <= {"Electronics", "Clothing", "Food", "Books"}
    assert all(10 <= Decimal(r["price"]) <= 1000 for r in files["products"])
    assert all(1 <= int(r["quantity"]) <= 200 for r in files["products"])
    assert {r["store_type"] for r in files["stores"]} <= {"Retail", "Online"}
    emails = [r["email"] for r in files["customers"]]
    assert len(set(emails)) == len(emails)
    for row in files["customers"]:
        assert 0 <= Decimal(row["account_balance"]) <= 1_000_000
        born = dt.date.fromisoformat(row["date_of_birth"])
        assert 18 <= (small.history_start - born).days / 365.25 <= 86
        assert dt.datetime.fromisoformat(row["created_at"]) < dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
        local, _, domain = row["email"].partition("@")
        assert local.rstrip("0123456789") != local and "." in domain
        assert len(row["email"]) <= 100 and len(row["first_name"]) <= 50


@pytest.mark.parametrize("locale", ["de_DE", "fr_FR"])
def test_other_locales_work(small: Settings, tmp_path: Path, locale: str) -> None:
    files = {
        f.table: read(f.path) for f in generate_day(small.replace(locale=locale), tmp_path, DAY)
    }
    country = {"de_DE": "Germany", "fr_FR": "France"}[locale]
    assert {row["country"] for row in files["customers"]} == {country}
    assert all(row["email"].isascii() for row in files["customers"])


def test_zero_transactions_gives_an_empty_file(tmp_path: Path) -> None:
    settings = Settings().replace(transactions=0)
    tmp_path.mkdir(exist_ok=True)
    generated = generate_transactions(settings, tmp_path, DAY)
    assert generated.rows == 0
    assert Path(generated.path).read_text().count("\n") == 1  # header only
