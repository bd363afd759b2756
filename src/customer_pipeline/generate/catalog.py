"""The product catalog, the promotions' rules, the stores' hours, the payment mix: data,
not code.

The values live in ``data/catalog.toml`` (package data, like ``sql/schema.sql``); this
module reads them once and gives them the shapes the generators use.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from importlib.resources import files

import numpy as np

_TEXT = files("customer_pipeline").joinpath("data/catalog.toml").read_text(encoding="utf-8")
_CATALOG = tomllib.loads(_TEXT)
#: Part of the dataset's identity: editing the file changes the data.
DIGEST: str = hashlib.sha256(_TEXT.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Kind:
    """A kind of product (socks, laptops): its price range, its demand, its adjectives."""

    name: str
    category: int  # index into CATEGORIES
    min_price: int  # whole currency units; prices end in .99
    max_price: int
    demand: float  # relative lines a product of this kind sells
    adjectives: tuple[str, ...]


@dataclass(frozen=True)
class Brand:
    name: str
    category: int  # index into CATEGORIES
    tier: int  # index into TIERS


@dataclass(frozen=True)
class Category:
    name: str
    kinds: tuple[int, ...]  # indexes into KINDS
    brands: tuple[int, ...]  # indexes into BRANDS


_PRODUCTS = _CATALOG["products"]
TIERS: tuple[str, ...] = tuple(_PRODUCTS["tiers"])
TIER_DEMAND: tuple[float, ...] = tuple(_PRODUCTS["tier_demand"])
POPULARITY_SIGMA: float = _PRODUCTS["popularity_sigma"]
POPULARITY_HEAD: float = _PRODUCTS["popularity_head"]
STOCK_PER_POPULARITY: float = _PRODUCTS["stock_per_popularity"]
BIG_TICKET: float = _PRODUCTS["big_ticket"]
PRICE_ELASTICITY: float = _PRODUCTS["price_elasticity"]

KINDS: tuple[Kind, ...] = tuple(
    Kind(kind["name"], c, *kind["prices"], kind["demand"], tuple(kind["adjectives"]))
    for c, entry in enumerate(_CATALOG["categories"])
    for kind in entry["kinds"]
)
BRANDS: tuple[Brand, ...] = tuple(
    Brand(name, c, TIERS.index(tier))
    for c, entry in enumerate(_CATALOG["categories"])
    for name, tier in entry["brands"]
)
CATEGORIES: tuple[Category, ...] = tuple(
    Category(
        entry["name"],
        tuple(k for k, kind in enumerate(KINDS) if kind.category == c),
        tuple(b for b, brand in enumerate(BRANDS) if brand.category == c),
    )
    for c, entry in enumerate(_CATALOG["categories"])
)

_KIND_INDEX = {kind.name: k for k, kind in enumerate(KINDS)}

#: Per kind (KINDS order), the probability that a line has 1 unit (geometric quantity):
#: [products] single_unit at the kind's typical price.
SINGLE_UNIT: np.ndarray = np.interp(
    np.log([kind.min_price * kind.max_price for kind in KINDS]) / 2,
    np.log(_PRODUCTS["single_unit"]["prices"]),
    _PRODUCTS["single_unit"]["shares"],
)


def _complement_kinds(table: dict[str, list[str]]) -> tuple[tuple[int, ...], ...]:
    named = {name for kind, complements in table.items() for name in [kind, *complements]}
    unknown = sorted(named - set(_KIND_INDEX))
    if unknown:
        raise ValueError(f"catalog.toml [complements.kinds] names unknown kinds: {unknown}")
    return tuple(tuple(_KIND_INDEX[name] for name in table.get(kind.name, ())) for kind in KINDS)


#: Per kind (KINDS order), the kinds bought with it: see [complements] in catalog.toml.
COMPLEMENTS: tuple[tuple[int, ...], ...] = _complement_kinds(_CATALOG["complements"]["kinds"])
#: The share of a basket's further lines drawn from its first line's complements.
COMPLEMENT_SHARE: float = _CATALOG["complements"]["share"]

#: The promotions' rules: see the [promotions] section of catalog.toml.
PROMOTIONS: dict = _CATALOG["promotions"]
#: The returns' rules: see the [returns] section of catalog.toml.
RETURNS: dict = _CATALOG["returns"]

STORE_TYPES: tuple[str, ...] = tuple(_CATALOG["stores"]["types"])
ONLINE_SHARE: float = _CATALOG["stores"]["online_share"]
#: [low, high) of a retail store's opening and closing hours (the file's ranges are inclusive)
RETAIL_OPENING: tuple[int, int] = (
    _CATALOG["stores"]["retail"]["opens"][0],
    _CATALOG["stores"]["retail"]["opens"][1] + 1,
)
RETAIL_CLOSING: tuple[int, int] = (
    _CATALOG["stores"]["retail"]["closes"][0],
    _CATALOG["stores"]["retail"]["closes"][1] + 1,
)

PAYMENT_METHODS: tuple[str, ...] = tuple(_CATALOG["payments"]["methods"])
#: Payment mix by store type (rows: STORE_TYPES; columns: PAYMENT_METHODS).
PAYMENT_MIX: tuple[tuple[float, ...], ...] = tuple(
    tuple(_CATALOG["payments"]["mix"][store_type]) for store_type in STORE_TYPES
)

#: Relative sales by hour of day (0..23), by (store type, "weekday" or "weekend").
HOURLY: dict[tuple[str, str], np.ndarray] = {
    (store_type, kind): np.array(profile, dtype=np.float64)
    for store_type, profiles in _CATALOG["hourly_sales"].items()
    for kind, profile in profiles.items()
}
