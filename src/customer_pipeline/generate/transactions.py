"""transactions: the day's sales, referencing existing customers, products and stores only.

Keys are computed, never looked up: a foreign key is a sampled parent index mapped to
that parent's key, so an orphan is impossible by construction. Money is integer cents:
transaction_amount = unit_price x quantity, exactly.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from customer_pipeline.generate import csvfile
from customer_pipeline.generate.catalog import PAYMENT_METHODS, PAYMENT_MIX
from customer_pipeline.generate.customers import customer_ids
from customer_pipeline.generate.products import product_prices
from customer_pipeline.generate.stores import store_is_online
from customer_pipeline.generate.streams import Table, stream, uuid4
from customer_pipeline.settings import BLOCK_ROWS, Settings

COLUMNS = (
    "transaction_id",
    "business_date",
    "customer_id",
    "transaction_date",
    "transaction_amount",
    "store_id",
    "product_id",
    "quantity",
    "unit_price",
    "payment_method",
)
MAX_QUANTITY = 50
_METHODS = np.array(PAYMENT_METHODS, dtype=np.bytes_)
_MIX_CDF = np.cumsum(np.array(PAYMENT_MIX), axis=1)


@dataclass(frozen=True)
class Parents:
    """What a transaction needs to know of the dimension tables."""

    customer_ids: np.ndarray
    price_cents: np.ndarray
    store_online: np.ndarray


@cache
def _parents(seed: int, customers: int, products: int, stores: int) -> Parents:
    return Parents(
        customer_ids(seed, 0, customers),
        product_prices(seed, products),
        store_is_online(seed, stores),
    )


def _block(settings: Settings, day: dt.date, block: int) -> list[np.ndarray]:
    sizes = settings.sizes
    parents = _parents(settings.seed, sizes.customers, sizes.products, sizes.stores)
    rng = stream(settings.seed, Table.TRANSACTIONS, day.toordinal(), block)
    n = BLOCK_ROWS
    ids = uuid4(rng, n)
    customer = rng.integers(0, sizes.customers, n)
    product = rng.integers(0, sizes.products, n)
    store = rng.integers(0, sizes.stores, n)
    quantity = np.minimum(rng.geometric(0.5, n), MAX_QUANTITY)
    online = parents.store_online[store].astype(np.intp)
    method = (rng.random(n)[:, None] >= _MIX_CDF[online][:, :-1]).sum(axis=1)
    seconds = rng.integers(0, 86_400, n).astype("timedelta64[s]")
    price = parents.price_cents[product]
    return [
        ids,
        np.full(n, str(day).encode()),
        parents.customer_ids[customer],
        csvfile.timestamps_utc(np.datetime64(day, "s") + seconds),
        csvfile.money(price * quantity),
        csvfile.integers(store + 1),
        csvfile.integers(product + 1),
        csvfile.integers(quantity),
        csvfile.money(price),
        _METHODS[method],
    ]


def chunk_file_name(chunk: int) -> str:
    return f"transactions-{chunk:05d}.csv"


def generate_transactions(
    settings: Settings, out_dir: Path, day: dt.date, chunk: int = 0
) -> csvfile.GeneratedFile:
    """Write chunk `chunk` of the day's transactions (see Settings.chunks)."""
    start, stop = settings.chunks()[chunk] if settings.sizes.transactions else (0, 0)
    path = out_dir / chunk_file_name(chunk)
    rows = csvfile.write_blocks(
        path, COLUMNS, start, stop, lambda block: _block(settings, day, block)
    )
    return csvfile.GeneratedFile("transactions", str(path), rows)
