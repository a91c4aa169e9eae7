"""E-mail: documents to their buyers, sent over SMTP (``smtplib``), a shell module.

Settings come from the environment:

* ``CDRFLOW_SMTP_HOST``      the SMTP server (no host: no SMTP mailer - e-mails wait in the outbox)
* ``CDRFLOW_SMTP_PORT``      default 25 (587 with STARTTLS, 465 with SSL)
* ``CDRFLOW_SMTP_FROM``      the sender address (default: the operator's billing address)
* ``CDRFLOW_SMTP_USER`` / ``CDRFLOW_SMTP_PASSWORD``   optional login
* ``CDRFLOW_SMTP_SECURITY``  ``none`` (default), ``starttls`` or ``ssl``

``DirectoryMailer`` writes each message as an ``.eml`` file instead (the demo: open them in any
mail client). Both take a ``email.message.EmailMessage`` built by ``build_message``.
"""

from __future__ import annotations

import os
import re
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Mapping, Protocol, Sequence

ENV_HOST, ENV_PORT, ENV_FROM = "CDRFLOW_SMTP_HOST", "CDRFLOW_SMTP_PORT", "CDRFLOW_SMTP_FROM"
ENV_USER, ENV_PASSWORD, ENV_SECURITY = "CDRFLOW_SMTP_USER", "CDRFLOW_SMTP_PASSWORD", "CDRFLOW_SMTP_SECURITY"
DEFAULT_FROM = "billing@localhost"
TIMEOUT_SECONDS = 30


class MailError(RuntimeError):
    pass


@dataclass(frozen=True)
class Attachment:
    filename: str
    data: bytes
    maintype: str = "application"
    subtype: str = "octet-stream"


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    sender: str = DEFAULT_FROM
    username: str | None = None
    password: str | None = None
    security: str = "none"   # none | starttls | ssl


def settings_from_env(env: Mapping[str, str] | None = None, *, default_sender: str | None = None) -> SmtpSettings | None:
    """The SMTP settings from the environment, or None when no host is configured."""
    env = os.environ if env is None else env
    host = (env.get(ENV_HOST) or "").strip()
    if not host:
        return None
    security = (env.get(ENV_SECURITY) or "none").strip().lower()
    if security not in ("none", "starttls", "ssl"):
        raise MailError(f"{ENV_SECURITY} must be none, starttls or ssl, not {security!r}")
    default_port = {"none": 25, "starttls": 587, "ssl": 465}[security]
    try:
        port = int(env.get(ENV_PORT) or default_port)
    except ValueError:
        raise MailError(f"{ENV_PORT} must be a port number, not {env.get(ENV_PORT)!r}") from None
    return SmtpSettings(host=host, port=port, sender=env.get(ENV_FROM) or default_sender or DEFAULT_FROM,
                        username=env.get(ENV_USER) or None, password=env.get(ENV_PASSWORD) or None,
                        security=security)


def build_message(*, sender: str, to: str | Sequence[str], subject: str, body: str,
                  attachments: Sequence[Attachment] = (), message_id_domain: str | None = None) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to if isinstance(to, str) else ", ".join(to)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=message_id_domain or sender.rpartition("@")[2] or None)
    message.set_content(body)
    for item in attachments:
        message.add_attachment(item.data, maintype=item.maintype, subtype=item.subtype, filename=item.filename)
    return message


class Mailer(Protocol):
    sender: str

    def send(self, message: EmailMessage) -> None: ...


class SmtpMailer:
    """Sends over SMTP, one connection per message (the outbox retries failures)."""

    def __init__(self, settings: SmtpSettings):
        self.settings = settings
        self.sender = settings.sender

    def send(self, message: EmailMessage) -> None:
        s = self.settings
        try:
            if s.security == "ssl":
                client: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=TIMEOUT_SECONDS,
                                                        context=ssl.create_default_context())
            else:
                client = smtplib.SMTP(s.host, s.port, timeout=TIMEOUT_SECONDS)
            with client:
                if s.security == "starttls":
                    client.starttls(context=ssl.create_default_context())
                if s.username:
                    client.login(s.username, s.password or "")
                refused = client.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"SMTP {s.host}:{s.port}: {type(exc).__name__}: {exc}") from exc
        if refused:
            raise MailError(f"SMTP {s.host}:{s.port} refused {', '.join(sorted(refused))}")


class DirectoryMailer:
    """Writes every message to ``<directory>/<number or id>.eml`` (for the demo and for tests)."""

    def __init__(self, directory: str | Path, sender: str = DEFAULT_FROM):
        self.directory = Path(directory)
        self.sender = sender

    def send(self, message: EmailMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = message.get("X-Cdrflow-Document") or message["Message-ID"] or "message"
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("_") or "message"
        (self.directory / f"{safe}.eml").write_bytes(bytes(message))


def mailer_from_env(env: Mapping[str, str] | None = None, *, default_sender: str | None = None) -> SmtpMailer | None:
    settings = settings_from_env(env, default_sender=default_sender)
    return SmtpMailer(settings) if settings else None
