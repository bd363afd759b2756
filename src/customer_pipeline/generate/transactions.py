"""transactions: the day's sales, referencing existing customers, products and stores only.

Keys are computed, never looked up: a foreign key is a sampled parent index mapped to
that parent's key, so an orphan is impossible by construction. Money is integer cents:
transaction_amount = unit_price x quantity - discount_amount, exactly (the discount of
the day's best promotion on the product, if any: see :mod:`.promotions`).

Who buys, what and where is skewed (lognormal activity and popularity, sampled through
ticket tables in O(1), see :func:`.streams.ticket_table`); when follows each store's
opening hours and an hour-of-day profile that differs between weekdays and weekends. A
share of the day's sign-ups buy online on their first day, after signing up; everyone
else is a returning customer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from customer_pipeline.generate import csvfile
from customer_pipeline.generate.calendar import customers_through, transaction_count
from customer_pipeline.generate.catalog import HOURLY, PAYMENT_METHODS, PAYMENT_MIX
from customer_pipeline.generate.customers import customer_facts
from customer_pipeline.generate.products import product_facts
from customer_pipeline.generate.promotions import discounts, popularity_on, promotion_columns
from customer_pipeline.generate.stores import store_facts
from customer_pipeline.generate.streams import Stream, stream, ticket_table, uuid4, weighted_sample
from customer_pipeline.settings import BLOCK_ROWS, Settings
from customer_pipeline.tables import TRANSACTIONS

MAX_QUANTITY = 50
QUANTITY_P = 0.55  # geometric: 1 item 55%, 2 items 25%, 3 items 11%, ... up to 50
FIRST_DAY_BUYERS = 0.6  # share of a day's sign-ups who buy that day (online)
RESOLUTION = 200  # rows of a quantile table: hour and payment method in 0.5% steps
_METHODS = np.array(PAYMENT_METHODS, dtype=np.bytes_)
_QUANTITY_TEXT = csvfile.integers(np.arange(MAX_QUANTITY + 1))


def quantile_table(weights: np.ndarray) -> np.ndarray:
    """(rows, RESOLUTION) table: row r, column k is the outcome at quantile (k + 0.5) / R
    of the distribution `weights[r]`; a uniform column then draws from that row."""
    cdf = np.cumsum(weights, axis=1)
    cdf = cdf / cdf[:, -1:]
    quantiles = (np.arange(RESOLUTION) + 0.5) / RESOLUTION
    return np.stack([np.searchsorted(row, quantiles, side="right") for row in cdf]).astype(np.int8)


_METHOD_TABLE = quantile_table(np.array(PAYMENT_MIX))  # rows: Retail, Online


@dataclass(frozen=True)
class DayPlan:
    """Everything a block of the day needs of the dimension tables and the calendar."""

    returning: int  # customers [0, returning) existed before the day
    new: int  # customers [returning, returning + new) signed up on the day
    customer_ids: np.ndarray
    customer_tickets: np.ndarray  # ticket table of the returning customers, by activity
    new_signup_second: np.ndarray  # second of the day each new customer signed up
    price_cents: np.ndarray
    price_text: np.ndarray  # the prices as CSV text, formatted once
    product_text: np.ndarray  # product ids (index + 1) as CSV text
    store_text: np.ndarray  # store ids (index + 1) as CSV text
    product_tickets: np.ndarray  # ticket table, by popularity
    store_tickets: np.ndarray  # ticket table, by popularity
    online_stores: np.ndarray  # indexes of online stores
    store_online: np.ndarray
    store_hours: np.ndarray  # (stores, RESOLUTION) quantile table of the hour of a sale
    new_share: float  # probability that a row is a new customer's first purchase


def transaction_chunks(settings: Settings, day: dt.date) -> list[tuple[int, int]]:
    """The day's transactions as [start, stop) row ranges of at most chunk_size rows."""
    total = transaction_count(settings, day)
    size = settings.chunk_size
    return [(start, min(start + size, total)) for start in range(0, total, size)]


def _store_hours(stores, weekend: bool) -> np.ndarray:
    """Per store, the hour-of-day profile of its type, within its opening hours."""
    kind = "weekend" if weekend else "weekday"
    profile = np.where(stores.online[:, None], HOURLY[("Online", kind)], HOURLY[("Retail", kind)])
    hours = np.arange(24)
    open_ = (hours >= stores.open_hour[:, None]) & (hours < stores.close_hour[:, None])
    return quantile_table(profile * open_)


