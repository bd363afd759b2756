"""The product catalog, the stores' hours, the payment mix: data, not code.

The values live in ``data/catalog.toml`` (package data, like ``sql/schema.sql``); this
module reads them once and gives them the shapes the generators use.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib.resources import files

import numpy as np

_CATALOG = tomllib.loads(
    files("customer_pipeline").joinpath("data/catalog.toml").read_text(encoding="utf-8")
)


@dataclass(frozen=True)
class Category:
    name: str
    min_price: int  # whole currency units; prices end in .99
    max_price: int
    nouns: tuple[str, ...]
    adjectives: tuple[str, ...]


CATEGORIES: tuple[Category, ...] = tuple(
    Category(
        entry["name"],
        entry["prices"]["min"],
        entry["prices"]["max"],
        tuple(entry["nouns"]),
        tuple(entry["adjectives"]),
    )
    for entry in _CATALOG["categories"]
)

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
