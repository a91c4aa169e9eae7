"""E-mail over a REAL local SMTP server (aiosmtpd): settings, sending, and the ad-hoc receipt e-mail
with its PDF, delivered once through the outbox."""

from __future__ import annotations

import email
import socket
from datetime import timedelta
from email import policy

import pytest
from sqlalchemy import select

from billing_helpers import bundle, ingest_samples
from engine.mail import Attachment, MailError, SmtpMailer, SmtpSettings, build_message, mailer_from_env, \
    settings_from_env
from engine.providers.local import LocalProvider
from engine.store._sql import utcnow
from engine.store.models import OutboxMessage
from engine.streams.adhoc import issue_adhoc_documents
from engine.streams.worker import run_outbox

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Sink:
    def __init__(self) -> None:
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def messages(self):
        return [email.message_from_bytes(e.content, policy=policy.default) for e in self.envelopes]


@pytest.fixture
def smtp():
    sink = _Sink()
    controller = aiosmtpd_controller.Controller(sink, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield sink, controller.port
    finally:
        controller.stop()


@pytest.fixture
def smtp_env(smtp, monkeypatch):
    sink, port = smtp
    monkeypatch.setenv("CDRFLOW_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("CDRFLOW_SMTP_PORT", str(port))
    monkeypatch.setenv("CDRFLOW_SMTP_FROM", "billing@voltaro.example")
    return sink


def test_settings_come_from_the_environment():
    assert settings_from_env({}) is None
    s = settings_from_env({"CDRFLOW_SMTP_HOST": "mail.example", "CDRFLOW_SMTP_FROM": "a@b.example"})
    assert (s.host, s.port, s.sender, s.security) == ("mail.example", 25, "a@b.example", "none")
    s = settings_from_env({"CDRFLOW_SMTP_HOST": "mail.example", "CDRFLOW_SMTP_SECURITY": "starttls"},
                          default_sender="billing@voltaro.example")
    assert (s.port, s.sender) == (587, "billing@voltaro.example")
    with pytest.raises(MailError):
        settings_from_env({"CDRFLOW_SMTP_HOST": "x", "CDRFLOW_SMTP_PORT": "smtp"})
    with pytest.raises(MailError):
        settings_from_env({"CDRFLOW_SMTP_HOST": "x", "CDRFLOW_SMTP_SECURITY": "tls1.0"})


def test_a_message_with_a_pdf_reaches_the_smtp_server(smtp):
    sink, port = smtp
    pdf = b"%PDF-1.7\n% test\n"
    mailer = SmtpMailer(SmtpSettings("127.0.0.1", port, "billing@voltaro.example"))
    mailer.send(build_message(sender=mailer.sender, to="anna@example.org", subject="Rechnung AH-1", body="Hallo",
                              attachments=[Attachment("AH-1.pdf", pdf, "application", "pdf")]))
    [envelope] = sink.envelopes
    assert envelope.mail_from == "billing@voltaro.example" and envelope.rcpt_tos == ["anna@example.org"]
    [message] = sink.messages()
    assert message["Subject"] == "Rechnung AH-1"
    [part] = list(message.iter_attachments())
    assert part.get_filename() == "AH-1.pdf" and part.get_content_type() == "application/pdf"
    assert part.get_content() == pdf


def test_an_unreachable_server_is_a_mail_error():
    mailer = SmtpMailer(SmtpSettings("127.0.0.1", _free_port()))
    with pytest.raises(MailError):
        mailer.send(build_message(sender="a@b.example", to="c@d.example", subject="s", body="b"))


def test_the_adhoc_receipt_is_mailed_to_the_customer_with_its_pdf_once(session_factory, smtp_env):
    ingest_samples(session_factory, names=["adhoc-de-munich-ac-001.json"])
    [issued] = issue_adhoc_documents(session_factory, bundle()).issued
    run = run_outbox(session_factory, LocalProvider(), worker_id="mail-test")   # mailer from the environment
    assert run.delivered["email"] == 1, run.errors
    [envelope] = smtp_env.envelopes
    assert envelope.rcpt_tos == ["receipt-gvgfqi@example.net"]
    [message] = smtp_env.messages()
    assert issued.number in message["Subject"] and message["From"] == "billing@voltaro.example"
    attachments = {part.get_filename(): part for part in message.iter_attachments()}
    pdf = attachments[f"{issued.number}.pdf"]
    assert pdf.get_content_type() == "application/pdf" and pdf.get_content().startswith(b"%PDF")
    assert "14.83 EUR" in message.get_body(("plain",)).get_content()
    again = run_outbox(session_factory, LocalProvider(), worker_id="mail-test")
    assert sum(again.delivered.values()) == 0 and len(smtp_env.envelopes) == 1


def test_an_email_is_retried_when_the_server_was_down(session_factory, monkeypatch):
    monkeypatch.setenv("CDRFLOW_SMTP_HOST", "127.0.0.1")
    port = _free_port()
    monkeypatch.setenv("CDRFLOW_SMTP_PORT", str(port))
    ingest_samples(session_factory, names=["adhoc-de-munich-ac-001.json"])
    issue_adhoc_documents(session_factory, bundle())
    now = utcnow()
    down = run_outbox(session_factory, LocalProvider(), worker_id="w", now=now)
    assert down.failed["email"] == 1 and "MailError" in down.errors[0]
    with session_factory() as session:
        status = session.execute(select(OutboxMessage.status).where(OutboxMessage.kind == "email")).scalar_one()
    assert status == "failed"
    sink = _Sink()
    controller = aiosmtpd_controller.Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        up = run_outbox(session_factory, LocalProvider(), worker_id="w", now=now + timedelta(minutes=2),
                        mailer=mailer_from_env())
    finally:
        controller.stop()
    assert up.delivered["email"] == 1 and len(sink.envelopes) == 1
