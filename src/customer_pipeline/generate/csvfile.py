"""Vectorised CSV formatting: every column becomes a byte matrix, every row a matrix row.

A column is an ``(n, width)`` uint8 matrix whose unused bytes are NUL, padding on the
left for numbers and on the right for text. A block of rows is the columns and the
separators concatenated side by side; dropping the NUL bytes leaves the CSV text. There
is no Python object per value and no per-row formatting: the work is a few numpy copies
per column, which release the GIL (docs/performance.md says what that is worth). Text
values are CSV-quoted once, when a pool is made (:func:`quote`); numbers and dates never
need quoting.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import TypeVar

import numpy as np

from customer_pipeline.generate.streams import blocks
from customer_pipeline.settings import BLOCK_ROWS

T = TypeVar("T")
R = TypeVar("R")

_ZERO = ord("0")
_POWERS = 10 ** np.arange(19, dtype=np.int64)


@dataclass(frozen=True)
class GeneratedFile:
    """One CSV file of one table."""

    table: str
    path: str
    rows: int


def quote(values: Iterable[str]) -> np.ndarray:
    """CSV-quoted UTF-8 byte strings (``S`` array), quoted only where needed: exactly what
    the csv module writes for a one-field row (QUOTE_MINIMAL), without a writer per value."""
    return np.array([_quote(value).encode() for value in values], dtype=np.bytes_)


_NEEDS_QUOTES = re.compile(r'[,"\r\n]')


def _quote(value: str) -> str:
    if not value:
        return '""'  # an empty field alone on a line is written quoted
    if _NEEDS_QUOTES.search(value):
        return '"' + value.replace('"', '""') + '"'
    return value


def matrix(column: np.ndarray) -> np.ndarray:
    """An ``S`` array (or a matrix already) as an (n, width) uint8 matrix."""
    if column.dtype == np.uint8 and column.ndim == 2:
        return column
    return column.view(np.uint8).reshape(len(column), column.dtype.itemsize)


def constant(value: bytes, n: int) -> np.ndarray:
    """The same bytes on every row."""
    return np.broadcast_to(np.frombuffer(value, dtype=np.uint8), (n, len(value)))


def integers(values: np.ndarray, width: int | None = None) -> np.ndarray:
    """Non-negative integers as decimal digits, NUL-padded on the left."""
    values = np.asarray(values, dtype=np.int64)
    n = len(values)
    if width is None and n and values.max() < _SMALL_LIMIT:
        return np.take(_small_integers(), values, axis=0)
    if width is None:
        width = len(str(int(values.max()))) if n else 1
    out = np.empty((n, width), dtype=np.uint8)
    rest = values.copy()
    for position in range(width - 1, -1, -1):
        quotient = rest // 10
        out[:, position] = rest - quotient * 10 + _ZERO
        rest = quotient
    digits = np.maximum(np.searchsorted(_POWERS, values, side="right"), 1)
    out *= np.arange(width)[None, :] >= (width - digits)[:, None]  # leading zeros -> NUL
    return out


_SMALL_LIMIT = 100_000


@cache
def _small_integers() -> np.ndarray:
    """Digits of 0 .. _SMALL_LIMIT - 1: formatting small numbers is a table look-up."""
    return integers(np.arange(_SMALL_LIMIT), width=len(str(_SMALL_LIMIT - 1)))


@cache
def _cent_suffixes() -> np.ndarray:
    """b'.00' .. b'.99'."""
    return matrix(np.array([f".{i:02d}".encode() for i in range(100)], dtype="S3"))


def cents_as_decimal(cents: np.ndarray) -> np.ndarray:
    """Integer cents as decimal text: 12345 -> b'123.45'."""
    return np.concatenate(cents_as_decimal_parts(cents), axis=1)


def cents_as_decimal_parts(cents: np.ndarray) -> Column:
    """cents_as_decimal() as a joined column (see Column): the rows get the two pieces, no
    copy."""
    cents = np.asarray(cents, dtype=np.int64)
    units, hundredths = np.divmod(cents, 100)
    return integers(units), np.take(_cent_suffixes(), hundredths, axis=0)


@lru_cache(maxsize=8)
def _day_names(first: int, last: int) -> np.ndarray:
    return matrix(np.arange(first, last + 1).astype("datetime64[D]").astype("S10"))


#: Days with a ready name: 1900-01-01 .. 2199-12-31 (1.1 MB, made once per process).
_NAMED_FROM, _NAMED_TO = (
    int(np.datetime64(day, "D").astype(np.int64)) for day in ("1900-01-01", "2200-01-01")
)


@cache
def _times_of_day() -> np.ndarray:
    seconds = np.arange(86_400)
    two_digits = _cent_suffixes()[:, 1:]  # b'00' .. b'99'
    parts = [
        two_digits[seconds // 3600],
        constant(b":", 86_400),
        two_digits[seconds // 60 % 60],
        constant(b":", 86_400),
        two_digits[seconds % 60],
    ]
    return np.ascontiguousarray(np.concatenate(parts, axis=1))


def dates(days: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 (ints or datetime64[D]) as b'YYYY-MM-DD'."""
    days = np.asarray(days).astype("datetime64[D]").astype(np.int64)
    if len(days) == 0:
        return np.empty((0, 10), dtype=np.uint8)
    first, last = int(days.min()), int(days.max())
    if first < _NAMED_FROM or last >= _NAMED_TO:
        return _day_names(first, last)[days - first]
    return _day_names(_NAMED_FROM, _NAMED_TO - 1)[days - _NAMED_FROM]


