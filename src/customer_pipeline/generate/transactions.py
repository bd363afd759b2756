"""transactions: the day's sales as lines of baskets, referencing existing customers,
products and stores only: the products on sale that day, at the price valid that day
(:func:`.product_changes.on_sale`).

Keys are computed, never looked up: a foreign key is a sampled parent index mapped to
that parent's key, so an orphan is impossible by construction. Money is integer cents:
transaction_amount = unit_price x quantity - discount_amount, exactly (the discount of
the day's best promotion on the product, if any: see :mod:`.promotions`).

A block of BLOCK_ROWS lines is whole baskets (the day's last block is cut at the day's
count): a basket's lines share customer, store, second and payment method, never repeat
a product, and after the first line come from its category and from its kind's
complements (catalog.toml [complements]) more often than by chance. A basket's lines
follow its customer's spend tier (:func:`.customers.spend_tier`: fuller or emptier
baskets, persistently, so that a month's sales are skewed by what households spend per
visit as well as by how often they come), and hold at most a quarter of the catalog.
Who comes follows the customers' rhythm (:func:`.customers.day_visits`), each visit
used about once a day (:func:`_visitors`); a closed account never comes (only lapsed
customers close, after their lapse: :mod:`.customer_changes`); every one of the
day's sign-ups makes a first purchase online that day, after signing up. When follows
each store's opening hours in its local time zone (online: the customer's zone) and an
hour-of-day profile that differs between weekdays and weekends.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

import numpy as np

from customer_pipeline.generate import csvfile
from customer_pipeline.generate.calendar import customers_through, transaction_count
from customer_pipeline.generate.catalog import (
    CATEGORIES,
    COMPLEMENT_SHARE,
    COMPLEMENTS,
    HOURLY,
    KINDS,
    PAYMENT_METHODS,
    PAYMENT_MIX,
    SINGLE_UNIT,
    STORE_TYPES,
)
from customer_pipeline.generate.customers import (
    SPEND_LEVELS,
    SPEND_TIERS,
    created_between,
    customer_ids,
    day_visits,
    signup_states,
    spend_tier,
)
from customer_pipeline.generate.product_changes import on_sale
from customer_pipeline.generate.products import demand_at, product_facts
from customer_pipeline.generate.promotions import discounts, promotion_columns, promotion_lift
from customer_pipeline.generate.stores import (
    state_zones,
    store_facts,
    utc_offsets,
    zone_weights,
)
from customer_pipeline.generate.streams import (
    Stream,
    stream,
    ticket_counts,
    ticket_table,
    uuid4_pieces,
    weighted_sample,
)
from customer_pipeline.settings import BLOCK_ROWS, Settings
from customer_pipeline.tables import TRANSACTIONS

R = TypeVar("R")

MAX_QUANTITY = 50  # a line's quantity: geometric by its kind (catalog.SINGLE_UNIT), up to this
#: visits drawn per expected basket: the day's baskets (a random number) nearly never
#: outnumber them, so no visit is used twice (see _visitors)
SPARE_VISITS = 1.3
RESOLUTION = 200  # rows of a quantile table: hour and payment method in 0.5% steps
#: lines per basket (1, 2, ...), by channel: a shop's trolley is fuller than a web order;
#: each is continued by a geometric tail to MOST_LINES (the fullest trolleys), and tilted
#: towards fuller or emptier baskets by the customer's spend tier (_tilted)
BASKET_LINES = {
    "Retail": (30, 22, 16, 11, 7, 5, 3, 2, 1.5, 1, 0.7, 0.5, 0.3),
    "Online": (46, 24, 13, 7, 4, 2.5, 1.5, 1, 0.5, 0.3),
}
MOST_LINES = {"Retail": 30, "Online": 20}
#: baskets drawn per line to fill: 1 / 2.5 lines, the day's baskets have 2.8-2.9 on average
#: (their sum is then about 7 standard deviations above the lines needed)
CANDIDATES = 0.4
RELATED_SHARE = 0.6  # of a basket's further lines: from its first line's category
COMPLEMENTS_PART = 4  # the stream part of the complements' draws
REDRAWS = 8  # rounds of drawing a basket's repeated products again
#: the day's products' sampling tickets: TICKETS_PER_POPULARITY per unit of popularity, or
#: more in a small catalog, so that its rarest (dearest) products sell as often as their
#: popularity says (not as often as one ticket does)
TICKETS_PER_POPULARITY = 40.0
MIN_TICKETS = 1 << 16
TICKETS_PART = 5  # the stream part of the day's ticket counts (block 0)
#: "payment_method," and "quantity,": each is followed by a number, NUL-padded on the
#: left (csvfile.then_comma: one run of padding between the two)
_METHODS = csvfile.then_comma(np.array(PAYMENT_METHODS, dtype=np.bytes_))
_QUANTITY_TEXT = csvfile.then_comma(csvfile.integers(np.arange(MAX_QUANTITY + 1)))


def quantile_table(weights: np.ndarray) -> np.ndarray:
    """(rows, RESOLUTION) table: row r, column k is the outcome at quantile (k + 0.5) / R
    of the distribution `weights[r]`; a uniform column then draws from that row."""
    cdf = np.cumsum(weights, axis=1)
    cdf = cdf / cdf[:, -1:]
    quantiles = (np.arange(RESOLUTION) + 0.5) / RESOLUTION
    return np.stack([np.searchsorted(row, quantiles, side="right") for row in cdf]).astype(np.int8)


def _padded(rows: tuple[tuple[float, ...], ...]) -> np.ndarray:
    width = max(map(len, rows))
    return np.array([row + (0,) * (width - len(row)) for row in rows], dtype=np.float64)


def _with_tail(weights: tuple[float, ...], most: int) -> np.ndarray:
    """weights continued to `most` lines by the ratio of their last two."""
    ratio = weights[-1] / weights[-2]
    tail = weights[-1] * ratio ** np.arange(1, most - len(weights) + 1)
    return np.concatenate([weights, tail])


def _tilted(weights: np.ndarray, mean: float) -> np.ndarray:
    """weights x theta^(lines - 1), theta such that the mean lines are `mean` (bisection
    on log theta): a fuller or emptier basket of the same shape."""
    lines = np.arange(1, len(weights) + 1)
    low, high = -5.0, 5.0
    for _ in range(60):
        middle = (low + high) / 2
        tilted = weights * np.exp(middle * (lines - 1))
        if (tilted * lines).sum() / tilted.sum() < mean:
            low = middle
        else:
            high = middle
    return tilted / tilted.sum()


def _lines_weights() -> np.ndarray:
    """(channels x SPEND_TIERS, most lines) weights: row channel x SPEND_TIERS + tier, the
    channel's lines tilted to its mean x the tier's SPEND_LEVELS."""
    rows = []
    for kind in STORE_TYPES:
        weights = _with_tail(BASKET_LINES[kind], MOST_LINES[kind])
        mean = (weights * np.arange(1, len(weights) + 1)).sum() / weights.sum()
        rows += [tuple(_tilted(weights, mean * level)) for level in SPEND_LEVELS]
    return _padded(tuple(rows))


_METHOD_FLAT = quantile_table(np.array(PAYMENT_MIX)).ravel()  # rows: Retail, Online
_LINES_WEIGHTS = _lines_weights()
#: rows: Retail's tiers, then Online's (see _lines_weights); lines per basket
_LINES_TABLE = quantile_table(_LINES_WEIGHTS) + 1
_LINES_FLAT = _LINES_TABLE.ravel()  # row r, column k at r x RESOLUTION + k
#: (kinds, most complements) table of each kind's complements, and how many it has
_COMPLEMENT_COUNT = np.array([len(found) for found in COMPLEMENTS])
_COMPLEMENT_KINDS = np.array(
    [found + (0,) * (_COMPLEMENT_COUNT.max() - len(found)) for found in COMPLEMENTS]
)
#: mean lines per basket of each channel, over its tiers (a basket's tier is its customer's:
#: the tiers are equally likely among the day's visits), before basket_limit: where the
#: limit binds (a small catalog's heavier tiers) the day's baskets are more than planned,
#: within SPARE_VISITS (the default sizes: up to some 15% more, 1.1-1.3 visits a basket)
_MEAN_LINES = (
    (_LINES_TABLE.astype(np.float64).mean(axis=1))
    .reshape(len(STORE_TYPES), SPEND_TIERS)
    .mean(axis=1)
)


@dataclass(frozen=True)
class DayPlan:
    """Everything a block of the day needs of the dimension tables and the calendar."""

    seed: int
    ordinal: int  # the day's
    returning: int  # customers [0, returning) existed before the day
    new: int  # customers [returning, returning + new) signed up on the day
    visitors: np.ndarray  # the day's visits of returning customers, shuffled (see _visitors)
    #: ... each visitor's spend tier (customers.spend_tier) x RESOLUTION: its lines' offset
    #: in _LINES_FLAT from its store's channel's row (store_lines_row)
    visitor_spend: np.ndarray
    #: ... each visitor's time zone (stores.state_zones of their sign-up state: a move
    #: keeps it)
    visitor_zone: np.ndarray
    new_spend: np.ndarray  # the same of each new customer (see day_plan)
    blocks: int  # the day's blocks of lines
    new_signup_second: np.ndarray  # second of the day each new customer signed up
    product_index: np.ndarray  # the products on sale (product_id - 1): "products" below
    price_cents: np.ndarray  # each product's price valid on the day
    price_text: np.ndarray  # the prices as CSV text, formatted once
    product_text: np.ndarray  # product ids as CSV text
    store_text: np.ndarray  # store ids (index + 1) as CSV text
    store_then_comma: np.ndarray  # ... each then a comma (csvfile.then_comma)
    product_tickets: np.ndarray  # ticket table, by popularity
    product_category: np.ndarray
    category_tickets: np.ndarray  # ticket tables of each category, end to end
    category_start: np.ndarray  # where each category's tickets start
    category_size: np.ndarray  # ... and how many it has
    product_kind: np.ndarray
    kind_tickets: np.ndarray  # the same for each kind
    kind_start: np.ndarray
    kind_size: np.ndarray
    store_tickets: np.ndarray  # ticket table, by popularity
    retail_tickets: np.ndarray  # ... of the retail stores alone (where returns may go)
    online_stores: np.ndarray  # indexes of online stores
    store_online: np.ndarray
    store_lines_row: np.ndarray  # where each store's channel's first tier starts in _LINES_FLAT
    most_lines: int  # a basket's lines, at most (see basket_limit)
    store_hours: np.ndarray  # (stores, RESOLUTION) quantile table of the UTC hour of a sale
    #: (zones, RESOLUTION): the UTC hour of an online sale to a customer of each zone
    online_hours: np.ndarray
    store_zone: np.ndarray  # each store's time zone: index into stores.zone_names(locale)
    #: the day's sign-ups make their first purchase that day (online): block b's are
    #: newcomers b, b + blocks, ... (first_purchases); False without an online store
    sign_ups_buy: bool
    lines: int  # the day's lines (the last block's are cut there)


@dataclass(frozen=True)
class Lines:
    """A block's lines as numbers: k baskets, n lines (basket_of_line maps one to the other)."""

    customer: np.ndarray  # per basket
    store: np.ndarray  # per basket
    second: np.ndarray  # per basket: UTC second of the day
    method: np.ndarray  # per basket
    size: np.ndarray  # per basket: lines
    basket_of_line: np.ndarray
    product: np.ndarray  # per line
    quantity: np.ndarray  # per line


