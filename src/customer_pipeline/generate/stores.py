"""stores: retail stores in the locale's cities, with opening hours in their local time
zone, and online shops.

A store's time zone is one of its country's (``data/timezones.toml``), drawn with the
zones' shares of the population; opening hours are local. Online shops are open around
the clock and sell along each customer's local day: a customer lives in the zone of
their state (:func:`state_zones`; a move stays within it).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import tomllib
import zoneinfo
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path

import numpy as np

from customer_pipeline.generate import csvfile
from customer_pipeline.generate.catalog import (
    ONLINE_SHARE,
    RETAIL_CLOSING,
    RETAIL_OPENING,
    STORE_TYPES,
)
from customer_pipeline.generate.pools import pools
from customer_pipeline.generate.streams import Stream, gather_facts, stream, ticket_counts
from customer_pipeline.settings import BLOCK_ROWS, Settings
from customer_pipeline.tables import STORES

FILE_NAME = "stores.csv"
POPULARITY_SIGMA = 0.6
TICKETS_PER_POPULARITY = 50.0  # sampling resolution (see streams.ticket_table)
_TYPES = np.array(STORE_TYPES, dtype=np.bytes_)
_ZONES_TEXT = files("customer_pipeline").joinpath("data/timezones.toml").read_text(encoding="utf-8")
#: Part of the dataset's identity: editing the file changes the data.
ZONES_DIGEST: str = hashlib.sha256(_ZONES_TEXT.encode()).hexdigest()[:12]
_ZONES: dict[str, dict[str, float]] = tomllib.loads(_ZONES_TEXT)
_STATE_ZONES: dict[str, dict[str, str]] = _ZONES.pop("state_zones")


def zone_names(locale: str) -> tuple[str, ...]:
    """The IANA time zones of the locale's country."""
    return tuple(_ZONES[locale])


def zone_weights(locale: str) -> np.ndarray:
    """The share of the country's people living in each of zone_names(locale)."""
    weights = np.array(list(_ZONES[locale].values()))
    return weights / weights.sum()


@cache
def state_zones(locale: str) -> np.ndarray:
    """Per entry of pools(locale).states, its zone (an index into zone_names(locale)): a
    customer lives in their state's zone. A country of one zone needs no table; one of
    several maps every state (data/timezones.toml), else this is an error."""
    states = pools(locale).states
    names = zone_names(locale)
    if len(names) == 1:
        return np.zeros(len(states), dtype=np.int8)
    table = _STATE_ZONES[locale]
    unquoted = (next(csv.reader([state.decode()]))[0] for state in states)  # CSV text
    return np.array([names.index(table[state]) for state in unquoted], dtype=np.int8)


@cache
def zone_pools(locale: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pool's states zone by zone: (the entries of pools(locale).states in zone
    order, where each zone's start, how many each has): a uniform draw of a zone's
    entries picks one of its states by people."""
    zones = state_zones(locale)
    size = np.bincount(zones, minlength=len(zone_names(locale)))
    start = np.concatenate([[0], np.cumsum(size)[:-1]])
    return np.argsort(zones, kind="stable"), start, size


@cache
def utc_offsets(locale: str, day: dt.date) -> np.ndarray:
    """Each zone's offset from UTC on `day` (whole hours, at local noon: daylight saving
    time included)."""
    ordinal = np.array([np.datetime64(day, "D").astype(np.int64)])
    return utc_offsets_on(locale, ordinal)[0]


def _offset(zone: str, day: dt.date) -> int:
    noon = dt.datetime(day.year, day.month, day.day, 12, tzinfo=zoneinfo.ZoneInfo(zone))
    return round(noon.utcoffset().total_seconds() / 3600)


def utc_offsets_on(locale: str, days: np.ndarray) -> np.ndarray:
    """utc_offsets() of many days at once (days since 1970): (len(days), zones), from
    each year's table (_year_offsets)."""
    years = (days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64)) + 1970
    out = np.empty((len(days), len(_ZONES[locale])), dtype=np.int64)
    for year in np.unique(years):
        these = np.flatnonzero(years == year)
        first = int(np.datetime64(f"{year}-01-01", "D").astype(np.int64))
        for z, zone in enumerate(_ZONES[locale]):
            out[these, z] = _year_offsets(zone, int(year))[days[these] - first]
    return out


