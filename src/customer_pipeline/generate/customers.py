"""customers: an initial population that grows by daily sign-ups.

Customer i is the same row on every date and in every run: its id, name, address and
activity come from its block's streams; its created_at is either before the history
start (the initial population) or on its sign-up day (see :mod:`.calendar`). This is a
customer's first version: how it changes later, and the day's file of versions, are
:mod:`.customer_changes`.

Each customer has a rhythm (:func:`visit_weights`): weekly shoppers come mostly on
their own weekday, occasional ones now and then, lapsed ones stop coming some months
after signing up; how often (visits a week) is skewed but bounded, so the busiest
shoppers are busy through coming back, never through absurd days.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from customer_pipeline.generate import csvfile
from customer_pipeline.generate.calendar import signup_days
from customer_pipeline.generate.pools import pools
from customer_pipeline.generate.streams import (
    Stream,
    gather_facts,
    keyed_uuid4,
    stream,
    take,
)
from customer_pipeline.settings import BLOCK_ROWS, Settings

SIGNUP_YEARS = 3  # the initial population signed up in the years before the history start
WEEKLY, OCCASIONAL, LAPSED = 0, 1, 2  # segments
SEGMENT_SHARES = (0.30, 0.50, 0.20)
#: visits a week: (median, lognormal sigma, cap) of each segment (lapsed: until they lapse)
VISITS_A_WEEK = ((1.0, 0.3, 1.3), (0.12, 0.8, 0.6), (0.5, 0.5, 1.2))
OWN_WEEKDAY_SHARE = 0.45  # of a weekly shopper's visits, on their own weekday
LAPSE_DAYS = 150  # mean days from sign-up to a lapsed customer's last visit


@dataclass(frozen=True)
class Facts:
    """What other tables need of customers [0, count): computed without Faker."""

    created: np.ndarray  # created_at, seconds since 1970 (UTC)
    segment: np.ndarray  # WEEKLY, OCCASIONAL or LAPSED
    weekday: np.ndarray  # a weekly shopper's own weekday (0: Monday)
    visits: np.ndarray  # expected visits a week (float32)
    lapses: np.ndarray  # the day (since 1970) from which a lapsed customer never comes


def _rhythm(
    rng: np.random.Generator, created: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Segment, own weekday, visits a week and lapse day of a block of customers."""
    n = len(created)
    segment = np.searchsorted(np.cumsum(SEGMENT_SHARES)[:-1], rng.random(n), side="right")
    median, sigma, cap = (np.array(column)[segment] for column in zip(*VISITS_A_WEEK, strict=True))
    visits = np.minimum(median * np.exp(sigma * rng.standard_normal(n)), cap)
    weekday = rng.integers(0, 7, n).astype(np.int8)
    lapse_after = np.ceil(rng.exponential(LAPSE_DAYS, n)).astype(np.int64)
    never = np.iinfo(np.int32).max
    lapses = np.where(segment == LAPSED, created // 86_400 + lapse_after, never).astype(np.int32)
    return segment.astype(np.int8), weekday, visits.astype(np.float32), lapses


def customer_ids(settings: Settings, index: np.ndarray) -> np.ndarray:
    """The customer_id (UUID text) of customers `index`: computed, never looked up."""
    return keyed_uuid4(settings.seed, Stream.CUSTOMER_IDS, index)


#: shared by the customers file and every day's transactions (<= 90 MB): the rhythm of
#: millions of customers is computed once per process, a day only reads it
@lru_cache(maxsize=512)
def _facts_block(settings: Settings, block: int) -> Facts:
    rng = stream(settings.seed, Stream.CUSTOMER_IDS, 0, block)
    n = BLOCK_ROWS
    time_of_day = rng.integers(0, 86_400, n)
    before_start = rng.integers(1, SIGNUP_YEARS * 365 * 86_400, n)
    start = block * n
    day = signup_days(settings, start, start + n)
    origin = np.datetime64(settings.history_start, "s").astype(np.int64)
    created = np.where(day >= 0, day * 86_400 + time_of_day, origin - before_start)
    facts = Facts(
        created, *_rhythm(stream(settings.seed, Stream.CUSTOMER_IDS, 0, block, 1), created)
    )
    for field in dataclasses.fields(facts):  # cached: nobody may change them
        getattr(facts, field.name).flags.writeable = False
    return facts


def visit_weights(facts: Facts, day: dt.date) -> np.ndarray:
    """Each customer's expected visits on `day` by their rhythm (relative: the day's
    volume scales them)."""
    own_day = facts.weekday == day.weekday()
    share = np.where(
        facts.segment == WEEKLY,
        np.where(own_day, OWN_WEEKDAY_SHARE, (1 - OWN_WEEKDAY_SHARE) / 6),
        np.float32(1 / 7),
    )
    ordinal = np.datetime64(day, "D").astype(np.int64)
    return np.where(facts.lapses > ordinal, facts.visits * share, 0.0)


def customer_facts(settings: Settings, count: int) -> Facts:
    """created_at and rhythm of customers [0, count)."""
    return gather_facts(Facts, count, lambda block: _facts_block(settings, block))


def facts_of(settings: Settings, index: np.ndarray) -> Facts:
    """created_at and rhythm of customers `index` (ascending, not empty)."""
    return Facts(*take(index, lambda b: list(vars(_facts_block(settings, b)).values())))


@dataclass(frozen=True)
class Drawn:
    """A block's drawn attributes (indexes into the locale's pools, numbers): what a row's
    text is made of, so that any of its rows can be formatted alone."""

    first: np.ndarray
    last: np.ndarray
    domain: np.ndarray
    born: np.ndarray  # days since 1970
    balance: np.ndarray  # cents
    street: np.ndarray
    city: np.ndarray
    state: np.ndarray
    postcode: np.ndarray


def drawn(settings: Settings, block: int) -> Drawn:
    """The attributes of a block's customers as they signed up (their first version)."""
    pool = pools(settings.locale)
    facts = _facts_block(settings, block)
    rng = stream(settings.seed, Stream.CUSTOMERS, 0, block)
    n = BLOCK_ROWS

    def pick(values: np.ndarray) -> np.ndarray:
        return rng.integers(0, len(values), n)

    first = pick(pool.first_names)
    last = pick(pool.last_names)
    domain = pick(pool.email_domains)
    origin = np.datetime64(settings.history_start, "D").astype(np.int64)
    age_days = np.ceil(np.clip(rng.normal(42, 15, n), 18, 85) * 365.25).astype(np.int64)
    born = np.minimum(origin, facts.created // 86_400) - age_days
    balance = np.clip(rng.lognormal(np.log(250_000), 1.4, n), 0, 100_000_000).astype(np.int64)
    street, city, state, postcode = (
        pick(values) for values in (pool.streets, pool.cities, pool.states, pool.postcodes)
    )
    return Drawn(first, last, domain, born, balance, street, city, state, postcode)


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
