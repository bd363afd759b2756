"""Email delivery: the outbox, a real SMTP server (aiosmtpd) and a local SendGrid API.

Everything runs on 127.0.0.1; the messages are checked as received, parsed back with
the standard ``email`` package. Retries are checked with the waits recorded (not slept):
``send_report(..., sleep=delays.append)``.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import email
import email.policy
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword

from builders import insights_doc
from conftest import free_port
from customer_pipeline.delivery import (
    BACKENDS,
    NOT_SENT,
    Message,
    OutboxFallback,
    outbox_paths,
    retry_after_seconds,
    send_report,
)
from customer_pipeline.errors import ConfigError, DeliveryError, DeliveryRefused
from customer_pipeline.insights import Ranked
from customer_pipeline.report import CSV_NAME, TEXT_NAME, Report, RunFacts, build_report
from customer_pipeline.settings import EMAIL_BACKENDS, Settings, parse_date

DAY = parse_date("2024-03-15")
SENDER = "reports@shop.test"
RECIPIENTS = ("manager@shop.test", "owner@shop.test")
API_KEY = "SG.test-key"
SMTP_USER, SMTP_PASSWORD = "reporter", "s3cret-pw"


# -- the report -----------------------------------------------------------------------------
def accented_metrics() -> dict[str, Any]:
    """A KPI document shaped like compute_metrics' result, with non-ASCII names."""
    return {
        "business_date": DAY.isoformat(),
        "transaction_count": 1234,
        "total_sales": 98765.43,
        "total_quantity_sold": 4321,
        "average_transaction_amount": 80.04,
        "min_transaction_amount": 1.25,
        "max_transaction_amount": 999.99,
        "unique_customers": 99,
        "top_product": {"product_id": 7, "product_name": "Crème brûlée set", "sales": 500.0},
        "top_customer": {
            "customer_id": "3f2b8c1e-0000-4000-8000-000000000001",
            "first_name": "Jürgen",
            "last_name": "Müller",
            "sales": 400.0,
        },
        "top_store": {"store_id": 3, "store_name": "O'Brien & <Sons>", "sales": 300.0},
        "payment_methods": {
            "Cash": {"count": 234, "sales": 8765.43},
            "Credit Card": {"count": 1000, "sales": 90000.0},
        },
        "basket_count": 400,
        "average_basket_value": 246.91,
        "items_per_basket": 10.8,
        "new_customers": 3,
        "returning_customers": 96,
        "discount_total": 543.21,
        "promotion_sales": 6543.21,
        "promotion_transactions": 77,
        "returns_count": 12,
        "refund_total": 321.09,
        "net_sales": 98444.34,
        "return_rate_by_category": {"Clothing": 0.0812},
    }


@pytest.fixture(scope="module")
def report() -> Report:
    """The whole report: charts, history, breakdowns, top 5s, run facts."""
    insights = dataclasses.replace(
        insights_doc(),
        top_customers=(Ranked(1, "c1", "Jürgen Müller", "j***@exemple.de", 2, 3, 400.0),),
        top_products=(Ranked(1, "7", "Crème brûlée set", "Food", 5, 9, 500.0),),
    )
    return build_report(
        Settings(),
        accented_metrics(),
        insights=insights,
        run=RunFacts({"transactions": 1234}, 42, 3.5, "run-1"),
    )


@pytest.fixture
def delays() -> list[float]:
    """The waits between attempts, recorded instead of slept (pass ``sleep=delays.append``)."""
    return []


#: Retries as configured in these tests: 4 attempts, 0.5 s doubling, at most 5 s.
RETRIES = {"email_attempts": 4, "email_retry_delay": 0.5, "email_retry_max_delay": 5.0}


def lf(text: str) -> str:
    return text.replace("\r\n", "\n")


