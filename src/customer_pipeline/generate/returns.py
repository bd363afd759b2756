"""returns: the fate of each line sold, decided when its day is generated.

A return arrives days after its sale, but regenerating 90 earlier days to find what comes
back today would cost 90 days of generation a day. Instead the sale day S draws, per
line, whether (part of) it will be returned, when (1 to 90 days later, mostly within 30),
how many units, why and where (online: the same shop; retail: mostly the same store), and
writes these rows to its own returns files, one per chunk of transactions. The load holds
them until their return day is loaded too (customer_pipeline.returns).

The draws come from a part of the transactions' stream of their own (RETURNS_PART), block
by block over the block's lines (customer_pipeline.generate.transactions.block_lines):
the transactions' columns are untouched, and a sale day's returns are a function of
(dataset, S) alone, byte for byte, whatever the chunking. The rules are data: the
[returns] section of data/catalog.toml (rates by category and store type, delays,
partial returns, reasons).

Money is integer cents: a refund is the line's transaction_amount (what was paid, the
discount deducted) pro rata of the units returned, rounded down: never more than paid.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from customer_pipeline.generate import csvfile
from customer_pipeline.generate.calendar import transaction_count
from customer_pipeline.generate.catalog import CATEGORIES, RETURNS, STORE_TYPES
from customer_pipeline.generate.stores import utc_offsets
from customer_pipeline.generate.streams import (
    Stream,
    blocks,
    stream,
    uuid4,
    uuid_pieces_text,
    weighted_sample,
)
from customer_pipeline.generate.transactions import (
    RESOLUTION,
    DayPlan,
    Sale,
    block_sale,
    day_plan,
    quantile_table,
    sale_chunks,
    transaction_chunks,
)
from customer_pipeline.returns import MAX_DELAY_DAYS
from customer_pipeline.settings import BLOCK_ROWS, Settings
from customer_pipeline.tables import RETURNS as TABLE

#: The returns' draws: part RETURNS_PART of the transactions' stream of each block
#: (parts 0 to 2 are the transactions' own).
RETURNS_PART = 3

#: The share of lines returned, (category, store type: Retail, Online).
RATES = np.array(
    [
        [RETURNS["rates"][category.name][STORE_TYPES.index(t)] for t in STORE_TYPES]
        for category in CATEGORIES
    ]
)
_RATES_FLAT = RATES.ravel()  # category x len(STORE_TYPES) + online
REASONS: tuple[str, ...] = tuple(RETURNS["reasons"])
_REASON_TEXT = csvfile.quote(REASONS)
_REASON_TABLE = quantile_table(
    np.array([RETURNS["reason_mix"][category.name] for category in CATEGORIES], dtype=np.float64)
)
WHOLE_LINE: float = RETURNS["whole_line"]
SAME_STORE: float = RETURNS["same_store"]


def _delay_weights() -> np.ndarray:
    """The weight of each delay, 0 .. MAX_DELAY_DAYS days (0: never), from the bands."""
    weights = np.zeros(MAX_DELAY_DAYS + 1)
    for first, last, share, decay in RETURNS["delays"]:
        band = float(decay) ** np.arange(last - first + 1)
        weights[first : last + 1] = share * band / band.sum()
    return weights


DELAY_WEIGHTS = _delay_weights()
_DELAY_CDF = np.cumsum(DELAY_WEIGHTS) / DELAY_WEIGHTS.sum()
_DELAY_CDF[-1] = 1.0  # never past MAX_DELAY_DAYS, whatever the rounding of the sums


@dataclass(frozen=True)
class Returns:
    """A block's returns as numbers, one entry per returned line (in line order)."""

    line: np.ndarray  # the returned line's row within its block
    category: np.ndarray  # the product's category (index into CATEGORIES)
    online: np.ndarray  # bool: sold by an online shop
    delay: np.ndarray  # days after the sale
    units: np.ndarray  # units returned, 1 .. the line's quantity
    paid_cents: np.ndarray  # the line's transaction_amount
    refund_cents: np.ndarray  # paid_cents x units / quantity, rounded down
    reason: np.ndarray  # index into REASONS
    store: np.ndarray  # index of the store that takes it back
    second: np.ndarray  # the return's time: seconds since the sale day's midnight (UTC)
    ids: np.ndarray  # return_id (S36)
    transaction_ids: np.ndarray  # the returned line's transaction_id (S36)


def block_returns(settings: Settings, day: dt.date, plan: DayPlan, block: int) -> Returns:
    """The returns of every line of block `block` of the day (a whole block: the caller
    keeps those of the rows it writes)."""
    return sale_returns(settings, day, plan, block_sale(settings, day, plan, block))


