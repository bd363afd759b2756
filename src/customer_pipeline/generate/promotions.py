"""promotions: a few campaigns a month and the calendar's big sales, a pure function of
(dataset, date).

A month's campaigns come from its own stream (seed, month): any day's promotions are
computed alone, in any order. Each promotion applies to one category or one product, at
a whole-percent discount. A line of a product on promotion gets the best discount that
applies that day (floored to the cent: 0 <= discount < the line's amount) and the
product sells more while it lasts (promotion_lift). The day's file holds every promotion
started by the day since the history's start (a snapshot: loading a day alone or in a
sequence leaves the same promotions for it).
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import numpy as np

from customer_pipeline.generate import csvfile
from customer_pipeline.generate.catalog import CATEGORIES, PROMOTIONS
from customer_pipeline.generate.product_changes import products_through
from customer_pipeline.generate.products import product_facts, product_name
from customer_pipeline.generate.streams import Stream, stream
from customer_pipeline.settings import Settings
from customer_pipeline.tables import PROMOTIONS as TABLE

FILE_NAME = "promotions.csv"
PER_MONTH_IDS = 16  # promotion ids: (year x 12 + month - 1) x 16 + the promotion's slot + 1
#: (7 digits: ids of any year before 5000)
_CATEGORY_INDEX = {category.name: i for i, category in enumerate(CATEGORIES)}


@dataclass(frozen=True)
class Promotion:
    promotion_id: int
    name: str
    start: dt.date
    end: dt.date  # inclusive
    percent: int
    category: int | None  # index into CATEGORIES, or
    product: int | None  # index of the product (product_id - 1)


def _event_start(rule: str, year: int) -> dt.date:
    if rule == "black-friday":  # the day after the fourth Thursday of November
        first = dt.date(year, 11, 1)
        thursday = first + dt.timedelta(days=(3 - first.weekday()) % 7 + 21)
        return thursday + dt.timedelta(days=1)
    month, day = map(int, rule.split("-"))
    return dt.date(year, month, day)


def _campaigns(seed: int, products: int, year: int, month: int) -> list[Promotion]:
    rules = PROMOTIONS
    serial = year * 12 + month - 1
    rng = stream(seed, Stream.PROMOTIONS, serial)
    count = rules["per_month"]
    start = rng.integers(1, calendar.monthrange(year, month)[1] + 1, count)
    days = rng.integers(rules["days"][0], rules["days"][1] + 1, count)
    percent = rng.choice(rules["discounts"], count)
    on_product = rng.random(count) < rules["product_share"]
    category = rng.integers(0, len(CATEGORIES), count)
    product = rng.integers(0, products, count)
    month_name = calendar.month_name[month]
    found = []
    for slot in range(count):
        first = dt.date(year, month, int(start[slot]))
        item, group = (
            (int(product[slot]), None) if on_product[slot] else (None, int(category[slot]))
        )
        title = (
            f"Spotlight: {product_name(seed, item)}"
            if item is not None
            else (f"{month_name} {CATEGORIES[group].name} Days")
        )
        found.append(
            Promotion(
                serial * PER_MONTH_IDS + slot + 1,
                title,
                first,
                first + dt.timedelta(days=int(days[slot]) - 1),
                int(percent[slot]),
                group,
                item,
            )
        )
    return found


@lru_cache(maxsize=1024)
def month_promotions(seed: int, products: int, year: int, month: int) -> tuple[Promotion, ...]:
    """The promotions that start in a month: its campaigns, then its events' promotions
    (a function of the seed and the catalog's size only)."""
    found = _campaigns(seed, products, year, month)
    serial = year * 12 + month - 1
    for event in PROMOTIONS["events"]:
        first = _event_start(event["start"], year)
        if first.month != month:
            continue
        for category, percent in event["discounts"].items():
            found.append(
                Promotion(
                    serial * PER_MONTH_IDS + len(found) + 1,
                    f"{event['name']}: {category}",
                    first,
                    first + dt.timedelta(days=event["days"] - 1),
                    percent,
                    _CATEGORY_INDEX[category],
                    None,
                )
            )
    assert len(found) <= PER_MONTH_IDS, "more promotions in a month than ids"
    return tuple(found)


def _months(first: dt.date, last: dt.date) -> list[tuple[int, int]]:
    return [
        (serial // 12, serial % 12 + 1)
        for serial in range(first.year * 12 + first.month - 1, last.year * 12 + last.month)
    ]


def promotions_through(settings: Settings, day: dt.date) -> list[Promotion]:
    """Every promotion that started by `day` and ends on or after the history's start."""
    since = settings.history_start - dt.timedelta(days=62)  # the longest runs into it
    return [
        promotion
        for year, month in _months(min(since, day), day)
        for promotion in month_promotions(settings.seed, settings.sizes.products, year, month)
        if promotion.start <= day and promotion.end >= settings.history_start
    ]


@dataclass(frozen=True)
class Offers:
    """Per product, the best promotion valid on a day: its index in `ids_text` (-1: none,
    whose text is empty: NULL) and its discount in percent (0: none)."""

    promotion: np.ndarray
    percent: np.ndarray
    ids_text: np.ndarray


@lru_cache(maxsize=4)
def offers_on(settings: Settings, day: dt.date) -> Offers:
    previous = (day.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    valid = [
        promotion
        for year, month in _months(previous, day)
        for promotion in month_promotions(settings.seed, settings.sizes.products, year, month)
        if promotion.start <= day <= promotion.end
    ]
    # every product listed by the day (the new ones too: a category's promotion is theirs)
    category = product_facts(settings.seed, products_through(settings, day)).category
    best = np.full(len(category), -1, dtype=np.int64)
    percent = np.zeros(len(category), dtype=np.int64)
    for index, promotion in enumerate(valid):
        if promotion.product is not None:
            applies = np.zeros(len(category), dtype=bool)
            applies[promotion.product] = True
        else:
            applies = category == promotion.category
        better = applies & (promotion.percent > percent)
        best[better], percent[better] = index, promotion.percent
    ids = csvfile.integers(np.array([p.promotion_id for p in valid], dtype=np.int64), width=7)
    return Offers(best, percent, np.concatenate([ids, np.zeros((1, 7), np.uint8)]))  # -1: NULL


def promotion_lift(settings: Settings, day: dt.date) -> np.ndarray:
    """Per product listed by the day, how many times its lines it sells that day: on
    promotion x (1 + lift x percent), else 1."""
    return 1 + PROMOTIONS["lift_per_percent"] * offers_on(settings, day).percent


def discounts(
    settings: Settings, day: dt.date, product: np.ndarray, line_cents: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per line: the promotion's index in offers_on(day).ids_text (-1: none) and the
    discount in cents (0 <= discount < line_cents)."""
    offers = offers_on(settings, day)
    return offers.promotion[product], line_cents * offers.percent[product] // 100


#: Discounts below this many cents are formatted from a table made once (most are 0).
_TABLED_CENTS = 100_000


@cache
def _comma_cents_text() -> np.ndarray:
    """b",0.00" .. b",999.99", NUL-padded on the left: a discount after its field's comma."""
    text = csvfile.cents_as_decimal(np.arange(_TABLED_CENTS))
    out = np.zeros((len(text), text.shape[1] + 1), dtype=np.uint8)
    out[:, 1:] = text
    out[np.arange(len(text)), text.shape[1] - np.count_nonzero(text, axis=1)] = ord(",")
    return out


def promotion_columns(
    settings: Settings, day: dt.date, promotion: np.ndarray, discount: np.ndarray
) -> csvfile.Column:
    """ "promotion_id,discount_amount" of discounts()' result (the id empty, NULL, for -1),
    as a joined column (csvfile.Column). The comma is put before the discount's padding:
    a line without a promotion (most) has one run of NUL bytes, all of it (which
    csvfile._rows drops fastest). (np.take: a row gather much faster than fancy indexing.)"""
    ids = np.take(offers_on(settings, day).ids_text, promotion, axis=0)
    if len(discount) and discount.max() >= _TABLED_CENTS:
        comma = csvfile.constant(b",", len(discount))
        return csvfile.joined(ids, comma, csvfile.cents_as_decimal(discount))
    return csvfile.joined(ids, np.take(_comma_cents_text(), discount, axis=0))


def _rows(promotions: list[Promotion]) -> list[np.ndarray]:
    """The promotions' columns (a category or a product: the other is empty, NULL)."""

    def optional(values: list[str | None]) -> np.ndarray:
        return np.array([(value or "").encode() for value in values], dtype=np.bytes_)

    return [
        csvfile.integers(np.array([p.promotion_id for p in promotions])),
        csvfile.quote(p.name for p in promotions),
        np.array([p.start.isoformat() for p in promotions], dtype=np.bytes_),
        np.array([p.end.isoformat() for p in promotions], dtype=np.bytes_),
        csvfile.integers(np.array([p.percent for p in promotions])),
        optional([None if p.category is None else CATEGORIES[p.category].name for p in promotions]),
        optional([None if p.product is None else str(p.product + 1) for p in promotions]),
    ]


def generate_promotions(settings: Settings, out_dir: Path, day: dt.date) -> csvfile.GeneratedFile:
    """Write the promotions file of `day`: every promotion started by then."""
    found = promotions_through(settings, day)
    path = out_dir / FILE_NAME
    rows = csvfile.write_blocks(path, TABLE.columns, 0, len(found), lambda _: _rows(found))
    return csvfile.GeneratedFile(TABLE.name, str(path), rows)
