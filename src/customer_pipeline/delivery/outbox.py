"""The outbox: the message saved as a file, and the last resort of the other backends."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from customer_pipeline.delivery.message import Message
from customer_pipeline.delivery.retry import one_line
from customer_pipeline.errors import DeliveryError
from customer_pipeline.settings import Settings

if TYPE_CHECKING:
    from customer_pipeline.delivery import Backend

log = logging.getLogger(__name__)


def outbox_paths(settings: Settings, day: dt.date, kind: str = "daily-report") -> tuple[Path, Path]:
    """The .eml and, beside it, the browser-ready HTML of a date's report (or incident)."""
    stem = settings.outbox_dir / f"{day}-{kind}"
    return stem.with_suffix(".eml"), stem.with_suffix(".html")


class Outbox:
    """Writes ``<date>-daily-report.eml`` (``<date>-incident.eml`` for an incident) and,
    beside it, the HTML with its images embedded (it opens in any browser), each replaced
    atomically; where: the .eml's path."""

    name = "outbox"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(self, message: Message) -> str:
        eml, html = outbox_paths(self.settings, message.day, message.report.kind)
        eml.parent.mkdir(parents=True, exist_ok=True)
        for path, data in (
            (eml, message.mime.as_bytes()),
            (html, message.report.browser_html().encode("utf-8")),
        ):
            tmp = path.with_name(path.name + ".part")
            tmp.write_bytes(data)
            tmp.replace(path)
        return str(eml)


class OutboxFallback:
    """`backend`, with the outbox as its last resort: when it fails, the message is saved
    to the outbox and the error (of the same class) names the file. No report is lost."""

    def __init__(self, backend: Backend, settings: Settings) -> None:
        self.backend = backend
        self.settings = settings
        self.name = backend.name

    def send(self, message: Message) -> str:
        try:
            return self.backend.send(message)
        except DeliveryError as exc:
            error = exc
        except Exception as exc:  # a surprise: the report is saved all the same
            error = self._unexpected(exc)
        try:
            saved = Outbox(self.settings).send(message)
        except OSError as write_error:
            raise type(error)(
                one_line(f"{error}; saving the report to the outbox failed too: {write_error}", 600)
            ) from error
        raise type(error)(f"{error}; the report was saved to {Path(saved).resolve()}") from error

    def _unexpected(self, exc: Exception) -> DeliveryError:
        """A one-line DeliveryError without the API key, and not chained: the exception may
        hold the request, and so the key."""
        backend = self.settings.email_backend
        detail = f"{backend} delivery failed: {type(exc).__name__}: {exc}"
        if key := self.settings.sendgrid_api_key:  # as it is, and as a repr would escape it
            detail = detail.replace(key, "***").replace(repr(key)[1:-1], "***")
        log.warning("unexpected %s delivery error: %s", backend, type(exc).__name__)
        return DeliveryError(one_line(detail))
