"""Vectorised CSV formatting: columns of byte strings in, CSV text out.

Text values are quoted once, when a pool is made (:func:`quote`); numbers and dates
never need quoting. A table becomes CSV by adding its columns together element-wise.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from customer_pipeline.generate.streams import blocks


@dataclass(frozen=True)
class GeneratedFile:
    """One CSV file of one table; what tasks pass to each other (as a dict)."""

    table: str
    path: str
    rows: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def quote(values: Iterable[str]) -> np.ndarray:
    """CSV-quoted UTF-8 byte strings (``S`` array), quotes only where needed."""
    out = []
    for value in values:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n").writerow([value])
        out.append(buffer.getvalue().removesuffix("\r\n").encode())
    return np.array(out, dtype=np.bytes_)


def integers(values: np.ndarray) -> np.ndarray:
    return values.astype(np.bytes_)


def money(cents: np.ndarray) -> np.ndarray:
    """Integer cents as decimal text: 12345 -> b'123.45'."""
    cents = np.asarray(cents, dtype=np.int64)
    whole = (cents // 100).astype(np.bytes_)
    frac = np.strings.zfill((cents % 100).astype(np.bytes_), 2)
    return np.strings.add(np.strings.add(whole, b"."), frac)


def dates(days: np.ndarray) -> np.ndarray:
    """numpy datetime64[D] as b'YYYY-MM-DD'."""
    return days.astype("datetime64[D]").astype(np.bytes_)


def timestamps_utc(seconds: np.ndarray) -> np.ndarray:
    """numpy datetime64[s] (UTC) as b'YYYY-MM-DDTHH:MM:SS+00'."""
    return np.strings.add(seconds.astype("datetime64[s]").astype(np.bytes_), b"+00")


def rows(columns: Sequence[np.ndarray]) -> bytes:
    """CSV rows (each ending in a newline) from equally long columns of byte strings."""
    if len(columns[0]) == 0:
        return b""
    line = columns[0]
    for column in columns[1:]:
        line = np.strings.add(np.strings.add(line, b","), column)
    line = np.strings.add(line, b"\n")
    return b"".join(line.tolist())


def write_csv(path: Path, header: Sequence[str], blocks: Iterable[bytes]) -> None:
    """Write a header line and then each block of rows; atomically (via a temporary name)."""
    tmp = path.with_name(path.name + ".part")
    with tmp.open("wb") as handle:
        handle.write((",".join(header) + "\n").encode())
        for block in blocks:
            handle.write(block)
    tmp.replace(path)


def write_blocks(
    path: Path,
    header: Sequence[str],
    start: int,
    stop: int,
    block_columns: Callable[[int], Sequence[np.ndarray]],
) -> int:
    """Write rows [start, stop) of a table made block by block; return the row count.

    block_columns(b) gives every column of block b, whole; the rows are cut from it.
    """
    write_csv(
        path,
        header,
        (
            rows([column[keep] for column in block_columns(block)])
            for block, keep, _ in blocks(start, stop)
        ),
    )
    return stop - start
