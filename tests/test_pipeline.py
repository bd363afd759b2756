"""The whole day end to end, its failures, and bad input. Real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import os
import signal
from pathlib import Path

import psycopg
import pytest

from conftest import day_fingerprint, expected_rows, free_port, present_rows
from customer_pipeline.errors import ConfigError, DatabaseUnavailable, DeliveryError, Stopped
from customer_pipeline.generate.day import generate_day
from customer_pipeline.generate.transactions import transaction_chunks
from customer_pipeline.pipeline import run_day, stop_on_signals
from customer_pipeline.settings import BLOCK_ROWS, Settings

DAY = dt.date(2026, 11, 20)


def totals(db: psycopg.Connection) -> tuple:
    return db.execute(
        "SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM products), "
        "(SELECT count(*) FROM stores), (SELECT count(*) FROM promotions), count(*), "
        "sum(transaction_amount) "
        "FROM transactions WHERE business_date = %s",
        [DAY],
    ).fetchone()


def test_a_whole_day(settings: Settings, db: psycopg.Connection) -> None:
    progress: list[tuple[str, int, int]] = []
    summary = run_day(settings, DAY, progress=lambda *event: progress.append(event))

    expected = expected_rows(settings, DAY)
    assert summary.row_counts == expected
    assert expected["transactions"] > 1000  # a Friday in November 2026: busier than typical
    assert totals(db)[:5] == tuple(present_rows(settings, DAY).values())[:5]
    assert summary.metrics["transaction_count"] == expected["transactions"]
    stored = db.execute("SELECT transaction_count FROM daily_metrics").fetchone()[0]
    assert stored == expected["transactions"]
    assert progress[-1][1] == progress[-1][2]  # finished: completed == total

    eml = settings.outbox_dir / "2026-11-20-daily-report.eml"
    assert summary.delivered_to == str(eml)
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert message["Subject"].startswith("Daily sales Fri 20 Nov: $")
    assert message.get_body(("plain",)).get_content().startswith("Daily sales report")
    assert "<html" in message.get_body(("html",)).get_content()
    attachments = {part.get_filename() for part in message.iter_attachments()}
    assert {"Daily_Report.txt", "Daily_Metrics.csv"} <= attachments
    assert (settings.outbox_dir / "2026-11-20-daily-report.html").exists()

    assert not settings.work_dir.exists()  # the working folder is gone
    run = db.execute(
        "SELECT status, seed, sizes, row_counts, versions, timings, delivered_to FROM pipeline_runs"
    ).fetchone()
    assert run[6] == str(eml)
    assert run[0] == "success" and run[1] == 42
    assert run[2]["transactions"] == 1000  # the typical day asked for
    assert run[3] == expected  # what the day actually had
    assert {"pools", "numpy", "psycopg", "postgresql", "customer-pipeline"} <= set(run[4])
    assert "load_data" in run[5]


def test_a_day_s_files_come_dimensions_first_each_reported_once_written(
    settings: Settings, tmp_path: Path
) -> None:
    small_chunks = settings.replace(transactions=25_000, chunk_size=BLOCK_ROWS)
    seen: list[tuple[str, bool]] = []
    files = generate_day(
        small_chunks, tmp_path, DAY, lambda f: seen.append((f.table, Path(f.path).is_file()))
    )
    assert seen == [(f.table, True) for f in files]
    chunks = len(transaction_chunks(small_chunks, DAY))
    assert chunks > 1
    assert [table for table, _ in seen] == [
        "customers",
        "products",
        "stores",
        "promotions",
        *["transactions"] * chunks,
        *["returns"] * chunks,
    ]


def test_rerunning_a_day_changes_nothing(settings: Settings, db: psycopg.Connection) -> None:
    run_day(settings, DAY)
    first = totals(db)
    run_day(settings, DAY)
    assert totals(db) == first
    assert (
        db.execute("SELECT count(*) FROM pipeline_runs WHERE status = 'success'").fetchone()[0] == 2
    )


def test_reset_starts_over(settings: Settings, db: psycopg.Connection) -> None:
    run_day(settings, DAY)
    run_day(settings.replace(reset=True), DAY + dt.timedelta(days=1))
    assert db.execute("SELECT count(DISTINCT business_date) FROM transactions").fetchone()[0] == 1
    assert db.execute("SELECT count(*) FROM pipeline_runs").fetchone()[0] == 1


def test_a_failing_step_still_cleans_up_and_keeps_the_data(
    settings: Settings, unreachable_smtp: Settings, db: psycopg.Connection
) -> None:
    with pytest.raises(DeliveryError, match=r"SMTP delivery via 127\.0\.0\.1"):
        run_day(unreachable_smtp, DAY)
    assert not settings.work_dir.exists()
    # loaded before the failure, and intact
    assert totals(db)[4] == expected_rows(settings, DAY)["transactions"]
    status, error = db.execute("SELECT status, error FROM pipeline_runs").fetchone()
    assert status == "failed" and "DeliveryError" in error


@pytest.mark.parametrize(
    ("changes", "day", "error"),
    [
        ({"customers": -1}, DAY, ConfigError),
        ({"customers": 0}, DAY, ConfigError),
        ({"email_to": ("nobody",)}, DAY, ConfigError),
        ({"email_backend": "fax"}, DAY, ConfigError),
        (
            {
                "email_backend": "sendgrid",
                "email_from": "a@shop.test",
                "email_to": ("b@shop.test",),
            },
            DAY,
            ConfigError,
        ),
        ({}, dt.date(2019, 5, 1), ConfigError),
    ],
)
def test_bad_input_writes_nothing(
    settings: Settings, db: psycopg.Connection, changes: dict, day: dt.date, error: type
) -> None:
    with pytest.raises(error):
        run_day(settings.replace(**changes), day)
    assert (
        db.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname = %s", [settings.db_schema]
        ).fetchone()[0]
        == 0
    )
    assert not settings.work_dir.exists()
    assert not settings.outbox_dir.exists()


def test_unreachable_database_is_one_line(settings: Settings) -> None:
    settings = settings.replace(database_url=f"postgresql://u@127.0.0.1:{free_port()}/x")
    with pytest.raises(
        DatabaseUnavailable, match=r"cannot connect to postgresql://u@127\.0\.0\.1"
    ) as info:
        run_day(settings, DAY)
    assert "\n" not in str(info.value)
    assert not settings.work_dir.exists()


def test_backfill_in_any_order_or_alone_gives_the_same_day(
    settings: Settings, db: psycopg.Connection
) -> None:
    days = [DAY + dt.timedelta(days=i) for i in range(3)]
    for day in days:
        run_day(settings, day)
    in_sequence = [day_fingerprint(db, day) for day in days]

    other = settings.replace(db_schema=settings.db_schema + "_b")
    try:
        run_day(other, days[1])  # one day alone, on an empty schema
        db.execute(f"SET search_path TO {other.db_schema}")
        assert day_fingerprint(db, days[1]) == in_sequence[1]
        run_day(other, days[2])  # then the others, backwards
        run_day(other, days[0])
        assert [day_fingerprint(db, day) for day in days] == in_sequence
    finally:
        db.execute(f"DROP SCHEMA IF EXISTS {other.db_schema} CASCADE")


def test_a_rerun_under_the_same_run_id_records_the_rerun(
    settings: Settings, db: psycopg.Connection
) -> None:
    """Airflow re-runs a cleared run under the same id: the record must describe the re-run."""
    run_id = "00000000-0000-4000-8000-0000000000aa"
    run_day(settings, DAY, run_id=run_id)
    again = settings.replace(transactions=300)  # a day's volume may change; the dataset not
    run_day(again, DAY, run_id=run_id)
    sizes, counts = db.execute(
        "SELECT sizes, row_counts FROM pipeline_runs WHERE run_id = %s", [run_id]
    ).fetchone()
    assert sizes["transactions"] == 300
    assert counts == expected_rows(again, DAY)


def test_sigterm_stops_a_run_as_a_failure_that_cleans_up(
    settings: Settings, db: psycopg.Connection
) -> None:
    before = signal.getsignal(signal.SIGTERM)

    def progress(step: str, _done: int, _total: int) -> None:
        if step == "load_data":
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(Stopped) as stopped, stop_on_signals():
        run_day(settings, DAY, progress=progress)
    assert stopped.value.code == 143
    assert db.execute("SELECT status, error FROM pipeline_runs").fetchone() == (
        "failed",
        "Stopped: stopped by SIGTERM",
    )
    assert not settings.work_dir.exists()
    assert signal.getsignal(signal.SIGTERM) == before


def test_alert_only_sends_nothing_on_a_day_with_nothing_unusual(settings: Settings) -> None:
    summary = run_day(settings.replace(alert_only=True), DAY)  # no history: no flag
    assert summary.delivered_to == "not sent: nothing unusual"
    assert not (settings.outbox_dir / f"{DAY}-daily-report.eml").exists()
