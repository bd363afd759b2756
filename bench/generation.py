"""Generation alone: every file of one day, timed, as run_day writes them (the library's
generate_day: the dimension files, then every chunk of transactions through one
pipeline), and as one process per core shares them. Nothing touches the database.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from functools import partial
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from customer_pipeline.generate.csvfile import GeneratedFile
from customer_pipeline.generate.day import generate_day
from customer_pipeline.generate.transactions import generate_transactions, transaction_chunks
from customer_pipeline.settings import Settings
from customer_pipeline.tables import GENERATED


def timed_day(
    settings: Settings, folder: Path, day: dt.date, *, keep_files: bool = True
) -> dict[str, Any]:
    """Write a whole day into `folder` (the library's generate_day); seconds and rows per
    table, each file's seconds counted from the end of the one before.

    Without keep_files each transactions file is deleted once written (not timed), so
    the disk holds one chunk at a time.
    """
    seconds = dict.fromkeys(GENERATED, 0.0)
    rows = dict.fromkeys(GENERATED, 0)
    files: list[dict[str, Any]] = []
    last = time.perf_counter()

    def on_file(generated: GeneratedFile) -> None:
        nonlocal last
        seconds[generated.table] += time.perf_counter() - last
        rows[generated.table] += generated.rows
        if keep_files or generated.table != "transactions":
            files.append(asdict(generated))
        else:
            os.remove(generated.path)
        last = time.perf_counter()  # the removal is not timed

    generate_day(settings, folder, day, on_file)
    return summarise(seconds, rows) | {"files": files}


def summarise(seconds: dict[str, float], rows: dict[str, int], wall: float | None = None):
    total = wall if wall is not None else sum(seconds.values())
    return {
        "seconds": round(total, 4),
        "rows": sum(rows.values()),
        "rows_per_second": round(sum(rows.values()) / total),
        "transactions_rows_per_second": round(
            rows["transactions"] / seconds["transactions"] if rows["transactions"] else 0
        ),
        "table_seconds": {table: round(s, 4) for table, s in seconds.items()},
        "table_rows": rows,
    }


# -- both cores: the day's files shared by worker processes ------------------------------


def warm_up(settings: Settings, day: dt.date) -> None:
    """Make this process ready (the value pools read, the formatting tables made) on a
    one-row day."""
    tiny = settings.replace(customers=1, products=1, stores=1, transactions=1)
    with tempfile.TemporaryDirectory(prefix="bench-warm-") as folder:
        generate_day(tiny, Path(folder), day)


_barrier = None


def _start_worker(settings: Settings, day: dt.date, barrier) -> None:
    global _barrier
    _barrier = barrier
    warm_up(settings, day)


def _ready() -> int:
    """Returns once every worker has started and warmed up (each waits at the barrier)."""
    _barrier.wait(timeout=600)
    return os.getpid()


def _one_file(settings: Settings, folder: Path, day: dt.date, job: str | int):
    started = time.perf_counter()
    if isinstance(job, str):
        generated = GENERATED[job].generate(settings, folder, day)
    else:
        generated = generate_transactions(settings, folder, day, job)
    return generated.table, generated.rows, time.perf_counter() - started


def generate_day_parallel(
    settings: Settings, folder: Path, day: dt.date, workers: int
) -> dict[str, Any]:
    """The same files written by `workers` processes, each warmed up before timing.

    Largest jobs first: customers, the transaction chunks, then products and stores.
    table_seconds are summed over workers (CPU-side), seconds is the wall time.
    """
    folder.mkdir(parents=True, exist_ok=True)
    chunks = range(len(transaction_chunks(settings, day)))
    jobs: list[str | int] = ["customers", *chunks, "products", "stores"]
    context = get_context("spawn")
    with ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=_start_worker,
        initargs=(settings, day, context.Barrier(workers)),
    ) as pool:
        # every worker started and warmed up before the clock starts
        pids = {f.result() for f in [pool.submit(_ready) for _ in range(workers)]}
        started = time.perf_counter()
        done = list(pool.map(partial(_one_file, settings, folder, day), jobs))
        wall = time.perf_counter() - started
    seconds = dict.fromkeys(GENERATED, 0.0)
    rows = dict.fromkeys(seconds, 0)
    for table, count, spent in done:
        seconds[table] += spent
        rows[table] += count
    return summarise(seconds, rows, wall) | {"workers": workers, "worker_processes": len(pids)}
