"""Step 6, send_email: the report as a real MIME message, delivered by a backend.

Backends (chosen by Settings.email_backend, in this one place):
- ``outbox`` (default): writes ``<date>-daily-report.eml`` and, beside it, the HTML with
  its images embedded (it opens in any browser);
- ``smtp``: any SMTP server (STARTTLS or implicit TLS, optional login);
- ``sendgrid``: SendGrid's v3 API through the official client.

Transient failures (SMTP 4xx replies and lost connections, HTTP 429 and 5xx, network
errors) are retried with exponential backoff, ``Settings.email_attempts`` times in all;
a server's Retry-After is honoured up to ``Settings.email_retry_max_delay``. Anything
else (a refused login or key, a refused message) fails at once. When delivery finally
fails, the message is saved to the outbox and the error names the file: no report is
ever lost.

The message: multipart/mixed [ multipart/related [ multipart/alternative [ text/plain,
text/html ], the charts (image/png, inline, by Content-ID) ], Daily_Report.txt,
Daily_Metrics.csv ].
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import http.client
import json
import logging
import smtplib
import ssl
import time
from collections.abc import Callable
from email import policy
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime, make_msgid
from pathlib import Path

from customer_pipeline.errors import DeliveryError, DeliveryRefused
from customer_pipeline.report import Report
from customer_pipeline.settings import Settings

log = logging.getLogger(__name__)

#: Seconds to wait for the SendGrid API (the client's default is to wait forever).
SENDGRID_TIMEOUT = 30.0

#: 7-bit transfer encodings only, so that non-ASCII names (de_DE, fr_FR locales) reach
#: any SMTP server intact, whether or not it announces 8BITMIME.
_POLICY = policy.default.clone(cte_type="7bit")

#: Waits between attempts; tests replace it to see the delays without waiting.
sleep: Callable[[float], None] = time.sleep


class _Transient(Exception):
    """A failure worth another attempt, after `retry_after` seconds when the server said."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _one_line(text: object, limit: int = 300) -> str:
    """A message for the user: whitespace collapsed, at most `limit` characters."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


# -- the message -------------------------------------------------------------------------------
def build_message(settings: Settings, report: Report) -> EmailMessage:
    """mixed [ related [ alternative [ text, html ], inline PNGs ], attachments ]."""
    alternative = MIMEPart(policy=_POLICY)
    alternative.set_content(report.text, charset="utf-8")
    alternative.add_alternative(report.html, subtype="html", charset="utf-8")

    message = EmailMessage(policy=_POLICY)
    message["Subject"] = report.subject
    message["From"] = settings.email_from
    message["To"] = ", ".join(settings.email_to)
    message["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    message["Message-ID"] = make_msgid(domain=settings.email_from.rpartition("@")[2])
    message["MIME-Version"] = "1.0"
    if report.images:
        related = MIMEPart(policy=_POLICY)
        related.make_related()
        related.set_param("type", "multipart/alternative")  # the root's type (RFC 2387)
        related.attach(alternative)
        for image in report.images:
            part = MIMEPart(policy=_POLICY)
            part.set_content(
                image.data,
                maintype="image",
                subtype=image.subtype,
                disposition="inline",
                filename=image.filename,
                cid=f"<{image.cid}>",
            )
            related.attach(part)
        body = related
    else:
        body = alternative
    message.make_mixed()
    message.attach(body)
    for attachment in report.files():
        part = MIMEPart(policy=_POLICY)
        # as text with a charset: bytes would go out without one and non-ASCII be mangled
        part.set_content(
            attachment.content,
            subtype=attachment.subtype,
            charset="utf-8",
            disposition="attachment",
            filename=attachment.filename,
        )
        message.attach(part)
    return message


def outbox_paths(settings: Settings, day: dt.date) -> tuple[Path, Path]:
    stem = settings.outbox_dir / f"{day}-daily-report"
    return stem.with_suffix(".eml"), stem.with_suffix(".html")


def _to_outbox(settings: Settings, day: dt.date, message: EmailMessage, report: Report) -> str:
    """Write the .eml and the browser-ready HTML, each replaced atomically; return the .eml."""
    eml, html = outbox_paths(settings, day)
    eml.parent.mkdir(parents=True, exist_ok=True)
    for path, data in ((eml, message.as_bytes()), (html, report.browser_html().encode("utf-8"))):
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(data)
        tmp.replace(path)
    return str(eml)


# -- retries -------------------------------------------------------------------------------------
def _with_retries(settings: Settings, what: str, attempt: Callable[[], str]) -> str:
    """Call `attempt` until it succeeds, raises DeliveryError, or the attempts run out."""
    attempts = max(1, settings.email_attempts)
    for number in range(1, attempts + 1):
        try:
            return attempt()
        except _Transient as exc:
            if number == attempts:
                raise DeliveryError(
                    _one_line(f"{exc} (gave up after {attempts} attempts)")
                ) from exc.__cause__
            backoff = settings.email_retry_delay * 2 ** (number - 1)
            delay = min(
                backoff if exc.retry_after is None else exc.retry_after,
                settings.email_retry_max_delay,
            )
            log.warning(
                "%s: attempt %d of %d failed (%s); retrying in %.1f s",
                what,
                number,
                attempts,
                exc,
                delay,
            )
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def retry_after_seconds(value: str | None, now: dt.datetime | None = None) -> float | None:
    """A Retry-After header (seconds, or an HTTP date) as seconds from now; None if absent."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())


