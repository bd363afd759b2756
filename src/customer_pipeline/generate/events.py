"""Changes as events on the calendar: for each key (a customer, a product) and kind of
change, a Poisson process of change days, computed in O(1) for any day.

Time from the history start is cut into epochs of `epoch_days`; the number of events of
(key, kind) in epoch e and their days within it are counter-based draws keyed by (key,
kind, epoch), so whether a key changes on day D, and the day of its latest change up to
D, are computed without any other day (:func:`on_day`, :func:`latest`). Several events
of a kind on the same day are one change. Each key allows events on days [first, last).

A :class:`DealtCalendar` (the customers') keys those draws by a key's position in its
block instead, each block dealing the positions to its keys in an order of its own, so
that the keys with an event on a day are also found in O(events) (:meth:`keys_on`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from customer_pipeline.generate.streams import Stream, deal, keyed_mix, keyed_uniform
from customer_pipeline.settings import BLOCK_ROWS

NEVER = np.iinfo(np.int32).max  # a day that never comes
HORIZON_EPOCHS = 100  # Calendar.earliest looks this many epochs ahead at most


@dataclass(frozen=True)
class Kind:
    """A kind of change: how often (events a year), drawn per epoch of epoch_days, at
    most cap events an epoch (the Poisson tail beyond it is cut)."""

    code: int  # part of the draws' keys: kinds of one stream are independent
    per_year: float
    epoch_days: int
    cap: int

    @cached_property
    def cdf(self) -> np.ndarray:
        """P(count <= k) for k < cap, of the Poisson count of one epoch."""
        lam = self.per_year * self.epoch_days / 365.25
        terms = [math.exp(-lam) * lam**k / math.factorial(k) for k in range(self.cap)]
        return np.cumsum(terms)


@dataclass(frozen=True)
class Calendar:
    """The event processes of one stream (customers' or products') of one dataset."""

    seed: int
    stream: Stream
    origin: int  # the history start, days since 1970: epoch 0 starts there

    def _count_draw(self, kind: Kind, keys: np.ndarray, epoch) -> np.ndarray:
        """The draw that decides how many events each key has in its epoch (scalar or one
        per key): more than j when it is at least kind.cdf[j]."""
        return self.uniform(kind.code, 0, epoch, keys)

    def _offset(self, kind: Kind, keys: np.ndarray, epoch, j: int) -> np.ndarray:
        """The day within its epoch of each key's j-th event (j >= 1)."""
        return (self.uniform(kind.code, j, epoch, keys) * kind.epoch_days).astype(np.int64)

    def _drawn_as(self, kind: Kind, keys: np.ndarray, epoch) -> np.ndarray:  # noqa: ARG002
        """What the draws of (kind, epoch) of `keys` are keyed by: the keys themselves."""
        return keys

    def _days(self, kind: Kind, keys: np.ndarray, epoch: np.ndarray) -> np.ndarray:
        """(len(keys), cap) event days of each key in its epoch; -1 where none."""
        keys = self._drawn_as(kind, keys, epoch)
        draw = self._count_draw(kind, keys, epoch)
        out = np.full((len(keys), kind.cap), -1, dtype=np.int64)
        start = self.origin + epoch * kind.epoch_days
        for j in range(kind.cap):
            has = np.flatnonzero(draw >= kind.cdf[j])
            if not len(has):
                break
            out[has, j] = start[has] + self._offset(kind, keys[has], epoch[has], j + 1)
        return out

    def on_day(
        self, kind: Kind, keys: np.ndarray, day: int, first: np.ndarray, last: np.ndarray
    ) -> np.ndarray:
        """Which keys have an event of `kind` on `day` (days since 1970) within [first, last)."""
        found = np.zeros(len(keys), dtype=bool)
        if day < self.origin:
            return found
        epoch, offset = divmod(day - self.origin, kind.epoch_days)
        some = np.flatnonzero((first <= day) & (day < last))
        drawn_as = self._drawn_as(kind, keys[some], epoch)
        draw = self._count_draw(kind, drawn_as, epoch)
        for j in range(kind.cap):
            has = np.flatnonzero(draw >= kind.cdf[j])
            if not len(has):
                break
            hit = self._offset(kind, drawn_as[has], epoch, j + 1) == offset
            found[some[has[hit]]] = True
        return found

    def latest(
        self,
        kind: Kind,
        keys: np.ndarray,
        day: int | np.ndarray,
        first: np.ndarray,
        last: np.ndarray,
    ) -> np.ndarray:
        """Each key's latest event day of `kind` up to `day` (one, or one per key) within
        [first, last); -1: none.

        Walks back epoch by epoch for the keys still without one: the keys that changed
        recently are done at once, the loop runs over fewer keys each time.
        """
        limit = np.minimum(day, last - 1)
        found = np.full(len(keys), -1, dtype=np.int64)
        pending = np.flatnonzero((limit >= first) & (limit >= self.origin))
        epoch = (limit[pending] - self.origin) // kind.epoch_days
        while len(pending):
            days = self._days(kind, keys[pending], epoch)
            days[(days > limit[pending, None]) | (days < first[pending, None])] = -1
            best = days.max(axis=1)
            found[pending] = best
            # earlier epochs only for keys without an event here that existed before it
            more = (
                (best < 0) & (self.origin + epoch * kind.epoch_days > first[pending]) & (epoch > 0)
            )
            pending, epoch = pending[more], epoch[more] - 1
        return found

    def earliest(self, kind: Kind, keys: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Each key's first event day of `kind` on or after `day` (one per key; NEVER: none
        within HORIZON_EPOCHS). The process runs before the history start too (epochs
        before 0), so that a first event is never piled up on the history's first days.

        Walks forward epoch by epoch for the keys still without one.
        """
        found = np.full(len(keys), NEVER, dtype=np.int64)
        pending = np.arange(len(keys))
        epoch = (day - self.origin) // kind.epoch_days
        for _ in range(HORIZON_EPOCHS):
            if not len(pending):
                break
            days = self._days(kind, keys[pending], epoch)
            best = np.where(days >= day[pending, None], days, NEVER).min(axis=1)
            found[pending] = best
            more = best == NEVER
            pending, epoch = pending[more], epoch[more] + 1
        return found

    def second_of(self, keys: np.ndarray, day: np.ndarray) -> np.ndarray:
        """The second of `day` at which a key's version of that day starts (keyed)."""
        return (self.uniform(255, day, keys) * 86_400).astype(np.int64)

    def uniform(self, *keys: np.ndarray | int) -> np.ndarray:
        """A keyed draw of this stream (the content of a change, a key's fate). Scalar keys
        first: each key after the first array costs a pass over it."""
        return keyed_uniform(self.seed, self.stream, *keys)


