"""Step 6, send_email: the report as a real MIME message, delivered by a backend.

Backends (chosen by Settings.email_backend, in this one place):
- ``outbox`` (default): writes ``<date>-daily-report.eml`` and the HTML beside it;
- ``smtp``: any SMTP server (STARTTLS or implicit TLS, optional login);
- ``sendgrid``: SendGrid's v3 API through the official client.
"""

from __future__ import annotations

import base64
import datetime as dt
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from customer_pipeline.errors import DeliveryError
from customer_pipeline.report import TEXT_NAME, Report
from customer_pipeline.settings import Settings


def build_message(settings: Settings, report: Report) -> EmailMessage:
    """multipart/mixed: (text/plain | text/html) alternative + Daily_Report.txt attached."""
    message = EmailMessage()
    message["Subject"] = report.subject
    message["From"] = settings.email_from
    message["To"] = ", ".join(settings.email_to)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=settings.email_from.rpartition("@")[2])
    message.set_content(report.text)
    message.add_alternative(report.html, subtype="html")
    message.add_attachment(
        report.text.encode("utf-8"), maintype="text", subtype="plain", filename=TEXT_NAME
    )
    return message


def outbox_paths(settings: Settings, day: dt.date) -> tuple[Path, Path]:
    stem = settings.outbox_dir / f"{day}-daily-report"
    return stem.with_suffix(".eml"), stem.with_suffix(".html")


def _to_outbox(settings: Settings, day: dt.date, message: EmailMessage, report: Report) -> str:
    eml, html = outbox_paths(settings, day)
    eml.parent.mkdir(parents=True, exist_ok=True)
    tmp = eml.with_suffix(".eml.part")
    tmp.write_bytes(message.as_bytes())
    tmp.replace(eml)
    html.write_text(report.html, encoding="utf-8")
    return str(eml)


def _by_smtp(settings: Settings, message: EmailMessage) -> str:
    host, port = settings.smtp_host, settings.smtp_port
    try:
        if settings.smtp_ssl:
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                host, port, timeout=settings.smtp_timeout, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(host, port, timeout=settings.smtp_timeout)
        with client:
            if settings.smtp_starttls:
                client.starttls(context=ssl.create_default_context())
            if settings.smtp_user:
                client.login(settings.smtp_user, settings.smtp_password or "")
            refused = client.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"SMTP delivery via {host}:{port} failed: {exc}") from exc
    if refused:
        raise DeliveryError(f"SMTP server {host}:{port} refused: {', '.join(sorted(refused))}")
    return f"smtp://{host}:{port} -> {', '.join(settings.email_to)}"


def _by_sendgrid(settings: Settings, report: Report) -> str:
    from python_http_client.exceptions import HTTPError
    from sendgrid import SendGridAPIClient
    from sendgrid.helpers.mail import Attachment, Disposition, FileContent, FileName, FileType, Mail

    mail = Mail(
        from_email=settings.email_from,
        to_emails=list(settings.email_to),
        subject=report.subject,
        plain_text_content=report.text,
        html_content=report.html,
    )
    mail.add_attachment(
        Attachment(
            FileContent(base64.b64encode(report.text.encode("utf-8")).decode("ascii")),
            FileName(TEXT_NAME),
            FileType("text/plain"),
            Disposition("attachment"),
        )
    )
    host = settings.sendgrid_host or "https://api.sendgrid.com"
    client = SendGridAPIClient(api_key=settings.sendgrid_api_key, host=host)
    try:
        response = client.send(mail)
    except HTTPError as exc:
        raise DeliveryError(
            f"SendGrid refused the message: HTTP {exc.status_code} {exc.reason}"
        ) from None
    except OSError as exc:
        raise DeliveryError(f"SendGrid at {host} unreachable: {exc}") from exc
    return f"sendgrid ({response.status_code}) -> {', '.join(settings.email_to)}"


def send_report(settings: Settings, day: dt.date, report: Report) -> str:
    """Deliver the report with the configured backend; return where it went."""
    message = build_message(settings, report)
    if settings.email_backend == "smtp":
        return _by_smtp(settings, message)
    if settings.email_backend == "sendgrid":
        return _by_sendgrid(settings, report)
    return _to_outbox(settings, day, message, report)
