"""Retrying a backend's transient failures, with exponential backoff.

A backend raises :class:`Transient` for a failure worth another attempt (an SMTP 4xx
reply, a lost connection, HTTP 429 or 5xx, a network error), optionally with the wait
the server asked for; anything else fails at once.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from customer_pipeline.errors import DeliveryError
from customer_pipeline.settings import Settings

if TYPE_CHECKING:
    from customer_pipeline.delivery import Backend
    from customer_pipeline.delivery.message import Message

log = logging.getLogger(__name__)


class Transient(Exception):
    """A failure worth another attempt, after `retry_after` seconds when the server said."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def one_line(text: object, limit: int = 300) -> str:
    """A message for the user: whitespace collapsed, at most `limit` characters."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


class Retrying:
    """`backend`, tried ``Settings.email_attempts`` times in all while it fails transiently.

    The waits double from ``email_retry_delay``; a server's Retry-After replaces them; none
    is longer than ``email_retry_max_delay``. `sleep` waits them.
    """

    def __init__(
        self, backend: Backend, settings: Settings, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.backend = backend
        self.settings = settings
        self.sleep = sleep
        self.name = backend.name

    def delay(self, failed_attempt: int, retry_after: float | None) -> float:
        """Seconds to wait after the `failed_attempt`-th attempt (1 for the first)."""
        backoff = self.settings.email_retry_delay * 2 ** (failed_attempt - 1)
        wait = backoff if retry_after is None else retry_after
        return min(wait, self.settings.email_retry_max_delay)

    def send(self, message: Message) -> str:
        attempts = max(1, self.settings.email_attempts)
        for number in range(1, attempts + 1):
            try:
                return self.backend.send(message)
            except Transient as exc:
                if number == attempts:
                    raise DeliveryError(
                        one_line(f"{exc} (gave up after {attempts} attempts)")
                    ) from exc.__cause__
                delay = self.delay(number, exc.retry_after)
                log.warning(
                    "%s delivery: attempt %d of %d failed (%s); retrying in %.1f s",
                    self.name,
                    number,
                    attempts,
                    exc,
                    delay,
                )
                self.sleep(delay)
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
