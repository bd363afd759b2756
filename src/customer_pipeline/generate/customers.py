"""customers: an initial population that grows by daily sign-ups.

Customer i is the same row on every date and in every run: its id, name and address
are keyed draws of i alone, its rhythm comes from its place in its block; its created_at
is either before the history start (the initial population) or on its sign-up day (see
:mod:`.calendar`). This is a customer's first version: how it changes later, and the
day's file of versions, are :mod:`.customer_changes`.

Each customer has a rhythm (:func:`visit_weights`): weekly shoppers come mostly on
their own weekday, occasional ones now and then, lapsed ones stop coming some months
after signing up; how often (visits a week) is skewed but bounded, so the busiest
shoppers are busy through coming back, never through absurd days: the day's volume
scales the rhythms, but nobody is expected more than MOST_VISITS_A_DAY times on a day
(what a busy day needs beyond that comes from the others). Households also differ in
what they spend per visit (:func:`spend_tier`: a lognormal level, persistent, dealt
with the rhythms): it makes their baskets fuller or emptier
(:mod:`.transactions`), so a month's sales stay skewed even where the cap flattens how
often people come (the history's first weeks at the 1M scale). Every block of
customers holds the same rhythms, dealt to its rows in its own order (:class:`Layout`),
so that a day's visits are drawn in a time proportional to their number, not to the
population (:func:`day_visits`).
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np

from customer_pipeline.generate import csvfile
from customer_pipeline.generate.calendar import signup_days_of
from customer_pipeline.generate.catalog import HOURLY
from customer_pipeline.generate.pools import pools
from customer_pipeline.generate.stores import state_zones, utc_offsets_on
from customer_pipeline.generate.streams import (
    Stream,
    deal,
    gather,
    gather_facts,
    keyed_bits,
    keyed_unit,
    keyed_uuid4,
    normal,
    stream,
)
from customer_pipeline.settings import BLOCK_ROWS, Settings

SIGNUP_YEARS = 3  # the initial population signed up in the years before the history start
WEEKLY, OCCASIONAL, LAPSED = 0, 1, 2  # segments
SEGMENT_SHARES = (0.30, 0.50, 0.20)
#: visits a week: (median, lognormal sigma, cap) of each segment (lapsed: until they lapse)
VISITS_A_WEEK = ((1.0, 0.3, 1.3), (0.12, 0.8, 0.6), (0.5, 0.5, 1.2))
OWN_WEEKDAY_SHARE = 0.45  # of a weekly shopper's visits, on their own weekday
LAPSE_DAYS = 150  # mean days from sign-up to a lapsed customer's last visit
#: a customer's expected visits on one day, at most: so at most 2 visits, whatever the
#: day's volume against the population (early in the history, or on a December Saturday)
MOST_VISITS_A_DAY = 1.5
#: what a household spends per visit, against the others: lognormal of this sigma (median
#: 1), in SPEND_TIERS equally likely tiers; the tiers' levels have mean 1
SPEND_SIGMA = 0.55
SPEND_TIERS = 16
_SPEND = np.exp(
    SPEND_SIGMA
    * np.array(
        [statistics.NormalDist().inv_cdf((t + 0.5) / SPEND_TIERS) for t in range(SPEND_TIERS)]
    )
)
SPEND_LEVELS = _SPEND / _SPEND.mean()  # each tier's level: its baskets' lines, against the mean


@dataclass(frozen=True)
class Facts:
    """What other tables need of customers [0, count): computed without Faker."""

    created: np.ndarray  # created_at, seconds since 1970 (UTC)
    segment: np.ndarray  # WEEKLY, OCCASIONAL or LAPSED
    weekday: np.ndarray  # a weekly shopper's own weekday (0: Monday)
    visits: np.ndarray  # expected visits a week (float32)
    lapses: np.ndarray  # the day (since 1970) from which a lapsed customer never comes
    spend: np.ndarray  # spend tier (0 .. SPEND_TIERS - 1: SPEND_LEVELS), see spend_tier


#: A block's rows fall into groups: weekly shoppers of each weekday (Monday .. Sunday),
#: then occasional and lapsed ones, in SEGMENT_SHARES (exactly, in every block).
GROUP_SEGMENT = np.array([WEEKLY] * 7 + [OCCASIONAL, LAPSED], dtype=np.int8)
_WEEKLY_ROWS, _OCCASIONAL_ROWS = (round(share * BLOCK_ROWS) for share in SEGMENT_SHARES[:2])
GROUP_SIZES = np.array(
    [_WEEKLY_ROWS // 7 + (day < _WEEKLY_ROWS % 7) for day in range(7)]
    + [_OCCASIONAL_ROWS, BLOCK_ROWS - _WEEKLY_ROWS - _OCCASIONAL_ROWS]
)
GROUP_START = np.cumsum(GROUP_SIZES) - GROUP_SIZES


@dataclass(frozen=True)
class Layout:
    """The rhythms of a block, dealt to its rows in another order in every block.

    Position p of [0, BLOCK_ROWS) is in group group[p] (GROUP_SIZES, in order), has
    visits[p] visits a week (its segment's capped lognormal, drawn once per seed) and
    spend tier spend[p] (each tier BLOCK_ROWS / SPEND_TIERS times, shuffled). Block
    b deals position p to row shuffle[(a_b x p + c_b) mod BLOCK_ROWS] (a_b a unit, so
    this is a bijection): a row's rhythm is computed alone in O(1), and a day's visits
    are drawn group by group in O(visits) (day_visits), the same positions' expected
    visits in every block.
    """

    group: np.ndarray
    visits: np.ndarray  # float32
    shuffle: np.ndarray
    unshuffle: np.ndarray  # its inverse
    spend: np.ndarray  # int8


@cache
def _layout(seed: int) -> Layout:
    rng = stream(seed, Stream.CUSTOMER_IDS, 0, 0, part=2)
    group = np.repeat(np.arange(len(GROUP_SIZES)), GROUP_SIZES)
    segment = GROUP_SEGMENT[group]
    median, sigma, cap = (np.array(column)[segment] for column in zip(*VISITS_A_WEEK, strict=True))
    visits = np.minimum(median * np.exp(sigma * rng.standard_normal(BLOCK_ROWS)), cap)
    visits = visits.astype(np.float32)
    shuffle = rng.permutation(BLOCK_ROWS)
    spend = rng.permutation(np.arange(BLOCK_ROWS) % SPEND_TIERS).astype(np.int8)
    return Layout(group, visits, shuffle, np.argsort(shuffle), spend)


def _deal(seed: int, block: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a_b, a_b's inverse, c_b) of each block (see Layout)."""
    return deal(keyed_bits(seed, Stream.CUSTOMER_IDS, block, part=1))


def _position(seed: int, index: np.ndarray) -> np.ndarray:
    """The Layout position of customers `index`."""
    block, row = np.divmod(index, BLOCK_ROWS)
    _, inverse, shift = _deal(seed, block)
    return inverse * (_layout(seed).unshuffle[row] - shift) % BLOCK_ROWS


def _rhythm(seed: int, index: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Segment, own weekday and visits a week of customers `index`."""
    layout = _layout(seed)
    position = _position(seed, index)
    group = layout.group[position]
    segment = GROUP_SEGMENT[group]
    weekday = np.where(segment == WEEKLY, group, position % 7).astype(np.int8)
    return segment, weekday, layout.visits[position]


_NEVER = np.iinfo(np.int32).max


def _lapses(seed: int, index: np.ndarray, segment: np.ndarray, created_day) -> np.ndarray:
    """The day from which each lapsed customer never comes (the others: never)."""
    bits = keyed_bits(seed, Stream.CUSTOMER_IDS, index, part=2)
    uniform = (bits >> np.uint64(11)).astype(np.float64) * 2.0**-53
    after = np.ceil(-np.log1p(-uniform) * LAPSE_DAYS).astype(np.int64)  # exponential
    return np.where(segment == LAPSED, created_day + after, _NEVER).astype(np.int32)


def spend_tier(seed: int, index: np.ndarray) -> np.ndarray:
    """The spend tier of customers `index` (int8, 0 .. SPEND_TIERS - 1, equally likely, the
    same on every day; independent of the rhythm): its Layout position's, O(1) a customer."""
    return _layout(seed).spend[_position(seed, index)]


def customer_ids(settings: Settings, index: np.ndarray) -> np.ndarray:
    """The customer_id (UUID text) of customers `index`: computed, never looked up."""
    return keyed_uuid4(settings.seed, Stream.CUSTOMER_IDS, index)


def created_of(settings: Settings, index: np.ndarray) -> np.ndarray:
    """created_at of customers `index` (seconds since 1970; any order), each one's alone:
    the sign-up day (an initial customer's: some time in the SIGNUP_YEARS before the
    history start) and a second of it (signup_seconds), keyed draws of (seed, customer),
    O(1) a customer. A day's changes of 28,000 customers among millions read 28,000, not
    their blocks."""
    index = np.asarray(index, dtype=np.int64)
    day = signup_days_of(settings, index)
    before_start = keyed_bits(settings.seed, Stream.CREATED, index, 1) % np.uint64(
        SIGNUP_YEARS * 365 * 86_400 - 1
    )
    origin = np.datetime64(settings.history_start, "s").astype(np.int64)
    late = np.flatnonzero(day >= 0)
    created = origin - 1 - before_start.astype(np.int64)
    created[late] = day[late] * 86_400 + signup_seconds(settings, index[late], day[late])
    return created


def signup_seconds(settings: Settings, index: np.ndarray, day: np.ndarray) -> np.ndarray:
    """The second of its (UTC) day at which each of customers `index` signs up on `day`
    (days since 1970): an hour of the online sales' profile of that day (weekday or
    weekend) in the customer's local time, the zone of the state they sign up in."""
    if not len(index):
        return np.zeros(0, dtype=np.int64)
    unit = (keyed_bits(settings.seed, Stream.CREATED, index, 0) >> np.uint64(11)) * 2.0**-53
    within = keyed_bits(settings.seed, Stream.CREATED, index, 2) % np.uint64(3600)
    weekend = (day + 3) % 7 >= 5  # 1970-01-01 was a Thursday
    local = np.where(
        weekend,
        np.searchsorted(_SIGNUP_CDF["weekend"], unit, side="right"),
        np.searchsorted(_SIGNUP_CDF["weekday"], unit, side="right"),
    )
    zone = np.take(state_zones(settings.locale), signup_states(settings, index))
    offset = utc_offsets_on(settings.locale, day)[np.arange(len(day)), zone]
    hour = (local - offset) % 24
    return hour * 3600 + within.astype(np.int64)


#: The hour of a sign-up (local): the online sales' profile, as cumulative shares.
_SIGNUP_CDF = {
    kind: np.cumsum(HOURLY[("Online", kind)]) / HOURLY[("Online", kind)].sum()
    for kind in ("weekday", "weekend")
}


@lru_cache(maxsize=512)
def _created(settings: Settings, block: int) -> np.ndarray:
    """created_of() a whole block; cached: read-only."""
    created = created_of(settings, np.arange(block * BLOCK_ROWS, (block + 1) * BLOCK_ROWS))
    created.flags.writeable = False
    return created


def _facts_block(settings: Settings, block: int) -> Facts:
    index = np.arange(block * BLOCK_ROWS, (block + 1) * BLOCK_ROWS)
    created = _created(settings, block)
    segment, weekday, visits = _rhythm(settings.seed, index)
    lapses = _lapses(settings.seed, index, segment, created // 86_400)
    return Facts(created, segment, weekday, visits, lapses, spend_tier(settings.seed, index))


def _share(segment: np.ndarray, weekday: np.ndarray, day: dt.date) -> np.ndarray:
    """The share of a week's visits that falls on `day`, by segment and own weekday."""
    own_day = weekday == day.weekday()
    return np.where(
        segment == WEEKLY,
        np.where(own_day, OWN_WEEKDAY_SHARE, (1 - OWN_WEEKDAY_SHARE) / 6),
        np.float32(1 / 7),
    )


def visit_weights(facts: Facts, day: dt.date) -> np.ndarray:
    """Each customer's expected visits on `day` by their rhythm (relative: the day's
    volume scales them)."""
    ordinal = np.datetime64(day, "D").astype(np.int64)
    share = _share(facts.segment, facts.weekday, day)
    return np.where(facts.lapses > ordinal, facts.visits * share, 0.0)


def created_between(settings: Settings, start: int, stop: int) -> np.ndarray:
    """created_at of customers [start, stop)."""
    return gather(start, stop, lambda block: _created(settings, block))


def customer_facts(settings: Settings, count: int) -> Facts:
    """created_at and rhythm of customers [0, count)."""
    return gather_facts(Facts, count, lambda block: _facts_block(settings, block))


def _lapsed_alive(settings: Settings, index: np.ndarray, day: dt.date) -> np.ndarray:
    """Which lapsed customers `index` still come on `day` (an initial customer's created_at
    is read only when its lapse could be that late)."""
    ordinal = np.datetime64(day, "D").astype(np.int64)
    origin = np.datetime64(settings.history_start, "D").astype(np.int64)
    late = index >= settings.sizes.customers
    created_day = np.full(len(index), origin - 1)  # the initial population: at most this
    created_day[late] = signup_days_of(settings, index[late])
    lapses = _lapses(settings.seed, index, np.full(len(index), LAPSED), created_day)
    exact = np.flatnonzero(~late & (lapses > ordinal))
    created = created_of(settings, index[exact])
    lapses[exact] -= (origin - 1 - created // 86_400).astype(np.int32)
    return lapses > ordinal


#: Blocks of customers whose visits _group_visits draws at a time.
VISIT_SLICE = 16


def _group_visits(
    rng: np.random.Generator, seed: int, group: int, expected: np.ndarray, returning: int
) -> tuple[np.ndarray, np.ndarray]:
    """Systematic sampling of a group's positions in every block of customers [0,
    returning): position p (expected[p] visits, the group's positions in order) gets floor
    or ceil of expected[p] points, a random start per block. The customers of the points,
    and their spend tiers."""
    layout = _layout(seed)
    cumulative = np.cumsum(expected, dtype=np.float64)
    blocks = -(-returning // BLOCK_ROWS)
    start = rng.random(blocks)
    count = np.maximum(np.ceil(cumulative[-1] - start), 0).astype(np.int64)
    multiplier, _, shift = _deal(seed, np.arange(blocks))
    # VISIT_SLICE blocks at a time, as int32 (customer numbers fit): the day's visits are
    # one entry per basket, and a 30M-line day's temporaries of them all at once would be
    # most of its memory; the points are the same whatever the slicing
    out, tiers = [], []
    for first in range(0, blocks, VISIT_SLICE):
        block = np.arange(first, min(first + VISIT_SLICE, blocks))
        block = np.repeat(block, count[block])
        n = count[first : first + VISIT_SLICE]
        k = np.arange(len(block)) - np.repeat(np.cumsum(n) - n, n)
        point = np.searchsorted(cumulative, start[block] + k, side="right")
        position = GROUP_START[group] + np.minimum(point, len(cumulative) - 1)
        row = layout.shuffle[(multiplier[block] * position + shift[block]) % BLOCK_ROWS]
        index = block * BLOCK_ROWS + row
        out.append(index[index < returning].astype(np.int32))
        tiers.append(layout.spend[position][index < returning])
    if not out:
        return np.empty(0, dtype=np.int32), np.empty(0, dtype=np.int8)
    return np.concatenate(out), np.concatenate(tiers)


def _scale(rate: np.ndarray, count: np.ndarray, visits: float) -> float:
    """The s for which sum(count x min(s x rate, MOST_VISITS_A_DAY)) = visits: rates
    scaled to the day's visits, each capped. (A population too small for them: the s
    that caps everyone.)"""
    order = np.argsort(rate[rate > 0])[::-1]  # as s grows, the highest rates cap first
    rate, count = rate[rate > 0][order], count[rate > 0][order]
    threshold = MOST_VISITS_A_DAY / rate  # the s from which each is capped, ascending
    capped = MOST_VISITS_A_DAY * (np.cumsum(count) - count)  # those capped before each
    linear = np.cumsum((count * rate)[::-1])[::-1]  # each and those after it, uncapped
    first = int(np.searchsorted(capped + threshold * linear, visits))
    if first == len(rate):
        return float(threshold[-1]) if len(rate) else 0.0
    return float((visits - capped[first]) / linear[first])


_GROUPS = np.arange(len(GROUP_SIZES))
_LAPSED_GROUP = len(_GROUPS) - 1


def day_visits(
    settings: Settings,
    day: dt.date,
    returning: int,
    visits: float,
    rng: np.random.Generator,
    *,
    spend: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """The day's visits of customers [0, returning), about `visits` in all: each customer's
    expected visits are its visit_weights scaled to that total but at most
    MOST_VISITS_A_DAY, randomly rounded (floor or ceil), one entry per visit, grouped by
    rhythm. O(visits), not O(customers): each group is drawn by systematic sampling of
    its positions (see Layout); the share of lapsed customers who still come is estimated
    by a first sample of them. spend: (visits, each visitor's spend_tier)."""
    if returning <= 0 or visits <= 0:
        none = np.empty(0, dtype=np.int32)
        return (none, none.astype(np.int8)) if spend else none
    seed = settings.seed
    layout = _layout(seed)
    blocks = -(-returning // BLOCK_ROWS)
    multiplier, _, shift = _deal(seed, np.array([blocks - 1]))
    tail = layout.shuffle[(multiplier * np.arange(BLOCK_ROWS) + shift) % BLOCK_ROWS]
    # in how many blocks each position is a customer (the last block's rows: tail < ...)
    present = blocks - 1 + (tail < returning - (blocks - 1) * BLOCK_ROWS)
    rate = _share(GROUP_SEGMENT, _GROUPS % 7, day)[layout.group] * layout.visits
    lapsed = np.flatnonzero(layout.group == _LAPSED_GROUP)

    def expected(count: np.ndarray) -> np.ndarray:
        return np.minimum(_scale(rate, count, visits) * rate, MOST_VISITS_A_DAY)

    assert returning < 2**31  # the visits are int32 customer numbers
    pilot, _ = _group_visits(rng, seed, _LAPSED_GROUP, expected(present)[lapsed], returning)
    alive = _lapsed_alive(settings, pilot.astype(np.int64), day).mean() if len(pilot) else 0.0
    count = np.where(layout.group == _LAPSED_GROUP, alive, 1.0) * present
    each = expected(count)
    weight = np.bincount(layout.group, weights=count * each, minlength=len(_GROUPS))
    parts = [
        _group_visits(rng, seed, group, each[layout.group == group], returning)
        if weight[group] > 0
        else (np.empty(0, dtype=np.int32), np.empty(0, dtype=np.int8))
        for group in _GROUPS
    ]
    lapsed_visits, lapsed_tiers = parts[_LAPSED_GROUP]
    alive = _lapsed_alive(settings, lapsed_visits.astype(np.int64), day)
    parts[_LAPSED_GROUP] = lapsed_visits[alive], lapsed_tiers[alive]
    customers, tiers = (np.concatenate(column) for column in zip(*parts, strict=True))
    return (customers, tiers) if spend else customers


def facts_of(settings: Settings, index: np.ndarray) -> Facts:
    """created_at and rhythm of customers `index` (ascending, not empty): the blocks'
    created_at, each rhythm alone (see Layout)."""
    created = created_of(settings, index)
    segment, weekday, visits = _rhythm(settings.seed, index)
    lapses = _lapses(settings.seed, index, segment, created // 86_400)
    return Facts(created, segment, weekday, visits, lapses, spend_tier(settings.seed, index))


_STATE_PART = 9  # drawn()'s keyed part of the state


@dataclass(frozen=True)
class Drawn:
    """Customers' drawn attributes (indexes into the locale's pools, numbers): what a row's
    text is made of, so that any of its rows can be formatted alone."""

    first: np.ndarray
    last: np.ndarray
    domain: np.ndarray
    born: np.ndarray  # days since 1970
    balance: np.ndarray  # cents
    street: np.ndarray
    city: np.ndarray
    state: np.ndarray
    postcode: np.ndarray  # the postcode's uniform draw (pools.postcode_column: by state)


def drawn(settings: Settings, index: np.ndarray, created: np.ndarray) -> Drawn:
    """The attributes of customers `index` as they signed up (their first version), each
    row's alone: keyed draws of (seed, row), O(1) a row. created: their created_at."""
    pool = pools(settings.locale)
    # one keyed uniform per draw below, in this order (the parts 0 .. 10; the state's is
    # signup_states')
    parts = (*range(_STATE_PART), *range(_STATE_PART + 1, 11))
    uniforms = iter(keyed_unit(settings.seed, Stream.CUSTOMERS, index, part) for part in parts)

    def pick(values: np.ndarray) -> np.ndarray:
        return (next(uniforms) * len(values)).astype(np.int64)

    first = pick(pool.first_names)
    last = pick(pool.last_names)
    domain = pick(pool.email_domains)
    origin = np.datetime64(settings.history_start, "D").astype(np.int64)
    age = np.clip(42 + 15 * normal(next(uniforms), next(uniforms)), 18, 85)
    born = np.minimum(origin, created // 86_400) - np.ceil(age * 365.25).astype(np.int64)
    balance = np.exp(np.log(250_000) + 1.4 * normal(next(uniforms), next(uniforms)))
    balance = np.clip(balance, 0, 100_000_000).astype(np.int64)
    street, city = pick(pool.streets), pick(pool.cities)
    state = signup_states(settings, index)
    postcode = next(uniforms)
    return Drawn(first, last, domain, born, balance, street, city, state, postcode)


def signup_states(settings: Settings, index: np.ndarray) -> np.ndarray:
    """The state (an index into pools(locale).states) customers `index` signed up in:
    drawn()'s, alone (O(1) a customer)."""
    unit = keyed_unit(settings.seed, Stream.CUSTOMERS, index, _STATE_PART)
    return (unit * len(pools(settings.locale).states)).astype(np.int64)


def email(settings: Settings, first: np.ndarray, last: np.ndarray, index: np.ndarray, domain):
    """first.last<customer number><suffix>@domain (the number makes it unique)."""
    pool = pools(settings.locale)
    return [
        csvfile.matrix(pool.first_name_slugs[first]),
        csvfile.constant(b".", len(index)),
        csvfile.matrix(pool.last_name_slugs[last]),
        csvfile.integers(index + 1),
        csvfile.constant(b"@", len(index)),
        csvfile.matrix(pool.email_domains[domain]),
    ]