def check_message(message: EmailMessage, report: Report) -> None:
    """The received message: headers, both alternatives, the inline charts, the files."""
    assert message["Subject"] == report.subject
    assert message["From"] == SENDER
    assert [a.addr_spec for a in message["To"].addresses] == list(RECIPIENTS)
    assert message["Date"] is not None
    assert message["Message-ID"].endswith("@shop.test>")
    assert message.get_all("MIME-Version") == ["1.0"]
    assert message.get_content_type() == "multipart/mixed"
    assert [p.get_content_type() for p in message.walk()] == [
        "multipart/mixed",
        "multipart/related",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "image/png",
        "image/png",
        "text/plain",
        "text/csv",
    ]

    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None
    assert html is not None
    assert lf(plain.get_content()) == report.text
    assert lf(html.get_content()) == report.html
    assert "Jürgen Müller" in plain.get_content()
    assert "O&#39;Brien &amp; &lt;Sons&gt;" in html.get_content()

    # the charts: inline, by Content-ID, each referenced from the HTML
    related = next(p for p in message.walk() if p.get_content_type() == "multipart/related")
    assert related.get_param("type") == "multipart/alternative"
    root, *images = related.iter_parts()
    assert root.get_content_type() == "multipart/alternative"
    assert len(images) == len(report.images) == 2
    for part, image in zip(images, report.images, strict=True):
        assert part["Content-ID"] == f"<{image.cid}>"
        assert part.get_content_disposition() == "inline"
        assert part.get_filename() == image.filename
        assert part.get_content() == image.data
        assert f'src="cid:{image.cid}"' in html.get_content()

    attachments = list(message.iter_attachments())
    assert [a.get_filename() for a in attachments] == [TEXT_NAME, CSV_NAME]
    for attachment, file in zip(attachments, report.files(), strict=True):
        assert attachment.get_content_disposition() == "attachment"
        assert attachment.get_content_type() == f"text/{file.subtype}"
        assert attachment.get_content_charset() == "utf-8"
        assert lf(attachment.get_content()) == lf(file.content)
    assert lf(attachments[0].get_content()) == report.text


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


# -- outbox ----------------------------------------------------------------------------------
def test_outbox_writes_the_message_and_the_html(tmp_path: Path, report: Report) -> None:
    settings = Settings(
        outbox_dir=tmp_path / "outbox", email_from=SENDER, email_to=RECIPIENTS
    ).validate()
    where = send_report(settings, DAY, report)

    eml = tmp_path / "outbox" / "2024-03-15-daily-report.eml"
    html = tmp_path / "outbox" / "2024-03-15-daily-report.html"
    assert outbox_paths(settings, DAY) == (eml, html)
    assert where == str(eml)
    assert sorted(p.name for p in (tmp_path / "outbox").iterdir()) == [eml.name, html.name]
    # the HTML beside it opens in a browser: the charts are in it
    assert html.read_text(encoding="utf-8") == report.browser_html()
    assert "cid:" not in html.read_text(encoding="utf-8")
    raw = eml.read_bytes()
    raw.decode("ascii")  # 7-bit clean: any transport and any reader take it
    check_message(parse(raw), report)


def test_outbox_is_the_default_backend(tmp_path: Path, report: Report) -> None:
    settings = Settings(outbox_dir=tmp_path).validate()
    send_report(settings, DAY, report)
    message = parse((tmp_path / "2024-03-15-daily-report.eml").read_bytes())
    assert message["To"] == "data-team@example.com"
    assert message["Subject"] == "Daily sales Fri 15 Mar: $98.4K"  # net sales


def test_outbox_replaces_an_earlier_message(tmp_path: Path, report: Report) -> None:
    settings = Settings(outbox_dir=tmp_path, email_from=SENDER, email_to=RECIPIENTS)
    send_report(settings, DAY, Report(subject="old", text="old\n", html="<p>old</p>"))
    send_report(settings, DAY, report)
    check_message(parse((tmp_path / "2024-03-15-daily-report.eml").read_bytes()), report)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "2024-03-15-daily-report.eml",
        "2024-03-15-daily-report.html",
    ]


# -- delivery failures: retries, and the outbox as the last resort ---------------------------
@pytest.fixture
def outbox(tmp_path: Path) -> Path:
    return tmp_path / "outbox"


def check_saved(error: DeliveryError, settings: Settings, report: Report) -> None:
    """The undelivered message is in the outbox, and the error names the file."""
    eml, html = outbox_paths(settings, DAY)
    assert f"the report was saved to {eml.resolve()}" in str(error)
    assert "\n" not in str(error)
    check_message(parse(eml.read_bytes()), report)
    assert html.read_text(encoding="utf-8") == report.browser_html()


