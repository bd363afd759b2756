"""The calendar: how busy a day is, and how the customer base grows.

A day's demand is weekday x season x growth: Saturdays are busier than Tuesdays, December
is the peak of the year, and business grows gently year on year. ``--transactions N`` is
a typical day's volume (in 2026, GROWTH_REFERENCE); a day's actual count is
N x demand x a little noise. ``--customers N`` is the initial population; sign-ups follow the same
demand, about SIGNUPS_PER_YEAR x N a year.

Everything here is a pure function of (seed, sizes, history start, day): any day can be
computed alone, in any order.
"""

from __future__ import annotations

import datetime as dt
from functools import cache

import numpy as np

from customer_pipeline.generate.streams import Stream, stream
from customer_pipeline.settings import Settings

#: Monday .. Sunday, normalised to a mean of 1
WEEKDAY = np.array([0.92, 0.88, 0.92, 0.97, 1.08, 1.25, 0.98])
WEEKDAY = WEEKDAY / WEEKDAY.mean()
#: January .. December, normalised to a mean of 1 (Black Friday, Christmas)
MONTH = np.array([0.86, 0.84, 0.93, 0.95, 0.98, 0.97, 0.99, 1.00, 0.95, 0.98, 1.12, 1.43])
MONTH = MONTH / MONTH.mean()
GROWTH_PER_YEAR = 0.03
#: The year whose typical day has exactly `--transactions` expected sales (growth is 1 there).
GROWTH_REFERENCE = dt.date(2026, 1, 1)
DAILY_NOISE = 0.05  # lognormal sigma of a day's volume around its expectation
SIGNUPS_PER_YEAR = 0.25  # new customers a year, as a share of the initial population


def demand(days: np.ndarray) -> np.ndarray:
    """Expected volume of each day (datetime64[D]) relative to a typical day."""
    days = days.astype("datetime64[D]")
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    month = days.astype("datetime64[M]").astype(np.int64) % 12
    years = (days - np.datetime64(GROWTH_REFERENCE, "D")).astype(np.int64) / 365.25
    return WEEKDAY[weekday] * MONTH[month] * (1 + GROWTH_PER_YEAR) ** years


def transaction_count(settings: Settings, day: dt.date) -> int:
    """The number of transactions on `day`."""
    typical = settings.sizes.transactions
    if typical == 0:
        return 0
    expected = typical * demand(np.array([day], "datetime64[D]"))[0]
    noise = stream(settings.seed, Stream.CALENDAR, day.toordinal()).lognormal(0, DAILY_NOISE)
    return max(1, round(expected * noise))


HORIZON_DAYS = 100 * 366  # sign-ups are drawn this far ahead: enough for any history


@cache
def _cumulative_signups(seed: int, initial: int, history_start: dt.date) -> np.ndarray:
    """Sign-ups summed over the first 1, 2, ... HORIZON_DAYS days from the history start."""
    dates = np.datetime64(history_start, "D") + np.arange(HORIZON_DAYS)
    expected = initial * SIGNUPS_PER_YEAR / 365.25 * demand(dates)
    dither = stream(seed, Stream.SIGNUPS).random(HORIZON_DAYS)  # day i: the i-th draw
    return np.cumsum(np.floor(expected + dither).astype(np.int64))


def customers_through(settings: Settings, day: dt.date) -> int:
    """Customers that exist at the end of `day`: the initial population plus sign-ups."""
    initial = settings.sizes.customers
    days = min((day - settings.history_start).days + 1, HORIZON_DAYS)
    if days <= 0 or initial == 0:
        return initial
    cumulative = _cumulative_signups(settings.seed, initial, settings.history_start)
    return initial + int(cumulative[days - 1])


def signup_days(settings: Settings, start: int, stop: int) -> np.ndarray:
    """Days since 1970 on which customers [start, stop) signed up; -1 for the initial ones.

    A customer's sign-up day never depends on the date asked about: customer i is the
    same on every date (rows that do not exist yet get the day they will sign up).
    """
    return signup_days_of(settings, np.arange(start, stop))


def signup_days_of(settings: Settings, index: np.ndarray) -> np.ndarray:
    """signup_days() of customers `index` (any order)."""
    initial = settings.sizes.customers
    index = np.asarray(index) - initial
    out = np.full(len(index), -1, dtype=np.int64)
    if initial:
        cumulative = _cumulative_signups(settings.seed, initial, settings.history_start)
        late = index >= 0
        offset = np.searchsorted(cumulative, index[late], side="right")
        out[late] = np.datetime64(settings.history_start, "D").astype(np.int64) + offset
    return out


def days_between(first: dt.date, last: dt.date) -> list[dt.date]:
    """The days after `first` and before `last`."""
    return [first + dt.timedelta(days=d) for d in range(1, (last - first).days)]