# -- SMTP ------------------------------------------------------------------------------------------
def _smtp_reply(exc: smtplib.SMTPResponseException) -> str:
    reply = exc.smtp_error
    if isinstance(reply, bytes):
        reply = reply.decode("utf-8", "replace")
    return f"{exc.smtp_code} {reply}"


def _smtp_once(settings: Settings, message: EmailMessage) -> str:
    host, port = settings.smtp_host, settings.smtp_port
    where = f"{host}:{port}"
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
        replies = exc.recipients
        detail = f"SMTP server {where} refused every recipient: " + ", ".join(sorted(replies))
        if all(400 <= code < 500 for code, _ in replies.values()):
            raise _Transient(detail) from exc
        raise DeliveryRefused(_one_line(detail)) from exc
    except smtplib.SMTPAuthenticationError as exc:
        if 400 <= exc.smtp_code < 500:
            raise _Transient(f"SMTP login at {where} failed: {_smtp_reply(exc)}") from exc
        raise DeliveryRefused(
            _one_line(
                f"SMTP server {where} refused the login of user {settings.smtp_user!r} "
                f"(check the SMTP user and password): {_smtp_reply(exc)}"
            )
        ) from exc
    except smtplib.SMTPResponseException as exc:
        if 400 <= exc.smtp_code < 500:
            raise _Transient(f"SMTP delivery via {where} failed: {_smtp_reply(exc)}") from exc
        raise DeliveryRefused(
            _one_line(f"SMTP delivery via {where} failed: {_smtp_reply(exc)}")
        ) from exc
    except (ssl.SSLCertVerificationError, smtplib.SMTPNotSupportedError) as exc:
        raise DeliveryRefused(
            _one_line(f"SMTP delivery via {where} failed: {exc or type(exc).__name__}")
        ) from exc
    except (OSError, smtplib.SMTPException) as exc:  # unreachable, timed out, disconnected
        raise _Transient(f"SMTP delivery via {where} failed: {exc or type(exc).__name__}") from exc
    if refused:
        # the others have it: another attempt would send it to them twice
        raise DeliveryRefused(
            _one_line(
                f"SMTP server {where} refused: "
                + ", ".join(f"{to} ({code})" for to, (code, _) in sorted(refused.items()))
            )
        )
    return f"smtp://{where} -> {', '.join(settings.email_to)}"


def _by_smtp(settings: Settings, message: EmailMessage) -> str:
    return _with_retries(settings, "SMTP delivery", lambda: _smtp_once(settings, message))


# -- SendGrid --------------------------------------------------------------------------------------
def sendgrid_mail(settings: Settings, report: Report):  # -> sendgrid.helpers.mail.Mail
    """The SendGrid v3 payload: text and HTML, the charts inline by content id, the files."""
    from sendgrid.helpers.mail import (
        Attachment,
        ContentId,
        Disposition,
        FileContent,
        FileName,
        FileType,
        Mail,
    )

    mail = Mail(
        from_email=settings.email_from,
        to_emails=list(settings.email_to),
        subject=report.subject,
        plain_text_content=report.text,
        html_content=report.html,
    )
    parts = [
        Attachment(
            FileContent(base64.b64encode(image.data).decode("ascii")),
            FileName(image.filename),
            FileType(f"image/{image.subtype}"),
            Disposition("inline"),
            ContentId(image.cid),
        )
        for image in report.images
    ]
    parts += [
        Attachment(
            FileContent(base64.b64encode(attachment.content.encode("utf-8")).decode("ascii")),
            FileName(attachment.filename),
            FileType(f"text/{attachment.subtype}"),
            Disposition("attachment"),
        )
        for attachment in report.files()
    ]
    for part in reversed(parts):  # add_attachment prepends: keep the report's order
        mail.add_attachment(part)
    return mail