def failed_delivery(
    settings: Settings,
    report: Report,
    delays: list[float],
    error: type[DeliveryError] = DeliveryError,
    match: str | None = None,
) -> DeliveryError:
    """Delivery fails with `error`; the report is in the outbox and the error names it."""
    with pytest.raises(error, match=match) as caught:
        send_report(settings, DAY, report, sleep=delays.append)
    check_saved(caught.value, settings, report)
    return caught.value


def test_retry_after_header() -> None:
    now = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(" 0 ") == 0.0
    assert retry_after_seconds("-5") == 0.0
    assert retry_after_seconds("Fri, 20 Nov 2026 12:00:30 GMT", now) == 30.0
    assert retry_after_seconds("Fri, 20 Nov 2026 11:00:00 GMT", now) == 0.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


# -- SMTP ------------------------------------------------------------------------------------
@dataclass
class Mailbox:
    """An aiosmtpd handler keeping every envelope it accepts.

    `data_replies`: answers to the next DATA commands (then 250), e.g. a 451 to see a retry.
    """

    envelopes: list[Envelope] = field(default_factory=list)
    logins: list[tuple[bytes, bytes]] = field(default_factory=list)
    unknown_users: set[str] = field(default_factory=set)
    busy_users: set[str] = field(default_factory=set)
    data_replies: list[str] = field(default_factory=list)
    attempts: int = 0

    # aiosmtpd's hooks: it passes server, session (and options, mechanism) whether used or not
    async def handle_RCPT(
        self, _server: Any, _session: Any, envelope: Envelope, address: str, _options: list[str]
    ) -> str:
        if address in self.unknown_users:
            return "550 5.1.1 No such user here"
        if address in self.busy_users:
            return "452 4.2.2 Mailbox full, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Envelope) -> str:
        self.attempts += 1
        if self.data_replies:
            return self.data_replies.pop(0)
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def authenticate(
        self, _server: Any, _session: Any, _envelope: Any, _mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        self.logins.append((auth_data.login, auth_data.password))
        ok = auth_data.login == SMTP_USER.encode() and auth_data.password == SMTP_PASSWORD.encode()
        # handled=False: let aiosmtpd answer 535 itself on a failure
        return AuthResult(success=ok, handled=False, auth_data=auth_data)


def start_smtp(mailbox: Mailbox, **smtp_parameters: Any) -> Controller:
    controller = Controller(
        mailbox, hostname="127.0.0.1", port=free_port(), ready_timeout=5, **smtp_parameters
    )
    controller.start()
    return controller


@pytest.fixture
def smtp_server() -> Iterator[tuple[Controller, Mailbox]]:
    mailbox = Mailbox()
    controller = start_smtp(mailbox)
    yield controller, mailbox
    controller.stop()


@pytest.fixture
def auth_smtp_server() -> Iterator[tuple[Controller, Mailbox]]:
    mailbox = Mailbox()
    controller = start_smtp(
        mailbox,
        authenticator=mailbox.authenticate,
        auth_required=True,
        auth_require_tls=False,
    )
    yield controller, mailbox
    controller.stop()


def smtp_settings(port: int, outbox: Path, **changes: Any) -> Settings:
    return Settings(
        email_backend="smtp",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_timeout=5,
        email_to=RECIPIENTS,
        outbox_dir=outbox,
        **{"email_from": SENDER, **RETRIES, **changes},
    ).validate()


def test_smtp_delivers_to_a_real_server(
    smtp_server: tuple[Controller, Mailbox], report: Report, outbox: Path
) -> None:
    controller, mailbox = smtp_server
    settings = smtp_settings(controller.port, outbox)
    where = send_report(settings, DAY, report)

    assert where == f"smtp://127.0.0.1:{controller.port} -> {', '.join(RECIPIENTS)}"
    assert len(mailbox.envelopes) == 1
    (envelope,) = mailbox.envelopes
    assert envelope.mail_from == SENDER
    assert envelope.rcpt_tos == list(settings.email_to)
    assert isinstance(envelope.content, bytes)
    envelope.content.decode("ascii")  # 7-bit clean, as sent
    check_message(parse(envelope.content), report)
    assert not outbox.exists()  # delivered: nothing saved


def test_smtp_retries_a_temporary_failure(
    smtp_server: tuple[Controller, Mailbox], report: Report, outbox: Path, delays: list[float]
) -> None:
    controller, mailbox = smtp_server
    mailbox.data_replies = ["451 4.3.0 Temporary failure, try again", "421 4.3.2 Busy"]
    send_report(smtp_settings(controller.port, outbox), DAY, report, sleep=delays.append)
    assert mailbox.attempts == 3
    assert delays == [0.5, 1.0]  # exponential backoff from email_retry_delay
    (envelope,) = mailbox.envelopes
    check_message(parse(envelope.content), report)


def test_smtp_gives_up_after_the_last_attempt(
    smtp_server: tuple[Controller, Mailbox], report: Report, outbox: Path, delays: list[float]
) -> None:
    controller, mailbox = smtp_server
    mailbox.data_replies = ["451 4.3.0 Try again"] * 10
    settings = smtp_settings(controller.port, outbox, email_retry_max_delay=0.75)
    error = failed_delivery(settings, report, delays)
    assert not isinstance(error, DeliveryRefused)  # worth another try later
    assert mailbox.attempts == 4
    assert delays == [0.5, 0.75, 0.75]  # capped
    message = str(error)
    assert f"127.0.0.1:{controller.port}" in message
    assert "451 4.3.0 Try again" in message
    assert "gave up after 4 attempts" in message


def test_smtp_permanent_failure_is_not_retried(
    smtp_server: tuple[Controller, Mailbox], report: Report, outbox: Path, delays: list[float]
) -> None:
    controller, mailbox = smtp_server
    mailbox.data_replies = ["554 5.7.1 Message rejected as spam"]
    settings = smtp_settings(controller.port, outbox)
    failed_delivery(
        settings, report, delays, DeliveryRefused, match=r"554 5\.7\.1 Message rejected as spam"
    )
    assert mailbox.attempts == 1
    assert delays == []


def test_smtp_server_not_listening(report: Report, outbox: Path, delays: list[float]) -> None:
    port = free_port()
    settings = smtp_settings(port, outbox)
    error = failed_delivery(settings, report, delays)
    message = str(error)
    assert f"127.0.0.1:{port}" in message
    assert "gave up after 4 attempts" in message
    assert delays == [0.5, 1.0, 2.0]


def test_smtp_retries_really_wait(report: Report, outbox: Path) -> None:
    settings = smtp_settings(free_port(), outbox, email_attempts=3, email_retry_delay=0.05)
    started = time.monotonic()
    with pytest.raises(DeliveryError, match="gave up after 3 attempts"):
        send_report(settings, DAY, report)
    assert time.monotonic() - started >= 0.15  # 0.05 + 0.1


def test_smtp_some_recipients_refused(
    smtp_server: tuple[Controller, Mailbox], report: Report, outbox: Path, delays: list[float]
) -> None:
    controller, mailbox = smtp_server
    mailbox.unknown_users = {"owner@shop.test"}
    settings = smtp_settings(controller.port, outbox)
    error = failed_delivery(settings, report, delays, DeliveryRefused)
    message = str(error)
    assert f"127.0.0.1:{controller.port}" in message
    assert "owner@shop.test (550)" in message
    assert "manager@shop.test" not in message.partition(";")[0]
    # the others got it once: no retry, which would send it to them again
    assert [e.rcpt_tos for e in mailbox.envelopes] == [["manager@shop.test"]]
    assert delays == []


def test_smtp_every_recipient_refused(
    smtp_server: tuple[Controller, Mailbox], report: Report, outbox: Path, delays: list[float]
) -> None:
    controller, mailbox = smtp_server
    mailbox.unknown_users = set(RECIPIENTS)
    settings = smtp_settings(controller.port, outbox)
    error = failed_delivery(settings, report, delays, DeliveryRefused)
    message = str(error)
    assert "refused every recipient" in message
    assert "manager@shop.test, owner@shop.test" in message
    assert "\n" not in message
    assert mailbox.envelopes == []
    assert delays == []


def test_smtp_recipients_temporarily_refused_are_retried(
    smtp_server: tuple[Controller, Mailbox], report: Report, outbox: Path, delays: list[float]
) -> None:
    controller, mailbox = smtp_server
    mailbox.busy_users = set(RECIPIENTS)
    error = failed_delivery(
        smtp_settings(controller.port, outbox), report, delays, match="gave up after 4 attempts"
    )
    assert not isinstance(error, DeliveryRefused)
    assert len(delays) == 3


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtp_login(
    auth_smtp_server: tuple[Controller, Mailbox], report: Report, outbox: Path
) -> None:
    controller, mailbox = auth_smtp_server
    settings = smtp_settings(
        controller.port, outbox, smtp_user=SMTP_USER, smtp_password=SMTP_PASSWORD
    )
    send_report(settings, DAY, report)

    assert mailbox.logins == [(SMTP_USER.encode(), SMTP_PASSWORD.encode())]
    assert len(mailbox.envelopes) == 1
    assert mailbox.envelopes[0].rcpt_tos == list(RECIPIENTS)
    check_message(parse(mailbox.envelopes[0].content), report)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtp_wrong_password(
    auth_smtp_server: tuple[Controller, Mailbox], report: Report, outbox: Path, delays: list[float]
) -> None:
    controller, mailbox = auth_smtp_server
    settings = smtp_settings(controller.port, outbox, smtp_user=SMTP_USER, smtp_password="wrong-pw")
    error = failed_delivery(settings, report, delays, DeliveryRefused)
    message = str(error)
    assert f"127.0.0.1:{controller.port}" in message
    assert f"refused the login of user '{SMTP_USER}'" in message
    assert "535" in message
    assert "wrong-pw" not in message
    assert "\n" not in message
    # smtplib tries each mechanism offered (PLAIN, then LOGIN): every attempt was refused
    assert mailbox.logins
    assert set(mailbox.logins) == {(SMTP_USER.encode(), b"wrong-pw")}
    assert mailbox.envelopes == []
    assert delays == []  # a wrong password does not get better


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtp_without_login_where_required(
    auth_smtp_server: tuple[Controller, Mailbox], report: Report, outbox: Path, delays: list[float]
) -> None:
    controller, mailbox = auth_smtp_server
    error = failed_delivery(
        smtp_settings(controller.port, outbox), report, delays, DeliveryRefused, match=r"530"
    )
    assert "\n" not in str(error)
    assert mailbox.envelopes == []
    assert delays == []


# -- SendGrid --------------------------------------------------------------------------------
@dataclass
class FakeSendGrid:
    """A local stand-in for SendGrid's v3 API: what it received, and what it answers.

    `statuses`: the answers to the next requests, in order (then `status`); a 429 comes
    with the Retry-After header `retry_after`.
    """

    status: int = 202
    statuses: list[int] = field(default_factory=list)
    retry_after: str | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0


def sendgrid_handler(api: FakeSendGrid) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            api.requests.append({"path": self.path, "headers": self.headers, "body": body})
            status = api.statuses.pop(0) if api.statuses else api.status
            if self.path != "/v3/mail/send":
                self._answer(404, {"errors": [{"message": "not found"}]})
            elif status in (401, 403):
                # a careless server echoing the credential: it must not reach our message
                auth = self.headers.get("Authorization", "")
                self._answer(status, {"errors": [{"message": f"invalid credential {auth}"}]})
            elif status == 429:
                headers = {"Retry-After": api.retry_after} if api.retry_after else {}
                self._answer(429, {"errors": [{"message": "too many requests"}]}, headers)
            elif status >= 400:
                self._answer(status, {"errors": [{"message": "internal error"}]})
            else:
                self._answer(status, None)

        def _answer(
            self,
            status: int,
            document: dict[str, Any] | None,
            headers: dict[str, str] | None = None,
        ) -> None:
            payload = b"" if document is None else json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    return Handler


@pytest.fixture
def sendgrid_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSendGrid]:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("ALL_PROXY", raising=False)
    api = FakeSendGrid()
    server = ThreadingHTTPServer(("127.0.0.1", 0), sendgrid_handler(api))
    api.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    yield api
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def sendgrid_settings(port: int, outbox: Path, **changes: Any) -> Settings:
    return Settings(
        email_backend="sendgrid",
        sendgrid_host=f"http://127.0.0.1:{port}",
        sendgrid_api_key=API_KEY,
        email_to=RECIPIENTS,
        outbox_dir=outbox,
        **{"email_from": SENDER, **RETRIES, **changes},
    ).validate()


