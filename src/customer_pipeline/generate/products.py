"""products: a catalog of kinds of product, each with its price range, brands in price tiers.

A product is one kind (socks, laptops) of one category, by one brand: its price is
log-uniform within its brand's tier of its kind's range (budget, standard or premium
third), so the same kind has prices of the same order. Its popularity (lines sold) is its
kind's demand x its tier's demand x a lognormal spread cut above POPULARITY_HEAD sigmas,
at most (BIG_TICKET / price) ** 2: a few best sellers, a long tail, no product dominating,
not even a dear one bought a few times in a day. That popularity is at its launch price:
at a changed price it sells x (launch price / price) ** PRICE_ELASTICITY (demand_at). Its
units sold are its lines x its kind's mean quantity (catalog.SINGLE_UNIT); its stock
(``quantity``) is proportional to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from customer_pipeline.generate import csvfile
from customer_pipeline.generate.catalog import (
    BIG_TICKET,
    BRANDS,
    CATEGORIES,
    KINDS,
    POPULARITY_HEAD,
    POPULARITY_SIGMA,
    PRICE_ELASTICITY,
    SINGLE_UNIT,
    STOCK_PER_POPULARITY,
    TIER_DEMAND,
    TIERS,
)
from customer_pipeline.generate.streams import Stream, gather_facts, stream
from customer_pipeline.settings import BLOCK_ROWS

FILE_NAME = "products.csv"
_CATEGORY_NAMES = np.array([c.name for c in CATEGORIES], dtype=np.bytes_)
_TIER_NAMES = np.array(TIERS, dtype=np.bytes_)
_BRAND_NAMES = csvfile.quote(brand.name for brand in BRANDS)
_KIND_DEMAND = np.array([kind.demand for kind in KINDS])
_LOG_MIN = np.log([kind.min_price for kind in KINDS])
_LOG_MAX = np.log([kind.max_price for kind in KINDS])
_BRAND_TIER = np.array([brand.tier for brand in BRANDS])
_TIER_DEMAND = np.array(TIER_DEMAND)


def _choose(rng: np.random.Generator, category: np.ndarray, options: str) -> np.ndarray:
    """Per row, one of its category's kinds or brands (uniformly): a global index."""
    lists = [getattr(c, options) for c in CATEGORIES]
    first = np.array([found[0] for found in lists])
    count = np.array([len(found) for found in lists])
    return first[category] + (rng.random(len(category)) * count[category]).astype(np.int64)


@dataclass(frozen=True)
class Facts:
    """Products 1..count (index 0 is product 1), as far as they need no text."""

    category: np.ndarray  # index into CATEGORIES
    kind: np.ndarray  # index into KINDS
    brand: np.ndarray  # index into BRANDS
    price_cents: np.ndarray
    popularity: np.ndarray  # relative lines sold a day

    @property
    def units(self) -> np.ndarray:
        """Relative units sold a day: popularity x the kind's mean quantity per line."""
        return self.popularity / SINGLE_UNIT[self.kind]


def demand_at(facts: Facts, index: np.ndarray, price_cents: np.ndarray) -> np.ndarray:
    """Relative lines sold a day of products `index` (0-based) at these prices: their
    popularity (at the launch price) x (launch price / price) ** PRICE_ELASTICITY."""
    return facts.popularity[index] * (facts.price_cents[index] / price_cents) ** PRICE_ELASTICITY


def tier_prices(kind: np.ndarray, brand: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Prices in cents at quantile `where` (uniform in [0, 1)) of the brand's tier: the tier's
    third of the kind's log range, log-uniform within it; prices end in .99."""
    third = (_LOG_MAX[kind] - _LOG_MIN[kind]) / len(TIERS)
    log_price = _LOG_MIN[kind] + (_BRAND_TIER[brand] + where) * third
    return np.maximum(np.floor(np.exp(log_price)).astype(np.int64), 1) * 100 - 1


def _facts_block(seed: int, block: int) -> Facts:
    rng = stream(seed, Stream.PRODUCTS, 0, block, part=0)
    category = rng.integers(0, len(CATEGORIES), BLOCK_ROWS)
    kind = _choose(rng, category, "kinds")
    brand = _choose(rng, category, "brands")
    tier = _BRAND_TIER[brand]
    price = tier_prices(kind, brand, rng.random(BLOCK_ROWS))
    spread = np.exp(POPULARITY_SIGMA * np.minimum(rng.standard_normal(BLOCK_ROWS), POPULARITY_HEAD))
    popularity = _KIND_DEMAND[kind] * _TIER_DEMAND[tier] * spread
    popularity = np.minimum(popularity, (BIG_TICKET * 100 / price) ** 2)
    return Facts(category, kind, brand, price, popularity)


def product_facts(seed: int, count: int) -> Facts:
    return gather_facts(Facts, count, lambda block: _facts_block(seed, block))


def product_names(facts: Facts, adjective: np.ndarray, rows: int, first: int = 0) -> list[str]:
    """'<brand> <adjective> <kind>' for `rows` products of a block from row `first`
    (adjective: a random integer per product from that row on, reduced modulo the kind's
    adjectives)."""
    names = []
    for brand, kind, pick in zip(
        facts.brand[first : first + rows].tolist(),
        facts.kind[first : first + rows].tolist(),
        adjective[:rows].tolist(),
        strict=True,
    ):
        entry = KINDS[kind]
        names.append(
            f"{BRANDS[brand].name} {entry.adjectives[pick % len(entry.adjectives)]} {entry.name}"
        )
    return names


def _adjectives(seed: int, block: int) -> np.ndarray:
    return stream(seed, Stream.PRODUCTS, 0, block, part=1).integers(0, 1 << 30, BLOCK_ROWS)


@lru_cache(maxsize=4)
def _named_block(seed: int, block: int) -> tuple[Facts, np.ndarray]:
    return _facts_block(seed, block), _adjectives(seed, block)


def product_name(seed: int, index: int) -> str:
    """The name of product index + 1 (what a promotion on it is called after)."""
    block, row = divmod(index, BLOCK_ROWS)
    facts, adjective = _named_block(seed, block)
    return product_names(facts, adjective[row:], 1, row)[0]


def base_columns(seed: int, index: np.ndarray) -> list[np.ndarray]:
    """The columns of products `index` (product_id - 1) as first listed: id, name, category,
    price, stock, brand, tier (products.columns' order)."""
    facts = product_facts(seed, int(index.max()) + 1 if len(index) else 0)
    stock = np.maximum(np.round(facts.units * STOCK_PER_POPULARITY), 1).astype(np.int64)
    brand = facts.brand[index]
    return [
        csvfile.integers(index + 1),
        csvfile.quote(product_name(seed, i) for i in index.tolist()),
        _CATEGORY_NAMES[facts.category[index]],
        csvfile.cents_as_decimal(facts.price_cents[index]),
        csvfile.integers(stock[index]),
        _BRAND_NAMES[brand],
        _TIER_NAMES[_BRAND_TIER[brand]],
    ]