@cache
def _year_offsets(zone: str, year: int) -> np.ndarray:
    """The zone's _offset() on each day of `year`: read on each month's first day, and
    where it differs from the next month's, the day it changes found by bisection (the
    clocks change at most once a month); about 25 look-ups, not 365."""
    start = dt.date(year, 1, 1)
    firsts = [dt.date(year + month // 12, month % 12 + 1, 1) for month in range(13)]
    at = [_offset(zone, day) for day in firsts]
    out = np.empty((dt.date(year + 1, 1, 1) - start).days, dtype=np.int64)
    for month in range(12):
        low, high = firsts[month], firsts[month + 1]  # the offset is at[month] on low
        out[(low - start).days : (high - start).days] = at[month]
        if at[month] != at[month + 1]:
            while (high - low).days > 1:  # on low the old offset, on high the new
                middle = low + (high - low) // 2
                low, high = (middle, high) if _offset(zone, middle) == at[month] else (low, middle)
            out[(high - start).days : (firsts[month + 1] - start).days] = at[month + 1]
    return out


@dataclass(frozen=True)
class Facts:
    """What transactions need of stores 1..count (index 0 is store 1)."""

    online: np.ndarray  # bool
    open_hour: np.ndarray  # first hour open (0 online)
    close_hour: np.ndarray  # first hour closed (24 online)
    tickets: np.ndarray  # popularity, in sampling tickets
    zone: np.ndarray  # index into zone_names(locale)


def _facts_block(seed: int, locale: str, block: int) -> Facts:
    rng = stream(seed, Stream.STORES, 0, block, part=0)
    online = rng.random(BLOCK_ROWS) < ONLINE_SHARE
    opens = np.where(online, 0, rng.integers(*RETAIL_OPENING, BLOCK_ROWS))
    closes = np.where(online, 24, rng.integers(*RETAIL_CLOSING, BLOCK_ROWS))
    popularity = rng.lognormal(0.0, POPULARITY_SIGMA, BLOCK_ROWS) * np.where(online, 2.0, 1.0)
    tickets = ticket_counts(rng, popularity, TICKETS_PER_POPULARITY)
    where = stream(seed, Stream.STORES, 0, block, part=2).random(BLOCK_ROWS)
    zone = np.searchsorted(np.cumsum(zone_weights(locale))[:-1], where, side="right")
    return Facts(online, opens, closes, tickets, zone)


def store_facts(seed: int, locale: str, count: int) -> Facts:
    return gather_facts(Facts, count, lambda block: _facts_block(seed, locale, block))


def _block(settings: Settings, block: int) -> list[np.ndarray]:
    pool = pools(settings.locale)
    facts = _facts_block(settings.seed, settings.locale, block)
    zones = np.array(zone_names(settings.locale), dtype=np.bytes_)
    rng = stream(settings.seed, Stream.STORES, 0, block, part=1)
    first = block * BLOCK_ROWS + 1
    name = pool.companies[rng.integers(0, len(pool.companies), BLOCK_ROWS)]
    city = pool.cities[rng.integers(0, len(pool.cities), BLOCK_ROWS)]
    return [
        csvfile.integers(np.arange(first, first + BLOCK_ROWS)),
        name,
        np.where(facts.online, pool.country, city),  # online shops: the country
        _TYPES[facts.online.astype(np.intp)],
        csvfile.integers(facts.open_hour),
        csvfile.integers(facts.close_hour),
        zones[facts.zone],
    ]


def generate_stores(settings: Settings, out_dir: Path, day: dt.date) -> csvfile.GeneratedFile:
    """Write the stores file (the same on every date)."""
    del day  # stores do not change by date
    path = out_dir / FILE_NAME
    rows = csvfile.write_blocks(
        path, STORES.columns, 0, settings.sizes.stores, lambda block: _block(settings, block)
    )
    return csvfile.GeneratedFile(STORES.name, str(path), rows)
