"""Seeded random streams, UUIDs from their bits, and the block layout of a table.

Every random draw comes from ``stream(seed, stream_id, day, block)``: the same arguments
give the same numbers in any process, whatever else was drawn before. Tables are generated in
blocks of BLOCK_ROWS rows; each block always draws a whole block and keeps the rows it
needs, so row i never depends on how many rows the table has.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Callable, Iterator
from typing import TypeVar

import numpy as np

from customer_pipeline.settings import BLOCK_ROWS

F = TypeVar("F")


class Stream(enum.IntEnum):
    """Stream ids: one per table, plus streams of their own for what other tables recompute
    (customer ids), the day's volume (calendar), the sign-ups and the
    promotions."""

    CUSTOMERS = 1
    PRODUCTS = 2
    STORES = 3
    TRANSACTIONS = 4
    CUSTOMER_IDS = 5
    CALENDAR = 7
    SIGNUPS = 8
    PROMOTIONS = 9
    CUSTOMER_CHANGES = 10
    PRODUCT_CHANGES = 11
    CREATED = 12


def stream(
    seed: int, stream_id: Stream, day: int = 0, block: int = 0, part: int = 0
) -> np.random.Generator:
    """The generator of one stream for one block on one day (day 0: not date dependent).

    `part` separates independent draws of the same block (numbers that other tables
    recompute, say, from text that only this table needs).
    """
    return np.random.default_rng(np.random.SeedSequence([seed, int(stream_id), day, block, part]))


def blocks(start: int, stop: int) -> Iterator[tuple[int, slice]]:
    """(block number, the rows of that block within [start, stop)), in order."""
    for block in range(start // BLOCK_ROWS, -(-stop // BLOCK_ROWS)):
        first = block * BLOCK_ROWS
        yield block, slice(max(start - first, 0), min(stop - first, BLOCK_ROWS))


#: the four hex digits of each 16-bit value, as one uint32 (so a look-up is a plain take)
_HEX_QUADS = np.frombuffer(b"".join(f"{i:04x}".encode() for i in range(1 << 16)), dtype=np.uint32)


def uuid4(rng: np.random.Generator, n: int) -> np.ndarray:
    """n random version-4 UUIDs as 36-byte strings (``S36``), from the generator's bits."""
    return uuid_text(_random_bytes(rng, n))