_DEAL = 254  # the key of a DealtCalendar's deals (kinds' codes are below it)


@dataclass(frozen=True)
class DealtCalendar(Calendar):
    """A calendar whose keys come in blocks of BLOCK_ROWS (the customers).

    The draws of (kind, epoch) are made once for the BLOCK_ROWS positions of a block, and
    block b deals them to its keys: position p to row (a x p + c) mod BLOCK_ROWS, (a, c)
    keyed by (kind, epoch, b) (streams.deal). A key's events are still a function of the
    key alone, in O(1) (its position), independent from kind to kind and epoch to epoch;
    every whole block has the same events of an epoch, dealt to other keys.
    """

    def _drawn_as(self, kind: Kind, keys: np.ndarray, epoch) -> np.ndarray:
        """Each key's position in its block for (kind, epoch)."""
        block, row = np.divmod(np.asarray(keys, dtype=np.int64), BLOCK_ROWS)
        _, inverse, shift = self._deal(kind, epoch, block)
        return inverse * (row - shift) % BLOCK_ROWS

    def _deal(self, kind: Kind, epoch, block: np.ndarray):
        return deal(keyed_mix(self.seed, self.stream, _DEAL, kind.code, epoch, block))

    def keys_on(self, kind: Kind, day: int, count: int) -> np.ndarray:
        """The keys of [0, count) with an event of `kind` on `day` (ascending), before any
        [first, last) bound: the positions with one, dealt by each block, in O(events)."""
        if day < self.origin or count <= 0:
            return np.empty(0, dtype=np.int64)
        epoch, offset = divmod(day - self.origin, kind.epoch_days)
        by_position = Calendar(self.seed, self.stream, self.origin)  # draws keyed by position
        days = by_position._days(kind, np.arange(BLOCK_ROWS), np.full(BLOCK_ROWS, epoch))
        position = np.flatnonzero((days == self.origin + epoch * kind.epoch_days + offset).any(1))
        block = np.arange(-(-count // BLOCK_ROWS))
        multiplier, _, shift = self._deal(kind, epoch, block)
        rows = (multiplier[:, None] * position + shift[:, None]) % BLOCK_ROWS
        keys = (block[:, None] * BLOCK_ROWS + rows).ravel()
        return np.sort(keys[keys < count])