def check_payload(request: dict[str, Any], report: Report) -> None:
    """The v3 mail/send payload: who, what, and every part with its content id."""
    assert request["path"] == "/v3/mail/send"
    assert request["headers"]["Authorization"] == f"Bearer {API_KEY}"
    assert request["headers"]["Content-Type"].startswith("application/json")
    payload = json.loads(request["body"])

    assert len(payload["personalizations"]) == 1
    assert [to["email"] for to in payload["personalizations"][0]["to"]] == list(RECIPIENTS)
    assert payload["from"]["email"] == SENDER
    assert payload["subject"] == report.subject
    # text/plain first, as the API requires
    assert [c["type"] for c in payload["content"]] == ["text/plain", "text/html"]
    assert payload["content"][0]["value"] == report.text
    assert payload["content"][1]["value"] == report.html

    attachments = payload["attachments"]
    inline = [a for a in attachments if a["disposition"] == "inline"]
    files = [a for a in attachments if a["disposition"] == "attachment"]
    assert len(inline) + len(files) == len(attachments)
    assert [a["content_id"] for a in inline] == [image.cid for image in report.images]
    for attachment, image in zip(inline, report.images, strict=True):
        assert attachment["type"] == "image/png"
        assert attachment["filename"] == image.filename
        assert base64.b64decode(attachment["content"], validate=True) == image.data
        assert f'src="cid:{attachment["content_id"]}"' in report.html
    assert [(a["filename"], a["type"]) for a in files] == [
        (TEXT_NAME, "text/plain"),
        (CSV_NAME, "text/csv"),
    ]
    assert all("content_id" not in a for a in files)
    assert base64.b64decode(files[0]["content"], validate=True).decode("utf-8") == report.text
    csv_text = base64.b64decode(files[1]["content"], validate=True).decode("utf-8")
    assert csv_text == report.attachments[0].content


