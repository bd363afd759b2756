"""What a rendered report is: a subject, an HTML body, its plain-text twin, the inline
images and the attached files."""

from __future__ import annotations

import base64
from dataclasses import dataclass

TEXT_NAME = "Daily_Report.txt"
CSV_NAME = "Daily_Metrics.csv"


@dataclass(frozen=True)
class InlineImage:
    """A picture shown in the HTML body, referenced there as ``cid:<cid>``."""

    cid: str
    filename: str
    data: bytes
    alt: str = ""
    subtype: str = "png"  # image/<subtype>

    @property
    def src(self) -> str:
        return f"cid:{self.cid}"

    def data_uri(self) -> str:
        return f"data:image/{self.subtype};base64,{base64.b64encode(self.data).decode('ascii')}"


@dataclass(frozen=True)
class Attachment:
    """A text file attached to the message (UTF-8)."""

    filename: str
    content: str
    subtype: str = "plain"  # text/<subtype>


@dataclass(frozen=True)
class Report:
    subject: str
    text: str
    html: str
    images: tuple[InlineImage, ...] = ()
    #: attached after the text rendering (`text_name`; None: not attached)
    attachments: tuple[Attachment, ...] = ()
    #: what the message is, in its outbox file names (<date>-<kind>.eml)
    kind: str = "daily-report"
    text_name: str | None = TEXT_NAME
    #: what makes the report worth sending under alert-only: KPIs flagged, checks warning
    alerts: int = 0

    def files(self) -> tuple[Attachment, ...]:
        """Every attachment, the text rendering first."""
        text = (Attachment(self.text_name, self.text),) if self.text_name else ()
        return (*text, *self.attachments)

    def browser_html(self) -> str:
        """The HTML with each ``cid:`` image replaced by a data: URI: opens in any browser."""
        html = self.html
        for image in self.images:
            html = html.replace(f'src="{image.src}"', f'src="{image.data_uri()}"')
        return html
