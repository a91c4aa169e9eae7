"""Handling the providers' status events (``provider_events``), whichever provider sent them.

* ``issued``          the document exists at the provider: make sure it is in the store (a remote
                      provider's document is stored from its claim), mark its CDRs billed,
                      render + archive its files (when the renderer/archive exist) and enqueue
                      the e-mail to the buyer (outbox kind ``email``, key ``email:<number>``);
* ``paid``            record the payment (``payments``, unique external id) and the status;
* ``payment_failed``  status ``payment_failed``;
* ``voided``          status ``voided``.

Each event is handled in its own transaction, claimed with ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL so several workers can share the work; ``processed_at`` marks it done. Handlers are
idempotent, so an event that is processed twice (a crash between handling and commit is not
possible - same transaction - but a duplicate webhook under another id is) changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Callable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.money import to_decimal
from engine.providers.base import ISSUED, PAID, PAYMENT_FAILED, VOIDED
from engine.store._sql import for_update, insert_ignore, utcnow
from engine.store.billing_models import BillableItem, DocumentClaim
from engine.store.models import BillingDocument as DocumentRow
from engine.store.models import Cdr, Payment, ProviderEvent
from engine.store.outbox import enqueue
from engine.streams import files as doc_files
from engine.streams.documents import EMAIL_KIND, document_from_json, email_message_key

log = logging.getLogger(__name__)


@dataclass
class EventRun:
    processed: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    rendered: int = 0
    archived: int = 0
    emails: int = 0
    render_errors: list[str] = field(default_factory=list)


def _claim(session: Session, number: str) -> DocumentClaim | None:
    return session.execute(select(DocumentClaim).where(DocumentClaim.number == number)).scalar_one_or_none()


def _document_row(session: Session, number: str) -> DocumentRow | None:
    return session.execute(select(DocumentRow).where(DocumentRow.number == number)).scalar_one_or_none()


def email_payload(doc: Any, kinds: list[str]) -> dict[str, Any]:
    what = {"credit_note": "Rechnungskorrektur / Credit note"}.get(doc.doc_type, "Rechnung / Invoice")
    lines = [f"{what} {doc.number}", "",
             f"Betrag / Amount: {doc.gross} {doc.currency}",
             f"Datum / Date: {doc.issue_date.isoformat()}"]
    if doc.preceding_number:
        lines.append(f"Korrigiert / Corrects: {doc.preceding_number}")
    if doc.payment.psp_reference and doc.doc_type == "invoice":
        lines.append("Bereits bezahlt / Already paid.")
    lines += ["", doc.seller.name]
    return {"to": doc.buyer.email, "subject": f"{doc.seller.name}: {what} {doc.number}", "body": "\n".join(lines),
            "number": doc.number, "attachments": kinds}


def _on_issued(session: Session, payload: dict[str, Any], run: EventRun, now: datetime) -> None:
    number = payload["number"]
    claim = _claim(session, number)
    row = _document_row(session, number)
    doc = document_from_json(claim.document, session) if claim is not None and claim.document else None
    if row is None:
        if doc is None:
            log.warning("issued event for unknown document %s", number)
            return
        from engine.providers.local import store_document

        doc_id, _ = store_document(session, doc, provider_ref=payload.get("provider_ref"), now=now)
    else:
        doc_id = row.id
    if claim is not None:
        if claim.cdr_pk is not None:
            session.execute(update(Cdr).where(Cdr.id == claim.cdr_pk).values(state="billed"))
        billed = select(BillableItem.cdr_pk).where(BillableItem.document_number == number)
        session.execute(update(Cdr).where(Cdr.id.in_(billed)).values(state="billed")
                        .execution_options(synchronize_session=False))
    if doc is None:
        return
    kinds: list[str] = []
    try:
        with session.begin_nested():
            files = doc_files.render_and_archive(session, doc_id, doc)
            if files:
                run.rendered += 1
                run.archived += 1
            kinds = [k for k in doc_files.KINDS if k in files]
    except Exception as exc:  # a renderer/archive bug must not stop billing; the e-mail renders again
        log.warning("rendering/archiving %s failed: %s", number, exc)
        run.render_errors.append(f"{number}: {type(exc).__name__}: {exc}")
        kinds = ["pdf"]
    if doc.buyer.email:
        enqueue(session, EMAIL_KIND, email_payload(doc, kinds or ["pdf"]), email_message_key(number), now=now)
        run.emails += 1


def _set_status(session: Session, number: str, status: str) -> None:
    session.execute(update(DocumentRow).where(DocumentRow.number == number).values(status=status))


def _on_paid(session: Session, payload: dict[str, Any], now: datetime) -> None:
    row = _document_row(session, payload["number"])
    if row is None:
        return
    amount = to_decimal(payload["amount"])
    insert_ignore(session, Payment, {
        "document_id": row.id, "amount": amount, "currency": payload.get("currency") or row.currency,
        "kind": "payment", "external_id": f"{payload['external_id']}:{row.number}", "received_at": now,
    }, ["external_id"])
    # Sum in Python: amounts are exact text on SQLite.
    total = sum(session.execute(select(Payment.amount).where(Payment.document_id == row.id)).scalars(),
                Decimal("0.00"))
    if row.status != "voided":
        _set_status(session, row.number, "paid" if total >= row.gross_amount else "partially_paid")


def process_events(session_factory: Callable[[], Session], *, limit: int = 500,
                   now: datetime | None = None) -> EventRun:
    """Handle up to ``limit`` unprocessed events, oldest first, one transaction each."""
    run = EventRun()
    while run.processed < limit:
        with session_factory() as session:
            query = (select(ProviderEvent).where(ProviderEvent.processed_at.is_(None))
                     .order_by(ProviderEvent.id).limit(1))
            event = session.execute(for_update(session, query, skip_locked=True)).scalar_one_or_none()
            if event is None:
                session.rollback()
                break
            at = now or utcnow()
            payload = dict(event.payload or {})
            if event.type == ISSUED:
                _on_issued(session, payload, run, at)
            elif event.type == PAID:
                _on_paid(session, payload, at)
            elif event.type == PAYMENT_FAILED:
                row = _document_row(session, payload["number"])
                if row is not None and row.status not in ("paid", "voided"):
                    _set_status(session, row.number, "payment_failed")
            elif event.type == VOIDED:
                _set_status(session, payload["number"], "voided")
            session.execute(update(ProviderEvent).where(ProviderEvent.id == event.id).values(processed_at=at))
            session.commit()
            run.processed += 1
            run.by_type[event.type] = run.by_type.get(event.type, 0) + 1
    return run
