"""A whole day's files in one process: what `customer-pipeline run` generates (the DAG
runs the same generators, one task per dimension and per chunk)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from customer_pipeline.generate.csvfile import GeneratedFile
from customer_pipeline.generate.returns import generate_with_transactions
from customer_pipeline.generate.transactions import day_plan, transaction_chunks
from customer_pipeline.settings import Settings
from customer_pipeline.tables import DIMENSIONS


def generate_day(
    settings: Settings,
    folder: Path,
    day: dt.date,
    on_file: Callable[[GeneratedFile], object] | None = None,
) -> list[GeneratedFile]:
    """Write every file of `day` into `folder`: each dimension (tables.DIMENSIONS order),
    then every chunk of transactions through one pipeline of formatting threads, then the
    returns of each chunk's lines (made beside them: returns.generate_with_transactions).
    A day without transactions has no transactions file. on_file(file) is called as each
    file is complete, in that order (a returns file is written with its chunk's
    transactions, and reported after the last of them)."""
    folder.mkdir(parents=True, exist_ok=True)
    files: list[GeneratedFile] = []

    def done(generated: GeneratedFile) -> None:
        files.append(generated)
        if on_file is not None:
            on_file(generated)

    chunks = range(len(transaction_chunks(settings, day)))
    with ThreadPoolExecutor(1) as ahead:
        # the transactions' day plan (cached) is made while the dimensions are written:
        # neither needs the other, and both are mostly one thread's work
        plan = ahead.submit(day_plan, settings, day) if len(chunks) else None
        for table in DIMENSIONS:
            done(table.generate(settings, folder, day))
        if plan is not None:
            plan.result()
    for generated in generate_with_transactions(settings, folder, day, chunks):
        done(generated)
    return files


def rows_per_table(files: Iterable[GeneratedFile]) -> dict[str, int]:
    """How many rows were generated for each table."""
    counts: dict[str, int] = {}
    for file in files:
        counts[file.table] = counts.get(file.table, 0) + file.rows
    return counts
