"""SendGrid: the v3 mail/send API, through the official client."""

from __future__ import annotations

import base64
import http.client
import json
from functools import cached_property
from typing import Any

from customer_pipeline.delivery.message import Message
from customer_pipeline.delivery.retry import Transient, one_line, retry_after_seconds
from customer_pipeline.errors import DeliveryRefused
from customer_pipeline.report import Report
from customer_pipeline.settings import Settings

#: Seconds to wait for the SendGrid API (the client's default is to wait forever).
SENDGRID_TIMEOUT = 30.0

#: What a refusal by SendGrid most likely means, by HTTP status.
_CAUSES = {
    401: "the API key is invalid or revoked (check SENDGRID_API_KEY or the password of "
    "the sendgrid_default connection)",
    403: "the API key may not send mail, or the sender address is not a verified sender identity",
    413: "the message is too large",
}


def sendgrid_mail(settings: Settings, report: Report):  # -> sendgrid.helpers.mail.Mail
    """The SendGrid v3 payload: text and HTML, the charts inline by content id, the files."""
    from sendgrid.helpers.mail import (
        Attachment,
        ContentId,
        Disposition,
        FileContent,
        FileName,
        FileType,
        From,
        Mail,
    )

    name, sender = settings.sender
    mail = Mail(
        from_email=From(sender, name or None),
        to_emails=list(settings.email_to),
        subject=report.subject,
        plain_text_content=report.text,
        html_content=report.html,
        is_multiple=settings.email_bcc,  # one personalization per recipient: none sees another
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


def _detail(body: object) -> str:
    """': <first error message>' from SendGrid's JSON error body, or ''."""
    try:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
        errors = json.loads(text).get("errors") or []
        message = errors[0].get("message") if errors else None
    except (ValueError, AttributeError, TypeError):
        return ""
    return f": {message}" if message else ""


class SendGrid:
    """One POST to mail/send; where: ``sendgrid (<status>) -> recipients``.

    HTTP 429 (with its Retry-After), 5xx and network errors are :class:`Transient`; any
    other refusal is a DeliveryRefused naming its likely cause. No error holds the key.
    """

    name = "SendGrid"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.host = settings.sendgrid_host or "https://api.sendgrid.com"

    @cached_property
    def _client(self) -> Any:
        from sendgrid import SendGridAPIClient

        client = SendGridAPIClient(api_key=self.settings.sendgrid_api_key, host=self.host)
        client.client.timeout = SENDGRID_TIMEOUT  # propagated to the per-request clients
        return client

    def send(self, message: Message) -> str:
        from python_http_client.exceptions import HTTPError

        mail = sendgrid_mail(self.settings, message.report)
        try:
            response = self._client.send(mail)
        except HTTPError as exc:
            raise self._failure(exc) from None  # the client's exception holds the key
        except (OSError, http.client.HTTPException) as exc:
            what = exc or type(exc).__name__
            raise Transient(f"SendGrid at {self.host} unreachable: {what}") from None
        return f"sendgrid ({response.status_code}) -> {', '.join(self.settings.email_to)}"

    def _failure(self, exc: Any) -> Exception:
        """Transient or DeliveryRefused, for python_http_client's HTTPError `exc`."""
        status = int(exc.status_code)
        detail = _detail(exc.body)
        if key := self.settings.sendgrid_api_key:
            detail = detail.replace(key, "***")
        what = f"HTTP {status} {exc.reason}{detail}"
        if status == 429 or status >= 500:
            headers = exc.headers
            retry_after = headers.get("Retry-After") if headers is not None else None
            return Transient(
                f"SendGrid at {self.host} did not take the message: {what}",
                retry_after_seconds(retry_after),
            )
        cause = _CAUSES.get(status, "the message was refused")
        return DeliveryRefused(one_line(f"SendGrid refused the message: {cause}: {what}"))
