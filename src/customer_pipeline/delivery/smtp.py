"""SMTP: any server, STARTTLS or implicit TLS, optional login."""

from __future__ import annotations

import smtplib
import ssl

from customer_pipeline.delivery.message import Message
from customer_pipeline.delivery.retry import Transient, one_line
from customer_pipeline.errors import DeliveryRefused
from customer_pipeline.settings import Settings


def _reply(exc: smtplib.SMTPResponseException) -> str:
    reply = exc.smtp_error
    if isinstance(reply, bytes):
        reply = reply.decode("utf-8", "replace")
    return f"{exc.smtp_code} {reply}"


def _temporary(code: int) -> bool:
    return 400 <= code < 500


class Smtp:
    """One attempt to submit the message; where: ``smtp://host:port -> recipients``.

    4xx replies and lost connections are :class:`Transient`; any other refusal (a login,
    every recipient, the message, a certificate) is a DeliveryRefused.
    """

    name = "SMTP"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.where = f"{settings.smtp_host}:{settings.smtp_port}"

    def send(self, message: Message) -> str:
        try:
            refused = self._submit(message)
        except (OSError, smtplib.SMTPException) as exc:
            raise self._failure(exc) from exc
        if refused:
            # the others have it: another attempt would send it to them twice
            raise DeliveryRefused(
                one_line(
                    f"SMTP server {self.where} refused: "
                    + ", ".join(f"{to} ({code})" for to, (code, _) in sorted(refused.items()))
                )
            )
        return f"smtp://{self.where} -> {', '.join(self.settings.email_to)}"

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.smtp_ssl:
            context = ssl.create_default_context()
            return smtplib.SMTP_SSL(
                s.smtp_host, s.smtp_port, timeout=s.smtp_timeout, context=context
            )
        return smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout)

    def _submit(self, message: Message) -> dict[str, tuple[int, bytes]]:
        """Send the message; return the recipients refused (when others were accepted)."""
        s = self.settings
        with self._connect() as client:
            if s.smtp_starttls and not s.smtp_ssl:
                client.starttls(context=ssl.create_default_context())
            if s.smtp_user:
                client.login(s.smtp_user, s.smtp_password or "")
            # send_message leaves a Bcc header out of what it transmits
            return client.send_message(
                message.mime, from_addr=s.sender[1], to_addrs=list(s.email_to)
            )

    def _failure(self, exc: OSError | smtplib.SMTPException) -> Exception:
        """The exception to raise for what smtplib raised: Transient or DeliveryRefused."""
        where = self.where
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            replies = exc.recipients
            detail = f"SMTP server {where} refused every recipient: " + ", ".join(sorted(replies))
            if all(_temporary(code) for code, _ in replies.values()):
                return Transient(detail)
            return DeliveryRefused(one_line(detail))
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            if _temporary(exc.smtp_code):
                return Transient(f"SMTP login at {where} failed: {_reply(exc)}")
            return DeliveryRefused(
                one_line(
                    f"SMTP server {where} refused the login of user {self.settings.smtp_user!r} "
                    f"(check the SMTP user and password): {_reply(exc)}"
                )
            )
        if isinstance(exc, smtplib.SMTPResponseException):
            detail = f"SMTP delivery via {where} failed: {_reply(exc)}"
            return (
                Transient(detail)
                if _temporary(exc.smtp_code)
                else DeliveryRefused(one_line(detail))
            )
        detail = f"SMTP delivery via {where} failed: {exc or type(exc).__name__}"
        if isinstance(exc, ssl.SSLCertVerificationError | smtplib.SMTPNotSupportedError):
            return DeliveryRefused(one_line(detail))
        return Transient(detail)  # unreachable, timed out, disconnected