def test_sendgrid_posts_the_message(
    sendgrid_api: FakeSendGrid, report: Report, outbox: Path
) -> None:
    where = send_report(sendgrid_settings(sendgrid_api.port, outbox), DAY, report)

    assert where == f"sendgrid (202) -> {', '.join(RECIPIENTS)}"
    (request,) = sendgrid_api.requests
    check_payload(request, report)
    assert not outbox.exists()


def test_sendgrid_retries_after_429_as_told(
    sendgrid_api: FakeSendGrid, report: Report, outbox: Path, delays: list[float]
) -> None:
    sendgrid_api.statuses = [429]
    sendgrid_api.retry_after = "3"
    where = send_report(
        sendgrid_settings(sendgrid_api.port, outbox), DAY, report, sleep=delays.append
    )
    assert "202" in where
    assert len(sendgrid_api.requests) == 2
    assert delays == [3.0]  # the server's Retry-After, not the 0.5 s backoff
    for request in sendgrid_api.requests:
        check_payload(request, report)


def test_sendgrid_retry_after_is_capped(
    sendgrid_api: FakeSendGrid, report: Report, outbox: Path, delays: list[float]
) -> None:
    sendgrid_api.statuses = [429, 429]
    sendgrid_api.retry_after = "3600"
    send_report(sendgrid_settings(sendgrid_api.port, outbox), DAY, report, sleep=delays.append)
    assert delays == [5.0, 5.0]  # email_retry_max_delay


