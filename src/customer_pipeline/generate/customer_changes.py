"""customers over time: people move, change e-mail, their balance moves, a few close their
account. A day's file holds that day's versions (SCD type 2), not a snapshot.

A customer's first version is the row they signed up with (:func:`.customers.drawn`).
From the day after signing up (and from the history start), each kind of change is a
Poisson process of its own (:mod:`.events`): moves (MOVE), new e-mail addresses (EMAIL),
balance moves (BALANCE). A share of the lapsed customers close their account some time
after their last visit, at the first event of a process of its own (CLOSE) after it
(closed: balance 0, no change after it). The content of a change on day X is a keyed
draw of (customer, kind, X), so the row of customer c valid on any day is computed
alone, in O(1), and each version is a full row. All the changes of a customer on one
day are one version, from a keyed second of that day on. The events are dealt by block
(:class:`.events.DealtCalendar`): the day's changers are found in O(changes).

A day's file: the day's sign-ups (their first version, valid from created_at) and every
customer with a change that day (the version the day ends with). A closed account never
buys again: only lapsed customers close, after their last visit (customers.day_visits).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from customer_pipeline.generate import csvfile
from customer_pipeline.generate.calendar import customers_through, days_between
from customer_pipeline.generate.customers import (
    LAPSED,
    Facts,
    customer_ids,
    drawn,
    email,
    facts_of,
)
from customer_pipeline.generate.events import NEVER, DealtCalendar, Kind
from customer_pipeline.generate.pools import pools, postcode_column
from customer_pipeline.generate.stores import state_zones, zone_pools
from customer_pipeline.generate.streams import Stream, normal
from customer_pipeline.settings import BLOCK_ROWS, Settings
from customer_pipeline.tables import CUSTOMERS

FILE_NAME = "customers.csv"
MOVE = Kind(code=1, per_year=1 / 7, epoch_days=365, cap=4)
EMAIL = Kind(code=2, per_year=1 / 15, epoch_days=365, cap=3)
BALANCE = Kind(code=3, per_year=4.0, epoch_days=91, cap=8)
KINDS = (MOVE, EMAIL, BALANCE)
CLOSE_SHARE = 0.8  # of the lapsed customers: they close their account ...
CLOSE_DELAY_DAYS = 180  # ... this long (mean, exponential) after their last visit:
#: at the first event of CLOSE after it (a Poisson process, so the delay is exponential)
CLOSE = Kind(code=4, per_year=365.25 / CLOSE_DELAY_DAYS, epoch_days=365, cap=8)
BALANCE_SIGMA = 0.5  # a new balance: the first one x lognormal(0, BALANCE_SIGMA)
_CLOSE, _ADDRESS, _DOMAIN, _BALANCE = 10, 11, 12, 13  # keys of the other draws


def _ordinal(day: dt.date) -> int:
    return int(np.datetime64(day, "D").astype(np.int64))


def _calendar(settings: Settings) -> DealtCalendar:
    return DealtCalendar(settings.seed, Stream.CUSTOMER_CHANGES, _ordinal(settings.history_start))


@dataclass(frozen=True)
class Lives:
    """Customers `index`: created_at (seconds), the first day a change may happen, the day
    they close their account (NEVER: they do not)."""

    index: np.ndarray
    created: np.ndarray
    first: np.ndarray
    close: np.ndarray


def lives(settings: Settings, index: np.ndarray, facts: Facts | None = None) -> Lives:
    """(facts: those of customers `index`, when the caller has them.)"""
    calendar = _calendar(settings)
    facts = facts_of(settings, index) if facts is None else facts
    first = np.maximum(facts.created // 86_400 + 1, calendar.origin)
    close = np.full(len(index), NEVER, dtype=np.int64)
    lapsed = np.flatnonzero(facts.segment == LAPSED)
    closes = lapsed[calendar.uniform(_CLOSE, 0, index[lapsed]) < CLOSE_SHARE]
    after_lapse = facts.lapses[closes].astype(np.int64) + 1
    close[closes] = calendar.earliest(CLOSE, index[closes], after_lapse)
    # a close before the history start is not part of it: that customer stays open
    return Lives(index, facts.created, first, np.where(close < first, NEVER, close))


def changed_on(settings: Settings, day: dt.date) -> np.ndarray:
    """Customers who signed up before `day` and change on it, in O(changes): those with an
    event that day (DealtCalendar.keys_on; a CLOSE event closes an account only when it
    is the first after the lapse)."""
    at = _ordinal(day)
    count = customers_through(settings, day - dt.timedelta(days=1))
    calendar = _calendar(settings)
    keys = [calendar.keys_on(kind, at, count) for kind in (*KINDS, CLOSE)]
    candidates = np.unique(np.concatenate(keys))
    if not len(candidates):
        return candidates
    found = lives(settings, candidates)
    changed = found.close == at
    for kind in KINDS:
        changed |= calendar.on_day(kind, found.index, at, found.first, found.close)
    return found.index[changed]


def _state(
    settings: Settings,
    calendar: DealtCalendar,
    index: np.ndarray,
    moved: np.ndarray,
    signed_up: np.ndarray,
) -> np.ndarray:
    """The state (an index into the pool's states) after the latest move (`moved`: its
    day, -1: none, then the state signed up in). A move draws a state of the same time
    zone, by people (most moves are local; nobody's clock changes: an online order keeps
    its customer's local day, stores.state_zones)."""
    order, start, size = zone_pools(settings.locale)
    zone = np.take(state_zones(settings.locale), signed_up)
    pick = (calendar.uniform(_ADDRESS, 2, moved, index) * np.take(size, zone)).astype(np.int64)
    return np.where(moved >= 0, np.take(order, np.take(start, zone) + pick), signed_up)


def versions(settings: Settings, index: np.ndarray, at: int) -> list[np.ndarray]:
    """The columns (the customers file's) of each customer's version in force at the end
    of day `at` (days since 1970). `index`: ascending, within whole blocks or not."""
    pool = pools(settings.locale)
    calendar = _calendar(settings)
    found = lives(settings, index)
    latest = [calendar.latest(kind, index, at, found.first, found.close) for kind in KINDS]
    moved, mailed, rebalanced = latest
    closed = found.close <= at
    changed = np.maximum.reduce([*latest, np.where(closed, found.close, -1)])
    since = changed * 86_400 + calendar.second_of(index, changed)
    valid_from = np.where(changed >= 0, since, found.created)
    base = drawn(settings, index, found.created)

    def redrawn(kind: int, day: np.ndarray, values: np.ndarray, field: int) -> np.ndarray:
        return (calendar.uniform(kind, field, day, index) * len(values)).astype(np.int64)

    def where_moved(field: int, values: np.ndarray, first: np.ndarray) -> np.ndarray:
        return values[np.where(moved >= 0, redrawn(_ADDRESS, moved, values, field), first)]

    # a move draws a new state, and a postcode of it where the locale has their ranges
    state = _state(settings, calendar, index, moved, base.state)
    postcode = np.where(moved >= 0, calendar.uniform(_ADDRESS, 3, moved, index), base.postcode)

    domain = np.where(mailed >= 0, redrawn(_DOMAIN, mailed, pool.email_domains, 0), base.domain)
    # a new e-mail address: .<yymmdd of the change> after the number keeps it unique
    suffix = np.concatenate(
        [
            csvfile.constant(b".", len(index)),
            csvfile.dates(np.maximum(mailed, 0))[:, [2, 3, 5, 6, 8, 9]],
        ],
        axis=1,
    ) * (mailed >= 0)[:, None].astype(np.uint8)
    pieces = email(settings, base.first, base.last, index, domain)
    u1, u2 = (calendar.uniform(_BALANCE, k, rebalanced, index) for k in (0, 1))
    balance = np.where(
        rebalanced >= 0,
        np.clip(base.balance * np.exp(BALANCE_SIGMA * normal(u1, u2)), 0, 100_000_000),
        base.balance,
    ).astype(np.int64)
    stamps = csvfile.timestamps_utc(valid_from)
    return [
        customer_ids(settings, index),
        pool.first_names[base.first],
        pool.last_names[base.last],
        csvfile.joined(*pieces[:4], suffix, *pieces[4:]),
        where_moved(0, pool.streets, base.street),
        where_moved(1, pool.cities, base.city),
        pool.states[state],
        csvfile.constant(pool.country, len(index)),
        postcode_column(pool, state, postcode),
        csvfile.dates(base.born),
        csvfile.cents_as_decimal(np.where(closed, 0, balance)),
        csvfile.timestamps_utc(found.created),
        stamps * closed[:, None].astype(np.uint8),  # closed_at: the closing version's start
        stamps,
    ]


def generate_customers(settings: Settings, out_dir: Path, day: dt.date) -> csvfile.GeneratedFile:
    """Write the customers' versions of `day`: its sign-ups and every customer who
    changed on it."""
    before = customers_through(settings, day - dt.timedelta(days=1))
    index = np.concatenate(
        [changed_on(settings, day), np.arange(before, customers_through(settings, day))]
    )
    path = out_dir / FILE_NAME
    columns = versions(settings, index, _ordinal(day)) if len(index) else []
    rows = csvfile.write_columns(path, CUSTOMERS.file_columns, columns, len(index))
    return csvfile.GeneratedFile(CUSTOMERS.name, str(path), rows)


def versions_before(
    settings: Settings, day: dt.date, since: dt.date | None = None
) -> Iterator[list[np.ndarray]]:
    """Block by block, the version in force at the start of `day` of every customer who
    signed up before it (what a day loaded into an emptier schema needs first); with
    `since` (an earlier day), of those only the ones who signed up or changed after
    `since` and before `day` (the others' is `since`'s own, or older)."""
    count = customers_through(settings, day - dt.timedelta(days=1))
    if since is None:
        index = np.arange(count)
    else:
        changed = [changed_on(settings, other) for other in days_between(since, day)]
        signed_up = np.arange(customers_through(settings, since), count)
        index = np.unique(np.concatenate([signed_up, *changed]))
    for start in range(0, len(index), BLOCK_ROWS):
        yield versions(settings, index[start : start + BLOCK_ROWS], _ordinal(day) - 1)
