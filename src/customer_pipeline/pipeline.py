"""The whole day, step after step: what `customer-pipeline run` does outside the scheduler.

The Airflow DAG calls the same step functions, one per task.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from customer_pipeline.cleanup import delete_files, run_folder
from customer_pipeline.database import check_connection, database_url, describe
from customer_pipeline.dataset import check_dataset
from customer_pipeline.delivery import send_report
from customer_pipeline.errors import ConnectionLost, QualityError, Stopped
from customer_pipeline.generate.day import generate_day, rows_per_table
from customer_pipeline.generate.transactions import transaction_chunks
from customer_pipeline.leftovers import sweep_dead_runs
from customer_pipeline.load import load_day
from customer_pipeline.metrics import calculate_metrics
from customer_pipeline.quality import check_data_quality
from customer_pipeline.report import RunFacts, daily_report, preload_charts
from customer_pipeline.runs import finish_run, hold_run, start_run
from customer_pipeline.schema import create_tables
from customer_pipeline.settings import Settings
from customer_pipeline.tables import DIMENSIONS, RETURNS, TRANSACTIONS

#: progress(step, completed, total): called as the run advances.
Progress = Callable[[str, int, int], None]


log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    run_id: str
    business_date: dt.date
    database: str
    row_counts: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    delivered_to: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    failed_step: str = ""  # the step that failed, if one did


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
            if not isinstance(exc, Stopped | KeyboardInterrupt):  # stopped on purpose: no mail
                _send_incident(settings, day, summary.failed_step, exc)
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


def _send_incident(settings: Settings, day: dt.date, step: str, exc: BaseException) -> None:
    """The incident e-mail of a failed day; its own failure is logged, never raised over
    the step's error (the outbox keeps it when the mail service is down)."""
    from customer_pipeline.incident import Failure, send_incident

    detail = " ".join(f"{type(exc).__name__}: {exc}".split())
    # a failed check: each failed check on its own line, with its figures
    details = exc.details if isinstance(exc, QualityError) and exc.details else (detail,)
    try:
        log.info(
            "%s failed: incident sent to %s",
            step,
            send_incident(settings, Failure(day, step, details)),
        )
    except Exception as failed:
        log.warning("the incident e-mail of %s could not be sent: %s", day, failed)


#: The steps after the generation's (one per file), in order, by the original's task names.
LATER_STEPS = ("load_data", "check_data_quality", "calculate_metrics", "build_report", "send_email")


class _Steps:
    """A run's steps, one after the other: each timed into the summary (steps of one name
    add up), the progress reported as each starts and as the last ends."""

    def __init__(self, summary: RunSummary, progress: Progress | None, names: Sequence[str]):
        self.summary, self.progress, self.names = summary, progress, names
        self.done, self.started, self.seconds = 0, time.perf_counter(), dict[str, float]()
        self._report()

    @property
    def current(self) -> str:
        return self.names[min(self.done, len(self.names) - 1)]

    def next(self) -> None:
        """The current step is over; the next one starts."""
        now, name = time.perf_counter(), self.current
        self.seconds[name] = self.seconds.get(name, 0.0) + now - self.started
        self.summary.timings[name] = round(self.seconds[name], 3)
        self.done, self.started = self.done + 1, now
        self._report()

    def _report(self) -> None:
        if self.progress:
            self.progress(self.current, self.done, len(self.names))


def _run_steps(
    settings: Settings, day: dt.date, summary: RunSummary, progress: Progress | None
) -> None:
    """Steps 2-7 in the run's working folder, which is deleted however they end. A lost
    connection's error names the step."""
    folder = run_folder(settings, day, summary.run_id)
    # generate_day writes a file per dimension, then one per chunk of transactions and of
    # returns: a step each
    chunks = len(transaction_chunks(settings, day))
    names = [
        *(table.task for table in DIMENSIONS),
        *[TRANSACTIONS.task] * chunks,
        *[RETURNS.task] * chunks,
        *LATER_STEPS,
    ]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        steps = _Steps(summary, progress, names)
        try:
            _generate_to_send(settings, day, folder, summary, steps)
        except BaseException as exc:
            summary.failed_step = steps.current
            if isinstance(exc, ConnectionLost):
                raise ConnectionLost(f"{steps.current}: {exc}") from exc
            raise
    finally:
        delete_files(settings, folder)


def _generate_to_send(
    settings: Settings, day: dt.date, folder: Path, summary: RunSummary, steps: _Steps
) -> None:
    """The steps, in the order of their names in `steps`."""
    generated = generate_day(settings, folder, day, on_file=lambda _: steps.next())
    summary.row_counts = load_day(settings, day, generated)
    steps.next()
    # matplotlib is slow to import: the report's charts import it in a background thread
    # while this process waits for PostgreSQL's checks and aggregates
    preload_charts()
    checks = check_data_quality(settings, day, rows_per_table(generated))  # as generated
    steps.next()
    summary.metrics = calculate_metrics(settings, day)
    steps.next()
    facts = RunFacts(
        summary.row_counts, settings.seed, sum(summary.timings.values()), summary.run_id
    )
    report = daily_report(settings, day, summary.metrics, checks, run=facts)
    steps.next()
    summary.delivered_to = send_report(settings, day, report)
    steps.next()


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

    def stop(signum: int, _frame: object) -> None:
        restore()
        raise Stopped(signum)

    for signum in before:
        signal.signal(signum, stop)
    try:
        yield
    finally:
        restore()