def transaction_chunks(settings: Settings, day: dt.date) -> list[tuple[int, int]]:
    """The day's transactions as [start, stop) row ranges of at most chunk_size rows."""
    total = transaction_count(settings, day)
    size = settings.chunk_size
    return [(start, min(start + size, total)) for start in range(0, total, size)]


def _local_hours(locale: str, day: dt.date) -> np.ndarray:
    """(zones, UTC hour): the local hour in each of the locale's zones on `day`."""
    return (np.arange(24) + utc_offsets(locale, day)[:, None]) % 24


def _day_kind(day: dt.date) -> str:
    return "weekend" if day.weekday() >= 5 else "weekday"


def _store_hours(stores, locale: str, day: dt.date) -> np.ndarray:
    """Per store, the UTC hour of a sale: a retail store's profile within its opening
    hours in its own zone; an online shop's along its customers' local day, the zones'
    mix (what a sale to a customer of unknown zone follows: a return's; a sale takes its
    customer's zone's, online_hours)."""
    kind = _day_kind(day)
    local = _local_hours(locale, day)
    online = zone_weights(locale) @ HOURLY[("Online", kind)][local]
    local = local[stores.zone]
    open_ = (local >= stores.open_hour[:, None]) & (local < stores.close_hour[:, None])
    retail = HOURLY[("Retail", kind)][local] * open_
    return quantile_table(np.where(stores.online[:, None], online, retail))


