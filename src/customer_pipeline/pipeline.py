"""The whole day, step after step: what `customer-pipeline run` does outside the scheduler.

The Airflow DAG calls the same step functions, one per task.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from customer_pipeline.cleanup import delete_files, run_folder
from customer_pipeline.database import check_connection, database_url, describe
from customer_pipeline.dataset import check_dataset
from customer_pipeline.delivery import send_report
from customer_pipeline.generate.csvfile import GeneratedFile, rows_per_table
from customer_pipeline.generate.customers import generate_customers
from customer_pipeline.generate.products import generate_products
from customer_pipeline.generate.stores import generate_stores
from customer_pipeline.generate.transactions import (
    generate_transaction_chunks,
    transaction_chunks,
)
from customer_pipeline.load import load_day
from customer_pipeline.metrics import calculate_metrics
from customer_pipeline.quality import check_data_quality
from customer_pipeline.report import RunFacts, daily_report, preload_charts
from customer_pipeline.runs import finish_run, start_run
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


def begin_day(settings: Settings, day: dt.date, run_id: str | None = None) -> str:
    """Step 1 with its bookkeeping: the tables (created or reset), then the run's record."""
    create_tables(settings)
    return start_run(settings, day, run_id)


def run_day(
    settings: Settings, day: dt.date, *, run_id: str | None = None, progress: Progress | None = None
) -> RunSummary:
    """Run every step for one business date; the working folder is always deleted."""
    prepare(settings, day)
    run_id = begin_day(settings, day, run_id)
    summary = RunSummary(run_id, day, describe(database_url(settings)))
    folder = run_folder(settings, day, run_id)
    chunks = transaction_chunks(settings, day)
    total = len(DIMENSION_GENERATORS) + len(chunks) + 5  # load, check, metrics, report, send
    done = 0

    @contextmanager
    def step(name: str, units: int = 1) -> Iterator[Callable[[], None]]:
        """Time a step of `units` units of progress; what it yields advances by one."""
        nonlocal done
        started, first = time.perf_counter(), done
        if progress:
            progress(name, done, total)

        def advance() -> None:
            nonlocal done
            done += 1
            if progress:
                progress(name, done, total)

        yield advance
        summary.timings[name] = round(
            summary.timings.get(name, 0) + time.perf_counter() - started, 3
        )
        done = first + units
        if progress:
            progress(name, done, total)

    try:
        folder.mkdir(parents=True, exist_ok=True)
        files: list[GeneratedFile] = []
        for name, generate in DIMENSION_GENERATORS.items():
            with step(name):
                files.append(generate(settings, folder, day))
        if chunks:  # every chunk through one pipeline, one file each
            with step("generate_transaction_data", units=len(chunks)) as advance:
                for generated in generate_transaction_chunks(
                    settings, folder, day, range(len(chunks))
                ):
                    files.append(generated)
                    advance()
        with step("load_data"):
            summary.row_counts = load_day(settings, day, files)
        preload_charts()  # the report's imports, while PostgreSQL checks and aggregates
        with step("check_data_quality"):
            generated = rows_per_table(files)  # what was generated, not what was loaded
            checks = [c.as_dict() for c in check_data_quality(settings, day, generated)]
        with step("calculate_metrics"):
            summary.metrics = calculate_metrics(settings, day)
        with step("build_report"):
            facts = RunFacts(
                summary.row_counts, settings.seed, sum(summary.timings.values()), run_id
            )
            report = daily_report(settings, day, summary.metrics, checks, run=facts)
            report.write(folder)
        with step("send_email"):
            summary.delivered_to = send_report(settings, day, report)
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
    finally:
        delete_files(settings, folder)
    finish_run(
        settings,
        run_id,
        status="success",
        row_counts=summary.row_counts,
        timings=summary.timings,
        delivered_to=summary.delivered_to,
    )
    return summary
