"""The report as a MIME message: what every backend sends, or saves."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime, make_msgid

from customer_pipeline.report import Report
from customer_pipeline.settings import Settings

#: 7-bit transfer encodings only, so that non-ASCII names (de_DE, fr_FR locales) reach
#: any SMTP server intact, whether or not it announces 8BITMIME.
_POLICY = policy.default.clone(cte_type="7bit")


@dataclass(frozen=True)
class Message:
    """A report on its way: its business date, the report, and its MIME message."""

    day: dt.date
    report: Report
    mime: EmailMessage

    @classmethod
    def of(cls, settings: Settings, day: dt.date, report: Report) -> Message:
        return cls(day, report, build_message(settings, report))


def build_message(settings: Settings, report: Report) -> EmailMessage:
    """mixed [ related [ alternative [ text, html ], inline PNGs ], attachments ]."""
    alternative = MIMEPart(policy=_POLICY)
    alternative.set_content(report.text, charset="utf-8")
    alternative.add_alternative(report.html, subtype="html", charset="utf-8")

    name, sender = settings.sender
    message = EmailMessage(policy=_POLICY)
    message["Subject"] = report.subject
    message["From"] = Address(display_name=name, addr_spec=sender)
    if settings.email_bcc:
        # the recipients do not see each other: the SMTP envelope names them, and an
        # SMTP submission never sends the Bcc header; the outbox's file keeps it
        message["To"] = "undisclosed-recipients:;"
        message["Bcc"] = ", ".join(settings.email_to)
    else:
        message["To"] = ", ".join(settings.email_to)
    message["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2])
    message["MIME-Version"] = "1.0"
    message.make_mixed()
    message.attach(_with_images(alternative, report) if report.images else alternative)
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


def _with_images(alternative: MIMEPart, report: Report) -> MIMEPart:
    """related [ alternative, the inline images by Content-ID ]."""
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
    return related