def _online_hours(locale: str, day: dt.date) -> np.ndarray:
    """Per zone, the UTC hour of an online sale to a customer living there: the online
    profile along their local day."""
    return quantile_table(HOURLY[("Online", _day_kind(day))][_local_hours(locale, day)])


def _visitors(
    settings: Settings, day: dt.date, returning: int, baskets: float
) -> tuple[np.ndarray, np.ndarray]:
    """The day's visits (customers.day_visits: each returning customer's expected visits
    by their rhythm, scaled to SPARE_VISITS x the day's baskets, randomly rounded),
    shuffled. Basket j of block b is visit (b + blocks x j) mod len: the day's baskets use
    each entry at most once (nearly always), so nobody makes more baskets than their
    rounded visits. (None rounded up, a tiny population on a quiet day: each customer
    once, as a ticket table without tickets.) With each visitor's spend tier."""
    rng = stream(settings.seed, Stream.TRANSACTIONS, day.toordinal(), 0, part=1)
    visits, spend = day_visits(settings, day, returning, SPARE_VISITS * baskets, rng, spend=True)
    if not len(visits):
        visits = np.arange(returning, dtype=np.int32)
        spend = spend_tier(settings.seed, visits.astype(np.int64))
    order = rng.permutation(len(visits))
    return visits[order], spend[order]