def uuid4_pieces(rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    """uuid4() as the pieces of its text (see uuid_pieces): the same draws, no copy."""
    return uuid_pieces(_random_bytes(rng, n))


def _random_bytes(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16).copy()


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a bijection of uint64 that scatters neighbouring values."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def keyed_uuid4(seed: int, stream_id: Stream, index: np.ndarray) -> np.ndarray:
    """Version-4 UUIDs (``S36``) of rows `index`, computed from (seed, stream, index) alone:
    any row's id in O(1), distinct for distinct rows (the first half is a bijection)."""
    key = _mix(np.array([seed * 64 + int(stream_id)], dtype=np.uint64))
    doubled = np.asarray(index, dtype=np.uint64) * np.uint64(2)
    halves = np.stack([_mix(doubled ^ key), _mix((doubled + np.uint64(1)) ^ key)], axis=1)
    return uuid_text(halves.astype(">u8").view(np.uint8).reshape(len(doubled), 16).copy())


def keyed_bits(seed: int, stream_id: Stream, index: np.ndarray, part: int = 0) -> np.ndarray:
    """64 random bits (uint64) per row `index`, computed from (seed, stream, part, index)
    alone: any row's draw in O(1), whatever else is drawn (distinct rows, distinct bits)."""
    key = _mix(np.array([(seed * 64 + int(stream_id)) * 64 + part], dtype=np.uint64))
    return _mix(np.asarray(index, dtype=np.uint64) ^ key)


def keyed_uniform(seed: int, stream_id: Stream, *keys: np.ndarray | int) -> np.ndarray:
    """Uniform floats in [0, 1), one per element of the (broadcast) integer `keys`, computed
    from (seed, stream, keys) alone: a counter-based draw, any element's value in O(1),
    whatever else is drawn (what changes over time needs: the k-th change of a customer
    is drawn without drawing the others)."""
    return (keyed_mix(seed, stream_id, *keys) >> np.uint64(11)).astype(np.float64) * 2.0**-53


def keyed_mix(seed: int, stream_id: Stream, *keys: np.ndarray | int) -> np.ndarray:
    """keyed_uniform()'s 64 random bits (uint64), one per element of the broadcast keys."""
    bits = _mix(np.array([seed * 64 + int(stream_id)], dtype=np.uint64))
    for key in keys:
        bits = _mix(bits ^ np.asarray(key, dtype=np.int64).astype(np.uint64))
    return bits


def keyed_unit(seed: int, stream_id: Stream, index: np.ndarray, part: int = 0) -> np.ndarray:
    """keyed_bits() as uniform floats in [0, 1)."""
    return (keyed_bits(seed, stream_id, index, part) >> np.uint64(11)).astype(np.float64) * 2.0**-53


def normal(u1: np.ndarray, u2: np.ndarray) -> np.ndarray:
    """Standard normal draws from two uniforms in [0, 1) (Box-Muller)."""
    return np.sqrt(-2 * np.log1p(-u1)) * np.cos(2 * np.pi * u2)


#: the units modulo BLOCK_ROWS and their inverses: (a x p + c) mod BLOCK_ROWS, a a unit,
#: deals a block's positions p to its rows (a bijection)
_UNITS = np.array([u for u in range(1, BLOCK_ROWS) if math.gcd(u, BLOCK_ROWS) == 1])
_INVERSES = np.array([pow(int(u), -1, BLOCK_ROWS) for u in _UNITS])


def deal(bits: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a, a's inverse, c) of an affine deal of a block's positions to its rows (see
    _UNITS), one per element of `bits` (random uint64)."""
    pick = (bits % np.uint64(len(_UNITS))).astype(np.intp)
    return _UNITS[pick], _INVERSES[pick], (bits >> np.uint64(32)).astype(np.int64) % BLOCK_ROWS


def uuid_text(raw: np.ndarray) -> np.ndarray:
    """(n, 16) random bytes as version-4 UUID text (``S36``); changes `raw` in place."""
    return uuid_pieces_text(uuid_pieces(raw))


def uuid_pieces_text(pieces: tuple[np.ndarray, ...]) -> np.ndarray:
    """uuid_pieces() joined: UUID text (``S36``)."""
    return np.concatenate(pieces, axis=1).view("S36").ravel()


def uuid_pieces(raw: np.ndarray) -> tuple[np.ndarray, ...]:
    """(n, 16) random bytes as the pieces of version-4 UUID text, hex digits and dashes
    (a csvfile joined column: copied straight into the rows); changes `raw` in place."""
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    digits = np.take(_HEX_QUADS, raw.view(">u2").astype(np.intp)).view(np.uint8)  # (n, 32)
    dash = np.broadcast_to(np.uint8(ord("-")), (len(raw), 1))
    groups = [digits[:, start:stop] for start, stop in ((0, 8), (8, 12), (12, 16), (16, 20))]
    return (*(piece for group in groups for piece in (group, dash)), digits[:, 20:32])


def gather_facts(kind: type[F], count: int, block_facts: Callable[[int], F]) -> F:
    """Rows [0, count) of every field of a per-block facts dataclass (`kind`)."""
    parts = [block_facts(block) for block in range(-(-count // BLOCK_ROWS))]
    return kind(
        **{
            field.name: gather(0, count, lambda b, name=field.name: getattr(parts[b], name))
            for field in dataclasses.fields(kind)
        }
    )


def gather(start: int, stop: int, block_values: Callable[[int], np.ndarray]) -> np.ndarray:
    """Rows [start, stop) of a per-block array (block_values(b) gives all rows of block b)."""
    parts = [block_values(block)[keep] for block, keep in blocks(start, stop)]
    return np.concatenate(parts) if parts else np.empty(0)


def ticket_counts(rng: np.random.Generator, weights: np.ndarray, per_unit: float) -> np.ndarray:
    """How many sampling tickets each row gets: weight x per_unit, randomly rounded."""
    return np.floor(weights * per_unit + rng.random(len(weights))).astype(np.int64)


def ticket_table(counts: np.ndarray) -> np.ndarray:
    """A lookup table for weighted sampling in O(1): index i appears counts[i] times.

    :func:`weighted_sample` draws from it: n indexes with probability proportional to
    their tickets, one random gather instead of a binary search. (Rows without tickets
    are never drawn, unless no row has any.)
    """
    if counts.sum() == 0:
        counts = np.ones_like(counts)
    return np.repeat(np.arange(len(counts), dtype=np.int32), counts)


def weighted_sample(rng: np.random.Generator, table: np.ndarray, n: int) -> np.ndarray:
    """n indexes drawn from a ticket table (see ticket_table), with replacement."""
    return np.take(table, rng.integers(0, len(table), n))
