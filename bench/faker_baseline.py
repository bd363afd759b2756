"""The per-row Faker baseline: the original tutorial's way of making the same four tables.

One Faker (or `random`) call per field per row, rows collected as a list of dicts, then
pandas DataFrame.to_csv, table by table. Written for the benchmark only; nothing in the
library works like this.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

CATEGORIES = ["Electronics", "Clothing", "Food", "Books"]
STORE_TYPES = ["Retail", "Online"]
PAYMENT_METHODS = ["Cash", "Credit Card", "PayPal"]


def _customers(fake, n: int) -> list[dict[str, Any]]:
    return [
        {
            "customer_id": fake.uuid4(),
            "first_name": fake.first_name(),
            "last_name": fake.last_name(),
            "email": fake.email(),
            "address": fake.address(),
            "city": fake.city(),
            "state": fake.state(),
            "country": fake.country(),
            "postal_code": fake.postcode(),
            "date_of_birth": fake.date_of_birth(),
            "account_balance": fake.pyfloat(left_digits=6, right_digits=2, positive=True),
            "created_at": fake.date_time_this_year(),
        }
        for _ in range(n)
    ]


def _products(fake, n: int) -> list[dict[str, Any]]:
    return [
        {
            "product_id": i + 1,
            "product_name": fake.catch_phrase(),
            "category": random.choice(CATEGORIES),
            "price": round(random.uniform(10, 1000), 2),
            "quantity": random.randint(1, 200),
        }
        for i in range(n)
    ]


def _stores(fake, n: int) -> list[dict[str, Any]]:
    return [
        {
            "store_id": i + 1,
            "store_name": fake.company(),
            "location": fake.country(),
            "store_type": random.choice(STORE_TYPES),
        }
        for i in range(n)
    ]


def _transactions(fake, n: int, customer_ids: list[str], products: int, stores: int):
    return [
        {
            "transaction_id": fake.uuid4(),
            "customer_id": random.choice(customer_ids),
            "transaction_date": fake.date_time_this_year(),
            "transaction_amount": round(random.uniform(10, 1000), 2),
            "store_id": random.randint(1, stores),
            "product_id": random.randint(1, products),
            "quantity": random.randint(1, 50),
            "payment_method": random.choice(PAYMENT_METHODS),
        }
        for _ in range(n)
    ]


def run(sizes: dict[str, int], folder: Path, seed: int = 0) -> dict[str, Any]:
    """Write the four CSV files into `folder`; seconds and rows per table (incl. to_csv)."""
    import pandas as pd
    from faker import Faker

    Faker.seed(seed)
    random.seed(seed)
    started = time.perf_counter()
    fake = Faker()
    seconds: dict[str, float] = {}
    customer_ids: list[str] = []

    def table(name: str, make) -> None:
        nonlocal customer_ids
        table_started = time.perf_counter()
        rows = make()
        if name == "customers":
            customer_ids = [row["customer_id"] for row in rows]
        pd.DataFrame(rows).to_csv(folder / f"{name}.csv", index=False)
        seconds[name] = round(time.perf_counter() - table_started, 4)

    table("customers", lambda: _customers(fake, sizes["customers"]))
    table("products", lambda: _products(fake, sizes["products"]))
    table("stores", lambda: _stores(fake, sizes["stores"]))
    table(
        "transactions",
        lambda: _transactions(
            fake, sizes["transactions"], customer_ids, sizes["products"], sizes["stores"]
        ),
    )
    total = time.perf_counter() - started
    rows = sum(sizes.values())
    return {
        "sizes": sizes,
        "seconds": round(total, 4),
        "rows": rows,
        "rows_per_second": round(rows / total),
        "table_seconds": seconds,
        "table_rows_per_second": {t: round(sizes[t] / s) for t, s in seconds.items()},
    }