def _group_tables(
    group: np.ndarray, groups: int, popularity: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each group's (category's, kind's) ticket table (by popularity), end to end, with
    starts and sizes."""
    if popularity.sum() == 0:  # as ticket_table: every product once
        popularity = np.ones_like(popularity)
    order = np.argsort(group, kind="stable")
    tickets = np.repeat(order.astype(np.int32), popularity[order])
    size = np.bincount(group, weights=popularity, minlength=groups).astype(np.int64)
    return tickets, np.cumsum(size) - size, size


@lru_cache(maxsize=4)
def day_plan(settings: Settings, day: dt.date) -> DayPlan:
    sizes = settings.sizes
    returning = customers_through(settings, day - dt.timedelta(days=1))
    everyone = customers_through(settings, day)
    catalog = on_sale(settings, day)  # the products on sale that day, at that day's prices
    products = product_facts(settings.seed, catalog.listed)
    stores = store_facts(settings.seed, settings.locale, sizes.stores)
    count = transaction_count(settings, day)
    online = np.flatnonzero(stores.online)
    store_tickets = ticket_table(stores.tickets)
    online_share = stores.online[store_tickets].mean()
    baskets = count / (_MEAN_LINES @ (1 - online_share, online_share))
    new = everyone - returning
    midnight = np.datetime64(day, "s").astype(np.int64)
    # what is on promotion sells more, as a first line and as a related one; a changed
    # price sells more or fewer
    weights = demand_at(products, catalog.index, catalog.price_cents)
    weights *= promotion_lift(settings, day)[catalog.index]
    per_unit = max(TICKETS_PER_POPULARITY, MIN_TICKETS / weights.sum()) if len(weights) else 0.0
    tickets = stream(settings.seed, Stream.TRANSACTIONS, day.toordinal(), 0, part=TICKETS_PART)
    popularity = ticket_counts(tickets, weights, per_unit)
    category = products.category[catalog.index]
    kind = products.kind[catalog.index]
    category_tickets, category_start, category_size = _group_tables(
        category, len(CATEGORIES), popularity
    )
    kind_tickets, kind_start, kind_size = _group_tables(kind, len(KINDS), popularity)
    store_text = csvfile.integers(np.arange(1, sizes.stores + 1))
    visitors, visitor_spend = _visitors(settings, day, returning, baskets)
    # (one more on a day without sign-ups: newcomer numbers are modulo max(new, 1))
    new_spend = spend_tier(settings.seed, np.arange(returning, returning + max(new, 1)))
    return DayPlan(
        seed=settings.seed,
        ordinal=day.toordinal(),
        returning=returning,
        new=new,
        visitors=visitors,
        visitor_spend=visitor_spend.astype(np.int16) * RESOLUTION,  # int16: half the visits' size
        visitor_zone=np.take(state_zones(settings.locale), signup_states(settings, visitors)),
        new_spend=new_spend.astype(np.int16) * RESOLUTION,
        blocks=-(-count // BLOCK_ROWS),
        new_signup_second=created_between(settings, returning, everyone) - midnight,
        product_index=catalog.index,
        price_cents=catalog.price_cents,
        price_text=csvfile.cents_as_decimal(catalog.price_cents),
        product_text=csvfile.integers(catalog.index + 1),
        store_text=store_text,
        store_then_comma=csvfile.then_comma(store_text),
        product_tickets=ticket_table(popularity),
        product_category=category,
        category_tickets=category_tickets,
        category_start=category_start,
        category_size=category_size,
        product_kind=kind,
        kind_tickets=kind_tickets,
        kind_start=kind_start,
        kind_size=kind_size,
        store_tickets=store_tickets,
        retail_tickets=store_tickets[~stores.online[store_tickets]],
        online_stores=online,
        store_online=stores.online,
        store_lines_row=stores.online.astype(np.int64) * SPEND_TIERS * RESOLUTION,
        most_lines=basket_limit(len(catalog.index)),
        store_hours=_store_hours(stores, settings.locale, day),
        online_hours=_online_hours(settings.locale, day),
        store_zone=stores.zone,
        sign_ups_buy=bool(count and new and len(online)),
        lines=count,
    )


def basket_limit(products: int) -> int:
    """A basket's lines, at most, in a catalog of `products` on sale: an eighth of it (at
    least 8, never more than it has). A heavy household's trolley of 12-16 distinct
    products out of the default 50-64 would have to take the catalog's rare, dear ones
    (its popular ones being taken already): a day's top product, its largest line and
    its average basket would swing with one household."""
    return min(products, max(8, products // 8))


def first_purchases(plan: DayPlan, block: int) -> int:
    """How many of the day's sign-ups make their first purchase in block `block`: each
    sign-up exactly one, newcomer j in block j mod blocks (none without an online store)."""
    return len(range(block, plan.new, plan.blocks)) if plan.sign_ups_buy else 0


def _candidates(rng: np.random.Generator, plan: DayPlan, block: int, made: int, n: int):
    """Store, first-purchase flag and size of n baskets: the block's baskets made .. made +
    n. The block's first purchases are among its first baskets (at random places where
    even the largest baskets before them fit in the block's lines: nothing cuts them);
    their customers are the block's newcomers, in order (block_lines). A basket's lines
    follow its customer's spend tier."""
    store = weighted_sample(rng, plan.store_tickets, n)
    first_purchase = np.zeros(n, dtype=bool)
    firsts = first_purchases(plan, block) if made == 0 else 0
    if firsts:
        kept = min(BLOCK_ROWS, plan.lines - block * BLOCK_ROWS)
        room = min(n, max(1, kept // min(max(MOST_LINES.values()), plan.most_lines)))
        first_purchase[np.sort(rng.choice(room, min(firsts, room), replace=False))] = True
        # a newcomer's first purchase is online, after signing up
        shop = plan.online_stores[rng.integers(0, len(plan.online_stores), n)]
        store = np.where(first_purchase, shop, store)
    spend = np.take(
        plan.visitor_spend, block + plan.blocks * np.arange(made, made + n), mode="wrap"
    )
    first = np.flatnonzero(first_purchase)
    spend[first] = np.take(plan.new_spend, block + plan.blocks * np.arange(len(first)))
    row = np.take(plan.store_lines_row, store) + spend  # see _LINES_FLAT
    size = np.take(_LINES_FLAT, row + rng.integers(0, RESOLUTION, n))
    return store, first_purchase, np.minimum(size.astype(np.int64), plan.most_lines)


def _baskets(rng: np.random.Generator, plan: DayPlan, block: int, n: int):
    """Store, first-purchase flag and size of the block's baskets that fill exactly n lines
    (the last one cut; no basket has more lines than basket_limit), drawn
    CANDIDATES x n at a time: one draw is nearly always enough."""
    parts, lines, made = [], 0, 0
    while lines < n:
        parts.append(_candidates(rng, plan, block, made, int(CANDIDATES * n)))
        lines += int(parts[-1][2].sum())
        made += len(parts[-1][2])
    store, first_purchase, size = (np.concatenate(column) for column in zip(*parts, strict=True))
    ends = np.cumsum(size)
    k = int(np.searchsorted(ends, n)) + 1
    size = size[:k]
    size[-1] -= ends[k - 1] - n
    return store[:k], first_purchase[:k], size


def _complements(rng: np.random.Generator, plan: DayPlan, kind: np.ndarray) -> np.ndarray:
    """Per line, a product of one of its kind's complements (one at random, then by
    popularity); -1 where the kind has none in the catalog."""
    n = len(kind)
    count = np.take(_COMPLEMENT_COUNT, kind)
    chosen = np.take(
        _COMPLEMENT_KINDS,
        kind * _COMPLEMENT_KINDS.shape[1] + (rng.random(n) * count).astype(np.intp),
    )
    size = np.where(count > 0, np.take(plan.kind_size, chosen), 0)
    pick = np.take(plan.kind_start, chosen) + (rng.random(n) * size).astype(np.int64)
    found = np.take(plan.kind_tickets, np.minimum(pick, len(plan.kind_tickets) - 1))
    return np.where(size > 0, found, -1)


def _products(
    rng: np.random.Generator, plan: DayPlan, size: np.ndarray, basket: np.ndarray, block: int
):
    """Each line's product: a basket's first by popularity, the others from its
    complements (COMPLEMENT_SHARE, when its kind has some), else from the same category
    (RELATED_SHARE) or by popularity; never twice in a basket."""
    n = len(basket)
    starts = np.cumsum(size) - size  # each basket's first line (a basket's lines are in a row)
    rank = np.arange(n) - np.take(starts, basket)
    first = weighted_sample(rng, plan.product_tickets, len(size))
    category = np.take(np.take(plan.product_category, first), basket)
    pick = np.take(plan.category_start, category) + (
        rng.random(n) * np.take(plan.category_size, category)
    ).astype(np.int64)
    product = np.where(
        rng.random(n) < RELATED_SHARE,
        np.take(plan.category_tickets, pick),
        weighted_sample(rng, plan.product_tickets, n),
    )
    draws = stream(plan.seed, Stream.TRANSACTIONS, plan.ordinal, block, part=COMPLEMENTS_PART)
    chosen = np.flatnonzero(draws.random(n) < COMPLEMENT_SHARE)
    complement = _complements(draws, plan, np.take(plan.product_kind[first], basket[chosen]))
    product[chosen] = np.where(complement >= 0, complement, product[chosen])
    product[starts] = first
    products = len(plan.price_cents)
    lines = np.arange(n)  # the lines to check: all, then those of baskets that repeated
    for _ in range(REDRAWS):  # a repeated product is drawn again, by popularity
        repeated = lines[_repeated(product[lines], basket[lines], products)]
        if not len(repeated):
            return product
        product[repeated] = weighted_sample(rng, plan.product_tickets, len(repeated))
        again = np.zeros(len(size), dtype=bool)
        again[basket[repeated]] = True
        lines = lines[again[basket[lines]]]
    # a basket that still repeats (nearly never: more lines than popular products) takes
    # its first line's successors
    clash = lines[
        np.isin(basket[lines], basket[_repeated(product[lines], basket[lines], products)])
    ]
    product[clash] = (first[basket[clash]] + rank[clash]) % products
    return product


def _repeated(product: np.ndarray, basket: np.ndarray, products: int) -> np.ndarray:
    """The lines whose product an earlier-sorted line of the same basket already has."""
    key = basket.astype(np.int64) * products + product
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    return order[1:][ordered[1:] == ordered[:-1]]


def block_lines(settings: Settings, day: dt.date, plan: DayPlan, block: int) -> Lines:
    """Block `block` of the day: BLOCK_ROWS lines in whole baskets (the last one cut)."""
    rng = stream(settings.seed, Stream.TRANSACTIONS, day.toordinal(), block)
    store, first_purchase, size = _baskets(rng, plan, block, BLOCK_ROWS)
    k = len(size)
    # the block's i-th first purchase is newcomer b + blocks x i: each sign-up's one
    newcomer = (block + plan.blocks * (np.cumsum(first_purchase) - 1)) % max(plan.new, 1)
    visit_of = (block + plan.blocks * np.arange(k)) % len(plan.visitors)
    customer = np.where(first_purchase, plan.returning + newcomer, np.take(plan.visitors, visit_of))
    at_online_store = np.take(plan.store_online, store)
    method = np.take(_METHOD_FLAT, at_online_store * RESOLUTION + rng.integers(0, RESOLUTION, k))
    at = rng.integers(0, RESOLUTION, k)
    hour = np.take(plan.store_hours.ravel(), store * RESOLUTION + at).astype(np.int64)
    # an online sale along its customer's local day
    (online,) = np.nonzero(at_online_store & ~first_purchase)
    zone = np.take(plan.visitor_zone, visit_of[online])
    hour[online] = plan.online_hours[zone, at[online]]
    second = hour * 3600 + rng.integers(0, 3600, k)
    if plan.new:  # a first purchase comes after the sign-up, the same day
        signed_up = plan.new_signup_second[newcomer]
        after = signed_up + (rng.random(k) * (86_400 - signed_up)).astype(np.int64)
        second = np.where(first_purchase, after, second)
    basket = np.repeat(np.arange(k), size)
    product = _products(rng, plan, size, basket, block)
    single = np.take(SINGLE_UNIT, np.take(plan.product_kind, product))
    quantity = np.minimum(rng.geometric(single), MAX_QUANTITY)
    return Lines(customer, store, second, method, size, basket, product, quantity)


def _id_pieces(settings: Settings, day: dt.date, block: int, baskets: int):
    """The block's basket ids (`baskets` of them) and its lines' transaction ids, as
    pieces of text (streams.uuid_pieces)."""
    ids = stream(settings.seed, Stream.TRANSACTIONS, day.toordinal(), block, part=2)
    return uuid4_pieces(ids, baskets), uuid4_pieces(ids, BLOCK_ROWS)


def _basket_fields(settings: Settings, day: dt.date, lines: Lines, basket_ids) -> np.ndarray:
    """Per basket, its lines' "basket_id,business_date,customer_id,transaction_date" as
    one matrix (no padding): a line takes its basket's row in one gather."""
    k = len(lines.size)
    return np.concatenate(
        [
            *basket_ids,
            csvfile.constant(f",{day.isoformat()},".encode(), k),
            csvfile.matrix(customer_ids(settings, lines.customer)),
            csvfile.constant(b",", k),
            *csvfile.timestamps_within(day, lines.second),
        ],
        axis=1,
    )


def _take(table: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Rows `index` of a text table (np.take: a row gather much faster than indexing)."""
    return np.take(csvfile.matrix(table), index, axis=0)


def line_amounts(
    settings: Settings, day: dt.date, plan: DayPlan, product: np.ndarray, quantity: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lines of `product` (positions among the day's products on sale) x `quantity`: their
    cents at the day's price before discount, their promotion (-1: none) and discount
    (cents); what was paid is the first less the last."""
    line_cents = np.take(plan.price_cents, product) * quantity
    promotion, discount = discounts(settings, day, np.take(plan.product_index, product), line_cents)
    return line_cents, promotion, discount


@dataclass(frozen=True)
class Sale:
    """A block's lines as sold: what its transactions' rows, and its returns, are made of."""

    block: int
    lines: Lines
    basket_ids: tuple[np.ndarray, ...]  # pieces of text (streams.uuid_pieces), per basket
    line_ids: tuple[np.ndarray, ...]  # ... per line: the transaction ids
    line_cents: np.ndarray  # per line, at the day's price before discount
    promotion: np.ndarray  # per line: its promotion (-1: none) ...
    discount: np.ndarray  # ... and discount (cents)


def block_sale(settings: Settings, day: dt.date, plan: DayPlan, block: int) -> Sale:
    """Block `block` of the day as sold (a whole block, see block_lines)."""
    lines = block_lines(settings, day, plan, block)
    basket_ids, line_ids = _id_pieces(settings, day, block, len(lines.size))
    line_cents, promotion, discount = line_amounts(
        settings, day, plan, lines.product, lines.quantity
    )
    return Sale(block, lines, basket_ids, line_ids, line_cents, promotion, discount)


def _columns(settings: Settings, day: dt.date, plan: DayPlan, sale: Sale) -> list[np.ndarray]:
    lines = sale.lines
    basket = lines.basket_of_line
    product = lines.product
    return [
        csvfile.joined(*sale.line_ids),
        _take(_basket_fields(settings, day, lines, sale.basket_ids), basket),
        csvfile.cents_as_decimal_parts(sale.line_cents - sale.discount),  # promotions
        csvfile.joined(
            _take(plan.store_then_comma, np.take(lines.store, basket)),
            _take(plan.product_text, product),
        ),
        csvfile.joined(_take(_QUANTITY_TEXT, lines.quantity), _take(plan.price_text, product)),
        csvfile.joined(
            _take(_METHODS, np.take(lines.method, basket)),
            *promotion_columns(settings, day, sale.promotion, sale.discount),
        ),
    ]


def chunk_file_name(chunk: int) -> str:
    return f"transactions-{chunk:05d}.csv"


def generate_transactions(
    settings: Settings, out_dir: Path, day: dt.date, chunk: int = 0
) -> csvfile.GeneratedFile:
    """Write chunk `chunk` of the day's transactions (see transaction_chunks)."""
    (generated,) = generate_transaction_chunks(settings, out_dir, day, [chunk])
    return generated


def generate_transaction_chunks(
    settings: Settings, out_dir: Path, day: dt.date, chunks: Iterable[int]
) -> Iterator[csvfile.GeneratedFile]:
    """Write these chunks of the day's transactions, one file each, through one pipeline
    of formatting threads (no pause between files); yield each file once it is written.

    A day without transactions has one chunk, 0, of no rows.
    """
    for generated, _ in sale_chunks(settings, out_dir, day, chunks):
        yield generated


def sale_chunks(
    settings: Settings,
    out_dir: Path,
    day: dt.date,
    chunks: Iterable[int],
    beside: Callable[[DayPlan, Sale, slice], R] | None = None,
) -> Iterator[tuple[csvfile.GeneratedFile, list[R]]]:
    """generate_transaction_chunks(), and beside(plan, sale, keep) on each block's sale
    (rows `keep` of it in the chunk), in the formatting threads: what else is made of the
    day's lines without drawing them again (the returns). Each file is yielded with those
    results of its blocks, in order."""
    ranges = transaction_chunks(settings, day) or [(0, 0)]
    files = [(out_dir / chunk_file_name(chunk), *ranges[chunk]) for chunk in chunks]
    plan = day_plan(settings, day) if any(stop > start for _, start, stop in files) else None

    def block_columns(block: int):
        sale = block_sale(settings, day, plan, block)
        columns = _columns(settings, day, plan, sale)
        return columns if beside is None else (columns, sale)

    also = None if beside is None else (lambda sale, keep: beside(plan, sale, keep))
    for path, rows, results in csvfile.write_files(
        files, TRANSACTIONS.columns, block_columns, also
    ):
        yield csvfile.GeneratedFile(TRANSACTIONS.name, str(path), rows), results