@lru_cache(maxsize=4)
def day_plan(settings: Settings, day: dt.date) -> DayPlan:
    sizes = settings.sizes
    returning = customers_through(settings, day - dt.timedelta(days=1))
    everyone = customers_through(settings, day)
    customers = customer_facts(settings, everyone, day)
    products = product_facts(settings.seed, sizes.products)
    stores = store_facts(settings.seed, sizes.stores)
    count = transaction_count(settings, day)
    online = np.flatnonzero(stores.online)
    new = everyone - returning
    new_share = min(0.5, FIRST_DAY_BUYERS * new / count) if count and new and len(online) else 0.0
    midnight = np.datetime64(day, "s").astype(np.int64)
    return DayPlan(
        returning=returning,
        new=new,
        customer_ids=customers.ids,
        customer_tickets=ticket_table(customers.tickets[:returning]),
        new_signup_second=customers.created[returning:] - midnight,
        price_cents=products.price_cents,
        price_text=csvfile.cents_as_decimal(products.price_cents),
        product_text=csvfile.integers(np.arange(1, sizes.products + 1)),
        store_text=csvfile.integers(np.arange(1, sizes.stores + 1)),
        product_tickets=ticket_table(  # promotions: what is on promotion sells more
            np.round(popularity_on(settings, day, products.tickets)).astype(np.int64)
        ),
        store_tickets=ticket_table(stores.tickets),
        online_stores=online,
        store_online=stores.online,
        store_hours=_store_hours(stores, weekend=day.weekday() >= 5),
        new_share=new_share,
    )


def _block(settings: Settings, day: dt.date, plan: DayPlan, block: int) -> list[np.ndarray]:
    rng = stream(settings.seed, Stream.TRANSACTIONS, day.toordinal(), block)
    n = BLOCK_ROWS
    ids = uuid4(rng, n)
    first_purchase = rng.random(n) < plan.new_share
    newcomer = rng.integers(0, max(plan.new, 1), n)
    customer = np.where(
        first_purchase, plan.returning + newcomer, weighted_sample(rng, plan.customer_tickets, n)
    )
    product = weighted_sample(rng, plan.product_tickets, n)
    store = weighted_sample(rng, plan.store_tickets, n)
    if len(plan.online_stores):
        shop = plan.online_stores[rng.integers(0, len(plan.online_stores), n)]
        store = np.where(first_purchase, shop, store)
    quantity = np.minimum(rng.geometric(QUANTITY_P, n), MAX_QUANTITY)
    method = _METHOD_TABLE[plan.store_online[store].astype(np.intp), rng.integers(0, RESOLUTION, n)]
    hour = plan.store_hours[store, rng.integers(0, RESOLUTION, n)].astype(np.int64)
    second = hour * 3600 + rng.integers(0, 3600, n)
    if plan.new:  # a first purchase comes after the sign-up, the same day
        signed_up = plan.new_signup_second[newcomer]
        after = signed_up + (rng.random(n) * (86_400 - signed_up)).astype(np.int64)
        second = np.where(first_purchase, after, second)
    line_cents = plan.price_cents[product] * quantity
    promotion, discount = discounts(settings, day, product, line_cents)  # promotions
    return [
        ids,
        csvfile.constant(str(day).encode(), n),
        plan.customer_ids[customer],
        csvfile.timestamps_within(day, second),
        csvfile.cents_as_decimal_parts(line_cents - discount),  # promotions
        plan.store_text[store],
        plan.product_text[product],
        _QUANTITY_TEXT[quantity],
        plan.price_text[product],
        _METHODS[method],
        *promotion_columns(settings, day, promotion, discount),  # promotions
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
    ranges = transaction_chunks(settings, day) or [(0, 0)]
    files = [(out_dir / chunk_file_name(chunk), *ranges[chunk]) for chunk in chunks]
    plan = day_plan(settings, day) if any(stop > start for _, start, stop in files) else None
    for path, rows in csvfile.write_files(
        files, TRANSACTIONS.columns, lambda block: _block(settings, day, plan, block)
    ):
        yield csvfile.GeneratedFile(TRANSACTIONS.name, str(path), rows)
