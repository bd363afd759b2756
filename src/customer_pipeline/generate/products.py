"""products: a catalog of four categories, prices that fit each category, a few best sellers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from customer_pipeline.generate import csvfile
from customer_pipeline.generate.catalog import CATEGORIES
from customer_pipeline.generate.pools import pools
from customer_pipeline.generate.streams import Stream, gather_facts, stream, ticket_counts
from customer_pipeline.settings import BLOCK_ROWS, Settings
from customer_pipeline.tables import PRODUCTS

FILE_NAME = "products.csv"
POPULARITY_SIGMA = 1.6  # lognormal spread of popularity: a few best sellers, a long tail
TICKETS_PER_POPULARITY = 4.0  # sampling resolution (see streams.ticket_table)
_NAMES = np.array([c.name for c in CATEGORIES], dtype=np.bytes_)
_LOG_MIN = np.log([c.min_price for c in CATEGORIES])
_LOG_MAX = np.log([c.max_price for c in CATEGORIES])


@dataclass(frozen=True)
class Facts:
    """Products 1..count (index 0 is product 1), as far as they need no Faker."""

    category: np.ndarray  # index into CATEGORIES
    price_cents: np.ndarray
    tickets: np.ndarray  # popularity, in sampling tickets


def _facts_block(seed: int, block: int) -> Facts:
    rng = stream(seed, Stream.PRODUCTS, 0, block, part=0)
    category = rng.integers(0, len(CATEGORIES), BLOCK_ROWS)
    # log-uniform within the category's range: more cheap items than dear ones; ends in .99
    span = _LOG_MAX[category] - _LOG_MIN[category]
    whole = np.floor(np.exp(_LOG_MIN[category] + rng.random(BLOCK_ROWS) * span)).astype(np.int64)
    price = np.maximum(whole, 10) * 100 - 1
    popularity = rng.lognormal(0.0, POPULARITY_SIGMA, BLOCK_ROWS)
    return Facts(category, price, ticket_counts(rng, popularity, TICKETS_PER_POPULARITY))


def product_facts(seed: int, count: int) -> Facts:
    return gather_facts(Facts, count, lambda block: _facts_block(seed, block))


def _names(
    rng: np.random.Generator, category: np.ndarray, brands: tuple[str, ...], rows: int
) -> list[str]:
    """'<brand> <adjective> <noun>' for the first `rows` products of a block.

    The draws are a whole block's, so a product's name never depends on the catalog size.
    """
    brand = rng.integers(0, len(brands), BLOCK_ROWS).tolist()
    adjective = rng.integers(0, 1 << 30, BLOCK_ROWS).tolist()
    noun = rng.integers(0, 1 << 30, BLOCK_ROWS).tolist()
    names = []
    for i, cat in enumerate(category[:rows].tolist()):
        entry = CATEGORIES[cat]
        names.append(
            f"{brands[brand[i]]} {entry.adjectives[adjective[i] % len(entry.adjectives)]} "
            f"{entry.nouns[noun[i] % len(entry.nouns)]}"
        )
    return names


def _block(settings: Settings, block: int, rows: int) -> list[np.ndarray]:
    facts = _facts_block(settings.seed, block)
    category, cents = facts.category, facts.price_cents
    rng = stream(settings.seed, Stream.PRODUCTS, 0, block, part=1)
    first = block * BLOCK_ROWS + 1
    names = _names(rng, category, pools(settings.locale).surnames, rows)
    names += [""] * (BLOCK_ROWS - rows)  # rows past the table's end are cut anyway
    return [
        csvfile.integers(np.arange(first, first + BLOCK_ROWS)),
        csvfile.quote(names),
        _NAMES[category],
        csvfile.cents_as_decimal(cents),
        csvfile.integers(rng.integers(1, 201, BLOCK_ROWS)),
    ]


def generate_products(settings: Settings, out_dir: Path, day: dt.date) -> csvfile.GeneratedFile:
    """Write the products file (the catalog: the same on every date)."""
    del day  # the catalog does not change by date
    count = settings.sizes.products
    path = out_dir / FILE_NAME
    rows = csvfile.write_blocks(
        path,
        PRODUCTS.columns,
        0,
        count,
        lambda block: _block(settings, block, min(BLOCK_ROWS, count - block * BLOCK_ROWS)),
    )
    return csvfile.GeneratedFile(PRODUCTS.name, str(path), rows)
