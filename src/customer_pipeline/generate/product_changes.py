"""products over time: new products appear, a few are discontinued, prices change now
and then. A day's file holds that day's versions (SCD type 2), not the catalog.

``--products N`` is the catalog at the history start; new products follow (NEW_PER_YEAR x
N a year, evenly with a keyed jitter: product N + k appears on a day computed from k
alone), each with the attributes of its row in :mod:`.products`. A product lives an
exponential lifetime (mean LIFETIME_YEARS) from its launch, then is discontinued: it no
longer sells and never changes again. Its price changes as a Poisson process (about
PRICE_CHANGES_PER_YEAR): the price from a change day on is a fresh draw within its
brand's tier of its kind's range, keyed by (product, day), so the price in force on any
day is computed alone (a draw equal to the price it replaces is no change).

Every product change takes effect at 00:00 UTC of its day (valid_from): a day's lines
are all sold at the price valid that day, and a product launched on D sells on D, one
discontinued on D does not.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from customer_pipeline.generate import csvfile
from customer_pipeline.generate.calendar import days_between
from customer_pipeline.generate.events import Calendar, Kind
from customer_pipeline.generate.products import base_columns, product_facts, tier_prices
from customer_pipeline.generate.streams import Stream
from customer_pipeline.settings import Settings
from customer_pipeline.tables import PRODUCTS

FILE_NAME = "products.csv"
PRICE = Kind(code=1, per_year=1.0, epoch_days=365, cap=6)
PRICE_CHANGES_PER_YEAR = PRICE.per_year
NEW_PER_YEAR = 0.10  # new products a year, as a share of the initial catalog
LIFETIME_YEARS = 20.0  # mean: about 5% of the products on sale are discontinued a year
_LAUNCH, _END, _PRICE_AT = 2, 3, 4  # keys of the products' other draws
_PRICE_COLUMN = PRODUCTS.columns.index("price")


def _calendar(settings: Settings) -> Calendar:
    origin = int(np.datetime64(settings.history_start, "D").astype(np.int64))
    return Calendar(settings.seed, Stream.PRODUCT_CHANGES, origin)


def _ordinal(day: dt.date) -> int:
    return int(np.datetime64(day, "D").astype(np.int64))


def launch_days(settings: Settings, index: np.ndarray) -> np.ndarray:
    """Days since 1970 on which products `index` appear (the initial ones: the history
    start). Non-decreasing in the index."""
    calendar = _calendar(settings)
    initial = settings.sizes.products
    k = np.asarray(index, dtype=np.int64) - initial
    spacing = 365.25 / (NEW_PER_YEAR * max(initial, 1))
    later = calendar.origin + np.floor((k + calendar.uniform(_LAUNCH, 0, k)) * spacing)
    return np.where(k < 0, calendar.origin, later).astype(np.int64)


def products_through(settings: Settings, day: dt.date) -> int:
    """Products listed by the end of `day` (on sale or discontinued since)."""
    initial = settings.sizes.products
    elapsed = _ordinal(day) - _calendar(settings).origin
    if elapsed < 0 or not initial:
        return initial  # (no catalog: no new products either)
    bound = int(np.ceil((elapsed + 1) * NEW_PER_YEAR * initial / 365.25)) + 1
    later = launch_days(settings, initial + np.arange(bound))
    return initial + int(np.count_nonzero(later <= _ordinal(day)))


def end_days(settings: Settings, index: np.ndarray, launch: np.ndarray) -> np.ndarray:
    """The day each product is discontinued (from then on it is not on sale)."""
    u = _calendar(settings).uniform(_END, 0, index)
    return launch + 1 + np.floor(-np.log1p(-u) * LIFETIME_YEARS * 365.25).astype(np.int64)


@dataclass(frozen=True)
class _Lives:
    index: np.ndarray
    launch: np.ndarray
    end: np.ndarray


def _lives(settings: Settings, index: np.ndarray) -> _Lives:
    launch = launch_days(settings, index)
    return _Lives(index, launch, end_days(settings, index, launch))


def _price_on(settings: Settings, index: np.ndarray, day: np.ndarray) -> np.ndarray:
    """The price a change on `day` sets (a fresh draw within the product's tier)."""
    if not len(index):
        return np.empty(0, dtype=np.int64)
    facts = product_facts(settings.seed, int(index.max()) + 1 if len(index) else 0)
    where = _calendar(settings).uniform(_PRICE_AT, day, index)
    return tier_prices(facts.kind[index], facts.brand[index], where)


def _prices(settings: Settings, lives: _Lives, at: int | np.ndarray) -> tuple:
    """(the price in force at the end of day `at`, the day of its latest change event: -1
    for none, the launch price)."""
    event = _calendar(settings).latest(PRICE, lives.index, at, lives.launch + 1, lives.end)
    if not len(event):
        return event, event
    facts = product_facts(settings.seed, int(lives.index.max()) + 1 if len(lives.index) else 0)
    base = facts.price_cents[lives.index]
    return np.where(event >= 0, _price_on(settings, lives.index, event), base), event


def _subset(lives: _Lives, rows: np.ndarray) -> _Lives:
    return _Lives(lives.index[rows], lives.launch[rows], lives.end[rows])


def _price_since(settings: Settings, lives: _Lives, at: int) -> tuple[np.ndarray, np.ndarray]:
    """(price in force at the end of `at`, the day it took effect: its launch or the
    latest change event that set another price than the one it replaced)."""
    price, event = _prices(settings, lives, at)
    since = np.where(event >= 0, -1, lives.launch)
    pending = np.flatnonzero(event >= 0)
    while len(pending):  # past the events that drew the price they replaced
        before, previous = _prices(settings, _subset(lives, pending), event[pending] - 1)
        changed = before != price[pending]
        since[pending[changed]] = event[pending[changed]]
        event[pending] = previous
        first = ~changed & (previous < 0)
        since[pending[first]] = lives.launch[pending[first]]
        pending = pending[~changed & ~first]
    return price, since


def versions(settings: Settings, index: np.ndarray, at: int) -> list[np.ndarray]:
    """The columns (the products file's) of each product's version in force at the end of
    day `at` (days since 1970): its current price, discontinued_at, valid_from."""
    lives = _lives(settings, index)
    price, since = _price_since(settings, lives, at)
    ended = lives.end <= at
    valid_from = np.where(ended, lives.end, since) * 86_400
    columns = base_columns(settings.seed, index)
    columns[_PRICE_COLUMN] = csvfile.cents_as_decimal(price)
    stamps = csvfile.timestamps_utc(valid_from)
    return [*columns, stamps * ended[:, None], stamps]


def changed_on(settings: Settings, day: dt.date) -> np.ndarray:
    """The products with a new version on `day`: launched, repriced or discontinued."""
    at = _ordinal(day)
    lives = _lives(settings, np.arange(products_through(settings, day)))
    calendar = _calendar(settings)
    repriced = calendar.on_day(PRICE, lives.index, at, lives.launch + 1, lives.end)
    some = np.flatnonzero(repriced)
    before, _ = _prices(settings, _subset(lives, some), at - 1)
    repriced[some] = _price_on(settings, lives.index[some], np.full(len(some), at)) != before
    return lives.index[repriced | (lives.launch == at) | (lives.end == at)]


def versions_before(
    settings: Settings, day: dt.date, since: dt.date | None = None
) -> Iterator[list[np.ndarray]]:
    """The version in force at the start of `day` of every product listed before it (what
    a day loaded into an emptier schema needs first); with `since` (an earlier day), of
    those only the ones launched, repriced or discontinued after `since` and before
    `day` (the others' is `since`'s own, or older)."""
    index = np.arange(products_through(settings, day - dt.timedelta(days=1)))
    if since is not None:
        changed = [changed_on(settings, other) for other in days_between(since, day)]
        index = np.unique(np.concatenate(changed)) if changed else index[:0]
    if len(index):
        yield versions(settings, index, _ordinal(day) - 1)


@dataclass(frozen=True)
class OnSale:
    """The products on sale on a day and their prices (in force all day)."""

    listed: int  # products listed by the day: indexes [0, listed)
    index: np.ndarray  # those on sale (product_id - 1), ascending
    price_cents: np.ndarray


@lru_cache(maxsize=4)
def on_sale(settings: Settings, day: dt.date) -> OnSale:
    at = _ordinal(day)
    listed = products_through(settings, day)
    lives = _lives(settings, np.arange(listed))
    selling = np.flatnonzero((lives.launch <= at) & (at < lives.end))
    price, _ = _prices(settings, _subset(lives, selling), at)
    return OnSale(listed, selling, price)


def generate_products(settings: Settings, out_dir: Path, day: dt.date) -> csvfile.GeneratedFile:
    """Write the products' versions of `day`: the products launched, repriced or
    discontinued that day."""
    index = changed_on(settings, day)
    path = out_dir / FILE_NAME
    columns = versions(settings, index, _ordinal(day)) if len(index) else []
    rows = csvfile.write_columns(path, PRODUCTS.file_columns, columns, len(index))
    return csvfile.GeneratedFile(PRODUCTS.name, str(path), rows)
