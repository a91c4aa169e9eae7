"""The embedded ``local`` billing provider: the store itself is the billing system.

``issue`` writes the document into ``billing_documents`` + ``billing_document_lines`` (posting
group and cost centre per line, from the document's posting intents) and then emits the status
events a real provider would send as webhooks: ``issued`` and, when the document carries a
captured PSP payment (ad hoc), ``paid``. Event ids are derived from the document number, so a
repeated call emits nothing new; the unique document number makes the write itself idempotent.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, localcontext
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.documents.model import INVOICE, BillingDocument
from engine.money import round_unit_price
from engine.providers.base import (
    ISSUED, PAID, PAYMENT_FAILED, VOIDED, BillingProvider, ProviderError, ProviderResult, record_event,
)
from engine.store._sql import insert_ignore, utcnow
from engine.store.models import BillingDocument as DocumentRow
from engine.store.models import BillingDocumentLine
from engine.store.numbers import NumberError, void_number

_QUANTITY = Decimal("0.000001")


def _unit_price(line: Any) -> Decimal:
    """The line's unit price for the NOT NULL column; derived (net / quantity) for lines that
    carry none (corrections), 4 dp."""
    if line.unit_price is not None:
        return round_unit_price(line.unit_price)
    if line.quantity:
        with localcontext() as ctx:
            ctx.prec = 34
            return round_unit_price(line.net / line.quantity)
    return round_unit_price(line.net)


def store_document(session: Session, document: BillingDocument, *, provider_ref: str | None,
                   now: datetime | None = None) -> tuple[int, bool]:
    """Write ``document`` (and its lines) unless its number is stored; (row id, created)."""
    now = now or utcnow()
    meta = document.metadata or {}
    original_id = None
    if document.preceding_number:
        original_id = session.execute(select(DocumentRow.id).where(DocumentRow.number == document.preceding_number)
                                      ).scalar_one_or_none()
    doc_id = insert_ignore(session, DocumentRow, {
        "number": document.number, "stream": document.stream, "doc_type": document.doc_type, "status": "issued",
        "customer_ref": meta.get("customer_ref"), "msp_ref": meta.get("msp_ref"), "period_key": document.period_key,
        "currency": document.currency, "net_amount": document.net, "vat_amount": document.price.totals.vat_total,
        "gross_amount": document.gross, "original_document_id": original_id, "provider_ref": provider_ref,
        "content_hash": None, "previous_hash": None, "created_at": now, "issued_at": now,
    }, ["number"])
    if doc_id is None:
        return session.execute(select(DocumentRow.id).where(DocumentRow.number == document.number)).scalar_one(), False
    postings = list(meta.get("line_postings") or [])
    rows = []
    for no, line in enumerate(document.price.lines, 1):
        posting = postings[no - 1] if no - 1 < len(postings) else {}
        rows.append({
            "document_id": doc_id, "line_no": no, "product": line.product, "description": line.description,
            "quantity": line.quantity.quantize(_QUANTITY), "unit": line.unit, "unit_price": _unit_price(line),
            "net_amount": line.net, "tax_rate": line.tax_rate, "tax_treatment": line.tax_treatment,
            "posting_group": posting.get("posting_group"), "cost_centre": posting.get("cost_centre"),
            "cdr_pk": posting.get("cdr_pk"),
        })
    if rows:
        session.execute(BillingDocumentLine.__table__.insert(), rows)
    return doc_id, True


class LocalProvider(BillingProvider):
    name = "local"

    def issue(self, session: Session, document: BillingDocument, *, idempotency_key: str,
              now: datetime | None = None) -> ProviderResult:
        now = now or utcnow()
        ref = f"local:{document.number}"
        doc_id, created = store_document(session, document, provider_ref=ref, now=now)
        events = []
        event_id = f"{document.number}:issued"
        if record_event(session, self.name, event_id, ISSUED, {
            "number": document.number, "document_id": doc_id, "provider_ref": ref, "stream": document.stream,
            "doc_type": document.doc_type, "form": document.form, "currency": document.currency,
            "gross": document.gross, "idempotency_key": idempotency_key, "issued_at": now,
        }, now=now):
            events.append(event_id)
        pay = document.payment
        if document.doc_type == INVOICE and pay.psp_reference and pay.paid_amount is not None:
            events += self.record_payment(session, document.number, amount=pay.paid_amount,
                                          currency=document.currency, external_id=pay.psp_reference, now=now).events
        return ProviderResult(ref, created, tuple(events))

    def void(self, session: Session, number: str, *, reason: str, idempotency_key: str,
             now: datetime | None = None) -> ProviderResult:
        now = now or utcnow()
        row = session.execute(select(DocumentRow).where(DocumentRow.number == number)).scalar_one_or_none()
        if row is None:
            raise ProviderError(f"document {number} is not issued", permanent=True)
        if row.status == "paid":
            raise ProviderError(f"document {number} is paid: issue a credit note instead of voiding it",
                                permanent=True)
        session.execute(update(DocumentRow).where(DocumentRow.id == row.id).values(status="voided"))
        try:
            void_number(session, number, reason, now=now)
        except NumberError:
            pass  # numbered outside the ranges (imported): nothing to log
        event_id = f"{number}:voided"
        new = record_event(session, self.name, event_id, VOIDED, {
            "number": number, "document_id": row.id, "reason": reason, "idempotency_key": idempotency_key,
        }, now=now)
        return ProviderResult(row.provider_ref, new, (event_id,) if new else ())

    def record_payment(self, session: Session, number: str, *, amount: Decimal, currency: str, external_id: str,
                       succeeded: bool = True, now: datetime | None = None) -> ProviderResult:
        now = now or utcnow()
        row = session.execute(select(DocumentRow.id, DocumentRow.provider_ref)
                              .where(DocumentRow.number == number)).one_or_none()
        if row is None:
            raise ProviderError(f"document {number} is not issued", permanent=True)
        kind = PAID if succeeded else PAYMENT_FAILED
        event_id = f"{number}:{kind}:{external_id}"
        new = record_event(session, self.name, event_id, kind, {
            "number": number, "document_id": row.id, "amount": amount, "currency": currency,
            "external_id": external_id, "at": now,
        }, now=now)
        return ProviderResult(row.provider_ref, new, (event_id,) if new else ())
