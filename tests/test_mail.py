"""Email delivery: the outbox, a real SMTP server (aiosmtpd) and a local SendGrid API.

Everything runs on 127.0.0.1; the messages are checked as received, parsed back with
the standard ``email`` package.
"""

from __future__ import annotations

import base64
import email
import email.policy
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword

from customer_pipeline.errors import ConfigError, DeliveryError
from customer_pipeline.mail import outbox_paths, send_report
from customer_pipeline.report import TEXT_NAME, Report, build_report
from customer_pipeline.settings import Settings, parse_date

DAY = parse_date("2024-03-15")
SENDER = "reports@shop.test"
RECIPIENTS = ("manager@shop.test", "owner@shop.test")
API_KEY = "SG.test-key"
SMTP_USER, SMTP_PASSWORD = "reporter", "s3cret-pw"


# -- the report -----------------------------------------------------------------------------
def metrics_doc() -> dict[str, Any]:
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
    }


@pytest.fixture
def report() -> Report:
    return build_report(Settings(), metrics_doc())


def lf(text: str) -> str:
    return text.replace("\r\n", "\n")


def check_message(message: EmailMessage, report: Report) -> None:
    """The received message: headers, both alternatives and the attachment, as sent."""
    assert message["Subject"] == report.subject
    assert message["From"] == SENDER
    assert [a.addr_spec for a in message["To"].addresses] == list(RECIPIENTS)
    assert message["Date"] is not None
    assert message["Message-ID"].endswith("@shop.test>")
    assert message.get_content_type() == "multipart/mixed"

    alternative = message.get_body(preferencelist=("related", "html", "plain"))
    assert alternative is not None
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None
    assert html is not None
    assert [p.get_content_type() for p in message.walk()] == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "text/plain",
    ]
    assert lf(plain.get_content()) == report.text
    assert lf(html.get_content()) == report.html
    assert "Jürgen Müller" in plain.get_content()
    assert "O&#39;Brien &amp; &lt;Sons&gt;" in html.get_content()

    attachments = list(message.iter_attachments())
    assert len(attachments) == 1
    (attachment,) = attachments
    assert attachment.get_filename() == TEXT_NAME
    assert attachment.get_content_disposition() == "attachment"
    assert attachment.get_content_type() == "text/plain"
    assert attachment.get_content_charset() == "utf-8"
    assert lf(attachment.get_content()) == report.text


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def free_port() -> int:
    """A port nothing listens on (just released by the kernel)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
    assert html.read_text(encoding="utf-8") == report.html
    raw = eml.read_bytes()
    raw.decode("ascii")  # 7-bit clean: any transport and any reader take it
    check_message(parse(raw), report)


def test_outbox_is_the_default_backend(tmp_path: Path, report: Report) -> None:
    settings = Settings(outbox_dir=tmp_path).validate()
    send_report(settings, DAY, report)
    message = parse((tmp_path / "2024-03-15-daily-report.eml").read_bytes())
    assert message["To"] == "data-team@example.com"
    assert message["Subject"] == "Daily Metrics Report 2024-03-15"


def test_outbox_replaces_an_earlier_message(tmp_path: Path, report: Report) -> None:
    settings = Settings(outbox_dir=tmp_path, email_from=SENDER, email_to=RECIPIENTS)
    send_report(settings, DAY, Report(subject="old", text="old\n", html="<p>old</p>"))
    send_report(settings, DAY, report)
    check_message(parse((tmp_path / "2024-03-15-daily-report.eml").read_bytes()), report)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "2024-03-15-daily-report.eml",
        "2024-03-15-daily-report.html",
    ]


# -- SMTP ------------------------------------------------------------------------------------
@dataclass
class Mailbox:
    """An aiosmtpd handler keeping every envelope it accepts."""

    envelopes: list[Envelope] = field(default_factory=list)
    logins: list[tuple[bytes, bytes]] = field(default_factory=list)
    unknown_users: set[str] = field(default_factory=set)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.unknown_users:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
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


def smtp_settings(port: int, **changes: Any) -> Settings:
    return Settings(
        email_backend="smtp",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_timeout=5,
        email_from=SENDER,
        email_to=RECIPIENTS,
        **changes,
    ).validate()


def test_smtp_delivers_to_a_real_server(
    smtp_server: tuple[Controller, Mailbox], report: Report
) -> None:
    controller, mailbox = smtp_server
    settings = smtp_settings(controller.port)
    where = send_report(settings, DAY, report)

    assert where == f"smtp://127.0.0.1:{controller.port} -> {', '.join(RECIPIENTS)}"
    assert len(mailbox.envelopes) == 1
    (envelope,) = mailbox.envelopes
    assert envelope.mail_from == SENDER
    assert envelope.rcpt_tos == list(settings.email_to)
    assert isinstance(envelope.content, bytes)
    check_message(parse(envelope.content), report)


def test_smtp_server_not_listening(report: Report) -> None:
    port = free_port()
    with pytest.raises(DeliveryError) as caught:
        send_report(smtp_settings(port), DAY, report)
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message
    assert "\n" not in message


def test_smtp_some_recipients_refused(
    smtp_server: tuple[Controller, Mailbox], report: Report
) -> None:
    controller, mailbox = smtp_server
    mailbox.unknown_users = {"owner@shop.test"}
    with pytest.raises(DeliveryError) as caught:
        send_report(smtp_settings(controller.port), DAY, report)
    message = str(caught.value)
    assert f"127.0.0.1:{controller.port}" in message
    assert "owner@shop.test" in message
    assert "manager@shop.test" not in message
    assert [e.rcpt_tos for e in mailbox.envelopes] == [["manager@shop.test"]]


def test_smtp_every_recipient_refused(
    smtp_server: tuple[Controller, Mailbox], report: Report
) -> None:
    controller, mailbox = smtp_server
    mailbox.unknown_users = set(RECIPIENTS)
    with pytest.raises(DeliveryError) as caught:
        send_report(smtp_settings(controller.port), DAY, report)
    message = str(caught.value)
    assert "refused every recipient" in message
    assert "manager@shop.test, owner@shop.test" in message
    assert "\n" not in message
    assert mailbox.envelopes == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtp_login(auth_smtp_server: tuple[Controller, Mailbox], report: Report) -> None:
    controller, mailbox = auth_smtp_server
    settings = smtp_settings(controller.port, smtp_user=SMTP_USER, smtp_password=SMTP_PASSWORD)
    send_report(settings, DAY, report)

    assert mailbox.logins == [(SMTP_USER.encode(), SMTP_PASSWORD.encode())]
    assert len(mailbox.envelopes) == 1
    assert mailbox.envelopes[0].rcpt_tos == list(RECIPIENTS)
    check_message(parse(mailbox.envelopes[0].content), report)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtp_wrong_password(auth_smtp_server: tuple[Controller, Mailbox], report: Report) -> None:
    controller, mailbox = auth_smtp_server
    settings = smtp_settings(controller.port, smtp_user=SMTP_USER, smtp_password="wrong-pw")
    with pytest.raises(DeliveryError) as caught:
        send_report(settings, DAY, report)
    message = str(caught.value)
    assert f"127.0.0.1:{controller.port}" in message
    assert "535" in message
    assert "wrong-pw" not in message
    assert "\n" not in message
    # smtplib tries each mechanism offered (PLAIN, then LOGIN): every attempt was refused
    assert mailbox.logins
    assert set(mailbox.logins) == {(SMTP_USER.encode(), b"wrong-pw")}
    assert mailbox.envelopes == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtp_without_login_where_required(
    auth_smtp_server: tuple[Controller, Mailbox], report: Report
) -> None:
    controller, mailbox = auth_smtp_server
    with pytest.raises(DeliveryError, match=r"530") as caught:
        send_report(smtp_settings(controller.port), DAY, report)
    assert "\n" not in str(caught.value)
    assert mailbox.envelopes == []


# -- SendGrid --------------------------------------------------------------------------------
@dataclass
class FakeSendGrid:
    """What a local stand-in for the SendGrid v3 API received, and what it answers."""

    status: int = 202
    requests: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0


def sendgrid_handler(api: FakeSendGrid) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            api.requests.append({"path": self.path, "headers": self.headers, "body": body})
            if self.path != "/v3/mail/send":
                self._answer(404, {"errors": [{"message": "not found"}]})
            elif api.status == 401:
                # a careless server echoing the credential: it must not reach our message
                auth = self.headers.get("Authorization", "")
                self._answer(401, {"errors": [{"message": f"invalid credential {auth}"}]})
            elif api.status >= 400:
                self._answer(api.status, {"errors": [{"message": "internal error"}]})
            else:
                self._answer(api.status, None)

        def _answer(self, status: int, document: dict[str, Any] | None) -> None:
            payload = b"" if document is None else json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
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


def sendgrid_settings(port: int) -> Settings:
    return Settings(
        email_backend="sendgrid",
        sendgrid_host=f"http://127.0.0.1:{port}",
        sendgrid_api_key=API_KEY,
        email_from=SENDER,
        email_to=RECIPIENTS,
    ).validate()


def test_sendgrid_posts_the_message(sendgrid_api: FakeSendGrid, report: Report) -> None:
    where = send_report(sendgrid_settings(sendgrid_api.port), DAY, report)

    assert "sendgrid" in where
    assert "202" in where
    assert len(sendgrid_api.requests) == 1
    (request,) = sendgrid_api.requests
    assert request["path"] == "/v3/mail/send"
    assert request["headers"]["Authorization"] == f"Bearer {API_KEY}"
    assert request["headers"]["Content-Type"].startswith("application/json")
    payload = json.loads(request["body"])

    assert len(payload["personalizations"]) == 1
    assert [to["email"] for to in payload["personalizations"][0]["to"]] == list(RECIPIENTS)
    assert payload["from"]["email"] == SENDER
    assert payload["subject"] == report.subject
    assert [c["type"] for c in payload["content"]] == ["text/plain", "text/html"]
    assert payload["content"][0]["value"] == report.text
    assert payload["content"][1]["value"] == report.html
    assert len(payload["attachments"]) == 1
    (attachment,) = payload["attachments"]
    assert attachment["filename"] == TEXT_NAME
    assert attachment["type"] == "text/plain"
    assert attachment["disposition"] == "attachment"
    assert base64.b64decode(attachment["content"], validate=True).decode("utf-8") == report.text


def test_sendgrid_unauthorized(sendgrid_api: FakeSendGrid, report: Report) -> None:
    sendgrid_api.status = 401
    with pytest.raises(DeliveryError) as caught:
        send_report(sendgrid_settings(sendgrid_api.port), DAY, report)
    message = str(caught.value)
    assert "HTTP 401" in message
    assert API_KEY not in message
    assert "test-key" not in message
    assert "\n" not in message
    assert caught.value.__cause__ is None
    assert len(sendgrid_api.requests) == 1


def test_sendgrid_server_error(sendgrid_api: FakeSendGrid, report: Report) -> None:
    sendgrid_api.status = 500
    with pytest.raises(DeliveryError, match=r"HTTP 500") as caught:
        send_report(sendgrid_settings(sendgrid_api.port), DAY, report)
    assert "\n" not in str(caught.value)
    assert API_KEY not in str(caught.value)
    assert len(sendgrid_api.requests) == 1  # no retries (yet)


def test_sendgrid_unreachable(report: Report, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    port = free_port()
    with pytest.raises(DeliveryError) as caught:
        send_report(sendgrid_settings(port), DAY, report)
    message = str(caught.value)
    assert f"http://127.0.0.1:{port}" in message
    assert API_KEY not in message
    assert "\n" not in message


# -- settings --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"email_backend": "pigeon"}, r"unknown email backend 'pigeon'"),
        ({"email_to": ("manager-at-shop.test",)}, r"invalid email address 'manager-at-shop.test'"),
        ({"email_from": "reports@"}, r"invalid email address 'reports@'"),
        ({"email_to": ()}, r"no email recipient"),
        ({"email_backend": "sendgrid"}, r"needs an API key"),
        ({"email_backend": "sendgrid", "sendgrid_api_key": ""}, r"needs an API key"),
        (
            {"email_backend": "smtp", "email_from": Settings().email_from},
            r"customer-pipeline@example.com is a placeholder",
        ),
        (
            {"email_backend": "smtp", "email_to": Settings().email_to},
            r"data-team@example.com is a placeholder",
        ),
        (
            {"email_backend": "sendgrid", "email_to": Settings().email_to, "sendgrid_api_key": "k"},
            r"placeholder",
        ),
        ({"email_backend": "smtp", "smtp_port": 0}, r"invalid SMTP port 0"),
        ({"email_backend": "smtp", "smtp_port": 65536}, r"invalid SMTP port 65536"),
    ],
)
def test_email_settings_are_validated(changes: dict[str, Any], match: str) -> None:
    settings = Settings(email_from=SENDER, email_to=RECIPIENTS).replace(**changes)
    if "email_to" in changes:  # the case really is what it claims
        assert settings.email_to == tuple(changes["email_to"])
    with pytest.raises(ConfigError, match=match) as caught:
        settings.validate()
    assert "\n" not in str(caught.value)


def test_placeholders_are_fine_for_the_outbox() -> None:
    assert Settings().validate().email_to == ("data-team@example.com",)


@pytest.mark.parametrize("backend", ["smtp", "sendgrid"])
def test_real_addresses_are_accepted(backend: str) -> None:
    settings = Settings(
        email_backend=backend, email_from=SENDER, email_to=RECIPIENTS, sendgrid_api_key=API_KEY
    )
    assert settings.validate() is settings


def test_api_key_is_not_in_the_settings_repr() -> None:
    assert API_KEY not in repr(Settings(sendgrid_api_key=API_KEY, smtp_password=API_KEY))