def sale_returns(settings: Settings, day: dt.date, plan: DayPlan, sale: Sale) -> Returns:
    """block_returns() of a block's sale (transactions.block_sale)."""
    lines, block = sale.lines, sale.block
    store_of_line = np.take(lines.store, lines.basket_of_line)
    category = np.take(plan.product_category, lines.product)
    online = np.take(plan.store_online, store_of_line)
    rate = np.take(_RATES_FLAT, category * len(STORE_TYPES) + online)
    rng = stream(settings.seed, Stream.TRANSACTIONS, day.toordinal(), block, part=RETURNS_PART)
    (line,) = np.nonzero(rng.random(BLOCK_ROWS) < rate)
    n = len(line)
    quantity = lines.quantity[line]
    paid = sale.line_cents[line] - sale.discount[line]
    partial = (rng.random(n) >= WHOLE_LINE) & (quantity > 1)
    some = 1 + (rng.random(n) * (quantity - 1)).astype(np.int64)
    units = np.where(partial, some, quantity)
    store = _return_store(rng, plan, store_of_line[line])
    delay = np.searchsorted(_DELAY_CDF, rng.random(n), side="right")
    hour = plan.store_hours[store, rng.integers(0, RESOLUTION, n)].astype(np.int64)
    # the table is the sale day's UTC hours: on a return day after a change of the clocks
    # the same local hour is an hour off in UTC (a store's opening hours are local)
    hour = (hour - _clock_change(settings.locale, day)[delay, plan.store_zone[store]]) % 24
    return Returns(
        line=line,
        category=category[line],
        online=online[line],
        delay=delay,
        units=units,
        paid_cents=paid,
        refund_cents=paid * units // quantity,
        reason=_REASON_TABLE[category[line], rng.integers(0, RESOLUTION, n)],
        store=store,
        second=delay * 86_400 + hour * 3600 + rng.integers(0, 3600, n),
        ids=uuid4(rng, n),
        transaction_ids=uuid_pieces_text(tuple(piece[line] for piece in sale.line_ids)),
    )


@lru_cache(maxsize=8)
def _clock_change(locale: str, day: dt.date) -> np.ndarray:
    """(delay, zone): how many hours each zone's clocks are ahead on `day` + delay of where
    they are on `day` (daylight saving time), for delays 0 .. MAX_DELAY_DAYS."""
    on_day = utc_offsets(locale, day)
    return np.array(
        [
            utc_offsets(locale, day + dt.timedelta(days=delay)) - on_day
            for delay in range(MAX_DELAY_DAYS + 1)
        ]
    )


def _return_store(rng: np.random.Generator, plan: DayPlan, sold_at: np.ndarray) -> np.ndarray:
    """Where each line comes back: an online shop's to the shop; a retail store's to the
    store (SAME_STORE), else to a retail store by popularity."""
    n = len(sold_at)
    retail = plan.retail_tickets
    elsewhere = weighted_sample(rng, retail, n) if len(retail) else sold_at
    moved = (rng.random(n) >= SAME_STORE) & ~plan.store_online[sold_at]
    return np.where(moved, elsewhere, sold_at)


def _rows(settings: Settings, day: dt.date, plan: DayPlan, sale: Sale, keep: slice):
    """The CSV text of the returns of lines `keep` of a block's sale, and how many rows."""
    found = sale_returns(settings, day, plan, sale)
    kept = (found.line >= keep.start) & (found.line < keep.stop)
    n = int(kept.sum())
    midnight = np.datetime64(day, "s").astype(np.int64)
    columns = [
        found.ids[kept],
        found.transaction_ids[kept],
        csvfile.constant(str(day).encode(), n),
        csvfile.timestamps_utc(midnight + found.second[kept]),
        csvfile.integers(found.units[kept]),
        csvfile.cents_as_decimal(found.refund_cents[kept]),
        _REASON_TEXT[found.reason[kept]],
        plan.store_text[found.store[kept]],
    ]
    return csvfile.format_rows(columns), n


def chunk_file_name(chunk: int) -> str:
    return f"returns-{chunk:05d}.csv"


def generate_returns(
    settings: Settings, out_dir: Path, day: dt.date, chunk: int = 0
) -> csvfile.GeneratedFile:
    """Write the returns of the lines of chunk `chunk` of the day's transactions."""
    (generated,) = generate_return_chunks(settings, out_dir, day, [chunk])
    return generated


def generate_return_chunks(
    settings: Settings, out_dir: Path, day: dt.date, chunks: Iterable[int]
) -> Iterator[csvfile.GeneratedFile]:
    """Write the returns of these chunks' lines, one file a chunk (a day without
    transactions has one chunk, 0, without returns); yield each file once written."""
    ranges = transaction_chunks(settings, day) or [(0, 0)]
    plan = day_plan(settings, day) if transaction_count(settings, day) else None

    def text(block: int, keep: slice):
        return _rows(settings, day, plan, block_sale(settings, day, plan, block), keep)

    for chunk in chunks:
        jobs = list(blocks(*ranges[chunk]))
        done = list(csvfile.ordered_map(lambda job: text(*job), jobs, csvfile.THREADS))
        yield _write(out_dir, chunk, done)


def generate_with_transactions(
    settings: Settings, out_dir: Path, day: dt.date, chunks: Sequence[int]
) -> Iterator[csvfile.GeneratedFile]:
    """What generate_transaction_chunks then generate_return_chunks write, byte for byte,
    the lines drawn once: each block's returns are made beside its transactions, each
    chunk's returns file written with its transactions file. Yields the transactions
    files, then the returns files."""

    def beside(plan: DayPlan, sale: Sale, keep: slice):
        return _rows(settings, day, plan, sale, keep)

    written = []
    made = sale_chunks(settings, out_dir, day, chunks, beside)
    for chunk, (generated, done) in zip(chunks, made, strict=True):
        yield generated
        written.append(_write(out_dir, chunk, done))
    yield from written


def _write(out_dir: Path, chunk: int, done: list[tuple[np.ndarray, int]]) -> csvfile.GeneratedFile:
    """Write a chunk's returns file from its blocks' (text, rows)."""
    path = out_dir / chunk_file_name(chunk)
    csvfile.write_csv(path, TABLE.columns, (text for text, _ in done))
    return csvfile.GeneratedFile(TABLE.name, str(path), sum(n for _, n in done))
