"""Step 6, send_email: the report as a real MIME message, delivered by a backend.

Backends (chosen by Settings.email_backend, in this one place):
- ``outbox`` (default): writes ``<date>-daily-report.eml`` and the HTML beside it;
- ``smtp``: any SMTP server (STARTTLS or implicit TLS, optional login);
- ``sendgrid``: SendGrid's v3 API through the official client.
"""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import json
import smtplib
import ssl
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from customer_pipeline.errors import DeliveryError
from customer_pipeline.report import TEXT_NAME, Report
from customer_pipeline.settings import Settings

#: Seconds to wait for the SendGrid API (the client's default is to wait forever).
SENDGRID_TIMEOUT = 30.0

#: 7-bit transfer encodings only, so that non-ASCII names (de_DE, fr_FR locales) reach
#: any SMTP server intact, whether or not it announces 8BITMIME.
_POLICY = policy.default.clone(cte_type="7bit")


def _one_line(text: object, limit: int = 300) -> str:
    """A message for the user: whitespace collapsed, at most `limit` characters."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def build_message(settings: Settings, report: Report) -> EmailMessage:
    """multipart/mixed: (text/plain | text/html) alternative + Daily_Report.txt attached."""
    message = EmailMessage(policy=_POLICY)
    message["Subject"] = report.subject
    message["From"] = settings.email_from
    message["To"] = ", ".join(settings.email_to)
    message["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    message["Message-ID"] = make_msgid(domain=settings.email_from.rpartition("@")[2])
    message.set_content(report.text, charset="utf-8")
    message.add_alternative(report.html, subtype="html", charset="utf-8")
    # as text with a charset: bytes would go out without one and non-ASCII names be mangled
    message.add_attachment(report.text, subtype="plain", charset="utf-8", filename=TEXT_NAME)
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
            if settings.smtp_starttls and not settings.smtp_ssl:
                client.starttls(context=ssl.create_default_context())
            if settings.smtp_user:
                client.login(settings.smtp_user, settings.smtp_password or "")
            refused = client.send_message(
                message, from_addr=settings.email_from, to_addrs=list(settings.email_to)
            )
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryError(
            f"SMTP server {host}:{port} refused every recipient: "
            + ", ".join(sorted(exc.recipients))
        ) from exc
    except smtplib.SMTPResponseException as exc:
        reply = exc.smtp_error
        if isinstance(reply, bytes):
            reply = reply.decode("utf-8", "replace")
        raise DeliveryError(
            _one_line(f"SMTP delivery via {host}:{port} failed: {exc.smtp_code} {reply}")
        ) from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(
            _one_line(f"SMTP delivery via {host}:{port} failed: {exc or type(exc).__name__}")
        ) from exc
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
    client.client.timeout = SENDGRID_TIMEOUT  # propagated to the per-request clients
    try:
        response = client.send(mail)
    except HTTPError as exc:
        detail = _sendgrid_detail(exc.body)
        if settings.sendgrid_api_key:
            detail = detail.replace(settings.sendgrid_api_key, "***")
        raise DeliveryError(
            _one_line(f"SendGrid refused the message: HTTP {exc.status_code} {exc.reason}{detail}")
        ) from None
    except (OSError, http.client.HTTPException) as exc:
        raise DeliveryError(
            _one_line(f"SendGrid at {host} unreachable: {exc or type(exc).__name__}")
        ) from exc
    return f"sendgrid ({response.status_code}) -> {', '.join(settings.email_to)}"


def _sendgrid_detail(body: object) -> str:
    """': <first error message>' from SendGrid's JSON error body, or ''."""
    try:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
        errors = json.loads(text).get("errors") or []
        message = errors[0].get("message") if errors else None
    except (ValueError, AttributeError, TypeError):
        return ""
    return f": {message}" if message else ""


def send_report(settings: Settings, day: dt.date, report: Report) -> str:
    """Deliver the report with the configured backend; return where it went."""
    message = build_message(settings, report)
    if settings.email_backend == "smtp":
        return _by_smtp(settings, message)
    if settings.email_backend == "sendgrid":
        return _by_sendgrid(settings, report)
    return _to_outbox(settings, day, message, report)
