"""When a day fails: the incident e-mail.

A failed step (a failed load, a failed data-quality check, a lost database, an
undeliverable report) sends one message to the report's recipients, through the same
backend, with the outbox as its last resort: subject "Daily sales report FAILED for
<date>: <what>", what failed, what was kept, and how to run the day again. The CLI's
`run_day` sends it; in Airflow, the DAG's failure notifier does (airflow_adapter).
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass

from customer_pipeline.report.document import Report
from customer_pipeline.settings import Settings

#: What each step's failure leaves published, by the step that failed (the DAG's task
#: names; the CLI's steps have the same names).
KEPT = {
    "check_data_quality": (
        "The day's rows were loaded but failed a check: its KPIs were not published "
        "(daily_metrics keeps what it had for {day}, if anything)."
    ),
    "calculate_metrics": "The day's rows are loaded and checked; its KPIs were not published.",
    "send_email": (
        "The day's data and KPIs are published; only the report was not delivered (it was "
        "saved to the outbox)."
    ),
}
_UNCHANGED = (
    "Nothing of {day} changed: its previous state is kept (a day's load replaces it in one "
    "transaction, or not at all)."
)


@dataclass(frozen=True)
class Failure:
    """What went wrong with one business date."""

    day: dt.date
    step: str  # the step (task) that failed
    details: tuple[str, ...] = ()  # the error, the failed checks with their figures
    rerun: str = ""  # how to run the day again; empty: the CLI's command

    @property
    def kept(self) -> str:
        return KEPT.get(self.step, _UNCHANGED).format(day=self.day)

    @property
    def how_to_rerun(self) -> str:
        return self.rerun or f"customer-pipeline run --date {self.day}"


def incident_report(failure: Failure) -> Report:
    """The incident message: subject, text and an HTML twin (everything escaped)."""
    subject = f"Daily sales report FAILED for {failure.day}: {failure.step}"
    sections = [
        ("What failed", [failure.step, *failure.details]),
        ("What was kept", [failure.kept]),
        ("How to run the day again", [failure.how_to_rerun]),
    ]
    text = (
        subject
        + "\n\n"
        + "\n\n".join(
            f"{title}\n" + "\n".join(f"  {line}" for line in lines) for title, lines in sections
        )
    )
    body = "".join(
        f"<h2>{html.escape(title)}</h2>" + "".join(f"<p>{html.escape(line)}</p>" for line in lines)
        for title, lines in sections
    )
    page = (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>'
        f"{html.escape(subject)}</title></head><body><h1>{html.escape(subject)}</h1>"
        f"{body}</body></html>"
    )
    return Report(subject, text + "\n", page, kind="incident", text_name=None)


def send_incident(settings: Settings, failure: Failure) -> str:
    """Deliver the incident like a report (outbox fallback included); return where it went."""
    from customer_pipeline.delivery import send_report

    return send_report(settings, failure.day, incident_report(failure))