def test_sendgrid_429_then_202_really_waits(
    sendgrid_api: FakeSendGrid, report: Report, outbox: Path
) -> None:
    sendgrid_api.statuses = [429]
    sendgrid_api.retry_after = "1"
    settings = sendgrid_settings(sendgrid_api.port, outbox, email_retry_max_delay=0.2)
    started = time.monotonic()
    assert "202" in send_report(settings, DAY, report)
    assert time.monotonic() - started >= 0.2
    assert len(sendgrid_api.requests) == 2


def test_sendgrid_server_error(
    sendgrid_api: FakeSendGrid, report: Report, outbox: Path, delays: list[float]
) -> None:
    sendgrid_api.status = 500
    settings = sendgrid_settings(sendgrid_api.port, outbox)
    error = failed_delivery(settings, report, delays, match=r"HTTP 500")
    assert not isinstance(error, DeliveryRefused)
    message = str(error)
    assert "gave up after 4 attempts" in message
    assert API_KEY not in message
    assert len(sendgrid_api.requests) == 4
    assert delays == [0.5, 1.0, 2.0]


def test_sendgrid_server_error_then_success(
    sendgrid_api: FakeSendGrid, report: Report, outbox: Path, delays: list[float]
) -> None:
    sendgrid_api.statuses = [500, 503]
    assert "202" in send_report(
        sendgrid_settings(sendgrid_api.port, outbox), DAY, report, sleep=delays.append
    )
    assert len(sendgrid_api.requests) == 3
    assert delays == [0.5, 1.0]
    assert not outbox.exists()


