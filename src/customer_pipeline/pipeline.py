"""The whole day, step after step: what `customer-pipeline run` does outside the scheduler.

The Airflow DAG calls the same step functions, one per task.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from customer_pipeline.cleanup import delete_files, run_folder
from customer_pipeline.database import check_connection, database_url, describe
from customer_pipeline.dataset import check_dataset
from customer_pipeline.delivery import send_report
from customer_pipeline.errors import ConnectionLost, Stopped
from customer_pipeline.generate.csvfile import GeneratedFile, rows_per_table
from customer_pipeline.generate.customers import generate_customers
from customer_pipeline.generate.products import generate_products
from customer_pipeline.generate.stores import generate_stores
from customer_pipeline.generate.transactions import (
    generate_transaction_chunks,
    transaction_chunks,
)
from customer_pipeline.leftovers import sweep_dead_runs
from customer_pipeline.load import load_day
from customer_pipeline.metrics import calculate_metrics
from customer_pipeline.quality import check_data_quality
from customer_pipeline.report import RunFacts, daily_report, preload_charts
from customer_pipeline.runs import finish_run, hold_run, start_run
from customer_pipeline.schema import create_tables
from customer_pipeline.settings import Settings

#: The dimension generators, by the original's task names.
DIMENSION_GENERATORS: dict[str, Callable[[Settings, Path, dt.date], GeneratedFile]] = {
    "generate_customers_data": generate_customers,
    "generate_product_data": generate_products,
    "generate_stores_data": generate_stores,
}

#: progress(step, completed, total): called as the run advances.
Progress = Callable[[str, int, int], None]


@dataclass
class RunSummary:
    run_id: str
    business_date: dt.date
    database: str
    row_counts: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    delivered_to: str = ""
    timings: dict[str, float] = field(default_factory=dict)


def prepare(settings: Settings, day: dt.date) -> Settings:
    """Validate everything that can be validated before the first write: the settings,
    the date, the database, the dataset the schema holds, the folders."""
    settings.validate()
    settings.check_business_date(day)
    check_connection(settings)
    check_dataset(settings)
    settings.check_folders()
    return settings


def tables_ready(settings: Settings) -> None:
    """The tables (created or reset), and what dead runs left behind removed."""
    create_tables(settings)
    sweep_dead_runs(settings)


def begin_day(settings: Settings, day: dt.date, run_id: str | None = None) -> str:
    """Step 1 with its bookkeeping, as the DAG runs it: the tables ready, then the run's
    record (finished by the DAG's teardown)."""
    tables_ready(settings)
    return start_run(settings, day, run_id)


def run_day(
    settings: Settings, day: dt.date, *, run_id: str | None = None, progress: Progress | None = None
) -> RunSummary:
    """Run every step for one business date; the working folder is always deleted.

    The run holds its lock for its whole life (runs.hold_run): if the process dies, the
    next run finds the run dead and removes what it left (customer_pipeline.leftovers).
    """
    prepare(settings, day)
    tables_ready(settings)  # before the lock: a reset waits for runs that hold it
    run_id = run_id or str(uuid.uuid4())
    with hold_run(settings, run_id):
        start_run(settings, day, run_id, process_lock=True)
        summary = RunSummary(run_id, day, describe(database_url(settings)))
        try:
            _run_steps(settings, day, summary, progress)
        except BaseException as exc:
            with contextlib.suppress(Exception):  # never hide the step's own error
                finish_run(
                    settings,
                    run_id,
                    status="failed",
                    row_counts=summary.row_counts,
                    timings=summary.timings,
                    error=f"{type(exc).__name__}: {exc}"[:2000],
                )
            raise
        finish_run(
            settings,
            run_id,
            status="success",
            row_counts=summary.row_counts,
            timings=summary.timings,
            delivered_to=summary.delivered_to,
        )
    return summary


class _Steps:
    """Times a run's steps into its summary and reports its progress."""

    def __init__(self, summary: RunSummary, progress: Progress | None, total: int) -> None:
        self.summary, self.progress, self.total, self.done = summary, progress, total, 0

    def report(self, name: str) -> None:
        if self.progress:
            self.progress(name, self.done, self.total)

    @contextmanager
    def step(self, name: str, units: int = 1) -> Iterator[Callable[[], None]]:
        """Time a step of `units` units of progress; what it yields advances by one. A lost
        connection's error names the step."""
        started, first = time.perf_counter(), self.done
        self.report(name)

        def advance() -> None:
            self.done += 1
            self.report(name)

        try:
            yield advance
        except ConnectionLost as exc:
            raise ConnectionLost(f"{name}: {exc}") from exc
        timings = self.summary.timings
        timings[name] = round(timings.get(name, 0) + time.perf_counter() - started, 3)
        self.done = first + units
        self.report(name)


def _run_steps(
    settings: Settings, day: dt.date, summary: RunSummary, progress: Progress | None
) -> None:
    """Steps 2-7 in the run's working folder, which is deleted however they end."""
    folder = run_folder(settings, day, summary.run_id)
    chunks = transaction_chunks(settings, day)
    # the dimensions, the chunks, then load, check, metrics, report, send
    steps = _Steps(summary, progress, len(DIMENSION_GENERATORS) + len(chunks) + 5)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        files: list[GeneratedFile] = []
        for name, generate in DIMENSION_GENERATORS.items():
            with steps.step(name):
                files.append(generate(settings, folder, day))
        if chunks:  # every chunk through one pipeline, one file each
            with steps.step("generate_transaction_data", units=len(chunks)) as advance:
                for generated in generate_transaction_chunks(
                    settings, folder, day, range(len(chunks))
                ):
                    files.append(generated)
                    advance()
        with steps.step("load_data"):
            summary.row_counts = load_day(settings, day, files)
        preload_charts()  # the report's imports, while PostgreSQL checks and aggregates
        with steps.step("check_data_quality"):
            generated = rows_per_table(files)  # what was generated, not what was loaded
            checks = [c.as_dict() for c in check_data_quality(settings, day, generated)]
        with steps.step("calculate_metrics"):
            summary.metrics = calculate_metrics(settings, day)
        with steps.step("build_report"):
            facts = RunFacts(
                summary.row_counts, settings.seed, sum(summary.timings.values()), summary.run_id
            )
            report = daily_report(settings, day, summary.metrics, checks, run=facts)
            report.write(folder)
        with steps.step("send_email"):
            summary.delivered_to = send_report(settings, day, report)
    finally:
        delete_files(settings, folder)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """For the block, SIGTERM (what Airflow, systemd and Kubernetes send) and SIGINT (Ctrl-C)
    raise errors.Stopped in the main thread: the run unwinds like any failure (every step
    cleans up, the run is recorded as failed). A second signal gets the handlers that were
    there before (SIGTERM then ends the process at once; the next run removes what it left).
    Outside the main thread (where Python cannot handle signals), nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for signum, handler in before.items():
            signal.signal(signum, handler)

    def stop(signum: int, frame: object) -> None:
        restore()
        raise Stopped(signum)

    for signum in before:
        signal.signal(signum, stop)
    try:
        yield
    finally:
        restore()
