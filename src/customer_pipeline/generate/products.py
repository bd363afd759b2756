"""products: a catalog of four categories with prices that fit each category."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from customer_pipeline.generate import csvfile
from customer_pipeline.generate.catalog import CATEGORIES
from customer_pipeline.generate.pools import pools
from customer_pipeline.generate.streams import Table, gather, stream
from customer_pipeline.settings import BLOCK_ROWS, Settings

COLUMNS = ("product_id", "product_name", "category", "price", "quantity")
FILE_NAME = "products.csv"
_NAMES = np.array([c.name for c in CATEGORIES], dtype=np.bytes_)
_MIN = np.array([c.min_price for c in CATEGORIES])
_MAX = np.array([c.max_price for c in CATEGORIES])


def _numbers(seed: int, block: int) -> tuple[np.ndarray, np.ndarray]:
    """(category index, price in cents) of every product of a block; no Faker needed."""
    rng = stream(seed, Table.PRODUCTS, 0, block, part=0)
    category = rng.integers(0, len(CATEGORIES), BLOCK_ROWS)
    whole = rng.integers(_MIN[category], _MAX[category])  # [min, max): the price ends in .99
    return category, whole * 100 + 99


def product_prices(seed: int, count: int) -> np.ndarray:
    """Price in cents of products 1..count (index 0 is product 1)."""
    return gather(0, count, lambda block: _numbers(seed, block)[1])


def _names(rng: np.random.Generator, category: np.ndarray, brands: tuple[str, ...]) -> list[str]:
    """'<brand> <adjective> <noun>', the words fitting each product's category."""
    n = len(category)
    brand = rng.integers(0, len(brands), n).tolist()
    adjective = rng.integers(0, 1 << 30, n).tolist()
    noun = rng.integers(0, 1 << 30, n).tolist()
    names = []
    for i, cat in enumerate(category.tolist()):
        entry = CATEGORIES[cat]
        names.append(
            f"{brands[brand[i]]} {entry.adjectives[adjective[i] % len(entry.adjectives)]} "
            f"{entry.nouns[noun[i] % len(entry.nouns)]}"
        )
    return names


def _block(settings: Settings, block: int) -> list[np.ndarray]:
    category, cents = _numbers(settings.seed, block)
    rng = stream(settings.seed, Table.PRODUCTS, 0, block, part=1)
    brands = pools(settings.seed, settings.locale).surnames
    first = block * BLOCK_ROWS + 1
    return [
        csvfile.integers(np.arange(first, first + BLOCK_ROWS)),
        csvfile.quote(_names(rng, category, brands)),
        _NAMES[category],
        csvfile.money(cents),
        csvfile.integers(rng.integers(1, 201, BLOCK_ROWS)),
    ]


def generate_products(settings: Settings, out_dir: Path, day: dt.date) -> csvfile.GeneratedFile:
    """Write the products file (the catalog: the same on every date)."""
    del day  # the catalog does not change by date
    path = out_dir / FILE_NAME
    rows = csvfile.write_blocks(
        path, COLUMNS, 0, settings.sizes.products, lambda block: _block(settings, block)
    )
    return csvfile.GeneratedFile("products", str(path), rows)