@pytest.mark.parametrize(
    ("status", "cause"),
    [
        (401, "the API key is invalid or revoked"),
        (403, "the API key may not send mail, or the sender address is not a verified"),
        (400, "the message was refused"),
        (413, "the message is too large"),
    ],
)
def test_sendgrid_refusals_fail_at_once(
    sendgrid_api: FakeSendGrid,
    report: Report,
    outbox: Path,
    delays: list[float],
    status: int,
    cause: str,
) -> None:
    sendgrid_api.status = status
    settings = sendgrid_settings(sendgrid_api.port, outbox)
    error = failed_delivery(settings, report, delays, DeliveryRefused)
    message = str(error)
    assert f"HTTP {status}" in message
    assert cause in message
    assert API_KEY not in message
    assert "test-key" not in message
    assert "\n" not in message
    assert len(sendgrid_api.requests) == 1
    assert delays == []
    # nothing in the chain of exceptions holds the key either
    chained: BaseException | None = error
    while chained is not None:
        assert API_KEY not in str(chained)
        chained = chained.__cause__


def test_sendgrid_unreachable(
    report: Report, outbox: Path, monkeypatch: pytest.MonkeyPatch, delays: list[float]
) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    port = free_port()
    settings = sendgrid_settings(port, outbox)
    error = failed_delivery(settings, report, delays)
    message = str(error)
    assert f"http://127.0.0.1:{port}" in message
    assert "gave up after 4 attempts" in message
    assert API_KEY not in message
    assert len(delays) == 3


class BrokenBackend:
    """A backend with a bug: it fails with something no backend should raise."""

    name = "SMTP"

    def send(self, message: Message) -> str:  # noqa: ARG002 (the backends' interface)
        raise RuntimeError(f"bug near {API_KEY}")


def test_an_unexpected_error_still_saves_the_report(report: Report, outbox: Path) -> None:
    settings = smtp_settings(free_port(), outbox, sendgrid_api_key=API_KEY)
    backend = OutboxFallback(BrokenBackend(), settings)
    with pytest.raises(
        DeliveryError, match="smtp delivery failed: RuntimeError: bug near"
    ) as caught:
        backend.send(Message.of(settings, DAY, report))
    assert API_KEY not in str(caught.value)
    check_saved(caught.value, settings, report)