#: What a refusal by SendGrid most likely means, by HTTP status.
_SENDGRID_CAUSES = {
    401: "the API key is invalid or revoked (check SENDGRID_API_KEY or the password of "
    "the sendgrid_default connection)",
    403: "the API key may not send mail, or the sender address is not a verified sender identity",
    413: "the message is too large",
}


def _sendgrid_once(settings: Settings, client, mail, host: str) -> str:
    from python_http_client.exceptions import HTTPError

    key = settings.sendgrid_api_key or ""
    try:
        response = client.send(mail)
    except HTTPError as exc:
        status = int(exc.status_code)
        detail = _sendgrid_detail(exc.body)
        if key:
            detail = detail.replace(key, "***")
        what = f"HTTP {status} {exc.reason}{detail}"
        if status == 429 or status >= 500:
            headers = exc.headers
            retry_after = headers.get("Retry-After") if headers is not None else None
            # from None: the client's exception holds the request, and so the key
            raise _Transient(
                f"SendGrid at {host} did not take the message: {what}",
                retry_after_seconds(retry_after),
            ) from None
        cause = _SENDGRID_CAUSES.get(status, "the message was refused")
        raise DeliveryRefused(_one_line(f"SendGrid refused the message: {cause}: {what}")) from None
    except (OSError, http.client.HTTPException) as exc:
        raise _Transient(f"SendGrid at {host} unreachable: {exc or type(exc).__name__}") from None
    return f"sendgrid ({response.status_code}) -> {', '.join(settings.email_to)}"


def _by_sendgrid(settings: Settings, report: Report) -> str:
    from sendgrid import SendGridAPIClient

    host = settings.sendgrid_host or "https://api.sendgrid.com"
    client = SendGridAPIClient(api_key=settings.sendgrid_api_key, host=host)
    client.client.timeout = SENDGRID_TIMEOUT  # propagated to the per-request clients
    mail = sendgrid_mail(settings, report)
    return _with_retries(
        settings, "SendGrid delivery", lambda: _sendgrid_once(settings, client, mail, host)
    )


def _sendgrid_detail(body: object) -> str:
    """': <first error message>' from SendGrid's JSON error body, or ''."""
    try:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
        errors = json.loads(text).get("errors") or []
        message = errors[0].get("message") if errors else None
    except (ValueError, AttributeError, TypeError):
        return ""
    return f": {message}" if message else ""


# -- the step --------------------------------------------------------------------------------------
def send_report(settings: Settings, day: dt.date, report: Report) -> str:
    """Deliver the report with the configured backend; return where it went.

    When the smtp or sendgrid backend finally fails, the message is saved to the outbox
    and the DeliveryError (DeliveryRefused when retrying cannot help) names the file.
    """
    message = build_message(settings, report)
    if settings.email_backend not in ("smtp", "sendgrid"):
        return _to_outbox(settings, day, message, report)
    try:
        if settings.email_backend == "smtp":
            return _by_smtp(settings, message)
        return _by_sendgrid(settings, report)
    except DeliveryError as exc:
        error: DeliveryError = exc
    except Exception as exc:  # a surprise: the report is saved all the same
        detail = f"{settings.email_backend} delivery failed: {type(exc).__name__}: {exc}"
        if key := settings.sendgrid_api_key:  # as it is, and as a repr would escape it
            detail = detail.replace(key, "***").replace(repr(key)[1:-1], "***")
        log.warning("unexpected %s delivery error: %s", settings.email_backend, type(exc).__name__)
        # not chained: the exception may hold the request, and so the key
        error = DeliveryError(_one_line(detail))
    try:
        saved = _to_outbox(settings, day, message, report)
    except OSError as write_error:
        raise type(error)(
            _one_line(f"{error}; saving the report to the outbox failed too: {write_error}", 600)
        ) from error
    raise type(error)(f"{error}; the report was saved to {Path(saved).resolve()}") from error