def timestamps_utc(seconds: np.ndarray) -> np.ndarray:
    """Seconds since 1970-01-01 UTC (ints or datetime64[s]) as b'YYYY-MM-DDTHH:MM:SS+00'."""
    seconds = np.asarray(seconds).astype("datetime64[s]").astype(np.int64)
    n = len(seconds)
    return np.concatenate(
        [
            dates(seconds // 86_400),
            constant(b"T", n),
            _times_of_day()[seconds % 86_400],
            constant(b"+00", n),
        ],
        axis=1,
    )


def timestamps_within(day: dt.date, seconds_of_day: np.ndarray) -> Column:
    """Seconds since the day's midnight (UTC) as timestamps, a joined column (see Column):
    the day's date, the time of day (a look-up in a small table), the offset."""
    n = len(seconds_of_day)
    return (
        constant(f"{day.isoformat()}T".encode(), n),
        np.take(_times_of_day(), seconds_of_day, axis=0),
        constant(b"+00", n),
    )


#: A column: one matrix (or S array), or a joined column: pieces whose bytes side by side
#: make each value, copied straight into the rows (never into a matrix of their own). A
#: joined column may also be several fields, its pieces holding the commas between them
#: (then_comma).
Column = np.ndarray | tuple[np.ndarray, ...]


def joined(*pieces: np.ndarray) -> Column:
    """One column whose values are the pieces' values side by side (matrices, S arrays)."""
    return pieces


def then_comma(values: np.ndarray) -> np.ndarray:
    """Values (an S array or a NUL-padded matrix) as text followed by its field's comma,
    NUL after: a "field, next field" joined column (see Column) of this then a number
    (NUL-padded on the left) has one run of NUL bytes between the two values where two
    columns have two. _rows drops each run in one copy: fewer runs, less time. For
    tables made once (a pass in Python)."""
    rows = matrix(np.asarray(values))
    return np.array([bytes(row).strip(b"\0") + b"," for row in rows], dtype=np.bytes_)


def _rows(columns: Sequence[Column]) -> np.ndarray:
    """CSV rows (each ending in a newline) from equally long columns, as uint8 text.

    The columns (and the parts of a column) are copied side by side into one matrix,
    separators between columns; the NUL padding is then dropped by a boolean mask, which
    (unlike bytes.translate) runs without the GIL, so that the formatting threads really
    run in parallel.
    """
    parts = [
        [matrix(part) for part in column] if isinstance(column, tuple) else [matrix(column)]
        for column in columns
    ]
    n = parts[0][0].shape[0]
    width = sum(part.shape[1] for column in parts for part in column) + len(parts)
    out = np.empty((n, width), dtype=np.uint8)
    position = 0
    for column in parts:
        for part in column:
            _place(out, position, part)
            position += part.shape[1]
        out[:, position] = _COMMA
        position += 1
    out[:, -1] = _NEWLINE
    text = out.ravel()
    return text[text != 0]


def _place(out: np.ndarray, offset: int, part: np.ndarray) -> None:
    """out[:, offset : offset + w] = part (w bytes a row), copied as one w-byte element a
    row: numpy moves whole elements several times faster than short runs of bytes."""
    width = part.shape[1]
    if width <= 1 or part.strides[1] != 1:  # one byte a row: numpy's byte loop is as fast
        out[:, offset : offset + width] = part
        return
    row = np.dtype(
        {"names": ["f"], "formats": [f"V{width}"], "offsets": [offset], "itemsize": out.shape[1]}
    )
    out.view(row)["f"][:, 0] = part.view(f"V{width}")[:, 0]


def _cut(column: Column, keep: slice) -> Column:
    """Rows `keep` of a column (of each of its parts)."""
    return tuple(part[keep] for part in column) if isinstance(column, tuple) else column[keep]


_COMMA, _NEWLINE = ord(","), ord("\n")


def write_csv(path: Path, header: Sequence[str], blocks: Iterable[bytes | np.ndarray]) -> None:
    """Write a header line and then each block of rows; atomically (via a temporary name)."""
    tmp = path.with_name(path.name + ".part")
    with tmp.open("wb") as handle:
        handle.write((",".join(header) + "\n").encode())
        for block in blocks:
            handle.write(block)
    tmp.replace(path)


#: Threads formatting blocks (numpy releases the GIL); blocks are still written in order.
THREADS = min(2, os.cpu_count() or 1)


def ordered_map(function: Callable[[T], R], items: Iterable[T], threads: int) -> Iterator[R]:
    """function over items in `threads` threads, results in order, at most 2 x threads
    pending at once (memory stays bounded however many items there are)."""
    if threads <= 1:
        yield from map(function, items)
        return
    with ThreadPoolExecutor(threads) as pool:
        pending: deque[Future[R]] = deque()
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) >= 2 * threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def write_files(
    files: Sequence[tuple[Path, int, int]],
    header: Sequence[str],
    block_columns: Callable[[int], Sequence[Column]] | Callable[[int], tuple[Sequence[Column], T]],
    beside: Callable[[T, slice], R] | None = None,
) -> Iterator[tuple[Path, int, list[R]]]:
    """Write files of one table, rows [start, stop) each, in order; yield (path, rows,
    beside's results) as each is complete. Every block of every file goes through one
    pipeline of formatting threads, so there is no pause between files.

    block_columns(b) gives every column of block b, whole; the rows are cut from it. With
    `beside` it gives (columns, made) instead, and beside(made, keep) is called on each
    block's rows kept, in the same thread (what else is made of the same draws): its
    results come with their file, in block order (none without it).
    """
    jobs = [
        (index, block, keep)
        for index, (_, start, stop) in enumerate(files)
        for block, keep in blocks(start, stop)
    ]

    def text(job: tuple[int, int, slice]) -> tuple[np.ndarray, list[R]]:
        _, block, keep = job
        made = block_columns(block)
        columns, also = (made, []) if beside is None else (made[0], [beside(made[1], keep)])
        return _rows([_cut(column, keep) for column in columns]), also

    done = zip((job[0] for job in jobs), ordered_map(text, jobs, THREADS), strict=True)
    ready = next(done, None)
    results: list[R] = []

    def blocks_of(index: int) -> Iterator[np.ndarray]:
        nonlocal ready
        while ready is not None and ready[0] == index:
            rows, also = ready[1]
            results.extend(also)
            yield rows
            ready = next(done, None)

    for index, (path, start, stop) in enumerate(files):
        write_csv(path, header, blocks_of(index))
        yield path, stop - start, results
        results = []


def write_blocks(
    path: Path,
    header: Sequence[str],
    start: int,
    stop: int,
    block_columns: Callable[[int], Sequence[Column]],
) -> int:
    """Write rows [start, stop) of a table made block by block; return the row count."""
    ((_, count, _),) = write_files([(path, start, stop)], header, block_columns)
    return count


def write_columns(path: Path, header: Sequence[str], columns: Sequence[Column], rows: int) -> int:
    """Write `rows` rows given as whole columns (not made block by block); return rows."""

    def block_columns(block: int) -> list[Column]:
        return [
            _cut(column, slice(block * BLOCK_ROWS, (block + 1) * BLOCK_ROWS)) for column in columns
        ]

    return write_blocks(path, header, 0, rows, block_columns)


def format_rows(columns: Sequence[Column]) -> np.ndarray:
    """CSV rows (uint8 text, no header) of equally long columns, what COPY reads: for a
    table whose blocks hold a varying number of rows (the returns of a block of lines),
    written with write_csv, or rows copied straight into the database."""
    return _rows(columns)
