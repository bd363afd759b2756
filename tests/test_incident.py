"""A failed day sends an incident e-mail: what failed, what was kept, how to re-run."""

from __future__ import annotations

import datetime as dt
from email import message_from_bytes

import psycopg
import pytest

from customer_pipeline.errors import DeliveryError
from customer_pipeline.incident import Failure, incident_report
from customer_pipeline.pipeline import run_day
from customer_pipeline.settings import Settings

DAY = dt.date(2026, 11, 20)


def test_the_subject_names_the_day_and_the_failed_step() -> None:
    report = incident_report(Failure(DAY, "load_data", ("ConnectionLost: gone",)))
    assert report.subject == "Daily sales report FAILED for 2026-11-20: load_data"
    assert "ConnectionLost: gone" in report.text
    assert "Nothing of 2026-11-20 changed" in report.text
    assert "customer-pipeline run --date 2026-11-20" in report.text


@pytest.mark.parametrize(
    ("step", "kept"),
    [
        ("check_data_quality", "its KPIs were not published"),
        ("calculate_metrics", "its KPIs were not published"),
        ("send_email", "only the report was not delivered"),
        ("generate_customers_data", "its previous state is kept"),
    ],
)
def test_what_was_kept_depends_on_the_failed_step(step: str, kept: str) -> None:
    assert kept in incident_report(Failure(DAY, step)).text


def test_every_value_is_escaped_in_the_html() -> None:
    report = incident_report(Failure(DAY, "load_data", ("<script>alert(1)</script>",)))
    assert "<script>" not in report.html and "&lt;script&gt;" in report.html


def test_a_failed_cli_day_sends_the_incident_through_the_outbox_fallback(
    settings: Settings, unreachable_smtp: Settings, db: psycopg.Connection
) -> None:
    with pytest.raises(DeliveryError):
        run_day(unreachable_smtp.replace(email_attempts=1), DAY)
    incident = message_from_bytes((settings.outbox_dir / f"{DAY}-incident.eml").read_bytes())
    assert incident["Subject"] == f"Daily sales report FAILED for {DAY}: send_email"
    assert incident["To"] == "manager@shop.test"
    assert (settings.outbox_dir / f"{DAY}-daily-report.eml").exists()  # the report, kept too
    assert db.execute("SELECT status FROM pipeline_runs").fetchone() == ("failed",)


def test_a_day_that_succeeds_sends_no_incident(settings: Settings) -> None:
    run_day(settings, DAY)
    assert not (settings.outbox_dir / f"{DAY}-incident.eml").exists()