def test_outbox_unwritable_too(report: Report, tmp_path: Path, delays: list[float]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    settings = smtp_settings(free_port(), blocker / "outbox", email_attempts=1)
    with pytest.raises(DeliveryError) as caught:
        send_report(settings, DAY, report, sleep=delays.append)
    assert "saving the report to the outbox failed too" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_every_backend_setting_has_its_backend() -> None:
    assert set(BACKENDS) == set(EMAIL_BACKENDS)


# -- sender name, hidden recipients, alert-only ---------------------------------------------
NAMED = f"Sales Reports <{SENDER}>"


def test_the_sender_s_name_on_every_backend(
    smtp_server: tuple[Controller, Mailbox],
    sendgrid_api: FakeSendGrid,
    report: Report,
    outbox: Path,
) -> None:
    controller, mailbox = smtp_server
    send_report(smtp_settings(controller.port, outbox, email_from=NAMED), DAY, report)
    (envelope,) = mailbox.envelopes
    assert envelope.mail_from == SENDER  # the envelope: the address alone
    assert parse(envelope.content)["From"] == NAMED

    send_report(sendgrid_settings(sendgrid_api.port, outbox, email_from=NAMED), DAY, report)
    payload = json.loads(sendgrid_api.requests[0]["body"])
    assert payload["from"] == {"email": SENDER, "name": "Sales Reports"}

    saved = Settings(outbox_dir=outbox, email_from=NAMED, email_to=RECIPIENTS).validate()
    send_report(saved, DAY, report)
    message = parse(outbox_paths(saved, DAY)[0].read_bytes())
    assert message["From"] == NAMED
    assert message["From"].addresses[0].display_name == "Sales Reports"


def test_a_sender_s_name_may_be_non_ascii(report: Report, outbox: Path) -> None:
    settings = Settings(outbox_dir=outbox, email_from=f"Équipe Ventes <{SENDER}>").validate()
    send_report(settings, DAY, report)
    raw = outbox_paths(settings, DAY)[0].read_bytes()
    raw.decode("ascii")  # encoded as RFC 2047 words
    assert parse(raw)["From"].addresses[0].display_name == "Équipe Ventes"


@pytest.mark.parametrize(
    "sender", ["Sales <reports@>", f"{SENDER}, other@shop.test", f"Sales <{SENDER}> trailing"]
)
def test_a_bad_sender_is_one_line(sender: str) -> None:
    with pytest.raises(ConfigError, match=r"invalid (sender|email address)"):
        Settings(email_from=sender).validate()


def test_bcc_over_smtp_names_the_recipients_in_the_envelope_only(
    smtp_server: tuple[Controller, Mailbox], report: Report, outbox: Path
) -> None:
    controller, mailbox = smtp_server
    send_report(smtp_settings(controller.port, outbox, email_bcc=True), DAY, report)
    (envelope,) = mailbox.envelopes
    assert envelope.rcpt_tos == list(RECIPIENTS)
    received = parse(envelope.content)
    assert received["Bcc"] is None
    assert received["To"] == "undisclosed-recipients:;"
    assert not any(address.encode() in envelope.content for address in RECIPIENTS)


def test_bcc_with_sendgrid_is_one_personalization_per_recipient(
    sendgrid_api: FakeSendGrid, report: Report, outbox: Path
) -> None:
    send_report(sendgrid_settings(sendgrid_api.port, outbox, email_bcc=True), DAY, report)
    payload = json.loads(sendgrid_api.requests[0]["body"])
    found = [[to["email"] for to in p["to"]] for p in payload["personalizations"]]
    assert sorted(found) == sorted([address] for address in RECIPIENTS)
    assert all(set(p) == {"to"} for p in payload["personalizations"])  # no cc, no bcc


def test_bcc_in_the_outbox_is_recorded(report: Report, outbox: Path) -> None:
    settings = Settings(outbox_dir=outbox, email_to=RECIPIENTS, email_bcc=True).validate()
    send_report(settings, DAY, report)
    message = parse(outbox_paths(settings, DAY)[0].read_bytes())
    assert [a.addr_spec for a in message["Bcc"].addresses] == list(RECIPIENTS)
    assert message["To"] == "undisclosed-recipients:;"


def test_alert_only_sends_only_a_report_with_alerts(
    smtp_server: tuple[Controller, Mailbox],
    sendgrid_api: FakeSendGrid,
    report: Report,
    outbox: Path,
) -> None:
    controller, mailbox = smtp_server
    quiet, loud = dataclasses.replace(report, alerts=0), dataclasses.replace(report, alerts=2)
    for settings in (
        smtp_settings(controller.port, outbox, alert_only=True),
        sendgrid_settings(sendgrid_api.port, outbox, alert_only=True),
        Settings(outbox_dir=outbox, alert_only=True).validate(),
    ):
        assert send_report(settings, DAY, quiet) == NOT_SENT == "not sent: nothing unusual"
    assert (mailbox.envelopes, sendgrid_api.requests) == ([], [])
    assert not outbox.exists()
    for settings in (
        smtp_settings(controller.port, outbox, alert_only=True),
        sendgrid_settings(sendgrid_api.port, outbox, alert_only=True),
        Settings(outbox_dir=outbox, alert_only=True).validate(),
    ):
        assert send_report(settings, DAY, loud) != NOT_SENT
    assert (len(mailbox.envelopes), len(sendgrid_api.requests)) == (1, 1)
    assert outbox_paths(Settings(outbox_dir=outbox), DAY)[0].exists()
    # without alert-only, a report without alerts goes out as always
    send_report(smtp_settings(controller.port, outbox), DAY, quiet)
    assert len(mailbox.envelopes) == 2


def test_an_incident_is_sent_whatever_alert_only_says(outbox: Path) -> None:
    incident = dataclasses.replace(Report("failed", "failed\n", "<p>failed</p>"), kind="incident")
    where = send_report(Settings(outbox_dir=outbox, alert_only=True).validate(), DAY, incident)
    assert where.endswith("2024-03-15-incident.eml")
