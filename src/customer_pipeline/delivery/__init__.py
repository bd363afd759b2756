"""Step 6, send_email: the report as a real MIME message, delivered by a backend.

Every backend has one method, ``send(message) -> where``; :data:`BACKENDS` maps
``Settings.email_backend`` to its class, in this one place:

- ``outbox`` (default, :class:`Outbox`): writes ``<date>-daily-report.eml`` and, beside
  it, the HTML with its images embedded (it opens in any browser); where: the .eml's path;
- ``smtp`` (:class:`Smtp`): any SMTP server (STARTTLS or implicit TLS, optional login);
  where: ``smtp://host:port -> recipients``;
- ``sendgrid`` (:class:`SendGrid`): SendGrid's v3 API through the official client;
  where: ``sendgrid (status) -> recipients``.

The sender may have a display name (``Settings.sender``); with ``Settings.email_bcc`` the
recipients do not see each other (SMTP: in the envelope only; SendGrid: one
personalization each; the outbox's file: a Bcc header).

The smtp and sendgrid backends are wrapped twice (:func:`backend_for`): transient
failures (SMTP 4xx replies and lost connections, HTTP 429 and 5xx, network errors) are
retried with exponential backoff, ``Settings.email_attempts`` times in all; a server's
Retry-After is honoured up to ``Settings.email_retry_max_delay`` (:class:`Retrying`).
Anything else (a refused login or key, a refused message) fails at once. When delivery
finally fails, the message is saved to the outbox and the error names the file: no
report is ever lost (:class:`OutboxFallback`).

The message: multipart/mixed [ multipart/related [ multipart/alternative [ text/plain,
text/html ], the charts (image/png, inline, by Content-ID) ], Daily_Report.txt,
Daily_Metrics.csv ].
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Protocol

from customer_pipeline.delivery.message import Message, build_message
from customer_pipeline.delivery.outbox import Outbox, OutboxFallback, outbox_paths
from customer_pipeline.delivery.retry import Retrying, Transient, retry_after_seconds
from customer_pipeline.delivery.sendgrid_api import SendGrid, sendgrid_mail
from customer_pipeline.delivery.smtp import Smtp
from customer_pipeline.report import Report
from customer_pipeline.settings import Settings

__all__ = [
    "BACKENDS",
    "NOT_SENT",
    "Backend",
    "Message",
    "Outbox",
    "OutboxFallback",
    "Retrying",
    "SendGrid",
    "Smtp",
    "Transient",
    "backend_for",
    "build_message",
    "outbox_paths",
    "retry_after_seconds",
    "send_report",
    "sendgrid_mail",
]


#: Where a report went when alert-only found nothing to tell.
NOT_SENT = "not sent: nothing unusual"


class Backend(Protocol):
    """Delivers a message and says where it went; raises Transient for a failure worth
    another attempt, DeliveryError (DeliveryRefused when retrying cannot help) for others."""

    name: str

    def send(self, message: Message) -> str: ...


#: Settings.email_backend -> the backend that delivers.
BACKENDS: dict[str, Callable[[Settings], Backend]] = {
    "outbox": Outbox,
    "smtp": Smtp,
    "sendgrid": SendGrid,
}


def backend_for(settings: Settings, sleep: Callable[[float], None] = time.sleep) -> Backend:
    """The configured backend; smtp and sendgrid retried (waiting with `sleep`), with the
    outbox as their last resort."""
    backend = BACKENDS[settings.email_backend](settings)
    if isinstance(backend, Outbox):
        return backend
    return OutboxFallback(Retrying(backend, settings, sleep), settings)


def send_report(
    settings: Settings,
    day: dt.date,
    report: Report,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Deliver the report with the configured backend; return where it went.

    When the smtp or sendgrid backend finally fails, the message is saved to the outbox
    and the DeliveryError (DeliveryRefused when retrying cannot help) names the file.
    With ``Settings.alert_only``, a daily report without alerts (no KPI flagged, no check
    warning) is not sent: the answer is NOT_SENT.
    """
    if settings.alert_only and report.kind == "daily-report" and not report.alerts:
        return NOT_SENT
    return backend_for(settings, sleep).send(Message.of(settings, day, report))
