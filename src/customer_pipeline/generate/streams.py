"""Seeded random streams, UUIDs from their bits, and the block layout of a table.

Every random draw comes from ``stream(seed, table, day, block)``: the same arguments give
the same numbers in any process, whatever else was drawn before. Tables are generated in
blocks of BLOCK_ROWS rows; each block always draws a whole block and keeps the rows it
needs, so row i never depends on how many rows the table has.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator

import numpy as np

from customer_pipeline.settings import BLOCK_ROWS


class Table(enum.IntEnum):
    """Stream ids: one per table, plus id-only streams that other tables recompute."""

    CUSTOMERS = 1
    PRODUCTS = 2
    STORES = 3
    TRANSACTIONS = 4
    CUSTOMER_IDS = 5
    POOLS = 6


def stream(
    seed: int, table: Table, day: int = 0, block: int = 0, part: int = 0
) -> np.random.Generator:
    """The generator for one block of one table on one day (day 0: not date dependent).

    `part` separates independent draws of the same block (numbers that other tables
    recompute, say, from text that only this table needs).
    """
    return np.random.default_rng(np.random.SeedSequence([seed, int(table), day, block, part]))


def blocks(start: int, stop: int) -> Iterator[tuple[int, slice, slice]]:
    """(block number, rows of the block to keep, where they go in [start, stop))."""
    for block in range(start // BLOCK_ROWS, -(-stop // BLOCK_ROWS)):
        first = block * BLOCK_ROWS
        keep = slice(max(start - first, 0), min(stop - first, BLOCK_ROWS))
        out = slice(first + keep.start - start, first + keep.stop - start)
        yield block, keep, out


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_DASHES = (8, 13, 18, 23)
_HEX_POSITIONS = np.array([i for i in range(36) if i not in _DASHES], dtype=np.intp)


def uuid4(rng: np.random.Generator, n: int) -> np.ndarray:
    """n random version-4 UUIDs as 36-byte strings (``S36``), from the generator's bits."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    digits = np.empty((n, 32), dtype=np.uint8)
    digits[:, 0::2] = _HEX[raw >> 4]
    digits[:, 1::2] = _HEX[raw & 0x0F]
    text = np.full((n, 36), ord("-"), dtype=np.uint8)
    text[:, _HEX_POSITIONS] = digits
    return text.view("S36").ravel()


def gather(start: int, stop: int, block_values: Callable[[int], np.ndarray]) -> np.ndarray:
    """Rows [start, stop) of a per-block array (block_values(b) gives all rows of block b)."""
    parts = [block_values(block)[keep] for block, keep, _ in blocks(start, stop)]
    return np.concatenate(parts) if parts else np.empty(0)
