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

    def _deal(self, kind: Kind, keys: np.ndarray, epoch):  # noqa: ARG002
        """What the draws of (kind, epoch) of `keys` are keyed by (here the keys
        themselves), and how many days each key's events are shifted within the epoch
        (here none)."""
        return keys, 0

    def _days(self, kind: Kind, keys: np.ndarray, epoch: np.ndarray) -> np.ndarray:
        """(len(keys), cap) event days of each key in its epoch; -1 where none."""
        keys, shift = self._deal(kind, keys, epoch)
        shift = np.broadcast_to(shift, len(keys))
        draw = self._count_draw(kind, keys, epoch)
        out = np.full((len(keys), kind.cap), -1, dtype=np.int64)
        start = self.origin + epoch * kind.epoch_days
        for j in range(kind.cap):
            has = np.flatnonzero(draw >= kind.cdf[j])
            if not len(has):
                break
            offset = self._offset(kind, keys[has], epoch[has], j + 1) + shift[has]
            out[has, j] = start[has] + offset % kind.epoch_days
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
        drawn_as, shift = self._deal(kind, keys[some], epoch)
        shift = np.broadcast_to(shift, len(some))
        draw = self._count_draw(kind, drawn_as, epoch)
        for j in range(kind.cap):
            has = np.flatnonzero(draw >= kind.cdf[j])
            if not len(has):
                break
            own = self._offset(kind, drawn_as[has], epoch, j + 1) + shift[has]
            found[some[has[own % kind.epoch_days == offset]]] = True
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


_DEAL, _SHIFT = 253, 254  # the keys of a DealtCalendar's deals (kinds' codes are below)


@dataclass(frozen=True)
class DealtCalendar(Calendar):
    """A calendar whose keys come in blocks of BLOCK_ROWS (the customers).

    The draws of (kind, epoch) are made once for the BLOCK_ROWS positions of a block (a
    deck), and block b deals them to its keys: position p to row (a x p + c) mod
    BLOCK_ROWS, its events shifted by s days within the epoch (mod its length), (a, c, s)
    keyed by (kind, epoch, b). A key's events are still a Poisson process of its own,
    computed alone in O(1), independent from kind to kind and epoch to epoch; the shift
    makes each block's day differ from the others', so that a day's count over many
    blocks varies as much as independent keys' would. The keys with an event on a day
    are found in O(events) (keys_on).
    """

    def _deal(self, kind: Kind, keys: np.ndarray, epoch):
        block, row = np.divmod(np.asarray(keys, dtype=np.int64), BLOCK_ROWS)
        _, inverse, c, shift = self._block_deal(kind, epoch, block)
        return inverse * (row - c) % BLOCK_ROWS, shift

    def _block_deal(self, kind: Kind, epoch, block: np.ndarray):
        """(a, a's inverse, c, s) of each block for (kind, epoch)."""
        bits = keyed_mix(self.seed, self.stream, _DEAL, kind.code, epoch, block)
        shift = keyed_mix(self.seed, self.stream, _SHIFT, kind.code, epoch, block)
        return *deal(bits), (shift % np.uint64(kind.epoch_days)).astype(np.int64)

    def keys_on(self, kind: Kind, day: int, count: int) -> np.ndarray:
        """The keys of [0, count) with an event of `kind` on `day` (ascending), before any
        [first, last) bound: the deck's positions with an event on the day each block's
        shift maps there, dealt by each block, in O(events + blocks)."""
        if day < self.origin or count <= 0:
            return np.empty(0, dtype=np.int64)
        epoch, offset = divmod(day - self.origin, kind.epoch_days)
        by_position = Calendar(self.seed, self.stream, self.origin)  # the deck's draws
        days = by_position._days(kind, np.arange(BLOCK_ROWS), np.full(BLOCK_ROWS, epoch))
        position, column = np.nonzero(days >= 0)
        # (day within the epoch, position) of every event, once each, ordered by day
        own = days[position, column] - (self.origin + epoch * kind.epoch_days)
        pair = np.unique(own * BLOCK_ROWS + position)
        own, position = np.divmod(pair, BLOCK_ROWS)
        bounds = np.searchsorted(own, np.arange(kind.epoch_days + 1))
        block = np.arange(-(-count // BLOCK_ROWS))
        multiplier, _, c, shift = self._block_deal(kind, epoch, block)
        wanted = (offset - shift) % kind.epoch_days  # the deck's day that falls on `day`
        first, sizes = bounds[wanted], bounds[wanted + 1] - bounds[wanted]
        which = np.repeat(block, sizes)
        k = np.arange(len(which)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        rows = (multiplier[which] * position[np.repeat(first, sizes) + k] + c[which]) % BLOCK_ROWS
        keys = which * BLOCK_ROWS + rows
        return np.sort(keys[keys < count])
