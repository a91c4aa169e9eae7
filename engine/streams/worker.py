"""The outbox worker: delivers documents to the billing provider and e-mails to the mailer.

``run_outbox`` claims due messages (``engine.store.outbox.claim``: ``FOR UPDATE SKIP LOCKED``
on PostgreSQL, so any number of workers share the queue) and delivers each in a transaction of
its own, which also marks it sent - for the embedded provider the document, its events and the
"sent" mark commit together. A failure is recorded with backoff (``mark_failed``); a permanent
provider error goes straight to ``dead``. Between rounds it handles the provider's status events
(``engine.streams.events``), which enqueue the e-mails, so one call runs the whole chain:
issue -> issued/paid -> render/archive -> e-mail.

Message kinds: ``provider.issue`` {business_key, number}, ``provider.void`` {number, reason},
``provider.payment`` {number, amount, currency, external_id, succeeded}, ``email`` {to, subject,
body, number, attachments: ["pdf", ...]}. E-mails are only claimed when a mailer is configured
(``mailer`` or ``CDRFLOW_SMTP_HOST``); otherwise they wait.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from sqlalchemy.orm import Session

from engine.mail import Attachment, Mailer, build_message, mailer_from_env
from engine.money import to_decimal
from engine.providers.base import BillingProvider
from engine.store.outbox import LeaseLost, claim, mark_failed, mark_sent
from engine.streams import files as doc_files
from engine.streams.documents import (
    EMAIL_KIND, ISSUE_KIND, PAYMENT_KIND, PROVIDER_KINDS, VOID_KIND, claimed_document,
)
from engine.streams.events import EventRun, process_events

log = logging.getLogger(__name__)


@dataclass
class OutboxRun:
    delivered: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    dead: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    events: EventRun = field(default_factory=EventRun)
    rounds: int = 0

    def add_events(self, run: EventRun) -> None:
        e = self.events
        e.processed += run.processed
        for kind, n in run.by_type.items():
            e.by_type[kind] = e.by_type.get(kind, 0) + n
        e.rendered += run.rendered
        e.archived += run.archived
        e.emails += run.emails
        e.render_errors += run.render_errors


class DeliveryError(RuntimeError):
    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


def _deliver_provider(session: Session, provider: BillingProvider, message: Any, now: datetime | None) -> None:
    payload = message.payload or {}
    number = payload.get("number")
    if message.kind == ISSUE_KIND:
        doc = claimed_document(session, number)
        if doc is None:
            raise DeliveryError(f"no issued document {number!r} for {message.idempotency_key}", permanent=True)
        provider.issue(session, doc, idempotency_key=message.idempotency_key, now=now)
    elif message.kind == VOID_KIND:
        provider.void(session, number, reason=payload.get("reason") or "voided",
                      idempotency_key=message.idempotency_key, now=now)
    elif message.kind == PAYMENT_KIND:
        provider.record_payment(session, number, amount=to_decimal(payload["amount"]),
                                currency=payload.get("currency") or "EUR", external_id=payload["external_id"],
                                succeeded=payload.get("succeeded", True), now=now)
    else:
        raise DeliveryError(f"unknown outbox kind {message.kind!r}", permanent=True)


def send_document_email(session: Session, mailer: Mailer, payload: dict[str, Any]) -> None:
    """Build and send one document e-mail; the requested attachments must all be available."""
    number = payload.get("number")
    wanted = tuple(payload.get("attachments") or ("pdf",))
    files = doc_files.document_files(session, number, kinds=wanted) if number else {}
    missing = [k for k in wanted if k not in files]
    if "pdf" in missing:
        raise DeliveryError(f"no PDF for {number}: neither archived nor renderable from an issued document")
    attachments = [Attachment(f"{number}.{kind}", files[kind], *doc_files.MIME_TYPES[kind])
                   for kind in doc_files.KINDS if kind in files]
    message = build_message(sender=mailer.sender, to=payload["to"], subject=payload.get("subject") or number,
                            body=payload.get("body") or "", attachments=attachments)
    if number:
        message["X-Cdrflow-Document"] = number
    mailer.send(message)


def run_outbox(session_factory: Callable[[], Session], provider: BillingProvider, *, worker_id: str,
               limit: int = 100, mailer: Mailer | None = None, now: datetime | None = None,
               max_rounds: int = 1000, handle_events: bool = True, default_sender: str | None = None) -> OutboxRun:
    """Deliver due outbox messages until none is left (or ``max_rounds``); see the module doc."""
    mailer = mailer if mailer is not None else mailer_from_env(default_sender=default_sender)
    kinds = PROVIDER_KINDS + ((EMAIL_KIND,) if mailer is not None else ())
    run = OutboxRun()
    for _ in range(max_rounds):
        run.rounds += 1
        with session_factory() as session:
            messages = claim(session, worker_id, limit, now=now, kinds=kinds)
            session.commit()
        for message in messages:
            _deliver_one(session_factory, provider, mailer, message, worker_id, now, run)
        events = process_events(session_factory, now=now) if handle_events else EventRun()
        run.add_events(events)
        if not messages and not events.processed:
            break
    return run


def _deliver_one(session_factory: Callable[[], Session], provider: BillingProvider, mailer: Mailer | None,
                 message: Any, worker_id: str, now: datetime | None, run: OutboxRun) -> None:
    try:
        with session_factory() as session:
            if message.kind == EMAIL_KIND:
                send_document_email(session, mailer, message.payload or {})
            else:
                _deliver_provider(session, provider, message, now)
            mark_sent(session, message.id, worker=worker_id, now=now)
            session.commit()
        run.delivered[message.kind] += 1
    except LeaseLost:
        log.warning("outbox message %s: lease lost, another worker has it", message.id)
    except Exception as exc:  # every failure is recorded: ProviderError, DeliveryError, MailError, DB errors
        permanent = bool(getattr(exc, "permanent", False))
        error = f"{type(exc).__name__}: {exc}"
        log.warning("outbox message %s (%s) failed: %s", message.id, message.kind, error)
        run.errors.append(f"{message.kind} {message.idempotency_key}: {error}")
        try:
            with session_factory() as session:
                status = mark_failed(session, message.id, error, worker=worker_id, now=now,
                                     **({"max_attempts": 1} if permanent else {}))
                session.commit()
        except LeaseLost:
            return
        (run.dead if status == "dead" else run.failed)[message.kind] += 1


# --------------------------------------------------------------------------- `cdrflow work`

_BUNDLES: dict[str, Any] = {}


def _bundle_from_env() -> Any:
    """The config bundle for ad-hoc issuing in ``run_once``: ``$CDRFLOW_CONFIG`` or the working
    directory, when it holds ``rules/`` (loaded once per process)."""
    import os
    from pathlib import Path

    root = os.environ.get("CDRFLOW_CONFIG", ".")
    if root not in _BUNDLES:
        bundle = None
        if (Path(root) / "rules").is_dir():
            from engine.config.bundle import load_bundle

            bundle, _ = load_bundle(Path(root))
        _BUNDLES[root] = bundle
    return _BUNDLES[root]


def run_once(session_factory: Callable[[], Session], *, provider: BillingProvider | None = None,
             mailer: Mailer | None = None, bundle: Any = None, limit: int = 100) -> int:
    """One round of the background worker (``cdrflow work``): issue the pending ad-hoc documents
    (when a config bundle is given or found, see ``_bundle_from_env``), deliver the outbox, handle
    the provider events. Returns the number of outbox messages delivered."""
    import os

    from engine.providers import get_provider
    from engine.streams.adhoc import issue_adhoc_documents

    bundle = bundle if bundle is not None else _bundle_from_env()
    if bundle is not None:
        issue_adhoc_documents(session_factory, bundle)
    provider = provider or get_provider(os.environ.get("CDRFLOW_PROVIDER", "local"))
    sender = bundle.operator.get("email") if bundle is not None else None
    run = run_outbox(session_factory, provider, worker_id=f"work-{os.getpid()}", limit=limit, mailer=mailer,
                     default_sender=sender)
    return sum(run.delivered.values())
